"""`manifest.json`: what `nanigpt prepare` wrote into a folder, and from what. Torch-free.

    DIR/manifest.json            this record
    DIR/tokenizer.json           the tokenizer (tokenizer.tiktoken for tiktoken; none for byte)
    DIR/train/train_000000.bin   llm.c shards, in order
    DIR/val/val_000000.bin

The manifest lists the sources with their fingerprints, the tokenizer (kind, vocabulary size,
fingerprint of its file), the shards with their token counts, and how val was split off. It holds
no time, host or process count: the same sources and options give the same bytes. Training on the
shards finds it beside them (`data.train=DIR/train`), checks the shards against it, and covers it
in the data fingerprint; the run's checkpoints carry its tokenizer, for `sample`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import msgspec
import xxhash

from nanigpt.conf import ConfigError

NAME = "manifest.json"
FORMAT = "nanigpt-shards"
VERSION = 1


class _Record(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The options of every manifest struct, stated once (msgspec passes them on to subclasses)."""


class SourceEntry(_Record):
    path: str  # as given to `prepare` (a folder's files as folder/name)
    bytes: int
    chars: int
    fingerprint: str  # xxh3-128 of the file's bytes: `xxh128sum` prints it


class ShardEntry(_Record):
    file: str  # relative to the manifest's folder
    tokens: int


class TokenizerEntry(_Record):
    kind: Literal["byte", "bpe", "file", "tiktoken"]
    spec: str  # the --tokenizer value
    vocab_size: int
    fingerprint: str  # xxh3-128 of its file (of the spec for byte, which has none)
    file: str | None = None  # relative to the manifest's folder
    library: str | None = None  # what made it: "tokenizers 0.23.3"
    pat_str: str | None = None  # tiktoken's pre-tokenizer pattern
    special_tokens: dict[str, int] | None = None  # tiktoken's


class SplitEntry(_Record):
    sources: list[SourceEntry]  # val: its own sources, or none when it is the tail of train's text
    shards: list[ShardEntry]
    tokens: int


class ValRule(_Record):
    source: Literal["tail", "sources"]
    fraction: float | None = None  # tail: the fraction of the train sources' text asked for
    at_char: int | None = None  # tail: where val starts, in characters of the train text
    train_sample_chars: int | None = None  # bpe: characters of train text the merges were learned from


class Manifest(_Record):
    format: str
    version: int
    tokenizer: TokenizerEntry
    dtype: Literal["uint16", "uint32"]
    shard_tokens: int
    split: ValRule
    train: SplitEntry
    val: SplitEntry

    def shards(self) -> list[ShardEntry]:
        return [*self.train.shards, *self.val.shards]

    def files(self) -> list[str]:
        """Every file it lists (shards, tokenizer), relative to its folder."""
        return [s.file for s in self.shards()] + ([self.tokenizer.file] if self.tokenizer.file else [])


def encode(m: Manifest) -> bytes:
    """Indented for reading; deterministic (fields in declaration order)."""
    return msgspec.json.format(msgspec.json.encode(m), indent=2) + b"\n"


def read(path: Path) -> tuple[Manifest, bytes]:
    """The manifest at `path` and its bytes (ConfigError naming the file if it is not one)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read {str(path)!r}: {e.strerror}", suggestion="check its permissions") from None
    try:
        m = msgspec.json.decode(data, type=Manifest)
    except msgspec.DecodeError as e:
        raise ConfigError(f"{str(path)!r} is not a naniGPT shard manifest: {e}",
                          suggestion="prepare the folder again with `nanigpt prepare`, or remove the file") from None
    if m.format != FORMAT or m.version != VERSION:
        raise ConfigError(f"{str(path)!r} is a manifest of format {m.format!r} version {m.version}; this naniGPT "
                          f"reads {FORMAT!r} version {VERSION}", suggestion="prepare the folder again")
    return m, data


def find(location: Path) -> Path | None:
    """The manifest that describes the shard file or folder `location`: in its folder or the one above."""
    folder = location if location.is_dir() else location.parent
    for d in (folder, folder.parent):
        if (d / NAME).is_file():
            return d / NAME
    return None


def tokenizer_payload(path: Path) -> dict[str, Any]:
    """The tokenizer record of the manifest at `path`, with its file's text: what a checkpoint
    carries for `sample` (ConfigError if the file is missing or changed)."""
    m, _ = read(path)
    record = msgspec.to_builtins(m.tokenizer)
    if m.tokenizer.file is None:
        return {**record, "text": None}
    f = path.parent / m.tokenizer.file
    try:
        data = f.read_bytes()
    except OSError:
        raise ConfigError(f"the tokenizer file {str(f)!r} that {str(path)!r} lists is missing",
                          suggestion="prepare the folder again with `nanigpt prepare`") from None
    if xxhash.xxh3_128_hexdigest(data) != m.tokenizer.fingerprint:
        raise ConfigError(f"the tokenizer file {str(f)!r} changed since {str(path)!r} was written",
                          suggestion="prepare the folder again with `nanigpt prepare`")
    return {**record, "text": data.decode("utf-8")}
