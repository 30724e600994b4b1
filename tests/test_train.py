"""The training loop: tiny runs end to end, metrics, determinism, resume after kill -9, data checks."""

from __future__ import annotations

import io
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
import torch
import xxhash

from nanigpt.conf._errors import ConfigError
from nanigpt.config import RunConfig
from nanigpt.data.config import ShardData, TextData
from nanigpt.model.config import GPTConfig
from nanigpt.optim.config import SGD, Muon, ScheduleConfig
from nanigpt.training import checkpoint as ckpt
from nanigpt.training.loop import train
from nanigpt.training.config import EvalConfig, PrecisionConfig, TrainConfig
from nanigpt.training.runtime import RuntimeOptions
from trainkit import final_weights, make_run, tiny, write_text


pytestmark = pytest.mark.usefixtures("one_thread")  # bitwise comparisons hold at a fixed thread count


@pytest.fixture
def text(tmp_path) -> TextData:
    return TextData(path=str(write_text(tmp_path / "text.txt")))


def test_tiny_run_writes_metrics_checkpoint_and_summary(tmp_path, text, capsys):
    cfg = tiny(text)
    run = make_run(tmp_path / "runs", cfg)
    attempt: dict = {}
    out = []

    class Out:
        def write(self, s):
            out.append(s)

        def flush(self):
            pass

    s = train(cfg, RuntimeOptions(checkpoint_every=5), run, attempt, out=Out())
    metrics = run.metrics()
    assert [m["step"] for m in metrics] == list(range(1, 13))
    for m in metrics:
        assert {"step", "loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s"} <= m.keys()
        assert m["tokens_per_s"] > 0 and m["grad_norm"] > 0
    assert [m["step"] for m in metrics if "val_loss" in m] == [4, 8, 12]
    assert metrics[-1]["val_full"] is True and s.val_full
    assert s.val_loss == metrics[-1]["val_loss"] and s.train_loss == metrics[-1]["loss"]
    # lr follows the schedule: warmup 1/2, 2/2 of the peak, then cosine down to 0.1 of it.
    assert metrics[0]["lr"] == pytest.approx(0.5e-2) and metrics[1]["lr"] == pytest.approx(1e-2)
    assert metrics[-1]["lr"] == pytest.approx(1e-3)
    assert metrics[-1]["loss"] < metrics[0]["loss"] - 0.5  # it learns
    assert [p.name for _, p in ckpt.list_checkpoints(run.checkpoint_dir)] == ["step_00000010.pt", "step_00000012.pt"]
    assert attempt["data_fingerprint"] == xxhash.xxh3_128_hexdigest(Path(text.path).read_bytes())
    assert attempt["micro_batch"] == 8 and attempt["grad_accum"] == 1 and attempt["device"] == "cpu"
    printed = "".join(out)
    assert f"run {run.hash[:12]}: 12 steps in" in printed
    assert f"val loss {s.val_loss:.4f} (whole val split)" in printed and "unigram entropy" in printed
    assert capsys.readouterr().err == ""  # not a terminal: no progress line


def test_initial_loss_is_that_of_a_uniform_guess(tmp_path, text):
    cfg = tiny(text, train=TrainConfig(steps=1, batch_tokens=32 * 8), schedule=ScheduleConfig(warmup_steps=1))
    s = train(cfg, RuntimeOptions(), None, out=io.StringIO())
    assert abs(s.train_loss - math.log(256)) < 0.05


def test_same_config_trains_to_a_bitwise_identical_loss_curve(tmp_path, text):
    cfg = tiny(text, model=GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, dropout=0.1))
    runs = [make_run(tmp_path / f"runs{i}", cfg) for i in range(2)]
    for run in runs:
        train(cfg, RuntimeOptions(), run, out=io.StringIO())
    a, b = ([(m["loss"], m["grad_norm"], m.get("val_loss")) for m in r.metrics()] for r in runs)
    assert a == b
    wa, wb = final_weights(runs[0]), final_weights(runs[1])
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_seed_changes_the_run(tmp_path, text):
    a = train(tiny(text), RuntimeOptions(), None, out=io.StringIO())
    b = train(tiny(text, train=TrainConfig(steps=12, batch_tokens=32 * 8, seed=1)), RuntimeOptions(), None,
              out=io.StringIO())
    assert a.train_loss != b.train_loss


