"""`nanigpt prepare`: text files to llm.c token shards, with their tokenizer and a manifest. Torch-free.

How it goes, and why in this order:

1. Every source is read once, hashed and checked to be UTF-8 text, before anything is written:
   a missing, empty or binary source is an error that leaves no trace.
2. If `--out` already holds a manifest of the same sources and options, whose shards check out,
   there is nothing to do. A manifest of other sources is refused (never overwritten).
3. The tokenizer is made (bpe learns its merges from the train text, at most `BPE_SAMPLE_CHARS`
   of it, spread evenly: bounded memory and time whatever the corpus size).
4. The text streams through in pieces cut at line breaks between two non-space characters (where
   GPT-2's pre-tokenizer splits anyway, so the ids are those of the whole text), batched into jobs
   that `--workers` processes tokenize; the ids are written in order into shards. Memory is
   bounded by the jobs in flight, whatever the corpus size, and the cuts depend on the text alone,
   so any number of workers writes the same bytes.
5. Everything is written into a staging folder inside `--out`, then moved into place, the
   manifest last. An error or Ctrl-C removes the staging folder: `--out` is as it was.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import errno
import fcntl
import glob
import itertools
import math
import multiprocessing
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import xxhash

from nanigpt.liveline import LiveLine
from nanigpt.atomic import atomic_write, fsync_dir
from nanigpt.conf import ConfigError
from nanigpt.data import manifest as mf
from nanigpt.data.shards import MAX_TOKENS, ShardWriter, dtype_for, read_shard
from nanigpt.data.tokenizers import Codec, Spec, codec_for, fingerprint, from_record, parse_spec, require

PIECE_CHARS = 4096  # what the tokenizer sees at once: small pieces encode faster than long ones
JOB_CHARS = 1 << 16  # what a worker gets at once: ~50 ms of BPE, so IPC costs nothing by comparison
READ_BYTES = 1 << 22  # bytes per read of a source
BPE_SAMPLE_CHARS = 1 << 26  # bpe learns from at most ~64M characters of the train text
DEFAULT_VAL_FRACTION = 0.1
DEFAULT_SHARD_TOKENS = 100_000_000  # llm.c's shard size
_STAGE = ".prepare-"  # staging folder inside --out: .prepare-<pid>

# A cut after a line break between two non-space characters: GPT-2's pre-tokenizer (bpe, tiktoken)
# ends a pre-token there in any case, so pieces cut there encode to the ids of the whole text.
_LINE_CUT = re.compile(r"(?<=\S)\n(?=\S)")
# Else before a space between two non-space characters (also a pre-token boundary); else anywhere.
_SPACE_CUT = re.compile(r"(?<=\S)(?= \S)")


# -- sources


@dataclass(frozen=True)
class Source:
    path: Path
    name: str  # as recorded in the manifest
    bytes: int = 0
    chars: int = 0
    fingerprint: str = ""

    def entry(self) -> mf.SourceEntry:
        return mf.SourceEntry(path=self.name, bytes=self.bytes, chars=self.chars, fingerprint=self.fingerprint)


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand(args: tuple[str, ...], option: str) -> list[Source]:
    """The files of SOURCE arguments, in order: a file; a folder's `*.txt`, sorted; a glob's
    matches, sorted (`**` recurses). A source that names nothing is an error."""
    out: list[Source] = []
    seen: dict[Path, str] = {}
    for arg in args:
        p = Path(arg).expanduser()
        if p.is_file():
            files = [p]
        elif p.is_dir():
            files = sorted((f for f in p.glob("*.txt") if f.is_file()), key=str)
            if not files:
                raise ConfigError(f"{option} {arg!r} is a folder with no *.txt file", path=option,
                                  suggestion=f"give a glob for its files, e.g. '{p / '*.md'}' (quoted)")
        elif _is_glob(arg):
            files = sorted((Path(f) for f in glob.glob(os.path.expanduser(arg), recursive=True)
                            if Path(f).is_file()), key=str)
            if not files:
                raise ConfigError(f"{option} {arg!r} matches no file", path=option,
                                  suggestion="check the pattern; quote it so that the shell leaves it to naniGPT")
        elif p.exists():
            raise ConfigError(f"{option} {arg!r} is not a regular file or a folder", path=option,
                              suggestion="devices, pipes and sockets cannot be read reproducibly")
        else:
            where = "" if p.is_absolute() else f": there is no {Path.cwd() / p}"
            raise ConfigError(f"{option} {arg!r} does not exist{where}", path=option,
                              suggestion="relative paths start at the current directory")
        for f in files:
            key = f.resolve()
            if key in seen:
                raise ConfigError(f"{option} {arg!r} repeats {str(f)!r}, already read as {seen[key]!r}",
                                  path=option, suggestion="give each file once")
            seen[key] = str(f)
            out.append(Source(f, str(f)))
        if sum(f.stat().st_size for f in files) == 0:
            raise ConfigError(f"{option} {arg!r} is empty: no text to prepare", path=option,
                              suggestion="give files that hold text")
    return out


def _not_text(src: Source, offset: int, what: str) -> ConfigError:
    return ConfigError(f"source {src.name!r} is not UTF-8 text: {what} at offset {offset:,} (a binary file?)",
                       path="source", suggestion="give text files only; convert others to UTF-8 first")


def _blocks(src: Source, hasher: Any) -> Iterator[str]:
    """The text of `src` in decoded blocks, feeding its bytes to `hasher`; errors on bytes that are
    not UTF-8 text (invalid sequences, NUL)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    at = 0
    with open(src.path, "rb") as f:
        while True:
            block = f.read(READ_BYTES)
            final = not block
            hasher.update(block)
            nul = block.find(b"\x00")
            if nul >= 0:
                raise _not_text(src, at + nul, "a NUL byte")
            pending = len(decoder.getstate()[0])  # the bytes of a character the last block cut
            try:
                text = decoder.decode(block, final=final)
            except UnicodeDecodeError as e:  # e.object is the pending bytes, then the block
                raise _not_text(src, at - pending + e.start, f"byte 0x{e.object[e.start]:02x}") from None
            at += len(block)
            if text:
                yield text
            if final:
                return


