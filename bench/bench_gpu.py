"""GPU throughput of naniGPT's trainer: preset:gpt2 in bf16 with --compile, and +fp8 against bf16.

What it measures, per case, by running the real `nanigpt train` command for a few hundred steps:
steady tokens/s (the median of the per-step figures in metrics.jsonl after the first --skip
steps, so compile and autotuning stay out), MFU = tokens/s x (6N + 12 L H Q T) / peak, and the
peak GPU memory the trainer recorded in attempts.jsonl. Cases (--cases):

    bf16-768    preset:gpt2 (124M, width 768) under bf16 autocast
    fp8-768     the same +fp8 (tensorwise float8 for the blocks' Linear layers)
    bf16-2048   preset:gpt2 at width 2048 (16 heads of 128, --wide-layers layers) in bf16
    fp8-2048    the same +fp8

The peak is H100/H200 SXM dense bf16, 989 TFLOP/s, for every case (fp8 included, so the MFU
columns compare directly; fp8's own dense peak is twice that). The data is synthetic: uniform
random uint16 tokens written to a temp folder, because a GPU machine may reach no data set, and
throughput does not depend on the token values. It needs a CUDA GPU; --smoke runs the same
plumbing on tiny models (any device) to check the script itself, and measures nothing of note.

Running it on a GPU machine that has torch but not naniGPT's other dependencies
(e.g. Python 3.12 + torch 2.11, without msgspec or torchao):

1. On a machine with PyPI access, from the repository root, fetch wheels for the GPU machine's
   Python into `.wheels/` (about 21 MB; add `.wheels/` to .git/info/exclude so it stays untracked):

       pip download --dest .wheels --only-binary=:all: --no-deps \\
           --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \\
           --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \\
           --platform manylinux2014_x86_64 --platform manylinux_2_24_x86_64 --platform any \\
           msgspec==0.22.0 xxhash==4.1.0 click==8.5.1 numpy==2.4.6 torchao==0.18.0

   (torchao's wheel is cp310-abi3 and loads its kernels on torch >= 2.11; float8 training
   itself uses torch._scaled_mm.)
2. Carry `.wheels` along to the GPU machine (the device tool's `carry: [".wheels"]`), then:

       python -m pip install --quiet --no-index --no-deps --target /tmp/site .wheels/*.whl
       PYTHONPATH=$PWD:/tmp/site python bench/bench_gpu.py --cases bf16-768,fp8-768 --out $OUT/gpu.json

   naniGPT itself runs from the checkout (PYTHONPATH), presets included. Each case of the
   default sizes takes about 1-4 minutes on an H100 plus compile; run the cases in separate
   commands if one command has a time limit.

Figures go to stdout as a Markdown table and, with --out, to a JSON file (with the GPU name and
library versions) for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PEAK_BF16_FLOPS = 989e12  # H100/H200 SXM, dense bf16 tensor cores
VOCAB = 50257  # GPT-2's tokenizer; preset:gpt2 pads the embedding to 50304

CASES: dict[str, list[str]] = {
    "bf16-768": ["+bf16"],
    "fp8-768": ["+bf16", "+fp8"],
    "bf16-2048": ["+bf16", "model.n_embd=2048", "model.n_head=16"],
    "fp8-2048": ["+bf16", "+fp8", "model.n_embd=2048", "model.n_head=16"],
}


def write_shards(folder: Path, train_tokens: int, val_tokens: int, vocab: int) -> tuple[Path, Path]:
    """Uniform random token ids as raw little-endian uint16 shards (the format ShardData reads)."""
    rng = random.Random(0)
    out = []
    for name, n in (("train", train_tokens), ("val", val_tokens)):
        path = folder / f"{name}.bin"
        tokens = array("H", (rng.randrange(vocab) for _ in range(n)))
        if sys.byteorder != "little":
            tokens.byteswap()
        path.write_bytes(tokens.tobytes())
        out.append(path)
    return out[0], out[1]


def flops_per_token(tokens: list[str]) -> tuple[int, int]:
    """(training FLOPs per token, parameters) of the model a spec resolves to, built on meta."""
    import torch

    from nanigpt.config import resolve
    from nanigpt.model.gpt import GPT

    cfg = resolve(tokens).config.model
    with torch.device("meta"):
        model = GPT(cfg)
    return model.flops_per_token(), sum(p.numel() for p in model.parameters())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_case(name: str, args: argparse.Namespace, data: tuple[Path, Path], runs: Path) -> dict[str, Any]:
    spec = ["preset:gpt2", *CASES[name]]
    if "2048" in name:
        spec.append(f"model.n_layer={args.wide_layers}")
    spec += [
        f"data.train={data[0]}",
        f"data.val={data[1]}",
        f"train.steps={args.steps}",
        f"train.batch_tokens={args.batch_tokens}",
        f"schedule.warmup_steps={min(10, args.steps)}",
        # One small eval at the end: the point is training throughput.
        "eval.interval=0",
        "eval.batches=1",
        "eval.full_at_end=false",
    ]
    if args.smoke:
        spec += ["model.n_layer=2", "model.block_size=128", "train.batch_tokens=2048"]
        spec += [f"model.n_embd={64 if '768' in name else 128}", "model.n_head=2"]
    micro = args.micro_batch if "768" in name else args.wide_micro_batch
    cmd = [sys.executable, "-m", "nanigpt", "train", *spec, "--device", args.device,
           "--micro-batch", str(micro), "--checkpoint-every", "0", "--no-progress", "--runs-dir", str(runs)]
    cmd.append("--compile" if args.compile else "--no-compile")
    print(f"[{name}] {' '.join(cmd[2:])}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"[{name}] nanigpt train failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir() and (p / "metrics.jsonl").exists()]
    steps = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "tokens_per_s" in r and not r.get("superseded")]
    attempt = read_jsonl(run_dir / "attempts.jsonl")[-1]
    steady = [r["tokens_per_s"] for r in steps[args.skip :]] or [r["tokens_per_s"] for r in steps]
    tok_s = statistics.median(steady)
    fpt, params = flops_per_token(spec)
    return {
        "case": name,
        "spec": spec,
        "hash": run_dir.name,
        "params": params,
        "flops_per_token": fpt,
        "steps_measured": len(steady),
        "tokens_per_s": tok_s,
        "mfu": tok_s * fpt / args.peak,
        "peak_memory_mb": attempt.get("peak_memory_mb"),
        "compile_s": attempt.get("compile_s"),
        "fp8": attempt.get("fp8"),
        "final_loss": steps[-1]["loss"] if steps else None,
        "wall_s": round(wall, 1),
        "notice": [line for line in proc.stderr.splitlines() if line.startswith("naniGPT:")],
    }


def environment() -> dict[str, Any]:
    import torch

    from importlib.metadata import PackageNotFoundError, version

    env: dict[str, Any] = {"python": sys.version.split()[0], "torch": torch.__version__}
    try:
        # From the metadata: importing torchao here would only add its import-time noise.
        env["torchao"] = version("torchao")
    except PackageNotFoundError:
        env["torchao"] = None
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    return env


def table(results: list[dict[str, Any]]) -> str:
    rows = ["| case | params | tokens/s | MFU | peak memory | compile | vs bf16 |", "|---|---|---|---|---|---|---|"]
    by_name = {r["case"]: r for r in results}
    for r in results:
        base = by_name.get(r["case"].replace("fp8", "bf16"))
        speedup = f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}x" if base and base is not r else ""
        mem = f"{r['peak_memory_mb'] / 1024:.1f} GiB" if r["peak_memory_mb"] is not None else "?"
        comp = f"{r['compile_s']:.0f} s" if r["compile_s"] is not None else "-"
        rows.append(
            f"| {r['case']} | {r['params'] / 1e6:.0f}M | {r['tokens_per_s']:,.0f} | {100 * r['mfu']:.1f}% "
            f"| {mem} | {comp} | {speedup} |"
        )
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps per case")
    p.add_argument("--skip", type=int, default=20, help="first steps left out of the median")
    p.add_argument("--batch-tokens", type=int, default=131072, help="global batch (128 sequences of 1024)")
    p.add_argument("--micro-batch", type=int, default=16, help="sequences per forward at width 768")
    p.add_argument("--wide-micro-batch", type=int, default=8, help="sequences per forward at width 2048")
    p.add_argument("--wide-layers", type=int, default=4, help="layers of the width-2048 model")
    p.add_argument("--device", default="cuda")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--peak", type=float, default=PEAK_BF16_FLOPS, help="peak FLOP/s for MFU")
    p.add_argument("--smoke", action="store_true", help="tiny models: check the plumbing, measure nothing")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    args = p.parse_args()
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        p.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if not args.smoke and not args.device.startswith("cuda"):
        p.error("measuring needs a CUDA device (--device cuda); use --smoke to check the script elsewhere")

    results = []
    with tempfile.TemporaryDirectory(prefix="nanigpt-bench-") as tmp:
        folder = Path(tmp)
        block = 128 if args.smoke else 1024
        data = write_shards(folder, train_tokens=max(2_000_000 if not args.smoke else 50_000, 4 * block),
                            val_tokens=max(200_000 if not args.smoke else 10_000, 4 * block), vocab=VOCAB)
        for name in names:
            runs = folder / f"runs-{name}"
            results.append(run_case(name, args, data, runs))
            r = results[-1]
            print(f"[{name}] {r['tokens_per_s']:,.0f} tokens/s, MFU {100 * r['mfu']:.1f}%, "
                  f"peak {r['peak_memory_mb']} MB, {r['wall_s']} s", file=sys.stderr, flush=True)
    env = environment()
    print(f"{env.get('gpu', args.device)}, torch {env['torch']}, torchao {env['torchao']}"
          + (" (SMOKE: tiny models, not a measurement)" if args.smoke else ""))
    print(table(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"environment": env, "smoke": args.smoke, "peak_flops": args.peak,
                                        "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
