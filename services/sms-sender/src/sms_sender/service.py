"""Use cases of the sms-sender: who may send, accepting messages, reading their status,
recording outcomes and the events and callbacks that follow from them."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg
from async_lru import alru_cache
from prometheus_client import CollectorRegistry, Counter

from sms_sender import domain
from sms_sender.domain import BlankContent, ContentReviewer, RejectReason, SignatureMissing, TokenBucket
from sms_sender.repository import (
    CallbackRepository,
    EligibilityRepository,
    IdempotentAnswer,
    MessageKey,
    MessageRepository,
    NewMessage,
    PartnerCopyRepository,
    PartnerProfileRow,
    SendCheck,
    SendChecks,
    StatusEventRow,
)
from sms_sender.schemas import AcceptedRecipient, RejectedRecipient, SendRequest, SendResponse
from vas_common.auth import AuthenticatedPartner
from vas_common.cursors import CursorCipher
from vas_common.cursors import InvalidCursor as InvalidCursorText
from vas_common.db import DATABASE_UNAVAILABLE, CommitOutcomeUnknown, DbConnection
from vas_common.errors import AppError, Conflict, NotFound, ServiceUnavailable, ValidationFailed
from vas_common.events import Event, encode_event
from vas_common.events.complaints import HoldPlaced, HoldReleased
from vas_common.events.envelope import utcnow
from vas_common.events.sms_requests import SystemMessage
from vas_common.events.sms_sender import (
    Category,
    MessageState,
    MessageStatus,
    MessageStatusChanged,
    SegmentState,
    SubmitRequested,
    SubmitWork,
)
from vas_common.events.subscription import (
    SUBSCRIPTION_EVENTS as SUBSCRIPTION_STATE_EVENTS,
)
from vas_common.events.subscription import (
    LegalHoldChanged,
    PartnerState,
    PartnerStatus,
    ProductCreated,
    SignaturePlacement,
    UserOptedIn,
    UserOptedOut,
)
from vas_common.events.topics import SMS_SUBMIT, SMS_SUBMIT_PRIORITY, Topic
from vas_common.group_commit import GroupCommit, GroupCommitMetrics
from vas_common.outbound import AddressPolicy, ForbiddenDestination, OutboundGuard
from vas_common.outbox import OutboxRepository
from vas_common.smpp.text import count_segments
from vas_common.telemetry import current_trace_carrier

logger = logging.getLogger(__name__)

IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_SOURCE_ADDRESS = 20  # SMPP 3.4 source_addr: 21 octets with the terminating NUL

_REASONS = {
    RejectReason.INVALID_NUMBER: "not a phone number",
    RejectReason.NOT_CHINESE_MOBILE: "not a mainland China mobile number",
    RejectReason.DUPLICATE_RECIPIENT: "listed more than once in this request",
    RejectReason.OPTED_OUT: "the user unsubscribed (TD) and receives no content",
    RejectReason.NOT_SUBSCRIBED: "not an active subscriber of this product",
}


class ContentRejected(ValidationFailed):
    code = "content_rejected"
    title = "The content failed the sensitive-word review"


class SignatureRequired(ValidationFailed):
    code = "signature_missing"
    title = "The approved signature is missing"


class ContentEmpty(ValidationFailed):
    code = "content_empty"
    title = "The content has no text to send"


class NoValidRecipients(ValidationFailed):
    code = "no_valid_recipients"
    title = "No recipient can receive this message"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"
    title = "Too many messages"


class IdempotencyConflict(Conflict):
    code = "idempotency_key_reused"
    title = "The Idempotency-Key was used with a different request"


class MessageNotFound(NotFound):
    code = "message_not_found"
    title = "No such message"


class ContentNeedsProduct(ValidationFailed):
    code = "content_needs_product"
    title = "Content must name the product it belongs to"


class ProductNotOwned(ValidationFailed):
    code = "product_not_owned"
    title = "The product is not one of yours"


class ExtCodeNotAllowed(ValidationFailed):
    code = "ext_code_not_allowed"
    title = "An extension needs an access number of your own"


class SourceTooLong(ValidationFailed):
    code = "source_too_long"
    title = "The access number and extension are longer than an SMS source address may be"


class CallbackSecretMissing(ValidationFailed):
    code = "callback_secret_missing"
    title = "Create a callback secret before asking for callbacks"


class CallbackUrlForbidden(ValidationFailed):
    code = "callback_url_forbidden"
    title = "Callbacks are not sent to this URL"


@dataclass(frozen=True)
class Sender:
    """The authenticated partner with its sending profile."""

    partner_id: UUID
    name: str
    signature: str | None
    signature_placement: SignaturePlacement
    access_number: str | None
    rate_limit_per_s: int | None

    @classmethod
    def of(cls, row: PartnerProfileRow) -> Sender:
        return cls(
            partner_id=row.id,
            name=row.name,
            signature=row.signature,
            signature_placement=SignaturePlacement(row.signature_placement),
            access_number=row.access_number,
            rate_limit_per_s=row.rate_limit_per_s,
        )

    def principal(self) -> AuthenticatedPartner:
        return AuthenticatedPartner(partner_id=str(self.partner_id), name=self.name)


class _UnknownKey(Exception):
    """Raised inside the key cache so that unknown keys are not kept in it (see PartnerDirectory)."""


class PartnerDirectory:
    """sms-sender's own view of the partners, fed by subscription.events."""

    UNKNOWN_KEYS_KEPT = 1_000

    def __init__(
        self, pool: asyncpg.Pool, partners: PartnerCopyRepository | None = None, *, cache_ttl_s: float = 0.0
    ) -> None:
        self._pool = pool
        self._partners = partners or PartnerCopyRepository()
        self._cache_ttl_s = cache_ttl_s
        # Key lookups are kept this long: every API request asks, and the answer changes only
        # when a key is rotated or a partner suspended. The cost: such a change takes effect up
        # to cache_ttl_s later in each API process. Concurrent requests with a key not cached
        # share one lookup (2 % of the API's CPU at 800 req/s when each looked up on its own).
        # Unknown keys are kept apart, in a small table of their own: a flood of made-up keys
        # must not push the real partners' keys out of the cache.
        self._known: Callable[[str], Awaitable[Sender]] = (
            alru_cache(maxsize=10_000, ttl=cache_ttl_s)(self._lookup) if cache_ttl_s > 0 else self._lookup
        )
        self._unknown: dict[str, float] = {}  # key hash -> when to look it up again (monotonic)

    async def sender(self, key_sha256: str) -> Sender | None:
        if self._unknown and self._unknown.get(key_sha256, 0.0) > time.monotonic():
            return None
        try:
            return await self._known(key_sha256)
        except _UnknownKey:
            if self._cache_ttl_s > 0:
                if len(self._unknown) >= self.UNKNOWN_KEYS_KEPT:
                    self._unknown.clear()
                self._unknown[key_sha256] = time.monotonic() + self._cache_ttl_s
            return None

    async def apply(self, state: PartnerState) -> bool:
        async with self._pool.acquire() as conn:
            stored = await self._partners.upsert_if_newer(conn, state)
        if stored:
            logger.info("partner %s now at revision %d (%s)", state.partner_id, state.revision, state.status)
        return stored

    async def _lookup(self, key_sha256: str) -> Sender:
        async with self._pool.acquire() as conn:
            row = await self._partners.find_by_key_hash(conn, key_sha256)
        if row is None or row.status != PartnerStatus.ACTIVE.value:
            raise _UnknownKey
        return Sender.of(row)

    async def authenticate(self, key_sha256: str) -> AuthenticatedPartner | None:
        sender = await self.sender(key_sha256)
        return sender.principal() if sender else None


