"""The spec token grammar: classify one token. Pure functions of the text, so cached."""

from __future__ import annotations

import functools
from typing import Any

from nanigpt.conf._errors import TokenSyntaxError

GRAMMAR = "a token is preset:NAME, run:HASH, defaults, +PATCH, +FACTORY:ARGS, path=value or ...name=value"
DEFAULTS = "defaults"  # the start token of the schema's own defaults


@functools.lru_cache(maxsize=4096)
def parse_token(tok: str) -> tuple[Any, ...]:
    """Classify one token: ("preset", name), ("run", prefix), ("defaults",), ("patch", name,
    args|""), ("every", name, value) or ("set", path, value). Raises TokenSyntaxError."""
    if not tok:
        raise TokenSyntaxError("empty token", token=tok, suggestion=GRAMMAR)
    if tok == DEFAULTS:
        return ("defaults",)
    if tok.startswith("preset:"):
        name = tok[7:]
        if not name:
            raise TokenSyntaxError("`preset:` needs a name", token=tok, suggestion="e.g. preset:small")
        return ("preset", name)
    if tok.startswith("run:"):
        h = tok[4:].lower()
        if len(h) < 4 or not all(c in "0123456789abcdef" for c in h):
            raise TokenSyntaxError(
                f"`run:` needs a hash or a unique prefix of at least 4 hex digits, got `{tok[4:]}`",
                token=tok,
                suggestion="`nanigpt runs` lists them",
            )
        return ("run", h)
    if tok.startswith("+"):
        name, colon, args = tok[1:].partition(":")
        if not name:
            raise TokenSyntaxError(
                "`+` needs a patch name", token=tok, suggestion="e.g. +large; `nanigpt patches` lists them"
            )
        if colon and not args:
            raise TokenSyntaxError(
                f"`+{name}:` has no arguments after `:`", token=tok, suggestion=f"write them: +{name}:ARG[,ARG...]"
            )
        return ("patch", name, args if colon else None)
    path, eq, value = tok.partition("=")
    if not eq:
        raise TokenSyntaxError(f"`{tok}` is not a token", token=tok, suggestion=GRAMMAR)
    every = path.startswith("...")
    name = path[3:] if every else path
    if not name:
        raise TokenSyntaxError(
            "no field name before `=`", token=tok, suggestion=f"write path=value, e.g. lr={value or '3e-4'}"
        )
    if value.startswith("="):
        raise TokenSyntaxError(
            "`==` is not an assignment", token=tok, suggestion=f"write {path}={value.lstrip('=') or 'VALUE'}"
        )
    if not value:
        raise TokenSyntaxError(
            f"no value after `{path}=`", token=tok, suggestion=f"write {path}=VALUE"
        )
    parts = name.split(".")
    if not all(p.isidentifier() for p in parts) or (every and len(parts) > 1):
        raise TokenSyntaxError(
            f"`{path}` is not a field path",
            token=tok,
            suggestion="a dotted path of field names (optim.lr), a field name (lr), or ...name",
        )
    return ("every", name, value) if every else ("set", name, value)
