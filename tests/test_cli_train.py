"""`nanigpt train`: dry runs, real (tiny) trainings, finished/interrupted/failed runs, the lock.

Each real training costs a second or two, so there are few of them; the states that need no
training (locked, refused by the trainer, finished-and-changed) are set up with the store.
"""

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
from nanigpt import builders
from nanigpt.store.lifecycle import git_info
from nanigpt.atomic import read_jsonl
from nanigpt.conf import ConfigError
from nanigpt.config import resolve
from nanigpt.store.rundir import RunDir, RunStore

VENV_BIN = Path(sys.executable).parent


def spec(text: Path, *extra: str) -> list[str]:
    return ["preset:tiny", "data=text", f"data.path={text}", "train.steps=6", "eval.interval=3",
            "schedule.warmup_steps=2", *extra]


@pytest.fixture
def shutdowns(monkeypatch) -> list[int]:
    """Counts the CLI's calls of `distributed.shutdown`: a torchrun job must leave its process
    group on every exit path, or gloo can abort the process at exit."""
    from nanigpt.training import distributed

    calls: list[int] = []
    real = distributed.shutdown

    def counted(**kw):
        calls.append(1)
        real(**kw)

    monkeypatch.setattr(distributed, "shutdown", counted)
    return calls


def test_dry_run_describes_the_run_and_creates_nothing(runs, text):
    r = invoke(["train", *spec(text), "--dry-run"], runs)
    assert r.exit_code == 0, r.stderr
    res = resolve(spec(text))
    from nanigpt.training.sizes import describe

    d = describe(res.config)
    lines = r.stdout.splitlines()
    assert lines[:6] == [
        f"run       {res.short}  {runs}/{res.hash}  (dry run: not created)",
        f"hash      {res.hash}",
        f"recipe    {' '.join(spec(text))}",
        f"params    {d['params']['total']:,} ({d['params']['non_embedding']:,} non-embedding)",
        f"flops     {d['flops_per_token']:,} per token (training: forward + backward)",
        "batch     256 tokens/step = 8 sequences x 32; micro batch 8 x 1 accumulation x 1 process(es)",
    ]
    assert "*   path                 " + str(text) in r.stdout
    assert r.stderr == ""
    assert not runs.exists()


def test_dry_run_describes_a_run_whose_data_is_elsewhere_and_warns(runs, tmp_path):
    """A dry run stops after resolving: a config meant for another machine (its data, its GPUs)
    is described, and what the pre-flight would refuse here is a warning."""
    args = ["preset:gpt2", "--dry-run", "--device", "cpu"]
    r = invoke(["train", *args], runs)
    assert r.exit_code == 0, r.stderr
    res = resolve(["preset:gpt2"])
    assert r.stdout.splitlines()[:3] == [
        f"run       {res.short}  {runs}/{res.hash}  (dry run: not created)", f"hash      {res.hash}", "recipe    preset:gpt2",
    ]
    assert r.stdout.splitlines()[3].startswith("params    124,") and "flops     " in r.stdout
    assert r.stderr == (
        f"Warning: in `preset:gpt2`: `data.train`='data/gpt2/train' does not exist: there is no "
        f"{os.getcwd()}/data/gpt2/train (give a .bin shard or a folder of them; relative paths start at the "
        "current directory)\n"
    )
    r = invoke(["train", "preset:tiny", "--dry-run", "--micro-batch", "3"], runs)
    assert r.exit_code == 0 and r.stdout.splitlines()[5] == "batch     256 tokens/step = 8 sequences x 32"
    assert r.stderr.startswith("Warning: `--micro-batch`=3 does not divide the 8 sequences") and r.stderr.count("\n") == 1
    assert not runs.exists()


