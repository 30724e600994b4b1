"""Sampling text from a run's newest checkpoint.

Torch loads when `sample` or `load_model` runs, not at import: the CLI checks its arguments with
`check_args` first, so a bad flag costs no torch start-up.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec

from nanigpt.conf import ConfigError, short_hash
from nanigpt.config import RunConfig
from nanigpt.data.config import ShardData
from nanigpt.training.runfiles import RunFiles

if TYPE_CHECKING:
    import torch

# With no prompt, generation starts after a newline: the most common "start of something" byte.
_EMPTY_PROMPT = "\n"


def check_args(tokens: int, temperature: float, top_k: int | None) -> None:
    """ConfigError naming the flag if a sampling setting is out of range (NaN included)."""
    if tokens < 0:
        raise ConfigError(f"`--tokens`={tokens} must be >= 0", path="tokens", suggestion="e.g. --tokens 256")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ConfigError(f"`--temperature`={temperature} must be a finite number >= 0", path="temperature",
                          suggestion="0 is greedy, 1 samples the model's distribution")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"`--top-k`={top_k} must be >= 1", path="top_k", suggestion="omit it to keep every token")


def load_model(run: RunFiles, device: torch.device) -> tuple[RunConfig, torch.nn.Module, int, dict | None]:
    """(config, model in eval mode, step, tokenizer) from `run`'s newest checkpoint; the tokenizer is
    the record of the one its shards were prepared with (None: bytes, or shards of unknown origin)."""
    from nanigpt.builders import build
    from nanigpt.training import checkpoint as ckpt

    found = ckpt.find(run.checkpoint_dir, config_hash=run.hash)
    if found is None:
        raise ConfigError(
            f"run {short_hash(run.hash)} has no checkpoint to sample from",
            suggestion=f"train it first with `nanigpt train run:{short_hash(run.hash)}`, or pick a run that has trained",
        )
    try:
        cfg = msgspec.json.decode(found.meta["config"], type=RunConfig)
    except msgspec.ValidationError as e:
        raise ConfigError(
            f"the config in {found.path} no longer decodes with this naniGPT: {e}",
            suggestion="sample with the naniGPT version that trained it",
        ) from None
    model = build(cfg.model).to(device)
    if found.sharded:
        # An FSDP run's shards: torch.distributed.checkpoint reassembles them in this one process,
        # together with the optimizer's (which sampling then drops).
        from nanigpt.training import distributed

        distributed.load_sharded(found.path, model, build(cfg.optim, model=model))
    else:
        model.load_state_dict(found.meta["model"])
    model.eval()
    return cfg, model, found.step, (found.meta.get("data") or {}).get("tokenizer")


def sample(
    run: RunFiles,
    prompt: str = "",
    tokens: int = 256,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int = 0,
    device: str = "auto",
) -> str:
    """The prompt followed by `tokens` sampled tokens, decoded with the run's tokenizer: bytes for
    text data, the tokenizer its shards were prepared with otherwise (invalid UTF-8 becomes U+FFFD).

    The same run, prompt, settings and seed give the same text on the same device.
    """
    import torch

    from nanigpt.data.tokenizer import decode, encode
    from nanigpt.training.distributed import pick_device

    check_args(tokens, temperature, top_k)
    dev = pick_device(device)
    cfg, model, _, record = load_model(run, dev)
    if record is not None:
        from nanigpt.data.tokenizers import from_record

        text = record.get("text")
        codec = from_record(record, text.encode("utf-8") if text is not None else None)
        ids = torch.from_numpy(codec.encode([prompt or _EMPTY_PROMPT]).astype("int64"))
        decode_new = codec.decode
    elif isinstance(cfg.data, ShardData):
        raise ConfigError(
            f"run {short_hash(run.hash)} trained on token shards with no manifest.json beside them, so naniGPT "
            "does not know the tokenizer that turns their ids back into text",
            path="data",
            suggestion="make shards with `nanigpt prepare`, which records their tokenizer, or sample runs "
            "trained on text (data=text or data=builtin)",
        )
    else:
        ids, decode_new = encode(prompt or _EMPTY_PROMPT).long(), decode
    start = ids[None].to(dev)  # (1, T)
    g = torch.Generator(device=dev).manual_seed(seed)
    out = model.generate(start, tokens, temperature=temperature, top_k=top_k, generator=g)
    return prompt + decode_new(out[0, start.size(1) :].cpu().tolist())
