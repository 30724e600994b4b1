"""Crash safety, tested deterministically: the order of the system calls that make a write
durable, failures injected at each of them, and a writer killed at a chosen call.

A whole file is replaced by writing a temp file beside it, fsyncing it, renaming it over the
old one, then fsyncing the directory (so the rename itself survives a power loss). Were the
fsync missing or late, a crash could leave a renamed but empty file; a kill-at-a-random-moment
test catches that only by luck. Here `os.fsync`, `os.replace` and `os.rename` are watched: each
call is recorded, with the bytes the file held when it was fsynced.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest
import torch
import xxhash

from nanigpt.atomic import append_line, atomic_write, atomic_writer, read_jsonl
from nanigpt.store.rundir import RunDir, RunStore
from nanigpt.training import checkpoint as ckpt


def _short(name: str) -> str:
    """A path with its temp parts named for what they stand in for: `~f.json` is the temp file
    that will become f.json, `~run` a run's temp directory."""
    name = re.sub(r"\.tmp-[0-9a-f]+-\d+-\d+", "~run", name)
    return re.sub(r"(^|/)\.([^/]+)\.\d+\.\d+\.tmp$", r"\1~\2", name)


class Journal:
    """`os.fsync`, `os.replace` and `os.rename` under `root`, recorded in call order, then done.

    events: ("fsync", file), ("fsync dir", dir), ("replace", src, dst), ("rename", src, dst),
    paths relative to `root` (`.` is root itself); fsynced[i]: the bytes of the file that
    event i fsynced, as a reader would see them then.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
        self.root = root
        self.events: list[tuple[str, ...]] = []
        self.fsynced: dict[int, bytes] = {}
        real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

        def fsync(fd: int) -> None:
            st = os.fstat(fd)
            path = self._find(st)
            if path is not None:
                if stat.S_ISDIR(st.st_mode):
                    self.events.append(("fsync dir", self._rel(path)))
                else:
                    self.fsynced[len(self.events)] = path.read_bytes()
                    self.events.append(("fsync", self._rel(path)))
            real_fsync(fd)

        def move(op: str, real):
            def call(src, dst, *args, **kwargs):
                if Path(src).is_relative_to(self.root):
                    self.events.append((op, self._rel(Path(src)), self._rel(Path(dst))))
                return real(src, dst, *args, **kwargs)

            return call

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", move("replace", real_replace))
        monkeypatch.setattr(os, "rename", move("rename", real_rename))

    def _rel(self, path: Path) -> str:
        return _short(str(path.relative_to(self.root)))

    def _find(self, st: os.stat_result) -> Path | None:
        for d, dirs, files in os.walk(self.root):
            for name in [".", *dirs, *files]:
                p = Path(d) / name
                s = p.stat()
                if (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino):
                    return p
        return None


def temps(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.tmp"))


def make_run(root: Path) -> RunDir:
    data = msgspec.json.encode({"seed": 1})
    run, _ = RunStore(root).create(xxhash.xxh3_128_hexdigest(data), data,
                                   {"tokens": ["preset:tiny"], "start": "preset:tiny", "blame": {}})
    return run


# -- the order of the calls ----------------------------------------------------------------------


def test_a_file_is_fsynced_whole_then_renamed_over_the_old_then_its_directory_fsynced(tmp_path, monkeypatch):
    p = tmp_path / "f.json"
    p.write_bytes(b"old")
    log = Journal(monkeypatch, tmp_path)
    atomic_write(p, b"new contents")
    assert log.events == [("fsync", "~f.json"), ("replace", "~f.json", "f.json"), ("fsync dir", ".")]
    assert log.fsynced == {0: b"new contents"}  # flushed before the fsync: all of it is durable
    assert p.read_bytes() == b"new contents" and os.listdir(tmp_path) == ["f.json"]


def test_a_checkpoint_is_fsynced_then_renamed_then_its_directory_fsynced(tmp_path, monkeypatch):
    log = Journal(monkeypatch, tmp_path)
    path = ckpt.save(tmp_path, {"step": 3, "model": {"w": torch.arange(10.0)}}, keep=2)
    assert log.events == [("fsync", "~step_00000003.pt"), ("replace", "~step_00000003.pt", "step_00000003.pt"),
                          ("fsync dir", ".")]  # fmt: skip
    assert log.fsynced[0] == path.read_bytes()


def test_a_status_write_is_fsynced_then_renamed_then_its_directory_fsynced(tmp_path, monkeypatch):
    run = make_run(tmp_path)
    log = Journal(monkeypatch, run.path)
    run.write_status(state="running", step=7)
    assert log.events == [("fsync", "~status.json"), ("replace", "~status.json", "status.json"), ("fsync dir", ".")]
    assert json.loads(log.fsynced[0])["step"] == 7


def test_a_new_run_appears_whole_each_file_durable_before_the_directory_is_renamed_into_place(tmp_path, monkeypatch):
    log = Journal(monkeypatch, tmp_path)
    data = b'{"seed":1}'
    h = xxhash.xxh3_128_hexdigest(data)
    RunStore(tmp_path).create(h, data, {"tokens": ["preset:tiny"], "start": "preset:tiny", "blame": {}})
    files = [[("fsync", f"~run/~{name}"), ("replace", f"~run/~{name}", f"~run/{name}"), ("fsync dir", "~run")]
             for name in ("config.json", "recipe.json", "status.json")]  # fmt: skip
    assert log.events == [*files[0], *files[1], *files[2], ("rename", "~run", h), ("fsync dir", ".")]
    assert log.fsynced[0] == data


def test_an_attempt_record_is_one_write_of_one_whole_line_then_fsynced(tmp_path, monkeypatch):
    path = tmp_path / "attempts.jsonl"
    writes: list[bytes] = []
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, b: (writes.append(bytes(b)), real_write(fd, b))[1])
    log = Journal(monkeypatch, tmp_path)
    append_line(path, {"outcome": "finished", "step": 20}, fsync=True)
    append_line(path, {"step": 21})
    assert writes == [b'{"outcome":"finished","step":20}\n', b'{"step":21}\n']
    assert log.events == [("fsync", "attempts.jsonl")]  # the first only: metrics lines are not fsynced
    assert log.fsynced[0] == writes[0]


# -- failures at each call: the old file stays, no temp file stays -------------------------------


def _fail(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    def fail(*args, **kwargs):
        raise OSError(errno.EIO, f"injected: {name} failed")

    monkeypatch.setattr(os, name, fail)


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch, where):
    p = tmp_path / "ckpt.pt"
    atomic_write(p, b"old, whole")
    if where != "write":
        _fail(monkeypatch, where)
    with pytest.raises(OSError, match=f"injected: {where} failed"):
        with atomic_writer(p) as f:
            f.write(b"half of the n")
            if where == "write":  # the disk filled up halfway
                raise OSError(errno.EIO, "injected: write failed")
            f.write(b"ew file")
    monkeypatch.undo()
    assert p.read_bytes() == b"old, whole" and os.listdir(tmp_path) == ["ckpt.pt"]


@pytest.mark.parametrize("where", ["torch.save", "fsync", "replace"])
def test_a_checkpoint_that_fails_midway_keeps_the_old_one_and_leaves_no_temp(tmp_path, monkeypatch, where):
    old = ckpt.save(tmp_path, {"config_hash": "0" * 32, "step": 3, "model": {"w": torch.arange(10.0)}}, keep=2)
    before = old.read_bytes()
    if where == "torch.save":
        real_save = torch.save

        def save_half(obj, f):  # the disk fills up halfway through the checkpoint
            buf = io.BytesIO()
            real_save(obj, buf)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            raise OSError(errno.ENOSPC, "injected: no space left")

        monkeypatch.setattr(torch, "save", save_half)
    else:
        _fail(monkeypatch, where)
    # a full disk is named with the file it was writing; other failures pass through as they are
    named = r"no space left on device writing .*step_00000006\.pt" if where == "torch.save" else "injected"
    with pytest.raises(OSError, match=named):
        ckpt.save(tmp_path, {"config_hash": "0" * 32, "step": 6, "model": {"w": torch.ones(10)}}, keep=2)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["step_00000003.pt"] and old.read_bytes() == before
    assert ckpt.find(tmp_path, config_hash="0" * 32).step == 3


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_a_status_write_that_fails_keeps_the_old_status_and_leaves_no_temp(tmp_path, monkeypatch, where):
    run = make_run(tmp_path)
    run.write_status(state="running", step=5)
    before = (run.path / "status.json").read_bytes()
    _fail(monkeypatch, where)
    with pytest.raises(OSError, match="injected"):
        run.write_status(step=6)
    monkeypatch.undo()
    assert (run.path / "status.json").read_bytes() == before and not temps(run.path)


def test_a_short_append_ends_its_torn_line_so_the_next_record_reads_back(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    append_line(path, {"step": 1})
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, b: real_write(fd, b[:5]))  # the disk fills up
    with pytest.raises(OSError, match="short write"):
        append_line(path, {"step": 2, "loss": 2.5})
    monkeypatch.undo()
    append_line(path, {"step": 3})
    assert path.read_bytes() == b'{"step":1}\n{"ste\n{"step":3}\n'
    assert read_jsonl(path) == [{"step": 1}, {"step": 3}]


# -- a writer killed at a chosen call ------------------------------------------------------------

_KILLED = textwrap.dedent(
    """
    import os, sys
    from nanigpt.store.rundir import RunDir
    run = RunDir(sys.argv[1], sys.argv[2])
    run.lock()
    # killed at the first call of this name: no clean-up of any kind runs
    setattr(os, sys.argv[3], lambda *args, **kwargs: os._exit(9))
    run.write_status(state="running", step=8, pad="x" * 100000)
    """
)


@pytest.mark.parametrize("at", ["fsync", "replace"])
def test_a_writer_killed_mid_write_leaves_the_old_status_and_the_next_lock_holder_sweeps_its_temp(tmp_path, at):
    run = make_run(tmp_path)
    with run.lock():
        run.write_status(state="running", step=7)
    before = (run.path / "status.json").read_bytes()
    child = subprocess.run([sys.executable, "-c", _KILLED, str(run.path), run.hash, at], capture_output=True, text=True)
    assert child.returncode == 9, child.stderr
    assert (run.path / "status.json").read_bytes() == before
    assert [_short(t) for t in temps(run.path)] == ["~status.json"]  # what the dead writer left
    assert RunDir(run.path, run.hash).status()["step"] == 7
    with RunDir(run.path, run.hash).lock():
        assert not temps(run.path)

