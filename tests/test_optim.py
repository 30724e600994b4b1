"""Optimizers (param groups, Muon, checkpoint round trips) and the lr schedule."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from nanigpt.model.config import GPTConfig
from nanigpt.model.gpt import GPT
from nanigpt.optim.config import SGD, AdamW, Muon, ScheduleConfig
from nanigpt.optim.groups import decay_groups, linear_matrices, split_params
from nanigpt.optim.muon import MuonWithAdamW, orthogonalize
from nanigpt.optim.schedule import lr_schedule

pytestmark = pytest.mark.usefixtures("one_thread")  # comparisons of numbers hold at a fixed thread count

TINY = dict(n_layer=2, n_head=2, n_embd=16, block_size=8, vocab_size=32)


def gpt(**overrides) -> GPT:
    return GPT(GPTConfig(**{**TINY, **overrides}), generator=torch.Generator().manual_seed(0))


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 32, (4, 8), generator=g)
    return x, torch.roll(x, -1, dims=1)  # a learnable task: predict the next token of x


def build(cfg, model):
    from nanigpt.builders import build

    return build(cfg, model=model)


def names_of(model: nn.Module, params) -> set[str]:
    by_id = {id(p): n for n, p in model.named_parameters()}
    return {by_id[id(p)] for p in params}


def train_steps(model, opt, n, seed=0) -> list[float]:
    losses = []
    for i in range(n):
        _, loss = model(*batch(seed))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses


# ---- param groups -------------------------------------------------------------------------

BLOCK_MATRICES = {f"blocks.{i}.{n}.weight" for i in range(2) for n in ("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj")}


@pytest.mark.parametrize("tied", [True, False])
def test_weight_decay_only_on_linear_matrices(tied):
    model = gpt(tie_embeddings=tied, bias=True, qk_norm=True)
    groups = decay_groups(model, lr=1e-3, weight_decay=0.1)
    by_name = {g["name"]: g for g in groups}
    decayed = names_of(model, by_name["matrices"]["params"])
    assert decayed == BLOCK_MATRICES | (set() if tied else {"lm_head.weight"})
    assert by_name["matrices"]["weight_decay"] == 0.1 and by_name["other"]["weight_decay"] == 0.0
    other = names_of(model, by_name["other"]["params"])
    assert "wte.weight" in other and "wpe.weight" in other
    assert all(n.endswith("bias") or "norm" in n or n.startswith("w") for n in other)
    # Every trainable parameter exactly once.
    all_params = [p for g in groups for p in g["params"]]
    assert len(all_params) == len({id(p) for p in all_params}) == len(list(model.parameters()))


def test_groups_are_found_through_a_compile_wrapper():
    model = gpt()
    wrapped = torch.compile(model)  # an OptimizedModule; nothing compiles until it is called
    assert names_of(model, linear_matrices(wrapped)) == BLOCK_MATRICES


def test_a_linear_sharing_an_embedding_weight_is_not_decayed():
    emb, head = nn.Embedding(10, 4), nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    model = nn.ModuleDict({"emb": emb, "hidden": nn.Linear(4, 4), "head": head})
    matrices, rest = split_params(model)
    assert [id(p) for p in matrices] == [id(model["hidden"].weight)]
    assert {id(p) for p in rest} == {id(emb.weight), id(model["hidden"].bias)}


@pytest.mark.parametrize("cfg", [AdamW(), SGD(), Muon()], ids=lambda c: type(c).__name__)
def test_every_group_carries_its_peak_lr_as_base_lr(cfg):
    opt = build(cfg, gpt(tie_embeddings=False))
    for g in opt.param_groups:
        assert g["lr"] == g["base_lr"]
        want = cfg.adamw_lr if isinstance(cfg, Muon) and g["kind"] == "adamw" else cfg.lr
        assert g["base_lr"] == want, g["name"]


def test_adamw_builder_settings():
    cfg = AdamW(lr=3e-4, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.05)
    opt = build(cfg, gpt())
    assert isinstance(opt, torch.optim.AdamW)
    for g in opt.param_groups:
        assert g["betas"] == (0.8, 0.9) and g["eps"] == 1e-6 and g["fused"] is True
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]


def test_sgd_builder_settings_and_nesterov():
    opt = build(SGD(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01), gpt())
    assert isinstance(opt, torch.optim.SGD)
    assert all(g["momentum"] == 0.8 and g["nesterov"] for g in opt.param_groups)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]


def test_sgd_nesterov_without_momentum_is_a_config_error():
    from nanigpt.conf import CheckError

    with pytest.raises(CheckError, match=r"`optim.nesterov`=true needs `optim.momentum` > 0"):
        SGD(nesterov=True, momentum=0.0).check()
    SGD(nesterov=False, momentum=0.0).check()


def test_muon_groups():
    model = gpt(tie_embeddings=False, bias=True, qk_norm=True)
    opt = build(Muon(), model)
    assert isinstance(opt, MuonWithAdamW)
    by_name = {g["name"]: g for g in opt.param_groups}
    assert names_of(model, by_name["muon_qkv"]["params"]) == {"blocks.0.attn.qkv.weight", "blocks.1.attn.qkv.weight"}
    assert by_name["muon_qkv"]["split"] == 3 and by_name["muon"]["split"] == 1
    assert names_of(model, by_name["muon"]["params"]) == BLOCK_MATRICES - names_of(model, by_name["muon_qkv"]["params"])
    adamw = names_of(model, by_name["adamw"]["params"])
    assert {"wte.weight", "wpe.weight", "lm_head.weight", "blocks.0.attn.q_norm.weight", "blocks.1.mlp.fc.bias"} <= adamw
    assert not adamw & BLOCK_MATRICES
    assert len(adamw) + len(BLOCK_MATRICES) == len(list(model.parameters()))


# ---- Newton-Schulz and Muon ----------------------------------------------------------------


def with_singular_values(rows: int, cols: int, seed: int, lo: float) -> torch.Tensor:
    """A random (rows, cols) matrix whose singular values are spread over [lo, 1]."""
    g = torch.Generator().manual_seed(seed)
    k = min(rows, cols)
    U, _ = torch.linalg.qr(torch.randn(rows, k, generator=g, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(cols, k, generator=g, dtype=torch.float64))
    s = torch.linspace(lo, 1.0, k, dtype=torch.float64)
    return (U * s) @ V.T


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 48), cols=st.integers(1, 48), seed=st.integers(0, 2**16), scale=st.floats(1e-3, 1e3))
def test_newton_schulz_orthogonalizes_and_keeps_the_singular_vectors(rows, cols, seed, scale):
    G = with_singular_values(rows, cols, seed, lo=0.1) * scale
    X = orthogonalize(G.float(), steps=5).double()
    assert X.shape == G.shape and X.dtype == torch.float64
    s = torch.linalg.svdvals(X)
    # Keller Jordan's coefficients trade exactness for speed: singular values near, not at, 1.
    assert s.min() > 0.6 and s.max() < 1.25, s
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    inner = U.T @ X @ Vh.T  # diagonal iff X has G's singular vectors
    off = inner - torch.diag_embed(inner.diagonal())
    assert off.norm() < 1e-3 * inner.norm()


def test_newton_schulz_batch_equals_one_by_one():
    G = torch.randn(3, 8, 12, generator=torch.Generator().manual_seed(0))
    batched = orthogonalize(G, 5)
    for i in range(3):
        torch.testing.assert_close(batched[i], orthogonalize(G[i], 5), atol=1e-5, rtol=1e-5)


def polar(M: torch.Tensor) -> torch.Tensor:
    U, _, Vh = torch.linalg.svd(M.double(), full_matrices=False)
    return U @ Vh


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double().flatten() @ b.double().flatten() / (a.norm() * b.norm())).item()


def test_muon_update_is_the_orthogonalized_momentum():
    # One Muon step from zero momentum: the update is lr * scale * NS(g), with NS(g) ~ polar(g).
    fc = nn.Linear(8, 32, bias=False)  # tall: 32 rows, 8 columns -> scale 2
    g = torch.randn(32, 8, generator=torch.Generator().manual_seed(1))
    fc.weight.grad = g.clone()
    before = fc.weight.detach().clone()
    opt = MuonWithAdamW(
        [{"kind": "muon", "params": [fc.weight], "lr": 0.1, "momentum": 0.9, "nesterov": True, "ns_steps": 5, "weight_decay": 0.0}]
    )
    opt.step()
    update = (before - fc.weight.detach()) / (0.1 * 2.0)
    s = torch.linalg.svdvals(update)
    assert s.min() > 0.6 and s.max() < 1.25
    assert cosine(update, polar(g)) > 0.97
    assert torch.equal(fc.weight.grad, g)  # the gradient itself is left alone


@pytest.mark.parametrize("nesterov", [True, False])
def test_muon_second_step_follows_plain_or_nesterov_momentum(nesterov):
    # After one step every momentum is a multiple of the gradient; the second step tells them apart.
    fc = nn.Linear(8, 32, bias=False)
    g1, g2 = (torch.randn(32, 8, generator=torch.Generator().manual_seed(s)) for s in (1, 2))
    opt = MuonWithAdamW(
        [{"kind": "muon", "params": [fc.weight], "lr": 0.1, "momentum": 0.9, "nesterov": nesterov, "ns_steps": 5, "weight_decay": 0.0}]
    )
    fc.weight.grad = g1.clone()
    opt.step()
    before = fc.weight.detach().clone()
    fc.weight.grad = g2.clone()
    opt.step()
    update = before - fc.weight.detach()
    buf = 0.9 * (0.1 * g1) + 0.1 * g2  # the EMA of the gradients
    look_ahead = g2 + 0.9 * (buf - g2)  # Nesterov: the gradient moved toward the EMA
    want, other = (look_ahead, buf) if nesterov else (buf, look_ahead)
    assert cosine(update, polar(want)) > 0.98
    assert cosine(update, polar(want)) > cosine(update, polar(other)) + 0.03


def test_muon_orthogonalizes_a_fused_qkv_as_three_matrices():
    model = gpt()
    opt = build(Muon(lr=0.05), model)
    qkv = model.blocks[0].attn.qkv.weight
    # Seeded: a random square block can have a singular value so small that five Newton-Schulz
    # steps leave it below 0.3; the global RNG would make the test depend on the tests before it.
    g = torch.randn(qkv.shape, generator=torch.Generator().manual_seed(0))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    qkv.grad = g.clone()
    before = qkv.detach().clone()
    opt.step()
    update = (before - qkv.detach()) / 0.05  # (3C, C): scale 1 for each square block
    for block, grad in zip(update.chunk(3), g.chunk(3)):
        assert cosine(block, polar(grad)) > 0.95
        s = torch.linalg.svdvals(block)
        assert s.min() > 0.3 and s.max() < 1.25
    assert cosine(update, polar(g)) < 0.95  # not the polar factor of the stacked matrix


def test_muon_decreases_the_loss_of_a_small_gpt():
    torch.manual_seed(0)
    model = gpt()
    losses = train_steps(model, build(Muon(), model), 40)
    assert all(b < a for a, b in zip(losses, losses[1:10])), losses  # steadily, from the first step
    assert losses[-1] < 0.6 * losses[0], losses


def test_muon_solves_least_squares():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    X, W = torch.randn(256, 16, generator=g), torch.randn(16, 16, generator=g)
    Y = X @ W
    lin = nn.Linear(16, 16, bias=False)
    opt = MuonWithAdamW(
        [{"kind": "muon", "params": [lin.weight], "lr": 0.1, "momentum": 0.9, "nesterov": True, "ns_steps": 5, "weight_decay": 0.0}]
    )
    losses = []
    for i in range(150):
        for group in opt.param_groups:  # Muon's step has a fixed size: anneal to converge
            group["lr"] = 0.1 * (1 - i / 150)
        loss = ((lin(X) - Y) ** 2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 1e-2 * losses[0], (losses[0], losses[-1])


def test_muon_weight_decay_shrinks_the_weights():
    lin = nn.Linear(4, 4, bias=False)
    lin.weight.grad = torch.zeros(4, 4)
    before = lin.weight.detach().clone()
    opt = MuonWithAdamW(
        [{"kind": "muon", "params": [lin.weight], "lr": 0.1, "momentum": 0.9, "nesterov": False, "ns_steps": 5, "weight_decay": 0.5}]
    )
    opt.step()  # a zero gradient orthogonalizes to zero: only the decay acts
    torch.testing.assert_close(lin.weight.detach(), before * (1 - 0.1 * 0.5))


def test_muon_adamw_groups_match_torch_adamw():
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Linear(6, 5), nn.LayerNorm(5), nn.Linear(5, 3))
    mine = copy.deepcopy(ref)
    hyper = dict(lr=0.01, betas=(0.8, 0.95), eps=1e-8)
    torch_opt = torch.optim.AdamW(
        [{"params": [ref[0].weight, ref[2].weight], "weight_decay": 0.1}, {"params": [ref[0].bias, ref[1].weight, ref[1].bias, ref[2].bias], "weight_decay": 0.0}],
        **hyper,
    )
    my_opt = MuonWithAdamW(
        [{"kind": "adamw", "params": [mine[0].weight, mine[2].weight], "weight_decay": 0.1, **hyper},
         {"kind": "adamw", "params": [mine[0].bias, mine[1].weight, mine[1].bias, mine[2].bias], "weight_decay": 0.0, **hyper}]
    )  # fmt: skip
    x = torch.randn(16, 6, generator=torch.Generator().manual_seed(1))
    for _ in range(6):
        for model, opt in ((ref, torch_opt), (mine, my_opt)):
            model(x).square().mean().backward()
            opt.step()
            opt.zero_grad()
    for a, b in zip(ref.parameters(), mine.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_a_parameter_without_grad_is_skipped():
    model = gpt()
    opt = build(Muon(), model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt.step()  # no backward yet: nothing moves, no state is made
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert not opt.state


@pytest.mark.parametrize(
    "group, message",
    [
        ({"kind": "lion"}, r'kind="muon" or kind="adamw", got kind=\'lion\''),
        ({"kind": "muon", "lr": 0.1}, "a muon param group is missing momentum, nesterov, ns_steps, weight_decay"),
        ({"kind": "adamw", "lr": 0.1, "betas": (0.9, 0.9), "eps": 1e-8}, "a adamw param group is missing weight_decay"),
    ],
)
def test_bad_param_groups_are_clear_errors(group, message):
    with pytest.raises(ValueError, match=message):
        MuonWithAdamW([{"params": [nn.Parameter(torch.zeros(2, 2))], **group}])


MUON_GROUP = {"kind": "muon", "lr": 0.1, "momentum": 0.9, "nesterov": True, "ns_steps": 5, "weight_decay": 0.0}


def test_muon_rejects_non_matrices_and_bad_splits():
    with pytest.raises(ValueError, match=r"2-D matrices only, got a parameter of shape \(4,\)"):
        MuonWithAdamW([{**MUON_GROUP, "params": [nn.Parameter(torch.zeros(4))]}])
    with pytest.raises(ValueError, match=r"split=3 does not divide the rows of a \(4, 4\) weight"):
        MuonWithAdamW([{**MUON_GROUP, "split": 3, "params": [nn.Parameter(torch.zeros(4, 4))]}])


@pytest.fixture
def one_process_group():
    """A world of one (gloo), enough to make FSDP2's DTensor parameters on the CPU."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    if dist.is_initialized():
        pytest.skip("a process group is already running in this process")
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield init_device_mesh("cpu", (1,))
    finally:
        dist.destroy_process_group()


