"""The CLI's read-only commands and its handling of bad input, through click's CliRunner.

Stored runs here are made with the store directly, from hand-written configs: `show`, `diff` and
`runs` read stored JSON without the schema, so their whole output is pinned exactly.
"""

from __future__ import annotations

import json
import time

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nanigpt.cli import cli
from nanigpt.conf import canonical_bytes, config_hash
from nanigpt.config import load_registry, resolve
from nanigpt.store.rundir import RunStore, now_iso


def invoke(args, runs, **env):
    env = {"NANIGPT_RUNS_DIR": str(runs), "NO_COLOR": "1", "CLICOLOR_FORCE": None, "FORCE_COLOR": None, **env}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def make_run(runs, cfg, tokens, blame=None, created="2025-01-02T03:04:05.000Z"):
    store = RunStore(runs)
    run, _ = store.create(config_hash(cfg), canonical_bytes(cfg), {"tokens": tokens, "start": tokens[0], "blame": blame or {}})
    run.write_status(created=created)
    return run


CFG_A = {"schema_version": 1, "seed": 7, "model": {"n_layer": 2, "n_embd": 32}, "optim": {"type": "adamw", "lr": 0.001, "betas": [0.9, 0.95]}}
CFG_B = {"schema_version": 1, "seed": 7, "model": {"n_layer": 4, "n_embd": 32, "qk_norm": True}, "optim": {"type": "sgd", "lr": 0.1}}
BLAME_A = {"model.n_layer": "model.n_layer=2"}
BLAME_B = {"model.n_layer": "+large", "model.qk_norm": "model.qk_norm=true", "optim.type": "optim=sgd", "optim.lr": "optim=sgd"}


@pytest.fixture
def runs(tmp_path):
    return tmp_path / "runs"


# --- help, version, unknown commands ------------------------------------------------------------


def test_top_level_help_lists_every_command(runs):
    r = invoke(["--help"], runs)
    assert r.exit_code == 0 and r.stdout.startswith("Usage: nanigpt [OPTIONS] COMMAND [ARGS]...\n")
    assert r.stdout.endswith(
        "Commands:\n"
        "  compare  A table of runs: the fields that differ, losses, speed.\n"
        "  diff     Field-by-field difference of two runs or specs.\n"
        "  fields   The config fields: type, default, description.\n"
        "  patches  The patches (+NAME).\n"
        "  plot     The runs' loss curves as a PNG.\n"
        "  prepare  Tokenize text files into token shards (llm.c's .bin format).\n"
        "  presets  The presets (preset:NAME).\n"
        "  runs     The runs, newest first.\n"
        "  sample   Text generated from a trained run.\n"
        "  show     A run's or a spec's config, recipe and status.\n"
        "  sweep    Train every member of a spec with axes (lr=1e-4,3e-4).\n"
        "  sweeps   The sweeps, newest first.\n"
        "  train    Resolve a spec, check it, train it into runs/<hash>/.\n"
    )


@pytest.mark.parametrize("command", ["train", "show", "diff", "runs", "presets", "patches", "fields", "sample", "sweep",
                                     "sweeps"])
def test_every_command_has_help_with_examples(runs, command):
    r = invoke([command, "--help"], runs)
    assert r.exit_code == 0 and r.stdout.startswith(f"Usage: nanigpt {command} ")
    assert "Examples:\n" in r.stdout or "Example:\n" in r.stdout


def test_train_help_documents_exit_codes(runs):
    out = " ".join(invoke(["train", "--help"], runs).stdout.split())
    assert "Exit status: 0 trained (or already finished); 1 the run failed" in out
    assert "2 bad input (nothing written under the runs directory); 3 another process is training this run" in out


def test_version(runs):
    r = invoke(["--version"], runs)
    assert (r.exit_code, r.stdout) == (0, "nanigpt 0.1.0\n")


def test_unknown_command_suggests_the_closest(runs):
    r = invoke(["trian"], runs)
    assert r.exit_code == 2
    assert r.stderr.endswith("Error: No such command 'trian'. Did you mean 'train'?\n")


# --- show ---------------------------------------------------------------------------------------


def test_show_a_stored_run_exactly(runs):
    run = make_run(runs, CFG_A, ["preset:tiny", "model.n_layer=2"], BLAME_A)
    r = invoke(["show", run.hash[:5]], runs)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == (
        f"run       {run.short}  {runs}/{run.hash}\n"
        "recipe    preset:tiny model.n_layer=2\n"
        "status    created, not started\n"
        "created   2025-01-02T03:04:05.000Z\n"
        "\n"
        "config    (* = set by the recipe; the rest is preset:tiny)\n"
        "  schema_version  1\n"
        "  seed            7\n"
        "  model\n"
        "    n_embd        32\n"
        "*   n_layer       2\n"
        "  optim\n"
        "    type          adamw\n"
        "    betas         0.9,0.95\n"
        "    lr            0.001\n"
    )


def test_show_blame_puts_the_setting_token_beside_each_value(runs):
    run = make_run(runs, CFG_A, ["preset:tiny", "model.n_layer=2"], BLAME_A)
    r = invoke(["show", run.hash, "--blame"], runs)
    tree = r.stdout.split("the rest is preset:tiny)\n")[1]
    assert tree == (
        "  schema_version  1         preset:tiny\n"
        "  seed            7         preset:tiny\n"
        "  model\n"
        "    n_embd        32        preset:tiny\n"
        "*   n_layer       2         model.n_layer=2\n"
        "  optim\n"
        "    type          adamw     preset:tiny\n"
        "    betas         0.9,0.95  preset:tiny\n"
        "    lr            0.001     preset:tiny\n"
    )


