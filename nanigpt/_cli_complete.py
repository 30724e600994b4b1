"""Shell completion for spec tokens, run hashes and commands (bash, zsh, fish). Torch-free.

Completes `preset:NAME`, `run:HASH`, `+PATCH`, dotted field paths before `=` (and bare field
names that are unique in the schema), values after `=` for fields with a fixed set of values
(union tags, literals, booleans), and run hashes wherever a run is expected.

Click's stock scripts fall short for specs in two ways, fixed by the scripts below: bash splits
words at `:` and `=` (COMP_WORDBREAKS), so `preset:sm` reaches the program as three words; and
every shell appends a space after `model.` or `lr=`, where the user means to keep typing. Our
bash script sends the line up to the cursor and trims each completion to the part bash replaces;
items of type `nospace` get no trailing space in all three shells.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from click.shell_completion import (
    BashComplete,
    CompletionItem,
    FishComplete,
    ZshComplete,
    add_completion_class,
    split_arg_string,
)

_NOSPACE_END = ("=", ":", ".")
_DEFAULT_BREAKS = "\"'><=;|&(:"

_SOURCE_BASH = """\
%(complete_func)s() {
    local IFS=$'\\n'
    local response
    # The line up to the cursor: COMP_WORDS is already split at `:` and `=`.
    response=$(env COMP_LINE_HEAD="${COMP_LINE:0:COMP_POINT}" COMP_WORDBREAKS="$COMP_WORDBREAKS" \\
%(complete_var)s=bash_complete $1)

    for completion in $response; do
        IFS=',' read -r type value <<< "$completion"
        if [[ $type == 'dir' ]]; then
            COMPREPLY=()
            compopt -o dirnames
        elif [[ $type == 'file' ]]; then
            COMPREPLY=()
            compopt -o default
        elif [[ $type == 'nospace' ]]; then
            compopt -o nospace
            COMPREPLY+=("$value")
        elif [[ $type == 'plain' ]]; then
            COMPREPLY+=("$value")
        fi
    done
    return 0
}

complete -o nosort -F %(complete_func)s %(prog_name)s
"""

_SOURCE_ZSH = """\
#compdef %(prog_name)s

%(complete_func)s() {
    local -a completions
    local -a completions_with_descriptions
    local -a nospace
    local -a response
    (( ! $+commands[%(prog_name)s] )) && return 1

    response=("${(@f)$(env COMP_WORDS="${words[*]}" COMP_CWORD=$((CURRENT-1)) \\
%(complete_var)s=zsh_complete %(prog_name)s)}")

    for type key descr in ${response}; do
        if [[ "$type" == "plain" ]]; then
            if [[ "$descr" == "_" ]]; then
                completions+=("$key")
            else
                completions_with_descriptions+=("$key":"$descr")
            fi
        elif [[ "$type" == "nospace" ]]; then
            nospace+=("$key")
        elif [[ "$type" == "dir" ]]; then
            _path_files -/
        elif [[ "$type" == "file" ]]; then
            _path_files -f
        fi
    done

    if [ -n "$completions_with_descriptions" ]; then
        _describe -V unsorted completions_with_descriptions -U
    fi
    if [ -n "$completions" ]; then
        compadd -U -V unsorted -a completions
    fi
    if [ -n "$nospace" ]; then
        compadd -U -S '' -V unsorted -a nospace
    fi
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    %(complete_func)s "$@"
else
    compdef %(complete_func)s %(prog_name)s
fi
"""

_SOURCE_FISH = """\
function %(complete_func)s;
    set -l response (env %(complete_var)s=fish_complete COMP_WORDS=(commandline -cp) \\
COMP_CWORD=(commandline -t) %(prog_name)s);

    for completion in $response;
        set -l metadata (string split -m 1 "," $completion);

        if test $metadata[1] = "dir";
            __fish_complete_directories $metadata[2];
        else if test $metadata[1] = "file";
            __fish_complete_path $metadata[2];
        else;
            echo $metadata[2];
        end;
    end;
end;

