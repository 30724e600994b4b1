"""Command-line values: type-directed parsing, and format_value() as its inverse."""

from __future__ import annotations

from typing import Literal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import values

from nanigpt.conf import format_value
from nanigpt.conf._types import LEAF, reachable_types, spec_of
from nanigpt.conf._values import BadValue, make_parser
from nanigpt.config import RunConfig

LEAVES = [f for t in reachable_types(RunConfig) for f in spec_of(t).fields.values() if f.kind == LEAF]


@st.composite
def leaf_and_value(draw):
    f = draw(st.sampled_from(LEAVES))
    info = next(x for x in msgspec.inspect.type_info(f.owner).fields if x.name == f.name)
    return f, msgspec.convert(draw(values(info.type)), f.bare)


@settings(max_examples=200, deadline=None)
@given(leaf_and_value())
def test_format_then_parse_is_the_identity(case):
    f, v = case
    back = f.parse(format_value(v))
    assert back == v and type(back) is type(v), (f, v, format_value(v))


@pytest.mark.parametrize(
    "t, text, value",
    [
        (str, "a b=c,d", "a b=c,d"),
        (str, "null", "null"),  # a string field takes the raw text, always
        (str | None, "null", None),
        (str | None, "x", "x"),
        (int, "-3", -3),
        (float, "3", 3.0),
        (float, "1e-4", 1e-4),
        (bool, "false", False),
        (tuple[float, float], "0.9,0.95", (0.9, 0.95)),
        (tuple[float, float], "[0.9, 0.95]", (0.9, 0.95)),
        (tuple[str, str], "a,b", ("a", "b")),
        (list[int], "[]", []),
        (Literal["x", "y"], "y", "y"),
        (int | None, "null", None),
        (int | None, "4", 4),
    ],
)
def test_parse(t, text, value):
    got = make_parser(t)(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize(
    "t, text, reason",
    [
        (int, "1.0", "expects an integer, got `1.0`"),
        (int, "true", "expects an integer, got `true`"),
        (int, "1e3", "expects an integer, got `1e3`"),
        (int, "0x10", "expects an integer, got `0x10`"),
        (float, "true", "expects a float, got `true`"),
        (float, "nan", "must be a finite number, got `nan`"),
        (float, "-Infinity", "must be a finite number, got `-Infinity`"),
        (float, "1e400", "must be a finite number, got `1e400`"),
        (bool, "1", "expects true or false, got `1`"),
        (bool, "True", "expects true or false, got `True`"),
        (tuple[float, float], "1,nan", "must be a finite number, got `nan`"),
        (tuple[float, float], "[1, 2, 3]", "expects a tuple of 2 (float, float), got `[1, 2, 3]`"),
        (tuple[float, float], "0.9,abc", "expects a tuple of 2 (float, float), got `0.9,abc`"),
        (Literal["x", "y"], "z", "expects one of 'x', 'y', got `z`"),
    ],
)
def test_parse_errors(t, text, reason):
    with pytest.raises(BadValue) as e:
        make_parser(t)(text)
    assert e.value.reason == reason


def test_format_value():
    assert [format_value(v) for v in (1e-4, 3, True, None, (0.9, 0.95), (1.0,), [], "x y", -0.0)] == [
        "0.0001", "3", "true", "null", "0.9,0.95", "[1.0]", "[]", "x y", "-0.0"
    ]


@pytest.mark.parametrize("text", ["(0.9,0.95)", "(0.9, 0.95)", "0.9,0.95)"])
def test_python_tuple_syntax_says_how_tuples_are_written(text):
    parse = make_parser(tuple[float, float])
    with pytest.raises(BadValue) as e:
        parse(text)
    assert e.value.reason == f"expects a tuple of 2 (float, float), got `{text}`"
    inner = text.strip("()")
    assert e.value.hint == f"tuples are written {inner} or [{inner}]"
    assert parse(inner) == parse(f"[{inner}]") == (0.9, 0.95)  # both forms it suggests parse
