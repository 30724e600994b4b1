"""Per-struct-type field tables, computed once per type and shared by lenses, specs and diff.

Everything on the hot path (resolving a bare name, parsing a value, walking a config for blame)
reads these tables instead of calling `msgspec.inspect` or `typing` again.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

import msgspec

from nanigpt.conf._values import make_parser

LEAF, STRUCT, UNION = 0, 1, 2

_NoneType = type(None)


def join(prefix: str, name: str) -> str:
    """The dotted path of field `name` below `prefix` ("" for the root)."""
    return f"{prefix}.{name}" if prefix else name


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
        "name", "owner", "annotation", "required", "default", "bare", "doc", "kind", "struct", "variants", "optional",
        "nullable", "_parse",
    )

    def __init__(self, owner: type, info: msgspec.structs.FieldInfo) -> None:
        self.name: str = info.name
        self.owner = owner
        self.annotation = info.type
        self.required: bool = info.required
        self.default: Any = info.default if info.default is not msgspec.NODEFAULT else None
        if info.default_factory is not msgspec.NODEFAULT:
            self.default = info.default_factory()
        self.bare = strip_annotated(info.type)
        self.doc: str | None = _doc_of(info.type)
        members = _union_members(self.bare) or ()
        structs = [self.bare] if is_struct_type(self.bare) else [m for m in members if is_struct_type(m)]
        others = [m for m in members if not is_struct_type(m)] if structs else []
        if others and others != [_NoneType]:
            raise TypeError(f"{owner.__name__}.{self.name}: a union may mix structs only with None")
        self.kind: int = UNION if len(structs) > 1 else STRUCT if structs else LEAF
        self.struct: type | None = structs[0] if len(structs) == 1 else None
        self.variants: dict[str, type] = (
            {str(getattr(st, "__struct_config__").tag): st for st in structs} if len(structs) > 1 else {}  # noqa: B009
        )
        self.optional: bool = bool(others)
        # `path=null` sets it to None (a string field takes the text "null" instead)
        self.nullable: bool = self.optional or (self.kind == LEAF and _NoneType in members)
        self._parse: Any = None

    @property
    def types(self) -> tuple[type, ...]:
        """The struct types this field may hold (empty for a leaf)."""
        if self.kind == STRUCT:
            return (self.struct,)  # type: ignore[return-value]
        return tuple(self.variants.values())

    def parse(self, text: str) -> Any:
        """The value of command-line `text` for this field (raises `BadValue`)."""
        if self._parse is None:
            self._parse = make_parser(self.bare)
        return self._parse(text)

    def __repr__(self) -> str:
        return f"<field {self.owner.__name__}.{self.name}>"


class StructSpec:
    """The field table of one struct type."""

    __slots__ = ("tag", "tag_field", "fields", "names", "sections", "leaves", "below")

    def __init__(self, t: type) -> None:
        conf = getattr(t, "__struct_config__")  # noqa: B009 - every Struct type has one
        self.tag: str | None = str(conf.tag) if conf.tag is not None else None
        self.tag_field: str | None = conf.tag_field if conf.tag is not None else None
        infos = msgspec.structs.fields(t)  # resolves annotations: the costly part, done once
        self.fields: dict[str, FieldSpec] = {f.name: FieldSpec(t, f) for f in infos}
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


def _doc_of(annotation: Any) -> str | None:
    """A field's description, from `Meta(description=...)` in its annotation."""
    doc = None
    while typing.get_origin(annotation) is typing.Annotated:
        args = typing.get_args(annotation)
        for m in args[1:]:
            if isinstance(m, msgspec.Meta) and m.description:
                doc = m.description
        annotation = args[0]
    return doc