def test_show_on_a_terminal_makes_recipe_values_bold_instead_of_starred(runs):
    run = make_run(runs, CFG_A, ["preset:tiny", "model.n_layer=2"], BLAME_A)
    r = CliRunner().invoke(cli, ["show", run.hash], env={"NANIGPT_RUNS_DIR": str(runs), "NO_COLOR": None,
                                                          "CLICOLOR_FORCE": "1"}, color=True)
    assert "\n  \x1b[1m  n_layer       2\x1b[0m\n" in r.stdout and "*   n_layer" not in r.stdout
    r = invoke(["show", run.hash], runs, CLICOLOR_FORCE="1")  # NO_COLOR wins
    assert "\x1b[" not in r.stdout and "*   n_layer       2\n" in r.stdout


def test_show_status_and_attempts_of_a_finished_run(runs):
    run = make_run(runs, CFG_A, ["preset:tiny"])
    with run.lock():
        run.begin_attempt({"start": "2025-01-02T03:00:00.000Z", "flags": {"device": "cpu"}, "world_size": 1,
                           "version": "0.1.0", "host": "box"})
        run.append_metrics({"step": 1110, "loss": 2.75})
        run.end_attempt("interrupted", step=1110)
        run.begin_attempt({"start": "2025-01-02T03:05:00.000Z", "device": "cuda:0", "world_size": 8,
                           "version": "0.1.0", "git": {"commit": "0123456789abcdef", "dirty": True}, "host": "box"})
        run.append_metrics({"step": 1500, "loss": 2.6})
        run.end_attempt("failed", step=1500)
        # uncommitted changes are named by their hash, as the resume warning names them
        run.begin_attempt({"start": "2025-01-02T03:09:00.000Z", "device": "cuda:0", "world_size": 8, "version": "0.1.0",
                           "git": {"commit": "0123456789abcdef", "dirty": True, "changes": "9f8e7d6c5b4a"}, "host": "box"})
        run.append_metrics({"step": 2000, "loss": 2.5, "val_loss": 2.75})
        run.end_attempt("finished", step=2000, train_loss=2.5, val_loss=2.75)
    run.write_status(steps=2000)
    head = invoke(["show", run.hash], runs).stdout.split("\n\n")[0]
    # The columns line up whatever their widths ("interrupted at step 1110" ran into "cpu x1").
    assert head == (
        f"run       {run.short}  {runs}/{run.hash}\n"
        "recipe    preset:tiny\n"
        "status    finished: 2000/2000 steps, train loss 2.5000, val loss 2.7500\n"
        "created   2025-01-02T03:04:05.000Z\n"
        "attempts\n"
        "   1  2025-01-02T03:00:00.000Z  interrupted at step 1110  cpu x1     naniGPT 0.1.0                                box\n"
        "   2  2025-01-02T03:05:00.000Z  failed at step 1500       cuda:0 x8  naniGPT 0.1.0 @ 0123456789+dirty             box\n"
        "   3  2025-01-02T03:09:00.000Z  finished at step 2000     cuda:0 x8  naniGPT 0.1.0 @ 0123456789+changes 9f8e7d6c  box"
    )


def test_show_of_a_run_whose_profile_is_not_a_folder_lists_no_profile(runs):
    run = make_run(runs, CFG_A, ["preset:tiny"])
    (run.path / "profile").write_text("not a folder")
    r = invoke(["show", run.short, "--json"], runs)
    assert r.exit_code == 0 and json.loads(r.stdout)["profiles"] == []


def test_show_json_is_one_document(runs):
    run = make_run(runs, CFG_A, ["preset:tiny", "model.n_layer=2"], BLAME_A)
    doc = json.loads(invoke(["show", run.short, "--json"], runs).stdout)
    assert doc["hash"] == run.hash and doc["config"] == CFG_A and doc["trained"] is True
    assert doc["recipe"] == {"tokens": ["preset:tiny", "model.n_layer=2"], "start": "preset:tiny", "blame": BLAME_A}
    assert doc["status"]["state"] == "created" and doc["set_by_recipe"] == ["model.n_layer"]


def test_show_a_spec_resolves_it_without_writing(runs):
    r = invoke(["show", "preset:tiny", "+large", "lr=1e-4", "--blame"], runs)
    assert r.exit_code == 0, r.stderr
    h = resolve(["preset:tiny", "+large", "lr=1e-4"]).hash
    lines = r.stdout.splitlines()
    assert lines[:3] == [f"run       {h[:12]}  {runs}/{h}", "recipe    preset:tiny +large lr=1e-4", "status    not trained yet"]
    assert [x.split() for x in lines if x.startswith("*")] == [
        ["*", "n_embd", "64", "+large"], ["*", "n_head", "4", "+large"], ["*", "n_layer", "4", "+large"],
        ["*", "lr", "0.0001", "lr=1e-4"],
    ]
    assert not runs.exists()


