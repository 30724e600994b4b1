"""The training loop's arithmetic, checked against computations written out here by hand.

A second run of the same code cannot catch a bug that both runs share (an unscaled accumulation,
a schedule that never reaches the optimizer). So these tests watch the real loop from outside,
through torch's global hooks (every micro-batch the model runs on; at every optimizer step the
param groups, the weights and gradients before it, the weights after), and recompute each step
with a plain forward and backward of the whole batch, a formula for the lr, torch's clipping
rule, an eval-mode forward of the checkpointed weights.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import torch.optim.optimizer as optimizer_hooks

from nanigpt.builders import build
from nanigpt.config import resolve
from nanigpt.data.config import TextData
from nanigpt.model.config import GPTConfig
from nanigpt.model.gpt import GPT
from nanigpt.optim.config import SGD, ScheduleConfig
from nanigpt.training import checkpoint as ckpt
from nanigpt.training.loop import train
from nanigpt.training.config import EvalConfig, TrainConfig
from nanigpt.training.runtime import RuntimeOptions
from trainkit import make_run, tiny, write_text

pytestmark = pytest.mark.usefixtures("one_thread")  # the references are compared at one thread count

Tensors = dict[str, torch.Tensor]


@dataclass
class Step:
    """One optimizer step as the optimizer saw it."""

    groups: list[dict[str, Any]]  # each param group's settings (no params), at the step
    before: Tensors  # weights before the step, by name
    grads: Tensors  # the gradients the step used (after any clipping)
    micro: list[tuple[torch.Tensor, torch.Tensor]]  # the training forwards since the last step
    after: Tensors = field(default_factory=dict)


class Spy:
    """Records what the training loop does, through torch's global module and optimizer hooks."""

    def __init__(self) -> None:
        self.model: GPT | None = None
        self.steps: list[Step] = []
        self._micro: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _forward(self, module: torch.nn.Module, args: tuple) -> None:
        if type(module) is GPT and module.training:
            self.model = module
            self._micro.append((args[0].clone(), args[1].clone()))

    def _pre_step(self, opt: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        assert self.model is not None
        params = dict(self.model.named_parameters())
        self.steps.append(Step(
            groups=[{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups],
            before={n: p.detach().clone() for n, p in params.items()},
            grads={n: p.grad.detach().clone() for n, p in params.items() if p.grad is not None},
            micro=self._micro,
        ))  # fmt: skip
        self._micro = []

    def _post_step(self, opt: torch.optim.Optimizer, args: tuple, kwargs: dict) -> None:
        assert self.model is not None
        self.steps[-1].after = {n: p.detach().clone() for n, p in self.model.named_parameters()}

    def __enter__(self) -> Spy:
        self._handles = [
            torch.nn.modules.module.register_module_forward_pre_hook(self._forward),
            optimizer_hooks.register_optimizer_step_pre_hook(self._pre_step),
            optimizer_hooks.register_optimizer_step_post_hook(self._post_step),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()


def spied_train(cfg, run=None, **flags: Any) -> Spy:
    """Train `cfg` on the CPU (the references run there), watched by a `Spy`."""
    with Spy() as spy:
        train(cfg, RuntimeOptions(device="cpu", **flags), run, out=io.StringIO())
    return spy


def reference_model(cfg, weights: Tensors, *, training: bool = False) -> GPT:
    """A fresh GPT of `cfg` holding `weights`: no code of the training loop involved."""
    model = GPT(cfg.model, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(weights[name])
    return model.train(training)


def mean_loss(model: GPT, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The mean next-token cross-entropy over every position of the batch, in one forward."""
    logits, _ = model(x)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten())


def whole_batch_grads(cfg, weights: Tensors, x: torch.Tensor, y: torch.Tensor) -> Tensors:
    model = reference_model(cfg, weights)
    mean_loss(model, x, y).backward()
    return {n: p.grad for n, p in model.named_parameters()}


def total_norm(grads: Tensors) -> float:
    return math.sqrt(sum(float(g.double().square().sum()) for g in grads.values()))


def assert_close(a: Tensors, b: Tensors, **tol: float) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], msg=lambda m, name=name: f"{name}: {m}", **tol)


@pytest.fixture
def text(tmp_path) -> TextData:
    return TextData(path=str(write_text(tmp_path / "text.txt")))


def data_of(cfg):
    return build(cfg.data, block_size=cfg.model.block_size, seed=cfg.train.seed)


# -- the learning rate the optimizer uses --------------------------------------------------------


def cosine(k: int, *, steps: int, warmup: int, lo: float) -> float:
    """Linear warmup to the peak, then cosine from the peak down to `lo` at the last step."""
    if k < warmup:
        return (k + 1) / warmup
    return lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * (k - warmup) / (steps - 1 - warmup)))


def wsd(k: int, *, steps: int, warmup: int, lo: float, decay_steps: int) -> float:
    """Linear warmup, the peak, then a linear decay over the last `decay_steps` steps to `lo`."""
    if k < warmup:
        return (k + 1) / warmup
    first = steps - decay_steps
    return 1.0 if k < first else lo + (1 - lo) * (1 - (k - first + 1) / decay_steps)


def test_the_optimizer_steps_with_the_scheduled_lr_and_the_metrics_log_it(tmp_path, text):
    cfg = tiny(text)  # AdamW at 1e-2, 12 steps, 2 of warmup, cosine to 0.1 of the peak
    run = make_run(tmp_path / "runs", cfg)
    spy = spied_train(cfg, run=run)
    want = [1e-2 * cosine(k, steps=12, warmup=2, lo=0.1) for k in range(12)]
    assert want[:3] == [0.5e-2, 1e-2, 1e-2] and want[-1] == pytest.approx(1e-3)
    used = [[g["lr"] for g in s.groups] for s in spy.steps]
    assert [g["name"] for g in spy.steps[0].groups] == ["matrices", "other"]
    assert used == [[pytest.approx(w, rel=1e-12)] * 2 for w in want]
    # The metrics say what the optimizer used.
    assert [m["lr"] for m in run.metrics()] == [u[0] for u in used]


def test_muon_steps_both_of_its_lrs_on_the_schedule(tmp_path, text):
    cfg = tiny(text, optim=resolve(["optim=muon", "lr=0.05", "adamw_lr=0.004"]).config.optim,
               schedule=ScheduleConfig(warmup_steps=2, decay="wsd", decay_fraction=0.25, min_lr_ratio=0.2))
    run = make_run(tmp_path / "runs", cfg)
    spy = spied_train(cfg, run=run)
    mult = [wsd(k, steps=12, warmup=2, lo=0.2, decay_steps=3) for k in range(12)]
    assert mult == pytest.approx([0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1 - 0.8 / 3, 1 - 1.6 / 3, 0.2])
    assert [g["name"] for g in spy.steps[0].groups] == ["muon_qkv", "muon", "adamw"]
    used = [[g["lr"] for g in s.groups] for s in spy.steps]
    assert used == [[pytest.approx(0.05 * m, rel=1e-12)] * 2 + [pytest.approx(0.004 * m, rel=1e-12)] for m in mult]
    assert [m["lr"] for m in run.metrics()] == [u[0] for u in used]


# -- accumulation and clipping ---------------------------------------------------------------------


def sgd(text, *, steps: int, grad_clip: float = 0.0, **over):
    """Plain SGD (no momentum, no decay) at a constant lr of 0.5: one step is w - 0.5 g."""
    return tiny(text, optim=SGD(lr=0.5, momentum=0.0), schedule=ScheduleConfig(warmup_steps=0, decay="constant"),
                train=TrainConfig(steps=steps, batch_tokens=32 * 8, grad_clip=grad_clip), **over)


def test_micro_batches_step_as_one_big_batch(tmp_path, text):
    cfg = sgd(text, steps=3)
    run = make_run(tmp_path / "runs", cfg)
    spy = spied_train(cfg, run, micro_batch=2)  # 8 sequences a step: 4 micro-batches of 2
    data = data_of(cfg)
    assert len(spy.steps) == 3
    for k, (s, m) in enumerate(zip(spy.steps, run.metrics())):
        x, y = data.batch(k, 8)
        with torch.no_grad():
            assert m["loss"] == pytest.approx(mean_loss(reference_model(cfg, s.before), x, y).item(), rel=1e-5)
        assert [len(mx) for mx, _ in s.micro] == [2, 2, 2, 2]
        assert torch.equal(torch.cat([mx for mx, _ in s.micro]), x)
        assert torch.equal(torch.cat([my for _, my in s.micro]), y)
        g = whole_batch_grads(cfg, s.before, x, y)
        assert_close(s.grads, g, rtol=1e-4, atol=1e-7)  # the mean over the batch, not the sum of 4 means
        assert_close(s.after, {n: w - 0.5 * g[n] for n, w in s.before.items()}, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "grad_clip, clipped",
    [(0.0, False), (1e3, False), (1e-3, True)],
    ids=["off", "above-the-norm", "below-the-norm"],
)
def test_clipping_scales_the_gradient_to_the_limit_when_it_is_above_it_and_only_then(tmp_path, text,
                                                                                     grad_clip, clipped):
    cfg = sgd(text, steps=2, grad_clip=grad_clip)
    run = make_run(tmp_path / "runs", cfg)
    spy = spied_train(cfg, run=run)
    data = data_of(cfg)
    for k, (s, m) in enumerate(zip(spy.steps, run.metrics())):
        g = whole_batch_grads(cfg, s.before, *data.batch(k, 8))
        norm = total_norm(g)
        assert m["grad_norm"] == pytest.approx(norm, rel=1e-4)  # logged before clipping
        assert 0.01 < norm < 100  # between the two limits tested here
        # torch.nn.utils.clip_grad_norm_'s rule: scale by limit / (norm + 1e-6) when that is below 1
        scale = grad_clip / (norm + 1e-6) if clipped else 1.0
        assert_close(s.grads, {n: v * scale for n, v in g.items()}, rtol=1e-4, atol=1e-9)
        if clipped:
            assert total_norm(s.grads) == pytest.approx(grad_clip, rel=1e-4)


# -- validation ----------------------------------------------------------------------------------


def test_the_val_loss_is_an_eval_mode_forward_of_the_checkpointed_weights(tmp_path, text):
    # Heavy dropout, so that a validation in training mode could not pass for an eval-mode one.
    cfg = tiny(text, model=GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, dropout=0.3),
               train=TrainConfig(steps=8, batch_tokens=32 * 8), eval=EvalConfig(interval=4, batches=3))
    run = make_run(tmp_path / "runs", cfg)
    spy = spied_train(cfg, run, checkpoint_every=4, keep_checkpoints=10)
    # Each step trained in training mode, the steps after an evaluation too (dropout back on).
    assert [len(s.micro) for s in spy.steps] == [1] * 8
    data = data_of(cfg)
    logged = {m["step"]: m["val_loss"] for m in run.metrics() if "val_loss" in m}
    assert sorted(logged) == [4, 8]

    def weights(step: int) -> Tensors:
        return ckpt.load(ckpt.path_for(run.checkpoint_dir, step), config_hash=run.hash)["model"]

    # Step 4: eval.batches fixed val batches of the global batch's size, every token weighing the same.
    batches = [data.val_batch(k, 8) for k in range(3)]
    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    with torch.no_grad():
        want = mean_loss(reference_model(cfg, weights(4)), x, y).item()
        torch.manual_seed(0)
        with_dropout = mean_loss(reference_model(cfg, weights(4), training=True), x, y).item()
    assert logged[4] == pytest.approx(want, rel=1e-5)
    assert abs(with_dropout - want) > 100 * 1e-5 * want  # dropout shows, far beyond the tolerance
    # The last step: the whole val split (eval.full_at_end), every val token predicted once.
    x, y = data.val_block_batch(0, data.val_blocks)
    with torch.no_grad():
        want = mean_loss(reference_model(cfg, weights(8)), x, y).item()
    assert logged[8] == pytest.approx(want, rel=1e-5)
    assert run.metrics()[-1]["val_full"] is True


# -- Muon's settings reach the optimizer ---------------------------------------------------------


def test_every_muon_setting_reaches_its_own_param_groups(text):
    # Each value differs from its default and from the other group's counterpart.
    spec = ["optim=muon", "lr=0.05", "momentum=0.9", "nesterov=false", "ns_steps=3", "weight_decay=0.02",
            "adamw_lr=0.004", "adamw_betas=0.8,0.9", "adamw_weight_decay=0.07"]
    cfg = tiny(text, optim=resolve(spec).config.optim, train=TrainConfig(steps=2, batch_tokens=32 * 8))
    spy = spied_train(cfg)
    mult = 0.5  # the first of 2 warmup steps
    muon = {"kind": "muon", "lr": 0.05 * mult, "base_lr": 0.05, "momentum": 0.9, "nesterov": False, "ns_steps": 3,
            "weight_decay": 0.02}
    adamw = {"kind": "adamw", "name": "adamw", "lr": 0.004 * mult, "base_lr": 0.004, "betas": (0.8, 0.9),
             "eps": 1e-8, "weight_decay": 0.07}
    assert spy.steps[0].groups == [
        {**muon, "name": "muon_qkv", "split": 3}, {**muon, "name": "muon", "split": 1}, adamw,
    ]
