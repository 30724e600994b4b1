"""`compare` over 1,000 stored runs and `plot` of 20 long runs: whole-process wall time, side by
side with the floor.

The floor is `python -c "import click, msgspec, xxhash"`, what any CLI on our three libraries pays
before doing anything. Every command runs as a whole process, round robin with the floor, so a
change in machine load hits all alike; each figure is the median of N runs and their fastest tenth
(bench_cli.fastest_tenth). The runs are written
by this script through the store's own calls (config.json, recipe.json, status.json with the
run summary, metrics.jsonl): 1,000 `preset:tiny` runs of 30 steps that differ in lr, n_layer,
the optimizer and the seed, and 20 runs of 2,000 steps with a val loss every 100.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_compare.py            # 11 runs each; a markdown table
    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_compare.py --check    # exit 1 if a budget is missed

Budgets: `compare --all` over 1,000 runs within floor + 100 ms; `plot` of the 20 runs within 3 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from bench_cli import judged_row, measure, plain_row  # whole processes, round robin, bytecode cached (bench/ is on the path)

VENV_BIN = Path(sys.executable).parent
NANIGPT = str(VENV_BIN / "nanigpt")
LRS = ("1e-3", "2e-3", "3e-3", "5e-3", "1e-2")


def write_run(store, tokens: list[str], steps: int, eval_every: int, seed: int) -> None:
    """One run as training leaves it: created by the store, its metrics lines, and its status with
    the summary the trainer keeps (last and best losses, tokens/s, wall time)."""
    from nanigpt.config import resolve

    r = resolve(tokens)
    run, _ = store.create(r.hash, r.canonical, {"tokens": tokens, "start": r.start, "blame": dict(r.blame)},
                          steps=steps)
    lines, best, t0 = [], None, 1.7e9
    for step in range(1, steps + 1):
        loss = 5.5 / (1 + step / 40) + 0.8 + 0.05 * ((step * 7919 + seed) % 13) / 13
        rec = {"step": step, "loss": loss, "lr": 1e-3 * min(1.0, step / 5), "grad_norm": 0.5 + (step % 7) / 10,
               "tokens_per_s": 48000.0 + seed, "elapsed_s": round(step * 0.02, 4), "time": round(t0 + step * 0.02, 3)}
        if step % eval_every == 0 or step == steps:
            rec["val_loss"] = loss + 0.1
            rec["eval_s"] = 0.01
            best = rec["val_loss"] if best is None else min(best, rec["val_loss"])
        lines.append(msgspec.json.encode(rec) + b"\n")
    (run.path / "metrics.jsonl").write_bytes(b"".join(lines))
    with run.lock():
        run.write_status(state="finished", step=steps, train_loss=rec["loss"], val_loss=rec["val_loss"],
                         best_val_loss=best, tokens_per_s=48000.0 + seed, wall_s=rec["elapsed_s"], attempts=1)


def setup(tmp: Path) -> dict[str, list[str]]:
    from nanigpt.store import RunStore

    many = RunStore(tmp / "many")
    for i in range(1000):
        tokens = ["preset:tiny", f"lr={LRS[i % 5]}", f"model.n_layer={2 + 2 * (i // 5 % 2)}", f"train.seed={i}"]
        if i % 10 == 9:
            tokens.insert(1, "optim=muon")
        write_run(many, tokens, 30, 10, i)
    long = RunStore(tmp / "long")
    for i in range(20):
        write_run(long, ["preset:tiny", f"lr={LRS[i % 5]}", f"model.n_layer={2 + 2 * (i // 5)}", "train.steps=2000"],
                  2000, 100, i)
    return {
        "floor": [sys.executable, "-c", "import click, msgspec, xxhash"],
        # a reference with a known figure (BENCHMARKS.md section 2): one status.json per run
        "nanigpt runs (the same 1,000 runs)": [NANIGPT, "runs", "--runs-dir", str(tmp / "many")],
        "nanigpt compare --all (1,000 runs)": [NANIGPT, "compare", "--all", "--runs-dir", str(tmp / "many")],
        "nanigpt compare --all --sort=-best_val_loss --json (1,000 runs)": [
            NANIGPT, "compare", "--all", "--sort=-best_val_loss", "--json", "--runs-dir", str(tmp / "many")],
        "nanigpt plot --all (20 runs x 2,000 steps)": [
            NANIGPT, "plot", "--all", "--runs-dir", str(tmp / "long"), "-o", str(tmp / "plot.png")],
    }


BUDGETS = {  # "+": ms over the floor; "ms": an absolute limit
    "nanigpt compare --all (1,000 runs)": ("+", 100.0),
    "nanigpt compare --all --sort=-best_val_loss --json (1,000 runs)": ("+", 100.0),
    "nanigpt plot --all (20 runs x 2,000 steps)": ("ms", 3000.0),
}


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return platform.processor() or "?"
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "?")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=11, help="timed runs per command (median and fastest tenth reported)")
    ap.add_argument("--check", action="store_true", help="exit 1 if a command misses its budget")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_compare_") as d:
        os.environ["MPLCONFIGDIR"] = str(Path(d) / "mpl")  # matplotlib's font cache, warmed by the first run
        commands = setup(Path(d))
        times = measure(commands, args.runs, Path(d) / "pycache")
    print(f"`OMP_NUM_THREADS=1 {' '.join(['.venv/bin/python', 'bench/bench_compare.py', *sys.argv[1:]])}`: "
          f"{args.runs} whole-process runs a command, round robin in a new order each round (bytecode cached); "
          f"{time.strftime('%Y-%m-%d')}, {cpu_model()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load {load_before:.2f} before / {os.getloadavg()[0]:.2f} after\n")
    print(plain_row("header", [], times["floor"]))
    missed = []
    for name, ts in times.items():
        if name == "floor" or name not in BUDGETS:  # the floor, the reference
            print(plain_row(name if name == "floor" else f"`{name}` (reference)", ts, times["floor"]))
            continue
        kind, value = BUDGETS[name]
        row, ok = judged_row(name, ts, times["floor"], [(kind, value)])
        missed += [] if ok else [name]
        print(row)
    if args.check and missed:
        raise SystemExit(f"over budget: {', '.join(missed)}")


if __name__ == "__main__":
    main()
