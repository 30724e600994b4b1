"""Multi-process training under torchrun: process group, DDP/FSDP2 wrapping, sharded checkpoints.

    torchrun --nproc-per-node 2 -m nanigpt train preset:small

Every rank runs the same command and resolves the same spec; `all_equal` checks that they agree
on the config hash. With no torchrun environment, `init()` makes no process group and every
helper here degrades to the single-process behaviour, so the training loop has one code path.

Failure: if one rank dies, torchrun stops the others with SIGTERM; `init()` turns that signal
into a `Terminated` exception on the survivors, so rank 0 can record the run as interrupted
(its last checkpoint stays resumable) instead of vanishing mid-write. A rank that hangs in a
collective fails after `DEFAULT_TIMEOUT`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from nanigpt.conf import ConfigError
from nanigpt.atomic import atomic_writer, fsync_dir
from nanigpt.training.flags import DEVICES
from nanigpt.training.runtime import RuntimeOptions

__all__ = [
    "DEFAULT_TIMEOUT",
    "DistInfo",
    "RankMismatch",
    "Terminated",
    "all_equal",
    "all_reduce_mean",
    "barrier",
    "check_fsdp_launch",
    "grad_sync",
    "init",
    "is_main",
    "is_sharded_checkpoint",
    "launched_by_torchrun",
    "load_sharded",
    "pick_device",
    "save_sharded",
    "shutdown",
    "torchrun_ranks",
    "wrap",
]

# NCCL's own default. Long enough for a first-step torch.compile or a checkpoint write on
# rank 0 while the others wait; short enough that a hung rank does not hold a node for hours.
DEFAULT_TIMEOUT = timedelta(minutes=10)
# How long `shutdown` waits for the other ranks: the others finish training with this one and
# only wait for rank 0's last writes (status, attempts), which take milliseconds.
SHUTDOWN_TIMEOUT = timedelta(seconds=60)

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
# Written by rank 0 beside the DCP shards: the trainer's own checkpoint record (step, hash, ...).
_META_FILE = "meta.pt"
# DCP warns on every single-process save or load, even when asked for one with no_dist=True.
_DCP_SINGLE_PROCESS = r"torch\.distributed is (disabled, )?unavailable or uninitialized, assuming the intent is to (save|load) in a single process"


@contextlib.contextmanager
def _dcp_quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_DCP_SINGLE_PROCESS, category=UserWarning)
        yield


class Terminated(KeyboardInterrupt):
    """This rank was stopped by SIGTERM: torchrun stops every rank when one fails.

    A KeyboardInterrupt because it is the same event as Ctrl-C, an interruption from outside:
    `except Exception` blocks must not swallow it, and the run it stops is resumable.
    """


class RankMismatch(RuntimeError):
    """Ranks disagree on a value that must be identical everywhere (the config hash)."""


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job. `backend` is None for a plain single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend is not None


def launched_by_torchrun() -> bool:
    """True when the torchrun environment (RANK, WORLD_SIZE, ...) is present."""
    return all(v in os.environ for v in _TORCHRUN_VARS)


_DEVICE_HINT = f"use {DEVICES}"


def pick_device(device: str, *, local_rank: int = 0, local_world: int = 1, torchrun: bool = False) -> torch.device:
    """The device `--device` names on this machine (auto: CUDA, else MPS for a single process,
    else the CPU), or a ConfigError naming the flag, its value and what this machine has.

    Pure: it asks torch what exists (without creating a CUDA context) and changes nothing, so the
    CLI's pre-flight runs it before `runs/<hash>/` exists, and `init` runs it again.
    """
    try:
        requested = torch.device(device) if device != "auto" else None
    except RuntimeError:
        raise ConfigError(f"`--device`={device!r} is not a device", path="device", suggestion=_DEVICE_HINT) from None
    if requested is None:
        if torch.cuda.is_available():
            requested = torch.device("cuda")
        elif not torchrun and torch.backends.mps.is_available():
            requested = torch.device("mps")
        else:
            requested = torch.device("cpu")
    if requested.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(
            f"`--device`={device!r} is not supported: naniGPT trains on cpu, cuda or mps", path="device",
            suggestion=_DEVICE_HINT,
        )
    if requested.type == "mps":
        if torchrun:
            raise ConfigError(
                f"`--device`={device!r} cannot run under torchrun: no process-group backend moves MPS tensors",
                path="device",
                suggestion="train on one process without torchrun, or use --device cpu",
            )
        if not torch.backends.mps.is_available():
            raise ConfigError(
                f"`--device`={device!r} but torch sees no MPS device (an Apple GPU)", path="device",
                suggestion="use --device cpu, or auto",
            )
    if requested.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"`--device`={device!r} but torch sees no CUDA GPU", path="device",
                suggestion="use --device cpu, or auto",
            )
        count = torch.cuda.device_count()
        if requested.index is None:
            if local_rank >= count:
                raise ConfigError(
                    f"local rank {local_rank} has no GPU: torch sees {count}",
                    path="device",
                    suggestion=f"launch at most {count} processes per node (--nproc-per-node)",
                )
            return torch.device("cuda", local_rank)
        if requested.index >= count:
            raise ConfigError(
                f"`--device`={device!r} but torch sees {count} GPU(s)",
                path="device",
                suggestion=f"use cuda:0 .. cuda:{count - 1}",
            )
        if local_world > 1:
            raise ConfigError(
                f"`--device`={device!r} would put all {local_world} local ranks on one GPU",
                path="device",
                suggestion="use --device cuda: rank r takes cuda:LOCAL_RANK",
            )
    return requested


def torchrun_ranks() -> tuple[int, int]:
    """(local rank, local world size) from torchrun's environment; (0, 1) outside torchrun."""
    if not launched_by_torchrun():
        return 0, 1
    return int(os.environ["LOCAL_RANK"]), int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))


