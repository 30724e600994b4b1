"""Stored runs for the tests of compare and plot, written through the store's own calls (create,
lock, attempt, metrics lines) as the trainer leaves them: torch-free and quick."""

from __future__ import annotations

from pathlib import Path

from nanigpt.config import resolve
from nanigpt.store import RunDir, RunStore


def stored_run(runs: Path, *tokens: str, losses: tuple[float, ...] = (4.0, 3.0, 2.5), every: int = 10,
               finish: bool = True, summary: bool = True) -> RunDir:
    """`preset:tiny` + `tokens`, logged as if trained: one train loss per step, and a val loss
    every `every` steps (the loss at that point plus 0.25), `losses` spread evenly over 30 steps.
    `summary=False` writes the status.json of a trainer from before the run summary."""
    r = resolve(["preset:tiny", *tokens])
    run, _ = RunStore(runs).create(r.hash, r.canonical, {"tokens": ["preset:tiny", *tokens]}, steps=30)
    with run.lock():
        run.begin_attempt({"start": "t0"})
        for step in range(1, 31):
            i = min(len(losses) - 1, (step - 1) * len(losses) // 30)
            rec = {"step": step, "loss": losses[i], "lr": 1e-3 * step / 30, "grad_norm": 1.0 + step % 3,
                   "elapsed_s": step * 0.5}
            if step % every == 0:
                rec["val_loss"] = losses[i] + 0.25
            if summary and "val_loss" in rec:
                run.append_metrics(rec, {"tokens_per_s": 5000.0 + step, "wall_s": rec["elapsed_s"]})
            else:
                run.append_metrics(rec)
        if finish:
            run.end_attempt("finished", step=30, train_loss=rec["loss"], val_loss=rec["val_loss"])
    if not summary:  # what an older trainer left: no summary keys at all
        import msgspec

        st = msgspec.json.decode((run.path / "status.json").read_bytes())
        for key in ("best_val_loss", "tokens_per_s", "wall_s"):
            st.pop(key, None)
        (run.path / "status.json").write_bytes(msgspec.json.encode(st))
    return run
