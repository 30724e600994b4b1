"""Registries of presets and patches, loaded from presets files by path.

A presets file is plain torch-free Python whose module namespace holds `@preset`, `@patch` and
`@patch_factory` values. Files are executed by path (never imported as a top-level module named
`presets`), from the folders the application names (`nanigpt.config.preset_dirs`). Two entries
with one name are an error that names both files.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import xxhash

from nanigpt.conf._errors import ConfigError, RegistryError, UnknownPatchError, UnknownPresetError
from nanigpt.conf._suggest import did_you_mean
from nanigpt.conf._patch import Patch, PatchFactory, Preset

Entry = Preset | Patch | PatchFactory


class Registry:
    """Named presets and named patches (and patch factories), each with its doc and source file."""

    __slots__ = ("presets", "patches", "sources")

    def __init__(
        self,
        presets: Mapping[str, Preset] | None = None,
        patches: Mapping[str, Patch | PatchFactory] | None = None,
        sources: tuple[str, ...] = (),
    ) -> None:
        self.presets: dict[str, Preset] = dict(sorted((presets or {}).items()))
        self.patches: dict[str, Patch | PatchFactory] = dict(sorted((patches or {}).items()))
        # the files the entries were loaded from, in load order
        self.sources = sources

    @classmethod
    def of(cls, *entries: Entry) -> Registry:
        """A registry of the given entries (a duplicate name is an error)."""
        presets: dict[str, Preset] = {}
        patches: dict[str, Patch | PatchFactory] = {}
        for e in entries:
            _add(presets, patches, e)
        return cls(presets, patches)

    @classmethod
    def load(cls, paths: Iterable[str | os.PathLike[str]]) -> Registry:
        """Load every `*.py` presets file in `paths` (directories or single files), in order."""
        presets: dict[str, Preset] = {}
        patches: dict[str, Patch | PatchFactory] = {}
        files: list[str] = []
        for where in map(Path, paths):
            found = sorted(f for f in where.glob("*.py") if not f.name.startswith("_")) if where.is_dir() else [where]
            for f in found:
                file = str(f.resolve())
                if file in files:
                    continue
                files.append(file)
                for e in _load_file(file):
                    _add(presets, patches, e)
        return cls(presets, patches, tuple(files))

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


def _add(presets: dict[str, Preset], patches: dict[str, Patch | PatchFactory], e: Entry) -> None:
    table: dict = presets if isinstance(e, Preset) else patches
    kind = "presets" if isinstance(e, Preset) else "patches"
    old = table.get(e.name)
    if old is not None and old is not e:
        raise RegistryError(
            f"two {kind} are called `{e.name}`: in {old.source} and in {e.source}",
            suggestion="rename one of them",
        )
    table[e.name] = e


def _load_file(path: str) -> list[Entry]:
    """Execute one presets file by path; its entries are the values in its namespace it defined."""
    modname = f"_nanigpt_presets_{Path(path).stem}_{xxhash.xxh64_hexdigest(path.encode())[:8]}"
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise RegistryError(f"cannot load presets file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module  # as the import system would: lets typing resolve its names
    try:
        spec.loader.exec_module(module)
    except ConfigError as e:
        del sys.modules[modname]
        raise RegistryError(f"presets file {path}: {e}") from e
    except Exception as e:
        del sys.modules[modname]
        raise RegistryError(f"presets file {path} failed to load: {type(e).__name__}: {e}") from e
    out: list[Entry] = []
    for v in vars(module).values():
        # only what this file defined: an entry imported from elsewhere is not registered twice
        if isinstance(v, (Preset, Patch, PatchFactory)) and v.source == path and v not in out:
            out.append(v)
    return out
