"""Token streams and deterministic batches.

Batch k is a function of (seed, k) alone: a generator seeded from them picks the global batch's
offsets, and each rank gathers only its slice. So one process and N processes see the same
global batch at every step, and a resumed run needs nothing but the step to continue the data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import xxhash


def generator(seed: int, stream: str, k: int) -> torch.Generator:
    """A fresh CPU generator for item `k` of a named random stream (e.g. train batches)."""
    g = torch.Generator()
    # xxh3 mixes (seed, stream, k) so that neighbouring steps get unrelated seeds.
    g.manual_seed(xxhash.xxh3_64_intdigest(f"{seed}:{stream}:{k}".encode()) & (2**63 - 1))
    return g


def rank_slice(n: int, rank: int, world_size: int) -> slice:
    """Rank r's share of n global items: [r*n/world, (r+1)*n/world)."""
    return slice(rank * n // world_size, (rank + 1) * n // world_size)


class Split:
    """A split's tokens: one or more 1-D integer segments read as one contiguous stream.

    Segments are views (memory-mapped shards stay mapped); a window that crosses a segment
    boundary reads on into the next, as if the segments were concatenated.
    """

    def __init__(self, segments: Sequence[torch.Tensor]) -> None:
        self.segments = [s for s in segments if s.numel()]
        lengths = [s.numel() for s in self.segments]
        self.tokens = sum(lengths)
        # starts[i] is the stream position of segment i's first token.
        self._starts = torch.tensor([0, *lengths], dtype=torch.int64).cumsum(0)

    def __len__(self) -> int:
        return self.tokens

    def windows(self, offsets: torch.Tensor, length: int) -> torch.Tensor:
        """The `length` tokens from each stream offset, as int64 of shape (len(offsets), length)."""
        if offsets.numel() and int(offsets.max()) + length > self.tokens:
            raise IndexError(f"window of {length} at {int(offsets.max())} passes the end of {self.tokens} tokens")
        pos = offsets[:, None] + torch.arange(length, dtype=torch.int64)  # (n, length)
        if len(self.segments) == 1:
            return self.segments[0][pos].long()
        seg = torch.searchsorted(self._starts, pos, right=True) - 1
        out = torch.empty(pos.shape, dtype=torch.int64)
        for i in seg.unique().tolist():
            mask = seg == i
            out[mask] = self.segments[i][pos[mask] - self._starts[i]].long()
        return out

    def chunks(self, size: int = 1 << 22) -> Iterator[torch.Tensor]:
        """The stream in order, in int64 chunks of at most `size` tokens (bounded memory)."""
        for s in self.segments:
            for i in range(0, s.numel(), size):
                yield s[i : i + size].long()

    def max_token(self) -> int:
        return max((int(c.max()) for c in self.chunks()), default=-1)

    def unigram_entropy(self) -> float:
        """Entropy (nats) of the split's token frequencies: the loss of a model that ignores context."""
        counts: torch.Tensor | None = None
        for c in self.chunks():
            b = torch.bincount(c)
            if counts is None:
                counts = b
            else:
                n = max(counts.numel(), b.numel())
                counts = torch.nn.functional.pad(counts, (0, n - counts.numel())) + torch.nn.functional.pad(
                    b, (0, n - b.numel())
                )
        if counts is None:
            return 0.0
        p = counts[counts > 0].double() / self.tokens
        return float(-(p * p.log()).sum())


@dataclass
class TokenData:
    """A source's train and val splits, batched deterministically. Built by `build(<data config>)`."""

    train: Split
    val: Split
    block_size: int
    seed: int
    fingerprint: str  # xxh3-128 hex of the bytes read
    description: str  # what was read, for logs: "tinyshakespeare.txt (1.1 MB)"
    # shards prepared by `nanigpt prepare`: their tokenizer's manifest record and file text, which
    # checkpoints carry for `sample`; None: bytes (text, builtin) or shards of unknown origin
    tokenizer: dict | None = None

    def _random(self, split: Split, stream: str, k: int, sequences: int, rank: int, world_size: int):
        T = self.block_size
        g = generator(self.seed, stream, k)
        # Every rank draws the whole global batch's offsets, so the batch does not depend on the
        # world size; each then gathers only its own rows.
        offsets = torch.randint(0, split.tokens - T, (sequences,), generator=g)
        w = split.windows(offsets[rank_slice(sequences, rank, world_size)], T + 1)
        return w[:, :-1], w[:, 1:]

    def batch(self, k: int, sequences: int, *, rank: int = 0, world_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Rank `rank`'s slice of training batch k: (inputs, targets), int64 (n/world, block_size)."""
        return self._random(self.train, "train", k, sequences, rank, world_size)

    def val_batch(self, k: int, sequences: int, *, rank: int = 0, world_size: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Val batch k: the same sequences at every evaluation of a run, so evals compare."""
        return self._random(self.val, "val", k, sequences, rank, world_size)

    @property
    def val_blocks(self) -> int:
        """How many non-overlapping (block_size + 1)-token windows tile the val split."""
        return max(0, (self.val.tokens - 1) // self.block_size)

    def val_block_batch(self, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Val blocks start..start+count-1: together, every val token is predicted exactly once
        (except the first, which has no context)."""
        T = self.block_size
        offsets = torch.arange(start, start + count, dtype=torch.int64) * T
        w = self.val.windows(offsets, T + 1)
        return w[:, :-1], w[:, 1:]
