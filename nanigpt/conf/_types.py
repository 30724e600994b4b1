"""Per-struct-type field tables, computed once per type and shared by lenses, specs and diff.

Everything on the hot path (resolving a bare name, parsing a value, walking a config for blame)
reads these tables instead of calling `msgspec.inspect` or `typing` again.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

import msgspec

LEAF, STRUCT, UNION = 0, 1, 2

_NoneType = type(None)


def is_struct_type(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, msgspec.Struct)


def strip_annotated(t: Any) -> Any:
    """`t` without its `Annotated[..., Meta(...)]` layers, recursively: the bare type.

    Values are parsed against the bare type, so that range checks happen once, in validation,
    where the error can name the token that set the value.
    """
    origin = typing.get_origin(t)
    if origin is typing.Annotated:
        return strip_annotated(typing.get_args(t)[0])
    if origin is None:
        return t
    args = typing.get_args(t)
    if origin is Literal:
        return t
    stripped = tuple(strip_annotated(a) for a in args)
    if origin in (Union, types.UnionType):
        return Union[stripped]  # noqa: UP007 - a runtime union of a tuple of types
    if stripped == args:
        return t
    return origin[stripped]


def _union_members(t: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(t) in (Union, types.UnionType):
        return typing.get_args(t)
    return None


class FieldSpec:
    """One field of one struct type: its kind, where it may lead, how to parse a value for it."""

    __slots__ = (
        "name",
        "owner",
        "kind",
        "annotation",
        "bare",
        "struct",
        "variants",
        "optional",
        "default",
        "required",
        "doc",
        "_parser",
        "_memo",
    )

    def __init__(self, owner: type, info: msgspec.structs.FieldInfo, doc: str | None) -> None:
        self.name: str = info.name
        self.owner = owner
        self.annotation = info.type
        self.bare = strip_annotated(info.type)
        self.required: bool = info.required
        self.default: Any = info.default if info.default is not msgspec.NODEFAULT else None
        if info.default_factory is not msgspec.NODEFAULT:
            self.default = info.default_factory()
        self.doc = doc
        self.struct: type | None = None
        self.variants: dict[str, type] = {}
        self.optional = False
        self._parser = None
        self._memo: dict[str, Any] = {}
        members = _union_members(self.bare)
        if is_struct_type(self.bare):
            self.kind = STRUCT
            self.struct = self.bare
        elif members is not None and any(is_struct_type(m) for m in members):
            structs = [m for m in members if is_struct_type(m)]
            others = [m for m in members if not is_struct_type(m)]
            if others and others != [_NoneType]:
                raise TypeError(f"{owner.__name__}.{self.name}: a union may mix structs only with None")
            self.optional = bool(others)
            if len(structs) == 1:
                self.kind = STRUCT
                self.struct = structs[0]
            else:
                self.kind = UNION
                for s in structs:
                    tag = s.__struct_config__.tag
                    self.variants[str(tag)] = s
        else:
            self.kind = LEAF

    @property
    def types(self) -> tuple[type, ...]:
        """The struct types this field may hold (empty for a leaf)."""
        if self.kind == STRUCT:
            return (self.struct,)  # type: ignore[return-value]
        return tuple(self.variants.values())

    def parser(self):
        if self._parser is None:
            from nanigpt.conf._values import make_parser

            self._parser = make_parser(self.bare)
        return self._parser

    def parse(self, text: str) -> Any:
        """The value of command-line `text` for this field (raises `BadValue`), memoized: the
        same text always parses to the same immutable value."""
        v = self._memo.get(text, _NO)
        if v is _NO:
            v = self.parser()(text)
            if _immutable(v) and len(self._memo) < 1024:
                self._memo[text] = v
        return v

    def __repr__(self) -> str:
        return f"<field {self.owner.__name__}.{self.name}>"


_NO = object()
_SCALARS = (int, float, str, bool, type(None))


def _immutable(v: Any) -> bool:
    return isinstance(v, _SCALARS) or (isinstance(v, tuple) and all(_immutable(x) for x in v))


class StructSpec:
    """The field table of one struct type."""

    __slots__ = ("type", "tag", "tag_field", "fields", "names", "sections", "leaves", "below")

    def __init__(self, t: type) -> None:
        self.type = t
        conf = getattr(t, "__struct_config__")  # noqa: B009 - every Struct type has one
        self.tag: str | None = str(conf.tag) if conf.tag is not None else None
        self.tag_field: str | None = conf.tag_field if conf.tag is not None else None
        docs = _field_docs(t)
        self.fields: dict[str, FieldSpec] = {
            f.name: FieldSpec(t, f, docs.get(f.name)) for f in msgspec.structs.fields(t)
        }
        self.names: tuple[str, ...] = tuple(self.fields)
        self.sections: tuple[FieldSpec, ...] = tuple(f for f in self.fields.values() if f.kind != LEAF)
        self.leaves: tuple[str, ...] = tuple(f.name for f in self.fields.values() if f.kind == LEAF)
        # Filled lazily by names_below(): every field name anywhere under this type.
        self.below: frozenset[str] | None = None


_SPECS: dict[type, StructSpec] = {}


def spec_of(t: type) -> StructSpec:
    """The (cached) field table of struct type `t`."""
    s = _SPECS.get(t)
    if s is None:
        s = _SPECS[t] = StructSpec(t)
    return s


def names_below(t: type) -> frozenset[str]:
    """Every field name that occurs anywhere under `t`, union variants included."""
    s = spec_of(t)
    if s.below is None:
        s.below = frozenset()  # guards against (forbidden, but possible) recursive types
        names = set(s.names)
        for f in s.sections:
            for sub in f.types:
                names |= names_below(sub)
        s.below = frozenset(names)
    return s.below


def reachable_types(root: type) -> list[type]:
    """Every struct type reachable from `root`, union variants included, root first."""
    seen: dict[type, None] = {}
    todo = [root]
    while todo:
        t = todo.pop(0)
        if t in seen:
            continue
        seen[t] = None
        for f in spec_of(t).sections:
            todo.extend(f.types)
    return list(seen)


def _field_docs(t: type) -> dict[str, str]:
    """Field descriptions from `Meta(description=...)`."""
    out: dict[str, str] = {}
    for f in msgspec.structs.fields(t):
        ann = f.type
        while typing.get_origin(ann) is typing.Annotated:
            args = typing.get_args(ann)
            for m in args[1:]:
                if isinstance(m, msgspec.Meta) and m.description:
                    out[f.name] = m.description
            ann = args[0]
    return out


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
    if is_struct_type(bare):
        return f"a `{bare.__name__}` section"
    return f"`{getattr(bare, '__name__', bare)}`"


def _short(t: Any) -> str:
    return {float: "float", int: "int", bool: "bool", str: "str", _NoneType: "null"}.get(t, describe_type(t))


def _plural(t: Any) -> str:
    return {float: "floats", int: "integers", bool: "booleans", str: "strings"}.get(t, describe_type(t))
