"""Which service answers a user's SMS (MO). Every MO reaches every consumer of `sms.mo`; the
subscription service answers commands (product codes, Y, TD, 0000 …) and the complaints service
answers complaints: a text that starts with a complaint keyword, and any reply to the number its
own texts come from (the provider's access number + the complaints extension)."""

from __future__ import annotations

import unicodedata

# Defaults of the settings of the same names in both services (they must agree).
COMPLAINT_KEYWORDS: tuple[str, ...] = ("投诉", "TS")
COMPLAINTS_EXT_CODE = "9"


def complaint_text(text: str, keywords: tuple[str, ...]) -> str | None:
    """The complaint itself when `text` starts with a keyword ("投诉 话费多扣了", "TS 多扣费",
    "投诉"), or None. A Latin keyword must stand alone or be followed by a space or punctuation,
    so a product code that merely starts with its letters is not a complaint."""
    normalized = unicodedata.normalize("NFKC", text).strip()
    upper = normalized.upper()
    for keyword in keywords:
        word = keyword.upper()
        if not upper.startswith(word):
            continue
        rest = normalized[len(word) :]
        if word.isascii() and rest and (rest[0].isalnum() and rest[0].isascii()):
            continue
        return rest.strip(" :：,，.。") or normalized
    return None


def to_complaints(destination: str, system_access_number: str, ext_code: str) -> bool:
    """Whether the MO answers a text the complaints service sent (a satisfaction score …)."""
    return destination == system_access_number + ext_code


def for_complaints(
    text: str, destination: str, system_access_number: str, ext_code: str, keywords: tuple[str, ...]
) -> bool:
    return (
        to_complaints(destination, system_access_number, ext_code)
        or complaint_text(text, keywords) is not None
    )
