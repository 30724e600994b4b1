"""What the command line's modules share: the context settings, the --runs-dir option and the
shell-completion callbacks (their engine, nanigpt/_cli_complete.py, loads only on a completion)."""

from __future__ import annotations

from typing import Any

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# One instance for every command's --runs-dir: building a click.Path looks up its translated name.
# Paths reach the commands as strings: pathlib's import would add to every start-up.
RUNS_DIR = click.Path(file_okay=False)


def runs_option(f: Any) -> Any:
    return click.option(
        "--runs-dir",
        type=RUNS_DIR,
        envvar="NANIGPT_RUNS_DIR",
        default="runs",
        show_default="$NANIGPT_RUNS_DIR, else ./runs",
        help="Where runs live.",
    )(f)


def spec_complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    from nanigpt._cli_complete import complete_spec

    return complete_spec(ctx, incomplete)


def hash_complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    from nanigpt._cli_complete import complete_hash

    return complete_hash(ctx, incomplete)


def target_complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    from nanigpt._cli_complete import complete_target

    return complete_target(ctx, incomplete)
