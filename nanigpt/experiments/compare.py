"""`compare`: runs lined up in one table, one row per run. The columns are the config fields in
which the runs differ (found here), then each run's status and summary as its status.json keeps
them (no metrics file is read).

Schema-free, as `show` and `diff` are: stored configs are plain JSON, so runs of any schema version
line up. A union section's variant is one field named by its section (`optim`, holding `adamw`
or `muon`: the token `optim=muon` sets it), and a field that a run's config lacks (another variant,
another schema) is left out of that run's row (`-` in the table).

    >>> short_names(["optim.lr", "model.n_layer", "data.path", "train.path"])
    {'optim.lr': 'lr', 'model.n_layer': 'n_layer', 'data.path': 'data.path', 'train.path': 'train.path'}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from nanigpt.conf import TAG_FIELD, ConfigError, format_value
from nanigpt.conf._suggest import close_matches
from nanigpt.experiments.record import expand_targets
from nanigpt.store import RunDir, RunStore, StoreError

# What each row has after the config columns, from status.json: the state, the step reached and
# the run's length, the last train and val losses, the best val loss, this attempt's throughput
# (eval excluded) and the training time over all attempts.
SUMMARY = ("status", "step", "steps", "train_loss", "val_loss", "best_val_loss", "tokens_per_s", "wall_s")


MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()  # a field a config lacks


@dataclass(frozen=True)
class Stored:
    """One run as compare and plot read it: its stored config (plain JSON) and its live status."""

    run: RunDir
    config: dict
    status: dict

    def get(self, path: str) -> Any:
        """The value at `path` (a section's path: its variant's tag), or MISSING."""
        return value_at(self.config, path.split("."))


def value_at(cfg: dict, parts: Sequence[str]) -> Any:
    """The value at the path `parts` of a stored config (a section's: its tag), or MISSING."""
    node: Any = cfg
    for part in parts:
        if type(node) is not dict:
            return MISSING
        node = node.get(part, MISSING)
    if type(node) is dict and node:
        tag = node.get(TAG_FIELD)
        return tag if isinstance(tag, str) else MISSING
    return node


@dataclass(frozen=True)
class Table:
    """`columns` are the names in each row, in order; `paths` maps a config column's name to its
    field's path. `skipped` counts the unreadable run directories that --all passed over."""

    columns: list[str]
    paths: dict[str, str]
    rows: list[dict[str, Any]]
    skipped: int = 0


def leaves(cfg: dict) -> dict[str, Any]:
    """Leaf path -> value of a stored config; a union section's tag is the section's own entry
    (`optim`: `muon`), ahead of its fields. Lists are values, as tuples are fields."""
    out: dict[str, Any] = {}
    _flatten(cfg, "", out)
    return out


def _flatten(cfg: dict, dot: str, out: dict[str, Any]) -> None:
    tag = cfg.get(TAG_FIELD) if dot else None
    if isinstance(tag, str):
        out[dot[:-1]] = tag
    for k, v in cfg.items():
        if type(v) is dict and v:
            _flatten(v, f"{dot}{k}.", out)
        elif not (k == TAG_FIELD and tag is not None):
            out[dot + k] = v


def _differences(a: Any, b: Any, dot: str, out: dict[str, None]) -> None:
    """Add to `out` every path at which config `b` differs from `a` or exists in one only.
    Equal sections cost one C-level comparison: a thousand runs that differ in three fields are
    compared in three walks down, not in a flattening of every field of every run."""
    if type(a) is dict and a and type(b) is dict and b:
        if dot and a.get(TAG_FIELD) != b.get(TAG_FIELD):
            out[dot[:-1]] = None
        for k, va in a.items():
            vb = b.get(k, MISSING)
            if (va is vb or (type(va) is type(vb) and va == vb)) or (k == TAG_FIELD and dot):
                continue
            _differences(va, vb, f"{dot}{k}.", out)
        for k, vb in b.items():
            if k not in a and not (k == TAG_FIELD and dot):
                _differences(MISSING, vb, f"{dot}{k}.", out)
        return
    for side in (a, b):  # a leaf that differs, or a section on one side only: all its leaves
        if type(side) is dict and side:
            out.update(dict.fromkeys(leaves({dot[:-1]: side})))
        elif side is not MISSING:
            out[dot[:-1]] = None


# --- which runs -------------------------------------------------------------------------------


def load(store: RunStore, names: Sequence[str] = (), *, all_runs: bool = False) -> tuple[list[Stored], int]:
    """The runs named by hashes, prefixes and `sweep:PREFIX` (in that order, each once), or every
    run with `all_runs` (newest first). Returns them and how many run directories --all skipped
    as unreadable; a named run that cannot be read is an error."""
    if all_runs and names:
        raise ConfigError(f"--all takes every run: name no runs beside it (got {names[0]!r})")
    if all_runs:
        hashes = store.hashes()
    elif names:
        hashes = list(dict.fromkeys(store.resolve_hash(n) for n in expand_targets(store, list(names))))
    else:
        raise ConfigError("no runs named", suggestion="give run hashes, sweep:PREFIX, or --all")
    out, skipped = [], 0
    for h in hashes:
        run = RunDir(store.root / h, h)
        try:
            out.append(Stored(run, run.config_dict(), run.status()))
        except StoreError:
            if not all_runs:
                raise
            skipped += 1
    if all_runs:
        out.sort(key=lambda r: (r.status.get("created") or "", r.run.hash), reverse=True)
    return out, skipped


def _suffix_matches(name: str, paths: Iterable[str]) -> list[str]:
    return [p for p in paths if p == name or p.endswith("." + name)]


def field_path(name: str, paths: Sequence[str], what: str) -> str:
    """The one path among `paths` that is `name` or ends in `.name` (`lr` -> `optim.lr`)."""
    if name in paths:
        return name
    found = _suffix_matches(name, paths)
    if len(found) == 1:
        return found[0]
    if found:
        raise ConfigError(f"{what}: `{name}` is ambiguous in these runs: {', '.join(found)}",
                          suggestion=f"give the whole path, e.g. {found[0]}")
    close = close_matches(name, list(paths) + sorted({p.rpartition(".")[2] for p in paths}), n=1)
    raise ConfigError(f"{what}: no field `{name}` in these runs' configs",
                      suggestion=f"did you mean `{close[0]}`?" if close else "`nanigpt show HASH` shows a run's fields")


def _all_paths(runs: Sequence[Stored], changed: dict[str, None] | None = None) -> list[str]:
    """Every path any run has, in config order: by section, then as first seen (so a variant's
    fields that only later runs have stay beside their section). `changed`: the paths at which
    the runs differ from the first, if known."""
    if not runs:
        return []
    if changed is None:
        changed = _changed(runs)
    seen = list(dict.fromkeys([*leaves(runs[0].config), *changed]))
    top: dict[str, int] = {}
    for p in seen:
        top.setdefault(p.partition(".")[0], len(top))
    return sorted(seen, key=lambda p: top[p.partition(".")[0]])


def _changed(runs: Sequence[Stored]) -> dict[str, None]:
    out: dict[str, None] = {}
    for r in runs[1:]:
        _differences(runs[0].config, r.config, "", out)
    return out


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _matches(stored: Any, text: str, parsed: Any) -> bool:
    """`--where` equality: the text parsed as JSON equals the stored value (3e-4 == 0.0003), or the
    text is the stored value as the command line writes it (strings, `0.9,0.95`)."""
    if parsed is not _TEXT and isinstance(parsed, bool) == isinstance(stored, bool) and parsed == stored:
        return True
    return format_value(stored) == text


_TEXT = object()  # a --where value that is not JSON: compared as text only


def where(runs: list[Stored], conditions: Sequence[str]) -> list[Stored]:
    """The runs whose config has every `path=value` of `conditions`; a path may be any unique end
    of a field's path (`lr`). A run whose config lacks the field does not match."""
    if not conditions:
        return runs  # finding the paths walks every config: half of `compare --all`'s own time
    paths = _all_paths(runs)
    for cond in conditions:
        name, eq, text = cond.partition("=")
        if not eq or not name:
            raise ConfigError(f"--where {cond!r} is not path=value", suggestion="e.g. --where lr=0.001")
        path = field_path(name.strip(), paths, f"--where {cond}")
        try:
            parsed = msgspec.json.decode(text)
        except msgspec.DecodeError:
            parsed = _TEXT
        held = [v for v in (r.get(path) for r in runs) if v is not MISSING]
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in held)
        if held and numbers and not (isinstance(parsed, (int, float)) and not isinstance(parsed, bool)):
            raise ConfigError(f"--where {cond}: `{path}` holds numbers in these runs, not `{text}`",
                              suggestion=f"e.g. --where {name}={format_value(held[0])}")
        runs = [r for r in runs if (v := r.get(path)) is not MISSING and _matches(v, text, parsed)]
    return runs


