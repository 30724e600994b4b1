"""Float8 training of the transformer blocks' Linear layers, through torchao.

`convert(model, precision, device)` swaps exactly the targeted `nn.Linear`s for torchao's
`Float8Linear` (dynamic scaling: e4m3 activations and weights, e5m2 gradients with the
"tensorwise" recipe; torchao's "rowwise" recipe scales per row and keeps gradients in e4m3 with
power-of-two scales). It never skips a layer silently: after the swap it verifies every target
and raises otherwise. On a GPU with fp8 tensor cores (CUDA capability 8.9+) the matmuls run on
them; anywhere else torchao emulates them (the same float8 rounding, fp32 matmuls), which is
slow but lets `+fp8` be tested on a laptop.

torchao is imported only when fp8 is on; the library's import-time noise (kernels built for
CUDA a CPU machine lacks, a torch deprecation notice) is filtered here by exact message so it
never reaches the user.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import torch
from torch import nn

from nanigpt.conf import ConfigError
from nanigpt.training.config import PrecisionConfig

__all__ = ["Fp8Report", "check_device", "convert", "fp8_targets"]

# Ada (sm_89) and Hopper (sm_90) are the first NVIDIA GPUs with fp8 tensor cores.
MIN_CAPABILITY = (8, 9)
# torch's rowwise scaled matmul returns float32 only through cuBLAS on sm_90 and later;
# below that it requires a bfloat16 output, i.e. bf16 autocast.
ROWWISE_FP32_CAPABILITY = (9, 0)
# float8 GEMMs (torch._scaled_mm) need both matrix dimensions to be multiples of 16.
FP8_MULTIPLE = 16

INSTALL_HINT = "pip install 'nanigpt[fp8]'"

# Library output that tells a naniGPT user nothing. Each entry names its source exactly, so a
# new or different message from the same library still gets through.
# (logger name, message regex): logging records emitted while importing torchao.
_QUIET_LOG_RECORDS = (
    # torchao tries to load optional C++/CUDA kernels (mxfp8, CUTLASS sm_90a) that float8 training
    # does not use; on a machine without those CUDA libraries the load fails harmlessly.
    ("torchao", re.compile(r"Failed to load .*_C\w*\..*so")),
    # torchao 0.18 registers an Enum as a pytree constant, which torch 2.13 deprecates.
    ("torch.utils._pytree", re.compile(r"is an Enum subclass and is now natively supported")),
)
# (message regex, category): Python warnings emitted by torchao code.
_QUIET_WARNINGS = (
    # Float8Linear.forward reads the autocast dtype through the deprecated CUDA-only getter on
    # every forward under CUDA autocast; the value it reads is correct.
    (r"torch\.get_autocast_gpu_dtype\(\) is deprecated", DeprecationWarning),
)


@dataclass(frozen=True)
class Fp8Report:
    """What `convert` did: which modules train in float8, and whether float8 is emulated."""

    enabled: bool
    recipe: str | None = None
    emulated: bool = False
    converted: tuple[str, ...] = ()
    # Why float8 is emulated on this device ("" when it is not).
    reason: str = ""

    def attempt(self) -> dict[str, Any] | None:
        """The record for attempts.jsonl (`attempt["fp8"]`); None when fp8 is off."""
        if not self.enabled:
            return None
        return {"emulated": self.emulated, "recipe": self.recipe, "converted": len(self.converted)}


def _no_fp8_reason(device: torch.device) -> str:
    """Why `device` cannot run float8 matmuls natively; "" when it can."""
    if device.type != "cuda":
        return f"no fp8 tensor cores on {device.type}"
    major, minor = torch.cuda.get_device_capability(device)
    if (major, minor) < MIN_CAPABILITY:
        name = torch.cuda.get_device_name(device)
        return (
            f"no fp8 tensor cores on {device} ({name}, compute capability {major}.{minor}; "
            f"fp8 needs {MIN_CAPABILITY[0]}.{MIN_CAPABILITY[1]}+)"
        )
    return ""


def check_device(precision: PrecisionConfig, device: torch.device) -> None:
    """Fail before training starts if `precision`'s float8 settings cannot run on `device`.

    Raises ConfigError when torchao is missing, when the device has no fp8 tensor cores and
    `precision.fp8_allow_emulation` is false, or when the rowwise recipe needs bf16 autocast.
    """
    if not precision.fp8:
        return
    if importlib.util.find_spec("torchao") is None:
        raise ConfigError(
            "`precision.fp8`=true needs torchao, which is not installed",
            path="precision.fp8",
            suggestion=INSTALL_HINT,
        )
    reason = _no_fp8_reason(device)
    if reason and not precision.fp8_allow_emulation:
        raise ConfigError(
            f"`precision.fp8_allow_emulation`=false but there are {reason}",
            path="precision.fp8_allow_emulation",
            suggestion="run on a GPU of compute capability 8.9+ such as an L4, RTX 4090, H100 or H200, "
            "or set precision.fp8_allow_emulation=true to emulate float8, slowly",
        )
    if (
        not reason
        and precision.fp8_recipe == "rowwise"
        and precision.autocast == "float32"
        and torch.cuda.get_device_capability(device) < ROWWISE_FP32_CAPABILITY
    ):
        raise ConfigError(
            f"`precision.fp8_recipe`=rowwise on {torch.cuda.get_device_name(device)} needs "
            "`precision.autocast`=bfloat16 (its rowwise float8 matmul has no float32 output)",
            path="precision.fp8_recipe",
            suggestion="set precision.autocast=bfloat16, or precision.fp8_recipe=tensorwise",
        )


def fp8_targets(model: nn.Module, *, head: bool) -> list[str]:
    """Names of the modules float8 must convert: every matmul layer inside `model.blocks`
    (each leaf module with a 2-D weight), plus `lm_head` when `head`.

    Chosen by role, not by type, so that a block matmul that is not an `nn.Linear` is reported
    as an error instead of being left out without a word.
    """
    names = [
        name
        for name, mod in model.named_modules()
        if name.startswith("blocks.")
        and not any(True for _ in mod.children())
        and isinstance(getattr(mod, "weight", None), torch.Tensor)
        and mod.weight.ndim == 2
    ]
    if not names:
        raise ValueError(
            f"float8: found no matmul layers under `blocks` in {type(model).__name__}; "
            "naniGPT converts the transformer blocks' nn.Linear layers"
        )
    if head:
        if not isinstance(getattr(model, "lm_head", None), nn.Module):
            raise ConfigError(
                "`precision.fp8_head`=true needs an untied output head, but the head is tied to the "
                "token embedding (`model.tie_embeddings`=true), which stays in high precision",
                path="precision.fp8_head",
                suggestion="set model.tie_embeddings=false, or drop precision.fp8_head",
            )
        names.append("lm_head")
    return names


def _check_targets(model: nn.Module, names: list[str]) -> None:
    for name in names:
        mod = model.get_submodule(name)
        if type(mod) is not nn.Linear:
            what = "is already float8 (convert() ran twice?)" if _is_float8(mod) else f"is a {type(mod).__name__}"
            raise ValueError(f"float8: `{name}` {what}; float8 training converts plain torch.nn.Linear layers")
        bad = [d for d in (mod.in_features, mod.out_features) if d % FP8_MULTIPLE]
        if bad:
            raise ConfigError(
                f"float8 needs Linear widths that are multiples of {FP8_MULTIPLE}, but `{name}` is "
                f"{mod.in_features} -> {mod.out_features}",
                path="precision.fp8_head" if name == "lm_head" else "model.n_embd",
                suggestion="pad model.vocab_size to a multiple of 16"
                if name == "lm_head"
                else "use an n_embd (and n_embd * mlp_ratio) that is a multiple of 16",
            )


def _is_float8(mod: nn.Module) -> bool:
    return type(mod).__name__ == "Float8Linear"


class _DropRecords(logging.Filter):
    def __init__(self, pattern: re.Pattern[str]) -> None:
        super().__init__()
        self.pattern = pattern

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


@contextlib.contextmanager
def _quiet_torchao() -> Iterator[None]:
    """Drop exactly the known torchao/torch notices (see `_QUIET_LOG_RECORDS`) while inside."""
    installed = []
    for logger_name, pattern in _QUIET_LOG_RECORDS:
        logger, flt = logging.getLogger(logger_name), _DropRecords(pattern)
        logger.addFilter(flt)
        installed.append((logger, flt))
    try:
        yield
    finally:
        for logger, flt in installed:
            logger.removeFilter(flt)


def _import_torchao() -> Any:
    try:
        with _quiet_torchao():
            import torchao.float8 as float8
            from torchao.float8.float8_linear import Float8Linear
    except ImportError as e:
        raise ConfigError(
            f"`precision.fp8`=true needs torchao, which failed to import ({e})",
            path="precision.fp8",
            suggestion=INSTALL_HINT,
        ) from e
    return float8, Float8Linear


def _float8_config(float8: Any, recipe: str, emulate: bool) -> Any:
    import dataclasses

    if recipe == "tensorwise":
        # torchao's defaults are exactly this recipe: dynamic tensorwise scaling, e4m3 for input
        # and weight, e5m2 for the output gradient.
        return float8.Float8LinearConfig(emulate=emulate)
    # torchao's rowwise recipe as it ships (e4m3 everywhere, power-of-two scales): the variant
    # validated for speed and accuracy on H100.
    return dataclasses.replace(float8.Float8LinearConfig.from_recipe_name(recipe), emulate=emulate)


def convert(
    model: nn.Module, precision: PrecisionConfig, device: torch.device, *, out: TextIO | None = None
) -> Fp8Report:
    """Swap the targeted Linear layers of `model` (already on `device`) for float8 ones, in place.

    Call after moving the model to its device and before torch.compile and DDP/FSDP wrapping.
    Says once on `out` (default: stderr, rank 0 only) when float8 is emulated.
    """
    if not precision.fp8:
        return Fp8Report(enabled=False)
    check_device(precision, device)
    names = fp8_targets(model, head=precision.fp8_head)
    _check_targets(model, names)
    reason = _no_fp8_reason(device)
    emulate = bool(reason)

    float8, Float8Linear = _import_torchao()
    for message, category in _QUIET_WARNINGS:
        # Process-wide on purpose: the warning fires in forward passes after convert() returns.
        warnings.filterwarnings("ignore", message=message, category=category)
    targets = frozenset(names)
    with _quiet_torchao():
        float8.convert_to_float8_training(
            model,
            module_filter_fn=lambda mod, fqn: fqn in targets,
            config=_float8_config(float8, precision.fp8_recipe, emulate),
        )

    missed = [n for n in names if not isinstance(model.get_submodule(n), Float8Linear)]
    if missed:
        raise RuntimeError(
            f"float8: torchao left {len(missed)} of {len(names)} targeted layers unconverted "
            f"({', '.join(missed[:4])}{', ...' if len(missed) > 4 else ''}); refusing to train "
            "partly in float8"
        )
    extra = [
        n for n, m in model.named_modules() if isinstance(m, Float8Linear) and n not in targets
    ]
    if extra:
        raise RuntimeError(f"float8: unexpected float8 layers outside the targets: {', '.join(extra)}")

    if emulate and int(os.environ.get("RANK", "0")) == 0:
        print(
            f"naniGPT: {reason}; float8 is emulated (same float8 rounding, fp32 matmuls, slower)",
            file=out if out is not None else sys.stderr,
            flush=True,
        )
    return Fp8Report(
        enabled=True, recipe=precision.fp8_recipe, emulated=emulate, converted=tuple(names), reason=reason
    )
