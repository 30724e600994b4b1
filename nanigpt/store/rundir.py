"""The run store: one directory per config hash, `runs/<hash>/`, written crash-safely.

```
runs/<hash>/
  config.json       the canonical resolved config: its xxh3-128 *is* the directory name
  recipe.json       the first spec that made it: tokens, start, blame, short hash, created
  status.json       state, steps done, last and best losses, tokens/s, wall time, the attempt
                    in progress: what `runs` and `compare` show without reading the metrics
  attempts.jsonl    one line per finished, failed or interrupted invocation of `train`
  metrics.jsonl     one line per logged step (written by the trainer); superseded lines kept
  checkpoints/      the trainer's checkpoints
  lock              flock'ed by the one process allowed to write; holds its pid, host, start
```

Whole files are replaced atomically (temp file in the same directory, fsync, rename, fsync of
the directory), so a reader sees the old file or the new one, never a torn one. Logs are
appended with one `write` of one whole line on an `O_APPEND` descriptor. A `running` status
whose lock nobody holds is a run whose process died: it reads as `interrupted`.

Every hash argument is checked to be hex before any path is built from it, so nothing here
reads or writes outside the runs directory. Torch-free and schema-free: stored configs are plain
JSON, re-hashed without knowing what the fields mean.

    >>> import shutil, tempfile
    >>> from nanigpt.conf import canonical_bytes, config_hash
    >>> store = RunStore(tempfile.mkdtemp())
    >>> cfg = {"model": {"n_layer": 2}}
    >>> run, created = store.create(config_hash(cfg), canonical_bytes(cfg), {"tokens": ["model.n_layer=2"]})
    >>> created, store.resolve_hash(run.hash[:6]) == run.hash, run.status()["state"]
    (True, True, 'created')
    >>> store.load_config(run.hash[:6]) == (run.hash, cfg)
    True
    >>> shutil.rmtree(store.root)
"""

from __future__ import annotations

import errno
import fcntl
import os
import shlex
import time
from typing import TYPE_CHECKING, Any

import msgspec

from nanigpt.atomic import (
    StrPath,
    append_line,
    atomic_write,
    end_torn_line,
    finite_record,
    fsync_dir,
    json_decoder,
    read_bytes,
    read_jsonl,
    tmp_counter,
)
from nanigpt.conf import ConfigError, config_hash, hash_bytes, short_hash

if TYPE_CHECKING:
    from pathlib import Path

HASH_LEN = 32
MIN_PREFIX = 4
# Folders of the runs directory that are not runs: the sweeps' records (nanigpt.experiments).
# Listings skip them; everything else in there that is not a run is reported.
SWEEPS_DIR = "sweeps"
STATES = ("created", "running", "interrupted", "finished", "failed")

_HEX = frozenset("0123456789abcdef")
# How long `lock()` keeps trying before it names the holder: a reader probing the lock holds it
# for microseconds, and must not make a concurrent `train` fail.
_LOCK_TRIES = 30
_LOCK_RETRY_S = 0.01
# The trainer logs every few steps; status.json is a whole-file rewrite with two fsyncs, so it
# follows the metrics at most this often (and at once for a validation loss).
_STATUS_EVERY_S = 2.0


class StoreError(ConfigError):
    """A run that cannot be found, read or trusted. Bad input at the CLI (exit code 2)."""


class RunLocked(StoreError):
    """Another live process holds the run's lock. `holder` is its pid, host and start (or None)."""

    def __init__(self, message: str, *, holder: dict | None, suggestion: str | None = None) -> None:
        super().__init__(message, suggestion=suggestion)
        self.holder = holder


def now_iso(t: float | None = None) -> str:
    """UTC time as ISO 8601 with milliseconds, `2025-01-31T12:00:00.123Z`."""
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def check_prefix(prefix: str) -> str:
    """The prefix in lowercase, or StoreError if it is not 4 to 32 hex digits."""
    p = prefix.lower()
    if not (MIN_PREFIX <= len(p) <= HASH_LEN) or not _HEX.issuperset(p):
        raise StoreError(
            f"not a run hash: {prefix!r}",
            suggestion=f"a run is named by {MIN_PREFIX} to {HASH_LEN} hex digits of its hash, e.g. 3f2a9c1b; see `nanigpt runs`",
        )
    return p


