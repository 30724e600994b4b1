"""The submitit executors of a sweep: `run_submitit` sends each member to Slurm as a job
(`--executor slurm`), or runs it as a submitit job on this machine (`--executor local`, the same
path, testable here). submitit is the `slurm` extra, imported only when used; torch is imported
only inside the job.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from nanigpt.conf import ConfigError, short_hash
from nanigpt.experiments.executors import CtrlC, Job, OnDone, ended, member_state, pool_threads, run_one, stop_on
from nanigpt.experiments.member import FAILED, FINISHED, INTERRUPTED, LOCKED
from nanigpt.store.rundir import SWEEPS_DIR

INSTALL = "pip install 'nanigpt[slurm]' (scripts/setup installs it)"
POLL_S = 0.5  # how often run_submitit looks for ended jobs (a stat of each result file)
STATE_EVERY_S = 60.0  # and asks Slurm (one sacct) for the state of jobs that ended without one
RESULT_WAIT_S = 15.0  # how long an ended Slurm job's result file may take to show (as submitit waits)
LOCAL_TIMEOUT_MIN = 60 * 24 * 365  # submitit's local jobs get SIGUSR2 at their time limit: none here
RDZV_PORT = 29500  # torchrun's default port; a job adds its id modulo 1000 (two jobs may share a node)


class SlurmOptions(NamedTuple):
    """What each member's Slurm job asks for. `time` is in minutes (`parse_time` reads Slurm's
    `D-HH:MM:SS` forms); `extra` is passed to sbatch as `--KEY=VALUE` lines (`account`, `qos`...)."""

    partition: str | None = None
    time: int = 60
    nodes: int = 1
    gpus_per_node: int = 0
    cpus_per_task: int | None = None
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node


def parse_time(text: str) -> int:
    """Minutes, from Slurm's time forms: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not m:
        raise ConfigError(f"`--time {text}`: not a Slurm time", suggestion="minutes (90), HH:MM:SS or D-HH:MM:SS")
    days, a, b, c = (int(g) if g else None for g in m.groups())
    if days is not None:  # D-HH[:MM[:SS]]
        h, mi, s = a, b or 0, c or 0
        minutes = days * 1440 + h * 60 + mi + s / 60
    elif c is not None:  # HH:MM:SS
        minutes = a * 60 + b + c / 60
    else:  # MM or MM:SS
        minutes = a + (b or 0) / 60
    return max(1, -int(-minutes // 1))  # whole minutes, rounded up: never less than asked


def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise ConfigError("`--executor local|slurm` needs submitit, which is not installed",
                          suggestion=INSTALL) from None
    return submitit


def cli_options(flags: dict) -> list[str]:
    """The runtime flag values `flags` (by name, as `run_member` takes them) as `nanigpt train`
    options, derived from the flags table; a value at its default is left out."""
    from nanigpt.training.flags import FLAGS

    out: list[str] = []
    for f in FLAGS:
        v = flags.get(f.name, f.default)
        if f.kind == "tristate":  # the first choice is "unset"; `--x` the second, `--no-x` the third
            out += [[], [f.option], [f"--no-{f.option[2:]}"]][f.type.index(v)]
        elif v == f.default:
            continue
        elif f.kind == "switch":
            out.append(f.option if v else f"--no-{f.option[2:]}")
        elif f.kind == "flag":
            out.append(f.option)
        elif f.kind == "multi":
            out += [x for choice in v for x in (f.option, choice)]
        else:
            out += [f.option, str(v)]
    return out


def torchrun_command(job: Job, flags: dict, runs_dir: str, *, nodes: int, gpus_per_node: int, first_node: str,
                     job_id: str) -> list[str]:
    """The torchrun line that trains `job` on `nodes` x `gpus_per_node` GPUs, one launcher per
    node, meeting at the c10d rendezvous on the job's first node."""
    port = RDZV_PORT + int(re.sub(r"\D", "", job_id) or 0) % 1000
    return [sys.executable, "-m", "torch.distributed.run",  # = torchrun, from this Python's torch
            f"--nnodes={nodes}", f"--nproc-per-node={gpus_per_node}", "--rdzv-backend=c10d",
            f"--rdzv-endpoint={first_node}:{port}", f"--rdzv-id={job_id}",
            "-m", "nanigpt", "train", *cli_options(flags), "--runs-dir", runs_dir, "--", *job.tokens]


def run_job(job: Job, flags: dict, runs_dir: str, threads: int | None, slurm: SlurmOptions | None) -> dict:
    """The function a submitit job runs: one member. On one GPU (or on the CPU) it trains in
    this process through `run_member`; on more, under torchrun (`torchrun_command`), and the
    outcome is read back from the run store. SIGTERM (scancel, preemption) and SIGUSR2 (submitit's
    warning before the time limit) stop it like Ctrl-C: the run records `interrupted` and resumes
    when the sweep runs again. Stopped by Slurm rather than by Ctrl-C, the member is reported as
    `failed`, saying why (the sweep goes on with the others; `interrupted` would stop it)."""
    stop_on(signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)
    if slurm is not None and slurm.gpus > 1:
        result = _torchrun_member(job, flags, runs_dir, slurm)
    else:
        result = run_one(job, flags, runs_dir, threads)
    why = _SLURM_STOPS.get(member_state["stopped"])
    if why and result["outcome"] == INTERRUPTED:
        result.update(outcome=FAILED, message=f"{why}; {result.get('message') or 'interrupted'}")
    return result


_SLURM_STOPS = {signal.SIGUSR2: "timed out: Slurm's time limit came first",
                signal.SIGTERM: "stopped by SIGTERM (scancel, preemption or a node going down)"}


def _torchrun_member(job: Job, flags: dict, runs_dir: str, slurm: SlurmOptions) -> dict:
    """A multi-GPU member: every node of the job starts torchrun; rank 0 writes the run."""
    import submitit
    from nanigpt.store import RunStore

    env = submitit.JobEnvironment()
    cmd = torchrun_command(job, flags, runs_dir, nodes=slurm.nodes, gpus_per_node=slurm.gpus_per_node,
                           first_node=env.hostnames[0], job_id=env.job_id)
    run = RunStore(Path(runs_dir)).follower(job.hash)  # a view that may not exist yet

    def state() -> dict:
        return run.status() if (run.path / "status.json").exists() else {"state": "new"}

    before = state()
    print(" ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd)
    member_state["busy"] = True
    try:
        rc = proc.wait()
    except KeyboardInterrupt:  # torchrun passes SIGTERM to every rank: the run records `interrupted`
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait()
    finally:
        member_state["busy"] = False
    st = state()
    outcome = {"finished": FINISHED, "interrupted": INTERRUPTED, "running": LOCKED}.get(st["state"], FAILED)
    if before["state"] == "finished":
        outcome = "done"
    message = None if outcome in (FINISHED, "done") else (st.get("error") or f"torchrun exited with code {rc}")
    return {"hash": job.hash, "outcome": outcome, "message": message, "step": st.get("step"),
            "train_loss": st.get("train_loss"), "val_loss": st.get("val_loss"), "log": ""}


def _executor(submitit: Any, cluster: str, folder: Path, slurm: SlurmOptions) -> Any:
    if cluster == "local":
        ex = submitit.LocalExecutor(folder=folder)
        ex.update_parameters(timeout_min=LOCAL_TIMEOUT_MIN)
        return ex
    if cluster != "slurm":
        raise ValueError(f"cluster {cluster!r}: local or slurm")
    ex = submitit.SlurmExecutor(folder=folder)
    params: dict[str, Any] = {"time": slurm.time, "nodes": slurm.nodes, "ntasks_per_node": 1}
    if slurm.partition:
        params["partition"] = slurm.partition
    if slurm.gpus_per_node:
        params["gpus_per_node"] = slurm.gpus_per_node
    if slurm.cpus_per_task:
        params["cpus_per_task"] = slurm.cpus_per_task
    if slurm.extra:
        params["additional_parameters"] = dict(slurm.extra)
    ex.update_parameters(**params)
    return ex


def run_submitit(jobs: list[Job], flags: dict, runs_dir: str | Path, n: int, on_done: OnDone, *,
                 cluster: str = "local", slurm: SlurmOptions = SlurmOptions(), folder: str | Path | None = None
                 ) -> None:
    """Train `jobs` as submitit jobs, at most `n` submitted at once (the next is submitted as one
    ends): on this machine (`cluster="local"`, each on `pool_threads(n)` torch threads) or on
    Slurm (`cluster="slurm"`, each job asking for `slurm`).

    On Slurm the runs directory, `folder` (submitit's scripts, pickles and logs: by default
    `runs/sweeps/jobs/`, one folder per job id) and this Python must be on storage that every node
    sees. A job that ends without a result (killed, Slurm's FAILED, TIMEOUT, CANCELLED, NODE_FAIL)
    is reported as failed with its state and its log's path.

    Ctrl-C cancels every job still pending or running (submitit's `job.cancel`) and raises
    KeyboardInterrupt after reporting them. A running local job gets SIGINT (from the terminal
    and from its submitit controller), records `interrupted` and exits; if it takes more than a
    second, the controller kills it and its `running` status with a free lock reads as
    interrupted all the same. A Slurm job is `scancel`ed: it gets SIGTERM, records `interrupted`,
    and is not waited for. Unlike `run_pool`'s workers, local jobs outlive a `kill -9` of the
    sweep: each finishes its member (and a new sweep meanwhile finds its run locked)."""
    submitit = _submitit()
    runs_dir = str(Path(runs_dir).absolute())
    folder = Path(folder) if folder is not None else Path(runs_dir) / SWEEPS_DIR / "jobs"
    ex = _executor(submitit, cluster, folder / "%j", slurm)
    threads = pool_threads(n) if cluster == "local" else None
    args = (flags, runs_dir, threads, slurm if cluster == "slurm" else None)
    todo = deque(jobs)
    running: dict[Any, Job] = {}  # submitit job -> member
    asked_state = time.monotonic()
    with CtrlC() as stop, _cancelling(running, wait=cluster == "local"):
        while (todo or running) and not stop.asked:
            while todo and len(running) < n and not stop.asked:
                job = todo.popleft()
                try:
                    if cluster == "slurm":
                        ex.update_parameters(job_name=f"nanigpt-{short_hash(job.hash)}")
                        sj = ex.submit(run_job, job, *args)
                    else:
                        with _output_to(folder / "controllers.log"):  # not the terminal
                            sj = ex.submit(run_job, job, *args)
                        sj.paths.result_pickle.unlink(missing_ok=True)  # ids are pids: an old job's
                    running[sj] = job
                except Exception as e:  # sbatch refused it (a bad partition, a limit)
                    on_done(job, ended(job, FAILED, f"not submitted: {str(e).strip().splitlines()[-1]}"))
            time.sleep(POLL_S)
            if cluster == "slurm" and running and time.monotonic() - asked_state > STATE_EVERY_S:
                asked_state = time.monotonic()
                next(iter(running)).done(force_check=True)  # one sacct for every job submitted
            for sj in [sj for sj in running if sj.done()]:
                on_done(running[sj], _result(sj, running.pop(sj), wait=cluster == "slurm"))
        if stop.asked:
            for sj in running:
                sj.cancel(check=False)
            for sj, job in list(running.items()):
                if cluster == "local":
                    sj.wait()
                    on_done(job, _result(sj, job, wait=False, cancelled=True))
                else:
                    on_done(job, ended(job, INTERRUPTED, f"cancelled: Slurm job {sj.job_id} (scancel)"))
                del running[sj]
    if stop.asked:
        raise KeyboardInterrupt


@contextlib.contextmanager
def _cancelling(running: dict, *, wait: bool) -> Iterator[None]:
    """Whatever ends the loop early (an error in `on_done`, say) cancels the jobs still in
    `running` (and, `wait`, waits for them to end): none outlives the sweep by accident."""
    try:
        yield
    finally:
        for sj in running:
            sj.cancel(check=False)
        for sj in running if wait else ():
            sj.wait()


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """This process's stdout and stderr (file descriptors 1 and 2) go to `path` inside, so that
    the processes started there write there: submitit's local job controllers, which print a
    traceback when Ctrl-C reaches them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)


def _result(sj: Any, job: Job, *, wait: bool, cancelled: bool = False) -> dict:
    """The member's result from its ended job; `failed` (or `interrupted`, if we cancelled it)
    with the job's state and log when the job left none. `wait`: give a shared file system
    RESULT_WAIT_S to show the result file; a local job writes it before it exits."""
    task = sj.task(0)
    deadline = time.monotonic() + (RESULT_WAIT_S if wait else 0)
    while not task.paths.result_pickle.exists() and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if task.paths.result_pickle.exists():
        try:
            return task.result()
        except Exception as e:  # the job function raised: submitit's message ends with its trace
            trace = [line for line in str(e).splitlines() if line.strip() and not line.startswith("-")]
            why = f"raised {trace[-1] if trace else e}"
    else:
        why = "ended without a result"
    log = task.paths.stderr
    if cancelled:
        return ended(job, INTERRUPTED, f"cancelled: job {sj.job_id} ({sj.state}); log {log}")
    return ended(job, FAILED, f"job {sj.job_id} {why} ({sj.state}); log {log}")
