"""The one validation of a resolved config, and errors that name the token behind a bad value.

Types and `Meta` ranges are checked by msgspec's typed decoding (the only place they are:
msgspec's `__init__` and `replace` check neither), then each struct's `check()` runs, children
before parents. A failure is mapped to the field path and, through the resolver's record of
which token last changed each leaf, to the token that set the value.

The typed decoding reads the config's sorted JSON, which is then its canonical bytes as well:
one encoding serves validation and hash. That holds when every leaf is already written the
canonical way (no int where a float goes, no -0.0: the resolver tracks that, `FieldSpec.pure`)
and no NaN can decode as null (the schema shows that). Otherwise, and for every error, it is
`msgspec.convert(msgspec.to_builtins(cfg), Root)` and the exact canonical encoding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from msgspec import convert as _convert
from msgspec import to_builtins as _to_builtins

from nanigpt.conf._canon import _encode, canonical_of
from nanigpt.conf._errors import CheckError, ConfigError, InvalidValueError, ValueTypeError
from nanigpt.conf._types import floats_finite, nan_may_decode, spec_of
from nanigpt.conf._values import format_value
from nanigpt.conf._walk import Mount, field_at, leaf_paths, mount, plan_checks


class _Missing:
    """A required field of a variant that `section=tag` created; a later token must set it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<required>"


MISSING = _Missing()


class Invalid(ConfigError):
    """msgspec's validation message, before it is mapped to a path and a token."""

    def __init__(self, message: str, builtins: Any) -> None:
        super().__init__(message)
        self.builtins = builtins


class Unencodable(Exception):
    """The config holds an object that is not config data (found and named by _bad_object)."""


class Trace:
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


class Validator:
    """Validates configs of type `root`."""

    def __init__(self, root: type) -> None:
        self.root = root
        self._mount = mount(root)
        plan_checks(self._mount)
        self._decode: Callable[[bytes], Any] = msgspec.json.Decoder(root).decode
        self._finite = floats_finite(root)
        self._nan_decodes = nan_may_decode(root)

    def validate_canonical(self, cfg: Any, pure: bool) -> tuple[Any, bytes]:
        """(the validated config, its canonical bytes); `pure` if every leaf of `cfg` is written
        the canonical way (`FieldSpec.pure`)."""
        try:
            out = _encode(cfg)
        except TypeError:
            raise Unencodable() from None
        try:
            v: Any = self._decode(out)
        except msgspec.ValidationError:
            # the exact path finds the error and the value behind it (or, if only the JSON was
            # refused, e.g. a NaN written as null, validates and canonicalizes it)
            v = self.validate(cfg)
            return v, canonical_of(v, self._finite)
        self._check(v, self._mount)
        if not pure or (self._nan_decodes and b"null" in out):
            out = canonical_of(v, self._finite)
        return v, out

    def validate(self, cfg: Any) -> Any:
        """The one validation: types and `Meta` ranges by msgspec, then every struct's check()."""
        try:
            b = _to_builtins(cfg)
        except TypeError:
            raise Unencodable() from None
        try:
            v: Any = _convert(b, self.root)
        except msgspec.ValidationError as e:
            raise Invalid(str(e), b) from None
        self._check(v, self._mount)
        return v

    def attribute(self, e: ConfigError, trace: Trace) -> ConfigError:
        """The validation error `e`, made to name the tokens behind it."""
        if isinstance(e, Invalid):
            return self._map_error(e.message, e.builtins, trace)
        if isinstance(e, CheckError):
            e.tokens = {p: trace.token_for(p) for p in e.paths}
            if e.token is None and e.paths:
                e.token = trace.latest(e.paths)
        return e

    def bad_object(self, cfg: Any, trace: Trace) -> None:
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

    def _map_error(self, msg: str, b: dict, trace: Trace) -> ConfigError:
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
        # no suggestion here: the resolver knows the value the field held before (the class
        # default, which the preset may not use, would mislead)
        text = what[0].lower() + what[1:] if what else what
        if "got" in what or "Invalid enum" in what:
            return ValueTypeError(f"`{dotted}`={shown}: {text}", path=dotted, token=tok)
        return InvalidValueError(f"`{dotted}`={shown} is out of range: {text}", path=dotted, token=tok)

    def _check(self, x: Any, m: Mount) -> None:
        """Every struct's check(), children before parents (a rule may assume valid parts)."""
        for name, p, kids in m.checks:
            sub = getattr(x, name)
            km = kids.get(type(sub))  # a validated config holds one of the planned variants
            if km is None:  # or null
                continue
            if km.checks:
                self._check(sub, km)
            elif km.check is not None:  # a leaf-level section, checked here without another call
                try:
                    km.check(sub)
                except CheckError as e:
                    self._anchor_all(e, p)
                    raise
        if m.check is not None:
            try:
                m.check(x)
            except CheckError as e:
                self._anchor_all(e, m.prefix)
                raise

    def _anchor_all(self, e: CheckError, prefix: str) -> None:
        e.paths = tuple(self._anchor(p, prefix) for p in e.paths)
        e.path = e.paths[0] if e.paths else None

    def _anchor(self, p: str, prefix: str) -> str:
        """A check's path from the root: checks name paths from the root; a struct mounted
        elsewhere (or generic code) may name them relative to itself."""
        if not prefix or p.startswith(prefix + ".") or p == prefix:
            return p
        if field_at(self.root, p.split(".")) is not None:
            return p
        return f"{prefix}.{p}"
