"""The canonical form of a config and its content address.

Canonical bytes are the msgspec JSON of the validated config with sorted keys; `-0.0` becomes
`0.0`; NaN and infinities are rejected. The hash is xxh3-128 of those bytes, 32 lowercase hex
digits. A struct and the plain dict of its stored `config.json` give the same bytes, so a stored
run is re-hashed without its schema.

    >>> config_hash({"b": 1, "a": -0.0}) == config_hash({"a": 0.0, "b": 1})
    True
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import xxhash

from nanigpt.conf._errors import ValueTypeError

_encode = msgspec.json.Encoder(order="sorted").encode
_hex = xxhash.xxh3_128_hexdigest


def _normalize(x: Any, path: str) -> Any:
    """`x` with -0.0 made 0.0; NaN or an infinity anywhere is an error naming its path."""
    if isinstance(x, float):
        if not math.isfinite(x):
            raise ValueTypeError(
                f"`{path or '<root>'}`={x} is not a finite number; it has no canonical form",
                path=path or None,
                suggestion="NaN and infinities are not allowed in a config",
            )
        return 0.0 if x == 0.0 else x
    if isinstance(x, dict):
        return {k: _normalize(v, f"{path}.{k}" if path else str(k)) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_normalize(v, f"{path}[{i}]") for i, v in enumerate(x)]
    return x


def canonical_bytes(cfg: Any) -> bytes:
    """The canonical JSON bytes of a config struct or of its builtins (a stored config.json dict)."""
    out = _encode(cfg)
    # msgspec writes NaN and infinities as `null` and negative zero as `-0.0`; both are rare in
    # real configs, so the walk over every value runs only when the plain encoding might be wrong.
    if b"null" in out or b"-0.0" in out:
        out = _encode(_normalize(msgspec.to_builtins(cfg), ""))
    return out


def hash_bytes(canonical: bytes) -> str:
    """The 32-hex-digit content address of canonical bytes."""
    return _hex(canonical)


def config_hash(cfg: Any) -> str:
    """The content address (xxh3-128, 32 lowercase hex) of a config struct or stored dict."""
    return hash_bytes(canonical_bytes(cfg))


def short_hash(h: str) -> str:
    """The short form of a hash (its first 12 digits), as runs are named to people."""
    return h[:12]
