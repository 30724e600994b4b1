"""The tokenizers `nanigpt prepare` can write shards with, and `sample` decodes with. Torch-free.

    byte            a token is a byte (vocab 256): what data=text trains on
    bpe:VOCAB       a byte-level BPE (GPT-2's pre-tokenizer) learned from the train sources with
                    Hugging Face `tokenizers`: nothing to download
    file:PATH       an existing Hugging Face `tokenizer.json`
    tiktoken:NAME   a tiktoken encoding (`gpt2`); its files must already be in TIKTOKEN_CACHE_DIR

A `Codec` encodes text to ids and decodes ids to text. Its *record* (kind, spec, vocab size,
fingerprint of its file) goes into the manifest, and its file beside the shards, so that what
prepared the shards can be rebuilt from them alone, offline (`from_record`). The byte-level
tokenizer of data=text (`nanigpt.data.tokenizer`) works on torch tensors; this module on numpy.
The heavy libraries load when a codec of their kind is made, never at import.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
import xxhash

from nanigpt.conf import ConfigError

KINDS = ("byte", "bpe", "file", "tiktoken")
MIN_BPE_VOCAB = 257  # the 256 bytes of the byte-level alphabet, and at least one merge
MAX_VOCAB = 2**32  # ids are stored as uint32 at most
_EMPTY = np.zeros(0, dtype=np.uint32)
_FLAG = "--tokenizer"


def fingerprint(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


@dataclass(frozen=True)
class Spec:
    """A parsed `--tokenizer` value."""

    kind: str
    arg: str = ""  # the vocab size of bpe, the path of file, the encoding name of tiktoken

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}" if self.arg else self.kind


def parse_spec(text: str) -> Spec:
    """`byte`, `bpe:VOCAB`, `file:PATH` or `tiktoken:NAME` (ConfigError naming the flag otherwise)."""
    kind, colon, arg = text.partition(":")
    if kind not in KINDS:
        raise ConfigError(f"`{_FLAG}`={text!r} is not a tokenizer", path="tokenizer",
                          suggestion="use byte, bpe:VOCAB (e.g. bpe:8192), file:PATH or tiktoken:gpt2")
    if kind == "byte":
        if colon:
            raise ConfigError(f"`{_FLAG}`={text!r}: byte takes no argument", path="tokenizer",
                              suggestion="use --tokenizer byte")
        return Spec("byte")
    if not arg:
        example = {"bpe": "bpe:8192", "file": "file:tokenizer.json", "tiktoken": "tiktoken:gpt2"}[kind]
        raise ConfigError(f"`{_FLAG}`={text!r} needs an argument", path="tokenizer", suggestion=f"e.g. {example}")
    if kind == "bpe":
        try:
            vocab = int(arg, 10)
        except ValueError:
            raise ConfigError(f"`{_FLAG}`={text!r}: the vocabulary size {arg!r} is not an integer",
                              path="tokenizer", suggestion="e.g. bpe:8192") from None
        if vocab < MIN_BPE_VOCAB:
            raise ConfigError(
                f"`{_FLAG}`={text!r}: a byte-level BPE needs a vocabulary of at least {MIN_BPE_VOCAB} "
                "(the 256 bytes and one merge)", path="tokenizer",
                suggestion="use a larger bpe:VOCAB (e.g. bpe:8192), or --tokenizer byte for 256 tokens",
            )
        if vocab > MAX_VOCAB:
            raise ConfigError(f"`{_FLAG}`={text!r}: at most {MAX_VOCAB:,} tokens fit a uint32 shard",
                              path="tokenizer", suggestion="e.g. bpe:50257 (GPT-2's size)")
        return Spec("bpe", str(vocab))
    return Spec(kind, arg)


def _library(name: str) -> str:
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return name


def _need(module: str, extra: str, what: str) -> Any:
    """Import an optional library, or a ConfigError that says how to install it."""
    try:
        return __import__(module)
    except ImportError:
        raise ConfigError(f"{what} needs the `{module}` package, which is not installed",
                          suggestion=f"pip install 'nanigpt[{extra}]' (scripts/setup installs it)") from None


def require(spec: Spec) -> None:
    """ConfigError, saying how to install it, if the library `spec` needs is missing."""
    if spec.kind in ("bpe", "file"):
        _need("tokenizers", "bpe", f"`{_FLAG} {spec}`")
    elif spec.kind == "tiktoken":
        _need("tiktoken", "tiktoken", f"`{_FLAG} {spec}`")


@contextlib.contextmanager
def _sequential() -> Iterator[None]:
    """Hugging Face `tokenizers` on this thread only: `prepare` runs one tokenizing process per core,
    so one more thread pool per process would only compete for them."""
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # read by the library at each call
    try:
        yield
    finally:
        if before is None:
            del os.environ["TOKENIZERS_PARALLELISM"]
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = before


class Codec:
    """Text <-> token ids. `encode` takes pieces of one text (cut where the tokenizer's
    pre-tokenizer splits anyway, so their ids are the text's) and returns the ids in order."""

    kind: str
    spec: str
    vocab_size: int
    file_name: str | None = None  # the tokenizer file saved beside the shards
    library: str | None = None  # the library and its version, for the manifest
    extra: dict[str, Any]  # what else `from_record` needs (tiktoken's pattern and special tokens)

    def file_bytes(self) -> bytes | None:
        return None

    def record(self) -> dict[str, Any]:
        """What the manifest says of this tokenizer; `from_record` rebuilds it with the file."""
        data = self.file_bytes()
        return {
            "kind": self.kind,
            "spec": self.spec,
            "vocab_size": self.vocab_size,
            "file": self.file_name,
            "fingerprint": fingerprint(data if data is not None else self.spec.encode()),
            "library": self.library,
            **self.extra,
        }

    def encode(self, pieces: list[str]) -> np.ndarray:
        """The uint32 ids of the concatenated `pieces`."""
        raise NotImplementedError

    def _decode(self, ids: list[int]) -> str:
        raise NotImplementedError

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids`; an invalid UTF-8 sequence, and an id outside the vocabulary (a model's
        padded rows: `model.vocab_size` may exceed the tokenizer's), become U+FFFD."""
        out, run = [], []
        for i in ids:
            if 0 <= i < self.vocab_size:
                run.append(i)
            else:
                out += [self._decode(run), "\ufffd"]
                run = []
        return "".join(out) + self._decode(run)


class ByteCodec(Codec):
    kind, spec, vocab_size = "byte", "byte", 256

    def __init__(self) -> None:
        self.extra = {}

    def encode(self, pieces: list[str]) -> np.ndarray:
        return np.frombuffer("".join(pieces).encode("utf-8"), dtype=np.uint8).astype(np.uint32)

    def _decode(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")


class HFCodec(Codec):
    """A Hugging Face `tokenizers` tokenizer (bpe: trained here, or file: given)."""

    file_name = "tokenizer.json"

    def __init__(self, tokenizer: Any, kind: str, spec: str, text: str | None = None) -> None:
        self.tok, self.kind, self.spec = tokenizer, kind, spec
        self._text = text if text is not None else tokenizer.to_str()
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
        self.library = _library("tokenizers")
        self.extra = {}

    def file_bytes(self) -> bytes:
        return self._text.encode("utf-8")

    def encode(self, pieces: list[str]) -> np.ndarray:
        with _sequential():
            encodings = self.tok.encode_batch_fast(pieces, add_special_tokens=False)
        return np.concatenate([np.asarray(e.ids, dtype=np.uint32) for e in encodings] or [_EMPTY])

    def _decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=False)


class TiktokenCodec(Codec):
    """A tiktoken encoding. Its file is its table of token bytes, in tiktoken's own `.tiktoken`
    format (base64 bytes and id per line), plus the pattern and special tokens in the record: enough
    to rebuild it with no download. Decoding needs only the table."""

    kind, file_name = "tiktoken", "tokenizer.tiktoken"

    def __init__(self, name: str, pat_str: str, ranks: dict[bytes, int], special: dict[str, int]) -> None:
        self.spec, self.name = f"tiktoken:{name}", name
        self.pat_str, self.ranks, self.special = pat_str, ranks, special
        self.vocab_size = max([*ranks.values(), *special.values()]) + 1
        self.library = _library("tiktoken")
        self.extra = {"pat_str": pat_str, "special_tokens": dict(sorted(special.items()))}
        self._enc: Any = None
        self._table: list[bytes] | None = None

    @classmethod
    def from_encoding(cls, enc: Any) -> TiktokenCodec:
        ranks = {b: enc.encode_single_token(b) for b in enc.token_byte_values()}
        special = {s: enc.encode_single_token(s) for s in enc.special_tokens_set}
        codec = cls(enc.name, enc._pat_str, ranks, special)
        codec._enc = enc
        return codec

    def file_bytes(self) -> bytes:
        return b"".join(base64.b64encode(b) + b" %d\n" % r for b, r in sorted(self.ranks.items(), key=lambda x: x[1]))

    def _encoding(self) -> Any:
        if self._enc is None:
            tiktoken = _need("tiktoken", "tiktoken", f"`{self.spec}`")
            self._enc = tiktoken.Encoding(self.name, pat_str=self.pat_str, mergeable_ranks=self.ranks,
                                          special_tokens=self.special)
        return self._enc

    def encode(self, pieces: list[str]) -> np.ndarray:
        enc = self._encoding()
        # encode_ordinary: text that happens to read `<|endoftext|>` is text, not the special token.
        return np.concatenate([np.asarray(enc.encode_ordinary(p), dtype=np.uint32) for p in pieces] or [_EMPTY])

    def _decode(self, ids: list[int]) -> str:
        if self._table is None:
            table = [b""] * self.vocab_size
            for b, r in self.ranks.items():
                table[r] = b
            for s, r in self.special.items():
                table[r] = s.encode("utf-8")
            self._table = table
        return b"".join(self._table[i] for i in ids).decode("utf-8", errors="replace")


def _hf_bpe(vocab_size: int) -> Any:
    """An untrained byte-level BPE with GPT-2's pre-tokenizer, and its trainer."""
    hf = _need("tokenizers", "bpe", "`--tokenizer bpe:VOCAB`")
    tok = hf.Tokenizer(hf.models.BPE())
    # No normalizer and no prefix space: decode(encode(text)) == text for any text.
    tok.pre_tokenizer = hf.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = hf.decoders.ByteLevel()
    trainer = hf.trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=hf.pre_tokenizers.ByteLevel.alphabet(),  # every byte: any text encodes
        special_tokens=[],
        show_progress=False,
    )
    return tok, trainer


def train_bpe(spec: Spec, texts: Iterable[str]) -> HFCodec:
    """Learn `spec`'s byte-level BPE from `texts` (on every core). Deterministic: the same texts
    give the same merges, on any number of threads."""
    tok, trainer = _hf_bpe(int(spec.arg))
    tok.train_from_iterator(texts, trainer=trainer)
    return HFCodec(tok, "bpe", str(spec))


def load_file(spec: Spec) -> HFCodec:
    """A Hugging Face `tokenizer.json` given as `file:PATH`."""
    from pathlib import Path

    path = Path(spec.arg).expanduser()
    if not path.is_file():
        raise ConfigError(f"`{_FLAG}`={str(spec)!r}: there is no file {str(path)!r}", path="tokenizer",
                          suggestion="give the path of a Hugging Face tokenizer.json")
    hf = _need("tokenizers", "bpe", "`--tokenizer file:...`")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        tok = hf.Tokenizer.from_str(text)
    except Exception as e:  # the library raises a bare Exception for bad JSON
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"`{_FLAG}`={str(spec)!r} is not a Hugging Face tokenizer.json: {first}",
                          path="tokenizer", suggestion="save one with Tokenizer.save(path)") from None
    return HFCodec(tok, "file", str(spec), text)


def load_tiktoken(spec: Spec) -> TiktokenCodec:
    """A tiktoken encoding from its local cache only: naniGPT downloads nothing."""
    tiktoken = _need("tiktoken", "tiktoken", f"`{_FLAG} {spec}`")
    import tiktoken.load as tl

    if spec.arg not in tiktoken.list_encoding_names():
        raise ConfigError(f"`{_FLAG}`={str(spec)!r}: tiktoken has no encoding {spec.arg!r}", path="tokenizer",
                          suggestion=f"one of {', '.join(tiktoken.list_encoding_names())}")

    class _Offline(Exception):
        pass

    def read_file(blobpath: str) -> bytes:
        if "://" in blobpath:  # not in the cache: tiktoken would download it
            raise _Offline(blobpath)
        with open(blobpath, "rb") as f:
            return f.read()

    if not callable(getattr(tl, "read_file", None)):  # never let a changed tiktoken download behind our back
        raise ConfigError(f"this tiktoken ({_library('tiktoken')}) cannot be kept offline by naniGPT",
                          suggestion="install the version constraints.txt pins")
    original, tl.read_file = tl.read_file, read_file
    try:
        enc = tiktoken.get_encoding(spec.arg)
    except _Offline:
        where = os.environ.get("TIKTOKEN_CACHE_DIR")
        raise ConfigError(
            f"`{_FLAG}`={str(spec)!r}: tiktoken's files for {spec.arg!r} are not in TIKTOKEN_CACHE_DIR"
            f"{f'={where}' if where else ' (unset)'}, and naniGPT downloads nothing", path="tokenizer",
            suggestion="copy them there from a machine where tiktoken has loaded the encoding once "
            "(it caches them under TIKTOKEN_CACHE_DIR), or use bpe:VOCAB",
        ) from None
    finally:
        tl.read_file = original
    return TiktokenCodec.from_encoding(enc)


def from_record(record: dict[str, Any], data: bytes | None) -> Codec:
    """The codec a manifest's (or a checkpoint's) record describes, with its file's bytes."""
    kind = record.get("kind")
    if kind == "byte":
        return ByteCodec()
    if data is None or fingerprint(data) != record.get("fingerprint"):
        raise ConfigError(f"the {kind} tokenizer's file does not match its fingerprint in the manifest",
                          suggestion="prepare the shards again with `nanigpt prepare`")
    if kind in ("bpe", "file"):
        hf = _need("tokenizers", "bpe", f"the `{record.get('spec')}` tokenizer")
        text = data.decode("utf-8")
        return HFCodec(hf.Tokenizer.from_str(text), kind, record["spec"], text)
    if kind == "tiktoken":
        ranks = {}
        for line in data.splitlines():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        return TiktokenCodec(record["spec"].partition(":")[2], record["pat_str"], ranks,
                             dict(record.get("special_tokens") or {}))
    raise ConfigError(f"unknown tokenizer kind {kind!r} in the manifest",
                      suggestion="prepare the shards again with this naniGPT")


def codec_for(spec: Spec, train_texts: Iterable[str] | None = None) -> Codec:
    """The codec of a `--tokenizer` value; bpe learns from `train_texts`."""
    if spec.kind == "byte":
        return ByteCodec()
    if spec.kind == "bpe":
        assert train_texts is not None
        return train_bpe(spec, train_texts)
    if spec.kind == "file":
        return load_file(spec)
    return load_tiktoken(spec)


__all__ = ["Codec", "Spec", "codec_for", "fingerprint", "from_record", "parse_spec"]
