"""The documented MSISDN pattern and the parser agree: whatever a client or fuzzer makes from the
pattern is a number every service accepts, in the one stored form."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from vas_common.msisdn import MSISDN_PATTERN, normalize_msisdn


@given(st.from_regex(MSISDN_PATTERN, fullmatch=True))
def test_every_number_the_pattern_allows_is_a_mainland_mobile(raw: str) -> None:
    number = normalize_msisdn(raw)
    assert number is not None, raw
    assert re.fullmatch(r"861\d{10}", number)


def test_the_pattern_refuses_what_is_not_one() -> None:
    for raw in ("0", "12345678901", "8610123456", "+1 202 555 0100", "13800000000 ", "١٣٨٠٠٠٠٠٠٠٠"):
        assert not re.fullmatch(MSISDN_PATTERN, raw), raw
    assert re.fullmatch(MSISDN_PATTERN, "+8613812345678")