def test_train_records_everything_then_reports_instead_of_retraining(runs, text, tmp_path):
    r = invoke(["train", *spec(text)], runs)
    assert r.exit_code == 0, r.stderr
    res = resolve(spec(text))
    assert r.stdout == f"run {res.short}  {runs}/{res.hash}\n"
    run = RunStore(runs).run(res.hash)
    assert sorted(p.name for p in run.path.iterdir()) == [
        "attempts.jsonl", "checkpoints", "config.json", "lock", "metrics.jsonl", "recipe.json", "status.json"
    ]
    assert (run.path / "config.json").read_bytes() == res.canonical
    assert run.recipe()["tokens"] == spec(text) and run.recipe()["blame"]["data.path"] == f"data.path={text}"
    # What `show` marks: the leaves whose value differs from preset:tiny's (steps 30 -> 6, ...),
    # and those preset:tiny lacks (`data=text` switched to a variant with a `glob`).
    assert run.recipe()["set_by_recipe"] == [
        "data.glob", "data.path", "data.type", "eval.interval", "schedule.warmup_steps", "train.steps"
    ]
    st = run.status()
    assert (st["state"], st["step"], st["steps"], st["attempts"]) == ("finished", 6, 6, 1)
    (a,) = run.attempts()
    assert a["outcome"] == "finished" and a["step"] == 6 and a["tokens"] == spec(text)
    assert a["flags"]["device"] == "auto" and a["flags"]["checkpoint_every"] == 500 and a["world_size"] == 1
    assert a["flags"]["tune_malloc"] is True and a["malloc"]["malloc"] in ("glibc", "default")  # the CPU allocator
    assert a["version"] == nanigpt.__version__ and {"torch", "msgspec", "xxhash", "click"} <= set(a["libraries"])
    assert len(a["data_fingerprint"]) == 32 and a["host"] and a["start"] < a["end"]
    assert a["git"] is None or set(a["git"]) == {"commit", "dirty", "changes"}
    assert [m["step"] for m in run.metrics()] == [1, 2, 3, 4, 5, 6]
    assert st["train_loss"] == run.metrics()[-1]["loss"] and st["val_loss"] == run.metrics()[-1]["val_loss"]

    again = invoke(["train", *spec(text)], runs)
    assert (again.exit_code, again.stderr) == (0, "")
    assert again.stdout == (
        f"run {res.short}  {runs}/{res.hash}\n"
        f"already finished: 6/6 steps, train loss {st['train_loss']:.4f}, val loss {st['val_loss']:.4f}; "
        f"nothing to do (its data is not re-checked; `nanigpt show {res.short}` for details)\n"
    )
    assert len(run.attempts()) == 1

    # Sampling the finished run: the prompt continued, the same text for the same seed.
    sampled = [invoke(["sample", res.short[:6], "--prompt", "the quick", "--tokens", "24", "--seed", "3"], runs)
               for _ in range(2)]
    assert sampled[0].exit_code == 0, sampled[0].stderr
    assert sampled[0].stdout.startswith("the quick") and sampled[0].stdout == sampled[1].stdout
    assert len(sampled[0].stdout.encode()) >= len("the quick") + 1

    fresh = invoke(["train", *spec(text), "--fresh"], runs)
    assert (fresh.exit_code, fresh.stderr) == (
        2, f"Error: run {res.short} is finished; --fresh restarts only an interrupted or failed run "
        f"(to train a variant, fork it: nanigpt train run:{res.short} <changes>)\n",
    )

    # Another naniGPT version than the one that finished it: reported, not redone. The report
    # comes from the stored files: the data is not built, let alone read and hashed.
    lines = (run.path / "attempts.jsonl").read_text().splitlines()
    old = json.loads(lines[-1]) | {"version": "0.0.9", "git": {"commit": "0" * 40, "dirty": False, "changes": None}}
    (run.path / "attempts.jsonl").write_text("\n".join([*lines[:-1], json.dumps(old)]) + "\n")
    def no_build(*args, **kw):
        raise AssertionError("a finished run's report built a component")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builders, "build", no_build)
        changed = invoke(["train", *spec(text)], runs)
    assert changed.exit_code == 0 and "already finished" in changed.stdout
    warnings = changed.stderr.splitlines()
    assert warnings[0] == f"Warning: it finished with naniGPT 0.0.9; this is {nanigpt.__version__}"
    if git_info() is not None:  # a git checkout: the commit is compared too
        assert warnings[1].startswith("Warning: it finished with the code at git 0000000000; this code is git ")
    assert len(warnings) == (2 if git_info() is not None else 1)


def test_a_locked_run_names_its_holder_and_exits_3(runs, text):
    res = resolve(spec(text))
    run, _ = RunStore(runs).create(res.hash, res.canonical, {"tokens": spec(text), "start": "preset:tiny", "blame": {}})
    with run.lock():
        r = invoke(["train", *spec(text)], runs)
    assert r.exit_code == 3
    assert r.stderr.startswith(f"Error: run {res.short} is being trained by pid {os.getpid()} on ")
    assert r.stderr.endswith(" (wait for it to finish, or stop that process; its lock is released when it exits)\n")
    assert run.status()["state"] == "created" and run.attempts() == []


@pytest.fixture
def refusing_trainer(monkeypatch):
    """A trainer that refuses the run before its first step (the data changed since its
    checkpoint, say): the run directory exists and is locked by then."""
    import nanigpt.training.loop

    def refuse(*args, **kw):
        raise ConfigError("the data changed", path="data")

    monkeypatch.setattr(nanigpt.training.loop, "train", refuse)


