"""The generic config machinery: structs, lenses, patches, specs, hashing, diff, registries.

    >>> from nanigpt.conf import Config, Lens, Registry, patch, resolve, diff, to_tokens
    >>> class Opt(Config):
    ...     lr: float = 1e-3
    >>> class Root(Config):
    ...     opt: Opt = Opt()
    ...     steps: int = 10
    >>> @patch
    ... def long(cfg: Root) -> Root:
    ...     "Ten times the steps."
    ...     return Lens.root(Root).steps.set(cfg, cfg.steps * 10)
    >>> r = resolve(["+long", "lr=1e-4"], Root, Registry.of(long))   # validated, hashed, blamed
    >>> r.config.steps, r.blame["opt.lr"], r.blame["steps"]
    (100, 'lr=1e-4', '+long')
    >>> to_tokens(diff(Root(), r.config))
    ['opt.lr=0.0001', 'steps=100']

Knows nothing about naniGPT and never imports torch; `nanigpt.config` binds it to `RunConfig`,
the default preset and the preset folders. Private modules hold one concept each.
"""

from nanigpt.conf._canon import canonical_bytes, config_hash, hash_bytes, short_hash
from nanigpt.conf._diff import Change, diff, to_tokens
from nanigpt.conf._errors import (
    AmbiguousFieldError, CheckError, ConfigError, InvalidValueError, PatchError, RegistryError, RunRefError,
    TokenSyntaxError, UnknownFieldError, UnknownNameError, UnknownPatchError, UnknownPresetError, UnknownVariantError,
    ValueTypeError, VariantFieldError,
)
from nanigpt.conf._fields import field_table
from nanigpt.conf._grammar import parse_token
from nanigpt.conf._lens import Lens, Traversal
from nanigpt.conf._patch import Patch, PatchFactory, Preset, compose, identity, over, patch, patch_factory, preset, set_
from nanigpt.conf._registry import Registry
from nanigpt.conf._spec import DEFAULTS_TOKEN, Resolved, Resolver, RunSource, resolve
from nanigpt.conf._struct import TAG_FIELD, Config
from nanigpt.conf._values import format_value
from nanigpt.conf._walk import fields_named, leaf_paths

__all__ = [
    "DEFAULTS_TOKEN", "TAG_FIELD", "AmbiguousFieldError", "Change", "CheckError", "Config", "ConfigError",
    "InvalidValueError", "Lens", "Patch", "PatchError", "PatchFactory", "Preset", "Registry", "RegistryError",
    "Resolved", "Resolver", "RunRefError", "RunSource", "TokenSyntaxError", "Traversal", "UnknownFieldError",
    "UnknownNameError", "UnknownPatchError", "UnknownPresetError", "UnknownVariantError", "ValueTypeError",
    "VariantFieldError", "canonical_bytes", "compose", "config_hash", "diff", "field_table", "fields_named", "format_value",
    "hash_bytes", "identity", "leaf_paths", "over", "parse_token", "patch", "patch_factory", "preset",
    "resolve", "set_", "short_hash", "to_tokens",
]
