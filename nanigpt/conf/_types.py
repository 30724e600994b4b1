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
        "nullable",
        "_ann",
    )

    def __init__(self, owner: type, info: msgspec.structs.FieldInfo) -> None:
        self.name: str = info.name
        self.owner = owner
        self.annotation = info.type
        self.required: bool = info.required
        self.default: Any = info.default if info.default is not msgspec.NODEFAULT else None
        if info.default_factory is not msgspec.NODEFAULT:
            self.default = info.default_factory()
        a = _analyze(info.type)
        if a.error:
            raise TypeError(f"{owner.__name__}.{self.name}: {a.error}")
        self.bare = a.bare
        self.kind: int = a.kind
        self.struct: type | None = a.struct
        self.variants: dict[str, type] = a.variants
        self.optional: bool = a.optional
        self.doc: str | None = a.doc
        # `path=null` sets it to None (a string field takes the text "null" instead)
        self.nullable: bool = a.optional or (a.kind == LEAF and _NoneType in (_union_members(a.bare) or ()))
        self._ann = a

    @property
    def types(self) -> tuple[type, ...]:
        """The struct types this field may hold (empty for a leaf)."""
        if self.kind == STRUCT:
            return (self.struct,)  # type: ignore[return-value]
        return tuple(self.variants.values())

    def parser(self) -> Any:
        """text -> value for this field's type (raises `BadValue`)."""
        return self._ann.parser()

    def parse(self, text: str) -> Any:
        """The value of command-line `text` for this field (raises `BadValue`), memoized per
        type: the same text always parses to the same immutable value."""
        return self._ann.parse(text)

    def __repr__(self) -> str:
        return f"<field {self.owner.__name__}.{self.name}>"


class _Ann:
    """What an annotation means to the machinery, computed once per annotation object (fields
    share them: `LR`, `Beta`, and every field of a generated schema)."""

    __slots__ = ("bare", "kind", "struct", "variants", "optional", "doc", "error", "_parser", "_memo")

    def __init__(self, annotation: Any) -> None:
        self.bare = strip_annotated(annotation)
        self.doc = _doc_of(annotation)
        self.struct: type | None = None
        self.variants: dict[str, type] = {}
        self.optional = False
        self.error: str | None = None
        self._parser: Any = None
        self._memo: dict[str, Any] = {}
        members = _union_members(self.bare)
        self.kind = LEAF
        if is_struct_type(self.bare):
            self.kind = STRUCT
            self.struct = self.bare
        elif members is not None and any(is_struct_type(m) for m in members):
            structs = [m for m in members if is_struct_type(m)]
            others = [m for m in members if not is_struct_type(m)]
            if others and others != [_NoneType]:
                self.error = "a union may mix structs only with None"
            self.optional = bool(others)
            if len(structs) == 1:
                self.kind = STRUCT
                self.struct = structs[0]
            else:
                self.kind = UNION
                for st in structs:
                    self.variants[str(getattr(st, "__struct_config__").tag)] = st  # noqa: B009

    def parser(self) -> Any:
        if self._parser is None:
            self._parser = make_parser(self.bare)
        return self._parser

    def parse(self, text: str) -> Any:
        v = self._memo.get(text, _NO)
        if v is _NO:
            v = self.parser()(text)
            if _immutable(v) and len(self._memo) < 1024:
                self._memo[text] = v
        return v


_ANNS: dict[Any, _Ann] = {}


def _analyze(annotation: Any) -> _Ann:
    try:
        a = _ANNS.get(annotation)
    except TypeError:  # an unhashable annotation: analyze it every time
        return _Ann(annotation)
    if a is None:
        a = _ANNS[annotation] = _Ann(annotation)
    return a


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
