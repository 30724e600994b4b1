"""`torchrun -m nanigpt train` end to end: 2 processes (gloo, CPU) against 1, DDP and FSDP2, a rank
killed mid-run, and its sharded checkpoint resumed by a single process.

Every comparison is between real `nanigpt train` invocations on the same spec: same hash, and the
loss at every step within 1e-4 (dropout is 0 and the global batch is the same).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nanigpt.store.rundir import RunStore

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-4


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory, corpus_file: Path) -> Path:
    # 60 kB keeps the end-of-run whole-val evaluation short. Its 189 val blocks split 94/95 over
    # 2 ranks, 47/48 micro-batches of 2: under FSDP, where every forward is a collective, the
    # ranks must still run the same number of forwards.
    path = tmp_path_factory.mktemp("data") / "plays-60k.txt"
    path.write_bytes(corpus_file.read_bytes()[:60_512])
    return path


def spec(text: Path, steps: int = 20) -> list[str]:
    return ["preset:tiny", "data=text", f"data.path={text}", f"train.steps={steps}", "model.dropout=0"]


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    e["OMP_NUM_THREADS"] = "1"
    return e


def train_cmd(nproc: int, args: list[str], runs: Path, *flags: str) -> list[str]:
    """`nanigpt train` on the CPU, under torchrun with `nproc` processes (0: plain)."""
    launcher = [sys.executable, "-m", "nanigpt"]
    if nproc:
        # --standalone: a free port on localhost, so parallel test runs never collide.
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", "nanigpt"]
    return [*launcher, "train", *args, "--device", "cpu", "--no-progress", "--runs-dir", str(runs), *flags]


def nanigpt(nproc: int, args: list[str], runs: Path, *flags: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_group(train_cmd(nproc, args, runs, *flags), timeout)


@contextlib.contextmanager
def running_until(cmd: list[str], runs: Path, checkpoint: str) -> Iterator[subprocess.Popen[str]]:
    """Start `cmd` and yield it once `runs` holds a file matching `checkpoint` (a glob); kill
    what is left of its process tree on the way out."""
    job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env())
    try:
        deadline = time.monotonic() + 180
        while not list(runs.glob(checkpoint)):
            assert job.poll() is None, job.communicate()[1]
            assert time.monotonic() < deadline, f"no {checkpoint} in {runs}"
            time.sleep(0.05)
        yield job
    finally:
        if job.poll() is None:
            kill_tree(job.pid)


def run_group(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run `cmd`; on timeout kill it and every process under it, then fail. torchrun starts its
    workers in sessions of their own, and a worker hung in a collective would otherwise live on
    (holding our pipes open) until the process group's own timeout."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env())
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        out, err = proc.communicate()
        pytest.fail(f"timed out after {timeout} s: {' '.join(cmd[2:])}\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and all its descendants (found through /proc before any is killed)."""
    tree, i = [pid], 0
    while i < len(tree):
        tree += _children(tree[i])
        i += 1
    for p in reversed(tree):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def losses(runs: Path) -> tuple[str, dict[int, float]]:
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    run = RunStore(runs).run(run_dir.name)
    return run_dir.name, {r["step"]: r["loss"] for r in run.metrics()}


def assert_same_run(a: Path, b: Path, steps: int, tol: float = TOL) -> None:
    hash_a, la = losses(a)
    hash_b, lb = losses(b)
    assert hash_a == hash_b
    assert sorted(la) == sorted(lb) == list(range(1, steps + 1))
    worst = max(abs(la[s] - lb[s]) for s in la)
    assert worst < tol, {s: (la[s], lb[s]) for s in la}