def plain_path(path: StrPath) -> str:
    """`path` spelled as pathlib spells it: no repeated or trailing slashes and no `.` parts,
    but every `..` kept (after a link, `a/..` is not `.`)."""
    p = os.fspath(path)
    parts = [part for part in p.split("/") if part not in ("", ".")]
    # POSIX leaves a path that starts with exactly two slashes to the system: it stays as it is
    root = "//" if p[:2] == "//" and p[2:3] != "/" else "/" if p[:1] == "/" else ""
    return root + "/".join(parts) or "."


def is_hash(name: str) -> bool:
    """True for a full 32-hex-digit (lowercase) config hash."""
    return len(name) == HASH_LEN and _HEX.issuperset(name)


def _read_run_file(path: StrPath) -> bytes:
    """A run file's bytes, or a StoreError that says which file is missing or unreadable."""
    try:
        return read_bytes(path)
    except FileNotFoundError:
        raise StoreError(
            f"{path} is missing", suggestion="the run directory is incomplete; remove it and train again"
        ) from None
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e.strerror}") from None


def _load_json(path: str) -> Any:
    """A run file's JSON, or a StoreError that says which file and what is wrong with it."""
    data = _read_run_file(path)
    try:
        return json_decoder.decode(data)
    except msgspec.DecodeError as e:
        raise StoreError(
            f"{path} is not valid JSON: {e}", suggestion="the file was truncated or edited; restore it or remove the run"
        ) from None


def _load_status(path: str) -> dict:
    st = _load_json(path)
    if not isinstance(st, dict) or st.get("state") not in STATES:
        raise StoreError(f"{path} has no valid `state`")
    return st


# --- the lock ---------------------------------------------------------------------------------


class RunLock:
    """An exclusive flock on `runs/<hash>/lock`. The kernel drops it when its holder dies."""

    def __init__(self, fd: int, path: str) -> None:
        self._fd: int | None = fd
        self.path = path

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            # Empty the holder record first: a reader that races the unlock must not name us.
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(path: str) -> dict | None:
    try:
        rec = json_decoder.decode(read_bytes(path))
    except (OSError, msgspec.DecodeError):
        return None
    return rec if isinstance(rec, dict) else None


def describe_holder(holder: dict | None) -> str:
    if not holder:
        return "another process (it has not said who yet)"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('start')}"


def describe_status(st: dict | None) -> str:
    """A run's status in a line: `finished: 30/30 steps, train loss 2.1000, val loss 2.2000`."""
    if st is None:
        return "not trained yet"
    state = st["state"]
    step, steps = st.get("step") or 0, st.get("steps")
    at = f"{step}/{steps}" if steps else f"{step}"
    losses = "".join(
        f", {name} loss {format_loss(st[key])}" for name, key in (("train", "train_loss"), ("val", "val_loss"))
        if st.get(key) is not None
    )
    if state == "created":
        return "created, not started"
    if state == "running":
        from nanigpt.store import describe_holder

        return f"running: step {at}{losses} ({describe_holder(st.get('holder'))})"
    if state == "interrupted":
        return f"interrupted at step {at}{losses} (train it again to resume)"
    if state == "failed":
        return f"failed at step {at}{losses}: {st.get('error') or 'unknown error'}"
    return f"finished: {at} steps{losses}"


def describe_code(git: dict) -> str:
    """The code an attempt ran, from its `git` record: `1a2b3c4d5e`, `1a2b3c4d5e+changes 9f8e7d6c`
    (uncommitted changes, named by their hash) or `1a2b3c4d5e+dirty`."""
    out = git["commit"][:10]
    if git.get("dirty"):
        out += f"+changes {git['changes'][:8]}" if git.get("changes") else "+dirty"
    return out


def _best_val(values: list[Any]) -> float | None:
    """The lowest finite number among `values` (val losses; None, text and NaN skipped)."""
    finite = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
              and abs(v) != float("inf")]
    return min(finite) if finite else None


def format_loss(v: Any) -> str:
    """A loss with 4 decimals (anything else as it is: `nan` stored as text)."""
    return f"{v:.4f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


