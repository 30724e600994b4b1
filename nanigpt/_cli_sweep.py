"""`nanigpt sweep`, `nanigpt sweeps` and `nanigpt show sweep:PREFIX`: parse, call
`nanigpt.experiments.sweep`, print. A sweep's `--dry-run` and `sweeps` never import torch."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from nanigpt._cli_train import runtime_flags
from nanigpt._cli_view import Out, age, dead_tokens, echo_json
from nanigpt.conf import ConfigError, short_hash
from nanigpt.config import load_registry
from nanigpt.experiments.record import list_sweeps, load_sweep
from nanigpt.experiments.sweep import plan_sweep, rows, run_sweep, state_of
from nanigpt.store import RunStore


def _say(text: str) -> None:
    click.echo(text, err=True)


def table(header: list[str], body: list[list[str]], out: Out, *, bold_first: bool = True) -> list[str]:
    """Left-aligned columns, two spaces apart; the header bold on a terminal."""
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    return [out.style(line(header), bold=bold_first), *(line(r) for r in body)]


def _member_table(records: list[dict], axis_names: list[str], out: Out) -> list[str]:
    header = ["#", "hash", "status", *axis_names]
    body = [[str(r["member"]), r["short"], r["status"], *(str(r.get(a, "")) for a in axis_names)] for r in records]
    return table(header, body, out)


def sweep_command(spec: tuple[str, ...], *, dry_run: bool, strict: bool, max_members: int, jobs: int,
                  executor: str | None, retry_failed: bool, slurm: dict[str, Any], runs_dir: str,
                  flags: dict[str, Any]) -> None:
    store = RunStore(runs_dir)
    registry = load_registry()
    rt = runtime_flags(flags)
    if executor is not None or jobs > 1:
        flags = {**flags, "progress": False}  # members elsewhere: one line each, no progress bars
    import msgspec

    member_flags = msgspec.to_builtins(runtime_flags(flags))
    slurm_options = slurm_options_of(slurm) if executor == "slurm" else None
    given = [name for name, v in slurm.items() if v not in (None, (), 1 if name == "nodes" else 0)]
    if given and executor != "slurm":
        flag = "--" + given[0].replace("_", "-").replace("extra", "slurm-opt")
        raise ConfigError(f"`{flag}` is an option of the Slurm executor", suggestion="add --executor slurm, or drop it")
    plan = plan_sweep(list(spec), store, registry, max_members=max_members, rt=None if dry_run else rt)
    dead_tokens(plan.dead_tokens(), strict=strict)
    out = Out()
    names = [a.name for a in plan.axes]
    n_runs = len(plan.unique())
    dup = len(plan.members) - n_runs
    head = f"sweep of {len(plan.members)} member(s)" + (f", {n_runs} distinct run(s)" if dup else "")
    if dry_run:
        out.echo([head + " (dry run: nothing written)", *_member_table(rows(plan, store), names, out)])
        return
    _say(head)
    result = run_sweep(plan, member_flags, store, jobs=jobs, executor=executor, slurm=slurm_options,
                       retry_failed=retry_failed, say=click.echo, out=sys.stderr)
    done = result.count("finished") + result.count("done") + sum(1 for w in result.skipped.values() if w == "finished")
    failed = result.failed
    skipped_failed = [n for n, w in result.skipped.items() if w.startswith("failed")]
    elsewhere = [n for n, w in result.skipped.items() if w == "being trained by another process"]
    summary = f"{done} of {n_runs} run(s) finished"
    if failed:
        summary += f"; {len(failed)} failed (member {', '.join(map(str, failed))})"
    if skipped_failed:
        summary += f"; {len(skipped_failed)} failed before and not retried (--retry-failed retries them)"
    if elsewhere:
        summary += f"; {len(elsewhere)} being trained by another process"
    summary += f"; `nanigpt compare sweep:{short_hash(plan.hash)}`"
    if result.interrupted:
        _say("interrupted: " + summary + "; run the same sweep again to go on")
        sys.exit(130)
    _say(summary)
    if failed or skipped_failed:
        sys.exit(1)


def slurm_options_of(given: dict[str, Any]) -> Any:
    """SlurmOptions from the command line's values: `--time` in Slurm's forms (minutes, HH:MM:SS,
    D-HH:MM:SS) and `--slurm-opt KEY=VALUE` pairs."""
    from nanigpt.experiments.slurm import SlurmOptions, parse_time

    values = {k: v for k, v in given.items() if v is not None and k not in ("time", "extra")}
    if given.get("time") is not None:
        values["time"] = parse_time(given["time"])
    extra = []
    for opt in given.get("extra") or ():
        key, eq, value = opt.partition("=")
        if not eq or not key:
            raise ConfigError(f"`--slurm-opt`={opt} is not KEY=VALUE", suggestion="e.g. --slurm-opt account=lab")
        extra.append((key.lstrip("-"), value))
    return SlurmOptions(**values, extra=tuple(extra))


def sweeps_command(*, as_json: bool, runs_dir: str) -> None:
    store = RunStore(runs_dir)
    records = list_sweeps(store)
    if as_json:
        echo_json(records)
        return
    if not records:
        click.echo(f"no sweeps in {store.root / 'sweeps'}")
        return
    out = Out()
    body = []
    for r in records:
        if "problem" in r:
            body.append([r["short"], "-", "-", "-", r["problem"]])
            continue
        states = [state_of(store, h) for h in dict.fromkeys(m["hash"] for m in r["members"])]
        done = sum(1 for s in states if s == "finished")
        body.append([r["short"], f"{done}/{len(states)}", age(r.get("created")),
                     ",".join(sorted({s for s in states if s != 'finished'})) or "-", shlex.join(r["tokens"])])
    out.echo(table(["sweep", "finished", "age", "other states", "spec"], body, out))


def show_sweep(prefix: str, *, as_json: bool, runs_dir: str) -> None:
    """`nanigpt show sweep:PREFIX`: its spec, its axes and its members with their status."""
    store = RunStore(runs_dir)
    rec = load_sweep(store, prefix)
    records = []
    for m in rec["members"]:
        records.append({"member": m["number"], "hash": m["hash"], "short": short_hash(m["hash"]),
                        "status": state_of(store, m["hash"]), **m["values"]})
    if as_json:
        echo_json({**rec, "status": {r["hash"]: r["status"] for r in records}})
        return
    out = Out()
    names = [a["name"] for a in rec["axes"]]
    lines = [
        f"sweep     {out.style(rec['short'], fg='yellow', bold=True)}  {store.root / 'sweeps' / (rec['hash'] + '.json')}",
        f"spec      {shlex.join(rec['tokens'])}",
        f"created   {rec.get('created')}",
        "",
        *_member_table(records, names, out),
    ]
    out.echo(lines)
