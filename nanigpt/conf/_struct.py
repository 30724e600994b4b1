"""The base class every config struct derives from.

The metaclass gives every subclass `frozen=True, kw_only=True, forbid_unknown_fields=True`
(a plain base class would not carry `kw_only` to the subclass's own fields), and tagged
unions use the tag field `type`. Stated once here, never restated per struct.
"""

from __future__ import annotations

from typing import Any

import msgspec

TAG_FIELD = "type"


class _ConfigMeta(msgspec.StructMeta):
    def __new__(mcls, name: str, bases: tuple, ns: dict, **kw: Any):
        kw.setdefault("frozen", True)
        kw.setdefault("kw_only", True)
        kw.setdefault("forbid_unknown_fields", True)
        if kw.get("tag") is not None:
            kw.setdefault("tag_field", TAG_FIELD)
        return super().__new__(mcls, name, bases, ns, **kw)


class Config(msgspec.Struct, metaclass=_ConfigMeta):
    """A frozen, keyword-only config struct. Override `check` for cross-field rules."""

    def check(self) -> None:
        """Cross-field rules; raise `CheckError` naming every field involved.

        Runs once, after the whole spec is applied and types are validated. Never put these
        rules in `__post_init__`: msgspec calls it on every `replace`, mid patch chain.
        """
