"""What `show`, `diff`, `runs`, `presets`, `patches` and `fields` print. Torch-free.

Stored runs are read as plain JSON (config.json, recipe.json, status.json): these commands work
on runs made by any version of the schema, and need the schema only to resolve a spec.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import click
import msgspec

from nanigpt.store import RunDir, RunStore, describe_code, describe_status, format_loss
from nanigpt.conf import TAG_FIELD, ConfigError, format_value, short_hash

_HASHLIKE = re.compile(r"[0-9a-fA-F]{4,32}")
_MARKS = {"changed": "~", "added": "+", "removed": "-"}
_KIND_COLOR = {"changed": "yellow", "added": "green", "removed": "red"}
_STATE_COLOR = {"finished": "green", "running": "cyan", "interrupted": "yellow", "failed": "red", "created": None}


# --- output helpers ---------------------------------------------------------------------------


def use_color() -> bool:
    """Colour and bold only on a terminal, and never under NO_COLOR (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("CLICOLOR_FORCE") or os.environ.get("FORCE_COLOR"):
        return True
    return sys.stdout.isatty()


class Out:
    """Styled text when colour is on, the plain text otherwise."""

    def __init__(self, color: bool | None = None) -> None:
        self.color = use_color() if color is None else color

    def style(self, text: str, **kw: Any) -> str:
        return click.style(text, **kw) if self.color and kw else text

    def echo(self, lines: Iterable[str]) -> None:
        click.echo("\n".join(lines), color=self.color)


def echo_json(doc: Any) -> None:
    click.echo(msgspec.json.format(msgspec.json.encode(doc), indent=2).decode())


def fmt(v: Any) -> str:
    """A stored value as the command line would take it back."""
    return format_value(v)


def age(iso: str | None, now: float | None = None) -> str:
    """`3m`, `2h`, `5d` since an ISO time written by the store."""
    if not iso:
        return "-"
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return "?"
    s = max(0.0, (time.time() if now is None else now) - t)
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n:
            return f"{int(s // n)}{unit}"
    return f"{int(s)}s"


def flatten(cfg: dict, prefix: str = "") -> dict[str, Any]:
    """Leaf path -> value of a nested config dict (lists are leaves, as tuples are fields)."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        p = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, p + "."))
        else:
            out[p] = v
    return out


# --- the two kinds of target: a stored run, or a spec -----------------------------------------


class Target:
    """A config to show or compare, with where its values came from. `changed` is the leaves the
    recipe changed from the start's values (None: unknown, a run stored before it was recorded;
    then every leaf a token owns counts)."""

    def __init__(
        self,
        hash: str,
        config: dict,
        tokens: list[str],
        start: str,
        blame: dict[str, str],
        run: RunDir | None,
        changed: list[str] | None = None,
        dead: list[tuple[str, str]] = (),  # type: ignore[assignment]
    ) -> None:
        self.hash, self.config, self.tokens, self.start, self.blame = hash, config, tokens, start, blame
        self.run = run
        self.changed = frozenset(changed) if changed is not None else None
        self.dead = list(dead)  # (token, the later token that undid it): a spec's tokens that do nothing

    @property
    def short(self) -> str:
        return short_hash(self.hash)

    @property
    def recipe(self) -> str:
        """The tokens as a shell would take them back (quoted where needed)."""
        return shlex.join(self.tokens) if self.tokens else f"(empty spec: {self.start or 'the default preset'})"

    def token_of(self, path: str) -> str:
        return self.blame.get(path, self.start)

    def is_set(self, path: str) -> bool:
        """True if the recipe changed this leaf from the start's value."""
        return path in self.changed if self.changed is not None else self.token_of(path) != self.start


def load_target(store: RunStore, words: list[str]) -> Target:
    """A run when `words` is one hex word (a hash prefix), else the spec `words` resolved."""
    if len(words) == 1 and _HASHLIKE.fullmatch(words[0]):
        stored = store.run(words[0])
        recipe = stored.recipe()
        marked = recipe.get("set_by_recipe")
        return Target(stored.hash, stored.config_dict(), list(recipe["tokens"]), recipe.get("start") or "",
                      recipe.get("blame") or {}, stored, marked if isinstance(marked, list) else None)
    from nanigpt.config import load_registry, resolve
    from nanigpt.store.recipe import recipe_set

    registry = load_registry()
    r = resolve(list(words), runs=store, registry=registry)
    cfg = msgspec.json.decode(r.canonical)
    path = os.path.join(store.dir, r.hash)
    run = RunDir(path, r.hash) if os.path.isdir(path) else None
    return Target(r.hash, cfg, list(r.tokens), r.start, dict(r.blame), run, recipe_set(r, store, registry),
                  r.dead_tokens())