class Eligibility:
    """Applies subscription.events to the sms-sender's own tables: active subscriptions (product
    content goes only to them), opt-outs (00000: no content at all), legal holds; and from
    complaint.events the dispute holds of complaints. Holds are per (number, holder)."""

    def __init__(self, pool: asyncpg.Pool, repo: EligibilityRepository | None = None) -> None:
        self._pool = pool
        self._repo = repo or EligibilityRepository()

    async def apply(self, event: Event) -> None:
        async with self._pool.acquire() as conn:
            if isinstance(event, ProductCreated):
                await self._repo.set_product_owner(conn, event.payload.product_code, event.payload.partner_id)
            elif isinstance(event, SUBSCRIPTION_STATE_EVENTS):
                state = event.payload
                # Also names the product's owner: products created before product.created existed.
                await self._repo.set_product_owner(conn, state.product_code, state.partner_id)
                await self._repo.set_subscription(
                    conn, state.msisdn, state.product_code, state.status == "active"
                )
            elif isinstance(event, UserOptedOut | UserOptedIn):
                await self._repo.set_opted_out(
                    conn, event.payload.msisdn, isinstance(event, UserOptedOut), event.payload.occurred_at
                )
            elif isinstance(event, LegalHoldChanged):
                hold = event.payload
                await self._repo.set_hold(
                    conn, hold.msisdn, hold.holder, hold.held, hold.reason, hold.occurred_at
                )
            elif isinstance(event, HoldPlaced | HoldReleased):
                change = event.payload
                await self._repo.set_hold(
                    conn,
                    change.msisdn,
                    change.holder,
                    isinstance(event, HoldPlaced),
                    change.reason,
                    change.occurred_at,
                )


