"""A model's sizes (parameters, FLOPs per token), computed on the meta device: no memory, no init."""

from typing import Any

import torch

from nanigpt.builders import build
from nanigpt.config import RunConfig


def describe(cfg: RunConfig) -> dict[str, Any]:
    """Sizes of `cfg`'s model, computed on the meta device (no memory, no init):
    `{"params": {"total", "non_embedding", "position"}, "flops_per_token"}`.

    `non_embedding` leaves out the lookup tables (positions; token embeddings when untied), as
    nanoGPT counts; `flops_per_token` is the training (forward + backward) estimate 6N + 12LHQT.
    """
    with torch.device("meta"):
        model = build(cfg.model)
    total = model.num_params(non_embedding=False)
    position = model.wpe.weight.numel() if getattr(model, "wpe", None) is not None else 0
    return {
        "params": {"total": total, "non_embedding": model.num_params(), "position": position},
        "flops_per_token": model.flops_per_token(),
    }