def scan(src: Source) -> Source:
    """`src` with its size, characters and fingerprint: one read, checking that it is text."""
    h = xxhash.xxh3_128()
    chars = sum(len(t) for t in _blocks(src, h))
    size = src.path.stat().st_size
    return Source(src.path, src.name, size, chars, h.hexdigest())


# -- cutting the text into pieces and jobs


def _cut(text: str, at: int, limit: int) -> int | None:
    """The first cut position in `at`..`limit` (piece = text[:cut]): after a line break between two
    non-spaces, else before a space between two non-spaces; None if there is neither. The character
    at `limit` must be in `text` when there is one (the rules look one character ahead)."""
    for rule, after in ((_LINE_CUT, True), (_SPACE_CUT, False)):
        start = max(at - 1, 0) if after else at  # a line break at at-1 cuts at `at`
        m = rule.search(text, start, limit + 1)
        if m is not None:
            return m.end() if after else m.start()
    return None


def pieces(sources: list[Source], split_at: int | None = None) -> Iterator[tuple[bool, str]]:
    """(is_val, piece) for the text of `sources` in order, in pieces of about `PIECE_CHARS` cut by
    `_cut` (or hard, after 4 x PIECE_CHARS without one) and at file ends. With `split_at`, val starts
    where `_cut` cuts searching from that character. The cuts depend on the text alone, not on how
    it is read, so every run cuts the same pieces. Checks each source is still what `scan` read."""
    pos, val = 0, split_at is not None and split_at <= 0  # characters before `buf`; in val yet?
    window = 4 * PIECE_CHARS
    for src in sources:
        hasher = xxhash.xxh3_128()
        blocks = _blocks(src, hasher)
        buf, ended = "", False
        while True:
            target = PIECE_CHARS
            if split_at is not None and not val and split_at - pos <= PIECE_CHARS + window:
                target = split_at - pos  # the next cut is the split's, searched from the mark itself
            while not ended and len(buf) <= target + window:
                block = next(blocks, None)
                if block is None:
                    ended = True
                else:
                    buf += block
            if not buf:
                break
            if len(buf) <= target:
                cut = len(buf)  # the end of the file
            else:
                found = _cut(buf, target, min(target + window, len(buf) - 1))
                cut = found if found is not None else (len(buf) if ended and len(buf) <= target + window
                                                       else target + window)
            yield val, buf[:cut]
            buf = buf[cut:]
            pos += cut
            if split_at is not None and pos >= split_at:
                val = True
        if hasher.hexdigest() != src.fingerprint:
            raise ConfigError(f"source {src.name!r} changed while it was being prepared",
                              path="source", suggestion="do not write to the sources while prepare runs")


