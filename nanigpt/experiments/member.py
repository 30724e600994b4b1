"""One member of a sweep, trained in this process through the same lifecycle as `nanigpt train`
(store, lock, attempt record, resume), with nothing carried over to the next member.

Used by every way a sweep runs: in the sweep's own process (members one after another, torch
imported once), in the worker processes of `--jobs N`, and inside a submitit job.
"""

from __future__ import annotations

import contextlib
import io
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nanigpt.conf import ConfigError
from nanigpt.config import load_registry, resolve
from nanigpt.store import RunLocked, RunStore
from nanigpt.store.lifecycle import Interrupted, RunFailed, train_run

# The outcomes of one member, as `run_member` reports them.
FINISHED = "finished"  # trained to its end now
DONE = "done"  # had finished before: nothing trained
FAILED = "failed"  # recorded as failed (diverged, crashed) or refused by pre-flight
INTERRUPTED = "interrupted"  # a signal stopped it: recorded, resumes next time
LOCKED = "locked"  # another process trains it now


@contextlib.contextmanager
def isolated(threads: int | None = None) -> Iterator[None]:
    """Run a member so that the next one starts from the same process state: torch's thread
    count (set to `threads` inside, if given), the global random generators (Python's, NumPy's
    and torch's CPU and CUDA ones), the float32 matmul precision, grad mode and the deterministic
    switch are put back afterwards, and torch.compile's caches are dropped. Autocast is a
    context the trainer leaves; malloc tuning is the same mallopt call for every member of a
    sweep (the flags are shared), so there is nothing to put back."""
    import torch

    saved_threads = torch.get_num_threads()
    py_state = random.getstate()
    np_random = sys.modules.get("numpy.random")
    np_state = np_random.get_state() if np_random is not None else None
    cpu_rng = torch.random.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    precision = torch.get_float32_matmul_precision()
    grad = torch.is_grad_enabled()
    deterministic = torch.are_deterministic_algorithms_enabled()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved_threads)
        random.setstate(py_state)
        if np_state is not None and np_random is not None:
            np_random.set_state(np_state)
        torch.random.set_rng_state(cpu_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        torch.set_float32_matmul_precision(precision)
        torch.set_grad_enabled(grad)
        torch.use_deterministic_algorithms(deterministic)
        dynamo = sys.modules.get("torch._dynamo")
        if dynamo is not None:
            dynamo.reset()


def run_member(tokens: list[str], flags: dict[str, Any], runs_dir: str | Path, *, threads: int | None = None,
               out: Any = None) -> dict[str, Any]:
    """Resolve `tokens` and train the run in this process; returns `{"hash", "outcome",
    "message", "step", "train_loss", "val_loss"}` with an outcome from this module. `flags` are
    runtime flag values by name (`{"device": "cpu"}`); `out` gets the trainer's progress and
    messages (default: a buffer, returned as `log`). Ctrl-C is recorded in the run and returned
    as `interrupted`: the caller stops the sweep."""
    from nanigpt.training.runtime import runtime_options

    store = RunStore(Path(runs_dir))
    registry = load_registry()
    r = resolve(list(tokens), runs=store, registry=registry)
    rt = runtime_options(flags)
    buf = io.StringIO() if out is None else None
    stream = out if out is not None else buf

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    result: dict[str, Any] = {"hash": r.hash, "outcome": FINISHED, "message": None}
    try:
        with isolated(threads):
            summary = train_run(r, rt, store, registry, say=say, warn=lambda m: say(f"Warning: {m}"), out=stream)
        if summary is None:
            result["outcome"] = DONE
    except RunLocked as e:
        result.update(outcome=LOCKED, message=str(e))
    except Interrupted as e:
        result.update(outcome=INTERRUPTED, message=str(e))
    except RunFailed as e:
        result.update(outcome=FAILED, message=e.message)
        if e.trace:
            say(e.trace.rstrip())
    except ConfigError as e:  # refused by pre-flight: nothing written for it
        result.update(outcome=FAILED, message=str(e))
    st = store.run(r.hash).status() if (store.root / r.hash).is_dir() else {}
    result.update(step=st.get("step"), train_loss=st.get("train_loss"), val_loss=st.get("val_loss"))
    if buf is not None:
        result["log"] = buf.getvalue()
    return result
