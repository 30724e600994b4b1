"""`nanigpt prepare`: throughput against tokenizers' own encode_batch, peak memory, and training
from uint16 against uint32 shards. Every figure is a ratio against a comparison run in the same
session, interleaved round by round so that a change in machine load hits both alike.

    .venv/bin/python bench/bench_prepare.py speed            # MB/s of text, bpe, on every core
    .venv/bin/python bench/bench_prepare.py memory --gb 1    # peak RSS on 1 GB (generated in /tmp)
    .venv/bin/python bench/bench_prepare.py train            # tokens/s from uint16 vs uint32 shards

speed: the text is tinyshakespeare (../shared/data/, read, never copied into the checkout)
repeated to --mb MB. The floor is `Tokenizer.encode_batch` of tokenizers on that text (in lines,
and in 64k-character chunks; the faster is the floor), with its own thread pool on every core,
timed around the call alone: no interpreter start-up, no import, no reading, no writing.
`prepare` is timed as a whole process: start-up, reading and hashing the text, worker
processes, writing and fsyncing the shards. Goal: prepare >= 0.8x the floor, with
`file:` (the tokenizer bpe learned, so the same encoding work as the floor) and, separately,
with `bpe:` learning its merges first.

memory: the built-in corpus repeated to --gb GB in a temp file; `prepare --tokenizer bpe:...`
on it while the resident memory of its process tree (parent and workers, summed at each
sample) is read from /proc every 50 ms. Goal: <= 500 MB.

train: the built-in corpus prepared with bpe:512 (uint16), and the same tokens rewritten as
uint32 shards; preset:tiny (model.vocab_size=512) trained on each, alternating, fresh
processes; tokens/s is the trainer's own (eval excluded). Also the batch gather alone.
Goal: uint32 no slower than uint16.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
NANIGPT = str(VENV_BIN / "nanigpt")
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _env() -> str:
    load = os.getloadavg()[0]
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    return (f"{_cpu()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
            f"load average {load:.1f} at the start, OMP_NUM_THREADS={threads}")


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(args: list[str], **kw) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a whole process, its worker processes included."""
    t, c = time.perf_counter(), _cpu_children()
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode:
        sys.exit(f"bench_prepare: {' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return time.perf_counter() - t, _cpu_children() - c


_FLOOR = textwrap.dedent(
    """
    import json, resource, sys, time
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(sys.argv[1])
    text = open(sys.argv[2], encoding="utf-8").read()
    lines = text.splitlines(keepends=True)
    chunks = [text[i : i + 65536] for i in range(0, len(text), 65536)]
    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process
        return r.ru_utime + r.ru_stime
    out = {}
    for name, batch, f in (("lines", lines, tok.encode_batch), ("chunks", chunks, tok.encode_batch),
                           ("fast", chunks, tok.encode_batch_fast)):
        if name not in sys.argv[3].split(","):
            continue
        t, c = time.perf_counter(), cpu()
        f(batch, add_special_tokens=False)
        out[name] = [time.perf_counter() - t, cpu() - c]
    print(json.dumps(out))
    """
)


def speed(mb: int, vocab: int, rounds: int, command: str, lean: bool = False) -> str:
    """With `lean`, only the floor over lines and `prepare --tokenizer bpe:` (for large texts,
    where the other rows would take most of an hour)."""
    if not SHAKESPEARE.is_file():
        sys.exit(f"bench_prepare: the sample text is missing: {SHAKESPEARE}")
    env = _env()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        one = SHAKESPEARE.read_text(encoding="utf-8")
        text = one * max(1, round(mb * 1e6 / len(one.encode())))
        src = d / "text.txt"
        src.write_text(text, encoding="utf-8")
        nbytes = src.stat().st_size
        rows: dict[str, list[tuple[float, float]]] = {
            k: [] for k in ("floor_lines", "floor_chunks", "fast", "file", "file1", "bpe")}
        for r in range(rounds):
            out_bpe = d / f"bpe{r}"
            rows["bpe"].append(_run([NANIGPT, "prepare", str(src), "--out", str(out_bpe), "--tokenizer",
                                     f"bpe:{vocab}", "--no-progress"]))
            tok = out_bpe / "tokenizer.json"
            which = "lines" if lean else "lines,chunks,fast"
            f = json.loads(subprocess.run([sys.executable, "-c", _FLOOR, str(tok), str(src), which],
                                          capture_output=True, text=True, check=True).stdout)
            for key, name in (("floor_lines", "lines"), ("floor_chunks", "chunks"), ("fast", "fast")):
                if name in f:
                    rows[key].append(tuple(f[name]))
            if lean:
                continue
            rows["file"].append(_run([NANIGPT, "prepare", str(src), "--out", str(d / f"file{r}"), "--tokenizer",
                                      f"file:{tok}", "--no-progress"]))
            rows["file1"].append(_run([NANIGPT, "prepare", str(src), "--out", str(d / f"one{r}"), "--tokenizer",
                                       f"file:{tok}", "--no-progress", "--workers", "1"]))
        manifest = json.loads((d / "bpe0" / "manifest.json").read_text())
    wall = {k: statistics.median(w for w, _ in v) for k, v in rows.items() if v}
    cpu = {k: statistics.median(c for _, c in v) for k, v in rows.items() if v}
    floor_key = min((k for k in ("floor_lines", "floor_chunks") if k in wall), key=lambda k: wall[k])
    floor = nbytes / 1e6 / wall[floor_key]

    def row(name: str, key: str, note: str = "") -> str:
        rate = nbytes / 1e6 / wall[key]
        return (f"| {name} | {wall[key]:.2f} | {rate:.2f} | {rate / floor:.2f}x | {cpu[key]:.2f} | "
                f"{cpu[floor_key] / cpu[key]:.2f}x | {note} |")

    tokens = manifest["train"]["tokens"] + manifest["val"]["tokens"]
    table = [
        row("floor: `encode_batch`, " + ("lines" if floor_key == "floor_lines" else "64k chunks"), floor_key,
            "the call alone, thread pool on every core"),
    ]
    if not lean:
        table += [
            row("`encode_batch`, " + ("64k chunks" if floor_key == "floor_lines" else "lines"),
                "floor_chunks" if floor_key == "floor_lines" else "floor_lines"),
            row("`encode_batch_fast`, 64k chunks (no offsets)", "fast"),
            row(f"`nanigpt prepare --tokenizer file:` (bpe:{vocab}'s file)", "file",
                "whole process, 2 workers; goal >= 0.8x"),
            row("the same, `--workers 1`", "file1", "whole process, one core"),
        ]
    table.append(row(f"`nanigpt prepare --tokenizer bpe:{vocab}`", "bpe", "whole process, learning the merges first"))
    return "\n".join([
        f"`{command}`: {nbytes / 1e6:.1f} MB of text ({tokens:,} tokens, bpe:{vocab} learned "
        f"{manifest['tokenizer']['vocab_size']:,}), median of {rounds} interleaved rounds; {env}",
        "",
        "| what | wall s | MB/s of text | vs floor | CPU s | floor's CPU / this | |",
        "|---|---:|---:|---:|---:|---:|---|",
        *table,
    ])


def _tree_rss_kb(pid: int) -> tuple[int, dict[int, int]]:
    """Resident kB of `pid` and its descendants, summed, and per process."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/status") as f:
                kb = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = kb
    tree, todo = {}, [pid]
    while todo:
        p = todo.pop()
        tree[p] = rss.get(p, 0)
        todo += children.get(p, [])
    return sum(tree.values()), tree


def memory(gb: float, vocab: int, command: str) -> str:
    from nanigpt.data.corpus import read_builtin

    env = _env()
    corpus = read_builtin()
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        d = Path(d)
        src = d / "big.txt"
        with open(src, "wb") as f:
            for _ in range(max(1, round(gb * 1e9 / len(corpus)))):
                f.write(corpus)
        nbytes = src.stat().st_size
        out = d / "out"
        t = time.perf_counter()
        proc = subprocess.Popen([NANIGPT, "prepare", str(src), "--out", str(out), "--tokenizer", f"bpe:{vocab}",
                                 "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak, peak_each, samples = 0, {}, 0
        while proc.poll() is None:
            total, each = _tree_rss_kb(proc.pid)
            peak = max(peak, total)
            for p, kb in each.items():
                peak_each[p] = max(peak_each.get(p, 0), kb)
            samples += 1
            time.sleep(0.05)
        stdout, stderr = proc.communicate()
        seconds = time.perf_counter() - t
        if proc.returncode:
            sys.exit(f"bench_prepare: prepare failed:\n{stdout}{stderr}")
        manifest = json.loads((out / "manifest.json").read_text())
    parent = peak_each.get(proc.pid, 0)
    workers = sorted((kb for p, kb in peak_each.items() if p != proc.pid), reverse=True)
    return "\n".join([
        f"`{command}`: {nbytes / 1e9:.2f} GB of text (the built-in corpus x {round(nbytes / len(corpus))}), "
        f"bpe:{vocab} learned from {manifest['split']['train_sample_chars'] / 1e6:.0f}M characters, "
        f"{manifest['train']['tokens'] + manifest['val']['tokens']:,} tokens in {seconds:.0f} s "
        f"({nbytes / 1e6 / seconds:.2f} MB/s); {samples} samples of /proc; {env}",
        "",
        "| what | peak RSS | budget |",
        "|---|---:|---|",
        f"| the process tree (parent + workers, summed per sample) | {peak / 1024:.0f} MB | <= 500 MB: "
        f"{'ok' if peak / 1024 <= 500 else 'MISSED'} |",
        f"| the parent alone | {parent / 1024:.0f} MB | |",
        f"| each worker (largest first) | {', '.join(f'{kb / 1024:.0f}' for kb in workers[:4])} MB | |",
    ])


_TRAIN = textwrap.dedent(
    """
    import io, json, sys, torch
    torch.set_num_threads(int(sys.argv[3]))
    from nanigpt.conf import resolve
    from nanigpt.train import train
    from nanigpt.train.runtime import RuntimeOptions
    r = resolve(["preset:tiny", "data=shards", f"data.train={sys.argv[1]}/train", f"data.val={sys.argv[1]}/val",
                 "model.vocab_size=512", f"train.steps={sys.argv[2]}", "eval.interval=0", "eval.full_at_end=false"])
    s = train(r.config, RuntimeOptions(progress="off"), None, out=io.StringIO())
    print(json.dumps({"tokens_per_s": s.tokens_per_s}))
    """
)

_GATHER = textwrap.dedent(
    """
    import json, sys, time, torch
    torch.set_num_threads(1)
    from nanigpt.data.config import ShardData
    from nanigpt.data.sources import load_shards
    d = load_shards(ShardData(train=sys.argv[1] + "/train", val=sys.argv[1] + "/val"), block_size=128)
    best = float("inf")
    for r in range(15):  # the best of 15 repeats: what the gather costs when nothing else runs
        t = time.perf_counter()
        for k in range(200):
            d.batch(r * 200 + k, 64)
        best = min(best, (time.perf_counter() - t) / 200 * 1e6)
    print(json.dumps({"us": best, "dtype": str(d.train.segments[0].dtype)}))
    """
)


def train_speed(steps: int, rounds: int, threads: int, command: str) -> str:
    import numpy as np

    from nanigpt.data import manifest as mf
    from nanigpt.data.corpus import read_builtin
    from nanigpt.data.shards import read_shard, read_tokens, write_shard

    env = _env()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "corpus.txt").write_bytes(read_builtin())
        u16, u32 = d / "u16", d / "u32"
        _run([NANIGPT, "prepare", str(d / "corpus.txt"), "--out", str(u16), "--tokenizer", "bpe:512", "--no-progress"])
        shutil.copytree(u16, u32)
        m, raw = mf.read(u32 / mf.NAME)
        for e in m.shards():
            ids = read_tokens(read_shard(u16 / e.file, headered=True))
            write_shard(u32 / e.file, ids.astype(np.uint32), "uint32")
        (u32 / mf.NAME).write_bytes(raw.replace(b'"dtype": "uint16"', b'"dtype": "uint32"'))
        runs: dict[str, list[float]] = {"uint16": [], "uint32": []}
        gather: dict[str, list[float]] = {"uint16": [], "uint32": []}
        for r in range(rounds):
            for name, path in (("uint16", u16), ("uint32", u32)) if r % 2 == 0 else (("uint32", u32), ("uint16", u16)):
                out = subprocess.run([sys.executable, "-c", _TRAIN, str(path), str(steps), str(threads)],
                                     capture_output=True, text=True, check=True).stdout
                runs[name].append(json.loads(out.splitlines()[-1])["tokens_per_s"])
                g = json.loads(subprocess.run([sys.executable, "-c", _GATHER, str(path)], capture_output=True,
                                              text=True, check=True).stdout)
                assert g["dtype"] == f"torch.{name}", g
                gather[name].append(g["us"])
    t16, t32 = statistics.median(runs["uint16"]), statistics.median(runs["uint32"])
    b16, b32 = max(runs["uint16"]), max(runs["uint32"])
    g16, g32 = min(gather["uint16"]), min(gather["uint32"])
    # per round, uint32 over uint16 from the runs side by side: the spread says what noise is
    pairs = [b / a for a, b in zip(runs["uint16"], runs["uint32"])]
    return "\n".join([
        f"`{command}`: preset:tiny on the built-in corpus prepared with bpe:512, {steps} steps, {threads} thread(s), "
        f"median of {rounds} alternating fresh processes each; {env}",
        "",
        "| shards | tokens/s, median | vs uint16 | tokens/s, best round | vs uint16 | batch gather, 64 x 129, "
        "best | vs uint16 |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| uint16 (llm.c v1) | {t16:,.0f} | 1.00x | {b16:,.0f} | 1.00x | {g16:.0f} us | 1.00x |",
        f"| uint32 (llm.c v7) | {t32:,.0f} | {t32 / t16:.2f}x | {b32:,.0f} | {b32 / b16:.2f}x | {g32:.0f} us | "
        f"{g32 / g16:.2f}x time |",
        "",
        f"tokens/s per round, uint16: {', '.join(f'{x:,.0f}' for x in runs['uint16'])}; "
        f"uint32: {', '.join(f'{x:,.0f}' for x in runs['uint32'])}; uint32/uint16 per round: "
        f"{', '.join(f'{x:.2f}' for x in pairs)}",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["speed", "memory", "train", "all"])
    ap.add_argument("--mb", type=int, default=16, help="speed: MB of text (tinyshakespeare repeated)")
    ap.add_argument("--vocab", type=int, default=8192, help="speed, memory: bpe:VOCAB")
    ap.add_argument("--rounds", type=int, default=3, help="speed, train: interleaved rounds")
    ap.add_argument("--gb", type=float, default=1.0, help="memory: GB of text (the built-in corpus repeated)")
    ap.add_argument("--steps", type=int, default=300, help="train: steps per run")
    ap.add_argument("--threads", type=int, default=1, help="train: torch threads")
    ap.add_argument("--lean", action="store_true", help="speed: only the floor over lines and bpe (large --mb)")
    a = ap.parse_args()
    command = " ".join([".venv/bin/python", "bench/bench_prepare.py", *sys.argv[1:]])
    parts = []
    if a.what in ("speed", "all"):
        parts.append(speed(a.mb, a.vocab, a.rounds, command, a.lean))
    if a.what in ("memory", "all"):
        parts.append(memory(a.gb, a.vocab, command))
    if a.what in ("train", "all"):
        parts.append(train_speed(a.steps, a.rounds, a.threads, command))
    print("\n\n".join(parts))


if __name__ == "__main__":
    main()
