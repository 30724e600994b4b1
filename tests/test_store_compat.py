"""Runs stored by an earlier naniGPT open with show, diff and resume.

tests/data/runs-0.1.0/ holds a run written by naniGPT 0.1.0 at commit 39443ed (before the run
store became a package of its own): `preset:tiny train.steps=6 eval.interval=2`, interrupted
after step 5, its checkpoint at step 4.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from nanigpt.cli import cli
from nanigpt.store import RunStore

OLD = Path(__file__).parent / "data" / "runs-0.1.0"
HASH = "f965c36a1b7dd635a2e7ce7527fe73af"
SPEC = ["preset:tiny", "train.steps=6", "eval.interval=2"]


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    shutil.copytree(OLD, tmp_path / "runs")
    return tmp_path / "runs"


def invoke(args: list[str], runs: Path):
    return CliRunner().invoke(cli, [*args, "--runs-dir", str(runs)], catch_exceptions=False, env={"NO_COLOR": "1"})


def test_an_old_run_shows_and_diffs(runs):
    r = invoke(["show", HASH[:8]], runs)
    assert r.exit_code == 0, r.output
    assert "status    interrupted at step 5/6" in r.output and "recipe    preset:tiny train.steps=6 eval.interval=2" in r.output
    # the same spec still resolves to the stored config: no hash moved
    r = invoke(["diff", HASH[:8], " ".join(SPEC)], runs)
    assert r.exit_code == 0 and f"identical configs: both are {HASH[:12]}" in r.output


def test_an_old_interrupted_run_resumes_from_its_checkpoint(runs, one_thread):
    r = invoke(["train", *SPEC, "--no-progress"], runs)
    assert r.exit_code == 0, r.output
    assert f"resuming run {HASH[:12]}, interrupted at step 5" in r.stderr
    run = RunStore(runs).run(HASH)
    st = run.status()
    assert (st["state"], st["step"], st["attempts"]) == ("finished", 6, 2)
    assert [a["outcome"] for a in run.attempts()] == ["interrupted", "finished"]
    # the resume started at the step-4 checkpoint: step 5 was trained twice, the first time superseded
    steps = [(m["step"], bool(m.get("superseded"))) for m in run.metrics(include_superseded=True) if "loss" in m]
    assert (5, True) in steps and (5, False) in steps and (6, False) in steps
