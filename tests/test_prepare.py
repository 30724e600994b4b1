"""`nanigpt prepare`: text to llm.c shards with a tokenizer and a manifest; training and sampling on them.

Every text here is the built-in corpus or text the tests write: nothing outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import msgspec
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from nanigpt.cli import cli
from nanigpt.conf._errors import ConfigError
from nanigpt.data import manifest as mf
from nanigpt.data import prepare as prep
from nanigpt.data.corpus import read_builtin
from nanigpt.data.shards import read_shard, read_tokens
from nanigpt.data.tokenizers import Spec, TiktokenCodec, from_record, train_bpe

CORPUS = read_builtin().decode("ascii")
# Multi-byte characters, Unicode spaces beside line breaks, CRLF, blank lines: what cuts and byte
# fallbacks must get right.
UNICODE = (
    "Ünïcödé — naïve café, Ελληνικά, 日本語のテキスト。\nemoji 🎉🚀 and ZWJ 👩‍💻\n"
    "\ttabs\tand  double  spaces\r\nCRLF line\r\n\n\nblank lines above\u00a0nbsp\u3000ideographic\u3000space\n\u2028line separator\n"
) * 20


def invoke(args: list[str], runs: Path | None = None, **env: str | None):
    env = {"NO_COLOR": "1", "OMP_NUM_THREADS": "1", **({"NANIGPT_RUNS_DIR": str(runs)} if runs else {}), **env}
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def texts(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("texts")
    (d / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    (d / "unicode.txt").write_text(UNICODE, encoding="utf-8", newline="")
    return d


@pytest.fixture(scope="module")
def tokenizer_json(texts, tmp_path_factory) -> Path:
    """A Hugging Face tokenizer.json (a BPE learned from the corpus), for file:PATH."""
    codec = train_bpe(Spec("bpe", "400"), [CORPUS[:200_000]])
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    path.write_bytes(codec.file_bytes())
    return path


def split_ids(out: Path, split: str) -> list[int]:
    m, _ = mf.read(out / mf.NAME)
    entries = m.train.shards if split == "train" else m.val.shards
    return [i for e in entries for i in read_tokens(read_shard(out / e.file, headered=True)).tolist()]


def codec_of(out: Path):
    m, _ = mf.read(out / mf.NAME)
    data = (out / m.tokenizer.file).read_bytes() if m.tokenizer.file else None
    return from_record(msgspec.to_builtins(m.tokenizer), data)


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


# -- round trip, determinism, nothing to do


def test_the_suggested_train_command_spells_out_as_a_path(texts, tmp_path, monkeypatch):
    # `--out ./d/` (as shell completion leaves it) is `d`: the printed command hashes as `d/train`
    monkeypatch.chdir(tmp_path)
    r = invoke(["prepare", str(texts / "corpus.txt"), "--out", "./d/", "--workers", "1"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1] == (
        "train on it: nanigpt train data=shards data.train=d/train data.val=d/val model.vocab_size=256"
    )


@pytest.mark.parametrize("kind", ["byte", "bpe:512", "file"])
def test_shards_decode_back_to_the_text_for_each_tokenizer(texts, tokenizer_json, tmp_path, kind):
    tok = f"file:{tokenizer_json}" if kind == "file" else kind
    out = tmp_path / "out"
    r = invoke(["prepare", str(texts / "corpus.txt"), str(texts / "unicode.txt"), "--out", str(out),
                "--tokenizer", tok, "--workers", "1"])
    assert r.exit_code == 0, r.output
    m, _ = mf.read(out / mf.NAME)
    codec = codec_of(out)
    train, val = split_ids(out, "train"), split_ids(out, "val")
    assert (len(train), len(val)) == (m.train.tokens, m.val.tokens)
    text = CORPUS + UNICODE
    assert codec.decode(train + val) == text  # unicode included, every byte of it
    # val is the tail of the text, from a cut at or after the asked-for 10%
    assert codec.decode(val) == text[m.split.at_char :]
    assert len(text) * 0.9 - 1 <= m.split.at_char < len(text) * 0.9 + 4 * prep.PIECE_CHARS
    assert m.tokenizer.kind == kind.split(":")[0] and m.dtype == "uint16"
    assert r.stdout.splitlines()[-1] == (
        f"train on it: nanigpt train data=shards data.train={out}/train data.val={out}/val "
        f"model.vocab_size={m.tokenizer.vocab_size}"
    )


def test_bpe_pieces_encode_to_the_ids_of_the_whole_text(texts, monkeypatch):
    """Pieces are cut where GPT-2's pre-tokenizer splits anyway: cutting changes no id."""
    codec = train_bpe(Spec("bpe", "600"), [CORPUS[:300_000], UNICODE])
    monkeypatch.setattr(prep, "PIECE_CHARS", 40)  # a cut every line or so
    src = prep.scan(prep.Source(texts / "unicode.txt", "u"))
    cut = [p for _, p in prep.pieces([src])]
    assert "".join(cut) == UNICODE and len(cut) > 30
    assert codec.encode(cut).tolist() == codec.encode([UNICODE]).tolist()