def init(device: str = "auto", *, timeout: timedelta = DEFAULT_TIMEOUT) -> DistInfo:
    """Join the torchrun job (gloo on CPU, NCCL on GPU), or describe the single process.

    `device` is the `--device` flag: under torchrun, "auto" and "cuda" mean cuda:LOCAL_RANK.
    """
    if not launched_by_torchrun():
        return DistInfo(device=pick_device(device))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank, local_world = torchrun_ranks()
    dev = pick_device(device, local_rank=local_rank, local_world=local_world, torchrun=True)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timeout, device_id=dev if dev.type == "cuda" else None)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev, backend=backend)


# The signal that is stopping this process, if any. A peer stopped by the same signal can break a
# collective before this process's own KeyboardInterrupt is raised; the error that surfaces first
# is then an effect of the interrupt, and the run must read as interrupted, not failed.
_stopping: list[int] = []


def stopped_by_signal() -> bool:
    """True once SIGINT or SIGTERM reached this process (under torchrun)."""
    return bool(_stopping)


def _on_sigint(signum: int, frame: Any) -> None:
    _stopping.append(signum)
    raise KeyboardInterrupt


def _on_sigterm(signum: int, frame: Any) -> None:
    _stopping.append(signum)
    raise Terminated(
        f"rank {os.environ.get('RANK', '?')} stopped by SIGTERM: torchrun stops every rank when one "
        "fails (the failing rank's error is printed above)"
    )


def shutdown(*, wait: bool = True, timeout: timedelta = SHUTDOWN_TIMEOUT) -> None:
    """Leave the process group: wait (at most `timeout`) for every rank, then destroy the group.

    `wait=False` (leaving on an error or an interrupt) skips the wait: the peers may be inside a
    training collective that a barrier would be matched against, and torchrun kills workers that
    linger after a signal, before this process could record how the run ended.

    Call it on every exit path of a process that called `init`, errors included. A process that
    exits with its group alive tears gloo's (or NCCL's) threads and sockets down in the C++ static
    destructors, where a rank still talking to a peer aborts the whole process ("terminate called
    without an active exception"). The barrier first makes sure no peer is still in a collective
    with this one; a peer that died or hangs only delays the exit by `timeout`. No-op without a
    process group.
    """
    try:
        if dist.is_initialized() and not wait:
            dist.destroy_process_group()
        elif dist.is_initialized():
            try:
                kwargs = {"device_ids": [torch.cuda.current_device()]} if dist.get_backend() == "nccl" else {}
                work = dist.barrier(async_op=True, **kwargs)
                if work is not None:
                    work.wait(timeout)
            except Exception:  # a rank died or is stuck elsewhere: leave all the same
                pass
            finally:
                dist.destroy_process_group()
    finally:
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if signal.getsignal(signal.SIGINT) is _on_sigint:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def is_main() -> bool:
    """True on rank 0, and in a single process: the rank that writes the run store."""
    if dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def _collective_device() -> torch.device:
    # NCCL moves only CUDA tensors; gloo only CPU ones.
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    if not dist.is_initialized():
        return
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


