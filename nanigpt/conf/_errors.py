"""The typed errors of the config machinery. `str(err)` is one line the CLI prints as is.

Every error names the token that caused it (when there is one), the field path, the bad value and
a suggestion: `in `optim.lrr=1`: unknown field `optim.lrr` (did you mean `optim.lr`?)`.
"""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(Exception):
    """Bad input: a spec token, a field value, a name. Exit code 2 at the CLI.

    `path` is the dotted field path involved (if any), `token` the spec token that caused it,
    `suggestion` what the user probably meant.
    """

    def __init__(
        self, message: str, *, path: str | None = None, token: str | None = None, suggestion: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.token = token
        self.suggestion = suggestion

    def __str__(self) -> str:
        head = self.message if self.token is None else f"in `{self.token}`: {self.message}"
        return head + self._origin() + (f" ({self.suggestion})" if self.suggestion else "")

    def _origin(self) -> str:
        return ""  # CheckError: where the fields involved were set

    def with_token(self, token: str) -> ConfigError:
        """This error, attributed to `token` if it names none yet (errors raised inside patches)."""
        if self.token is None:
            self.token = token
        return self


class TokenSyntaxError(ConfigError):
    """A token that fits no form of the grammar (`=3`, `lr==3`, `+`, `lr=`), or one out of place."""


class UnknownFieldError(ConfigError):
    """A path or field name that no struct on the way has."""


class AmbiguousFieldError(ConfigError):
    """A bare field name that names several fields of the current config."""

    def __init__(self, message: str, *, paths: tuple[str, ...], **kw) -> None:
        super().__init__(message, **kw)
        self.paths = paths


class VariantFieldError(ConfigError):
    """A field of a union variant that the config does not currently hold."""


class UnknownVariantError(ConfigError):
    """`section=tag` with a tag that no variant of the union has."""


class UnknownNameError(ConfigError):
    """A preset or patch name that no registry entry has."""


class UnknownPresetError(UnknownNameError):
    """`preset:NAME` with an unknown NAME."""


class UnknownPatchError(UnknownNameError):
    """`+NAME` with an unknown NAME."""


class ValueTypeError(ConfigError):
    """A value that does not parse as its field's type (`lr=abc`, `n_layer=1.5`, `lr=nan`)."""


class InvalidValueError(ConfigError):
    """A value of the right type outside its field's range (`lr=-1`, `n_layer=0`)."""


class PatchError(ConfigError):
    """A patch or patch factory misused: wrong arguments, or a result that is not a config."""


class RegistryError(ConfigError):
    """A presets file that does not load, or two presets or patches with one name."""


class RunRefError(ConfigError):
    """`run:HASH` that cannot be used: no run store, no such run, or a config that no longer decodes."""


class CheckError(ConfigError):
    """A cross-field rule failed. `paths` names every field involved in the rule.

    After resolution, `tokens` maps each of those paths to the token that last set it.
    """

    def __init__(
        self, message: str, *, paths: tuple[str, ...], suggestion: str | None = None, token: str | None = None,
        tokens: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, path=paths[0] if paths else None, token=token, suggestion=suggestion)
        self.paths = paths
        self.tokens = dict(tokens) if tokens else {}

    def _origin(self) -> str:
        return " [" + ", ".join(f"`{p}` set by `{t}`" for p, t in self.tokens.items()) + "]" if self.tokens else ""
