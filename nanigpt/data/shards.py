"""Token shard files: llm.c's `.bin` format (a 256-int32 header, then the tokens), and the headerless
uint16 arrays of nanoGPT's `prepare.py` (`train.bin`). Torch-free: pre-flight reads headers, and
`nanigpt prepare` writes shards, without loading torch.

The header is 256 little-endian int32: magic, version, token count, then zeros. llm.c has two:

    magic 20240520, version 1: uint16 tokens (GPT-2; also modded-nanogpt's shards)
    magic 20240801, version 7: uint32 tokens (llm.c's llama-3 shards)

A writer picks uint16 when every id of the vocabulary fits, uint32 when it does not. A reader
checks that the count matches the file size, so a truncated or padded shard is an error before
training, never a crash in the middle of it.
"""

from __future__ import annotations

import contextlib
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from nanigpt.atomic import atomic_writer
from nanigpt.conf import ConfigError

HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
# (magic, version) -> token dtype, as llm.c's dev/data/data_common.py writes them.
FORMATS = {(20240520, 1): "uint16", (20240801, 7): "uint32"}
HEADER_OF = {dtype: key for key, dtype in FORMATS.items()}
ITEMSIZE = {"uint16": 2, "uint32": 4}
MAX_TOKENS = 2**31 - 1  # the count is an int32

if TYPE_CHECKING:
    import numpy as np


def dtype_for(vocab_size: int) -> str:
    """The narrowest token type that holds every id below `vocab_size`."""
    return "uint16" if vocab_size <= 2**16 else "uint32"


@dataclass(frozen=True)
class Shard:
    """Where a shard's tokens are: `tokens` items of `dtype` from byte `offset` of `path`."""

    path: Path
    dtype: str  # "uint16" or "uint32"
    offset: int  # HEADER_BYTES, or 0 for a headerless file
    tokens: int

    @property
    def headered(self) -> bool:
        return self.offset > 0


def _bad(path: Path, field: str, what: str, suggestion: str) -> ConfigError:
    return ConfigError(f"shard {str(path)!r} of `{field}` {what}", path=field, suggestion=suggestion)


