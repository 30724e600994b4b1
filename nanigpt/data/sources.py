"""Reading each data source into a `TokenData`: text files, token shards, the built-in corpus.

Every source fingerprints the bytes it actually read (xxh3-128 hex). For one stream of bytes
(a text file, a folder read in name order, the built-in corpus, train-only shards) it is the plain
xxh3-128 of those bytes, so `xxh128sum file.txt` reproduces it. Shards that `nanigpt prepare` wrote
hash their manifest first, so the fingerprint also covers their sources, tokenizer and split.
"""

from __future__ import annotations

import torch
import xxhash

from nanigpt.conf import ConfigError
from nanigpt.data import manifest as mf
from nanigpt.data.config import BuiltinData, ShardData, TextData
from nanigpt.data.files import Files, check_context, shard_files, shard_tokenizer, text_files, val_start
from nanigpt.data.shards import ITEMSIZE
from nanigpt.data.tokens import Split, TokenData

_CHUNK = 1 << 24  # bytes per read while hashing shards: bounded memory for any shard size
_DTYPES = {"uint16": torch.uint16, "uint32": torch.uint32}


def _size(nbytes: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError


def _bytes_data(data: bytearray, fingerprint: str, description: str, field: str, value: str, *,
                val_fraction: float, block_size: int, seed: int) -> TokenData:
    tokens = torch.frombuffer(data, dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)
    cut = val_start(tokens.numel(), val_fraction)
    check_context(block_size, "train", cut, field, value)
    check_context(block_size, "val", tokens.numel() - cut, field, value)
    return TokenData(
        train=Split([tokens[:cut]]),
        val=Split([tokens[cut:]]),
        block_size=block_size,
        seed=seed,
        fingerprint=fingerprint,
        description=description,
    )


def load_text(cfg: TextData, *, block_size: int, seed: int = 0) -> TokenData:
    """A text file, or a folder's files sorted by name and concatenated, as byte tokens."""
    files = text_files(cfg)
    data = bytearray(files.nbytes)
    view = memoryview(data)
    at = 0
    for p in files.paths:
        with open(p, "rb") as f:
            while n := f.readinto(view[at:]):
                at += n
    if at != len(data):
        raise ConfigError(f"`data.path`={cfg.path!r} changed size while being read", path="data.path",
                          suggestion="do not write to the data while training starts")
    what = files.paths[0].name if len(files.paths) == 1 else f"{len(files.paths)} files in {cfg.path}"
    return _bytes_data(data, xxhash.xxh3_128_hexdigest(data), f"{what} ({_size(len(data))})", "data.path",
                       cfg.path, val_fraction=cfg.val_fraction, block_size=block_size, seed=seed)


def load_builtin(cfg: BuiltinData, *, block_size: int, seed: int = 0) -> TokenData:
    """naniGPT's built-in corpus (package data): nothing to download, the same bytes everywhere."""
    from nanigpt.data.corpus import read_builtin

    data = bytearray(read_builtin())
    return _bytes_data(data, xxhash.xxh3_128_hexdigest(data), f"built-in corpus ({_size(len(data))})", "data",
                       "builtin", val_fraction=cfg.val_fraction, block_size=block_size, seed=seed)


def _map(files: Files, hasher: xxhash.xxh3_128) -> list[torch.Tensor]:
    """Memory-map each shard's tokens (private, read-only use) and feed its bytes to `hasher`:
    the manifest's first, if the shards have one."""
    if files.manifest is not None:
        hasher.update(b"\x00manifest\x00" + files.manifest.read_bytes())
    segments = []
    for shard in files.shards:
        with open(shard.path, "rb") as f:
            while chunk := f.read(_CHUNK):
                hasher.update(chunk)
        item = ITEMSIZE[shard.dtype]
        # shared=False maps the file copy-on-write: nothing we do can write to the user's shard.
        whole = torch.from_file(str(shard.path), shared=False, size=shard.offset // item + shard.tokens,
                                dtype=_DTYPES[shard.dtype])
        segments.append(whole[shard.offset // item :])  # past llm.c's header, if there is one
    return segments


def _cut(segments: list[torch.Tensor], at: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Split a segmented stream at token `at` into (head, tail) views."""
    head, tail = [], []
    for s in segments:
        n = s.numel()
        if at >= n:
            head.append(s)
        elif at <= 0:
            tail.append(s)
        else:
            head.append(s[:at])
            tail.append(s[at:])
        at -= n
    return head, tail


def load_shards(cfg: ShardData, *, block_size: int, seed: int = 0, vocab_size: int | None = None) -> TokenData:
    """Token shards, memory-mapped; val is `cfg.val`'s shards or the tail of train."""
    hasher = xxhash.xxh3_128()
    train_files = shard_files(cfg.train, "data.train")
    train = _map(train_files, hasher)
    val_files = shard_files(cfg.val, "data.val") if cfg.val is not None else None
    tokenizer = shard_tokenizer(train_files, val_files)
    if cfg.val is None:
        total = sum(s.numel() for s in train)
        train, val = _cut(train, val_start(total, cfg.val_fraction))
        val_field, val_value = "data.train", cfg.train
        nbytes = train_files.nbytes
    else:
        # Mark where train ends, so moving bytes from the train to the val shards changes the fingerprint.
        hasher.update(b"\x00val\x00" + train_files.nbytes.to_bytes(8, "little"))
        assert val_files is not None
        val = _map(val_files, hasher)
        val_field, val_value = "data.val", cfg.val
        nbytes = train_files.nbytes + val_files.nbytes
    data = TokenData(
        train=Split(train),
        val=Split(val),
        block_size=block_size,
        seed=seed,
        fingerprint=hasher.hexdigest(),
        description=f"{len(train_files.paths)} shard(s) in {cfg.train} ({_size(nbytes)})",
        # what decodes these ids (`sample`), from the manifest beside them; None: no manifest
        tokenizer=mf.tokenizer_payload(train_files.manifest) if tokenizer is not None and train_files.manifest
        else None,
    )
    check_context(block_size, "train", data.train.tokens, "data.train", cfg.train)
    check_context(block_size, "val", data.val.tokens, val_field, val_value)
    if vocab_size is not None:
        for name, split, field in (("train", data.train, "data.train"), ("val", data.val, val_field)):
            top = split.max_token()
            if top >= vocab_size:
                raise ConfigError(
                    f"the {name} shards of `{field}` hold token id {top}, outside `model.vocab_size`={vocab_size}",
                    path="model.vocab_size",
                    suggestion=f"set model.vocab_size={top + 1} or larger (e.g. 50304 for GPT-2 tokens)",
                )
    return data
