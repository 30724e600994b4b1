"""`--log tensorboard` and `--log wandb`: the same values as metrics.jsonl, resumes without
duplicates, and a sink that fails never hurts the run. No network: W&B runs offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nanigpt.cli import cli
from nanigpt.config import resolve
from nanigpt.store import RunDir, RunStore


def spec(text: Path) -> list[str]:
    return ["preset:tiny", "data=text", f"data.path={text}", "train.steps=8", "eval.interval=4",
            "schedule.warmup_steps=2"]


def invoke(args, runs, **env):
    env = {"NANIGPT_RUNS_DIR": str(runs), "NO_COLOR": "1", "OMP_NUM_THREADS": "1", "WANDB_SILENT": "true", **env}
    return CliRunner().invoke(cli, [*args, "--no-progress"], env=env, catch_exceptions=False)


def events(run: RunDir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run.path / "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def logged(run: RunDir) -> dict[str, list[tuple[int, float]]]:
    """metrics.jsonl as the sinks should see it: every number but step and time, by name."""
    out: dict[str, list[tuple[int, float]]] = {}
    for m in run.metrics():
        for k, v in m.items():
            if k not in ("step", "time") and isinstance(v, (int, float)) and not isinstance(v, bool):
                out.setdefault(k, []).append((m["step"], float(v)))
    return out


def assert_same(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for tag in want:
        assert [s for s, _ in got[tag]] == [s for s, _ in want[tag]], tag  # each step once, in order
        assert [v for _, v in got[tag]] == pytest.approx([v for _, v in want[tag]], rel=1e-6), tag  # float32 there


def test_tensorboard_gets_every_value_of_metrics_jsonl(tmp_path, text, one_thread):
    runs = tmp_path / "runs"
    r = invoke(["train", *spec(text), "--log", "tensorboard"], runs)
    assert r.exit_code == 0, r.output
    run = RunStore(runs).run(resolve(spec(text)).hash)
    got = events(run)
    assert {"loss", "val_loss", "lr", "grad_norm"} <= set(got)
    assert_same(got, logged(run))


def test_a_resumed_run_continues_its_curves_without_duplicates(tmp_path, text, monkeypatch, one_thread):
    from nanigpt.store import rundir

    runs = tmp_path / "runs"
    real = rundir.RunDir.append_metrics

    def stop_after_step_6(self, rec, summary=None):
        real(self, rec, summary)
        if rec.get("step") == 6:
            raise KeyboardInterrupt

    monkeypatch.setattr(rundir.RunDir, "append_metrics", stop_after_step_6)
    r = invoke(["train", *spec(text), "--log", "tensorboard", "--checkpoint-every", "4"], runs)
    assert r.exit_code == 130
    monkeypatch.undo()
    r = invoke(["train", *spec(text), "--log", "tensorboard"], runs)
    assert r.exit_code == 0 and "resuming run" in r.stderr
    run = RunStore(runs).run(resolve(spec(text)).hash)
    assert_same(events(run), logged(run))  # steps 5 and 6 once, from the resumed attempt


def test_wandb_offline_run_holds_the_hash_and_the_config(tmp_path, text):
    runs = tmp_path / "runs"
    r = invoke(["train", *spec(text), "--log", "wandb"], runs, WANDB_MODE="offline")
    assert r.exit_code == 0, r.output
    res = resolve(spec(text))
    run = RunStore(runs).run(res.hash)
    assert (run.path / "wandb-id").read_text() == res.hash  # a resume continues the same W&B run
    (data,) = run.path.glob("wandb/offline-run-*/run-*.wandb")
    blob = data.read_bytes()  # wandb has no public reader for an offline run: its bytes
    assert res.hash.encode() in blob and b"block_size" in blob and str(res.config.train.steps).encode() in blob


def test_a_failing_sink_warns_once_and_changes_nothing(tmp_path, text, monkeypatch, one_thread):
    from nanigpt.training import sinks

    plain = invoke(["train", *spec(text)], tmp_path / "a")

    def full(self, record):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sinks.TensorBoard, "log", full)
    r = invoke(["train", *spec(text), "--log", "tensorboard"], tmp_path / "b")
    assert r.exit_code == plain.exit_code == 0
    warnings = [line for line in r.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == ["Warning: the tensorboard sink failed (OSError: [Errno 28] No space left on device); "
                        "training goes on without it (metrics.jsonl has every value)"]
    h = resolve(spec(text)).hash
    a, b = RunStore(tmp_path / "a").run(h), RunStore(tmp_path / "b").run(h)
    assert [m["loss"] for m in a.metrics()] == [m["loss"] for m in b.metrics()]


def test_a_sink_that_is_not_installed_says_how_to_install_it(tmp_path, text, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    r = invoke(["train", *spec(text), "--log", "wandb"], tmp_path / "runs")
    assert r.exit_code == 0
    (warning,) = [line for line in r.stderr.splitlines() if line.startswith("Warning:")]
    assert warning.startswith("Warning: --log wandb needs the wandb package")
    assert warning.endswith("pip install -c constraints.txt -e '.[sinks]' (./scripts/setup installs it); "
                            "training goes on without it")


def test_log_is_a_runtime_flag(tmp_path, text):
    r = invoke(["train", *spec(text), "--log", "nope"], tmp_path / "runs")
    assert r.exit_code == 2 and "'nope' is not one of 'tensorboard', 'wandb'" in r.output
    assert not (tmp_path / "runs").exists()
