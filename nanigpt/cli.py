"""The `nanigpt` command line: train, sweep, show, diff, runs, sweeps, compare, plot, presets,
patches, fields, sample, prepare.

Start-up cost is part of the interface (`show`, `diff` and completion run interactively), so
this module imports click alone; each command imports what it needs when it runs, and only
`train` and `sample` ever import torch. The commands that do work (train, sweep, sample,
prepare) are declared in nanigpt/_cli_work.py and built only when one is asked for.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any

import click

from nanigpt._cli_options import CONTEXT, hash_complete, runs_option, target_complete

# The commands whose work is bounded and short: they run with the cycle collector off, as the
# console script starts (nanigpt/__main__.py). Every other command turns it back on.
_QUICK = frozenset({"show", "diff", "runs", "sweeps", "compare", "presets", "patches", "fields"})
# The commands that do work, declared in nanigpt/_cli_work.py and built when first asked for.
_WORK = ("train", "sweep", "sample", "prepare")


class BadInput(click.ClickException):
    """Bad input: printed as one `Error: ...` line on stderr, exit status 2."""

    exit_code = 2


class Busy(click.ClickException):
    """Another process is training the run: exit status 3, so a script can tell it apart."""

    exit_code = 3


class _Group(click.Group):
    """Turns the config machinery's errors into one line and an exit status, never a traceback;
    builds the commands that do work only when one of them is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_WORK})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        # any name not built yet: a misspelt one (`trian`) is matched against all of them
        if cmd_name not in self.commands and not set(_WORK) <= set(self.commands):
            from nanigpt._cli_work import COMMANDS

            for command in COMMANDS:
                self.add_command(command)
        return super().get_command(ctx, cmd_name)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if os.environ.get("_NANIGPT_COMPLETE"):
            # Our completion scripts (they handle `preset:`, `+` and `path=` words) replace
            # click's; registering them only here keeps them off every other start-up.
            from nanigpt import _cli_complete  # noqa: F401
        return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as e:
            # A ConfigError can only have been raised if its module is loaded: checking
            # sys.modules keeps the config machinery out of `--help`'s start-up.
            store = sys.modules.get("nanigpt.store.rundir")
            if store is not None and isinstance(e, store.RunLocked):
                raise Busy(str(e)) from None
            errors = sys.modules.get("nanigpt.conf._errors")
            if errors is not None and isinstance(e, errors.ConfigError):
                raise BadInput(str(e)) from None
            raise


def _version() -> str:
    import nanigpt

    return nanigpt.__version__


