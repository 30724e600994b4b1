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
from nanigpt.conf._lens import Lens, Traversal
from nanigpt.conf._patch import Patch, PatchFactory, Preset, compose, identity, over, patch, patch_factory, preset, set_
from nanigpt.conf._registry import Registry, default_registry
from nanigpt.conf._spec import Resolved, Resolver, leaf_paths, parse_token, resolve
from nanigpt.conf._store import RunDir, RunLock, RunLocked, RunStore, StoreError
from nanigpt.conf._struct import TAG_FIELD, Config
from nanigpt.conf._values import format_value

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
