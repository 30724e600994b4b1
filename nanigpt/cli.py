"""The `nanigpt` command line: train, sweep, show, diff, runs, sweeps, compare, plot, presets,
patches, fields, sample, prepare.

Start-up cost is part of the interface (`show`, `diff` and completion run interactively), so
this module imports click alone; each command imports what it needs when it runs, and only
`train` and `sample` ever import torch.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any

import click

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# The commands whose work is bounded and short: they run with the cycle collector off, as the
# console script starts (nanigpt/__main__.py). Every other command turns it back on.
_QUICK = frozenset({"show", "diff", "runs", "sweeps", "compare", "presets", "patches", "fields"})
# One instance for every command's --runs-dir: building a click.Path looks up its translated name.
# Paths reach the commands as strings: pathlib's import would add to every start-up.
_RUNS_DIR = click.Path(file_okay=False)


class BadInput(click.ClickException):
    """Bad input: printed as one `Error: ...` line on stderr, exit status 2."""

    exit_code = 2


class Busy(click.ClickException):
    """Another process is training the run: exit status 3, so a script can tell it apart."""

    exit_code = 3


class _Group(click.Group):
    """Turns the config machinery's errors into one line and an exit status, never a traceback."""

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


def _runs_option(f: Any) -> Any:
    return click.option(
        "--runs-dir",
        type=_RUNS_DIR,
        envvar="NANIGPT_RUNS_DIR",
        default="runs",
        show_default="$NANIGPT_RUNS_DIR, else ./runs",
        help="Where runs live.",
    )(f)


def _flag_option(flag: Any) -> Any:
    """The click option of one runtime flag (nanigpt.training.flags)."""
    if flag.kind == "switch":
        decl = f"{flag.option}/--no-{flag.option[2:]}"
        return click.option(decl, flag.name, default=flag.default, show_default=True, help=flag.help)
    if flag.kind == "tristate":  # unset is "auto"; the option gives the first and last choices
        decl = f"{flag.option}/--no-{flag.option[2:]}"
        return click.option(decl, flag.name, default=None, help=flag.help)
    if flag.kind == "flag":
        return click.option(flag.option, flag.name, is_flag=True, default=False, help=flag.help)
    if flag.kind == "multi":
        return click.option(flag.option, flag.name, type=click.Choice(flag.type), multiple=True, default=(),
                            help=flag.help)
    kind = click.Choice(flag.type) if isinstance(flag.type, tuple) else flag.type
    return click.option(flag.option, flag.name, type=kind, default=flag.default, metavar=flag.metavar,
                        show_default=flag.default is not None, help=flag.help)


def _runtime_options(*names: str) -> Any:
    """The runtime flags `names` (default: all of them), from the one table that declares them."""
    from nanigpt.training.flags import BY_NAME, FLAGS

    flags = [BY_NAME[n] for n in names] if names else FLAGS

    def decorate(f: Any) -> Any:
        for flag in reversed(flags):
            f = _flag_option(flag)(f)
        return f

    return decorate


def _spec_complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    from nanigpt._cli_complete import complete_spec

    return complete_spec(ctx, incomplete)


def _hash_complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    from nanigpt._cli_complete import complete_hash

    return complete_hash(ctx, incomplete)


def _target_complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    from nanigpt._cli_complete import complete_target

    return complete_target(ctx, incomplete)


def _version() -> str:
    import nanigpt

    return nanigpt.__version__


@click.group("nanigpt", cls=_Group, context_settings=_CONTEXT)
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


