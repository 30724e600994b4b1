"""`plot`: the curves of some runs as one PNG, one colour per run, one panel per metric.

Train loss (and the gradient norm) is drawn smoothed, with the raw values faint behind; val loss
as points joined by a line. The legend names each run by the config fields in which the runs
differ (`lr=0.0003 n_layer=8`), with the same short names as `compare`'s columns. Lines of
metrics.jsonl that a resume superseded are never drawn. Drawn with matplotlib's Agg canvas, no
pyplot: nothing global changes in a process that plots. matplotlib is the `plot` extra.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nanigpt.atomic import atomic_write
from nanigpt.conf import ConfigError, format_value, hash_bytes, short_hash
from nanigpt.experiments import compare as cmp
from nanigpt.experiments.record import PREFIX, load_sweep
from nanigpt.store import RunStore

METRICS = ("loss", "val_loss", "lr", "grad_norm")
X_AXES = ("step", "tokens", "time")
DEFAULT_METRICS = ("loss", "val_loss")
DEFAULT_SIZE = (1200, 700)
INSTALL = "pip install 'nanigpt[plot]'"

_DPI = 100
_LABELS = {"loss": "train loss", "val_loss": "val loss", "lr": "learning rate", "grad_norm": "gradient norm",
           "step": "step", "tokens": "tokens", "time": "training time (s)"}
_SMOOTHED = ("loss", "grad_norm")  # noisy step by step: drawn smoothed over their raw values


def parse_size(text: str) -> tuple[int, int]:
    """`1200x700` -> (1200, 700): width and height in pixels."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or not all(100 <= int(g) <= 10000 for g in m.groups()):
        raise ConfigError(f"--size {text!r} is not WxH in pixels, each 100 to 10000", suggestion="e.g. --size 1200x700")
    return int(m[1]), int(m[2])


def legend_labels(runs: Sequence[cmp.Stored]) -> list[str]:
    """Each run as the fields in which the runs differ, `path=value` with the shortest
    unambiguous path; its short hash when they do not differ at all."""
    paths = cmp.differing(runs)
    if not paths:
        return [r.run.short for r in runs]
    names = cmp.short_names(paths)
    return [" ".join(f"{names[p]}={format_value(v)}" for p in paths if (v := r.get(p)) is not cmp.MISSING)
            for r in runs]


def smooth(ys: Sequence[float]) -> list[float]:
    """An exponential moving average over about 1/40 of the points, debiased at the start (as
    TensorBoard's): a few dozen points are drawn as they are."""
    window = len(ys) / 40
    if window <= 1:
        return list(ys)
    w = 1 - 2 / (window + 1)
    out, acc = [], 0.0
    for n, y in enumerate(ys, 1):
        acc = w * acc + (1 - w) * y
        out.append(acc / (1 - w**n))
    return out


def _series(run: cmp.Stored, records: list[dict], metric: str, x: str) -> tuple[list[float], list[float]]:
    """(xs, ys) of one metric of one run: its finite values, in step order."""
    per_step = run.get("train.batch_tokens")
    if x == "tokens" and not isinstance(per_step, int):
        raise ConfigError(f"--x tokens: run {run.run.short} has no `train.batch_tokens` in its config",
                          suggestion="plot it with --x step")
    xs, ys = [], []
    for rec in records:
        y, step = rec.get(metric), rec.get("step")
        if not isinstance(y, (int, float)) or isinstance(y, bool) or not math.isfinite(y) or not isinstance(step, int):
            continue
        if x == "step":
            xs.append(step)
        elif x == "tokens":
            xs.append(step * per_step)
        elif isinstance(rec.get("elapsed_s"), (int, float)):
            xs.append(rec["elapsed_s"])
        else:
            continue
        ys.append(y)
    return xs, ys


def _colors(n: int) -> list[Any]:
    import matplotlib

    if n <= 10:
        return list(matplotlib.colormaps["tab10"].colors[:n])
    if n <= 20:
        return list(matplotlib.colormaps["tab20"].colors[:n])
    cmap = matplotlib.colormaps["turbo"]
    return [cmap(i / (n - 1)) for i in range(n)]


