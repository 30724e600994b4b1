"""`nanigpt prepare`: call nanigpt.data.prepare, then print what it wrote and how to train on it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from nanigpt.data.prepare import _size, prepare


def prepare_command(sources: tuple[str, ...], out: str | Path, **options: Any) -> None:
    """Run `prepare`, then say what was written and how to train on it."""
    out = Path(out)  # `./d/` is `d` in what is printed, and in the train command suggested
    try:
        r = prepare(sources, out, **options)
    except KeyboardInterrupt:
        click.echo(f"interrupted: {str(out)!r} is as it was", err=True)
        sys.exit(130)
    m, tok = r.manifest, r.manifest.tokenizer
    where = str(out)
    if r.up_to_date:
        click.echo(f"{where} is up to date ({m.train.tokens:,} train + {m.val.tokens:,} val tokens, {tok.spec}): "
                   "nothing to do")
    else:
        mbs = r.text_bytes / 1e6 / r.seconds if r.seconds else 0.0
        click.echo(
            f"prepared {where}: {m.train.tokens:,} train + {m.val.tokens:,} val tokens in "
            f"{len(m.train.shards)} + {len(m.val.shards)} {m.dtype} shard(s), {tok.spec} (vocab {tok.vocab_size:,}), "
            f"from {_size(r.text_bytes)} of text in {r.seconds:.1f}s ({mbs:.2f} MB/s)"
        )
    val = f" data.val={where}/val" if m.val.tokens else ""
    click.echo(f"train on it: nanigpt train data=shards data.train={where}/train{val} "
               f"model.vocab_size={tok.vocab_size}")
