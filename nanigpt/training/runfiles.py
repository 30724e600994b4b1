"""The trainer's view of a run's directory. Torch-free."""

from pathlib import Path
from typing import Protocol


class RunFiles(Protocol):
    """Where the trainer keeps a run's files: all it needs of the run store (whose `RunDir` is
    one), so that training never imports the store. Writes are no-ops where this process does
    not write (a non-zero torchrun rank)."""

    hash: str
    path: Path

    @property
    def checkpoint_dir(self) -> Path: ...

    def append_metrics(self, record: dict, summary: dict | None = None) -> None: ...

    def supersede_metrics_after(self, step: int) -> int: ...
