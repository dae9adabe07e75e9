"""Rules of the sms-sender that need no I/O: recipients, signatures, content review, rate limits,
message status, how status callbacks are signed; and the values the use cases hand out (messages, send
results, dead callbacks)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import ahocorasick
from standardwebhooks import Webhook

from vas_common.events.sms_sender import Category, MessageOutcome, MessageStatus, SubmitRequested, SubmitWork
from vas_common.events.subscription import PartnerState, PartnerStatus, SignaturePlacement
from vas_common.events.topics import SMS_SUBMIT, SMS_SUBMIT_PRIORITY, Topic
from vas_common.msisdn import NotMsisdn, parse_msisdn
from vas_common.types import has_visible_character


def partner_may_send(state: PartnerState) -> bool:
    return state.status == PartnerStatus.ACTIVE


class RejectReason(StrEnum):
    INVALID_NUMBER = "invalid_number"
    NOT_CHINESE_MOBILE = "not_chinese_mobile"
    DUPLICATE_RECIPIENT = "duplicate_recipient"
    OPTED_OUT = "opted_out"
    NOT_SUBSCRIBED = "not_subscribed"


REJECT_REASONS = {
    RejectReason.INVALID_NUMBER: "not a phone number",
    RejectReason.NOT_CHINESE_MOBILE: "not a mainland China mobile number",
    RejectReason.DUPLICATE_RECIPIENT: "listed more than once in this request",
    RejectReason.OPTED_OUT: "the user unsubscribed (TD) and receives no content",
    RejectReason.NOT_SUBSCRIBED: "not an active subscriber of this product",
}


def normalize_recipient(raw: str) -> str | RejectReason:
    """A Chinese mobile number as 86XXXXXXXXXXX, with or without +86 given; else why not."""
    parsed = parse_msisdn(raw)
    return RejectReason(parsed.value) if isinstance(parsed, NotMsisdn) else parsed


class SignatureMissing(ValueError):
    pass


class BlankContent(ValueError):
    pass


def signed_content(content: str, signature: str | None, placement: SignaturePlacement) -> str:
    """The text as it will be sent: with the partner's approved 【signature】."""
    text = content.removeprefix(signature).removesuffix(signature) if signature else content
    if not has_visible_character(text):
        raise BlankContent("the content has no visible text besides the signature")
    if not signature:
        return content
    if content.startswith(signature) or content.endswith(signature):
        return content
    if placement is SignaturePlacement.REQUIRE:
        raise SignatureMissing(f"content must start or end with the approved signature {signature}")
    return signature + content


@dataclass(frozen=True)
class ReviewHit:
    category: str
    term: str


class ContentReviewer:
    """Sensitive-word review: one Aho-Corasick pass over the text for the whole word list."""

    def __init__(self, words: Iterable[tuple[str, str]]) -> None:
        self._automaton = ahocorasick.Automaton()
        count = 0
        for category, term in words:
            if term:
                self._automaton.add_word(term.lower(), (category, term))
                count += 1
        self.size = count
        if count:
            self._automaton.make_automaton()

    def review(self, text: str) -> ReviewHit | None:
        if not self.size:
            return None
        for _end, (category, term) in self._automaton.iter(text.lower()):
            return ReviewHit(category, term)
        return None


def parse_word_list(lines: Iterable[str]) -> list[tuple[str, str]]:
    words: list[tuple[str, str]] = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        category, _, term = line.partition("\t")
        if term.strip():
            words.append((category.strip(), term.strip()))
    return words


