"""Float8 training: what is converted, emulation on CPU, errors, and that +fp8 still trains."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from nanigpt.conf import ConfigError
from nanigpt.config import resolve
from nanigpt.store.rundir import RunStore
from nanigpt.model.config import GPTConfig
from nanigpt.model.gpt import GPT
from nanigpt.training import fp8
from nanigpt.training.config import PrecisionConfig
from nanigpt.training.runtime import RuntimeOptions

CPU = torch.device("cpu")
ON = PrecisionConfig(fp8=True)
NOTICE = "naniGPT: no fp8 tensor cores on cpu; float8 is emulated (same float8 rounding, fp32 matmuls, slower)"
BLOCK_LINEARS = ("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj")
REPO = Path(__file__).resolve().parents[1]


def small_gpt(**overrides: object) -> GPT:
    cfg = GPTConfig(**{"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16, **overrides})
    return GPT(cfg, generator=torch.Generator().manual_seed(0))


def float8_linear() -> type:
    from torchao.float8.float8_linear import Float8Linear

    return Float8Linear


def test_converts_exactly_the_block_linears() -> None:
    model = small_gpt(tie_embeddings=False)
    report = fp8.convert(model, ON, CPU, out=sys.stdout)
    expected = tuple(f"blocks.{i}.{name}" for i in range(2) for name in BLOCK_LINEARS)
    assert report.converted == expected
    F8 = float8_linear()
    assert sorted(n for n, m in model.named_modules() if isinstance(m, F8)) == sorted(expected)
    # Embeddings, norms and the untied head keep their exact types.
    assert type(model.wte) is nn.Embedding and type(model.wpe) is nn.Embedding
    assert type(model.lm_head) is nn.Linear
    assert all(type(b.attn_norm) is nn.LayerNorm and type(b.mlp_norm) is nn.LayerNorm for b in model.blocks)
    assert report.attempt() == {"emulated": True, "recipe": "tensorwise", "converted": 8}


def test_conversion_keeps_weights_and_tied_head() -> None:
    model = small_gpt()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fp8.convert(model, ON, CPU, out=sys.stdout)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_fp8_head_converts_the_untied_head() -> None:
    model = small_gpt(tie_embeddings=False)
    report = fp8.convert(model, PrecisionConfig(fp8=True, fp8_head=True), CPU, out=sys.stdout)
    assert report.converted[-1] == "lm_head" and len(report.converted) == 9
    assert isinstance(model.lm_head, float8_linear())


def test_fp8_head_with_tied_head_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as e:
        fp8.convert(small_gpt(), PrecisionConfig(fp8=True, fp8_head=True), CPU, out=sys.stdout)
    assert "`precision.fp8_head`=true" in str(e.value) and "tie_embeddings=false" in str(e.value)
    assert "\n" not in str(e.value)


def test_fp8_head_width_not_multiple_of_16() -> None:
    model = small_gpt(tie_embeddings=False, vocab_size=260)
    with pytest.raises(ConfigError, match=r"`lm_head` is 32 -> 260 .*pad model.vocab_size"):
        fp8.convert(model, PrecisionConfig(fp8=True, fp8_head=True), CPU, out=sys.stdout)


def test_width_not_multiple_of_16_names_the_layer() -> None:
    model = small_gpt(n_embd=24)
    with pytest.raises(ConfigError, match=r"`blocks.0.attn.qkv` is 24 -> 72"):
        fp8.convert(model, ON, CPU, out=sys.stdout)
    assert not any(type(m).__name__ == "Float8Linear" for m in model.modules())


def test_a_block_matmul_that_is_not_nn_linear_is_refused() -> None:
    class MyLinear(nn.Linear):
        pass

    model = small_gpt()
    model.blocks[1].mlp.fc = MyLinear(32, 128, bias=False)
    with pytest.raises(ValueError, match=r"`blocks.1.mlp.fc` is a MyLinear"):
        fp8.convert(model, ON, CPU, out=sys.stdout)


def test_converting_twice_is_refused() -> None:
    model = small_gpt()
    fp8.convert(model, ON, CPU, out=sys.stdout)
    with pytest.raises(ValueError, match=r"already float8"):
        fp8.convert(model, ON, CPU, out=sys.stdout)


def test_off_changes_nothing() -> None:
    model = small_gpt()
    report = fp8.convert(model, PrecisionConfig(), CPU)
    assert not report.enabled and report.attempt() is None
    assert not any(type(m).__name__ == "Float8Linear" for m in model.modules())


def test_no_emulation_on_cpu_is_a_config_error() -> None:
    strict = PrecisionConfig(fp8=True, fp8_allow_emulation=False)
    with pytest.raises(ConfigError) as e:
        fp8.check_device(strict, CPU)
    msg = str(e.value)
    assert msg.startswith("`precision.fp8_allow_emulation`=false but there are no fp8 tensor cores on cpu")
    assert "precision.fp8_allow_emulation=true" in msg and "\n" not in msg
    with pytest.raises(ConfigError):
        fp8.convert(small_gpt(), strict, CPU)
    fp8.check_device(PrecisionConfig(fp8_allow_emulation=False), CPU)  # fp8 off: nothing to check


def test_missing_torchao_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules is Python's own way to make a module unimportable.
    monkeypatch.setitem(sys.modules, "torchao", None)
    with pytest.raises(ConfigError, match=r"needs torchao, which is not installed \(pip install 'nanigpt\[fp8\]'\)"):
        fp8.check_device(ON, CPU)


@pytest.mark.parametrize("recipe", ["tensorwise", "rowwise"])
def test_emulated_fp8_trains_close_to_fp32(recipe: str) -> None:
    """A float8 run's loss tracks the same run in fp32 (forward, backward and optimizer step)."""
    torch.manual_seed(0)
    data = torch.randint(0, 256, (64, 17), generator=torch.Generator().manual_seed(1))

    def losses(precision: PrecisionConfig) -> list[float]:
        model = small_gpt()
        fp8.convert(model, precision, CPU, out=sys.stdout)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        out = []
        for step in range(6):
            batch = data[step * 8 : (step + 1) * 8]
            _, loss = model(batch[:, :-1], batch[:, 1:])
            loss.backward()
            opt.step()
            opt.zero_grad()
            out.append(loss.item())
        return out

    ref, f8 = losses(PrecisionConfig()), losses(PrecisionConfig(fp8=True, fp8_recipe=recipe))
    assert f8 != ref  # float8 rounding really happened
    assert all(abs(a - b) / a < 0.01 for a, b in zip(ref, f8, strict=True)), (ref, f8)