complete --no-files --command %(prog_name)s --arguments "(%(complete_func)s)";
"""


class _Bash(BashComplete):
    source_template = _SOURCE_BASH

    def get_completion_args(self) -> tuple[list[str], str]:
        line = os.environ.get("COMP_LINE_HEAD")
        if line is None:  # a stock click script: fall back to its protocol
            return super().get_completion_args()
        words = split_arg_string(line)
        incomplete = words.pop() if words and line and not line[-1].isspace() else ""
        return words[1:], incomplete

    def complete(self) -> str:
        args, incomplete = self.get_completion_args()
        items = self.get_completions(args, incomplete)
        # Bash replaces only the text after the last word-break character of the word.
        breaks = os.environ.get("COMP_WORDBREAKS", _DEFAULT_BREAKS)
        cut = max((incomplete.rfind(c) for c in breaks), default=-1) + 1
        out = []
        for it in items:
            value = it.value[cut:] if it.type in ("plain", "nospace") and it.value.startswith(incomplete[:cut]) else it.value
            out.append(f"{it.type},{value}")
        return "\n".join(out)


class _Zsh(ZshComplete):
    source_template = _SOURCE_ZSH

    def format_completion(self, item: CompletionItem) -> str:
        if item.type == "nospace":  # added with compadd, which takes the value as is
            return f"nospace\n{item.value}\n_"
        return super().format_completion(item)


class _Fish(FishComplete):
    source_template = _SOURCE_FISH


for _cls in (_Bash, _Zsh, _Fish):
    add_completion_class(_cls, _cls.name)


# --- what to complete -------------------------------------------------------------------------


def _item(value: str, help: str | None = None) -> CompletionItem:
    return CompletionItem(value, type="nospace" if value.endswith(_NOSPACE_END) else "plain", help=help)


def _runs_dir(ctx: click.Context) -> Path:
    p = ctx.params.get("runs_dir")
    return Path(p) if p else Path(os.environ.get("NANIGPT_RUNS_DIR") or "runs")


def _run_items(ctx: click.Context, prefix: str, incomplete: str) -> list[CompletionItem]:
    """Run hashes starting with `incomplete`, as `prefix + short hash`, described by state and
    recipe. Reads status.json directly: the store module would pull in the config machinery."""
    import json
    import re

    root = _runs_dir(ctx)
    want = incomplete.lower()
    try:
        names = sorted(n for n in os.listdir(root) if re.fullmatch(r"[0-9a-f]{32}", n) and n.startswith(want))
    except OSError:
        return []
    out = []
    for n in names:
        try:
            st = json.loads((root / n / "status.json").read_bytes())
            help_ = f"{st['state']}: {st.get('recipe') or ''}".strip()
        except Exception:  # an unreadable run is still a run to name
            help_ = None
        # The 12-digit short form is unique in practice; the full hash where two runs share it.
        # It is conf.short_hash's, spelled here: importing the config machinery would cost every
        # TAB press (tests/test_cli_process.py holds the two together).
        short = n[:12] if sum(m.startswith(n[:12]) for m in names) == 1 else n
        out.append(CompletionItem(prefix + short, help=help_))
    return out


def complete_hash(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    return _run_items(ctx, "", incomplete)


def complete_target(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    """`show`: a hash as its only word, or spec tokens."""
    previous = ctx.params.get("target") or ()
    items = [] if previous else _run_items(ctx, "", incomplete) if incomplete else []
    return items + complete_spec(ctx, incomplete, previous=tuple(previous))


def complete_spec(ctx: click.Context, incomplete: str, previous: tuple[str, ...] | None = None) -> list[CompletionItem]:
    """Tokens that complete `incomplete` in a spec.

    Field paths come from the schema, every union variant included: resolving the earlier
    tokens to know the current variants would cost more than the whole rest of a completion
    (and a wrong guess is answered by resolution's own error, which names the variant).
    """
    if previous is None:
        previous = tuple(ctx.params.get("spec") or ())
    first = not previous
    if incomplete.startswith("run:"):
        return _run_items(ctx, "run:", incomplete[4:]) if first else []
    data = completion_data()
    presets = data["presets"] if first else []
    if incomplete.startswith("preset:"):
        return [_item(f"preset:{n}", h) for n, h in presets if n.startswith(incomplete[7:])]
    if incomplete.startswith("+"):
        return [_item(n, h) for n, h in data["patches"] if n.startswith(incomplete)]
    schema = _Schema(data)
    if incomplete.startswith("...") and "=" not in incomplete:
        return [_item(f"...{n}=") for n in schema.names() if n.startswith(incomplete[3:])]
    if "=" in incomplete:
        name, _, value = incomplete.partition("=")
        return [_item(f"{name}={v}") for v in schema.values_for(name) if v.startswith(value)]
    items = [_item(p) for p in schema.prefixes(incomplete)]
    if not incomplete:
        items += [_item(f"preset:{n}", h) for n, h in presets]
        items += [_item(n, h) for n, h in data["patches"]]
    elif first and "." not in incomplete:
        items += [_item(f"preset:{n}", h) for n, h in presets if f"preset:{n}".startswith(incomplete)]
        if "run:".startswith(incomplete):
            items.append(_item("run:"))
    return items


class _Schema:
    """Queries over the completion data's field paths."""

    def __init__(self, data: dict) -> None:
        self.values: dict[str, list[str]] = data["values"]  # leaf or union path -> its fixed values
        self.sections: list[str] = data["sections"]
        self.bare: dict[str, str] = data["bare"]  # a name that is one path in the schema -> it

    def prefixes(self, incomplete: str) -> list[str]:
        """`model.` for `mo`, `model.n_layer=` for `model.n_l`, `lr=` for `l`."""
        head, dot, _ = incomplete.rpartition(".")
        base = head + dot
        out: dict[str, None] = {}
        for p in self.values:
            if p.startswith(incomplete):
                rest = p[len(base):]
                out[base + rest.split(".")[0] + ("." if "." in rest else "=")] = None
        for p in self.sections:  # a union section is both `optim=` and `optim.`
            if p.startswith(incomplete) and "." not in p[len(base):]:
                out[p + "."] = None
        if incomplete and not dot:  # bare names only once typed: all of them drown the sections
            for n in self.bare:
                if n.startswith(incomplete):
                    out.setdefault(n + "=", None)
        return list(out)

    def values_for(self, name: str) -> list[str]:
        if name.startswith("..."):
            vals = [v for p, vs in self.values.items() if p.rpartition(".")[2] == name[3:] for v in vs]
            return list(dict.fromkeys(vals))
        return self.values.get(self.bare.get(name, name), [])

    def names(self) -> list[str]:
        """Every field name, for `...name=` traversals."""
        return sorted({p.rpartition(".")[2] for p in self.values})


# --- the completion data, cached on disk -------------------------------------------------------
#
# Field paths need the schema (the config modules and the config machinery) and preset names need
# the presets files executed: together more than the rest of a completion costs. Both depend only
# on naniGPT's source files and the presets files, so they are cached under a key made of those
# files' names, sizes and modification times (one stat each; any edit makes a new key).


def _presets_dirs(pkg: Path) -> list[Path]:
    """Where `nanigpt.config.preset_dirs` looks for presets, without importing the config modules
    (the cache key is made on every completion, before the cache is read; importing them would
    cost every TAB press about a quarter of the floor). tests/test_conf_registry.py holds the two
    together."""
    dirs = [pkg / "_presets", pkg.parent / "presets", Path.cwd() / "presets"]
    dirs += [Path(d) for d in os.environ.get("NANIGPT_PRESETS", "").split(os.pathsep) if d]
    return dirs


def _cache_key() -> str:
    import xxhash

    import nanigpt

    pkg = Path(nanigpt.__file__).resolve().parent
    h = xxhash.xxh3_64()
    h.update(f"{nanigpt.__version__}\0{sys.executable}\0{os.environ.get('NANIGPT_PRESETS', '')}\0".encode())

    def add(d: str, recurse: bool) -> None:
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            if recurse and e.name != "__pycache__" and e.is_dir(follow_symlinks=False):
                add(e.path, True)
            elif e.name.endswith(".py"):
                st = e.stat()
                h.update(f"{e.path}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())

    add(str(pkg), True)
    for d in _presets_dirs(pkg):
        h.update(f"{d}\0".encode())
        add(str(d), False)
    return h.hexdigest()


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nanigpt"


_DATA: dict | None = None
_KEEP = 8  # cache files kept: one per working directory with its own ./presets, roughly


def completion_data() -> dict:
    """{"values", "sections", "bare", "presets", "patches"}: from the cache, else built and cached."""
    global _DATA
    if _DATA is not None:
        return _DATA
    import json

    path = _cache_dir() / f"complete-{_cache_key()}.json"
    try:
        _DATA = json.loads(path.read_bytes())
        return _DATA
    except (OSError, ValueError):
        pass
    _DATA = build_completion_data()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(_DATA))
        os.replace(tmp, path)
        old = sorted(path.parent.glob("complete-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for p in old[_KEEP:]:
            p.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only home: complete without a cache
    return _DATA


def build_completion_data() -> dict:
    """The field paths of the root config (all union variants, with each one's fixed values)
    and the presets and patches with their one-line docs."""
    import types
    import typing

    from nanigpt.conf._types import LEAF, UNION, spec_of  # the schema's field tables
    from nanigpt.config import RunConfig

    values: dict[str, list[str]] = {}
    sections: list[str] = []
    by_name: dict[str, set[str]] = {}

    def choices(f: Any) -> list[str]:
        if f.kind == UNION:
            return list(f.variants)
        union = typing.get_origin(f.bare) in (typing.Union, types.UnionType)
        out: list[str] = []
        for m in typing.get_args(f.bare) if union else (f.bare,):
            if m is bool:
                out += ["true", "false"]
            elif m is type(None):
                out.append("null")
            elif typing.get_origin(m) is typing.Literal:
                out += [str(a) for a in typing.get_args(m)]
        return list(dict.fromkeys(out))

    def walk(t: type, prefix: str) -> None:
        for name, f in spec_of(t).fields.items():
            path = prefix + name
            if f.kind in (LEAF, UNION) and path not in values:
                values[path] = choices(f)
                by_name.setdefault(name, set()).add(path)
            if f.kind != LEAF:
                if path not in sections:
                    sections.append(path)
                for sub in f.types:
                    walk(sub, path + ".")

    walk(RunConfig, "")
    bare = {n: next(iter(ps)) for n, ps in by_name.items() if len(ps) == 1 and "." in next(iter(ps))}
    try:
        from nanigpt.config import load_registry

        reg = load_registry()
        presets = [[e.name, e.summary] for e in reg.listed("presets")]  # read, not run
        patches = [[f"+{e.name}:" if e.kind == "patch_factory" else f"+{e.name}", e.summary] for e in reg.listed("patches")]
    except Exception:  # a broken presets file must not break the shell; `nanigpt presets` says why
        presets, patches = [], []
    return {"values": values, "sections": sections, "bare": bare, "presets": presets, "patches": patches}
