"""`nanigpt train`: resolve, check, create the run directory, lock it, and hand over to the trainer.

Everything that can be wrong with the input is found before `runs/<hash>/` exists: the spec
(resolution), the flags (RuntimeOptions) and the world (pre-flight: data present, batch divides,
optimizer and parallelism agree, the device exists and runs the precision). Then the run directory
decides what happens: a finished run is reported, an interrupted or failed one resumes, a new one
starts. Each invocation that trains leaves one line in attempts.jsonl.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click
import msgspec

import nanigpt
from nanigpt._cli_view import recipe_set
from nanigpt.conf._errors import ConfigError
from nanigpt.conf._store import RunDir, RunStore, StoreError, now_iso

# Libraries whose version can change a run's numbers; read from package metadata, so that
# recording them imports nothing (torch least of all).
_LIBRARIES = ("torch", "torchao", "msgspec", "xxhash", "click", "numpy")
_FLAG_NAMES = {
    "device": "--device",
    "micro_batch": "--micro-batch",
    "compile": "--compile",
    "tune_malloc": "--tune-malloc",
    "parallel": "--parallel",
    "checkpoint_every": "--checkpoint-every",
    "keep_checkpoints": "--keep-checkpoints",
    "progress": "--progress",
    "fresh": "--fresh",
    "allow_data_change": "--allow-data-change",
}


def runtime_options(flags: dict[str, Any]) -> Any:
    """The validated RuntimeOptions of the command-line flags (ConfigError naming the flag)."""
    from nanigpt.training.runtime import RuntimeOptions

    raw = dict(flags)
    raw["progress"] = {None: "auto", True: "on", False: "off"}[raw.get("progress")]
    try:
        return msgspec.convert(raw, RuntimeOptions)
    except msgspec.ValidationError as e:
        msg, _, where = str(e).partition(" - at `$.")
        name = where.rstrip("`")
        flag = _FLAG_NAMES.get(name, name)
        value = raw.get(name)
        raise ConfigError(
            f"`{flag}`={value}: {msg[0].lower()}{msg[1:]}", suggestion=f"see `nanigpt train --help` for {flag}"
        ) from None


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


_CODE_PATHS = ("nanigpt", "presets", "pyproject.toml")


def git_info() -> dict | None:
    """The commit of the naniGPT checkout that is running, whether its code (nanigpt/, presets/,
    pyproject.toml) has uncommitted changes, and a hash of those changes (so two dirty trees can
    be told apart). None when naniGPT is not a git checkout."""
    root = Path(nanigpt.__file__).resolve().parent.parent
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


def new_attempt(spec: tuple[str, ...], rt: Any, world: int) -> dict:
    """What this invocation records about itself; the trainer adds what it learns (data
    fingerprint, device, micro batch, fp8 mode) to the same dict."""
    return {
        "start": now_iso(),
        "tokens": list(spec),
        "flags": msgspec.to_builtins(rt),
        "world_size": world,
        "version": nanigpt.__version__,
        "git": git_info(),
        "libraries": library_versions(),
        "python": platform.python_version(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "data_fingerprint": None,
    }


def _say(text: str) -> None:
    click.echo(text, err=True)


def _report_finished(run: RunDir, st: dict) -> None:
    """A finished run is not trained again; say what it reached and whether this code differs
    from the one that finished it. From the stored files only: the data is not read again (its
    fingerprint is a hash of every byte, and a status line is not worth reading gigabytes)."""
    from nanigpt._cli_view import status_line

    click.echo(
        f"already {status_line(st)}; nothing to do "
        f"(its data is not re-checked; `nanigpt show {run.short}` for details)"
    )
    finishing = next((a for a in reversed(run.attempts()) if a.get("outcome") == "finished"), None)
    if finishing is None:
        return
    then, now = finishing.get("git") or {}, git_info() or {}
    if finishing.get("version") != nanigpt.__version__:
        _say(f"Warning: it finished with naniGPT {finishing.get('version')}; this is {nanigpt.__version__}")
    key = ("commit", "dirty", "changes")
    if then.get("commit") and now.get("commit") and [then.get(k) for k in key] != [now.get(k) for k in key]:
        _say(f"Warning: it finished with the code at {_code(then)}; this code is {_code(now)}")


def _code(git: dict) -> str:
    """`1a2b3c4d5e` or `1a2b3c4d5e+changes 9f8e7d6c` (uncommitted changes, by their hash)."""
    out = f"git {git['commit'][:10]}"
    if git.get("dirty"):
        out += f"+changes {git['changes'][:8]}" if git.get("changes") else "+dirty"
    return out


@contextlib.contextmanager
def _blamed(r: Any) -> Iterator[None]:
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


def _preflight_all(r: Any, rt: Any, world: int) -> None:
    """Every check that needs this machine, in the order a user fixes them: data, batch, optimizer
    and parallelism, device and precision. ConfigError naming the token; nothing is written."""
    from nanigpt.training.preflight import check_device, check_run

    with _blamed(r):
        check_run(r.config, rt, world)
        check_device(r.config, rt)


def _dry_run(store: RunStore, r: Any, rt: Any, world: int) -> None:
    """Describe the run; what the pre-flight would refuse is a warning here, not an error: a dry
    run is also for a config meant for another machine (its data, its GPUs)."""
    from nanigpt._cli_view import Out, Target, render_config
    from nanigpt.training.sizes import describe
    from nanigpt.training.preflight import check_data, check_device, check_parallel, global_sequences, micro_batch_for

    warnings: list[str] = []

    def check(f: Any, *args: Any, **kw: Any) -> Any:
        try:
            with _blamed(r):
                return f(*args, **kw)
        except ConfigError as e:
            warnings.append(str(e))
            return None

    check(check_data, r.config)
    micro = check(micro_batch_for, r.config, rt, world)
    check(check_parallel, r.config, rt, sharded=world > 1)
    check(check_device, r.config, rt)
    d = describe(r.config)
    p = d["params"]
    n_seq = global_sequences(r.config)
    batch = f"batch     {r.config.train.batch_tokens:,} tokens/step = {n_seq} sequences x {r.config.model.block_size}"
    if micro is not None:
        batch += f"; micro batch {micro} x {n_seq // world // micro} accumulation x {world} process(es)"
    cfg_dict = msgspec.json.decode(r.canonical)
    t = Target(r.hash, cfg_dict, list(r.tokens), r.start, dict(r.blame), None, recipe_set(r, store))
    out = Out()
    exists = (store.root / r.hash).is_dir()
    lines = [
        f"run       {out.style(r.short, fg='yellow', bold=True)}  {store.root / r.hash}"
        + ("" if exists else "  (dry run: not created)"),
        f"hash      {r.hash}",
        f"recipe    {t.recipe}",
        f"params    {p['total']:,} ({p['non_embedding']:,} non-embedding)",
        f"flops     {d['flops_per_token']:,} per token (training: forward + backward)",
        batch,
        "",
        f"config    ({'bold' if out.color else '*'} = set by the recipe; the rest is {r.start or 'the default preset'})",
    ]
    out.echo(lines + render_config(t, out, blame=False))
    for w in warnings:
        _say(f"Warning: {w}")


def train_command(spec: tuple[str, ...], *, dry_run: bool, runs_dir: Path, flags: dict[str, Any]) -> None:
    from nanigpt.conf import resolve

    rank, world = dist_env()
    store = RunStore(runs_dir)
    r = resolve(list(spec), runs=store)
    rt = runtime_options(flags)
    if dry_run:
        if rank == 0:
            _dry_run(store, r, rt, world)
        return
    _preflight_all(r, rt, world)
    clean = False  # left by an error or an interrupt: leave the process group without waiting
    try:
        if rank != 0:
            _follow(store, r, rt)
            clean = True
            return
        click.echo(f"run {r.short}  {store.root / r.hash}")
        root_existed = store.root.exists()
        # The leaves whose value differs from the start's: what `show` marks.
        recipe = {"tokens": list(r.tokens), "start": r.start, "blame": dict(r.blame),
                  "set_by_recipe": recipe_set(r, store)}
        run, created = store.create(r.hash, r.canonical, recipe, steps=r.config.train.steps)
        lock = run.lock()
        try:
            _train_locked(store, run, created, root_existed, r, rt, spec, world)
            clean = True
        finally:
            lock.release()
    finally:
        # The trainer joined the torchrun job (if any): leave it on every path, or gloo's threads
        # can abort the process at exit. Loaded only if training began.
        distributed = sys.modules.get("nanigpt.training.distributed")
        if distributed is not None:
            distributed.shutdown(wait=clean)


def _follow(store: RunStore, r: Any, rt: Any) -> None:
    """A non-zero torchrun rank: trains beside rank 0, writes nothing."""
    run = store.follower(r.hash)
    try:
        if run.stored_status()["state"] == "finished":
            return  # rank 0 reports it; nobody trains
    except StoreError:
        pass  # rank 0 has not created it yet
    from nanigpt.training.loop import train

    try:
        train(r.config, rt, run, {}, out=sys.stderr)
    except FloatingPointError:
        sys.exit(1)  # diverged: every rank saw the same loss, and rank 0 says so


def _interrupted(run: RunDir) -> NoReturn:
    run.end_attempt("interrupted")
    _say(f"interrupted: run {run.short} stopped at step {run.stored_status().get('step') or 0}; "
         "train it again to resume")
    sys.exit(130)


def _train_locked(store: RunStore, run: RunDir, created: bool, root_existed: bool, r: Any, rt: Any,
                  spec: tuple[str, ...], world: int) -> None:
    st = run.stored_status()
    if st["state"] == "finished":
        if rt.fresh:
            raise ConfigError(
                f"run {run.short} is finished; --fresh restarts only an interrupted or failed run",
                suggestion=f"to train a variant, fork it: nanigpt train run:{run.short} <changes>",
            )
        _report_finished(run, st)
        return
    if run.reap_interrupted() is not None:
        st = run.stored_status()
    if st["state"] in ("interrupted", "failed") and not rt.fresh:
        _say(f"resuming run {run.short}, {st['state']} at step {st.get('step') or 0}")
    before = dict(st)
    attempt = new_attempt(spec, rt, world)
    if rt.fresh:
        run.write_status(step=0, train_loss=None, val_loss=None)
    run.begin_attempt(attempt)
    from nanigpt.training.loop import train

    try:
        summary = train(r.config, rt, run, attempt, out=sys.stderr)
    except ConfigError:
        # Refused before its first step: bad input, so leave the store as it was.
        if created:
            store.remove(run)
            if not root_existed:
                try:
                    store.root.rmdir()
                except OSError:
                    pass
        else:
            run.restore_status(before)
        raise
    except KeyboardInterrupt:
        _interrupted(run)
    except FloatingPointError as e:
        # Diverged: an outcome of the experiment, not a bug, so no traceback. Resuming would
        # diverge again: the message says what to change instead.
        run.end_attempt("failed", error=f"{type(e).__name__}: {e}")
        raise click.ClickException(f"run {run.short} failed: {e} (recorded in {run.path}/status.json)") from None
    except Exception as e:
        distributed = sys.modules.get("nanigpt.training.distributed")
        if distributed is not None and distributed.stopped_by_signal():
            # A peer stopped by the same signal broke a collective first: still an interrupt.
            _interrupted(run)
        import traceback

        error = f"{type(e).__name__}: {e}"
        run.end_attempt("failed", error=error)
        traceback.print_exc()
        raise click.ClickException(
            f"run {run.short} failed: {error.splitlines()[0]} "
            f"(recorded in {run.path}/status.json; train it again to resume from its last checkpoint)"
        ) from None
    run.end_attempt("finished", step=summary.steps, train_loss=summary.train_loss, val_loss=summary.val_loss)