def test_same_bytes_on_one_and_two_processes_and_any_read_size(texts, tmp_path, monkeypatch):
    args = [str(texts / "corpus.txt"), str(texts / "unicode.txt"), "--tokenizer", "bpe:512",
            "--shard-tokens", "100000"]
    one, two, small = tmp_path / "one", tmp_path / "two", tmp_path / "small"
    assert invoke(["prepare", *args, "--out", str(one), "--workers", "1"]).exit_code == 0
    assert invoke(["prepare", *args, "--out", str(two), "--workers", "2"]).exit_code == 0
    monkeypatch.setattr(prep, "READ_BYTES", 999)  # the cuts depend on the text, not on how it is read
    assert invoke(["prepare", *args, "--out", str(small), "--workers", "1"]).exit_code == 0
    a = snapshot(one)
    assert sorted(a) == ["manifest.json", "tokenizer.json", "train/train_000000.bin", "train/train_000001.bin",
                         "train/train_000002.bin", "train/train_000003.bin", "train/train_000004.bin",
                         "val/val_000000.bin"]
    assert snapshot(two) == a and snapshot(small) == a


def test_the_same_sources_and_options_again_do_nothing_and_say_so(texts, tmp_path):
    out = tmp_path / "out"
    args = ["prepare", str(texts / "corpus.txt"), "--out", str(out), "--tokenizer", "bpe:300", "--workers", "1"]
    assert invoke(args).exit_code == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    r = invoke(args)
    assert r.exit_code == 0
    m, _ = mf.read(out / mf.NAME)
    assert r.stdout.splitlines()[0] == (
        f"{out} is up to date ({m.train.tokens:,} train + {m.val.tokens:,} val tokens, bpe:300): nothing to do")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    # The same text by another path is the same source.
    shutil.copy(texts / "corpus.txt", tmp_path / "copy.txt")
    assert "is up to date" in invoke(["prepare", str(tmp_path / "copy.txt"), *args[2:]]).stdout
    # Other options on the same sources replace the folder's contents, old shards included.
    r = invoke([*args[:4], "--tokenizer", "byte", "--shard-tokens", "500000", "--workers", "1"])
    assert r.exit_code == 0 and r.stdout.startswith(f"prepared {out}: ")
    assert sorted(snapshot(out)) == ["manifest.json", "train/train_000000.bin", "train/train_000001.bin",
                                     "val/val_000000.bin"]
    # A shard that no longer matches the manifest is made again, not trusted.
    shard = out / "train" / "train_000001.bin"
    shard.write_bytes(shard.read_bytes()[:-2])
    r = invoke([*args[:4], "--tokenizer", "byte", "--shard-tokens", "500000", "--workers", "1"])
    assert r.exit_code == 0 and "does not match its manifest" in r.stderr
    assert read_shard(shard, headered=True).tokens == mf.read(out / mf.NAME)[0].train.shards[1].tokens


def test_val_from_its_own_sources_and_no_val_at_all(texts, tmp_path):
    out = tmp_path / "out"
    r = invoke(["prepare", str(texts / "corpus.txt"), "--val", str(texts / "unicode.txt"), "--out", str(out),
                "--workers", "1"])
    assert r.exit_code == 0, r.output
    m, _ = mf.read(out / mf.NAME)
    assert (m.split.source, m.train.tokens, m.val.tokens) == ("sources", len(CORPUS), len(UNICODE.encode()))
    assert [s.path for s in m.val.sources] == [str(texts / "unicode.txt")]
    out0 = tmp_path / "out0"
    r = invoke(["prepare", str(texts / "corpus.txt"), "--val-fraction", "0", "--out", str(out0), "--workers", "1"])
    assert r.exit_code == 0 and not (out0 / "val").exists()
    assert r.stdout.splitlines()[-1].endswith(f"data.train={out0}/train model.vocab_size=256")