def test_show_a_spec_that_was_trained_shows_its_run(runs):
    r0 = resolve(["preset:tiny"])
    store = RunStore(runs)
    store.create(r0.hash, r0.canonical, {"tokens": ["preset:tiny"], "start": "preset:tiny", "blame": {}})
    assert invoke(["show", "preset:tiny"], runs).stdout.splitlines()[2] == "status    created, not started"


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("beef", "Error: no run 'beef' in {runs} (see `nanigpt runs` for the runs there)\n"),
        # Whole hashes: these two share their first 12 digits, which would name neither.
        ("abcd", "Error: run prefix 'abcd' is ambiguous in {runs}: 2 runs match "
                 f"({'abcd' + '0' * 28}, {'abcd' + '0' * 20 + '1' * 8}) (give more digits)\n"),
    ],
)
def test_show_unknown_and_ambiguous_prefixes(runs, arg, message):
    for h in ("abcd" + "0" * 28, "abcd" + "0" * 20 + "1" * 8):
        (runs / h).mkdir(parents=True)
    r = invoke(["show", arg], runs)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", message.format(runs=runs))


def test_sample_rejects_a_path_as_a_hash_before_touching_the_disk(runs):
    for bad in ("../x", "/etc", "ab"):
        r = invoke(["sample", bad], runs)
        assert r.exit_code == 2
        assert r.stderr == (
            f"Error: not a run hash: {bad!r} (a run is named by 4 to 32 hex digits of its hash, e.g. 3f2a9c1b; "
            "see `nanigpt runs`)\n"
        )
    assert not runs.exists()


def test_show_refuses_a_tampered_config(runs):
    run = make_run(runs, CFG_A, ["preset:tiny"])
    (run.path / "config.json").write_text(json.dumps({**CFG_A, "seed": 8}))
    r = invoke(["show", run.short], runs)
    got = config_hash({**CFG_A, "seed": 8})
    assert (r.exit_code, r.stderr) == (
        2,
        f"Error: {run.path}/config.json was modified: it hashes to {got}, not {run.hash} "
        "(restore it; a run's config is never edited: fork it with run:HASH instead)\n",
    )


def test_show_reports_a_corrupt_recipe(runs):
    run = make_run(runs, CFG_A, ["preset:tiny"])
    (run.path / "recipe.json").write_text('{"tokens": ["preset:ti')
    r = invoke(["show", run.short], runs)
    assert (r.exit_code, r.stderr) == (
        2,
        f"Error: {run.path}/recipe.json is not valid JSON: Input data was truncated "
        "(the file was truncated or edited; restore it or remove the run)\n",
    )


# --- diff ---------------------------------------------------------------------------------------


def test_diff_two_runs_exactly(runs):
    a = make_run(runs, CFG_A, ["preset:tiny", "model.n_layer=2"], BLAME_A)
    b = make_run(runs, CFG_B, ["preset:tiny", "+large", "model.qk_norm=true", "optim=sgd"], BLAME_B)
    r = invoke(["diff", a.short, b.hash[:6]], runs)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == (
        f"a  {a.short}  preset:tiny model.n_layer=2\n"
        f"b  {b.short}  preset:tiny +large model.qk_norm=true optim=sgd\n"
        "\n"
        "model\n"
        "  ~ n_layer  2 -> 4        (model.n_layer=2 -> +large)\n"
        "  + qk_norm  true          (model.qk_norm=true)\n"
        "optim\n"
        "  ~ type     adamw -> sgd  (preset:tiny -> optim=sgd)\n"
        "  - betas    0.9,0.95      (preset:tiny)\n"
        "  ~ lr       0.001 -> 0.1  (preset:tiny -> optim=sgd)\n"
        "\n"
        "3 changed, 1 added, 1 removed\n"
        "\n"
        "recipe\n"
        "  only in a: model.n_layer=2\n"
        "  only in b: +large model.qk_norm=true optim=sgd\n"
    )


def test_diff_tokens_turn_a_into_b(runs):
    a = make_run(runs, CFG_A, ["preset:tiny"])
    r = invoke(["diff", a.short, "preset:tiny +large lr=3e-4 betas=0.8,0.9"], runs)
    assert r.exit_code == 0, r.stderr
    r = invoke(["diff", "preset:tiny", "preset:tiny +large lr=3e-4 betas=0.8,0.9", "--tokens"], runs)
    assert r.stdout == "model.n_embd=64 model.n_head=4 model.n_layer=4 optim.betas=0.8,0.9 optim.lr=0.0003\n"
    target = resolve(["preset:tiny", "+large", "lr=3e-4", "betas=0.8,0.9"])
    assert resolve(["preset:tiny", *r.stdout.split()]).hash == target.hash


def test_diff_tokens_shell_quote_what_the_shell_would_mangle(runs):
    a = make_run(runs, {"data": {"path": "my data/a.txt"}}, ["x"])
    b = make_run(runs, {"data": {"path": "other [1].txt"}}, ["y"])
    assert invoke(["diff", a.short, b.short, "--tokens"], runs).stdout == "'data.path=other [1].txt'\n"


def test_diff_of_identical_configs_says_so(runs):
    r = invoke(["diff", "preset:tiny", "preset:tiny train.steps=30"], runs)
    h = resolve(["preset:tiny"]).short
    assert r.stdout == (
        f"a  {h}  preset:tiny\n"
        f"b  {h}  preset:tiny train.steps=30\n"
        "\n"
        f"identical configs: both are {h}, from different recipes\n"
        "\n"
        "recipe\n"
        "  only in b: train.steps=30\n"
    )
    assert invoke(["diff", "preset:tiny", "preset:tiny", "--tokens"], runs).stdout == ""


