"""resolve(): the token grammar, value parsing, validation, blame, and every bad-input message."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
import msgspec.inspect as mi
import pytest

from nanigpt import conf
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from msgspec import Meta
from strategies import edits, leaf_fields, out_of_range, passes_checks, set_patches, wrong_type_text

from nanigpt.conf import AmbiguousFieldError, CheckError, Config, ConfigError, InvalidValueError, Lens, Patch, PatchError, Registry, Resolver, RunRefError, TokenSyntaxError, UnknownFieldError, UnknownPatchError, UnknownPresetError, UnknownVariantError, ValueTypeError, VariantFieldError, format_value, leaf_paths, patch, preset
from nanigpt.config import load_registry
from nanigpt.config import resolve as app_resolve
from nanigpt.store.rundir import RunStore
from nanigpt.conf._types import reachable_types, spec_of
from nanigpt.config import L, RunConfig
from nanigpt.data.config import ShardData, TextData
from nanigpt.optim.config import AdamW, Muon
from nanigpt.training.runtime import RuntimeOptions


def resolve(tokens, *, root=None, registry=None, runs=None):
    """naniGPT's resolve, or the generic one on `root` (and `registry`)."""
    if root is not None:
        return conf.resolve(tokens, root, registry, runs=runs)
    return app_resolve(tokens, runs=runs, registry=registry)

# -- the grammar -------------------------------------------------------------------------------


def test_resolved_fields():
    r = resolve(["preset:small", "+large", "+fp8", "lr=1e-4"])
    assert re.fullmatch(r"[0-9a-f]{32}", r.hash)
    assert r.short == r.hash[:12]
    assert r.tokens == ("preset:small", "+large", "+fp8", "lr=1e-4")
    assert r.start == "preset:small"
    assert isinstance(r.canonical, bytes) and msgspec.json.decode(r.canonical)["optim"]["lr"] == 1e-4
    m = r.config.model
    assert (m.n_layer, m.n_head, m.n_embd) == (8, 8, 256)
    assert r.config.precision.fp8 is True and r.config.optim.lr == 1e-4


def test_no_start_token_means_the_default_preset_small():
    assert resolve([]).hash == resolve(["preset:small"]).hash
    assert resolve(["lr=1e-4"]).start == "preset:small"


def test_tokens_apply_strictly_left_to_right():
    a = resolve(["preset:tiny", "n_layer=3", "+large"]).config.model.n_layer
    b = resolve(["preset:tiny", "+large", "n_layer=3"]).config.model.n_layer
    assert (a, b) == (6, 3)


def test_dotted_path_and_bare_name_are_the_same():
    assert resolve(["optim.lr=0.01"]).hash == resolve(["lr=0.01"]).hash


def test_bare_name_is_resolved_in_the_current_config():
    # `momentum` exists in muon and sgd, but only one is current: not ambiguous
    r = resolve(["optim=sgd", "momentum=0.5"])
    assert r.config.optim.momentum == 0.5


def test_union_switch_gives_the_variants_defaults():
    r = resolve(["preset:small", "optim=muon"])
    assert r.config.optim == Muon()
    assert r.blame["optim.type"] == "optim=muon" and r.blame["optim.momentum"] == "optim=muon"


def test_switch_to_the_current_variant_changes_nothing():
    a = resolve(["preset:small", "lr=0.01"])
    b = resolve(["preset:small", "lr=0.01", "optim=adamw"])
    assert a.hash == b.hash and a.blame == {**b.blame}
    assert b.blame["optim.lr"] == "lr=0.01"


def test_section_dot_tag_is_a_switch_too():
    assert resolve(["optim.type=muon"]).hash == resolve(["optim=muon"]).hash


def test_variant_with_a_required_field():
    r = resolve(["data=text", "data.path=corpus/a b.txt"])
    assert r.config.data == TextData(path="corpus/a b.txt")


def test_traversal_sets_every_field_with_the_name():
    r = resolve(["preset:small", "...val_fraction=0.2", "...lr=0.5"])
    assert r.config.data.val_fraction == 0.2 and r.config.optim.lr == 0.5
    assert r.blame["optim.lr"] == "...lr=0.5"


def test_traversal_takes_null():
    r = resolve(["preset:gpt2", "...val=null"])
    assert r.config.data.val is None


def test_string_fields_take_the_raw_text():
    r = resolve(["data=text", "data.path=a=b,c", "data.glob=*.md"])
    assert r.config.data.path == "a=b,c" and r.config.data.glob == "*.md"
    r = resolve(["data=shards", "data.train=123", "data.val=null"])
    assert r.config.data == ShardData(train="123", val=None)


