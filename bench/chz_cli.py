"""The comparison CLI for bench_cli.py: naniGPT's `show preset:small +large +fp8 lr=1e-4`, written
with chz (OpenAI's typed-config library) as a chz user would write it.

The same GPT config (the fields and values of naniGPT's preset small), then the variants large
and fp8 as blueprint layers, then the command line's `optim.lr=1e-4`; the resolved config is
printed as sorted JSON and hashed with xxh3-128, as `nanigpt show` does.

    .venv/bin/python bench/chz_cli.py optim.lr=1e-4
"""

import json
import sys
from typing import Literal

import chz
import xxhash


@chz.chz
class Model:
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 128
    vocab_size: int = 256
    dropout: float = 0.0
    bias: bool = False
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    position: Literal["learned", "rope"] = "learned"
    rope_base: float = 10000.0
    activation: Literal["gelu", "relu2", "swiglu"] = "gelu"
    mlp_ratio: int = 4
    tie_embeddings: bool = True
    qk_norm: bool = False
    init_std: float = 0.02


@chz.chz
class Data:
    type: str = "builtin"
    val_fraction: float = 0.1


@chz.chz
class Optim:
    type: str = "adamw"
    lr: float = 0.003
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-08
    weight_decay: float = 0.1


@chz.chz
class Schedule:
    warmup_steps: int = 100
    decay: Literal["cosine", "linear", "constant"] = "cosine"
    min_lr_ratio: float = 0.1
    decay_fraction: float = 0.2


@chz.chz
class Train:
    steps: int = 1500
    batch_tokens: int = 1024
    seed: int = 1337
    grad_clip: float = 1.0


@chz.chz
class Eval:
    interval: int = 250
    batches: int = 20
    full_at_end: bool = True


@chz.chz
class Precision:
    autocast: Literal["float32", "bfloat16"] = "float32"
    fp8: bool = False
    fp8_recipe: Literal["tensorwise", "rowwise"] = "tensorwise"
    fp8_head: bool = False
    fp8_allow_emulation: bool = True


@chz.chz
class Run:
    schema_version: int = 1
    model: Model = chz.field(default_factory=Model)
    data: Data = chz.field(default_factory=Data)
    optim: Optim = chz.field(default_factory=Optim)
    schedule: Schedule = chz.field(default_factory=Schedule)
    train: Train = chz.field(default_factory=Train)
    eval: Eval = chz.field(default_factory=Eval)
    precision: Precision = chz.field(default_factory=Precision)


LARGE = {"model.n_layer": 8, "model.n_embd": 256, "model.n_head": 8}  # twice the layers, width, heads
FP8 = {"precision.fp8": True}


def main(argv: list[str]) -> None:
    cfg = chz.Blueprint(Run).apply(LARGE, layer_name="large").apply(FP8, layer_name="fp8").apply_from_argv(argv).make()
    text = json.dumps(chz.asdict(cfg), sort_keys=True)
    print(text)
    print(xxhash.xxh3_128_hexdigest(text.encode()))


if __name__ == "__main__":
    main(sys.argv[1:])