def dead_tokens(dead: list[tuple[str, ...]], *, strict: bool) -> None:
    """One `Warning:` line per token that does nothing (a later one undid every field it set);
    with `strict`, the first is an error. Each is (token, later token[, " in member(s) 2, 4"])."""
    for tok, later, *where in dead:
        message = f"`{tok}` does nothing{''.join(where)}: `{later}` later sets or replaces every field it set"
        if strict:
            raise ConfigError(message, token=tok, suggestion=f"drop it, or move it after `{later}`")
        click.echo(f"Warning: {message}", err=True)


# --- show -------------------------------------------------------------------------------------


def _ordered(d: dict) -> list[tuple[str, Any]]:
    # A union's tag says what the rest of the section means, so it comes first; then plain
    # values, then sub-sections.
    return sorted(d.items(), key=lambda kv: (kv[0] != TAG_FIELD, isinstance(kv[1], dict) and bool(kv[1]), kv[0]))


def render_config(t: Target, out: Out, *, blame: bool) -> list[str]:
    """The config as an indented tree; values the recipe changed bold (terminal) or marked `*`."""
    rows: list[tuple[int, str, str | None, str]] = []  # (depth, key, value or None for a section, path)

    def walk(d: dict, depth: int, prefix: str) -> None:
        for k, v in _ordered(d):
            if isinstance(v, dict) and v:
                rows.append((depth, k, None, f"{prefix}{k}"))
                walk(v, depth + 1, f"{prefix}{k}.")
            else:
                rows.append((depth, k, fmt(v), f"{prefix}{k}"))

    walk(t.config, 0, "")
    width = max((2 * d + len(k) for d, k, v, _ in rows if v is not None), default=0)
    vwidth = min(40, max((len(v) for _, _, v, _ in rows if v is not None), default=0))
    lines = []
    for depth, key, value, path in rows:
        indent = "  " * depth
        if value is None:
            lines.append(f"  {indent}{out.style(key, fg='blue', bold=True)}")
            continue
        token = t.token_of(path)
        set_here = t.is_set(path)
        gutter = "* " if set_here and not out.color else "  "
        text = f"{(indent + key).ljust(width)}  {value}"
        if set_here:
            text = out.style(text, bold=True)
        if blame:
            pad = " " * max(0, vwidth - len(value))
            text += f"{pad}  " + out.style(token, dim=not set_here, fg=None if not set_here else "magenta")
        lines.append((gutter + text).rstrip())
    return lines


def attempt_lines(attempts: list[dict]) -> list[str]:
    """One aligned row per attempt: number, start, outcome and step, device x processes, code, host."""
    rows = []
    for i, a in enumerate(attempts, 1):
        flags = a.get("flags") or {}
        where = f"{a.get('device') or flags.get('device') or '?'} x{a.get('world_size') or 1}"
        git = a.get("git") or {}
        code = f"naniGPT {a.get('version', '?')}"
        if git.get("commit"):
            code += f" @ {describe_code(git)}"
        step = a.get("step")
        outcome = a.get("outcome") or "running"
        what = f"{outcome} at step {step}" if step is not None else outcome
        rows.append((f"{i:>2}", a.get("start") or "?", what, where, code, a.get("host") or ""))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _profile_files(run_dir: str) -> list[str]:
    """What `train --profile` wrote in the run's profile/: traces first (by window), then the
    memory summaries."""
    try:
        names = [e.name for e in os.scandir(os.path.join(run_dir, "profile")) if not e.name.startswith(".")]
    except OSError:  # none, or not a folder
        return []
    return sorted(names, key=lambda n: (not n.startswith("trace-"), n))


