"""Crash-safe file primitives: atomic whole-file replacement and line-atomic JSON-lines appends.

Whole files are replaced atomically (temp file in the same directory, fsync, rename, fsync of
the directory), so a reader sees the old file or the new one, never a torn one. Logs are
appended with one `write` of one whole line on an `O_APPEND` descriptor. Torch-free; the run
store and the trainer's checkpoints share this one implementation.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import math
import os
from collections.abc import Iterator
from typing import BinaryIO

import msgspec

# Paths are strings or os.PathLike (a pathlib.Path): everything here is os calls, and pathlib
# would add its import to the start-up of every command that reads a run.
StrPath = str | os.PathLike[str]

# Numbers temp files (and the store's temp run folders) apart within one process.
tmp_counter = itertools.count()
# One JSON decoder for the records the store reads back.
json_decoder = msgspec.json.Decoder()


def fsync_dir(path: StrPath) -> None:
    """Make a rename or a new entry in the directory `path` durable (POSIX needs the directory's fsync)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: StrPath) -> Iterator[BinaryIO]:
    """A binary file that replaces `path` when the block ends without an error, so that readers
    see the old file or the new one, whole; on an error nothing is replaced and the temp file is
    removed. For writers that stream (`torch.save` of a checkpoint)."""
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{next(tmp_counter)}.tmp")
    f = open(tmp, "xb")  # noqa: SIM115 -- closed below on every path, before the rename
    try:
        yield f
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path)  # a failed rename, too, must leave no temp file behind
    except BaseException:
        f.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(folder or ".")


def atomic_write(path: StrPath, data: bytes) -> None:
    """Replace `path` with `data` so that readers see the old file or the new one, whole."""
    with atomic_writer(path) as f:
        f.write(data)


def finite_record(record: dict) -> dict:
    """`record` with NaN and infinite floats as the strings "nan", "inf", "-inf"."""
    # JSON has no NaN: msgspec would write null and lose the fact that a loss diverged.
    out = None
    for k, v in record.items():
        if isinstance(v, float) and not math.isfinite(v):
            out = dict(record) if out is None else out
            out[k] = "nan" if v != v else ("inf" if v > 0 else "-inf")
    return record if out is None else out


def append_line(path: StrPath, record: dict, *, fsync: bool = False) -> None:
    """Append `record` as one JSON line with a single write, so concurrent readers and a crash
    never leave half a line behind it."""
    line = msgspec.json.encode(finite_record(record)) + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        n = os.write(fd, line)
        if n != len(line):
            # Disk full, typically. End the torn line so the next record starts clean.
            os.write(fd, b"\n")
            raise OSError(errno.ENOSPC, f"short write to {path}: {n} of {len(line)} bytes")
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def end_torn_line(path: StrPath) -> None:
    """If `path` ends in the middle of a line (a write cut by a power loss), end that line, so
    the next record is not glued onto it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.write(fd, b"\n")
    finally:
        os.close(fd)


def read_bytes(path: StrPath) -> bytes:
    """The whole file."""
    # os.read, not open().read(): four system calls for a small file instead of nine (no fstat,
    # isatty or seek), which is most of what `nanigpt runs` does per run
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = [os.read(fd, 1 << 16)]
        while chunks[-1]:
            chunks.append(os.read(fd, 1 << 20))
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_jsonl(path: StrPath) -> list[dict]:
    """The records of a JSON-lines file; a line that does not parse (a torn write after a power
    loss) is skipped rather than making the whole history unreadable."""
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        return []
    out = []
    for line in data.split(b"\n"):
        if line.strip():
            try:
                rec = json_decoder.decode(line)
            except msgspec.DecodeError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
    return out
