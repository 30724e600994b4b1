"""The runtime flags of `nanigpt train`: how a run executes, never what it computes.

This table is the one place a flag is declared: its name, type, default, bounds and help. The
click options (`nanigpt.cli`), the validated `RuntimeOptions` struct (`runtime.py`) and the
`flags` of each attempt record are all derived from it. Plain data, no imports: `--help` reads it.
"""

from typing import Any, NamedTuple


class Flag(NamedTuple):
    """One runtime flag.

    `kind` is how the command line spells it: "value" (`--name VALUE`), "switch"
    (`--name/--no-name`), "flag" (`--name`, off unless given), "tristate" (`--name/--no-name`,
    unset meaning "auto") or "multi" (`--name A --name B`: any of the choices in `type`).
    """

    name: str
    type: Any  # int, str, bool, or a tuple of the allowed strings
    default: Any
    help: str
    kind: str = "value"
    bounds: dict | None = None  # msgspec Meta bounds (ge, le) for numbers
    metavar: str | None = None

    @property
    def option(self) -> str:
        """`--micro-batch`: the flag as typed."""
        return "--" + self.name.replace("_", "-")


# What `--device` takes, as its help and its errors say it.
DEVICES = "auto, cpu, cuda, cuda:N or mps"

FLAGS: tuple[Flag, ...] = (
    Flag("device", str, "auto", f"{DEVICES}."),
    Flag("micro_batch", int, None, "Sequences per forward/backward (default: as many as fit the batch).",
         bounds={"ge": 1, "le": 2**24}, metavar="N"),
    Flag("compile", bool, False, "torch.compile the model.", kind="switch"),
    Flag("tune_malloc", bool, True,
         "On the CPU, keep freed memory for reuse instead of returning it to the system "
         "(glibc malloc thresholds): fewer page faults, faster steps, same numbers.", kind="switch"),
    Flag("parallel", ("ddp", "fsdp"), "ddp", "Multi-process strategy under torchrun."),
    Flag("checkpoint_every", int, 500, "Checkpoint every N steps (0 = only at the end).",
         bounds={"ge": 0, "le": 10**9}, metavar="N"),
    Flag("keep_checkpoints", int, 2, "How many recent checkpoints to keep.", bounds={"ge": 1, "le": 10**6},
         metavar="N"),
    Flag("progress", ("auto", "on", "off"), "auto", "Progress line (default: on a terminal).", kind="tristate"),
    Flag("fresh", bool, False,
         "Start an interrupted or failed run over: drop its checkpoints, mark its metrics superseded.", kind="flag"),
    Flag("allow_data_change", bool, False, "Resume even though the data's fingerprint changed.", kind="flag"),
    Flag("log", ("tensorboard", "wandb"), (), "Also send the metrics to TensorBoard or W&B (repeatable); "
         "metrics.jsonl stays the record.", kind="multi"),
    Flag("profile", bool, False,
         "Profile steps 6-8 with torch.profiler: a trace (Perfetto) and a memory summary in runs/<hash>/profile/, "
         "the slowest operators printed.", kind="flag"),
    Flag("profile_steps", str, None, "Profile steps A to B instead (implies --profile).",
         bounds={"pattern": "^[0-9]+:[0-9]+$"}, metavar="A:B"),
)

BY_NAME = {f.name: f for f in FLAGS}
