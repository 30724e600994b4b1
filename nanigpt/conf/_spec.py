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
from collections.abc import Iterable
from typing import Any, Protocol

import msgspec
from msgspec.structs import replace

from nanigpt.conf._canon import canonical_bytes, hash_bytes
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
from nanigpt.conf._types import LEAF, STRUCT, UNION, FieldSpec, describe_type, names_below, spec_of
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


def leaf_paths(cfg: Any) -> list[str]:
    """Every leaf path of a config struct, union tags (`optim.type`) included, in field order."""
    out: list[str] = []
    _all_leaves(cfg, "", out)
    return out


def _mark(a: Any, b: Any, prefix: str, i: int, changed: dict[str, int]) -> None:
    """Record token `i` as the owner of every leaf whose value differs from `a` to `b`.

    Sub-structs that are the same object are skipped: a token that touched one field costs a
    walk down one path, not over the whole tree.
    """
    if type(a) is not type(b) or not isinstance(b, msgspec.Struct):
        # a union switch (or a section set to/from null): every leaf below belongs to this token
        out: list[str] = []
        _all_leaves(b, prefix, out)
        for p in out:
            changed[p] = i
        return
    leaves, sections, _ = _paths(type(b), prefix)
    for name, p in leaves:
        if getattr(a, name) != getattr(b, name):
            changed[p] = i
    for name, p in sections:
        x = getattr(a, name)
        y = getattr(b, name)
        if x is not y:
            _mark(x, y, p, i, changed)


# ---------------------------------------------------------------------------------------------
# The result


class Resolved:
    """A resolved spec: the validated config, its content address and where each value came from."""

    __slots__ = ("config", "hash", "short", "tokens", "start", "canonical", "_changed", "_blame")

    def __init__(
        self, config: Any, canonical: bytes, h: str, tokens: tuple[str, ...], start: str, changed: dict[str, str]
    ) -> None:
        self.config = config
        self.canonical = canonical
        self.hash = h
        self.short = h[:12]
        self.tokens = tokens
        self.start = start
        self._changed = changed
        self._blame: dict[str, str] | None = None

    @property
    def blame(self) -> dict[str, str]:
        """Leaf path -> the token that last changed it; leaves no token changed map to `start`."""
        if self._blame is None:
            start, changed = self.start, self._changed
            self._blame = {p: changed.get(p, start) for p in leaf_paths(self.config)}
        return self._blame

    def __repr__(self) -> str:
        return f"Resolved({self.short}, {' '.join(self.tokens) or self.start!r})"


# ---------------------------------------------------------------------------------------------
# The resolver


_CHECKS: dict[type, bool] = {}