# --- one run ----------------------------------------------------------------------------------


class RunDir:
    """One run's directory. Read methods verify what they read; write methods are no-ops on a
    read-only RunDir (the non-zero ranks of a torchrun job), so the trainer calls them freely."""

    def __init__(self, path: StrPath, hash: str, *, read_only: bool = False) -> None:
        # A string: reading a run is os calls, and pathlib would cost every `show` its import.
        self.dir = plain_path(path)
        self.hash = hash
        self.short = short_hash(hash)
        self.read_only = read_only
        self._config: dict | None = None
        self._status: dict | None = None
        self._attempt: dict | None = None
        self._lock: RunLock | None = None
        self._last_status_write = 0.0
        self._healed: set[str] = set()

    def __repr__(self) -> str:
        return f"RunDir({self.dir!r}{', read_only' if self.read_only else ''})"

    @property
    def path(self) -> Path:
        """The run directory as a Path."""
        from pathlib import Path

        return Path(self.dir)

    @property
    def is_main(self) -> bool:
        """True where this process writes the run (rank 0, or the only process)."""
        return not self.read_only

    @property
    def checkpoint_dir(self) -> Path:
        """Where the trainer keeps checkpoints; created on first use by the writing process."""
        p = self.path / "checkpoints"
        if not self.read_only:
            p.mkdir(exist_ok=True)
        return p

    def _read_json(self, name: str) -> Any:
        return _load_json(os.path.join(self.dir, name))

    # -- reading

    def config_dict(self) -> dict:
        """The stored config.json, after checking that it still hashes to the directory name."""
        if self._config is None:
            path = os.path.join(self.dir, "config.json")  # a string: compare reads a thousand
            raw = _read_run_file(path)
            # The file is written as the canonical bytes, so the raw bytes hash to the name;
            # only an edited file needs the slower canonical re-hash (reformatting is no change).
            ok = hash_bytes(raw) == self.hash
            try:
                cfg = json_decoder.decode(raw)
            except msgspec.DecodeError as e:
                raise StoreError(
                    f"{path} was modified: it is not valid JSON: {e}",
                    suggestion="restore it; a run's config is never edited: fork it with run:HASH instead",
                ) from None
            if not ok:
                got = config_hash(cfg) if isinstance(cfg, dict) else "not an object"
                if got != self.hash:
                    raise StoreError(
                        f"{path} was modified: it hashes to {got}, not {self.hash}",
                        suggestion="restore it; a run's config is never edited: fork it with run:HASH instead",
                    )
            if not isinstance(cfg, dict):
                raise StoreError(f"{path} was modified: it is not a JSON object")
            self._config = cfg
        return self._config

    def recipe(self) -> dict:
        """recipe.json: `tokens`, `start`, `blame`, `short`, `created`."""
        rec = self._read_json("recipe.json")
        if not isinstance(rec, dict) or not isinstance(rec.get("tokens"), list):
            raise StoreError(f"{os.path.join(self.dir, 'recipe.json')} is not a recipe (no `tokens` list)")
        return rec

    def stored_status(self) -> dict:
        """status.json as written (a dead run still says `running` here)."""
        return _load_status(os.path.join(self.dir, "status.json"))

    def status(self) -> dict:
        """status.json with the live state: `running` only while the lock is held (then with its
        `holder`), else `interrupted`."""
        st = dict(self.stored_status())
        if st["state"] == "running":
            held, holder = self._probe_lock()
            if held:
                st["holder"] = holder
            else:
                st["state"] = "interrupted"
            st.update(self._progress_since(st))
        return st

    def _progress_since(self, st: dict) -> dict:
        """Step and losses of the metrics logged after the last status write: a live or dead
        trainer's status lags its metrics by up to `_STATUS_EVERY_S`."""
        try:
            with open(os.path.join(self.dir, "metrics.jsonl"), "rb") as f:
                start = max(0, f.seek(0, os.SEEK_END) - 65536)
                f.seek(start)
                tail = f.read().split(b"\n")
        except OSError:
            return {}
        if start:
            tail = tail[1:]  # cut mid-line by the seek
        out: dict[str, Any] = {}
        for line in reversed(tail):
            try:
                rec = json_decoder.decode(line)
            except msgspec.DecodeError:
                continue
            if not isinstance(rec, dict) or rec.get("superseded") or not isinstance(rec.get("step"), int):
                continue
            if "step" not in out:
                if rec["step"] <= int(st.get("step") or 0):
                    break
                out["step"] = rec["step"]
            for key, dest in (("loss", "train_loss"), ("train_loss", "train_loss"), ("val_loss", "val_loss")):
                if dest not in out and isinstance(rec.get(key), (int, float)):
                    out[dest] = rec[key]
            if "train_loss" in out and "val_loss" in out:
                break
        return out

    def attempts(self) -> list[dict]:
        """Every recorded attempt, oldest first (the one in progress is in `status()['attempt']`)."""
        return read_jsonl(os.path.join(self.dir, "attempts.jsonl"))

    def metrics(self, *, include_superseded: bool = False) -> list[dict]:
        """The logged metrics, oldest first; lines a resume superseded are left out by default."""
        recs = read_jsonl(os.path.join(self.dir, "metrics.jsonl"))
        return recs if include_superseded else [r for r in recs if not r.get("superseded")]

    # -- locking

    def _probe_lock(self) -> tuple[bool, dict | None]:
        path = os.path.join(self.dir, "lock")
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False, None
        try:
            # A shared probe: it conflicts with the writer's exclusive lock and with nothing else.
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, _read_holder(path)
        finally:
            os.close(fd)
        return False, None

    def lock(self) -> RunLock:
        """Take the run's exclusive lock, or raise RunLocked naming the holder.

        The lock is an flock on `lock`: the kernel releases it when the holder exits or is
        killed, so a crashed run never blocks the next one.
        """
        if self.read_only:
            raise StoreError(f"{self.dir} is open read-only (not rank 0); it cannot be locked")
        path = os.path.join(self.dir, "lock")
        for _ in range(_LOCK_TRIES):
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:
                raise StoreError(f"run directory {self.dir} is gone") from None
            except OSError as e:
                raise StoreError(f"cannot lock {path}: {e.strerror}", suggestion="is the runs directory writable?") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                time.sleep(_LOCK_RETRY_S)
                continue
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                # The directory was removed (and maybe re-created) while we waited: we hold a
                # lock on a file nobody else will ever look at.
                os.close(fd)
                continue
            import socket  # only a writer needs it; readers skip its import cost

            holder = {"pid": os.getpid(), "host": socket.gethostname(), "start": now_iso()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, msgspec.json.encode(holder), 0)
            self._lock = RunLock(fd, path)
            self._status = None  # whatever was cached before we held the lock may be stale
            self._remove_stale_temps()
            return self._lock
        held_by = _read_holder(path)
        raise RunLocked(
            f"run {self.short} is being trained by {describe_holder(held_by)}",
            holder=held_by,
            suggestion="wait for it to finish, or stop that process; its lock is released when it exits",
        )

    def _remove_stale_temps(self) -> None:
        # Temp files of a writer killed mid-write. Only the lock holder writes, so any temp
        # file found while holding the lock is dead.
        for p in self.path.glob(".*.tmp"):
            p.unlink(missing_ok=True)

    # -- writing (no-ops when read-only)

    def write_status(self, **fields: Any) -> None:
        """Merge `fields` into status.json (atomically); the attempt in progress rides along."""
        if self.read_only:
            return
        if self._status is None:
            self._status = dict(self.stored_status())
        self._status.update(fields)
        self._status["updated"] = now_iso()
        if self._attempt is not None and self._status.get("state") == "running":
            self._status["attempt"] = self._attempt
        atomic_write(os.path.join(self.dir, "status.json"), msgspec.json.encode(finite_record(self._status)))
        self._last_status_write = time.monotonic()

    def _append(self, name: str, record: dict, *, fsync: bool = False) -> None:
        if name not in self._healed:
            end_torn_line(os.path.join(self.dir, name))
            self._healed.add(name)
        append_line(os.path.join(self.dir, name), record, fsync=fsync)

    def append_metrics(self, record: dict, summary: dict | None = None) -> None:
        """Log one metrics record (a dict with `step`; `train_loss`/`loss`, `val_loss` also feed
        status.json, so `runs`, `show` and `compare` see progress without reading the whole log).
        status.json also keeps the best val loss so far, and `summary`: run-level figures the
        trainer sends with an eval line (`tokens_per_s`, `wall_s`)."""
        if self.read_only:
            return
        self._append("metrics.jsonl", record)
        live: dict[str, Any] = dict(summary or {})
        if isinstance(record.get("step"), int):
            live["step"] = record["step"]
        for key, dest in (("train_loss", "train_loss"), ("loss", "train_loss"), ("val_loss", "val_loss")):
            if isinstance(record.get(key), (int, float)):
                live[dest] = record[key]
        if "val_loss" in live:
            if self._status is None:
                self._status = dict(self.stored_status())
            best = _best_val([self._status.get("best_val_loss"), live["val_loss"]])
            if best is not None:
                live["best_val_loss"] = best
        if live and ("val_loss" in live or time.monotonic() - self._last_status_write >= _STATUS_EVERY_S):
            self.write_status(**live)
        elif live:
            if self._status is None:
                self._status = dict(self.stored_status())
            self._status.update(live)

    def supersede_metrics_after(self, step: int) -> int:
        """Mark every metrics line with a step after `step` superseded (a resume from the
        checkpoint at `step` redoes them); they stay in the file for the record. Returns how
        many lines were newly marked."""
        if self.read_only:
            return 0
        path = os.path.join(self.dir, "metrics.jsonl")
        recs = read_jsonl(path)
        n = 0
        for r in recs:
            s = r.get("step")
            if isinstance(s, int) and s > step and not r.get("superseded"):
                r["superseded"] = True
                n += 1
        if n:
            atomic_write(path, b"".join(msgspec.json.encode(r) + b"\n" for r in recs))
        # The best val loss may have been one of the lines just superseded (or the run predates
        # the summary): recomputed from the lines that count.
        best = _best_val([r.get("val_loss") for r in recs if not r.get("superseded")])
        if best != (self._status if self._status is not None else self.stored_status()).get("best_val_loss"):
            self.write_status(best_val_loss=best)
        return n

    def append_attempt(self, record: dict) -> None:
        """Append one attempt line (fsync'ed: it is the run's provenance)."""
        if self.read_only:
            return
        self._append("attempts.jsonl", record, fsync=True)

    # -- the attempt life cycle (driven by `nanigpt train`, under the lock)

    def reap_interrupted(self) -> dict | None:
        """If the last attempt died without saying so (status `running`, lock free: we hold it
        now), record it as interrupted. Returns that attempt, or None."""
        if self.read_only:
            return None
        st = self.stored_status()
        if st["state"] != "running":
            return None
        st = {**st, **self._progress_since(st)}
        attempt = dict(st.get("attempt") or {})
        attempt.setdefault("start", None)
        # The last status write is the last moment the process was known alive.
        attempt.update(end=st.get("updated"), outcome="interrupted", step=st.get("step"))
        self.append_attempt(attempt)
        self._status = dict(st)
        self.write_status(state="interrupted", attempt=None, attempts=int(st.get("attempts") or 0) + 1)
        return attempt

    def begin_attempt(self, attempt: dict) -> None:
        """Mark the run running with `attempt` (a dict the trainer may keep filling in: it is
        saved with every status write)."""
        self._attempt = attempt
        self.write_status(state="running", attempt=attempt, error=None)

    def end_attempt(self, outcome: str, *, error: str | None = None, **status: Any) -> None:
        """Close the attempt in progress: append its line and set the state to `outcome`."""
        if outcome not in ("finished", "failed", "interrupted"):
            raise ValueError(f"unknown outcome {outcome!r}")
        attempt = self._attempt if self._attempt is not None else {}
        self._attempt = None
        prev = self._status or self.stored_status()
        attempt.update(end=now_iso(), outcome=outcome, step=status.get("step", prev.get("step")))
        if error is not None:
            attempt["error"] = error
        self.append_attempt(attempt)
        self.write_status(
            state=outcome, attempt=None, error=error, attempts=int(prev.get("attempts") or 0) + 1, **status
        )

    def restore_status(self, status: dict) -> None:
        """Put back a status.json read earlier (an attempt refused before its first step)."""
        if self.read_only:
            return
        self._attempt = None
        self._status = dict(status)
        atomic_write(os.path.join(self.dir, "status.json"), msgspec.json.encode(finite_record(self._status)))


