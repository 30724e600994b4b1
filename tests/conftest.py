"""Fixtures shared by the test files. Torch is imported inside the fixtures that need it, so the
torch-free tests (the config machinery, the CLI's read-only commands) never load it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _thread_count_is_put_back():
    """A test that changes torch's thread count changes the numbers of every test after it: the
    count must be what it was when the test started (`one_thread` puts it back)."""
    torch = sys.modules.get("torch")  # never imported here: torch-free tests stay torch-free
    before = torch.get_num_threads() if torch is not None else None
    yield
    if before is not None:
        assert torch.get_num_threads() == before, (
            f"the test left torch on {torch.get_num_threads()} threads, not {before}: use the `one_thread` fixture"
        )


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: bitwise comparisons hold at a fixed thread count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def devices(monkeypatch):
    """`devices(cuda=N, mps=...)` makes torch report N CUDA GPUs (of `capability`, named `name`)
    and an MPS device or none, whatever this machine has: the checks that only ask torch what
    exists (`--device`, fp8 support) then take the same branches on every machine. Nothing may
    run on a faked GPU."""
    import torch

    def see(*, cuda: int = 0, mps: bool = False, capability: tuple[int, int] = (8, 0), name: str = "Fake GPU") -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return see


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in corpus as a plain text file: real text that every checkout has (the tests
    need nothing beside the checkout)."""
    from nanigpt.data.corpus import read_builtin

    path = tmp_path_factory.mktemp("corpus") / "plays.txt"
    path.write_bytes(read_builtin())
    return path


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~22 kB of seeded word salad in a file: enough for preset:tiny's 32-token context and its
    val split, and quick to train on."""
    import random

    words = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex jolly boxing frogs".split()
    rng = random.Random(0)
    p = tmp_path_factory.mktemp("data") / "words.txt"
    p.write_text(" ".join(rng.choice(words) for _ in range(4000)))
    return p


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A runs directory that does not exist yet."""
    return tmp_path / "runs"
