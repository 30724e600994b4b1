"""Walks over config trees: leaf paths, which leaves a token changed, where a bare name points.

Everything here is keyed by struct type (and mount point) and cached, so a walk over a config
costs attribute reads, not introspection.
"""

from __future__ import annotations

import functools
from itertools import compress as _compress
from operator import is_not as _is_not
from typing import Any

import msgspec
from msgspec.structs import astuple as _astuple

from nanigpt.conf._struct import Config
from nanigpt.conf._types import _SPECS, LEAF, FieldSpec, names_below, spec_of


_PATHS: dict[tuple[type, str], tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], str | None]] = {}


def _paths(t: type, prefix: str):
    """(leaf (name, path) pairs, section (name, path) pairs, tag path or None) of type `t` at
    `prefix`, cached: the path strings are built once, not on every resolve."""
    key = (t, prefix)
    p = _PATHS.get(key)
    if p is None:
        s = spec_of(t)
        dot = prefix + "." if prefix else ""
        p = _PATHS[key] = (
            tuple((n, dot + n) for n in s.leaves),
            tuple((f.name, dot + f.name) for f in s.sections),
            dot + s.tag_field if s.tag_field else None,
        )
    return p


def _all_leaves(x: Any, prefix: str, out: list[str]) -> None:
    if x is None or not isinstance(x, msgspec.Struct):
        out.append(prefix)
        return
    leaves, sections, tag = _paths(type(x), prefix)
    if tag:
        out.append(tag)
    out.extend(p for _, p in leaves)
    for name, p in sections:
        _all_leaves(getattr(x, name), p, out)


def _shape(x: Any) -> Any:
    """The types of a config's structs, nested: all that its set of leaf paths depends on."""
    t = type(x)
    s = _SPECS.get(t)
    if s is None:
        if not isinstance(x, msgspec.Struct):
            return None
        s = spec_of(t)
    if not s.sections:
        return t
    return (t, *[_shape(getattr(x, f.name)) for f in s.sections])


_LEAF_PATHS: dict[Any, tuple[str, ...]] = {}


def leaf_paths(cfg: Any) -> tuple[str, ...]:
    """Every leaf path of a config struct, union tags (`optim.type`) included, in field order."""
    key = _shape(cfg)
    out = _LEAF_PATHS.get(key)
    if out is None:
        acc: list[str] = []
        _all_leaves(cfg, "", acc)
        out = _LEAF_PATHS[key] = tuple(acc)
    return out


# What a walk over a token's change found, as bit flags.
RESHAPED = 1  # a section changed type (a union switch): the set of leaf paths changed
IMPURE = 2  # a leaf's JSON is not canonical (an int in a float field, -0.0): `FieldSpec.pure`


class Mount:
    """One struct type at one place in the tree (`optim` holding an `AdamW`): the dotted path of
    each field and the mounts of the sections below, built once. The hot walks (which leaves a
    token changed, the cross-field checks) read these instead of building paths or keys."""

    __slots__ = ("type", "prefix", "rows", "span", "check", "checks")

    def __init__(self, t: type, prefix: str) -> None:
        self.type = t
        self.prefix = prefix
        dot = prefix + "." if prefix else ""
        # per field, in field (= astuple) order: (path, {type: Mount} for a section or None for a
        # leaf, the leaf's purity check or None)
        self.rows: tuple[tuple[str, dict[type, Mount] | None, Any], ...] = tuple(
            (dot + f.name, None, f.pure) if f.kind == LEAF else (dot + f.name, {}, None)
            for f in spec_of(t).fields.values()
        )
        self.span = range(len(self.rows))
        # the type's own cross-field rule, if it has one (Config.check itself checks nothing)
        fn = getattr(t, "check", None)
        self.check: Any = fn if callable(fn) and fn is not Config.check else None
        # (name, path, kids) of the sections below that hold some cross-field rule, in some
        # variant; their kids hold a mount for every variant (see `plan_checks`)
        self.checks: tuple[tuple[str, str, dict[type, Mount]], ...] = ()

    def kid(self, k: int, t: type) -> Mount:
        """The mount of struct type `t` in field number `k` (a section)."""
        path, kids, _ = self.rows[k]
        m = kids.get(t)  # type: ignore[union-attr]
        if m is None:
            m = kids[t] = mount(t, path)  # type: ignore[index]
        return m


def plan_checks(m: Mount) -> bool:
    """Fill `checks` of `m` and of every mount below it, union variants included; True if some
    struct at or below `m` has a cross-field rule."""
    fields = spec_of(m.type).fields
    out = []
    for k, (path, kids, _) in enumerate(m.rows):
        if kids is None:
            continue
        f = fields[path.rpartition(".")[2]]
        if any([plan_checks(m.kid(k, t)) for t in f.types]):  # a list: plan every variant
            out.append((f.name, path, kids))
    m.checks = tuple(out)
    return m.check is not None or bool(out)


