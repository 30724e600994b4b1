"""The host process's allocator tuning (nanigpt.training.host): fewer page faults, same numbers."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="the tuning is glibc's mallopt")

# A 1-layer GPT's training steps in a fresh interpreter: page faults per step and the losses.
_STEPS = textwrap.dedent("""
    import json, resource, sys, torch
    torch.set_num_threads(1)
    from nanigpt.training import host
    record = host.tune_malloc(sys.argv[1] == "on")
    from nanigpt.model.config import GPTConfig
    from nanigpt.model.gpt import GPT
    cfg = GPTConfig(n_layer=1, n_head=4, n_embd=256, block_size=128, vocab_size=256)
    model = GPT(cfg, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, 256, (16, 129), generator=torch.Generator().manual_seed(1))
    losses = []
    def step():
        _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    for _ in range(5):
        step()
    # Faults per step in 5 windows of 5 steps; the median window, so that a one-off event (the
    # heap growing once, ~3,000 faults) does not decide the figure.
    windows = []
    for _ in range(5):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            step()
        windows.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
    faults = sorted(windows)[2]
    print(json.dumps({"record": record, "faults": faults, "losses": losses}))
""")


def _steps(mode: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _STEPS, mode], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(proc.stdout.splitlines()[-1])


@glibc
def test_tuned_malloc_takes_far_fewer_page_faults_and_trains_the_same_numbers():
    on, off = _steps("on"), _steps("off")
    assert on["record"]["malloc"] == "glibc" and on["record"]["mmap_threshold"] >= 1 << 20
    assert off["record"] == {"malloc": "default", "why": "--no-tune-malloc"}
    # glibc's defaults hand each step's activations back to the system and fault them in again.
    assert off["faults"] > 100, off
    assert on["faults"] <= off["faults"] / 10, (on["faults"], off["faults"])
    assert on["losses"] == off["losses"]  # where memory comes from changes no number


@glibc
def test_tuning_is_applied_once_and_reported_even_to_a_later_run_that_asked_for_none():
    code = textwrap.dedent("""
        import json
        from nanigpt.training import host
        first = host.tune_malloc()
        print(json.dumps([first, host.tune_malloc(), host.tune_malloc(False), first is host.tune_malloc()]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    first, again, refused, same = json.loads(proc.stdout)
    assert first["malloc"] == "glibc" and first == again == refused and same


_CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx2 {extra}\nbogomips\t: 4000\n"


@pytest.mark.parametrize(
    "extra, units",
    [("avx512f avx512_bf16 amx_bf16 amx_tile", "amx"), ("avx512f avx512_bf16", "avx512_bf16"),
     ("avx512f", "none"), ("", "none")],
)
def test_cpu_bf16_units_reads_the_cpu_flags(extra, units):
    from nanigpt.training.host import cpu_bf16_units

    assert cpu_bf16_units(_CPUINFO.format(extra=extra)) == units


def test_cpu_bf16_units_is_unknown_without_a_flags_line():
    from nanigpt.training.host import cpu_bf16_units

    assert cpu_bf16_units("processor\t: 0\n") == "unknown"


@pytest.mark.parametrize("units", ["none", "avx512_bf16", "amx", "unknown"])
def test_bf16_autocast_on_a_cpu_records_its_units_and_judges_nothing(tmp_path, monkeypatch, units):
    # whether bfloat16 pays depends on more than the CPU's flags: naniGPT records them, no notice
    import io

    from nanigpt.data.config import TextData
    from nanigpt.training import host
    from nanigpt.training.config import PrecisionConfig
    from nanigpt.training.loop import train
    from nanigpt.training.runtime import RuntimeOptions
    from trainkit import tiny, write_text

    monkeypatch.setattr(host, "cpu_bf16_units", lambda: units)
    text = TextData(path=str(write_text(tmp_path / "t.txt")))
    out, attempt = io.StringIO(), {}
    train(tiny(text, precision=PrecisionConfig(autocast="bfloat16")), RuntimeOptions(), None, attempt, out=out)
    assert attempt["cpu_bf16"] == units
    assert "float32" not in out.getvalue() and "AMX" not in out.getvalue()
    attempt = {}
    train(tiny(text), RuntimeOptions(), None, attempt, out=io.StringIO())
    assert "cpu_bf16" not in attempt  # float32: nothing to record
