"""The sweep grammar: the tokens of `nanigpt train`, where a token that lists alternatives
separated by commas is an axis (Hydra's multirun syntax), and the grid of members they make.

| axis                          | alternatives                                                  |
|-------------------------------|---------------------------------------------------------------|
| `path=a,b,c`, `...name=a,b`   | values of a scalar field                                      |
| `betas=[0.9,0.95],[0.9,0.99]` | values of a tuple field, each in brackets                     |
| `optim=adamw,muon`            | variants of a section                                         |
| `+large,+fp8,+none`           | patches, each with its own `+`; `+none` applies no patch      |
| `preset:tiny,small`           | start points (`run:ab12,cd34` likewise; first token only)     |
| `@NAME:AXIS`                  | axes with the same NAME vary together (paired), not crossed   |

Whether `path=...` splits is decided from the field's declared type over every union variant,
before anything resolves: a scalar field splits at each comma; a tuple or list field only when
its value starts with `[` (`betas=0.9,0.95` stays one tuple, as in `train`). A name that is a
scalar in one place and a tuple in another needs brackets. `\\,` is a literal comma (a path
with a comma in it); outside a sweep a comma means what it always meant.

Members form the grid (the product) of the axes and pair groups, the first axis varying slowest;
each member is the sweep's tokens with each axis token replaced, in its place, by one of its
alternatives, and resolves strictly left to right as `train` would.
"""

from __future__ import annotations

import itertools
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from nanigpt.conf import ConfigError, TokenSyntaxError, fields_named, parse_token

NO_PATCH = "+none"  # the alternative of a patch axis that applies no patch
_GROUP = re.compile(r"@([A-Za-z0-9_]+):(.*)", re.S)
_SEQUENCES = (tuple, list, set, frozenset)


@dataclass(frozen=True)
class Axis:
    """One axis: the token as typed, where it stands, its alternatives (each a whole token, or
    None for `+none`) and how each is shown (`3e-4`, `+large`, `preset:tiny`)."""

    index: int
    token: str
    name: str  # its column in tables: the path (`lr`), `start` or `patch`
    alternatives: tuple[str | None, ...]
    labels: tuple[str, ...]
    group: str | None = None


@dataclass(frozen=True)
class Member:
    """One point of the grid: its number (from 1), its tokens, the sweep token each came from,
    and its value on each axis."""

    number: int
    tokens: tuple[str, ...]
    values: dict[str, str] = field(default_factory=dict)
    origins: tuple[str, ...] = ()


class SweepError(ConfigError):
    """A sweep spec that cannot make members: an empty alternative, an axis on no field, paired
    axes of different lengths, too many members."""