def test_values_are_parsed_by_the_field_type():
    r = resolve(["lr=1", "betas=[0.8,0.9]", "eps=1e-6", "bias=true", "norm=rmsnorm", "seed=0"])
    o = r.config.optim
    assert o.lr == 1.0 and type(o.lr) is float
    assert o.betas == (0.8, 0.9) and o.eps == 1e-6
    assert r.config.model.bias is True and r.config.model.norm == "rmsnorm"
    assert resolve(["betas=0.8,0.9"]).config.optim.betas == (0.8, 0.9)
    assert resolve(["betas=[0.8, 0.9]"]).config.optim.betas == (0.8, 0.9)


def test_patch_factory_with_arguments():
    r = resolve(["preset:small", "+with_lr:1e-4"])
    assert r.config.optim.lr == 1e-4 and r.blame["optim.lr"] == "+with_lr:1e-4"


def test_shipped_patches():
    r = resolve(["preset:tiny", "+muon", "+bf16", "+fp8", "+large"])
    c = r.config
    assert isinstance(c.optim, Muon) and c.precision.autocast == "bfloat16" and c.precision.fp8
    assert c.model.n_embd == 64 and c.model.n_embd % 16 == 0 and c.model.head_dim == 16


def test_shipped_presets():
    tiny = resolve(["preset:tiny"]).config
    assert (tiny.model.n_layer, tiny.model.n_head, tiny.model.n_embd, tiny.model.block_size) == (2, 2, 32, 32)
    assert tiny.train.batch_tokens == 32 * 8 and tiny.eval.batches == 2
    small = resolve(["preset:small"]).config
    # the model is fixed by the issue; steps, batch and lr are tuned (see presets/shipped.py)
    assert (small.model.n_layer, small.model.n_head, small.model.n_embd, small.model.block_size) == (4, 4, 128, 128)
    assert isinstance(small.optim, AdamW) and small.schedule.decay == "cosine" and small.schedule.min_lr_ratio == 0.1
    g = resolve(["preset:gpt2"]).config
    assert (g.model.n_layer, g.model.n_embd, g.model.block_size, g.model.vocab_size) == (12, 768, 1024, 50304)
    assert g.data == ShardData(train="data/gpt2/train", val="data/gpt2/val")
    assert (g.train.batch_tokens, g.train.steps, g.schedule.warmup_steps) == (524288, 19073, 715)


# -- blame -------------------------------------------------------------------------------------


def test_blame_covers_every_leaf_and_names_the_last_token_that_changed_it():
    r = resolve(["preset:small", "lr=0.01", "+large", "lr=0.02", "n_layer=8"])
    assert set(r.blame) == set(leaf_paths(r.config))
    assert r.blame["optim.lr"] == "lr=0.02"
    # +large set n_layer to 8 and `n_layer=8` did not change it: +large still owns it
    assert r.blame["model.n_layer"] == "+large" and r.blame["model.n_embd"] == "+large"
    assert r.blame["train.seed"] == "preset:small"


@pytest.mark.parametrize("switch", ["optim=muon", "+muon"])
def test_blame_after_a_variant_switch_has_the_new_variant_and_keeps_the_start(switch):
    # A switch changes the set of leaf paths: blame covers the new variant's leaves, and none of
    # the old one's; the switching token owns them; the leaves it did not touch stay the start's.
    r = resolve(["preset:tiny", switch])
    assert set(r.blame) == set(leaf_paths(r.config))
    assert r.blame["optim.type"] == r.blame["optim.adamw_lr"] == switch
    assert r.blame["train.seed"] == "preset:tiny"


def _outcome(tokens, reg):
    """(hash, blame) of a resolve, or the type and message of its error."""
    try:
        r = resolve(tokens, registry=reg)
    except ConfigError as e:
        return type(e), str(e)
    return r.hash, r.blame


def _named(p, name):
    return Patch(p, name=name, doc=f"{p.name}, registered as {name}")


SMALL = resolve(["preset:small"]).config
SHIPPED_PATCHES = [e for e in load_registry().patches.values() if isinstance(e, Patch)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(SHIPPED_PATCHES), set_patches(SMALL)), min_size=3, max_size=3),
    st.floats(1e-5, 1.0),
)
def test_regrouping_a_patch_chain_changes_neither_hash_nor_blame(ps, lr):
    p, q, r = [load_registry().patches["with_lr"](lr) if x.name == "with_lr" else x for x in ps]
    start = preset(_small)

    def outcome(chain):
        return _outcome(["preset:_small", "+chain"], Registry.of(start, _named(chain, "chain")))

    left, right = outcome((p >> q) >> r), outcome(p >> (q >> r))
    assert left == right  # the same hash and blame, or the same error
    # three tokens instead of one: the same config, and each leaf's owner is the token that
    # last changed it, so every leaf the chain owns is owned by one of them
    sep = _outcome(["preset:_small", "+a", "+b", "+c"], Registry.of(start, *map(_named, (p, q, r), "abc")))
    if isinstance(left[0], type):
        assert sep[0] is left[0]  # the same kind of error, named by another token
        return
    h, blame = left
    assert sep[0] == h and set(sep[1]) == set(blame)
    for path, tok in blame.items():
        if tok == "+chain":
            assert sep[1][path] in ("+a", "+b", "+c"), path
        elif sep[1][path] == "preset:_small":
            assert tok == "preset:_small", path


