"""Pure rules of the sms-sender."""

from __future__ import annotations

import pytest

from sms_sender.domain import (
    AccountShare,
    BlankContent,
    ContentReviewer,
    RejectReason,
    SignatureMissing,
    TokenBucket,
    account_share,
    message_outcome,
    message_status,
    normalize_recipient,
    parse_word_list,
    signed_content,
    udh_reference,
)
from vas_common.events.sms_sender import MessageOutcome as O
from vas_common.events.sms_sender import MessageStatus as S
from vas_common.events.subscription import SignaturePlacement


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "8613812345678"),
        ("+8613812345678", "8613812345678"),
        ("8613812345678", "8613812345678"),
        ("008613812345678", "8613812345678"),
        (" 138 1234 5678 ", "8613812345678"),
        ("19912345678", "8619912345678"),
        ("12345678901", RejectReason.NOT_CHINESE_MOBILE),
        ("1381234567", RejectReason.NOT_CHINESE_MOBILE),
        ("+14155552671", RejectReason.NOT_CHINESE_MOBILE),
        ("01012345678", RejectReason.NOT_CHINESE_MOBILE),  # Beijing landline
        ("hello", RejectReason.INVALID_NUMBER),
        ("", RejectReason.INVALID_NUMBER),
    ],
)
def test_normalize_recipient(raw: str, expected: object) -> None:
    assert normalize_recipient(raw) == expected


def test_signature_prepended_or_required() -> None:
    assert signed_content("验证码 1234", "【测试】", SignaturePlacement.PREPEND) == "【测试】验证码 1234"
    assert (
        signed_content("验证码 1234【测试】", "【测试】", SignaturePlacement.REQUIRE) == "验证码 1234【测试】"
    )
    assert signed_content("【测试】hi", "【测试】", SignaturePlacement.PREPEND) == "【测试】hi"
    with pytest.raises(SignatureMissing):
        signed_content("验证码 1234", "【测试】", SignaturePlacement.REQUIRE)


@pytest.mark.parametrize("placement", list(SignaturePlacement))
@pytest.mark.parametrize("content", [" ", "\n", "\u200b\ufeff", "【测试】", "【测试】\u3000", "\t【测试】"])
def test_content_with_nothing_besides_the_signature_is_blank(
    content: str, placement: SignaturePlacement
) -> None:
    with pytest.raises(BlankContent):
        signed_content(content, "【测试】", placement)
    if "【" not in content:
        with pytest.raises(BlankContent):
            signed_content(content, None, placement)


def test_reviewer_names_category_and_term() -> None:
    reviewer = ContentReviewer(
        parse_word_list(["# comment", "gambling\t赌博", "fraud\t刷单", "spam\tFREE MONEY", ""])
    )
    assert reviewer.size == 3
    hit = reviewer.review("【测试】欢迎参加网上刷单活动")
    assert hit is not None
    assert (hit.category, hit.term) == ("fraud", "刷单")
    assert reviewer.review("Get free money now") is not None  # case-insensitive
    assert reviewer.review("【测试】您的验证码是 1234") is None
    assert ContentReviewer([]).review("anything") is None


def test_token_bucket_grants_a_second_and_says_how_long_to_wait() -> None:
    now = [0.0]
    bucket = TokenBucket(10, clock=lambda: now[0])
    assert bucket.take(10) == 0
    assert bucket.take(1) == pytest.approx(0.1)
    now[0] = 0.5
    assert bucket.take(5) == 0
    assert bucket.take(25) > 1.0  # more than a second's budget


def test_message_status_from_segments() -> None:
    assert message_status([S.SUBMITTED, S.SUBMITTED], 2) is S.SUBMITTED
    assert message_status([S.SUBMITTED], 2) is S.ACCEPTED
    assert message_status([S.DELIVERED, S.SUBMITTED], 2) is S.SUBMITTED
    assert message_status([S.DELIVERED, S.DELIVERED], 2) is S.DELIVERED
    assert message_status([S.DELIVERED, S.FAILED], 2) is S.FAILED
    assert message_status([S.FAILED], 3) is S.FAILED


def test_the_reference_is_the_stored_one_and_the_id_byte_only_for_messages_from_before() -> None:
    assert udh_reference(0x1234, bytes(15) + b"\x07") == 0x1234
    assert udh_reference(0, bytes(15) + b"\x07") == 0
    assert udh_reference(None, bytes(15) + b"\x07") == 7


@pytest.mark.parametrize(
    ("status", "segments", "outcome"),
    [
        (S.SUBMITTED, [(S.SUBMITTED, None)], None),
        (S.DELIVERED, [(S.DELIVERED, "DELIVRD"), (S.DELIVERED, "DELIVRD")], O.DELIVERED),
        (S.FAILED, [(S.FAILED, None)], O.FAILED),  # refused at submit: no receipt stat
        (S.FAILED, [(S.FAILED, "UNDELIV")], O.FAILED),
        (S.FAILED, [(S.DELIVERED, "DELIVRD"), (S.FAILED, "EXPIRED")], O.EXPIRED),
        (S.FAILED, [(S.FAILED, "UNKNOWN"), (S.SUBMITTED, None)], O.UNKNOWN),
        (S.FAILED, [(S.FAILED, "EXPIRED"), (S.FAILED, "UNKNOWN")], O.UNKNOWN),
        (S.FAILED, [(S.FAILED, "EXPIRED"), (S.FAILED, "REJECTD")], O.FAILED),  # a real failure wins
    ],
)
def test_a_final_status_says_what_it_means(
    status: S, segments: list[tuple[S, str | None]], outcome: O | None
) -> None:
    assert message_outcome(status, segments) is outcome


def test_an_accounts_binds_and_tps_are_shared_among_its_dispatchers() -> None:
    def share(members: list[str], me: str, settled: bool = True, binds: int = 5) -> AccountShare:
        return account_share(members=members, me=me, settled=settled, account_binds=binds, account_tps=60.0)

    assert share(["a"], "a", settled=False) == AccountShare(5, 60.0)  # alone: all of it at once
    assert [share(["a", "b", "c"], m) for m in "cab"] == [
        AccountShare(1, 20.0),
        AccountShare(2, 20.0),
        AccountShare(2, 20.0),
    ]
    assert share(["a", "b"], "b", settled=False) == AccountShare(0, 0.0)  # until the others lowered theirs
    assert share(["a", "b"], "z") == AccountShare(0, 0.0)  # its lease expired
    # More dispatchers than binds: those without one take no TPS either; the rest share it all.
    assert [share(["a", "b", "c"], m, binds=2) for m in "abc"] == [
        AccountShare(1, 30.0),
        AccountShare(1, 30.0),
        AccountShare(0, 0.0),
    ]
    # Whoever joins, the shares in use never add up to more than the account's.
    for joiner in ("0", "m", "z"):
        before = [share(["a", "b"], m) for m in "ab"]
        after = [share(["a", "b", joiner], m) for m in "ab"]
        assert all(x.binds <= y.binds and x.tps <= y.tps for x, y in zip(after, before, strict=True))
