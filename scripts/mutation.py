"""The mutation check: does the default test suite catch realistic one-line bugs?

Each mutant of scripts/mutants.toml is applied to its own scratch copy of the checkout (the files
git tracks, plus untracked ones it does not ignore; the real checkout is only read), and the
default suite runs there with -x: first the mutant's own test files, then, only if they all
pass, every other test file. A mutant is killed when a test fails (or pytest stops on a
collection error), survives when the whole default suite passes, and counts as killed, reported
apart, when a pytest run exceeds --timeout. The score is killed / non-equivalent mutants.

    .venv/bin/python scripts/mutation.py                  # every mutant (tens of minutes)
    .venv/bin/python scripts/mutation.py --only ID ...    # some of them
    .venv/bin/python scripts/mutation.py --check          # is the list in step with the code? (1 s)

The scratch copy imports its own nanigpt: tests run with the copy as working directory and first
on PYTHONPATH, ahead of the editable install, and every subprocess they start inherits that
(checked once per copy). Not run by CI: it is slow. Why a curated list and not mutmut: README.md,
Testing.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIST = REPO / "scripts" / "mutants.toml"
PYTEST = ["-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "_mutation_failures"]
# A pytest plugin, written beside each scratch copy: it records the node id of each failure, so a
# kill can be confirmed by running that one test again.
PLUGIN = """\
import os


def _note(report):
    if report.failed:
        with open(os.environ["MUTATION_FAILURES"], "a") as f:
            f.write(report.nodeid + "\\n")