def read_shard(path: Path, field: str = "data.train", *, headered: bool | None = None) -> Shard:
    """The layout of the shard at `path`, from its header and size (reads 1 kB).

    `headered=True` (a shard a manifest lists) requires llm.c's header; `None` also accepts a
    headerless uint16 file, recognized by the absence of any known magic. A file that looks like a
    header (its count matches its size) under an unknown magic or version is refused either way.
    """
    if sys.byteorder != "little":  # the header and the tokens are little-endian
        raise ConfigError("token shards are little-endian; this machine is big-endian", path=field)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(HEADER_BYTES)
    if len(head) == HEADER_BYTES:
        magic, version, count = struct.unpack_from("<3i", head)
        dtype = FORMATS.get((magic, version))
        if dtype is not None:
            body = size - HEADER_BYTES
            if count < 0 or body != count * ITEMSIZE[dtype]:
                whole, rest = divmod(body, ITEMSIZE[dtype])
                what = "is truncated" if body < count * ITEMSIZE[dtype] else "is longer than its header says"
                raise _bad(path, field, f"{what}: its header counts {count:,} {dtype} tokens, its "
                           f"{size:,} bytes hold {whole:,}" + (f" and {rest} byte(s)" if rest else ""),
                           "prepare it again (`nanigpt prepare`), or copy it again whole")
            return Shard(path, dtype, HEADER_BYTES, count)
        if any(magic == m for m, _ in FORMATS):
            raise _bad(path, field, f"has llm.c's magic {magic} with version {version}, which naniGPT does not "
                       "read", "naniGPT reads version 1 (uint16) and 7 (uint32)")
        looks_headered = count >= 0 and any(size - HEADER_BYTES == count * n for n in ITEMSIZE.values())
        if headered or looks_headered:
            raise _bad(path, field, f"has a header with magic {magic}, not llm.c's "
                       f"{' or '.join(str(m) for m, _ in FORMATS)}: a corrupt or foreign header",
                       "prepare it again (`nanigpt prepare`), or copy it again whole")
    elif headered:
        raise _bad(path, field, f"is {size} bytes, shorter than llm.c's {HEADER_BYTES}-byte header",
                   "prepare it again (`nanigpt prepare`), or copy it again whole")
    if size % 2:
        raise _bad(path, field, f"is {size} bytes, not a whole number of uint16 tokens",
                   "headerless shards are raw little-endian uint16 arrays; the file may be truncated")
    return Shard(path, "uint16", 0, size // 2)


def header(dtype: str, tokens: int) -> bytes:
    """llm.c's 1 kB header for `tokens` ids of `dtype`."""
    magic, version = HEADER_OF[dtype]
    return struct.pack("<3i", magic, version, tokens) + bytes(HEADER_BYTES - 12)


# numpy is imported by the functions that use it: pre-flight reads headers at every `train`,
# including one that only reports a finished run, and numpy's import would double that start-up.


def read_tokens(shard: Shard) -> np.ndarray:
    """A shard's tokens, read into a numpy array of its dtype: for tests, benchmarks, converters."""
    import numpy as np

    with open(shard.path, "rb") as f:
        f.seek(shard.offset)
        return np.frombuffer(f.read(shard.tokens * ITEMSIZE[shard.dtype]), dtype=shard.dtype)


class ShardWriter:
    """Writes one stream of token arrays into numbered shards of at most `shard_tokens` tokens each.

    Each shard goes to a temp file whose header is filled in last, then it is fsynced and renamed
    (`atomic_writer`): a shard under its final name is always whole. `shards` lists
    (file name, tokens) in order.
    """

    def __init__(self, directory: Path, prefix: str, dtype: str, shard_tokens: int) -> None:
        if not 1 <= shard_tokens <= MAX_TOKENS:
            raise ValueError(f"shard_tokens must be in 1..{MAX_TOKENS}, got {shard_tokens}")
        self.directory, self.prefix, self.dtype, self.shard_tokens = directory, prefix, dtype, shard_tokens
        self.shards: list[tuple[str, int]] = []
        self._open: contextlib.ExitStack | None = None
        self._file: BinaryIO | None = None
        self._count = 0

    def _start(self) -> BinaryIO:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{self.prefix}_{len(self.shards):06d}.bin"
        self._open = contextlib.ExitStack()
        self._file = self._open.enter_context(atomic_writer(self.directory / name))
        self._file.write(header(self.dtype, 0))  # the count is filled in when the shard is done
        self._count = 0
        self.shards.append((name, 0))
        return self._file

    def _finish(self) -> None:
        assert self._file is not None and self._open is not None
        self._file.seek(0)
        self._file.write(header(self.dtype, self._count))
        self.shards[-1] = (self.shards[-1][0], self._count)
        stack, self._open, self._file = self._open, None, None
        stack.close()  # fsync, rename

    def write(self, ids: np.ndarray) -> None:
        """Append token ids: a 1-D numpy array of the shards' dtype."""
        if ids.dtype != self.dtype:
            raise TypeError(f"ids are {ids.dtype}, the shards {self.dtype}")
        at = 0
        while at < len(ids):
            f = self._file if self._file is not None else self._start()
            take = min(len(ids) - at, self.shard_tokens - self._count)
            f.write(ids[at : at + take].tobytes())
            self._count += take
            at += take
            if self._count == self.shard_tokens:
                self._finish()

    def close(self) -> list[tuple[str, int]]:
        """Finish the last shard; the list of (file name, tokens)."""
        if self._file is not None:
            self._finish()
        return self.shards

    def abort(self) -> None:
        """Drop the shard being written (its temp file is removed); finished shards are the caller's."""
        if self._open is not None:
            stack, self._open, self._file = self._open, None, None
            e = RuntimeError("shard writing aborted")
            stack.__exit__(RuntimeError, e, None)  # atomic_writer removes its temp file


def write_shard(path: Path, ids: np.ndarray | list[int], dtype: str | None = None) -> Shard:
    """One whole shard at `path`, atomically: for tests, benchmarks and converters."""
    import numpy as np

    arr = np.asarray(ids)
    dtype = dtype or dtype_for(int(arr.max()) + 1 if arr.size else 1)
    with atomic_writer(path) as f:
        f.write(header(dtype, len(arr)))
        f.write(np.ascontiguousarray(arr, dtype=dtype).tobytes())
    return Shard(path, dtype, HEADER_BYTES, len(arr))
