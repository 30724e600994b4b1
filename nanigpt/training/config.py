"""What a training run does (steps, batch, seed, eval, precision). Torch-free.

How it runs (device, processes, micro batch, compile) is `RuntimeOptions`, never here.
"""

from typing import Annotated, Literal

from msgspec import Meta

from nanigpt.conf import CheckError, Config


class TrainConfig(Config):
    """The optimization run."""

    steps: Annotated[int, Meta(ge=1, le=10**9, description="optimizer steps")] = 2000
    batch_tokens: Annotated[
        int, Meta(ge=1, le=2**34, description="global batch in tokens per step (a multiple of model.block_size)")
    ] = 16384
    seed: Annotated[int, Meta(ge=0, le=2**63 - 1, description="seed of every random generator")] = 1337
    grad_clip: Annotated[float, Meta(ge=0.0, le=1e6, description="clip the global grad norm to this (0 = off)")] = 1.0


class EvalConfig(Config):
    """Validation loss during and after training."""

    interval: Annotated[int, Meta(ge=0, le=10**9, description="evaluate every N steps (0 = only at the end)")] = 250
    batches: Annotated[int, Meta(ge=1, le=10**6, description="val batches per evaluation")] = 20
    full_at_end: Annotated[bool, Meta(description="evaluate the whole val split after the last step")] = True


class PrecisionConfig(Config):
    """Numeric precision, fp8 included."""

    autocast: Annotated[
        Literal["float32", "bfloat16"], Meta(description="autocast dtype of the forward pass")
    ] = "float32"
    fp8: Annotated[bool, Meta(description="float8 training for the blocks' Linear layers")] = False
    fp8_recipe: Annotated[
        Literal["tensorwise", "rowwise"], Meta(description="float8 scaling granularity (dynamic scaling)")
    ] = "tensorwise"
    fp8_head: Annotated[bool, Meta(description="also train the output head in float8")] = False
    fp8_allow_emulation: Annotated[
        bool, Meta(description="emulate float8 where the device has no fp8 tensor cores (else error)")
    ] = True

    def check(self) -> None:
        if self.fp8_head and not self.fp8:
            raise CheckError(
                "`precision.fp8_head`=true needs `precision.fp8`=true",
                paths=("precision.fp8_head", "precision.fp8"),
                suggestion="add +fp8",
            )