def test_a_folder_reads_its_txt_files_and_a_glob_its_matches_in_name_order(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    for name, text in [("b.txt", "second\n"), ("a.txt", "first\n"), ("c.md", "markdown\n")]:
        (d / name).write_text(text * 200)
    out = tmp_path / "out"
    assert invoke(["prepare", str(d), "--out", str(out), "--val-fraction", "0", "--workers", "1"]).exit_code == 0
    m, _ = mf.read(out / mf.NAME)
    assert [s.path for s in m.train.sources] == [str(d / "a.txt"), str(d / "b.txt")]
    assert bytes(split_ids(out, "train")) == b"first\n" * 200 + b"second\n" * 200
    r = invoke(["prepare", str(d / "*.md"), "--out", str(tmp_path / "md"), "--val-fraction", "0", "--workers", "1"])
    assert r.exit_code == 0 and [s.path for s in mf.read(tmp_path / "md" / mf.NAME)[0].train.sources] == [
        str(d / "c.md")]


# -- hostile input: one line, exit 2, nothing written


def _refused(r, message: str) -> None:
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr
    assert message in r.stderr, r.stderr


@pytest.mark.parametrize("case, message", [
    ("missing", "SOURCE '{d}/nope.txt' does not exist"),
    ("empty", "SOURCE '{d}/empty.txt' is empty: no text to prepare"),
    ("nul", "source '{d}/nul.txt' is not UTF-8 text: a NUL byte at offset 3 (a binary file?)"),
    ("latin1", "source '{d}/latin1.txt' is not UTF-8 text: byte 0xe9 at offset 3 (a binary file?)"),
    ("small-vocab", "`--tokenizer`='bpe:100': a byte-level BPE needs a vocabulary of at least 257"),
    ("no-folder-files", "SOURCE '{d}/empty-dir' is a folder with no *.txt file"),
    ("no-glob-match", "SOURCE '{d}/*.nothing' matches no file"),
    ("twice", "repeats '{d}/ok.txt', already read as '{d}/ok.txt'"),
    ("both-vals", "give either --val-fraction or --val, not both"),
    ("bad-fraction", "`--val-fraction`=1.0 must be >= 0 and < 1"),
    ("bad-file", "is not a Hugging Face tokenizer.json"),
    ("unknown-kind", "`--tokenizer`='sentencepiece:x' is not a tokenizer"),
    ("one-char", "the train split is empty"),
    ("one-word", "the val split is empty: the text has no place to cut off its last 0.1"),
])
def test_bad_input_is_one_error_and_writes_nothing(tmp_path, case, message):
    d = tmp_path / "in"
    d.mkdir()
    (d / "ok.txt").write_text("hello world\n" * 100)
    (d / "empty.txt").write_bytes(b"")
    (d / "nul.txt").write_bytes(b"abc\x00def")
    (d / "latin1.txt").write_bytes("caf\u00e9 au lait".encode("latin-1") + b"\n" * 5)
    (d / "empty-dir").mkdir()
    (d / "bad.json").write_text("{not json")
    (d / "one-char.txt").write_text("x")
    (d / "one-word.txt").write_text("abcdefghij" * 10)
    ok = str(d / "ok.txt")
    args = {
        "missing": [str(d / "nope.txt")],
        "empty": [str(d / "empty.txt")],
        "nul": [str(d / "nul.txt")],
        "latin1": [ok, str(d / "latin1.txt")],
        "small-vocab": [ok, "--tokenizer", "bpe:100"],
        "no-folder-files": [str(d / "empty-dir")],
        "no-glob-match": [str(d / "*.nothing")],
        "twice": [ok, ok],
        "both-vals": [ok, "--val", ok, "--val-fraction", "0.1"],
        "bad-fraction": [ok, "--val-fraction", "1"],
        "bad-file": [ok, "--tokenizer", f"file:{d / 'bad.json'}"],
        "unknown-kind": [ok, "--tokenizer", "sentencepiece:x"],
        "one-char": [str(d / "one-char.txt")],
        "one-word": [str(d / "one-word.txt")],
    }[case]
    out = tmp_path / "out"
    r = invoke(["prepare", *args, "--out", str(out), "--workers", "1"])
    _refused(r, message.format(d=d))
    assert not out.exists()


@pytest.mark.parametrize("read_bytes", [3, 4, 1 << 20])
def test_the_offset_of_a_bad_byte_is_exact_across_reads(tmp_path, monkeypatch, read_bytes):
    monkeypatch.setattr(prep, "READ_BYTES", read_bytes)
    (tmp_path / "t.txt").write_bytes("é日".encode() * 10 + b"\xff" + b"tail")
    with pytest.raises(ConfigError, match="byte 0xff at offset 50 "):
        prep.scan(prep.Source(tmp_path / "t.txt", "t.txt"))
    (tmp_path / "t.txt").write_bytes("é日".encode() * 10 + "日".encode()[:2])  # cut short at the end
    with pytest.raises(ConfigError, match="byte 0xe6 at offset 50 "):
        prep.scan(prep.Source(tmp_path / "t.txt", "t.txt"))


def test_an_out_with_shards_of_other_sources_or_foreign_files_is_left_alone(texts, tmp_path):
    out = tmp_path / "out"
    assert invoke(["prepare", str(texts / "unicode.txt"), "--out", str(out), "--workers", "1"]).exit_code == 0
    before = snapshot(out)
    r = invoke(["prepare", str(texts / "corpus.txt"), "--out", str(out), "--workers", "1"])
    _refused(r, f"`--out` '{out}' holds shards prepared from other sources (its manifest.json lists "
                f"{texts / 'unicode.txt'}) (choose another --out, or remove '{out}' first)")
    (out / "train" / "stray.bin").write_bytes(b"\0\0")
    r = invoke(["prepare", str(texts / "unicode.txt"), "--out", str(out), "--workers", "1"])
    _refused(r, "holds files its manifest.json does not list: train/stray.bin")
    (out / "train" / "stray.bin").unlink()
    assert snapshot(out) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    r = invoke(["prepare", str(texts / "unicode.txt"), "--out", str(other), "--workers", "1"])
    _refused(r, f"`--out` '{other}' is not empty and has no manifest.json: it holds notes.txt")
    assert snapshot(other) == {"notes.txt": b"mine"}


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_a_failure_midway_leaves_the_out_folder_as_it_was(texts, tmp_path, monkeypatch, error):
    out = tmp_path / "out"
    args = ["prepare", str(texts / "corpus.txt"), "--out", str(out), "--shard-tokens", "50000", "--workers", "1"]
    real, calls = prep._encode, []

    def failing(job, codec=None):
        calls.append(1)
        if len(calls) == 12:  # after a shard or two are whole
            raise error
        return real(job, codec)

    monkeypatch.setattr(prep, "_encode", failing)
    r = CliRunner().invoke(cli, args)
    if isinstance(error, KeyboardInterrupt):
        assert (r.exit_code, r.stderr) == (130, f"interrupted: '{out}' is as it was\n")
    else:
        assert r.exit_code == 1 and isinstance(r.exception, RuntimeError)
    assert len(calls) == 12 and not out.exists()  # it created the folder, so it removes it
    monkeypatch.setattr(prep, "_encode", real)
    assert invoke([*args[:4], "--tokenizer", "bpe:300", "--workers", "1"]).exit_code == 0
    before = snapshot(out)
    calls.clear()
    monkeypatch.setattr(prep, "_encode", failing)
    assert CliRunner().invoke(cli, args).exit_code in (1, 130)
    assert len(calls) == 12 and snapshot(out) == before  # an existing folder keeps its old shards and manifest, whole


def test_a_crash_while_moving_files_in_leaves_no_manifest_that_lies(texts, tmp_path, monkeypatch):
    """Between the old manifest going and the new one coming, the folder has none: never one that
    lists files which are not its own. A rerun then refuses the folder rather than guess."""
    out = tmp_path / "out"
    base = ["prepare", str(texts / "corpus.txt"), "--out", str(out), "--workers", "1"]
    assert invoke([*base, "--shard-tokens", "400000"]).exit_code == 0
    real = prep.os.replace

    def crash(src, dst):
        if Path(dst).parent == out / "train":  # the first shard moving into place
            raise OSError(5, "Input/output error")
        return real(src, dst)

    monkeypatch.setattr(prep.os, "replace", crash)
    assert CliRunner().invoke(cli, [*base, "--shard-tokens", "300000"]).exit_code == 1
    monkeypatch.setattr(prep.os, "replace", real)
    assert not (out / mf.NAME).exists() and not list(out.glob(".prepare-*"))
    r = invoke([*base, "--shard-tokens", "300000"])
    _refused(r, f"`--out` '{out}' is not empty and has no manifest.json")


def test_the_staging_folder_of_a_killed_prepare_is_cleared_by_the_next(texts, tmp_path):
    out = tmp_path / "out"
    args = ["prepare", str(texts / "unicode.txt"), "--out", str(out), "--workers", "1"]
    assert invoke(args).exit_code == 0
    dead = out / ".prepare-999999999"  # no such process
    (dead / "train").mkdir(parents=True)
    (dead / "train" / "train_000000.bin").write_bytes(b"half")
    alive = out / f".prepare-{os.getpid()}"  # a prepare still running: left alone
    alive.mkdir()
    assert "is up to date" in invoke(args).stdout
    assert not dead.exists() and alive.is_dir()


# -- the tokenizers that need a library or a cache


@pytest.mark.parametrize("module, tokenizer, extra", [("tokenizers", "bpe:512", "bpe"),
                                                     ("tiktoken", "tiktoken:gpt2", "tiktoken")])
def test_a_missing_tokenizer_library_says_how_to_install_it(texts, tmp_path, monkeypatch, module, tokenizer, extra):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    out = tmp_path / "out"
    r = invoke(["prepare", str(texts / "unicode.txt"), "--out", str(out), "--tokenizer", tokenizer, "--workers", "1"])
    _refused(r, f"`--tokenizer {tokenizer}` needs the `{module}` package, which is not installed "
                f"(pip install 'nanigpt[{extra}]'")
    assert not out.exists()


def test_tiktoken_offline_without_its_files_says_where_they_belong(texts, tmp_path):
    import tiktoken.load

    cache = tmp_path / "cache"
    cache.mkdir()
    original = tiktoken.load.read_file
    out = tmp_path / "out"
    r = invoke(["prepare", str(texts / "unicode.txt"), "--out", str(out), "--tokenizer", "tiktoken:gpt2"],
               TIKTOKEN_CACHE_DIR=str(cache))
    _refused(r, f"`--tokenizer`='tiktoken:gpt2': tiktoken's files for 'gpt2' are not in TIKTOKEN_CACHE_DIR={cache}, "
                "and naniGPT downloads nothing")
    assert tiktoken.load.read_file is original and not out.exists() and not any(cache.iterdir())
    r = invoke(["prepare", str(texts / "unicode.txt"), "--out", str(out), "--tokenizer", "tiktoken:nope"])
    _refused(r, "tiktoken has no encoding 'nope' (one of ")


def test_a_tiktoken_encoding_prepares_and_decodes_from_its_saved_file(texts, tmp_path, monkeypatch):
    import tiktoken
    from tiktoken_ext.openai_public import r50k_pat_str

    from nanigpt.data import tokenizers

    ranks = {bytes([i]): i for i in range(256)}
    for pair in (b"th", b"he", b" t", b"in", b"the", b" the"):
        ranks[pair] = len(ranks)
    enc = tiktoken.Encoding("mini", pat_str=r50k_pat_str, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 300})
    monkeypatch.setattr(tokenizers, "load_tiktoken", lambda spec: TiktokenCodec.from_encoding(enc))
    out = tmp_path / "out"
    text = CORPUS[:50_000] + "<|endoftext|> stays text\n" + UNICODE
    (tmp_path / "t.txt").write_text(text, encoding="utf-8", newline="")
    r = invoke(["prepare", str(tmp_path / "t.txt"), "--out", str(out), "--tokenizer", "tiktoken:mini", "--workers", "2"])
    assert r.exit_code == 0, r.output
    m, _ = mf.read(out / mf.NAME)
    assert (m.tokenizer.file, m.tokenizer.vocab_size, m.tokenizer.special_tokens) == (
        "tokenizer.tiktoken", 301, {"<|endoftext|>": 300})
    ids = split_ids(out, "train") + split_ids(out, "val")
    assert 300 not in ids and ids == enc.encode_ordinary(text)  # the whole text's ids, special text as text
    assert codec_of(out).decode(ids) == text  # rebuilt from the saved file, no tiktoken cache involved


