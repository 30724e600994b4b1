"""Registries of presets and patches, loaded from presets files by path.

A presets file is plain torch-free Python whose module namespace holds `@preset`, `@patch` and
`@patch_factory` values. Files are executed by path (never imported as a top-level module named
`presets`), from the folders the application names (`nanigpt.config.preset_dirs`). Two entries
with one name are an error that names both files.

Files are read before they are run: `ast` gives each decorated function's name and docstring, so
listing, completion and the duplicate check run no one's code, and a file runs only when a spec
uses a name it defines (cloning a repository and pressing TAB in it executes nothing).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import xxhash

from nanigpt.conf._errors import ConfigError, RegistryError, UnknownPatchError, UnknownPresetError
from nanigpt.conf._suggest import did_you_mean
from nanigpt.conf._patch import Patch, PatchFactory, Preset, need_doc

Entry = Preset | Patch | PatchFactory
_KINDS = {"preset": "presets", "patch": "patches", "patch_factory": "patches"}
_USAGE = {"preset": "preset:{}", "patch": "+{}"}  # a factory's usage names its arguments too


class Listed(NamedTuple):
    """A registry entry as its file declares it, read without running the file."""

    kind: str  # "preset", "patch" or "patch_factory"
    name: str
    doc: str
    source: str  # the file's resolved path
    usage: str  # how the command line names it: `preset:tiny`, `+large`, `+with_lr:LR`

    @property
    def summary(self) -> str:
        """The first line of the docstring."""
        return self.doc.splitlines()[0] if self.doc else ""


class _Entries(Mapping):
    """name -> entry of one kind; the first look-up of an entry from a file runs that file."""

    def __init__(self, registry: Registry, table: str) -> None:
        self._reg, self._table = registry, table

    def __getitem__(self, name: str) -> Any:
        return self._reg._entry(self._table, name)

    def __contains__(self, name: object) -> bool:
        return name in self._reg._listed[self._table]

    def __iter__(self) -> Iterator[str]:
        return iter(self._reg._listed[self._table])

    def __len__(self) -> int:
        return len(self._reg._listed[self._table])


class Registry:
    """Named presets and named patches (and patch factories), each with its doc and source file."""

    __slots__ = ("sources", "_listed", "_loaded", "_ran")

    def __init__(self, entries: Iterable[Entry] = (), sources: tuple[str, ...] = (), listed: Iterable[Listed] = ()):
        self.sources = sources  # the files the entries come from, in load order
        self._loaded: dict[str, dict[str, Any]] = {"presets": {}, "patches": {}}
        self._ran: set[str] = set()
        by_table: dict[str, dict[str, Listed]] = {"presets": {}, "patches": {}}
        # two loaded entries with one name clash; a file's listing may name one function twice
        for e in [*dict.fromkeys(entries), *listed]:
            item = e if isinstance(e, Listed) else _listing(e)
            table = _KINDS[item.kind]
            old = by_table[table].get(item.name)
            if old is not None and (old.source != item.source or item is not e):
                raise RegistryError(
                    f"two {table} are called `{item.name}`: in {old.source} and in {item.source}",
                    suggestion="rename one of them",
                )
            by_table[table][item.name] = item
            if item is not e:
                self._loaded[table][item.name] = e
        self._listed = {k: dict(sorted(v.items())) for k, v in by_table.items()}

    @property
    def presets(self) -> Mapping[str, Preset]:
        """name -> Preset (sorted by name); looking one up runs the file that defines it."""
        return _Entries(self, "presets")

    @property
    def patches(self) -> Mapping[str, Patch | PatchFactory]:
        """name -> Patch or PatchFactory (sorted by name); looking one up runs its file."""
        return _Entries(self, "patches")

    def listed(self, table: str) -> list[Listed]:
        """The entries of "presets" or "patches" as their files declare them; runs nothing."""
        return list(self._listed[table].values())

    @classmethod
    def of(cls, *entries: Entry) -> Registry:
        """A registry of the given entries (a duplicate name is an error)."""
        return cls(entries)

    @classmethod
    def load(cls, paths: Iterable[str | os.PathLike[str]]) -> Registry:
        """Every `*.py` presets file in `paths` (directories or single files), in order, read and
        checked for duplicate names; none is run until a name it defines is looked up."""
        files: list[str] = []
        listed: list[Listed] = []
        for where in (os.fspath(p) for p in paths):
            found = ([os.path.join(where, n) for n in sorted(os.listdir(where)) if n.endswith(".py") and n[0] != "_"]
                     if os.path.isdir(where) else [where])
            for file in map(os.path.realpath, found):
                if file not in files:
                    files.append(file)
                    listed += scan_file(file)
        return cls(sources=tuple(files), listed=listed)

    def _entry(self, table: str, name: str) -> Any:
        loaded = self._loaded[table]
        if name not in loaded:
            e = self._listed[table][name]  # KeyError for an unknown name, as a dict's
            if e.source in self._ran:
                raise RegistryError(f"presets file {e.source} declares `{name}` but did not define it when run")
            self._run(e.source)
        return loaded[name]

    def _run(self, path: str) -> None:
        self._ran.add(path)
        declared = {(e.kind, e.name) for t in self._listed.values() for e in t.values() if e.source == path}
        for e in _load_file(path):
            kind = _listing(e).kind
            if (kind, e.name) not in declared:
                raise RegistryError(
                    f"presets file {path} defines {kind.replace('_', ' ')} `{e.name}` in a way naniGPT cannot read "
                    "without running the file",
                    suggestion="decorate a top-level function with @preset, @patch or @patch_factory, "
                    "with a literal name= if any",
                )
            self._loaded[_KINDS[kind]][e.name] = e

    def preset(self, name: str) -> Preset:
        """The preset `name`, or `UnknownPresetError` with the closest names."""
        try:
            return self.presets[name]
        except KeyError:
            hint = did_you_mean(name, self.presets, "preset:{}")
            known = ", ".join(self.presets) or "none"
            raise UnknownPresetError(
                f"unknown preset `{name}`",
                suggestion=(f"{hint} " if hint else "") + f"presets: {known}; `nanigpt presets` describes them",
            ) from None

    def patch(self, name: str) -> Patch | PatchFactory:
        """The patch or patch factory `name`, or `UnknownPatchError` with the closest names."""
        try:
            return self.patches[name]
        except KeyError:
            hint = did_you_mean(name, self.patches, "+{}")
            raise UnknownPatchError(
                f"unknown patch `+{name}`",
                suggestion=(f"{hint} " if hint else "") + "`nanigpt patches` lists them",
            ) from None

    def __repr__(self) -> str:
        return f"Registry(presets={list(self.presets)}, patches={list(self.patches)})"


def _load_file(path: str) -> list[Entry]:
    """Execute one presets file by path; its entries are the values in its namespace it defined."""
    modname = f"_nanigpt_presets_{os.path.splitext(os.path.basename(path))[0]}_{xxhash.xxh64_hexdigest(path.encode())[:8]}"
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise RegistryError(f"cannot load presets file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module  # as the import system would: lets typing resolve its names
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[modname]
        why = f": {e}" if isinstance(e, ConfigError) else f" failed to load: {type(e).__name__}: {e}"
        raise RegistryError(f"presets file {path}{why}") from e
    out: list[Entry] = []
    for v in vars(module).values():
        # only what this file defined: an entry imported from elsewhere is not registered twice
        if isinstance(v, (Preset, Patch, PatchFactory)) and v.source == path and v not in out:
            out.append(v)
    return out


def _listing(e: Entry) -> Listed:
    """What a loaded entry would be listed as."""
    if isinstance(e, PatchFactory):
        return Listed("patch_factory", e.name, e.doc, e.source or "", e.usage)
    kind = "preset" if isinstance(e, Preset) else "patch"
    return Listed(kind, e.name, e.doc, e.source or "", _USAGE[kind].format(e.name))


def scan_file(path: str) -> list[Listed]:
    """The entries a presets file declares, read with `ast`: every top-level function decorated
    with @preset, @patch or @patch_factory (plain, or called with a literal `name=`). Runs nothing."""
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError, ValueError) as e:
        raise RegistryError(f"presets file {path} cannot be read: {type(e).__name__}: {e}") from None
    out = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            target = call.func if call is not None else deco
            kind = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
            if kind not in _KINDS:
                continue
            name = node.name
            for kw in [k for k in (call.keywords if call is not None else ()) if k.arg == "name"]:
                if not (isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)):
                    raise RegistryError(
                        f"presets file {path}, line {node.lineno}: the name= of @{kind} must be a literal string",
                        suggestion="naniGPT reads the names without running the file",
                    )
                name = kw.value.value
            doc = need_doc(ast.get_docstring(node) or "", kind.replace("_", " "), name, path)
            if kind in _USAGE:
                usage = _USAGE[kind].format(name)
            else:
                a = node.args
                args = [x.arg for x in [*a.posonlyargs, *a.args]]
                required = len(args) - len(a.defaults)
                usage = f"+{name}:" + ",".join(x.upper() if i < required else f"[{x.upper()}]" for i, x in enumerate(args))
            out.append(Listed(kind, name, doc, path, usage))
    return out
