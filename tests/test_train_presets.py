"""The shipped presets and patches train: tiny in seconds, the others in a few steps (or fully, slow)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest

from nanigpt.config import resolve
from nanigpt.training.loop import train
from nanigpt.training.sizes import describe
from nanigpt.training.runtime import RuntimeOptions

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


def run(tokens: list[str], rt: RuntimeOptions | None = None):
    return train(resolve(tokens).config, rt or RuntimeOptions(), None, out=io.StringIO())


def test_preset_tiny_trains_in_seconds():
    s = run(["preset:tiny"])
    assert s.steps == 30 and s.val_full
    assert s.val_loss < math.log(256) - 0.5  # well below a uniform guess after 30 steps


@pytest.mark.parametrize(
    "patches",
    [["+large"], ["+muon"], ["+bf16"], ["lr=3e-3"], ["+muon", "+large", "+bf16"], ["+fp8"]],
    ids=lambda p: " ".join(p),
)
def test_patches_train_on_tiny(patches):
    s = run(["preset:tiny", *patches, "train.steps=6", "schedule.warmup_steps=2"])
    assert math.isfinite(s.val_loss) and s.val_loss < math.log(256)


@pytest.mark.parametrize("preset", ["preset:small", "preset:small +large", "preset:small +muon +bf16"])
def test_small_and_variants_take_a_few_steps(preset):
    # The whole run is the slow test below; a few steps show the shapes and optimizers fit.
    s = run([*preset.split(), "train.steps=2", "schedule.warmup_steps=1", "eval.full_at_end=false", "eval.batches=1"])
    assert math.isfinite(s.train_loss)


@pytest.fixture
def bench_presets(monkeypatch):
    """preset:shakespeare_fast is a benchmark preset: bench/presets, loaded as a user's would be."""
    monkeypatch.setenv("NANIGPT_PRESETS", str(ROOT / "bench" / "presets"))


def test_shakespeare_fast_fits_the_benchmark_budget(bench_presets):
    # Whether it reaches its loss is the benchmark's to check (`bench/bench_train.py quality
    # --check`): it trains on the text beside the checkout, which a user's clone does not have.
    cfg = resolve(["preset:shakespeare_fast"]).config
    params = describe(cfg)["params"]
    assert params["total"] - params["position"] <= 800_000
    assert Path(cfg.data.path).name == "tinyshakespeare.txt"


@pytest.mark.slow
def test_preset_small_learns_to_well_below_the_unigram_entropy():
    # The README's main job, whole: val loss <= 0.6 x the val data's unigram entropy.
    s = run(["preset:small"])
    assert s.val_full and s.val_loss <= 0.6 * s.unigram_entropy, (s.val_loss, s.unigram_entropy)


@pytest.mark.slow
def test_compile_flag_trains():
    s = run(["preset:tiny", "train.steps=6", "schedule.warmup_steps=2"], RuntimeOptions(compile=True))
    assert s.compile_s is not None and s.compile_s > 0 and math.isfinite(s.val_loss)
