"""The Python API: the same store and lifecycle as the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import nanigpt
from nanigpt.conf import ConfigError
from nanigpt.config import L, RunConfig
from nanigpt.config import resolve as resolve_tokens
from nanigpt.store import RunStore


def spec(text: Path) -> str:
    return f"preset:tiny data=text data.path={text} train.steps=6 eval.interval=3"


def test_train_twice_reports_the_finished_run(tmp_path, text, one_thread):
    runs = tmp_path / "runs"
    run = nanigpt.train(spec(text), runs_dir=runs, quiet=True, device="cpu")
    assert run.hash == resolve_tokens(spec(text).split()).hash and run.short == run.hash[:12]
    assert run.dir == runs / run.hash and run.status["state"] == "finished"
    assert run.recipe == spec(text) and run.config.train.steps == 6
    steps = [m["step"] for m in run.metrics() if "loss" in m]
    assert steps == [1, 2, 3, 4, 5, 6]
    (attempt,) = RunStore(runs).run(run.hash).attempts()
    assert attempt["flags"]["device"] == "cpu" and attempt["outcome"] == "finished"
    again = nanigpt.train(spec(text).split(), runs_dir=runs, quiet=True)  # a list of tokens, the same run
    assert again.hash == run.hash and len(RunStore(runs).run(run.hash).attempts()) == 1
    assert nanigpt.load(run.hash[:6], runs_dir=runs).hash == run.hash
    assert [r.hash for r in nanigpt.runs(runs_dir=runs)] == [run.hash]
    text_out = run.sample("the ", 20, seed=1)
    assert text_out.startswith("the ") and text_out == run.sample("the ", 20, seed=1)


def test_a_config_built_in_python_is_validated_before_it_is_hashed(tmp_path):
    bad = L.optim.lr.set(RunConfig(), -5.0)  # msgspec's constructors check no ranges: this is accepted
    with pytest.raises(ConfigError) as e:
        nanigpt.resolve(bad, runs_dir=tmp_path)
    assert e.value.path == "optim.lr" and "optim.lr" in str(e.value)
    with pytest.raises(ConfigError):
        nanigpt.train(bad, runs_dir=tmp_path / "runs", quiet=True)
    assert not (tmp_path / "runs").exists()
    good = L.model.n_layer.set(RunConfig(), 3)
    r = nanigpt.resolve(good)
    assert r.config == good and r.hash == resolve_tokens(["defaults", "model.n_layer=3"]).hash


def test_runs_dir_defaults_to_the_environment(tmp_path, monkeypatch, text, one_thread):
    monkeypatch.setenv("NANIGPT_RUNS_DIR", str(tmp_path / "elsewhere"))
    run = nanigpt.train(spec(text), quiet=True)
    assert run.dir.parent == tmp_path / "elsewhere"


def test_the_face_loads_nothing_until_asked():
    code = ("import sys, nanigpt\n"
            "print('nanigpt._api' in sys.modules, 'nanigpt.store' in sys.modules)\n"
            "f = nanigpt.train\n"
            "print(callable(f), nanigpt.train is f, sorted(nanigpt.__all__))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["False False", "True True ['Run', 'Sweep', '__version__', 'compare', 'load', 'resolve', 'runs', 'sweep', 'train']"]


def test_the_readme_python_section_runs(monkeypatch, one_thread):
    # the README's notebook-style section, as doctests on preset:tiny (no losses printed: they
    # differ from one CPU to another)
    import doctest
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (section,) = re.findall(r"## From Python.*?```python\n(.*?)```", readme, flags=re.S)
    test = doctest.DocTestParser().get_doctest(section, {}, "README.md", "README.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert len(test.examples) >= 10
