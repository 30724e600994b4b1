"""The byte-level tokenizer: a token is a byte, so any text round-trips and vocab is 256."""

from __future__ import annotations

from collections.abc import Iterable

import torch

VOCAB_SIZE = 256


def encode(text: str | bytes) -> torch.Tensor:
    """Token ids (uint8, 1-D) of `text`; a str is encoded as UTF-8 first."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    # bytearray: torch.frombuffer warns on (and must not write through) read-only buffers.
    return torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0, dtype=torch.uint8)


def decode(ids: torch.Tensor | Iterable[int]) -> str:
    """The text of byte token ids; invalid UTF-8 (a cut multi-byte char) becomes U+FFFD."""
    if isinstance(ids, torch.Tensor):
        ids = ids.reshape(-1).tolist()
    data = bytes(ids)  # raises ValueError for ids outside 0..255: those are not bytes
    return data.decode("utf-8", errors="replace")
