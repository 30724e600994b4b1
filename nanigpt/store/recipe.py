"""What a recipe changed: the leaves of a resolved config whose value differs from its start's,
recorded in recipe.json (`set_by_recipe`) and marked by `show`."""

from typing import Any

import msgspec

from nanigpt.conf import ConfigError, Registry, Resolved
from nanigpt.config import resolve
from nanigpt.store.rundir import RunStore


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


def _same(a: Any, b: Any) -> bool:
    # `True == 1` and `1 == 1.0` in Python; a value of another JSON type is another value.
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def set_by_recipe(config: dict, start: dict) -> list[str]:
    """The leaves of `config` whose value differs from the start's (or that the start lacks: a
    switched variant's fields). A token that set a value back to the preset's sets nothing."""
    base = flatten(start)
    return sorted(p for p, v in flatten(config).items() if p not in base or not _same(base[p], v))


def recipe_set(r: Resolved, store: RunStore, registry: Registry) -> list[str] | None:
    """`set_by_recipe` of a resolved spec against its starting preset (or run), from the registry
    it was resolved with; None if the start no longer resolves on its own (then the blame decides
    what the recipe set)."""
    if not r.start:
        return None
    try:
        start = resolve([r.start], runs=store, registry=registry)
    except ConfigError:
        return None
    return set_by_recipe(msgspec.json.decode(r.canonical), msgspec.json.decode(start.canonical))
