"""The builder registry: `build(cfg, **runtime)` turns a config struct into its component.

`build` dispatches on the struct's type (`functools.singledispatch`). A builder gets its own
sub-config plus explicit runtime arguments, never the whole `RunConfig`:

    build(cfg.model, device=..., generator=...)   -> GPT
    build(cfg.optim, model=model)                 -> torch.optim.Optimizer
    build(cfg.schedule, steps=cfg.train.steps)    -> LRSchedule (lr multiplier at a step)
    build(cfg.data, block_size=..., ...)          -> TokenData

Learning rates: every optimizer built here stores each param group's peak lr under the key
"base_lr" (and starts "lr" at it); the training loop sets, every step,
`group["lr"] = group["base_lr"] * schedule(step)`. Groups also carry a "name" for logging.

Optimizers take the model's own parameters: build them after DDP/FSDP wrapping has replaced
any parameters (FSDP2 does), from the unwrapped module.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn as nn

from nanigpt.config import RunConfig
from nanigpt.data.config import BuiltinData, ShardData, TextData
from nanigpt.data.sources import load_builtin, load_shards, load_text
from nanigpt.data.tokens import TokenData
from nanigpt.model.config import GPTConfig
from nanigpt.model.gpt import GPT
from nanigpt.optim.config import SGD, AdamW, Muon, ScheduleConfig
from nanigpt.optim.groups import decay_groups, is_sharded, linear_matrices
from nanigpt.optim.muon import MuonWithAdamW
from nanigpt.optim.schedule import LRSchedule, lr_schedule
from nanigpt.training.config import EvalConfig, PrecisionConfig, TrainConfig

# Struct types that have no builder of their own: the training loop reads their fields.
CONSUMED_BY_LOOP: dict[type, str] = {
    RunConfig: "nanigpt.training.train: the root; it builds each section",
    TrainConfig: "the training loop: steps, batch, seed, gradient clipping",
    EvalConfig: "the training loop: when and how much to evaluate",
    PrecisionConfig: "the training loop (autocast) and nanigpt.training.fp8.convert",
}


@functools.singledispatch
def build(cfg: Any, **runtime: Any) -> Any:
    """Build the component that the config struct `cfg` describes."""
    if type(cfg) in CONSUMED_BY_LOOP:
        raise TypeError(
            f"`{type(cfg).__name__}` has no builder: it is read by {CONSUMED_BY_LOOP[type(cfg)]}"
        )
    known = ", ".join(sorted(t.__name__ for t in build.registry if t is not object))
    raise TypeError(f"no builder for `{type(cfg).__name__}` (builders exist for: {known})")


@build.register(GPTConfig)
def build_gpt(
    cfg: GPTConfig, *, device: str | torch.device | None = None, generator: torch.Generator | None = None
) -> GPT:
    """The GPT on `device`, initialized from the CPU `generator` (or torch's global RNG).

    Initialization always runs on the CPU, so one seed gives the same weights on any device.
    On device "meta" nothing is allocated or initialized (parameter and FLOP counts).
    device None means torch's current default device (so `with torch.device("meta")` works).
    """
    device = torch.get_default_device() if device is None else torch.device(device)
    if device.type == "meta":
        with torch.device("meta"):
            return GPT(cfg)
    if generator is not None and generator.device.type != "cpu":
        raise ValueError(
            f"the init generator must be a CPU generator, got one on {generator.device}: "
            "the weights are drawn on the CPU so that they do not depend on the device"
        )
    with torch.device("cpu"):
        model = GPT(cfg, generator=generator)
    return model.to(device)


# The fused kernels are the fastest everywhere, the CPU included: for a 4-layer, 128-wide GPT
# one AdamW step takes 0.7 ms fused, 1.8 ms as torch's CPU default (a loop), 2.5 ms foreach;
# SGD 0.45 / 0.56 / 0.78 ms (torch 2.13, one CPU thread).


@build.register(AdamW)
def build_adamw(cfg: AdamW, *, model: nn.Module) -> torch.optim.AdamW:
    """AdamW with weight decay on the Linear matrices only (not norms, biases, embeddings)."""
    groups = decay_groups(model, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, fused=True)


@build.register(SGD)
def build_sgd(cfg: SGD, *, model: nn.Module) -> torch.optim.SGD:
    """SGD with (Nesterov) momentum; weight decay on the Linear matrices only."""
    groups = decay_groups(model, lr=cfg.lr, weight_decay=cfg.weight_decay)
    # torch has no sharding rule for fused SGD, so FSDP's DTensor parameters take foreach.
    sharded = any(is_sharded(p) for g in groups for p in g["params"])
    impl = {"foreach": True} if sharded else {"fused": True}
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, **impl)


# AdamW's epsilon for the non-Muon parameters: torch's default; Muon's config does not expose it.
_MUON_ADAMW_EPS = 1e-8


@build.register(Muon)
def build_muon(cfg: Muon, *, model: nn.Module) -> MuonWithAdamW:
    """Muon for the hidden Linear matrices; AdamW for embeddings, the head, norms and biases.

    A fused q/k/v weight (a Linear named `qkv`) is orthogonalized as three matrices.
    Not supported under FSDP yet (raises NotImplementedError).
    """
    hidden = linear_matrices(model, exclude_head=True)
    hidden_ids = {id(p) for p in hidden}
    qkv_ids = {
        id(m.weight)
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] == "qkv" and id(m.weight) in hidden_ids
    }
    seen: set[int] = set()
    rest = []
    for p in model.parameters():
        if p.requires_grad and id(p) not in hidden_ids and id(p) not in seen:
            seen.add(id(p))
            rest.append(p)
    muon = {
        "kind": "muon", "lr": cfg.lr, "base_lr": cfg.lr, "momentum": cfg.momentum,
        "nesterov": cfg.nesterov, "ns_steps": cfg.ns_steps, "weight_decay": cfg.weight_decay,
    }  # fmt: skip
    groups = [
        {**muon, "name": "muon_qkv", "split": 3, "params": [p for p in hidden if id(p) in qkv_ids]},
        {**muon, "name": "muon", "split": 1, "params": [p for p in hidden if id(p) not in qkv_ids]},
        {
            "kind": "adamw", "name": "adamw", "params": rest, "lr": cfg.adamw_lr, "base_lr": cfg.adamw_lr,
            "betas": cfg.adamw_betas, "eps": _MUON_ADAMW_EPS, "weight_decay": cfg.adamw_weight_decay,
        },
    ]  # fmt: skip
    return MuonWithAdamW(g for g in groups if g["params"])


@build.register(ScheduleConfig)
def build_schedule(cfg: ScheduleConfig, *, steps: int) -> LRSchedule:
    """The lr multiplier as a function of the 0-based step, over a run of `steps` steps."""
    return lr_schedule(cfg, steps)


# Data sources: the token streams of text, the built-in corpus or token shards. vocab_size is
# accepted by every source so callers need not know which one they hold; bytes always fit the
# byte-level vocab, which RunConfig.check enforces.


@build.register(TextData)
def build_text(cfg: TextData, *, block_size: int, seed: int = 0, vocab_size: int | None = None) -> TokenData:
    """The bytes of a text file or folder, split into train and val."""
    return load_text(cfg, block_size=block_size, seed=seed)


@build.register(BuiltinData)
def build_builtin(cfg: BuiltinData, *, block_size: int, seed: int = 0, vocab_size: int | None = None) -> TokenData:
    """The built-in corpus as bytes, split into train and val."""
    return load_builtin(cfg, block_size=block_size, seed=seed)


@build.register(ShardData)
def build_shards(cfg: ShardData, *, block_size: int, seed: int = 0, vocab_size: int | None = None) -> TokenData:
    """Token shards, memory-mapped."""
    return load_shards(cfg, block_size=block_size, seed=seed, vocab_size=vocab_size)