def _small() -> RunConfig:
    """The shipped small preset (a copy under another name, for a private registry)."""
    return resolve(["preset:small"]).config


# -- generated specs ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.sampled_from(["tiny", "small", "gpt2"]).flatmap(
    lambda n: st.tuples(st.just(n), edits(resolve([f"preset:{n}"]).config))))
def test_generated_specs_resolve_to_what_lenses_compute(case):
    name, (tokens, expected) = case
    expected = msgspec.convert(msgspec.to_builtins(expected), RunConfig)
    assume(passes_checks(expected))
    r = resolve([f"preset:{name}", *tokens])
    assert r.config == expected
    base = resolve([f"preset:{name}"]).config
    changed = {p for p in leaf_paths(expected) if _get(expected, p) != _get(base, p)}
    for path in changed:  # a changed leaf is never blamed on the preset
        assert r.blame[path] in tokens, path


class BrokenCheck(Config):
    """A struct whose cross-field rule has a bug."""

    x: int = 0

    def check(self) -> None:
        raise KeyError("a bug in a check")


def test_passes_checks_says_no_only_to_a_failed_rule():
    assert passes_checks(RunConfig())
    assert not passes_checks(Lens.from_path(RunConfig, "model.n_head").set(RunConfig(), 5))
    with pytest.raises(KeyError):  # a broken check is a bug to see, not a config to skip
        passes_checks(BrokenCheck())


def _get(cfg, path):
    try:
        return Lens.from_path(type(cfg), path).get(cfg)
    except ConfigError:
        return type(Lens.from_path(type(cfg), path.rpartition(".")[0]).get(cfg)).__struct_config__.tag


# -- bad input: one clear line naming the token, the path, the value and a suggestion -----------


def err(tokens, kind=ConfigError, **kw):
    with pytest.raises(kind) as e:
        resolve(tokens, **kw)
    return e.value


def test_unknown_field():
    e = err(["optim.lrr=1"], UnknownFieldError)
    assert str(e) == "in `optim.lrr=1`: unknown field `optim.lrr` (did you mean `optim.lr`?)"
    assert (e.path, e.token) == ("optim.lrr", "optim.lrr=1")
    assert str(err(["lrr=1"], UnknownFieldError)) == "in `lrr=1`: unknown field `lrr` (did you mean `lr`?)"
    assert str(err(["optimm.lr=1"], UnknownFieldError)) == (
        "in `optimm.lr=1`: unknown field `optimm.lr`: there is no top-level field `optimm` (did you mean `optim.lr`?)"
    )


def test_unknown_field_names_the_nearest_valid_parent():
    e = err(["model.foo.bar=1"], UnknownFieldError)
    fields = ", ".join(spec_of(type(RunConfig().model)).names)
    assert str(e) == (
        "in `model.foo.bar=1`: unknown field `model.foo.bar`: `model` has no field `foo` "
        f"(the fields of `model` are {fields})"
    )
    assert str(err(["model.foo=1"], UnknownFieldError)) == (
        f"in `model.foo=1`: unknown field `model.foo` (the fields of `model` are {fields})"
    )
    assert str(err(["foo.bar=1"], UnknownFieldError)) == (
        "in `foo.bar=1`: unknown field `foo.bar`: there is no top-level field `foo` "
        f"(the top-level fields are {', '.join(RunConfig.__struct_fields__)})"
    )
    # the last name may be a field of the parent: `model.block.n_layer` -> `model.n_layer`
    assert "(did you mean `model.n_layer` or `model.block_size`?)" in str(err(["model.block.n_layer=3"]))


@pytest.mark.parametrize(
    "tokens",
    [
        ["LR=1e-4"], ["N_LAYR=3"], ["Optim.lr=1e-3"], ["optim.LR=1e-3"], ["...LR=0.1"], ["model.block.n_layer=8"],
        ["+LARGE"], ["+lage"], ["preset:TINY"], ["preset:smal"], ["optim=AdamW"], ["norm=RMSNorm"], ["norm=rmsnrom"],
    ],
)
def test_every_did_you_mean_resolves(tokens):
    # names match up to case first (`LR` is `lr`), then by difflib; each suggestion, put in place
    # of the bad name, resolves
    e = err(tokens)
    hint = re.search(r"did you mean (.*?)\?", str(e))
    assert hint, str(e)
    bad = tokens[-1]
    path, eq, value = bad.partition("=")
    for s in re.findall(r"`([^`]+)`", hint.group(1)):
        if not eq or s.startswith(("+", "preset:")):
            fixed = s
        elif isinstance(e, (UnknownVariantError, ValueTypeError)):  # a value was mistyped
            fixed = f"{path}={s}"
        else:
            fixed = f"{s}={value}"
        resolve([*tokens[:-1], fixed])


