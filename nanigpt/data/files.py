"""Which files a data source reads, and how its tokens split into train and val. Torch-free.

Shared by the pre-flight checks (which must not import torch) and the torch data sources, so
both agree on the file list, the token counts and the split point.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from nanigpt.conf import ConfigError
from nanigpt.data.config import TextData

TOKEN_BYTES = 2  # shards hold uint16 token ids


@dataclass(frozen=True)
class Files:
    """The files of one source (or one split of a shard source), in reading order."""

    field: str  # the config path that named them, for error messages
    paths: tuple[Path, ...]

    @property
    def nbytes(self) -> int:
        return sum(p.stat().st_size for p in self.paths)


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
    """A `.bin` shard, or a folder's `*.bin` shards sorted by name; checks each is whole uint16s."""
    path = Path(location).expanduser()
    if path.is_file():
        paths: tuple[Path, ...] = (path,)
    elif path.is_dir():
        paths = tuple(sorted((p for p in path.glob("*.bin") if p.is_file()), key=lambda p: str(p)))
        if not paths:
            raise ConfigError(
                f"`{field}`={location!r} is a folder with no `.bin` shard in it",
                path=field,
                suggestion="write uint16 token ids to files named *.bin",
            )
    else:
        _missing(field, location, path, "give a .bin shard or a folder of them")
    for p in paths:
        size = p.stat().st_size
        if size % TOKEN_BYTES:
            raise ConfigError(
                f"shard {str(p)!r} of `{field}` is {size} bytes, not a whole number of uint16 tokens",
                path=field,
                suggestion="shards are raw little-endian uint16 arrays; the file may be truncated",
            )
    files = Files(field, paths)
    if files.nbytes == 0:
        raise ConfigError(
            f"`{field}`={location!r} holds no tokens (its shards are empty)",
            path=field,
            suggestion="point it at non-empty shards",
        )
    return files


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
