"""The host process: glibc's allocator tuned for training on the CPU.

torch allocates every CPU tensor with the C library's malloc. glibc serves large blocks
(>= 128 KiB at first) with a fresh mmap and gives freed memory at the top of its heap back to
the system, so a training step that frees and re-allocates the same activations every step
takes thousands of page faults each time, every one a zeroed page from the kernel. For the
4-layer, 128-wide GPT of bench/bench_train.py that is ~3,800 faults per step: a bfloat16 step
takes 20.2 ms with them against 15.8 ms without (BENCHMARKS.md, 3a). Raising the two thresholds keeps those blocks in the heap for reuse: ~240
faults per step (data, logging). It is what the allocators PyTorch's CPU tuning guide suggests
(jemalloc, tcmalloc) do, without a preload.

The cost: up to `TRIM_THRESHOLD` of freed memory stays with the process instead of going back
to the system, and blocks under `MMAP_THRESHOLD` come from the heap. Numerics do not change.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from typing import Any

MIB = 1 << 20
# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks this large or larger still get their own mmap: on 64-bit glibc, 32 MiB is the most its
# dynamic threshold ever reaches, so this is the setting glibc itself would grow into.
MMAP_THRESHOLD = 32 * MIB
# Free memory at the top of the heap beyond this goes back to the system.
TRIM_THRESHOLD = 128 * MIB

_applied: dict[str, Any] | None = None


def tune_malloc(enable: bool = True) -> dict[str, Any]:
    """Set glibc's mmap and trim thresholds for this process (once); the allocator's state, for
    attempts.jsonl.

    Returns {"malloc": "glibc", "mmap_threshold": ..., "trim_threshold": ...} once set (also when
    `enable` is False but an earlier run in this process set them: they cannot be unset), or
    {"malloc": "default", "why": ...} where they are not.
    """
    global _applied
    if _applied is None and enable:
        _applied = _tune()
    if _applied is not None:
        return _applied
    return {"malloc": "default", "why": "--no-tune-malloc"}


def _tune() -> dict[str, Any]:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return {"malloc": "default", "why": "not glibc"}
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError) as e:
        return {"malloc": "default", "why": f"no mallopt: {e}"}
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # Setting either threshold also turns off glibc's own adjustment of the other: set both.
    if not mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD):
        return {"malloc": "default", "why": "mallopt refused the mmap threshold"}
    record: dict[str, Any] = {"malloc": "glibc", "mmap_threshold": MMAP_THRESHOLD}
    if mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD):
        record["trim_threshold"] = TRIM_THRESHOLD
    return record


def cpu_bf16_units(cpuinfo: str | None = None) -> str:
    """What this CPU multiplies bfloat16 matrices with: "amx", "avx512_bf16", "none", or
    "unknown" where /proc/cpuinfo cannot be read (not Linux).

    Recorded in each bfloat16 attempt on a CPU, so that a speed can be read against the
    hardware that made it. It says nothing about speed by itself: capping oneDNN's instruction
    set on an AMX machine (`bench_train.py isa`) is no stand-in for a real CPU of another kind.
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return "unknown"
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    if not flags:
        return "unknown"
    if "amx_bf16" in flags:
        return "amx"
    return "avx512_bf16" if "avx512_bf16" in flags else "none"