def test_field_of_another_variant():
    e = err(["momentum=0.9"], VariantFieldError)
    assert str(e) == (
        "in `momentum=0.9`: no field `momentum` in the current config: it is a field of `optim` "
        "variant(s) muon, sgd (switch first: optim=muon momentum=...)"
    )
    e = err(["optim.momentum=0.9"], VariantFieldError)
    assert "`optim` is currently `adamw`" in str(e) and "switch first: optim=muon" in str(e)


def test_unknown_patch():
    e = err(["+lage"], UnknownPatchError)
    assert str(e) == "in `+lage`: unknown patch `+lage` (did you mean `+large`? `nanigpt patches` lists them)"


def test_unknown_preset():
    e = err(["preset:smal"], UnknownPresetError)
    known = ", ".join(load_registry().presets)  # shipped presets grow; gpt2, small, tiny at least
    assert str(e) == (
        f"in `preset:smal`: unknown preset `smal` (did you mean `preset:small`? presets: {known}; "
        "`nanigpt presets` describes them)"
    )


def test_preset_not_first():
    e = err(["lr=1e-3", "preset:small"], TokenSyntaxError)
    assert str(e) == (
        "in `preset:small`: `preset:` must be the first token (move it to the front: preset:small lr=1e-3)"
    )
    assert isinstance(err(["+large", "run:abcd"], TokenSyntaxError), TokenSyntaxError)


@pytest.mark.parametrize(
    "tokens",
    [
        ["lr=1e-3", "preset:tiny"], ["preset:tiny", "lr=1e-3", "preset:tiny"], ["preset:small", "preset:tiny"],
        ["preset:tiny", "+large", "preset:small"], ["lr=1e-3", "preset:tiny", "+large", "preset:small", "preset:tiny"],
    ],
)
def test_every_fix_for_a_misplaced_start_resolves(tokens):
    # one start token, first: moved there, a repeat dropped, or (two starts) one kept; never two
    e = err(tokens, TokenSyntaxError)
    two = len(set(t for t in tokens if t.startswith("preset:"))) > 1
    fixes = (r"keep one: `([^`]+)` or `([^`]+)`" if two
             else r"(?:move it to the front|drop the repeat): ([^`]+)")  # fmt: skip
    m = re.fullmatch(fixes, e.suggestion)
    assert m is not None, e.suggestion
    rest = [t for t in tokens if not t.startswith("preset:")]
    for spec in m.groups():
        r = resolve(spec.split())
        assert r.tokens[0] == r.start and sum(t.startswith("preset:") for t in r.tokens) == 1
        assert list(r.tokens[1:]) == rest  # every other token kept, in its order
    if two:
        assert str(e).startswith(f"in `{e.token}`: a spec has one start token, first; this one has 2: ")


def test_an_empty_value_offers_null_only_where_it_means_none():
    # `lr` is a float and `data.path` a string, where `null` would be the text "null": VALUE only
    for tok in ("lr=", "data.path=", "optim.lr=", "...lr="):
        assert err(["preset:small", tok], TokenSyntaxError).suggestion == f"write {tok}VALUE"
    # `data.val` of token shards may be null (no validation split): `data.val=null` means that
    for tok in ("data.val=", "...val="):
        e = err(["preset:gpt2", tok], TokenSyntaxError)
        assert e.suggestion == f"write {tok}VALUE, or {tok}null for none"
        assert resolve(["preset:gpt2", f"{tok}null"]).config.data.val is None


def test_factory_without_arguments_says_how_to_call_it():
    for tok in ("+with_lr", "+with_lr:"):
        e = err([tok])
        assert e.suggestion == "write +with_lr:LR with LR a float", tok
        assert resolve([e.suggestion.split()[1].replace("LR", "1e-4")]).config.optim.lr == 1e-4
    e = err(["+large:"], TokenSyntaxError)  # a plain patch: drop the colon
    assert e.suggestion == "`+large` takes no arguments: write +large"
    resolve([e.suggestion.rpartition(" ")[2]])


def test_wrong_type():
    e = err(["preset:tiny", "lr=abc"], ValueTypeError)
    assert str(e) == "in `lr=abc`: `optim.lr` expects a float, got `abc` (e.g. lr=0.001)"
    assert e.path == "optim.lr"


