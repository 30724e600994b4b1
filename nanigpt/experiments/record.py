"""A sweep's record: `runs/sweeps/<hash>.json`, named by a hash of its axes and member hashes.

The record is what `nanigpt sweeps`, `show sweep:PREFIX`, `compare sweep:PREFIX` and
`plot sweep:PREFIX` read: the spec as typed, its axes, and one entry per member (its number, the
tokens it resolved from, its axis values and its run hash). The runs themselves live in
`runs/<hash>/` as any run does; nothing that lists runs looks into `runs/sweeps/` (its name is
not a hash).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from nanigpt.atomic import atomic_write
from nanigpt.conf import ConfigError, hash_bytes, short_hash
from nanigpt.store import RunStore, now_iso
from nanigpt.store.rundir import SWEEPS_DIR, check_prefix

PREFIX = "sweep:"  # how show, compare and plot name a sweep


def sweeps_dir(store: RunStore) -> Path:
    return store.root / SWEEPS_DIR


def sweep_hash(axes: list[dict], members: list[dict]) -> str:
    """The sweep's content address: its axes (token and values, in order) and its members' run
    hashes, in order. The same spec over the same schema and presets gives the same hash."""
    key = {"axes": [{"token": a["token"], "values": a["values"], "group": a.get("group")} for a in axes],
           "members": [m["hash"] for m in members]}
    return hash_bytes(msgspec.json.encode(key))


def write_sweep(store: RunStore, record: dict) -> Path:
    """Write (or refresh) a sweep's record, atomically. `record` has tokens, axes and members;
    the hash, short hash and dates are filled in. Returns its path."""
    h = sweep_hash(record["axes"], record["members"])
    path = sweeps_dir(store) / f"{h}.json"
    old = _read(path) if path.exists() else None
    now = now_iso()
    full = {"hash": h, "short": short_hash(h), "created": (old or {}).get("created", now), "updated": now, **record}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, msgspec.json.encode(full))
    return path


def _read(path: Path) -> dict:
    try:
        data = msgspec.json.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError) as e:
        raise ConfigError(f"cannot read the sweep record {path}: {e}",
                          suggestion="remove it; running the sweep again writes it anew") from None
    if not isinstance(data, dict) or not isinstance(data.get("members"), list):
        raise ConfigError(f"{path} is not a sweep record", suggestion="remove it")
    return data


def _names(store: RunStore) -> list[str]:
    try:
        return sorted(n[:-5] for n in os.listdir(sweeps_dir(store)) if n.endswith(".json") and not n.startswith("."))
    except FileNotFoundError:
        return []


def load_sweep(store: RunStore, prefix: str) -> dict:
    """The record of the one sweep whose hash starts with `prefix` (at least 4 hex digits)."""
    p = check_prefix(prefix)
    matches = [n for n in _names(store) if n.startswith(p)]
    if not matches:
        raise ConfigError(f"no sweep {prefix!r} in {sweeps_dir(store)}", suggestion="`nanigpt sweeps` lists them")
    if len(matches) > 1:
        raise ConfigError(f"sweep prefix {prefix!r} is ambiguous: {len(matches)} sweeps match "
                          f"({', '.join(short_hash(m) for m in matches[:8])})", suggestion="give more digits")
    return _read(sweeps_dir(store) / f"{matches[0]}.json")


def sweep_members(store: RunStore, prefix: str) -> list[str]:
    """The run hashes of sweep `prefix`, in member order, each once."""
    return list(dict.fromkeys(m["hash"] for m in load_sweep(store, prefix)["members"]))


def list_sweeps(store: RunStore) -> list[dict[str, Any]]:
    """Every readable sweep record, newest first; an unreadable one is a row with a `problem`."""
    out = []
    for name in _names(store):
        try:
            out.append(_read(sweeps_dir(store) / f"{name}.json"))
        except ConfigError as e:
            out.append({"hash": name, "short": short_hash(name), "problem": e.message})
    return sorted(out, key=lambda r: (r.get("created") or "", r["hash"]), reverse=True)


def expand_targets(store: RunStore, names: list[str]) -> list[str]:
    """Run prefixes with every `sweep:PREFIX` replaced by its members' hashes (each once, in
    order): what compare and plot take."""
    out: list[str] = []
    for n in names:
        out += sweep_members(store, n[len(PREFIX):]) if n.startswith(PREFIX) else [n]
    return list(dict.fromkeys(out))