def jobs(stream: Iterator[tuple[bool, str]]) -> Iterator[tuple[bool, list[str], int]]:
    """Pieces batched into jobs of about `JOB_CHARS`, each within one split: (is_val, pieces, chars)."""
    job: list[str] = []
    size, job_val = 0, False
    for val, piece in stream:
        if job and (val != job_val or size >= JOB_CHARS):
            yield job_val, job, size
            job, size = [], 0
        job.append(piece)
        size += len(piece)
        job_val = val
    if job:
        yield job_val, job, size


# -- tokenizing in worker processes

_worker_codec: Codec | None = None


def _init_worker(record: dict[str, Any], data: bytes | None) -> None:
    global _worker_codec
    # Ctrl-C reaches every process of the terminal's group: the parent stops the pool and cleans
    # up; a worker's own KeyboardInterrupt would only add a traceback per worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _worker_codec = from_record(record, data)


def _encode(job: list[str], codec: Codec | None = None) -> np.ndarray:
    """The ids of one job, in the shards' dtype; an id outside the vocabulary is an error."""
    c = codec if codec is not None else _worker_codec
    assert c is not None
    ids = c.encode(job)
    if ids.size and int(ids.max()) >= c.vocab_size:
        raise ConfigError(f"the tokenizer {c.spec} gave id {int(ids.max())}, outside its own vocabulary of "
                          f"{c.vocab_size}", path="tokenizer", suggestion="check the tokenizer file")
    return ids.astype(dtype_for(c.vocab_size))


def _ordered(codec: Codec, work: Iterator[tuple[bool, list[str], int]],
             workers: int) -> Iterator[tuple[bool, np.ndarray, int]]:
    """(is_val, ids, chars) of each job, in order, tokenized by `workers` processes (this one if 1)."""
    if workers == 1:
        for val, job, chars in work:
            yield val, _encode(job, codec), chars
        return
    ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited threads or locks
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(codec.record(), codec.file_bytes())) as pool:
        pending: collections.deque[tuple[bool, Future, int]] = collections.deque()
        try:
            for val, job, chars in work:
                pending.append((val, pool.submit(_encode, job), chars))
                while len(pending) >= 3 * workers:  # bounded: a few jobs per worker in flight
                    v, fut, n = pending.popleft()
                    yield v, fut.result(), n
            while pending:
                v, fut, n = pending.popleft()
                yield v, fut.result(), n
        except BaseException:
            for _, fut, _ in pending:
                fut.cancel()
            raise


# -- the output folder


@dataclass
class Request:
    """What decides the output: compared with an existing manifest to find there is nothing to do."""

    train: list[Source]
    val: list[Source]
    spec: Spec
    tokenizer_key: tuple[str, ...]
    val_fraction: float | None
    shard_tokens: int

    def same_sources(self, m: mf.Manifest) -> bool:
        def key(entries: list[mf.SourceEntry]) -> list[tuple[int, str]]:
            return [(e.bytes, e.fingerprint) for e in entries]

        return (key(m.train.sources) == key([s.entry() for s in self.train])
                and key(m.val.sources) == key([s.entry() for s in self.val]))

    def same_options(self, m: mf.Manifest) -> bool:
        split = ("tail", self.val_fraction) if self.val_fraction is not None else ("sources", None)
        return (_tokenizer_key(m.tokenizer) == self.tokenizer_key and (m.split.source, m.split.fraction) == split
                and m.shard_tokens == self.shard_tokens)


def _tokenizer_key(t: mf.TokenizerEntry) -> tuple[str, ...]:
    # A file: tokenizer is the same by content, wherever it is; the others by their spec.
    return ("file", t.fingerprint) if t.kind == "file" else (t.spec,)


def _check_shards(out: Path, m: mf.Manifest) -> str | None:
    """Why the files `m` lists in `out` are not what it says (None if they are)."""
    for s in m.shards():
        p = out / s.file
        if not p.is_file():
            return f"{s.file} is missing"
        try:
            shard = read_shard(p, "--out", headered=True)
        except ConfigError as e:
            return e.message
        if shard.tokens != s.tokens or shard.dtype != m.dtype:
            return f"{s.file} holds {shard.tokens:,} {shard.dtype} tokens, the manifest says {s.tokens:,} {m.dtype}"
    if m.tokenizer.file is not None:
        p = out / m.tokenizer.file
        if not p.is_file() or fingerprint(p.read_bytes()) != m.tokenizer.fingerprint:
            return f"{m.tokenizer.file} is missing or changed"
    return None


