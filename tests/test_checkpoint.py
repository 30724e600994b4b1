"""Checkpoints: atomic writes, retention, verification (corruption, another run, another format)."""

from __future__ import annotations

import io
import struct

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nanigpt.training import checkpoint as ckpt
from nanigpt.training.checkpoint import CheckpointError

HASH = "0123456789abcdef0123456789abcdef"


def state(step: int = 3, **over) -> dict:
    s = {
        "config_hash": HASH,
        "config": '{"a":1}',
        "step": step,
        # A distinctive tensor whose bytes can be found in the file.
        "model": {"w": torch.arange(1000, dtype=torch.float32) + 0.5, "b": torch.zeros(3, dtype=torch.bfloat16)},
        "optimizer": {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 1e-3, "params": [0]}]},
        "data": {"fingerprint": "f" * 32, "next_batch": step},
        "elapsed_s": 1.5,
        "last": {"loss": 2.0},
    }
    s.update(over)
    return s


def test_save_then_load_round_trips_with_weights_only(tmp_path):
    path = ckpt.save(tmp_path, state(), keep=2)
    assert path == tmp_path / "step_00000003.pt"
    loaded = ckpt.load(path, config_hash=HASH)
    assert torch.equal(loaded["model"]["w"], state()["model"]["w"])
    assert loaded["model"]["b"].dtype == torch.bfloat16
    assert loaded["step"] == 3 and loaded["format"] == ckpt.FORMAT and loaded["last"] == {"loss": 2.0}
    assert torch.load(path, weights_only=True)["config_hash"] == HASH  # plain torch can read it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_00000003.pt"]  # no temp file left


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    for step in (1, 2, 3, 10, 5):
        ckpt.save(tmp_path, state(step), keep=2)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [5, 10]
    assert ckpt.latest(tmp_path) == tmp_path / "step_00000010.pt"


def test_steps_past_eight_digits_are_found_in_step_order(tmp_path):
    # train.steps goes to 10**9: the name's 8 digits are a minimum width, not the only one
    for step in (99_999_999, 100_000_000, 123_456_789):
        ckpt.save(tmp_path, state(step), keep=2)
    assert ckpt.path_for(tmp_path, 123_456_789).name == "step_123456789.pt"
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [100_000_000, 123_456_789]
    assert ckpt.latest(tmp_path) == tmp_path / "step_123456789.pt"


def test_temp_files_and_strangers_are_never_taken_for_checkpoints(tmp_path):
    (tmp_path / ".step_00000009.pt.123.tmp").write_bytes(b"half a checkpoint")
    (tmp_path / "step_00000011").mkdir()  # a folder without shards is not a sharded checkpoint
    (tmp_path / "step_00000012.pt.bak").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hi")
    assert ckpt.latest(tmp_path) is None
    ckpt.save(tmp_path, state(4), keep=1)
    assert ckpt.latest(tmp_path) == tmp_path / "step_00000004.pt"
    assert not (tmp_path / ".step_00000009.pt.123.tmp").exists()  # a killed writer's leftover


def test_a_flipped_bit_in_the_weights_is_caught(tmp_path):
    path = ckpt.save(tmp_path, state(), keep=1)
    raw = bytearray(path.read_bytes())
    at = raw.find(struct.pack("<f", 500.5))  # element 500 of model.w
    assert at > 0
    raw[at] ^= 0x01
    path.write_bytes(raw)
    assert torch.load(path, weights_only=True)["model"]["w"][500] != 500.5  # torch itself does not notice
    with pytest.raises(CheckpointError) as e:
        ckpt.load(path, config_hash=HASH)
    assert "is corrupt: its contents do not match their digest" in str(e.value)
    assert f"delete {path}" in str(e.value) and "--fresh" in str(e.value)


def test_a_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = ckpt.save(tmp_path, state(), keep=1)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"is corrupt and cannot be read: .*\(delete .*--fresh\)"):
        ckpt.load(path, config_hash=HASH)
    assert "\n" not in str(pytest.raises(CheckpointError, ckpt.load, path, config_hash=HASH).value)


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    path = ckpt.save(tmp_path, state(), keep=1)
    other = "fedcba9876543210fedcba9876543210"
    with pytest.raises(CheckpointError) as e:
        ckpt.load(path, config_hash=other)
    assert f"belongs to run {HASH[:12]}, not to this run {other[:12]}" in str(e.value)
    assert f"run:{HASH[:12]}" in str(e.value)


def test_foreign_files_and_other_formats_are_refused(tmp_path):
    foreign = tmp_path / "step_00000001.pt"
    torch.save({"model": {}}, foreign)
    with pytest.raises(CheckpointError, match="is not a naniGPT checkpoint"):
        ckpt.load(foreign, config_hash=HASH)
    future = state()
    future["format"] = 99
    future["digest"] = ckpt.digest(future)
    torch.save(future, foreign)
    with pytest.raises(CheckpointError, match="has format 99; this naniGPT reads format 1"):
        ckpt.load(foreign, config_hash=HASH)


def test_pickled_code_does_not_load(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "step_00000001.pt"
    torch.save({"digest": "x", "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="cannot be read"):
        ckpt.load(path, config_hash=HASH)


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=5),
        st.one_of(
            st.integers(-(2**40), 2**40),
            st.floats(allow_nan=False),
            st.text(max_size=8),
            st.lists(st.floats(-1e6, 1e6, width=32), min_size=0, max_size=16).map(torch.tensor),
        ),
        max_size=6,
    )
)
def test_digest_survives_a_save_and_load_and_sees_any_change(contents):
    buf = io.BytesIO()
    torch.save(contents, buf)
    buf.seek(0)
    again = torch.load(buf, weights_only=True)
    assert ckpt.digest(again) == ckpt.digest(contents)
    changed = {**contents, "extra": 1}
    assert ckpt.digest(changed) != ckpt.digest(contents)
