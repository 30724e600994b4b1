"""field_table() (`nanigpt fields`) and completions() (shell completion)."""

from __future__ import annotations

from nanigpt.conf import resolve
from nanigpt.conf._fields import completions, field_table
from nanigpt.conf._spec import leaf_paths
from nanigpt.config import RunConfig


def test_every_leaf_of_every_variant_has_a_row():
    rows = field_table()
    by_path = {(r["path"], r["variant"]) for r in rows}
    assert ("optim.lr", "adamw") in by_path and ("optim.momentum", "sgd") in by_path
    assert ("data.path", "text") in by_path and ("model.n_layer", "") in by_path
    for p in leaf_paths(RunConfig()):
        if not p.endswith(".type"):
            assert any(r["path"] == p for r in rows), p


def test_rows_say_type_range_default_and_description():
    (row,) = field_table("model.dropout")
    assert row == {
        "path": "model.dropout",
        "variant": "",
        "type": "float in [0.0, 1.0)",
        "default": "0.0",
        "description": "dropout probability",
    }
    (sec,) = field_table("optim")[:1]
    assert sec["path"] == "optim" and sec["type"] == "adamw | muon | sgd" and sec["default"] == "adamw"
    (req,) = [r for r in field_table("data.path")]
    assert req["default"] == "(required)" and req["type"] == "str (non-empty)"


def test_pattern_is_a_glob_or_a_substring():
    assert {r["path"] for r in field_table("precision.fp8*")} == {
        "precision.fp8", "precision.fp8_recipe", "precision.fp8_head", "precision.fp8_allow_emulation"
    }
    assert {r["path"] for r in field_table("batch")} == {"train.batch_tokens", "eval.batches"}
    assert field_table("no-such-field") == []


def test_completions_follow_the_current_variants():
    cfg = resolve(["preset:tiny"]).config
    assert completions("optim.", cfg) == ["optim.lr=", "optim.betas=", "optim.eps=", "optim.weight_decay="]
    assert completions("optim=", cfg) == ["optim=adamw", "optim=muon", "optim=sgd"]
    assert completions("model.norm=r", cfg) == ["model.norm=rmsnorm"]
    assert completions("bias=t", cfg) == ["bias=true"]  # a bare name, unambiguous here
    assert completions("type=", cfg) == []  # ambiguous: data.type or optim.type
    assert completions("model.bias=", cfg) == ["model.bias=true", "model.bias=false"]
    assert completions("n_l", cfg) == ["n_layer="]
    assert completions("+l", cfg, patches=["large", "fp8"]) == ["+large"]
    assert completions("preset:s", cfg, presets=["small", "tiny"]) == ["preset:small"]
    muon = resolve(["preset:tiny", "+muon"]).config
    assert "optim.momentum=" in completions("optim.m", muon)
