"""diff() and to_tokens(): changes between configs (or stored dicts), replayable as a spec."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import edits, passes_checks

from nanigpt.conf import Change, diff, to_tokens
from nanigpt.config import resolve
from nanigpt.config import L, RunConfig

PRESETS = ["tiny", "small", "gpt2"]


def test_changed_leaves_with_both_values():
    a = resolve(["preset:tiny"]).config
    b = resolve(["preset:tiny", "+large", "lr=0.01"]).config
    assert diff(a, b) == [
        Change("model.n_embd", "changed", 32, 64),
        Change("model.n_head", "changed", 2, 4),
        Change("model.n_layer", "changed", 2, 4),
        Change("optim.lr", "changed", 0.001, 0.01),
    ]
    assert to_tokens(diff(a, b)) == ["model.n_embd=64", "model.n_head=4", "model.n_layer=4", "optim.lr=0.01"]
    assert diff(a, a) == []


def test_union_switch_comes_first_and_replays():
    a = resolve(["preset:tiny"])
    b = resolve(["preset:tiny", "optim=sgd", "momentum=0.5", "lr=0.001"])
    changes = diff(a.config, b.config)
    assert changes[0] == Change(
        "optim.type", "changed", "adamw", "sgd",
        {"type": "sgd", "lr": 0.001, "momentum": 0.5, "nesterov": False, "weight_decay": 0.0},
    )
    assert {c.path: c.kind for c in changes} == {
        "optim.type": "changed",
        "optim.betas": "removed",
        "optim.eps": "removed",
        "optim.momentum": "added",
        "optim.nesterov": "added",
        "optim.weight_decay": "changed",
    }  # lr is equal in both, so not a change, yet the tokens must still set it after the switch:
    tokens = to_tokens(changes)
    assert tokens[0] == "optim=sgd" and "optim.lr=0.001" in tokens
    assert resolve([*a.tokens, *tokens]).hash == b.hash


def test_struct_and_stored_dict_forms_agree():
    a = resolve(["preset:small"])
    b = resolve(["preset:gpt2", "+muon", "+fp8"])
    da, db = json.loads(a.canonical), json.loads(b.canonical)
    ref = diff(a.config, b.config)
    assert diff(da, db) == ref and diff(a.config, db) == ref and diff(da, b.config) == ref


def test_stored_dicts_from_another_schema():
    old = {"model": {"n_layer": 2, "dropped": 1}, "seed": 1}
    new = {"model": {"n_layer": 3}, "seed": 1, "extra": {"x": True}}
    assert diff(old, new) == [
        Change("extra.x", "added", None, True),
        Change("model.dropped", "removed", 1, None),
        Change("model.n_layer", "changed", 2, 3),
    ]
    # a spec cannot remove a field: removed leaves give no token
    assert to_tokens(diff(old, new)) == ["extra.x=true", "model.n_layer=3"]
    assert Change("a", "removed", 1, None).token is None and Change("a", "changed", 1, 2).token == "a=2"


def test_types_are_compared_too():
    assert diff({"a": 1}, {"a": 1.0}) == [Change("a", "changed", 1, 1.0)]
    assert diff({"a": True}, {"a": 1}) == [Change("a", "changed", True, 1)]


class Exploding:
    """A value that fails if anything compares it: proves the diff never looked."""

    def __eq__(self, other: Any) -> bool:
        raise AssertionError("compared a sub-struct that is the same object")

    __hash__ = object.__hash__


def test_sub_structs_that_are_the_same_object_are_skipped():
    Inner = msgspec.defstruct("Inner", [("x", Any), ("y", int)], frozen=True)
    Outer = msgspec.defstruct("Outer", [("a", Inner), ("b", Inner)], frozen=True)
    shared = Inner(x=Exploding(), y=1)
    one = Outer(a=shared, b=Inner(x=1, y=1))
    two = msgspec.structs.replace(one, b=Inner(x=1, y=2))
    assert diff(one, two) == [Change("b.y", "changed", 1, 2)]


@st.composite
def two_specs(draw):
    na, nb = draw(st.sampled_from(PRESETS)), draw(st.sampled_from(PRESETS))
    ta, ea = draw(edits(resolve([f"preset:{na}"]).config, max_tokens=4))
    tb, eb = draw(edits(resolve([f"preset:{nb}"]).config, max_tokens=4))
    return [f"preset:{na}", *ta], ea, [f"preset:{nb}", *tb], eb


def _valid(cfg: Any) -> bool:
    return passes_checks(msgspec.convert(msgspec.to_builtins(cfg), RunConfig))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(two_specs())
def test_tokens_of_a_diff_turn_a_into_b(case):
    ta, ea, tb, eb = case
    assume(_valid(ea) and _valid(eb))
    a, b = resolve(ta), resolve(tb)
    tokens = to_tokens(diff(a.config, b.config))
    assert resolve([*ta, *tokens]).hash == b.hash
    # and from the stored forms, with no schema
    assert to_tokens(diff(json.loads(a.canonical), json.loads(b.canonical))) == tokens


def test_diff_of_lens_edits_walks_one_path():
    a = resolve(["preset:small"]).config
    b = L.train.seed.set(a, 5)
    assert diff(a, b) == [Change("train.seed", "changed", 1337, 5)]
