"""Muon: momentum whose update is orthogonalized by a Newton-Schulz iteration.

Keller Jordan's algorithm (https://kellerjordan.github.io/posts/muon/): for a weight matrix,
keep an EMA of its gradient, replace the (Nesterov) momentum M = U S V^T by roughly U V^T, and
step along that. Every direction of the matrix then moves by about the same amount, which is
what lets hidden layers train at a far higher lr than Adam allows. Muon only makes sense for
2-D hidden weights; embeddings, the output head, norms and biases use AdamW, inside the same
optimizer object (`MuonWithAdamW`) so that the training loop, the schedule and checkpoints
see one `torch.optim.Optimizer`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import torch

from nanigpt.optim.groups import is_sharded

# The quintic's coefficients, tuned by Keller Jordan to push every singular value into about
# [0.7, 1.2] within 5 steps from anywhere in (0, 1]; exact convergence to 1 is not needed.
NS_COEFFS = (3.4445, -4.7750, 2.0315)

_MUON_KEYS = ("lr", "momentum", "nesterov", "ns_steps", "weight_decay")
_ADAMW_KEYS = ("lr", "betas", "eps", "weight_decay")


def orthogonalize(G: torch.Tensor, steps: int) -> torch.Tensor:
    """Approximately U V^T for a matrix G = U S V^T, or for each of a batch (n, rows, cols); float32.

    Runs in bfloat16 on CUDA (the iteration is robust to it, and it halves the cost) and in
    float32 elsewhere, where bfloat16 matmuls are slow.
    """
    if G.ndim == 2:
        return orthogonalize(G[None], steps)[0]
    a, b, c = NS_COEFFS
    X = G.to(torch.bfloat16 if G.is_cuda else torch.float32)
    wide = X.size(-2) <= X.size(-1)
    if not wide:
        X = X.mT  # iterate on the smaller Gram matrix X X^T
    # Frobenius norm >= spectral norm, so every singular value starts in [0, 1].
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        A = X @ X.mT  # (n, r, r) with r = min(rows, cols)
        B = torch.baddbmm(A, A, A, beta=b, alpha=c)  # b·A + c·A²
        X = torch.baddbmm(X, B, X, beta=a)  # a·X + B·X
    if not wide:
        X = X.mT
    return X.float()


class MuonWithAdamW(torch.optim.Optimizer):
    """Muon for the param groups tagged `kind="muon"`, AdamW for those tagged `kind="adamw"`.

    Muon groups need lr, momentum, nesterov, ns_steps, weight_decay, and may set `split` = k:
    each weight is then k matrices stacked along its rows (a fused q, k, v projection is 3),
    each orthogonalized on its own. AdamW groups need lr, betas, eps, weight_decay.
    Parameters under FSDP (DTensors) are not supported yet for the Muon groups.
    """

    def __init__(self, param_groups: Iterable[dict[str, Any]]) -> None:
        super().__init__(list(param_groups), defaults={})

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        kind = param_group.get("kind")
        if kind not in ("muon", "adamw"):
            raise ValueError(f'every param group needs kind="muon" or kind="adamw", got kind={kind!r}')
        required = _MUON_KEYS if kind == "muon" else _ADAMW_KEYS
        missing = [k for k in required if k not in param_group]
        if missing:
            raise ValueError(f"a {kind} param group is missing {', '.join(missing)}")
        if kind == "muon":
            param_group.setdefault("split", 1)
            params = param_group["params"]
            params = [params] if isinstance(params, torch.Tensor) else list(params)
            for p in params:
                if p.ndim != 2:
                    raise ValueError(f"Muon updates 2-D matrices only, got a parameter of shape {tuple(p.shape)}")
                if p.size(0) % param_group["split"]:
                    raise ValueError(f"split={param_group['split']} does not divide the rows of a {tuple(p.shape)} weight")
                if is_sharded(p):
                    raise NotImplementedError(
                        "Muon is not supported with FSDP yet (its parameters are sharded DTensors): "
                        "use --parallel ddp, or optim=adamw"
                    )
            param_group["params"] = params
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if group["kind"] == "muon":
                self._muon_step(group)
            else:
                self._adamw_step(group)
        return loss

    def _muon_step(self, group: dict[str, Any]) -> None:
        beta, split = group["momentum"], group["split"]
        lr, wd = group["lr"], group["weight_decay"]
        # Matrices of one shape are orthogonalized as one batch: far fewer small kernels.
        buckets: dict[tuple[int, int], list[tuple[torch.Tensor, torch.Tensor]]] = defaultdict(list)
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad
            state = self.state[p]
            if not state:
                state["momentum_buffer"] = torch.zeros_like(g)
            buf = state["momentum_buffer"]
            buf.lerp_(g, 1 - beta)  # EMA of the gradient
            update = g.lerp(buf, beta) if group["nesterov"] else buf
            update = update.reshape(split, -1, update.size(-1))  # (split, rows/split, cols)
            buckets[tuple(update.shape[1:])].append((p, update))
        for (rows, cols), items in buckets.items():
            ortho = orthogonalize(torch.cat([u for _, u in items]), group["ns_steps"])
            # U V^T has entries of size ~1/sqrt(cols) for a tall matrix; this scale gives every
            # shape about the same per-entry update size.
            scale = max(1.0, rows / cols) ** 0.5
            for (p, _), u in zip(items, ortho.split(split)):
                if wd:
                    p.mul_(1 - lr * wd)
                p.add_(u.reshape(p.shape).to(p.dtype), alpha=-lr * scale)

    def _adamw_step(self, group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            state["step"] += 1
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        if not params:
            return
        # torch.optim.AdamW's arithmetic, as foreach ops (one kernel per op for the whole group).
        if wd:
            torch._foreach_mul_(params, 1 - lr * wd)
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denom, [math.sqrt(1 - beta2**s) for s in steps])
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, exp_avgs, denom, [-lr / (1 - beta1**s) for s in steps])
