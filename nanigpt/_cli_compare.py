"""What `compare` and `plot` print. Torch-free (plot's matplotlib loads only in `plot`)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import click

from nanigpt._cli_view import _STATE_COLOR, Out, echo_json
from nanigpt.conf import ConfigError, format_value
from nanigpt.experiments import compare as cmp
from nanigpt.liveline import duration, si
from nanigpt.store import RunStore, format_loss

_LOSSES = ("train_loss", "val_loss", "best_val_loss")


def _cell(name: str, row: dict[str, Any]) -> str:
    """A value as the table shows it: `-` for what a run lacks or has not reported."""
    if name == "steps":
        return f"{row.get('step') or 0}/{row['steps']}" if row.get("steps") else str(row.get("step") or "-")
    if name not in row or (name in cmp.SUMMARY and row[name] is None):
        return "-"
    v = row[name]
    if name in _LOSSES:
        return format_loss(v)
    if name == "tokens_per_s":
        return si(v)
    if name == "wall_s":
        return duration(v)
    if name == "hash":
        return v[:12]
    return format_value(v)


def _numeric(name: str, rows: list[dict]) -> bool:
    vals = [r.get(name) for r in rows if r.get(name) is not None]
    return name in ("steps", "tokens_per_s", "wall_s", *_LOSSES) or (
        bool(vals) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals))


def render(t: cmp.Table, out: Out) -> list[str]:
    """The table, aligned: numbers to the right, text to the left; on a terminal the hash, the
    status and the lowest best val loss in colour."""
    shown = [c for c in t.columns if c != "step"]  # `steps` shows step/steps
    cells = [[_cell(c, r) for c in shown] for r in t.rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(shown)]
    right = [_numeric(c, t.rows) for c in shown]
    bests = [r["best_val_loss"] for r in t.rows if isinstance(r.get("best_val_loss"), (int, float))]
    lowest = min(bests) if len(bests) > 1 else None

    def line(values: list[str], styles: list[dict]) -> str:
        parts = [out.style(v.rjust(w) if r else v.ljust(w), **s) for v, w, r, s in zip(values, widths, right, styles, strict=True)]
        return "  ".join(parts).rstrip()

    lines = [line(shown, [{"bold": True}] * len(shown))]
    for row, values in zip(t.rows, cells, strict=True):
        styles: list[dict] = []
        for c in shown:
            if c == "hash":
                styles.append({"fg": "yellow"})
            elif c == "status":
                styles.append({"fg": _STATE_COLOR.get(row["status"])})
            elif c == "best_val_loss" and lowest is not None and row.get(c) == lowest:
                styles.append({"fg": "green", "bold": True})
            else:
                styles.append({})
        lines.append(line(values, styles))
    return lines


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
                    sort: str | None, as_json: bool, as_csv: bool, runs_dir: Path) -> None:
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
                 log_y: bool, size: str, out: Path | None, runs_dir: Path) -> None:
    from nanigpt.experiments import plot

    path = plot.plot(RunStore(runs_dir), runs, all_runs=all_runs, where=where, x=x,
                     metrics=metrics or plot.DEFAULT_METRICS, log_y=log_y, size=plot.parse_size(size), out=out)
    click.echo(str(path))
