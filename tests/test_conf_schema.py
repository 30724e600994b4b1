"""The schema's shape, torch-freedom of the config layer, and the doctests of the public conf API."""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import nanigpt.conf
from nanigpt.conf._types import reachable_types, spec_of
from nanigpt.config import RunConfig

REPO = Path(__file__).resolve().parents[1]


def python_lines(code: str) -> list[str]:
    """The lines that `code` prints in a fresh interpreter (nothing imported yet)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return out.stdout.splitlines()


def conf_modules() -> list[str]:
    return sorted(f"nanigpt.conf.{m.name}" for m in pkgutil.iter_modules(nanigpt.conf.__path__))


def config_modules() -> list[str]:
    mods = ["nanigpt.config", "nanigpt.training.runtime"]
    mods += sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts) for p in (REPO / "nanigpt").glob("*/config.py")
    )
    return mods


def test_config_layer_never_imports_torch():
    mods = ["nanigpt.conf", *conf_modules(), *config_modules()]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "from nanigpt.config import load_registry, resolve\n"
        "reg = load_registry()\n"
        "assert reg.presets and reg.patches\n"
        "resolve(['preset:small', '+large', '+fp8', '+muon', 'lr=1e-4'])\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        f"missing = [m for m in {mods!r} if m not in sys.modules]\n"
        "print('TORCH' if bad else 'CLEAN', bad[:3], missing)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout == "CLEAN [] []\n"
    # ... and what was imported is all of it: every module of nanigpt/conf/ and every config.py
    on_disk = {".".join(p.relative_to(REPO).with_suffix("").parts) for p in (REPO / "nanigpt").rglob("config.py")}
    on_disk |= {f"nanigpt.conf.{p.stem}" for p in (REPO / "nanigpt" / "conf").glob("*.py") if p.stem != "__init__"}
    assert len(on_disk) >= 15 and on_disk <= set(mods)


@pytest.mark.parametrize("t", reachable_types(RunConfig), ids=lambda t: t.__name__)
def test_every_struct_is_frozen_kw_only_and_strict(t):
    conf = t.__struct_config__
    assert conf.frozen, f"{t.__name__} is not frozen"
    assert conf.forbid_unknown_fields, f"{t.__name__} does not forbid unknown fields"
    params = inspect.signature(t).parameters.values()
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params), f"{t.__name__} is not kw_only"


def test_union_variants_are_reached_too():
    names = {t.__name__ for t in reachable_types(RunConfig)}
    assert {"AdamW", "Muon", "SGD", "BuiltinData", "TextData", "ShardData"} <= names


def _depth(t: type) -> int:
    """Struct levels below `t` (a union variant counts as a level, like any section)."""
    subs = [v for f in spec_of(t).sections for v in f.types]
    return 1 + max(map(_depth, subs)) if subs else 0


def test_configs_nest_at_most_two_levels_below_the_root():
    assert _depth(RunConfig) <= 2


def test_union_tags_are_explicit_lowercase_names():
    for t in reachable_types(RunConfig):
        tag = t.__struct_config__.tag
        if tag is not None:
            assert isinstance(tag, str) and tag == tag.lower() and tag.isidentifier(), t


@pytest.mark.parametrize("module", ["nanigpt.conf", *conf_modules(), "nanigpt.config", "nanigpt.store.rundir"])
def test_doctests(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if module in WITH_EXAMPLES:
        assert result.attempted > 0, f"{module} lost its examples"


WITH_EXAMPLES = {"nanigpt.conf", "nanigpt.config", "nanigpt.store.rundir"} | {
    f"nanigpt.conf.{m}" for m in ("_lens", "_patch", "_spec", "_canon", "_diff", "_values", "_fields", "_suggest")
}


def test_public_api_is_typed():
    for name in nanigpt.conf.__all__:
        obj = getattr(nanigpt.conf, name)
        if inspect.isfunction(obj) and not isinstance(obj, type):
            hints = obj.__annotations__
            assert "return" in hints, f"nanigpt.conf.{name} has no return annotation"


def test_conf_is_mypy_clean(request, tmp_path):
    # STYLE 13, with pyproject's [tool.mypy]; mypy comes with the `test` extra (constraints.txt
    # pins it). Its cache lives in pytest's cache when there is one: a cold run takes ~10 s.
    pytest_cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    cache = pytest_cache.mkdir("mypy") if pytest_cache is not None else tmp_path
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(cache), "nanigpt/conf"],
        capture_output=True, text=True, cwd=REPO,
    )
    assert "No module named mypy" not in out.stderr, "install the test extra: pip install -e '.[test]' -c constraints.txt"
    assert out.returncode == 0 and out.stdout.startswith("Success: no issues found"), out.stdout + out.stderr


def test_conf_is_generic():
    # conf/ imports nothing of naniGPT outside conf/, not even for type checking, and names no
    # preset location: the app's binding (root type, default preset, presets) is nanigpt.config's
    conf_dir = Path(nanigpt.conf.__file__).parent
    for f in sorted(conf_dir.glob("*.py")):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for n in names:
                assert not n.startswith("nanigpt") or n == "nanigpt.conf" or n.startswith("nanigpt.conf."), \
                    f"{f.name} imports {n}"
        text = f.read_text()
        assert "NANIGPT_PRESETS" not in text and "shipped" not in text, f.name


def test_config_imports_leave_training_unloaded():
    # nanigpt.config imports nanigpt.training.config (for TrainConfig), and with it the package
    # nanigpt.training, which loads nothing: a config import pays for neither the pre-flight
    # checks nor the data file helpers
    assert python_lines(
        "import sys, nanigpt.config\n"
        "print(sorted(m for m in sys.modules if m.startswith(('nanigpt.training.', 'nanigpt.data.'))"
        " and not m.endswith('.config')))\n"
    ) == ["[]"]


def _private_reads_of_foreign_objects(path: Path) -> list[str]:
    """`os.environ._data`, `getattr(os.environ, "_data")`: private names read from what a module
    imported from outside naniGPT (the standard library, msgspec), which may change any release."""
    tree = ast.parse(path.read_text())
    foreign = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            foreign |= {(a.asname or a.name).split(".")[0] for a in node.names if not a.name.startswith("nanigpt")}
        elif isinstance(node, ast.ImportFrom) and not (node.module or "").startswith("nanigpt") and node.level == 0:
            foreign |= {a.asname or a.name for a in node.names}

    def root(n: ast.expr) -> str | None:
        while isinstance(n, ast.Attribute):
            n = n.value
        return n.id if isinstance(n, ast.Name) else None

    def private(name: str) -> bool:
        return name.startswith("_") and not name.endswith("__")

    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr) and root(node.value) in foreign:
            out.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
            and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str) and private(node.args[1].value) and root(node.args[0]) in foreign
        ):
            out.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return out


def test_config_code_reads_no_private_names_of_other_libraries():
    files = sorted((REPO / "nanigpt" / "conf").glob("*.py")) + sorted((REPO / "presets").glob("*.py"))
    assert [hit for f in files for hit in _private_reads_of_foreign_objects(f)] == []
    # presets files are user-facing examples: they use only the public nanigpt.conf
    for f in sorted((REPO / "presets").glob("*.py")):
        assert "nanigpt.conf._" not in f.read_text(), f
