"""Specs: the token grammar, applied strictly left to right, then one validation, hash and blame.

| token              | meaning                                                             |
|--------------------|---------------------------------------------------------------------|
| `preset:NAME`      | start from a named preset (first token only)                        |
| `run:HASH`         | start from a past run's resolved config (first token only)          |
| `+NAME`            | apply the registered patch NAME                                     |
| `+NAME:ARG[,ARG]`  | apply a registered patch factory with arguments                     |
| `path=value`       | set one field: a dotted path, or a name unambiguous in the config   |
| `...name=value`    | set every field called `name`, wherever it is                       |
| `section=tag`      | switch a union-typed section to another variant (its defaults)      |

The generic machinery takes the root type as a parameter (`Resolver(root, registry)`);
`resolve(tokens)` binds it to naniGPT's `RunConfig` and its default preset.
"""

from __future__ import annotations

import functools
import re
from itertools import compress as _compress
from operator import is_not as _is_not
from collections.abc import Iterable
from typing import Any, Protocol

import msgspec
from msgspec import convert as _convert
from msgspec import to_builtins as _to_builtins
from msgspec.structs import astuple as _astuple
from msgspec.structs import replace

from nanigpt.conf._canon import _encode, canonical_bytes
from nanigpt.conf._canon import _hex as _xxh3
from nanigpt.conf._errors import (
    AmbiguousFieldError,
    CheckError,
    ConfigError,
    InvalidValueError,
    PatchError,
    RunRefError,
    TokenSyntaxError,
    UnknownFieldError,
    UnknownPatchError,
    UnknownPresetError,
    UnknownVariantError,
    ValueTypeError,
    VariantFieldError,
)
from nanigpt.conf._lens import Traversal, suggest
from nanigpt.conf._patch import Patch, PatchFactory
from nanigpt.conf._registry import Registry, default_registry
from nanigpt.conf._struct import Config
from nanigpt.conf._types import _SPECS, LEAF, UNION, FieldSpec, describe_type, names_below, spec_of
from nanigpt.conf._values import BadValue, format_value

DEFAULTS_TOKEN = "<defaults>"
_GRAMMAR = "a token is preset:NAME, run:HASH, +PATCH, +FACTORY:ARGS, path=value or ...name=value"


class RunSource(Protocol):
    """Where `run:HASH` finds a past run: the run store."""

    def load_config(self, prefix: str) -> tuple[str, dict]: ...


class _Missing:
    """A required field of a variant that `section=tag` created; a later token must set it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<required>"


MISSING = _Missing()


# ---------------------------------------------------------------------------------------------
# Parsing tokens (pure functions of the text, so cached)


@functools.lru_cache(maxsize=4096)
def parse_token(tok: str) -> tuple[str, ...]:
    """Classify one token: ("preset", name), ("run", prefix), ("patch", name, args|""),
    ("every", name, value) or ("set", path, value). Raises TokenSyntaxError."""
    if not tok:
        raise TokenSyntaxError("empty token", token=tok, suggestion=_GRAMMAR)
    if tok.startswith("preset:"):
        name = tok[7:]
        if not name:
            raise TokenSyntaxError("`preset:` needs a name", token=tok, suggestion="e.g. preset:small")
        return ("preset", name)
    if tok.startswith("run:"):
        h = tok[4:].lower()
        if len(h) < 4 or not all(c in "0123456789abcdef" for c in h):
            raise TokenSyntaxError(
                f"`run:` needs a hash or a unique prefix of at least 4 hex digits, got `{tok[4:]}`",
                token=tok,
                suggestion="`nanigpt runs` lists them",
            )
        return ("run", h)
    if tok.startswith("+"):
        name, colon, args = tok[1:].partition(":")
        if not name:
            raise TokenSyntaxError(
                "`+` needs a patch name", token=tok, suggestion="e.g. +large; `nanigpt patches` lists them"
            )
        if colon and not args:
            raise TokenSyntaxError(
                f"`+{name}:` has no arguments after `:`", token=tok, suggestion=f"write +{name}:ARG or +{name}"
            )
        return ("patch", name, args if colon else None)
    path, eq, value = tok.partition("=")
    if not eq:
        raise TokenSyntaxError(f"`{tok}` is not a token", token=tok, suggestion=_GRAMMAR)
    every = path.startswith("...")
    name = path[3:] if every else path
    if not name:
        raise TokenSyntaxError(
            f"no field name before `=`", token=tok, suggestion=f"write path=value, e.g. lr={value or '3e-4'}"
        )
    if value.startswith("="):
        raise TokenSyntaxError(
            "`==` is not an assignment", token=tok, suggestion=f"write {path}={value.lstrip('=') or 'VALUE'}"
        )
    if not value:
        raise TokenSyntaxError(
            f"no value after `{path}=`", token=tok, suggestion=f"write {path}=VALUE, or {path}=null for none"
        )
    parts = name.split(".")
    if not all(p.isidentifier() for p in parts) or (every and len(parts) > 1):
        raise TokenSyntaxError(
            f"`{path}` is not a field path",
            token=tok,
            suggestion="a dotted path of field names (optim.lr), a field name (lr), or ...name",
        )
    return ("every", name, value) if every else ("set", name, value)


# ---------------------------------------------------------------------------------------------
# Walking configs: paths of leaves, and which leaves a token changed


_PATHS: dict[tuple[type, str], tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], str | None]] = {}


def _paths(t: type, prefix: str):
    """(leaf (name, path) pairs, section (name, path) pairs, tag path or None) of type `t` at
    `prefix`, cached: the path strings are built once, not on every resolve."""
    key = (t, prefix)
    p = _PATHS.get(key)
    if p is None:
        s = spec_of(t)
        dot = prefix + "." if prefix else ""
        p = _PATHS[key] = (
            tuple((n, dot + n) for n in s.leaves),
            tuple((f.name, dot + f.name) for f in s.sections),
            dot + s.tag_field if s.tag_field else None,
        )
    return p


def _all_leaves(x: Any, prefix: str, out: list[str]) -> None:
    if x is None or not isinstance(x, msgspec.Struct):
        out.append(prefix)
        return
    leaves, sections, tag = _paths(type(x), prefix)
    if tag:
        out.append(tag)
    out.extend(p for _, p in leaves)
    for name, p in sections:
        _all_leaves(getattr(x, name), p, out)


def _shape(x: Any) -> Any:
    """The types of a config's structs, nested: all that its set of leaf paths depends on."""
    t = type(x)
    s = _SPECS.get(t)
    if s is None:
        if not isinstance(x, msgspec.Struct):
            return None
        s = spec_of(t)
    if not s.sections:
        return t
    return (t, *[_shape(getattr(x, f.name)) for f in s.sections])