def all_equal(text: str, *, what: str = "config hash") -> bool:
    """True when every rank passed the same `text`; otherwise raises RankMismatch on every rank,
    naming rank 0's value and the first one that differs.

    Uses tensor collectives only: torch's object collectives need numpy.
    """
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return True
    device = _collective_device()
    data = torch.tensor(list(text.encode()), dtype=torch.uint8, device=device)
    world = dist.get_world_size()
    sizes = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([data.numel()], dtype=torch.int64, device=device))
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, dtype=torch.uint8, device=device)
    padded[: data.numel()] = data
    gathered = [torch.empty(longest, dtype=torch.uint8, device=device) for _ in range(world)]
    dist.all_gather(gathered, padded)
    values = [bytes(g[: int(s.item())].tolist()).decode() for g, s in zip(gathered, sizes, strict=True)]
    for r, value in enumerate(values):
        if value != values[0]:
            raise RankMismatch(
                f"ranks disagree on the {what}: rank 0 has {values[0]}, rank {r} has {value} "
                "(every rank must resolve the same spec with the same presets, code and data)"
            )
    return True


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of `tensor` over ranks (a new tensor; for logging, not for gradients)."""
    out = tensor.detach().clone()
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        out /= dist.get_world_size()
    return out


def _unwrapped(model: nn.Module) -> nn.Module:
    # torch.compile wraps the model in an OptimizedModule whose real module is `_orig_mod`.
    return getattr(model, "_orig_mod", model)


def _require_numpy(what: str) -> None:
    if importlib.util.find_spec("numpy") is None:
        raise ConfigError(
            f"{what} needs numpy: torch.distributed.checkpoint exchanges its save plan as pickled "
            "objects, which torch reads through numpy",
            path="parallel",
            suggestion="pip install numpy",
        )


def check_fsdp_launch() -> None:
    """ConfigError if this torchrun job cannot shard with FSDP (several processes need numpy)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        _require_numpy(f"`--parallel fsdp` with {world} processes")


def wrap(model: nn.Module, rt: RuntimeOptions, info: DistInfo) -> nn.Module:
    """Wrap `model` for `rt.parallel`: DDP, or FSDP2 (`fully_shard` on each block, then the root).

    Without a process group the model is returned as is. Call after fp8 conversion.
    """
    if not info.distributed:
        return model
    if rt.parallel == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[info.device.index] if info.device.type == "cuda" else None)
    check_fsdp_launch()
    from torch.distributed.fsdp import fully_shard

    inner = _unwrapped(model)
    blocks = getattr(inner, "blocks", None)
    if not isinstance(blocks, nn.ModuleList) or not len(blocks):
        raise ValueError(f"FSDP: {type(inner).__name__} has no `blocks` ModuleList to shard")
    for i, block in enumerate(blocks):
        # The last block's parameters are needed again at once by the backward pass: keep them.
        fully_shard(block, reshard_after_forward=i < len(blocks) - 1)
    # The root holds the embeddings and the head (tied or not) in one shard group.
    fully_shard(inner, reshard_after_forward=False)
    return model


@contextlib.contextmanager
def grad_sync(model: nn.Module, *, sync: bool) -> Iterator[None]:
    """Around a micro-step's backward: with `sync=False`, DDP skips its gradient all-reduce
    (gradients accumulate locally until the last micro-step, which passes `sync=True`).

    FSDP2 reduce-scatters every micro-step: skipping would keep unsharded gradients alive,
    the memory FSDP is there to save.
    """
    from torch.nn.parallel import DistributedDataParallel

    if not sync and isinstance(model, DistributedDataParallel):
        with model.no_sync():
            yield
    else:
        yield


def is_sharded_checkpoint(path: Path) -> bool:
    """True for a directory written by `save_sharded` (DCP shards plus `.metadata`)."""
    return (path / ".metadata").is_file()


def save_sharded(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer, *, meta: dict[str, Any]) -> None:
    """Write model and optimizer state with torch.distributed.checkpoint, every rank its shards,
    into `directory`, which appears whole or not at all. Call on every rank.

    `meta` (rank 0's: step, config hash, data fingerprint...) is saved beside the shards and must
    load with `torch.load(weights_only=True)`. The result loads on any number of processes.
    """
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    distributed = dist.is_initialized()
    if distributed and dist.get_world_size() > 1:
        _require_numpy("saving a sharded checkpoint from several processes")
    directory = Path(directory)
    partial = directory.with_name(directory.name + ".partial")
    if is_main():
        # Leftovers of saves that a crash cut short (one trainer per run: none is in progress).
        for stale in directory.parent.glob("*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
    barrier()
    model_sd, optim_sd = get_state_dict(model, optimizer)
    with _dcp_quiet():
        dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=partial, no_dist=not distributed)
    if is_main():
        with atomic_writer(partial / _META_FILE) as f:
            torch.save(meta, f)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(partial, directory)
        fsync_dir(directory.parent)
    barrier()


def load_sharded(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Load a `save_sharded` checkpoint into `model` and `optimizer` (wrapped or not, on any
    number of processes: DCP reshards) and return its `meta`. Call on every rank."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    distributed = dist.is_initialized()
    if distributed and dist.get_world_size() > 1:
        _require_numpy("loading a sharded checkpoint into several processes")
    directory = Path(directory)
    if not is_sharded_checkpoint(directory):
        raise FileNotFoundError(f"{directory} is not a sharded checkpoint (no .metadata)")
    model_sd, optim_sd = get_state_dict(model, optimizer)
    state = {"model": model_sd, "optim": optim_sd}
    with _dcp_quiet():
        dcp.load(state, checkpoint_id=directory, no_dist=not distributed)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    return torch.load(directory / _META_FILE, weights_only=True)
