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

The machinery takes the root type and the registry as parameters (`Resolver(root, registry)`);
`nanigpt.config.resolve(tokens)` binds it to naniGPT's `RunConfig`, presets and default preset.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn, Protocol

import msgspec
from msgspec.structs import replace

from nanigpt.conf._canon import hash_bytes, short_hash
from nanigpt.conf._errors import (
    AmbiguousFieldError, ConfigError, InvalidValueError, PatchError, RunRefError, TokenSyntaxError, UnknownFieldError,
    UnknownPatchError, UnknownPresetError, UnknownVariantError, ValueTypeError, VariantFieldError,
)
from nanigpt.conf._grammar import DEFAULTS, parse_token
from nanigpt.conf._struct import TAG_FIELD
from nanigpt.conf._lens import Traversal
from nanigpt.conf._patch import PatchFactory
from nanigpt.conf._registry import Registry
from nanigpt.conf._suggest import close_matches, did_you_mean, mean, suggest
from nanigpt.conf._types import LEAF, STRUCT, UNION, FieldSpec, join, names_below, spec_of
from nanigpt.conf._validate import MISSING, Trace, Unencodable, attribute, bad_object, validate
from nanigpt.conf._values import BadValue, describe_type, format_value
from nanigpt.conf._walk import _find, field_at, fields_named, leaf_paths, mark

__all__ = ["DEFAULTS_TOKEN", "Resolved", "Resolver", "RunSource", "leaf_paths", "parse_token", "resolve"]

DEFAULTS_TOKEN = DEFAULTS  # `defaults`: a spec may start from the schema's defaults


_STARTS = ("preset", "run", "defaults")


class RunSource(Protocol):
    """Where `run:HASH` finds a past run: the run store."""

    def load_config(self, prefix: str) -> tuple[str, dict]: ...


class Resolved:
    """A resolved spec: the validated config, its content address and where each value came from."""

    __slots__ = ("config", "hash", "tokens", "start", "canonical", "_changed", "_blame", "_wrote")

    def __init__(
        self, config: Any, canonical: bytes, h: str, tokens: tuple[str, ...], start: str, changed: dict[str, int],
        wrote: dict[int, tuple[str, ...]] | None = None,
    ) -> None:
        self.config = config
        self.canonical = canonical
        self.hash = h
        self.tokens = tokens
        self.start = start
        self._changed = changed  # {leaf path: index of the token that last changed it}
        self._wrote = wrote or {}  # {token index: the leaf paths that token changed}
        self._blame: dict[str, str] | None = None

    @property
    def short(self) -> str:
        """The 12-digit short form of the hash."""
        return short_hash(self.hash)

    @property
    def blame(self) -> dict[str, str]:
        """Leaf path -> the token that last changed it; leaves no token changed map to `start`."""
        if self._blame is None:
            blame = dict.fromkeys(leaf_paths(self.config), self.start)
            for p, i in self._changed.items():
                if p in blame:  # not a leaf of a variant that a later token switched away
                    blame[p] = self.tokens[i]
            self._blame = blame
        return self._blame

    def dead_tokens(self) -> list[tuple[str, str]]:
        """(token, a later token that undid it) for each token that changed some value but owns
        none in the result: later tokens overwrote, or switched away, every field it set
        (`lr=1e-4 +muon`). A token that changed nothing (it set a value already there) is no
        dead token: that is a spec saying what it means."""
        blame = self.blame
        out = []
        for i, paths in self._wrote.items():
            if any(p in blame and self._changed.get(p) == i for p in paths):
                continue
            later = [blame[p] for p in paths if p in blame]  # overwritten where the field remains
            if not later:  # every field it set was switched away: whoever set the section's variant
                later = [blame.get(f"{p.rpartition('.')[0]}.{TAG_FIELD}", self.start) for p in paths]
            out.append((self.tokens[i], later[-1]))
        return out

    def __repr__(self) -> str:
        return f"Resolved({self.short}, {' '.join(self.tokens) or self.start!r})"


