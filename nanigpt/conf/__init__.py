"""The generic config machinery: structs, lenses, patches, specs, hashing, diff, registries.

Knows nothing about GPTs and never imports torch.
"""

from nanigpt.conf._errors import CheckError, ConfigError
from nanigpt.conf._struct import TAG_FIELD, Config

__all__ = ["CheckError", "Config", "ConfigError", "TAG_FIELD"]
