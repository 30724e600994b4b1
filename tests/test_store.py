"""The run store: layout, hash prefixes, verification, locks, attempts, metrics, crash safety."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import msgspec
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from nanigpt.atomic import atomic_write, atomic_writer, read_jsonl
from nanigpt.store.rundir import (
    RunDir,
    RunLocked,
    RunStore,
    StoreError,
    check_prefix,
    plain_path,
)


def canon(cfg: dict) -> tuple[str, bytes]:
    data = msgspec.json.encode(cfg, order="sorted")
    return xxhash.xxh3_128_hexdigest(data), data


def make_run(store: RunStore, cfg: dict | None = None, tokens: tuple[str, ...] = ("preset:tiny",)) -> RunDir:
    h, data = canon(cfg if cfg is not None else {"model": {"n_layer": 2}, "seed": 1})
    run, _ = store.create(h, data, {"tokens": list(tokens), "start": tokens[0], "blame": {}})
    return run


def test_create_writes_a_complete_run_and_is_idempotent(tmp_path):
    store = RunStore(tmp_path / "runs")
    h, data = canon({"a": 1, "b": [0.9, 0.95]})
    run, created = store.create(h, data, {"tokens": ["preset:tiny", "a=1"], "start": "preset:tiny", "blame": {"a": "a=1"}})
    assert created and run.path == tmp_path / "runs" / h
    assert sorted(os.listdir(run.path)) == ["config.json", "recipe.json", "status.json"]
    assert (run.path / "config.json").read_bytes() == data
    assert run.config_dict() == {"a": 1, "b": [0.9, 0.95]}
    recipe = run.recipe()
    assert recipe["tokens"] == ["preset:tiny", "a=1"] and recipe["short"] == h[:12] and recipe["blame"] == {"a": "a=1"}
    st_ = run.status()
    assert st_["state"] == "created" and st_["recipe"] == "preset:tiny a=1" and st_["step"] == 0
    again, created = store.create(h, data, {"tokens": ["other"], "start": "other", "blame": {}})
    assert not created and again.path == run.path
    assert again.recipe()["tokens"] == ["preset:tiny", "a=1"]  # the first recipe stays
    assert [n for n in os.listdir(tmp_path / "runs")] == [h]  # no temp dir left behind


@pytest.mark.parametrize("spelling", ["absolute", "runs", "./runs/", "runs//", "."])
def test_every_spelling_of_the_runs_directory_finds_and_removes_its_runs(tmp_path, monkeypatch, spelling):
    # The store works on string paths: "./runs/" and "." must name the same folders as pathlib did.
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path / "runs" if spelling == "." else tmp_path)
    store = RunStore(str(tmp_path / "runs") if spelling == "absolute" else spelling)
    run = make_run(store)
    assert os.path.samefile(run.path, tmp_path / "runs" / run.hash) and store.run(run.hash[:6]).hash == run.hash
    assert [r["hash"] for r in store.list()] == [run.hash]
    store.remove(run)
    assert os.listdir(tmp_path / "runs") == []
    with pytest.raises(ValueError, match="is not a run of"):
        store.remove(RunDir(tmp_path / "elsewhere" / run.hash, run.hash))


@given(st.lists(st.sampled_from(["a", "b", ".", "..", "", "link"]), max_size=6), st.booleans())
def test_store_paths_are_spelled_as_pathlib_spells_them(parts, absolute):
    from pathlib import PurePosixPath

    p = ("/" if absolute else "") + "/".join(parts)
    assert plain_path(p) == str(PurePosixPath(p))


def test_a_runs_directory_reached_through_a_link_and_dotdot_is_the_one_the_os_finds(tmp_path, monkeypatch):
    # `link/../runs` is real/runs when link -> real/sub: `..` is kept, never folded away
    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "sub")
    run = make_run(RunStore(tmp_path / "real" / "runs"))
    monkeypatch.chdir(tmp_path)
    store = RunStore("link/../runs")
    assert store.dir == "link/../runs" and [r["hash"] for r in store.list()] == [run.hash]
    assert store.run(run.hash[:6]).status()["state"] == "created"


def test_create_refuses_bytes_that_do_not_hash_to_the_name(tmp_path):
    h, data = canon({"a": 1})
    with pytest.raises(ValueError):
        RunStore(tmp_path).create(h, data + b" ", {"tokens": []})


def test_unwritable_runs_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    h, data = canon({"a": 1})
    with pytest.raises(StoreError) as e:
        RunStore(blocker / "runs").create(h, data, {"tokens": []})
    assert str(e.value) == (
        f"the runs directory {blocker / 'runs'} is not writable: Not a directory "
        "(pass --runs-dir DIR or set NANIGPT_RUNS_DIR to a writable directory)"
    )


@pytest.mark.parametrize("bad", ["../x", "/etc", "abc", "", "ab/c1234", "zzzz", "1234 ", "a" * 33, "..", "12\x0034"])
def test_non_hex_prefixes_are_rejected_before_any_path_is_built(tmp_path, bad):
    store = RunStore(tmp_path / "does-not-exist")
    with pytest.raises(StoreError) as e:
        store.resolve_hash(bad)
    assert str(e.value) == (
        f"not a run hash: {bad!r} (a run is named by 4 to 32 hex digits of its hash, e.g. 3f2a9c1b; "
        "see `nanigpt runs`)"
    )
    assert not (tmp_path / "does-not-exist").exists()


@given(st.text(max_size=40))
def test_check_prefix_accepts_exactly_4_to_32_hex_digits(s):
    ok = re.fullmatch(r"[0-9a-fA-F]{4,32}", s) is not None
    try:
        assert check_prefix(s) == s.lower() and ok
    except StoreError:
        assert not ok


def test_prefix_resolution_unique_ambiguous_unknown(tmp_path):
    store = RunStore(tmp_path)
    # The first two share 12 digits: the ambiguity lists whole hashes, which tell them apart.
    names = ["abcd" + "0" * 28, "abcd" + "0" * 8 + "1" * 20, "ef01" + "2" * 28]
    for n in names:
        (tmp_path / n).mkdir()
    (tmp_path / "abcdnotahash").mkdir()
    assert store.resolve_hash("ef01") == names[2]
    assert store.resolve_hash("ABCD000000000") == names[0]
    assert store.resolve_hash(names[1]) == names[1]
    with pytest.raises(StoreError) as e:
        store.resolve_hash("abcd")
    assert str(e.value) == (
        f"run prefix 'abcd' is ambiguous in {tmp_path}: 2 runs match ({names[0]}, {names[1]}) (give more digits)"
    )
    with pytest.raises(StoreError) as e:
        store.resolve_hash("beef")
    assert str(e.value) == f"no run 'beef' in {tmp_path} (see `nanigpt runs` for the runs there)"
    with pytest.raises(StoreError):
        store.resolve_hash("ef01" + "3" * 28)


@settings(max_examples=30, deadline=None)
@given(st.sets(st.text("0123456789abcdef", min_size=32, max_size=32), min_size=1, max_size=6), st.data())
def test_any_long_enough_prefix_resolves_to_its_run_or_is_ambiguous(tmp_path_factory, hashes, data):
    root = tmp_path_factory.mktemp("runs")
    for h in hashes:
        (root / h).mkdir()
    target = data.draw(st.sampled_from(sorted(hashes)))
    n = data.draw(st.integers(4, 32))
    matches = [h for h in hashes if h.startswith(target[:n])]
    store = RunStore(root)
    if len(matches) == 1:
        assert store.resolve_hash(target[:n]) == target
    else:
        with pytest.raises(StoreError, match="ambiguous"):
            store.resolve_hash(target[:n])


def test_tampered_config_is_refused(tmp_path):
    store = RunStore(tmp_path)
    run = make_run(store)
    cfg = json.loads((run.path / "config.json").read_text())
    cfg["model"]["n_layer"] = 3
    (run.path / "config.json").write_text(json.dumps(cfg, sort_keys=True, separators=(",", ":")))
    with pytest.raises(StoreError) as e:
        store.load_config(run.hash[:6])
    got = canon(cfg)[0]
    assert str(e.value) == (
        f"{run.path}/config.json was modified: it hashes to {got}, not {run.hash} "
        "(restore it; a run's config is never edited: fork it with run:HASH instead)"
    )


def test_truncated_config_is_refused(tmp_path):
    store = RunStore(tmp_path)
    run = make_run(store)
    raw = (run.path / "config.json").read_bytes()
    (run.path / "config.json").write_bytes(raw[:-3])
    with pytest.raises(StoreError, match=r"config.json was modified: it is not valid JSON"):
        store.run(run.short).config_dict()


def test_reformatted_config_with_the_same_content_is_accepted(tmp_path):
    store = RunStore(tmp_path)
    run = make_run(store)
    cfg = json.loads((run.path / "config.json").read_text())
    (run.path / "config.json").write_text(json.dumps(cfg, indent=2))
    assert store.load_config(run.hash) == (run.hash, cfg)


def test_corrupt_and_foreign_entries_are_flagged_by_list_not_fatal(tmp_path):
    store = RunStore(tmp_path)
    good = make_run(store, {"a": 1})
    trunc = make_run(store, {"a": 2})
    (trunc.path / "status.json").write_bytes(b'{"state": "fini')
    noconf = make_run(store, {"a": 3})
    (noconf.path / "config.json").unlink()
    (tmp_path / "notes").mkdir()
    (tmp_path / "README").write_text("a file among the runs is ignored")
    (tmp_path / ".tmp-abc-1-0").mkdir()  # a creator's temp dir is not a run
    rows = store.list()
    assert [r["hash"] for r in rows[:1]] == [good.hash]
    assert rows[0]["state"] == "created" and "problem" not in rows[0]
    problems = {r["hash"]: r["problem"] for r in rows[1:]}
    assert problems == {
        trunc.hash: f"{trunc.path}/status.json is not valid JSON: Input data was truncated",
        noconf.hash: f"{noconf.path}/config.json is missing",
        "notes": "not a run: the directory name is not a config hash",
    }


def test_list_is_newest_first(tmp_path):
    store = RunStore(tmp_path)
    runs = []
    for i in range(3):
        runs.append(make_run(store, {"i": i}))
        runs[-1].write_status(created=f"2025-01-0{i + 1}T00:00:00.000Z")
    assert [r["hash"] for r in store.list()] == [r.hash for r in reversed(runs)]


def test_lock_names_its_holder_and_is_released(tmp_path):
    run = make_run(RunStore(tmp_path))
    lock = run.lock()
    other = RunDir(run.path, run.hash)
    t0 = time.monotonic()
    with pytest.raises(RunLocked) as e:
        other.lock()
    assert time.monotonic() - t0 < 2
    assert e.value.holder["pid"] == os.getpid()
    assert str(e.value).startswith(f"run {run.short} is being trained by pid {os.getpid()} on ")
    lock.release()
    with other.lock():
        pass


def test_status_running_reads_interrupted_once_the_lock_is_free(tmp_path):
    run = make_run(RunStore(tmp_path))
    lock = run.lock()
    run.begin_attempt({"start": "t0", "flags": {}})
    st_ = RunDir(run.path, run.hash).status()
    assert st_["state"] == "running" and st_["holder"]["pid"] == os.getpid()
    lock.release()
    assert RunDir(run.path, run.hash).status()["state"] == "interrupted"
    assert RunDir(run.path, run.hash).stored_status()["state"] == "running"


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from nanigpt.store.rundir import RunDir
    run = RunDir(sys.argv[1], sys.argv[2])
    lock = run.lock()
    run.begin_attempt({"start": "t0", "data_fingerprint": "abc"})
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_two_process_lock_dies_with_its_holder(tmp_path):
    run = make_run(RunStore(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run.path), run.hash], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "locked\n"
        with pytest.raises(RunLocked) as e:
            run.lock()
        assert e.value.holder["pid"] == child.pid
        assert run.status()["state"] == "running"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert run.status()["state"] == "interrupted"
    with run.lock():
        reaped = run.reap_interrupted()
        assert reaped["outcome"] == "interrupted" and reaped["data_fingerprint"] == "abc"
        assert run.reap_interrupted() is None  # recorded once
    assert [a["outcome"] for a in run.attempts()] == ["interrupted"]
    st_ = run.status()
    assert st_["state"] == "interrupted" and st_["attempts"] == 1 and st_["attempt"] is None


def test_attempt_life_cycle(tmp_path):
    run = make_run(RunStore(tmp_path))
    with run.lock():
        attempt = {"start": "t0", "flags": {"device": "cpu"}}
        run.begin_attempt(attempt)
        attempt["data_fingerprint"] = "f00d"  # the trainer fills the dict in as it learns things
        run.append_metrics({"step": 10, "train_loss": 2.5})
        run.append_metrics({"step": 10, "val_loss": 2.7})
        st_ = run.stored_status()
        assert st_["state"] == "running" and st_["attempt"]["data_fingerprint"] == "f00d"
        assert (st_["step"], st_["train_loss"], st_["val_loss"]) == (10, 2.5, 2.7)
        run.end_attempt("finished", step=20, train_loss=2.0, val_loss=2.2)
    (a,) = run.attempts()
    assert a["outcome"] == "finished" and a["data_fingerprint"] == "f00d" and a["step"] == 20 and a["end"]
    st_ = run.status()
    assert (st_["state"], st_["step"], st_["val_loss"], st_["attempts"], st_["attempt"]) == ("finished", 20, 2.2, 1, None)


def test_failed_attempt_keeps_the_error(tmp_path):
    run = make_run(RunStore(tmp_path))
    with run.lock():
        run.begin_attempt({"start": "t0"})
        run.end_attempt("failed", error="RuntimeError: CUDA out of memory")
    assert run.status()["error"] == "RuntimeError: CUDA out of memory"
    assert run.attempts()[0]["error"] == "RuntimeError: CUDA out of memory"


def test_metrics_superseded_on_resume_are_kept_but_skipped(tmp_path):
    run = make_run(RunStore(tmp_path))
    for s in range(0, 60, 10):
        run.append_metrics({"step": s, "train_loss": 5.0 - s / 100})
    assert run.supersede_metrics_after(30) == 2
    assert run.supersede_metrics_after(30) == 0
    for s in (40, 50):
        run.append_metrics({"step": s, "train_loss": 1.0})
    assert [(m["step"], m["train_loss"]) for m in run.metrics()] == [
        (0, 5.0), (10, 4.9), (20, 4.8), (30, 4.7), (40, 1.0), (50, 1.0)
    ]
    everything = run.metrics(include_superseded=True)
    assert len(everything) == 8 and [m["step"] for m in everything if m.get("superseded")] == [40, 50]


def test_non_finite_losses_are_recorded_not_nulled(tmp_path):
    run = make_run(RunStore(tmp_path))
    run.append_metrics({"step": 1, "train_loss": float("nan"), "grad_norm": float("inf")})
    assert run.metrics() == [{"step": 1, "train_loss": "nan", "grad_norm": "inf"}]


def test_read_only_run_writes_nothing(tmp_path):
    store = RunStore(tmp_path)
    run = make_run(store)
    before = {p: p.read_bytes() for p in run.path.iterdir()}
    ro = store.follower(run.hash)
    assert not ro.is_main and ro.read_only
    ro.write_status(state="failed")
    ro.append_metrics({"step": 1, "val_loss": 1.0})
    ro.append_attempt({"outcome": "finished"})
    assert ro.supersede_metrics_after(0) == 0
    ro.begin_attempt({})
    assert not ro.checkpoint_dir.exists()
    with pytest.raises(StoreError):
        ro.lock()
    assert {p: p.read_bytes() for p in run.path.iterdir()} == before
    with pytest.raises(StoreError):
        store.follower("../etc")


def test_atomic_write_replaces_whole_and_leaves_no_temp(tmp_path):
    p = tmp_path / "f.json"
    atomic_write(p, b"one")
    atomic_write(p, b"two")
    assert p.read_bytes() == b"two" and os.listdir(tmp_path) == ["f.json"]


def test_atomic_writer_replaces_nothing_when_the_writer_fails(tmp_path):
    p = tmp_path / "ckpt.pt"
    with atomic_writer(p) as f:
        f.write(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_writer(p) as f:
            f.write(b"half of the new")
            raise RuntimeError("disk full")
    assert p.read_bytes() == b"old" and os.listdir(tmp_path) == ["ckpt.pt"]


def test_a_run_directory_linking_out_of_the_runs_directory_is_never_followed(tmp_path):
    root, outside = tmp_path / "runs", tmp_path / "etc"
    store = RunStore(root)
    inside = make_run(store)
    outside.mkdir()
    (outside / "status.json").write_text('{"state": "finished"}')
    h = "0123" + "4" * 28
    (root / h).symlink_to(outside)
    message = (f"{root}/{h} is a link to {outside}, outside the runs directory {root} "
               "(a run lives in a directory of the runs directory; remove the link)")
    for read in (lambda: store.run("0123"), lambda: store.run(h), lambda: store.follower(h),
                 lambda: store.create(h, b"{}", {"tokens": []})):
        with pytest.raises((StoreError, ValueError)) as e:
            read()
        assert isinstance(e.value, ValueError) or str(e.value) == message
    with pytest.raises(StoreError, match="is a link to"):
        store.resolve_hash(h)
    rows = {r["hash"]: r for r in store.list()}
    assert rows[h] == {"hash": h, "short": h[:12], "problem": f"not read: a link to {outside}, outside the runs directory"}
    # A link that stays inside the runs directory is no escape (its config is still verified).
    (root / ("5678" + "9" * 28)).symlink_to(inside.path)
    assert store.resolve_hash("5678") == "5678" + "9" * 28


def test_a_torn_line_is_skipped_and_does_not_swallow_the_next(tmp_path):
    run = make_run(RunStore(tmp_path))
    run.append_metrics({"step": 1})
    with open(run.path / "metrics.jsonl", "ab") as f:
        f.write(b'{"step": 2, "lo')  # what a power loss can leave
    resumed = RunDir(run.path, run.hash)
    resumed.append_metrics({"step": 3})
    resumed.append_metrics({"step": 4})
    assert read_jsonl(run.path / "metrics.jsonl") == [{"step": 1}, {"step": 3}, {"step": 4}]


def test_an_interrupted_run_reports_the_progress_logged_after_its_last_status_write(tmp_path):
    run = make_run(RunStore(tmp_path))
    with run.lock():
        run.begin_attempt({"start": "t0"})
        run.append_metrics({"step": 10, "loss": 3.0, "val_loss": 3.5})  # a val loss writes status at once
        for s in range(11, 15):
            run.append_metrics({"step": s, "loss": 3.0 - s / 100})  # within the throttle: not in status
    assert run.stored_status()["step"] == 10
    st = run.status()
    assert (st["state"], st["step"], st["train_loss"], st["val_loss"]) == ("interrupted", 14, 2.86, 3.5)
    with run.lock():
        assert run.reap_interrupted()["step"] == 14
    assert run.stored_status()["step"] == 14


def test_concurrent_creators_of_one_run_agree(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    store = RunStore(tmp_path / "runs")
    h, data = canon({"a": 1})
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: store.create(h, data, {"tokens": ["x"]}), range(8)))
    assert sum(created for _, created in results) == 1
    assert os.listdir(tmp_path / "runs") == [h]
    assert {r.path for r, _ in results} == {tmp_path / "runs" / h}


def test_something_else_in_the_runs_place_is_a_clear_error(tmp_path):
    h, data = canon({"a": 1})
    (tmp_path / h).write_text("a file where the run directory goes")
    with pytest.raises(StoreError) as e:
        RunStore(tmp_path).create(h, data, {"tokens": []})
    assert str(e.value) == f"cannot create {tmp_path / h}: Not a directory (remove whatever is in its place)"
    assert os.listdir(tmp_path) == [h]


_json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | st.text(max_size=20)
_records = st.dictionaries(st.text(min_size=1, max_size=8), _json_scalars, max_size=5)


@settings(max_examples=40, deadline=None)
@given(st.lists(_records, max_size=12))
def test_appended_records_read_back_in_order(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("log") / "log.jsonl"
    from nanigpt.atomic import append_line

    for r in records:
        append_line(path, r)
    expect = [{k: ("inf" if v == float("inf") else "-inf" if v == float("-inf") else v) for k, v in r.items()}
              for r in records]
    assert read_jsonl(path) == expect


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 50), max_size=30), st.integers(-1, 50))
def test_supersede_keeps_exactly_the_steps_up_to_the_resume_point(tmp_path_factory, steps, resume_at):
    run = make_run(RunStore(tmp_path_factory.mktemp("runs")))
    for i, s in enumerate(steps):
        run.append_metrics({"step": s, "i": i})
    run.supersede_metrics_after(resume_at)
    run.append_metrics({"step": resume_at + 1, "i": -1})
    kept = [{"step": s, "i": i} for i, s in enumerate(steps) if s <= resume_at] + [{"step": resume_at + 1, "i": -1}]
    assert run.metrics() == kept
    assert len(run.metrics(include_superseded=True)) == len(steps) + 1