def test_muon_under_fsdp_is_a_clear_not_supported_error(one_process_group):
    from torch.distributed.tensor import Shard, distribute_tensor

    p = nn.Parameter(distribute_tensor(torch.zeros(4, 4), one_process_group, [Shard(0)]))
    with pytest.raises(NotImplementedError, match="Muon is not supported with FSDP yet"):
        MuonWithAdamW([{**MUON_GROUP, "params": [p]}])


def test_adamw_and_sgd_step_fsdp_sharded_parameters(one_process_group):
    from torch.distributed.fsdp import fully_shard

    for cfg in (AdamW(), SGD()):
        model = gpt()
        fully_shard(model, mesh=one_process_group)
        opt = build(cfg, model)
        before = [p.detach().full_tensor().clone() for p in model.parameters()]
        train_steps(model, opt, 1)
        assert not all(torch.equal(a, p.detach().full_tensor()) for a, p in zip(before, model.parameters()))


# ---- checkpoints ---------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [AdamW(), SGD(nesterov=True), Muon()], ids=lambda c: type(c).__name__)
def test_state_dict_round_trips_through_a_weights_only_checkpoint(cfg):
    model = gpt(tie_embeddings=False)
    opt = build(cfg, model)
    train_steps(model, opt, 3)
    for g in opt.param_groups:
        g["lr"] = g["base_lr"] * 0.5  # as the loop would mid-schedule
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optim": opt.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)

    resumed = gpt(tie_embeddings=False)
    resumed.load_state_dict(ckpt["model"])
    resumed_opt = build(cfg, resumed)
    resumed_opt.load_state_dict(ckpt["optim"])
    assert [g["base_lr"] for g in resumed_opt.param_groups] == [g["base_lr"] for g in opt.param_groups]
    assert [g["lr"] for g in resumed_opt.param_groups] == [g["lr"] for g in opt.param_groups]

    train_steps(model, opt, 2, seed=1)
    train_steps(resumed, resumed_opt, 2, seed=1)
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("cfg", [AdamW(), SGD(), Muon()], ids=lambda c: type(c).__name__)
def test_every_optimizer_learns_and_obeys_the_lr_multiplier(cfg):
    model = gpt()
    opt = build(cfg, model)
    assert train_steps(model, opt, 15)[-1] < train_steps(gpt(), build(cfg, gpt()), 1)[0]
    # A zero multiplier must freeze every parameter (weight decay included: it scales with lr).
    for g in opt.param_groups:
        g["lr"] = g["base_lr"] * 0.0
    before = [p.detach().clone() for p in model.parameters()]
    train_steps(model, opt, 1)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


