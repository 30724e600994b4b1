"""Walks over config trees: leaf paths, which leaves a token changed, where a bare name points."""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from nanigpt.conf._types import LEAF, FieldSpec, join, names_below, spec_of


def _leaves(x: Any, prefix: str, out: list[str]) -> None:
    if not isinstance(x, msgspec.Struct):  # a leaf, or a null section
        out.append(prefix)
        return
    own, sections = _paths(type(x), prefix)
    out += own
    for name, p in sections:
        _leaves(getattr(x, name), p, out)


@functools.cache
def _paths(t: type, prefix: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The paths of struct type `t` at `prefix`: its tag and leaves, and (name, path) of its
    sections. Built once per place in the schema: building them for every blame made a resolve
    10% slower (65 against 58 us, CPU), where bench_conf's budget (50x faster than OmegaConf)
    came down to 54x on a loaded machine."""
    s = spec_of(t)
    dot = prefix + "." if prefix else ""
    tag = (dot + s.tag_field,) if s.tag_field else ()
    return (*tag, *(dot + n for n in s.leaves)), tuple((f.name, dot + f.name) for f in s.sections)


def leaf_paths(cfg: Any) -> tuple[str, ...]:
    """Every leaf path of a config struct, union tags (`optim.type`) included: a struct's tag and
    leaves in field order, then its sections'."""
    out: list[str] = []
    _leaves(cfg, "", out)
    return tuple(out)


def mark(a: Any, b: Any, prefix: str, i: int, changed: dict[str, int]) -> None:
    """Record token `i` as the owner of every leaf whose value differs from `a` to `b`.

    Sub-structs that are the same object are skipped: a token that touched one field costs a
    walk down one path, not over the whole tree.
    """
    if a is b:
        return
    t = type(b)
    if type(a) is not t or not isinstance(b, msgspec.Struct):
        # a union switch (or a section set to/from null): every leaf below belongs to this token
        out: list[str] = []
        _leaves(b, prefix, out)
        changed.update(dict.fromkeys(out, i))
        return
    dot = prefix + "." if prefix else ""
    for f in spec_of(t).fields.values():
        x = getattr(a, f.name)
        y = getattr(b, f.name)
        if x is y:
            continue
        if f.kind != LEAF:
            mark(x, y, dot + f.name, i, changed)
        elif x != y or type(x) is not type(y):
            changed[dot + f.name] = i


@functools.cache
def _candidates(root: type, name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Every path at which a field `name` may be, over all union variants; which of them exist
    depends on the current variants."""
    out: dict[str, None] = {}

    def walk(t: type, prefix: str) -> None:
        s = spec_of(t)
        if name in s.fields or (name == s.tag_field and prefix):
            out[join(prefix, name)] = None
        for f in s.sections:
            if f.name != name:
                for sub in f.types:
                    if name in names_below(sub) or _tagged_below(sub, name):
                        walk(sub, join(prefix, f.name))

    walk(root, "")
    return tuple((p, tuple(p.split("."))) for p in out)


def _exists(cfg: Any, names: tuple[str, ...]) -> bool:
    x = cfg
    last = len(names) - 1
    for i, n in enumerate(names):
        if not isinstance(x, msgspec.Struct):
            return False
        s = spec_of(type(x))
        if n not in s.fields:
            return i == last and n == s.tag_field
        x = getattr(x, n)
    return True


def _find(cfg: Any, name: str) -> list[str]:
    """Paths of fields called `name` in the current config (current union variants only)."""
    root: type = type(cfg)
    return [p for p, names in _candidates(root, name) if _exists(cfg, names)]


@functools.cache
def _tagged_below(t: type, name: str) -> bool:
    s = spec_of(t)
    return s.tag_field == name or any(_tagged_below(sub, name) for f in s.sections for sub in f.types)


def fields_named(root: type, path: str) -> list[tuple[str, FieldSpec | None]]:
    """(path, field) for each field `path` (dotted, or a bare name) may name in any variant; None: a tag."""
    bare = "." not in path and path not in spec_of(root).fields
    out: list[tuple[str, FieldSpec | None]] = []
    for names in [n for _, n in _candidates(root, path)] if bare else [tuple(path.split("."))]:
        ts, p = [root], ".".join(names)
        for i, name in enumerate(names):
            fs = [spec_of(t).fields[name] for t in ts if name in spec_of(t).fields]
            if i == len(names) - 1:
                tag = i > 0 and not fs and any(spec_of(t).tag_field == name for t in ts)
                out += [(p, f) for f in fs] + ([(p, None)] if tag else [])
            ts = [sub for f in fs for sub in f.types]
    return out


def field_at(root: type, names: list[str]) -> FieldSpec | None:
    """The field at a path from the root by types alone (the first union variant that has it)."""
    if len(names) == 1 and names[0] not in spec_of(root).fields:
        return None
    return next((f for _, f in fields_named(root, ".".join(names)) if f is not None), None)