def test_each_step_draws_new_dropout_masks(text, monkeypatch):
    masks = []
    real = torch.nn.functional.dropout

    def spy(input, p=0.5, training=True, inplace=False):
        out = real(input, p, training, inplace)
        if training:
            masks.append(out == 0)
        return out

    monkeypatch.setattr(torch.nn.functional, "dropout", spy)
    cfg = tiny(text, model=GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, dropout=0.1))
    train(cfg, RuntimeOptions(), None, out=io.StringIO())
    # the same number of masks at every step (the embeddings' first, then each block's), and none
    # in the evaluations between them, which run in eval mode
    per_step = len(masks) // cfg.train.steps
    assert per_step and len(masks) == per_step * cfg.train.steps
    firsts = [masks[k * per_step] for k in range(cfg.train.steps)]
    assert all(not torch.equal(firsts[0], m) for m in firsts[1:])


def test_micro_batches_accumulate_to_the_same_gradient(tmp_path, text):
    cfg = tiny(text)
    whole = make_run(tmp_path / "a", cfg)
    parts = make_run(tmp_path / "b", cfg)
    train(cfg, RuntimeOptions(), whole, out=io.StringIO())
    train(cfg, RuntimeOptions(micro_batch=2), parts, out=io.StringIO())
    la = [m["loss"] for m in whole.metrics()]
    lb = [m["loss"] for m in parts.metrics()]
    assert la == pytest.approx(lb, rel=1e-4)  # same maths, different summation order


_CHILD = """
import sys, msgspec, torch
torch.set_num_threads(1)
from pathlib import Path
from nanigpt.store.rundir import RunStore
from nanigpt.config import RunConfig
from nanigpt.training.loop import train
from nanigpt.training.runtime import RuntimeOptions
cfg = msgspec.json.decode(Path(sys.argv[1]).read_bytes(), type=RunConfig)
run = RunStore(Path(sys.argv[2])).run(sys.argv[3])
train(cfg, RuntimeOptions(checkpoint_every=int(sys.argv[4]), keep_checkpoints=2), run, out=sys.stderr)
"""


def _train_until_killed(tmp_path: Path, cfg: RunConfig, run, *, every: int, kill_after: int) -> None:
    cfg_file = tmp_path / "cfg.json"
    cfg_file.write_bytes(msgspec.json.encode(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(cfg_file), str(run.path.parent), run.hash, str(every)],
        env=env, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if run.metrics() and run.metrics()[-1]["step"] >= kill_after:
                break
            if child.poll() is not None:
                pytest.fail(f"child ended before the kill: {child.stderr.read().decode()[-2000:]}")
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL


def _kill_then_resume_matches_straight(tmp_path: Path, text: TextData, *, every: int, kill_after: int) -> None:
    # Enough work per step that the kill lands mid-run, well before the end.
    cfg = tiny(text, train=TrainConfig(steps=60, batch_tokens=32 * 64), eval=EvalConfig(interval=7, batches=2),
               model=GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, dropout=0.1))
    straight = make_run(tmp_path / "straight", cfg)
    train(cfg, RuntimeOptions(checkpoint_every=5), straight, out=io.StringIO())

    killed = make_run(tmp_path / "killed", cfg)
    _train_until_killed(tmp_path, cfg, killed, every=every, kill_after=kill_after)
    resumed_from = ckpt.list_checkpoints(killed.checkpoint_dir)[-1][0]
    assert kill_after - every <= resumed_from < 60
    s = train(cfg, RuntimeOptions(checkpoint_every=every), killed, out=io.StringIO())
    assert s.resumed_from == resumed_from

    wa, wb = final_weights(straight), final_weights(killed)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    a = [(m["step"], m["loss"], m.get("val_loss")) for m in straight.metrics()]
    b = [(m["step"], m["loss"], m.get("val_loss")) for m in killed.metrics()]
    assert a == b  # the steps redone after the checkpoint superseded the killed run's lines
    assert not list(killed.checkpoint_dir.glob(".*.tmp"))  # a torn write's temp file is cleaned up


