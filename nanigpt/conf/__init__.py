"""The generic config machinery: structs, lenses, patches, specs, hashing, diff, registries.

    >>> from nanigpt.conf import resolve, diff, to_tokens
    >>> r = resolve(["preset:tiny", "+large", "lr=1e-4"])      # validated, hashed, blamed
    >>> r.short == r.hash[:12], r.blame["model.n_layer"]
    (True, '+large')
    >>> to_tokens(diff(resolve(["preset:tiny"]).config, r.config))
    ['model.n_embd=64', 'model.n_head=4', 'model.n_layer=4', 'optim.lr=0.0001']

Knows nothing about GPTs and never imports torch; `resolve` binds it to naniGPT's `RunConfig`
when no root is given. Private modules hold one concept each and are re-exported here.
"""

from typing import TYPE_CHECKING, Any

# Names are imported from their modules on first use (PEP 562): `from nanigpt.conf import
# resolve` loads what resolution needs and not the run store, diff or field tables, which keeps
# `show`, `diff` and completion fast to start.
_HOME = {
    "canonical_bytes": "_canon",
    "config_hash": "_canon",
    "short_hash": "_canon",
    "Change": "_diff",
    "diff": "_diff",
    "to_tokens": "_diff",
    "AmbiguousFieldError": "_errors",
    "CheckError": "_errors",
    "ConfigError": "_errors",
    "InvalidValueError": "_errors",
    "PatchError": "_errors",
    "RegistryError": "_errors",
    "RunRefError": "_errors",
    "TokenSyntaxError": "_errors",
    "UnknownFieldError": "_errors",
    "UnknownNameError": "_errors",
    "UnknownPatchError": "_errors",
    "UnknownPresetError": "_errors",
    "UnknownVariantError": "_errors",
    "ValueTypeError": "_errors",
    "VariantFieldError": "_errors",
    "completions": "_fields",
    "field_table": "_fields",
    "Lens": "_lens",
    "Traversal": "_lens",
    "Patch": "_patch",
    "PatchFactory": "_patch",
    "Preset": "_patch",
    "compose": "_patch",
    "identity": "_patch",
    "over": "_patch",
    "patch": "_patch",
    "patch_factory": "_patch",
    "preset": "_patch",
    "set_": "_patch",
    "Registry": "_registry",
    "default_registry": "_registry",
    "Resolved": "_spec",
    "Resolver": "_spec",
    "leaf_paths": "_walk",
    "parse_token": "_grammar",
    "resolve": "_spec",
    "RunDir": "_store",
    "RunLock": "_store",
    "RunLocked": "_store",
    "RunStore": "_store",
    "StoreError": "_store",
    "TAG_FIELD": "_struct",
    "Config": "_struct",
    "format_value": "_values",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'nanigpt.conf' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(f"nanigpt.conf.{home}"), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and IDEs see: the same names, imported eagerly
    from nanigpt.conf._canon import canonical_bytes, config_hash, short_hash
    from nanigpt.conf._diff import Change, diff, to_tokens
    from nanigpt.conf._errors import (
        AmbiguousFieldError,
        CheckError,
        ConfigError,
        InvalidValueError,
        PatchError,
        RegistryError,
        RunRefError,
        TokenSyntaxError,
        UnknownFieldError,
        UnknownNameError,
        UnknownPatchError,
        UnknownPresetError,
        UnknownVariantError,
        ValueTypeError,
        VariantFieldError,
    )
    from nanigpt.conf._fields import completions, field_table
    from nanigpt.conf._grammar import parse_token
    from nanigpt.conf._lens import Lens, Traversal
    from nanigpt.conf._patch import (
        Patch,
        PatchFactory,
        Preset,
        compose,
        identity,
        over,
        patch,
        patch_factory,
        preset,
        set_,
    )
    from nanigpt.conf._registry import Registry, default_registry
    from nanigpt.conf._spec import Resolved, Resolver, resolve
    from nanigpt.conf._store import RunDir, RunLock, RunLocked, RunStore, StoreError
    from nanigpt.conf._struct import TAG_FIELD, Config
    from nanigpt.conf._values import format_value
    from nanigpt.conf._walk import leaf_paths

__all__ = [
    "TAG_FIELD",
    "AmbiguousFieldError",
    "Change",
    "CheckError",
    "Config",
    "ConfigError",
    "InvalidValueError",
    "Lens",
    "Patch",
    "PatchError",
    "PatchFactory",
    "Preset",
    "Registry",
    "RegistryError",
    "Resolved",
    "Resolver",
    "RunDir",
    "RunLock",
    "RunLocked",
    "RunRefError",
    "RunStore",
    "StoreError",
    "TokenSyntaxError",
    "Traversal",
    "UnknownFieldError",
    "UnknownNameError",
    "UnknownPatchError",
    "UnknownPresetError",
    "UnknownVariantError",
    "ValueTypeError",
    "VariantFieldError",
    "canonical_bytes",
    "completions",
    "compose",
    "config_hash",
    "default_registry",
    "diff",
    "field_table",
    "format_value",
    "identity",
    "leaf_paths",
    "over",
    "parse_token",
    "patch",
    "patch_factory",
    "preset",
    "resolve",
    "set_",
    "short_hash",
    "to_tokens",
]
