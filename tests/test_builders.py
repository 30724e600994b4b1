"""The builder registry: complete over the schema, and each builder builds its component."""

from __future__ import annotations

import types

import msgspec
import pytest
import torch
from msgspec import inspect as mi

from nanigpt.builders import CONSUMED_BY_LOOP, build
from nanigpt.config import RunConfig
from nanigpt.conf import Config
from nanigpt.model.config import GPTConfig
from nanigpt.model.gpt import GPT
from nanigpt.optim.config import SGD, AdamW, Muon, ScheduleConfig
from nanigpt.training.config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")  # comparisons of numbers hold at a fixed thread count


def struct_types(t: mi.Type) -> set[type]:
    """Every struct type reachable from the msgspec type `t`, union variants included."""
    if isinstance(t, mi.StructType):
        found = {t.cls}
        for field in t.fields:
            found |= struct_types(field.type)
        return found
    if isinstance(t, mi.Metadata):
        return struct_types(t.type)
    children: list[mi.Type] = []
    for attr in ("types", "item_types"):  # unions, fixed tuples
        children += list(getattr(t, attr, ()))
    for attr in ("item_type", "key_type", "value_type"):  # lists, sets, dicts
        if getattr(t, attr, None) is not None:
            children.append(getattr(t, attr))
    return set().union(*(struct_types(c) for c in children)) if children else set()


REACHABLE = struct_types(mi.type_info(RunConfig))


def has_builder(t: type) -> bool:
    return build.dispatch(t) is not build.dispatch(object)


def test_the_walk_sees_every_section_and_every_union_variant():
    names = {t.__name__ for t in REACHABLE}
    assert {"RunConfig", "GPTConfig", "AdamW", "Muon", "SGD", "ScheduleConfig", "TrainConfig"} <= names
    assert {"BuiltinData", "TextData", "ShardData", "EvalConfig", "PrecisionConfig"} <= names
    assert all(issubclass(t, Config) for t in REACHABLE)


@pytest.mark.parametrize("t", sorted(REACHABLE, key=lambda t: t.__name__), ids=lambda t: t.__name__)
def test_every_reachable_struct_has_a_builder_or_a_declared_reader(t):
    assert has_builder(t) != (t in CONSUMED_BY_LOOP), (
        f"{t.__name__}: register a builder with @build.register, or add it to CONSUMED_BY_LOOP "
        "(exactly one of the two)"
    )


def test_consumed_mapping_names_only_reachable_structs():
    assert set(CONSUMED_BY_LOOP) <= REACHABLE


def test_unknown_and_consumed_types_are_clear_errors():
    with pytest.raises(TypeError, match=r"no builder for `dict` \(builders exist for: AdamW, .*GPTConfig"):
        build({"n_layer": 2})
    with pytest.raises(TypeError, match=r"`TrainConfig` has no builder: it is read by the training loop"):
        build(TrainConfig())
    # A builder gets its own section, never the whole run config.
    with pytest.raises(TypeError, match=r"`RunConfig` has no builder"):
        build(RunConfig())


def test_build_the_model_anywhere_and_reproducibly():
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=32)
    a = build(cfg, generator=torch.Generator().manual_seed(1))
    b = build(cfg, device="cpu", generator=torch.Generator().manual_seed(1))
    assert isinstance(a, GPT) and a.cfg == cfg
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    meta = build(cfg, device="meta")
    assert all(p.is_meta for p in meta.parameters())
    with torch.device("meta"):  # the ambient default device is honoured when none is given
        assert all(p.is_meta for p in build(cfg).parameters())
    assert meta.num_params() == a.num_params()


def test_the_model_init_generator_must_live_on_the_cpu():
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=32)
    # A stand-in for a CUDA generator, which a machine without a GPU cannot make: the builder
    # refuses it before anything touches the device.
    cuda_generator = types.SimpleNamespace(device=torch.device("cuda", 0))
    with pytest.raises(ValueError, match="must be a CPU generator, got one on cuda:0"):
        build(cfg, device="cuda", generator=cuda_generator)


@pytest.mark.parametrize("cfg", [AdamW(), Muon(), SGD()], ids=lambda c: type(c).__name__)
def test_optimizers_take_the_model(cfg):
    model = build(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=32))
    opt = build(cfg, model=model)
    assert isinstance(opt, torch.optim.Optimizer)
    assert {id(p) for g in opt.param_groups for p in g["params"]} == {id(p) for p in model.parameters()}
    assert all("base_lr" in g and "name" in g for g in opt.param_groups)


def test_schedule_takes_the_steps():
    f = build(ScheduleConfig(warmup_steps=10), steps=100)
    assert f(0) == pytest.approx(0.1) and f(99) == pytest.approx(0.1) and f(10) == 1.0


def test_default_run_config_builds_end_to_end():
    cfg = msgspec.structs.replace(RunConfig(), model=GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=8))
    model = build(cfg.model)
    opt = build(cfg.optim, model=model)
    schedule = build(cfg.schedule, steps=cfg.train.steps)
    assert isinstance(opt, torch.optim.AdamW) and schedule(cfg.train.steps - 1) == cfg.schedule.min_lr_ratio