@click.group("nanigpt", cls=_Group, context_settings=CONTEXT)
@click.version_option(_version(), "-V", "--version", prog_name="nanigpt", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Train small GPTs from configs that are precisely specified, cheap to vary and exactly
    reproducible. A run is named by the hash of its resolved config and lives in runs/<hash>/.

    \b
    A spec is a list of tokens applied left to right:
      preset:NAME        start from a preset (first token; none means preset:small)
      run:HASH           start from a past run's config (first token)
      defaults           start from the schema's defaults, no preset (first token)
      +NAME, +NAME:ARGS  apply a registered patch (factory)
      path=value         set one field (`optim.lr=1e-4`, or `lr=1e-4` if unambiguous)
      ...name=value      set every field called `name`
      section=tag        switch a union section (`optim=muon`)

    \b
    Examples:
      nanigpt train preset:small +large lr=1e-4
      nanigpt show 3f2a --blame
      nanigpt diff 3f2a "preset:small +large"
      nanigpt runs
    """
    if ctx.invoked_subcommand not in _QUICK and not gc.isenabled():
        # A long command: what start-up made lives until exit, so it is frozen out of the
        # collector's walks; the collector runs as usual on what the command makes.
        gc.freeze()
        gc.enable()


@cli.command(context_settings=CONTEXT, short_help="The sweeps, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@runs_option
def sweeps(as_json: bool, runs_dir: str) -> None:
    """List the sweeps (runs/sweeps/): hash, members finished, age, spec. `nanigpt show
    sweep:PREFIX` shows one with its members.

    \b
    Example:
      nanigpt sweeps
    """
    from nanigpt._cli_sweep import sweeps_command

    sweeps_command(as_json=as_json, runs_dir=runs_dir)


@cli.command(context_settings=CONTEXT, short_help="A run's or a spec's config, recipe and status.")
@click.argument("target", nargs=-1, shell_complete=target_complete)
@click.option("--blame", is_flag=True, help="Show beside each value the token that set it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@click.option("--strict", is_flag=True, help="A token that does nothing (a later one undoes all it set) is an error.")
@click.option("--spec", "as_spec", is_flag=True,
              help="Print one line that rebuilds this config from the schema's defaults, with no preset or patch.")
@runs_option
def show(target: tuple[str, ...], blame: bool, as_json: bool, strict: bool, as_spec: bool, runs_dir: str) -> None:
    """Show a run (a HASH or unique prefix) or a SPEC: its config as a tree, its recipe and
    its status.

    Values set by the recipe rather than the starting preset stand out (bold on a terminal,
    marked `*` otherwise).

    \b
    Examples:
      nanigpt show 3f2a9c
      nanigpt show 3f2a9c --blame
      nanigpt show preset:small +large           # what this spec resolves to
      nanigpt show 3f2a9c --json | jq .status
    """
    if len(target) == 1 and target[0].startswith("sweep:"):
        from nanigpt._cli_sweep import show_sweep

        return show_sweep(target[0][len("sweep:"):], as_json=as_json, runs_dir=runs_dir)
    from nanigpt._cli_view import show_command

    show_command(target, blame=blame, as_json=as_json, strict=strict, as_spec=as_spec, runs_dir=runs_dir)


@cli.command(context_settings=CONTEXT, short_help="Field-by-field difference of two runs or specs.")
@click.argument("a", shell_complete=hash_complete)
@click.argument("b", shell_complete=hash_complete)
@click.option("--tokens", is_flag=True, help="Print the `path=value` tokens that turn A into B.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@runs_option
def diff(a: str, b: str, tokens: bool, as_json: bool, runs_dir: str) -> None:
    """Compare two configs, field by field. A and B are each a run (hash or unique prefix) or a
    spec given as one quoted word.

    Each changed, added and removed field is printed with both values and the token that set
    each, grouped by section; then the two recipes.

    \b
    Examples:
      nanigpt diff 3f2a 8e1d
      nanigpt diff 3f2a "preset:small +large"
      nanigpt diff 3f2a 8e1d --tokens               # paste after `nanigpt train run:3f2a`
    """
    from nanigpt._cli_view import diff_command

    diff_command(a, b, tokens=tokens, as_json=as_json, runs_dir=runs_dir)


@cli.command(context_settings=CONTEXT, short_help="The runs, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@runs_option
def runs(as_json: bool, runs_dir: str) -> None:
    """List the runs, newest first: hash, status, steps, last val loss, age, recipe.

    Directories that are not readable runs are listed last, with what is wrong.

    \b
    Examples:
      nanigpt runs
      nanigpt runs --runs-dir /scratch/runs
      nanigpt runs --json | jq '.[] | select(.state == "finished")'
    """
    from nanigpt._cli_view import runs_command

    runs_command(as_json=as_json, runs_dir=runs_dir)


def _where_option(f: Any) -> Any:
    return click.option("--where", "where", multiple=True, metavar="PATH=VALUE",
                        help="Only the runs whose config has this value (repeatable; `lr=0.001` or `optim.lr=0.001`).")(f)


@cli.command(context_settings=CONTEXT, short_help="A table of runs: the fields that differ, losses, speed.")
@click.argument("runs", nargs=-1, metavar="RUNS...", shell_complete=hash_complete)
@click.option("--all", "all_runs", is_flag=True, help="Every run in the runs directory.")
@_where_option
@click.option("--columns", metavar="A,B", help="Show these config fields instead of the ones that differ.")
@click.option("--sort", metavar="COL", help="Order by this column; -COL for descending (--sort=-lr).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as one JSON document.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the rows as CSV.")
@runs_option
def compare(runs: tuple[str, ...], all_runs: bool, where: tuple[str, ...], columns: str | None, sort: str | None,
            as_json: bool, as_csv: bool, runs_dir: str) -> None:
    """Line runs up in a table, one row per run. RUNS are hashes or unique prefixes, or
    sweep:PREFIX for a sweep's members; --all takes every run.

    The columns are the config fields in which the runs differ, found automatically (a union
    section that differs, such as `optim`, shows its variant; a field a run's variant lacks shows
    as `-`), then status, steps, the last train and val losses, the best val loss, tokens/s and
    the training time. They come from each run's status.json: no metrics file is read.

    \b
    Examples:
      nanigpt compare 3f2a 8e1d c07b
      nanigpt compare sweep:9a1c --sort best_val_loss
      nanigpt compare --all --where n_layer=4 --columns lr,batch_tokens
      nanigpt compare --all --csv > runs.csv
    """
    from nanigpt._cli_compare import compare_command

    compare_command(runs, all_runs=all_runs, where=where, columns=columns, sort=sort, as_json=as_json,
                    as_csv=as_csv, runs_dir=runs_dir)


@cli.command(context_settings=CONTEXT, short_help="The runs' loss curves as a PNG.")
@click.argument("runs", nargs=-1, metavar="RUNS...", shell_complete=hash_complete)
@click.option("--all", "all_runs", is_flag=True, help="Every run in the runs directory.")
@_where_option
@click.option("--x", "x", type=click.Choice(["step", "tokens", "time"]), default="step", show_default=True,
              help="The x axis: step, tokens seen, or training time.")
@click.option("--metric", "metrics", multiple=True, type=click.Choice(["loss", "val_loss", "lr", "grad_norm"]),
              help="A panel per metric (repeatable)  [default: loss, val_loss]")
@click.option("--log-y", is_flag=True, help="A logarithmic y axis.")
@click.option("--size", default="1200x700", show_default=True, metavar="WxH", help="The picture's size in pixels.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), metavar="FILE.png",
              help="Where to write it (default: plot-<hash of the runs>.png here, or plot-sweep-<hash>.png).")
@runs_option
def plot(runs: tuple[str, ...], all_runs: bool, where: tuple[str, ...], x: str, metrics: tuple[str, ...],
         log_y: bool, size: str, out: str | None, runs_dir: str) -> None:
    """Draw the curves of RUNS (hashes, prefixes, sweep:PREFIX, or --all) into a PNG and print its path.

    One colour per run; train loss smoothed over its raw values, val loss as points joined by a
    line. The legend names each run by the fields in which the runs differ (`lr=0.001 n_layer=4`).
    Needs matplotlib: pip install 'nanigpt[plot]'.

    \b
    Examples:
      nanigpt plot 3f2a 8e1d -o curves.png
      nanigpt plot sweep:9a1c --x tokens --log-y
      nanigpt plot sweep:9a1c --metric val_loss --metric lr --size 1600x900
    """
    from nanigpt._cli_compare import plot_command

    plot_command(runs, all_runs=all_runs, where=where, x=x, metrics=metrics, log_y=log_y, size=size, out=out,
                 runs_dir=runs_dir)


@cli.command(context_settings=CONTEXT, short_help="The presets (preset:NAME).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
def presets(as_json: bool) -> None:
    """List the presets (`preset:NAME`): shipped, ./presets, and $NANIGPT_PRESETS.

    \b
    Example:
      nanigpt presets
    """
    from nanigpt._cli_view import registry_command

    registry_command("presets", as_json=as_json)


@cli.command(context_settings=CONTEXT, short_help="The patches (+NAME).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
def patches(as_json: bool) -> None:
    """List the patches (`+NAME`, `+NAME:ARGS`): shipped, ./presets, and $NANIGPT_PRESETS.

    \b
    Example:
      nanigpt patches
    """
    from nanigpt._cli_view import registry_command

    registry_command("patches", as_json=as_json)


@cli.command(context_settings=CONTEXT, short_help="The config fields: type, default, description.")
@click.argument("pattern", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
def fields(pattern: str | None, as_json: bool) -> None:
    """List the config fields: path, type, default, description. PATTERN filters the paths
    (a substring, or a glob with * and ?).

    \b
    Examples:
      nanigpt fields
      nanigpt fields optim
      nanigpt fields '*lr*'
    """
    from nanigpt._cli_view import fields_command

    fields_command(pattern, as_json=as_json)



def main() -> None:
    """Run the command line (nanigpt/__main__.py calls it with the collector off; so do console
    scripts installed before that file took over)."""
    try:
        cli.main(prog_name="nanigpt")
    finally:
        # The interpreter's exit walks every object still alive (click's, typing's, the config
        # types'): ~12 ms of a 90 ms `show`. Frozen, they are skipped; atexit handlers and
        # flushes still run, and the OS takes back the memory.
        gc.freeze()