_LEAF_PATHS: dict[Any, tuple[str, ...]] = {}


def leaf_paths(cfg: Any) -> tuple[str, ...]:
    """Every leaf path of a config struct, union tags (`optim.type`) included, in field order."""
    key = _shape(cfg)
    out = _LEAF_PATHS.get(key)
    if out is None:
        acc: list[str] = []
        _all_leaves(cfg, "", acc)
        out = _LEAF_PATHS[key] = tuple(acc)
    return out


_ROWS: dict[tuple[type, str], tuple[tuple[str, bool], ...]] = {}


def _rows(t: type, prefix: str) -> tuple[tuple[str, bool], ...]:
    """(path, is a section) for each field of `t` at `prefix`, in field (= astuple) order."""
    key = (t, prefix)
    rows = _ROWS.get(key)
    if rows is None:
        dot = prefix + "." if prefix else ""
        rows = _ROWS[key] = tuple((dot + f.name, f.kind != LEAF) for f in spec_of(t).fields.values())
    return rows


def _mark(a: Any, b: Any, prefix: str, i: int, changed: dict[str, int]) -> bool:
    """Record token `i` as the owner of every leaf whose value differs from `a` to `b`; True if
    a section changed type (a union switch), which changes the set of leaf paths.

    Sub-structs that are the same object are skipped: a token that touched one field costs a
    walk down one path, not over the whole tree.
    """
    t = type(b)
    if type(a) is not t or not isinstance(b, msgspec.Struct):
        # a union switch (or a section set to/from null): every leaf below belongs to this token
        out: list[str] = []
        _all_leaves(b, prefix, out)
        for p in out:
            changed[p] = i
        return True
    reshaped = False
    rows = _rows(t, prefix)
    xs = _astuple(a)
    ys = _astuple(b)
    # the identity scan runs in C; the Python loop sees only the fields that are new objects
    for k in _compress(range(len(xs)), map(_is_not, xs, ys)):
        p, section = rows[k]
        x = xs[k]
        y = ys[k]
        if section:
            reshaped = _mark(x, y, p, i, changed) or reshaped
        elif x != y or type(x) is not type(y):
            changed[p] = i
    return reshaped


# ---------------------------------------------------------------------------------------------
# The result


_BASE_BLAME: dict[tuple[int, str], tuple[tuple[str, ...], dict[str, str]]] = {}