def test_resume_after_kill_matches_an_uninterrupted_run_bitwise(tmp_path, text):
    _kill_then_resume_matches_straight(tmp_path, text, every=5, kill_after=13)


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [2, 19, 37, 52])
def test_kill_at_any_moment_even_mid_checkpoint_resumes_bitwise(tmp_path, text, kill_after):
    # A checkpoint every step: the kill lands inside or between writes, wherever it falls.
    _kill_then_resume_matches_straight(tmp_path, text, every=1, kill_after=kill_after)


def test_resume_refuses_changed_data_unless_allowed(tmp_path, text):
    cfg = tiny(text, train=TrainConfig(steps=6, batch_tokens=32 * 8))
    run = make_run(tmp_path / "runs", cfg)
    train(cfg, RuntimeOptions(checkpoint_every=3), run, out=io.StringIO())
    # Pretend the run was interrupted after step 3, then edit the data.
    (run.checkpoint_dir / "step_00000006.pt").unlink()
    with open(text.path, "a") as f:
        f.write(" and one more line")
    with pytest.raises(ConfigError) as e:
        train(cfg, RuntimeOptions(), run, out=io.StringIO())
    assert e.value.path == "data" and "--allow-data-change" in str(e.value) and "step 3" in str(e.value)
    attempt: dict = {}
    s = train(cfg, RuntimeOptions(allow_data_change=True), run, attempt, out=io.StringIO())
    assert s.resumed_from == 3 and attempt["data_changed_from"] != attempt["data_fingerprint"]


def test_fresh_discards_checkpoints_and_supersedes_metrics(tmp_path, text):
    cfg = tiny(text, train=TrainConfig(steps=4, batch_tokens=32 * 8))
    run = make_run(tmp_path / "runs", cfg)
    train(cfg, RuntimeOptions(checkpoint_every=2), run, out=io.StringIO())
    first = run.metrics()
    s = train(cfg, RuntimeOptions(fresh=True), run, out=io.StringIO())
    assert s.resumed_from is None
    assert [m["loss"] for m in run.metrics()] == [m["loss"] for m in first]
    assert len(run.metrics(include_superseded=True)) == 8


def test_a_finished_run_resumes_to_its_summary_without_training(tmp_path, text):
    cfg = tiny(text, train=TrainConfig(steps=4, batch_tokens=32 * 8))
    run = make_run(tmp_path / "runs", cfg)
    a = train(cfg, RuntimeOptions(), run, out=io.StringIO())
    printed = io.StringIO()
    b = train(cfg, RuntimeOptions(), run, out=printed)
    assert b.resumed_from == 4 and (b.train_loss, b.val_loss) == (a.train_loss, a.val_loss)
    assert "4 steps in" in printed.getvalue() and "all before this attempt" in printed.getvalue()
    assert len(run.metrics(include_superseded=True)) == 4


def test_folder_and_shard_sources_train(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    write_text(folder / "a.txt", 4000)
    write_text(folder / "b.txt", 4000)
    s = train(tiny(TextData(path=str(folder))), RuntimeOptions(), None, out=io.StringIO())
    assert s.val_loss < math.log(256)
    shard = tmp_path / "tokens.bin"
    ids = torch.tensor(list(write_text(tmp_path / "t.txt").read_bytes()), dtype=torch.int16)
    shard.write_bytes(bytes(ids.to(torch.int16).view(torch.uint8).tolist()))
    cfg = tiny(ShardData(train=str(shard)), model=GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=512))
    s = train(cfg, RuntimeOptions(), None, out=io.StringIO())
    assert s.val_loss < math.log(512)


