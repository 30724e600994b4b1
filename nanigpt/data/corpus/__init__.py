"""The built-in default corpus: about 1 MB of synthetic English play dialogue, shipped inside naniGPT.

`nanigpt train` with no data settings trains on it (`data=builtin`): it needs no download and
nothing outside the machine. It is not copied from any existing text. A small grammar in
`scripts/make_corpus.py` writes it from word lists (about two thousand English words, with plurals,
verb forms, thou/thee and -eth forms, a/an) driven by one fixed-seed `random.Random`, in the layout
of a printed play: titles, persons, acts, scenes, stage directions and speeches of one to six
lines. Its letters have the frequencies of English (unigram entropy 3.21 nats per byte, against
3.31 for tinyshakespeare), and a char-level model has spelling, agreement, punctuation and speaker
turns to learn. Being synthetic, it carries no copyright and teaches form rather than meaning.

Regenerate it, byte for byte (tests/test_corpus.py checks that it still does):

    .venv/bin/python scripts/make_corpus.py --stats

Standard library only, and never torch: torch-free code (configs, the CLI's listing commands)
reads it too.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

NAME = "plays-v1"  # bump with any change to the bytes, so that runs on different corpora differ by name too
FILENAME = "plays.txt.gz"


@functools.cache
def read_builtin() -> bytes:
    """The corpus as ASCII bytes; read and decompressed once per process (gzip checks its CRC)."""
    return gzip.decompress(resources.files(__name__).joinpath(FILENAME).read_bytes())


__all__ = ["FILENAME", "NAME", "read_builtin"]
