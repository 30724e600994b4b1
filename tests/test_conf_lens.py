"""Lenses: get/set/over, the lens laws, structural sharing, checks when built, union fields."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import configs, leaf_fields, values

from nanigpt.conf import Lens, Traversal, UnknownFieldError, VariantFieldError
from nanigpt.conf._errors import ConfigError
from nanigpt.config import L, RunConfig
from nanigpt.data.config import TextData
from nanigpt.optim.config import SGD, AdamW, Muon

LAWS = settings(max_examples=40, deadline=None)


@st.composite
def config_and_leaf(draw):
    cfg = draw(configs(RunConfig))
    path, t = draw(st.sampled_from(leaf_fields(cfg)))
    lens = Lens.from_path(RunConfig, path)
    return cfg, lens, draw(values(t)), draw(values(t))


@LAWS
@given(config_and_leaf())
def test_get_set_law(case):
    cfg, lens, _, _ = case
    # setting what is already there changes nothing, and returns the very same config
    assert lens.set(cfg, lens.get(cfg)) is cfg


@LAWS
@given(config_and_leaf())
def test_set_get_law(case):
    cfg, lens, v, _ = case
    assert lens.get(lens.set(cfg, v)) == v


@LAWS
@given(config_and_leaf())
def test_set_set_law(case):
    cfg, lens, v, w = case
    assert lens.set(lens.set(cfg, v), w) == lens.set(cfg, w)


@LAWS
@given(config_and_leaf())
def test_set_copies_only_the_path(case):
    cfg, lens, v, _ = case
    new = lens.set(cfg, v)
    top = lens.path.split(".")[0]
    for name in RunConfig.__struct_fields__:
        if name != top:
            assert getattr(new, name) is getattr(cfg, name), name


def test_attribute_lens_is_the_dotted_path_lens():
    assert L.optim.lr == Lens.from_path(RunConfig, "optim.lr")
    assert L.optim.lr.path == "optim.lr"
    assert L["data.path"].path == "data.path"
    # reaching the field `path` never replaces the lens's own `.path`
    assert L.data["path"].path == "data.path" and L.data.path == "data"
    assert hash(L.model.n_layer) == hash(Lens.from_path(RunConfig, "model.n_layer"))


def test_set_shares_siblings_inside_the_section():
    cfg = RunConfig()
    new = L.model.n_layer.set(cfg, 3)
    assert new.model.n_layer == 3 and cfg.model.n_layer == 6
    assert new.optim is cfg.optim and new.train is cfg.train and new.data is cfg.data


def test_over_applies_the_function():
    cfg = L.model.n_layer.over(RunConfig(), lambda n: n * 2)
    assert cfg.model.n_layer == 12


def test_wrong_name_fails_when_built_with_a_suggestion():
    with pytest.raises(UnknownFieldError) as e:
        L.optim.lrr
    assert str(e.value) == "unknown field `optim.lrr` (did you mean `optim.lr`?)"
    with pytest.raises(UnknownFieldError, match="did you mean `model.n_layer`"):
        Lens.from_path(RunConfig, "model.n_layers")
    with pytest.raises(UnknownFieldError, match=r"`model.n_layer` is an integer, not a section"):
        L.model.n_layer.x


def test_union_field_valid_if_some_variant_has_it():
    momentum = L.optim.momentum  # Muon and SGD have it, AdamW does not
    assert momentum.get(RunConfig(optim=SGD())) == 0.9
    assert momentum.set(RunConfig(optim=Muon()), 0.5).optim.momentum == 0.5
    with pytest.raises(VariantFieldError) as e:
        momentum.get(RunConfig(optim=AdamW()))
    assert str(e.value) == (
        "`optim` is currently `adamw`, which has no field `momentum` "
        "(it is in muon, sgd; switch first: optim=muon)"
    )
    with pytest.raises(VariantFieldError):
        momentum.set(RunConfig(), 0.5)


def test_lens_on_a_section_and_variant_switch_by_set():
    cfg = L.data.set(RunConfig(), TextData(path="x.txt"))
    assert L["data.path"].get(cfg) == "x.txt"


def test_lens_refuses_a_config_of_another_type():
    with pytest.raises(ConfigError, match="lens `optim.lr` is for `RunConfig` configs, got `AdamW`"):
        L.optim.lr.get(AdamW())


def test_traversal_focuses_every_field_with_the_name():
    cfg = RunConfig(optim=Muon())
    every = Lens.every(RunConfig, "weight_decay")
    assert isinstance(every, Traversal)
    assert every.paths(cfg) == ["optim.weight_decay"]
    lr = Lens.every(RunConfig, "lr")
    assert lr.get(cfg) == (0.02,)
    out = Lens.every(RunConfig, "val_fraction").set(cfg, 0.2)
    assert out.data.val_fraction == 0.2 and out.model is cfg.model


def test_traversal_over_several_fields():
    # fp8 and fp8_head are two names; the bool fields named `nesterov` exist once per variant
    cfg = Lens.every(RunConfig, "nesterov").set(RunConfig(optim=SGD()), True)
    assert cfg.optim.nesterov is True
    assert Lens.every(RunConfig, "nesterov").get(RunConfig()) == ()


def test_traversal_unknown_name():
    with pytest.raises(UnknownFieldError, match=r"did you mean `\.\.\.lr`"):
        Lens.every(RunConfig, "lrr")


@LAWS
@given(configs(RunConfig), st.sampled_from(["lr", "weight_decay", "val_fraction", "seed", "fp8"]))
def test_traversal_set_get_law(cfg, name):
    every = Lens.every(RunConfig, name)
    got = every.get(cfg)
    assert len(got) == len(every.paths(cfg)) >= (0 if name == "lr" else 1)
    if got:
        assert every.set(cfg, got[0]) == Lens.every(RunConfig, name).over(cfg, lambda _: got[0])
        assert all(v == got[0] for v in every.get(every.set(cfg, got[0])))
    assert every.over(cfg, lambda v: v) is cfg


def test_lenses_take_only_field_names_and_any_field_name():
    from msgspec import defstruct

    assert Lens.from_path(RunConfig, "model.n_layer").set(RunConfig(), 3).model.n_layer == 3
    for path in ["__import__('os')", "model.x) or (y", "nope", "model.nope"]:
        with pytest.raises(ConfigError):
            Lens.from_path(RunConfig, path)
    # a field may be called like a keyword (msgspec allows it): the lens still works
    inner = defstruct("Inner", [("class", int, 2)], frozen=True)
    outer = defstruct("Outer", [("x", inner, inner())], frozen=True)
    lens = Lens.root(outer).x["class"]
    assert lens.set(outer(), 9).x == inner(**{"class": 9}) and lens.get(outer()) == 2
