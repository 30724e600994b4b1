"""Fixtures shared by the test files. Torch is imported inside the fixtures that need it, so the
torch-free tests (the config machinery, the CLI's read-only commands) never load it."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: bitwise comparisons hold at a fixed thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in corpus as a plain text file: real text that every checkout has (the tests
    need nothing beside the checkout)."""
    from nanigpt.data.corpus import read_builtin

    path = tmp_path_factory.mktemp("corpus") / "plays.txt"
    path.write_bytes(read_builtin())
    return path