def test_a_trainer_refusal_on_a_new_run_leaves_no_trace(runs, text, refusing_trainer):
    r = invoke(["train", *spec(text)], runs)
    assert (r.exit_code, r.stderr) == (2, "Error: the data changed\n")
    assert not runs.exists()
    # a bad flag is refused before the run directory is made at all
    r = invoke(["train", *spec(text), "--device", "bogus"], runs)
    assert (r.exit_code, r.stderr) == (2, "Error: `--device`='bogus' is not a device (use auto, cpu, cuda, cuda:N or mps)\n")
    assert not runs.exists()


def test_a_trainer_refusal_on_an_existing_run_restores_its_status(runs, text, refusing_trainer):
    res = resolve(spec(text))
    run, _ = RunStore(runs).create(res.hash, res.canonical, {"tokens": spec(text), "start": "preset:tiny", "blame": {}})
    before = run.stored_status()
    r = invoke(["train", *spec(text)], runs)
    assert r.exit_code == 2
    assert run.stored_status() == before and run.attempts() == []


def test_an_interrupted_run_is_recorded_and_resumed_and_fresh_starts_over(runs, text):
    res = resolve(spec(text))
    run, _ = RunStore(runs).create(res.hash, res.canonical, {"tokens": spec(text), "start": "preset:tiny", "blame": {}},
                                   steps=6)
    # What a killed trainer leaves: status `running`, its attempt, nobody holding the lock.
    run.begin_attempt({"start": "2025-01-01T00:00:00.000Z", "data_fingerprint": "f" * 32})
    run.write_status(step=3)
    assert invoke(["show", res.short], runs).stdout.splitlines()[2] == (
        "status    interrupted at step 3/6 (train it again to resume)"
    )
    r = invoke(["train", *spec(text), "--fresh"], runs)
    assert r.exit_code == 0, r.stderr
    assert r.stderr.splitlines()[0].startswith("run ")  # the trainer's summary; no "resuming" with --fresh
    attempts = RunDir(run.path, run.hash).attempts()
    assert [(a["outcome"], a["step"]) for a in attempts] == [("interrupted", 3), ("finished", 6)]
    assert attempts[0]["data_fingerprint"] == "f" * 32 and attempts[1]["start_step"] == 0
    assert attempts[1]["flags"]["fresh"] is True


def test_a_diverged_run_is_recorded_failed_in_one_line_and_exits_1(runs, text, shutdowns):
    # Unclipped SGD at the largest lr the schema allows blows up: the loss is NaN by step ~6 of 20.
    diverge = ("optim=sgd", "optim.lr=10", "train.grad_clip=0", "schedule.decay=constant", "train.steps=20")
    # (spec() sets train.steps=6, which train.steps=20 undoes: the one warning before the error)
    r = invoke(["train", *spec(text, *diverge)], runs)
    assert r.exit_code == 1
    warning, errors = r.stderr.split("\n", 1)
    assert warning.startswith("Warning: `train.steps=6` does nothing: `train.steps=20` later sets")
    res = resolve(spec(text, *diverge))
    assert r.stdout == f"run {res.short}  {runs}/{res.hash}\n"
    run = RunStore(runs).run(res.hash)
    st = run.status()
    step = st["step"]
    # An expected outcome of an experiment: one line, no traceback.
    assert errors == (
        f"Error: run {res.short} failed: training diverged: loss=nan at step {step}; lower optim.lr or set "
        f"train.grad_clip (recorded in {run.path}/status.json)\n"
    )
    assert st["state"] == "failed" and st["error"].startswith("FloatingPointError: training diverged")
    assert [(a["outcome"], a["step"]) for a in run.attempts()] == [("failed", step)]
    assert (run.path / "metrics.jsonl").exists()  # what was written is kept
    assert shutdowns == [1]


def test_an_unexpected_failure_keeps_its_traceback(runs, text, monkeypatch, shutdowns):
    import nanigpt.training.loop

    def broken(*args, **kw):
        raise RuntimeError("a bug")

    monkeypatch.setattr(nanigpt.training.loop, "train", broken)
    r = invoke(["train", *spec(text)], runs)
    res = resolve(spec(text))
    run = RunStore(runs).run(res.hash)
    assert r.exit_code == 1 and "Traceback (most recent call last):" in r.stderr
    assert r.stderr.splitlines()[-1] == (
        f"Error: run {res.short} failed: RuntimeError: a bug (recorded in {run.path}/status.json; "
        "train it again to resume from its last checkpoint)"
    )
    assert run.status()["state"] == "failed" and shutdowns == [1]


