"""How a sweep's members run beside each other on this machine: `run_pool` (`--jobs N`, worker
processes), and the pieces every executor shares (`Job`, the signal handling of a process that
trains members). `nanigpt.experiments.slurm` holds the submitit executors (`--executor local|slurm`).

Every executor takes the members as `Job`s, the runtime flags (values by name, as `run_member`
takes them), the runs directory and `on_done(job, result)`, which the calling process gets as each
member ends, with `run_member`'s result dict. Nothing here imports torch at module level: the
sweep's `--dry-run` and `--help` stay torch-free.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from nanigpt.conf import ConfigError
from nanigpt.experiments.member import FAILED, INTERRUPTED

class Job(NamedTuple):
    """One member to train: its number in the sweep, its run hash and the tokens it resolves from."""

    number: int
    hash: str
    tokens: list[str]



OnDone = Callable[[Job, dict], None]


def pool_threads(n: int) -> int:
    """Torch threads for each of `n` members at once: this process's cores, shared out."""
    return max(1, len(os.sched_getaffinity(0)) // n)


def ended(job: Job, outcome: str, message: str) -> dict[str, Any]:
    """A result for a member whose own process did not report one."""
    return {"hash": job.hash, "outcome": outcome, "message": message, "step": None, "train_loss": None,
            "val_loss": None, "log": ""}


# ---- signals shared by pool workers and submitit jobs ------------------------------------------

# The member this process trains: `busy` while run_member runs, `stopped` the first signal that
# came (a worker or job trains nothing after it).
member_state: dict[str, Any] = {"busy": False, "stopped": None}


def _stop_once(signum: int, frame: Any) -> None:
    """SIGINT/SIGTERM/SIGUSR2 in a worker or job: the member in progress stops as by Ctrl-C (its
    run records `interrupted`), once. Later signals are ignored, so that a second one (Ctrl-C
    reaches the process group, then the parent forwards it) cannot cut that recording short; and
    a worker that was stopped starts nothing more."""
    first = member_state["stopped"] is None
    if first:
        member_state["stopped"] = signum
    if first and member_state["busy"]:
        raise KeyboardInterrupt


def stop_on(*signums: int) -> None:
    """From now on each of `signums` stops this process's member as Ctrl-C does (`_stop_once`)."""
    member_state.update(busy=False, stopped=None)
    for s in signums:
        signal.signal(s, _stop_once)


def run_one(job: Job, flags: dict, runs_dir: str, threads: int | None) -> dict[str, Any]:
    """`run_member` of `job`, stoppable by `_stop_once`; `interrupted` if a signal came first."""
    from nanigpt.experiments.member import run_member

    try:
        member_state["busy"] = True
        if member_state["stopped"] is not None:
            return ended(job, INTERRUPTED, "interrupted before it started")
        return run_member(list(job.tokens), flags, runs_dir, threads=threads)
    except KeyboardInterrupt:  # between the trainer's own handling and this frame
        return ended(job, INTERRUPTED, "interrupted")
    finally:
        member_state["busy"] = False


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel SIGKILLs this process when its parent dies, so a `kill -9` of the sweep
    leaves no training behind, and the kernel frees the run locks (flocks) it held."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the workers outlive a killed sweep, and their locks free as they end
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


# ---- --jobs N: worker processes on this machine --------------------------------------------------


def _worker(conn: Any, flags: dict, runs_dir: str, threads: int, parent: int) -> None:
    """A pool worker: members one after another until it is sent None. Whatever the process
    writes to its stdout and stderr (the trainer's progress goes to `run_member`'s buffer; this
    is the rest: warnings, C++ messages) is kept per member and appended to the result's log."""
    _die_with_parent(parent)
    stop_on(signal.SIGINT)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # before torch starts its OpenMP pool
    capture = tempfile.TemporaryFile()
    os.dup2(capture.fileno(), 1)
    os.dup2(capture.fileno(), 2)
    while (job := conn.recv()) is not None:
        capture.seek(0)
        capture.truncate()
        try:
            result = run_one(job, flags, runs_dir, threads)
        except KeyboardInterrupt:  # in run_one's own bookkeeping
            result = ended(job, INTERRUPTED, "interrupted")
        except Exception as e:  # run_member records a run's failures; this is one before its run
            result = ended(job, FAILED, str(e) if isinstance(e, ConfigError) else f"{type(e).__name__}: {e}")
        sys.stdout.flush()
        sys.stderr.flush()
        capture.seek(0)
        stray = capture.read().decode(errors="replace")
        result["log"] = (result.get("log") or "") + stray
        conn.send(result)


class CtrlC:
    """Ctrl-C (SIGINT) in the sweep's process, noted rather than raised while this is entered, so
    that it never lands in the middle of a pipe message or a submission. Only the main thread can
    catch signals; elsewhere this does nothing and Ctrl-C raises as usual."""

    def __init__(self) -> None:
        self.asked = False
        self._previous: Any = None

    def _note(self, signum: int, frame: Any) -> None:
        self.asked = True

    def __enter__(self) -> CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def run_pool(jobs: list[Job], flags: dict, runs_dir: str | Path, n: int, on_done: OnDone) -> None:
    """Train `jobs` in `n` worker processes on this machine, each on `pool_threads(n)` torch
    threads (recorded in each attempt), handing the next member to a worker as it frees up.

    Workers are spawned (torch is imported once per worker, not per member) and die with this
    process: after a `kill -9` of the sweep the kernel kills them and frees their runs' locks, so
    those runs read as interrupted and resume. Ctrl-C: each worker's member records
    `interrupted` (reported through `on_done`), no member is started after it, and
    KeyboardInterrupt is raised once every worker has exited. A worker that dies (killed, out of
    memory) reports its member as failed and a new worker takes its place. Call this from the
    main thread of a script under an `if __name__ == "__main__":` guard: spawned workers import
    the caller's main module."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    threads = pool_threads(n)
    todo = deque(jobs)
    procs: dict[Any, Any] = {}  # conn -> process
    busy: dict[Any, Job] = {}  # conn -> the member it trains

    def start() -> Any:
        conn, child = ctx.Pipe()
        p = ctx.Process(target=_worker, args=(child, flags, str(runs_dir), threads, os.getpid()), daemon=True)
        p.start()
        child.close()
        procs[conn] = p
        return conn

    def hand_out(conn: Any) -> None:
        if todo:
            busy[conn] = todo.popleft()
            conn.send(busy[conn])
        else:
            _send_stop(conn)

    with CtrlC() as stop:
        try:
            for _ in range(min(n, len(todo))):
                hand_out(start())
            forwarded = False
            while busy:
                ready = wait(list(busy), timeout=0.2)
                if stop.asked and not forwarded:  # the workers may not share our terminal: tell them
                    forwarded = True
                    todo.clear()
                    for conn in busy:
                        _signal(procs[conn], signal.SIGINT)
                for conn in ready:
                    job = busy.pop(conn)
                    try:
                        result = conn.recv()
                    except EOFError:
                        p = procs.pop(conn)
                        p.join()
                        result = ended(job, FAILED, f"its worker process died (exit code {p.exitcode}); "
                                                    "the run resumes when the sweep runs again")
                        conn = start() if todo else None
                    on_done(job, result)
                    if conn is not None:
                        hand_out(conn)
        finally:
            for conn in busy:  # left by an error (in on_done, say): its members record `interrupted`
                _signal(procs[conn], signal.SIGINT)
            for conn, p in procs.items():
                _send_stop(conn)
                p.join(timeout=60)
                if p.is_alive():
                    p.kill()
                    p.join()
    if stop.asked:
        raise KeyboardInterrupt


def _send_stop(conn: Any) -> None:
    try:
        conn.send(None)
    except OSError:
        pass  # already gone


def _signal(p: Any, signum: int) -> None:
    try:
        os.kill(p.pid, signum)
    except (ProcessLookupError, TypeError):
        pass