_MOUNTS: dict[tuple[type, str], Mount] = {}


def mount(t: type, prefix: str = "") -> Mount:
    """The (cached) mount of struct type `t` at dotted `prefix` ("" for the root)."""
    m = _MOUNTS.get((t, prefix))
    if m is None:
        m = _MOUNTS[(t, prefix)] = Mount(t, prefix)
    return m


def _mark(a: Any, b: Any, prefix: str, i: int, changed: dict[str, int]) -> int:
    """Record token `i` as the owner of every leaf whose value differs from `a` to `b`; the
    RESHAPED and IMPURE flags of what it found."""
    t = type(b)
    if type(a) is not t or not isinstance(b, msgspec.Struct):
        return _mark_all(b, prefix, i, changed)
    return mark_struct(a, b, mount(t, prefix), i, changed)


def _mark_all(b: Any, prefix: str, i: int, changed: dict[str, int]) -> int:
    # a union switch (or a section set to/from null): every leaf below belongs to this token
    out: list[str] = []
    _all_leaves(b, prefix, out)
    for p in out:
        changed[p] = i
    return RESHAPED if pure_tree(b) else RESHAPED | IMPURE


def mark_struct(a: Any, b: Any, m: Mount, i: int, changed: dict[str, int]) -> int:
    """`_mark` of two structs of `m`'s type.

    Sub-structs that are the same object are skipped: a token that touched one field costs a
    walk down one path, not over the whole tree.
    """
    flags = 0
    rows = m.rows
    xs = _astuple(a)
    ys = _astuple(b)
    # the identity scan runs in C; the Python loop sees only the fields that are new objects
    for k in _compress(m.span, map(_is_not, xs, ys)):
        p, kids, pure = rows[k]
        x = xs[k]
        y = ys[k]
        if kids is None:
            if x != y or type(x) is not type(y):
                changed[p] = i
            if pure is not None and not pure(y):
                flags |= IMPURE
            continue
        t = type(y)
        km = kids.get(t)
        if km is not None and type(x) is t:
            flags |= mark_struct(x, y, km, i, changed)
        elif type(x) is t and isinstance(y, msgspec.Struct):
            flags |= mark_struct(x, y, m.kid(k, t), i, changed)
        else:
            flags |= _mark_all(y, p, i, changed)
    return flags


def pure_tree(x: Any) -> bool:
    """True if every leaf of config `x` is written in canonical JSON (`FieldSpec.pure`)."""
    if not isinstance(x, msgspec.Struct):
        return True
    for f in spec_of(type(x)).fields.values():
        v = getattr(x, f.name)
        if f.kind == LEAF:
            if f.pure is not None and not f.pure(v):
                return False
        elif not pure_tree(v):
            return False
    return True


_CANDIDATES: dict[tuple[type, str], tuple[tuple[str, tuple[str, ...]], ...]] = {}


def _candidates(root: type, name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Every path at which a field `name` may be, over all union variants, computed once per
    (root, name); which of them exist depends on the current variants."""
    key = (root, name)
    c = _CANDIDATES.get(key)
    if c is None:
        out: dict[str, None] = {}

        def walk(t: type, prefix: str) -> None:
            s = spec_of(t)
            dot = prefix + "." if prefix else ""
            if name in s.fields or (name == s.tag_field and prefix):
                out[dot + name] = None
            for f in s.sections:
                if f.name != name:
                    for sub in f.types:
                        if name in names_below(sub) or _tagged_below(sub, name):
                            walk(sub, dot + f.name)

        walk(root, "")
        c = _CANDIDATES[key] = tuple((p, tuple(p.split("."))) for p in out)
    return c


def _exists(cfg: Any, names: tuple[str, ...]) -> bool:
    x = cfg
    last = len(names) - 1
    for i, n in enumerate(names):
        s = _SPECS.get(type(x))
        if s is None:
            return False
        if n not in s.fields:
            return i == last and n == s.tag_field
        x = getattr(x, n)
    return True


def _find(cfg: Any, name: str) -> list[str]:
    """Paths of fields called `name` in the current config (current union variants only)."""
    return [p for p, names in _candidates(type(cfg), name) if _exists(cfg, names)]


@functools.cache
def _tagged_below(t: type, name: str) -> bool:
    s = spec_of(t)
    return s.tag_field == name or any(_tagged_below(sub, name) for f in s.sections for sub in f.types)


def field_at(root: type, names: list[str]) -> FieldSpec | None:
    """The field at a path by types alone (in the first union variant that has each name)."""
    ts = [root]
    f = None
    for name in names:
        f = next((spec_of(t).fields[name] for t in ts if name in spec_of(t).fields), None)
        if f is None:
            return None
        ts = list(f.types)
    return f