def test_float_for_an_int_and_bool_for_an_int():
    assert str(err(["preset:tiny", "n_layer=1.5"], ValueTypeError)) == (
        "in `n_layer=1.5`: `model.n_layer` expects an integer, got `1.5` (e.g. n_layer=2)"
    )
    assert str(err(["preset:tiny", "n_layer=true"], ValueTypeError)) == (
        "in `n_layer=true`: `model.n_layer` expects an integer, got `true` (e.g. n_layer=2)"
    )
    err(["n_layer=1e3"], ValueTypeError)
    err(["bias=1"], ValueTypeError)


def test_out_of_range():
    e = err(["lr=-1"], InvalidValueError)
    assert str(e) == (
        "in `lr=-1`: `optim.lr`=-1.0 is out of range: expected `float` > 0.0 (the current value is 0.003)"
    )
    e = err(["n_layer=0"], InvalidValueError)
    assert str(e) == (
        "in `n_layer=0`: `model.n_layer`=0 is out of range: expected `int` >= 1 (the current value is 4)"
    )
    assert e.path == "model.n_layer"
    e = err(["betas=0.9,1.5"], InvalidValueError)
    assert e.path == "optim.betas" and e.token == "betas=0.9,1.5"


def test_out_of_range_hint_is_the_value_before_the_token_not_the_class_default():
    # GPTConfig's default n_layer is 6; preset:tiny has 2, and +large doubles it to 4
    assert err(["preset:tiny", "n_layer=0"]).suggestion == "the current value is 2"
    assert err(["preset:tiny", "+large", "n_layer=0"]).suggestion == "the current value is 4"
    assert err(["preset:tiny", "+muon", "momentum=1.5"]).suggestion == "the current value is 0.95"
    assert err(["preset:tiny", "n_layer=0", "+large"]).suggestion == "the current value is 2"  # a patch that follows
    assert err(["preset:tiny", "lr=-1", "lr=-2"]).suggestion is None  # the value before was no better
    assert err(["preset:tiny", "optim=sgd", "momentum=2"]).suggestion == "the current value is 0.9"
    # the start itself out of range: the range is all there is to say
    bad = Resolver(Root, Registry.of(preset(name="shallow")(_shallow)))
    with pytest.raises(InvalidValueError) as e:
        bad.resolve(["preset:shallow", "seed=1"])
    assert str(e.value) == "in `preset:shallow`: `a.depth`=0 is out of range: expected `int` >= 1"


def _shallow() -> Root:
    """A depth out of range."""
    return Root(a=A(depth=0))


def test_huge_ints_are_out_of_range():
    # ints have upper bounds too: a typo of many digits is an error, not a model that never builds
    big = "99999999999999999999999"
    e = err([f"model.n_layer={big}"], InvalidValueError)
    assert str(e) == (
        f"in `model.n_layer={big}`: `model.n_layer`={big} is out of range: expected `int` <= 1024 "
        "(the current value is 4)"
    )
    assert (e.path, e.token) == ("model.n_layer", f"model.n_layer={big}")
    e = err([f"seed={2**63}"], InvalidValueError)
    assert e.path == "train.seed" and "expected `int` <= 9223372036854775807" in str(e)
    assert resolve([f"seed={2**63 - 1}"]).config.train.seed == 2**63 - 1


def test_every_int_and_float_leaf_has_an_upper_bound():
    for t in [*reachable_types(RunConfig), RuntimeOptions]:
        for f in spec_of(t).fields.values():
            info = mi.type_info(f.annotation)
            for x in _numbers(info):
                assert x.le is not None or x.lt is not None, f"{t.__name__}.{f.name} has no upper bound"


def _numbers(t):
    if isinstance(t, mi.Metadata):
        return _numbers(t.type)
    if isinstance(t, (mi.IntType, mi.FloatType)):
        return [t]
    if isinstance(t, mi.TupleType):
        return [x for i in t.item_types for x in _numbers(i)]
    if isinstance(t, mi.UnionType):
        return [x for i in t.types for x in _numbers(i)]
    return []


def test_shards_need_a_vocabulary_that_fits_uint16():
    assert resolve(["preset:gpt2", "model.vocab_size=65536"]).config.model.vocab_size == 65536
    e = err(["preset:gpt2", "model.vocab_size=65537"], CheckError)
    assert str(e) == (
        "in `model.vocab_size=65537`: token shards hold uint16 token ids, so `model.vocab_size` must be <= 65536, "
        "got 65537 [`model.vocab_size` set by `model.vocab_size=65537`, `data` set by `preset:gpt2`] "
        "(set model.vocab_size=65536 or less)"
    )
    # byte-level text is bounded by the schema only
    assert resolve(["preset:tiny", "model.vocab_size=100000"]).config.model.vocab_size == 100000


def test_range_error_blames_the_token_that_set_the_value_not_the_last_one():
    e = err(["n_layer=0", "lr=0.1", "+fp8"], InvalidValueError)
    assert e.token == "n_layer=0"