def test_diff_json(runs):
    a = make_run(runs, CFG_A, ["preset:tiny", "model.n_layer=2"], BLAME_A)
    b = make_run(runs, CFG_B, ["preset:tiny", "+large", "model.qk_norm=true", "optim=sgd"], BLAME_B)
    doc = json.loads(invoke(["diff", a.short, b.short, "--json"], runs).stdout)
    assert doc["identical"] is False and doc["a"]["hash"] == a.hash
    assert doc["changes"][0] == {"path": "model.n_layer", "kind": "changed", "old": 2, "new": 4,
                                 "old_token": "model.n_layer=2", "new_token": "+large"}
    assert {c["path"]: c["kind"] for c in doc["changes"]} == {
        "model.n_layer": "changed", "model.qk_norm": "added", "optim.type": "changed", "optim.betas": "removed",
        "optim.lr": "changed",
    }
    assert doc["recipe"] == {"only_a": ["model.n_layer=2"], "only_b": ["+large", "model.qk_norm=true", "optim=sgd"]}


def test_diff_bad_sides(runs):
    r = invoke(["diff", "preset:tiny", "preset:tiny 'lr=1"], runs)
    assert (r.exit_code, r.stderr) == (2, "Error: cannot split the spec \"preset:tiny 'lr=1\": No closing quotation (check its quotes)\n")
    r = invoke(["diff", "preset:tiny", "preset:tiny lr=-1"], runs)
    assert (r.exit_code, r.stderr) == (
        2, "Error: in `lr=-1`: `optim.lr`=-1.0 is out of range: expected `float` > 0.0 (the current value is 0.001)\n"
    )


# --- runs ---------------------------------------------------------------------------------------


def test_runs_table_newest_first_with_problems_last(runs):
    old = make_run(runs, CFG_A, ["preset:tiny", "model.n_layer=2"], created=now_iso(time.time() - 3 * 86400 - 60))
    new = make_run(runs, CFG_B, ["preset:tiny", "+large"], created=now_iso(time.time() - 2 * 3600 - 60))
    with new.lock():
        new.begin_attempt({"start": "t"})
        new.append_metrics({"step": 250, "loss": 3.0, "val_loss": 3.25})
    new.write_status(steps=1000)  # the lock is free now: the run reads as interrupted
    broken = make_run(runs, {"x": 1}, ["preset:tiny"])
    (broken.path / "status.json").write_text("{")
    (runs / "not-a-run").mkdir()
    r = invoke(["runs"], runs)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == (
        "hash          status          steps  val loss  age  recipe\n"
        f"{new.short}  interrupted  250/1000    3.2500   2h  preset:tiny +large\n"
        f"{old.short}  created             0         -   3d  preset:tiny model.n_layer=2\n"
        f"{broken.short}  unreadable   {broken.path}/status.json is not valid JSON: Input data was truncated\n"
        "not-a-run     unreadable   not a run: the directory name is not a config hash\n"
    )


def test_runs_json_and_empty(runs):
    assert invoke(["runs"], runs).stdout == f"no runs in {runs} (train one: nanigpt train preset:tiny)\n"
    assert json.loads(invoke(["runs", "--json"], runs).stdout) == []
    a = make_run(runs, CFG_A, ["preset:tiny"])
    (row,) = json.loads(invoke(["runs", "--json"], runs).stdout)
    assert (row["hash"], row["state"], row["recipe"]) == (a.hash, "created", "preset:tiny")


def test_runs_dir_option_beats_the_environment(runs, tmp_path):
    a = make_run(tmp_path / "elsewhere", CFG_A, ["preset:tiny"])
    r = invoke(["runs", "--runs-dir", str(tmp_path / "elsewhere"), "--json"], runs)
    assert [x["hash"] for x in json.loads(r.stdout)] == [a.hash]


# --- presets, patches, fields -------------------------------------------------------------------


def test_presets_and_patches_list_names_docs_and_files(runs):
    out = invoke(["presets"], runs).stdout.splitlines()
    i = next(i for i, line in enumerate(out) if line.startswith("preset:tiny "))
    assert out[i].split(None, 1)[1] == "Trains in seconds on a CPU: for tests and smoke runs."
    assert out[i + 1].strip() == "presets/shipped.py (shipped)" or out[i + 1].strip().endswith("shipped.py (shipped)")
    patches = invoke(["patches"], runs).stdout
    assert "+with_lr:LR  Set the peak learning rate of the current optimizer: +with_lr:1e-4." in patches
    rows = json.loads(invoke(["patches", "--json"], runs).stdout)
    assert {r["usage"] for r in rows} >= {"+large", "+fp8", "+with_lr:LR"}


def test_user_presets_from_the_environment_are_listed(runs, tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "exp.py").write_text(
        "from nanigpt.conf import preset\nfrom nanigpt.config import RunConfig\n\n"
        "@preset\ndef clitest() -> RunConfig:\n    \"\"\"A preset of the CLI tests.\"\"\"\n    return RunConfig()\n"
    )
    out = invoke(["presets"], runs, NANIGPT_PRESETS=str(d)).stdout.splitlines()
    i = next(i for i, line in enumerate(out) if line.startswith("preset:clitest "))
    # names are padded to the longest preset name, which the shipped presets decide
    width = len(out[i]) - len("A preset of the CLI tests.")
    assert out[i] == "preset:clitest".ljust(width) + "A preset of the CLI tests."
    assert out[i + 1] == " " * width + str(d / "exp.py")


