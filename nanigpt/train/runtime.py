"""How a run executes: flags, recorded in attempts.jsonl, never hashed. Torch-free."""

from typing import Annotated, Literal

import msgspec
from msgspec import Meta


class RuntimeOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Execution flags of one `nanigpt train` invocation. Not part of the experiment's hash."""

    device: Annotated[str, Meta(description="auto, cpu, cuda, cuda:N")] = "auto"
    # The bound sits on the int alone: msgspec rejects `ge` on `int | None` when it validates.
    micro_batch: Annotated[
        Annotated[int, Meta(ge=1, le=2**24)] | None,
        Meta(description="sequences per forward/backward (default: as many as fit the batch)"),
    ] = None
    compile: Annotated[bool, Meta(description="torch.compile the model")] = False
    tune_malloc: Annotated[
        bool, Meta(description="on the CPU, keep freed memory for reuse (glibc malloc thresholds): faster steps")
    ] = True
    parallel: Annotated[
        Literal["ddp", "fsdp"], Meta(description="multi-process strategy under torchrun")
    ] = "ddp"
    checkpoint_every: Annotated[int, Meta(ge=0, le=10**9, description="checkpoint every N steps (0 = only at the end)")] = 500
    keep_checkpoints: Annotated[int, Meta(ge=1, le=10**6, description="how many recent checkpoints to keep")] = 2
    progress: Annotated[Literal["auto", "on", "off"], Meta(description="progress bar (auto = on a terminal)")] = "auto"
    fresh: Annotated[bool, Meta(description="discard an interrupted run and start over")] = False
    allow_data_change: Annotated[
        bool, Meta(description="resume even though the data's fingerprint changed")
    ] = False