def request_fingerprint(body: SendRequest) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


class SendMetrics:
    def __init__(
        self, registry: CollectorRegistry | None, group_commit: GroupCommitMetrics | None = None
    ) -> None:
        self.accepted = Counter(
            "sms_accepted_total", "Messages accepted (202)", ["category"], registry=registry
        )
        self.rejected = Counter(
            "sms_rejected_total", "Recipients or requests refused, by reason", ["reason"], registry=registry
        )
        self.group_commit = group_commit or GroupCommitMetrics(registry)


@dataclass(frozen=True)
class _AcceptWrite:
    """What one accepted request writes: its messages, their submit events (with the request's
    trace context) and, under an Idempotency-Key, the answer to give a replay."""

    messages: list[NewMessage]
    events: list[tuple[Topic, Event]]
    trace: dict[str, str]
    answer: IdempotentAnswer | None


class SendService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        reviewer: ContentReviewer,
        *,
        metrics: SendMetrics | None = None,
        default_access_number: str,
        default_rate_per_s: int,
        database_wait_s: float | None = None,
        messages: MessageRepository | None = None,
        outbox: OutboxRepository | None = None,
        clock: Callable[[], datetime] = utcnow,
        callback_destinations: OutboundGuard | None = None,
    ) -> None:
        self._pool = pool
        self._reviewer = reviewer
        self._callback_destinations = callback_destinations or OutboundGuard(AddressPolicy())
        self._default_access_number = default_access_number
        self._default_rate = default_rate_per_s
        self._messages = messages or MessageRepository()
        self._outbox = outbox or OutboxRepository()
        self._clock = clock
        self._database_wait_s = database_wait_s
        self._buckets: dict[UUID, TokenBucket] = {}
        self._metrics = metrics or SendMetrics(None)
        # Accepts of concurrent requests are committed together; each 202 still waits for its COMMIT.
        self._writes: GroupCommit[_AcceptWrite, bool] = GroupCommit(
            pool, self._write_accepts, name="accept", metrics=self._metrics.group_commit
        )
        self._reads: GroupCommit[SendCheck, SendChecks] = GroupCommit(
            pool, self._read_checks, name="send-checks", transaction=False, metrics=self._metrics.group_commit
        )

    async def start(self) -> None:
        await self._reads.start()
        await self._writes.start()

    async def stop(self) -> None:
        await self._reads.stop()
        await self._writes.stop()

    def _check_rate(self, sender: Sender, count: int) -> None:
        rate = sender.rate_limit_per_s or self._default_rate
        bucket = self._buckets.get(sender.partner_id)
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[sender.partner_id] = TokenBucket(rate)
        wait = bucket.take(count)
        if wait > 0:
            retry = max(1, int(wait + 0.999))
            raise RateLimited(
                f"more than {rate} messages per second; retry in {retry}s",
                headers={"Retry-After": str(retry)},
                extra={"limit_per_s": rate},
            )

    async def send(self, sender: Sender, body: SendRequest, idempotency_key: str | None) -> SendResponse:
        # Only a request with a key is compared with an earlier one.
        fingerprint = request_fingerprint(body) if idempotency_key else ""
        try:
            numbers, rejected = self._validate_recipients(body.recipients)
            checks = await self._checks(sender, body, idempotency_key, numbers)
            if checks is not None and checks.replay is not None:
                return _replayed(checks.replay, fingerprint)  # answered before: not counted again
            response = await self._send(sender, body, idempotency_key, fingerprint, numbers, rejected, checks)
        except AppError as exc:
            self._metrics.rejected.labels(exc.code).inc()
            raise
        except CommitOutcomeUnknown as exc:
            raise ServiceUnavailable(
                "the message store did not confirm in time: the messages may or may not be accepted;"
                " repeat the request with the same Idempotency-Key to learn which (without one a"
                " repeat may send them twice)",
                retry_after_s=2,
                extra={"outcome": "unknown"},
            ) from exc
        except DATABASE_UNAVAILABLE as exc:
            raise ServiceUnavailable(
                "the message store is unavailable; nothing was accepted",
                retry_after_s=2,
                extra={"outcome": "not_accepted"},
            ) from exc
        self._metrics.accepted.labels(body.category.value).inc(len(response.accepted))
        for rejection in response.rejected:
            self._metrics.rejected.labels(rejection.code).inc()
        return response

    async def _checks(
        self, sender: Sender, body: SendRequest, idempotency_key: str | None, numbers: list[str]
    ) -> SendChecks | None:
        """What the request depends on, read together with the checks of concurrent requests;
        None when it depends on nothing stored."""
        screen = numbers if _needs_eligibility(body) else []
        if not (idempotency_key or screen or body.callback_url is not None):
            return None
        return await self._reads.submit(
            SendCheck(
                partner_id=sender.partner_id,
                idempotency_key=idempotency_key,
                screen=screen,
                product_code=body.product_code,
                callback=body.callback_url is not None,
            ),
            timeout_s=self._database_wait_s,
        )

    async def _read_checks(self, conn: DbConnection, checks: Sequence[SendCheck]) -> list[SendChecks]:
        return await self._messages.send_checks(conn, checks, IDEMPOTENCY_WINDOW)

    async def _send(
        self,
        sender: Sender,
        body: SendRequest,
        idempotency_key: str | None,
        fingerprint: str,
        accepted_numbers: list[str],
        rejected: list[RejectedRecipient],
        checks: SendChecks | None,
    ) -> SendResponse:
        if body.category is Category.CONTENT and body.product_code is None:
            # Checked after the replay: a request answered before keeps its first answer.
            raise ContentNeedsProduct(
                "content goes only to the active subscribers of a product: name the product_code of"
                " the product it belongs to; a message that is not content is category 'notice' or"
                " 'verification'",
                extra={"category": body.category.value},
            )
        try:
            content = domain.signed_content(body.content, sender.signature, sender.signature_placement)
        except SignatureMissing as exc:
            raise SignatureRequired(str(exc), extra={"signature": sender.signature}) from exc
        except BlankContent as exc:
            raise ContentEmpty(str(exc)) from exc
        hit = self._reviewer.review(content)
        if hit is not None:
            raise ContentRejected(
                f"content contains '{hit.term}' ({hit.category})",
                extra={"category": hit.category, "term": hit.term},
            )
        encoding, segments = count_segments(content)
        if body.product_code is not None and (checks is None or checks.product_owner != sender.partner_id):
            raise ProductNotOwned(
                f"product {body.product_code} is not one of your products",
                extra={"product_code": body.product_code},
            )
        if body.callback_url is not None and not (checks and checks.has_callback_secret):
            raise CallbackSecretMissing("POST /v1/callback-secrets first; callbacks are signed with it")
        if body.callback_url is not None:
            try:
                await self._callback_destinations.check_url(str(body.callback_url))
            except ForbiddenDestination as exc:
                raise CallbackUrlForbidden(str(exc), extra={"reason": exc.reason}) from exc
        if checks is not None and _needs_eligibility(body):
            accepted_numbers, more_rejected = _eligible(accepted_numbers, body, checks)
            rejected = rejected + more_rejected
        if not accepted_numbers:
            raise NoValidRecipients(
                "every recipient was rejected",
                extra={"rejected": [r.model_dump() for r in rejected]},
            )
        self._check_rate(sender, len(accepted_numbers))
        now = self._clock()
        source = self._source_address(sender, body.ext_code)
        messages = [
            NewMessage(
                id=uuid.uuid4(),
                accepted_at=now,
                partner_id=sender.partner_id,
                recipient=number,
                source_addr=source,
                content=content,
                category=body.category.value,
                product_code=body.product_code,
                client_ref=body.client_ref,
                callback_url=str(body.callback_url) if body.callback_url else None,
                notify_submitted=body.notify_submitted,
                encoding=encoding.value,
                segments_total=segments,
            )
            for number in accepted_numbers
        ]
        response = SendResponse(
            accepted=[AcceptedRecipient(recipient=m.recipient, message_id=m.id) for m in messages],
            rejected=rejected,
            segments=segments,
            encoding=encoding.value,
            content=content,
        )
        topic = SMS_SUBMIT_PRIORITY if body.category.is_priority else SMS_SUBMIT
        answer = (
            IdempotentAnswer(
                sender.partner_id, idempotency_key, fingerprint, response.model_dump(mode="json")
            )
            if idempotency_key
            else None
        )
        write = _AcceptWrite(
            messages=messages,
            events=[(topic, _submit_event(m, body.category)) for m in messages],
            trace=current_trace_carrier(),
            answer=answer,
        )
        if await self._writes.submit(write, timeout_s=self._database_wait_s):
            return response
        # A concurrent request with the same key won; answer what it answered.
        replay = await self._replay(sender, idempotency_key or "", fingerprint)
        assert replay is not None
        return replay

    def _source_address(self, sender: Sender, ext_code: str | None) -> str:
        """The partner's access number and extension. Partners' numbers are ranges that do not
        overlap (the subscription service sees to it), so any extension stays in the sender's own
        range; a partner without a number of its own sends from the provider's, whose extensions
        are the provider's system numbers."""
        if ext_code and sender.access_number is None:
            raise ExtCodeNotAllowed(
                "ext_code is for a partner with an access number of its own; you send from the provider's",
                extra={"ext_code": ext_code},
            )
        source = (sender.access_number or self._default_access_number) + (ext_code or "")
        if len(source) > MAX_SOURCE_ADDRESS:
            raise SourceTooLong(
                f"{source} has {len(source)} digits; at most {MAX_SOURCE_ADDRESS}",
                extra={"max_length": MAX_SOURCE_ADDRESS},
            )
        return source

    async def _write_accepts(self, conn: DbConnection, writes: Sequence[_AcceptWrite]) -> list[bool]:
        """Inside the group-commit transaction: claim the idempotency keys, then write the
        messages and submit events of the requests that claimed theirs (or sent none)."""
        claimed = [True] * len(writes)
        answers: dict[tuple[UUID, str], IdempotentAnswer] = {}
        for i, write in enumerate(writes):
            if write.answer is not None:
                ident = (write.answer.partner_id, write.answer.key)
                if ident in answers:
                    claimed[i] = False  # the same key twice in one batch: the first one wins
                else:
                    answers[ident] = write.answer
        if answers:
            stored = await self._messages.remember_responses(conn, list(answers.values()))
            for i, write in enumerate(writes):
                if write.answer is not None and (write.answer.partner_id, write.answer.key) not in stored:
                    claimed[i] = False
        winners = [w for w, ok in zip(writes, claimed, strict=True) if ok]
        await self._messages.insert_messages(conn, [m for w in winners for m in w.messages])
        await self._outbox.enqueue_traced(
            conn, [(topic, event, w.trace) for w in winners for topic, event in w.events]
        )
        return claimed

    async def send_system(self, requests: Sequence[tuple[SystemMessage, Mapping[str, str]]]) -> int:
        """System messages from other services (each with the trace it came with), under the
        provider's own access number, in one transaction. Idempotent: the request id is the
        message id. Returns how many were stored now: not those stored before, nor those to a
        recipient that is not a Chinese mobile number (logged; a retry cannot help)."""
        pending: dict[UUID, tuple[NewMessage, Category, Mapping[str, str]]] = {}
        for request, trace in requests:
            number = domain.normalize_recipient(request.recipient)
            if isinstance(number, RejectReason):
                logger.warning(
                    "system message %s to an invalid recipient dropped: %s", request.request_id, number
                )
                continue
            encoding, segments = count_segments(request.text)
            message = NewMessage(
                id=request.request_id,
                accepted_at=request.requested_at,
                partner_id=None,
                recipient=number,
                source_addr=self._default_access_number + (request.ext_code or ""),
                content=request.text,
                category=request.category.value,
                product_code=None,
                client_ref=request.reason,
                callback_url=None,
                notify_submitted=False,
                encoding=encoding.value,
                segments_total=segments,
            )
            pending.setdefault(message.id, (message, request.category, trace))  # the same request twice
        if not pending:
            return 0
        async with self._pool.acquire() as conn, conn.transaction():
            stored = await self._messages.insert_messages_once(conn, [m for m, _, _ in pending.values()])
            await self._outbox.enqueue_traced(
                conn,
                [
                    (
                        SMS_SUBMIT_PRIORITY if category.is_priority else SMS_SUBMIT,
                        _submit_event(message, category),
                        trace,
                    )
                    for message, category, trace in pending.values()
                    if message.id in stored
                ],
            )
        return len(stored)

    async def _replay(self, sender: Sender, key: str, fingerprint: str) -> SendResponse | None:
        async with self._pool.acquire() as conn:
            stored = await self._messages.idempotent_response(
                conn, sender.partner_id, key, IDEMPOTENCY_WINDOW
            )
        return _replayed(stored, fingerprint) if stored is not None else None

    def _validate_recipients(self, raw: list[str]) -> tuple[list[str], list[RejectedRecipient]]:
        accepted: list[str] = []
        seen: set[str] = set()
        rejected: list[RejectedRecipient] = []
        for original in raw:
            number = domain.normalize_recipient(original)
            if isinstance(number, RejectReason):
                rejected.append(_rejection(original, number))
            elif number in seen:
                rejected.append(_rejection(original, RejectReason.DUPLICATE_RECIPIENT))
            else:
                seen.add(number)
                accepted.append(number)
        return accepted, rejected


