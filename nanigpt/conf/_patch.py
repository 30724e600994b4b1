"""Patches (named, documented pure functions Config -> Config), presets, and their decorators.

    >>> from nanigpt.config import L, RunConfig
    >>> p = set_(L.optim.lr, 1e-4) >> over(L.model.n_layer, lambda n: 2 * n)
    >>> p.name
    'optim.lr=0.0001 >> over(model.n_layer, <lambda>)'
    >>> cfg = p(RunConfig())
    >>> cfg.optim.lr, cfg.model.n_layer
    (0.0001, 12)

Composition is flat: `(p >> q) >> r` and `p >> (q >> r)` are the same list of steps, and
`identity` disappears from it, so regrouping never changes a result. The decorators return
`Preset`, `Patch` and `PatchFactory` values; a presets file is a module whose namespace holds
them, and the loader collects them from there. Nothing registers itself anywhere.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar, overload

from nanigpt.conf._errors import PatchError
from nanigpt.conf._lens import Lens, Traversal
from nanigpt.conf._types import strip_annotated
from nanigpt.conf._values import BadValue, describe_type, format_value, make_parser

C = TypeVar("C")
F = TypeVar("F", bound=Callable[..., Any])


def need_doc(doc: str, kind: str, name: str, source: str) -> str:
    """`doc`, which must not be empty: `nanigpt presets`/`patches` print it."""
    if not doc:
        raise PatchError(
            f"{kind} `{name}` ({source}) has no docstring",
            suggestion="say in one line what it gives the user; `nanigpt presets`/`patches` print it",
        )
    return doc


def _decorate(cls: Callable[..., Any], kind: str, fn: Callable[..., Any] | None, name: str | None) -> Any:
    """`@kind` (on `fn`) or `@kind(name=...)` (a decorator): the function as a `cls` entry."""

    def make(f: Callable[..., Any]) -> Any:
        n = name or f.__name__
        code = getattr(f, "__code__", None)
        source = code.co_filename if code is not None else "<unknown>"
        return cls(f, name=n, doc=need_doc(inspect.cleandoc(f.__doc__ or ""), kind, n, source), source=source)

    return make(fn) if fn is not None else make


class _Entry:
    """A registry entry: a function with a name, a docstring and the file that defined it."""

    __slots__ = ("name", "doc", "source", "_fn")

    def __init__(self, fn: Callable[..., Any], *, name: str, doc: str, source: str | None) -> None:
        self.name = name
        self.doc = doc
        self.source = source
        self._fn = fn

    @property
    def summary(self) -> str:
        """The first line of the docstring."""
        return self.doc.splitlines()[0] if self.doc else ""


class Patch(_Entry):
    """A named, documented pure function config -> config. Compose with `>>`."""

    __slots__ = ("parts",)

    def __init__(
        self, fn: Callable[[Any], Any], *, name: str, doc: str = "", source: str | None = None,
        parts: tuple[Patch, ...] | None = None,
    ) -> None:
        super().__init__(fn, name=name, doc=doc, source=source)
        # the atomic patches this one applies in order; composition concatenates these
        self.parts: tuple[Patch, ...] = parts if parts is not None else (self,)

    def __call__(self, cfg: C) -> C:
        return self._fn(cfg)

    def __rshift__(self, other: Patch) -> Patch:
        return compose(self, other)

    def __repr__(self) -> str:
        return f"Patch({self.name!r})"


identity = Patch(lambda cfg: cfg, name="identity", doc="Changes nothing.", parts=())


def compose(*patches: Patch) -> Patch:
    """`p`, then `q`, ...: one patch. `compose()` is `identity`."""
    parts: list[Patch] = []
    for p in patches:
        if not isinstance(p, Patch):
            raise PatchError(
                f"compose() takes patches, got {type(p).__name__} {p!r}",
                suggestion="a patch factory must be called first: with_lr(1e-4)",
            )
        parts.extend(p.parts)
    if not parts:
        return identity
    if len(parts) == 1:
        return parts[0]
    steps = tuple(q._fn for q in parts)

    def run(cfg: Any) -> Any:
        for step in steps:
            cfg = step(cfg)
        return cfg

    doc = "\n".join(f"{q.name}: {q.summary}" for q in parts)
    return Patch(run, name=" >> ".join(q.name for q in parts), doc=doc, parts=tuple(parts))


def _need_lens(lens: Any, what: str) -> None:
    if not isinstance(lens, (Lens, Traversal)):
        raise PatchError(
            f"{what}() needs a lens, got {type(lens).__name__} {lens!r}",
            suggestion="fields named like a lens attribute (`path`, `get`, `set`, `over`) are reached "
            "with L.data['path']",
        )


def set_(lens: Lens | Traversal, value: Any) -> Patch:
    """The patch that sets the lens's focus to `value`."""
    _need_lens(lens, "set_")
    shown = format_value(value) if not hasattr(value, "__struct_fields__") else type(value).__name__ + "(...)"
    return Patch(lambda cfg: lens.set(cfg, value), name=f"{lens.path}={shown}", doc=f"Set `{lens.path}` to {value!r}.")


def over(lens: Lens | Traversal, f: Callable[[Any], Any]) -> Patch:
    """The patch that applies `f` to the lens's focus."""
    _need_lens(lens, "over")
    fname = getattr(f, "__name__", type(f).__name__)
    doc = f"Apply `{fname}` to `{lens.path}`."
    return Patch(lambda cfg: lens.over(cfg, f), name=f"over({lens.path}, {fname})", doc=doc)


