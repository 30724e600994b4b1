"""One attempt at a run, from a resolved spec to its recorded outcome.

Everything that can be wrong with the input is found before `runs/<hash>/` exists: the spec and
the flags are checked by the caller, the world here (pre-flight: data present, batch divides,
optimizer and parallelism agree, the device exists and runs the precision). Then the run
directory decides what happens: a finished run is reported, an interrupted or failed one resumes,
a new one starts. Each attempt that trains leaves one line in attempts.jsonl, whatever its end.

Under torchrun every rank calls `train_run`; only rank 0 writes the run directory, the others
train beside it through a read-only view.

The outcomes, as exceptions the caller turns into exit statuses: `ConfigError` bad input (nothing
written), `RunLocked` another process trains the run, `RunFailed` the run failed while training
(recorded), `Interrupted` a signal stopped it (recorded; train again to resume).
"""

from __future__ import annotations

import contextlib
import errno
import os
import platform
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from nanigpt import _version
from nanigpt.conf import ConfigError, Registry, Resolved
from nanigpt.store.recipe import recipe_set
from nanigpt.store.rundir import RunDir, RunStore, StoreError, describe_code, describe_status, now_iso

# Libraries whose version can change a run's numbers; read from package metadata, so that
# recording them imports nothing (torch least of all).
_LIBRARIES = ("torch", "torchao", "msgspec", "xxhash", "click", "numpy")
_CODE_PATHS = ("nanigpt", "presets", "pyproject.toml")


class RunFailed(Exception):
    """The run failed while training: status.json and attempts.jsonl say why. `message` is None
    on a non-zero torchrun rank (rank 0 reports it); `trace` is the traceback of an unexpected
    error (a bug, not an outcome of the experiment)."""

    def __init__(self, message: str | None, *, trace: str | None = None) -> None:
        super().__init__(message or "")
        self.message = message
        self.trace = trace


class Interrupted(Exception):
    """A signal (Ctrl-C, SIGTERM) stopped the run; it is recorded as interrupted and resumes when
    trained again."""


