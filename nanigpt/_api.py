"""naniGPT from Python: `train`, `sweep`, `load`, `runs`, `resolve`, `compare` and the `Run` and
`Sweep` they give.

The same store and lifecycle as the command line: the same hash, lock, attempt record and resume.
A spec is a string (`"preset:small +large lr=1e-4"`), a list of tokens, or a RunConfig built in
Python, which is validated before it is hashed, as a spec is. Runs live in `runs_dir`, else in
$NANIGPT_RUNS_DIR, else in ./runs.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nanigpt.conf import ConfigError, Resolved
from nanigpt.config import RunConfig, load_registry, spec_from_defaults
from nanigpt.config import resolve as resolve_tokens
from nanigpt.store import RunDir, RunStore


def _store(runs_dir: str | os.PathLike[str] | None) -> RunStore:
    return RunStore(Path(runs_dir if runs_dir is not None else os.environ.get("NANIGPT_RUNS_DIR") or "runs"))


def tokens_of(spec: str | Sequence[str] | RunConfig) -> list[str]:
    """The tokens of a spec: a string is split as a shell would, a list is taken as it is, and a
    RunConfig becomes the spec that builds it from the schema's defaults (`defaults path=value...`)."""
    if isinstance(spec, RunConfig):
        return spec_from_defaults(spec)
    if isinstance(spec, str):
        try:
            return shlex.split(spec)
        except ValueError as e:
            raise ConfigError(f"cannot split the spec {spec!r}: {e}", suggestion="check its quotes") from None
    if isinstance(spec, Sequence) and all(isinstance(t, str) for t in spec):
        return list(spec)
    raise TypeError(f"a spec is a string, a list of tokens or a RunConfig, not {type(spec).__name__}")


def resolve(spec: str | Sequence[str] | RunConfig, *, runs_dir: str | os.PathLike[str] | None = None) -> Resolved:
    """The validated config of a spec, with its hash (`.hash`, `.short`) and where each value came
    from (`.blame`); a bad spec raises the ConfigError the command line prints.

        >>> r = resolve("preset:tiny +large lr=1e-3")
        >>> r.config.model.n_layer, r.blame["optim.lr"]
        (4, 'lr=1e-3')
    """
    return resolve_tokens(tokens_of(spec), runs=_store(runs_dir))


class Run:
    """One run in the store: its config, recipe, status, metrics and samples."""

    def __init__(self, run: RunDir) -> None:
        self._run = run

    @property
    def hash(self) -> str:
        return self._run.hash

    @property
    def short(self) -> str:
        return self._run.short

    @property
    def dir(self) -> Path:
        """`runs/<hash>/`."""
        return self._run.path

    @property
    def config(self) -> RunConfig:
        """The run's config (a stored one that no longer decodes raises, naming the schema versions)."""
        return resolve_tokens([f"run:{self.hash}"], runs=RunStore(self.dir.parent)).config

    @property
    def recipe(self) -> str:
        """The spec that made it, as one shell-quoted line."""
        return shlex.join(self._run.recipe()["tokens"])

    @property
    def status(self) -> dict:
        """status.json with its live state: created, running, interrupted, finished or failed."""
        return self._run.status()

    def metrics(self) -> list[dict]:
        """One dict per logged step, oldest first; lines a resume superseded are left out."""
        return self._run.metrics()

    def metrics_frame(self) -> Any:
        """`metrics()` as a pandas DataFrame (pandas is not a naniGPT dependency: install it)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("metrics_frame() needs pandas: pip install pandas") from None
        return pd.DataFrame(self.metrics())

    def sample(self, prompt: str = "", tokens: int = 256, *, temperature: float = 1.0, top_k: int | None = None,
               seed: int = 0, device: str = "auto") -> str:
        """Text generated from the run's newest checkpoint, as `nanigpt sample` prints it."""
        from nanigpt.training.sampling import sample

        return sample(self._run, prompt, tokens, temperature, top_k, seed, device)

    def __repr__(self) -> str:
        return f"Run({self.short}, {self.status['state']}, {self.recipe!r})"


def load(prefix: str, *, runs_dir: str | os.PathLike[str] | None = None) -> Run:
    """The run named by a hash or a unique prefix of at least 4 hex digits."""
    return Run(_store(runs_dir).run(prefix))


def runs(*, runs_dir: str | os.PathLike[str] | None = None) -> list[Run]:
    """Every readable run in the runs directory, newest first."""
    store = _store(runs_dir)
    return [Run(store.run(r["hash"])) for r in store.list() if "problem" not in r]


