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


_ROWS: dict[tuple[type, str], tuple[tuple[str, bool], ...]] = {}


def _rows(t: type, prefix: str) -> tuple[tuple[str, bool], ...]:
    """(path, is a section) for each field of `t` at `prefix`, in field (= astuple) order."""
    key = (t, prefix)
    rows = _ROWS.get(key)
    if rows is None:
        dot = prefix + "." if prefix else ""
        rows = _ROWS[key] = tuple((dot + f.name, f.kind != LEAF) for f in spec_of(t).fields.values())
    return rows


def _mark(a: Any, b: Any, prefix: str, i: int, changed: dict[str, int]) -> bool:
    """Record token `i` as the owner of every leaf whose value differs from `a` to `b`; True if
    a section changed type (a union switch), which changes the set of leaf paths.

    Sub-structs that are the same object are skipped: a token that touched one field costs a
    walk down one path, not over the whole tree.
    """
    t = type(b)
    if type(a) is not t or not isinstance(b, msgspec.Struct):
        # a union switch (or a section set to/from null): every leaf below belongs to this token
        out: list[str] = []
        _all_leaves(b, prefix, out)
        for p in out:
            changed[p] = i
        return True
    reshaped = False
    rows = _rows(t, prefix)
    xs = _astuple(a)
    ys = _astuple(b)
    # the identity scan runs in C; the Python loop sees only the fields that are new objects
    for k in _compress(range(len(xs)), map(_is_not, xs, ys)):
        p, section = rows[k]
        x = xs[k]
        y = ys[k]
        if section:
            reshaped = _mark(x, y, p, i, changed) or reshaped
        elif x != y or type(x) is not type(y):
            changed[p] = i
    return reshaped


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
