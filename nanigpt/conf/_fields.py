"""Field introspection for `nanigpt fields` and help.

    >>> from nanigpt.config import RunConfig
    >>> rows = field_table(RunConfig, "optim.lr")
    >>> [(r["path"], r["variant"], r["type"], r["default"]) for r in rows]
    [('optim.lr', 'adamw', 'float in (0.0, 10.0]', '0.001'), ('optim.lr', 'muon', 'float in (0.0, 10.0]', '0.02'), ('optim.lr', 'sgd', 'float in (0.0, 10.0]', '0.1')]
"""

from __future__ import annotations

import fnmatch
import msgspec.inspect as mi

from nanigpt.conf._types import LEAF, UNION, join, spec_of
from nanigpt.conf._values import format_value


def _type_str(t: mi.Type) -> str:
    if isinstance(t, mi.Metadata):
        return _type_str(t.type)
    if isinstance(t, (mi.IntType, mi.FloatType)):
        base = "int" if isinstance(t, mi.IntType) else "float"
        lo = f"{t.ge}" if t.ge is not None else f"{t.gt}" if t.gt is not None else None
        hi = f"{t.le}" if t.le is not None else f"{t.lt}" if t.lt is not None else None
        if lo is not None and hi is not None:
            return f"{base} in {'[' if t.ge is not None else '('}{lo}, {hi}{']' if t.le is not None else ')'}"
        if lo is not None:
            return f"{base} {'>=' if t.ge is not None else '>'} {lo}"
        if hi is not None:
            return f"{base} {'<=' if t.le is not None else '<'} {hi}"
        return base
    if isinstance(t, mi.BoolType):
        return "bool"
    if isinstance(t, mi.StrType):
        if not t.min_length:
            return "str"
        return "str (non-empty)" if t.min_length == 1 else f"str (>= {t.min_length} chars)"
    if isinstance(t, mi.NoneType):
        return "null"
    if isinstance(t, mi.LiteralType):
        return " | ".join(str(v) for v in t.values)
    if isinstance(t, mi.UnionType):
        return " | ".join(_type_str(x) for x in t.types)
    if isinstance(t, mi.TupleType):
        return "(" + ", ".join(_type_str(x) for x in t.item_types) + ")"
    if isinstance(t, (mi.ListType, mi.VarTupleType)):
        return f"list of {_type_str(t.item_type)}"
    if isinstance(t, mi.StructType):
        return t.cls.__name__
    return type(t).__name__.removesuffix("Type").lower()


def _rows(t: type, prefix: str, variant: str, out: list[dict[str, str]]) -> None:
    info = mi.type_info(t)
    assert isinstance(info, mi.StructType)
    s = spec_of(t)
    for field in info.fields:
        f = s.fields[field.name]
        path = join(prefix, f.name)
        row = {"path": path, "variant": variant}
        if f.kind == LEAF:
            default = "(required)" if f.required else format_value(f.default)
            out.append({**row, "type": _type_str(field.type), "default": default, "description": f.doc or ""})
            continue
        if f.kind == UNION:
            tag = spec_of(type(f.default)).tag if f.default is not None else ("null" if f.optional else "")
            out.append({
                **row, "type": " | ".join(f.variants) + (" | null" if f.optional else ""),
                "default": str(tag or "(required)"),
                "description": f.doc or f"a section with variants; switch with {path}=TAG",
            })
            for variant_tag, v in f.variants.items():
                _rows(v, path, variant_tag, out)
        else:
            _rows(f.struct, path, variant, out)  # type: ignore[arg-type]


def field_table(root: type, pattern: str | None = None) -> list[dict[str, str]]:
    """One row per field (per variant, for fields of union variants): path, variant, type,
    default, description. `pattern` keeps the rows whose path matches it: a glob (`optim.*`)
    or else a substring (`lr`)."""
    rows: list[dict[str, str]] = []
    _rows(root, "", "", rows)
    if pattern:
        if any(c in pattern for c in "*?["):
            rows = [r for r in rows if fnmatch.fnmatchcase(r["path"], pattern)]
        else:
            rows = [r for r in rows if pattern in r["path"]]
    return rows
