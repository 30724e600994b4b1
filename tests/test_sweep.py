"""`nanigpt sweep`: every member resolved first, the record, doing only the work left, failures,
interrupts, state isolation between members, and the same numbers as `nanigpt train`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clikit import invoke

import nanigpt
from nanigpt.config import resolve
from nanigpt.experiments.record import list_sweeps, load_sweep
from nanigpt.store import RunStore

VENV_BIN = Path(sys.executable).parent


def spec(text: Path, *extra: str) -> list[str]:
    return ["preset:tiny", "data=text", f"data.path={text}", "train.steps=6", "eval.interval=3", *extra]


def losses(runs: Path, h: str) -> list[tuple[int, float]]:
    return [(m["step"], m["loss"]) for m in RunStore(runs).run(h).metrics() if "loss" in m]


def test_dry_run_prints_each_member_and_writes_nothing(runs, text):
    r = invoke(["sweep", *spec(text, "optim=adamw,sgd", "lr=1e-3,3e-3"), "--dry-run"], runs)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == "sweep of 4 member(s) (dry run: nothing written)"
    assert lines[1].split() == ["#", "hash", "status", "optim", "lr"]
    h = resolve(spec(text, "optim=sgd", "lr=3e-3")).short
    assert lines[5].split() == ["4", h, "new", "sgd", "3e-3"]
    # switching to sgd after setting lr undoes it (member 2 set the value adamw has anyway): one warning
    r = invoke(["sweep", *spec(text, "lr=1e-3,3e-3", "optim=adamw,sgd"), "--dry-run"], runs)
    assert r.stderr.splitlines() == ["Warning: `lr=1e-3,3e-3` does nothing in member(s) 4: `optim=adamw,sgd` "
                                     "later sets or replaces every field it set"]
    assert r.stdout.splitlines()[0] == "sweep of 4 member(s), 3 distinct run(s) (dry run: nothing written)"
    assert not runs.exists()


def test_one_bad_member_is_an_error_naming_it_and_nothing_is_written(runs, text):
    r = invoke(["sweep", *spec(text, "lr=1e-3,-1")], runs)
    assert r.exit_code == 2
    assert r.stderr.strip() == ("Error: member 2 (lr=-1): in `lr=-1`: `optim.lr`=-1.0 is out of range: "
                                "expected `float` > 0.0 (the current value is 0.001)")
    assert not runs.exists()
    # a member the pre-flight refuses (its data is missing) is refused before anything runs, too
    r = invoke(["sweep", *spec(text, f"data.path={text},/no/such/file")], runs)
    assert r.exit_code == 2 and r.stderr.startswith("Error: member 2 (data.path=/no/such/file): in `data.path=")
    assert not runs.exists()


def test_members_with_one_hash_train_once_and_a_second_sweep_skips_them(runs, text, one_thread):
    r = invoke(["sweep", *spec(text, "lr=0.001,1e-3,2e-3")], runs)
    assert r.exit_code == 0, r.output
    assert "sweep of 3 member(s), 2 distinct run(s)" in r.stderr
    store = RunStore(runs)
    hashes = [resolve(spec(text, f"lr={x}")).hash for x in ("1e-3", "2e-3")]
    assert sorted(row["hash"] for row in store.list()) == sorted(hashes)
    assert all(len(store.run(h).attempts()) == 1 for h in hashes)
    (rec,) = list_sweeps(store)
    assert [m["hash"] for m in rec["members"]] == [hashes[0], hashes[0], hashes[1]]
    assert rec["tokens"] == spec(text, "lr=0.001,1e-3,2e-3")
    again = invoke(["sweep", *spec(text, "lr=0.001,1e-3,2e-3")], runs)
    assert again.exit_code == 0
    assert again.stdout.count("skipped: finished") == 2
    assert all(len(store.run(h).attempts()) == 1 for h in hashes)
    assert list_sweeps(store)[0]["hash"] == rec["hash"]  # the same sweep, one record
    shown = invoke(["show", f"sweep:{rec['hash'][:6]}"], runs)
    assert shown.exit_code == 0 and shown.stdout.count("finished") == 3
    listed = invoke(["sweeps"], runs)
    assert listed.stdout.splitlines()[1].split()[:2] == [rec["short"], "2/2"]
    assert "sweeps" not in invoke(["runs"], runs).stdout  # the runs listing skips runs/sweeps/


@pytest.fixture
def failing(monkeypatch):
    """The trainer fails (a bug) for runs with lr=3e-3, and trains the others."""
    import nanigpt.training.loop as loop

    real = loop.train

    def train(cfg, *args, **kw):
        if cfg.optim.lr == 3e-3:
            raise RuntimeError("a bug")
        return real(cfg, *args, **kw)

    monkeypatch.setattr(loop, "train", train)
    return lambda: monkeypatch.setattr(loop, "train", real)


def test_a_failed_member_does_not_stop_the_others_and_is_retried_only_when_asked(runs, text, one_thread, failing):
    args = ["sweep", *spec(text, "lr=3e-3,1e-3")]
    r = invoke(args, runs)
    assert r.exit_code == 1
    assert "[1/2]" in r.stdout and "failed: run" in r.stdout and "[2/2]" in r.stdout and "finished at step 6" in r.stdout
    assert "1 of 2 run(s) finished; 1 failed (member 1)" in r.stderr
    bad = RunStore(runs).run(resolve(spec(text, "lr=3e-3")).hash)
    assert bad.status()["state"] == "failed"
    failing()  # the bug is fixed
    again = invoke(args, runs)
    assert again.exit_code == 1 and "skipped: failed (not retried without --retry-failed)" in again.stdout
    assert bad.status()["state"] == "failed"
    retried = invoke([*args, "--retry-failed"], runs)
    assert retried.exit_code == 0 and bad.status()["state"] == "finished"
    assert [a["outcome"] for a in bad.attempts()] == ["failed", "finished"]


def test_ctrl_c_stops_the_sweep_and_running_it_again_does_the_rest(runs, text, one_thread, monkeypatch):
    import nanigpt.training.loop as loop

    real = loop.train

    def train(cfg, *args, **kw):
        if cfg.optim.lr == 2e-3:
            raise KeyboardInterrupt
        return real(cfg, *args, **kw)

    monkeypatch.setattr(loop, "train", train)
    args = ["sweep", *spec(text, "lr=1e-3,2e-3,3e-3")]
    r = invoke(args, runs)
    assert r.exit_code == 130 and "run the same sweep again to go on" in r.stderr
    store = RunStore(runs)
    h1, h2, h3 = (resolve(spec(text, f"lr={x}")).hash for x in ("1e-3", "2e-3", "3e-3"))
    assert store.run(h1).status()["state"] == "finished"
    assert store.run(h2).status()["state"] == "interrupted"
    assert not (runs / h3).exists()  # never started
    monkeypatch.setattr(loop, "train", real)
    again = invoke(args, runs)
    assert again.exit_code == 0, again.output
    assert "[1/3]" in again.stdout and "skipped: finished" in again.stdout
    assert [a["outcome"] for a in store.run(h2).attempts()] == ["interrupted", "finished"]
    assert len(store.run(h1).attempts()) == 1 and store.run(h3).status()["state"] == "finished"


def test_a_dead_token_is_one_warning_for_the_whole_sweep(runs, text):
    r = invoke(["sweep", *spec(text, "lr=2e-3,3e-3", "+muon"), "--dry-run"], runs)
    assert r.exit_code == 0
    assert r.stderr.splitlines() == ["Warning: `lr=2e-3,3e-3` does nothing: `+muon` later sets or replaces every "
                                     "field it set"]
    strict = invoke(["sweep", *spec(text, "lr=2e-3,3e-3", "+muon"), "--strict"], runs)
    assert strict.exit_code == 2 and "in `lr=2e-3,3e-3`: `lr=2e-3,3e-3` does nothing" in strict.stderr


def test_the_state_a_member_leaves_is_put_back(one_thread):
    import random

    import torch

    from nanigpt.experiments.member import isolated

    before = (torch.get_num_threads(), random.getstate(), torch.random.get_rng_state(),
              torch.get_float32_matmul_precision(), torch.is_grad_enabled())
    with isolated(threads=2):
        assert torch.get_num_threads() == 2
        random.random(), torch.rand(3)
        torch.set_float32_matmul_precision("medium")
        torch.set_grad_enabled(False)
    after = (torch.get_num_threads(), random.getstate(), torch.random.get_rng_state(),
             torch.get_float32_matmul_precision(), torch.is_grad_enabled())
    assert after[0] == before[0] and after[1] == before[1] and torch.equal(after[2], before[2])
    assert after[3:] == before[3:]


def _cli(*args: str, runs: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NANIGPT_RUNS_DIR": str(runs), "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    return subprocess.run([str(VENV_BIN / "nanigpt"), *args], env=env, capture_output=True, text=True)


def test_members_trained_in_the_sweeps_process_match_train_bitwise(tmp_path, text):
    """Two members in one process, the second after the first (its state put back), against each
    trained alone by `nanigpt train` in a process of its own, at the same thread count."""
    sweep_runs, train_runs = tmp_path / "sweep", tmp_path / "train"
    r = _cli("sweep", *spec(text, "seed=1,2", "model.dropout=0.1"), runs=sweep_runs)
    assert r.returncode == 0, r.stderr
    for seed in (1, 2):
        t = _cli("train", *spec(text, f"seed={seed}", "model.dropout=0.1"), runs=train_runs)
        assert t.returncode == 0, t.stderr
        h = resolve(spec(text, f"seed={seed}", "model.dropout=0.1")).hash
        assert losses(sweep_runs, h) == losses(train_runs, h) and len(losses(train_runs, h)) == 6


def test_kill_9_of_the_sweep_loses_nothing_and_running_it_again_finishes(tmp_path, text):
    runs = tmp_path / "runs"
    args = spec(text, "seed=1,2", "train.steps=300", "eval.interval=100", "--checkpoint-every", "20")
    env = {**os.environ, "NANIGPT_RUNS_DIR": str(runs), "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    child = subprocess.Popen([str(VENV_BIN / "nanigpt"), "sweep", *args], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = resolve(spec(text, "seed=1", "train.steps=300", "eval.interval=100"))
    status = runs / first.hash / "status.json"
    deadline = time.monotonic() + 120
    try:
        while not status.exists() or json.loads(status.read_text()).get("step", 0) < 25:
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    run = RunStore(runs).run(first.hash)
    assert run.status()["state"] == "interrupted"  # its lock died with the sweep
    (rec,) = list_sweeps(RunStore(runs))
    again = _cli("sweep", *args, runs=runs)
    assert again.returncode == 0, again.stderr
    assert [a["outcome"] for a in run.attempts()] == ["interrupted", "finished"]
    assert run.attempts()[1]["start_step"] >= 20  # resumed from its checkpoint, not from scratch
    assert [m["step"] for m in run.metrics() if "loss" in m] == list(range(1, 301))
    assert load_sweep(RunStore(runs), rec["hash"])["created"] == rec["created"]


def test_two_sweeps_that_share_members_train_each_once(tmp_path, text):
    runs = tmp_path / "runs"
    env = {**os.environ, "NANIGPT_RUNS_DIR": str(runs), "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    a = subprocess.Popen([str(VENV_BIN / "nanigpt"), "sweep", *spec(text, "seed=1,2,3", "train.steps=40")],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    b = subprocess.Popen([str(VENV_BIN / "nanigpt"), "sweep", *spec(text, "seed=3,2,4", "train.steps=40")],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outs = [p.communicate(timeout=300) for p in (a, b)]
    assert a.returncode == 0 and b.returncode == 0, outs
    store = RunStore(runs)
    for seed in (1, 2, 3, 4):
        run = store.run(resolve(spec(text, f"seed={seed}", "train.steps=40")).hash)
        assert [x["outcome"] for x in run.attempts()] == ["finished"], seed
    assert len(list_sweeps(store)) == 2


def test_sweep_from_python_shares_the_run_object(runs, text, one_thread):
    s = nanigpt.sweep(spec(text, "lr=1e-3,2e-3"), runs_dir=runs, quiet=True, device="cpu")
    assert [r.hash for r in s.runs] == [resolve(spec(text, f"lr={x}")).hash for x in ("1e-3", "2e-3")]
    assert all(r.status["state"] == "finished" for r in s.runs) and s.failed == []
    assert s.hash == list_sweeps(RunStore(runs))[0]["hash"]
    with pytest.raises(nanigpt.conf.ConfigError, match="member 2"):
        nanigpt.sweep(spec(text, "lr=1e-3,-2"), runs_dir=runs, quiet=True)


def test_jobs_2_trains_two_members_at_once_each_on_its_share_of_the_cores(runs, text):
    from nanigpt.experiments.executors import pool_threads

    r = invoke(["sweep", *spec(text, "seed=1,2,3"), "--jobs", "2"], runs)
    assert r.exit_code == 0, r.output
    store = RunStore(runs)
    for seed in (1, 2, 3):
        (attempt,) = store.run(resolve(spec(text, f"seed={seed}")).hash).attempts()
        assert attempt["outcome"] == "finished" and attempt["threads"] == pool_threads(2) and attempt["train_s"] > 0
        assert attempt["flags"]["progress"] == "off"


@pytest.mark.parametrize("args, message", [
    (["--partition", "gpu"], "Error: `--partition` is an option of the Slurm executor"),
    (["--executor", "slurm", "--time", "1:xx"], "Error: `--time 1:xx`: not a Slurm time"),
    (["--executor", "slurm", "--slurm-opt", "account"], "Error: `--slurm-opt`=account is not KEY=VALUE"),
])
def test_bad_slurm_options_are_refused_before_anything_is_written(runs, text, args, message):
    r = invoke(["sweep", *spec(text, "seed=1,2"), *args], runs)
    assert r.exit_code == 2 and r.stderr.startswith(message) and len(r.stderr.splitlines()) == 1
    assert not runs.exists()
