"""Input types shared by every HTTP shape: text, integers and instants that PostgreSQL can store
and that mean what they show.

PostgreSQL text cannot hold NUL, and integers and timestamps have ranges; a value outside them
is refused here with a 422 naming the field, rather than by the driver in the middle of a use
case. Text also refuses the other control characters, lone surrogates and the bidirectional
overrides and isolates that make a name or a message display as something else.

- `SingleLineText`: names, signatures, references, reasons, codes. No control character at all
  (not even tab, CR or LF), no line or paragraph separator, and not blank when given (spaces or
  invisible characters only).
- `MultiLineText`: SMS content and long descriptions. LF and tab are allowed, CR only as part
  of CRLF; no other control character.
- `JsonInt`: money and counts in a body; `"5"` and `true` are refused, `5.0` is 5.
- `Instant`: a timezone-aware datetime whose year, as written, is 2000 to 2999 (the OpenAPI
  schema says so with a pattern, so clients and fuzzers know). Time zones are required because
  every instant is compared with the clock and stored as timestamptz; the bound keeps the
  conversion to UTC from overflowing (9999-12-31T23:59:59-23:59 would).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field
from pydantic_core import PydanticCustomError

EARLIEST_YEAR, LATEST_YEAR = 2000, 2999

_ALWAYS_FORBIDDEN = (
    r"\x7f-\x9f"  # DEL and C1 controls
    r"\u2028\u2029"  # line and paragraph separators
    r"\u202a-\u202e\u2066-\u2069"  # bidirectional embeddings, overrides and isolates
    r"\ud800-\udfff"  # lone surrogates: not encodable as UTF-8
)
_SINGLE_LINE_FORBIDDEN = re.compile(rf"[\x00-\x1f{_ALWAYS_FORBIDDEN}]")
_MULTI_LINE_FORBIDDEN = re.compile(rf"[\x00-\x08\x0b\x0c\x0e-\x1f{_ALWAYS_FORBIDDEN}]|\r(?!\n)")

_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"})
# Letters and symbols that render as blank space.
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def has_visible_character(text: str) -> bool:
    """Whether the text shows anything: not only spaces, line breaks, zero-width or format
    characters, lone combining marks or blank-looking fillers."""
    return any(
        unicodedata.category(char) not in _INVISIBLE_CATEGORIES and char not in _BLANK_LOOKING
        for char in text
    )


def _refuse_forbidden(text: str, forbidden: re.Pattern[str]) -> str:
    found = forbidden.search(text)
    if found is not None:
        raise PydanticCustomError(
            "text_forbidden_character",
            "Text must not contain the character U+{codepoint} (control, separator or bidirectional)",
            {"codepoint": f"{ord(found.group()[0]):04X}"},
        )
    return text


def single_line_text(text: str) -> str:
    _refuse_forbidden(text, _SINGLE_LINE_FORBIDDEN)
    if text and not has_visible_character(text):
        raise PydanticCustomError("text_blank", "Text must contain a visible character")
    return text


def multi_line_text(text: str) -> str:
    return _refuse_forbidden(text, _MULTI_LINE_FORBIDDEN)


def json_integer(value: object) -> object:
    """An integer as JSON writes one (5, or 5.0, which JSON Schema counts as an integer too),
    never the text "5" or a boolean, which lax validation would turn into one."""
    if isinstance(value, bool | str | bytes):
        raise PydanticCustomError("int_type", "Input should be a JSON integer, not text or a boolean")
    return value


def instant_in_range(value: datetime) -> datetime:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise PydanticCustomError(
            "instant_out_of_range",
            "The instant must be in the years {earliest} to {latest}",
            {"earliest": EARLIEST_YEAR, "latest": LATEST_YEAR},
        )
    return value


SingleLineText = Annotated[str, AfterValidator(single_line_text)]
MultiLineText = Annotated[str, AfterValidator(multi_line_text)]
JsonInt = Annotated[int, BeforeValidator(json_integer)]
Instant = Annotated[
    AwareDatetime,
    AfterValidator(instant_in_range),
    Field(json_schema_extra={"pattern": r"^2[0-9]{3}-"}),
]
