"""The root of a training run's config (the experiment, the whole of it) and naniGPT's binding of
the generic machinery in `nanigpt.conf`: the root type, the default preset, the preset folders,
the field table. Torch-free.

    >>> r = resolve(["preset:tiny", "+large", "lr=1e-4"])
    >>> r.config.model.n_layer, r.config.optim.lr, r.blame["optim.lr"], r.blame["train.seed"]
    (4, 0.0001, 'lr=1e-4', 'preset:tiny')
"""

import os
from collections.abc import Iterable
from typing import Annotated

from msgspec import Meta

import msgspec

from nanigpt.conf import DEFAULTS_TOKEN, CheckError, Config, Lens, Registry, RegistryError, Resolved, RunSource, diff, to_tokens
from nanigpt.conf import field_table as field_table_of
from nanigpt.conf import resolve as resolve_with
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
L = Lens.root(RunConfig)

# A spec with no start token starts here.
DEFAULT_PRESET = "small"
# Folders of the user's own presets files, separated by os.pathsep.
PRESETS_ENV = "NANIGPT_PRESETS"


def shipped_presets() -> str:
    """The folder of the presets that ship with naniGPT: package data when installed, `presets/`
    in a checkout. Paths here are strings: pathlib's import would add to every `show`."""
    pkg = os.path.dirname(os.path.realpath(__file__))
    for d in (os.path.join(pkg, "_presets"), os.path.join(os.path.dirname(pkg), "presets")):
        if os.path.isdir(d):
            return d
    raise RegistryError(f"naniGPT's shipped presets are missing (looked in {os.path.join(pkg, '_presets')})")


def preset_dirs(cwd: str | os.PathLike[str] | None = None, env: str | None = None) -> tuple[str, ...]:
    """Where presets are looked for: shipped, then `./presets` of `cwd`, then each folder in
    `env` (default: the working directory and $NANIGPT_PRESETS), each as its real path."""
    cwd = os.getcwd() if cwd is None else os.fspath(cwd)
    env = os.environ.get(PRESETS_ENV, "") if env is None else env
    out = [shipped_presets()]
    if os.path.isdir(os.path.join(cwd, "presets")):
        out.append(os.path.join(cwd, "presets"))
    for d in filter(None, env.split(os.pathsep)):
        if not os.path.exists(d):
            raise RegistryError(
                f"{PRESETS_ENV} names `{d}`, which does not exist",
                suggestion=f"{PRESETS_ENV} holds folders of presets files, separated by `{os.pathsep}`",
            )
        out.append(d)
    for d in out:
        if os.path.isdir(d) and not os.access(d, os.R_OK | os.X_OK):
            raise RegistryError(f"cannot read the presets folder {d}", suggestion="check its permissions")
    return tuple(dict.fromkeys(os.path.realpath(p) for p in out))


def load_registry() -> Registry:
    """The presets and patches of `preset_dirs()`, loaded now."""
    return Registry.load(preset_dirs())


def resolve(tokens: Iterable[str], *, runs: RunSource | None = None, registry: Registry | None = None) -> Resolved:
    """Resolve a spec into a validated RunConfig with its hash and blame. Presets come from
    `registry` (default: `load_registry()`, loaded now); `run:HASH` looks in `runs` (a RunStore)."""
    reg = registry if registry is not None else load_registry()
    return resolve_with(tokens, RunConfig, reg, runs=runs, default_preset=DEFAULT_PRESET)


def field_table(pattern: str | None = None) -> list[dict[str, str]]:
    """The rows of `nanigpt fields`: every field of RunConfig (path, union variant, type, default,
    description), or those matching `pattern` (a glob, or else a substring)."""
    return field_table_of(RunConfig, pattern)


def spec_from_defaults(config: "RunConfig | dict") -> list[str]:
    """The spec that rebuilds `config` (a RunConfig, or a stored config.json's dict) from the
    schema's defaults with no preset or patch code: `defaults`, then one `path=value` per field
    that differs, union switches first."""
    return [DEFAULTS_TOKEN, *to_tokens(diff(msgspec.to_builtins(RunConfig()), msgspec.to_builtins(config)))]
