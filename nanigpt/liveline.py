"""One live status line on a terminal, rewritten in place, with notes kept above it. Silent when
off (not a terminal, or turned off). Training's progress and prepare's both draw with it; `si`
and `duration` write its numbers (and the trainer's summary, and `compare`'s table)."""

from __future__ import annotations

import time
from typing import TextIO

EVERY_S = 0.2  # refresh at most this often: live enough to read, cheap on a terminal


class LiveLine:
    def __init__(self, on: bool, stream: TextIO, width: int) -> None:
        self.on, self.stream, self.width = on, stream, width
        self.last = 0.0
        self.shown = False

    def due(self, force: bool = False) -> bool:
        """True (and the clock reset) when a new line should be drawn now."""
        now = time.monotonic()
        if not self.on or (not force and now - self.last < EVERY_S):
            return False
        self.last = now
        return True

    def show(self, line: str) -> None:
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.shown = True

    def note(self, text: str) -> None:
        """A line between updates (an eval result): keep it, start a fresh live line."""
        if self.on:
            self.stream.write(("\r" if self.shown else "") + text.ljust(self.width) + "\n")
            self.stream.flush()
            self.shown = False

    def close(self) -> None:
        if self.on and self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False


def si(x: float) -> str:
    """`12.3k`, `4.5M`: a count or rate in three figures."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.1f}{unit}"
    return f"{x:.0f}"


def duration(s: float) -> str:
    """`12.3s`, `4m05s`, `1h02m03s`."""
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(int(round(s)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"
