"""The presets and patches that ship with naniGPT.

Loaded by file path (never imported as a module named `presets`), so this file imports only
torch-free config modules. A preset is a function returning a whole `RunConfig`; a patch maps a
config to a config; each says in its docstring what the user gets.
"""

from __future__ import annotations

from msgspec.structs import replace

from nanigpt.conf import Patch, patch, patch_factory, preset, set_
from nanigpt.config import L, RunConfig
from nanigpt.data.config import ShardData
from nanigpt.model.config import GPTConfig
from nanigpt.optim.config import AdamW, Muon, ScheduleConfig
from nanigpt.training.config import EvalConfig, TrainConfig


@preset
def tiny() -> RunConfig:
    """Trains in seconds on a CPU: for tests and smoke runs."""
    return RunConfig(
        # n_embd 32: fp8 needs Linear widths that are multiples of 16, so +fp8 works here too.
        model=GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32),
        train=TrainConfig(steps=30, batch_tokens=32 * 8),
        schedule=ScheduleConfig(warmup_steps=5),
        eval=EvalConfig(interval=10, batches=2),
    )


@preset
def small() -> RunConfig:
    """The default job: a 4-layer, 128-wide GPT on the built-in corpus, minutes on 2 CPU cores."""
    return RunConfig(
        model=GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=128),
        # 8 sequences per step: at this size AdamW needs steps more than tokens to leave its early
        # plateau near 2.4; 1500 x 8 x 128 reaches val 1.46 (0.45 x the unigram entropy) in ~90 s
        # on one idle core.
        train=TrainConfig(steps=1500, batch_tokens=128 * 8),
        # 3e-3 after 300 steps: val 2.19; 8e-3 stalls on the plateau (2.45).
        optim=AdamW(lr=3e-3),
        schedule=ScheduleConfig(warmup_steps=100, decay="cosine", min_lr_ratio=0.1),
        eval=EvalConfig(interval=250, batches=20),
    )


@preset
def gpt2() -> RunConfig:
    """GPT-2 small (124M) on pre-tokenized shards, with nanoGPT's hyperparameters."""
    return RunConfig(
        # 50304 = 50257 padded to a multiple of 64: faster matmuls, the extra rows never trained.
        model=GPTConfig(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50304, bias=False),
        data=ShardData(train="data/gpt2/train", val="data/gpt2/val"),
        optim=AdamW(lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1),
        # ~0.5M tokens per step and 19073 steps: 10B tokens, as in nanoGPT's reproduction.
        train=TrainConfig(steps=19073, batch_tokens=524288),
        schedule=ScheduleConfig(warmup_steps=715, decay="cosine", min_lr_ratio=0.1),
    )


@patch
def large(cfg: RunConfig) -> RunConfig:
    """Twice the layers, width and heads: the head size stays, widths stay multiples of 16."""
    m = cfg.model
    return L.model.set(cfg, replace(m, n_layer=2 * m.n_layer, n_embd=2 * m.n_embd, n_head=2 * m.n_head))


@patch
def fp8(cfg: RunConfig) -> RunConfig:
    """Train the blocks' Linear layers in float8 (emulated where the device has no fp8 cores)."""
    return L.precision.fp8.set(cfg, True)


@patch
def bf16(cfg: RunConfig) -> RunConfig:
    """Run the forward pass under bfloat16 autocast."""
    return L.precision.autocast.set(cfg, "bfloat16")


@patch
def muon(cfg: RunConfig) -> RunConfig:
    """Switch the optimizer to Muon, with Muon's default hyperparameters."""
    return cfg if isinstance(cfg.optim, Muon) else L.optim.set(cfg, Muon())


@patch_factory
def with_lr(lr: float) -> Patch:
    """Set the peak learning rate of the current optimizer: +with_lr:1e-4."""
    return set_(L.optim.lr, lr)
