"""Shared helpers of the training tests: tiny configs, a text file, a run directory."""

from __future__ import annotations

from pathlib import Path

import msgspec
import torch

from nanigpt.conf._canon import canonical_bytes, config_hash
from nanigpt.store.rundir import RunDir, RunStore
from nanigpt.config import RunConfig
from nanigpt.model.config import GPTConfig
from nanigpt.optim.config import AdamW, ScheduleConfig
from nanigpt.training import checkpoint as ckpt
from nanigpt.training.config import EvalConfig, TrainConfig

WORDS = (
    "the king and queen of the castle spoke to a friend who was not there, "
    "and the friend said: what is this light that I see upon the hill? "
).split()


def write_text(path: Path, n_words: int = 12000) -> Path:
    # Deterministic English-ish text with structure a tiny model can learn within a few steps.
    path.write_text(" ".join(WORDS[(i * 7 + i // 5) % len(WORDS)] for i in range(n_words)))
    return path


def tiny(data: object, **over: object) -> RunConfig:
    """A 2-layer, 32-wide GPT on `data`, 12 steps of 8 sequences: trains in well under a second."""
    fields = dict(
        model=GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32),
        data=data,
        train=TrainConfig(steps=12, batch_tokens=32 * 8),
        schedule=ScheduleConfig(warmup_steps=2),
        eval=EvalConfig(interval=4, batches=2),
        optim=AdamW(lr=1e-2),  # a tiny model learns at a high lr within a dozen steps
    )
    fields.update(over)
    return msgspec.convert(msgspec.to_builtins(RunConfig(**fields)), RunConfig)


def make_run(root: Path, cfg: RunConfig) -> RunDir:
    recipe = {"tokens": ["test"], "start": "test", "blame": {}}
    run, _ = RunStore(root).create(config_hash(cfg), canonical_bytes(cfg), recipe)
    return run


def final_weights(run: RunDir) -> dict[str, torch.Tensor]:
    return torch.load(ckpt.latest(run.checkpoint_dir), weights_only=True)["model"]
