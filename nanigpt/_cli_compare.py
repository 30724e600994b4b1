"""What `compare` and `plot` print. Torch-free (plot's matplotlib loads only in `plot`)."""

from __future__ import annotations

import csv
import io
from typing import Any

import click

from nanigpt._cli_view import _STATE_COLOR, Out, echo_json
from nanigpt.conf import ConfigError, format_value, short_hash
from nanigpt.experiments import compare as cmp
from nanigpt.liveline import duration, si
from nanigpt.store import RunStore, format_loss

_LOSSES = ("train_loss", "val_loss", "best_val_loss")
_NONE = object()  # a config column that a run's config lacks


def _dash(f: Any) -> Any:
    return lambda v: "-" if v is None else f(v)


# How the table writes each summary column (a config column: as the command line takes it back);
# `-` for a run that has not reported it.
_FORMAT = {"hash": short_hash, "status": str, "tokens_per_s": _dash(si), "wall_s": _dash(duration),
           **{name: _dash(format_loss) for name in _LOSSES}}
_RIGHT = {"steps", "tokens_per_s", "wall_s", *_LOSSES}


def _steps(row: dict[str, Any]) -> str:
    return f"{row.get('step') or 0}/{row['steps']}" if row.get("steps") else str(row.get("step") or "-")


def _column(name: str, rows: list[dict]) -> tuple[list[str], bool]:
    """A column's cells (`-` where a run's config lacks the field) and whether it aligns right."""
    if name == "steps":
        return [_steps(r) for r in rows], True
    f = _FORMAT.get(name)
    if f is not None:
        return [f(r.get(name)) for r in rows], name in _RIGHT
    cells = []
    shown: dict[tuple[type, Any], str] = {}  # a column holds few distinct values: each formatted once
    for r in rows:
        v = r.get(name, _NONE)
        if v is _NONE:
            cells.append("-")
        elif isinstance(v, (list, dict)):  # not hashable (a tuple field, stored as a list)
            cells.append(format_value(v))
        else:  # keyed by type too: 1, 1.0 and True are one dict key, and three different cells
            key = (type(v), v)
            if key not in shown:
                shown[key] = format_value(v)
            cells.append(shown[key])
    numbers = [r[name] for r in rows if name in r]
    return cells, bool(numbers) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers)


def render(t: cmp.Table, out: Out) -> list[str]:
    """The table, aligned: numbers to the right, text to the left; on a terminal the hash, the
    status and the lowest best val loss in colour."""
    shown = [c for c in t.columns if c != "step"]  # `steps` shows step/steps
    columns = []
    for name in shown:
        cells, right = _column(name, t.rows)
        w = max(len(name), *map(len, cells)) if cells else len(name)
        columns.append([c.rjust(w) if right else c.ljust(w) for c in [name, *cells]])
    if out.color:
        _colour(t, shown, columns, out)
    return ["  ".join(cells).rstrip() for cells in zip(*columns, strict=True)]


def _colour(t: cmp.Table, shown: list[str], columns: list[list[str]], out: Out) -> None:
    bests = [r["best_val_loss"] for r in t.rows if isinstance(r.get("best_val_loss"), (int, float))]
    lowest = min(bests) if len(bests) > 1 else None
    for name, cells in zip(shown, columns, strict=True):
        cells[0] = out.style(cells[0], bold=True)
        for i, row in enumerate(t.rows, 1):
            if name == "hash":
                cells[i] = out.style(cells[i], fg="yellow")
            elif name == "status":
                cells[i] = out.style(cells[i], fg=_STATE_COLOR.get(row["status"]))
            elif name == "best_val_loss" and lowest is not None and row.get(name) == lowest:
                cells[i] = out.style(cells[i], fg="green", bold=True)


def _csv(t: cmp.Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(t.columns)
    for row in t.rows:
        w.writerow([_csv_cell(c, row) for c in t.columns])
    return buf.getvalue()


def _csv_cell(name: str, row: dict[str, Any]) -> Any:
    """Numbers as Python writes them (they read back exactly), config values as the command line
    takes them, and nothing for what a run lacks or has not reported."""
    if name not in row or (row[name] is None and name in cmp.SUMMARY):
        return ""
    return row[name] if name == "hash" or name in cmp.SUMMARY else format_value(row[name])


def compare_command(runs: tuple[str, ...], *, all_runs: bool, where: tuple[str, ...], columns: str | None,
                    sort: str | None, as_json: bool, as_csv: bool, runs_dir: str) -> None:
    if as_json and as_csv:
        raise ConfigError("--json and --csv are two outputs: choose one")
    chosen = [c.strip() for c in columns.split(",") if c.strip()] if columns is not None else None
    store = RunStore(runs_dir)
    t = cmp.compare(store, runs, all_runs=all_runs, where_=where, columns=chosen, sort=sort)
    if t.skipped:
        click.echo(f"Warning: {t.skipped} unreadable run directories left out (`nanigpt runs` says why)", err=True)
    if as_json:
        echo_json(t.rows)
        return
    if as_csv:
        click.echo(_csv(t), nl=False)
        return
    if not t.rows:
        what = "no run matches the --where filters" if where else f"no runs in {store.root}"
        click.echo(what, err=True)
        return
    out = Out()
    out.echo(render(t, out))


def plot_command(runs: tuple[str, ...], *, all_runs: bool, where: tuple[str, ...], x: str, metrics: tuple[str, ...],
                 log_y: bool, size: str, out: str | None, runs_dir: str) -> None:
    from nanigpt.experiments import plot

    path = plot.plot(RunStore(runs_dir), runs, all_runs=all_runs, where=where, x=x,
                     metrics=metrics or plot.DEFAULT_METRICS, log_y=log_y, size=plot.parse_size(size), out=out)
    click.echo(str(path))