def show_command(words: tuple[str, ...], *, blame: bool, as_json: bool, runs_dir: str, strict: bool = False,
                 as_spec: bool = False) -> None:
    store = RunStore(runs_dir)
    # `show "preset:tiny +large"` (one quoted word, as diff takes it): split where a space stands
    # outside a value; `data.path=/a b` is one token, and stays one
    spec = split_spec(words[0]) if len(words) == 1 and " " in words[0].partition("=")[0] else list(words)
    t = load_target(store, spec)
    dead_tokens(t.dead, strict=strict)
    if as_spec:  # one pasteable line that needs no preset or patch code
        from nanigpt.config import spec_from_defaults

        click.echo(shlex.join(spec_from_defaults(t.config)))
        return
    st = t.run.status() if t.run is not None else None
    attempts = t.run.attempts() if t.run is not None else []
    if st is not None and st.get("attempt"):
        attempts.append({**st["attempt"], "outcome": st["state"], "step": st.get("step")})
    marked = sorted(p for p in flatten(t.config) if t.is_set(p))
    profiles = [os.path.join(t.run.dir, "profile", name) for name in _profile_files(t.run.dir)] if t.run else []
    if as_json:
        echo_json({
            "hash": t.hash,
            "short": t.short,
            "path": os.path.join(store.dir, t.hash),
            "trained": t.run is not None,
            "recipe": {"tokens": t.tokens, "start": t.start, "blame": t.blame},
            "status": st,
            "attempts": attempts,
            "set_by_recipe": marked,
            "profiles": profiles,
            "config": t.config,
        })
        return
    out = Out()
    lines = [
        f"run       {out.style(t.short, fg='yellow', bold=True)}  {os.path.join(store.dir, t.hash)}",
        f"recipe    {t.recipe}",
        f"status    {out.style(describe_status(st), fg=_STATE_COLOR.get(st['state']) if st else None)}",
    ]
    if st is not None:
        lines.append(f"created   {st.get('created') or '?'}")
    if attempts:
        lines.append("attempts")
        lines += attempt_lines(attempts)
    lines += [f"profile   {p}" for p in profiles]
    start = t.start or "the default preset"
    mark = "bold" if out.color else "*"
    lines += ["", f"config    ({mark} = set by the recipe; the rest is {start})"]
    lines += render_config(t, out, blame=blame)
    out.echo(lines)


# --- diff -------------------------------------------------------------------------------------


def split_spec(word: str) -> list[str]:
    """A spec given as one quoted word, split as a shell would."""
    try:
        return shlex.split(word)
    except ValueError as e:
        raise ConfigError(f"cannot split the spec {word!r}: {e}", suggestion="check its quotes") from None


def _target_of_word(store: RunStore, word: str) -> Target:
    return load_target(store, split_spec(word))


def _section(path: str) -> tuple[str, str]:
    head, dot, rest = path.partition(".")
    return (head, rest) if dot else ("", path)


def diff_command(a_word: str, b_word: str, *, tokens: bool, as_json: bool, runs_dir: str) -> None:
    from nanigpt.conf import diff, to_tokens

    store = RunStore(runs_dir)
    a, b = _target_of_word(store, a_word), _target_of_word(store, b_word)
    changes = diff(a.config, b.config)
    if tokens:
        toks = to_tokens(changes)
        if toks:
            click.echo(shlex.join(toks))
        # A field only A has (a config of another schema version) cannot be removed by a token,
        # unless a union switch of its section drops it.
        switched = [c.path.rpartition(".")[0] + "." for c in changes if c.section is not None]
        lost = [c.path for c in changes if c.kind == "removed" and not c.path.startswith(tuple(switched))]
        if lost:
            click.echo(f"Warning: no token removes {', '.join(lost)} (only in a): these tokens give b plus those",
                       err=True)
        return
    only_a = [x for x in a.tokens if x not in b.tokens]
    only_b = [x for x in b.tokens if x not in a.tokens]
    if as_json:
        echo_json({
            "a": {"hash": a.hash, "tokens": a.tokens, "start": a.start},
            "b": {"hash": b.hash, "tokens": b.tokens, "start": b.start},
            "identical": not changes,
            "changes": [
                {
                    "path": c.path,
                    "kind": c.kind,
                    "old": c.old,
                    "new": c.new,
                    "old_token": a.token_of(c.path) if c.kind != "added" else None,
                    "new_token": b.token_of(c.path) if c.kind != "removed" else None,
                }
                for c in changes
            ],
            "tokens": to_tokens(changes),
            "recipe": {"only_a": only_a, "only_b": only_b},
        })
        return
    out = Out()
    lines = [
        f"a  {out.style(a.short, fg='yellow')}  {a.recipe}",
        f"b  {out.style(b.short, fg='yellow')}  {b.recipe}",
        "",
    ]
    if not changes:
        lines.append(f"identical configs: both are {a.short}" + ("" if a.tokens == b.tokens else ", from different recipes"))
    else:
        rows = []
        for c in changes:
            sec, rest = _section(c.path)
            if c.kind == "changed":
                vals, who = f"{fmt(c.old)} -> {fmt(c.new)}", f"{a.token_of(c.path)} -> {b.token_of(c.path)}"
            elif c.kind == "added":
                vals, who = fmt(c.new), b.token_of(c.path)
            else:
                vals, who = fmt(c.old), a.token_of(c.path)
            rows.append((sec, rest, c.kind, vals, who))
        kw = max(len(r[1]) for r in rows)
        vw = min(40, max(len(r[3]) for r in rows))
        groups: dict[str, list] = {}
        for r in rows:
            groups.setdefault(r[0], []).append(r)
        for sec in sorted(groups):
            if sec:
                lines.append(out.style(sec, fg="blue", bold=True))
            for _, rest, kind, vals, who in groups[sec]:
                left = out.style(f"{_MARKS[kind]} {rest.ljust(kw)}  {vals}", fg=_KIND_COLOR[kind])
                pad = " " * max(0, vw - len(vals))
                lines.append(f"  {left}{pad}  " + out.style(f"({who})", dim=True))
        n = {k: sum(1 for c in changes if c.kind == k) for k in _MARKS}
        lines.append("")
        lines.append(f"{n['changed']} changed, {n['added']} added, {n['removed']} removed")
    if only_a or only_b:
        lines += ["", out.style("recipe", fg="blue", bold=True)]
        if only_a:
            lines.append("  only in a: " + shlex.join(only_a))
        if only_b:
            lines.append("  only in b: " + shlex.join(only_b))
    out.echo(lines)


