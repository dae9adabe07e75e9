"""Accepting a partner's messages: validation, content review, opt-out and subscription checks,
rate limit, then a durable accept (messages and their submit events in one transaction) under
an optional Idempotency-Key."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg
from prometheus_client import CollectorRegistry, Counter

from sms_sender import domain
from sms_sender.domain import (
    AcceptedRecipient,
    BlankContent,
    ContentReviewer,
    NewMessage,
    RejectedRecipient,
    RejectReason,
    SendOrder,
    SendResult,
    SignatureMissing,
)
from sms_sender.repository.messages import IdempotentAnswer, MessageRepository, SendCheck, SendChecks
from sms_sender.repository.send_limits import SendLimitRepository, Take
from sms_sender.service.errors import (
    CallbackSecretMissing,
    CallbackUrlForbidden,
    ContentEmpty,
    ContentNeedsProduct,
    ContentRejected,
    ExtCodeNotAllowed,
    IdempotencyConflict,
    NoValidRecipients,
    ProductNotOwned,
    RateLimited,
    SignatureRequired,
    SourceTooLong,
)
from sms_sender.service.partners import Sender
from vas_common.clock import Clock, SystemClock
from vas_common.db import DATABASE_UNAVAILABLE, CommitOutcomeUnknown, DbConnection
from vas_common.errors import AppError, ServiceUnavailable
from vas_common.events import Event
from vas_common.events.sms_sender import Category, ContentRejection
from vas_common.events.sms_sender import ContentRejected as ContentRejectedEvent
from vas_common.events.topics import SMS_STATUS, Topic
from vas_common.group_commit import GroupCommit, GroupCommitMetrics
from vas_common.outbound import AddressPolicy, ForbiddenDestination, OutboundGuard
from vas_common.outbox import OutboxRepository
from vas_common.smpp.text import count_segments
from vas_common.telemetry import current_trace_carrier

logger = logging.getLogger(__name__)

SYSTEM_CLOCK = SystemClock()
IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_SOURCE_ADDRESS = 20  # SMPP 3.4 source_addr: 21 octets with the terminating NUL


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
        self.rejections_unpublished = Counter(
            "sms_content_rejections_unpublished_total",
            "Content refusals whose sms.content_rejected event could not be written (database away)",
            registry=registry,
        )
        self.group_commit = group_commit or GroupCommitMetrics(registry)


@dataclass(frozen=True)
class _RateTake:
    partner_id: UUID
    rate: int
    count: int


@dataclass(frozen=True)
class _AcceptWrite:
    """What one accepted request writes: its messages, their submit events (with the request's
    trace context; made in the transaction, once the long messages have their concatenation
    references) and, under an Idempotency-Key, the answer to give a replay."""

    messages: list[NewMessage]
    category: Category
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
        concat_reference_bits: int = 8,
        messages: MessageRepository | None = None,
        limits: SendLimitRepository | None = None,
        outbox: OutboxRepository | None = None,
        clock: Clock = SYSTEM_CLOCK,
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
        self._reference_bits = concat_reference_bits  # a 16-bit UDH leaves a character less a part
        self._limits = limits or SendLimitRepository()
        self._metrics = metrics or SendMetrics(None)
        # Accepts of concurrent requests are committed together; each 202 still waits for its COMMIT.
        self._writes: GroupCommit[_AcceptWrite, bool] = GroupCommit(
            pool, self._write_accepts, name="accept", metrics=self._metrics.group_commit
        )
        self._reads: GroupCommit[SendCheck, SendChecks] = GroupCommit(
            pool, self._read_checks, name="send-checks", transaction=False, metrics=self._metrics.group_commit
        )
        # The partners' token buckets are rows shared by every API replica; the takes of
        # concurrent requests share a connection (one statement each, no transaction).
        self._takes: GroupCommit[_RateTake, Take] = GroupCommit(
            pool, self._take_tokens, name="send-limit", transaction=False, metrics=self._metrics.group_commit
        )

    async def start(self) -> None:
        await self._reads.start()
        await self._takes.start()
        await self._writes.start()

    async def stop(self) -> None:
        await self._reads.stop()
        await self._takes.stop()
        await self._writes.stop()

    async def _take_tokens(self, conn: DbConnection, takes: Sequence[_RateTake]) -> list[Take]:
        now = self._clock.now()
        return [await self._limits.take(conn, t.partner_id, t.rate, t.count, now) for t in takes]

    async def _check_rate(self, sender: Sender, count: int) -> None:
        """Take `count` from the partner's bucket, shared by every API replica: `rate` a second,
        bursts up to one second's worth."""
        rate = sender.rate_limit_per_s or self._default_rate
        take = await self._takes.submit(
            _RateTake(sender.partner_id, rate, count), timeout_s=self._database_wait_s
        )
        if not take.granted:
            retry = domain.retry_after_s(domain.token_wait(take.tokens, rate, count))
            raise RateLimited(
                f"more than {rate} messages per second; retry in {retry}s",
                headers={"Retry-After": str(retry)},
                extra={"limit_per_s": rate},
            )

    async def send(
        self, sender: Sender, order: SendOrder, idempotency_key: str | None, fingerprint: str = ""
    ) -> SendResult:
        """Accept `order` (durably: the result comes after the COMMIT). Under an Idempotency-Key,
        `fingerprint` identifies the request: the same key with another one is refused, the same
        one gets the first result again."""
        try:
            numbers, rejected = self._validate_recipients(order.recipients)
            checks = await self._checks(sender, order, idempotency_key, numbers)
            if checks is not None and checks.replay is not None:
                return _replayed(checks.replay, fingerprint)  # answered before: not counted again
            result = await self._send(sender, order, idempotency_key, fingerprint, numbers, rejected, checks)
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
        self._metrics.accepted.labels(order.category.value).inc(len(result.accepted))
        for rejection in result.rejected:
            self._metrics.rejected.labels(rejection.code).inc()
        return result

    async def _checks(
        self, sender: Sender, order: SendOrder, idempotency_key: str | None, numbers: list[str]
    ) -> SendChecks | None:
        """What the request depends on, read together with the checks of concurrent requests;
        None when it depends on nothing stored."""
        screen = numbers if _needs_eligibility(order) else []
        if not (idempotency_key or screen or order.callback_url is not None):
            return None
        return await self._reads.submit(
            SendCheck(
                partner_id=sender.partner_id,
                idempotency_key=idempotency_key,
                screen=screen,
                product_code=order.product_code,
                callback=order.callback_url is not None,
            ),
            timeout_s=self._database_wait_s,
        )

    async def _read_checks(self, conn: DbConnection, checks: Sequence[SendCheck]) -> list[SendChecks]:
        return await self._messages.send_checks(conn, checks, self._clock.now() - IDEMPOTENCY_WINDOW)

    async def _send(
        self,
        sender: Sender,
        order: SendOrder,
        idempotency_key: str | None,
        fingerprint: str,
        accepted_numbers: list[str],
        rejected: list[RejectedRecipient],
        checks: SendChecks | None,
    ) -> SendResult:
        if order.category is Category.CONTENT and order.product_code is None:
            # Checked after the replay: a request answered before keeps its first answer.
            raise ContentNeedsProduct(
                "content goes only to the active subscribers of a product: name the product_code of"
                " the product it belongs to; a message that is not content is category 'notice' or"
                " 'verification'",
                extra={"category": order.category.value},
            )
        try:
            content = domain.signed_content(order.content, sender.signature, sender.signature_placement)
        except SignatureMissing as exc:
            raise SignatureRequired(str(exc), extra={"signature": sender.signature}) from exc
        except BlankContent as exc:
            raise ContentEmpty(str(exc)) from exc
        hit = self._reviewer.review(content)
        if hit is not None:
            await self._publish_rejection(sender, order, hit.category, len(accepted_numbers))
            raise ContentRejected(
                f"content contains '{hit.term}' ({hit.category})",
                extra={"category": hit.category, "term": hit.term},
            )
        encoding, segments = count_segments(content, self._reference_bits)
        if order.product_code is not None and (checks is None or checks.product_owner != sender.partner_id):
            raise ProductNotOwned(
                f"product {order.product_code} is not one of your products",
                extra={"product_code": order.product_code},
            )
        if order.callback_url is not None and not (checks and checks.has_callback_secret):
            raise CallbackSecretMissing("POST /v1/callback-secrets first; callbacks are signed with it")
        if order.callback_url is not None:
            try:
                await self._callback_destinations.check_url(order.callback_url)
            except ForbiddenDestination as exc:
                raise CallbackUrlForbidden(str(exc), extra={"reason": exc.reason}) from exc
        if checks is not None and _needs_eligibility(order):
            accepted_numbers, more_rejected = _eligible(accepted_numbers, order, checks)
            rejected = rejected + more_rejected
        if not accepted_numbers:
            raise NoValidRecipients(
                "every recipient was rejected",
                extra={"rejected": [asdict(r) for r in rejected]},
            )
        await self._check_rate(sender, len(accepted_numbers))
        now = self._clock.now()
        source = self._source_address(sender, order.ext_code)
        messages = [
            NewMessage(
                id=uuid.uuid4(),
                accepted_at=now,
                partner_id=sender.partner_id,
                recipient=number,
                source_addr=source,
                content=content,
                category=order.category.value,
                product_code=order.product_code,
                client_ref=order.client_ref,
                callback_url=order.callback_url,
                notify_submitted=order.notify_submitted,
                encoding=encoding.value,
                segments_total=segments,
            )
            for number in accepted_numbers
        ]
        result = SendResult(
            accepted=[AcceptedRecipient(recipient=m.recipient, message_id=m.id) for m in messages],
            rejected=rejected,
            segments=segments,
            encoding=encoding.value,
            content=content,
        )
        answer = (
            IdempotentAnswer(sender.partner_id, idempotency_key, fingerprint, _result_json(result))
            if idempotency_key
            else None
        )
        write = _AcceptWrite(
            messages=messages,
            category=order.category,
            trace=current_trace_carrier(),
            answer=answer,
        )
        if await self._writes.submit(write, timeout_s=self._database_wait_s):
            return result
        # A concurrent request with the same key won; answer what it answered.
        replay = await self._replay(sender, idempotency_key or "", fingerprint)
        assert replay is not None
        return replay

    async def _publish_rejection(
        self, sender: Sender, order: SendOrder, rule_category: str, recipients: int
    ) -> None:
        """What the content review blocked, for the quality report (blocked per category):
        `sms.content_rejected` on sms.status, without the text or the numbers. A refusal writes
        no message, so there is no accept transaction to join: the event goes through the outbox
        in a transaction of its own, committed before the 422 is answered (durable from then
        on). When the database cannot take it the refusal stands (a 422, never a 503), the event
        is lost and the loss logged and counted (`sms_content_rejections_unpublished_total`)."""
        event = ContentRejectedEvent(
            payload=ContentRejection(
                request_id=uuid.uuid4(),
                partner_id=sender.partner_id,
                category=order.category,
                rule_category=rule_category,
                recipients=recipients,
                rejected_at=self._clock.now(),
            )
        )
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await self._outbox.enqueue(conn, SMS_STATUS, event)
        except DATABASE_UNAVAILABLE as exc:
            self._metrics.rejections_unpublished.inc()
            logger.warning(
                "a content refusal (partner %s, %s) could not be recorded for the quality report: %r",
                sender.partner_id,
                rule_category,
                exc,
            )

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
            now = self._clock.now()
            stored = await self._messages.remember_responses(
                conn, list(answers.values()), now, now - IDEMPOTENCY_WINDOW
            )
            for i, write in enumerate(writes):
                if write.answer is not None and (write.answer.partner_id, write.answer.key) not in stored:
                    claimed[i] = False
        winners = [w for w, ok in zip(writes, claimed, strict=True) if ok]
        messages = await self._messages.with_concat_refs(conn, [m for w in winners for m in w.messages])
        await self._messages.insert_messages(conn, messages)
        events: list[tuple[Topic, Event, dict[str, str]]] = []
        in_order = iter(messages)
        for w in winners:
            for _ in w.messages:
                events.append((*domain.submit_record(next(in_order), w.category), w.trace))
        await self._outbox.enqueue_traced(conn, events)
        return claimed

    async def _replay(self, sender: Sender, key: str, fingerprint: str) -> SendResult | None:
        async with self._pool.acquire() as conn:
            stored = await self._messages.idempotent_response(
                conn, sender.partner_id, key, self._clock.now() - IDEMPOTENCY_WINDOW
            )
        return _replayed(stored, fingerprint) if stored is not None else None

    def _validate_recipients(self, raw: Sequence[str]) -> tuple[list[str], list[RejectedRecipient]]:
        accepted: list[str] = []
        seen: set[str] = set()
        rejected: list[RejectedRecipient] = []
        for original in raw:
            number = domain.normalize_recipient(original)
            if isinstance(number, RejectReason):
                rejected.append(domain.rejection(original, number))
            elif number in seen:
                rejected.append(domain.rejection(original, RejectReason.DUPLICATE_RECIPIENT))
            else:
                seen.add(number)
                accepted.append(number)
        return accepted, rejected


