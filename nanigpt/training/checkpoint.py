"""Checkpoints: everything a run needs to continue bit for bit, written atomically.

A checkpoint holds the model, the optimizer, the step (which is also the data position: batch k is
a function of (seed, k)), the data fingerprint, and the config and its hash; no random generator's
state, as every draw comes from a generator seeded from (seed, stream, step), dropout's included.
It loads with `torch.load(weights_only=True)`: no pickled code runs. A digest of its contents
catches silent corruption (a flipped bit loads fine otherwise).
"""

from __future__ import annotations

import ctypes
import errno
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import xxhash

from nanigpt.conf import ConfigError, short_hash
from nanigpt.atomic import atomic_writer

FORMAT = 1
# step_00001000.pt is a whole checkpoint; step_00001000/ a sharded one (FSDP, one shard per rank).
_NAME = re.compile(r"^step_(\d{8,})(\.pt)?$")
_SHARDED_META = "meta.pt"  # what nanigpt.training.distributed.save_sharded writes beside the shards


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used: corrupt, from another run, or from a newer naniGPT."""


def path_for(directory: Path, step: int) -> Path:
    return directory / f"step_{step:08d}.pt"


def _is_sharded(path: Path) -> bool:
    return path.is_dir() and (path / ".metadata").is_file()


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        m = _NAME.match(p.name)
        if m and (p.is_file() if m.group(2) else _is_sharded(p)):
            found.append((int(m.group(1)), p))
    return sorted(found)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def remove_all(directory: Path) -> None:
    """Delete every checkpoint (and temp leftovers) in `directory`: a fresh start."""
    for _, p in list_checkpoints(directory):
        _remove(p)
    prune(directory, keep=None)


def prune(directory: Path, keep: int | None) -> None:
    """Keep the newest `keep` checkpoints; drop temp files and partial shard folders."""
    if keep is not None:
        for _, old in list_checkpoints(directory)[:-keep]:
            _remove(old)
    if directory.is_dir():
        for stray in (*directory.glob(".step_*.tmp"), *directory.glob("step_*.partial")):
            _remove(stray)


def latest(directory: Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1][1] if found else None


def _update(h: xxhash.xxh3_128, obj: Any) -> None:
    """Feed a checkpoint's nested contents to `h` in a fixed order (keys sorted)."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            # Hash the tensor's memory in place: no copy, no numpy.
            h.update((ctypes.c_char * (t.numel() * t.element_size())).from_address(t.data_ptr()))
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for k in sorted(obj, key=repr):
            h.update(repr(k).encode())
            _update(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}".encode())
        for v in obj:
            _update(h, v)
    else:
        h.update(f"V{obj!r}".encode())


def digest(state: dict[str, Any]) -> str:
    h = xxhash.xxh3_128()
    _update(h, {k: v for k, v in state.items() if k != "digest"})
    return h.hexdigest()


def save(directory: Path, state: dict[str, Any], *, keep: int) -> Path:
    """Write `state` as the checkpoint of `state["step"]`, atomically, then keep only the newest `keep`.

    A kill at any moment leaves either the old set of checkpoints or the new one, never a torn file
    under a checkpoint's name (a stray temp file at worst, removed by the next save).
    """
    directory.mkdir(parents=True, exist_ok=True)
    state = {**state, "format": FORMAT}
    state["digest"] = digest(state)
    final = path_for(directory, state["step"])
    try:
        with atomic_writer(final) as f:
            torch.save(state, f)
    except (OSError, RuntimeError) as e:
        # torch reports a full disk as its own RuntimeError ("unexpected pos ..."): name the cause
        need, free = tensor_bytes(state), shutil.disk_usage(directory).free
        if isinstance(e, OSError) and e.errno == errno.ENOSPC or need >= free:
            raise OSError(errno.ENOSPC, f"no space left on device writing {final}: about "
                          f"{_mb(need)} needed, {_mb(free)} free") from None
        raise
    prune(directory, keep)
    return final


def tensor_bytes(obj: Any) -> int:
    """The bytes of every tensor in a (nested) state: about what its checkpoint takes on disk."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def check_space(directory: Path, state_bytes: int, keep: int) -> str | None:
    """A warning if `directory`'s file system has less room than `keep` checkpoints of
    `state_bytes` each and the one being written beside them; else None."""
    need = state_bytes * (keep + 1)
    free = shutil.disk_usage(directory).free
    if free >= need:
        return None
    return (f"{directory} has {_mb(free)} free, but keeping {keep} checkpoint(s) of about "
            f"{_mb(state_bytes)} needs about {_mb(need)}: free some space, or pass --keep-checkpoints 1")


def save_sharded(directory: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 meta: dict[str, Any], *, keep: int) -> Path:
    """The FSDP form of `save`: every rank writes its shards (call on every rank); `meta` is the
    rest of the state, as in `save`, without model and optimizer."""
    from nanigpt.training import distributed

    meta = {**meta, "format": FORMAT}
    meta["digest"] = digest(meta)
    final = directory / f"step_{meta['step']:08d}"
    distributed.save_sharded(final, model, optimizer, meta=meta)
    if distributed.is_main():
        prune(directory, keep)
    return final


@dataclass(frozen=True)
class Found:
    """A verified checkpoint: for a sharded one, `meta` lacks model and optimizer (they load
    straight into the wrapped model with `distributed.load_sharded`)."""

    path: Path
    step: int
    sharded: bool
    meta: dict[str, Any]


def find(directory: Path, *, config_hash: str) -> Found | None:
    """The newest checkpoint in `directory`, read and verified; None if there is none."""
    newest = latest(directory)
    if newest is None:
        return None
    sharded = newest.is_dir()
    meta = load(newest / _SHARDED_META if sharded else newest, config_hash=config_hash)
    return Found(path=newest, step=meta["step"], sharded=sharded, meta=meta)


def load(path: Path, *, config_hash: str) -> dict[str, Any]:
    """Read and verify a checkpoint of the run `config_hash`; `CheckpointError` if it is not usable."""
    remedy = f"delete {path} to resume from the checkpoint before it, or start over with --fresh"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError... for a bad file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt and cannot be read: {first}", suggestion=remedy) from e
    if not isinstance(state, dict) or "digest" not in state:
        raise CheckpointError(f"checkpoint {path} is not a naniGPT checkpoint", suggestion=remedy)
    if state.get("format") != FORMAT:
        raise CheckpointError(
            f"checkpoint {path} has format {state.get('format')!r}; this naniGPT reads format {FORMAT}",
            suggestion="resume it with the naniGPT version that wrote it, or start over with --fresh",
        )
    if digest(state) != state["digest"]:
        raise CheckpointError(f"checkpoint {path} is corrupt: its contents do not match their digest", suggestion=remedy)
    if state.get("config_hash") != config_hash:
        raise CheckpointError(
            f"checkpoint {path} belongs to run {short_hash(str(state.get('config_hash')))}, not to this run {short_hash(config_hash)}",
            suggestion="checkpoints are only resumed by the config that wrote them; "
            f"fork that run with `run:{short_hash(str(state.get('config_hash')))}` instead",
        )
    return state

