"""Optimizers (a tagged union: `optim=adamw|muon|sgd`) and the learning-rate schedule. Torch-free."""

from typing import Annotated, Literal

from msgspec import Meta

from nanigpt.conf import CheckError, Config

LR = Annotated[float, Meta(gt=0.0, le=10.0, description="peak learning rate")]
WeightDecay = Annotated[float, Meta(ge=0.0, le=10.0, description="decoupled weight decay (matrices only)")]
Beta = Annotated[float, Meta(ge=0.0, lt=1.0)]


class AdamW(Config, tag="adamw"):
    """AdamW; no weight decay on norms, biases and embeddings."""

    lr: LR = 1e-3
    betas: Annotated[tuple[Beta, Beta], Meta(description="Adam (beta1, beta2)")] = (0.9, 0.95)
    eps: Annotated[float, Meta(gt=0.0, le=1.0, description="Adam epsilon")] = 1e-8
    weight_decay: WeightDecay = 0.1


class Muon(Config, tag="muon"):
    """Muon (orthogonalized momentum) for hidden 2-D weights; AdamW for everything else."""

    lr: LR = 0.02
    momentum: Annotated[float, Meta(ge=0.0, lt=1.0, description="Muon momentum")] = 0.95
    nesterov: Annotated[bool, Meta(description="Nesterov momentum")] = True
    ns_steps: Annotated[int, Meta(ge=1, le=20, description="Newton-Schulz iterations")] = 5
    weight_decay: WeightDecay = 0.0
    adamw_lr: Annotated[float, Meta(gt=0.0, le=10.0, description="AdamW lr for embeddings, head, norms")] = 3e-3
    adamw_betas: Annotated[tuple[Beta, Beta], Meta(description="AdamW (beta1, beta2) for the rest")] = (0.9, 0.95)
    adamw_weight_decay: Annotated[float, Meta(ge=0.0, le=10.0, description="AdamW weight decay for the rest")] = 0.0


class SGD(Config, tag="sgd"):
    """SGD with momentum."""

    lr: LR = 0.1
    momentum: Annotated[float, Meta(ge=0.0, lt=1.0, description="momentum")] = 0.9
    nesterov: Annotated[bool, Meta(description="Nesterov momentum")] = False
    weight_decay: WeightDecay = 0.0

    def check(self) -> None:
        # Nesterov looks ahead along the momentum; without momentum there is nothing to look along.
        if self.nesterov and self.momentum == 0.0:
            raise CheckError(
                "`optim.nesterov`=true needs `optim.momentum` > 0, got 0.0",
                paths=("optim.nesterov", "optim.momentum"),
                suggestion="set optim.momentum=0.9 or optim.nesterov=false",
            )


OptimConfig = AdamW | Muon | SGD


class ScheduleConfig(Config):
    """Linear warmup, then cosine, WSD (warmup-stable-decay) or constant."""

    warmup_steps: Annotated[int, Meta(ge=0, le=10**9, description="linear warmup steps from 0 to the peak lr")] = 100
    decay: Annotated[Literal["cosine", "wsd", "constant"], Meta(description="shape after warmup")] = "cosine"
    min_lr_ratio: Annotated[float, Meta(ge=0.0, le=1.0, description="final lr / peak lr")] = 0.1
    decay_fraction: Annotated[
        float, Meta(gt=0.0, le=1.0, description="WSD only: fraction of all steps spent decaying")
    ] = 0.2
