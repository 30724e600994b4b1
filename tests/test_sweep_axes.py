"""The sweep grammar: which tokens are axes, how they split, the grid and the pairing. Torch-free."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nanigpt.conf import ConfigError, Registry
from nanigpt.config import RunConfig, load_registry
from nanigpt.experiments.axes import Axis, SweepError, members, parse_sweep, split_top, unescape

REGISTRY = load_registry()


def grid(*tokens: str, max_members: int = 256) -> list[tuple[str, ...]]:
    items, axes = parse_sweep(list(tokens), RunConfig, REGISTRY.patches)
    return [m.tokens for m in members(items, axes, max_members)]


def error(*tokens: str, max_members: int = 256) -> str:
    with pytest.raises(ConfigError) as e:
        grid(*tokens, max_members=max_members)
    return str(e.value)


def test_a_scalar_field_splits_at_each_comma_and_the_first_axis_varies_slowest():
    assert grid("preset:tiny", "lr=1e-4,3e-4", "seed=1,2,3") == [
        ("preset:tiny", "lr=1e-4", f"seed={s}") for s in (1, 2, 3)
    ] + [("preset:tiny", "lr=3e-4", f"seed={s}") for s in (1, 2, 3)]
    assert grid("...lr=1,2") == [("...lr=1",), ("...lr=2",)]
    assert grid("optim.lr=1,2") == [("optim.lr=1",), ("optim.lr=2",)]


def test_a_tuple_field_splits_only_between_bracketed_values():
    assert grid("betas=[0.9,0.95],[0.9,0.99]") == [("betas=[0.9,0.95]",), ("betas=[0.9,0.99]",)]
    assert grid("betas=[0.9,0.95]") == [("betas=[0.9,0.95]",)]
    assert grid("betas=0.9,0.95") == [("betas=0.9,0.95",)]  # the tuple's own syntax, as in `train`
    assert "each alternative of the axis must be in brackets" in error("betas=[0.9,0.95],0.8")


def test_variant_patch_and_start_axes():
    assert grid("optim=adamw,muon") == [("optim=adamw",), ("optim=muon",)]
    assert grid("optim.type=adamw,sgd") == [("optim.type=adamw",), ("optim.type=sgd",)]
    assert grid("+large,+fp8,+none") == [("+large",), ("+fp8",), ()]
    assert grid("preset:tiny,small") == [("preset:tiny",), ("preset:small",)]
    assert grid("preset:tiny,preset:small") == grid("preset:tiny,small")
    assert grid("run:ab12,cd34") == [("run:ab12",), ("run:cd34",)]


def test_a_factory_call_keeps_its_commas_and_an_axis_of_calls_repeats_the_plus():
    assert grid("+with_lr:1e-4,3e-4") == [("+with_lr:1e-4,3e-4",)]
    assert grid("+with_lr:1e-4,+with_lr:3e-4") == [("+with_lr:1e-4",), ("+with_lr:3e-4",)]
    assert grid("+large,+with_lr:1e-4,3e-4") == [("+large",), ("+with_lr:1e-4,3e-4",)]


def test_an_escaped_comma_is_a_comma_in_the_value():
    assert grid(r"data.path=/a\,b,/c") == [("data.path=/a,b",), ("data.path=/c",)]
    assert grid(r"data.path=/a\,b") == [("data.path=/a,b",)]


def test_paired_axes_vary_together_and_are_crossed_with_the_rest():
    got = grid("@a:lr=1,2,3", "seed=7,8", "@a:warmup_steps=10,20,30")
    want = [(f"lr={lr}", f"seed={s}", f"warmup_steps={w}") for (lr, w), s in
            itertools.product(zip((1, 2, 3), (10, 20, 30)), (7, 8))]
    assert got == want


def test_each_member_knows_its_values_and_the_sweep_token_of_each_of_its_tokens():
    items, axes = parse_sweep(["preset:tiny", "lr=1,2", "+large,+none"], RunConfig, REGISTRY.patches)
    ms = members(items, axes, 256)
    assert [a.name for a in axes] == ["lr", "patch"]
    assert ms[1].values == {"lr": "1", "patch": "(no patch)"} and ms[1].tokens == ("preset:tiny", "lr=1")
    assert ms[0].origins == ("preset:tiny", "lr=1,2", "+large,+none")
    items, axes = parse_sweep(["+large,+none", "+fp8,+none"], RunConfig, REGISTRY.patches)
    assert [a.name for a in axes] == ["patch", "patch#2"]


@pytest.mark.parametrize("tokens, message", [
    (["lr=1e-3,"], "in `lr=1e-3,`: an alternative is empty"),
    (["lr=,1e-3"], "in `lr=,1e-3`: an alternative is empty"),
    (["+large,"], "in `+large,`: an alternative is empty"),
    (["nosuch=1,2"], "in `nosuch=1,2`: `nosuch` is no field, so this cannot be an axis"),
    (["@a:lr=1,2", "@a:seed=1,2,3"], "the axes paired by @a: have different numbers of values"),
    (["@a:lr=1,2"], "@a: pairs `@a:lr=1,2` with nothing"),
    (["@a:lr=1"], "one value is no axis"),
    (["@lr=1,2"], "a paired axis is written @NAME:AXIS"),
    (["+large,fp8"], "`fp8` has no `+`"),
    (["lr=1,2", "preset:tiny,small"], "a start axis comes first"),
])
def test_bad_axes_are_one_line_errors(tokens, message):
    text = error(*tokens)
    assert message in text and "\n" not in text


def test_too_many_members_is_refused_before_any_is_made():
    text = error("lr=1,2,3", "seed=1,2,3", max_members=8)
    assert text == ("the sweep has 9 members (3 x 3), more than --max-members 8 "
                    "(pass --max-members 9 if you mean it, or sweep fewer values)")
    assert len(grid("lr=1,2,3", "seed=1,2,3", max_members=9)) == 9


def test_a_patch_named_none_would_be_ambiguous():
    assert isinstance(parse_sweep(["+large,+none"], RunConfig, {"large"})[1][0], Axis)
    with pytest.raises(SweepError, match="a patch is named `none`"):
        parse_sweep(["+large,+none"], RunConfig, {"large", "none"})


def test_the_sweep_grammar_takes_a_generic_root_type():
    from nanigpt.conf import Config

    class Root(Config):
        name: str = "x"
        sizes: tuple[int, int] = (1, 2)

    items, axes = parse_sweep(["name=a,b", "sizes=[1,2],[3,4]"], Root, Registry().patches)
    assert [m.tokens for m in members(items, axes, 9)] == [
        ("name=a", "sizes=[1,2]"), ("name=a", "sizes=[3,4]"), ("name=b", "sizes=[1,2]"), ("name=b", "sizes=[3,4]")]


_NAMES = st.sampled_from(["seed", "lr", "n_layer", "steps"])
_VALUE = st.integers(0, 10**6).map(str)


@given(st.data())
def test_the_grid_is_the_product_of_the_axes_in_token_order(data):
    axes = data.draw(st.lists(st.tuples(_NAMES, st.lists(_VALUE, min_size=1, max_size=4)), min_size=1, max_size=4))
    paired = len(axes) >= 2 and len(axes[0][1]) >= 2 and data.draw(st.booleans())
    if paired:  # the first two vary together: as many values each
        n = len(axes[0][1])
        axes[1] = (axes[1][0], data.draw(st.lists(_VALUE, min_size=n, max_size=n)))
    tokens = [("@p:" if paired and i < 2 else "") + f"{name}={','.join(vals)}" for i, (name, vals) in enumerate(axes)]
    # independently: a dimension is a list of tuples of tokens
    dims = [[(f"{n}={v}",) for v in vals] for n, vals in axes]
    if paired:
        dims[:2] = [[(a, b) for (a,), (b,) in zip(dims[0], dims[1])]]
    expect = [sum(combo, ()) for combo in itertools.product(*dims)]
    assert grid(*tokens, max_members=10**6) == expect


@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
                .filter(lambda s: "\\" not in s), min_size=1, max_size=5))
def test_escaped_commas_round_trip(values):
    joined = ",".join(v.replace(",", "\\,") for v in values)
    assert [unescape(p) for p in split_top(joined)] == values
