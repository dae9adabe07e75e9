"""Which MO the complaints service answers, and so which the subscription service leaves alone."""

from __future__ import annotations

import pytest

from vas_common.mo_routing import COMPLAINT_KEYWORDS, complaint_text, for_complaints


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("投诉 话费多扣了5元", "话费多扣了5元"),
        ("投诉：乱扣费", "乱扣费"),
        ("投诉", "投诉"),
        ("TS 多扣费", "多扣费"),
        ("ts,多扣费", "多扣费"),
        ("ＴＳ 多扣费", "多扣费"),
        ("TS", "TS"),
        ("TSNEWS", None),  # a product code starting with the letters
        ("TD", None),
        ("0000", None),
        ("我要投诉", None),
    ],
)
def test_a_complaint_starts_with_a_keyword(text: str, complaint: str | None) -> None:
    assert complaint_text(text, COMPLAINT_KEYWORDS) == complaint


def test_a_reply_to_the_complaints_number_is_theirs_whatever_it_says() -> None:
    assert for_complaints("5", "106900009", "10690000", "9", COMPLAINT_KEYWORDS)
    assert not for_complaints("5", "10690000", "10690000", "9", COMPLAINT_KEYWORDS)
    assert for_complaints("投诉 乱扣费", "10690000", "10690000", "9", COMPLAINT_KEYWORDS)
