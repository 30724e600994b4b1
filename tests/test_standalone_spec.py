"""`defaults` and `show --spec`: a spec that rebuilds a config with no preset or patch code."""

from __future__ import annotations

import shlex

import pytest
from click.testing import CliRunner

from nanigpt.cli import cli
from nanigpt.config import RunConfig, load_registry, resolve, spec_from_defaults
from nanigpt.store import RunStore


def test_defaults_starts_from_the_schema_and_must_come_first():
    r = resolve(["defaults", "model.n_layer=3"])
    assert r.start == "defaults" and r.config == RunConfig(model=RunConfig().model.__class__(n_layer=3))
    assert r.blame["model.n_layer"] == "model.n_layer=3" and r.blame["train.seed"] == "defaults"
    from nanigpt.conf import TokenSyntaxError

    with pytest.raises(TokenSyntaxError, match=r"`defaults` must be the first token \(move it to the front"):
        resolve(["lr=1e-3", "defaults"])


@pytest.mark.parametrize("name", sorted(load_registry().presets))
def test_the_spec_of_every_shipped_preset_rebuilds_it(name):
    r = resolve([f"preset:{name}", "+large", "+muon"])
    spec = spec_from_defaults(r.config)
    assert spec[0] == "defaults" and not any(t.startswith(("preset:", "+", "run:")) for t in spec)
    assert resolve(spec).hash == r.hash
    plain = resolve([f"preset:{name}"])
    assert resolve(spec_from_defaults(plain.config)).hash == plain.hash


def test_show_spec_prints_one_line_that_pastes_back(tmp_path):
    runs = tmp_path / "runs"
    r = resolve(["preset:tiny", "data=text", "data.path=/a b/c.txt", "lr=1e-4"])
    # a stored run: its spec comes from config.json, whatever the presets say today
    RunStore(runs).create(r.hash, r.canonical, {"tokens": list(r.tokens), "start": r.start, "blame": r.blame})
    for target in ([r.short], list(r.tokens)):
        out = CliRunner().invoke(cli, ["show", *target, "--spec", "--runs-dir", str(runs)])
        assert out.exit_code == 0 and len(out.output.splitlines()) == 1
        tokens = shlex.split(out.output)
        assert "data.path=/a b/c.txt" in tokens and resolve(tokens).hash == r.hash