def test_decode_marks_ids_outside_the_tokenizer_with_the_replacement_char():
    codec = train_bpe(Spec("bpe", "300"), [CORPUS[:20_000]])
    ids = codec.encode(["the king"]).tolist()
    assert codec.decode(ids + [codec.vocab_size + 5] + ids) == "the king\ufffdthe king"


# -- cutting text into pieces


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \n\t\r.é日\u3000\u2028")), max_size=300), st.integers(2, 9),
       st.floats(0.01, 0.99))
def test_pieces_cover_the_text_cut_only_where_allowed_and_split_at_or_after_the_mark(text, piece, frac):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.txt"
        path.write_bytes(text.encode())
        if not text:
            return
        src = prep.scan(prep.Source(path, "t"))
        split_at = int(len(text) * frac)
        old = prep.PIECE_CHARS
        prep.PIECE_CHARS = piece
        try:
            got = list(prep.pieces([src], split_at))
        finally:
            prep.PIECE_CHARS = old
    assert "".join(p for _, p in got) == text
    vals = [v for v, _ in got]
    assert vals == sorted(vals)  # train pieces, then val pieces

    def line(c: int) -> bool:  # after a line break between two non-spaces
        return 2 <= c < len(text) and text[c - 1] == "\n" and not text[c - 2].isspace() and not text[c].isspace()

    def space(c: int) -> bool:  # before a space between two non-spaces
        return 1 <= c < len(text) - 1 and not text[c - 1].isspace() and text[c] == " " and not text[c + 1].isspace()

    window = 4 * piece
    at = 0
    for v, p in got[:-1]:
        at += len(p)
        assert line(at) or space(at) or len(p) >= window, (text, at)
    # val starts at the first line cut searching from the mark, else the first space cut, within
    # the window; else at a hard cut, or where the text ends
    train_chars = sum(len(p) for v, p in got if not v)
    if split_at == 0:
        assert train_chars == 0
        return
    hi = min(split_at + window, len(text) - 1)
    expected = next((c for c in range(split_at, hi + 1) if line(c)), None)
    if expected is None:
        expected = next((c for c in range(split_at, hi) if space(c)), None)
    if expected is None:
        expected = len(text) if len(text) <= split_at + window else split_at + window
    assert train_chars == expected, (text, split_at, train_chars)