def dist_env() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) outside torchrun."""
    try:
        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ConfigError(
            f"RANK={os.environ.get('RANK')!r} / WORLD_SIZE={os.environ.get('WORLD_SIZE')!r} are not integers",
            suggestion="launch with torchrun, or unset them",
        ) from None
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"RANK={rank} is not within WORLD_SIZE={world}", suggestion="launch with torchrun")
    return rank, world


def git_info() -> dict | None:
    """The commit of the naniGPT checkout that is running, whether its code (nanigpt/, presets/,
    pyproject.toml) has uncommitted changes, and a hash of those changes (so two dirty trees can
    be told apart). None when naniGPT is not a git checkout."""
    root = Path(__file__).resolve().parents[2]  # the checkout that holds nanigpt/
    if not (root / ".git").exists():
        return None

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=20)

    try:
        head = git("rev-parse", "--show-toplevel", "HEAD")
        lines = head.stdout.decode().split()
        # An installed naniGPT inside someone else's repository is not that repository's code.
        if head.returncode or len(lines) != 2 or Path(lines[0]).resolve() != root:
            return None
        status = git("status", "--porcelain", "-z", "--", *_CODE_PATHS)
        if status.returncode:
            return {"commit": lines[1], "dirty": None, "changes": None}
        if not status.stdout:
            return {"commit": lines[1], "dirty": False, "changes": None}
        import xxhash

        h = xxhash.xxh3_64(git("diff", "HEAD", "--binary", "--", *_CODE_PATHS).stdout)
        for entry in sorted(status.stdout.split(b"\0")):
            if entry.startswith(b"?? "):  # untracked: their content is part of the code too
                f = root / entry[3:].decode(errors="surrogateescape")
                h.update(entry)
                if f.is_file():
                    h.update(f.read_bytes())
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": lines[1], "dirty": True, "changes": h.hexdigest()}


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def new_attempt(tokens: tuple[str, ...], rt: Any, world: int) -> dict:
    """What this invocation records about itself; the trainer adds what it learns (data
    fingerprint, device, micro batch, fp8 mode) to the same dict."""
    return {
        "start": now_iso(),
        "tokens": list(tokens),
        "flags": msgspec.to_builtins(rt),
        "world_size": world,
        "version": _version.__version__,
        "git": git_info(),
        "libraries": library_versions(),
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "data_fingerprint": None,
    }


@contextlib.contextmanager
def blamed(r: Resolved) -> Iterator[None]:
    """Attribute a pre-flight error about a field to the token that set the field (the resolved
    spec's blame), as resolution errors are: `in `data.path=/x`: `data.path`='/x' does not exist`."""
    try:
        yield
    except ConfigError as e:
        if e.token is None and e.path:
            token = r.blame.get(e.path) or r.blame.get(f"{e.path}.type")
            if token:
                e.with_token(token)
        raise


def train_run(
    r: Resolved,
    rt: Any,
    store: RunStore,
    registry: Registry,
    *,
    say: Callable[[str], None],
    warn: Callable[[str], None],
    out: Any = sys.stderr,
) -> Any:
    """Check `r` against this machine, then train it into `store` under its lock: resume it,
    report it as finished, or start it. Returns the trainer's Summary (None when nothing was
    trained). `say` gets the lines for stdout, `warn` the warnings, `out` the trainer's progress.
    `registry` is the one `r` was resolved with (what the recipe set is measured against)."""
    from nanigpt.training.preflight import check_device, check_run

    rank, world = dist_env()
    with blamed(r):
        check_run(r.config, rt, world)
        check_device(r.config, rt)
    clean = False  # left by an error or an interrupt: leave the process group without waiting
    try:
        if rank != 0:
            summary = _follow(store, r, rt)
            clean = True
            return summary
        say(f"run {r.short}  {store.root / r.hash}")
        root_existed = store.root.exists()
        recipe = {"tokens": list(r.tokens), "start": r.start, "blame": dict(r.blame),
                  "set_by_recipe": recipe_set(r, store, registry)}
        run, created = store.create(r.hash, r.canonical, recipe, steps=r.config.train.steps)
        with run.lock():
            summary = _attempt(store, run, created, root_existed, r, rt, world, say=say, warn=warn, out=out)
        clean = True
        return summary
    finally:
        # The trainer joined the torchrun job (if any): leave it on every path, or gloo's threads
        # can abort the process at exit. Loaded only if training began.
        distributed = sys.modules.get("nanigpt.training.distributed")
        if distributed is not None:
            distributed.shutdown(wait=clean)


def _follow(store: RunStore, r: Resolved, rt: Any) -> Any:
    """A non-zero torchrun rank: trains beside rank 0, writes nothing."""
    run = store.follower(r.hash)
    try:
        if run.stored_status()["state"] == "finished":
            return None  # rank 0 reports it; nobody trains
    except StoreError:
        pass  # rank 0 has not created it yet
    from nanigpt.training.loop import train

    try:
        return train(r.config, rt, run, {}, out=sys.stderr)
    except FloatingPointError:
        raise RunFailed(None) from None  # diverged: every rank saw the same loss, and rank 0 says so


def _report_finished(run: RunDir, st: dict, say: Callable[[str], None], warn: Callable[[str], None]) -> None:
    """A finished run is not trained again; say what it reached and whether this code differs
    from the one that finished it. From the stored files only: the data is not read again (its
    fingerprint is a hash of every byte, and a status line is not worth reading gigabytes)."""
    say(f"already {describe_status(st)}; nothing to do "
        f"(its data is not re-checked; `nanigpt show {run.short}` for details)")
    finishing = next((a for a in reversed(run.attempts()) if a.get("outcome") == "finished"), None)
    if finishing is None:
        return
    then, now = finishing.get("git") or {}, git_info() or {}
    if finishing.get("version") != _version.__version__:
        warn(f"it finished with naniGPT {finishing.get('version')}; this is {_version.__version__}")
    key = ("commit", "dirty", "changes")
    if then.get("commit") and now.get("commit") and [then.get(k) for k in key] != [now.get(k) for k in key]:
        warn(f"it finished with the code at git {describe_code(then)}; this code is git {describe_code(now)}")


def _interrupted(run: RunDir) -> Interrupted:
    run.end_attempt("interrupted")
    return Interrupted(f"interrupted: run {run.short} stopped at step {run.stored_status().get('step') or 0}; "
                       "train it again to resume")


def _failed(run: RunDir, e: Exception) -> RunFailed:
    """An unexpected error (a bug, most likely): recorded, and reported with its traceback."""
    error = f"{type(e).__name__}: {e}"
    run.end_attempt("failed", error=error)
    return RunFailed(
        f"run {run.short} failed: {error.splitlines()[0]} "
        f"(recorded in {run.path}/status.json; train it again to resume from its last checkpoint)",
        trace=traceback.format_exc(),
    )


def _attempt(store: RunStore, run: RunDir, created: bool, root_existed: bool, r: Resolved, rt: Any, world: int,
             *, say: Callable[[str], None], warn: Callable[[str], None], out: Any) -> Any:
    """One attempt under the run's lock: its record opened, the trainer called, its end recorded."""
    st = run.stored_status()
    if st["state"] == "finished":
        if rt.fresh:
            raise ConfigError(
                f"run {run.short} is finished; --fresh restarts only an interrupted or failed run",
                suggestion=f"to train a variant, fork it: nanigpt train run:{run.short} <changes>",
            )
        _report_finished(run, st, say, warn)
        return None
    if run.reap_interrupted() is not None:
        st = run.stored_status()
    if st["state"] in ("interrupted", "failed") and not rt.fresh:
        print(f"resuming run {run.short}, {st['state']} at step {st.get('step') or 0}", file=out, flush=True)
    before = dict(st)
    attempt = new_attempt(r.tokens, rt, world)
    if rt.fresh:
        run.write_status(step=0, train_loss=None, val_loss=None, best_val_loss=None, tokens_per_s=None, wall_s=None)
    run.begin_attempt(attempt)
    from nanigpt.training.loop import train

    try:
        summary = train(r.config, rt, run, attempt, out=out)
    except ConfigError:
        # Refused before its first step: bad input, so leave the store as it was.
        if created:
            store.remove(run)
            if not root_existed:
                with contextlib.suppress(OSError):
                    store.root.rmdir()
        else:
            run.restore_status(before)
        raise
    except KeyboardInterrupt:
        raise _interrupted(run) from None
    except FloatingPointError as e:
        # Diverged: an outcome of the experiment, not a bug, so no traceback. Resuming would
        # diverge again: the message says what to change instead.
        run.end_attempt("failed", error=f"{type(e).__name__}: {e}")
        raise RunFailed(f"run {run.short} failed: {e} (recorded in {run.path}/status.json)") from None
    except OSError as e:
        if e.errno != errno.ENOSPC:
            raise _failed(run, e) from None
        # A full disk: an outcome of the machine, named with its place; no traceback to read.
        run.end_attempt("failed", error=f"{type(e).__name__}: {e.strerror}")
        raise RunFailed(f"run {run.short} failed: {e.strerror} (recorded in {run.path}/status.json; "
                        "train it again to resume from its last checkpoint)") from None
    except Exception as e:
        distributed = sys.modules.get("nanigpt.training.distributed")
        if distributed is not None and distributed.stopped_by_signal():
            # A peer stopped by the same signal broke a collective first: still an interrupt.
            raise _interrupted(run) from None
        raise _failed(run, e) from None
    run.end_attempt("finished", step=summary.steps, train_loss=summary.train_loss, val_loss=summary.val_loss)
    return summary