@cli.command(context_settings=_CONTEXT, short_help="Resolve a spec, check it, train it into runs/<hash>/.")
@click.argument("spec", nargs=-1, shell_complete=_spec_complete)
@click.option("--dry-run", is_flag=True, help="Resolve and describe the run (config, hash, size); train nothing.")
@click.option("--strict", is_flag=True, help="A token that does nothing (a later one undoes all it set) is an error.")
@_runtime_options()
@_runs_option
def train(spec: tuple[str, ...], dry_run: bool, strict: bool, runs_dir: str, **flags: Any) -> None:
    """Resolve SPEC, check it, and train it into runs/<hash>/.

    Prints the short hash and the run directory at once. The same spec again reports a finished
    run and does nothing, and resumes an interrupted or failed one (--fresh: starts it over).
    Under torchrun every process resolves the spec; only rank 0 writes the run directory.
    How the run executes (the options below) is recorded in attempts.jsonl, never hashed.

    \b
    Examples:
      nanigpt train                                  # preset:small on the built-in corpus
      nanigpt train preset:small +large lr=1e-4
      nanigpt train run:3f2a train.steps=5000        # fork a past run
      nanigpt train preset:tiny --dry-run            # config, hash, parameters, FLOPs
      torchrun --nproc-per-node 8 -m nanigpt train preset:small --parallel fsdp

    \b
    Exit status: 0 trained (or already finished); 1 the run failed (status.json says why;
    everything written is kept); 2 bad input (nothing written under the runs directory);
    3 another process is training this run (its pid and host are named); 130 interrupted
    (train again to resume).
    """
    from nanigpt._cli_train import train_command

    train_command(spec, dry_run=dry_run, strict=strict, runs_dir=runs_dir, flags=flags)


@cli.command(context_settings=_CONTEXT, short_help="Train every member of a spec with axes (lr=1e-4,3e-4).")
@click.argument("spec", nargs=-1, shell_complete=_spec_complete)
@click.option("--dry-run", is_flag=True, help="Resolve every member and print the table; write and train nothing.")
@click.option("--strict", is_flag=True, help="A token that does nothing (a later one undoes all it set) is an error.")
@click.option("--max-members", type=click.IntRange(1), default=256, show_default=True,
              help="Refuse a sweep with more members than this.")
@click.option("--jobs", type=click.IntRange(1), default=1, show_default=True,
              help="Members trained at once; the cores are divided among them.")
@click.option("--executor", type=click.Choice(["local", "slurm"]), default=None,
              help="Run each member as a job through submitit: on this machine, or on Slurm (extra: slurm).")
@click.option("--retry-failed", is_flag=True, help="Also train members whose run failed before (a diverged run fails again).")
@click.option("--partition", default=None, help="Slurm: the partition.")
@click.option("--time", "time_limit", default=None, metavar="MINUTES|HH:MM:SS", help="Slurm: each job's time limit.")
@click.option("--nodes", type=click.IntRange(1), default=1, show_default=True, help="Slurm: nodes per member.")
@click.option("--gpus-per-node", type=click.IntRange(0), default=0, show_default=True, help="Slurm: GPUs per node.")
@click.option("--slurm-opt", "slurm_opt", multiple=True, metavar="KEY=VALUE",
              help="Slurm: another sbatch option, e.g. account=lab (repeatable).")
