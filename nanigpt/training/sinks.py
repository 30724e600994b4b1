"""`--log tensorboard`, `--log wandb`: the metrics, also where people look at curves.

metrics.jsonl stays the record; a sink gets the same values (every number of each metrics line,
under its own name, at its step). A sink that cannot start or fails later (not installed, a full
disk, no network) warns once and is dropped: it never stops, slows or changes training.

TensorBoard writes event files to `runs/<hash>/tensorboard/`; a resumed run purges the steps after
the checkpoint it resumed from, so no step is drawn twice. W&B logs offline unless WANDB_MODE says
otherwise; its files go under `runs/<hash>/wandb/`, the run id is the config hash (a new id after
`--fresh`, kept in `runs/<hash>/wandb-id`), and the config, the recipe and the hash are its config.
"""

from __future__ import annotations

import os
from typing import Any, TextIO

from nanigpt.training.runfiles import RunFiles

INSTALL = "pip install -c constraints.txt -e '.[sinks]' (./scripts/setup installs it)"


class _Guarded:
    """A sink that drops itself, with one warning, at its first failure."""

    def __init__(self, name: str, sink: Any, out: TextIO) -> None:
        self.name, self.sink, self.out = name, sink, out

    def _failed(self, e: BaseException) -> None:
        print(f"Warning: the {self.name} sink failed ({type(e).__name__}: {e}); training goes on without it "
              "(metrics.jsonl has every value)", file=self.out, flush=True)
        self.sink = None

    def log(self, record: dict) -> None:
        if self.sink is not None:
            try:
                self.sink.log(record)
            except Exception as e:  # a sink must never stop training
                self._failed(e)

    def close(self) -> None:
        if self.sink is not None:
            try:
                self.sink.close()
            except Exception as e:
                self._failed(e)


def _scalars(record: dict) -> dict[str, float]:
    return {k: float(v) for k, v in record.items()
            if k not in ("step", "time") and isinstance(v, (int, float)) and not isinstance(v, bool)}


class TensorBoard:
    def __init__(self, run: RunFiles, resumed_from: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: events at or after it, left by the attempt that died, are dropped on read
        purge = resumed_from + 1 if resumed_from is not None else None
        self.writer = SummaryWriter(log_dir=str(run.path / "tensorboard"), purge_step=purge)

    def log(self, record: dict) -> None:
        for key, value in _scalars(record).items():
            self.writer.add_scalar(key, value, global_step=record["step"])

    def close(self) -> None:
        self.writer.close()


class WandB:
    def __init__(self, run: RunFiles, fresh: bool, info: dict) -> None:
        import wandb

        from nanigpt.atomic import atomic_write

        # The config hash names the W&B run, so a resume continues it; `--fresh` starts another.
        id_file = run.path / "wandb-id"
        old = id_file.read_text().strip() if id_file.exists() else None
        if old is None or fresh:
            n = int(old.rpartition("-")[2]) + 1 if old and "-" in old else 1 if old else 0
            atomic_write(id_file, (info["hash"] + (f"-{n}" if n else "")).encode())
        (run.path / "wandb").mkdir(exist_ok=True)
        self.run = wandb.init(
            id=id_file.read_text().strip(), resume="allow", project=os.environ.get("WANDB_PROJECT", "nanigpt"),
            name=info["short"], dir=str(run.path), config=info,
            mode=os.environ.get("WANDB_MODE", "offline"),  # type: ignore[arg-type]
        )

    def log(self, record: dict) -> None:
        self.run.log(_scalars(record), step=record["step"])

    def close(self) -> None:
        self.run.finish()


def open_sinks(names: tuple[str, ...], run: RunFiles | None, *, resumed_from: int | None, fresh: bool,
               info: dict, out: TextIO) -> list[_Guarded]:
    """The sinks `--log` names, each started or, if it cannot start, reported in one warning.
    `info` is what W&B takes as the run's config: hash, short, recipe, config."""
    sinks = []
    for name in dict.fromkeys(names):
        if run is None:
            continue  # no run directory, nothing to write beside
        try:
            sink: Any = TensorBoard(run, resumed_from) if name == "tensorboard" else WandB(run, fresh, info)
        except ImportError as e:
            print(f"Warning: --log {name} needs the {name} package ({e}): {INSTALL}; training goes on without it",
                  file=out, flush=True)
            continue
        except Exception as e:
            print(f"Warning: the {name} sink could not start ({type(e).__name__}: {e}); training goes on without it",
                  file=out, flush=True)
            continue
        sinks.append(_Guarded(name, sink, out))
    return sinks