def test_fields_with_a_pattern(runs):
    r = invoke(["fields", "optim.lr"], runs)
    assert r.stdout == (
        "path      variant  type                  default  description\n"
        "optim.lr  adamw    float in (0.0, 10.0]  0.001    peak learning rate\n"
        "optim.lr  muon     float in (0.0, 10.0]  0.02     peak learning rate\n"
        "optim.lr  sgd      float in (0.0, 10.0]  0.1      peak learning rate\n"
    )
    assert "model.n_layer" in invoke(["fields", "model.n_*"], runs).stdout
    r = invoke(["fields", "nope"], runs)
    assert (r.exit_code, r.stderr) == (2, "Error: no field matches 'nope' (`nanigpt fields` lists them all)\n")


# --- bad input through the CLI: one line, exit 2, nothing written ---------------------------------

BAD = [
    ("preset:tiny n_layr=3", "in `n_layr=3`: unknown field `n_layr` (did you mean `n_layer`?)"),
    ("+lareg", "in `+lareg`: unknown patch `+lareg` (did you mean `+large`? `nanigpt patches` lists them)"),
    ("preset:nope", "in `preset:nope`: unknown preset `nope` (presets: {presets}; `nanigpt presets` describes them)"),
    ("preset:tiny model.n_layer=abc", "in `model.n_layer=abc`: `model.n_layer` expects an integer, got `abc` (e.g. n_layer=2)"),
    ("preset:tiny model.n_layer=0",
     "in `model.n_layer=0`: `model.n_layer`=0 is out of range: expected `int` >= 1 (the current value is 2)"),
    ("preset:tiny model.n_head=5",
     "in `model.n_head=5`: `model.n_embd`=32 is not divisible by `model.n_head`=5 [`model.n_embd` set by `preset:tiny`, "
     "`model.n_head` set by `model.n_head=5`] (pick n_embd as a multiple of n_head)"),
    ("preset:tiny type=muon",
     "in `type=muon`: `type` is ambiguous: it names `data.type`, `optim.type` (`type` picks a section's variant: "
     "write `optim=muon`)"),
    ("preset:tiny lr", "in `lr`: `lr` is not a token (did you mean `lr=VALUE`?)"),
    ("preset:tiny =3", "in `=3`: no field name before `=` (write path=value, e.g. lr=3)"),
    ("preset:tiny lr=nan", "in `lr=nan`: `optim.lr` must be a finite number, got `nan` (NaN and infinities are not allowed)"),
    ("preset:tiny lr=-inf", "in `lr=-inf`: `optim.lr` must be a finite number, got `-inf` (NaN and infinities are not allowed)"),
    ("preset:tiny optim=adam", "in `optim=adam`: unknown `optim` variant `adam` (did you mean `adamw`? variants: adamw, muon, sgd)"),
    ("preset:tiny model.n_layer=2.0", "in `model.n_layer=2.0`: `model.n_layer` expects an integer, got `2.0` (e.g. n_layer=2)"),
    ("preset:tiny model.n_layer=true", "in `model.n_layer=true`: `model.n_layer` expects an integer, got `true` (e.g. n_layer=2)"),
    ("preset:tiny model.bias=1", "in `model.bias=1`: `model.bias` expects true or false, got `1` (e.g. bias=false)"),
    ("preset:tiny momentum=0.5",
     "in `momentum=0.5`: no field `momentum` in the current config: it is a field of `optim` variant(s) muon, sgd "
     "(switch first: optim=muon momentum=...)"),
    ("preset:tiny +large preset:small",
     "in `preset:small`: a spec has one start token, first; this one has 2: `preset:tiny`, `preset:small` "
     "(keep one: `preset:tiny +large` or `preset:small +large`)"),
    ("preset:tiny +with_lr:abc", "in `+with_lr:abc`: argument `lr` of `with_lr` expects a float, got `abc` (write +with_lr:LR)"),
    ("preset:tiny ...nothing=3", "in `...nothing=3`: no field is called `nothing` anywhere in a `RunConfig`"),
    ("preset:tiny schedule.warmup_steps=100",
     "in `schedule.warmup_steps=100`: `schedule.warmup_steps`=100 is more than `train.steps`=30 [`schedule.warmup_steps` "
     "set by `schedule.warmup_steps=100`, `train.steps` set by `preset:tiny`] (lower warmup_steps or raise steps)"),
    ("run:zz", "in `run:zz`: `run:` needs a hash or a unique prefix of at least 4 hex digits, got `zz` (`nanigpt runs` lists them)"),
    ("run:abcd", "in `run:abcd`: no run 'abcd' in {runs} (see `nanigpt runs` for the runs there)"),
]


