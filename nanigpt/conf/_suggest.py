"""`did you mean ...?` for a mistyped name: the same name up to case first, then the closest.

    >>> close_matches("LR", ["lr", "eps"]), close_matches("n_layr", ["n_layer", "n_head"])
    (['lr'], ['n_layer'])
    >>> did_you_mean("TINY", ["small", "tiny"], "preset:{}")
    'did you mean `preset:tiny`?'
"""

from __future__ import annotations

from collections.abc import Iterable


def close_matches(name: str, options: Iterable[str], n: int = 3) -> list[str]:
    """The options equal to `name` but for case; else difflib's closest, compared in lowercase
    (`N_LAYR` finds `n_layer`)."""
    by_lower: dict[str, list[str]] = {}
    for o in options:
        by_lower.setdefault(o.lower(), []).append(o)
    low = name.lower()
    if low in by_lower:
        return by_lower[low][:n]
    import difflib  # only for an error message: kept off every start-up

    close = difflib.get_close_matches(low, list(by_lower), n=n, cutoff=0.6)
    return [o for c in close for o in by_lower[c]][:n]


def did_you_mean(name: str, options: Iterable[str], shape: str = "{}") -> str | None:
    """`did you mean `x`?` for the closest options (each written as `shape.format(option)`), or None."""
    return mean([shape.format(c) for c in close_matches(name, options)])


def mean(choices: Iterable[str]) -> str | None:
    """`did you mean `a` or `b`?` (each once, in order), or None for no choices."""
    unique = list(dict.fromkeys(choices))
    return "did you mean " + " or ".join(f"`{c}`" for c in unique) + "?" if unique else None


def suggest(name: str, options: Iterable[str], prefix: str = "") -> str | None:
    """`did you mean `prefix.best`?` for the closest of `options` (field names below `prefix`)."""
    return did_you_mean(name, options, f"{prefix}.{{}}" if prefix else "{}")