def _base_blame(paths: tuple[str, ...], start: str) -> dict[str, str]:
    """{path: start} for every path, built once per (shape, start) and copied per resolve."""
    key = (id(paths), start)
    hit = _BASE_BLAME.get(key)
    if hit is None or hit[0] is not paths:
        if len(_BASE_BLAME) > 256:
            _BASE_BLAME.clear()
        hit = _BASE_BLAME[key] = (paths, dict.fromkeys(paths, start))
    return hit[1]


class Resolved:
    """A resolved spec: the validated config, its content address and where each value came from."""

    __slots__ = ("config", "hash", "short", "tokens", "start", "canonical", "_changed", "_blame", "_paths")

    def __init__(
        self,
        config: Any,
        canonical: bytes,
        h: str,
        tokens: tuple[str, ...],
        start: str,
        changed: dict[str, int],
        paths: tuple[str, ...] | None = None,
    ) -> None:
        self.config = config
        self.canonical = canonical
        self.hash = h
        self.short = h[:12]
        self.tokens = tokens
        self.start = start
        self._changed = changed
        self._blame: dict[str, str] | None = None
        # the leaf paths, when known without a walk (no token switched a variant)
        self._paths = paths

    @property
    def blame(self) -> dict[str, str]:
        """Leaf path -> the token that last changed it; leaves no token changed map to `start`."""
        if self._blame is None:
            paths = self._paths if self._paths is not None else leaf_paths(self.config)
            blame = _base_blame(paths, self.start).copy()
            tokens = self.tokens
            for p, i in self._changed.items():
                if p in blame:  # not a leaf of a variant that a later token switched away
                    blame[p] = tokens[i]
            self._blame = blame
        return self._blame

    def __repr__(self) -> str:
        return f"Resolved({self.short}, {' '.join(self.tokens) or self.start!r})"


# ---------------------------------------------------------------------------------------------
# The resolver


class _Invalid(ConfigError):
    """msgspec's validation message, before it is mapped to a path and a token."""

    def __init__(self, message: str, builtins: Any) -> None:
        super().__init__(message)
        self.builtins = builtins


class _Unencodable(Exception):
    """The config holds an object that is not config data (found and named by _bad_object)."""


class _Trace:
    """Which token last changed each leaf, for naming the token behind a validation error."""

    __slots__ = ("tokens", "start", "changed")

    def __init__(self, tokens: tuple[str, ...], start: str, changed: dict[str, int]) -> None:
        self.tokens = tokens
        self.start = start
        self.changed = changed

    def token_for(self, path: str) -> str:
        """The token that last set `path` (or, for a section, any leaf below it)."""
        i = self.changed.get(path)
        if i is not None:
            return self.tokens[i]
        return self.latest((path,))

    def latest(self, paths: Iterable[str]) -> str:
        """The last token that set any of `paths` or a leaf below one of them."""
        idx = [i for q, i in self.changed.items() for p in paths if q == p or q.startswith(p + ".")]
        return self.tokens[max(idx)] if idx else self.start


_CHECKS: dict[tuple[type, str], tuple[bool, tuple[tuple[str, str], ...]]] = {}


def _check_plan(t: type, prefix: str = "") -> tuple[bool, tuple[tuple[str, str], ...]]:
    """(whether `t` has cross-field rules of its own, (name, path) of the sections below that
    may have some), per type and mount point, computed once."""
    key = (t, prefix)
    plan = _CHECKS.get(key)
    if plan is None:
        fn = getattr(t, "check", None)
        own = callable(fn) and fn is not Config.check
        _CHECKS[key] = (own, ())  # provisional, for (forbidden) recursive types
        dot = prefix + "." if prefix else ""
        below = tuple(
            (f.name, dot + f.name)
            for f in spec_of(t).sections
            if any(_check_plan(v, dot + f.name)[0] or _check_plan(v, dot + f.name)[1] for v in f.types)
        )
        plan = _CHECKS[key] = (own, below)
    return plan


def _default_instance(t: type) -> Any:
    s = spec_of(t)
    return t(**{f.name: MISSING for f in s.fields.values() if f.required})


