"""Which files a data source reads, and how its tokens split into train and val. Torch-free.

Shared by the pre-flight checks (which must not import torch) and the torch data sources, so
both agree on the file list, the token counts and the split point.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from nanigpt.conf import ConfigError
from nanigpt.data import manifest as mf
from nanigpt.data.config import TextData
from nanigpt.data.shards import Shard, read_shard


@dataclass(frozen=True)
class Files:
    """The files of one source (or one split of a shard source), in reading order."""

    field: str  # the config path that named them, for error messages
    paths: tuple[Path, ...]
    shards: tuple[Shard, ...] = ()  # a shard source's layout of each file (header, dtype, tokens)
    manifest: Path | None = None  # the `nanigpt prepare` manifest that lists these shards

    @property
    def nbytes(self) -> int:
        return sum(p.stat().st_size for p in self.paths)

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.shards)


def _missing(field: str, value: str, path: Path, what: str) -> NoReturn:
    """The error for a data path that is neither a file nor a folder: absent, or special (a device,
    a pipe, a socket), which would be read once or forever and never the same twice."""
    if path.exists():
        raise ConfigError(
            f"`{field}`={value!r} is not a regular file or a folder", path=field,
            suggestion=f"{what}; devices, pipes and sockets cannot be read reproducibly",
        )
    where = "" if path.is_absolute() else f": there is no {Path.cwd() / path}"
    raise ConfigError(
        f"`{field}`={value!r} does not exist{where}",
        path=field,
        suggestion=f"{what}; relative paths start at the current directory",
    )


def text_files(cfg: TextData) -> Files:
    """The text file, or the folder's files matching `glob`, sorted by name; errors if none."""
    path = Path(cfg.path).expanduser()
    if path.is_file():
        files = Files("data.path", (path,))
    elif path.is_dir():
        found = tuple(sorted((p for p in path.glob(cfg.glob) if p.is_file()), key=lambda p: str(p)))
        if not found:
            raise ConfigError(
                f"`data.path`={cfg.path!r} is a folder with no file matching `data.glob`={cfg.glob!r}",
                path="data.path",
                suggestion="set data.glob to match its files, e.g. data.glob='*.md'",
            )
        files = Files("data.path", found)
    else:
        _missing("data.path", cfg.path, path, "give a text file or a folder of text files")
    if files.nbytes == 0:
        raise ConfigError(
            f"`data.path`={cfg.path!r} is empty: no bytes to train on",
            path="data.path",
            suggestion="point it at a non-empty text file or folder",
        )
    return files


def shard_files(location: str, field: str) -> Files:
    """A `.bin` shard, or a folder's `*.bin` shards sorted by name, with each one's layout (llm.c's
    header, or a headerless uint16 file); checked against the manifest beside them, if any."""
    path = Path(location).expanduser()
    if path.is_file():
        paths: tuple[Path, ...] = (path,)
    elif path.is_dir():
        paths = tuple(sorted((p for p in path.glob("*.bin") if p.is_file()), key=lambda p: str(p)))
        if not paths:
            prepared = (path / mf.NAME).is_file()
            raise ConfigError(
                f"`{field}`={location!r} is a folder with no `.bin` shard in it",
                path=field,
                suggestion=f"point it at {location.rstrip('/')}/train (and data.val at .../val): "
                "`nanigpt prepare` writes each split in its own folder" if prepared
                else "write token shards to files named *.bin (`nanigpt prepare` makes them from text)",
            )
    else:
        _missing(field, location, path, "give a .bin shard or a folder of them")
    found = mf.find(path)
    shards = tuple(read_shard(p, field, headered=found is not None) for p in paths)
    files = Files(field, paths, shards, found)
    if files.tokens == 0:
        raise ConfigError(
            f"`{field}`={location!r} holds no tokens (its shards are empty)",
            path=field,
            suggestion="point it at non-empty shards",
        )
    if found is not None:
        _check_listed(files, found, path.is_dir())
    return files


def _check_listed(files: Files, found: Path, whole_folder: bool) -> None:
    """The shards must be the ones `found` lists, with the token counts it lists."""
    m, _ = mf.read(found)
    listed = {(found.parent / s.file).resolve(): s for s in m.shards()}
    for shard in files.shards:
        entry = listed.get(shard.path.resolve())
        if entry is None:
            raise ConfigError(
                f"shard {str(shard.path)!r} of `{files.field}` is not listed in {str(found)!r}, which describes "
                "the shards of its folder", path=files.field,
                suggestion="remove the stray shard, or prepare the folder again with `nanigpt prepare`",
            )
        if entry.tokens != shard.tokens or shard.dtype != m.dtype:
            raise ConfigError(
                f"shard {str(shard.path)!r} of `{files.field}` holds {shard.tokens:,} {shard.dtype} tokens; "
                f"{str(found)!r} says {entry.tokens:,} {m.dtype}", path=files.field,
                suggestion="prepare the folder again with `nanigpt prepare`",
            )
    if whole_folder:
        folder = files.paths[0].parent.resolve()
        have = {s.path.resolve() for s in files.shards}
        missing = [e.file for p, e in listed.items() if p.parent == folder and p not in have]
        if missing:
            raise ConfigError(
                f"`{files.field}` lacks {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                + f", listed in {str(found)!r}", path=files.field,
                suggestion="copy the folder again whole, or prepare it again with `nanigpt prepare`",
            )


def shard_tokenizer(train: Files, val: Files | None) -> mf.TokenizerEntry | None:
    """The tokenizer the shards were prepared with (None for shards without a manifest); train and
    val must share it."""
    if train.manifest is None and (val is None or val.manifest is None):
        return None
    tok = {f.field: (mf.read(f.manifest)[0].tokenizer if f.manifest else None) for f in (train, val) if f}
    first = tok[train.field]
    for field, t in tok.items():
        if t is None or first is None or t.fingerprint != first.fingerprint:
            names = {k: f"{v.spec} ({v.fingerprint[:8]})" if v else "unknown (no manifest.json)" for k, v in tok.items()}
            raise ConfigError(
                "`data.train` and `data.val` were tokenized differently: "
                + ", ".join(f"`{k}` by {v}" for k, v in names.items()), path=field,
                suggestion="prepare train and val together with `nanigpt prepare` (--val-fraction or --val)",
            )
    return first


def val_start(n_tokens: int, val_fraction: float) -> int:
    """The index of the first val token: the tail `val_fraction` of the tokens is val.

    Rounded so that both splits keep at least one token whenever there are two.
    """
    n_val = round(n_tokens * val_fraction)
    n_val = min(max(n_val, 1), n_tokens - 1) if n_tokens >= 2 else 0
    return n_tokens - n_val


def check_context(block_size: int, split: str, tokens: int, field: str, value: str) -> None:
    """A split must hold at least one whole context (block_size + 1 tokens, for the targets)."""
    if tokens < block_size + 1:
        raise ConfigError(
            f"the {split} split of `{field}`={value!r} has {tokens} tokens, fewer than one context of "
            f"`model.block_size`+1={block_size + 1}",
            path="model.block_size",
            suggestion=f"use model.block_size<={max(tokens - 1, 1)} or more data"
            + (" (or a larger data.val_fraction)" if split == "val" else ""),
        )