class Resolver:
    """Resolves token lists into validated configs of type `root`, with a registry of presets and
    patches. `default_preset` starts a spec that has no start token (else the root's defaults)."""

    def __init__(self, root: type, registry: Registry | None = None, default_preset: str | None = None) -> None:
        self.root = root
        self.registry = registry if registry is not None else Registry()
        self.default_preset = default_preset

    # -- the start -----------------------------------------------------------------------------

    def _start(self, parsed: list[tuple[str, ...]], tokens: tuple[str, ...], runs: RunSource | None):
        kind = parsed[0][0] if parsed else None
        if kind == "preset":
            return self._preset(parsed[0][1], tokens[0]), tokens[0], 1
        if kind == "run":
            cfg, full = self._run(parsed[0][1], tokens[0], runs)
            return cfg, f"run:{full}", 1
        if kind == "defaults" or self.default_preset is None:
            return self.root(), DEFAULTS_TOKEN, int(kind == "defaults")
        tok = f"preset:{self.default_preset}"
        return self._preset(self.default_preset, tok), tok, 0

    def _preset(self, name: str, tok: str) -> Any:
        try:
            p = self.registry.preset(name)
        except UnknownPresetError as e:
            raise e.with_token(tok) from None
        try:
            cfg = p()
        except ConfigError as e:
            raise e.with_token(tok) from None
        return self._of_root(cfg, f"preset `{name}` ({p.source})", tok)

    def _of_root(self, out: Any, what: str, tok: str) -> Any:
        """`out`, which a preset or patch returned, if it is a config of the root type."""
        if not isinstance(out, self.root):
            raise PatchError(f"{what} returned {type(out).__name__}, not a {self.root.__name__}", token=tok)
        return out

    def _run(self, prefix: str, tok: str, runs: RunSource | None) -> tuple[Any, str]:
        if runs is None:
            raise RunRefError(
                "`run:` needs a run store to look the hash up in", token=tok,
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
                f"the config of run {short_hash(full)} no longer decodes{vs}: {e}", token=tok,
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
                raise PatchError(f"`+{name}` needs arguments", token=tok, suggestion=f"write {entry.help}")
            try:
                p = entry.from_text(args)
            except ConfigError as e:
                raise e.with_token(tok) from None
        else:
            if args is not None:
                raise PatchError(f"`+{name}` takes no arguments, got `{args}`", token=tok, suggestion=f"write +{name}")
            p = entry
        try:
            out = p(cfg)
        except ConfigError as e:
            raise e.with_token(tok) from e
        except Exception as e:
            raise PatchError(f"patch `{p.name}` ({p.source}) failed: {type(e).__name__}: {e}", token=tok) from e
        return self._of_root(out, f"patch `{p.name}` ({p.source})", tok)

    def _locate(self, cfg: Any, path: str, tok: str) -> tuple[list[Any], list[str], FieldSpec | None]:
        """The chain of structs down to the target's parent, the field names, and the target field
        (None when the target is a union tag such as `optim.type`, which means a switch)."""
        if "." not in path and path not in spec_of(self.root).fields:
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
                    f"so `{path}` does not exist", path=path, token=tok,
                )
            x = getattr(x, name)
            if x is None:
                raise VariantFieldError(
                    f"`{'.'.join(names[: i + 1])}` is null, so `{path}` does not exist", path=path, token=tok
                )
        raise AssertionError("unreachable")

    def _no_field(self, x: Any, names: list[str], i: int, tok: str) -> NoReturn:
        where = ".".join(names[:i])
        path = ".".join(names)
        name = names[i]
        s = spec_of(type(x))
        if where:
            # a field of another variant of this union section?
            parent_field = field_at(self.root, names[:i])
            if parent_field is not None and parent_field.kind == UNION:
                have = [tag for tag, t in parent_field.variants.items() if name in spec_of(t).fields]
                if have:
                    raise VariantFieldError(
                        f"`{where}` is currently `{s.tag}`, which has no field `{name}`", path=path, token=tok,
                        suggestion=f"`{name}` is in {', '.join(have)}; switch first: {where}={have[0]}",
                    )
        # a name before the last: say which parent is the nearest valid one
        inner = f": `{where}` has no field `{name}`" if where else f": there is no top-level field `{name}`"
        raise UnknownFieldError(
            f"unknown field `{path}`" + (inner if i < len(names) - 1 else ""), path=path, token=tok,
            suggestion=self._parent_hint(names, i, s.names),
        )

    def _parent_hint(self, names: list[str], i: int, fields: tuple[str, ...]) -> str:
        """For `names[i]`, unknown in the struct at names[:i] (the nearest valid parent): the
        closest of its fields (the whole path when the rest of it exists there), else its fields."""
        where = names[:i]
        paths = []
        if i < len(names) - 1:  # `model.block.n_layer`: the last name may be a field here
            paths += [".".join([*where, c]) for c in fields if c.lower() == names[-1].lower()]
        for c in close_matches(names[i], fields):  # with the rest of the path, if it exists there
            full = [*where, c, *names[i + 1 :]]
            paths.append(".".join(full if field_at(self.root, full) is not None else [*where, c]))
        hint = mean(paths)
        if hint is not None:
            return hint
        if not where:
            return f"the top-level fields are {', '.join(fields)}"
        return f"the fields of `{'.'.join(where)}` are {', '.join(fields)}"

    def _bare(self, cfg: Any, name: str, tok: str) -> str:
        found = _find(cfg, name)
        if len(found) == 1:
            return found[0]
        if found:
            raise AmbiguousFieldError(
                f"`{name}` is ambiguous: it names {', '.join(f'`{p}`' for p in found)}", paths=tuple(found),
                path=name, token=tok, suggestion=self._ambiguity_hint(name, found, tok.partition("=")[2]),
            )
        elsewhere = self._variants_with(name)
        if elsewhere:
            sec, tags = elsewhere[0]
            raise VariantFieldError(
                f"no field `{name}` in the current config: it is a field of `{sec}` variant(s) {', '.join(tags)}",
                path=name, token=tok, suggestion=f"switch first: {sec}={tags[0]} {name}=...",
            )
        hint = did_you_mean(name, sorted(names_below(self.root)))
        raise UnknownFieldError(f"unknown field `{name}`", path=name, token=tok, suggestion=hint)

    def _ambiguity_hint(self, name: str, found: list[str], text: str) -> str:
        """Tokens that set one of the fields `found` (all called `name`) to `text`, each one that
        the resolver accepts: a union tag (`optim.type`) is switched as `optim=muon`, and only to
        a variant the section has; a field is offered only where `text` parses for it."""
        fixes: list[str] = []
        leaves = 0
        for p in found:
            f = field_at(self.root, p.split("."))
            if f is None:  # a union tag: `section.type`
                continue
            leaves += 1
            try:
                f.parse(text)
            except BadValue:
                continue
            fixes.append(f"{p}={text}")
        hint = "write " + " or ".join(f"`{t}`" for t in fixes) if fixes else ""
        if leaves < len(found):  # `...name=` reaches no tag: no traversal to offer
            switch = self._switch_hint(name, text) or ""
            return f"{hint}; {switch}" if hint else switch
        if not fixes:
            return "write the full path: " + " or ".join(f"{p}=..." for p in found)
        if len(fixes) == len(found):  # `...name=` sets every one of them, and each takes `text`
            hint += f", or `...{name}={text}` to set them all"
        return hint

    def _switch_hint(self, name: str, text: str) -> str | None:
        """For `name=text` where `name` is the tag of union sections: the `section=text` switches
        that exist, else the variants of each section; None if `name` is no tag."""
        tagged = [
            (p, f) for p, f in self._union_sections() if any(spec_of(v).tag_field == name for v in f.variants.values())
        ]
        if not tagged:
            return None
        fixes = []
        for p, f in tagged:
            if text in f.variants:
                required = [f"{p}.{r.name}=..." for r in spec_of(f.variants[text]).fields.values() if r.required]
                fixes.append(f"`{p}={text}`" + (f" and then {' '.join(required)}" if required else ""))
        if fixes:
            return f"`{name}` picks a section's variant: write " + " or ".join(fixes)
        known = "; ".join(f"{p}={'|'.join(f.variants)}" for p, f in tagged)
        return f"`{name}` picks a section's variant, and `{text}` is no variant: {known}"

    def _union_sections(self) -> list[tuple[str, FieldSpec]]:
        """(path, field) of every union-typed section a config of the root may hold."""
        out: list[tuple[str, FieldSpec]] = []

        def walk(t: type, prefix: str) -> None:
            for f in spec_of(t).sections:
                p = join(prefix, f.name)
                if f.kind == UNION:
                    out.append((p, f))
                for sub in f.types:
                    walk(sub, p)

        walk(self.root, "")
        return out

    def _variants_with(self, name: str) -> list[tuple[str, list[str]]]:
        """(section path, [variant tags]) for union sections whose variants have a field `name`."""
        sections = self._union_sections()
        found = [(p, [t for t, v in f.variants.items() if name in spec_of(v).fields]) for p, f in sections]
        return [(p, tags) for p, tags in found if tags]

    def _variant_field_hint(self, cfg: Any, name: str, text: str) -> str | None:
        """For a bare `name=text` where `name` is a section of the root but also a field of some
        union variant (`train`, the shards' path): set it there, switching first if need be."""
        for section, tags in self._variants_with(name):
            current = getattr(cfg, section, None) if "." not in section else None
            if current is not None and spec_of(type(current)).tag in tags:
                return f"did you mean `{section}.{name}={text}`?"
            return f"did you mean `{section}={tags[0]} {section}.{name}={text}`?"
        return None

    def _assign(self, cfg: Any, path: str, text: str, tok: str) -> Any:
        """`cfg` with the field at `path` (dotted, or a bare name) set to the value of `text`."""
        chain, names, f = self._locate(cfg, path, tok)
        if f is None:  # `section.type=tag`: chain and names lead to the section itself
            f = spec_of(type(chain[-1])).fields[names[-1]]
        old = getattr(chain[-1], f.name)
        try:
            new = self._new_value(f, old, ".".join(names), text, tok)
        except ValueTypeError as e:
            if f.kind == STRUCT and len(names) == 1:  # `train=/x` meant a union variant's field `train`?
                e.suggestion = self._variant_field_hint(cfg, path, text) or e.suggestion
            raise
        if new is old:
            return cfg
        for parent, name in zip(reversed(chain), reversed(names)):
            new = replace(parent, **{name: new})
        return new

    def _new_value(self, f: FieldSpec, old: Any, path: str, text: str, tok: str) -> Any:
        if f.kind == LEAF:
            try:
                v = f.parse(text)
            except BadValue as e:
                short = path.rsplit(".", 1)[-1]
                raise ValueTypeError(
                    f"`{path}` {e.reason}", path=path, token=tok,
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
                    f"unknown `{path}` variant `{text}`", path=path, token=tok,
                    suggestion=(f"{hint} " if hint else "") + f"variants: {', '.join(f.variants)}",
                )
            if type(old) is t:
                return old  # switching to the current variant changes nothing
            return t(**{r.name: MISSING for r in spec_of(t).fields.values() if r.required})
        raise ValueTypeError(
            f"`{path}` is a section, not a value", path=path, token=tok,
            suggestion=f"set its fields, e.g. {path}.{spec_of(f.struct).names[0]}=...",  # type: ignore[arg-type]
        )

    def _every(self, cfg: Any, name: str, text: str, tok: str) -> Any:
        try:
            t = Traversal(self.root, name)
        except ConfigError as e:
            switch = self._switch_hint(name, text)  # `...type=muon`: a tag is no field
            if switch is not None:
                e.suggestion = switch
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
                path=f"...{name}", token=tok,
                suggestion=f"switch first: {elsewhere[0][0]}={elsewhere[0][1][0]}" if elsewhere else None,
            )
        return out

    # -- the whole spec ------------------------------------------------------------------------

    def resolve(self, tokens: Iterable[str], *, runs: RunSource | None = None) -> Resolved:
        """Apply `tokens` left to right, validate once, hash, and record blame."""
        if isinstance(tokens, str):
            raise TokenSyntaxError(
                f"resolve() takes a list of tokens, not the string {tokens!r}",
                suggestion="split it: resolve(spec.split())",
            )
        tokens = tuple(tokens)
        try:
            parsed = list(map(parse_token, tokens))
        except TokenSyntaxError as e:
            raise self._hint_syntax(e) from None
        cfg, start, first = self._start(parsed, tokens, runs)
        start_cfg = cfg
        changed: dict[str, int] = {}  # leaf path -> index of the token that last changed it
        wrote: dict[int, tuple[str, ...]] = {}  # token index -> the leaves it changed
        for i in range(first, len(tokens)):
            before = cfg
            cfg = self._step(cfg, parsed, tokens, i)
            mine: dict[str, int] = {}
            mark(before, cfg, "", i, mine)
            changed.update(mine)
            if mine:
                wrote[i] = tuple(mine)
        try:
            config, canonical = validate(cfg, self.root)
        except Unencodable:
            bad_object(cfg, Trace(tokens, start, changed))
            raise
        except ConfigError as e:
            e = attribute(e, Trace(tokens, start, changed))
            self._hint_prior_value(e, start_cfg, parsed, tokens, first, changed)
            raise e from None
        return Resolved(config, canonical, hash_bytes(canonical), tokens, start, changed, wrote)

    def _step(self, cfg: Any, parsed: list[tuple[Any, ...]], tokens: tuple[str, ...], i: int) -> Any:
        """`cfg` with token `i` applied."""
        p, tok = parsed[i], tokens[i]
        if p[0] == "set":
            return self._assign(cfg, p[1], p[2], tok)
        if p[0] == "patch":
            return self._patch(cfg, p[1], p[2], tok)
        if p[0] == "every":
            return self._every(cfg, p[1], p[2], tok)
        raise self._misplaced_start(tokens, parsed, i)

    def _hint_prior_value(
        self, e: ConfigError, start_cfg: Any, parsed: list[tuple[Any, ...]], tokens: tuple[str, ...], first: int,
        changed: dict[str, int],
    ) -> None:
        """A bad value's error, with the value its field held before the token that set it, when
        that one was valid (`n_layer=0` after `preset:tiny`: the current value is 2): what the
        user had, which the class default is not. The tokens before are applied once more."""
        i = changed.get(e.path or "")
        if not isinstance(e, (InvalidValueError, ValueTypeError)) or e.suggestion is not None or i is None:
            return  # not a value, already said, or set by the start (its range is all there is to say)
        *parents, name = e.path.split(".")  # type: ignore[union-attr]
        try:
            cfg = start_cfg
            for j in range(first, i):
                cfg = self._step(cfg, parsed, tokens, j)
            for n in parents:
                cfg = getattr(cfg, n)
            value = getattr(cfg, name)
            msgspec.convert(value, spec_of(type(cfg)).fields[name].annotation)  # its type and range
        except (ConfigError, AttributeError, KeyError, TypeError, msgspec.ValidationError):
            return  # no such field before (a variant a later token switched to), or no valid value
        e.suggestion = f"the current value is {format_value(value)}"

    @staticmethod
    def _misplaced_start(tokens: tuple[str, ...], parsed: list[tuple[Any, ...]], i: int) -> TokenSyntaxError:
        """`preset:`/`run:` token `i` that is not first: move it to the front, or keep one start."""
        tok = tokens[i]
        starts = list(dict.fromkeys(t for t, p in zip(tokens, parsed) if p[0] in _STARTS))
        rest = [t for t, p in zip(tokens, parsed) if p[0] not in _STARTS]
        if len(starts) > 1:
            return TokenSyntaxError(
                f"a spec has one start token, first; this one has {len(starts)}: "
                + ", ".join(f"`{s}`" for s in starts),
                token=tok,
                suggestion="keep one: " + " or ".join(f"`{' '.join([s, *rest])}`" for s in starts),
            )
        fixed = " ".join([tok, *rest])
        if tok in tokens[:i]:
            message, fix = f"`{tok}` is repeated: a spec has one start token", "drop the repeat"
        else:
            kind = parsed[i][0]
            message = f"`{kind}` must be the first token" if kind == "defaults" else f"`{kind}:` must be the first token"
            fix = "move it to the front"
        return TokenSyntaxError(message, token=tok, suggestion=f"{fix}: {fixed}")

    def _hint_syntax(self, e: TokenSyntaxError) -> TokenSyntaxError:
        """A token the grammar refused: say what the user probably meant, now that the registry
        and the types can tell (`small` alone, `lr=` with no value, `+with_lr:` with no arguments)."""
        w = e.token or ""
        if w.isidentifier():
            if w in self.registry.presets:
                e.suggestion = f"did you mean `preset:{w}`?"
            elif w in self.registry.patches:
                e.suggestion = f"did you mean `+{w}`?"
            elif w in names_below(self.root):
                e.suggestion = f"did you mean `{w}=VALUE`?"
        elif w.endswith("=") and w.count("=") == 1:
            fields = [f for _, f in fields_named(self.root, w[:-1].removeprefix("...")) if f is not None]
            if fields and all(f.nullable for f in fields):  # offer null only where it means None
                e.suggestion = f"write {w}VALUE, or {w}null for none"
        elif w.startswith("+") and w.endswith(":"):
            entry = self.registry.patches.get(w[1:-1])
            if isinstance(entry, PatchFactory):
                e.suggestion = f"write {entry.help}"
            elif entry is not None:
                e.suggestion = f"`{w[:-1]}` takes no arguments: write {w[:-1]}"
        return e



def resolve(
    tokens: Iterable[str], root: type, registry: Registry | None = None, *, runs: RunSource | None = None,
    default_preset: str | None = None,
) -> Resolved:
    """Resolve a spec into a validated, hashed config of type `root`, with blame: one call of
    `Resolver(root, registry, default_preset).resolve(tokens, runs=runs)`. Build the Resolver once
    to resolve many specs. (`nanigpt.config.resolve` binds this to naniGPT's RunConfig.)

        >>> from nanigpt.conf import Config
        >>> class Root(Config):
        ...     lr: float = 1e-3
        ...     steps: int = 10
        >>> r = resolve(["lr=1e-4", "steps=20", "lr=3e-4"], Root)
        >>> r.config.lr, r.blame, r.start
        (0.0003, {'lr': 'lr=3e-4', 'steps': 'steps=20'}, 'defaults')
    """
    return Resolver(root, registry, default_preset).resolve(tokens, runs=runs)