def _needs_eligibility(body: SendRequest) -> bool:
    """Content (which always names its product) and any product message go only to the product's
    active subscribers who did not opt out; a notice or verification code without a product
    goes to anyone."""
    return body.category is Category.CONTENT or body.product_code is not None


def _eligible(
    numbers: list[str], body: SendRequest, checks: SendChecks
) -> tuple[list[str], list[RejectedRecipient]]:
    blocked: dict[str, RejectReason] = {n: RejectReason.OPTED_OUT for n in numbers if n in checks.opted_out}
    if body.product_code is not None:
        for number in numbers:
            if number not in checks.subscribed and number not in blocked:
                blocked[number] = RejectReason.NOT_SUBSCRIBED
    rejected = [_rejection(n, reason) for n, reason in blocked.items()]
    return [n for n in numbers if n not in blocked], rejected


def _replayed(stored: tuple[str, dict[str, Any]], fingerprint: str) -> SendResponse:
    stored_fingerprint, response = stored
    if stored_fingerprint != fingerprint:
        raise IdempotencyConflict("this Idempotency-Key was used for a different request in the last 24 h")
    return SendResponse.model_validate(response)


def _rejection(recipient: str, reason: RejectReason) -> RejectedRecipient:
    return RejectedRecipient(recipient=recipient, code=reason.value, reason=_REASONS[reason])