@_runtime_options()
@_runs_option
def sweep(spec: tuple[str, ...], dry_run: bool, strict: bool, max_members: int, jobs: int, executor: str | None,
          retry_failed: bool, partition: str | None, time_limit: str | None, nodes: int, gpus_per_node: int,
          slurm_opt: tuple[str, ...], runs_dir: str, **flags: Any) -> None:
    """Train every member of SPEC: the tokens of `train`, where a token that lists alternatives
    separated by commas is an axis, and the members are the grid of all axes.

    \b
    Axes:
      lr=1e-4,3e-4                   values of a field (`...name=a,b` likewise)
      betas=[0.9,0.95],[0.9,0.99]    values of a tuple field, each in brackets
      optim=adamw,muon               variants of a section
      +large,+fp8,+none              patches, each with its own +; +none applies none
      preset:tiny,small              start points (first token; run:ab12,cd34 likewise)
      @g:lr=1e-4,3e-4 @g:warmup_steps=100,200
                                     axes marked with the same @NAME: vary together
      \\,                             a literal comma inside a value (quote the token)

    Every member resolves before anything runs; members with the same hash are one run. The
    sweep is recorded in runs/sweeps/<hash>.json. Running it again does only the work left:
    finished members are skipped, interrupted ones resume, failed ones are retried only with
    --retry-failed. Runtime options pass to every member and are never hashed.

    \b
    Examples:
      nanigpt sweep preset:tiny lr=1e-3,3e-3 optim=adamw,muon --dry-run
      nanigpt sweep preset:tiny @a:lr=1e-3,3e-3 @a:warmup_steps=2,4 --jobs 2
      nanigpt sweep preset:small 'seed=1,2,3' --executor slurm --partition gpu --gpus-per-node 1

    \b
    Exit status: 0 every member finished (now or before); 1 a member failed (the others ran);
    2 bad input (nothing written); 130 interrupted (run the sweep again to resume).
    """
    from nanigpt._cli_sweep import sweep_command

    slurm = {"partition": partition, "time": time_limit, "nodes": nodes, "gpus_per_node": gpus_per_node,
             "extra": slurm_opt}
    sweep_command(spec, dry_run=dry_run, strict=strict, max_members=max_members, jobs=jobs, executor=executor,
                  retry_failed=retry_failed, slurm=slurm, runs_dir=runs_dir, flags=flags)


