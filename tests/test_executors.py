"""The sweep's executors: `--jobs N` worker processes (run_pool), and submitit jobs on this machine
(`--executor local`) and on a fake Slurm (`--executor slurm`: sbatch, sacct, srun and scancel are
scripts on PATH that run the job script on this machine or report a state we choose).

Real tiny members train in every test that says so; a member costs a second, a process that
imports torch a few more, so the members are few."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

from nanigpt.config import resolve
from nanigpt.experiments.executors import Job, pool_threads, run_pool
from nanigpt.experiments.slurm import SlurmOptions, cli_options, parse_time, run_submitit, torchrun_command
from nanigpt.store import RunStore

TINY = ["preset:tiny", "train.steps=4", "schedule.warmup_steps=1", "eval.interval=2"]
FLAGS = {"device": "cpu", "progress": "off"}


def jobs_for(runs: Path, *lrs: str, steps: int = 4) -> list[Job]:
    out = []
    for i, lr in enumerate(lrs):
        tokens = [*TINY, f"train.steps={steps}", f"lr={lr}"]
        out.append(Job(i, resolve(tokens, runs=RunStore(runs)).hash, tokens))
    return out


def collect() -> tuple[list, callable]:
    seen: list = []
    return seen, lambda job, result: seen.append((job, result))


def losses(runs: Path, h: str) -> list:
    return [(m["step"], m["loss"], m.get("val_loss")) for m in RunStore(runs).run(h).metrics()]


# ---- run_pool -------------------------------------------------------------------------------------


def test_pool_trains_each_member_as_train_does_at_its_thread_count(tmp_path: Path) -> None:
    """Two workers, four members: every one finishes, each attempt records cores // 2 threads,
    two processes trained them all (torch imported once per worker), and a member that a worker
    trained after another one has bitwise the losses of `nanigpt train` with OMP_NUM_THREADS at
    that count (nothing leaks from one member into the next)."""
    runs = tmp_path / "runs"
    jobs = jobs_for(runs, "1e-3", "2e-3", "3e-3", "4e-3")
    seen, on_done = collect()
    run_pool(jobs, FLAGS, runs, 2, on_done)
    assert sorted(j.number for j, _ in seen) == [0, 1, 2, 3]
    assert {r["outcome"] for _, r in seen} == {"finished"}
    assert all(f"run {j.hash[:12]}" in r["log"] for j, r in seen)  # each member's log comes back
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    attempts = [RunStore(runs).run(j.hash).attempts() for j in jobs]
    assert [[a["threads"] for a in att] for att in attempts] == [[threads]] * 4
    last = {att[0]["pid"]: j for j, att in sorted(zip(jobs, attempts), key=lambda x: x[1][0]["start"])}
    assert len(last) == 2
    alone = tmp_path / "alone"
    env = {**os.environ, "NANIGPT_RUNS_DIR": str(alone), "OMP_NUM_THREADS": str(threads)}
    for j in last.values():
        subprocess.run([sys.executable, "-m", "nanigpt", "train", *j.tokens, "--device", "cpu", "--no-progress"],
                       env=env, check=True, capture_output=True)
        assert losses(alone, j.hash) == losses(runs, j.hash)
        assert RunStore(alone).run(j.hash).attempts()[0]["threads"] == threads


DRIVER = """
import json, sys
from nanigpt.experiments.executors import Job, run_pool

def main():
    jobs = [Job(i, h, t) for i, (h, t) in enumerate(json.loads(sys.argv[2]))]
    try:
        run_pool(jobs, {"device": "cpu", "progress": "off"}, sys.argv[1], 2,
                 lambda job, r: print(json.dumps([job.number, r["outcome"]]), flush=True))
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
        sys.exit(130)

if __name__ == "__main__":
    main()
