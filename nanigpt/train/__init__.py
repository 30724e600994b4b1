"""Training: pre-flight checks, the loop, checkpoints, sampling.

Every name here but `describe` loads on first use (`_Package.__getattr__`): `nanigpt.config`
imports this package for `TrainConfig`, so whatever loads with it is paid by every config import,
`show` and completion.
`preflight` and `micro_batch_for` are torch-free (but read the file system helpers of
`nanigpt.data.files`); `train`, `describe`, `sample` and `Summary` import torch.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nanigpt.config import RunConfig
    from nanigpt.train.loop import Summary, train
    from nanigpt.train.preflight import micro_batch_for, preflight
    from nanigpt.train.sample import sample

__all__ = ["Summary", "describe", "micro_batch_for", "preflight", "sample", "train"]

# name -> the submodule that defines it
_HOME = {
    "preflight": "preflight",
    "micro_batch_for": "preflight",
    "train": "loop",
    "Summary": "loop",
    "sample": "sample",
}


def describe(cfg: RunConfig) -> dict[str, Any]:
    """Sizes of `cfg`'s model, computed on the meta device (no memory, no init):
    `{"params": {"total", "non_embedding", "position"}, "flops_per_token"}`.

    `non_embedding` leaves out the lookup tables (positions; token embeddings when untied), as
    nanoGPT counts; `flops_per_token` is the training (forward + backward) estimate 6N + 12LHQT.
    """
    import torch

    from nanigpt.builders import build

    with torch.device("meta"):
        model = build(cfg.model)
    total = model.num_params(non_embedding=False)
    position = model.wpe.weight.numel() if getattr(model, "wpe", None) is not None else 0
    return {
        "params": {"total": total, "non_embedding": model.num_params(), "position": position},
        "flops_per_token": model.flops_per_token(),
    }


class _Package(types.ModuleType):
    """This package: loads its names on first use, and keeps `preflight` and `sample` bound to
    the functions of those names.

    On a submodule's first load the import system binds it on the package
    (`nanigpt.train.preflight = <module>`), whoever imported it (`_cli_train` imports
    `nanigpt.train.preflight` directly): that would make `from nanigpt.train import preflight`
    give the module. Setting a module's `__class__` is the documented way to customize setting
    its attributes (Python reference, "Customizing module attribute access").
    """

    def __getattr__(self, name: str) -> Any:
        try:
            home = _HOME[name]
        except KeyError:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
        super().__setattr__(name, value)  # the next lookup is a plain module attribute
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if _HOME.get(name) == name and isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