@pytest.mark.parametrize("command", ["show", "train"])
@pytest.mark.parametrize(("spec", "message"), BAD, ids=[s for s, _ in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(runs, command, spec, message):
    r = invoke([command, *spec.split()], runs)
    presets = ", ".join(load_registry().presets)  # the shipped presets may grow
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"Error: {message.format(runs=runs, presets=presets)}\n")
    assert not runs.exists()


def test_bad_flags_are_bad_input(runs):
    r = invoke(["train", "preset:tiny", "--checkpoint-every", "-1"], runs)
    assert (r.exit_code, r.stderr) == (
        2, "Error: `--checkpoint-every`=-1: expected `int` >= 0 (see `nanigpt train --help` for --checkpoint-every)\n"
    )
    r = invoke(["train", "preset:tiny", "--micro-batch", "3"], runs)
    assert r.exit_code == 2 and r.stderr.startswith("Error: `--micro-batch`=3 does not divide the 8 sequences")
    assert not runs.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # Pre-flight errors name the token that set the field, as resolution errors do.
        (["data=text", "data.path=/nonexistent/x.txt"],
         "in `data.path=/nonexistent/x.txt`: `data.path`='/nonexistent/x.txt' does not exist "
         "(give a text file or a folder of text files; relative paths start at the current directory)"),
        (["data=text", "data.path=/dev/null"],
         "in `data.path=/dev/null`: `data.path`='/dev/null' is not a regular file or a folder "
         "(give a text file or a folder of text files; devices, pipes and sockets cannot be read reproducibly)"),
        (["data=text", "data.path=nowhere.txt"],
         "in `data.path=nowhere.txt`: `data.path`='nowhere.txt' does not exist: there is no {cwd}/nowhere.txt "
         "(give a text file or a folder of text files; relative paths start at the current directory)"),
        (["--device", "bogus"], "`--device`='bogus' is not a device (use auto, cpu, cuda, cuda:N or mps)"),
        (["--device", "meta"],
         "`--device`='meta' is not supported: naniGPT trains on cpu, cuda or mps (use auto, cpu, cuda, cuda:N or mps)"),
    ],
)
def test_pre_flight_errors_are_one_line_naming_the_token(runs, args, message):
    import os

    r = invoke(["train", "preset:tiny", *args], runs)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"Error: {message.format(cwd=os.getcwd())}\n")
    assert not runs.exists()


def test_a_device_this_machine_lacks_is_bad_input_before_the_run_exists(runs, devices):
    fp8_strict = ["train", "preset:tiny", "+fp8", "precision.fp8_allow_emulation=false"]
    hint = ("(run on a GPU of compute capability 8.9+ such as an L4, RTX 4090, H100 or H200, or set "
            "precision.fp8_allow_emulation=true to emulate float8, slowly)\n")
    devices(cuda=0, mps=False)
    r = invoke(fp8_strict, runs)
    assert (r.exit_code, r.stdout, r.stderr) == (
        2, "", "Error: in `precision.fp8_allow_emulation=false`: `precision.fp8_allow_emulation`=false but there are "
        "no fp8 tensor cores on cpu " + hint
    )
    r = invoke(["train", "preset:tiny", "--device", "mps"], runs)
    assert (r.exit_code, r.stdout, r.stderr) == (
        2, "", "Error: `--device`='mps' but torch sees no MPS device (an Apple GPU) (use --device cpu, or auto)\n"
    )
    r = invoke(["train", "preset:tiny", "--device", "cuda:1"], runs)
    assert (r.exit_code, r.stdout, r.stderr) == (
        2, "", "Error: `--device`='cuda:1' but torch sees no CUDA GPU (use --device cpu, or auto)\n"
    )
    devices(cuda=1, capability=(8, 6), name="NVIDIA A10")  # a GPU without fp8 tensor cores
    r = invoke(fp8_strict, runs)
    assert (r.exit_code, r.stdout, r.stderr) == (
        2, "", "Error: in `precision.fp8_allow_emulation=false`: `precision.fp8_allow_emulation`=false but there are "
        "no fp8 tensor cores on cuda:0 (NVIDIA A10, compute capability 8.6; fp8 needs 8.9+) " + hint
    )
    r = invoke(["train", "preset:tiny", "--device", "cuda:1"], runs)
    assert (r.exit_code, r.stdout, r.stderr) == (
        2, "", "Error: `--device`='cuda:1' but torch sees 1 GPU(s) (use cuda:0 .. cuda:0)\n"
    )
    assert not runs.exists()


def test_muon_cannot_be_sharded_by_fsdp_under_torchrun(runs):
    r = invoke(["train", "preset:tiny", "+muon", "--parallel", "fsdp"], runs, RANK="0", WORLD_SIZE="2")
    assert (r.exit_code, r.stdout, r.stderr) == (
        2, "", "Error: in `+muon`: `optim`=muon cannot train with `--parallel`=fsdp: Muon orthogonalizes each whole "
        "weight matrix, and FSDP shards them across the processes (use --parallel ddp, or optim=adamw)\n",
    )
    assert not runs.exists()


