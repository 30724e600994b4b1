"""Patches: composition laws, set_/over, and the preset/patch/patch_factory decorators."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import configs

from nanigpt.conf import Patch, PatchError, PatchFactory, Preset, compose, identity, over, patch, patch_factory, preset, set_
from nanigpt.config import L, RunConfig

LAWS = settings(max_examples=40, deadline=None)

PATCHES = [
    set_(L.model.n_layer, 3),
    set_(L.optim.lr, 0.5),
    over(L.model.n_embd, lambda n: 2 * n),
    over(L.train.seed, lambda s: s + 1),
    set_(L.precision.fp8, True),
    identity,
]


def _structs(cfg):
    return [getattr(cfg, n) for n in RunConfig.__struct_fields__ if isinstance(getattr(cfg, n), msgspec.Struct)]


@LAWS
@given(configs(RunConfig))
def test_identity_shares_every_sub_struct(cfg):
    out = identity(cfg)
    assert out is cfg
    assert all(a is b for a, b in zip(_structs(out), _structs(cfg)))
    assert (identity >> identity)(cfg) is cfg and compose()(cfg) is cfg


@LAWS
@given(configs(RunConfig), st.lists(st.sampled_from(PATCHES), min_size=3, max_size=3))
def test_composition_is_associative(cfg, ps):
    p, q, r = ps
    left, right = (p >> q) >> r, p >> (q >> r)
    assert left(cfg) == right(cfg) == r(q(p(cfg))) == compose(p, q, r)(cfg)
    assert left.name == right.name and left.parts == right.parts


@LAWS
@given(configs(RunConfig), st.sampled_from(PATCHES))
def test_identity_is_neutral(cfg, p):
    assert (identity >> p).parts == (p >> identity).parts == p.parts
    assert (identity >> p)(cfg) == p(cfg) == (p >> identity)(cfg)


def test_names_and_docs():
    p = set_(L.optim.lr, 1e-4) >> over(L.model.n_layer, abs)
    assert p.name == "optim.lr=0.0001 >> over(model.n_layer, abs)"
    assert p.doc == "optim.lr=0.0001: Set `optim.lr` to 0.0001.\nover(model.n_layer, abs): Apply `abs` to `model.n_layer`."
    assert identity.name == "identity" and identity.parts == ()


def test_set_needs_a_lens():
    with pytest.raises(PatchError) as e:
        set_(L.data.path, "x")  # `path` is the lens's dotted path here, a str
    assert str(e.value) == (
        "set_() needs a lens, got str 'data' (fields named like a lens attribute (`path`, `get`, `set`, "
        "`over`) are reached with L.data['path'])"
    )


def test_patch_decorator():
    @patch
    def deeper(cfg: RunConfig) -> RunConfig:
        """One more layer.

        Longer explanation."""
        return L.model.n_layer.over(cfg, lambda n: n + 1)

    assert isinstance(deeper, Patch)
    assert deeper.name == "deeper" and deeper.summary == "One more layer."
    assert deeper.source == __file__
    assert deeper(RunConfig()).model.n_layer == 7

    @patch(name="deeper-2")
    def d2(cfg: RunConfig) -> RunConfig:
        """Two more layers."""
        return (deeper >> deeper)(cfg)

    assert d2.name == "deeper-2" and d2(RunConfig()).model.n_layer == 8


def test_decorators_require_a_docstring():
    with pytest.raises(PatchError, match=r"patch `nodoc` \(.*\) has no docstring"):

        @patch
        def nodoc(cfg):
            return cfg


def test_preset_is_computed_once_and_shared():
    calls = []

    @preset
    def mine() -> RunConfig:
        """Mine."""
        calls.append(1)
        return RunConfig()

    assert isinstance(mine, Preset) and calls == []  # decorating computes nothing
    assert mine() is mine() and calls == [1]


def test_patch_factory_parses_by_annotation():
    @patch_factory
    def shape(n_layer: int, betas: tuple[float, float] = (0.9, 0.99)) -> Patch:
        """Depth and Adam betas."""
        return set_(L.model.n_layer, n_layer) >> set_(L.optim.betas, betas)

    assert isinstance(shape, PatchFactory)
    assert shape.usage == "+shape:N_LAYER,[BETAS]"
    assert shape.help == "+shape:N_LAYER,[BETAS] with N_LAYER an integer, BETAS a tuple of 2 (float, float)"
    p = shape.from_text("3,0.8,0.9")
    assert p.name == "shape:3,0.8,0.9" and p(RunConfig()).optim.betas == (0.8, 0.9)
    assert shape.from_text("3")(RunConfig()).optim.betas == (0.9, 0.99)
    assert shape(5)(RunConfig()).model.n_layer == 5
    with pytest.raises(PatchError, match=r"argument `n_layer` of `shape` expects an integer, got `3.5`"):
        shape.from_text("3.5")
    with pytest.raises(PatchError, match=r"takes 1 to 2 argument\(s\), got 0"):
        shape.from_text("")


def test_patch_factory_must_annotate_and_return_a_patch():
    @patch_factory
    def bare(x) -> Patch:
        """No annotation."""
        return identity

    with pytest.raises(PatchError, match=r"parameter `x` has no type annotation"):
        bare.from_text("1")

    @patch_factory
    def wrong(x: int) -> Patch:
        """Returns a config."""
        return RunConfig()  # type: ignore[return-value]

    with pytest.raises(PatchError, match=r"returned RunConfig, not a Patch"):
        wrong(1)


def test_compose_refuses_a_factory():
    @patch_factory
    def f(x: int) -> Patch:
        """F."""
        return identity

    with pytest.raises(PatchError, match=r"a patch factory must be called first"):
        compose(identity, f)  # type: ignore[arg-type]
