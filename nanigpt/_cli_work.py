"""The commands that do work: train, sweep, sample, prepare. The group (nanigpt/cli.py) builds
them only when one is asked for, or listed by --help: their options, the runtime flags' among
them, would otherwise add to the start-up of `show`, `diff` and `runs`."""

from __future__ import annotations

from typing import Any

import click

from nanigpt._cli_options import CONTEXT, hash_complete, runs_option, spec_complete


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


@click.command(context_settings=CONTEXT, short_help="Resolve a spec, check it, train it into runs/<hash>/.")
@click.argument("spec", nargs=-1, shell_complete=spec_complete)
@click.option("--dry-run", is_flag=True, help="Resolve and describe the run (config, hash, size); train nothing.")
@click.option("--strict", is_flag=True, help="A token that does nothing (a later one undoes all it set) is an error.")
@_runtime_options()
@runs_option
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


@click.command(context_settings=CONTEXT, short_help="Train every member of a spec with axes (lr=1e-4,3e-4).")
@click.argument("spec", nargs=-1, shell_complete=spec_complete)
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
@runs_option
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


@click.command(context_settings=CONTEXT, short_help="Text generated from a trained run.")
@click.argument("run", shell_complete=hash_complete)
@click.option("--prompt", default="", help="Text to continue (default: start after a newline).")
@click.option("--tokens", type=int, default=256, show_default=True, help="How many tokens to generate.")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="0 is greedy.")
@click.option("--top-k", type=int, default=None, help="Sample among the K most likely tokens only.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same text (on one device).")
@_runtime_options("device")
@runs_option
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


@click.command(context_settings=CONTEXT, short_help="Tokenize text files into token shards (llm.c's .bin format).")
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


COMMANDS = (train, sweep, sample, prepare)