def _submit_event(message: NewMessage, category: Category) -> SubmitRequested:
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
        )
    )


class _StoredSegment(NamedTuple):
    """A segment as load_for_status reads it (one array per column, in seq order)."""

    seq: int
    status: str
    smsc_message_id: str | None
    smpp_status: int | None
    receipt_stat: str | None


class StatusRecorder:
    """Recomputes message statuses after segment changes and records what follows in the
    same transaction: the status history (which the status relay publishes on sms.status) and
    the callbacks."""

    def __init__(
        self,
        messages: MessageRepository | None = None,
        callbacks: CallbackRepository | None = None,
    ) -> None:
        self._messages = messages or MessageRepository()
        self._callbacks = callbacks or CallbackRepository()

    async def refresh(
        self, conn: DbConnection, keys: Sequence[MessageKey], now: datetime
    ) -> list[MessageState]:
        if not keys:
            return []
        changed: list[MessageState] = []
        updates: list[tuple[UUID, datetime, str, str | None, datetime]] = []
        callback_targets: dict[UUID, tuple[str, bool]] = {}
        for row in await self._messages.load_for_status(conn, keys):
            segments = [
                _StoredSegment._make(columns)
                for columns in zip(
                    row["seqs"] or (),
                    row["statuses"] or (),
                    row["smsc_ids"] or (),
                    row["smpp_statuses"] or (),
                    row["receipt_stats"] or (),
                    strict=True,
                )
            ]
            statuses = [MessageStatus(s.status) for s in segments]
            new_status = domain.message_status(statuses, row["segments_total"])
            if new_status.value == row["status"]:
                continue
            error = next(
                (
                    f"segment {s.seq}: " + (s.receipt_stat or f"smpp status {s.smpp_status}")
                    for s, status in zip(segments, statuses, strict=True)
                    if status is MessageStatus.FAILED
                ),
                None,
            )
            updates.append((row["id"], row["accepted_at"], new_status.value, error, now))
            changed.append(
                MessageState(
                    message_id=row["id"],
                    partner_id=row["partner_id"],
                    recipient=row["recipient"],
                    status=new_status,
                    segments_total=row["segments_total"],
                    segments=[
                        SegmentState(
                            seq=s.seq,
                            status=status,
                            smsc_message_id=s.smsc_message_id,
                            error=s.receipt_stat if status is MessageStatus.FAILED else None,
                        )
                        for s, status in zip(segments, statuses, strict=True)
                    ],
                    accepted_at=row["accepted_at"],
                    submitted_at=row["submitted_at"]
                    or (now if new_status is not MessageStatus.FAILED else None),
                    done_at=now if new_status in (MessageStatus.DELIVERED, MessageStatus.FAILED) else None,
                    error=error,
                    product_code=row["product_code"],
                    client_ref=row["client_ref"],
                )
            )
            if row["callback_url"]:
                callback_targets[row["id"]] = (row["callback_url"], row["notify_submitted"])
        if not changed:
            return []
        await self._messages.update_statuses(conn, updates)
        events = [MessageStatusChanged(payload=state) for state in changed]
        trace = current_trace_carrier()
        await self._messages.insert_status_events(
            conn,
            [
                StatusEventRow(
                    occurred_at=now,
                    partner_id=e.payload.partner_id,
                    message_id=e.payload.message_id,
                    status=e.payload.status.value,
                    body=e.payload.model_dump_json(),
                    event=encode_event(e),
                    trace=trace,
                )
                for e in events
            ],
        )
        callback_rows = _callback_rows(events, callback_targets)
        if callback_rows:
            await self._callbacks.enqueue(conn, callback_rows)
        return changed