# --- the store --------------------------------------------------------------------------------


class RunStore:
    """The runs directory. Hash arguments are any unique prefix of at least 4 hex digits."""

    def __init__(self, root: StrPath) -> None:
        # A string, as RunDir's: listing and reading runs are os calls.
        self.dir = plain_path(root)

    def __repr__(self) -> str:
        return f"RunStore({self.dir!r})"

    @property
    def root(self) -> Path:
        """The runs directory as a Path."""
        from pathlib import Path

        return Path(self.dir)

    def _entries(self) -> list[os.DirEntry]:
        # scandir, not listdir: an entry says whether it is a link or a directory without a stat
        try:
            return list(os.scandir(self.dir))
        except FileNotFoundError:
            return []
        except OSError as e:
            raise StoreError(f"cannot read the runs directory {self.dir}: {e.strerror}") from None

    def _names(self) -> list[str]:
        return [e.name for e in self._entries()]

    def hashes(self) -> list[str]:
        """The names in the runs directory that are run hashes and not links out of it, unsorted:
        what `compare --all` reads (each may still be unreadable)."""
        return [e.name for e in self._entries()
                if is_hash(e.name) and (not e.is_symlink() or self._escape(e.name) is None)]

    def _escape(self, name: str) -> str | None:
        """Where `runs/<name>` leads when it is a link out of the runs directory; else None.
        Every path from a hash goes through this: a run directory is never followed elsewhere."""
        path = os.path.join(self.dir, name)
        if not os.path.islink(path):
            return None
        target = os.path.realpath(path)
        return None if os.path.dirname(target) == os.path.realpath(self.dir) else target

    def _path(self, name: str) -> str:
        """`runs/<name>`, or StoreError if it is a link that leads out of the runs directory."""
        target = self._escape(name)
        if target is not None:
            raise StoreError(
                f"{os.path.join(self.dir, name)} is a link to {target}, outside the runs directory {self.dir}",
                suggestion="a run lives in a directory of the runs directory; remove the link",
            )
        return os.path.join(self.dir, name)

    def resolve_hash(self, prefix: str) -> str:
        """The full hash of the one run whose hash starts with `prefix`."""
        p = check_prefix(prefix)
        if len(p) == HASH_LEN:
            if os.path.isdir(self._path(p)):
                return p
            matches = []
        else:
            matches = sorted(n for n in self._names() if n.startswith(p) and is_hash(n))
        if not matches:
            raise StoreError(f"no run {prefix!r} in {self.dir}", suggestion="see `nanigpt runs` for the runs there")
        if len(matches) > 1:
            # Whole hashes: two 12-digit forms can be identical, and then they tell nothing apart.
            shown = ", ".join(matches[:8]) + (", ..." if len(matches) > 8 else "")
            raise StoreError(
                f"run prefix {prefix!r} is ambiguous in {self.dir}: {len(matches)} runs match ({shown})",
                suggestion="give more digits",
            )
        return matches[0]

    def run(self, prefix: str) -> RunDir:
        """The existing run named by `prefix`, for reading and (under its lock) writing."""
        h = self.resolve_hash(prefix)
        return RunDir(self._path(h), h)

    def follower(self, hash: str) -> RunDir:
        """A read-only view of run `hash` for a non-zero torchrun rank: it may not exist yet
        (rank 0 creates it), and every write is a no-op."""
        if not is_hash(hash):
            check_prefix(hash)
            raise StoreError(f"not a full run hash: {hash!r}")
        return RunDir(self._path(hash), hash, read_only=True)

    def load_config(self, prefix: str) -> tuple[str, dict]:
        """`(full hash, stored config.json)` of a past run: what `run:HASH` forks."""
        run = self.run(prefix)
        return run.hash, run.config_dict()

    def create(self, hash: str, canonical: bytes, recipe: dict, *, steps: int | None = None) -> tuple[RunDir, bool]:
        """The run directory for a validated config, created whole if new: `(run, created)`.
        `steps` (the run's length, if the config has one) lets listings show progress.

        The files are written into a hidden temp directory that is renamed into place, so
        `runs/<hash>/` either does not exist or holds a complete config, recipe and status.
        """
        if not is_hash(hash) or hash_bytes(canonical) != hash:
            raise ValueError(f"{hash!r} is not the hash of the given canonical config")
        final = self._path(hash)
        if os.path.isdir(final):
            run = RunDir(final, hash)
            run.config_dict()
            return run, False
        try:
            os.makedirs(self.dir, exist_ok=True)
            tmp = os.path.join(self.dir, f".tmp-{short_hash(hash)}-{os.getpid()}-{next(tmp_counter)}")
            os.mkdir(tmp)
        except OSError as e:
            raise StoreError(
                f"the runs directory {self.dir} is not writable: {e.strerror}",
                suggestion="pass --runs-dir DIR or set NANIGPT_RUNS_DIR to a writable directory",
            ) from None
        try:
            created = now_iso()
            atomic_write(os.path.join(tmp, "config.json"), canonical)
            atomic_write(os.path.join(tmp, "recipe.json"), msgspec.json.encode({**recipe, "short": short_hash(hash), "created": created}))
            status = {
                "state": "created",
                "short": short_hash(hash),
                "recipe": shlex.join(recipe.get("tokens", ())),  # pasteable back into a shell
                "created": created,
                "updated": created,
                "step": 0,
                "steps": steps,
                "attempts": 0,
            }
            atomic_write(os.path.join(tmp, "status.json"), msgspec.json.encode(status))
            try:
                os.rename(tmp, final)
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise StoreError(
                        f"cannot create {final}: {e.strerror}", suggestion="remove whatever is in its place"
                    ) from None
                # Another process created the same run first: the config is the same bytes.
                _rmtree(tmp)
                run = RunDir(final, hash)
                run.config_dict()
                return run, False
        except BaseException:
            _rmtree(tmp)
            raise
        fsync_dir(self.dir)
        return RunDir(final, hash), True

    def remove(self, run: RunDir) -> None:
        """Delete a run directory (one this invocation created and nothing ran in)."""
        folder, name = os.path.split(run.dir)
        if (folder or ".") != self.dir or not is_hash(name):  # runs/<hash>, or <hash> in "."
            raise ValueError(f"{run.dir} is not a run of {self.dir}")
        _rmtree(run.dir)

    def list(self) -> list[dict]:
        """One summary per entry of the runs directory, newest first; entries that are not
        readable runs come last with a `problem` instead of failing the listing.

        One small read per run (its status.json) and one stat (its config.json): the listing
        does not re-hash configs, which would read every config in full.
        """
        good, bad = [], []
        for entry in self._entries():
            name, path = entry.name, entry.path
            if name.startswith(".") or name == SWEEPS_DIR:
                continue
            row: dict[str, Any] = {"hash": name, "short": short_hash(name)}
            if not is_hash(name):
                if entry.is_dir():
                    row["problem"] = "not a run: the directory name is not a config hash"
                    bad.append(row)
                continue
            target = self._escape(name) if entry.is_symlink() else None
            if target is not None:
                row["problem"] = f"not read: a link to {target}, outside the runs directory"
                bad.append(row)
                continue
            try:
                st = _load_status(f"{path}/status.json")
                if st["state"] == "running":
                    st = RunDir(path, name).status()
                if not os.path.isfile(f"{path}/config.json"):
                    raise StoreError(f"{path}/config.json is missing")
            except StoreError as e:
                row["problem"] = e.message
                bad.append(row)
                continue
            row.update(
                state=st["state"],
                recipe=st.get("recipe"),
                step=st.get("step"),
                steps=st.get("steps"),
                train_loss=st.get("train_loss"),
                val_loss=st.get("val_loss"),
                created=st.get("created"),
                updated=st.get("updated"),
                attempts=st.get("attempts"),
            )
            good.append(row)
        good.sort(key=lambda r: (r.get("created") or "", r["hash"]), reverse=True)
        bad.sort(key=lambda r: r["hash"])
        return good + bad


def _rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
