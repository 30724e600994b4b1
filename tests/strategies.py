"""Hypothesis strategies derived from config struct types and their `Meta` ranges.

Hypothesis cannot read `msgspec.Meta`; these strategies read the type info msgspec exposes
(`msgspec.inspect`) and generate values inside (or, for the invalid strategies, just outside)
each field's range. Works for any root struct type, not only RunConfig.
"""

from __future__ import annotations

import math
import string
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from nanigpt.conf import CheckError, Lens, Patch, format_value, set_
from nanigpt.conf._struct import Config
from nanigpt.conf._types import LEAF, UNION, spec_of

# Text that survives a command line untouched and that no field parses as anything but text.
TEXT = st.text(alphabet=string.ascii_letters + string.digits + "/._-", min_size=1, max_size=12).filter(
    lambda s: s not in ("null", "true", "false") and not s.startswith("=")
)

# Keeps generated numbers in a human range (and sizes sane: a config may size a model).
INT_SPAN = 10_000
FLOAT_MAX = 1e6


def _unwrap(t: mi.Type) -> mi.Type:
    return t.type if isinstance(t, mi.Metadata) else t


def int_bounds(t: mi.IntType) -> tuple[int, int]:
    lo = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else None)
    hi = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else None)
    if lo is None:
        lo = (hi - INT_SPAN) if hi is not None else -INT_SPAN
    if hi is None:
        hi = lo + INT_SPAN
    return lo, hi


def values(t: mi.Type, text: st.SearchStrategy[str] = TEXT) -> st.SearchStrategy[Any]:
    """Builtin values that `msgspec.convert` accepts for type `t`, its ranges respected."""
    t = _unwrap(t)
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        lo, hi = int_bounds(t)
        return st.integers(lo, hi)
    if isinstance(t, mi.FloatType):
        lo = t.ge if t.ge is not None else t.gt
        hi = t.le if t.le is not None else t.lt
        return st.floats(
            min_value=lo if lo is not None else -FLOAT_MAX,
            max_value=hi if hi is not None else FLOAT_MAX,
            exclude_min=t.gt is not None,
            exclude_max=t.lt is not None,
            allow_nan=False,
            allow_infinity=False,
            allow_subnormal=False,
        ).map(lambda x: x + 0.0)  # -0.0 -> 0.0 is the canonical form's business, not this one's
    if isinstance(t, mi.StrType):
        return text.filter(lambda s: len(s) >= (t.min_length or 0))
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.UnionType):
        return st.one_of([values(x, text) for x in t.types])
    if isinstance(t, mi.TupleType):
        return st.tuples(*(values(x, text) for x in t.item_types)).map(list)
    if isinstance(t, (mi.ListType, mi.VarTupleType)):
        return st.lists(values(t.item_type, text), max_size=4)
    if isinstance(t, mi.StructType):
        return struct_builtins(t.cls, text)
    raise NotImplementedError(f"no strategy for {t!r}")


def struct_builtins(cls: type, text: st.SearchStrategy[str] = TEXT) -> st.SearchStrategy[dict]:
    """The builtins (a dict) of a valid-by-type instance of struct `cls`."""
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    fields = {f.name: values(f.type, text) for f in info.fields}
    if info.tag_field is not None:
        fields[info.tag_field] = st.just(info.tag)
    return st.fixed_dictionaries(fields)


def configs(root: type) -> st.SearchStrategy[Any]:
    """Configs of type `root` valid by type and `Meta` range (cross-field checks not applied)."""
    return struct_builtins(root).map(lambda d: msgspec.convert(d, root))


def passes_checks(cfg: Any) -> bool:
    """Whether every struct's cross-field `check()` passes (any other exception is a bug in a
    check, and propagates)."""
    try:
        _check_all(cfg)
    except CheckError:
        return False
    return True


def _check_all(x: Any) -> None:
    for f in spec_of(type(x)).sections:
        sub = getattr(x, f.name)
        if sub is not None:
            _check_all(sub)
    if isinstance(x, Config):
        x.check()


def leaf_fields(cfg: Any, prefix: str = "") -> list[tuple[str, mi.Type]]:
    """(dotted path, msgspec type info) of every leaf of `cfg`'s current variants."""
    out: list[tuple[str, mi.Type]] = []
    info = mi.type_info(type(cfg))
    s = spec_of(type(cfg))
    for f in info.fields:
        p = f"{prefix}.{f.name}" if prefix else f.name
        if s.fields[f.name].kind == LEAF:
            out.append((p, f.type))
        else:
            sub = getattr(cfg, f.name)
            if sub is not None:
                out.extend(leaf_fields(sub, p))
    return out


