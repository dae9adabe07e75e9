"""Mainland China mobile numbers (MSISDN), as every service stores them: 86XXXXXXXXXXX."""

from __future__ import annotations

from enum import StrEnum

import phonenumbers

from vas_common.errors import ValidationFailed

_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


def _msisdn_pattern() -> str:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    mobile = metadata.mobile.national_number_pattern if metadata and metadata.mobile else None
    assert mobile is not None, "libphonenumber has no mobile pattern for CN"
    ascii_digits = mobile.replace("\\d", "[0-9]")  # \d is any Unicode digit in most regex engines
    return rf"^(?:\+?86|0086)?(?:{ascii_digits})$"


# What the API documents (and so what a client or a fuzzer generates): a mainland mobile number,
# +86/86/0086 optional, after libphonenumber's own pattern for them.
MSISDN_PATTERN = _msisdn_pattern()


class NotMsisdn(StrEnum):
    INVALID_NUMBER = "invalid_number"
    NOT_CHINESE_MOBILE = "not_chinese_mobile"


def parse_msisdn(raw: str) -> str | NotMsisdn:
    """The number as 86XXXXXXXXXXX (with or without +86/0086 given), or why it is not one."""
    text = raw.strip().replace(" ", "").replace("-", "")
    if not text or len(text) > 20:
        return NotMsisdn.INVALID_NUMBER
    if text.startswith("86") and len(text) == 13:
        text = "+" + text
    elif text.startswith("0086"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return NotMsisdn.INVALID_NUMBER
    if number.country_code != 86:
        return NotMsisdn.NOT_CHINESE_MOBILE
    # number_type is UNKNOWN for a number that is not valid, so it alone decides (is_valid_number
    # too would match the same patterns again: 23 instead of 17 µs a number).
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return NotMsisdn.NOT_CHINESE_MOBILE
    return f"86{number.national_number}"


def normalize_msisdn(raw: str) -> str | None:
    parsed = parse_msisdn(raw)
    return None if isinstance(parsed, NotMsisdn) else parsed


class InvalidMsisdn(ValidationFailed):
    code = "invalid_msisdn"
    title = "Not a mainland China mobile number"


def normalized_msisdn(raw: str) -> str:
    """The number as stored (86XXXXXXXXXXX), or 422 `invalid_msisdn`."""
    number = normalize_msisdn(raw)
    if number is None:
        raise InvalidMsisdn(f"{raw!r} is not a mainland China mobile number")
    return number
