"""Training: pre-flight checks, the loop, checkpoints, sampling.

`preflight` and `micro_batch_for` are torch-free and load with the package; `train`, `describe`,
`sample` and `Summary` import torch on first use, so `nanigpt show` and `--help` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nanigpt.train.preflight import micro_batch_for, preflight

if TYPE_CHECKING:
    from nanigpt.config import RunConfig
    from nanigpt.train.loop import Summary, train
    from nanigpt.train.sample import sample

__all__ = ["Summary", "describe", "micro_batch_for", "preflight", "sample", "train"]


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


def __getattr__(name: str) -> Any:
    if name in ("train", "Summary"):
        from nanigpt.train import loop

        return getattr(loop, name)
    if name == "sample":
        from nanigpt.train.sample import sample

        return sample
    raise AttributeError(f"module 'nanigpt.train' has no attribute {name!r}")