"""


def children(pid: int) -> set[int]:
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_driver(tmp_path: Path, jobs: list[Job]) -> tuple[subprocess.Popen, set[int]]:
    """The driver running run_pool over `jobs`, once a member trains: (process, its workers)."""
    import json

    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    arg = json.dumps([[j.hash, j.tokens] for j in jobs])
    p = subprocess.Popen([sys.executable, str(script), str(tmp_path / "runs"), arg], stdout=subprocess.PIPE,
                         text=True, start_new_session=True)
    store = RunStore(tmp_path / "runs")
    deadline = time.monotonic() + 120
    while not all((store.root / j.hash).is_dir() and store.run(j.hash).metrics() for j in jobs[:2]):
        assert p.poll() is None and time.monotonic() < deadline, "the members did not start training"
        time.sleep(0.1)
    return p, children(p.pid)


def test_kill_9_of_the_sweep_takes_its_workers_and_frees_their_locks(tmp_path: Path) -> None:
    jobs = jobs_for(tmp_path / "runs", "1e-3", "2e-3", steps=100000)
    p, workers = start_driver(tmp_path, jobs)  # and multiprocessing's resource tracker
    assert len(workers) >= 2
    p.kill()
    p.communicate()
    deadline = time.monotonic() + 5
    try:
        while any(alive(w) for w in workers):
            assert time.monotonic() < deadline, "the workers outlived the sweep"
            time.sleep(0.05)
    finally:
        for w in filter(alive, workers):
            os.kill(w, signal.SIGKILL)
    assert RunStore(tmp_path / "runs").run(jobs[0].hash).status()["state"] == "interrupted"


def test_ctrl_c_records_the_members_interrupted_and_starts_no_more(tmp_path: Path) -> None:
    jobs = jobs_for(tmp_path / "runs", "1e-3", "2e-3", "3e-3", steps=100000)
    p, workers = start_driver(tmp_path, jobs)
    os.killpg(p.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole process group
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 130
    lines = out.splitlines()
    assert lines[-1] == "KeyboardInterrupt"
    assert sorted(lines[:-1]) == ['[0, "interrupted"]', '[1, "interrupted"]']  # the third never started
    deadline = time.monotonic() + 5  # the workers have exited; multiprocessing's resource tracker, also a
    while any(alive(w) for w in workers) and time.monotonic() < deadline:  # child, sees the driver go after it
        time.sleep(0.05)
    assert not any(alive(w) for w in workers)
    store = RunStore(tmp_path / "runs")
    assert [store.run(j.hash).attempts()[-1]["outcome"] for j in jobs[:2]] == ["interrupted"] * 2
    assert not (store.root / jobs[2].hash).exists()


def test_pool_reports_a_dead_worker_as_failed_and_goes_on(tmp_path: Path, monkeypatch) -> None:
    """A member whose worker dies (here a patch kills it) fails; a new worker trains the next."""
    mine = tmp_path / "presets"
    mine.mkdir()
    (mine / "deadly.py").write_text(textwrap.dedent('''
        import os, signal
        from nanigpt.conf import patch

        @patch
        def die(cfg):
            """Kills the process that applies it."""
            os.kill(os.getpid(), signal.SIGKILL)
    '''))
    monkeypatch.setenv("NANIGPT_PRESETS", str(mine))  # the workers inherit it
    runs = tmp_path / "runs"
    good = jobs_for(runs, "1e-3")[0]._replace(number=2)
    deadly = [Job(i, f"{i}" * 32, [*TINY, f"lr={i + 1}e-3", "+die"]) for i in range(2)]  # never resolved here
    seen, on_done = collect()
    run_pool([*deadly, good], FLAGS, runs, 2, on_done)  # both first workers die
    by = {j.number: r for j, r in seen}
    assert [by[i]["outcome"] for i in range(3)] == ["failed", "failed", "finished"]
    assert "worker process died (exit code -9)" in by[0]["message"]


def test_pool_reports_a_member_that_cannot_start_as_failed(tmp_path: Path) -> None:
    seen, on_done = collect()
    run_pool([Job(0, "0" * 32, ["preset:tiny", "no_such_field=1"])], FLAGS, tmp_path / "runs", 2, on_done)
    assert [(r["outcome"], r["message"]) for _, r in seen] == \
        [("failed", "in `no_such_field=1`: unknown field `no_such_field`")]


# ---- submitit: the local executor ------------------------------------------------------------------


def job_spans(folder: Path) -> list[tuple[datetime, datetime]]:
    """When each submitit job ran, from its own log: its start and its exit."""

    def at(line: str) -> datetime:
        return datetime.strptime(re.search(r"\((\d{4}-.*?)\)", line)[1], "%Y-%m-%d %H:%M:%S,%f")

    spans = []
    for log in folder.glob("*/*_0_log.out"):
        lines = log.read_text().splitlines()
        spans.append((at(lines[0]), at(next(x for x in lines if "Exiting" in x))))
    return spans


def test_local_executor_runs_at_most_n_members_at_once(tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    runs = tmp_path / "runs"
    jobs = jobs_for(runs, "1e-3", "2e-3", "3e-3")
    seen, on_done = collect()
    run_submitit(jobs, FLAGS, runs, 2, on_done, cluster="local", folder=tmp_path / "jobs")
    assert sorted((j.number, r["outcome"]) for j, r in seen) == [(0, "finished"), (1, "finished"), (2, "finished")]
    for j in jobs:
        att = RunStore(runs).run(j.hash).attempts()
        assert [(a["outcome"], a["threads"]) for a in att] == [("finished", pool_threads(2))]
    spans = job_spans(tmp_path / "jobs")
    assert len(spans) == 3
    most = max(sum(s <= t < e for s, e in spans) for t, _ in spans)
    assert most == 2  # two at once, never three: submitit alone starts all of them together


def test_without_submitit_the_error_says_how_to_install_it(tmp_path: Path, monkeypatch) -> None:
    from nanigpt.conf import ConfigError

    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit raises ImportError
    with pytest.raises(ConfigError) as e:
        run_submitit(jobs_for(tmp_path, "1e-3"), FLAGS, tmp_path, 1, lambda j, r: None, cluster="local")
    assert "\n" not in str(e.value) and "pip install 'nanigpt[slurm]'" in str(e.value)


# ---- submitit: a fake Slurm --------------------------------------------------------------------------

FAKE = """#!{python}
# A fake Slurm: one script under the names sbatch, sacct, srun and scancel (argv[0] says which).
# State lives in $FAKE_SLURM: `mode` (run: run each job script here; else the state sacct reports),
# `next` (the next job id), jobs/<id>.sh (what was submitted), state/<id>, pid/<id>.
import os, re, signal, subprocess, sys
from pathlib import Path