# --- runs -------------------------------------------------------------------------------------


def runs_command(*, as_json: bool, runs_dir: str) -> None:
    store = RunStore(runs_dir)
    rows = store.list()
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"no runs in {store.dir} (train one: nanigpt train preset:tiny)")
        return
    out = Out()
    now = time.time()
    table = []
    for r in rows:
        if "problem" in r:
            table.append((r["short"], "unreadable", "", "", "", r["problem"]))
            continue
        step, steps, val = r.get("step") or 0, r.get("steps"), r.get("val_loss")
        table.append((r["short"], r["state"], f"{step}/{steps}" if steps else str(step),
                      "-" if val is None else format_loss(val), age(r.get("created"), now), r.get("recipe") or ""))
    head = ("hash", "status", "steps", "val loss", "age", "recipe")
    w = [max(len(head[i]), max(map(len, column))) for i, column in enumerate(list(zip(*table))[:5])]
    row = f"{{}}  {{}}  {{:>{w[2]}}}  {{:>{w[3]}}}  {{:>{w[4]}}}  {{}}".format
    lines = [out.style(row(head[0].ljust(w[0]), head[1].ljust(w[1]), *head[2:]), bold=True)]
    for h, state, steps, val, ag, recipe in table:
        h, status = out.style(h.ljust(w[0]), fg="yellow"), out.style(state.ljust(w[1]), fg=_STATE_COLOR.get(state, "red"))
        # an unreadable entry: what is wrong, where the numbers would be
        lines.append(f"{h}  {status}  {recipe}" if state == "unreadable" else row(h, status, steps, val, ag, recipe).rstrip())
    out.echo(lines)


# --- presets, patches, fields -----------------------------------------------------------------


def _where(source: str | None) -> str:
    """A presets file as the user can open it: relative to here if below, marked if shipped."""
    if not source:
        return "?"
    from pathlib import Path

    from nanigpt.config import shipped_presets

    p = Path(source)
    try:
        shown = str(p.relative_to(Path.cwd()))
    except ValueError:
        shown = str(p)
    try:
        p.relative_to(Path(shipped_presets()).resolve())
    except ValueError:
        return shown
    return f"{shown} (shipped)"


def registry_command(kind: str, *, as_json: bool) -> None:
    from nanigpt.config import load_registry

    # read from the files, none of which runs: listing someone's presets executes none of their code
    rows = [{"name": e.name, "usage": e.usage, "doc": e.doc, "summary": e.summary, "source": e.source}
            for e in load_registry().listed(kind)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(f"no {kind} found")
        return
    out = Out()
    w = max(len(r["usage"]) for r in rows)
    lines = []
    for r in rows:
        lines.append(f"{out.style(r['usage'].ljust(w), fg='yellow', bold=True)}  {r['summary']}")
        lines.append(f"{' ' * w}  " + out.style(_where(r["source"]), dim=True))
    out.echo(lines)


def fields_command(pattern: str | None, *, as_json: bool) -> None:
    from nanigpt.config import field_table

    rows = field_table(pattern)
    if as_json:
        echo_json(rows)
        return
    if not rows:
            raise ConfigError(f"no field matches {pattern!r}", suggestion="`nanigpt fields` lists them all")
    out = Out()
    head = ("path", "variant", "type", "default", "description")
    cols = [(r["path"], r.get("variant") or "", r["type"], r["default"], r["description"]) for r in rows]
    w = [max(len(head[i]), *(len(c[i]) for c in cols)) for i in range(4)]
    lines = [out.style("  ".join(h.ljust(w[i]) if i < 4 else h for i, h in enumerate(head)), bold=True)]
    for c in cols:
        cells = [out.style(c[0].ljust(w[0]), fg="yellow")] + [c[i].ljust(w[i]) for i in range(1, 4)] + [c[4]]
        lines.append("  ".join(cells).rstrip())
    out.echo(lines)