def union_sections(cfg: Any, prefix: str = "") -> list[tuple[str, dict[str, type]]]:
    """(dotted path, {tag: variant}) of every union-typed section of `cfg`."""
    out: list[tuple[str, dict[str, type]]] = []
    for f in spec_of(type(cfg)).sections:
        p = f"{prefix}.{f.name}" if prefix else f.name
        if f.kind == UNION:
            out.append((p, f.variants))
        sub = getattr(cfg, f.name)
        if sub is not None:
            out.extend(union_sections(sub, p))
    return out


def _value_text(v: Any) -> str:
    return format_value(tuple(v) if isinstance(v, list) else v)


@st.composite
def edits(draw: st.DrawFn, base: Any, max_tokens: int = 5) -> tuple[list[str], Any]:
    """Assignment and union-switch tokens applied to `base`, and the config they should give
    (before validation), computed independently of the resolver with lenses.

    Switching to a variant with required fields is followed by tokens that set them.
    """
    root = type(base)
    cfg = base
    tokens: list[str] = []
    for _ in range(draw(st.integers(0, max_tokens))):
        unions = union_sections(cfg)
        if unions and draw(st.integers(0, 3)) == 0:
            path, variants = draw(st.sampled_from(unions))
            tag = draw(st.sampled_from(sorted(variants)))
            lens = Lens.from_path(root, path)
            t = variants[tag]
            tokens.append(f"{path}={tag}")
            if type(lens.get(cfg)) is t:
                continue
            info = mi.type_info(t)
            required = {f.name: draw(values(f.type)) for f in info.fields if f.required}
            new = msgspec.convert({**required, info.tag_field: info.tag}, t)
            tokens.extend(f"{path}.{k}={_value_text(v)}" for k, v in required.items())
            cfg = lens.set(cfg, new)
        else:
            path, t = draw(st.sampled_from(leaf_fields(cfg)))
            v = draw(values(t))
            value = msgspec.convert(v, Lens.from_path(root, path)._fields[0].bare)
            tokens.append(f"{path}={_value_text(v)}")
            cfg = Lens.from_path(root, path).set(cfg, value)
    return tokens, cfg


def out_of_range(t: mi.Type) -> st.SearchStrategy[Any] | None:
    """Values of the right type just outside the range of `t` (None if `t` has no range)."""
    t = _unwrap(t)
    if isinstance(t, mi.IntType):
        outs = []
        if t.ge is not None or t.gt is not None:
            lo, _ = int_bounds(t)
            outs.append(st.integers(lo - 1000, lo - 1))
        if t.le is not None or t.lt is not None:
            _, hi = int_bounds(t)
            outs.append(st.integers(hi + 1, hi + 1000))
        return st.one_of(outs) if outs else None
    if isinstance(t, mi.FloatType):
        outs = []
        if t.ge is not None:
            outs.append(st.floats(t.ge - 1000, t.ge, exclude_max=True, allow_nan=False))
        if t.gt is not None:
            outs.append(st.floats(t.gt - 1000, t.gt, allow_nan=False))
        if t.le is not None:
            outs.append(st.floats(t.le, t.le + 1000, exclude_min=True, allow_nan=False))
        if t.lt is not None:
            outs.append(st.floats(t.lt, t.lt + 1000, allow_nan=False))
        return st.one_of(outs).filter(math.isfinite).map(lambda x: x + 0.0) if outs else None
    return None


def wrong_type_text(t: mi.Type) -> st.SearchStrategy[str] | None:
    """Command-line text that does not parse as type `t` (None for text types, which take anything)."""
    t = _unwrap(t)
    if isinstance(t, mi.IntType):
        return st.sampled_from(["1.5", "true", "abc", "1e3", "[1]", "null"])
    if isinstance(t, mi.FloatType):
        return st.sampled_from(["abc", "true", "nan", "inf", "-inf", "1e999", "[1.0]", "0x10"])
    if isinstance(t, mi.BoolType):
        return st.sampled_from(["1", "yes", "True", "abc", "null"])
    if isinstance(t, mi.LiteralType):
        return TEXT.filter(lambda s: s not in t.values)
    if isinstance(t, mi.TupleType):
        return st.sampled_from(["abc", "1,2,3,4,5", "[]", "true"])
    return None


@st.composite
def set_patches(draw: st.DrawFn, base: Any) -> Patch:
    """`set_` patches on a leaf of `base`'s current variants, with a value valid by type and range."""
    root = type(base)
    path, t = draw(st.sampled_from(leaf_fields(base)))
    lens = Lens.from_path(root, path)
    return set_(lens, msgspec.convert(draw(values(t)), lens._fields[0].bare))
