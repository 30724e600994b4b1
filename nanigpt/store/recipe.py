"""What a recipe changed: the leaves of a resolved config whose value differs from its start's,
recorded in recipe.json (`set_by_recipe`) and marked by `show`."""

import msgspec

from nanigpt.conf import ConfigError, Registry, Resolved, diff
from nanigpt.config import resolve
from nanigpt.store.rundir import RunStore


def set_by_recipe(config: dict, start: dict) -> list[str]:
    """The leaves of `config` whose value differs from the start's (or that the start lacks: a
    switched variant's fields). A token that set a value back to the preset's sets nothing."""
    return sorted(c.path for c in diff(start, config) if c.kind != "removed")


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