class Resolver:
    """Resolves token lists into validated configs of type `root`, with a registry of presets and
    patches. `default_preset` starts a spec that has no start token (else the root's defaults)."""

    def __init__(self, root: type, registry: Registry | None = None, default_preset: str | None = None) -> None:
        self.root = root
        self.registry = registry if registry is not None else Registry()
        self.default_preset = default_preset
        self._known: dict[int, tuple[Any, tuple[str, ...]]] = {}
        self._root_fields = spec_of(root).fields

    # -- the start -----------------------------------------------------------------------------

    def _start(self, parsed: list[tuple[str, ...]], tokens: tuple[str, ...], runs: RunSource | None):
        if parsed and parsed[0][0] == "preset":
            return self._preset(parsed[0][1], tokens[0]), tokens[0], 1
        if parsed and parsed[0][0] == "run":
            cfg, full = self._run(parsed[0][1], tokens[0], runs)
            return cfg, f"run:{full}", 1
        if self.default_preset is not None:
            tok = f"preset:{self.default_preset}"
            return self._preset(self.default_preset, tok), tok, 0
        return self.root(), DEFAULTS_TOKEN, 0

    def _preset(self, name: str, tok: str) -> Any:
        try:
            p = self.registry.preset(name)
        except UnknownPresetError as e:
            raise e.with_token(tok) from None
        try:
            cfg = p()
        except ConfigError as e:
            raise e.with_token(tok) from None
        if not isinstance(cfg, self.root):
            raise PatchError(
                f"preset `{name}` ({p.source}) returned {type(cfg).__name__}, not a {self.root.__name__}",
                token=tok,
            )
        return cfg

    def _run(self, prefix: str, tok: str, runs: RunSource | None) -> tuple[Any, str]:
        if runs is None:
            raise RunRefError(
                "`run:` needs a run store to look the hash up in",
                token=tok,
                suggestion="use it from the nanigpt command line, or pass runs=RunStore(...) to resolve()",
            )
        try:
            full, data = runs.load_config(prefix)
        except ConfigError as e:
            raise e.with_token(tok) from None
        except (OSError, KeyError, ValueError) as e:
            raise RunRefError(f"cannot read run `{prefix}`: {e}", token=tok) from None
        try:
            return msgspec.convert(data, self.root), full
        except msgspec.ValidationError as e:
            version = data.get("schema_version") if isinstance(data, dict) else None
            field = spec_of(self.root).fields.get("schema_version")
            now = field.default if field is not None else None
            vs = f" (it has schema_version {version}, this naniGPT reads {now})" if version != now else ""
            raise RunRefError(
                f"the config of run {full[:12]} no longer decodes{vs}: {e}",
                token=tok,
                suggestion="`nanigpt show` still prints it; start a new spec from a preset",
            ) from None

    # -- tokens --------------------------------------------------------------------------------

    def _patch(self, cfg: Any, name: str, args: str | None, tok: str) -> Any:
        try:
            entry = self.registry.patch(name)
        except UnknownPatchError as e:
            raise e.with_token(tok) from None
        if isinstance(entry, PatchFactory):
            if args is None:
                raise PatchError(f"`+{name}` needs arguments", token=tok, suggestion=f"write {entry.usage}")
            try:
                p = entry.from_text(args)
            except ConfigError as e:
                raise e.with_token(tok) from None
        else:
            if args is not None:
                raise PatchError(f"`+{name}` takes no arguments, got `{args}`", token=tok, suggestion=f"write +{name}")
            p = entry
        return self._apply(p, cfg, tok)

    def _apply(self, p: Patch, cfg: Any, tok: str) -> Any:
        try:
            out = p(cfg)
        except Exception as e:
            raise self._patch_failed(p, e, tok) from e
        self._check_result(p, out, tok)
        return out

    @staticmethod
    def _patch_failed(p: Patch, e: Exception, tok: str) -> ConfigError:
        if isinstance(e, ConfigError):
            return e.with_token(tok)
        return PatchError(f"patch `{p.name}` ({p.source}) failed: {type(e).__name__}: {e}", token=tok)

    def _check_result(self, p: Patch, out: Any, tok: str) -> None:
        if not isinstance(out, self.root):
            raise PatchError(
                f"patch `{p.name}` ({p.source}) returned {type(out).__name__}, not a {self.root.__name__}",
                token=tok,
            )

    def _locate(self, cfg: Any, path: str, tok: str) -> tuple[list[Any], list[str], FieldSpec | None]:
        """The chain of structs down to the target's parent, the field names, and the target field
        (None when the target is a union tag such as `optim.type`, which means a switch)."""
        if "." not in path and path not in self._root_fields:
            cands = _candidates(self.root, path)
            if len(cands) == 1:  # the usual bare name: one possible place, try it directly
                try:
                    return self._walk_to(cfg, list(cands[0][1]), cands[0][0], tok)
                except ConfigError:
                    self._bare(cfg, path, tok)  # raises the error that speaks of bare names
                    raise
            path = self._bare(cfg, path, tok)
        return self._walk_to(cfg, path.split("."), path, tok)

    def _walk_to(self, cfg: Any, names: list[str], path: str, tok: str) -> tuple[list[Any], list[str], FieldSpec | None]:
        chain: list[Any] = []
        x = cfg
        specs = _SPECS
        for i, name in enumerate(names):
            s = specs.get(type(x)) or spec_of(type(x))
            f = s.fields.get(name)
            last = i == len(names) - 1
            if f is None:
                if last and name == s.tag_field and chain:
                    return chain, names[:-1], None
                self._no_field(x, names, i, tok)
            chain.append(x)
            if last:
                return chain, names, f
            if f.kind == LEAF:
                raise UnknownFieldError(
                    f"`{'.'.join(names[: i + 1])}` is {describe_type(f.bare)}, not a section, "
                    f"so `{path}` does not exist",
                    path=path,
                    token=tok,
                )
            x = getattr(x, name)
            if x is None:
                raise VariantFieldError(
                    f"`{'.'.join(names[: i + 1])}` is null, so `{path}` does not exist", path=path, token=tok
                )
        raise AssertionError("unreachable")

    def _no_field(self, x: Any, names: list[str], i: int, tok: str) -> None:
        where = ".".join(names[:i])
        path = ".".join(names)
        name = names[i]
        s = spec_of(type(x))
        if where:
            # a field of another variant of this union section?
            parent_field = self._field_at(names[:i])
            if parent_field is not None and parent_field.kind == UNION:
                have = [tag for tag, t in parent_field.variants.items() if name in spec_of(t).fields]
                if have:
                    raise VariantFieldError(
                        f"`{where}` is currently `{s.tag}`, which has no field `{name}`",
                        path=path,
                        token=tok,
                        suggestion=f"`{name}` is in {', '.join(have)}; switch first: {where}={have[0]}",
                    )
        hint = suggest(name, s.names, where)
        if hint is None and where == "":
            hint = self._bare_hint(name)
        raise UnknownFieldError(f"unknown field `{path}`", path=path, token=tok, suggestion=hint)

    def _field_at(self, names: list[str]) -> FieldSpec | None:
        """The field spec at a path by types alone (the first variant that has each name)."""
        ts = [self.root]
        f = None
        for name in names:
            f = next((spec_of(t).fields[name] for t in ts if name in spec_of(t).fields), None)
            if f is None:
                return None
            ts = list(f.types)
        return f

    def _bare(self, cfg: Any, name: str, tok: str) -> str:
        found = _find(cfg, name)
        if len(found) == 1:
            return found[0]
        if found:
            raise AmbiguousFieldError(
                f"`{name}` is ambiguous: it names {', '.join(f'`{p}`' for p in found)}",
                paths=tuple(found),
                path=name,
                token=tok,
                suggestion=f"write the full path ({found[0]}=...), or ...{name}=... to set them all",
            )
        elsewhere = self._variants_with(name)
        if elsewhere:
            sec, tags = elsewhere[0]
            raise VariantFieldError(
                f"no field `{name}` in the current config: it is a field of `{sec}` variant(s) {', '.join(tags)}",
                path=name,
                token=tok,
                suggestion=f"switch first: {sec}={tags[0]} {name}=...",
            )
        raise UnknownFieldError(f"unknown field `{name}`", path=name, token=tok, suggestion=self._bare_hint(name))

    def _bare_hint(self, name: str) -> str | None:
        import difflib

        close = difflib.get_close_matches(name, sorted(names_below(self.root)), n=3, cutoff=0.6)
        if not close:
            return None
        return "did you mean " + " or ".join(f"`{c}`" for c in close) + "?"

    def _variants_with(self, name: str) -> list[tuple[str, list[str]]]:
        """(section path, [variant tags]) for union sections whose variants have a field `name`."""
        out: list[tuple[str, list[str]]] = []

        def walk(t: type, prefix: str) -> None:
            for f in spec_of(t).sections:
                p = f"{prefix}.{f.name}" if prefix else f.name
                if f.kind == UNION:
                    tags = [tag for tag, v in f.variants.items() if name in spec_of(v).fields]
                    if tags:
                        out.append((p, tags))
                for sub in f.types:
                    walk(sub, p)

        walk(self.root, "")
        return out

    def _assign(self, cfg: Any, path: str, text: str, tok: str, i: int, changed: dict[str, int]) -> tuple[Any, bool]:
        """`cfg` with one field set, marking what changed as token `i`'s; True if it switched a
        variant. The target is known, so no walk compares the trees."""
        chain, names, f = self._locate(cfg, path, tok)
        if f is None:  # `section.type=tag`: chain and names lead to the section itself
            f = spec_of(type(chain[-1])).fields[names[-1]]
        old = getattr(chain[-1], f.name)
        full = ".".join(names)
        new = self._new_value(f, old, full, text, tok)
        if new is old:
            return cfg, False
        out = new
        for parent, name in zip(reversed(chain), reversed(names)):
            out = replace(parent, **{name: out})
        if f.kind == LEAF:
            if new != old or type(new) is not type(old):
                changed[full] = i
            return out, False
        return out, _mark(old, new, full, i, changed)

    def _new_value(self, f: FieldSpec, old: Any, path: str, text: str, tok: str) -> Any:
        if f.kind == LEAF:
            try:
                v = f.parse(text)
            except BadValue as e:
                short = path.rsplit(".", 1)[-1]
                raise ValueTypeError(
                    f"`{path}` {e.reason}",
                    path=path,
                    token=tok,
                    suggestion=e.hint or f"e.g. {short}={format_value(old)}",
                ) from None
            if v == old and type(v) is type(old):
                return old
            return v
        if f.optional and text == "null":
            return None
        if f.kind == UNION:
            t = f.variants.get(text)
            if t is None:
                hint = suggest(text, f.variants)
                raise UnknownVariantError(
                    f"unknown `{path}` variant `{text}`",
                    path=path,
                    token=tok,
                    suggestion=(f"{hint} " if hint else "") + f"variants: {', '.join(f.variants)}",
                )
            if type(old) is t:
                return old  # switching to the current variant changes nothing
            return _default_instance(t)
        raise ValueTypeError(
            f"`{path}` is a section, not a value",
            path=path,
            token=tok,
            suggestion=f"set its fields, e.g. {path}.{spec_of(f.struct).names[0]}=...",  # type: ignore[arg-type]
        )

    def _every(self, cfg: Any, name: str, text: str, tok: str) -> Any:
        try:
            t = Traversal(self.root, name)
        except ConfigError as e:
            raise e.with_token(tok) from None
        hits = 0

        def fn(path: str, f: FieldSpec, old: Any) -> Any:
            nonlocal hits
            hits += 1
            return self._new_value(f, old, path, text, tok)

        out = t._walk(cfg, "", fn)
        if not hits:
            elsewhere = self._variants_with(name)
            where = "; ".join(f"`{s}` variant(s) {', '.join(tags)}" for s, tags in elsewhere)
            raise VariantFieldError(
                f"no field `{name}` in the current config" + (f": it is in {where}" if where else ""),
                path=f"...{name}",
                token=tok,
                suggestion=f"switch first: {elsewhere[0][0]}={elsewhere[0][1][0]}" if elsewhere else None,
            )
        return out

    # -- the whole spec ------------------------------------------------------------------------

    def resolve(self, tokens: Iterable[str], *, runs: RunSource | None = None) -> Resolved:
        """Apply `tokens` left to right, validate once, hash, and record blame."""
        tokens = tuple(tokens)
        try:
            parsed = [parse_token(t) for t in tokens]
        except TokenSyntaxError as e:
            raise self._hint_bare_word(e) from None
        cfg, start, first = self._start(parsed, tokens, runs)
        start_cfg = cfg
        changed: dict[str, int] = {}
        reshaped = False
        patches = self.registry.patches
        root = self.root
        for i in range(first, len(tokens)):
            p = parsed[i]
            kind = p[0]
            if kind == "set":
                cfg, switched = self._assign(cfg, p[1], p[2], tokens[i], i, changed)
                if switched:
                    reshaped = True
                continue
            before = cfg
            if kind == "patch":
                entry = patches.get(p[1])
                if type(entry) is Patch and p[2] is None:  # the common case, inline
                    try:
                        cfg = entry._fn(cfg)
                    except Exception as e:
                        raise self._patch_failed(entry, e, tokens[i]) from e
                    if type(cfg) is not root:
                        self._check_result(entry, cfg, tokens[i])
                else:
                    cfg = self._patch(cfg, p[1], p[2], tokens[i])
            elif kind == "every":
                cfg = self._every(cfg, p[1], p[2], tokens[i])
            else:
                tok = tokens[i]
                raise TokenSyntaxError(
                    f"`{kind}:` must be the first token",
                    token=tok,
                    suggestion=f"move it to the front: {tok} {' '.join(t for t in tokens if t != tok)}".rstrip(),
                )
            if cfg is not before and _mark(before, cfg, "", i, changed):
                reshaped = True
        try:
            config = self._validate(cfg)
        except _Unencodable:
            self._bad_object(cfg, _Trace(tokens, start, changed))
            raise
        except ConfigError as e:
            raise self._attribute(e, _Trace(tokens, start, changed)) from None
        canonical = _encode(config)
        if b"null" in canonical or b"-0.0" in canonical:
            canonical = canonical_bytes(config)  # the slow, exact path: see _canon
        paths = None if reshaped else self._start_paths(start_cfg)
        return Resolved(config, canonical, _xxh3(canonical), tokens, start, changed, paths)

    def _start_paths(self, start_cfg: Any) -> tuple[str, ...]:
        """Leaf paths of a start config; presets are shared objects, so remember theirs."""
        hit = self._known.get(id(start_cfg))
        if hit is not None and hit[0] is start_cfg:
            return hit[1]
        paths = leaf_paths(start_cfg)
        if len(self._known) < 64:
            self._known[id(start_cfg)] = (start_cfg, paths)
        return paths

    def _hint_bare_word(self, e: TokenSyntaxError) -> TokenSyntaxError:
        """`small` or `large` alone: say which token the user probably meant."""
        w = e.token or ""
        if w.isidentifier():
            if w in self.registry.presets:
                e.suggestion = f"did you mean `preset:{w}`?"
            elif w in self.registry.patches:
                e.suggestion = f"did you mean `+{w}`?"
            elif w in names_below(self.root):
                e.suggestion = f"did you mean `{w}=VALUE`?"
        return e

    # -- validation ----------------------------------------------------------------------------

    def _validate(self, cfg: Any) -> Any:
        """The one validation: types and `Meta` ranges by msgspec, then every struct's check()."""
        try:
            b = _to_builtins(cfg)
        except TypeError:
            raise _Unencodable() from None
        try:
            v = _convert(b, self.root)
        except msgspec.ValidationError as e:
            raise _Invalid(str(e), b) from None
        self._check(v, "")
        return v

    def _attribute(self, e: ConfigError, trace: _Trace) -> ConfigError:
        """The validation error `e`, made to name the tokens behind it."""
        if isinstance(e, _Invalid):
            return self._map_error(e.message, e.builtins, trace)
        if isinstance(e, CheckError):
            e.tokens = {p: trace.token_for(p) for p in e.paths}
            if e.token is None and e.paths:
                e.token = trace.latest(e.paths)
        return e

    def _bad_object(self, cfg: Any, trace: _Trace) -> None:
        """Find the leaf that msgspec cannot encode and raise an error naming it."""
        for path in leaf_paths(cfg):
            x = cfg
            try:
                for n in path.split("."):
                    x = getattr(x, n)
            except AttributeError:
                continue  # a tag path
            tok = trace.token_for(path)
            if x is MISSING:
                sec, _, name = path.rpartition(".")
                tag = spec_of(type(self._parent_of(cfg, path))).tag
                raise ValueTypeError(
                    f"`{path}` is required by `{sec}={tag}` and was not set",
                    path=path,
                    token=tok,
                    suggestion=f"add {path}=...",
                )
            try:
                msgspec.to_builtins(x)
            except TypeError:
                raise ValueTypeError(
                    f"`{path}` holds a {type(x).__name__} ({x!r}), which is not config data",
                    path=path,
                    token=tok,
                    suggestion="a config holds numbers, strings, booleans, null, tuples and sections",
                ) from None

    @staticmethod
    def _parent_of(cfg: Any, path: str) -> Any:
        x = cfg
        for n in path.split(".")[:-1]:
            x = getattr(x, n)
        return x

    def _map_error(self, msg: str, b: dict, trace: _Trace) -> ConfigError:
        m = re.match(r"^(.*) - at `\$(.*)`$", msg)
        what, where = (m.group(1), m.group(2)) if m else (msg, "")
        dotted = re.sub(r"\[\d+\]", "", where).lstrip(".")
        req = re.match(r"Object missing required field `(.*)`", what)
        if req:
            dotted = f"{dotted}.{req.group(1)}" if dotted else req.group(1)
            tok = trace.token_for(dotted)
            return ValueTypeError(
                f"`{dotted}` is required and was not set", path=dotted, token=tok, suggestion=f"add {dotted}=..."
            )
        value: Any = b
        for n in dotted.split(".") if dotted else ():
            value = value.get(n) if isinstance(value, dict) else None
        tok = trace.token_for(dotted)
        shown = format_value(value)
        f = self._field_at(dotted.split(".")) if dotted else None
        hint = None
        if f is not None and f.kind == LEAF and not f.required:
            hint = f"the default is {dotted}={format_value(f.default)}"
        text = what[0].lower() + what[1:] if what else what
        if "got" in what or "Invalid enum" in what:
            return ValueTypeError(f"`{dotted}`={shown}: {text}", path=dotted, token=tok, suggestion=hint)
        return InvalidValueError(
            f"`{dotted}`={shown} is out of range: {text}", path=dotted, token=tok, suggestion=hint
        )

    def _check(self, x: Any, prefix: str) -> None:
        """Every struct's check(), children before parents (a rule may assume valid parts)."""
        own, below = _check_plan(type(x), prefix)
        for name, p in below:
            sub = getattr(x, name)
            if sub is None:
                continue
            sub_own, sub_below = _check_plan(type(sub), p)
            if sub_below:
                self._check(sub, p)
            elif sub_own:  # a leaf-level section, checked here without another call
                try:
                    sub.check()
                except CheckError as e:
                    self._anchor_all(e, p)
                    raise
        if own:
            try:
                x.check()
            except CheckError as e:
                self._anchor_all(e, prefix)
                raise

    def _anchor_all(self, e: CheckError, prefix: str) -> None:
        e.paths = tuple(self._anchor(p, prefix) for p in e.paths)
        e.path = e.paths[0] if e.paths else None

    def _anchor(self, p: str, prefix: str) -> str:
        """A check's path from the root: checks name paths from the root; a struct mounted
        elsewhere (or generic code) may name them relative to itself."""
        if not prefix or p.startswith(prefix + ".") or p == prefix:
            return p
        if self._field_at(p.split(".")) is not None:
            return p
        return f"{prefix}.{p}"


