"""Sweeps: what a member costs beyond its own training, against a shell loop of `nanigpt train`
and Hydra's multirun; and `--jobs 2` against one member at a time.

    .venv/bin/python bench/bench_sweep.py overhead --rounds 5   # per-member overhead, 3 ways
    .venv/bin/python bench/bench_sweep.py jobs --rounds 3       # 8 members: --jobs 2 vs sequential

overhead: 8 `preset:tiny` members (seed=1..8) on the built-in corpus, each trained by
  (a) one `nanigpt sweep` process, (b) a shell loop of `nanigpt train`, one process per member,
  and for Hydra (c) `python task.py -m x=1..8`, a Hydra 1.3 task that does nothing, with its
  basic launcher (jobs one after another in one process). A member's overhead is its marginal
  cost beyond its own training: (wall(8 members) - wall(1 member) - (training(8) - training(1)))
  / 7, where a member's training is the trainer's own time (`train_s` in its attempt: data and
  model built, steps, evals, checkpoints); everything else (a process, imports, resolving, the
  run directory and the attempt record) is overhead. Hydra's task trains nothing. The median over rounds, interleaved round by
  round. Goal: naniGPT's sweep <= 0.3 s per member.
  hydra-core 1.3 needs omegaconf < 2.4 and naniGPT's bench extra pins omegaconf 2.4, so Hydra gets
  an environment of its own, made on first use in .bench-venvs/hydra (pinned by
  bench/hydra-constraints.txt; needs the package registry once).

jobs: the same 8 members (train.steps=120, so training dominates) trained by `nanigpt sweep`
  sequentially, then with `--jobs 2` (each member on one of the 2 cores), interleaved; the
  speed-up is the ratio of wall times.

Every process runs with OMP_NUM_THREADS=1 (a member trained alone uses one thread, as each of
`--jobs 2`'s does), so the comparison is not skewed by thread counts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NANIGPT = str(Path(sys.executable).parent / "nanigpt")
HYDRA_VENV = ROOT / ".bench-venvs" / "hydra"
MEMBERS = 8
SPEC = ["preset:tiny"]

_TASK = textwrap.dedent(
    """
    import hydra
    from omegaconf import DictConfig

    @hydra.main(version_base=None, config_path=None, config_name=None)
    def main(cfg: DictConfig) -> None:
        pass  # the job does nothing: what is left is Hydra's own cost per job

    if __name__ == "__main__":
        main()
    """
)


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}


def _cpu() -> str:
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def _load() -> str:
    return open("/proc/loadavg").read().split()[0]


def _timed(cmd: list[str], **kw) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t


def _training_s(runs: Path) -> float:
    """The members' own training: the trainer's time for each (`train_s` in its attempt: building
    its data and model, its steps, evals and checkpoints). Everything else a member costs (a
    process, imports, resolving the spec, the run directory and attempt record) is overhead."""
    total = 0.0
    for f in runs.glob("*/attempts.jsonl"):
        total += sum(json.loads(line)["train_s"] for line in f.read_text().splitlines())
    return total


def _seeds(n: int) -> str:
    return ",".join(str(s) for s in range(1, n + 1))


def _sweep(n: int, tmp: Path, *extra: str) -> tuple[float, float]:
    runs = Path(tempfile.mkdtemp(dir=tmp))
    wall = _timed([NANIGPT, "sweep", *SPEC, f"seed={_seeds(n)}", *extra, "--runs-dir", str(runs)])
    return wall, _training_s(runs)


def _loop(n: int, tmp: Path) -> tuple[float, float]:
    runs = Path(tempfile.mkdtemp(dir=tmp))
    script = f'for s in $(seq 1 {n}); do "{NANIGPT}" train {" ".join(SPEC)} seed=$s --runs-dir "{runs}"; done'
    wall = _timed(["bash", "-c", script])
    return wall, _training_s(runs)


def _hydra_python() -> str:
    py = HYDRA_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(HYDRA_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-c", str(ROOT / "bench" / "hydra-constraints.txt"), "hydra-core", "omegaconf"], check=True)
    return str(py)


def _hydra(n: int, tmp: Path, py: str, task: Path) -> tuple[float, float]:
    out = Path(tempfile.mkdtemp(dir=tmp))
    wall = _timed([py, str(task), "-m", f"+x={_seeds(n)}", f"hydra.sweep.dir={out}", f"hydra.run.dir={out}"], cwd=out)
    return wall, 0.0


def overhead(rounds: int) -> str:
    load0 = _load()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        task = tmp / "task.py"
        task.write_text(_TASK)
        py = _hydra_python()
        ways = {"sweep": lambda n: _sweep(n, tmp), "loop": lambda n: _loop(n, tmp),
                "hydra": lambda n: _hydra(n, tmp, py, task)}
        per: dict[str, list[float]] = {k: [] for k in ways}
        walls: dict[str, list[float]] = {k: [] for k in ways}
        for r in range(rounds):
            for name, run in ways.items():
                w1, t1 = run(1)
                w8, t8 = run(MEMBERS)
                per[name].append((w8 - w1 - (t8 - t1)) / (MEMBERS - 1))
                walls[name].append(w8)
            print(f"round {r + 1}: " + ", ".join(f"{k} {per[k][-1]:.3f}s" for k in ways), file=sys.stderr)
    med = {k: statistics.median(v) for k, v in per.items()}
    labels = {"sweep": "`nanigpt sweep` (one process)", "loop": "shell loop of `nanigpt train`",
              "hydra": "Hydra 1.3 multirun, a task that does nothing"}
    lines = [
        f"`.venv/bin/python bench/bench_sweep.py overhead --rounds {rounds}`: {MEMBERS} `preset:tiny` members "
        f"(seed=1..{MEMBERS}); {_cpu()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"OMP_NUM_THREADS=1; load average {load0} at the start, {_load()} at the end",
        "",
        "| way | per member, beyond its training (median) | per round | 8 members, wall (median) | beyond the sweep, per member |",
        "|---|---:|---|---:|---:|",
    ]
    for k in ways:
        lines.append(f"| {labels[k]} | {med[k]:.3f} s | {' '.join(f'{x:.3f}' for x in per[k])} | "
                     f"{statistics.median(walls[k]):.1f} s | {med[k] - med['sweep']:+.3f} s |")
    ok = "met" if med["sweep"] <= 0.3 else "MISSED"
    lines += ["", f"- Goal: a sweep member's overhead <= 0.3 s: {med['sweep']:.3f} s, {ok}."]
    return "\n".join(lines)


def jobs(rounds: int) -> str:
    load0 = _load()
    extra = ("train.steps=120",)
    seq, par = [], []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for r in range(rounds):
            order = [("seq", ()), ("par", ("--jobs", "2"))]
            for name, flags in order if r % 2 == 0 else order[::-1]:
                wall, _ = _sweep(MEMBERS, tmp, *extra, *flags)
                (seq if name == "seq" else par).append(wall)
            print(f"round {r + 1}: sequential {seq[-1]:.1f}s, --jobs 2 {par[-1]:.1f}s", file=sys.stderr)
    s, p = statistics.median(seq), statistics.median(par)
    return "\n".join([
        f"`.venv/bin/python bench/bench_sweep.py jobs --rounds {rounds}`: {MEMBERS} `preset:tiny` members, "
        f"train.steps=120; {_cpu()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS=1; load average {load0} at the "
        f"start, {_load()} at the end",
        "",
        "| way | wall s (median) | per round | speed-up |",
        "|---|---:|---|---:|",
        f"| one member at a time | {s:.1f} | {' '.join(f'{x:.1f}' for x in seq)} | 1.00x |",
        f"| `--jobs 2` | {p:.1f} | {' '.join(f'{x:.1f}' for x in par)} | {s / p:.2f}x |",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["overhead", "jobs"])
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    print(overhead(a.rounds) if a.what == "overhead" else jobs(a.rounds))


if __name__ == "__main__":
    main()
