"""The root of a training run's config: the experiment, the whole of it. Torch-free."""

from typing import Annotated

from msgspec import Meta

from nanigpt.conf._errors import CheckError
from nanigpt.conf._struct import Config
from nanigpt.data.config import BuiltinData, DataConfig, ShardData
from nanigpt.model.config import GPTConfig
from nanigpt.optim.config import AdamW, OptimConfig, ScheduleConfig
from nanigpt.training.config import EvalConfig, PrecisionConfig, TrainConfig

# Bump when a change to the schema moves the hash of an existing config.
SCHEMA_VERSION = 1


class RunConfig(Config):
    """Everything that determines a training run's result. Its hash names `runs/<hash>/`."""

    schema_version: Annotated[int, Meta(ge=1, le=10**6, description="version of this config schema")] = SCHEMA_VERSION
    model: GPTConfig = GPTConfig()
    data: DataConfig = BuiltinData()
    optim: OptimConfig = AdamW()
    schedule: ScheduleConfig = ScheduleConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    precision: PrecisionConfig = PrecisionConfig()

    def check(self) -> None:
        m, train = self.model, self.train
        if self.schema_version != SCHEMA_VERSION:
            raise CheckError(
                f"`schema_version`={self.schema_version} but this naniGPT reads version {SCHEMA_VERSION}",
                paths=("schema_version",),
            )
        if train.batch_tokens % m.block_size:
            raise CheckError(
                f"`train.batch_tokens`={train.batch_tokens} is not a multiple of "
                f"`model.block_size`={m.block_size}",
                paths=("train.batch_tokens", "model.block_size"),
                suggestion=f"try train.batch_tokens={max(1, round(train.batch_tokens / m.block_size)) * m.block_size}",
            )
        if self.schedule.warmup_steps > train.steps:
            raise CheckError(
                f"`schedule.warmup_steps`={self.schedule.warmup_steps} is more than `train.steps`={train.steps}",
                paths=("schedule.warmup_steps", "train.steps"),
                suggestion="lower warmup_steps or raise steps",
            )
        if isinstance(self.data, ShardData):
            if m.vocab_size > 65536:
                raise CheckError(
                    f"token shards hold uint16 token ids, so `model.vocab_size` must be <= 65536, got {m.vocab_size}",
                    paths=("model.vocab_size", "data"),
                    suggestion="set model.vocab_size=65536 or less",
                )
        elif m.vocab_size < 256:
            raise CheckError(
                f"byte-level text data needs `model.vocab_size` >= 256, got {m.vocab_size}",
                paths=("model.vocab_size", "data"),
                suggestion="set model.vocab_size=256",
            )
        if self.precision.fp8 and (m.n_embd % 16 or m.n_embd * m.mlp_ratio % 16):
            widths = (("n_embd", m.n_embd), ("mlp hidden (n_embd*mlp_ratio)", m.n_embd * m.mlp_ratio))
            raise CheckError(
                "float8 needs Linear widths that are multiples of 16: "
                + ", ".join(f"`model.{k}`={v}" for k, v in widths if v % 16),
                paths=("model.n_embd", "precision.fp8"),
                suggestion="use an n_embd that is a multiple of 16",
            )
        # float8 converts the head only as its own Linear; a tied head is the embedding matrix.
        if self.precision.fp8_head and m.tie_embeddings:
            raise CheckError(
                "`precision.fp8_head`=true needs an untied output head, but `model.tie_embeddings`=true "
                "(the head is the token embedding, which stays in high precision)",
                paths=("precision.fp8_head", "model.tie_embeddings"),
                suggestion="set model.tie_embeddings=false, or drop precision.fp8_head",
            )
        if self.precision.fp8_head and m.vocab_size % 16:
            raise CheckError(
                f"float8 needs Linear widths that are multiples of 16: the head's `model.vocab_size`={m.vocab_size}",
                paths=("model.vocab_size", "precision.fp8_head"),
                suggestion=f"pad model.vocab_size to {-(-m.vocab_size // 16) * 16}",
            )


# The lens on the whole run config: `L.optim.lr`, `L.model.n_layer` (checked when built).
from nanigpt.conf._lens import Lens  # noqa: E402 - after RunConfig, which it needs

L = Lens.root(RunConfig)
