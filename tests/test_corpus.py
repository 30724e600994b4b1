"""The built-in corpus: pinned bytes, regenerated exactly by its script, and shaped like a play."""

from __future__ import annotations

import gzip
import math
import re
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import pytest
import xxhash

from nanigpt.data.corpus import FILENAME, NAME, read_builtin

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_corpus.py"
PACKAGED = ROOT / "nanigpt" / "data" / "corpus" / FILENAME

# Moves only with a deliberate regeneration; bump `NAME` in nanigpt/data/corpus with it.
PINNED_XXH3_128 = "46d67a7f568141913a3b416610fdd8e3"
PINNED_NAME = "plays-v1"
MAX_LINE = 72

DIRECTION = re.compile(r"(Flourish\. )?Enter [A-Z][A-Za-z ,]+\.|Exit( [A-Z][A-Za-z ]+)?\.|Exeunt\.")


def corpus_text() -> str:
    return read_builtin().decode("ascii")


def test_pinned_bytes_and_name():
    data = read_builtin()
    assert xxhash.xxh3_128_hexdigest(data) == PINNED_XXH3_128
    assert NAME == PINNED_NAME


def test_read_builtin_is_cached_and_matches_the_file():
    assert read_builtin() is read_builtin()
    assert read_builtin() == gzip.decompress(PACKAGED.read_bytes())


def test_script_regenerates_the_committed_bytes(tmp_path):
    # Compares decompressed bytes: the gzip stream itself may differ under another zlib build.
    out = tmp_path / "plays.txt.gz"
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], check=True, timeout=120)
    packed = out.read_bytes()
    assert gzip.decompress(packed) == read_builtin()
    assert packed[4:8] == b"\0\0\0\0", "gzip mtime must be 0 for reproducible bytes"


def test_size_ascii_and_layout():
    data = read_builtin()
    assert 950_000 <= len(data) <= 1_050_000
    assert PACKAGED.stat().st_size < 400_000
    text = data.decode("ascii")
    assert text.endswith("Exeunt.\n") or text.endswith("Exit.\n")
    assert "\t" not in text and "\r" not in text and "  " not in text
    lines = text.split("\n")
    assert max(len(line) for line in lines) <= MAX_LINE
    assert not [line for line in lines if line != line.strip()]


def test_letters_are_english_like():
    data = read_builtin()
    counts = Counter(data)
    entropy = -sum(c / len(data) * math.log(c / len(data)) for c in counts.values())
    # tinyshakespeare: 3.31 nats; plain English prose about 3.17.
    assert 2.9 <= entropy <= 3.25
    ratio = len(gzip.compress(data, 9)) / len(data)
    assert 0.25 <= ratio <= 0.40  # compressible like English text, not like a repeated template
    words = Counter(re.findall(r"[a-z']+", data.decode("ascii").lower()))
    total = sum(words.values())
    assert len(words) >= 3000
    assert sum(1 for c in words.values() if c >= 5) >= 1500  # seen often enough to learn
    assert sum(c for _, c in words.most_common(50)) / total < 0.5
    for common in ("the", "and", "thou", "thee", "hath", "doth", "my", "lord", "not", "is"):
        assert words[common] > 100, common


def test_every_block_is_a_heading_a_direction_or_a_speech_by_someone_on_stage():
    """Walks the plays as a reader would: persons, acts, scenes, entrances, speeches and exits."""
    blocks = corpus_text().rstrip("\n").split("\n\n")
    persons: set[str] = set()
    onstage: set[str] = set()
    speeches = plays = scenes = 0
    speakers_seen: Counter[str] = Counter()
    line_counts: Counter[int] = Counter()
    for block in blocks:
        first, *rest = block.split("\n")
        if first == "PERSONS OF THE PLAY:":
            persons = {line.split(",")[0] for line in rest}
            assert len(persons) == len(rest) >= 5
            plays += 1
        elif not rest and re.fullmatch(r"[A-Z][A-Z' ]+", first):
            pass  # a play's title, or ACT n
        elif re.fullmatch(r"SCENE [IVX]+\. [A-Z][a-z]+\. [A-Z][a-z ]+\.", first) and not rest:
            onstage, scenes = set(), scenes + 1
        elif DIRECTION.fullmatch(" ".join([first, *rest])):  # long entrances wrap like prose
            direction = " ".join([first, *rest])
            if "Enter " in direction:
                names = re.split(r", and |, | and ", direction.split("Enter ", 1)[1].rstrip("."))
                assert all(n.upper() in persons for n in names), direction
                onstage |= set(names)
            elif direction.startswith("Exit "):
                onstage.remove(direction[5:-1])
        else:
            assert first.endswith(":") and rest, block
            speaker = first[:-1]
            assert speaker.upper() in persons, block
            assert speaker in onstage, f"{speaker} speaks without having entered: {block!r}"
            assert 1 <= len(rest) <= 6, block
            assert all(line[0].isupper() or line[0] in "'" for line in rest[:1]), block
            assert rest[-1][-1] in ".!?", block
            speeches += 1
            speakers_seen[speaker] += 1
            line_counts[len(rest)] += 1
    assert plays >= 10 and scenes >= 200 and speeches >= 5000
    assert len(speakers_seen) >= 30
    assert set(line_counts) == {1, 2, 3, 4, 5, 6}


def test_import_is_torch_free():
    code = "import sys, nanigpt.data.corpus as c; c.read_builtin(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.slow
def test_wheel_ships_the_corpus(tmp_path):
    """A non-editable build carries the data file (package-data in pyproject.toml)."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copytree(ROOT / "nanigpt", src / "nanigpt", ignore=shutil.ignore_patterns("__pycache__"))
    readme = ROOT / "README.md"
    (src / "README.md").write_text(readme.read_text() if readme.exists() else "naniGPT\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "-w", str(tmp_path / "whl"), "--no-deps",
         "--no-build-isolation", "-q", "--disable-pip-version-check"],
        check=True, timeout=300,
    )
    (wheel,) = (tmp_path / "whl").glob("nanigpt-*.whl")
    with zipfile.ZipFile(wheel) as z:
        assert z.read(f"nanigpt/data/corpus/{FILENAME}") == PACKAGED.read_bytes()
        assert "nanigpt/data/corpus/__init__.py" in z.namelist()