def test_unwritable_runs_dir_is_bad_input(runs, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = invoke(["train", "preset:tiny", "--runs-dir", str(blocker / "runs")], runs)
    assert (r.exit_code, r.stderr) == (
        2, f"Error: the runs directory {blocker / 'runs'} is not writable: Not a directory "
        "(pass --runs-dir DIR or set NANIGPT_RUNS_DIR to a writable directory)\n",
    )


# --- forks and torchrun's environment -----------------------------------------------------------


def test_run_token_forks_a_stored_run_through_the_store(runs):
    base = resolve(["preset:tiny", "+large"])
    RunStore(runs).create(base.hash, base.canonical, {"tokens": ["preset:tiny", "+large"], "start": "preset:tiny",
                                                     "blame": base.blame})
    r = invoke(["show", f"run:{base.hash[:6]}", "lr=1e-4", "--blame"], runs)
    assert r.exit_code == 0, r.stderr
    forked = resolve(["preset:tiny", "+large", "lr=1e-4"])
    lines = r.stdout.splitlines()
    assert lines[0] == f"run       {forked.short}  {runs}/{forked.hash}"
    assert lines[1] == f"recipe    run:{base.hash[:6]} lr=1e-4"
    assert [x.split() for x in lines if x.startswith("*")] == [["*", "lr", "0.0001", "lr=1e-4"]]
    assert [x.split() for x in lines if "n_layer" in x] == [["n_layer", "4", f"run:{base.hash}"]]
    # a fork of an edited run is refused like any read of it
    (runs / base.hash / "config.json").write_bytes(base.canonical.replace(b'"n_layer":4', b'"n_layer":5'))
    r = invoke(["show", f"run:{base.hash[:6]}"], runs)
    assert r.exit_code == 2 and f"{runs / base.hash}/config.json was modified" in r.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RANK": "x", "WORLD_SIZE": "2"}, "Error: RANK='x' / WORLD_SIZE='2' are not integers (launch with torchrun, or unset them)\n"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "Error: RANK=2 is not within WORLD_SIZE=2 (launch with torchrun)\n"),
    ],
)
def test_a_broken_torchrun_environment_is_bad_input(runs, env, message):
    r = invoke(["train", "preset:tiny"], runs, **env)
    assert (r.exit_code, r.stderr) == (2, message)
    assert not runs.exists()


def test_a_non_zero_rank_never_writes_and_skips_a_finished_run(runs):
    res = resolve(["preset:tiny"])
    run, _ = RunStore(runs).create(res.hash, res.canonical, {"tokens": ["preset:tiny"], "start": "preset:tiny", "blame": {}})
    run.write_status(state="finished", step=30)
    before = {p.name: p.read_bytes() for p in run.path.iterdir()}
    r = invoke(["train", "preset:tiny"], runs, RANK="1", WORLD_SIZE="2")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", "")
    assert {p.name: p.read_bytes() for p in run.path.iterdir()} == before
    assert invoke(["train", "preset:tiny", "--dry-run"], runs, RANK="1", WORLD_SIZE="2").stdout == ""


def test_diff_tokens_warn_about_fields_no_token_can_remove(runs):
    a = make_run(runs, CFG_A, ["preset:tiny"])
    b = make_run(runs, CFG_B, ["preset:tiny", "optim=sgd"])
    r = invoke(["diff", a.short, b.short, "--tokens"], runs)
    # optim switched variant: its tag carries the whole section, so `betas` goes with it
    assert (r.stdout, r.stderr) == ("model.n_layer=4 model.qk_norm=true optim=sgd optim.lr=0.1\n", "")
    c = make_run(runs, {**CFG_A, "legacy": 1}, ["preset:old"])
    r = invoke(["diff", c.short, a.short, "--tokens"], runs)
    assert (r.stdout, r.stderr) == ("", "Warning: no token removes legacy (only in a): these tokens give b plus those\n")


def test_show_of_an_empty_spec_names_the_default(runs):
    assert invoke(["show"], runs).stdout.splitlines()[1] == "recipe    (empty spec: preset:small)"


def test_the_commands_that_do_work_are_built_only_when_asked_for(tmp_path):
    # They live in nanigpt/_cli_work.py (their options would slow every `show`); the group lists
    # them by name, builds them on first use, and --help shows each with its short help.
    import subprocess
    import sys

    from nanigpt import _cli_work, cli as cli_module

    assert tuple(c.name for c in _cli_work.COMMANDS) == cli_module._WORK
    script = ("import sys\nfrom nanigpt.cli import cli\n"
              "try:\n    cli.main(['show', 'preset:tiny'], prog_name='nanigpt', standalone_mode=False)\n"
              "except SystemExit:\n    pass\n"
              "print('nanigpt._cli_work' in sys.modules, 'nanigpt.training.flags' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert r.stdout.splitlines()[-1] == "False False", r.stderr
    help_text = CliRunner().invoke(cli, ["--help"]).output
    for c in _cli_work.COMMANDS:
        assert f"  {c.name} " in help_text and c.short_help[:30] in help_text
    assert invoke(["train", "preset:tiny", "--dry-run"], tmp_path).exit_code == 0


def test_train_flag_defaults_are_runtime_options_defaults():
    """The flags are declared in click (so --help needs no msgspec); RuntimeOptions is the truth."""
    import msgspec

    from nanigpt.training.runtime import RuntimeOptions

    params = {p.name: p for p in cli.get_command(click.Context(cli), "train").params}
    for f in msgspec.structs.fields(RuntimeOptions):
        if f.name == "progress":
            assert params["progress"].default is None and f.default == "auto"
        else:
            assert params[f.name].default == f.default, f.name


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30))
def test_diff_tokens_survive_the_shell(runs, path):
    """Whatever a string value holds (spaces, quotes, globs, `$`), the printed tokens split back
    into the same tokens as a POSIX shell would split them."""
    import shlex

    from nanigpt.conf import diff, to_tokens

    a, b = {"data": {"path": "x"}}, {"data": {"path": path + "!"}}
    ra, rb = make_run(runs, a, ["x"]), make_run(runs, b, ["y"])
    out = invoke(["diff", ra.short, rb.short, "--tokens"], runs).stdout_bytes.decode()  # .stdout folds \r\n
    assert shlex.split(out) == to_tokens(diff(a, b))


