"""Values on the command line: type-directed parsing of `path=value` text, and the reverse.

String fields take the raw text; numbers, booleans and `null` are JSON; tuples are `[0.9,0.95]` or
`0.9,0.95` (shells glob brackets). An int field takes only integer literals, never `1.5` or `true`.
Parsing checks the type, not the `Meta` ranges: those are checked once, in validation.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union

import msgspec

from nanigpt.conf._suggest import close_matches

_NoneType = type(None)
_NONFINITE = frozenset({"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
_decode = msgspec.json.decode
_convert = msgspec.convert


class BadValue(ValueError):
    """A value text that does not fit its field's type. The caller adds the path and token."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


Parser = Callable[[str], Any]


def _members(t: Any) -> tuple[Any, ...]:
    if typing.get_origin(t) in (Union, types.UnionType):
        return typing.get_args(t)
    return (t,)


def _is_text(t: Any) -> bool:
    if t is str:
        return True
    return typing.get_origin(t) is Literal and all(isinstance(a, str) for a in typing.get_args(t))


def _check_finite(v: Any, text: str) -> None:
    if isinstance(v, float):
        if not math.isfinite(v):
            raise BadValue(f"must be a finite number, got `{text}`", "NaN and infinities are not allowed")
    elif isinstance(v, (tuple, list)):
        for x in v:
            _check_finite(x, text)
    elif isinstance(v, dict):
        for x in v.values():
            _check_finite(x, text)


def _json(text: str, want: str) -> Any:
    if text.strip().lower() in _NONFINITE:
        raise BadValue(f"must be a finite number, got `{text}`", "NaN and infinities are not allowed")
    try:
        return _decode(text)
    except msgspec.ValidationError:  # only "Number out of range": 1e999 and friends
        raise BadValue(f"must be a finite number, got `{text}`", "NaN and infinities are not allowed") from None
    except msgspec.DecodeError:
        raise BadValue(f"expects {want}, got `{text}`") from None


def make_parser(bare: Any) -> Parser:
    """A function text -> value for a field of bare (un-annotated) type `bare`."""
    want = describe_type(bare)
    members = _members(bare)
    allows_none = _NoneType in members
    rest = [m for m in members if m is not _NoneType]

    if len(rest) == 1 and _is_text(rest[0]):
        choices = typing.get_args(rest[0]) if rest[0] is not str else None

        def parse_text(text: str) -> Any:
            if allows_none and text == "null":
                return None
            if choices is not None and text not in choices:
                close = close_matches(text, choices, n=1)
                hint = f"did you mean `{close[0]}`?" if close else None
                raise BadValue(f"expects {want}, got `{text}`", hint)
            return text

        return parse_text

    def typed(value: Any, text: str) -> Any:
        try:
            out = _convert(value, bare, strict=True)
        except msgspec.ValidationError:
            raise BadValue(f"expects {want}, got `{text}`") from None
        _check_finite(out, text)
        return out

    seq = len(rest) == 1 and typing.get_origin(rest[0]) in (tuple, list, set, frozenset)
    if seq:
        args = [a for a in typing.get_args(rest[0]) if a is not Ellipsis]
        item_parsers = [make_parser(a) for a in args] or [lambda s: _json(s, "a value")]

        def parse_seq(text: str) -> Any:
            if allows_none and text == "null":
                return None
            if text.startswith("["):
                return typed(_json(text, want), text)
            if text.startswith("(") or text.endswith(")"):  # Python's tuple syntax
                inner = text.strip("()")
                raise BadValue(f"expects {want}, got `{text}`", f"tuples are written {inner} or [{inner}]")
            parts = text.split(",")
            try:
                items = [item_parsers[min(i, len(item_parsers) - 1)](p.strip()) for i, p in enumerate(parts)]
            except BadValue as e:  # a wrong type names the whole value, not the one item
                if not e.reason.startswith("expects "):
                    raise
                raise BadValue(f"expects {want}, got `{text}`", e.hint) from None
            return typed(items, text)

        return parse_seq

    def parse_json(text: str) -> Any:
        return typed(_json(text, want), text)

    return parse_json


def format_value(v: Any) -> str:
    """`v` as the command line would accept it back: `0.0001`, `true`, `null`, `0.9,0.95`, raw text.

    >>> format_value(1e-4), format_value(True), format_value((0.9, 0.95)), format_value("a b")
    ('0.0001', 'true', '0.9,0.95', 'a b')
    """
    if isinstance(v, str):
        return v
    # numbers (and booleans) as `0.9,0.95`, which needs no quoting in a shell; anything else, and
    # fewer than two items (which a comma cannot show), as JSON
    if isinstance(v, (tuple, list)) and len(v) >= 2 and all(isinstance(x, (int, float)) for x in v):
        return ",".join(format_value(x) for x in v)
    return msgspec.json.encode(v).decode()


def describe_type(bare: Any) -> str:
    """A short human name of a bare type: `a float`, `an integer`, `one of 'a', 'b'`."""
    if bare is float:
        return "a float"
    if bare is int:
        return "an integer"
    if bare is bool:
        return "true or false"
    if bare is str:
        return "a string"
    if bare is _NoneType:
        return "null"
    origin = typing.get_origin(bare)
    args = typing.get_args(bare)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        return f"a tuple of {len(args)} ({', '.join(_short(a) for a in args)})"
    if origin in (list, set, frozenset):
        return f"a list of {_plural(args[0]) if args else 'values'}"
    if isinstance(bare, type) and issubclass(bare, msgspec.Struct):
        return f"a `{bare.__name__}` section"
    return f"`{getattr(bare, '__name__', bare)}`"


def _short(t: Any) -> str:
    return {float: "float", int: "int", bool: "bool", str: "str", _NoneType: "null"}.get(t, describe_type(t))


def _plural(t: Any) -> str:
    return {float: "floats", int: "integers", bool: "booleans", str: "strings"}.get(t, describe_type(t))