# --- which columns ----------------------------------------------------------------------------


def differing(runs: Sequence[Stored]) -> list[str]:
    """The paths in which `runs` differ, in config order: a field whose value differs among the
    runs that have it, or that some runs lack, unless a differing variant above it (`optim`) is
    why they lack it."""
    return _differing(runs)[0]


def _differing(runs: Sequence[Stored]) -> tuple[list[str], dict[str, list[Any]]]:
    """differing(runs), and each changed path's value in each run (MISSING where a run lacks it),
    which the table's rows reuse rather than walk every config again."""
    changed = _changed(runs)
    paths = [p for p in _all_paths(runs, changed) if p in changed]
    uniform, partial = {}, set()
    values: dict[str, list[Any]] = {}
    for p in paths:
        parts = p.split(".")
        values[p] = [value_at(r.config, parts) for r in runs]
        present = [v for v in values[p] if v is not MISSING]
        uniform[p] = all(_same(v, present[0]) for v in present[1:])
        if len(present) < len(runs):
            partial.add(p)
    variants = {p for p in paths if not uniform[p] and any(q.startswith(p + ".") for q in paths)}

    def explained(p: str) -> bool:
        parts = p.split(".")
        return any(".".join(parts[:i]) in variants for i in range(1, len(parts)))

    return [p for p in paths if not uniform[p] or (p in partial and not explained(p))], values


