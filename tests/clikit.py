"""The command line invoked in-process, as the training tests use it."""

from __future__ import annotations

from click.testing import CliRunner

from nanigpt.cli import cli


def invoke(args, runs, **env):
    """`nanigpt ARGS` with runs in `runs`, no colour and torch on one thread."""
    env = {"NANIGPT_RUNS_DIR": str(runs), "NO_COLOR": "1", "OMP_NUM_THREADS": "1", **env}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
