"""Data: the byte tokenizer, each source, the train/val split, fingerprints, deterministic batches."""

from __future__ import annotations

import array
from pathlib import Path

import pytest
import torch
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from nanigpt.conf._errors import ConfigError
from nanigpt.data.config import ShardData, TextData
from nanigpt.data.files import val_start
from nanigpt.data.sources import load_shards, load_text
from nanigpt.data.tokenizer import decode, encode
from nanigpt.data.tokens import Split, TokenData, rank_slice

def write_shard(path: Path, ids: list[int]) -> Path:
    a = array.array("H", ids)
    assert a.itemsize == 2
    path.write_bytes(a.tobytes())  # native order; the machines we run on are little-endian
    return path


# -- tokenizer


@given(st.text())
def test_encode_decode_round_trips_any_text(text):
    ids = encode(text)
    assert ids.dtype == torch.uint8 and ids.numel() == len(text.encode("utf-8"))
    assert decode(ids) == text


@given(st.binary())
def test_decode_never_fails_on_bytes_and_replaces_invalid_utf8(data):
    text = decode(list(data))
    assert text == data.decode("utf-8", errors="replace")


def test_decode_of_a_cut_multibyte_char_gives_the_replacement_char():
    ids = encode("é")  # two bytes
    assert decode(ids[:1]) == "\ufffd"


# -- text sources


def test_text_file_tokens_split_and_fingerprint(tmp_path):
    data = bytes(range(256)) * 40  # 10240 bytes
    f = tmp_path / "a.txt"
    f.write_bytes(data)
    d = load_text(TextData(path=str(f), val_fraction=0.25), block_size=16, seed=1)
    assert d.fingerprint == xxhash.xxh3_128_hexdigest(data)  # `xxh128sum a.txt` reproduces it
    assert d.train.tokens == 7680 and d.val.tokens == 2560
    assert bytes(d.train.segments[0].tolist()) == data[:7680]
    assert bytes(d.val.segments[0].tolist()) == data[7680:]


def test_folder_reads_matching_files_sorted_by_name_concatenated(tmp_path):
    (tmp_path / "b.txt").write_text("BBBB" * 100)
    (tmp_path / "a.txt").write_text("AAAA" * 100)
    (tmp_path / "c.md").write_text("not me")
    (tmp_path / "sub.txt").mkdir()  # a folder matching the glob is not a file: skipped
    d = load_text(TextData(path=str(tmp_path), val_fraction=0.5), block_size=8)
    whole = ("AAAA" * 100 + "BBBB" * 100).encode()
    assert d.fingerprint == xxhash.xxh3_128_hexdigest(whole)
    assert bytes(d.train.segments[0].tolist()) == whole[:400]
    md = load_text(TextData(path=str(tmp_path), glob="*.md", val_fraction=0.5), block_size=2)
    assert md.fingerprint == xxhash.xxh3_128_hexdigest(b"not me")


def test_missing_text_path_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_text(TextData(path=str(tmp_path / "nope.txt")), block_size=8)
    assert e.value.path == "data.path"
    assert "`data.path`=" in str(e.value) and "nope.txt" in str(e.value) and "does not exist" in str(e.value)


def test_empty_text_file_is_a_clear_error(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"`data.path`=.*empty\.txt.* is empty"):
        load_text(TextData(path=str(tmp_path / "empty.txt")), block_size=8)


def test_folder_without_matching_files_is_a_clear_error(tmp_path):
    (tmp_path / "a.md").write_text("hello")
    with pytest.raises(ConfigError, match=r"no file matching `data.glob`='\*.txt'.*data.glob="):
        load_text(TextData(path=str(tmp_path)), block_size=8)


