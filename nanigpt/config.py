"""The root of a training run's config: the experiment, the whole of it. Torch-free."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from nanigpt.conf._errors import CheckError
from nanigpt.conf._struct import Config
from nanigpt.data.config import BuiltinData, DataConfig, ShardData
from nanigpt.model.config import GPTConfig
from nanigpt.optim.config import AdamW, OptimConfig, ScheduleConfig
from nanigpt.train.config import EvalConfig, PrecisionConfig, TrainConfig

# Bump when a change to the schema moves the hash of an existing config.
SCHEMA_VERSION = 1


class RunConfig(Config):
    """Everything that determines a training run's result. Its hash names `runs/<hash>/`."""

    schema_version: Annotated[int, Meta(ge=1, description="version of this config schema")] = SCHEMA_VERSION
    model: GPTConfig = GPTConfig()
    data: DataConfig = BuiltinData()
    optim: OptimConfig = AdamW()
    schedule: ScheduleConfig = ScheduleConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    precision: PrecisionConfig = PrecisionConfig()

    def check(self) -> None:
        if self.schema_version != SCHEMA_VERSION:
            raise CheckError(
                f"`schema_version`={self.schema_version} but this naniGPT reads version {SCHEMA_VERSION}",
                paths=("schema_version",),
            )
        if self.train.batch_tokens % self.model.block_size:
            raise CheckError(
                f"`train.batch_tokens`={self.train.batch_tokens} is not a multiple of "
                f"`model.block_size`={self.model.block_size}",
                paths=("train.batch_tokens", "model.block_size"),
                suggestion=f"try train.batch_tokens={max(1, round(self.train.batch_tokens / self.model.block_size)) * self.model.block_size}",
            )
        if self.schedule.warmup_steps > self.train.steps:
            raise CheckError(
                f"`schedule.warmup_steps`={self.schedule.warmup_steps} is more than "
                f"`train.steps`={self.train.steps}",
                paths=("schedule.warmup_steps", "train.steps"),
                suggestion="lower warmup_steps or raise steps",
            )
        if not isinstance(self.data, ShardData) and self.model.vocab_size < 256:
            raise CheckError(
                f"byte-level text data needs `model.vocab_size` >= 256, got {self.model.vocab_size}",
                paths=("model.vocab_size", "data"),
                suggestion="set model.vocab_size=256",
            )
        if self.precision.fp8:
            m = self.model
            bad = [f"`model.{k}`={v}" for k, v in (("n_embd", m.n_embd), ("mlp hidden (n_embd*mlp_ratio)", m.n_embd * m.mlp_ratio)) if v % 16]
            if bad:
                raise CheckError(
                    f"float8 needs Linear widths that are multiples of 16: {', '.join(bad)}",
                    paths=("model.n_embd", "precision.fp8"),
                    suggestion="use an n_embd that is a multiple of 16",
                )


# The lens on the whole run config: `L.optim.lr`, `L.model.n_layer` (checked when built).
from nanigpt.conf._lens import Lens  # noqa: E402 - after RunConfig, which it needs

L = Lens.root(RunConfig)