pytest_runtest_logreport = pytest_collectreport = _note
"""


@dataclasses.dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    original: str
    replacement: str
    description: str
    tests: tuple[str, ...]
    equivalent: str | None


@dataclasses.dataclass
class Result:
    mutant: Mutant
    outcome: str  # killed, timeout, survived, error
    seconds: float
    detail: str  # the first failing test, or what went wrong


class ListError(Exception):
    """The mutant list does not fit the code: a stale or malformed entry."""


def load(path: Path = LIST) -> list[Mutant]:
    """The mutants of the list, checked for shape (not yet against the code)."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ListError(f"{path}: {e}") from None
    out, seen = [], set()
    keys = {"id", "file", "original", "replacement", "description", "tests", "equivalent"}
    for i, m in enumerate(data.get("mutant", [])):
        where = f"{path.name}: mutant #{i + 1} ({m.get('id', 'no id')})"
        unknown = set(m) - keys
        missing = {"id", "file", "original", "replacement", "description", "tests"} - set(m)
        if unknown or missing:
            raise ListError(f"{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        if m["id"] in seen:
            raise ListError(f"{where}: the id is used twice")
        seen.add(m["id"])
        for key in ("original", "replacement"):
            if "\n" in m[key]:
                raise ListError(f"{where}: `{key}` spans lines; a mutant changes one line")
        if m["original"] == m["replacement"]:
            raise ListError(f"{where}: `replacement` is `original`: nothing changes")
        out.append(Mutant(m["id"], m["file"], m["original"], m["replacement"], m["description"],
                          tuple(m["tests"]), m.get("equivalent")))
    return out


def _occurrences(text: str, part: str) -> int:
    n, i = 0, text.find(part)
    while i >= 0:
        n += 1
        i = text.find(part, i + 1)
    return n


def mutated_source(m: Mutant, root: Path = REPO) -> str:
    """The text of `m.file` under `root` with the mutant applied; ListError if the original is not
    there exactly once, a test file is missing, or the result does not compile."""
    path = root / m.file
    try:
        text = path.read_text()
    except OSError as e:
        raise ListError(f"mutant {m.id}: cannot read {m.file}: {e.strerror} (moved? update scripts/mutants.toml)") from None
    n = _occurrences(text, m.original)
    if n != 1:
        raise ListError(
            f"mutant {m.id}: its original text occurs {n} times in {m.file}, not once: {m.original!r}"
            + (" (the code changed or moved: update scripts/mutants.toml)" if n == 0 else
               " (make it unique: take more of the line)")
        )
    for t in m.tests:
        if not (root / t).is_file():
            raise ListError(f"mutant {m.id}: test file {t} does not exist (moved? update scripts/mutants.toml)")
    out = text.replace(m.original, m.replacement)
    try:
        compile(out, m.file, "exec")
    except SyntaxError as e:
        raise ListError(f"mutant {m.id}: the mutated {m.file} does not compile: {e}") from None
    return out


def checkout_files() -> list[str]:
    """The checkout's files: tracked ones and untracked ones git does not ignore."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p and os.path.lexists(REPO / p)]


def make_copy(source: Path, files: list[str], dest: Path) -> Path:
    """A copy of `files` of `source` at dest/repo, beside a link to the checkout's ../shared (the
    tests read the sample text from there)."""
    repo = dest / "repo"
    for rel in files:
        src, dst = source / rel, repo / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
    shared = REPO.parent / "shared"
    if shared.is_dir():
        os.symlink(shared.resolve(), dest / "shared")
    return repo


def env_for(repo: Path, mypy_cache: Path) -> dict[str, str]:
    """The copy first on the path, then the plugin beside it."""
    (repo.parent / "_mutation_failures.py").write_text(PLUGIN)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(repo), str(repo.parent), *filter(None, [env.get("PYTHONPATH")])])
    env["MYPY_CACHE_DIR"] = str(mypy_cache)
    return env


def check_import(repo: Path, env: dict[str, str]) -> None:
    """Make sure the copy, not the checkout behind the editable install, is what gets imported."""
    code = "import importlib.util; print(importlib.util.find_spec('nanigpt').origin)"
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True)
    origin = Path(out.stdout.strip() or "?").resolve()
    if out.returncode or not origin.is_relative_to(repo.resolve()):
        raise RuntimeError(f"the scratch copy at {repo} imports nanigpt from {origin}, not from itself: {out.stderr}")


def run_pytest(repo: Path, env: dict[str, str], args: list[str], timeout: float) -> tuple[str, str, list[str]]:
    """('passed' | 'failed' | 'timeout' | 'error', the first failure or the output's tail, the
    node ids that failed)."""
    stamp = time.monotonic_ns()
    log = repo.parent / f"pytest-{stamp}.log"
    failures = repo.parent / f"failures-{stamp}.txt"
    env = {**env, "MUTATION_FAILURES": str(failures)}
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, *PYTEST, *args], cwd=repo, env=env, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return "timeout", f"no result after {timeout:.0f} s", []
        finally:
            if proc.returncode is None:  # interrupted (Ctrl-C): take the whole test run down
                os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text(errors="replace")
    failed = failures.read_text().splitlines() if failures.exists() else []
    if code == 0:
        return "passed", "", []
    first = next((ln for ln in text.splitlines() if ln.startswith(("FAILED ", "ERROR "))), None)
    if code in (1, 2) and failed:  # 2: -x stopped on a collection error
        return "failed", (first or failed[0])[:200], failed
    return "error", f"pytest exit {code}: " + " | ".join(text.strip().splitlines()[-5:])[-400:], failed


def run_phase(repo: Path, env: dict[str, str], files: list[str], timeout: float) -> tuple[str, str]:
    """Run `files` with -x. A failure counts once the failing test fails again when run alone;
    if it then passes (a flaky test, or one that fails only after another), the phase runs once
    more and that verdict stands."""
    status, detail, failed = run_pytest(repo, env, files, timeout)
    if status != "failed" or run_pytest(repo, env, failed[:1], timeout)[0] != "passed":
        return status, detail
    again, detail2, _ = run_pytest(repo, env, files, timeout)
    note = f"(first run: {detail}; alone it passed)"
    return again, f"{detail2} {note}" if again != "passed" else note


def test_files(root: Path = REPO) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "tests").glob("test_*.py"))


def run_mutant(m: Mutant | None, snapshot: Path, files: list[str], base: Path, slot: Path, timeout: float,
               keep: bool) -> Result:
    """Apply `m` (None: no mutant, the baseline) in a fresh copy of `snapshot` and run the suite."""
    t0 = time.monotonic()
    dest = Path(tempfile.mkdtemp(prefix=f"{m.id if m else 'baseline'}-", dir=base))
    try:
        repo = make_copy(snapshot, files, dest)
        if m is not None:
            (repo / m.file).write_text(mutated_source(m, snapshot))
        env = env_for(repo, slot)
        check_import(repo, env)
        first = list(m.tests) if m is not None else []
        rest = [t for t in test_files(repo) if t not in first]
        notes = []
        for phase in (first, rest):
            if not phase:
                continue
            status, detail = run_phase(repo, env, phase, timeout)
            if status == "failed":
                return Result(m, "killed", time.monotonic() - t0, detail)  # type: ignore[arg-type]
            if status in ("timeout", "error"):
                return Result(m, status, time.monotonic() - t0, detail)  # type: ignore[arg-type]
            notes += [detail] if detail else []
        return Result(m, "survived", time.monotonic() - t0,  # type: ignore[arg-type]
                      " ".join(["the whole default suite passed", *notes]))
    finally:
        if not keep:
            shutil.rmtree(dest, ignore_errors=True)


def report(results: list[Result], elapsed: float, out=sys.stdout) -> int:
    """Print the table and the score; the exit status: 1 if a mutant survived or an
    'equivalent' one was killed, else 0."""
    w = max(len(r.mutant.id) for r in results)
    print(f"\n{'mutant':<{w}}  {'result':<20}  {'time':>6}  detail", file=out)
    for r in results:
        outcome = r.outcome
        if r.mutant.equivalent is not None:
            outcome = "equivalent" if r.outcome == "survived" else f"equivalent, {r.outcome}!"
        print(f"{r.mutant.id:<{w}}  {outcome:<20}  {r.seconds:5.0f}s  {r.detail}", file=out)
    scored = [r for r in results if r.mutant.equivalent is None]
    killed = [r for r in scored if r.outcome in ("killed", "timeout")]
    timeouts = [r for r in scored if r.outcome == "timeout"]
    survivors = [r for r in scored if r.outcome == "survived"]
    errors = [r for r in results if r.outcome == "error"]
    wrong = [r for r in results if r.mutant.equivalent is not None and r.outcome != "survived"]
    pct = 100.0 * len(killed) / len(scored) if scored else 100.0
    print(f"\nscore: {len(killed)}/{len(scored)} non-equivalent mutants killed ({pct:.1f}%), "
          f"{len(timeouts)} of them by timeout; {len(results) - len(scored)} equivalent, not scored; "
          f"{_minutes(elapsed)} in all", file=out)
    for r in survivors:
        print(f"survived: {r.mutant.id} ({r.mutant.file}): {r.mutant.description}", file=out)
    for r in errors:
        print(f"error: {r.mutant.id}: {r.detail}", file=out)
    for r in wrong:
        print(f"equivalent but {r.outcome}: {r.mutant.id}: its reason is wrong, or a test is: {r.detail}", file=out)
    return 1 if survivors or errors or wrong else 0


def _minutes(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 60 else f"{s:.0f} s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", metavar="ID", help="run these mutants only")
    ap.add_argument("--jobs", type=int, default=1, help="mutants at once (default 1: timing-sensitive tests "
                    "get flaky when the cores are oversubscribed)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per pytest run before the mutant "
                    "counts as killed by timeout (default 900)")
    ap.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=None,
                    help="first run the suite unmutated in a scratch copy (default: on for a full run, "
                         "off with --only); stop if it fails")
    ap.add_argument("--check", action="store_true", help="check every mutant against the code and exit")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE")
    ap.add_argument("--keep", action="store_true", help="keep the scratch copies (and pytest logs)")
    args = ap.parse_args(argv)

    try:
        mutants = load()
        if args.only:
            by_id = {m.id: m for m in mutants}
            unknown = [i for i in args.only if i not in by_id]
            if unknown:
                raise ListError(f"no mutant {', '.join(unknown)} in {LIST.name} (see --list)")
            mutants = [by_id[i] for i in args.only]
        for m in mutants:  # every entry fits the code before anything runs
            mutated_source(m)
    except ListError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    if args.list:
        for m in mutants:
            print(f"{m.id:<44} {m.file:<28} {m.description}" + ("  [equivalent]" if m.equivalent else ""))
        return 0
    if args.check:
        n_eq = sum(m.equivalent is not None for m in mutants)
        print(f"{len(mutants)} mutants ({n_eq} marked equivalent), each found exactly once and compiling")
        return 0

    files = checkout_files()
    base = Path(tempfile.mkdtemp(prefix="nanigpt-mutation-"))
    # Every mutant starts from this one snapshot: edits to the checkout during a run change nothing.
    snapshot = make_copy(REPO, files, base / "snapshot")
    lock = threading.Lock()
    slots = [base / f"mypy-cache-{i}" for i in range(max(1, args.jobs))]
    free = list(slots)
    t_start = time.monotonic()
    print(f"{len(mutants)} mutants, {args.jobs} at a time, scratch copies in {base}", flush=True)
    try:
        if args.baseline if args.baseline is not None else not args.only:
            b = run_mutant(None, snapshot, files, base, slots[0], args.timeout, args.keep)
            print(f"baseline (no mutant): {b.outcome}, {b.seconds:.0f} s {b.detail}", flush=True)
            if b.outcome != "survived":
                print("Error: the unmutated suite does not pass in a scratch copy; every mutant would "
                      "look killed. Fix that first.", file=sys.stderr)
                return 1

        def one(m: Mutant) -> Result:
            with lock:
                slot = free.pop()
            try:
                try:
                    r = run_mutant(m, snapshot, files, base, slot, args.timeout, args.keep)
                except Exception as e:  # a broken copy, not a verdict on the mutant
                    r = Result(m, "error", 0.0, f"{type(e).__name__}: {e}")
            finally:
                with lock:
                    free.append(slot)
            with lock:
                print(f"[{_minutes(time.monotonic() - t_start):>8}] {m.id}: {r.outcome} in {r.seconds:.0f} s"
                      f"{'  (marked equivalent)' if m.equivalent else ''}  {r.detail}", flush=True)
            return r

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(one, mutants))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    elapsed = time.monotonic() - t_start
    status = report(results, elapsed)
    if args.json:
        args.json.write_text(json.dumps({
            "elapsed_s": round(elapsed, 1),
            "results": [{"id": r.mutant.id, "file": r.mutant.file, "outcome": r.outcome,
                         "equivalent": r.mutant.equivalent is not None, "seconds": round(r.seconds, 1),
                         "detail": r.detail} for r in results],
        }, indent=1) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
