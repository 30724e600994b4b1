"""Preset registries: files loaded by path from the shipped folder, ./presets and NANIGPT_PRESETS."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import nanigpt
from nanigpt.conf import Patch, PatchFactory, Preset, Registry, RegistryError
from nanigpt.config import load_registry, resolve
from nanigpt.config import PRESETS_ENV as ENV_VAR, preset_dirs, shipped_presets

REPO = Path(__file__).resolve().parents[1]

USER_FILE = '''
from nanigpt.conf import identity, patch, preset
from nanigpt.config import L, RunConfig


@preset
def mine() -> RunConfig:
    """My experiment."""
    return L.train.seed.set(RunConfig(), 7)


@patch
def seed9(cfg: RunConfig) -> RunConfig:
    """Seed 9."""
    return L.train.seed.set(cfg, 9)
'''


def write(d: Path, name: str, text: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(textwrap.dedent(text))
    return d / name


def test_shipped_entries_have_name_doc_and_source():
    reg = Registry.load([shipped_presets()])
    assert {"gpt2", "small", "tiny"} <= set(reg.presets) and list(reg.presets) == sorted(reg.presets)
    assert {"bf16", "fp8", "large", "muon", "with_lr"} <= set(reg.patches)
    for e in [*reg.presets.values(), *reg.patches.values()]:
        assert e.doc and e.summary and Path(e.source).resolve().parent == REPO / "presets"
    assert Path(reg.presets["tiny"].source).name == "shipped.py"
    assert isinstance(reg.presets["small"], Preset)
    assert isinstance(reg.patches["large"], Patch) and isinstance(reg.patches["with_lr"], PatchFactory)


def test_shipped_presets_ship_inside_the_package():
    # nanigpt/_presets is what a wheel installs; in a checkout it is the top-level presets/
    inside = Path(nanigpt.__file__).parent / "_presets"
    assert inside.is_dir() and inside.resolve() == (REPO / "presets").resolve()
    assert Path(shipped_presets()) == inside


def test_presets_are_never_imported_as_a_top_level_module():
    code = (
        "import sys; from nanigpt.config import load_registry; r = load_registry(); r.presets['small']; "
        "assert 'presets' not in sys.modules, 'imported as presets'; "
        "print(sorted(m for m in sys.modules if 'presets' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert "_nanigpt_presets_shipped_" in out.stdout


def test_user_presets_in_cwd(tmp_path, monkeypatch):
    write(tmp_path / "presets", "mine.py", USER_FILE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    reg = load_registry()
    assert "mine" in reg.presets and "small" in reg.presets and "seed9" in reg.patches
    # `identity`, imported by the file, is not registered as the file's own
    assert "identity" not in reg.patches
    assert load_registry().presets.keys() == reg.presets.keys()  # loaded again: the same names
    r = resolve(["preset:mine", "+seed9"])
    assert r.config.train.seed == 9 and r.blame["train.seed"] == "+seed9"


@pytest.mark.parametrize("situation", ["bare", "a presets folder here", "folders in the environment", "both"])
def test_the_completion_cache_watches_every_presets_folder(tmp_path, monkeypatch, situation):
    # Completion keys its cache on the preset folders without importing nanigpt.config (that
    # import costs every TAB press about a quarter of the floor), so it names them itself: here the
    # two must agree, or an edited presets file would complete from a stale cache.
    from nanigpt._cli_complete import _presets_dirs

    work = tmp_path / "work"
    work.mkdir()
    if situation in ("a presets folder here", "both"):
        write(work / "presets", "here.py", USER_FILE)
    if situation in ("folders in the environment", "both"):
        a, b = write(tmp_path / "a", "one.py", USER_FILE).parent, tmp_path / "b"
        b.mkdir()
        monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(a), str(b)]))
    else:
        monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(work)
    watched = {os.path.realpath(d) for d in _presets_dirs(Path(nanigpt.__file__).resolve().parent)}
    expected = {"bare": 1, "a presets folder here": 2, "folders in the environment": 3, "both": 4}[situation]
    assert len(preset_dirs()) == expected and set(preset_dirs()) <= watched


def test_presets_dirs_from_the_environment(tmp_path, monkeypatch):
    a = write(tmp_path / "a", "one.py", USER_FILE).parent
    b = write(
        tmp_path / "b",
        "two.py",
        '''
        from nanigpt.conf import patch_factory, set_
        from nanigpt.config import L

        @patch_factory
        def seed(n: int):
            """Any seed."""
            return set_(L.train.seed, n)
        ''',
    ).parent
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_VAR, os.pathsep.join([str(a), str(b)]))
    assert resolve(["preset:mine", "+seed:11"]).config.train.seed == 11


def test_duplicate_names_name_both_files(tmp_path):
    f1 = write(tmp_path / "a", "one.py", USER_FILE)
    f2 = write(tmp_path / "b", "two.py", USER_FILE)
    with pytest.raises(RegistryError) as e:
        Registry.load([f1.parent, f2.parent])
    assert str(e.value) == f"two presets are called `mine`: in {f1} and in {f2} (rename one of them)"


def test_a_user_patch_may_not_shadow_a_shipped_one(tmp_path, monkeypatch):
    f = write(
        tmp_path / "presets",
        "mine.py",
        '''
        from nanigpt.conf import patch

        @patch
        def large(cfg):
            """Not the shipped one."""
            return cfg
        ''',
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(RegistryError, match=rf"two patches are called `large`: in .*shipped.py and in {f}"):
        load_registry()


def test_missing_env_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nope"))
    with pytest.raises(RegistryError, match=rf"{ENV_VAR} names `.*nope`, which does not exist"):
        load_registry()


def test_an_unreadable_presets_folder_is_named(tmp_path, monkeypatch):
    folder = write(tmp_path / "locked", "one.py", USER_FILE).parent
    monkeypatch.setenv(ENV_VAR, str(folder))
    real_access = os.access
    # root reads every folder, so the permission bits are played by os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if os.fspath(p) == str(folder) else real_access(p, mode))
    with pytest.raises(RegistryError, match=r"cannot read the presets folder .*locked \(check its permissions\)"):
        load_registry()


def test_a_file_that_fails_to_load(tmp_path):
    f = write(tmp_path, "bad.py", USER_FILE + "\nraise ValueError('broken')\n")
    reg = Registry.load([tmp_path])  # read, not run
    assert [e.name for e in reg.listed("presets")] == ["mine"]
    with pytest.raises(RegistryError) as e:
        reg.preset("mine")
    assert str(e.value) == f"presets file {f} failed to load: ValueError: broken"
    with pytest.raises(RegistryError) as e:
        write(tmp_path, "bad.py", "def broken(:\n")
        Registry.load([tmp_path])
    assert str(e.value).startswith(f"presets file {f} cannot be read: SyntaxError:")


MARKER_FILE = '''
from pathlib import Path

from nanigpt.conf import patch, patch_factory, preset, set_
from nanigpt.config import L, RunConfig

Path(__file__).with_name("RAN").write_text("this file ran")


@preset
def theirs() -> RunConfig:
    """Their experiment."""
    return RunConfig()


@patch(name="their-seed")
def seed(cfg: RunConfig) -> RunConfig:
    """Their seed."""
    return L.train.seed.set(cfg, 3)


@patch_factory
def depth(n: int, width: int = 64):
    """Their depth."""
    return set_(L.model.n_layer, n)
'''


def test_reading_presets_runs_no_one_s_code(tmp_path, monkeypatch):
    # a cloned repository's presets/ runs only when a spec uses a name it defines: not for a
    # shipped preset, the listings, `fields` or completion
    from click.testing import CliRunner

    from nanigpt.cli import cli

    f = write(tmp_path / "presets", "theirs.py", MARKER_FILE)
    marker = f.with_name("RAN")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_VAR, raising=False)
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "NO_COLOR": "1"}
    for args in (["show", "preset:small"], ["presets"], ["patches"], ["fields", "lr"], ["diff", "preset:tiny", "preset:small"]):
        r = CliRunner().invoke(cli, [*args], env=env)
        assert r.exit_code == 0, (args, r.output)
        assert not marker.exists(), f"{args} ran the presets file"
    listing = CliRunner().invoke(cli, ["patches"], env=env).output
    assert "+their-seed" in listing and "+depth:N,[WIDTH]" in listing and "Their depth." in listing
    from nanigpt._cli_complete import build_completion_data

    data = build_completion_data()
    assert ["theirs", "Their experiment."] in data["presets"] and ["+depth:", "Their depth."] in data["patches"]
    assert not marker.exists(), "completion ran the presets file"
    # a spec that names one of its entries runs it, once
    r = CliRunner().invoke(cli, ["show", "preset:tiny", "+their-seed", "--json"], env=env)
    assert r.exit_code == 0 and marker.exists()


def test_a_name_the_reader_cannot_see_is_refused_when_the_file_runs(tmp_path):
    f = write(tmp_path, "hidden.py", USER_FILE + '''
from nanigpt.conf import patch as _p


def _hidden(cfg):
    """Hidden."""
    return cfg


hidden = _p(_hidden)
''')
    reg = Registry.load([tmp_path])
    assert "hidden" not in reg.patches  # the reader sees no decorated function called `hidden`
    with pytest.raises(RegistryError, match=rf"presets file {f} defines patch `_hidden` in a way naniGPT cannot read"):
        reg.preset("mine")


def test_unknown_names_suggest():
    reg = Registry.load([shipped_presets()])
    with pytest.raises(Exception, match=r"did you mean `\+fp8`"):
        reg.patch("fp9")
    with pytest.raises(Exception, match=r"did you mean `preset:tiny`"):
        reg.preset("tini")
    with pytest.raises(Exception, match=r"did you mean `preset:tiny`"):  # case first
        reg.preset("TINY")


@pytest.mark.slow
def test_wheel_ships_the_presets(tmp_path):
    # build from a copy: an in-tree build would leave build/ in the checkout
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "nanigpt", src / "nanigpt", symlinks=True, ignore=ignore)
    shutil.copytree(REPO / "presets", src / "presets", ignore=ignore)
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("nanigpt-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "nanigpt/_presets/shipped.py" in names
    assert not any(n.startswith("presets/") for n in names)