def _needs_eligibility(order: SendOrder) -> bool:
    """Content (which always names its product) and any product message go only to the product's
    active subscribers who did not opt out; a notice or verification code without a product
    goes to anyone."""
    return order.category is Category.CONTENT or order.product_code is not None


def _eligible(
    numbers: list[str], order: SendOrder, checks: SendChecks
) -> tuple[list[str], list[RejectedRecipient]]:
    blocked: dict[str, RejectReason] = {n: RejectReason.OPTED_OUT for n in numbers if n in checks.opted_out}
    if order.product_code is not None:
        for number in numbers:
            if number not in checks.subscribed and number not in blocked:
                blocked[number] = RejectReason.NOT_SUBSCRIBED
    rejected = [domain.rejection(n, reason) for n, reason in blocked.items()]
    return [n for n in numbers if n not in blocked], rejected


def _replayed(stored: tuple[str, dict[str, Any]], fingerprint: str) -> SendResult:
    stored_fingerprint, answer = stored
    if stored_fingerprint != fingerprint:
        raise IdempotencyConflict("this Idempotency-Key was used for a different request in the last 24 h")
    return SendResult(
        accepted=[AcceptedRecipient(a["recipient"], UUID(a["message_id"])) for a in answer["accepted"]],
        rejected=[RejectedRecipient(r["recipient"], r["code"], r["reason"]) for r in answer["rejected"]],
        segments=answer["segments"],
        encoding=answer["encoding"],
        content=answer["content"],
    )


def _result_json(result: SendResult) -> dict[str, Any]:
    """The result as stored under its Idempotency-Key (the response body's JSON: a replay stored
    before this release reads alike)."""
    return {
        "accepted": [{"recipient": a.recipient, "message_id": str(a.message_id)} for a in result.accepted],
        "rejected": [asdict(r) for r in result.rejected],
        "segments": result.segments,
        "encoding": result.encoding,
        "content": result.content,
    }
