"""`nanigpt plot`: a PNG of the runs' curves, of the requested size, not blank, with a legend
that names each run by the fields in which the runs differ; never a superseded metrics line."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner

from nanigpt.cli import cli
from nanigpt.experiments import compare as cmp
from nanigpt.experiments import plot
from nanigpt.experiments.record import write_sweep
from nanigpt.store import RunStore
from storekit import stored_run

pytest.importorskip("matplotlib")  # the `plot` extra; scripts/setup installs it


def invoke(args, runs):
    return CliRunner().invoke(cli, ["plot", *args, "--runs-dir", str(runs)], env={"NO_COLOR": "1"})


@pytest.fixture
def runs(tmp_path):
    return tmp_path / "runs"


def loaded(runs, *names):
    return cmp.load(RunStore(runs), list(names))[0]


def test_the_png_has_the_requested_size_and_is_not_blank(runs, tmp_path):
    from matplotlib.image import imread

    a = stored_run(runs, "lr=1e-3", losses=(4.0, 3.5, 3.0, 2.8))
    b = stored_run(runs, "lr=3e-3", losses=(4.0, 3.0, 2.5, 2.0))
    out = tmp_path / "curves.png"
    r = invoke([a.short, b.short, "-o", str(out), "--size", "640x480", "--metric", "loss", "--metric", "val_loss",
                "--metric", "lr"], runs)
    assert (r.exit_code, r.stdout, r.stderr) == (0, f"{out}\n", "")
    pixels = imread(str(out))
    assert pixels.shape[:2] == (480, 640)
    colours = {tuple((px[:3] * 255).round().astype(int)) for row in pixels[::4] for px in row[::4]}
    assert len(colours) > 20  # white, black text, grey grid, the runs' colours and their faint raw lines
    assert list(tmp_path.glob(".*")) == []  # written atomically: no temp file left


def test_the_legend_names_the_fields_that_differ(runs):
    a = stored_run(runs, "lr=1e-3")
    b = stored_run(runs, "lr=3e-3", "model.n_layer=4")
    c = stored_run(runs, "optim=muon")
    assert plot.legend_labels(loaded(runs, a.hash, b.hash)) == ["n_layer=2 lr=0.001", "n_layer=4 lr=0.003"]
    runs3 = loaded(runs, a.hash, b.hash, c.hash)
    labels = plot.legend_labels(runs3)
    assert labels == ["n_layer=2 optim=adamw lr=0.001 weight_decay=0.1", "n_layer=4 optim=adamw lr=0.003 weight_decay=0.1",
                      "n_layer=2 optim=muon lr=0.02 weight_decay=0.0"]
    fig = plot.figure(runs3)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == labels
    assert plot.legend_labels(loaded(runs, a.hash)) == [a.short]  # nothing differs: the hash


def test_superseded_lines_are_never_drawn(runs):
    run = stored_run(runs, losses=(4.0, 3.0, 2.0))
    with run.lock():
        run.supersede_metrics_after(20)  # a resume from step 20, then steps 21.. again, lower
        for step in range(21, 31):
            run.append_metrics({"step": step, "loss": 1.0, "elapsed_s": 20.0 + step, **(
                {"val_loss": 1.25} if step == 30 else {})})
    fig = plot.figure(loaded(runs, run.hash), metrics=["loss", "val_loss"])
    train, val = fig.axes[0], fig.axes[1]
    raw, smoothed = train.lines  # the raw values faint, the smoothed line over them
    assert raw.get_alpha() < 0.5 and smoothed.get_alpha() is None and val.lines[0].get_marker() == "o"
    assert list(raw.get_xdata()) == list(range(1, 31))  # each step once
    assert list(raw.get_ydata())[20:] == [1.0] * 10  # from the resumed attempt only
    assert list(val.lines[0].get_xdata()) == [10, 20, 30] and list(val.lines[0].get_ydata()) == [4.25, 3.25, 1.25]
    fig = plot.figure(loaded(runs, run.hash), x="time", metrics=["loss"])
    assert list(fig.axes[0].lines[0].get_xdata())[-1] == 50.0  # training time, from elapsed_s
    fig = plot.figure(loaded(runs, run.hash), x="tokens", metrics=["loss"])
    assert list(fig.axes[0].lines[0].get_xdata())[:2] == [256, 512]  # steps x train.batch_tokens


def test_train_loss_is_smoothed_over_its_raw_values(runs):
    assert plot.smooth([1.0, 2.0, 3.0]) == [1.0, 2.0, 3.0]  # a few points: drawn as they are
    ys = [float(i % 2) for i in range(400)]
    smoothed = plot.smooth(ys)
    assert max(smoothed[100:]) - min(smoothed[100:]) < 0.2 and smoothed[0] == 0.0


def test_default_name_is_the_run_set_or_the_sweep(runs, tmp_path, monkeypatch):
    a = stored_run(runs, "lr=1e-3")
    b = stored_run(runs, "lr=3e-3")
    monkeypatch.chdir(tmp_path)
    r = invoke([a.short, b.short], runs)
    again = invoke([b.short, a.short], runs)  # the same set, the same name
    assert r.exit_code == 0 and r.stdout == again.stdout
    name = r.stdout.strip()
    assert name.startswith("plot-") and name.endswith(".png") and (tmp_path / name).stat().st_size > 0
    path = write_sweep(RunStore(runs), {"tokens": [], "axes": [], "members": [
        {"number": 1, "hash": a.hash, "tokens": [], "values": {}}]})
    r = invoke([f"sweep:{path.stem[:5]}", "--log-y"], runs)
    assert (r.exit_code, r.stdout) == (0, f"plot-sweep-{path.stem[:12]}.png\n")


@pytest.mark.parametrize("args, message", [
    (["--size", "big"], "Error: --size 'big' is not WxH in pixels, each 100 to 10000 (e.g. --size 1200x700)"),
    (["-o", "p.jpg"], "Error: -o 'p.jpg': plot writes PNG files (name it p.png)"),
    (["--where", "lr=0.5"], "Error: no run to plot: none matches the --where filters "
                            "(`nanigpt compare --all` lists the runs and their fields)"),
])
def test_bad_input_is_one_line(runs, tmp_path, monkeypatch, args, message):
    stored_run(runs)
    monkeypatch.chdir(tmp_path)
    r = invoke(["--all", *args], runs)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", message + "\n")
    assert list(tmp_path.glob("*.*")) == []


def test_without_matplotlib_one_line_says_how_to_install_it(runs, tmp_path, monkeypatch):
    stored_run(runs)
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails, as when not installed
    monkeypatch.chdir(tmp_path)
    r = invoke(["--all"], runs)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == ("Error: `nanigpt plot` needs matplotlib, which is not installed "
                        "(pip install 'nanigpt[plot]')\n")
    assert list(tmp_path.glob("*.png")) == []
