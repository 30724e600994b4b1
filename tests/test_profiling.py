"""`--profile`: a window of steps through torch.profiler, its trace beside the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nanigpt.cli import cli
from nanigpt.config import resolve
from nanigpt.store import RunStore
from nanigpt.training.profiling import DEFAULT_WINDOW, window
from nanigpt.training.runtime import RuntimeOptions


def spec(text: Path, steps: int = 10) -> list[str]:
    return ["preset:tiny", "data=text", f"data.path={text}", f"train.steps={steps}", "schedule.warmup_steps=2"]


def invoke(args, runs):
    env = {"NANIGPT_RUNS_DIR": str(runs), "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_the_default_window_fits_the_smallest_preset():
    steps = resolve(["preset:tiny"]).config.train.steps
    assert window(RuntimeOptions(profile=True), steps) == DEFAULT_WINDOW
    assert DEFAULT_WINDOW[1] <= steps
    assert window(RuntimeOptions(), steps) is None
    assert window(RuntimeOptions(profile_steps="2:3"), steps) == (2, 3)  # a window implies --profile


def test_a_profile_writes_a_trace_with_the_model_s_matmuls(tmp_path, text):
    runs = tmp_path / "runs"
    r = invoke(["train", *spec(text), "--profile-steps", "4:5", "--no-progress"], runs)
    assert r.exit_code == 0, r.output
    run = RunStore(runs).run(resolve(spec(text)).hash)
    trace = run.path / "profile" / "trace-steps-4-5.json"
    events = json.loads(trace.read_bytes())["traceEvents"]
    names = {e.get("name") for e in events}
    assert names & {"aten::mm", "aten::addmm", "aten::linear", "aten::matmul"}, sorted(n for n in names if n)[:40]
    assert "profile of steps 4-5: operators by self time" in r.stderr and "Self CPU" in r.stderr
    assert (run.path / "profile" / "memory-steps-4-5.txt").read_text().strip()
    assert not list((run.path / "profile").glob(".*.tmp"))
    # the run itself is the same: its metrics and its finish
    assert run.status()["state"] == "finished" and len([m for m in run.metrics() if "loss" in m]) == 10
    shown = invoke(["show", run.short], runs)
    assert f"profile   {trace}" in shown.output
    assert json.loads(invoke(["show", run.short, "--json"], runs).output)["profiles"] == [str(trace), str(run.path / "profile" / "memory-steps-4-5.txt")]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--profile-steps", "9:12"], "`--profile-steps`=9:12 ends after the run's last step, 10"),
        (["--profile-steps", "5:4"], "`--profile-steps`=5:4 is not a window of steps"),
        (["--profile-steps", "0:2"], "`--profile-steps`=0:2 is not a window of steps"),
        (["--profile-steps", "a:b"], "`--profile-steps`=a:b: expected `str` matching regex"),
    ],
)
def test_a_window_that_does_not_fit_is_refused_before_anything_is_written(tmp_path, text, flags, message):
    runs = tmp_path / "runs"
    r = invoke(["train", *spec(text), *flags], runs)
    assert r.exit_code == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not runs.exists()


def test_the_default_window_past_a_short_run_is_refused(tmp_path, text):
    r = invoke(["train", *spec(text, steps=5), "--profile"], tmp_path / "runs")
    assert r.exit_code == 2 and "the default window 6:8 of `--profile` ends after the run's last step, 5" in r.stderr