def test_a_source_that_changes_while_it_is_prepared_is_an_error(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("some text\n" * 100)
    src = prep.scan(prep.Source(path, "t.txt"))
    path.write_text("other text\n" * 100)
    with pytest.raises(ConfigError, match="source 't.txt' changed while it was being prepared"):
        list(prep.pieces([src]))


# -- training and sampling on prepared shards


@pytest.fixture(scope="module")
def bpe512(texts, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bpe") / "corpus512"
    r = invoke(["prepare", str(texts / "corpus.txt"), "--out", str(out), "--tokenizer", "bpe:512"])
    assert r.exit_code == 0, r.output
    return out


def test_train_preset_tiny_on_bpe_shards_then_sample_text_that_decodes(bpe512, tmp_path):
    runs = tmp_path / "runs"
    data = ["data=shards", f"data.train={bpe512}/train", f"data.val={bpe512}/val"]
    r = invoke(["train", "preset:tiny", *data], runs)
    _refused(r, "`model.vocab_size`=256 is smaller than the vocabulary of 512 of the bpe:512 tokenizer that "
                f"`data.train`='{bpe512}/train' was prepared with (set model.vocab_size=512 or larger")
    assert not runs.exists()  # refused before anything was written
    r = invoke(["train", "preset:tiny", *data, "model.vocab_size=512", "train.steps=60"], runs)
    assert r.exit_code == 0, r.output
    run = next(runs.iterdir())
    attempt = json.loads((run / "attempts.jsonl").read_text().splitlines()[-1])
    from nanigpt.data.config import ShardData
    from nanigpt.data.sources import load_shards

    data_fp = load_shards(ShardData(train=f"{bpe512}/train", val=f"{bpe512}/val"), block_size=32).fingerprint
    assert attempt["data_fingerprint"] == data_fp
    # The prepared folder can go: the run's checkpoint carries its tokenizer.
    moved = tmp_path / "moved"
    shutil.move(bpe512, moved)
    try:
        r = invoke(["sample", run.name[:8], "--prompt", "ROMEO", "--tokens", "40", "--top-k", "10"], runs)
    finally:
        shutil.move(moved, bpe512)
    assert r.exit_code == 0, r.output
    text = r.stdout[:-1]
    # 40 tokens of a BPE (about two characters each here) decode to more than 40 characters, all of
    # them the corpus' own; decoded as bytes, ids past 255 would not even be characters.
    assert text.startswith("ROMEO") and len(text) > len("ROMEO") + 40
    assert set(text) <= set(CORPUS)


def test_the_data_fingerprint_covers_the_manifest(bpe512, tmp_path):
    from nanigpt.data.config import ShardData
    from nanigpt.data.sources import load_shards

    copy = tmp_path / "copy"
    shutil.copytree(bpe512, copy)
    cfg = ShardData(train=f"{copy}/train", val=f"{copy}/val")
    before = load_shards(cfg, block_size=32)
    assert before.tokenizer is not None and before.tokenizer["kind"] == "bpe" and before.tokenizer["text"]
    manifest = copy / mf.NAME
    manifest.write_bytes(manifest.read_bytes().replace(b'"path": "', b'"path": "elsewhere/'))
    after = load_shards(cfg, block_size=32)
    assert after.fingerprint != before.fingerprint  # same shard bytes, another manifest
    manifest.unlink()
    assert load_shards(cfg, block_size=32).fingerprint not in (before.fingerprint, after.fingerprint)


def test_shards_that_disagree_with_their_manifest_are_refused_before_training(bpe512, texts, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(bpe512, copy)
    runs = tmp_path / "runs"
    base = ["train", "preset:tiny", "data=shards", "model.vocab_size=512", f"data.val={copy}/val"]
    shard = copy / "train" / "train_000000.bin"
    raw = shard.read_bytes()
    shard.write_bytes(b"\x07" + raw[1:])  # a corrupt magic
    _refused(invoke([*base, f"data.train={copy}/train"], runs), "has a header with magic")
    shard.write_bytes(raw[:-100])  # truncated
    _refused(invoke([*base, f"data.train={copy}/train"], runs), "is truncated: its header counts")
    shard.write_bytes(raw)
    (copy / "train" / "extra.bin").write_bytes(raw)
    _refused(invoke([*base, f"data.train={copy}/train"], runs), "is not listed in")
    (copy / "train" / "extra.bin").unlink()
    # val prepared with another tokenizer
    other = tmp_path / "other"
    assert invoke(["prepare", str(texts / "unicode.txt"), "--out", str(other), "--workers", "1"]).exit_code == 0
    _refused(invoke([*base[:-1], f"data.train={copy}/train", f"data.val={other}/val"], runs),
             "`data.train` and `data.val` were tokenized differently: `data.train` by bpe:512")
    _refused(invoke([*base[:-1], f"data.train={copy}"], runs), "point it at")
    assert not runs.exists()


def test_prepare_loads_neither_torch_nor_another_tokenizer_library_than_its_own(texts, tmp_path):
    import subprocess

    script = (
        "import sys\n"
        "from nanigpt.cli import cli\n"
        "try:\n"
        f"    cli.main(['prepare', {str(texts / 'unicode.txt')!r}, '--out', {str(tmp_path / 'o')!r}], prog_name='nanigpt')\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "assert 'torch' not in sys.modules and 'tokenizers' not in sys.modules and 'tiktoken' not in sys.modules\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.endswith("ok\n"), r.stderr


# -- the gpt2 preset, end to end (slow)


@pytest.mark.slow
def test_gpt2_preset_trains_a_few_steps_on_prepared_shards_and_samples(texts, tmp_path):
    out = tmp_path / "gpt2"
    assert invoke(["prepare", str(texts / "corpus.txt"), "--out", str(out), "--tokenizer", "bpe:2048"]).exit_code == 0
    runs = tmp_path / "runs"
    r = invoke(["train", "preset:gpt2", f"data.train={out}/train", f"data.val={out}/val", "train.steps=3",
                "train.batch_tokens=2048", "schedule.warmup_steps=1", "eval.interval=0", "eval.batches=1",
                "eval.full_at_end=false", "--micro-batch", "1"], runs)
    assert r.exit_code == 0, r.output
    assert "run " in r.stdout
    run = next(runs.iterdir())
    r = invoke(["sample", run.name[:8], "--prompt", "KING", "--tokens", "5", "--seed", "3"], runs)
    assert r.exit_code == 0 and r.stdout.startswith("KING"), r.output
    assert np.isfinite(json.loads((run / "status.json").read_text())["train_loss"])