@pytest.fixture(scope="module")
def one_process(text: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("one")
    proc = nanigpt(0, spec(text), runs, "--micro-batch", "2")
    assert proc.returncode == 0, proc.stderr
    return runs


def test_ddp_two_processes_match_one(text: Path, one_process: Path, tmp_path: Path) -> None:
    # --micro-batch 2: 4 rows per rank, so gradient accumulation (no_sync) is exercised too.
    proc = nanigpt(2, spec(text), tmp_path, "--micro-batch", "2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("run ") == 1  # rank 0 alone speaks
    assert_same_run(one_process, tmp_path, 20)
    (attempt,) = RunStore(tmp_path).run(losses(tmp_path)[0]).attempts()
    assert attempt["world_size"] == 2 and attempt["flags"]["parallel"] == "ddp"


@pytest.mark.slow
def test_fsdp_two_processes_match_one(text: Path, one_process: Path, tmp_path: Path) -> None:
    proc = nanigpt(2, spec(text), tmp_path, "--micro-batch", "2", "--parallel", "fsdp")
    assert proc.returncode == 0, proc.stderr
    assert_same_run(one_process, tmp_path, 20)
    ckpts = sorted((tmp_path / losses(tmp_path)[0] / "checkpoints").iterdir())
    assert [p.name for p in ckpts] == ["step_00000020"] and (ckpts[0] / ".metadata").is_file()


@pytest.mark.slow
def test_fp8_ddp_two_processes_match_one(text: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert nanigpt(0, [*spec(text), "+fp8"], one).returncode == 0
    proc = nanigpt(2, [*spec(text), "+fp8"], two)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("float8 is emulated") == 1  # once, from rank 0
    # Dynamic scaling takes each activation's amax over the rows a rank holds, so float8 rounds
    # differently on 2 ranks than on 1: close, not equal to 1e-4.
    assert_same_run(one, two, 20, tol=2e-3)
    (attempt,) = RunStore(two).run(losses(two)[0]).attempts()
    assert attempt["fp8"] == {"emulated": True, "recipe": "tensorwise", "converted": 8}


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name may hold spaces; the fields after its closing paren are fixed.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _rank_of(pid: int) -> int | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in environ:
        if item.startswith(b"RANK="):
            return int(item[5:])
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank to kill through /proc")
def test_a_killed_rank_stops_the_job_and_its_sharded_checkpoint_resumes_on_one_process(
    text: Path, tmp_path: Path
) -> None:
    steps = 60
    args = spec(text, steps)
    ref = tmp_path / "ref"
    assert nanigpt(0, args, ref).returncode == 0

    runs = tmp_path / "runs"
    cmd = train_cmd(2, args, runs, "--parallel", "fsdp", "--checkpoint-every", "10")
    with running_until(cmd, runs, "*/checkpoints/step_00000010/.metadata") as job:
        (victim,) = [p for p in _children(job.pid) if _rank_of(p) == 1]
        os.kill(victim, signal.SIGKILL)
        _, stderr = job.communicate(timeout=120)
    assert job.returncode != 0
    # torchrun names the rank that died and how.
    assert "rank      : 1" in stderr and "Signal 9 (SIGKILL)" in stderr, stderr

    hash_, partial = losses(runs)
    run = RunStore(runs).run(hash_)
    status = run.status()
    assert status["state"] in ("failed", "interrupted"), status
    assert max(partial) < steps

    # One plain process resumes the 2-process sharded checkpoint (DCP reshards it) and finishes.
    proc = nanigpt(0, args, runs)
    assert proc.returncode == 0, proc.stderr
    assert f"resuming run {hash_[:12]}" in proc.stderr
    assert_same_run(ref, runs, steps)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_stopping_torchrun_records_the_run_interrupted(text: Path, tmp_path: Path, sig: signal.Signals) -> None:
    """torchrun passes SIGINT (Ctrl-C) or SIGTERM (`kill`, a job scheduler) on to every worker,
    each in a session of its own; either way rank 0 records the attempt as interrupted."""
    cmd = train_cmd(2, spec(text, 400), tmp_path, "--checkpoint-every", "10")
    with running_until(cmd, tmp_path, "*/checkpoints/step_00000010.pt") as job:
        job.send_signal(sig)
        _, stderr = job.communicate(timeout=120)
    assert job.returncode != 0
    hash_, done = losses(tmp_path)
    run = RunStore(tmp_path).run(hash_)
    (attempt,) = run.attempts()
    assert attempt["outcome"] == "interrupted", (attempt, stderr[-3000:])
    assert run.status()["state"] == "interrupted"
    assert f"interrupted: run {hash_[:12]} stopped at step" in stderr
    assert 10 <= max(done) < 400
