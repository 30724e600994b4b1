"""Tokens that do nothing: a later token overwrote, or switched away, every field they set."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from nanigpt.cli import cli
from nanigpt.config import resolve


@pytest.mark.parametrize(
    "spec, dead",
    [
        ("lr=1e-4 +muon", [("lr=1e-4", "+muon")]),  # +patch
        ("preset:tiny lr=1e-2 lr=1e-4", [("lr=1e-2", "lr=1e-4")]),  # path=value
        ("preset:tiny lr=1e-2 +with_lr:1e-4", [("lr=1e-2", "+with_lr:1e-4")]),
        ("...lr=0.5 optim=sgd", [("...lr=0.5", "optim=sgd")]),  # ...name=value, then section=tag
        ("preset:tiny optim.betas=[0.9,0.99] optim=muon", [("optim.betas=[0.9,0.99]", "optim=muon")]),  # a field switched away
        ("preset:tiny data=text data=builtin", [("data=text", "data=builtin")]),  # section=tag undone
        ("preset:tiny +muon optim=adamw", [("+muon", "optim=adamw")]),
        # not dead: a value equal to the one already there (the ordinary case in sweeps), or a
        # token that still owns one of its fields
        ("preset:tiny lr=0.01 lr=0.01", []),
        ("preset:tiny +large model.n_layer=3", []),
        ("preset:tiny lr=1e-2 model.n_layer=3", []),
    ],
)
def test_dead_tokens(spec, dead):
    assert resolve(spec.split()).dead_tokens() == dead


def test_train_and_show_warn_and_strict_refuses(tmp_path):
    runs = tmp_path / "runs"
    env = {"NANIGPT_RUNS_DIR": str(runs), "NO_COLOR": "1"}
    warning = "Warning: `lr=1e-4` does nothing: `+muon` later sets or replaces every field it set"
    r = CliRunner().invoke(cli, ["show", "preset:tiny", "lr=1e-4", "+muon"], env=env)
    assert r.exit_code == 0 and r.stderr.splitlines() == [warning]
    r = CliRunner().invoke(cli, ["train", "preset:tiny", "lr=1e-4", "+muon", "--dry-run"], env=env)
    assert r.exit_code == 0 and r.stderr.splitlines()[0] == warning
    for command in (["show"], ["train"]):
        r = CliRunner().invoke(cli, [*command, "preset:tiny", "lr=1e-4", "+muon", "--strict"], env=env)
        assert r.exit_code == 2 and r.stderr == (
            "Error: in `lr=1e-4`: `lr=1e-4` does nothing: `+muon` later sets or replaces every field it set "
            "(drop it, or move it after `+muon`)\n"
        )
    assert not runs.exists()
    quiet = CliRunner().invoke(cli, ["show", "preset:tiny", "+muon", "lr=1e-4", "--strict"], env=env)
    assert quiet.exit_code == 0 and quiet.stderr == ""
