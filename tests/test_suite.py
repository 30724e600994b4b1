"""The test suite's own rules, checked like any other."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def calls_at_import(source: str, name: str) -> list[int]:
    """Lines of the calls `....name(...)` that run when `source` is imported (outside any function)."""
    found: list[int] = []

    def visit(node: ast.AST, deferred: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = deferred or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if not inside and isinstance(child, ast.Call) and getattr(child.func, "attr", None) == name:
                found.append(child.lineno)
            visit(child, inside)

    visit(ast.parse(source), False)
    return found


def test_the_check_sees_a_call_at_import_and_only_there():
    source = "import torch\ntorch.set_num_threads(1)\ndef f():\n    torch.set_num_threads(2)\nCODE = 'torch.set_num_threads(3)'\n"
    assert calls_at_import(source, "set_num_threads") == [2]


def test_no_test_module_sets_torch_threads_when_imported():
    # Set at import, a thread count holds for every test that runs after the module is
    # collected, in whatever files: test results would depend on which files run.
    offenders = {
        p.name: lines for p in sorted(TESTS.glob("*.py")) if (lines := calls_at_import(p.read_text(), "set_num_threads"))
    }
    assert offenders == {}, "set torch's thread count in a test through the `one_thread` fixture"


def test_every_mutant_still_finds_its_line():
    # scripts/mutation.py asks whether this suite catches realistic one-line bugs. A mutant whose
    # line the code no longer has cannot be applied, and the whole check refuses to run: the list
    # follows the code, checked here.
    r = subprocess.run([sys.executable, str(TESTS.parent / "scripts" / "mutation.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