def test_context_longer_than_a_split_names_block_size_and_suggests_a_fit(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(b"x" * 1000)  # val = 100 tokens
    with pytest.raises(ConfigError) as e:
        load_text(TextData(path=str(f)), block_size=100)
    assert e.value.path == "model.block_size"
    msg = str(e.value)
    assert "val split" in msg and "100 tokens" in msg and "`model.block_size`+1=101" in msg
    assert "model.block_size<=99" in msg
    load_text(TextData(path=str(f)), block_size=99)  # exactly one context fits


# -- shards


def test_shards_are_memory_mapped_and_split_at_the_tail(tmp_path):
    ids = [(i * 7919) % 50257 for i in range(3000)]
    write_shard(tmp_path / "s0.bin", ids[:1000])
    write_shard(tmp_path / "s1.bin", ids[1000:])
    (tmp_path / "notes.txt").write_text("ignored")
    d = load_shards(ShardData(train=str(tmp_path), val_fraction=0.2), block_size=32, vocab_size=50304)
    assert d.train.tokens == 2400 and d.val.tokens == 600
    train = torch.cat([c for c in d.train.chunks()]).tolist()
    val = torch.cat([c for c in d.val.chunks()]).tolist()
    assert train == ids[:2400] and val == ids[2400:]
    # The fingerprint is the plain hash of the bytes read, in name order.
    raw = (tmp_path / "s0.bin").read_bytes() + (tmp_path / "s1.bin").read_bytes()
    assert d.fingerprint == xxhash.xxh3_128_hexdigest(raw)
    assert d.train.segments[0].dtype == torch.uint16


def test_shards_with_a_val_location_use_it(tmp_path):
    write_shard(tmp_path / "train.bin", list(range(500)))
    write_shard(tmp_path / "val.bin", list(range(1000, 1200)))
    d = load_shards(ShardData(train=str(tmp_path / "train.bin"), val=str(tmp_path / "val.bin")), block_size=16)
    assert d.train.tokens == 500 and d.val.tokens == 200
    assert torch.cat(list(d.val.chunks())).tolist() == list(range(1000, 1200))
    # Moving the boundary between train and val bytes changes the fingerprint.
    write_shard(tmp_path / "train.bin", list(range(499)))
    write_shard(tmp_path / "val.bin", [499, *range(1000, 1200)])
    moved = load_shards(ShardData(train=str(tmp_path / "train.bin"), val=str(tmp_path / "val.bin")), block_size=16)
    assert moved.fingerprint != d.fingerprint


def test_shard_with_an_odd_byte_count_is_a_clear_error(tmp_path):
    (tmp_path / "bad.bin").write_bytes(b"\x01\x00\x02")
    with pytest.raises(ConfigError) as e:
        load_shards(ShardData(train=str(tmp_path / "bad.bin")), block_size=1)
    assert e.value.path == "data.train"
    assert "is 3 bytes, not a whole number of uint16 tokens" in str(e.value)


def test_shard_token_outside_the_vocab_is_a_clear_error(tmp_path):
    write_shard(tmp_path / "s.bin", [1, 2, 3, 300] * 50)
    with pytest.raises(ConfigError, match=r"token id 300, outside `model.vocab_size`=256.*model.vocab_size=301"):
        load_shards(ShardData(train=str(tmp_path / "s.bin")), block_size=8, vocab_size=256)


def test_missing_shards_and_empty_folder_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"`data.train`=.*does not exist"):
        load_shards(ShardData(train=str(tmp_path / "x.bin")), block_size=8)
    with pytest.raises(ConfigError, match=r"`data.train`=.* no `.bin` shard"):
        load_shards(ShardData(train=str(tmp_path)), block_size=8)
    write_shard(tmp_path / "t.bin", list(range(100)))
    with pytest.raises(ConfigError, match=r"`data.val`=.*does not exist"):
        load_shards(ShardData(train=str(tmp_path / "t.bin"), val=str(tmp_path / "v.bin")), block_size=8)


# -- the split and windows


@given(st.integers(0, 10**7), st.floats(0.001, 0.999))
def test_val_start_keeps_both_splits_nonempty(n, frac):
    cut = val_start(n, frac)
    assert 0 <= cut <= n
    if n >= 2:
        assert 1 <= cut <= n - 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.data())
def test_windows_across_segments_read_the_concatenated_stream(lengths, data):
    stream = torch.arange(sum(lengths), dtype=torch.int64)
    segments = list(torch.split(stream.to(torch.uint16), lengths))
    split = Split(segments)
    length = data.draw(st.integers(1, len(stream)))
    offsets = torch.tensor(data.draw(st.lists(st.integers(0, len(stream) - length), min_size=1, max_size=8)))
    got = split.windows(offsets, length)
    want = torch.stack([stream[o : o + length] for o in offsets.tolist()])
    assert torch.equal(got, want)


