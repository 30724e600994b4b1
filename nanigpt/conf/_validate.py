"""The one validation of a resolved config, and errors that name the token behind a bad value.

`msgspec.convert(msgspec.to_builtins(cfg), Root)` checks types and `Meta` ranges (the only place
they are: msgspec's `__init__` and `replace` check neither) and makes `1` in a float field `1.0`;
then each struct's `check()` runs, children before parents; then the canonical bytes. A failure is
mapped to the field path and, through the resolver's record of which token last changed each
leaf, to the token that set the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import msgspec
from msgspec import convert as _convert
from msgspec import to_builtins as _to_builtins

from nanigpt.conf._canon import canonical_bytes
from nanigpt.conf._errors import CheckError, ConfigError, InvalidValueError, ValueTypeError
from nanigpt.conf._struct import Config
from nanigpt.conf._types import join, spec_of
from nanigpt.conf._values import format_value
from nanigpt.conf._walk import field_at, leaf_paths


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


class Trace(NamedTuple):
    """Which token last changed each leaf, for naming the token behind a validation error."""

    tokens: tuple[str, ...]
    start: str
    changed: dict[str, int]  # leaf path -> index of the token that last changed it

    def token_for(self, path: str) -> str:
        """The token that last set `path` (or, for a section, any leaf below it)."""
        i = self.changed.get(path)
        return self.tokens[i] if i is not None else self.latest((path,))

    def latest(self, paths: Iterable[str]) -> str:
        """The last token that set any of `paths` or a leaf below one of them."""
        idx = [i for q, i in self.changed.items() for p in paths if q == p or q.startswith(p + ".")]
        return self.tokens[max(idx)] if idx else self.start


def validate(cfg: Any, root: type) -> tuple[Any, bytes]:
    """The one validation: types and `Meta` ranges by msgspec, then every struct's check();
    (the validated config, its canonical bytes)."""
    try:
        b = _to_builtins(cfg)
    except TypeError:
        raise Unencodable() from None
    try:
        v: Any = _convert(b, root)
    except msgspec.ValidationError as e:
        raise Invalid(str(e), b) from None
    _check(v, "", root)
    return v, canonical_bytes(v)


def attribute(e: ConfigError, trace: Trace) -> ConfigError:
    """The validation error `e`, made to name the tokens behind it."""
    if isinstance(e, Invalid):
        return _map_error(e.message, e.builtins, trace)
    if isinstance(e, CheckError):
        e.tokens = {p: trace.token_for(p) for p in e.paths}
        if e.token is None and e.paths:
            e.token = trace.latest(e.paths)
    return e


def bad_object(cfg: Any, trace: Trace) -> None:
    """Find the leaf that msgspec cannot encode and raise an error naming it."""
    for path in leaf_paths(cfg):
        parent = x = cfg
        try:
            for n in path.split("."):
                parent, x = x, getattr(x, n)
        except AttributeError:
            continue  # a tag path
        tok = trace.token_for(path)
        if x is MISSING:
            raise ValueTypeError(
                f"`{path}` is required by `{path.rpartition('.')[0]}={spec_of(type(parent)).tag}` and was not set",
                path=path, token=tok, suggestion=f"add {path}=...",
            )
        try:
            msgspec.to_builtins(x)
        except TypeError:
            raise ValueTypeError(
                f"`{path}` holds a {type(x).__name__} ({x!r}), which is not config data", path=path, token=tok,
                suggestion="a config holds numbers, strings, booleans, null, tuples and sections",
            ) from None


def _map_error(msg: str, b: dict, trace: Trace) -> ConfigError:
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


def _check(x: Any, prefix: str, root: type) -> None:
    """Every struct's check(), children before parents (a rule may assume valid parts)."""
    for f in spec_of(type(x)).sections:
        sub = getattr(x, f.name)
        if sub is not None:
            _check(sub, join(prefix, f.name), root)
    check = getattr(type(x), "check", None)
    if callable(check) and check is not Config.check:  # Config.check itself checks nothing
        try:
            check(x)
        except CheckError as e:
            e.paths = tuple(_anchor(p, prefix, root) for p in e.paths)
            e.path = e.paths[0] if e.paths else None
            raise


def _anchor(p: str, prefix: str, root: type) -> str:
    """A check's path from the root: checks name paths from the root; a struct mounted
    elsewhere (or generic code) may name them relative to itself."""
    if not prefix or p == prefix or p.startswith(prefix + ".") or field_at(root, p.split(".")) is not None:
        return p
    return f"{prefix}.{p}"