def test_show_a_running_run_names_its_process(runs):
    import os
    import socket

    run = make_run(runs, CFG_A, ["preset:tiny"])
    run.write_status(steps=100)
    with run.lock():
        run.begin_attempt({"start": "2025-01-02T03:05:00.000Z", "world_size": 2, "device": "cuda:0"})
        run.append_metrics({"step": 40, "loss": 2.0})
        lines = invoke(["show", run.short], runs).stdout.splitlines()
        holder = json.loads((run.path / "lock").read_text())
    assert lines[2] == (f"status    running: step 40/100, train loss 2.0000 "
                        f"(pid {os.getpid()} on {socket.gethostname()} since {holder['start']})")
    assert lines[5].startswith("   1  2025-01-02T03:05:00.000Z  running at step 40")
    assert "cuda:0 x2" in lines[5]
    assert invoke(["show", run.short], runs).stdout.splitlines()[2] == (
        "status    interrupted at step 40/100, train loss 2.0000 (train it again to resume)"
    )


def test_show_marks_only_values_that_differ_from_the_start(runs):
    # `lr=0.003` sets lr back to preset:small's own value: the recipe changed nothing there.
    small_lr = resolve(["preset:small"]).config.optim.lr
    assert small_lr == 0.003
    tokens = ["preset:small", "lr=0.01", "lr=0.003", "seed=7"]
    r = resolve(tokens)
    # A stored run is marked from its recipe.json's `set_by_recipe` (what `train` records: test_cli_train).
    run, _ = RunStore(runs).create(r.hash, r.canonical, {"tokens": tokens, "start": r.start, "blame": r.blame,
                                                         "set_by_recipe": ["train.seed"]})
    for target in (tokens, [run.short]):
        lines = invoke(["show", *target], runs).stdout.splitlines()
        assert [x.split() for x in lines if x.startswith("*")] == [["*", "seed", "7"]], target
    # A run stored before `set_by_recipe` was recorded: the blame decides, as it did.
    (run.path / "recipe.json").write_text(json.dumps({"tokens": tokens, "start": r.start, "blame": r.blame}))
    lines = invoke(["show", run.short], runs).stdout.splitlines()
    assert [x.split()[:2] for x in lines if x.startswith("*")] == [["*", "lr"], ["*", "seed"]]
    doc = json.loads(invoke(["show", "preset:small", "lr=0.01", "lr=0.003", "seed=7", "--json"], runs).stdout)
    assert doc["set_by_recipe"] == ["train.seed"] and doc["recipe"]["blame"]["optim.lr"] == "lr=0.003"


def test_show_and_diff_quote_recipes_for_the_shell(runs):
    tokens = ["preset:tiny", "data=text", "data.path=my data/a [1].txt"]
    r = invoke(["show", *tokens], runs)
    assert r.stdout.splitlines()[1] == "recipe    preset:tiny data=text 'data.path=my data/a [1].txt'"
    a = make_run(runs, CFG_A, tokens)
    r = invoke(["diff", a.short, "preset:tiny"], runs)
    assert r.stdout.splitlines()[0] == f"a  {a.short}  preset:tiny data=text 'data.path=my data/a [1].txt'"
    assert r.stdout.splitlines()[-1] == "  only in a: data=text 'data.path=my data/a [1].txt'"
    # Pasted back into a shell, the line gives the tokens back.
    import shlex

    assert shlex.split(invoke(["show", a.short], runs).stdout.splitlines()[1].removeprefix("recipe    ")) == tokens


def test_a_run_directory_that_links_out_of_the_runs_dir_is_refused(runs, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text("{}")
    h = "0123" + "4" * 28
    runs.mkdir()
    (runs / h).symlink_to(outside)
    message = (f"Error: {runs}/{h} is a link to {outside}, outside the runs directory {runs} "
               "(a run lives in a directory of the runs directory; remove the link)\n")
    for args in (["show", "0123"], ["show", h], ["sample", "0123"], ["diff", "0123", "preset:tiny"]):
        r = invoke(args, runs)
        assert (r.exit_code, r.stdout, r.stderr) == (2, "", message), args
    assert invoke(["runs"], runs).stdout.splitlines()[1] == (
        f"{h[:12]}  unreadable  not read: a link to {outside}, outside the runs directory"
    )


def test_show_takes_a_spec_as_one_quoted_word(tmp_path):
    runs = tmp_path / "runs"
    args = ["--runs-dir", str(runs), "--json"]
    one = CliRunner().invoke(cli, ["show", "preset:tiny +large lr=1e-3", *args])
    many = CliRunner().invoke(cli, ["show", "preset:tiny", "+large", "lr=1e-3", *args])
    assert one.exit_code == many.exit_code == 0
    assert json.loads(one.output)["hash"] == json.loads(many.output)["hash"] == resolve(["preset:tiny", "+large", "lr=1e-3"]).hash
    # a space inside a value is part of the value: one token, as before (split, `b` would be the
    # token in error)
    spaced = CliRunner().invoke(cli, ["show", "data.path=/a b", *args])
    assert spaced.exit_code == 2 and "in `data.path=/a b`:" in spaced.output
