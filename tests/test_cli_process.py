"""The CLI as a user runs it: the installed entry point, `python -m nanigpt`, start-up that never
imports torch outside `train` and `sample`, and shell completion through a real bash."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from clikit import run_without_loading

from nanigpt.conf import canonical_bytes, config_hash, short_hash
from nanigpt.store.rundir import RunStore

VENV_BIN = Path(sys.executable).parent
NANIGPT = VENV_BIN / "nanigpt"


def env_for(runs: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("_NANIGPT")}
    return {**env, "NANIGPT_RUNS_DIR": str(runs), "NO_COLOR": "1", "PATH": f"{VENV_BIN}:{env.get('PATH', '')}",
            "XDG_CACHE_HOME": str(runs.parent / "cache"), **extra}


def make_run(runs: Path, cfg: dict) -> str:
    h = config_hash(cfg)
    RunStore(runs).create(h, canonical_bytes(cfg), {"tokens": ["preset:tiny"], "start": "preset:tiny", "blame": {}})
    return h


def test_installed_entry_point_and_python_dash_m(tmp_path):
    r = subprocess.run([str(NANIGPT), "--version"], capture_output=True, text=True, env=env_for(tmp_path))
    assert (r.returncode, r.stdout, r.stderr) == (0, "nanigpt 0.1.0\n", "")
    r = subprocess.run([sys.executable, "-m", "nanigpt", "--help"], capture_output=True, text=True, env=env_for(tmp_path))
    assert r.returncode == 0 and r.stdout.startswith("Usage: nanigpt [OPTIONS] COMMAND [ARGS]...")
    r = subprocess.run([str(NANIGPT), "show", "preset:tiny", "lr=abc"], capture_output=True, text=True,
                       env=env_for(tmp_path))
    assert (r.returncode, r.stdout, r.stderr) == (
        2, "", "Error: in `lr=abc`: `optim.lr` expects a float, got `abc` (e.g. lr=0.001)\n"
    )
    # a misspelt command is matched against every command, the ones built on first use included
    r = subprocess.run([str(NANIGPT), "trian"], capture_output=True, text=True, env=env_for(tmp_path))
    assert (r.returncode, r.stderr.splitlines()[-1]) == (2, "Error: No such command 'trian'. Did you mean 'train'?")
    # a console script installed before nanigpt/__main__.py took over still runs
    old_script = "import sys\nfrom nanigpt.cli import main\nsys.argv = ['nanigpt', '--version']\nmain()"
    r = subprocess.run([sys.executable, "-c", old_script], capture_output=True, text=True, env=env_for(tmp_path))
    assert (r.returncode, r.stdout) == (0, "nanigpt 0.1.0\n")


_NO_TORCH = textwrap.dedent(
    """
    import os, sys
    from nanigpt.cli import cli
    a, b = sys.argv[1], sys.argv[2]
    commands = [
        ["--help"], ["show", a], ["show", a, "--blame", "--json"], ["show", "preset:tiny", "+large"],
        ["diff", a, b], ["diff", a, "preset:tiny +large", "--tokens"], ["runs"], ["runs", "--json"],
        ["presets"], ["patches"], ["fields"], ["fields", "optim"], ["train", "--help"], ["sample", "--help"],
        ["prepare", "--help"], ["sweep", "preset:tiny", "lr=1e-3,2e-3", "optim=adamw,muon", "--dry-run"],
        ["sweeps"], ["sweep", "--help"],
    ]
    for args in commands:
        try:
            cli.main(args, prog_name="nanigpt", standalone_mode=False)
        except SystemExit:
            pass
        assert "torch" not in sys.modules, f"{args} imported torch"
        # nor prepare's libraries, which would slow every start-up too
        assert not {"tokenizers", "tiktoken", "numpy"} & set(sys.modules), f"{args} imported a heavy library"
    os.environ.update(_NANIGPT_COMPLETE="bash_complete", COMP_LINE_HEAD="nanigpt train preset:tiny model.n_")
    try:
        cli.main([], prog_name="nanigpt")
    except SystemExit:
        pass
    assert not {"torch", "tokenizers", "tiktoken", "numpy"} & set(sys.modules), "completion imported a heavy library"
    print("torch-free", file=sys.stderr)
    """
)


def test_reading_commands_and_completion_never_import_torch(tmp_path):
    runs = tmp_path / "runs"
    a = make_run(runs, {"model": {"n_layer": 2}, "seed": 1})
    b = make_run(runs, {"model": {"n_layer": 4}, "seed": 1})
    r = subprocess.run([sys.executable, "-c", _NO_TORCH, a[:8], b[:8]], capture_output=True, text=True,
                       env=env_for(runs))
    assert r.returncode == 0, r.stderr
    assert r.stderr.endswith("torch-free\n")


def test_reading_commands_work_on_plain_string_paths(tmp_path):
    # pathlib (with urllib.parse and ipaddress, which it imports) is ~5% of a `show`: the store,
    # the preset folders and these commands work on strings.
    runs = tmp_path / "runs"
    a = make_run(runs, {"model": {"n_layer": 2}, "seed": 1})[:8]
    b = make_run(runs, {"model": {"n_layer": 4}, "seed": 1})[:8]
    commands = [["show", "preset:tiny", "+large", "lr=1e-4"], ["show", a], ["diff", a, b], ["runs"]]
    run_without_loading("pathlib", commands, env_for(runs))


_BASH = textwrap.dedent(
    """
    eval "$(_NANIGPT_COMPLETE=bash_source nanigpt)"
    compopt() { echo "compopt $1 $2" >&2; }  # only callable inside a real completion
    COMP_WORDBREAKS=$'"\\'><=;|&(:'
    complete_line() {
        COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=($1); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        COMPREPLY=()
        _nanigpt_completion nanigpt
        echo "$1 => ${COMPREPLY[*]}"
    }
    complete_line "nanigpt tr"
    complete_line "nanigpt train preset:ti"
    complete_line "nanigpt train preset:tiny +la"
    complete_line "nanigpt train preset:tiny model.n_l"
    complete_line "nanigpt train preset:tiny optim=mu"
    complete_line "nanigpt show %s"
    complete_line "nanigpt train run:%s"
    """
)


def test_bash_completion_end_to_end(tmp_path):
    runs = tmp_path / "runs"
    h = make_run(runs, {"model": {"n_layer": 2}})
    script = _BASH % (h[:3], h[:3])
    r = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, env=env_for(runs))
    assert r.returncode == 0, r.stderr
    # Bash splits the word at `:` and `=` and replaces only the text after the last of them.
    assert r.stdout.splitlines() == [
        "nanigpt tr => train",
        "nanigpt train preset:ti => tiny",
        "nanigpt train preset:tiny +la => +large",
        "nanigpt train preset:tiny model.n_l => model.n_layer=",
        "nanigpt train preset:tiny optim=mu => muon",
        f"nanigpt show {h[:3]} => {short_hash(h)}",
        f"nanigpt train run:{h[:3]} => {short_hash(h)}",
    ]
    assert "compopt -o nospace" in r.stderr  # `model.n_layer=` keeps the cursor after the `=`


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_for_each_shell(tmp_path, shell):
    r = subprocess.run([str(NANIGPT)], capture_output=True, text=True,
                       env=env_for(tmp_path, _NANIGPT_COMPLETE=f"{shell}_source"))
    assert r.returncode == 0 and "_nanigpt_completion" in r.stdout
    assert "nospace" in r.stdout or shell == "fish"


def test_completion_protocols_of_zsh_and_fish(tmp_path):
    env = env_for(tmp_path, _NANIGPT_COMPLETE="zsh_complete", COMP_WORDS="nanigpt train preset:tiny model.n_l",
                  COMP_CWORD="3")
    r = subprocess.run([str(NANIGPT)], capture_output=True, text=True, env=env)
    assert r.stdout.splitlines() == ["nospace", "model.n_layer=", "_"]
    env = env_for(tmp_path, _NANIGPT_COMPLETE="fish_complete", COMP_WORDS="nanigpt train preset:ti", COMP_CWORD="preset:ti")
    r = subprocess.run([str(NANIGPT)], capture_output=True, text=True, env=env)
    assert r.stdout.splitlines() == ["plain,preset:tiny\tTrains in seconds on a CPU: for tests and smoke runs."]


def test_completion_cache_follows_the_presets_files(tmp_path):
    """Completion data is cached; adding a presets file (or editing one) makes a new cache."""
    mine = tmp_path / "mine"
    mine.mkdir()
    env = env_for(tmp_path / "runs", _NANIGPT_COMPLETE="bash_complete", COMP_LINE_HEAD="nanigpt train preset:",
                  NANIGPT_PRESETS=str(mine))

    def complete() -> list[str]:
        return subprocess.run([str(NANIGPT)], capture_output=True, text=True, env=env).stdout.splitlines()

    assert "plain,tiny" in complete() and "plain,clitest" not in complete()
    assert len(list((tmp_path / "cache" / "nanigpt").glob("complete-*.json"))) == 1
    (mine / "exp.py").write_text(
        "from nanigpt.conf import preset\nfrom nanigpt.config import RunConfig\n\n"
        "@preset\ndef clitest() -> RunConfig:\n    \"\"\"A preset of the CLI tests.\"\"\"\n    return RunConfig()\n"
    )
    assert "plain,clitest" in complete()
    assert len(list((tmp_path / "cache" / "nanigpt").glob("complete-*.json"))) == 2


def test_a_dry_run_loads_torch_but_not_its_compiler(tmp_path):
    # `train --dry-run` counts parameters on the meta device: torch, not torch._dynamo (about a
    # second of start-up), which nothing in a dry run uses
    code = (
        "import sys\nfrom nanigpt.cli import cli\n"
        "try:\n    cli.main(['train', 'preset:gpt2', '--dry-run'], prog_name='nanigpt', standalone_mode=False)\n"
        "except SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'torch._dynamo' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env_for(tmp_path / "runs"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "True False"
    assert "params    124,373,760" in r.stdout


_GC_POLICY = textwrap.dedent(
    """
    import gc, sys
    import nanigpt._cli_train, nanigpt._cli_view
    from nanigpt.__main__ import main

    seen = {}
    def spy(name, real):
        def call(*args, **kwargs):
            seen[name] = gc.isenabled()
            return real(*args, **kwargs)
        return call
    nanigpt._cli_view.show_command = spy("show", nanigpt._cli_view.show_command)
    nanigpt._cli_train.train_command = spy("train", nanigpt._cli_train.train_command)
    sys.argv = ["nanigpt", *sys.argv[1:]]
    try:
        main()
    except SystemExit:
        pass
    print(seen)
    """
)


@pytest.mark.parametrize(("args", "enabled"), [
    (["show", "preset:tiny"], False),
    (["train", "preset:tiny", "--dry-run"], True),
])
def test_the_collector_is_off_for_quick_commands_and_back_on_for_long_ones(tmp_path, args, enabled):
    # The console script starts with the cycle collector off (start-up makes only objects that
    # live until exit); `train` and the other long commands turn it back on before their work.
    r = subprocess.run([sys.executable, "-c", _GC_POLICY, *args], capture_output=True, text=True,
                       env=env_for(tmp_path / "runs"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == repr({args[0]: enabled})
