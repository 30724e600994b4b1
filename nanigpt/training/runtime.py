"""How a run executes: `RuntimeOptions`, validated from the flags table (`flags.py`), recorded in
attempts.jsonl, never hashed. Torch-free."""

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from nanigpt.conf import ConfigError
from nanigpt.training.flags import BY_NAME, FLAGS, Flag


def _annotation(f: Flag) -> object:
    if f.kind == "multi":
        return Annotated[tuple[Literal[f.type], ...], Meta(description=f.help)]
    if isinstance(f.type, tuple):
        t: object = Literal[f.type]
    elif f.bounds:
        t = Annotated[f.type, Meta(**f.bounds)]
    else:
        t = f.type
    if f.default is None:  # the bound sits on the int alone: msgspec rejects `ge` on `int | None`
        t = t | None  # type: ignore[operator]
    return Annotated[t, Meta(description=f.help)]


RuntimeOptions = msgspec.defstruct(
    "RuntimeOptions",
    [(f.name, _annotation(f), f.default) for f in FLAGS],
    module=__name__,
    frozen=True,
    kw_only=True,
    forbid_unknown_fields=True,
)
RuntimeOptions.__doc__ = "Execution flags of one `nanigpt train` invocation. Not part of the experiment's hash."


def runtime_options(values: dict) -> RuntimeOptions:
    """The validated RuntimeOptions of flag values given by name (`{"micro_batch": 4}`); a bad
    one is a ConfigError naming the flag as typed (`--micro-batch`)."""
    try:
        return msgspec.convert(values, RuntimeOptions)
    except msgspec.ValidationError as e:
        msg, _, where = str(e).partition(" - at `$.")
        name = where.rstrip("`")
        flag = BY_NAME[name].option if name in BY_NAME else name
        raise ConfigError(
            f"`{flag}`={values.get(name)}: {msg[0].lower()}{msg[1:]}",
            suggestion=f"see `nanigpt train --help` for {flag}",
        ) from None
