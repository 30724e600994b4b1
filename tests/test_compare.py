"""`nanigpt compare`: one row per run; the columns are the config fields in which the runs differ
(found automatically), then status and the summary each run's status.json keeps."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

import nanigpt
from nanigpt.cli import cli
from nanigpt.conf import ConfigError
from nanigpt.experiments import compare as cmp
from nanigpt.experiments.record import write_sweep
from nanigpt.store import RunStore
from clikit import run_without_loading
from storekit import stored_run
from test_cli_process import env_for

SUMMARY = list(cmp.SUMMARY)


def invoke(args, runs):
    return CliRunner().invoke(cli, ["compare", *args, "--runs-dir", str(runs)], env={"NO_COLOR": "1"})


@pytest.fixture
def runs(tmp_path):
    return tmp_path / "runs"


def test_a_scalar_field_that_differs_is_the_one_column(runs):
    a = stored_run(runs, "lr=1e-3", losses=(4.0, 3.0))
    b = stored_run(runs, "lr=3e-3", losses=(3.5, 2.0))
    r = invoke([a.short, b.short], runs)
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout.splitlines() == [
        "hash             lr  status    steps  train_loss  val_loss  best_val_loss  tokens_per_s  wall_s",
        f"{a.short}  0.001  finished  30/30      3.0000    3.2500         3.2500          5.0k   15.0s",
        f"{b.short}  0.003  finished  30/30      2.0000    2.2500         2.2500          5.0k   15.0s",
    ]
    rows = nanigpt.compare([a.hash, b.hash], runs_dir=runs)
    assert [list(r) for r in rows] == [["hash", "lr", *SUMMARY]] * 2
    assert [(r["hash"], r["lr"], r["best_val_loss"], r["step"], r["steps"]) for r in rows] == [
        (a.hash, 0.001, 3.25, 30, 30), (b.hash, 0.003, 2.25, 30, 30)]


def test_a_union_variant_that_differs_is_a_column_and_a_missing_field_a_dash(runs):
    a = stored_run(runs, "betas=0.9,0.99")
    b = stored_run(runs, "optim=muon")
    c = stored_run(runs, "lr=3e-3")
    t = cmp.compare(RunStore(runs), [a.hash, b.hash, c.hash])
    # muon's own fields (momentum, ...) are the same wherever they are: the `optim` column says
    # which runs have them; betas differ among the adamw runs, and muon has none
    assert t.columns == ["hash", "optim", "betas", "lr", "weight_decay", *SUMMARY]
    assert t.paths == {"optim": "optim", "betas": "optim.betas", "lr": "optim.lr", "weight_decay": "optim.weight_decay"}
    assert [r["optim"] for r in t.rows] == ["adamw", "muon", "adamw"]
    assert "betas" not in t.rows[1] and t.rows[0]["betas"] == [0.9, 0.99]
    r = invoke([a.short, b.short, c.short], runs)
    assert [line.split()[:5] for line in r.stdout.splitlines()] == [
        ["hash", "optim", "betas", "lr", "weight_decay"],
        [a.short, "adamw", "0.9,0.99", "0.001", "0.1"],
        [b.short, "muon", "-", "0.02", "0.0"],
        [c.short, "adamw", "0.9,0.95", "0.003", "0.1"],
    ]


def test_runs_that_differ_nowhere_get_no_config_column(runs):
    a = stored_run(runs)
    r = invoke([a.short, a.hash], runs)  # the same run twice is one row
    assert r.exit_code == 0 and r.stdout.splitlines()[0].split() == ["hash", *(c for c in SUMMARY if c != "step")]
    assert len(r.stdout.splitlines()) == 2


def test_shortest_unambiguous_headers():
    assert cmp.short_names(["optim.lr", "schedule.lr", "model.n_layer"]) == {
        "optim.lr": "optim.lr", "schedule.lr": "schedule.lr", "model.n_layer": "n_layer"}
    # a config field may not take a summary column's name
    assert cmp.short_names(["train.steps"], taken=SUMMARY) == {"train.steps": "train.steps"}
    with pytest.raises(ConfigError, match="ambiguous in these runs: optim.lr, schedule.lr"):
        cmp.field_path("lr", ["optim.lr", "schedule.lr"], "--where lr=1")


def test_columns_chooses_the_fields(runs):
    a = stored_run(runs, "lr=1e-3")
    b = stored_run(runs, "lr=3e-3")
    rows = nanigpt.compare([a.hash, b.hash], columns=["n_layer", "train.steps"], runs_dir=runs)
    assert [list(r)[:3] for r in rows] == [["hash", "n_layer", "train.steps"]] * 2
    assert rows[0]["train.steps"] == 30 and rows[0]["n_layer"] == 2
    r = invoke([a.short, b.short, "--columns", "n_layr"], runs)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == "Error: --columns: no field `n_layr` in these runs' configs (did you mean `n_layer`?)\n"


def test_where_filters_by_the_stored_value(runs):
    a = stored_run(runs, "lr=1e-3")
    b = stored_run(runs, "lr=3e-3", "betas=0.9,0.99")
    c = stored_run(runs, "optim=muon")

    def hashes(*where):
        return [r["hash"] for r in nanigpt.compare(where=list(where), runs_dir=runs)]

    assert hashes("lr=3e-3") == [b.hash]  # 3e-3 parsed: the stored 0.003
    assert hashes("optim.lr=0.001") == [a.hash]
    assert sorted(hashes("optim=adamw")) == sorted([a.hash, b.hash])
    assert hashes("optim=muon") == [c.hash]
    assert hashes("betas=0.9,0.99") == [b.hash]  # as the command line writes it
    assert hashes("betas=[0.9,0.99]") == [b.hash]
    assert hashes("momentum=0.95") == [c.hash]  # adamw runs have no momentum: no match
    assert sorted(hashes("data=builtin", "lr=0.001")) == [a.hash]
    assert hashes("lr=0.5") == []
    r = invoke(["--all", "--where", "lr=0.5"], runs)
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "no run matches the --where filters\n")


@pytest.mark.parametrize("where, message", [
    ("lr", "Error: --where 'lr' is not path=value (e.g. --where lr=0.001)"),
    ("weight_decy=0", "Error: --where weight_decy=0: no field `weight_decy` in these runs' configs "
                      "(did you mean `weight_decay`?)"),
    ("n_layer=two", "Error: --where n_layer=two: `model.n_layer` holds numbers in these runs, not `two` "
                    "(e.g. --where n_layer=2)"),
])
def test_bad_where_is_one_line(runs, where, message):
    stored_run(runs)
    r = invoke(["--all", "--where", where], runs)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", message + "\n")


def test_sort_ascending_descending_and_missing_last(runs):
    a = stored_run(runs, "lr=1e-3", losses=(3.0, 2.0))
    b = stored_run(runs, "lr=3e-3", losses=(3.0, 1.0))
    c = stored_run(runs, "lr=2e-3", summary=False)  # no best val loss: sorts last either way
    assert [r["hash"] for r in nanigpt.compare(sort="lr", runs_dir=runs)] == [a.hash, c.hash, b.hash]
    assert [r["hash"] for r in nanigpt.compare(sort="-lr", runs_dir=runs)] == [b.hash, c.hash, a.hash]
    assert [r["hash"] for r in nanigpt.compare(sort="best_val_loss", runs_dir=runs)] == [b.hash, a.hash, c.hash]
    assert [r["hash"] for r in nanigpt.compare(sort="-best_val_loss", runs_dir=runs)] == [a.hash, b.hash, c.hash]
    r = invoke(["--all", "--sort=-lr"], runs)
    assert [line.split()[0] for line in r.stdout.splitlines()[1:]] == [b.short, c.short, a.short]
    r = invoke(["--all", "--sort", "best_val"], runs)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith("Error: --sort: no column `best_val` in this table (lr, status, step, steps, ")
    assert r.stderr.endswith("(did you mean `best_val_loss`?)\n")


def test_json_and_csv_parse_back(runs):
    a = stored_run(runs, "betas=0.9,0.99")
    b = stored_run(runs, "optim=muon")
    c = stored_run(runs, "lr=3e-3", summary=False)
    names = [a.short, b.short, c.short]
    want = nanigpt.compare(names, runs_dir=runs)
    r = invoke([*names, "--json"], runs)
    assert r.exit_code == 0 and json.loads(r.stdout) == want
    r = invoke([*names, "--csv"], runs)
    got = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [list(row) for row in got] == [list(want[0])] * 3  # every column, in order
    assert [row["hash"] for row in got] == [a.hash, b.hash, c.hash]
    assert [row["betas"] for row in got] == ["0.9,0.99", "", "0.9,0.95"]  # muon has none
    assert [row["best_val_loss"] for row in got] == [str(want[0]["best_val_loss"]), str(want[1]["best_val_loss"]), ""]
    assert [float(row["lr"]) for row in got] == [w["lr"] for w in want]
    assert [int(row["steps"]) for row in got] == [30, 30, 30]
    r = invoke([a.short, "--json", "--csv"], runs)
    assert (r.exit_code, r.stderr) == (2, "Error: --json and --csv are two outputs: choose one\n")


def test_a_sweep_names_its_members_in_order(runs):
    a = stored_run(runs, "lr=1e-3")
    b = stored_run(runs, "lr=3e-3")
    stored_run(runs, "lr=2e-3")  # not a member
    path = write_sweep(RunStore(runs), {"tokens": ["preset:tiny", "lr=3e-3,1e-3"], "axes": [
        {"token": "lr=3e-3,1e-3", "values": ["3e-3", "1e-3"]}], "members": [
        {"number": 1, "hash": b.hash, "tokens": ["preset:tiny", "lr=3e-3"], "values": {"lr": "3e-3"}},
        {"number": 2, "hash": a.hash, "tokens": ["preset:tiny", "lr=1e-3"], "values": {"lr": "1e-3"}}]})
    r = invoke([f"sweep:{path.stem[:6]}"], runs)
    assert r.exit_code == 0
    assert [line.split()[:2] for line in r.stdout.splitlines()[1:]] == [[b.short, "0.003"], [a.short, "0.001"]]
    r = invoke(["sweep:ffff0000"], runs)
    assert (r.exit_code, r.stderr) == (2, f"Error: no sweep 'ffff0000' in {runs / 'sweeps'} (`nanigpt sweeps` lists them)\n")


def test_runs_from_before_the_summary_show_what_they_have(runs):
    old = stored_run(runs, "lr=1e-3", summary=False, finish=False)
    new = stored_run(runs, "lr=3e-3")
    (o, n) = nanigpt.compare([old.hash, new.hash], runs_dir=runs)
    assert (o["best_val_loss"], o["tokens_per_s"], o["wall_s"]) == (None, None, None)
    assert o["val_loss"] == 2.75 and o["status"] == "interrupted"
    r = invoke([old.short, new.short], runs)
    assert r.stdout.splitlines()[1].split()[1:] == ["0.001", "interrupted", "30/30", "2.5000", "2.7500", "-", "-", "-"]


def test_bad_runs_are_one_line(runs):
    stored_run(runs)
    r = invoke(["abcd"], runs)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == f"Error: no run 'abcd' in {runs} (see `nanigpt runs` for the runs there)\n"
    r = invoke([], runs)
    assert (r.exit_code, r.stderr) == (2, "Error: no runs named (give run hashes, sweep:PREFIX, or --all)\n")
    r = invoke(["--all", "abcd"], runs)
    assert r.exit_code == 2 and r.stderr.startswith("Error: --all takes every run")


def test_all_leaves_out_unreadable_directories_with_a_warning(runs):
    a = stored_run(runs)
    broken = runs / ("0" * 32)
    broken.mkdir()
    (broken / "status.json").write_text("{")
    r = invoke(["--all"], runs)
    assert r.exit_code == 0 and r.stdout.splitlines()[1].startswith(a.short)
    assert r.stderr == "Warning: 1 unreadable run directories left out (`nanigpt runs` says why)\n"


def test_compare_and_plot_never_import_torch(tmp_path, runs):
    stored_run(runs, "lr=1e-3")
    stored_run(runs, "lr=3e-3")
    png = tmp_path / "p.png"
    run_without_loading("torch", [["compare", "--all"], ["compare", "--all", "--json"], ["plot", "--all", "-o", str(png)]],
                        env_for(runs))
    assert png.stat().st_size > 0


def test_a_field_an_older_schema_lacks_is_a_column(runs):
    import msgspec

    from nanigpt.conf import canonical_bytes, config_hash

    new = stored_run(runs)
    cfg = msgspec.json.decode((new.path / "config.json").read_bytes())
    del cfg["model"]["qk_norm"]  # as a run stored before the field existed
    RunStore(runs).create(config_hash(cfg), canonical_bytes(cfg), {"tokens": ["preset:tiny"]})
    rows = nanigpt.compare(runs_dir=runs, sort="qk_norm")
    assert [list(r)[:2] for r in rows] == [["hash", "qk_norm"], ["hash", "status"]]
    assert rows[0]["hash"] == new.hash and rows[0]["qk_norm"] is False


def test_a_column_formats_equal_values_of_different_types_apart():
    """Cells are formatted once per distinct value: 1, 1.0 and True are one dict key in Python,
    and three different cells."""
    from nanigpt._cli_compare import _column

    rows = [{"x": 1}, {"x": True}, {"x": 1.0}, {}, {"x": [0.9, 0.95]}, {"x": 1}]
    cells, _ = _column("x", rows)
    assert cells == ["1", "true", "1.0", "-", "0.9,0.95", "1"]