def _has_check(t: type) -> bool:
    """Whether `t` has cross-field rules (a `check` other than the base's no-op), memoized."""
    r = _CHECKS.get(t)
    if r is None:
        fn = getattr(t, "check", None)
        r = _CHECKS[t] = callable(fn) and fn is not Config.check
    return r


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
        spec_of(root)

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
        except ConfigError as e:
            raise e.with_token(tok) from None
        except Exception as e:
            raise PatchError(f"patch `{p.name}` ({p.source}) failed: {type(e).__name__}: {e}", token=tok) from e
        if not isinstance(out, self.root):
            raise PatchError(
                f"patch `{p.name}` ({p.source}) returned {type(out).__name__}, not a {self.root.__name__}",
                token=tok,
            )
        return out

    def _locate(self, cfg: Any, path: str, tok: str) -> tuple[list[Any], list[str], FieldSpec | None]:
        """The chain of structs down to the target's parent, the field names, and the target field
        (None when the target is a union tag such as `optim.type`, which means a switch)."""
        if "." not in path and path not in spec_of(type(cfg)).fields:
            path = self._bare(cfg, path, tok)
        names = path.split(".")
        chain: list[Any] = []
        x = cfg
        for i, name in enumerate(names):
            s = spec_of(type(x))
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
        found: list[str] = []
        _find(cfg, name, "", found)
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

    def _assign(self, cfg: Any, path: str, text: str, tok: str) -> Any:
        chain, names, f = self._locate(cfg, path, tok)
        if f is None:  # `section.type=tag`: chain and names lead to the section itself
            f = spec_of(type(chain[-1])).fields[names[-1]]
        parent = chain[-1]
        old = getattr(parent, f.name)
        new = self._new_value(f, old, ".".join(names), text, tok)
        if new is old:
            return cfg
        for parent, name in zip(reversed(chain), reversed(names)):
            new = replace(parent, **{name: new})
        return new

    def _new_value(self, f: FieldSpec, old: Any, path: str, text: str, tok: str) -> Any:
        if f.kind == LEAF:
            try:
                v = f.parser()(text)
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
        changed: dict[str, int] = {}
        for i in range(first, len(tokens)):
            p = parsed[i]
            tok = tokens[i]
            kind = p[0]
            before = cfg
            if kind == "set":
                cfg = self._assign(cfg, p[1], p[2], tok)
            elif kind == "patch":
                cfg = self._patch(cfg, p[1], p[2], tok)
            elif kind == "every":
                cfg = self._every(cfg, p[1], p[2], tok)
            else:
                raise TokenSyntaxError(
                    f"`{kind}:` must be the first token",
                    token=tok,
                    suggestion=f"move it to the front: {tok} {' '.join(t for t in tokens if t != tok)}".rstrip(),
                )
            if cfg is not before:
                _mark(before, cfg, "", i, changed)
        owner = {p: tokens[i] for p, i in changed.items()}
        config = self._validate(cfg, owner, start, changed, tokens)
        canonical = canonical_bytes(config)
        return Resolved(config, canonical, hash_bytes(canonical), tokens, start, owner)

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

    def _token_for(self, path: str, owner: dict[str, str], start: str, changed: dict[str, int], tokens) -> str:
        if path in owner:
            return owner[path]
        below = [i for p, i in changed.items() if p.startswith(path + ".")]
        return tokens[max(below)] if below else start

    def _validate(self, cfg: Any, owner: dict[str, str], start: str, changed: dict[str, int], tokens) -> Any:
        try:
            b = msgspec.to_builtins(cfg)
        except TypeError:
            self._bad_object(cfg, owner, start, changed, tokens)
            raise
        try:
            v = msgspec.convert(b, self.root)
        except msgspec.ValidationError as e:
            raise self._map_error(str(e), b, owner, start, changed, tokens) from None
        self._check(v, "", owner, start, changed, tokens)
        return v

    def _bad_object(self, cfg: Any, owner, start, changed, tokens) -> None:
        """Find the leaf that msgspec cannot encode and raise an error naming it."""
        for path in leaf_paths(cfg):
            x = cfg
            try:
                for n in path.split("."):
                    x = getattr(x, n)
            except AttributeError:
                continue  # a tag path
            tok = self._token_for(path, owner, start, changed, tokens)
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

    def _map_error(self, msg: str, b: dict, owner, start, changed, tokens) -> ConfigError:
        m = re.match(r"^(.*) - at `\$(.*)`$", msg)
        what, where = (m.group(1), m.group(2)) if m else (msg, "")
        dotted = re.sub(r"\[\d+\]", "", where).lstrip(".")
        req = re.match(r"Object missing required field `(.*)`", what)
        if req:
            dotted = f"{dotted}.{req.group(1)}" if dotted else req.group(1)
            tok = self._token_for(dotted, owner, start, changed, tokens)
            return ValueTypeError(
                f"`{dotted}` is required and was not set", path=dotted, token=tok, suggestion=f"add {dotted}=..."
            )
        value: Any = b
        for n in dotted.split(".") if dotted else ():
            value = value.get(n) if isinstance(value, dict) else None
        tok = self._token_for(dotted, owner, start, changed, tokens)
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

    def _check(self, x: Any, prefix: str, owner, start, changed, tokens) -> None:
        t = type(x)
        for name, p in _paths(t, prefix)[1]:
            sub = getattr(x, name)
            if sub is not None:
                self._check(sub, p, owner, start, changed, tokens)
        if _has_check(t):
            try:
                x.check()
            except CheckError as e:
                paths = tuple(self._anchor(p, prefix) for p in e.paths)
                e.paths = paths
                e.path = paths[0] if paths else None
                e.tokens = {p: self._token_for(p, owner, start, changed, tokens) for p in paths}
                if e.token is None and paths:
                    idx = [changed[q] for p in paths for q in changed if q == p or q.startswith(p + ".")]
                    e.token = tokens[max(idx)] if idx else start
                raise

    def _anchor(self, p: str, prefix: str) -> str:
        """A check's path from the root: checks name paths from the root; a struct mounted
        elsewhere (or generic code) may name them relative to itself."""
        if not prefix or p.startswith(prefix + ".") or p == prefix:
            return p
        if self._field_at(p.split(".")) is not None:
            return p
        return f"{prefix}.{p}"


def _find(x: Any, name: str, prefix: str, out: list[str]) -> None:
    """Paths of fields called `name` in the current config (current union variants only)."""
    s = spec_of(type(x))
    dot = prefix + "." if prefix else ""
    if name in s.fields:
        out.append(dot + name)
    elif name == s.tag_field and prefix:
        out.append(dot + name)
    for f in s.sections:
        if f.name == name:
            continue
        sub = getattr(x, f.name)
        if sub is not None and (name in names_below(type(sub)) or _tagged_below(type(sub), name)):
            _find(sub, name, dot + f.name, out)


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
    if root is None:
        from nanigpt.config import RunConfig  # the one binding of the generic machinery to naniGPT

        root = RunConfig
        if default_preset is None:
            default_preset = "small"
    reg = registry if registry is not None else default_registry()
    return Resolver(root, reg, default_preset).resolve(tokens, runs=runs)