@cli.command(context_settings=_CONTEXT, short_help="The sweeps, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@_runs_option
def sweeps(as_json: bool, runs_dir: str) -> None:
    """List the sweeps (runs/sweeps/): hash, members finished, age, spec. `nanigpt show
    sweep:PREFIX` shows one with its members.

    \b
    Example:
      nanigpt sweeps
    """
    from nanigpt._cli_sweep import sweeps_command

    sweeps_command(as_json=as_json, runs_dir=runs_dir)


@cli.command(context_settings=_CONTEXT, short_help="A run's or a spec's config, recipe and status.")
@click.argument("target", nargs=-1, shell_complete=_target_complete)
@click.option("--blame", is_flag=True, help="Show beside each value the token that set it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@click.option("--strict", is_flag=True, help="A token that does nothing (a later one undoes all it set) is an error.")
@click.option("--spec", "as_spec", is_flag=True,
              help="Print one line that rebuilds this config from the schema's defaults, with no preset or patch.")
@_runs_option
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


@cli.command(context_settings=_CONTEXT, short_help="Field-by-field difference of two runs or specs.")
@click.argument("a", shell_complete=_hash_complete)
@click.argument("b", shell_complete=_hash_complete)
@click.option("--tokens", is_flag=True, help="Print the `path=value` tokens that turn A into B.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@_runs_option
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


@cli.command(context_settings=_CONTEXT, short_help="The runs, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@_runs_option
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


@cli.command(context_settings=_CONTEXT, short_help="A table of runs: the fields that differ, losses, speed.")
@click.argument("runs", nargs=-1, metavar="RUNS...", shell_complete=_hash_complete)
@click.option("--all", "all_runs", is_flag=True, help="Every run in the runs directory.")
@_where_option
@click.option("--columns", metavar="A,B", help="Show these config fields instead of the ones that differ.")
@click.option("--sort", metavar="COL", help="Order by this column; -COL for descending (--sort=-lr).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as one JSON document.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the rows as CSV.")
@_runs_option
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


@cli.command(context_settings=_CONTEXT, short_help="The runs' loss curves as a PNG.")
@click.argument("runs", nargs=-1, metavar="RUNS...", shell_complete=_hash_complete)
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
@_runs_option
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


@cli.command(context_settings=_CONTEXT, short_help="The presets (preset:NAME).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
def presets(as_json: bool) -> None:
    """List the presets (`preset:NAME`): shipped, ./presets, and $NANIGPT_PRESETS.

    \b
    Example:
      nanigpt presets
    """
    from nanigpt._cli_view import registry_command

    registry_command("presets", as_json=as_json)


@cli.command(context_settings=_CONTEXT, short_help="The patches (+NAME).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
def patches(as_json: bool) -> None:
    """List the patches (`+NAME`, `+NAME:ARGS`): shipped, ./presets, and $NANIGPT_PRESETS.

    \b
    Example:
      nanigpt patches
    """
    from nanigpt._cli_view import registry_command

    registry_command("patches", as_json=as_json)


@cli.command(context_settings=_CONTEXT, short_help="The config fields: type, default, description.")
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


@cli.command(context_settings=_CONTEXT, short_help="Text generated from a trained run.")
@click.argument("run", shell_complete=_hash_complete)
@click.option("--prompt", default="", help="Text to continue (default: start after a newline).")
@click.option("--tokens", type=int, default=256, show_default=True, help="How many tokens to generate.")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="0 is greedy.")
@click.option("--top-k", type=int, default=None, help="Sample among the K most likely tokens only.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same text (on one device).")
@_runtime_options("device")
@_runs_option
def sample(run: str, prompt: str, tokens: int, temperature: float, top_k: int | None, seed: int, device: str,
           runs_dir: str) -> None:
    """Generate text from a run's newest checkpoint (RUN: a hash or unique prefix).

    \b
    Examples:
      nanigpt sample 3f2a --prompt "ROMEO:" --tokens 200
      nanigpt sample 3f2a --temperature 0.8 --top-k 40 --seed 1
    """
    from nanigpt.store import RunStore
    from nanigpt.training.sampling import check_args, sample as sample_text

    # Bad flags and a tampered run are refused before torch even loads.
    check_args(tokens, temperature, top_k)
    run_dir = RunStore(runs_dir).run(run)
    run_dir.config_dict()
    text = sample_text(run_dir, prompt, tokens, temperature, top_k, seed, device)
    click.echo(text)


@cli.command(context_settings=_CONTEXT, short_help="Tokenize text files into token shards (llm.c's .bin format).")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False),
              help="The folder to write: train/ and val/ shards, the tokenizer, manifest.json.")
@click.option("--tokenizer", default="byte", show_default=True, metavar="KIND",
              help="byte, bpe:VOCAB (learned here from the train text), file:PATH (a Hugging Face "
                   "tokenizer.json) or tiktoken:NAME (from TIKTOKEN_CACHE_DIR; nothing is downloaded).")
@click.option("--val-fraction", type=float, default=None, metavar="F",
              help="Val is the tail F of the text (default 0.1; 0: no val split).")
@click.option("--val", "val_sources", multiple=True, metavar="SOURCE", help="Val from these sources instead (repeatable).")
@click.option("--shard-tokens", type=int, default=100_000_000, show_default=True, metavar="N",
              help="Tokens per shard (the last one holds the rest).")
@click.option("--workers", type=int, default=None, metavar="N", help="Tokenizing processes (default: one per core).")
@click.option("--progress/--no-progress", default=None, help="Progress line (default: on a terminal).")
def prepare(sources: tuple[str, ...], out: str, tokenizer: str, val_fraction: float | None,
            val_sources: tuple[str, ...], shard_tokens: int, workers: int | None, progress: bool | None) -> None:
    """Tokenize text into token shards that `train` reads (data=shards), with the tokenizer and a
    manifest.json beside them. SOURCE is a text file, a folder (its *.txt files) or a quoted glob
    ('corpus/**/*.md'); files are read in the order given, each folder's and glob's sorted by name.

    Streams with bounded memory and tokenizes on every core. The same sources and options again
    do nothing; an --out that holds shards of other sources is refused. Nothing is downloaded.

    \b
    Examples:
      nanigpt prepare corpus/ --out data/mine --tokenizer bpe:8192
      nanigpt prepare book.txt --out data/gpt2 --tokenizer tiktoken:gpt2 --val-fraction 0.005
      nanigpt train preset:gpt2 data.train=data/gpt2/train data.val=data/gpt2/val
    """
    from nanigpt._cli_prepare import prepare_command

    prepare_command(sources, out, tokenizer=tokenizer, val_fraction=val_fraction, val_sources=val_sources,
                    shard_tokens=shard_tokens, workers=workers, progress=progress)

