"""The typed errors of the config machinery. `str(err)` is one line the CLI prints as is."""

from __future__ import annotations


class ConfigError(Exception):
    """Bad input: a spec token, a field value, a name. Exit code 2 at the CLI.

    `path` is the dotted field path involved (if any), `token` the spec token that caused it,
    `suggestion` what the user probably meant.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        token: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.token = token
        self.suggestion = suggestion

    def __str__(self) -> str:
        parts = []
        if self.token is not None:
            parts.append(f"in `{self.token}`: ")
        parts.append(self.message)
        if self.suggestion:
            parts.append(f" ({self.suggestion})")
        return "".join(parts)


class CheckError(ConfigError):
    """A cross-field rule failed. `paths` names every field involved in the rule."""

    def __init__(self, message: str, *, paths: tuple[str, ...], suggestion: str | None = None) -> None:
        super().__init__(message, path=paths[0] if paths else None, suggestion=suggestion)
        self.paths = paths