def _callback_rows(
    events: list[MessageStatusChanged], targets: dict[UUID, tuple[str, bool]]
) -> list[tuple[UUID, UUID, UUID, str, dict[str, Any]]]:
    """The callbacks these status changes call for: final statuses, and `submitted` when asked."""
    rows: list[tuple[UUID, UUID, UUID, str, dict[str, Any]]] = []
    for event in events:
        state = event.payload
        target = targets.get(state.message_id)
        if target is None or state.partner_id is None:
            continue
        url, notify_submitted = target
        final = state.status in (MessageStatus.DELIVERED, MessageStatus.FAILED)
        if final or (state.status is MessageStatus.SUBMITTED and notify_submitted):
            body = {
                "event_id": str(event.event_id),
                "occurred_at": event.occurred_at.isoformat(),
                "message": state.model_dump(mode="json"),
            }
            rows.append((event.event_id, state.partner_id, state.message_id, url, body))
    return rows


class InvalidCursor(ValidationFailed):
    code = "invalid_cursor"
    title = "Not a cursor this API handed out"


@dataclass(frozen=True)
class StatusEventView:
    cursor: str  # opaque: pass it back to get what came after
    occurred_at: datetime
    message_id: UUID
    status: str
    body: dict[str, Any]


class StatusQueries:
    def __init__(
        self, pool: asyncpg.Pool, cursors: CursorCipher, messages: MessageRepository | None = None
    ) -> None:
        self._pool = pool
        self._cursors = cursors
        self._messages = messages or MessageRepository()

    async def message(
        self, partner_id: UUID, message_id: UUID
    ) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
        async with self._pool.acquire() as conn:
            row = await self._messages.get_message(conn, partner_id, message_id)
            if row is None:
                raise MessageNotFound(f"message {message_id} does not exist")
            return row, await self._messages.segments_of(conn, message_id, row["accepted_at"])

    async def messages(
        self, partner_id: UUID, client_ref: str | None, since: datetime | None, limit: int
    ) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            return await self._messages.list_messages(conn, partner_id, client_ref, since, limit)

    async def status_events(
        self, partner_id: UUID, cursor: str | None, limit: int
    ) -> tuple[list[StatusEventView], str | None]:
        """The partner's status changes after `cursor` (None: from the oldest kept), and the
        cursor to ask with next. Cursors are opaque: row ids would tell the platform's volume."""
        try:
            after = 0 if cursor is None else self._cursors.decode(cursor)
        except InvalidCursorText as exc:
            raise InvalidCursor(f"{cursor!r} is not a cursor from GET /v1/status-events") from exc
        async with self._pool.acquire() as conn:
            rows = await self._messages.status_events_after(conn, partner_id, after, limit)
        events = [
            StatusEventView(
                cursor=self._cursors.encode(r["id"]),
                occurred_at=r["occurred_at"],
                message_id=r["message_id"],
                status=r["status"],
                body=r["body"],
            )
            for r in rows
        ]
        return events, events[-1].cursor if events else cursor


class CallbackSecrets:
    def __init__(self, pool: asyncpg.Pool, callbacks: CallbackRepository | None = None) -> None:
        self._pool = pool
        self._callbacks = callbacks or CallbackRepository()

    async def rotate(self, partner_id: UUID) -> str:
        secret = secrets.token_urlsafe(32)
        async with self._pool.acquire() as conn:
            await self._callbacks.set_secret(conn, partner_id, secret)
        return secret

    async def dead(self, partner_id: UUID, limit: int) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            return await self._callbacks.dead(conn, partner_id, limit)