# ---- the schedule --------------------------------------------------------------------------

schedules = st.builds(
    lambda steps, warm, decay, lo, frac: (ScheduleConfig(warmup_steps=min(warm, steps), decay=decay, min_lr_ratio=lo, decay_fraction=frac), steps),
    steps=st.integers(1, 3000),
    warm=st.integers(0, 3000),
    decay=st.sampled_from(["cosine", "wsd", "constant"]),
    lo=st.floats(0.0, 1.0),
    frac=st.floats(0.001, 1.0),
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(schedules)
def test_schedule_laws(case):
    cfg, steps = case
    f = lr_schedule(cfg, steps)
    values = [f(s) for s in range(steps)]
    W = cfg.warmup_steps
    assert values[:W] == [(s + 1) / W for s in range(W)]  # warmup: linear, and step 0 is not 0
    after = values[W:]
    if cfg.decay == "constant":
        assert all(v == 1.0 for v in after)
        return
    assert all(cfg.min_lr_ratio <= v <= 1.0 for v in after)
    assert all(a >= b for a, b in zip(after, after[1:])), "not monotone after warmup"
    if W < steps:
        assert values[-1] == cfg.min_lr_ratio


@settings(max_examples=100, deadline=None)
@given(schedules)
def test_wsd_holds_the_peak_then_decays_over_the_last_fraction(case):
    cfg, steps = case
    cfg = ScheduleConfig(warmup_steps=0, decay="wsd", min_lr_ratio=min(cfg.min_lr_ratio, 0.99), decay_fraction=cfg.decay_fraction)
    values = [lr_schedule(cfg, steps)(s) for s in range(steps)]
    decaying = max(1, round(cfg.decay_fraction * steps))
    assert values[: steps - decaying] == [1.0] * (steps - decaying)
    assert all(v < 1.0 for v in values[steps - decaying :])


def test_schedule_known_values():
    cos = lr_schedule(ScheduleConfig(warmup_steps=2, decay="cosine", min_lr_ratio=0.1), 5)
    assert [cos(s) for s in range(5)] == pytest.approx([0.5, 1.0, 1.0, 0.55, 0.1])
    wsd = lr_schedule(ScheduleConfig(warmup_steps=1, decay="wsd", min_lr_ratio=0.0, decay_fraction=0.4), 5)
    assert [wsd(s) for s in range(5)] == pytest.approx([1.0, 1.0, 1.0, 0.5, 0.0])
    const = lr_schedule(ScheduleConfig(warmup_steps=4, decay="constant"), 6)
    assert [const(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_schedule(ScheduleConfig(warmup_steps=0), 1)(0) == 0.1  # one step: it is the last


def test_schedule_rejects_steps_outside_the_run():
    f = lr_schedule(ScheduleConfig(warmup_steps=0), 10)
    with pytest.raises(ValueError, match=r"step 10 is outside the schedule's steps 0..9"):
        f(10)
    with pytest.raises(ValueError, match="step -1"):
        f(-1)
    with pytest.raises(ValueError, match=r"`schedule.warmup_steps`=11 is more than the run's 10 steps"):
        lr_schedule(ScheduleConfig(warmup_steps=11), 10)
    with pytest.raises(ValueError, match="steps=0 must be >= 1"):
        lr_schedule(ScheduleConfig(warmup_steps=0), 0)


def test_cosine_midpoint_is_halfway():
    f = lr_schedule(ScheduleConfig(warmup_steps=0, min_lr_ratio=0.2), 101)
    assert f(50) == pytest.approx(0.6)
    assert math.isclose(f(0), 1.0)