class TokenBucket:
    """Per-partner send rate: `rate` messages a second, bursts up to one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._stamp = clock()

    def take(self, n: int) -> float:
        """Take n tokens; return 0 when granted, else the seconds until they would be."""
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if n <= self._tokens:
            self._tokens -= n
            return 0.0
        return token_wait(self._tokens, self.rate, n)


def token_wait(tokens: float, rate: float, n: int) -> float:
    """The seconds until a bucket of `rate` a second (holding at most one second's worth) that
    holds `tokens` would grant `n`: one that can never hold n answers the time until it is full
    and then the rest, as a hint to send fewer at a time."""
    if n > rate:  # more than a whole second's budget: wait until the bucket is full
        return (rate - tokens) / rate + (n - rate) / rate
    return max(0.0, (n - tokens) / rate)


def retry_after_s(wait_s: float) -> int:
    """A Retry-After in whole seconds, at least one, for a wait of `wait_s`."""
    return max(1, int(wait_s + 0.999))


@dataclass(frozen=True)
class AccountShare:
    """What one dispatcher may use of the SMSC account's limits (its lease): binds and TPS."""

    binds: int
    tps: float


def account_share(
    *, members: Sequence[str], me: str, settled: bool, account_binds: int, account_tps: float
) -> AccountShare:
    """This dispatcher's share of the account among the live `members` (itself included): binds
    dealt out in member order (the first `account_binds % n` take one more), the TPS split evenly
    among the members that hold a bind. A member not `settled` yet (it joined less than a
    heartbeat ago: the others may not have lowered their shares yet) takes nothing unless it is
    alone, so the shares in use never add up to more than the account's limits. A join only
    lowers the others' shares (ranks move up, the count grows); a member's leaving raises them
    once it is gone."""
    if me not in members or (len(members) > 1 and not settled):
        return AccountShare(0, 0.0)
    count = len(members)
    rank = sorted(members).index(me)
    binds = account_binds // count + (1 if rank < account_binds % count else 0)
    holders = min(count, account_binds)
    return AccountShare(binds, account_tps / holders if binds else 0.0)


def message_status(segment_statuses: Sequence[MessageStatus], total: int) -> MessageStatus:
    """Delivered when every segment is; failed when any segment finally failed."""
    if any(s is MessageStatus.FAILED for s in segment_statuses):
        return MessageStatus.FAILED
    if len(segment_statuses) == total and all(s is MessageStatus.DELIVERED for s in segment_statuses):
        return MessageStatus.DELIVERED
    if len(segment_statuses) == total and all(
        s in (MessageStatus.SUBMITTED, MessageStatus.DELIVERED) for s in segment_statuses
    ):
        return MessageStatus.SUBMITTED
    return MessageStatus.ACCEPTED


# The receipt stat a segment is given when neither its receipt nor a final answer to query_sm
# came by the end of its validity period: SMPP's own word for a message in an unknown state.
GIVEN_UP_STAT = "UNKNOWN"
_LATE_STATS = frozenset({"EXPIRED", GIVEN_UP_STAT})


def message_outcome(
    status: MessageStatus, segments: Sequence[tuple[MessageStatus, str | None]]
) -> MessageOutcome | None:
    """What a final status means, from its segments' (status, receipt stat): `failed` when a
    segment was refused or reported undeliverable; else `expired` when the SMSC gave every failed
    segment up at its validity's end, `unknown` when we never learnt their fate."""
    if status is MessageStatus.DELIVERED:
        return MessageOutcome.DELIVERED
    if status is not MessageStatus.FAILED:
        return None
    stats = {stat for s, stat in segments if s is MessageStatus.FAILED}
    if not stats or not stats <= _LATE_STATS:  # a refusal has no stat
        return MessageOutcome.FAILED
    return MessageOutcome.EXPIRED if stats == {"EXPIRED"} else MessageOutcome.UNKNOWN


def udh_reference(concat_ref: int | None, message_id_bytes: bytes) -> int:
    """The concatenation reference of a message: the one allocated for its recipient when it was
    accepted; for a message accepted before they were (no concat_ref), the last byte of its id as
    then. Stable either way, so a resend carries the same UDH."""
    return concat_ref if concat_ref is not None else message_id_bytes[-1]


# A message's identity in the month-partitioned tables: its id and the month it was accepted in.
MessageKey = tuple[UUID, datetime]


@dataclass(frozen=True)
class Segment:
    seq: int
    status: MessageStatus
    smsc_message_id: str | None
    smpp_status: int | None
    receipt_stat: str | None
    attempts: int
    submitted_at: datetime | None
    done_at: datetime | None


@dataclass(frozen=True)
class Message:
    """A message as its partner reads it; `segments` only where they were asked for."""

    id: UUID
    recipient: str
    source_addr: str
    category: Category
    product_code: str | None
    client_ref: str | None
    status: MessageStatus
    outcome: MessageOutcome | None
    error: str | None
    encoding: str
    segments_total: int
    accepted_at: datetime
    submitted_at: datetime | None
    done_at: datetime | None
    segments: tuple[Segment, ...] = ()


@dataclass(frozen=True)
class DeadCallback:
    """A status callback given up on after its retry period."""

    event_id: UUID
    message_id: UUID
    url: str
    attempts: int
    last_error: str | None
    created_at: datetime
    body: Mapping[str, Any]


@dataclass(frozen=True)
class SendOrder:
    """What a partner asks to send: one text to many recipients."""

    recipients: Sequence[str]
    content: str
    category: Category
    product_code: str | None
    ext_code: str | None
    callback_url: str | None
    notify_submitted: bool
    client_ref: str | None


@dataclass(frozen=True)
class AcceptedRecipient:
    recipient: str
    message_id: UUID


@dataclass(frozen=True)
class RejectedRecipient:
    recipient: str
    code: str
    reason: str


@dataclass(frozen=True)
class SendResult:
    accepted: Sequence[AcceptedRecipient]
    rejected: Sequence[RejectedRecipient]
    segments: int  # per message
    encoding: str
    content: str  # as it will be sent, signature included


@dataclass(frozen=True)
class NewMessage:
    id: UUID
    accepted_at: datetime
    partner_id: UUID | None
    recipient: str
    source_addr: str
    content: str
    category: str
    product_code: str | None
    client_ref: str | None
    callback_url: str | None
    notify_submitted: bool
    encoding: str
    segments_total: int
    # The recipient's next concatenation reference, taken when a long message is accepted (the
    # repository allocates it); None for a single part.
    concat_ref: int | None = None


def rejection(recipient: str, reason: RejectReason) -> RejectedRecipient:
    return RejectedRecipient(recipient=recipient, code=reason.value, reason=REJECT_REASONS[reason])


def submit_record(message: NewMessage, category: Category) -> tuple[Topic, SubmitRequested]:
    """What asks a dispatcher to send `message`, and its lane: verification codes and notices go
    on the priority topic. The accept, system messages and republishing all write this."""
    return (SMS_SUBMIT_PRIORITY if category.is_priority else SMS_SUBMIT), submit_event(message, category)


def submit_event(message: NewMessage, category: Category) -> SubmitRequested:
    return SubmitRequested(
        payload=SubmitWork(
            message_id=message.id,
            partner_id=message.partner_id,
            recipient=message.recipient,
            source_addr=message.source_addr,
            text=message.content,
            category=category,
            segments=message.segments_total,
            accepted_at=message.accepted_at,
            product_code=message.product_code,
            concat_ref=message.concat_ref,
        )
    )


# Status callbacks are signed the Standard Webhooks way (https://www.standardwebhooks.com), so a
# partner verifies them with a library in its own language. A secret handed out today is
# "whsec_" + base64 of 32 random bytes. A secret handed out before (a 43-character URL-safe
# string) keeps working: its key is the string's UTF-8 bytes, as it was for the old
# X-VAS-Signature, so its Standard Webhooks form is "whsec_" + base64 of those bytes
# (`standard_form`). Callbacks under such a legacy secret also carry the old X-VAS-* headers until
# the partner rotates its secret or the transition ends (`CALLBACK_LEGACY_HEADERS_UNTIL`).
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
LEGACY_EVENT_ID_HEADER = "X-VAS-Event-Id"
LEGACY_TIMESTAMP_HEADER = "X-VAS-Timestamp"
LEGACY_SIGNATURE_HEADER = "X-VAS-Signature"


def new_callback_secret() -> str:
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def is_legacy_secret(secret: str) -> bool:
    return not secret.startswith(WEBHOOK_SECRET_PREFIX)


def standard_form(secret: str) -> str:
    """The secret as a Standard Webhooks library takes it: a legacy one's key is its UTF-8 bytes."""
    if not is_legacy_secret(secret):
        return secret
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secret.encode()).decode()