def test_ctrl_c_records_the_run_interrupted_and_exits_130(runs, text, monkeypatch, shutdowns):
    import nanigpt.training.loop

    def stopped(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(nanigpt.training.loop, "train", stopped)
    r = invoke(["train", *spec(text)], runs)
    res = resolve(spec(text))
    run = RunStore(runs).run(res.hash)
    assert r.exit_code == 130
    assert r.stderr.splitlines()[-1] == f"interrupted: run {res.short} stopped at step 0; train it again to resume"
    assert run.status()["state"] == "interrupted" and [a["outcome"] for a in run.attempts()] == ["interrupted"]
    assert shutdowns == [1]


@pytest.mark.slow
def test_kill_9_then_resume_from_the_checkpoint_across_processes(runs, text):
    """A real trainer killed mid-run: a second `train` is refused while it lives, the run reads
    interrupted after, and training again resumes from its checkpoint to the end."""
    args = spec(text, "train.steps=400", "eval.interval=100")
    args = [a for a in args if a != "train.steps=6"]
    env = {**os.environ, "NANIGPT_RUNS_DIR": str(runs), "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    child = subprocess.Popen([str(VENV_BIN / "nanigpt"), "train", *args, "--checkpoint-every", "20"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = child.stdout.readline()
        run = RunDir(Path(first.split()[2]), first.split()[2].rsplit("/", 1)[1])
        deadline = time.monotonic() + 120
        # The hash is printed before the directory is created: wait for the run to get going.
        while not list(run.path.glob("checkpoints/*")) or run.stored_status().get("step", 0) < 45:
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.1)
        busy = subprocess.run([str(VENV_BIN / "nanigpt"), "train", *args], env=env, capture_output=True, text=True)
        assert busy.returncode == 3 and f"is being trained by pid {child.pid} on " in busy.stderr
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    st = run.status()
    assert st["state"] == "interrupted"
    done = st["step"]
    again = subprocess.run([str(VENV_BIN / "nanigpt"), "train", *args], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert f"resuming run {run.short}, interrupted at step {done}" in again.stderr
    attempts = run.attempts()
    assert [a["outcome"] for a in attempts] == ["interrupted", "finished"]
    resumed_at = attempts[1]["start_step"]
    assert 0 < resumed_at <= done and resumed_at % 20 == 0
    every = run.metrics(include_superseded=True)
    superseded = [m["step"] for m in every if m.get("superseded")]
    assert superseded == list(range(resumed_at + 1, len(superseded) + resumed_at + 1))
    assert [m["step"] for m in run.metrics()] == list(range(1, 401))
    assert read_jsonl(run.path / "attempts.jsonl") == attempts


def test_git_info_names_this_checkout():
    info = git_info()
    root = Path(nanigpt.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        assert info is None
        return
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert info["commit"] == head and isinstance(info["dirty"], bool)
    assert (info["changes"] is not None) == info["dirty"]


def test_a_full_disk_is_named_with_its_place_and_no_traceback(runs, text, monkeypatch):
    import collections

    from nanigpt.training import checkpoint

    def full(state, f):  # what torch raises when its zip writer hits a full disk
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 2054016 vs 2053904")

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(checkpoint.torch, "save", full)
    monkeypatch.setattr(checkpoint.shutil, "disk_usage", lambda p: usage(2_000_000, 1_990_000, 10_000))
    r = invoke(["train", *spec(text), "--checkpoint-every", "3"], runs)
    res = resolve(spec(text))
    run = RunStore(runs).run(res.hash)
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    # the pre-flight warning first, then the failure in one line naming the file and the sizes
    assert "Warning: " in r.stderr and "has 0.0 MB free, but keeping 2 checkpoint(s) of about" in r.stderr
    last = r.stderr.splitlines()[-1]
    assert last.startswith(f"Error: run {res.short} failed: no space left on device writing {run.path}/checkpoints/step_00000003.pt: about ")
    assert last.endswith(f"MB needed, 0.0 MB free (recorded in {run.path}/status.json; train it again to resume from its last checkpoint)")
    st = run.status()
    assert st["state"] == "failed" and st["error"].startswith("OSError: no space left on device writing")
    assert not list(run.checkpoint_dir.iterdir())  # no partial checkpoint left behind


def test_an_error_that_is_no_full_disk_is_not_called_one(tmp_path, monkeypatch):
    import torch

    from nanigpt.training import checkpoint

    def broken(state, f):
        raise RuntimeError("a bug in the writer")

    monkeypatch.setattr(checkpoint.torch, "save", broken)
    with pytest.raises(RuntimeError, match="a bug in the writer"):
        checkpoint.save(tmp_path, {"step": 1, "model": {"w": torch.zeros(4)}}, keep=1)
