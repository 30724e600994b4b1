"""naniGPT: train small GPTs from configs that are precisely specified and exactly reproducible.

From Python: `nanigpt.train(spec, **runtime)`, `nanigpt.sweep(spec, **runtime)`,
`nanigpt.load(prefix)`, `nanigpt.runs()`, `nanigpt.resolve(spec)`, `nanigpt.compare(runs)` and the
`Run` and `Sweep` they give (nanigpt/_api.py), loaded on first use so that the command line does
not pay for them.
"""

from nanigpt._version import __version__

_API = ("train", "sweep", "load", "runs", "resolve", "compare", "Run", "Sweep")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> object:
    if name in _API:
        from nanigpt import _api

        return getattr(_api, name)
    raise AttributeError(f"module 'nanigpt' has no attribute {name!r}")
