"""Field introspection for `nanigpt fields`, help and shell completion.

    >>> rows = field_table("optim.lr")
    >>> [(r["path"], r["variant"], r["type"], r["default"]) for r in rows]
    [('optim.lr', 'adamw', 'float in (0.0, 10.0]', '0.001'), ('optim.lr', 'muon', 'float in (0.0, 10.0]', '0.02'), ('optim.lr', 'sgd', 'float in (0.0, 10.0]', '0.1')]
"""

from __future__ import annotations

import fnmatch
import typing
from collections.abc import Iterable
from typing import Any

import msgspec
import msgspec.inspect as mi

from nanigpt.conf._types import LEAF, UNION, spec_of
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
        path = f"{prefix}.{f.name}" if prefix else f.name
        if f.kind == LEAF:
            out.append(
                {
                    "path": path,
                    "variant": variant,
                    "type": _type_str(field.type),
                    "default": "(required)" if f.required else format_value(f.default),
                    "description": f.doc or "",
                }
            )
            continue
        if f.kind == UNION:
            default = spec_of(type(f.default)).tag if f.default is not None else ("null" if f.optional else "")
            out.append(
                {
                    "path": path,
                    "variant": variant,
                    "type": " | ".join(f.variants) + (" | null" if f.optional else ""),
                    "default": str(default or "(required)"),
                    "description": f.doc or f"a section with variants; switch with {path}=TAG",
                }
            )
            for tag, v in f.variants.items():
                _rows(v, path, tag, out)
        else:
            _rows(f.struct, path, variant, out)  # type: ignore[arg-type]


def field_table(pattern: str | None = None, root: type | None = None) -> list[dict[str, str]]:
    """One row per field (per variant, for fields of union variants): path, variant, type,
    default, description. `pattern` keeps the rows whose path matches it: a glob (`optim.*`)
    or else a substring (`lr`)."""
    if root is None:
        from nanigpt.config import RunConfig

        root = RunConfig
    rows: list[dict[str, str]] = []
    _rows(root, "", "", rows)
    if pattern:
        if any(c in pattern for c in "*?["):
            rows = [r for r in rows if fnmatch.fnmatchcase(r["path"], pattern)]
        else:
            rows = [r for r in rows if pattern in r["path"]]
    return rows


def completions(prefix: str, cfg: Any, *, presets: Iterable[str] = (), patches: Iterable[str] = ()) -> list[str]:
    """Tokens that complete `prefix` for a spec whose config so far is `cfg`: dotted paths of the
    current variants (`optim.` then `optim.lr=`), union tags (`optim=muon`), `+patch`, `preset:`."""
    if prefix.startswith("preset:"):
        return [f"preset:{n}" for n in presets if f"preset:{n}".startswith(prefix)]
    if prefix.startswith("+"):
        return [f"+{n}" for n in patches if f"+{n}".startswith(prefix)]
    path, eq, value = prefix.partition("=")
    if eq:
        x: Any = cfg
        names = path.split(".")
        if len(names) == 1 and isinstance(cfg, msgspec.Struct) and path not in spec_of(type(cfg)).fields:
            from nanigpt.conf._walk import _find

            found = _find(cfg, path)
            if len(found) == 1:  # a bare name: complete the value of the field it names
                names = found[0].split(".")
        for n in names[:-1]:
            x = getattr(x, n, None)
        if isinstance(x, msgspec.Struct):
            f = spec_of(type(x)).fields.get(names[-1])
            if f is not None and f.kind == UNION:
                return [f"{path}={tag}" for tag in f.variants if tag.startswith(value)]
            if f is not None and f.kind == LEAF:
                args = typing.get_args(f.bare)
                if typing.get_origin(f.bare) is typing.Literal:
                    return [f"{path}={a}" for a in args if str(a).startswith(value)]
                if f.bare is bool:
                    return [f"{path}={a}" for a in ("true", "false") if a.startswith(value)]
        return []
    out: list[str] = []
    head, _, _ = prefix.rpartition(".")
    x = cfg
    for n in head.split(".") if head else ():
        x = getattr(x, n, None)
    if isinstance(x, msgspec.Struct):
        for f in spec_of(type(x)).fields.values():
            p = f"{head}.{f.name}" if head else f.name
            if not p.startswith(prefix):
                continue
            out.append(f"{p}=" if f.kind == LEAF else f"{p}.")
            if f.kind == UNION:
                out.append(f"{p}=")
    if not head and isinstance(cfg, msgspec.Struct):
        from nanigpt.conf._walk import leaf_paths

        counts: dict[str, int] = {}
        for p in leaf_paths(cfg):
            n = p.rpartition(".")[2]
            counts[n] = counts.get(n, 0) + 1
        # bare names that resolve (unambiguous in this config) and are not root fields already
        out += [f"{n}=" for n, k in counts.items() if k == 1 and n.startswith(prefix) and f"{n}=" not in out]
    if not head:
        out += [f"+{n}" for n in patches if f"+{n}".startswith(prefix)]
        out += [f"preset:{n}" for n in presets if f"preset:{n}".startswith(prefix)]
    return out
