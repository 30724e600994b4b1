"""Pre-flight: data checks and how the global batch splits over processes and micro batches."""

from __future__ import annotations

import array
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nanigpt.conf._errors import ConfigError
from nanigpt.config import RunConfig
from nanigpt.data.config import ShardData, TextData
from nanigpt.model.config import GPTConfig
from nanigpt.optim.config import ScheduleConfig
from nanigpt.training.config import TrainConfig
from nanigpt.training.preflight import MAX_MICRO_SEQUENCES, MAX_MICRO_TOKENS, micro_batch_for, check_run
from nanigpt.training.runtime import RuntimeOptions


def cfg(block_size: int = 64, batch_tokens: int = 64 * 12, data=None) -> RunConfig:
    return RunConfig(
        model=GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=block_size),
        train=TrainConfig(batch_tokens=batch_tokens, steps=10),
        schedule=ScheduleConfig(warmup_steps=0),
        **({"data": data} if data is not None else {}),
    )


def test_preflight_imports_no_torch():
    code = "import sys, nanigpt.training, nanigpt.training.preflight; assert 'torch' not in sys.modules, 'torch loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_device_check_loads_torch_only_when_the_answer_could_be_no():
    # A plain process on the CPU or auto cannot lack its device: a finished or busy run is then
    # answered without torch's start-up. Asking about a GPU needs torch.
    code = (
        "import os, sys\n"
        "from nanigpt.config import RunConfig\n"
        "from nanigpt.training.preflight import check_device\n"
        "from nanigpt.training.runtime import RuntimeOptions\n"
        "os.environ.pop('LOCAL_RANK', None)\n"
        "check_device(RunConfig(), RuntimeOptions(device='auto'))\n"
        "check_device(RunConfig(), RuntimeOptions(device='cpu'))\n"
        "assert 'torch' not in sys.modules, 'torch loaded'\n"
        "from nanigpt.conf import ConfigError\n"
        "try:\n"  # no machine has 4097 GPUs: asking is what loads torch, the answer is no
        "    check_device(RunConfig(), RuntimeOptions(device='cuda:4096'))\n"
        "except ConfigError as e:\n"
        "    assert e.path == 'device' and str(e).startswith(\"`--device`='cuda:4096' but torch sees \"), str(e)\n"
        "else:\n"
        "    raise AssertionError('cuda:4096 was accepted')\n"
        "assert 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_default_micro_batch_is_the_largest_divisor_under_the_cap():
    assert micro_batch_for(cfg(batch_tokens=64 * 12), RuntimeOptions(), 1) == 12
    assert micro_batch_for(cfg(batch_tokens=64 * 96), RuntimeOptions(), 1) == 32
    assert micro_batch_for(cfg(batch_tokens=64 * 96), RuntimeOptions(), 2) == 24
    # Long contexts are capped by tokens: 16k / 1024 = 16 sequences.
    assert micro_batch_for(cfg(block_size=1024, batch_tokens=1024 * 64), RuntimeOptions(), 1) == 16
    assert micro_batch_for(cfg(batch_tokens=64 * 37), RuntimeOptions(), 1) == 1  # a prime: no choice


@given(st.integers(1, 512), st.sampled_from([1, 2, 4, 8]), st.sampled_from([16, 64, 256, 2048]))
def test_default_micro_batch_always_divides_and_respects_the_cap(seqs, world, block):
    c = cfg(block_size=block, batch_tokens=block * seqs * world)
    m = micro_batch_for(c, RuntimeOptions(), world)
    assert seqs % m == 0
    assert m <= max(1, min(MAX_MICRO_SEQUENCES, MAX_MICRO_TOKENS // block))


def test_explicit_micro_batch_must_divide_the_per_process_sequences():
    assert micro_batch_for(cfg(batch_tokens=64 * 12), RuntimeOptions(micro_batch=4), 1) == 4
    with pytest.raises(ConfigError) as e:
        micro_batch_for(cfg(batch_tokens=64 * 12), RuntimeOptions(micro_batch=5), 1)
    msg = str(e.value)
    assert "`--micro-batch`=5 does not divide the 12 sequences" in msg
    assert "try --micro-batch 4; divisors: 1, 2, 3, 4, 6, 12" in msg


def test_batch_that_does_not_split_over_processes_suggests_batch_tokens():
    with pytest.raises(ConfigError) as e:
        check_run(cfg(batch_tokens=64 * 12), RuntimeOptions(), 5)
    assert e.value.path == "train.batch_tokens"
    assert "12 sequences of `model.block_size`=64, which do not split evenly over 5 processes" in str(e.value)
    assert "try train.batch_tokens=640 or 960" in str(e.value)


def test_preflight_checks_text_data_exists_and_fits(tmp_path):
    with pytest.raises(ConfigError, match=r"`data.path`=.*does not exist"):
        check_run(cfg(data=TextData(path=str(tmp_path / "none.txt"))), RuntimeOptions(), 1)
    f = tmp_path / "a.txt"
    f.write_bytes(b"ab" * 300)  # val: 60 tokens, less than 64 + 1
    with pytest.raises(ConfigError, match=r"val split .* 60 tokens.*model.block_size<=59"):
        check_run(cfg(data=TextData(path=str(f))), RuntimeOptions(), 1)
    f.write_bytes(b"ab" * 400)
    check_run(cfg(data=TextData(path=str(f))), RuntimeOptions(), 1)


def test_preflight_checks_shard_sizes(tmp_path):
    (tmp_path / "odd.bin").write_bytes(b"\x00" * 5)
    with pytest.raises(ConfigError, match=r"5 bytes, not a whole number of uint16 tokens"):
        check_run(cfg(data=ShardData(train=str(tmp_path / "odd.bin"))), RuntimeOptions(), 1)
    (tmp_path / "t.bin").write_bytes(array.array("H", range(1000)).tobytes())
    (tmp_path / "v.bin").write_bytes(array.array("H", range(10)).tobytes())
    with pytest.raises(ConfigError) as e:
        check_run(cfg(data=ShardData(train=str(tmp_path / "t.bin"), val=str(tmp_path / "v.bin"))), RuntimeOptions(), 1)
    assert e.value.path == "model.block_size" and "`data.val`=" in str(e.value)


def test_preflight_checks_the_builtin_corpus_fits_the_context():
    check_run(cfg(), RuntimeOptions(), 1)
    with pytest.raises(ConfigError) as e:
        check_run(cfg(block_size=200_000, batch_tokens=200_000), RuntimeOptions(), 1)
    assert e.value.path == "model.block_size" and "`data`='builtin'" in str(e.value)


def test_special_files_are_not_data(tmp_path):
    with pytest.raises(ConfigError) as e:
        check_run(cfg(data=TextData(path="/dev/null")), RuntimeOptions(), 1)
    assert str(e.value).startswith("`data.path`='/dev/null' is not a regular file or a folder (")
    with pytest.raises(ConfigError, match=r"`data.train`='/dev/zero' is not a regular file"):
        check_run(cfg(data=ShardData(train="/dev/zero")), RuntimeOptions(), 1)


def test_muon_is_refused_where_fsdp_shards_its_matrices():
    from nanigpt.optim.config import Muon

    muon = RunConfig(**{**{f: getattr(cfg(), f) for f in ("model", "train", "schedule")}, "optim": Muon()})
    with pytest.raises(ConfigError) as e:
        check_run(muon, RuntimeOptions(parallel="fsdp"), 2)
    assert e.value.path == "optim.type" and str(e.value) == (
        "`optim`=muon cannot train with `--parallel`=fsdp: Muon orthogonalizes each whole weight matrix, and FSDP "
        "shards them across the processes (use --parallel ddp, or optim=adamw)"
    )
    check_run(muon, RuntimeOptions(parallel="ddp"), 2)
    check_run(muon, RuntimeOptions(parallel="fsdp"), 1)  # one plain process: nothing is sharded
    check_run(cfg(), RuntimeOptions(parallel="fsdp"), 2)


def test_check_device_names_the_flag_and_creates_nothing(devices):
    from nanigpt.training.config import PrecisionConfig
    from nanigpt.training.preflight import check_device

    def with_precision(**fp8) -> RunConfig:
        return RunConfig(**{f: getattr(cfg(), f) for f in ("model", "train", "schedule")}, precision=PrecisionConfig(**fp8))

    strict = with_precision(fp8=True, fp8_allow_emulation=False)
    devices(cuda=0, mps=False)
    check_device(cfg(), RuntimeOptions(device="cpu"))
    check_device(cfg(), RuntimeOptions(device="auto"))
    with pytest.raises(ConfigError, match=r"^`--device`='gpu0' is not a device \(use auto, cpu, cuda, cuda:N or mps\)$"):
        check_device(cfg(), RuntimeOptions(device="gpu0"))
    with pytest.raises(ConfigError, match=r"^`--device`='mps' but torch sees no MPS device"):
        check_device(cfg(), RuntimeOptions(device="mps"))
    with pytest.raises(ConfigError, match=r"^`--device`='cuda' but torch sees no CUDA GPU"):
        check_device(cfg(), RuntimeOptions(device="cuda"))
    with pytest.raises(ConfigError, match=r"^`precision.fp8_allow_emulation`=false but there are no fp8 tensor cores on cpu"):
        check_device(strict, RuntimeOptions(device="auto"))
    devices(cuda=0, mps=True)
    check_device(cfg(), RuntimeOptions(device="mps"))
    devices(cuda=1, capability=(8, 6), name="NVIDIA A10")
    with pytest.raises(ConfigError, match=r"^`--device`='cuda:1' but torch sees 1 GPU\(s\)"):
        check_device(cfg(), RuntimeOptions(device="cuda:1"))
    with pytest.raises(ConfigError) as e:
        check_device(strict, RuntimeOptions(device="auto"))
    assert e.value.path == "precision.fp8_allow_emulation" and "on cuda:0 (NVIDIA A10, compute capability 8.6;" in str(e.value)
    check_device(with_precision(fp8=True), RuntimeOptions(device="cuda"))  # emulated float8 runs anywhere
    devices(cuda=1, capability=(8, 9), name="NVIDIA L4")
    check_device(strict, RuntimeOptions(device="cuda"))
    with pytest.raises(ConfigError) as e:
        check_device(with_precision(fp8=True, fp8_recipe="rowwise"), RuntimeOptions(device="cuda"))
    assert e.value.path == "precision.fp8_recipe" and "on NVIDIA L4 needs `precision.autocast`=bfloat16" in str(e.value)
