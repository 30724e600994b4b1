"""The package's layers: imports point down only, and no two modules import each other.

CLI -> experiments (sweeps, compare, plot) -> run store and lifecycle -> training -> builders -> components (model, data, optim) ->
config schema -> conf/ (generic) and the bottom-layer file primitives. Every import counts:
at module level, inside a function (lazy), or under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nanigpt

PKG = Path(nanigpt.__file__).resolve().parent

# (layer, module prefixes), bottom first; a module belongs to the layer of its longest prefix.
LAYERS = [
    ("bottom", ["nanigpt.conf", "nanigpt.atomic", "nanigpt.liveline", "nanigpt._version"]),
    ("schema", ["nanigpt.config", "nanigpt.model.config", "nanigpt.data.config", "nanigpt.optim.config",
                "nanigpt.training.config", "nanigpt.training.flags", "nanigpt.training.runtime",
                "nanigpt.training.runfiles"]),
    ("components", ["nanigpt.model", "nanigpt.data", "nanigpt.optim"]),
    ("builders", ["nanigpt.builders"]),
    ("training", ["nanigpt.training"]),
    ("store", ["nanigpt.store"]),
    ("experiments", ["nanigpt.experiments"]),
    ("cli", ["nanigpt.cli", "nanigpt._cli_compare", "nanigpt._cli_complete", "nanigpt._cli_options",
             "nanigpt._cli_prepare", "nanigpt._cli_sweep", "nanigpt._cli_train", "nanigpt._cli_view",
             "nanigpt._cli_work", "nanigpt.__main__"]),
    ("face", ["nanigpt"]),
]


CLI = [name for name, _ in LAYERS].index("cli")


def layer_of(module: str) -> int:
    best, rank = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    assert rank >= 0, f"{module} belongs to no layer: add it to LAYERS"
    return rank


def modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if "_presets" in parts:
            continue
        out[".".join(parts)] = f
    return out


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The naniGPT modules a file imports (a `from pkg import name` counts pkg.name when that is
    a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("nanigpt")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("nanigpt"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in known else node.module)
    return out


def test_imports_point_down_only():
    mods = modules()
    wrong = []
    for name, path in mods.items():
        for target in imports_of(path, set(mods)):
            if target == "nanigpt":
                continue  # a package's parent is loaded with it; `import nanigpt` itself is checked below
            if layer_of(target) > layer_of(name):
                wrong.append(f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
    assert not wrong, "\n".join(wrong)


def test_only_the_cli_speaks_click():
    # below the command line, code returns values and raises naniGPT's errors; printing and exit
    # codes are the CLI's
    mods = modules()
    users = sorted(n for n, p in mods.items() if layer_of(n) != CLI and "click" in {
        a.name.split(".")[0] for node in ast.walk(ast.parse(p.read_text())) if isinstance(node, ast.Import)
        for a in node.names} | {(node.module or "").split(".")[0] for node in ast.walk(ast.parse(p.read_text()))
                                if isinstance(node, ast.ImportFrom)})
    assert users == []


def test_only_the_cli_imports_the_top_level_face():
    mods = modules()
    users = sorted(n for n, p in mods.items() if "nanigpt" in imports_of(p, set(mods)) and layer_of(n) < CLI)
    assert users == []


def test_the_python_api_does_not_go_through_the_cli():
    # nanigpt.train() and `nanigpt train` are two faces over the store and its lifecycle
    mods = modules()
    users = sorted(n for n, p in mods.items() if LAYERS[layer_of(n)][0] == "face"
                   and any(layer_of(t) == CLI for t in imports_of(p, set(mods)) if t in mods))
    assert users == []


def test_no_import_cycles():
    mods = modules()
    graph = {n: {t for t in imports_of(p, set(mods)) if t in mods and t != n} for n, p in mods.items()}
    # a package's __init__ importing its own submodules is how a package shows its face
    graph = {n: {t for t in ts if not t.startswith(n + ".")} for n, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for t in sorted(graph[n]):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)


def test_a_planted_upward_import_is_caught(tmp_path, monkeypatch):
    # the checker itself: a conf module that imports the store is reported
    bad = tmp_path / "x.py"
    bad.write_text("def f():\n    from nanigpt.store import RunStore\n")
    assert "nanigpt.store" in imports_of(bad, set(modules()))
    assert layer_of("nanigpt.store") > layer_of("nanigpt.conf._spec")
