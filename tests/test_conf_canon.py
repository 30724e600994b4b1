"""The canonical form and the content hash: stable, schema-free, and one hash per config."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from typing import Annotated

import msgspec
import msgspec.inspect as mi
import pytest

from nanigpt import conf
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import Meta
from strategies import configs, leaf_fields, values

from nanigpt.conf import Config, ConfigError, Lens, Patch, Preset, Registry, ValueTypeError, canonical_bytes, config_hash, short_hash
from nanigpt.config import load_registry, resolve
from nanigpt.config import shipped_presets
from nanigpt.conf._types import reachable_types, spec_of
from nanigpt.config import SCHEMA_VERSION, RunConfig
from nanigpt.optim.config import SGD

LAWS = settings(max_examples=50, deadline=None)

# The content address of every shipped preset. A change that moves one of these moves the
# address of every past run made from it: bump SCHEMA_VERSION in nanigpt/config.py, or say in
# the commit why old runs keep their meaning (e.g. a new field whose default is the old behaviour
# is still a new hash: old runs stay readable through `show`/`diff`, which need no schema).
GOLDEN = {
    ("preset:tiny",): "ad093d6314919bf7501a41d093609f2e",
    ("preset:small",): "41a4b036140660ce994491fcb4068eaa",
    ("preset:gpt2",): "3cc873aca568ce823e6240ee9fecfd1d",
    ("preset:small", "+large", "+fp8", "lr=1e-4"): "9ad24cdbdb872443c7875b7c727c8473",
}


@pytest.mark.parametrize("tokens", list(GOLDEN))
def test_golden_hashes_of_shipped_presets(tokens):
    got = resolve(list(tokens)).hash
    assert got == GOLDEN[tokens], (
        f"{' '.join(tokens)} now hashes to {got}: this moves the address of existing runs. "
        f"Bump SCHEMA_VERSION (now {SCHEMA_VERSION}) or explain in the commit, then update GOLDEN."
    )


def test_every_shipped_preset_is_pinned():
    # The presets defined in presets/shipped.py, the file whose hashes GOLDEN pins, and not every
    # file in presets/: presets for benchmarks (shakespeare.py) are moving to bench/presets/.
    shipped = Registry.load([os.path.join(shipped_presets(), "shipped.py")]).presets
    pinned = {tokens[0].removeprefix("preset:") for tokens in GOLDEN if len(tokens) == 1}
    assert pinned == set(shipped), "pin the hash of each preset in presets/shipped.py in GOLDEN"


def test_hash_shape():
    h = config_hash(RunConfig())
    assert len(h) == 32 and h == h.lower() and int(h, 16) >= 0
    assert short_hash(h) == h[:12]


def test_canonical_bytes_are_sorted_compact_json():
    b = canonical_bytes(RunConfig())
    d = json.loads(b)
    assert list(d) == sorted(d) and all(list(v) == sorted(v) for v in d.values() if isinstance(v, dict))
    assert b == json.dumps(d, sort_keys=True, separators=(",", ":")).encode().replace(b"1e-08", b"1e-8")


def test_stored_dict_hashes_like_the_struct():
    r = resolve(["preset:small", "+muon", "data=text", "data.path=x"])
    stored = json.loads(r.canonical)  # what config.json holds, read back with no schema
    assert config_hash(stored) == r.hash == config_hash(r.config)
    shuffled = dict(reversed(list(stored.items())))
    assert config_hash(shuffled) == r.hash


def test_negative_zero_is_zero():
    assert canonical_bytes({"a": -0.0, "b": [-0.0]}) == b'{"a":0.0,"b":[0.0]}'
    assert config_hash({"a": -0.0}) == config_hash({"a": 0.0})
    # a string that merely contains "-0.0" is left alone
    assert canonical_bytes({"a": "x-0.0", "b": -0.001}) == b'{"a":"x-0.0","b":-0.001}'
    cfg = Lens.from_path(RunConfig, "train.grad_clip").set(RunConfig(), -0.0)
    assert config_hash(cfg) == config_hash(Lens.from_path(RunConfig, "train.grad_clip").set(RunConfig(), 0.0))


def test_negative_zero_set_by_a_token_or_a_patch_hashes_as_zero():
    # dropout's range [0, 1) admits -0.0; the canonical form makes it 0.0
    r = resolve(["preset:tiny", "dropout=-0.0"])
    assert r.hash == resolve(["preset:tiny", "dropout=0.0"]).hash and b"-0.0" not in r.canonical
    # over a value that is not zero (tiny's dropout is 0.0: -0.0 == 0.0 there, so nothing changes)
    r = resolve(["preset:tiny", "optim.weight_decay=-0.0"])
    assert r.hash == resolve(["preset:tiny", "optim.weight_decay=0.0"]).hash and b"-0.0" not in r.canonical
    neg = Patch(lambda cfg: Lens.from_path(RunConfig, "train.grad_clip").set(cfg, -0.0), name="neg", doc="-0.0")
    reg = Registry.of(*load_registry().presets.values(), neg)
    r = resolve(["preset:tiny", "+neg"], registry=reg)
    assert r.hash == resolve(["preset:tiny", "train.grad_clip=0"]).hash
    # small negative exponents (eps=1e-8) hold a `-` too, and stay as they are
    assert b'"eps":1e-8' in r.canonical


class Unbounded(Config):
    x: float = 1.0
    y: Annotated[float, Meta(ge=0.0)] = 1.0


def _floats(t):
    if isinstance(t, mi.Metadata):
        return _floats(t.type)
    if isinstance(t, mi.FloatType):
        return [t]
    if isinstance(t, (mi.TupleType, mi.UnionType)):
        return [x for i in (t.item_types if isinstance(t, mi.TupleType) else t.types) for x in _floats(i)]
    return []


def test_validation_refuses_nan_and_infinities_in_every_float_of_the_root():
    # every float of RunConfig, union variants and tuples included, has finite bounds on both
    # sides: a validated RunConfig always has a canonical form
    floats = [x for t in reachable_types(RunConfig) for f in spec_of(t).fields.values() for x in _floats(mi.type_info(f.annotation))]
    assert len(floats) > 10
    for x in floats:
        ranged = Annotated[float, Meta(ge=x.ge, gt=x.gt, le=x.le, lt=x.lt)]
        assert msgspec.convert(0.5 * ((x.ge or x.gt or 0.0) + (x.le or x.lt)), ranged) is not None
        for bad in (float("nan"), float("inf"), -float("inf")):
            with pytest.raises(msgspec.ValidationError):
                msgspec.convert(bad, ranged)
    with pytest.raises(ValueTypeError, match="not a finite number"):  # without bounds: no hash
        conf.resolve(["+bad"], Unbounded, Registry.of(Patch(lambda c: msgspec.structs.replace(c, x=float("inf")), name="bad", doc="inf")))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_inf_set_by_a_patch_have_no_hash(bad):
    # a schema whose floats may be unbounded: validation lets an infinity through, hashing does not
    field = "y" if bad == float("inf") else "x"  # y >= 0 lets +inf through; x takes anything
    p = Patch(lambda cfg: msgspec.structs.replace(cfg, **{field: bad}), name="bad", doc="a non-finite value")
    with pytest.raises(ValueTypeError, match=rf"`{field}`=(nan|inf|-inf) is not a finite number"):
        conf.resolve(["+bad"], Unbounded, Registry.of(p))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_inf_have_no_canonical_form(bad):
    with pytest.raises(ValueTypeError, match=r"`model.init_std`=(nan|inf|-inf) is not a finite number"):
        canonical_bytes({"model": {"init_std": bad}})
    with pytest.raises(ValueTypeError, match=r"`a\[1\]`"):
        canonical_bytes({"a": [1.0, bad]})
    assert canonical_bytes({"a": None}) == b'{"a":null}'  # a real null is fine


@LAWS
@given(configs(RunConfig))
def test_encode_decode_identity(cfg):
    b = canonical_bytes(cfg)
    back = msgspec.convert(msgspec.json.decode(b), RunConfig)
    assert back == cfg
    assert canonical_bytes(back) == b
    assert canonical_bytes(msgspec.to_builtins(cfg)) == b  # struct and builtins agree


@st.composite
def config_pairs(draw):
    a = draw(configs(RunConfig))
    if draw(st.booleans()):
        return a, draw(configs(RunConfig))
    path, t = draw(st.sampled_from(leaf_fields(a)))
    lens = Lens.from_path(RunConfig, path)
    v = msgspec.convert(draw(values(t)), lens._fields[0].bare)
    return a, lens.set(a, v)


@LAWS
@given(config_pairs())
def test_one_hash_iff_one_canonical_form(pair):
    a, b = pair
    assert (config_hash(a) == config_hash(b)) == (canonical_bytes(a) == canonical_bytes(b))
    assert (canonical_bytes(a) == canonical_bytes(b)) == (a == b)


def test_hash_is_the_same_in_a_fresh_process_with_another_hash_seed():
    tokens = ["preset:small", "+large", "+muon", "...val_fraction=0.2", "data=text", "data.path=a b"]
    here = resolve(tokens).hash
    code = "import sys; from nanigpt.config import resolve; print(resolve(sys.argv[1:]).hash)"
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code, *tokens], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == here


# Leaf values whose JSON is not canonical (an int where a float goes, -0.0, a list for a tuple),
# and plain ones. Patches and presets may put them in a config; tokens parse to canonical ones.
RAW = {
    "model.dropout": [0, -0.0, 0.0, 0.5],
    "model.init_std": [1, 0.02],
    "optim.lr": [1, 2, 0.001],
    "optim.betas": [(0, 0.95), [0.9, 0.95], (0.9, -0.0), (0.8, 0.9)],
    "train.grad_clip": [1, -0.0, 0.0, 2.5],
    "schedule.min_lr_ratio": [1, 0, -0.0, 0.25],
    "model.n_layer": [3, 4],
}


@st.composite
def raw_edits(draw):
    paths = draw(st.lists(st.sampled_from(sorted(RAW)), max_size=4))
    return [(p, draw(st.sampled_from(RAW[p]))) for p in paths]


def _edit_patch(edits, name="edit"):
    def fn(cfg):
        for path, v in edits:
            cfg = Lens.from_path(RunConfig, path).set(cfg, v)
        return cfg

    return Patch(fn, name=name, doc="raw leaf values")


def _exact(cfg):
    """What validation and the canonical form make of `cfg`, the slow and obvious way."""
    v = msgspec.convert(msgspec.to_builtins(cfg), RunConfig)
    return v, canonical_bytes(v)


TOKEN_EDITS = {  # what each token of the generated specs does, by lenses
    "lr=0.5": [("optim.lr", 0.5)],
    "dropout=-0.0": [("model.dropout", -0.0)],
    "lr=1": [("optim.lr", 1.0)],
}


@LAWS
@given(raw_edits(), raw_edits(), st.sampled_from([[], ["lr=0.5"], ["dropout=-0.0"], ["optim=sgd", "lr=1"]]))
def test_resolved_bytes_are_the_canonical_bytes_of_the_validated_config(start_edits, edits, tokens):
    # a preset and patches that hold raw values: the hash is that of the validated config
    base = _edit_patch(start_edits)(load_registry().presets["tiny"]())
    to_sgd = Patch(lambda cfg: Lens.from_path(RunConfig, "optim").set(cfg, SGD(lr=1)), name="sgd1", doc="int lr")
    reg = Registry.of(Preset(lambda: base, name="raw", doc="raw leaves", source="here"), _edit_patch(edits), to_sgd)
    for spec in (["preset:raw", "+edit", *tokens], ["preset:raw", *tokens, "+sgd1", "+edit"]):
        try:
            want_cfg, want = _exact(_apply(spec[1:], base, edits, to_sgd))
        except (ConfigError, msgspec.ValidationError):  # betas edited on SGD, lr=1 on a lr <= 1 field
            with pytest.raises(ConfigError):
                resolve(spec, registry=reg)
            continue
        r = resolve(spec, registry=reg)
        assert r.canonical == want and r.config == want_cfg
        assert r.hash == config_hash(r.config) == config_hash(json.loads(r.canonical))


def _apply(tokens, cfg, edits, to_sgd):
    for tok in tokens:
        if tok == "+edit":
            cfg = _edit_patch(edits)(cfg)
        elif tok == "+sgd1":
            cfg = to_sgd(cfg)
        elif tok == "optim=sgd":
            cfg = cfg if isinstance(cfg.optim, SGD) else Lens.from_path(RunConfig, "optim").set(cfg, SGD())
        else:
            cfg = _edit_patch(TOKEN_EDITS[tok])(cfg)
    return cfg
