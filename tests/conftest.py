"""Fixtures shared by the test files. Torch is imported inside the fixtures that need it, so the
torch-free tests (the config machinery, the CLI's read-only commands) never load it."""

from __future__ import annotations

from pathlib import Path

import pytest

# Part of the test set-up, beside the checkout, never copied into it (DESIGN.md, Data).
SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: bitwise comparisons hold at a fixed thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def shakespeare() -> Path:
    """The shared sample text; a test that needs it fails, rather than skips, when it is missing."""
    if not SHAKESPEARE.is_file():
        pytest.fail(
            f"the sample text {SHAKESPEARE} is missing: the tests read it from ../shared/data/ beside the "
            "checkout; restore it there"
        )
    return SHAKESPEARE
