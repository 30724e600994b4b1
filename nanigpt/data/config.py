"""Data sources: a tagged union (`data=text`, `data=shards`, `data=builtin`). Torch-free."""

from typing import Annotated

from msgspec import Meta

from nanigpt.conf import Config

ValFraction = Annotated[
    float, Meta(gt=0.0, lt=1.0, description="fraction of the tokens held out for validation (the tail)")
]


class BuiltinData(Config, tag="builtin"):
    """The default corpus shipped inside naniGPT: byte-level text, nothing to download."""

    val_fraction: ValFraction = 0.1


class TextData(Config, tag="text"):
    """A UTF-8 text file, or a folder of them, tokenized as bytes (vocab 256)."""

    path: Annotated[str, Meta(min_length=1, description="a text file, or a folder of text files")]
    glob: Annotated[str, Meta(min_length=1, description="which files of a folder to read, sorted by name")] = "*.txt"
    val_fraction: ValFraction = 0.1


class ShardData(Config, tag="shards"):
    """Token shards, memory-mapped: llm.c's `.bin` (as `nanigpt prepare` writes them) or headerless uint16."""

    train: Annotated[str, Meta(min_length=1, description="a .bin shard, or a folder of them, for training")]
    val: Annotated[
        str | None, Meta(description="shard(s) for validation; null holds out the tail of `train`")
    ] = None
    val_fraction: ValFraction = 0.1


DataConfig = BuiltinData | TextData | ShardData
