"""torchrun helpers: collectives, DDP and FSDP2 against one process, sharded checkpoints 2 -> 1.

The multi-process tests launch this very file under torchrun (2 processes, gloo on CPU) once per
session; each worker records what it saw as JSON and tensors, and the tests below judge them
against the same computation done here in a single process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from nanigpt.model.config import GPTConfig
from nanigpt.model.gpt import GPT
from nanigpt.training import distributed as D
from nanigpt.training.runtime import RuntimeOptions

REPO = Path(__file__).resolve().parents[1]
CFG = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=256)
STEPS, GLOBAL_SEQS, MICRO_STEPS = 3, 8, 2


def torchrun_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONWARNINGS"] = "error,ignore:Failed to initialize NumPy:UserWarning"
    return env


def torchrun(nproc: int, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`torchrun --standalone --nproc-per-node N ARGS` (standalone: a free port, no clash with
    other test runs on the machine)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=torchrun_env(), timeout=timeout)


# ---- the computation both sides run -------------------------------------------------------------


def make_model() -> GPT:
    return GPT(CFG, generator=torch.Generator().manual_seed(0))


def global_batch(step: int) -> torch.Tensor:
    # Batch k is a function of (seed, k) alone; each rank takes its slice of the rows.
    g = torch.Generator().manual_seed(1000 + step)
    return torch.randint(0, CFG.vocab_size, (GLOBAL_SEQS, CFG.block_size + 1), generator=g)


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, rank: int, world: int) -> list[float]:
    """STEPS optimizer steps on this rank's slice, MICRO_STEPS micro-batches each, as the loop does."""
    losses = []
    for step in range(STEPS):
        rows = global_batch(step).chunk(world)[rank]
        total = torch.zeros(())
        for i, micro in enumerate(rows.chunk(MICRO_STEPS)):
            with D.grad_sync(model, sync=i == MICRO_STEPS - 1):
                _, loss = model(micro[:, :-1], micro[:, 1:])
                (loss / MICRO_STEPS).backward()
            total += loss.detach() / MICRO_STEPS
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(D.all_reduce_mean(total).item())
    return losses


