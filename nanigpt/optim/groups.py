"""Which parameters get weight decay, and which Muon may orthogonalize.

Decided by module type, not by parameter name, so that the split survives `torch.compile`
(`_orig_mod.` prefixes), float8 conversion (`Float8Linear` is an `nn.Linear`) and any model
that follows the same conventions as `GPT`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn


def _unique_trainable(params: list[nn.Parameter]) -> list[nn.Parameter]:
    seen: set[int] = set()
    out = []
    for p in params:
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def linear_matrices(model: nn.Module, *, exclude_head: bool = False) -> list[nn.Parameter]:
    """The weights of the model's `nn.Linear` layers, minus any shared with an embedding.

    A tied head is the embedding, so it is left out; with `exclude_head`, an untied `lm_head`
    is left out as well (Muon's "hidden" matrices: everything but the input and output maps).
    """
    embedding_ids = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    head = getattr(model, "lm_head", None) if exclude_head else None
    return _unique_trainable([
        m.weight
        for m in model.modules()
        if isinstance(m, nn.Linear) and m is not head and id(m.weight) not in embedding_ids
    ])


def split_params(model: nn.Module, *, exclude_head: bool = False) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(Linear matrices, every other trainable parameter): disjoint, together all of them."""
    matrices = linear_matrices(model, exclude_head=exclude_head)
    ids = {id(p) for p in matrices}
    rest = _unique_trainable([p for p in model.parameters() if id(p) not in ids])
    return matrices, rest


def decay_groups(model: nn.Module, *, lr: float, weight_decay: float, **extra: Any) -> list[dict[str, Any]]:
    """Two param groups: "matrices" (weight decay) and "other" (norms, biases, embeddings: none).

    Each group carries its peak lr as "base_lr" too, for the schedule. Empty groups are dropped.
    """
    matrices, rest = split_params(model)
    groups = [
        {"name": "matrices", "params": matrices, "lr": lr, "base_lr": lr, "weight_decay": weight_decay, **extra},
        {"name": "other", "params": rest, "lr": lr, "base_lr": lr, "weight_decay": 0.0, **extra},
    ]
    return [g for g in groups if g["params"]]


def is_sharded(p: torch.Tensor) -> bool:
    """True for an FSDP2 (DTensor) parameter."""
    if not torch.distributed.is_available():
        return False
    from torch.distributed.tensor import DTensor

    return isinstance(p, DTensor)
