"""`nanigpt train`: parse the spec and the flags, then hand over to the run store's lifecycle
(`nanigpt.store.lifecycle.train_run`), and print its outcome. `--dry-run` stops after resolving."""

from __future__ import annotations

import sys
from typing import Any

import click
import msgspec

from nanigpt._cli_view import Out, Target, dead_tokens, render_config
from nanigpt.conf import ConfigError, Registry, Resolved
from nanigpt.config import load_registry, resolve
from nanigpt.store import RunStore
from nanigpt.store.lifecycle import Interrupted, RunFailed, blamed, dist_env, train_run
from nanigpt.store.recipe import recipe_set
from nanigpt.training.runtime import runtime_options


def _say(text: str) -> None:
    click.echo(text, err=True)


def runtime_flags(flags: dict[str, Any]) -> Any:
    """The validated RuntimeOptions of the parsed click options: an unset tristate flag
    (`--progress/--no-progress`) is its first choice ("auto"), on and off the other two."""
    from nanigpt.training.flags import BY_NAME

    values = dict(flags)
    for name, v in flags.items():
        if BY_NAME[name].kind == "tristate":
            values[name] = BY_NAME[name].type[{None: 0, True: 1, False: 2}[v]]
    return runtime_options(values)


def _dry_run(store: RunStore, registry: Registry, r: Resolved, rt: Any, world: int) -> None:
    """Describe the run; what the pre-flight would refuse is a warning here, not an error: a dry
    run is also for a config meant for another machine (its data, its GPUs)."""
    from nanigpt.training.sizes import describe
    from nanigpt.training.preflight import check_data, check_device, check_parallel, global_sequences, micro_batch_for

    warnings: list[str] = []

    def check(f: Any, *args: Any, **kw: Any) -> Any:
        try:
            with blamed(r):
                return f(*args, **kw)
        except ConfigError as e:
            warnings.append(str(e))
            return None

    check(check_data, r.config)
    micro = check(micro_batch_for, r.config, rt, world)
    check(check_parallel, r.config, rt, sharded=world > 1)
    check(check_device, r.config, rt)
    d = describe(r.config)
    p = d["params"]
    n_seq = global_sequences(r.config)
    batch = f"batch     {r.config.train.batch_tokens:,} tokens/step = {n_seq} sequences x {r.config.model.block_size}"
    if micro is not None:
        batch += f"; micro batch {micro} x {n_seq // world // micro} accumulation x {world} process(es)"
    cfg_dict = msgspec.json.decode(r.canonical)
    t = Target(r.hash, cfg_dict, list(r.tokens), r.start, dict(r.blame), None, recipe_set(r, store, registry))
    out = Out()
    exists = (store.root / r.hash).is_dir()
    lines = [
        f"run       {out.style(r.short, fg='yellow', bold=True)}  {store.root / r.hash}"
        + ("" if exists else "  (dry run: not created)"),
        f"hash      {r.hash}",
        f"recipe    {t.recipe}",
        f"params    {p['total']:,} ({p['non_embedding']:,} non-embedding)",
        f"flops     {d['flops_per_token']:,} per token (training: forward + backward)",
        batch,
        "",
        f"config    ({'bold' if out.color else '*'} = set by the recipe; the rest is {r.start or 'the default preset'})",
    ]
    out.echo(lines + render_config(t, out, blame=False))
    for w in warnings:
        _say(f"Warning: {w}")


def train_command(spec: tuple[str, ...], *, dry_run: bool, strict: bool, runs_dir: str, flags: dict[str, Any]) -> None:
    rank, world = dist_env()
    store = RunStore(runs_dir)
    registry = load_registry()
    r = resolve(list(spec), runs=store, registry=registry)
    rt = runtime_flags(flags)
    if rank == 0 or strict:
        dead_tokens(r.dead_tokens(), strict=strict)
    if dry_run:
        if rank == 0:
            _dry_run(store, registry, r, rt, world)
        return
    try:
        train_run(r, rt, store, registry, say=click.echo, warn=lambda m: _say(f"Warning: {m}"), out=sys.stderr)
    except Interrupted as e:
        _say(str(e))
        sys.exit(130)
    except RunFailed as e:
        if e.message is None:
            sys.exit(1)  # a non-zero rank: rank 0 says why
        if e.trace:
            _say(e.trace.rstrip())
        raise click.ClickException(e.message) from None