def test_cross_field_violation_names_both_fields_and_their_tokens():
    e = err(["preset:tiny", "n_head=5"], CheckError)
    assert str(e) == (
        "in `n_head=5`: `model.n_embd`=32 is not divisible by `model.n_head`=5 "
        "[`model.n_embd` set by `preset:tiny`, `model.n_head` set by `n_head=5`] "
        "(pick n_embd as a multiple of n_head)"
    )
    assert e.paths == ("model.n_embd", "model.n_head")
    assert e.tokens == {"model.n_embd": "preset:tiny", "model.n_head": "n_head=5"}
    # both fields set by tokens: the message names the later one first
    e = err(["preset:tiny", "n_embd=30", "n_head=4"], CheckError)
    assert e.token == "n_head=4" and e.tokens == {"model.n_embd": "n_embd=30", "model.n_head": "n_head=4"}


def test_ambiguous_bare_name():
    e = err(["type=muon"], AmbiguousFieldError)
    assert str(e) == (
        "in `type=muon`: `type` is ambiguous: it names `data.type`, `optim.type` "
        "(`type` picks a section's variant: write `optim=muon`)"
    )
    assert e.paths == ("data.type", "optim.type")
    assert str(err(["type=text"])).endswith("(`type` picks a section's variant: write `data=text` and then data.path=...)")
    assert str(err(["type=foo"])).endswith(
        "(`type` picks a section's variant, and `foo` is no variant: data=builtin|text|shards; optim=adamw|muon|sgd)"
    )
    # a tag is not a field, so `...type=` is no way to set it either, and says what is
    assert str(err(["...type=muon"], UnknownFieldError)) == (
        "in `...type=muon`: no field is called `type` anywhere in a `RunConfig` "
        "(`type` picks a section's variant: write `optim=muon`)"
    )


@pytest.mark.parametrize(
    "tokens, root",
    [
        (["type=muon"], None), (["type=sgd"], None), (["type=text"], None), (["type=shards"], None),
        (["...type=muon"], None), (["preset:tiny", "+muon", "type=adamw"], None),
        (["lr=0.5"], "Root"), (["preset:x", "lr=0.25"], "Root"),
    ],
)
def test_every_token_the_ambiguity_error_suggests_resolves(tokens, root):
    kw = {"root": Root, "registry": Registry.of(preset(name="x")(_root))} if root else {}
    e = err(tokens, **kw)
    offered = re.findall(r"`([^`]*=[^`]*)`", e.suggestion or "")
    assert offered, str(e)
    for tok in offered:
        # a switch to a variant with required fields says which; set them, as it says
        required = re.findall(rf"`{re.escape(tok)}` and then ((?:\S+=\.\.\.\s?)+)", e.suggestion)
        extra = [r.replace("...", "x") for r in required[0].split()] if required else []
        r = resolve([*tokens[:-1], tok, *extra], **kw)
        assert r.config != resolve(tokens[:-1], **kw).config  # and it did what was asked


def _root() -> Root:
    """The generic root's defaults."""
    return Root()


@pytest.mark.parametrize(
    "tok, message",
    [
        ("=3", "in `=3`: no field name before `=` (write path=value, e.g. lr=3)"),
        ("lr==3", "in `lr==3`: `==` is not an assignment (write lr=3)"),
        ("+", "in `+`: `+` needs a patch name (e.g. +large; `nanigpt patches` lists them)"),
        ("lr=", "in `lr=`: no value after `lr=` (write lr=VALUE)"),
        ("", "empty token (a token is preset:NAME, run:HASH, defaults, +PATCH, +FACTORY:ARGS, path=value or ...name=value)"),
        ("small", "in `small`: `small` is not a token (did you mean `preset:small`?)"),
        ("large", "in `large`: `large` is not a token (did you mean `+large`?)"),
        ("optim..lr=1", "in `optim..lr=1`: `optim..lr` is not a field path (a dotted path of field names "
         "(optim.lr), a field name (lr), or ...name)"),
        ("preset:", "in `preset:`: `preset:` needs a name (e.g. preset:small)"),
        ("+with_lr:", "in `+with_lr:`: `+with_lr:` has no arguments after `:` (write +with_lr:LR with LR a float)"),
        ("run:xyz", "in `run:xyz`: `run:` needs a hash or a unique prefix of at least 4 hex digits, got `xyz` "
         "(`nanigpt runs` lists them)"),
    ],
)
def test_malformed_tokens(tok, message):
    e = err(["preset:small", tok], TokenSyntaxError)
    assert str(e).replace("in ``: ", "") == message


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "1e999", "-1e999"])
def test_nan_and_inf_are_refused(text):
    e = err([f"lr={text}"], ValueTypeError)
    assert str(e) == (
        f"in `lr={text}`: `optim.lr` must be a finite number, got `{text}` (NaN and infinities are not allowed)"
    )