def figure(runs: Sequence[cmp.Stored], *, x: str = "step", metrics: Sequence[str] = DEFAULT_METRICS,
           log_y: bool = False, size: tuple[int, int] = DEFAULT_SIZE) -> Any:
    """The matplotlib Figure of `runs` (each a cmp.Stored), one panel per metric."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
    except ImportError:
        raise ConfigError("`nanigpt plot` needs matplotlib, which is not installed", suggestion=INSTALL) from None
    if x not in X_AXES:
        raise ConfigError(f"--x {x!r}: not one of {', '.join(X_AXES)}")
    for m in metrics:
        if m not in METRICS:
            raise ConfigError(f"--metric {m!r}: not one of {', '.join(METRICS)}")
    metrics = list(dict.fromkeys(metrics)) or list(DEFAULT_METRICS)
    labels = legend_labels(runs)
    colors = _colors(len(runs))
    fig = Figure(figsize=(size[0] / _DPI, size[1] / _DPI), dpi=_DPI, layout="constrained")
    rows = 1 if len(metrics) <= 2 else 2
    cols = -(-len(metrics) // rows)
    axes = list(fig.subplots(rows, cols, squeeze=False).flat)
    for ax in axes[len(metrics):]:  # a panel left over in a 2-row grid
        ax.set_visible(False)
    records = [r.run.metrics() for r in runs]  # superseded lines left out
    for ax, metric in zip(axes, metrics, strict=False):
        for run, recs, color in zip(runs, records, colors, strict=True):
            xs, ys = _series(run, recs, metric, x)
            if metric in _SMOOTHED:
                ax.plot(xs, ys, color=color, alpha=0.2, linewidth=0.8)
                ax.plot(xs, smooth(ys), color=color, linewidth=1.6)
            elif metric == "val_loss":
                ax.plot(xs, ys, color=color, marker="o", markersize=3.5, linewidth=1.2)
            else:
                ax.plot(xs, ys, color=color, linewidth=1.4)
        ax.set_title(_LABELS[metric])
        ax.set_xlabel(_LABELS[x])
        ax.set_ylabel(_LABELS[metric])
        if log_y:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    handles = [Line2D([], [], color=c, linewidth=2) for c in colors]
    fig.legend(handles, labels, loc="outside right upper", fontsize="small")
    return fig


def default_name(store: RunStore, names: Sequence[str], runs: Sequence[cmp.Stored]) -> str:
    """`plot-sweep-<sweep>.png` for one sweep, else `plot-<short hash of the set of runs>.png`."""
    if len(names) == 1 and names[0].startswith(PREFIX):
        return f"plot-sweep-{load_sweep(store, names[0][len(PREFIX):])['short']}.png"
    return f"plot-{short_hash(hash_bytes(' '.join(sorted(r.run.hash for r in runs)).encode()))}.png"


def plot(store: RunStore, names: Sequence[str] = (), *, all_runs: bool = False, where: Sequence[str] = (),
         x: str = "step", metrics: Sequence[str] = DEFAULT_METRICS, log_y: bool = False,
         size: tuple[int, int] = DEFAULT_SIZE, out: str | Path | None = None) -> Path:
    """Draw the runs `names` (or all runs), filtered by `where`, into a PNG, written atomically;
    returns its path (default: a name of the run set, in the current directory)."""
    loaded, _ = cmp.load(store, names, all_runs=all_runs)
    runs = cmp.where(loaded, where)
    if not runs:
        raise ConfigError("no run to plot: none matches the --where filters" if where else "no run to plot",
                          suggestion="`nanigpt compare --all` lists the runs and their fields")
    path = Path(out) if out is not None else Path(default_name(store, names, runs))
    if path.suffix.lower() != ".png":
        raise ConfigError(f"-o {str(path)!r}: plot writes PNG files", suggestion=f"name it {path.with_suffix('.png')}")
    if not path.parent.is_dir():
        raise ConfigError(f"-o {str(path)!r}: there is no folder {str(path.parent)!r}", suggestion="create it first")
    fig = figure(runs, x=x, metrics=metrics, log_y=log_y, size=size)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    atomic_write(path, buf.getvalue())
    return path
