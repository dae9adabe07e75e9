"""The shared input types: text PostgreSQL can store and that shows what it is, integers and
instants within the columns' ranges."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from vas_common.types import (
    Instant,
    MultiLineText,
    SingleLineText,
    has_visible_character,
)

single_line: TypeAdapter[str] = TypeAdapter(SingleLineText)
multi_line: TypeAdapter[str] = TypeAdapter(MultiLineText)
instant: TypeAdapter[Any] = TypeAdapter(Instant)

REFUSED_EVERYWHERE = {
    "NUL": "a\x00b",
    "escape": "\x1b[31mred",
    "vertical tab": "a\x0bb",
    "DEL": "a\x7fb",
    "C1 next line": "a\x85b",
    "lone CR": "a\rb",
    "line separator": "a\u2028b",
    "right-to-left override": "Acme\u202eemca",
    "left-to-right embedding": "a\u202ab",
    "first strong isolate": "a\u2068b",
    "lone surrogate": "a\ud800b",
}


@pytest.mark.parametrize("text", REFUSED_EVERYWHERE.values(), ids=REFUSED_EVERYWHERE.keys())
def test_control_separator_and_bidi_characters_are_refused_in_both_kinds(text: str) -> None:
    for adapter in (single_line, multi_line):
        with pytest.raises(ValidationError) as refused:
            adapter.validate_python(text)
        assert refused.value.errors()[0]["type"] == "text_forbidden_character"


@pytest.mark.parametrize("text", ["a\nb", "a\r\nb", "a\tb", "\n"])
def test_line_breaks_and_tabs_are_multi_line_only(text: str) -> None:
    assert multi_line.validate_python(text) == text
    with pytest.raises(ValidationError, match="U\\+000"):
        single_line.validate_python(text)


@pytest.mark.parametrize("text", [" ", "\u3000", "\u200b\u200c\u200d", "\u2060\ufeff", "\u3164", "\u0301"])
def test_single_line_text_that_shows_nothing_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        single_line.validate_python(text)
    assert refused.value.errors()[0]["type"] == "text_blank"
    assert multi_line.validate_python(text) == text  # content emptiness is the use case's to judge


@pytest.mark.parametrize(
    "text", ["", "Acme Content", "【测试】", "退订回复TD", "O'Brien & Co.", "a b", "😀", "é"]
)
def test_ordinary_text_passes_unchanged(text: str) -> None:
    assert single_line.validate_python(text) == text
    assert multi_line.validate_python(text) == text


def test_visible_characters() -> None:
    assert has_visible_character("x")
    assert has_visible_character(" \u200b验证码 ")
    assert not has_visible_character("")
    assert not has_visible_character(" \t\n\r\u00a0\u3000\u200b\u200e\u2060\ufeff\u00ad\u2800")


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-23:59",  # past year 9999 in UTC
        "1999-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+23:59",  # before year 1 in UTC
        "2026-01-01T00:00:00",  # no time zone
    ],
)
def test_instants_need_a_time_zone_and_a_year_from_2000_to_2999(value: str) -> None:
    with pytest.raises(ValidationError):
        instant.validate_python(value)


def test_an_instant_at_the_edge_of_the_range_converts_to_utc() -> None:
    assert instant.validate_python("2000-01-01T07:00:00+08:00").astimezone(UTC).year == 1999
    assert instant.validate_python("2999-12-31T23:00:00-05:00").astimezone(UTC).year == 3000


def test_an_instant_keeps_its_offset() -> None:
    parsed = instant.validate_python("2026-06-01T08:00:00+08:00")
    assert parsed.isoformat() == "2026-06-01T08:00:00+08:00"