root = Path(os.environ["FAKE_SLURM"])
name = Path(sys.argv[0]).name
if name == "sbatch":
    jid = int((root / "next").read_text())
    (root / "next").write_text(str(jid + 1))
    (root / "jobs").mkdir(exist_ok=True)
    (root / "state").mkdir(exist_ok=True)
    (root / "jobs" / f"{{jid}}.sh").write_text(Path(sys.argv[1]).read_text())
    mode = (root / "mode").read_text().strip()
    if mode == "refuse":
        sys.exit("sbatch: error: invalid partition specified: nope")
    (root / "state" / str(jid)).write_text("RUNNING" if mode == "run" else mode)
    if mode == "run":
        env = dict(os.environ, SLURM_JOB_ID=str(jid), SLURM_NTASKS="1", SLURM_JOB_NUM_NODES="1", SLURM_NODEID="0",
                   SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_JOB_NODELIST="localhost")
        p = subprocess.Popen([sys.executable, sys.argv[0].replace("sbatch", "srun"), "--job", str(jid), sys.argv[1]],
                             env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (root / "pid").mkdir(exist_ok=True)
        (root / "pid" / str(jid)).write_text(str(p.pid))
    print(f"Submitted batch job {{jid}}")
elif name == "srun" and sys.argv[1] == "--job":  # the batch job itself: its script, then its state
    rc = subprocess.call(["bash", sys.argv[3]])
    state = root / "state" / sys.argv[2]
    if state.read_text() == "RUNNING":
        state.write_text("COMPLETED" if rc == 0 else "FAILED")
elif name == "srun":  # srun --unbuffered --output OUT --error ERR COMMAND...
    args, files = sys.argv[1:], {{}}
    while args[0].startswith("--"):
        if args[0] in ("--output", "--error"):
            files[args[0]] = args[1].replace("%j", os.environ["SLURM_JOB_ID"]).replace("%t", "0")
            args = args[2:]
        else:
            args = args[1:]
    for flag, fd in (("--output", 1), ("--error", 2)):
        Path(files[flag]).parent.mkdir(parents=True, exist_ok=True)
        os.dup2(os.open(files[flag], os.O_WRONLY | os.O_CREAT | os.O_APPEND), fd)
    os.execvp("bash", ["bash", "-c", " ".join(args)])
elif name == "sacct":
    ids = [sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "-j"]
    print("JobID|State|NodeList")
    for jid in ids:
        f = root / "state" / jid
        if f.exists():
            print(f"{{jid}}|{{f.read_text()}}|localhost")
elif name == "scancel":
    jid = sys.argv[1]
    (root / "state" / jid).write_text("CANCELLED by 0")
    pid = root / "pid" / jid
    if pid.exists():
        os.killpg(int(pid.read_text()), signal.SIGTERM)
"""


@pytest.fixture
def slurm(tmp_path: Path, monkeypatch) -> Path:
    """A fake Slurm on PATH; returns its state folder (write `mode` to choose what it does)."""
    pytest.importorskip("submitit")
    from nanigpt.experiments import slurm as executors

    root = tmp_path / "slurm"
    bin_ = root / "bin"
    bin_.mkdir(parents=True)
    script = FAKE.format(python=sys.executable)
    for name in ("sbatch", "sacct", "srun", "scancel"):
        (bin_ / name).write_text(script)
        (bin_ / name).chmod(0o755)
    # job ids unique to this test: submitit's sacct watcher keeps the states of ended jobs by id
    (root / "next").write_text(str(time.time_ns() % 10**9))
    (root / "mode").write_text("run")
    monkeypatch.setenv("FAKE_SLURM", str(root))
    monkeypatch.setenv("PATH", f"{bin_}:{os.environ['PATH']}")
    monkeypatch.setattr(executors, "POLL_S", 0.1)
    monkeypatch.setattr(executors, "STATE_EVERY_S", 0.5)
    monkeypatch.setattr(executors, "RESULT_WAIT_S", 0.5)
    return root


def submitted(root: Path) -> list[str]:
    return [p.read_text() for p in sorted((root / "jobs").glob("*.sh"), key=lambda p: int(p.stem))]


def test_slurm_script_asks_for_the_options_and_runs_the_member(slurm: Path, tmp_path: Path) -> None:
    """One tiny member end to end through sbatch, srun and sacct; its script asks for what the
    options say."""
    runs = tmp_path / "runs"
    job = jobs_for(runs, "1e-3")[0]
    seen, on_done = collect()
    opts = SlurmOptions(partition="debug", time=parse_time("1:30:00"), cpus_per_task=2,
                        extra=(("account", "lab"), ("qos", "high")))
    run_submitit([job], FLAGS, runs, 4, on_done, cluster="slurm", slurm=opts, folder=tmp_path / "jobs")
    assert [(j.number, r["outcome"], r["step"]) for j, r in seen] == [(0, "finished", 4)]
    assert RunStore(runs).run(job.hash).status()["state"] == "finished"
    (script,) = submitted(slurm)
    for line in ("#SBATCH --partition=debug", "#SBATCH --time=90", "#SBATCH --nodes=1", "#SBATCH --ntasks-per-node=1",
                 "#SBATCH --cpus-per-task=2", "#SBATCH --account=lab", "#SBATCH --qos=high",
                 f"#SBATCH --job-name=nanigpt-{job.hash[:12]}"):
        assert line in script.splitlines()
    assert "gpus" not in script
    assert re.search(r"^srun .* -u -m submitit\.core\._submit .*/jobs/%j$", script, re.M)


def test_slurm_states_of_jobs_that_left_no_result(slurm: Path, tmp_path: Path) -> None:
    """Jobs that never ran: sacct's state is reported with the job's log path, as failed; one job
    is submitted at a time (n=1), the next only after the first has ended."""
    runs = tmp_path / "runs"
    jobs = jobs_for(runs, "1e-3", "2e-3", "3e-3")
    states = iter(["TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"])
    (slurm / "mode").write_text(next(states))
    seen: list = []

    def on_done(job, result):
        seen.append((job.number, result, len(submitted(slurm))))
        (slurm / "mode").write_text(next(states, "FAILED"))

    opts = SlurmOptions(partition="gpu", time=30, nodes=2, gpus_per_node=4)
    run_submitit(jobs, FLAGS, runs, 1, on_done, cluster="slurm", slurm=opts, folder=tmp_path / "jobs")
    assert [(n, r["outcome"], k) for n, r, k in seen] == [(0, "failed", 1), (1, "failed", 2), (2, "failed", 3)]
    for (n, r, _), state in zip(seen, ["TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"]):
        assert f"({state})" in r["message"] and str(tmp_path / "jobs") in r["message"]
        assert "_0_log.err" in r["message"]
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=30", "#SBATCH --nodes=2", "#SBATCH --gpus-per-node=4",
                 "#SBATCH --ntasks-per-node=1"):
        assert line in submitted(slurm)[0].splitlines()


def test_a_job_that_sbatch_refuses_is_reported_failed_with_its_reason(slurm: Path, tmp_path: Path) -> None:
    (slurm / "mode").write_text("refuse")
    seen, on_done = collect()
    runs = tmp_path / "runs"
    run_submitit(jobs_for(runs, "1e-3", "2e-3"), FLAGS, runs, 1, on_done, cluster="slurm", folder=tmp_path / "jobs")
    assert [(r["outcome"], r["message"]) for _, r in seen] == \
        [("failed", "not submitted: sbatch: error: invalid partition specified: nope")] * 2


def test_a_multi_gpu_member_runs_torchrun_with_the_rendezvous_on_the_first_node() -> None:
    job = Job(3, "ab" * 16, ["preset:small", "lr=1e-4"])
    cmd = torchrun_command(job, {"device": "cuda", "compile": True, "parallel": "fsdp", "progress": "off"},
                           "/shared/runs", nodes=2, gpus_per_node=4, first_node="gpu07", job_id="123456")
    assert cmd == [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc-per-node=4",
                   "--rdzv-backend=c10d", "--rdzv-endpoint=gpu07:29956", "--rdzv-id=123456",
                   "-m", "nanigpt", "train", "--device", "cuda", "--compile", "--parallel", "fsdp", "--no-progress",
                   "--runs-dir", "/shared/runs", "--", "preset:small", "lr=1e-4"]


def test_first_node_comes_from_slurms_node_list(monkeypatch) -> None:
    submitit = pytest.importorskip("submitit")
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    monkeypatch.setenv("SLURM_JOB_NODELIST", "gpu[07-08],cpu3")
    assert submitit.JobEnvironment().hostnames[0] == "gpu07"


def test_cli_options_are_what_train_parses_back() -> None:
    """Every kind of flag in the table, away from its default, survives the trip through the
    command line of `nanigpt train`."""
    import click

    from nanigpt._cli_train import runtime_flags
    from nanigpt.cli import cli
    from nanigpt.training.flags import FLAGS as TABLE
    from nanigpt.training.runtime import runtime_options

    flags = {"device": "cpu", "micro_batch": 4, "compile": True, "tune_malloc": False, "parallel": "fsdp",
             "checkpoint_every": 7, "keep_checkpoints": 3, "progress": "off", "fresh": True,
             "allow_data_change": True, "log": ("tensorboard", "wandb"), "profile": True, "profile_steps": "2:3"}
    assert set(flags) == {f.name for f in TABLE}  # a new flag is added here too
    for value in (flags, {**flags, "progress": "on"}, {"progress": "auto"}):
        args = cli_options(value)
        ctx = cli.get_command(click.Context(cli), "train").make_context("train", [*args, "--", "preset:tiny"])
        parsed = {k: v for k, v in ctx.params.items() if k in {f.name for f in TABLE}}
        assert runtime_flags(parsed) == runtime_options(value)
    assert cli_options({"progress": "auto", "device": "auto"}) == []


def test_parse_time_reads_slurms_forms() -> None:
    assert [parse_time(t) for t in ("90", "1:30:00", "2-00", "1-02:03", "0-00:00:30", "10:30")] == \
        [90, 90, 2880, 1563, 1, 11]


def wait_for_training(runs: Path, h: str, timeout: float = 120) -> None:
    store = RunStore(runs)
    deadline = time.monotonic() + timeout
    while not ((store.root / h).is_dir() and store.run(h).metrics()):
        assert time.monotonic() < deadline, "the member did not start training"
        time.sleep(0.1)


def job_process(folder: Path) -> int:
    """The pid of the process that runs a submitit job's function."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"submitit.core._submit" in args and any(str(folder).encode() in a for a in args):
            return int(cmdline.parent.name)
    raise AssertionError("no job process")


@pytest.mark.parametrize("sig, why", [(signal.SIGUSR2, "timed out: Slurm's time limit came first"),
                                      (signal.SIGTERM, "stopped by SIGTERM (scancel, preemption or a node going down)")],
                         ids=["time-limit", "sigterm"])
def test_slurm_stopping_a_job_records_the_run_interrupted_and_reports_it_failed(
        sig: signal.Signals, why: str, slurm: Path, tmp_path: Path) -> None:
    """SIGUSR2 is submitit's warning before the time limit, SIGTERM Slurm's way to end a job: the
    run records `interrupted` (it resumes when the sweep runs again) and the member is reported
    failed, saying why, so that the sweep goes on with the others."""
    import threading

    runs = tmp_path / "runs"
    job = jobs_for(runs, "1e-3", steps=100000)[0]
    seen, on_done = collect()

    def time_is_up() -> None:
        wait_for_training(runs, job.hash)
        os.kill(job_process(tmp_path / "jobs"), sig)

    threading.Thread(target=time_is_up, daemon=True).start()
    run_submitit([job], FLAGS, runs, 1, on_done, cluster="slurm", folder=tmp_path / "jobs")
    ((_, r),) = seen
    assert r["outcome"] == "failed" and r["message"].startswith(f"{why}; interrupted: run {job.hash[:12]} stopped at")
    assert RunStore(runs).run(job.hash).attempts()[-1]["outcome"] == "interrupted"


@pytest.mark.parametrize("cluster", ["local", "slurm"])
def test_ctrl_c_cancels_the_running_jobs(cluster: str, slurm: Path, tmp_path: Path, capfd) -> None:
    """Ctrl-C in the sweep: the running job is cancelled (local: SIGINT through its controller;
    Slurm: scancel, which sends SIGTERM), its run records `interrupted`, nothing more is
    submitted, and KeyboardInterrupt reaches the caller."""
    import threading

    runs = tmp_path / "runs"
    jobs = jobs_for(runs, "1e-3", "2e-3", steps=100000)
    seen, on_done = collect()

    def ctrl_c() -> None:
        wait_for_training(runs, jobs[0].hash)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_submitit(jobs, FLAGS, runs, 1, on_done, cluster=cluster, folder=tmp_path / "jobs")
    assert [(j.number, r["outcome"]) for j, r in seen] == [(0, "interrupted")]
    assert seen[0][1]["message"].startswith(("cancelled", "interrupted"))
    run = RunStore(runs).run(jobs[0].hash)
    deadline = time.monotonic() + 30  # a Slurm job is not waited for
    while run.status()["state"] != "interrupted":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert not (runs / jobs[1].hash).exists()
    assert capfd.readouterr() == ("", "")  # nothing on the terminal: the controllers write to a file
    assert len([p for p in (tmp_path / "jobs").iterdir() if p.name.isdigit()]) == 1  # one job submitted


@pytest.mark.slow
def test_a_two_gpu_member_trains_under_torchrun_in_its_job(slurm: Path, tmp_path: Path) -> None:
    """The multi-GPU path end to end, on the CPU: the job starts torchrun with 2 processes (gloo),
    rank 0 writes the run, and the job reads the outcome back from the store."""
    runs = tmp_path / "runs"
    job = jobs_for(runs, "1e-3")[0]
    seen, on_done = collect()
    run_submitit([job], FLAGS, runs, 1, on_done, cluster="slurm", slurm=SlurmOptions(gpus_per_node=2),
                 folder=tmp_path / "jobs")
    assert [(r["outcome"], r["step"]) for _, r in seen] == [("finished", 4)]
    assert [a["world_size"] for a in RunStore(runs).run(job.hash).attempts()] == [2]
    (script,) = submitted(slurm)
    assert "#SBATCH --gpus-per-node=2" in script.splitlines()


def test_the_executors_import_neither_torch_nor_submitit() -> None:
    """The sweep's --dry-run and --help import them: torch loads only in the processes that
    train, submitit only when a submitit executor runs."""
    code = ("import sys, nanigpt.experiments.executors, nanigpt.experiments.slurm; "
            "print(sorted(m for m in ('torch', 'submitit') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "[]\n"


@pytest.mark.parametrize("executor", ["pool", "local"])
def test_an_error_in_on_done_stops_the_members_still_running(executor: str, tmp_path: Path) -> None:
    """The caller's callback raises as a quick member ends: the error reaches the caller, and the
    long member that was training meanwhile records `interrupted` instead of training on alone."""
    if executor == "local":
        pytest.importorskip("submitit")
    runs = tmp_path / "runs"
    quick, = jobs_for(runs, "1e-3")
    slow, = jobs_for(runs, "2e-3", steps=100000)

    def on_done(job, result):
        wait_for_training(runs, slow.hash)
        raise RuntimeError("the runner's bug")

    with pytest.raises(RuntimeError, match="the runner's bug"):
        if executor == "pool":
            run_pool([slow, quick._replace(number=1)], FLAGS, runs, 2, on_done)
        else:
            run_submitit([slow, quick._replace(number=1)], FLAGS, runs, 2, on_done, cluster="local",
                         folder=tmp_path / "jobs")
    run = RunStore(runs).run(slow.hash)  # stopped and waited for: a job's controller kills it 1 s after
    assert run.status()["state"] == "interrupted"  # SIGINT (a `running` status with a free lock)
    if executor == "pool":
        assert run.attempts()[-1]["outcome"] == "interrupted"


def test_the_sweep_command_hands_its_slurm_options_to_sbatch(slurm: Path, tmp_path: Path) -> None:
    """`nanigpt sweep --executor slurm`: the command line's options reach the sbatch script, the
    jobs' folder is the sweep's own, and the members train through the fake Slurm."""
    from clikit import invoke

    from nanigpt.experiments.record import list_sweeps

    runs = tmp_path / "runs"
    r = invoke(["sweep", "preset:tiny", "train.steps=4", "schedule.warmup_steps=1", "seed=1,2", "--executor", "slurm",
                "--partition", "debug", "--time", "1:30:00", "--slurm-opt", "account=lab", "--jobs", "2"], runs)
    assert r.exit_code == 0, r.output
    assert r.stdout.count("finished at step 4") == 2
    scripts = submitted(slurm)
    assert len(scripts) == 2
    for line in ("#SBATCH --partition=debug", "#SBATCH --time=90", "#SBATCH --account=lab"):
        assert all(line in s.splitlines() for s in scripts)
    (rec,) = list_sweeps(RunStore(runs))
    assert all(f"/sweeps/{rec['hash']}.jobs/" in s for s in scripts)