def test_unknown_union_tag():
    e = err(["optim=adamx"], UnknownVariantError)
    assert str(e) == "in `optim=adamx`: unknown `optim` variant `adamx` (did you mean `adamw`? variants: adamw, muon, sgd)"


def test_unknown_literal():
    assert str(err(["norm=rmsnrom"], ValueTypeError)) == (
        "in `norm=rmsnrom`: `model.norm` expects one of 'layernorm', 'rmsnorm', got `rmsnrom` (did you mean `rmsnorm`?)"
    )


def test_tuple_of_the_wrong_length():
    assert str(err(["betas=0.9"], ValueTypeError)) == (
        "in `betas=0.9`: `optim.betas` expects a tuple of 2 (float, float), got `0.9` (e.g. betas=0.9,0.95)"
    )


def test_python_tuple_syntax_says_how_tuples_are_written():
    assert str(err(["betas=(0.9,0.95)"], ValueTypeError)) == (
        "in `betas=(0.9,0.95)`: `optim.betas` expects a tuple of 2 (float, float), got `(0.9,0.95)` "
        "(tuples are written 0.9,0.95 or [0.9,0.95])"
    )
    for tok in ("betas=0.9,0.95", "betas=[0.9,0.95]"):  # what it suggests works
        assert resolve([tok]).config.optim.betas == (0.9, 0.95)


def test_required_field_of_a_switched_variant_left_unset():
    assert str(err(["data=text"], ValueTypeError)) == (
        "in `data=text`: `data.path` is required by `data=text` and was not set (add data.path=...)"
    )


def test_section_is_not_a_value():
    assert str(err(["model=3"], ValueTypeError)) == (
        "in `model=3`: `model` is a section, not a value (set its fields, e.g. model.n_layer=...)"
    )


def test_leaf_is_not_a_section():
    assert str(err(["model.n_layer.x=1"], UnknownFieldError)) == (
        "in `model.n_layer.x=1`: `model.n_layer` is an integer, not a section, so `model.n_layer.x` does not exist"
    )


def test_patch_argument_errors():
    assert str(err(["+with_lr"], PatchError)) == (
        "in `+with_lr`: `+with_lr` needs arguments (write +with_lr:LR with LR a float)"
    )
    assert str(err(["+with_lr:abc"], PatchError)) == (
        "in `+with_lr:abc`: argument `lr` of `with_lr` expects a float, got `abc` (write +with_lr:LR)"
    )
    assert str(err(["+with_lr:1,2"], PatchError)) == (
        "in `+with_lr:1,2`: patch factory `with_lr` takes 1 argument(s), got 2: `1,2` (write +with_lr:LR with LR a float)"
    )
    assert str(err(["+large:3"], PatchError)) == "in `+large:3`: `+large` takes no arguments, got `3` (write +large)"


def test_patch_errors_are_attributed_to_their_token():
    @patch
    def boom(cfg: RunConfig) -> RunConfig:
        """Fails."""
        raise RuntimeError("no")

    @patch
    def wrong(cfg: RunConfig) -> RunConfig:
        """Returns the wrong thing."""
        return cfg.model

    @patch
    def variant(cfg: RunConfig) -> RunConfig:
        """Sets a field the current variant lacks."""
        return L.optim.momentum.set(cfg, 0.1)

    reg = Registry.of(preset(_small), boom, wrong, variant)
    e = err(["preset:_small", "+boom"], PatchError, registry=reg)
    assert str(e).startswith("in `+boom`: patch `boom` (") and str(e).endswith("failed: RuntimeError: no")
    e = err(["preset:_small", "+wrong"], PatchError, registry=reg)
    assert "returned GPTConfig, not a RunConfig" in str(e)
    e = err(["preset:_small", "+variant"], VariantFieldError, registry=reg)
    assert e.token == "+variant"


# -- run:HASH ----------------------------------------------------------------------------------


def test_run_forks_a_stored_config(tmp_path):
    store = RunStore(tmp_path)
    a = resolve(["preset:tiny", "lr=0.01"])
    store.create(a.hash, a.canonical, {"tokens": list(a.tokens)})
    b = resolve([f"run:{a.short[:6]}", "seed=7"], runs=store)
    assert b.start == f"run:{a.hash}"
    assert b.config == resolve(["preset:tiny", "lr=0.01", "seed=7"]).config
    assert b.blame["optim.lr"] == f"run:{a.hash}" and b.blame["train.seed"] == "seed=7"
    assert resolve([f"run:{a.hash}"], runs=store).hash == a.hash


def test_run_without_a_store():
    assert str(err(["run:abcd"], RunRefError)) == (
        "in `run:abcd`: `run:` needs a run store to look the hash up in "
        "(use it from the nanigpt command line, or pass runs=RunStore(...) to resolve())"
    )