def short_names(paths: Sequence[str], taken: Iterable[str] = ()) -> dict[str, str]:
    """Each path's shortest dotted end that no other path ends with and that is not `taken`."""
    taken = set(taken)
    out = {}
    for p in paths:
        parts = p.split(".")
        out[p] = p
        for k in range(1, len(parts) + 1):
            end = ".".join(parts[-k:])
            if end not in taken and _suffix_matches(end, paths) == [p]:
                out[p] = end
                break
    return out


# --- the table --------------------------------------------------------------------------------


def _row(r: Stored, columns: dict[str, list[Any]], i: int) -> dict[str, Any]:
    """Run `r` (the i-th) as a row: `columns` holds each config column's value in every run."""
    st = r.status
    row: dict[str, Any] = {"hash": r.run.hash}
    for name, values in columns.items():
        if (v := values[i]) is not MISSING:
            row[name] = v
    row.update(status=st["state"], step=st.get("step"), steps=st.get("steps"), train_loss=st.get("train_loss"),
               val_loss=st.get("val_loss"), best_val_loss=st.get("best_val_loss"),
               tokens_per_s=st.get("tokens_per_s"), wall_s=st.get("wall_s"))
    return row


def _sort_key(value: Any) -> tuple:
    # numbers before text, within each in order; a missing value sorts last either way (below)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, format_value(value))


def sort_rows(rows: list[dict], column: str, columns: Sequence[str]) -> list[dict]:
    """`rows` ordered by `column` (a leading `-`: descending); rows without a value come last."""
    desc = column.startswith("-")
    name = column[1:] if desc else column
    if name not in columns:
        found = _suffix_matches(name, columns)
        if len(found) != 1:
            close = close_matches(name, columns, n=1)
            raise ConfigError(f"--sort: no column `{name}` in this table ({', '.join(columns[1:])})",
                              suggestion=f"did you mean `{close[0]}`?" if close else None)
        name = found[0]
    have = [r for r in rows if r.get(name) is not None]
    lack = [r for r in rows if r.get(name) is None]
    return sorted(have, key=lambda r: _sort_key(r[name]), reverse=desc) + lack


def table(runs: list[Stored], *, columns: Sequence[str] | None = None, sort: str | None = None,
          skipped: int = 0) -> Table:
    """The table of `runs`: the fields in which they differ (or the fields `columns` names), then
    SUMMARY; sorted by `sort` if given."""
    if columns is None:
        paths, values = _differing(runs)
    else:
        every = _all_paths(runs)
        paths = list(dict.fromkeys(field_path(c, every, "--columns") for c in columns))
        values = {p: [value_at(r.config, p.split(".")) for r in runs] for p in paths}
    names = short_names(paths, taken=("hash", *SUMMARY))
    cols = ["hash", *names.values(), *SUMMARY]
    by_name = {name: values[p] for p, name in names.items()}
    rows = [_row(r, by_name, i) for i, r in enumerate(runs)]
    if sort:
        rows = sort_rows(rows, sort, cols)
    return Table(cols, {n: p for p, n in names.items()}, rows, skipped)


def compare(store: RunStore, names: Sequence[str] = (), *, all_runs: bool = False, where_: Sequence[str] = (),
            columns: Sequence[str] | None = None, sort: str | None = None) -> Table:
    """The comparison table of the runs `names` (or all runs), filtered by `where_`."""
    runs, skipped = load(store, names, all_runs=all_runs)
    return table(where(runs, where_), columns=columns, sort=sort, skipped=skipped)
