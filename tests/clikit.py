"""The command line invoked in-process, as the training tests use it."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from nanigpt.cli import cli


def invoke(args, runs, **env):
    """`nanigpt ARGS` with runs in `runs`, no colour and torch on one thread."""
    env = {"NANIGPT_RUNS_DIR": str(runs), "NO_COLOR": "1", "OMP_NUM_THREADS": "1", **env}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


_NEVER_LOADS = """
import json, sys
from nanigpt.cli import cli
module, commands = sys.argv[1], json.loads(sys.argv[2])
for args in commands:
    try:
        cli.main(args, prog_name="nanigpt", standalone_mode=False)
    except SystemExit:
        pass
    assert module not in sys.modules, f"{args} imported {module}"
print(f"{module} never loaded", file=sys.stderr)
"""


def run_without_loading(module: str, commands: list[list[str]], env: dict[str, str]) -> subprocess.CompletedProcess:
    """`commands` one after another in a fresh interpreter, each as `nanigpt` runs it; the process
    fails if any of them loads `module`."""
    r = subprocess.run([sys.executable, "-c", _NEVER_LOADS, module, json.dumps(commands)], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0 and r.stderr.endswith(f"{module} never loaded\n"), r.stderr
    return r
