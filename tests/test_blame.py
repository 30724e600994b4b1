"""Blame through patches: the last token that changed a leaf owns it, whatever kind of token it is.

Each case asserts the whole blame, leaf by leaf: the leaves of the optimizer are listed here by
hand, every other leaf belongs to the start preset.
"""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from nanigpt.conf import Config, Registry, Resolver, leaf_paths, patch
from nanigpt.config import resolve
from nanigpt.optim.config import Muon

ADAMW = ("optim.type", "optim.lr", "optim.betas", "optim.eps", "optim.weight_decay")
MUON = ("optim.type", "optim.lr", "optim.momentum", "optim.nesterov", "optim.ns_steps", "optim.weight_decay",
        "optim.adamw_lr", "optim.adamw_betas", "optim.adamw_weight_decay")  # fmt: skip


def expected(tokens: list[str], owners: dict[str, str]) -> dict[str, str]:
    """Every leaf of the resolved config owned by the start token, but for `owners`."""
    r = resolve(tokens)
    optim = tuple(p for p in leaf_paths(r.config) if p.startswith("optim."))
    assert sorted(optim) == sorted(MUON if isinstance(r.config.optim, Muon) else ADAMW)  # the hand lists hold
    assert owners.keys() <= set(leaf_paths(r.config))
    return {**dict.fromkeys(leaf_paths(r.config), tokens[0]), **owners}


def muon_by(token: str, **others: str) -> dict[str, str]:
    """Every Muon leaf owned by `token`, but `others` (a leaf's last name -> its owner)."""
    return {p: others.get(p.removeprefix("optim."), token) for p in MUON}


CASES = {
    # a patch after a setting of the same field
    "set-then-patch": (["preset:small", "lr=0.01", "+with_lr:1e-4"], 1e-4, {"optim.lr": "+with_lr:1e-4"}),
    "patch-then-set": (["preset:small", "+with_lr:1e-4", "lr=0.01"], 0.01, {"optim.lr": "lr=0.01"}),
    # a variant switch by a patch, then a patch of one of its fields
    "switch-then-patch": (["preset:small", "+muon", "+with_lr:1e-4"], 1e-4, muon_by("+muon", lr="+with_lr:1e-4")),
    "patch-then-switch": (["preset:small", "+with_lr:1e-4", "+muon"], 0.02, muon_by("+muon")),
    "set-switch-patch": (["preset:small", "optim=muon", "adamw_lr=0.001", "+muon", "+with_lr:1e-4"], 1e-4,
                         muon_by("optim=muon", adamw_lr="adamw_lr=0.001", lr="+with_lr:1e-4")),
    # switched away and back: the last switch gives fresh defaults, and owns them all
    "switch-away-and-back": (["preset:small", "+muon", "adamw_lr=0.001", "+with_lr:1e-4", "optim=adamw", "+muon"],
                             0.02, muon_by("+muon")),
    # a traversal and a patch
    "patch-then-traversal": (["preset:small", "+with_lr:1e-4", "...lr=0.5"], 0.5, {"optim.lr": "...lr=0.5"}),
    "traversal-then-patch": (["preset:small", "...lr=0.5", "+with_lr:1e-4"], 1e-4, {"optim.lr": "+with_lr:1e-4"}),
    # a token that writes the value a field already holds changes nothing, and takes nothing
    "patch-writes-the-same": (["preset:small", "lr=1e-4", "+with_lr:1e-4"], 1e-4, {"optim.lr": "lr=1e-4"}),
    "set-writes-the-same": (["preset:small", "+with_lr:1e-4", "lr=1e-4"], 1e-4, {"optim.lr": "+with_lr:1e-4"}),
    "muon-on-muon": (["preset:tiny", "optim=muon", "lr=0.05", "+muon"], 0.05, muon_by("optim=muon", lr="lr=0.05")),
    # a patch of many fields, then a setting of one of them
    "large-then-set": (["preset:tiny", "+large", "n_layer=3"], 1e-3,
                       {"model.n_layer": "n_layer=3", "model.n_embd": "+large", "model.n_head": "+large"}),
    "set-then-large": (["preset:tiny", "n_layer=3", "n_embd=48", "+large"], 1e-3,
                       {"model.n_layer": "+large", "model.n_embd": "+large", "model.n_head": "+large"}),
}


@pytest.mark.parametrize("tokens, lr, owners", CASES.values(), ids=CASES.keys())
def test_the_last_token_that_changed_a_leaf_owns_it(tokens, lr, owners):
    r = resolve(tokens)
    assert r.config.optim.lr == lr
    assert r.blame == expected(tokens, owners)


# -- a generic root three levels deep: a leaf below a section of a section -----------------------
# naniGPT's configs nest two levels (a setting always takes the direct route to its leaf); the
# machinery takes any depth, where a setting finds its leaf by walking the tree.


class Inner(Config):
    """The deepest section."""

    x: float = 0.0
    y: float = 0.0


class Outer(Config):
    """A section holding a section."""

    inner: Inner = Inner()


class Deep(Config):
    """A root three levels deep."""

    outer: Outer = Outer()


@patch
def x5(cfg: Deep) -> Deep:
    """Set outer.inner.x to 5."""
    return replace(cfg, outer=replace(cfg.outer, inner=replace(cfg.outer.inner, x=5.0)))


DEEP = Resolver(Deep, Registry.of(x5))


@pytest.mark.parametrize(
    "tokens, owner",
    [
        (["outer.inner.x=1", "outer.inner.x=2"], "outer.inner.x=2"),
        (["x=1", "+x5"], "+x5"),
        (["+x5", "x=2"], "x=2"),
        (["+x5", "outer.inner.x=2", "+x5"], "+x5"),
        (["x=5", "+x5"], "x=5"),  # the patch wrote the value the leaf held
    ],
)
def test_the_last_writer_owns_a_deep_leaf(tokens, owner):
    r = DEEP.resolve(tokens)
    assert r.blame == {"outer.inner.x": owner, "outer.inner.y": "defaults"}