def _foreign(out: Path, m: mf.Manifest | None) -> list[str]:
    """Entries of `out` that are not `prepare`'s (beyond what `m` lists): refused, never overwritten."""
    ours = set(m.files()) if m is not None else set()
    found = []
    for entry in sorted(out.iterdir()):
        if entry.name.startswith(_STAGE) or (m is not None and entry.name == mf.NAME):
            continue
        if entry.is_dir() and entry.name in ("train", "val") and m is not None:
            found += [f"{entry.name}/{f.name}" for f in sorted(entry.iterdir()) if f"{entry.name}/{f.name}" not in ours]
        elif entry.name not in ours:
            found.append(entry.name + ("/" if entry.is_dir() else ""))
    return found


def _remove_stale_stages(out: Path) -> None:
    """Staging folders of prepares that were killed (their process is gone)."""
    for d in out.glob(_STAGE + "*"):
        try:
            os.kill(int(d.name[len(_STAGE):]), 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (ValueError, PermissionError):
            pass


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One prepare at a time per folder (the kernel's lock on the folder itself: nothing to clean up)."""
    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise ConfigError(f"another `nanigpt prepare` is writing {str(out)!r}", path="out",
                                  suggestion="wait for it to finish, or choose another --out") from None
            raise
        yield
    finally:
        os.close(fd)


def _commit(out: Path, stage: Path, old: mf.Manifest | None, files: list[str]) -> None:
    """Move the staged files into `out`: the old manifest goes first and the new one comes last, so a
    manifest never lists files that are not its own."""
    if (out / mf.NAME).exists():
        (out / mf.NAME).unlink()
        fsync_dir(out)
    for rel in old.files() if old is not None else []:
        (out / rel).unlink(missing_ok=True)
    for rel in files:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / rel, out / rel)
    for sub in {Path(rel).parent for rel in files} | {Path(".")}:
        fsync_dir(out / sub)
    for split in ("train", "val"):
        with contextlib.suppress(OSError):  # an old split folder that is now empty
            (out / split).rmdir()
    os.replace(stage / mf.NAME, out / mf.NAME)
    fsync_dir(out)


# -- progress


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


class _Progress(LiveLine):
    """One live line on a terminal: share of the text done, its rate, tokens so far, ETA."""

    def __init__(self, on: bool, stream: TextIO) -> None:
        super().__init__(on, stream, 70)
        self.total, self.t0 = 0, time.monotonic()

    def start(self, total_chars: int) -> None:
        self.total, self.t0 = total_chars, time.monotonic()

    def update(self, done: int, tokens: int) -> None:
        if self.due():
            rate = done / max(time.monotonic() - self.t0, 1e-9)
            eta = (self.total - done) / rate if rate else 0.0
            self.show(f"tokenizing {100 * done / max(self.total, 1):5.1f}%  {rate / 1e6:.2f}M chars/s  "
                      f"{tokens:,} tokens  ETA {eta:.0f}s ")

    def say(self, text: str) -> None:
        self.note(text)


# -- the command


@dataclass
class Result:
    out: Path
    manifest: mf.Manifest
    up_to_date: bool
    seconds: float
    text_bytes: int


class _Sample:
    """The train text bpe learns from: every k-th job, k chosen so that at most `BPE_SAMPLE_CHARS`
    are taken (all of it when the train text is smaller). `chars` counts what was taken."""

    def __init__(self, train: list[Source], split_at: int | None, train_chars: int) -> None:
        self.train, self.split_at = train, split_at
        self.every = max(1, math.ceil(train_chars / BPE_SAMPLE_CHARS))
        self.chars = 0

    def __iter__(self) -> Iterator[str]:
        for i, (val, job, chars) in enumerate(jobs(pieces(self.train, self.split_at))):
            if val:
                return
            if i % self.every == 0:
                self.chars += chars
                yield from job


def _check_options(spec: Spec, val_fraction: float | None, val_sources: tuple[str, ...], shard_tokens: int,
                   workers: int | None) -> tuple[float | None, int]:
    """ConfigError naming the flag for a bad option; (val fraction or None, workers)."""
    if val_sources and val_fraction is not None:
        raise ConfigError("give either --val-fraction or --val, not both", path="val",
                          suggestion="--val SOURCE makes val of its own files, --val-fraction of the train text's tail")
    if val_fraction is not None and not (math.isfinite(val_fraction) and 0.0 <= val_fraction < 1.0):
        raise ConfigError(f"`--val-fraction`={val_fraction} must be >= 0 and < 1", path="val_fraction",
                          suggestion="e.g. --val-fraction 0.1, or 0 for no val split")
    if not 1 <= shard_tokens <= MAX_TOKENS:
        raise ConfigError(f"`--shard-tokens`={shard_tokens} must be in 1..{MAX_TOKENS:,} (llm.c counts in int32)",
                          path="shard_tokens", suggestion=f"e.g. --shard-tokens {DEFAULT_SHARD_TOKENS}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if workers is not None and workers < 1:
        raise ConfigError(f"`--workers`={workers} must be >= 1", path="workers",
                          suggestion=f"omit it to use every core ({cores} here)")
    if val_sources:
        return None, workers or cores
    return (DEFAULT_VAL_FRACTION if val_fraction is None else val_fraction), workers or cores


def prepare(
    sources: tuple[str, ...],
    out: str | os.PathLike[str],
    *,
    tokenizer: str = "byte",
    val_fraction: float | None = None,
    val_sources: tuple[str, ...] = (),
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    workers: int | None = None,
    progress: bool | None = None,
    err: TextIO | None = None,
) -> Result:
    """Tokenize `sources` into shards in `out`, with the tokenizer and `manifest.json` beside them.

    Bad input raises ConfigError before anything is written; on any error `out` is left as it was
    (and removed if this call created it). With more than one worker it spawns processes, so a
    script that calls it needs the usual `if __name__ == "__main__":` guard.
    """
    t0 = time.perf_counter()
    out = Path(out)
    err = err if err is not None else sys.stderr
    spec = parse_spec(tokenizer)
    require(spec)
    fraction, workers = _check_options(spec, val_fraction, val_sources, shard_tokens, workers)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"`--out` {str(out)!r} exists and is not a folder", path="out",
                          suggestion="give a folder (it is created if missing)")

    # 1. read every source once: sizes, fingerprints, and whether it is text at all
    train = [scan(s) for s in expand(sources, "SOURCE")]
    val = [scan(s) for s in expand(val_sources, "--val")] if val_sources else []
    train_chars = sum(s.chars for s in train)
    # val is the tail of the train text, from its first cut at or after this character
    split_at = train_chars - max(1, round(train_chars * fraction)) if fraction else None
    # bpe is learned later, from the text; the others load now, so that a bad one writes nothing
    codec = None if spec.kind == "bpe" else codec_for(spec)
    request = Request(train, val, spec, _tokenizer_key(mf.TokenizerEntry(**codec.record())) if codec else (str(spec),),
                      fraction, shard_tokens)

    # 2. the output folder: up to date, or ours to replace, or refused
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with _locked(out):
            _remove_stale_stages(out)
            old = _existing(out, request)
            if old is not None and request.same_options(old):
                why = _check_shards(out, old)
                if why is None:
                    return Result(out, old, True, time.perf_counter() - t0, sum(s.bytes for s in train + val))
                print(f"prepare: {str(out)!r} does not match its manifest ({why}); preparing it again", file=err)
            stage = out / f"{_STAGE}{os.getpid()}"
            try:
                return _write(request, out, stage, old, codec, split_at, workers,
                              _Progress(progress if progress is not None else err.isatty(), err), err, t0)
            finally:
                shutil.rmtree(stage, ignore_errors=True)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _existing(out: Path, request: Request) -> mf.Manifest | None:
    """The manifest already in `out`, if it is of the same sources; ConfigError if `out` holds
    anything else (shards of other sources, files no manifest lists)."""
    if not (out / mf.NAME).is_file():
        foreign = _foreign(out, None)
        if foreign:
            raise ConfigError(f"`--out` {str(out)!r} is not empty and has no {mf.NAME}: it holds "
                              f"{', '.join(foreign[:3])}", path="out",
                              suggestion="choose a new or empty folder for --out")
        return None
    old, _ = mf.read(out / mf.NAME)
    if not request.same_sources(old):
        names = ", ".join(e.path for e in old.train.sources[:3]) + (" ..." if len(old.train.sources) > 3 else "")
        raise ConfigError(f"`--out` {str(out)!r} holds shards prepared from other sources (its {mf.NAME} lists "
                          f"{names})", path="out", suggestion=f"choose another --out, or remove {str(out)!r} first")
    foreign = _foreign(out, old)
    if foreign:
        raise ConfigError(f"`--out` {str(out)!r} holds files its {mf.NAME} does not list: {', '.join(foreign[:3])}",
                          path="out", suggestion="choose another --out, or move those files away")
    return old


def _write(request: Request, out: Path, stage: Path, old: mf.Manifest | None, codec: Codec | None,
           split_at: int | None, workers: int, bar: _Progress, err: TextIO, t0: float) -> Result:
    """Steps 3 to 5: the tokenizer, the shards, the manifest, all staged in `stage`, then moved into `out`."""
    train, val = request.train, request.val
    stage.mkdir()

    # 3. the tokenizer
    sample = None
    if codec is None:
        sample = _Sample(train, split_at, sum(s.chars for s in train))
        bar.say(f"learning {request.spec} from the train text"
                + (f" (every {sample.every}th piece of it)" if sample.every > 1 else ""))
        codec = codec_for(request.spec, sample)
        if codec.vocab_size < int(request.spec.arg):
            print(f"prepare: {request.spec} learned {codec.vocab_size:,} tokens: the text has no more pairs to "
                  "merge", file=err)
    dtype = dtype_for(codec.vocab_size)
    files: list[str] = []
    data = codec.file_bytes()
    if codec.file_name is not None and data is not None:
        atomic_write(stage / codec.file_name, data)
        files.append(codec.file_name)

    # 4. tokenize and write the shards, in order
    writers = {False: ShardWriter(stage / "train", "train", dtype, request.shard_tokens),
               True: ShardWriter(stage / "val", "val", dtype, request.shard_tokens)}
    stream = pieces(train, split_at)
    if val:
        stream = itertools.chain(stream, ((True, p) for _, p in pieces(val)))
    done = tokens = 0
    val_at: int | None = None  # where val starts, in characters of the train text
    bar.start(sum(s.chars for s in train + val))
    try:
        for is_val, ids, chars in _ordered(codec, jobs(stream), workers):
            if is_val and val_at is None:
                val_at = done
            writers[is_val].write(ids)
            done += chars
            tokens += len(ids)
            bar.update(done, tokens)
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    finally:
        bar.close()
    shards = {split: w.close() for split, w in writers.items()}
    counts = {split: sum(n for _, n in s) for split, s in shards.items()}
    if counts[False] == 0:
        raise ConfigError("the train split is empty: the text is too short to split off val", path="val_fraction",
                          suggestion="give more text, a smaller --val-fraction, or --val SOURCE")
    if counts[True] == 0 and (val or request.val_fraction):
        raise ConfigError(f"the val split is empty: the text has no place to cut off its last "
                          f"{request.val_fraction} (cuts fall between lines and words)", path="val_fraction",
                          suggestion="give more text, a larger --val-fraction, or --val SOURCE")
    files += [f"train/{name}" for name, _ in shards[False]] + [f"val/{name}" for name, _ in shards[True]]

    # 5. the manifest, then everything into place
    m = mf.Manifest(
        format=mf.FORMAT,
        version=mf.VERSION,
        tokenizer=mf.TokenizerEntry(**codec.record()),
        dtype=dtype,  # type: ignore[arg-type]
        shard_tokens=request.shard_tokens,
        split=mf.ValRule(
            source="sources" if val else "tail",
            fraction=None if val else request.val_fraction,
            at_char=val_at if request.val_fraction else None,
            train_sample_chars=sample.chars if sample is not None else None,
        ),
        train=mf.SplitEntry(sources=[s.entry() for s in train], tokens=counts[False],
                            shards=[mf.ShardEntry(file=f"train/{n}", tokens=c) for n, c in shards[False]]),
        val=mf.SplitEntry(sources=[s.entry() for s in val], tokens=counts[True],
                          shards=[mf.ShardEntry(file=f"val/{n}", tokens=c) for n, c in shards[True]]),
    )
    atomic_write(stage / mf.NAME, mf.encode(m))
    _commit(out, stage, old, files)
    return Result(out, m, False, time.perf_counter() - t0, sum(s.bytes for s in train + val))