def full_state(model: torch.nn.Module, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    return get_state_dict(model, opt, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


# ---- worker (runs under torchrun) ---------------------------------------------------------------


def worker(out: Path) -> None:
    info = D.init("cpu")
    torch.set_num_threads(1)
    rank, world = info.rank, info.world_size
    record: dict[str, Any] = {"info": [rank, world, info.local_rank, str(info.device), info.backend]}
    record["is_main"] = D.is_main()
    record["equal"] = D.all_equal("0" * 32)
    try:
        D.all_equal(f"hash-of-rank-{rank}")
    except D.RankMismatch as e:
        record["mismatch"] = str(e)
    record["mean"] = D.all_reduce_mean(torch.tensor([float(rank), 10.0 * rank])).tolist()

    for parallel in ("ddp", "fsdp"):
        model = D.wrap(make_model(), RuntimeOptions(parallel=parallel), info)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        record[f"{parallel}_type"] = type(model).__name__
        record[f"{parallel}_losses"] = train(model, opt, rank, world)
        msd, osd = full_state(model, opt)
        if parallel == "fsdp":
            D.save_sharded(out / "ckpt", model, opt, meta={"step": STEPS, "hash": "f" * 32})
        if info.is_main:
            torch.save({"model": msd, "optim": osd}, out / f"{parallel}_full.pt")
    D.barrier()
    (out / f"rank{rank}.json").write_text(json.dumps(record))
    D.shutdown()
    # What is left at exit: no process group, torch's SIGTERM handler gone, no thread but this one.
    import signal
    import threading

    left = {
        "initialized": torch.distributed.is_initialized(),
        "sigterm_default": signal.getsignal(signal.SIGTERM) is signal.SIG_DFL,
        "threads": [t.name for t in threading.enumerate() if t is not threading.main_thread()],
    }
    D.shutdown()  # twice is harmless
    (out / f"rank{rank}.exit.json").write_text(json.dumps(left))


# ---- tests --------------------------------------------------------------------------------------


def test_single_process_needs_no_process_group() -> None:
    info = D.init("cpu")
    assert info == D.DistInfo(device=torch.device("cpu")) and not info.distributed and info.is_main
    model = make_model()
    assert D.wrap(model, RuntimeOptions(parallel="fsdp"), info) is model
    assert D.all_equal("abc") and D.is_main()
    t = torch.tensor([1.5, 2.0])
    assert torch.equal(D.all_reduce_mean(t), t)
    D.barrier()
    D.shutdown()


def test_bad_device_flags_are_config_errors(devices) -> None:
    from nanigpt.conf import ConfigError

    with pytest.raises(ConfigError, match=r"`--device`='gpu0' is not a device \(use auto, cpu, cuda, cuda:N or mps\)"):
        D.init("gpu0")
    devices(cuda=0)
    with pytest.raises(ConfigError, match=r"`--device`='cuda' but torch sees no CUDA GPU"):
        D.init("cuda")
    assert D.init("auto").device == torch.device("cpu")
    devices(cuda=2)
    assert D.init("cuda").device == torch.device("cuda", 0)  # one process: the first GPU
    assert D.init("auto").device == torch.device("cuda", 0)
    with pytest.raises(ConfigError, match=r"`--device`='cuda:2' but torch sees 2 GPU\(s\) \(use cuda:0 .. cuda:1\)"):
        D.init("cuda:2")


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("two_ranks")
    proc = torchrun(2, str(Path(__file__).resolve()), str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def ranks(out: Path) -> list[dict[str, Any]]:
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def test_collectives_across_two_processes(two_ranks: Path) -> None:
    r0, r1 = ranks(two_ranks)
    assert r0["info"] == [0, 2, 0, "cpu", "gloo"] and r1["info"] == [1, 2, 1, "cpu", "gloo"]
    assert (r0["is_main"], r1["is_main"]) == (True, False)
    assert r0["equal"] is True and r1["equal"] is True
    expected = (
        "ranks disagree on the config hash: rank 0 has hash-of-rank-0, rank 1 has hash-of-rank-1 "
        "(every rank must resolve the same spec with the same presets, code and data)"
    )
    assert r0["mismatch"] == expected and r1["mismatch"] == expected
    assert r0["mean"] == r1["mean"] == [0.5, 5.0]


def test_shutdown_leaves_nothing_behind(two_ranks: Path) -> None:
    for r in range(2):
        left = json.loads((two_ranks / f"rank{r}.exit.json").read_text())
        assert left == {"initialized": False, "sigterm_default": True, "threads": []}, r


def reference() -> tuple[list[float], dict, dict]:
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = train(model, opt, 0, 1)
    msd, osd = full_state(model, opt)
    return losses, msd, osd


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_train_like_one(two_ranks: Path, parallel: str) -> None:
    r0, r1 = ranks(two_ranks)
    assert r0[f"{parallel}_type"] == {"ddp": "DistributedDataParallel", "fsdp": "FSDPGPT"}[parallel]
    ref_losses, ref_model, _ = reference()
    assert r0[f"{parallel}_losses"] == r1[f"{parallel}_losses"]
    assert max(abs(a - b) for a, b in zip(ref_losses, r0[f"{parallel}_losses"], strict=True)) < 1e-5
    got = torch.load(two_ranks / f"{parallel}_full.pt", weights_only=True)["model"]
    assert got.keys() == ref_model.keys()
    for k, v in ref_model.items():
        torch.testing.assert_close(got[k], v, rtol=0, atol=1e-5, msg=k)


def test_sharded_checkpoint_from_two_processes_resumes_in_one(two_ranks: Path) -> None:
    ckpt = two_ranks / "ckpt"
    assert D.is_sharded_checkpoint(ckpt) and not (two_ranks / "ckpt.partial").exists()
    saved = torch.load(two_ranks / "fsdp_full.pt", weights_only=True)

    model = make_model()  # a fresh model in a plain process: no process group, no FSDP
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    meta = D.load_sharded(ckpt, model, opt)
    assert meta == {"step": STEPS, "hash": "f" * 32}
    msd, osd = full_state(model, opt)
    for k, v in saved["model"].items():
        assert torch.equal(msd[k], v), k
    for fqn, state in saved["optim"]["state"].items():
        for name, value in state.items():
            assert torch.equal(osd["state"][fqn][name], value), (fqn, name)
    # And it trains on from there exactly as the uninterrupted state would.
    assert train(model, opt, 0, 1) == train(*restored(saved), 0, 1)


def restored(saved: dict) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    from torch.distributed.checkpoint.state_dict import set_state_dict

    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    set_state_dict(model, opt, model_state_dict=saved["model"], optim_state_dict=saved["optim"])
    return model, opt


def test_save_sharded_in_one_process_is_whole_and_cleans_up(tmp_path: Path) -> None:
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    train(model, opt, 0, 1)
    (tmp_path / "step_00000002.partial").mkdir()  # a save cut short by a crash
    (tmp_path / "step_00000003").mkdir()  # an older, incomplete folder of the same name
    D.save_sharded(tmp_path / "step_00000003", model, opt, meta={"step": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000003"]
    fresh = make_model()
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=1e-2)
    assert D.load_sharded(tmp_path / "step_00000003", fresh, fresh_opt) == {"step": 3}
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True))
    assert train(model, opt, 0, 1) == train(fresh, fresh_opt, 0, 1)


def test_load_sharded_refuses_a_plain_directory(tmp_path: Path) -> None:
    model = make_model()
    with pytest.raises(FileNotFoundError, match=r"is not a sharded checkpoint"):
        D.load_sharded(tmp_path, model, torch.optim.AdamW(model.parameters()))


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