@pytest.mark.parametrize(
    "over",
    [
        {"optim": Muon()},
        {"optim": SGD(lr=0.5)},
        {"precision": PrecisionConfig(autocast="bfloat16")},
        {"model": GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, position="rope", qk_norm=True,
                            activation="relu2", tie_embeddings=False, norm="rmsnorm")},
    ],
    ids=["muon", "sgd", "bf16", "modern-gpt"],
)
def test_variants_train(tmp_path, text, over):
    s = train(tiny(text, **over), RuntimeOptions(), None, out=io.StringIO())
    assert math.isfinite(s.val_loss) and s.val_loss < math.log(256) - 0.5


def test_progress_line_on_request(tmp_path, text, capsys):
    train(tiny(text), RuntimeOptions(progress="on"), None, out=io.StringIO())
    err = capsys.readouterr().err
    assert "\rstep 12/12  loss " in err and "tok/s  ETA" in err and "val loss" in err and err.endswith("\n")


@pytest.mark.slow
def test_compiled_run_trains_and_reports_compile_time(tmp_path, text):
    cfg = tiny(text)
    run = make_run(tmp_path / "runs", cfg)
    attempt: dict = {}
    s = train(cfg, RuntimeOptions(compile=True), run, attempt, out=io.StringIO())
    assert s.compile_s is not None and s.compile_s > 0 and attempt["compile_s"] > 0
    assert run.metrics()[0]["compile_s"] == attempt["compile_s"]
    assert s.val_loss < math.log(256) - 0.5


@pytest.mark.parametrize(
    "over",
    [{}, {"optim": Muon()}, {"optim": SGD(lr=0.5)}, {"precision": PrecisionConfig(fp8=True)},
     {"precision": PrecisionConfig(autocast="bfloat16")},
     {"model": GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, dropout=0.1)}],
    ids=["adamw", "muon", "sgd", "fp8", "bf16", "dropout"],
)
def test_resuming_from_a_checkpoint_restores_every_state(tmp_path, text, over):
    # The optimizer's state (Adam moments, Muon momentum) and fp8 layers must round-trip exactly;
    # dropout's masks must be the same after a resume, though no generator state is checkpointed.
    cfg = tiny(text, train=TrainConfig(steps=6, batch_tokens=32 * 8), **over)
    straight, resumed = make_run(tmp_path / "a", cfg), make_run(tmp_path / "b", cfg)
    train(cfg, RuntimeOptions(), straight, out=io.StringIO())
    train(cfg, RuntimeOptions(checkpoint_every=3), resumed, out=io.StringIO())
    (resumed.checkpoint_dir / "step_00000006.pt").unlink()  # as if killed after step 3's checkpoint
    s = train(cfg, RuntimeOptions(checkpoint_every=3), resumed, out=io.StringIO())
    assert s.resumed_from == 3
    wa, wb = final_weights(straight), final_weights(resumed)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [m["loss"] for m in straight.metrics()] == [m["loss"] for m in resumed.metrics()]


def test_a_corrupt_newest_checkpoint_stops_the_resume_with_a_clear_error(tmp_path, text):
    cfg = tiny(text, train=TrainConfig(steps=4, batch_tokens=32 * 8))
    run = make_run(tmp_path / "runs", cfg)
    train(cfg, RuntimeOptions(checkpoint_every=2), run, out=io.StringIO())
    newest = ckpt.latest(run.checkpoint_dir)
    newest.write_bytes(newest.read_bytes()[:-100])
    with pytest.raises(ckpt.CheckpointError, match=rf"checkpoint {newest} is corrupt.*delete {newest}"):
        train(cfg, RuntimeOptions(), run, out=io.StringIO())


def test_text_file_source_trains_on_real_text(corpus_file):
    s = train(tiny(TextData(path=str(corpus_file))), RuntimeOptions(), None, out=io.StringIO())
    assert s.val_loss < math.log(256) - 0.5 and 3.0 < s.unigram_entropy < 3.5  # the whole corpus: 3.21
