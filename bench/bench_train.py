"""Training benchmarks: throughput against plain nanoGPT, quality per wall-clock, start-up, memory.

    .venv/bin/python bench/bench_train.py throughput --threads 2      # (a) naniGPT vs nanoGPT, same sitting
    .venv/bin/python bench/bench_train.py throughput --threads 2 --compile   # ... plus naniGPT --compile
    .venv/bin/python bench/bench_train.py recipe --threads 2          # (a) all 2000 steps: time, val loss
    .venv/bin/python bench/bench_train.py isa --threads 2 --rounds 1  # (a) +bf16 without AMX (oneDNN capped)
    .venv/bin/python bench/bench_train.py quality --threads 2         # (b) preset:shakespeare_fast, 3 runs
    .venv/bin/python bench/bench_train.py quality --runs 1 --check    # exit 1 if it misses its loss
    .venv/bin/python bench/bench_train.py ablations --threads 2       # (b) what each technique buys
    .venv/bin/python bench/bench_train.py startup                     # (c) `nanigpt train` before step 1
    .venv/bin/python bench/bench_train.py memory                      # peak memory of preset:small
    .venv/bin/python bench/bench_train.py profile --threads 1         # --profile's cost outside its window
    .venv/bin/python bench/bench_train.py sinks --threads 1           # --log tensorboard's cost per step
    .venv/bin/python bench/bench_train.py all --threads 2 --out bench/out/train.md

Every measurement runs in a fresh subprocess with OMP_NUM_THREADS and torch's thread count set to
--threads, so runs do not share warm caches or allocator state, and each prints one Markdown table
(appended to --out when given). Run on an otherwise idle machine: a busy neighbour halves the
numbers. Figures go into BENCHMARKS.md with the date, the machine and the command.
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
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
PY = sys.executable

# (a): the nanoGPT README's CPU "baby GPT" shapes and optimizer settings.
BABY = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12)
REFERENCE_MS = {2: 46.0, 1: 70.5}  # nanoGPT's ms/step on the reference machine, per thread count
TARGET_SPEEDUP = 1.2
# (b)
QUALITY_LOSS = 1.88
QUALITY_BUDGET_S = {2: 50.0, 1: 75.0}
# (c)
STARTUP_BUDGET_S = 0.5


def _env(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            # preset:shakespeare_fast lives beside the benchmarks, not in the shipped presets.
            "NANIGPT_PRESETS": str(ROOT / "bench" / "presets")}


def _python(code: str, threads: int, timeout: float = 1800, *, prelude: bool = True,
            env: dict[str, str] | None = None) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON object as its last stdout line."""
    prelude = f"import torch; torch.set_num_threads({threads})\n" if prelude else ""
    proc = subprocess.run([PY, "-c", prelude + textwrap.dedent(code)], env={**_env(threads), **(env or {})},
                          capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)
    if proc.returncode:
        raise RuntimeError(f"benchmark subprocess failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _table(title: str, header: list[str], rows: list[list[str]], notes: list[str]) -> str:
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n"


# -- (a) throughput ---------------------------------------------------------------------------

_NANIGPT_THROUGHPUT = """
import io, json, sys, tempfile
from pathlib import Path
from nanigpt.conf import canonical_bytes, config_hash
from nanigpt.store.rundir import RunStore
from nanigpt.config import RunConfig
from nanigpt.data.config import TextData
from nanigpt.model.config import GPTConfig
from nanigpt.optim.config import AdamW, ScheduleConfig
from nanigpt.training.loop import train
from nanigpt.training.config import EvalConfig, PrecisionConfig, TrainConfig
from nanigpt.training.runtime import RuntimeOptions
steps, warmup = {steps}, {warmup}
cfg = RunConfig(
    model=GPTConfig(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0),
    data=TextData(path={path!r}, val_fraction=0.1),
    optim=AdamW(lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1),
    schedule=ScheduleConfig(warmup_steps=min(100, steps), decay="cosine", min_lr_ratio=0.1),
    train=TrainConfig(steps=steps, batch_tokens=64 * 12, grad_clip=1.0),
    eval=EvalConfig(interval=0, batches=20, full_at_end={full_eval}),
    precision=PrecisionConfig(autocast={autocast!r}),
)
with tempfile.TemporaryDirectory() as tmp:
    run, _ = RunStore(Path(tmp)).create(config_hash(cfg), canonical_bytes(cfg), {{"tokens": [], "start": "", "blame": {{}}}})
    summary = train(cfg, RuntimeOptions(checkpoint_every=0, progress="off", compile={compile},
                                        tune_malloc={tune_malloc}), run, {{}}, out=io.StringIO())
    records = run.metrics()
    elapsed = [m["elapsed_s"] for m in records]
compile_s = next((m["compile_s"] for m in records if "compile_s" in m), None)
# Wall time between consecutive steps' records: everything the loop does (batch, step, logging).
# The last step is left out: its record waits for the final eval.
per_step = [b - a for a, b in zip(elapsed[warmup:-1], elapsed[warmup + 1:-1])]
print(json.dumps({{"ms": [1000 * t for t in per_step], "compile_s": compile_s, "val_loss": summary.val_loss,
                  "train_s": elapsed[-2]}}))
"""

_NANOGPT_THROUGHPUT = """
import json, sys, tempfile
from pathlib import Path
sys.path.insert(0, "bench")
import nanogpt_ref
if {tune_malloc}:
    from nanigpt.training.host import tune_malloc
    tune_malloc()
with tempfile.TemporaryDirectory() as tmp:
    vocab = nanogpt_ref.prepare_char_data(Path({path!r}), Path(tmp))
    if {vocab_override}:
        vocab = {vocab_override}
    result = {{}} if {full_eval} else None
    times = nanogpt_ref.train(Path(tmp), vocab, iters={steps}, bf16={bf16}, result=result)
print(json.dumps({{"ms": [1000 * t for t in times[{warmup}:]], "train_s": sum(times), **(result or {{}})}}))
"""


def _nani(steps: int, warmup: int, *, bf16: bool = False, compiled: bool = False, tune_malloc: bool = True,
          full_eval: bool = False) -> str:
    return _NANIGPT_THROUGHPUT.format(steps=steps, warmup=warmup, path=str(SHAKESPEARE), compile=compiled,
                                      autocast="bfloat16" if bf16 else "float32", tune_malloc=tune_malloc,
                                      full_eval=full_eval)


def _nano(steps: int, warmup: int, *, vocab: int = 0, bf16: bool = False, tune_malloc: bool = False,
          full_eval: bool = False) -> str:
    return _NANOGPT_THROUGHPUT.format(steps=steps, warmup=warmup, path=str(SHAKESPEARE), vocab_override=vocab,
                                      bf16=bf16, tune_malloc=tune_malloc, full_eval=full_eval)


def _loops(steps: int, warmup: int, compiled: bool, full_eval: bool = False) -> list[tuple[str, str]]:
    """The rows of (a): naniGPT in float32 and under bfloat16 autocast (`+bf16`), then nanoGPT."""
    loops = [("naniGPT eager", _nani(steps, warmup, full_eval=full_eval)),
             ("naniGPT eager +bf16", _nani(steps, warmup, bf16=True, full_eval=full_eval))]
    if not full_eval:
        loops += [("naniGPT eager +bf16 --no-tune-malloc", _nani(steps, warmup, bf16=True, tune_malloc=False))]
    if compiled:
        # The loop compiles up front (one warm-up micro-step, its time reported apart as compile_s),
        # so the steps measured here are steady state.
        loops += [("naniGPT --compile", _nani(steps, warmup, compiled=True, full_eval=full_eval)),
                  ("naniGPT --compile +bf16", _nani(steps, warmup, bf16=True, compiled=True, full_eval=full_eval))]
    loops += [("nanoGPT eager (vocab 65)", _nano(steps, warmup, full_eval=full_eval))]
    if not full_eval:
        loops += [("nanoGPT eager (vocab 256)", _nano(steps, warmup, vocab=256)),
                  ("nanoGPT eager, naniGPT's malloc tuning added (vocab 65)", _nano(steps, warmup, tune_malloc=True))]
    loops += [("nanoGPT eager, bf16 autocast added (vocab 65)", _nano(steps, warmup, bf16=True, full_eval=full_eval))]
    return loops


def throughput(threads: int, steps: int, warmup: int, rounds: int, compiled: bool = False,
               command: str = "") -> str:
    tokens = BABY["block_size"] * BABY["batch_size"]
    loops = _loops(steps, warmup, compiled)
    results: dict[str, list[float]] = {name: [] for name, _ in loops}
    compile_s: dict[str, list[float]] = {name: [] for name, _ in loops}
    for _ in range(rounds):  # interleaved, so slow drift of the machine hits both sides alike
        for name, code in loops:
            with tempfile.TemporaryDirectory() as cache:
                # An empty inductor cache (FX graphs, AOT autograd, C++ kernels): compile s is what
                # a first `nanigpt train --compile` pays; a warm cache makes it a few seconds.
                r = _python(code, threads, env={"TORCHINDUCTOR_CACHE_DIR": cache})
            results[name].append(statistics.median(r["ms"]))
            if r.get("compile_s") is not None:
                compile_s[name].append(r["compile_s"])
    ms = {k: statistics.median(v) for k, v in results.items()}
    base = ms["nanoGPT eager (vocab 65)"]
    rows = [[k, str(threads), f"{v:.1f}", f"{min(results[k]):.1f}-{max(results[k]):.1f}", f"{tokens / v * 1000:,.0f}",
             f"{base / v:.2f}x", f"{statistics.median(compile_s[k]):.1f}" if compile_s[k] else "-"]
            for k, v in ms.items()]
    ref = REFERENCE_MS.get(threads)
    notes = [
        f"command: `{command}`" if command else "",
        f"{threads} thread(s) (OMP_NUM_THREADS and torch.set_num_threads); GPT 4 layers x 4 heads x 128, context 64, "
        f"12 sequences ({tokens} tokens) per step, AdamW lr 1e-3 betas (0.9, 0.99) wd 0.1, grad clip 1.0, "
        "tinyshakespeare (last 10% val)",
        "precision: float32 unless the row says bf16. `+bf16` is naniGPT's `precision.autocast=bfloat16` (a config "
        "field, so a different hash): matmuls in bfloat16 (AMX on this CPU), attention kept in float32 on the CPU. "
        "nanoGPT on a CPU runs float32 (its autocast context is a nullcontext there); its bf16 row adds autocast "
        "as nanoGPT does on a GPU, a what-if: torch's CPU flash-attention backward is slow in bfloat16",
        f"ms/step: median over {rounds} interleaved round(s) (fresh process each) of the median of steps "
        f"{warmup}..{steps - 1}; the range is over rounds",
        "naniGPT's time is wall time between steps' metrics records: batch, step, logging, all of it "
        "(the same code path as `nanigpt train`, with `--compile` for the compiled row)",
        "compile s: the loop's up-front compile of forward and backward with an empty inductor cache "
        "(TORCHINDUCTOR_CACHE_DIR fresh per process), not in ms/step",
        "nanoGPT eager (vocab 65) is the README's char-level setup and the ratio's base; (vocab 256) has exactly "
        "naniGPT's byte-level shapes",
        "naniGPT sets glibc's malloc thresholds on the CPU (`--tune-malloc`, on by default; nanigpt/training/host.py): "
        "the 'malloc tuning added' row gives the plain loop the same, a what-if that shows what of the gap it is",
        "that bf16 trains this recipe to the same loss as float32: `bench_train.py recipe`",
    ]
    if ref:
        notes.append(f"target: >= {TARGET_SPEEDUP}x of nanoGPT's tokens/s in the same sitting (its {ref} ms/step on the "
                     f"reference machine -> <= {ref / TARGET_SPEEDUP:.1f} ms/step there)")
    return _table(f"(a) Training throughput, {threads} thread(s)",
                  ["loop", "threads", "ms/step", "range", "tokens/s", "vs nanoGPT eager", "compile s"],
                  rows, [n for n in notes if n])


# oneDNN (torch's CPU matmuls) held to an instruction set, to see +bf16 on CPUs without AMX.
ISAS = ["ALL", "AVX512_CORE_BF16", "AVX512_CORE", "AVX2"]


def isa(threads: int, steps: int, warmup: int, rounds: int, command: str = "") -> str:
    """naniGPT float32 against +bf16 on (a)'s shape, with ONEDNN_MAX_CPU_ISA at each level."""
    rows = []
    for level in ISAS:
        ms: dict[str, list[float]] = {"float32": [], "bfloat16": []}
        for _ in range(rounds):
            for dtype in ms:
                r = _python(_nani(steps, warmup, bf16=dtype == "bfloat16"), threads,
                            env={"ONEDNN_MAX_CPU_ISA": level})
                ms[dtype].append(statistics.median(r["ms"]))
        f32, b16 = statistics.median(ms["float32"]), statistics.median(ms["bfloat16"])
        rows.append([level, f"{f32:.1f}", f"{b16:.1f}", f"{b16 / f32:.2f}x"])
    notes = [f"command: `{command}`" if command else "",
             f"{threads} thread(s); (a)'s shape and recipe, naniGPT eager, median over {rounds} round(s) of the median "
             f"of steps {warmup}..{steps - 1}",
             "ONEDNN_MAX_CPU_ISA caps the instructions oneDNN may use: ALL is this CPU (AMX), AVX512_CORE_BF16 a CPU "
             "with AVX512-BF16 but no AMX, AVX512_CORE one without bfloat16 instructions, AVX2 an older or smaller one"]
    return _table(f"(a) bf16 autocast by CPU instruction set, {threads} thread(s)",
                  ["oneDNN ISA", "float32 ms/step", "+bf16 ms/step", "bf16 / float32 time"], rows,
                  [n for n in notes if n])


def recipe(threads: int, steps: int, command: str = "") -> str:
    """The whole recipe (2000 steps) once per loop: wall time and the val loss it reaches."""
    rows = []
    for name, code in _loops(steps, 0, compiled=False, full_eval=True):
        r = _python(code, threads)
        val_20 = f"{r['val_20']:.4f}" if "val_20" in r else "-"
        rows.append([name, f"{r['train_s']:.1f}", f"{statistics.median(r['ms']):.1f}", val_20,
                     f"{r.get('val_full', r.get('val_loss')):.4f}"])
    notes = [
        f"command: `{command}`" if command else "",
        f"{threads} thread(s); {steps} steps of (a)'s recipe (warmup 100, cosine to 0.1x), one run per row",
        "train s: the training steps' wall time (no eval, no start-up); ms/step: their median",
        "val 20: nanoGPT's estimate_loss (eval_iters=20 random val batches); whole val: the mean loss over every val "
        "token (non-overlapping 64-token windows), naniGPT's `eval.full_at_end`",
        "the issue's reference: 1.886 (20 batches), 1.898 (whole val split) after 2000 steps",
    ]
    return _table(f"(a) The whole recipe, {threads} thread(s): time and val loss",
                  ["loop", "train s", "ms/step", "val 20", "whole val"], rows, [n for n in notes if n])


# -- (b) quality per wall-clock -----------------------------------------------------------------


def _timed_train(spec: list[str], threads: int, runs_dir: Path, flags: tuple[str, ...] = ()) -> dict:
    """`nanigpt train SPEC` from process start; the time to its final (whole val split) eval."""
    t0 = time.time()
    proc = subprocess.run([PY, "-m", "nanigpt", "train", *spec, *flags, "--runs-dir", str(runs_dir), "--no-progress"],
                          env=_env(threads), capture_output=True, text=True, cwd=ROOT)
    total = time.time() - t0
    if proc.returncode:
        raise RuntimeError(f"nanigpt train failed:\n{proc.stderr[-3000:]}")
    (run_dir,) = [p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    final = [m for m in metrics if m.get("val_full") and not m.get("superseded")][-1]
    attempt = json.loads((run_dir / "attempts.jsonl").read_text().splitlines()[-1])
    return {"val_loss": final["val_loss"], "to_eval_s": final["time"] - t0, "total_s": total,
            "compile_s": next((m["compile_s"] for m in metrics if "compile_s" in m), None),
            "tokens_per_s": attempt.get("tokens_per_s")}


def quality(threads: int, runs: int, spec: list[str]) -> tuple[str, float]:
    """The table of `runs` trainings of `spec`, and their median whole-val-split loss."""
    rows, results = [], []
    for i in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            r = _timed_train(spec, threads, Path(tmp))
        results.append(r)
        rows.append([str(i + 1), f"{r['val_loss']:.4f}", f"{r['to_eval_s']:.1f}", f"{r['total_s']:.1f}",
                     "-" if r["compile_s"] is None else f"{r['compile_s']:.1f}"])
    med = statistics.median(r["to_eval_s"] for r in results)
    loss = statistics.median(r["val_loss"] for r in results)
    rows.append(["median", f"{loss:.4f}", f"{med:.1f}", f"{statistics.median(r['total_s'] for r in results):.1f}", ""])
    budget = QUALITY_BUDGET_S.get(threads)
    notes = [
        f"`nanigpt train {' '.join(spec)}` at {threads} thread(s); time from process start to the final "
        "whole-val-split eval's metrics record (compile included); `total` is the whole process",
        f"target: whole-val-split loss <= {QUALITY_LOSS}" + (f" within {budget:.0f} s" if budget else ""),
    ]
    return _table(f"(b) Quality per wall-clock, {threads} thread(s)",
                  ["run", "val loss (whole split)", "s to that eval", "total s", "compile s"], rows, notes), loss


# Each row changes one thing of preset:shakespeare_fast, undoing (or pushing) one technique.
ABLATIONS: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("the base spec (every technique)", [], ()),
    ("AdamW (lr 3e-3) instead of Muon", ["optim=adamw", "lr=3e-3"], ()),
    ("GELU instead of ReLU²", ["activation=gelu"], ()),
    ("learned positions instead of RoPE", ["position=learned"], ()),
    ("no QK-norm", ["qk_norm=false"], ()),
    ("LayerNorm instead of RMSNorm", ["norm=layernorm"], ()),
    ("untied head", ["tie_embeddings=false"], ()),
    ("WSD (to 0) instead of cosine (to 0.1)", ["schedule.decay=wsd", "schedule.min_lr_ratio=0"], ()),
    ("Muon lr 0.04 (2x)", ["lr=0.04"], ()),
    ("AdamW-side lr 3e-3 (Muon's default)", ["optim.adamw_lr=3e-3"], ()),
    ("bf16 autocast", ["+bf16"], ()),
    ("--compile", [], ("--compile",)),
]


def ablations(threads: int, base: list[str]) -> str:
    rows = []
    for name, tokens, flags in ABLATIONS:
        with tempfile.TemporaryDirectory() as tmp:
            r = _timed_train([*base, *tokens], threads, Path(tmp), flags)
        rows.append([name, f"{r['val_loss']:.4f}", f"{r['to_eval_s']:.1f}", f"{r['tokens_per_s']:,.0f}"])
    notes = [f"one run each at {threads} thread(s); the loss is deterministic for a config at a thread count, "
             "the time is not: rerun rows that matter", f"each row is `{' '.join(base)}` plus the change"]
    return _table(f"(b) What each technique buys, {threads} thread(s)",
                  ["change", "val loss (whole split)", "s to that eval", "tokens/s"], rows, notes)


# -- (c) start-up ---------------------------------------------------------------------------------

_STARTUP = """
import json, time
t = {"start": time.perf_counter()}
import torch
t["torch"] = time.perf_counter() - t["start"]
from nanigpt.builders import build
from nanigpt.model.config import GPTConfig
cfg = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32)
t0 = time.perf_counter()
model = build(cfg, generator=torch.Generator().manual_seed(0))
t["model"] = time.perf_counter() - t0
t0 = time.perf_counter()
# What any PyTorch script pays for its first optimizer: torch.optim imports torch._dynamo lazily.
torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
t["optimizer"] = time.perf_counter() - t0
print(json.dumps(t))
"""


def startup(threads: int, repeats: int) -> str:
    """Time to the first step of `nanigpt train preset:tiny`, beyond what a plain PyTorch script pays."""
    rows, overheads = [], []
    for _ in range(repeats):
        base = _python(_STARTUP, threads, prelude=False)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.time()
            proc = subprocess.run([PY, "-m", "nanigpt", "train", "preset:tiny", "train.steps=1", "schedule.warmup_steps=0",
                                   "--runs-dir", tmp, "--no-progress"], env=_env(threads), capture_output=True,
                                  text=True, cwd=ROOT)
            if proc.returncode:
                raise RuntimeError(proc.stderr[-3000:])
            (run_dir,) = [p for p in Path(tmp).iterdir() if p.is_dir()]
            first = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
            # The record's wall clock minus its elapsed time is when step 1 began.
            to_first = first["time"] - first["elapsed_s"] - t0
        overhead = to_first - base["torch"] - base["model"] - base["optimizer"]
        overheads.append(overhead)
        rows.append([f"{to_first:.2f}", f"{base['torch']:.2f}", f"{base['model']:.3f}", f"{base['optimizer']:.2f}",
                     f"{overhead:.2f}"])
    notes = [
        f"`nanigpt train preset:tiny` at {threads} thread(s), {repeats} fresh processes; start-up = process launch to "
        "step 1; overhead = start-up - (import torch + build the model + build its AdamW), timed in a plain script",
        "the first torch.optim optimizer imports torch._dynamo (most of its column): any PyTorch loop pays it",
        "the overhead is naniGPT's own: python start, imports, resolving the spec, pre-flight, the run store and "
        "lock, reading and fingerprinting the data, the checkpoint scan",
        f"target: overhead <= {STARTUP_BUDGET_S} s; median here {statistics.median(overheads):.2f} s",
    ]
    return _table("(c) Start-up before the first step", ["to step 1 s", "import torch s", "model build s",
                                                          "optimizer build s", "overhead s"], rows, notes)


# -- memory -----------------------------------------------------------------------------------------


def memory(threads: int, steps: tuple[int, ...] = (20, 200)) -> str:
    """Peak memory of preset:small; two lengths show whether it grows with the steps."""
    rows = []
    for n in steps:
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run([PY, "-m", "nanigpt", "train", "preset:small", f"train.steps={n}",
                                   f"schedule.warmup_steps={min(n, 100)}", "eval.interval=0", "--runs-dir", tmp,
                                   "--no-progress"], env=_env(threads), capture_output=True, text=True, cwd=ROOT)
            if proc.returncode:
                raise RuntimeError(proc.stderr[-3000:])
            (run_dir,) = [p for p in Path(tmp).iterdir() if p.is_dir()]
            attempt = json.loads((run_dir / "attempts.jsonl").read_text().splitlines()[-1])
        rows.append([str(n), f"{attempt['peak_memory_mb']:.0f}", f"{attempt['tokens_per_s']:,.0f}"])
    return _table("Peak memory of preset:small", ["steps", "peak RSS MB", "tokens/s"], rows,
                  [f"{threads} thread(s), CPU: resident-set high-water mark of the whole process (torch, "
                   "the final whole-val eval and the checkpoint included)"])


def _median_step_ms(flags: tuple[str, ...], threads: int, steps: int, skip: range) -> float:
    """Median ms/step of preset:small (1,024 tokens a step) past its first 10 steps, leaving out
    the steps in `skip`, from each step's tokens_per_s in metrics.jsonl; a fresh process."""
    spec = ["preset:small", f"train.steps={steps}", "schedule.warmup_steps=10", "eval.interval=0",
            "eval.full_at_end=false", "eval.batches=1"]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([PY, "-m", "nanigpt", "train", *spec, *flags, "--runs-dir", tmp, "--no-progress",
                               "--checkpoint-every", "0"], env={**_env(threads), "WANDB_SILENT": "true"},
                              capture_output=True, text=True, cwd=ROOT)
        if proc.returncode:
            raise RuntimeError(f"nanigpt train failed:\n{proc.stderr[-3000:]}")
        (run_dir,) = [q for q in Path(tmp).iterdir() if q.is_dir() and not q.name.startswith(".")]
        recs = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
        return statistics.median(1000 * 1024 / r["tokens_per_s"] for r in recs if r["step"] > 10 and r["step"] not in skip)


def flag_cost(threads: int, rounds: int, flags: tuple[str, ...], skip: range = range(0), steps: int = 60) -> str:
    """What a runtime flag costs a training step: preset:small with `flags` against without, in
    interleaved rounds of fresh processes."""
    times: dict[str, list[float]] = {"without": [], "with": []}
    for _ in range(rounds):
        times["without"].append(_median_step_ms((), threads, steps, skip))
        times["with"].append(_median_step_ms(flags, threads, steps, skip))
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [[k, f"{med[k]:.2f}", " ".join(f"{t:.2f}" for t in times[k])] for k in ("without", "with")]
    left_out = f"; steps {skip.start}-{skip.stop - 1} (the window and the steps beside it) left out" if skip else ""
    return _table(f"`{' '.join(flags)}`: time per step (preset:small, {steps} steps)",
                  ["run", "median ms/step", "per round"], rows,
                  [f"with / without: {med['with'] / med['without']:.3f}x; {threads} thread(s), {rounds} interleaved "
                   f"rounds; median over steps 11-{steps}{left_out}"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["throughput", "recipe", "isa", "quality", "ablations", "startup", "memory",
                                     "profile", "sinks", "all"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, help="throughput: steps per run (200); recipe: steps (2000)")
    ap.add_argument("--warmup", type=int, default=20, help="throughput: steps left out at the start")
    ap.add_argument("--rounds", type=int, default=3, help="throughput: interleaved rounds")
    ap.add_argument("--compile", action="store_true",
                    help="throughput: add a naniGPT --compile row (steady state; each round compiles cold, ~1 min)")
    ap.add_argument("--runs", type=int, default=3, help="quality: runs (the median is reported)")
    ap.add_argument("--spec", default="preset:shakespeare_fast", help="quality: the spec to train")
    ap.add_argument("--repeats", type=int, default=5, help="startup: fresh processes")
    ap.add_argument("--out", type=Path, help="append the tables to this Markdown file")
    ap.add_argument("--check", action="store_true", help="quality: exit 1 if the median loss misses its target")
    a = ap.parse_args()
    if a.check and (a.what not in ("quality", "all") or a.spec != ap.get_default("spec")):
        ap.error(f"--check judges `quality` of {ap.get_default('spec')} (loss <= {QUALITY_LOSS}) only")
    if not SHAKESPEARE.exists():
        sys.exit(f"bench_train: the sample text is missing: {SHAKESPEARE}")
    header = (f"## bench_train ({time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPUs, python {platform.python_version()})\n")
    parts = [header]
    command = " ".join([".venv/bin/python", "bench/bench_train.py", *sys.argv[1:]])
    if a.what in ("throughput", "all"):
        parts.append(throughput(a.threads, a.steps or 200, a.warmup, a.rounds, a.compile, command))
    if a.what in ("recipe", "all"):
        parts.append(recipe(a.threads, a.steps or 2000, command))
    if a.what in ("isa", "all"):
        parts.append(isa(a.threads, a.steps or 200, a.warmup, a.rounds, command))
    missed = []
    if a.what in ("quality", "all"):
        table, loss = quality(a.threads, a.runs, a.spec.split())
        parts.append(table)
        if loss > QUALITY_LOSS:
            missed.append(f"quality: median whole-val-split loss {loss:.4f} > {QUALITY_LOSS}")
    if a.what in ("ablations", "all"):
        parts.append(ablations(a.threads, a.spec.split()))
    if a.what in ("startup", "all"):
        parts.append(startup(a.threads, a.repeats))
    if a.what in ("memory", "all"):
        parts.append(memory(a.threads))
    if a.what in ("profile", "all"):
        parts.append(flag_cost(a.threads, a.rounds, ("--profile-steps", "30:32"), skip=range(29, 34)))
    if a.what in ("sinks", "all"):
        parts.append(flag_cost(a.threads, a.rounds, ("--log", "tensorboard")))
    text = "\n".join(parts)
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "a") as f:
            f.write(text + "\n")
    if a.check and missed:
        raise SystemExit("; ".join(missed))


if __name__ == "__main__":
    main()
