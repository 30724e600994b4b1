"""Checks that need the world (files, world size, devices), run before `runs/<hash>/` is created.

The config alone was validated at resolution; these checks add what only this machine and this
launch know: that the data is there and big enough, how the global batch splits, that the
optimizer works with the parallelism, and that the device exists and can run the precision.
Torch-free at import: only `check_device` loads torch, when it has something to ask it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from nanigpt.conf import ConfigError
from nanigpt.training import profiling
from nanigpt.data.config import ShardData, TextData
from nanigpt.optim.config import Muon
from nanigpt.data.files import check_context, shard_files, shard_tokenizer, text_files, val_start

if TYPE_CHECKING:  # for annotations only: the checks read these, they never build one
    from nanigpt.config import RunConfig
    from nanigpt.training.runtime import RuntimeOptions

# Default micro batch cap: enough rows to keep a GPU busy at small context, and few enough
# activation tokens (~16k) that a small GPT's backward fits any device we target.
MAX_MICRO_SEQUENCES = 32
MAX_MICRO_TOKENS = 16384


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def global_sequences(cfg: RunConfig) -> int:
    """Sequences in one optimizer step's global batch."""
    return cfg.train.batch_tokens // cfg.model.block_size


def _per_rank(cfg: RunConfig, world_size: int) -> int:
    n = global_sequences(cfg)
    if n % world_size:
        T = cfg.model.block_size
        lower = max(world_size, n // world_size * world_size)
        raise ConfigError(
            f"`train.batch_tokens`={cfg.train.batch_tokens} is {n} sequences of `model.block_size`={T}, "
            f"which do not split evenly over {world_size} processes",
            path="train.batch_tokens",
            suggestion=f"try train.batch_tokens={lower * T} or {(lower + world_size) * T}",
        )
    return n // world_size


def micro_batch_for(cfg: RunConfig, rt: RuntimeOptions, world_size: int) -> int:
    """Sequences per forward/backward on each process: `--micro-batch`, or the largest divisor of
    the per-process sequences within the default cap. Gradient accumulation = per-process / this."""
    per_rank = _per_rank(cfg, world_size)
    if rt.micro_batch is not None:
        if per_rank % rt.micro_batch:
            fits = [d for d in _divisors(per_rank) if d <= rt.micro_batch] or [1]
            raise ConfigError(
                f"`--micro-batch`={rt.micro_batch} does not divide the {per_rank} sequences each of "
                f"{world_size} process(es) takes per step (`train.batch_tokens`={cfg.train.batch_tokens} / "
                f"`model.block_size`={cfg.model.block_size} / {world_size})",
                path="micro_batch",
                suggestion=f"try --micro-batch {fits[-1]}; divisors: {', '.join(map(str, _divisors(per_rank)))}",
            )
        return rt.micro_batch
    cap = max(1, min(MAX_MICRO_SEQUENCES, MAX_MICRO_TOKENS // cfg.model.block_size))
    return max(d for d in _divisors(per_rank) if d <= cap)


def check_data(cfg: RunConfig) -> None:
    """Raise `ConfigError` if `cfg`'s data is missing, not readable as configured, smaller than one
    context per split, or tokenized with more ids than `model.vocab_size` holds. Reads sizes, shard
    headers and manifests, never the data itself (the built-in corpus aside)."""
    data, T = cfg.data, cfg.model.block_size
    if isinstance(data, TextData):
        n = text_files(data).nbytes
        cut = val_start(n, data.val_fraction)
        check_context(T, "train", cut, "data.path", data.path)
        check_context(T, "val", n - cut, "data.path", data.path)
    elif isinstance(data, ShardData):
        train = shard_files(data.train, "data.train")
        n = train.tokens
        if data.val is None:
            cut = val_start(n, data.val_fraction)
            check_context(T, "train", cut, "data.train", data.train)
            check_context(T, "val", n - cut, "data.train", data.train)
            val = None
        else:
            check_context(T, "train", n, "data.train", data.train)
            val = shard_files(data.val, "data.val")
            check_context(T, "val", val.tokens, "data.val", data.val)
        tok = shard_tokenizer(train, val)
        if tok is not None and cfg.model.vocab_size < tok.vocab_size:
            raise ConfigError(
                f"`model.vocab_size`={cfg.model.vocab_size} is smaller than the vocabulary of {tok.vocab_size} "
                f"of the {tok.spec} tokenizer that `data.train`={data.train!r} was prepared with",
                path="model.vocab_size",
                suggestion=f"set model.vocab_size={tok.vocab_size} or larger (a multiple of 64 is faster)",
            )
    else:
        from nanigpt.data.corpus import read_builtin  # torch-free; cached, so training reads it once

        n = len(read_builtin())
        cut = val_start(n, data.val_fraction)
        check_context(T, "train", cut, "data", "builtin")
        check_context(T, "val", n - cut, "data", "builtin")


def check_parallel(cfg: RunConfig, rt: RuntimeOptions, *, sharded: bool) -> None:
    """Raise `ConfigError` if the optimizer cannot run on `--parallel`'s parameters; `sharded`:
    FSDP will shard them (`--parallel fsdp` under torchrun)."""
    if sharded and rt.parallel == "fsdp" and isinstance(cfg.optim, Muon):
        raise ConfigError(
            "`optim`=muon cannot train with `--parallel`=fsdp: Muon orthogonalizes each whole weight "
            "matrix, and FSDP shards them across the processes",
            path="optim.type",
            suggestion="use --parallel ddp, or optim=adamw",
        )


def check_run(cfg: RunConfig, rt: RuntimeOptions, world_size: int) -> None:
    """Raise `ConfigError` if this run cannot start here: missing or too-small data, a global batch
    that does not split over `world_size` processes and the micro batch, an optimizer that FSDP's
    sharded parameters do not support, a profile window past the last step."""
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    check_data(cfg)
    micro_batch_for(cfg, rt, world_size)
    check_parallel(cfg, rt, sharded=world_size > 1)
    profiling.window(rt, cfg.train.steps)


def check_device(cfg: RunConfig, rt: RuntimeOptions) -> None:
    """Raise `ConfigError` if `--device` names a device this machine lacks, or one that cannot run
    `cfg.precision` (float8 without emulation); under torchrun, also if the launch cannot work
    (a GPU per local rank, Muon under FSDP, numpy for FSDP).

    Creates nothing: `nanigpt train` runs it before `runs/<hash>/` exists, so that a bad device
    leaves no trace. Loads torch to ask what exists, unless the answer cannot be no.
    """
    if rt.device in ("auto", "cpu") and not cfg.precision.fp8 and "LOCAL_RANK" not in os.environ:
        # One plain process (torchrun sets LOCAL_RANK in each worker) has a CPU, and auto picks
        # what exists: a finished or busy run is answered without torch's start-up.
        return
    from nanigpt.training import distributed, fp8

    torchrun = distributed.launched_by_torchrun()
    local_rank, local_world = distributed.torchrun_ranks()
    device = distributed.pick_device(rt.device, local_rank=local_rank, local_world=local_world, torchrun=torchrun)
    fp8.check_device(cfg.precision, device)
    # A torchrun job of one process shards too: FSDP wraps whenever there is a process group.
    check_parallel(cfg, rt, sharded=torchrun)
    if torchrun and rt.parallel == "fsdp":
        distributed.check_fsdp_launch()