def test_import_and_conversion_are_quiet_and_say_emulated_once() -> None:
    """In a fresh process (torchao not yet imported), stderr is exactly the one notice line."""
    script = textwrap.dedent(
        """
        import torch
        from nanigpt.model.config import GPTConfig
        from nanigpt.model.gpt import GPT
        from nanigpt.training import fp8
        from nanigpt.training.config import PrecisionConfig
        model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=16))
        fp8.convert(model, PrecisionConfig(fp8=True), torch.device("cpu"))
        _, loss = model(torch.zeros(2, 16, dtype=torch.long), torch.zeros(2, 16, dtype=torch.long))
        loss.backward()
        """
    )
    proc = subprocess.run(
        # torch's own import-time numpy notice is not float8's; keep it out of the comparison.
        [sys.executable, "-W", "ignore:Failed to initialize NumPy:UserWarning", "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [NOTICE]


def trained_losses(tokens: list[str], root: Path) -> tuple[list[float], dict]:
    """Train `tokens` with the real trainer into a run under `root`; per-step losses and attempt."""
    from nanigpt.training.loop import train

    r = resolve(tokens)
    run, _ = RunStore(root).create(r.hash, r.canonical, {"tokens": tokens, "start": r.start, "blame": {}})
    attempt: dict = {}
    train(r.config, RuntimeOptions(device="cpu", progress="off"), run, attempt, out=io.StringIO())
    return [m["loss"] for m in run.metrics()], attempt


def test_preset_tiny_fp8_trains_within_3_percent_of_fp32(tmp_path: Path, one_thread: None) -> None:
    base = ["preset:tiny", "train.steps=50"]
    ref, _ = trained_losses(base, tmp_path / "fp32")
    f8, attempt = trained_losses([*base, "+fp8"], tmp_path / "fp8")
    assert len(ref) == len(f8) == 50
    assert f8 != ref
    worst = max(abs(a - b) / a for a, b in zip(ref, f8, strict=True))
    assert worst < 0.03, worst
    assert ref[-1] < ref[0] - 0.5 and f8[-1] < f8[0] - 0.5  # both really learned
    assert attempt["fp8"] == {"emulated": True, "recipe": "tensorwise", "converted": 8}


def test_fp8_head_rules_are_checked_at_resolution() -> None:
    with pytest.raises(ConfigError, match=r"needs an untied output head, but `model.tie_embeddings`=true"):
        resolve(["preset:tiny", "+fp8", "precision.fp8_head=true"])
    with pytest.raises(ConfigError, match=r"the head's `model.vocab_size`=260 .*pad model.vocab_size to 272"):
        resolve(["preset:tiny", "+fp8", "precision.fp8_head=true", "model.tie_embeddings=false", "model.vocab_size=260"])
    ok = resolve(["preset:tiny", "+fp8", "precision.fp8_head=true", "model.tie_embeddings=false"]).config
    assert ok.precision.fp8_head