_CANDIDATES: dict[tuple[type, str], tuple[tuple[str, tuple[str, ...]], ...]] = {}


def _candidates(root: type, name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Every path at which a field `name` may be, over all union variants, computed once per
    (root, name); which of them exist depends on the current variants."""
    key = (root, name)
    c = _CANDIDATES.get(key)
    if c is None:
        out: dict[str, None] = {}

        def walk(t: type, prefix: str) -> None:
            s = spec_of(t)
            dot = prefix + "." if prefix else ""
            if name in s.fields or (name == s.tag_field and prefix):
                out[dot + name] = None
            for f in s.sections:
                if f.name != name:
                    for sub in f.types:
                        if name in names_below(sub) or _tagged_below(sub, name):
                            walk(sub, dot + f.name)

        walk(root, "")
        c = _CANDIDATES[key] = tuple((p, tuple(p.split("."))) for p in out)
    return c


def _exists(cfg: Any, names: tuple[str, ...]) -> bool:
    x = cfg
    last = len(names) - 1
    for i, n in enumerate(names):
        s = _SPECS.get(type(x))
        if s is None:
            return False
        if n not in s.fields:
            return i == last and n == s.tag_field
        x = getattr(x, n)
    return True


def _find(cfg: Any, name: str) -> list[str]:
    """Paths of fields called `name` in the current config (current union variants only)."""
    return [p for p, names in _candidates(type(cfg), name) if _exists(cfg, names)]


@functools.cache
def _tagged_below(t: type, name: str) -> bool:
    s = spec_of(t)
    return s.tag_field == name or any(_tagged_below(sub, name) for f in s.sections for sub in f.types)


def resolve(
    tokens: Iterable[str],
    *,
    registry: Registry | None = None,
    runs: RunSource | None = None,
    root: type | None = None,
    default_preset: str | None = None,
) -> Resolved:
    """Resolve a spec into a validated, hashed config with blame.

    With no `root`, the config is naniGPT's `RunConfig`, the registry the shipped presets plus
    ./presets and NANIGPT_PRESETS, and a spec without a start token starts from `preset:small`.

        >>> r = resolve(["preset:tiny", "+large", "lr=1e-4"])
        >>> r.config.model.n_layer, r.config.optim.lr, r.blame["optim.lr"], r.blame["train.seed"]
        (4, 0.0001, 'lr=1e-4', 'preset:tiny')
    """
    if root is None and registry is None and default_preset is None:
        # the everyday call: one resolver per default registry, found with one lookup
        reg = default_registry()
        r = _DEFAULT_RESOLVERS.get(reg)
        if r is None:
            r = _DEFAULT_RESOLVERS[reg] = Resolver(_default_root(), reg, DEFAULT_PRESET)
        return r.resolve(tokens, runs=runs)
    if root is None:
        root = _default_root()
        if default_preset is None:
            default_preset = DEFAULT_PRESET
    reg = registry if registry is not None else default_registry()
    key = (reg, root, default_preset)
    r = _RESOLVERS.get(key)
    if r is None:
        r = Resolver(root, reg, default_preset)
        if registry is None:  # only the process-wide registries are worth keeping
            _RESOLVERS[key] = r
    return r.resolve(tokens, runs=runs)


_RESOLVERS: dict[tuple[Registry, type, str | None], Resolver] = {}
_DEFAULT_RESOLVERS: dict[Registry, Resolver] = {}

# The one binding of the generic machinery to naniGPT: its root config and default preset.
DEFAULT_PRESET = "small"


@functools.cache
def _default_root() -> type:
    from nanigpt.config import RunConfig

    return RunConfig