def test_window_past_the_end_is_refused():
    with pytest.raises(IndexError):
        Split([torch.arange(10)]).windows(torch.tensor([5]), 6)


def _data(n: int = 5000, block_size: int = 16, seed: int = 7) -> TokenData:
    tokens = (torch.arange(n) % 251).to(torch.uint8)
    cut = val_start(n, 0.1)
    return TokenData(Split([tokens[:cut]]), Split([tokens[cut:]]), block_size, seed, "f", "test")


def test_batch_k_is_a_function_of_seed_and_k():
    d = _data()
    x1, y1 = d.batch(3, 8)
    x2, y2 = d.batch(3, 8)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == (8, 16) and x1.dtype == torch.int64
    assert torch.equal(x1[:, 1:], y1[:, :-1])  # targets are the inputs shifted by one
    assert not torch.equal(d.batch(4, 8)[0], x1)
    other_seed = _data(seed=8)
    assert not torch.equal(other_seed.batch(3, 8)[0], x1)


@given(st.sampled_from([(12, 1), (12, 2), (12, 3), (12, 4), (12, 6), (16, 8)]), st.integers(0, 10**6))
def test_rank_slices_make_up_the_global_batch(shape, k):
    n, world = shape
    d = _data()
    whole_x, whole_y = d.batch(k, n)
    parts = [d.batch(k, n, rank=r, world_size=world) for r in range(world)]
    assert torch.equal(torch.cat([p[0] for p in parts]), whole_x)
    assert torch.equal(torch.cat([p[1] for p in parts]), whole_y)
    assert [rank_slice(n, r, world) for r in range(world)][-1].stop == n


def test_val_batches_are_fixed_and_differ_from_train():
    # Train tokens are 0..99 and val tokens 100..199: every token tells which split it came from.
    train = Split([(torch.arange(4000) % 100).to(torch.uint8)])
    val = Split([(100 + torch.arange(600) % 100).to(torch.uint8)])
    d = TokenData(train, val, 16, 7, "f", "test")
    for k in range(4):
        (vx, vy), (tx, ty) = d.val_batch(k, 8), d.batch(k, 8)
        assert torch.equal(vx, d.val_batch(k, 8)[0])  # the same at every evaluation
        assert vx.min() >= 100 and vy.min() >= 100  # val batches come from the val split only
        assert tx.max() < 100 and ty.max() < 100  # and train batches never from it
        assert torch.equal(vx[:, 1:], vy[:, :-1])
    assert not torch.equal(d.val_batch(0, 8)[0], d.val_batch(1, 8)[0])


def test_val_blocks_predict_every_val_token_once():
    d = _data(n=1000, block_size=16)  # val = 100 tokens -> 6 blocks of 16 (97 targets would need 7)
    val = d.val.segments[0].long()
    assert d.val_blocks == (100 - 1) // 16
    _, y = d.val_block_batch(0, d.val_blocks)
    assert torch.equal(y.reshape(-1), val[1 : 1 + d.val_blocks * 16])


def test_unigram_entropy_in_nats():
    uniform = Split([torch.arange(256, dtype=torch.int64).repeat(4)])
    assert uniform.unigram_entropy() == pytest.approx(torch.log(torch.tensor(256.0)).item())
    assert Split([torch.zeros(10, dtype=torch.uint8)]).unigram_entropy() == 0.0


def test_a_real_text_file_loads_as_bytes(corpus_file):
    d = load_text(TextData(path=str(corpus_file)), block_size=64)
    assert d.train.tokens + d.val.tokens == corpus_file.stat().st_size
    assert 3.0 < d.val.unigram_entropy() < 3.5  # a known property of English character frequencies


def test_builtin_corpus_loads_with_its_plain_fingerprint():
    from nanigpt.data.config import BuiltinData
    from nanigpt.data.corpus import read_builtin
    from nanigpt.data.sources import load_builtin

    raw = read_builtin()
    d = load_builtin(BuiltinData(val_fraction=0.1), block_size=128, seed=0)
    assert d.fingerprint == xxhash.xxh3_128_hexdigest(raw)
    assert d.train.tokens + d.val.tokens == len(raw) and d.val.tokens == round(len(raw) * 0.1)
    assert bytes(d.val.segments[0][:64].tolist()) == raw[d.train.tokens : d.train.tokens + 64]