class Preset(_Entry):
    """A named, documented starting config. Calling it gives the config (computed once: configs
    are immutable, so every caller can share it)."""

    __slots__ = ("_value",)

    def __init__(self, fn: Callable[[], Any], *, name: str, doc: str, source: str) -> None:
        super().__init__(fn, name=name, doc=doc, source=source)
        self._value: Any = None

    def __call__(self) -> Any:
        if self._value is None:
            self._value = self._fn()
        return self._value

    def __repr__(self) -> str:
        return f"Preset({self.name!r})"


class _Param:
    __slots__ = ("name", "bare", "parse", "default", "seq")

    def __init__(self, p: inspect.Parameter, hint: Any) -> None:
        self.name = p.name
        self.bare = strip_annotated(hint)
        self.parse = make_parser(self.bare)
        self.default = p.default
        self.seq = typing.get_origin(self.bare) in (tuple, list)


class PatchFactory(_Entry):
    """A named, documented function (*args) -> Patch: `+with_lr:1e-4` on the command line.

    Command-line arguments are parsed by the annotated types of the function's parameters.
    """

    __slots__ = ("_params",)

    def __init__(self, fn: Callable[..., Patch], *, name: str, doc: str, source: str) -> None:
        super().__init__(fn, name=name, doc=doc, source=source)
        self._params: list[_Param] | None = None

    def params(self) -> list[_Param]:
        if self._params is None:
            where = f"patch factory `{self.name}` ({self.source})"
            try:
                hints = typing.get_type_hints(self._fn, include_extras=True)
            except Exception as e:  # a name in an annotation that does not resolve
                raise PatchError(f"{where}: bad annotation: {e}") from None
            params = []
            for p in inspect.signature(self._fn).parameters.values():
                if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                    raise PatchError(f"{where}: parameter `{p.name}` must be positional")
                if p.name not in hints:
                    raise PatchError(
                        f"{where}: parameter `{p.name}` has no type annotation",
                        suggestion="annotate it: the annotation parses the command-line argument",
                    )
                params.append(_Param(p, hints[p.name]))
            self._params = params
        return self._params

    @property
    def usage(self) -> str:
        """`+with_lr:LR`: how to call it on the command line."""
        return f"+{self.name}:" + ",".join(
            p.name.upper() if p.default is inspect.Parameter.empty else f"[{p.name.upper()}]" for p in self.params()
        )

    @property
    def help(self) -> str:
        """`+with_lr:LR with LR a float`: the usage and each argument's type."""
        kinds = ", ".join(f"{p.name.upper()} {describe_type(p.bare)}" for p in self.params())
        return f"{self.usage} with {kinds}" if kinds else self.usage

    def __call__(self, *args: Any) -> Patch:
        p = self._fn(*args)
        if not isinstance(p, Patch):
            raise PatchError(
                f"patch factory `{self.name}` ({self.source}) returned {type(p).__name__}, not a Patch",
                suggestion="return set_(...), over(...), a composition, or a @patch function",
            )
        shown = ",".join(format_value(a) for a in args)
        return Patch(p._fn, name=f"{self.name}:{shown}", doc=self.doc, source=self.source)

    def from_text(self, text: str) -> Patch:
        """The patch for command-line arguments `text` (`1e-4` in `+with_lr:1e-4`)."""
        params = self.params()
        required = sum(p.default is inspect.Parameter.empty for p in params)
        raw = text.split(",") if text else []
        # a trailing tuple parameter takes the remaining comma-separated items
        if params and params[-1].seq and len(raw) > len(params):
            raw = [*raw[: len(params) - 1], ",".join(raw[len(params) - 1 :])]
        if not required <= len(raw) <= len(params):
            n = f"{required}" if required == len(params) else f"{required} to {len(params)}"
            raise PatchError(
                f"patch factory `{self.name}` takes {n} argument(s), got {len(raw)}: `{text}`",
                suggestion=f"write {self.help}",
            )
        args = []
        for p, t in zip(params, raw):
            try:
                args.append(p.parse(t))
            except BadValue as e:
                raise PatchError(
                    f"argument `{p.name}` of `{self.name}` {e.reason}", suggestion=e.hint or f"write {self.usage}"
                ) from None
        return self(*args)

    def __repr__(self) -> str:
        return f"PatchFactory({self.name!r})"


@overload
def preset(fn: Callable[[], Any], /) -> Preset: ...
@overload
def preset(*, name: str | None = None) -> Callable[[Callable[[], Any]], Preset]: ...
def preset(fn: Callable[[], Any] | None = None, /, *, name: str | None = None) -> Any:
    """Make a `() -> Config` function a named preset: `@preset` or `@preset(name="...")`."""
    return _decorate(Preset, "preset", fn, name)


@overload
def patch(fn: Callable[[Any], Any], /) -> Patch: ...
@overload
def patch(*, name: str | None = None) -> Callable[[Callable[[Any], Any]], Patch]: ...
def patch(fn: Callable[[Any], Any] | None = None, /, *, name: str | None = None) -> Any:
    """Make a `cfg -> cfg` function a named patch: `@patch` or `@patch(name="...")`."""
    return _decorate(Patch, "patch", fn, name)


@overload
def patch_factory(fn: Callable[..., Patch], /) -> PatchFactory: ...
@overload
def patch_factory(*, name: str | None = None) -> Callable[[Callable[..., Patch]], PatchFactory]: ...
def patch_factory(fn: Callable[..., Patch] | None = None, /, *, name: str | None = None) -> Any:
    """Make a `(*args) -> Patch` function a named patch factory (`+name:arg,...`)."""
    return _decorate(PatchFactory, "patch factory", fn, name)
