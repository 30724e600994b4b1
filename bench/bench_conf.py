"""The config core, side by side with its floor and with OmegaConf, and at 45,000 fields.

Resolution: `resolve(["preset:small", "+large", "+fp8", "lr=1e-4"])` (parse, patches, validation,
hash and the whole blame dict), against
  * the raw msgspec floor: the same config by `msgspec.structs.replace` of two sections and one
    field, then `to_builtins` + `convert` + sorted JSON encode + xxh3: resolve's own validation
    and hash, without the spec, the checks and the blame (for information);
  * OmegaConf: the same config as a structured config (dataclasses mirroring the preset; the base
    is built once, as our preset is), merged with the patches' overrides and a dotlist, then
    `to_yaml`.
All are timed round-robin in one process (a change in machine load hits all alike); each
figure is the median over rounds of the mean time per call within a round.

Scale: a generated schema of 300 section structs x 150 fields (45,000 leaves, `msgspec.defstruct`,
no RunConfig anywhere): validate + hash, one lens `set`, diff of two configs 10 fields apart
(sharing sections, decoded apart, and as stored dicts), peak memory by tracemalloc.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_conf.py            # prints a markdown table
    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_conf.py --rounds 21 --out bench/out/conf.json
    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_conf.py --check    # exit 1 if a budget is missed
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import xxhash
from msgspec import Meta
from msgspec.structs import replace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nanigpt.conf import Lens, Resolver, diff  # noqa: E402
from nanigpt.config import DEFAULT_PRESET, RunConfig, load_registry  # noqa: E402

SPEC = ["preset:small", "+large", "+fp8", "lr=1e-4"]


def per_call_us(fn: Callable[[], Any], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number * 1e6


def round_robin(benches: dict[str, tuple[Callable[[], Any], int]], rounds: int) -> dict[str, list[float]]:
    for fn, n in benches.values():  # warm up: specialized bytecode, caches, lazy tables
        for _ in range(max(1, n // 10)):
            fn()
    out: dict[str, list[float]] = {k: [] for k in benches}
    for _ in range(rounds):
        for name, (fn, n) in benches.items():
            out[name].append(per_call_us(fn, n))
    return out


# -- resolution ---------------------------------------------------------------------------------


def floor_fn() -> Callable[[], str]:
    base = load_registry().presets["small"]()
    encode = msgspec.json.Encoder(order="sorted").encode

    def edited() -> Any:
        m = base.model
        return replace(
            base,
            model=replace(m, n_layer=2 * m.n_layer, n_head=2 * m.n_head, n_embd=2 * m.n_embd),
            precision=replace(base.precision, fp8=True),
            optim=replace(base.optim, lr=1e-4),
        )

    def floor() -> str:
        v = msgspec.convert(msgspec.to_builtins(edited()), RunConfig)
        return xxhash.xxh3_128_hexdigest(encode(v))

    return floor


def _dataclass_of(value: msgspec.Struct) -> type:
    """A dataclass mirroring a struct's current variants, for OmegaConf's structured configs."""
    fields = []
    for f in msgspec.structs.fields(type(value)):
        v = getattr(value, f.name)
        if isinstance(v, msgspec.Struct):
            sub = _dataclass_of(v)
            fields.append((f.name, sub, dataclasses.field(default_factory=sub)))
            continue
        t = _omega_type(f.type)
        fields.append((f.name, t, dataclasses.field(default_factory=lambda v=v: v) if isinstance(v, tuple) else v))
    return dataclasses.make_dataclass(type(value).__name__, fields)


def _omega_type(t: Any) -> Any:
    while typing.get_origin(t) is Annotated:
        t = typing.get_args(t)[0]
    if typing.get_origin(t) is Literal:
        return str  # OmegaConf has no Literal
    if typing.get_origin(t) is tuple:
        return typing.Tuple[tuple(_omega_type(a) for a in typing.get_args(t))]  # noqa: UP006
    args = typing.get_args(t)
    if type(None) in args:
        return typing.Optional[next(a for a in args if a is not type(None))]  # noqa: UP007
    return t


def omegaconf_fn() -> Callable[[], str] | None:
    try:
        from omegaconf import OmegaConf
    except ImportError:
        return None
    small = load_registry().presets["small"]()
    base = OmegaConf.structured(_dataclass_of(small))

    def omega() -> str:
        m = base.model
        large = {"model": {"n_layer": 2 * m.n_layer, "n_head": 2 * m.n_head, "n_embd": 2 * m.n_embd}}
        cfg = OmegaConf.merge(base, large, {"precision": {"fp8": True}}, OmegaConf.from_dotlist(["optim.lr=1e-4"]))
        return OmegaConf.to_yaml(cfg)

    return omega


def bench_resolution(rounds: int) -> dict[str, Any]:
    resolver = Resolver(RunConfig, load_registry(), DEFAULT_PRESET)  # what nanigpt.config.resolve builds
    ref = resolver.resolve(SPEC)
    floor = floor_fn()
    assert floor() == ref.hash, "the floor must build the very same config"

    def ours() -> None:
        resolver.resolve(SPEC).blame

    benches: dict[str, tuple[Callable[[], Any], int]] = {
        "resolve": (ours, 2000),
        "floor": (floor, 2000),
    }
    omega = omegaconf_fn()
    if omega is not None:
        benches["omegaconf"] = (omega, 50)
    t = round_robin(benches, rounds)
    med = {k: statistics.median(v) for k, v in t.items()}
    out = {f"{k}_us": med[k] for k in med}
    out["resolve_over_floor"] = med["resolve"] / med["floor"]
    if omega is not None:
        out["omegaconf_over_resolve"] = med["omegaconf"] / med["resolve"]
    out["spread"] = {k: [round(min(v), 2), round(max(v), 2)] for k, v in t.items()}
    return out


# -- scale: 300 sections x 150 fields ---------------------------------------------------------------

_KINDS: list[tuple[Any, Callable[[int, int], Any]]] = [
    (Annotated[int, Meta(ge=0)], lambda i, j: i * 150 + j),
    (Annotated[float, Meta(ge=0.0)], lambda i, j: (i * 150 + j) / 7),
    (bool, lambda i, j: (i + j) % 2 == 0),
    (Annotated[str, Meta(min_length=1)], lambda i, j: f"s{i}-{j}"),
    (Literal["low", "mid", "high"], lambda i, j: ("low", "mid", "high")[(i + j) % 3]),
    (tuple[float, float], lambda i, j: (i / 3, j / 3)),
]


def scale_root(sections: int = 300, fields: int = 150) -> type:
    """A root with `sections` distinct section types of `fields` typed, ranged fields each."""
    opts = {"frozen": True, "kw_only": True, "forbid_unknown_fields": True}
    secs = []
    for i in range(sections):
        spec = [(f"f{j}", _KINDS[j % len(_KINDS)][0], _KINDS[j % len(_KINDS)][1](i, j)) for j in range(fields)]
        secs.append(msgspec.defstruct(f"Section{i}", spec, **opts))
    return msgspec.defstruct("ScaleRoot", [(f"s{i}", t, t()) for i, t in enumerate(secs)], **opts)


def _median_us(fn: Callable[[], Any], number: int, rounds: int) -> float:
    fn()
    return statistics.median(per_call_us(fn, number) for _ in range(rounds))


def _peak_kib(fn: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024


def bench_scale(rounds: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    Root = scale_root()
    build_ms = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    res = Resolver(Root)
    first = res.resolve([])
    cold_ms = (time.perf_counter() - t0) * 1e3  # includes building the 301 field tables
    leaves = len(first.blame)
    # msgspec's own cold start on a twin schema (its decoder tables), for scale
    twin = scale_root()
    t0 = time.perf_counter()
    msgspec.convert(msgspec.to_builtins(twin()), twin)
    msgspec_cold_ms = (time.perf_counter() - t0) * 1e3
    base = first.config

    lens = Lens.from_path(Root, "s150.f75")  # an int field
    b = base
    for i in range(10):
        b = Lens.from_path(Root, f"s{i * 30}.f{i * 15}").set(b, _KINDS[0][1](999, 0) if i % 6 == 0 else _bump(b, i))
    changes = diff(base, b)
    assert len(changes) == 10, changes
    decode = msgspec.json.Decoder(Root).decode
    a_apart, b_apart = decode(first.canonical), decode(msgspec.json.encode(b))
    a_dict, b_dict = json.loads(first.canonical), json.loads(msgspec.json.encode(b))
    assert len(diff(a_apart, b_apart)) == len(diff(a_dict, b_dict)) == 10

    out = {
        "leaves": leaves,
        "schema_build_ms": build_ms,
        "first_resolve_ms": cold_ms,
        "msgspec_first_convert_ms": msgspec_cold_ms,
        "validate_hash_ms": _median_us(lambda: res.resolve([]), 3, rounds) / 1e3,
        "validate_hash_one_token_ms": _median_us(lambda: res.resolve(["s150.f75=7"]), 3, rounds) / 1e3,
        "blame_ms": _median_us(lambda: res.resolve([]).blame, 3, rounds) / 1e3,
        "lens_set_us": _median_us(lambda: lens.set(base, 12345), 2000, rounds),
        "diff_shared_ms": _median_us(lambda: diff(base, b), 20, rounds) / 1e3,
        "diff_apart_ms": _median_us(lambda: diff(a_apart, b_apart), 3, rounds) / 1e3,
        "diff_stored_ms": _median_us(lambda: diff(a_dict, b_dict), 3, rounds) / 1e3,
        "peak_kib_validate_hash": _peak_kib(lambda: res.resolve([])),
        "peak_kib_diff_apart": _peak_kib(lambda: diff(a_apart, b_apart)),
        "peak_kib_diff_stored": _peak_kib(lambda: diff(a_dict, b_dict)),
        "config_kib": _peak_kib(lambda: decode(first.canonical)),
    }
    return out


def _bump(cfg: Any, i: int) -> Any:
    v = Lens.from_path(type(cfg), f"s{i * 30}.f{i * 15}").get(cfg)
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v + 1
    if isinstance(v, tuple):
        return (v[0] + 1, v[1])
    return "mid" if v != "mid" else "high"


# -- report -----------------------------------------------------------------------------------


BUDGETS = {
    "omegaconf_over_resolve": (">=", 50.0),
    "validate_hash_ms": ("<=", 20.0),
    "lens_set_us": ("<=", 100.0),
    "diff_shared_ms": ("<=", 30.0),
    "diff_apart_ms": ("<=", 30.0),
}


def verdict(key: str, value: float) -> str:
    if key not in BUDGETS:
        return ""
    op, lim = BUDGETS[key]
    ok = value <= lim if op == "<=" else value >= lim
    return f"{op} {lim:g}: {'ok' if ok else 'MISSED'}"


def _mem(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB" if kib >= 1024 else f"{kib:.0f} KiB"


def table(r: dict[str, Any], s: dict[str, Any]) -> str:
    rows = [
        ("resolve `preset:small +large +fp8 lr=1e-4` (+ blame)", f"{r['resolve_us']:.1f} us", ""),
        ("raw msgspec floor (replace, to_builtins, convert, encode, xxh3)", f"{r['floor_us']:.1f} us", ""),
        ("resolve / floor", f"{r['resolve_over_floor']:.2f}x", verdict("resolve_over_floor", r["resolve_over_floor"])),
    ]
    if "omegaconf_us" in r:
        rows += [
            ("OmegaConf (structured merge + dotlist + to_yaml)", f"{r['omegaconf_us']:.0f} us", ""),
            ("OmegaConf / resolve", f"{r['omegaconf_over_resolve']:.0f}x", verdict("omegaconf_over_resolve", r["omegaconf_over_resolve"])),
        ]
    rows += [
        (f"scale: validate + hash, {s['leaves']:,} leaves", f"{s['validate_hash_ms']:.1f} ms", verdict("validate_hash_ms", s["validate_hash_ms"])),
        ("scale: same, one `path=value` token", f"{s['validate_hash_one_token_ms']:.1f} ms", ""),
        ("scale: + the whole blame dict", f"{s['blame_ms']:.1f} ms", ""),
        ("scale: Resolver + first resolve (builds 301 field tables)", f"{s['first_resolve_ms']:.0f} ms", ""),
        ("scale: msgspec's own first convert of a twin schema", f"{s['msgspec_first_convert_ms']:.0f} ms", ""),
        ("scale: one lens `set`", f"{s['lens_set_us']:.1f} us", verdict("lens_set_us", s["lens_set_us"])),
        ("scale: diff, 10 fields apart, sections shared", f"{s['diff_shared_ms']:.3f} ms", verdict("diff_shared_ms", s["diff_shared_ms"])),
        ("scale: diff, 10 fields apart, decoded apart", f"{s['diff_apart_ms']:.1f} ms", verdict("diff_apart_ms", s["diff_apart_ms"])),
        ("scale: diff of the stored dicts (no schema)", f"{s['diff_stored_ms']:.1f} ms", ""),
        ("scale: peak memory (tracemalloc), validate + hash", _mem(s["peak_kib_validate_hash"]), ""),
        ("scale: peak memory, diff decoded apart", _mem(s["peak_kib_diff_apart"]), ""),
        ("scale: peak memory, diff of stored dicts", _mem(s["peak_kib_diff_stored"]), ""),
        ("scale: one decoded config", _mem(s["config_kib"]), ""),
    ]
    lines = ["| measurement | median | budget |", "|---|---:|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15, help="round-robin rounds (median over them)")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--check", action="store_true", help="exit 1 if a budget is missed")
    args = ap.parse_args()

    r = bench_resolution(args.rounds)
    s = bench_scale(max(5, args.rounds // 3))
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    env = (
        f"Python {platform.python_version()}, msgspec {msgspec.__version__}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f}" if load else ""
    )
    cmd = "OMP_NUM_THREADS=1 .venv/bin/python bench/bench_conf.py " + " ".join(sys.argv[1:])
    print(f"`{cmd.strip()}` ({env}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})\n")
    print(table(r, s))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"resolution": r, "scale": s, "env": env, "command": cmd}, indent=2))
    if args.check:
        figures = {**r, **s}
        missed = [k for k in BUDGETS if k in figures and "MISSED" in verdict(k, figures[k])]
        if missed:
            print(f"\nmissed: {', '.join(missed)}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
