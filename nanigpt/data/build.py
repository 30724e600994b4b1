"""Builders of the data sources: `build(<data config>, block_size=..., seed=...) -> TokenData`.

`nanigpt.builders` imports this module in its one registration place.
"""

from __future__ import annotations

from nanigpt.builders import build
from nanigpt.data.config import BuiltinData, ShardData, TextData
from nanigpt.data.sources import load_builtin, load_shards, load_text
from nanigpt.data.tokens import TokenData


@build.register
def _(cfg: TextData, *, block_size: int, seed: int = 0, vocab_size: int | None = None) -> TokenData:
    # vocab_size is accepted by every source so callers need not know which one they hold;
    # bytes always fit the byte-level vocab, which RunConfig.check enforces.
    return load_text(cfg, block_size=block_size, seed=seed)


@build.register
def _(cfg: BuiltinData, *, block_size: int, seed: int = 0, vocab_size: int | None = None) -> TokenData:
    return load_builtin(cfg, block_size=block_size, seed=seed)


@build.register
def _(cfg: ShardData, *, block_size: int, seed: int = 0, vocab_size: int | None = None) -> TokenData:
    return load_shards(cfg, block_size=block_size, seed=seed, vocab_size=vocab_size)
