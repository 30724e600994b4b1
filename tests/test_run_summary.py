"""The run's summary in status.json (last and best losses, tokens/s, wall time, steps): kept by
the trainer at each eval and at the end, so `compare` reads one small file per run. A superseded
metrics line never counts, not even for the best val loss."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from nanigpt.cli import cli
from nanigpt.config import resolve
from nanigpt.conf import canonical_bytes, config_hash
from nanigpt.store import RunStore


def make_run(store: RunStore):
    cfg = {"model": {"n_layer": 2}}
    run, _ = store.create(config_hash(cfg), canonical_bytes(cfg), {"tokens": []})
    return run


def test_the_best_val_loss_follows_the_lines_that_count(tmp_path):
    run = make_run(RunStore(tmp_path))
    with run.lock():
        run.append_metrics({"step": 10, "loss": 3.0, "val_loss": 3.5}, {"tokens_per_s": 1000.0, "wall_s": 1.5})
        run.append_metrics({"step": 20, "loss": 2.0, "val_loss": 3.0})
        run.append_metrics({"step": 30, "loss": 1.0, "val_loss": 1.25})  # lost with the attempt after step 20
        st = run.stored_status()
        assert (st["best_val_loss"], st["tokens_per_s"], st["wall_s"]) == (1.25, 1000.0, 1.5)
        assert run.supersede_metrics_after(20) == 1
        assert run.stored_status()["best_val_loss"] == 3.0  # recomputed from what remains
        run.append_metrics({"step": 30, "loss": 1.5, "val_loss": 3.25})  # worse than the best
        assert run.stored_status()["best_val_loss"] == 3.0
        run.append_metrics({"step": 40, "loss": 1.0, "val_loss": float("nan")})  # never a best
        assert run.stored_status()["best_val_loss"] == 3.0
        assert run.supersede_metrics_after(0) == 4  # a fresh start: nothing counts
        assert run.stored_status()["best_val_loss"] is None


def test_a_run_from_before_the_summary_gets_its_best_on_resume(tmp_path):
    run = make_run(RunStore(tmp_path))
    with (run.path / "metrics.jsonl").open("w") as f:  # written by a trainer that kept no best
        f.write('{"step":10,"loss":3.0,"val_loss":2.5}\n{"step":20,"loss":2.0,"val_loss":2.75}\n')
    assert "best_val_loss" not in run.stored_status()
    with run.lock():
        assert run.supersede_metrics_after(20) == 0
    assert run.stored_status()["best_val_loss"] == 2.5


def spec(text: Path) -> list[str]:
    return ["preset:tiny", "data=text", f"data.path={text}", "train.steps=12", "eval.interval=3",
            "schedule.warmup_steps=2"]


def invoke(args, runs):
    env = {"NANIGPT_RUNS_DIR": str(runs), "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    return CliRunner().invoke(cli, [*args, "--no-progress"], env=env, catch_exceptions=False)


def test_training_keeps_the_summary_through_an_interrupt_and_a_resume(tmp_path, text, monkeypatch, one_thread):
    from nanigpt.store import rundir

    runs = tmp_path / "runs"
    real = rundir.RunDir.append_metrics
    seen: list[dict] = []

    def stop_after_step_9(self, rec, summary=None):
        real(self, rec, summary)
        if rec.get("val_loss") is not None:
            seen.append(dict(self.stored_status()))  # the summary is in status.json at each eval
        if rec.get("step") == 9:
            raise KeyboardInterrupt

    monkeypatch.setattr(rundir.RunDir, "append_metrics", stop_after_step_9)
    assert invoke(["train", *spec(text), "--checkpoint-every", "6"], runs).exit_code == 130
    monkeypatch.undo()
    assert [s["step"] for s in seen] == [3, 6, 9]
    assert all(s["tokens_per_s"] > 0 and s["wall_s"] > 0 for s in seen)
    assert [s["best_val_loss"] for s in seen] == [min(x["val_loss"] for x in seen[: i + 1]) for i in range(3)]

    r = invoke(["train", *spec(text)], runs)  # resumes from step 6: steps 7 to 9 are superseded
    assert r.exit_code == 0, r.output
    run = RunStore(runs).run(resolve(spec(text)).hash)
    assert [m["step"] for m in run.metrics(include_superseded=True) if m.get("superseded")] == [7, 8, 9]
    counted = run.metrics()
    st = run.status()
    assert (st["state"], st["step"], st["steps"]) == ("finished", 12, 12)
    assert st["train_loss"] == counted[-1]["loss"] and st["val_loss"] == counted[-1]["val_loss"]
    assert st["best_val_loss"] == min(m["val_loss"] for m in counted if "val_loss" in m)
    # training time over both attempts, taken at the very end: at least the last line's
    assert st["wall_s"] >= counted[-1]["elapsed_s"] > counted[5]["elapsed_s"] > 0 and st["tokens_per_s"] > 0