def legacy_signature(secret: str, event_id: str, timestamp: str, body: bytes) -> str:
    """The scheme before Standard Webhooks: "sha256=" + hex(HMAC-SHA256(secret, "<id>.<ts>.<body>"))."""
    message = event_id.encode() + b"." + timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def callback_headers(
    secret: str, webhook_id: str, body: bytes, signed_at: datetime, legacy_until: datetime | None
) -> dict[str, str]:
    """`webhook-id` (the status event's id: the same on every retry, so a receiver can drop a
    repeat), `webhook-timestamp` (`signed_at`, wall time: the receiver checks it against its own
    clock) and `webhook-signature` ("v1," + base64 HMAC-SHA256 of "<id>.<timestamp>.<body>"); the
    old headers as well while a legacy secret is in its transition."""
    timestamp = str(int(signed_at.timestamp()))
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": Webhook(standard_form(secret)).sign(webhook_id, signed_at, body),
    }
    if is_legacy_secret(secret) and legacy_until is not None and signed_at < legacy_until:
        headers[LEGACY_EVENT_ID_HEADER] = webhook_id
        headers[LEGACY_TIMESTAMP_HEADER] = timestamp
        headers[LEGACY_SIGNATURE_HEADER] = legacy_signature(secret, webhook_id, timestamp, body)
    return headers
