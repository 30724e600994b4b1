"""llm.c's .bin shard format: the writer, the reader, and the one-line errors for broken shards."""

from __future__ import annotations

import array
import struct

import numpy as np
import pytest
import torch
import xxhash

from nanigpt.conf._errors import ConfigError
from nanigpt.data.config import ShardData
from nanigpt.data.shards import HEADER_BYTES, ShardWriter, dtype_for, read_shard, read_tokens, write_shard
from nanigpt.data.sources import load_shards


def test_header_is_llm_c_s_for_uint16_and_uint32(tmp_path):
    s16 = write_shard(tmp_path / "a.bin", [1, 2, 65535])
    raw = (tmp_path / "a.bin").read_bytes()
    assert struct.unpack_from("<256i", raw) == (20240520, 1, 3) + (0,) * 253
    assert raw[HEADER_BYTES:] == array.array("H", [1, 2, 65535]).tobytes()
    write_shard(tmp_path / "b.bin", [1, 65536])
    raw = (tmp_path / "b.bin").read_bytes()
    assert struct.unpack_from("<3i", raw) == (20240801, 7, 2)  # llm.c's llama-3 (uint32) header
    assert len(raw) == HEADER_BYTES + 8
    assert read_shard(tmp_path / "a.bin") == s16
    assert read_shard(tmp_path / "b.bin").dtype == "uint32"


def test_dtype_is_uint16_exactly_while_every_id_fits():
    assert dtype_for(256) == dtype_for(65536) == "uint16"
    assert dtype_for(65537) == dtype_for(200_000) == "uint32"


@pytest.mark.parametrize("dtype", ["uint16", "uint32"])
def test_writer_cuts_a_stream_into_whole_shards_in_order(tmp_path, dtype):
    w = ShardWriter(tmp_path, "train", dtype, shard_tokens=1000)
    stream = np.arange(2500, dtype=dtype) * 7
    for part in np.array_split(stream, 7):  # pieces that do not line up with the shards
        w.write(part)
    assert w.close() == [("train_000000.bin", 1000), ("train_000001.bin", 1000), ("train_000002.bin", 500)]
    back = np.concatenate([read_tokens(read_shard(tmp_path / n)) for n, _ in w.shards])
    assert back.tolist() == stream.tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == [n for n, _ in w.shards]  # no temp file left


def test_an_aborted_writer_leaves_its_finished_shards_and_no_partial_one(tmp_path):
    w = ShardWriter(tmp_path, "train", "uint16", shard_tokens=100)
    w.write(np.arange(150, dtype="uint16"))
    w.abort()
    assert [p.name for p in tmp_path.iterdir()] == ["train_000000.bin"]
    with pytest.raises(TypeError, match="ids are int64, the shards uint16"):
        ShardWriter(tmp_path, "x", "uint16", 10).write(np.arange(3))


def test_headerless_uint16_files_still_read(tmp_path):
    (tmp_path / "train.bin").write_bytes(array.array("H", range(600)).tobytes())  # nanoGPT's prepare.py
    s = read_shard(tmp_path / "train.bin")
    assert (s.dtype, s.offset, s.tokens) == ("uint16", 0, 600)


@pytest.mark.parametrize("dtype", ["uint16", "uint32"])
def test_headered_shards_load_past_their_header_and_hash_their_bytes(tmp_path, dtype):
    ids = [(i * 7919) % 50257 for i in range(3000)]
    write_shard(tmp_path / "s0.bin", ids[:1000], dtype)
    write_shard(tmp_path / "s1.bin", ids[1000:], dtype)
    d = load_shards(ShardData(train=str(tmp_path), val_fraction=0.2), block_size=32, vocab_size=50304)
    assert d.train.tokens == 2400 and d.val.tokens == 600
    assert torch.cat(list(d.train.chunks())).tolist() == ids[:2400]
    assert torch.cat(list(d.val.chunks())).tolist() == ids[2400:]
    assert d.train.segments[0].dtype == getattr(torch, dtype)
    raw = (tmp_path / "s0.bin").read_bytes() + (tmp_path / "s1.bin").read_bytes()
    assert d.fingerprint == xxhash.xxh3_128_hexdigest(raw)
    x, y = d.batch(3, 4)
    assert x.dtype == torch.int64 and x.shape == (4, 32) and int(x.max()) < 50257


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_truncated_and_padded_shards_are_one_line_errors(tmp_path):
    path = write_shard(tmp_path / "s.bin", list(range(100))).path
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    with pytest.raises(ConfigError) as e:
        read_shard(path)
    assert "is truncated: its header counts 100 uint16 tokens, its 1,221 bytes hold 98 and 1 byte(s)" in _one_line(e)
    path.write_bytes(data + b"\0\0")
    with pytest.raises(ConfigError, match="is longer than its header says: its header counts 100"):
        read_shard(path)


def test_a_wrong_magic_is_an_error_where_a_header_is_due_or_plain_to_see(tmp_path):
    path = write_shard(tmp_path / "s.bin", list(range(100))).path
    data = bytearray(path.read_bytes())
    data[0:4] = struct.pack("<i", 12345)
    path.write_bytes(bytes(data))
    # The count still matches the size: a header with a corrupt magic, not a headerless file.
    with pytest.raises(ConfigError) as e:
        read_shard(path)
    assert "has a header with magic 12345, not llm.c's 20240520 or 20240801" in _one_line(e)
    # A known magic with an unknown version.
    data[0:8] = struct.pack("<2i", 20240520, 3)
    path.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="magic 20240520 with version 3, which naniGPT does not read"):
        read_shard(path)
    # Where a manifest lists the file, a header is required, whatever the rest looks like.
    (tmp_path / "h.bin").write_bytes(b"\x01\x00" * 600)
    with pytest.raises(ConfigError, match="has a header with magic 65537"):
        read_shard(tmp_path / "h.bin", headered=True)
    (tmp_path / "short.bin").write_bytes(b"\x01\x00" * 6)
    with pytest.raises(ConfigError, match="is 12 bytes, shorter than llm.c's 1024-byte header"):
        read_shard(tmp_path / "short.bin", headered=True)