def train(spec: str | Sequence[str] | RunConfig, *, runs_dir: str | os.PathLike[str] | None = None,
          quiet: bool = False, **runtime: Any) -> Run:
    """Train a spec into the store and return its Run; a finished run is reported, not trained
    again, and an interrupted one resumes. Runtime options are keyword arguments named as the
    flags of `nanigpt train` (`device="cpu"`, `micro_batch=4`, `log=("tensorboard",)`); they are
    recorded, never hashed. `quiet` keeps the progress and the summary off stderr.

    A failed run raises `RunFailed` (recorded in its status), Ctrl-C raises `Interrupted`.
    """
    import io

    from nanigpt.store.lifecycle import train_run
    from nanigpt.training.runtime import runtime_options

    store = _store(runs_dir)
    registry = load_registry()
    r = resolve_tokens(tokens_of(spec), runs=store, registry=registry)
    rt = runtime_options({"progress": "off", **runtime})
    out = io.StringIO() if quiet else sys.stderr

    def say(line: str) -> None:
        print(line, file=out)

    train_run(r, rt, store, registry, say=say, warn=lambda m: say(f"Warning: {m}"), out=out)
    return Run(store.run(r.hash))



class Sweep:
    """A sweep: its hash, its members (number, tokens, axis values, run hash) and their runs."""

    def __init__(self, record: dict, store: RunStore, failed: list[int], interrupted: bool) -> None:
        self.hash: str = record["hash"]
        self.short: str = record["short"]
        self.tokens: list[str] = record["tokens"]
        self.members: list[dict] = record["members"]
        self.failed = failed  # numbers of the members that failed in this call
        self.interrupted = interrupted
        self._store = store

    @property
    def runs(self) -> list[Run]:
        """The distinct runs of the members, in member order (members with one hash share a run)."""
        hashes = dict.fromkeys(m["hash"] for m in self.members)
        return [Run(self._store.run(h)) for h in hashes if (self._store.root / h).is_dir()]

    def __repr__(self) -> str:
        return f"Sweep({self.short}, {len(self.members)} members, {shlex.join(self.tokens)!r})"


def sweep(spec: str | Sequence[str], *, runs_dir: str | os.PathLike[str] | None = None, jobs: int = 1,
          executor: str | None = None, slurm: dict | None = None, retry_failed: bool = False, max_members: int = 256,
          quiet: bool = False, **runtime: Any) -> Sweep:
    """Train every member of a spec with axes (`"preset:tiny lr=1e-3,3e-3 optim=adamw,muon"`), as
    `nanigpt sweep` does: every member resolves first (a bad one raises the ConfigError the
    command line prints, nothing written), finished members are skipped, interrupted ones
    resume. Runtime options are keyword arguments, as for `train`; `slurm` holds the Slurm options
    (`{"partition": "gpu", "time": 60, "nodes": 1, "gpus_per_node": 1}`, time in minutes) for
    `executor="slurm"`. Returns the Sweep; a member
    that failed is listed in `.failed` (its Run's status says why)."""
    import io

    from nanigpt.experiments.record import load_sweep
    from nanigpt.experiments.sweep import plan_sweep, run_sweep
    from nanigpt.training.runtime import runtime_options

    store = _store(runs_dir)
    registry = load_registry()
    rt = runtime_options({"progress": "off", **runtime})
    plan = plan_sweep(tokens_of(spec), store, registry, max_members=max_members, rt=rt)
    out = io.StringIO() if quiet else sys.stderr

    def say(line: str) -> None:
        print(line, file=out)

    import msgspec

    flags = msgspec.to_builtins(rt)
    slurm_options = None
    if executor == "slurm":
        from nanigpt.experiments.slurm import SlurmOptions

        slurm_options = SlurmOptions(**(slurm or {}))
    result = run_sweep(plan, flags, store, jobs=jobs, executor=executor, slurm=slurm_options,
                       retry_failed=retry_failed, say=say, out=out)
    return Sweep(load_sweep(store, plan.hash), store, result.failed, result.interrupted)


def compare(runs: str | Run | Sequence[str | Run] | None = None, *, where: str | Sequence[str] = (),
            columns: Sequence[str] | None = None, sort: str | None = None,
            runs_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The rows `nanigpt compare` prints, as dicts: `hash`, the config fields in which the runs
    differ (or `columns`), then `status`, `step`, `steps`, `train_loss`, `val_loss`,
    `best_val_loss`, `tokens_per_s` and `wall_s`. A field that a run's config lacks (another
    variant of a union section) is left out of its dict. `runs` are Runs, hashes, prefixes or
    `sweep:PREFIX` (default: every run); `where` is `path=value` conditions; `sort` a column
    (`-best_val_loss`: descending)."""
    from nanigpt.experiments.compare import compare as compare_runs

    named = [runs] if isinstance(runs, (str, Run)) else list(runs or ())
    names = [r.hash if isinstance(r, Run) else r for r in named]
    conditions = [where] if isinstance(where, str) else list(where)
    return compare_runs(_store(runs_dir), names, all_runs=runs is None, where_=conditions,
                        columns=list(columns) if columns is not None else None, sort=sort).rows