def test_run_unknown_hash(tmp_path):
    e = err(["run:abcd"], runs=RunStore(tmp_path))
    assert str(e).startswith("in `run:abcd`: no run 'abcd'")


def test_run_whose_config_no_longer_decodes(tmp_path):
    store = RunStore(tmp_path)
    old = msgspec.json.decode(resolve(["preset:tiny"]).canonical)
    old["schema_version"] = 0
    old["model"]["n_layers_old"] = 3
    from nanigpt.conf import canonical_bytes, config_hash

    store.create(config_hash(old), canonical_bytes(old), {"tokens": []})
    e = err([f"run:{config_hash(old)[:8]}"], RunRefError, runs=store)
    assert "no longer decodes (it has schema_version 0, this naniGPT reads 1)" in str(e)
    assert "`nanigpt show` still prints it" in str(e)


# -- a generic root: the machinery does not assume RunConfig -----------------------------------


class A(Config):
    """A section."""

    lr: Annotated[float, Meta(gt=0)] = 0.1
    depth: Annotated[int, Meta(ge=1)] = 2


class B(Config):
    """Another section with an `lr`."""

    lr: Annotated[float, Meta(gt=0)] = 0.2
    name: str = "b"


class Root(Config):
    """A root with two `lr` fields."""

    a: A = A()
    b: B = B()
    seed: int = 0


def test_generic_root_and_ambiguous_name():
    res = Resolver(Root)
    r = res.resolve(["a.lr=0.5", "seed=3"])
    assert r.start == "defaults" and r.config == Root(a=A(lr=0.5), seed=3)
    with pytest.raises(AmbiguousFieldError) as e:
        res.resolve(["lr=0.5"])
    assert str(e.value) == (
        "in `lr=0.5`: `lr` is ambiguous: it names `a.lr`, `b.lr` "
        "(write `a.lr=0.5` or `b.lr=0.5`, or `...lr=0.5` to set them all)"
    )
    with pytest.raises(AmbiguousFieldError, match=r"\(write the full path: a.lr=... or b.lr=...\)$"):
        res.resolve(["lr=abc"])  # no field takes `abc`: no token to offer
    assert res.resolve(["...lr=0.5"]).config == Root(a=A(lr=0.5), b=B(lr=0.5))
    assert res.resolve(["depth=4"]).config.a.depth == 4
    with pytest.raises(InvalidValueError, match=r"`a.depth`=0 is out of range"):
        res.resolve(["depth=0"])
    assert conf.resolve(["b.name=x"], Root, Registry()).config.b.name == "x"


# -- generated bad input ---------------------------------------------------------------------


@st.composite
def bad_leaf_token(draw, wrong_type: bool):
    cfg = resolve(["preset:tiny"]).config
    make = wrong_type_text if wrong_type else out_of_range
    candidates = [(p, t) for p, t in leaf_fields(cfg) if make(t) is not None]
    path, t = draw(st.sampled_from(candidates))
    text = draw(wrong_type_text(t)) if wrong_type else format_value(draw(out_of_range(t)))
    return path, f"{path}={text}"


@settings(max_examples=60, deadline=None)
@given(bad_leaf_token(wrong_type=False))
def test_any_out_of_range_value_names_its_path_and_token(case):
    path, tok = case
    with pytest.raises(InvalidValueError) as e:
        resolve(["preset:tiny", "seed=1", tok, "+bf16"])
    assert (e.value.path, e.value.token) == (path, tok)
    assert str(e.value).startswith(f"in `{tok}`: `{path}`=")


@settings(max_examples=60, deadline=None)
@given(bad_leaf_token(wrong_type=True))
def test_any_value_of_the_wrong_type_names_its_path_and_token(case):
    path, tok = case
    with pytest.raises(ValueTypeError) as e:
        resolve(["preset:tiny", tok])
    assert (e.value.path, e.value.token) == (path, tok)
    assert str(e.value).startswith(f"in `{tok}`: `{path}` ")


def test_a_string_is_not_a_token_list():
    with pytest.raises(TokenSyntaxError, match=r"takes a list of tokens, not the string 'preset:small \+large'"):
        resolve("preset:small +large")  # type: ignore[arg-type]


def test_a_bare_name_of_a_data_variant_s_field_suggests_that_field():
    # `train` is a root section and also ShardData's path: after the switch, set it there; before
    # it, switch first. Each suggestion, pasted in, resolves.
    for before, fix in (
        (["preset:tiny", "data=shards"], ["data.train=/x"]),
        (["preset:tiny"], ["data=shards", "data.train=/x"]),
    ):
        e = err([*before, "train=/x"], ValueTypeError)
        assert e.suggestion == f"did you mean `{' '.join(fix)}`?"
        assert resolve([*before, *fix]).config.data.train == "/x"
    assert err(["preset:tiny", "model=/x"], ValueTypeError).suggestion == "set its fields, e.g. model.n_layer=..."
