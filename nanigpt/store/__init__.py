"""The run store: one directory per config hash (`runs/<hash>/`), written crash-safely, and the
lifecycle of one attempt at a run (`lifecycle.py`: lock, status, attempts.jsonl, interrupts).
The CLI and the Python API both go through it; training sees it only through its own Protocol
(`nanigpt.training.runfiles.RunFiles`)."""

from nanigpt.store.rundir import (
    HASH_LEN,
    RunDir,
    RunLock,
    RunLocked,
    RunStore,
    StoreError,
    describe_code,
    describe_holder,
    describe_status,
    format_loss,
    now_iso,
)

__all__ = ["HASH_LEN", "RunDir", "RunLock", "RunLocked", "RunStore", "StoreError", "describe_code", "describe_holder",
           "describe_status", "format_loss", "now_iso"]
