"""field_table(RunConfig) (`nanigpt fields`)."""

from __future__ import annotations

from nanigpt.conf import field_table
from nanigpt.conf._spec import leaf_paths
from nanigpt.config import RunConfig


def test_every_leaf_of_every_variant_has_a_row():
    rows = field_table(RunConfig)
    by_path = {(r["path"], r["variant"]) for r in rows}
    assert ("optim.lr", "adamw") in by_path and ("optim.momentum", "sgd") in by_path
    assert ("data.path", "text") in by_path and ("model.n_layer", "") in by_path
    for p in leaf_paths(RunConfig()):
        if not p.endswith(".type"):
            assert any(r["path"] == p for r in rows), p


def test_rows_say_type_range_default_and_description():
    (row,) = field_table(RunConfig, "model.dropout")
    assert row == {
        "path": "model.dropout",
        "variant": "",
        "type": "float in [0.0, 1.0)",
        "default": "0.0",
        "description": "dropout probability",
    }
    (sec,) = field_table(RunConfig, "optim")[:1]
    assert sec["path"] == "optim" and sec["type"] == "adamw | muon | sgd" and sec["default"] == "adamw"
    (req,) = [r for r in field_table(RunConfig, "data.path")]
    assert req["default"] == "(required)" and req["type"] == "str (non-empty)"


def test_pattern_is_a_glob_or_a_substring():
    assert {r["path"] for r in field_table(RunConfig, "precision.fp8*")} == {
        "precision.fp8", "precision.fp8_recipe", "precision.fp8_head", "precision.fp8_allow_emulation"
    }
    assert {r["path"] for r in field_table(RunConfig, "batch")} == {"train.batch_tokens", "eval.batches"}
    assert field_table(RunConfig, "no-such-field") == []