def split_top(text: str, *, brackets: bool = False) -> list[str]:
    """`text` split at its commas, except escaped ones (`\\,`, kept escaped) and, with `brackets`,
    those inside `[...]`."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c == "\\" and text[i + 1 : i + 2] == ",":
            i += 2
            continue
        if brackets and c == "[":
            depth += 1
        elif brackets and c == "]":
            depth = max(0, depth - 1)
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def unescape(text: str) -> str:
    return text.replace("\\,", ",")


def _shape(f: Any) -> str:
    """"section" (a variant tag goes there), "sequence" or "scalar", for one field (None: a tag)."""
    if f is None or f.kind != 0:  # a tag, or a (union) section: its value is a variant name or null
        return "section"
    members = typing.get_args(f.bare) if typing.get_origin(f.bare) in (typing.Union, type(int | None)) else (f.bare,)
    seq = {typing.get_origin(m) in _SEQUENCES or m in _SEQUENCES for m in members if m is not type(None)}
    return "sequence" if seq == {True} else "ambiguous" if len(seq) > 1 else "scalar"


def _value_alternatives(tok: str, path: str, value: str, root: type) -> tuple[list[str], str]:
    """The alternatives of `path=value` (still escaped) and the axis kind: value or variant."""
    found = fields_named(root, path.removeprefix("..."))
    shapes = {_shape(f) for _, f in found}
    if not found:
        if len(split_top(value)) > 1:
            raise SweepError(f"`{path.removeprefix('...')}` is no field, so this cannot be an axis", token=tok,
                             suggestion="`nanigpt fields` lists the fields; check the name")
        return [value], "value"
    if shapes <= {"section", "scalar"}:
        return split_top(value), "variant" if shapes == {"section"} else "value"
    parts = split_top(value, brackets=True)
    if shapes == {"sequence"} and not value.startswith("["):
        return [value], "value"  # `betas=0.9,0.95`: one tuple, written as `train` takes it
    if len(parts) > 1 and not all(p.startswith("[") and p.endswith("]") for p in parts):
        where = ", ".join(sorted({p for p, _ in found}))
        raise SweepError(
            f"`{path}` names a tuple ({where}): each alternative of the axis must be in brackets", token=tok,
            suggestion=f"e.g. {path}=[0.9,0.95],[0.9,0.99]",
        )
    return parts, "value"


def parse_axis(index: int, tok: str, root: type, patches: Any = ()) -> Axis | str:
    """The axis a sweep token makes, or the plain token (escapes removed) when it lists one
    value. `patches` holds the registered patch names (to keep `+none` unambiguous)."""
    m = _GROUP.fullmatch(tok)
    group, body = (m.group(1), m.group(2)) if m else (None, tok)
    if tok.startswith("@") and m is None:
        raise SweepError("a paired axis is written @NAME:AXIS", token=tok,
                         suggestion="e.g. @a:lr=1e-4,3e-4 @a:warmup_steps=100,200")
    if body.startswith("+"):
        # `+with_lr:1e-4,3e-4` is one call with two arguments: split only where a `+` follows
        alts = re.split(r"(?<!\\),(?=\+)", body)
        for a in alts:
            if ":" not in a and len(split_top(a)) > 1:
                bad = split_top(a)[1]
                if not bad:
                    raise SweepError("an alternative is empty", token=tok, suggestion="remove the stray comma")
                raise SweepError(f"`{bad}` has no `+`: each alternative of a patch axis carries its own",
                                 token=tok, suggestion=f"write {','.join('+' + p.lstrip('+') for p in split_top(body))}")
        name, kind = "patch", "patch"
        if NO_PATCH in alts and NO_PATCH[1:] in patches:
            raise SweepError(f"a patch is named `{NO_PATCH[1:]}`, which a sweep reads as no patch", token=tok,
                             suggestion="rename that patch")
    elif body.startswith(("preset:", "run:")):
        kind_prefix = body.split(":", 1)[0] + ":"
        alts = [p if p.startswith(("preset:", "run:")) else kind_prefix + p for p in split_top(body)]
        name, kind = "start", "start"
        if index != 0 and len(alts) > 1:
            raise SweepError(f"a start axis comes first, and this is token {index + 1}", token=tok,
                             suggestion="move it to the front")
    elif "=" in body:
        path, _, value = body.partition("=")
        try:
            parse_token(body)
        except TokenSyntaxError as e:
            raise e.with_token(tok) from None
        values, kind = _value_alternatives(tok, path, value, root)
        alts = [f"{path}={v}" for v in values]
        name = path
        if any(not v for v in values):
            raise SweepError("an alternative is empty", token=tok,
                             suggestion=f"remove the stray comma, or write every value: {path}=a,b")
    else:
        alts = [body]
        name, kind = body, "plain"
    if any(not a or a == "+" for a in alts):
        raise SweepError("an alternative is empty", token=tok, suggestion="remove the stray comma")
    if len(alts) == 1:
        if group is not None:
            raise SweepError("one value is no axis, so nothing pairs with it", token=tok,
                             suggestion=f"give it alternatives, or drop `@{group}:`")
        return unescape(alts[0])
    tokens = tuple(None if a == NO_PATCH else unescape(a) for a in alts)
    labels = tuple("(no patch)" if a is None else a.partition("=")[2] if kind in ("value", "variant") else a
                   for a in tokens)
    return Axis(index, tok, name, tokens, labels, group)


def parse_sweep(tokens: list[str], root: type, patches: Any = ()) -> tuple[list[str | Axis], list[Axis]]:
    """Each token as a plain token or an Axis, and the axes in order. Axis names are made unique
    (`patch`, `patch#2`) so that each is one column."""
    items: list[str | Axis] = []
    axes: list[Axis] = []
    seen: dict[str, int] = {}
    for i, tok in enumerate(tokens):
        a = parse_axis(i, tok, root, patches)
        if isinstance(a, Axis):
            seen[a.name] = seen.get(a.name, 0) + 1
            if seen[a.name] > 1:
                a = Axis(a.index, a.token, f"{a.name}#{seen[a.name]}", a.alternatives, a.labels, a.group)
            axes.append(a)
        items.append(a)
    return items, axes


def dimensions(axes: list[Axis]) -> list[list[Axis]]:
    """The grid's dimensions, in order of their first token: each ungrouped axis alone, each pair
    group together (its axes must have as many alternatives each)."""
    dims: list[list[Axis]] = []
    groups: dict[str, list[Axis]] = {}
    for a in axes:
        if a.group is None:
            dims.append([a])
        elif a.group in groups:
            groups[a.group].append(a)
        else:
            groups[a.group] = [a]
            dims.append(groups[a.group])
    for g, members in groups.items():
        sizes = {len(a.alternatives) for a in members}
        if len(sizes) > 1:
            listed = ", ".join(f"`{a.token}` has {len(a.alternatives)}" for a in members)
            raise SweepError(f"the axes paired by @{g}: have different numbers of values: {listed}",
                             token=members[0].token, suggestion="give each paired axis as many values")
        if len(members) == 1:
            raise SweepError(f"@{g}: pairs `{members[0].token}` with nothing", token=members[0].token,
                             suggestion=f"mark the axis to vary with it @{g}: too, or drop @{g}:")
    return dims


def grid_size(axes: list[Axis]) -> int:
    n = 1
    for dim in dimensions(axes):
        n *= len(dim[0].alternatives)
    return n


def members(items: list[str | Axis], axes: list[Axis], max_members: int) -> list[Member]:
    """Every member of the grid, numbered from 1; more than `max_members` is an error, raised
    before any member is made."""
    dims = dimensions(axes)
    n = grid_size(axes)
    if n > max_members:
        shape = " x ".join(str(len(d[0].alternatives)) for d in dims)
        raise SweepError(f"the sweep has {n:,} members ({shape}), more than --max-members {max_members}",
                         suggestion=f"pass --max-members {n} if you mean it, or sweep fewer values")
    out = []
    for number, choice in enumerate(itertools.product(*(range(len(d[0].alternatives)) for d in dims)), 1):
        pick: dict[int, int] = {}
        for d, k in zip(dims, choice):
            for a in d:
                pick[a.index] = k
        toks: list[str] = []
        origins: list[str] = []
        values: dict[str, str] = {}
        for item in items:
            if isinstance(item, str):
                toks.append(item)
                origins.append(item)
                continue
            k = pick[item.index]
            alt = item.alternatives[k]
            if alt is not None:
                toks.append(alt)
                origins.append(item.token)
            values[item.name] = item.labels[k]
        out.append(Member(number, tuple(toks), values, tuple(origins)))
    return out
