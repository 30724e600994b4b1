"""Diff of two configs, or of their stored JSON forms (no schema needed), as paste-able tokens.

    >>> from nanigpt.config import RunConfig
    >>> from nanigpt.optim.config import Muon
    >>> a, b = RunConfig(), RunConfig(optim=Muon(lr=0.01))
    >>> to_tokens(diff(a, b))[:2]
    ['optim=muon', 'optim.adamw_betas=0.9,0.95']

Leaves are compared by value; sub-structs that are the same object are skipped without a look,
and equal ones after one C-level comparison. When a union section switches variant, the change
of its tag carries the whole new section: the tokens switch first (`optim=muon`, which gives that
variant's defaults) and then set every field of the new variant, so applying them to A gives B.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from nanigpt.conf._struct import TAG_FIELD
from nanigpt.conf._types import join, spec_of
from nanigpt.conf._values import format_value

_json_encode = msgspec.json.encode
_json_decode = msgspec.json.decode


def _to_builtins(x: Any) -> Any:
    """Builtins exactly as a stored config.json decodes (tuples become lists): so that a struct
    and a stored dict compare equal where they hold the same config."""
    if isinstance(x, (msgspec.Struct, tuple)):
        return _json_decode(_json_encode(x))
    return x


class Change(msgspec.Struct, frozen=True):
    """One leaf that differs: `kind` is "changed", "added" (only in B) or "removed" (only in A).

    For the tag of a union section that switched variant, `section` is B's whole section.
    """

    path: str
    kind: Literal["changed", "added", "removed"]
    old: Any = None
    new: Any = None
    section: dict | None = None

    @property
    def token(self) -> str | None:
        """`path=value`, or None for a removed leaf (a spec cannot remove a field)."""
        return None if self.kind == "removed" else f"{self.path}={format_value(self.new)}"


def _leaves(x: Any, prefix: str) -> list[tuple[str, Any]]:
    """(path, value) of every leaf of the builtins `x` at `prefix`."""
    if isinstance(x, dict) and x:
        return [leaf for k, v in x.items() for leaf in _leaves(v, join(prefix, k))]
    return [(prefix, x)]


def _same(x: Any, y: Any) -> bool:
    return type(x) is type(y) and x == y


def _diff_dicts(a: dict, b: dict, prefix: str, tag: str, out: list[Change]) -> None:
    ta, tb = a.get(tag), b.get(tag)
    if tb is not None and ta != tb:
        # a union switch: report every leaf of B's section, equal or not, through the tag
        out.append(Change(join(prefix, tag), "changed" if ta is not None else "added", ta, tb, b))
    for k, va in a.items():
        p = join(prefix, k)
        if k not in b:
            out.extend(Change(q, "removed", v, None) for q, v in _leaves(va, p))
            continue
        if k == tag and tb is not None and ta != tb:
            continue
        vb = b[k]
        if va is vb or _same(va, vb):
            continue
        if isinstance(va, dict) and isinstance(vb, dict):
            _diff_dicts(va, vb, p, tag, out)
        elif isinstance(va, dict) or isinstance(vb, dict):
            out.extend(Change(q, "removed", v, None) for q, v in _leaves(va, p))
            out.extend(Change(q, "added", None, v) for q, v in _leaves(vb, p))
        else:
            out.append(Change(p, "changed", va, vb))
    for k, vb in b.items():
        if k not in a:
            out.extend(Change(q, "added", None, v) for q, v in _leaves(vb, join(prefix, k)))


def _diff_structs(a: Any, b: Any, prefix: str, tag: str, out: list[Change]) -> None:
    if a is b:
        return
    t = type(b)
    if type(a) is not t or not isinstance(b, msgspec.Struct):
        # a union switch, or a section to/from null (never the root: diff() compares only
        # structs of one type here): compare the builtins of this subtree, under its name
        base, _, name = prefix.rpartition(".")
        _diff_dicts({name: _to_builtins(a)}, {name: _to_builtins(b)}, base, tag, out)
        return
    if a == b:
        return
    s = spec_of(t)
    for name in s.leaves:
        va = getattr(a, name)
        vb = getattr(b, name)
        if not _same(va, vb):
            out.append(Change(join(prefix, name), "changed", _to_builtins(va), _to_builtins(vb)))
    for f in s.sections:
        _diff_structs(getattr(a, f.name), getattr(b, f.name), join(prefix, f.name), tag, out)


def _order(tag: str):
    def key(c: Change) -> tuple[str, ...]:
        parts = c.path.split(".")
        if parts[-1] == tag:
            parts[-1] = ""  # a section's tag sorts before its fields
        return tuple(parts)

    return key


def diff(a: Any, b: Any, *, tag_field: str = TAG_FIELD) -> list[Change]:
    """The leaves that differ from config `a` to config `b`, sorted by path (a union tag first
    in its section). Each of `a`, `b` is a struct or a stored config dict."""
    out: list[Change] = []
    if isinstance(a, msgspec.Struct) and isinstance(b, msgspec.Struct) and type(a) is type(b):
        _diff_structs(a, b, "", tag_field, out)
    else:
        _diff_dicts(_to_builtins(a), _to_builtins(b), "", tag_field, out)
    out.sort(key=_order(tag_field))
    return out


def _section_tokens(prefix: str, d: dict, tag: str, out: list[str]) -> None:
    if tag in d:
        out.append(f"{prefix}={format_value(d[tag])}")
    for k, v in sorted(d.items()):
        if k == tag:
            continue
        if isinstance(v, dict):
            _section_tokens(join(prefix, k), v, tag, out)
        else:
            out.append(f"{join(prefix, k)}={format_value(v)}")


def to_tokens(changes: list[Change], *, tag_field: str = TAG_FIELD) -> list[str]:
    """Paste-able `path=value` tokens that turn A into B: a switched union section becomes
    `section=tag` and then each of its fields; removed leaves (no token can remove) are left out."""
    out: list[str] = []
    switched: list[str] = []
    for c in sorted(changes, key=_order(tag_field)):
        if any(c.path.startswith(s + ".") for s in switched):
            continue  # covered by the switch of its section
        if c.section is not None and "." in c.path:
            sec = c.path.rpartition(".")[0]
            switched.append(sec)
            _section_tokens(sec, c.section, tag_field, out)
        elif c.kind != "removed":
            out.append(f"{c.path}={format_value(c.new)}")
    return out
