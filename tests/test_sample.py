"""Sampling text from a run's newest checkpoint."""

from __future__ import annotations

import io

import pytest
import torch

from nanigpt.conf._errors import ConfigError
from nanigpt.data.config import ShardData, TextData
from nanigpt.model.config import GPTConfig
from nanigpt.training.loop import train
from nanigpt.training.config import TrainConfig
from nanigpt.training.runtime import RuntimeOptions
from nanigpt.training.sampling import sample
from trainkit import make_run, tiny, write_text


pytestmark = pytest.mark.usefixtures("one_thread")  # texts compared at one thread count


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sample")
    text = write_text(tmp / "text.txt")
    cfg = tiny(TextData(path=str(text)), train=TrainConfig(steps=40, batch_tokens=32 * 8))
    run = make_run(tmp / "runs", cfg)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a module-wide fixture cannot take the per-test `one_thread`
    try:
        train(cfg, RuntimeOptions(), run, out=io.StringIO())
    finally:
        torch.set_num_threads(before)
    return run, set(text.read_text())


def test_sample_is_reproducible_from_the_seed(trained):
    run, _ = trained
    a = sample(run, "the king", tokens=40, seed=1, device="cpu")
    assert a == sample(run, "the king", tokens=40, seed=1, device="cpu")
    assert a != sample(run, "the king", tokens=40, seed=2, device="cpu")
    assert a.startswith("the king") and len("the king") < len(a) <= len("the king") + 40  # bytes >= chars


def test_greedy_sampling_ignores_the_seed_and_speaks_the_training_text(trained):
    run, alphabet = trained
    a = sample(run, "the ", tokens=60, temperature=0, seed=1, device="cpu")
    assert a == sample(run, "the ", tokens=60, temperature=0, seed=99, device="cpu")
    assert set(a) <= alphabet  # only characters it was trained on: it learned the byte statistics


def test_top_k_one_is_greedy(trained):
    run, _ = trained
    greedy = sample(run, "and", tokens=30, temperature=0, device="cpu")
    assert sample(run, "and", tokens=30, temperature=1.0, top_k=1, seed=5, device="cpu") == greedy


def test_empty_prompt_and_zero_tokens(trained):
    run, _ = trained
    assert sample(run, "", tokens=0, device="cpu") == ""
    assert len(sample(run, "", tokens=20, device="cpu").encode("utf-8", "replace")) >= 1


def test_bad_sampling_arguments_are_clear_errors(trained, devices):
    run, _ = trained
    with pytest.raises(ConfigError, match=r"`--temperature`=-1.0 must be a finite number >= 0"):
        sample(run, "x", temperature=-1.0)
    for bad in ("nan", "inf"):
        with pytest.raises(ConfigError, match=rf"`--temperature`={bad} must be a finite number >= 0"):
            sample(run, "x", temperature=float(bad))
    with pytest.raises(ConfigError, match=r"`--top-k`=0 must be >= 1"):
        sample(run, "x", top_k=0)
    with pytest.raises(ConfigError, match=r"`--tokens`=-5 must be >= 0"):
        sample(run, "x", tokens=-5)
    devices(cuda=0)
    with pytest.raises(ConfigError, match=r"^`--device`='cuda:9' but torch sees no CUDA GPU \(use --device cpu, or auto\)$"):
        sample(run, "x", device="cuda:9")
    devices(cuda=2)
    with pytest.raises(ConfigError, match=r"^`--device`='cuda:9' but torch sees 2 GPU\(s\) \(use cuda:0 .. cuda:1\)$"):
        sample(run, "x", device="cuda:9")


def test_a_run_without_checkpoint_says_so(tmp_path):
    cfg = tiny(TextData(path=str(write_text(tmp_path / "t.txt"))))
    run = make_run(tmp_path / "runs", cfg)
    with pytest.raises(ConfigError) as e:
        sample(run, "x", device="cpu")
    assert str(e.value) == (
        f"run {run.hash[:12]} has no checkpoint to sample from (train it first with `nanigpt train "
        f"run:{run.hash[:12]}`, or pick a run that has trained)"
    )


def test_shard_runs_cannot_be_decoded_to_text(tmp_path):
    shard = tmp_path / "s.bin"
    shard.write_bytes(bytes(range(256)) * 40)
    cfg = tiny(ShardData(train=str(shard)), model=GPTConfig(n_layer=1, n_head=1, n_embd=16, block_size=32, vocab_size=65536))
    run = make_run(tmp_path / "runs", cfg)
    train(cfg, RuntimeOptions(), run, out=io.StringIO())
    with pytest.raises(ConfigError, match="trained on token shards"):
        sample(run, "x", device="cpu")


def invoke(args, runs):
    from click.testing import CliRunner

    from nanigpt.cli import cli

    env = {"NANIGPT_RUNS_DIR": str(runs), "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--temperature", "nan"], "`--temperature`=nan must be a finite number >= 0 (0 is greedy, 1 samples the "
                                   "model's distribution)"),
        (["--temperature", "-0.5"], "`--temperature`=-0.5 must be a finite number >= 0 (0 is greedy, 1 samples the "
                                    "model's distribution)"),
        (["--top-k", "0"], "`--top-k`=0 must be >= 1 (omit it to keep every token)"),
        (["--tokens", "-1"], "`--tokens`=-1 must be >= 0 (e.g. --tokens 256)"),
        (["--device", "bogus"], "`--device`='bogus' is not a device (use auto, cpu, cuda, cuda:N or mps)"),
    ],
)
def test_bad_sample_flags_are_one_line_exit_2(trained, flags, message):
    run, _ = trained
    r = invoke(["sample", run.hash[:8], *flags], run.path.parent)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"Error: {message}\n")


def test_sampling_on_a_device_this_machine_lacks_is_bad_input(trained, devices):
    run, _ = trained
    devices(cuda=0, mps=False)
    r = invoke(["sample", run.hash[:8], "--device", "mps"], run.path.parent)
    assert (r.exit_code, r.stdout, r.stderr) == (
        2, "", "Error: `--device`='mps' but torch sees no MPS device (an Apple GPU) (use --device cpu, or auto)\n"
    )
    r = invoke(["sample", run.hash[:8], "--device", "cuda"], run.path.parent)
    assert (r.exit_code, r.stdout, r.stderr) == (
        2, "", "Error: `--device`='cuda' but torch sees no CUDA GPU (use --device cpu, or auto)\n"
    )
    devices(cuda=2)
    r = invoke(["sample", run.hash[:8], "--device", "cuda:2"], run.path.parent)
    assert (r.exit_code, r.stdout, r.stderr) == (
        2, "", "Error: `--device`='cuda:2' but torch sees 2 GPU(s) (use cuda:0 .. cuda:1)\n"
    )
