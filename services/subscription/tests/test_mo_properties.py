"""Property-based: random conversations of one subscriber with the service, against the real
PostgreSQL through the service layer (not through Kafka: too slow per example).

An example is a start instant, up to three products the user orders by SMS first (the code, and Y
or not), then up to five moves of one or two actions: MO texts the user sends to the access
number (product codes, confirmation words, TD / TD<code> / 退订 / 取消, 0000, 00000, menu numbers,
garbage; a move of two is a list asked for and a number sent back), the partner ordering a product
for the user or cancelling the user's subscription, the operator cancelling it, the clock moving
by minutes, by hours or to just past the next Asia/Shanghai month boundary, and the jobs: expiry
of unconfirmed orders, the monthly billing run for the current or the previous month, a product's
content delivered to the user (the bare-TD target, and a fee for a per-message product). Each
example has a user of its own; the products (monthly full/full, free/full, full/none and one
per-message) are made once per test. A handful of explicit examples (@example) make sure the
conversations the properties are about are always tried.

What the user got is read from the raw records (`order_records`: `sms_in`, `sms_out`), what the
subscriptions became from `subscriptions`, the money from `charges`. After every example:

1. One fee a month: at most one monthly fee (a charge with a period that is not a refund) per
   user, product and Asia/Shanghai month.
2. No charge after a cancellation: a monthly fee for a month only if some subscription of that
   user to that product was active (confirmed, not yet ended) at some time in that month; a
   per-message fee only for content delivered while a subscription to the product was active.
3. Every cancellation is confirmed by SMS: a subscription that ended as 'cancelled' has an SMS to
   the user at the very instant it ended (the same transaction) that says so and names the
   product (“name”).
4. Menu numbers refer to the last list shown: when the user sends a number n and the last
   numbered list the user got showed k products, then either n ≤ k and the reply cancels the n-th
   product of that list (and nothing else), or nothing is cancelled and the reply is a list again
   (a stale or out-of-range number is answered with the current list). Followed from the SMS
   texts, not from the saved menu; a list of pending orders ("回复Y1…") is a list too.
5. Y confirms only what the user was asked about: an order is confirmed only if the user got a
   confirmation request for it before; a bare confirmation (Y, y, 是, Y., ｙ, 是的, 确认, OK) with
   exactly one live pending order confirms it, with none confirms nothing, with several confirms
   nothing and the user gets a numbered list to choose from; Y<n> confirms nothing but the n-th
   product of the last list of pending orders shown ("回复Y1…").
6. Active only after a confirmation: the user's last MO before a subscription was confirmed is a
   confirmation word, and came after a confirmation request SMS for that order.

1, 2, 3 and 6 hold for the MO conversation as it was before the rework of issue 14 too. 4 and 5
are written for the reworked conversation: a number out of range or without a list is answered
with the current list (it was the help text), every list reply becomes the menu (a list after a
product code already ordered did not), the lists show pending orders too, a bare Y with several
pending orders asks which (it confirmed the newest), and Y., ｙ, 是的, 确认, OK confirm as Y does.

The database is a fresh one with the service's migrations and the use cases run on a pool of their
own: no app and no broker (what the use cases hand to Kafka stays in the outbox table).

Time is a clock of the test's own: it stands still but for a microsecond per reading, so that
every example replays exactly (the Hypothesis run is derandomized, no example database).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

import asyncpg
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from subscription import domain
from subscription.domain import SHANGHAI, BillingType, Product
from subscription.main import MIGRATIONS
from subscription.service.billing import BillingService
from subscription.service.partners import PartnerService
from subscription.service.products import ProductService
from subscription.service.subscriptions import SubscriptionExists, SubscriptionService
from vas_common.db import COMMON_MIGRATIONS, create_pool, migrate
from vas_common.events.sms_sender import MessageState, MessageStatus, MoMessage

ACCESS_NUMBER = "10690019"


class ScriptClock:
    """Time as the example says: it moves only when told, and by a microsecond per reading, so
    readings stay ordered and an example replays to the microsecond."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        self._now += timedelta(microseconds=1)
        return self._now

    def peek(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment


# -- the catalogue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    code: str
    name: str
    billing_type: BillingType
    price_fen: int
    first_month: str
    last_month: str


OFFERS = (
    Offer("JOKE", "每日笑话", BillingType.MONTHLY, 500, "full", "full"),
    Offer("NEWS", "新闻早报", BillingType.MONTHLY, 300, "free", "full"),
    Offer("WTHR", "天气预报", BillingType.MONTHLY, 200, "full", "none"),
    Offer("STK", "股市快讯", BillingType.PER_MESSAGE, 10, "full", "full"),
)
CODES = tuple(o.code for o in OFFERS)
NAMES = tuple(o.name for o in OFFERS)

# -- what the user sends ------------------------------------------------------------------------

BARE_CONFIRMATIONS = ("Y", "y", "是", "Y.", "ｙ", "是的", "确认", "OK")
PICK_CONFIRMATIONS = ("Y1", "Y2")
CONFIRMATIONS = BARE_CONFIRMATIONS + PICK_CONFIRMATIONS
CANCELLATIONS = (
    "TD",
    "退订",
    "取消",
    *(f"TD{code}" for code in CODES),
    *(f"退订{code}" for code in CODES[:2]),
    *(f"取消{code}" for code in CODES[2:]),
)
NUMBERS = ("1", "2", "3", "4")
GARBAGE = ("你好", "??", "HELLO", "ZZZ9", "Y Y N", "td JOKE!")


# -- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mo:
    text: str


@dataclass(frozen=True)
class PartnerOrder:
    code: str


@dataclass(frozen=True)
class PartnerCancel:
    code: str


@dataclass(frozen=True)
class OperatorCancel:
    code: str


@dataclass(frozen=True)
class Advance:
    minutes: int


@dataclass(frozen=True)
class NextMonth:
    minutes_past: int  # lands this many minutes after the next Asia/Shanghai month begins


@dataclass(frozen=True)
class ExpirePending:
    pass


@dataclass(frozen=True)
class BillMonth:
    months_back: int  # 0: the current month, 1: the previous one


@dataclass(frozen=True)
class Content:
    code: str  # a message of this product delivered to the user, sent by its owner


Action = (
    Mo
    | PartnerOrder
    | PartnerCancel
    | OperatorCancel
    | Advance
    | NextMonth
    | ExpirePending
    | BillMonth
    | Content
)


def actions() -> st.SearchStrategy[Action]:
    codes = st.sampled_from(CODES)
    return st.one_of(
        st.builds(Mo, st.sampled_from(CONFIRMATIONS)),
        st.builds(Mo, codes),
        st.builds(Mo, st.sampled_from(("0000", *NUMBERS))),
        st.just(Mo("0000")),
        st.builds(Mo, st.sampled_from(("00000", *CANCELLATIONS))),
        st.builds(PartnerOrder, codes),
        st.builds(Mo, st.sampled_from(CONFIRMATIONS + NUMBERS)),
        st.builds(Advance, st.one_of(st.integers(1, 59), st.integers(1, 30).map(lambda h: 60 * h))),
        st.builds(NextMonth, st.integers(0, 600)),
        st.builds(BillMonth, st.integers(0, 1)),
        st.builds(Content, codes),
        st.builds(PartnerCancel, codes),
        st.builds(OperatorCancel, codes),
        st.just(ExpirePending()),
        st.builds(Mo, st.sampled_from(GARBAGE)),
    )


def scripts() -> st.SearchStrategy[list[Action]]:
    """Up to 5 moves, most of them one action, a quarter a list the user asks for (0000, a bare TD,
    a product code already ordered) followed by a number, as users answer lists."""
    asks_for_a_list = st.sampled_from(("0000", "TD", *CODES)).map(Mo)
    answer = st.sampled_from(NUMBERS[:3]).map(Mo)
    a_list_answered = st.builds(lambda asked, number: [asked, number], asks_for_a_list, answer)
    # builds, not map: a mapped one_of is drawn as one choice among all its branches; three
    # strategies, not one thrice: one_of would draw from the same one once
    one_action = [st.builds(lambda action: [action], actions()) for _ in range(3)]
    move = st.one_of(*one_action, a_list_answered)
    return st.lists(move, min_size=1, max_size=5).map(lambda moves: [a for m in moves for a in m])


# The examples start this long before 2031-02-01 00:00 in Asia/Shanghai.
FIRST_BOUNDARY = datetime(2031, 2, 1, tzinfo=SHANGHAI)
START_BEFORE = (30, 5 * 60, 3 * 24 * 60, 15 * 24 * 60)


# -- what is observed ---------------------------------------------------------------------------


class Sub(NamedTuple):
    id: UUID
    product: str  # its name
    status: str
    requested_at: datetime
    confirm_by: datetime
    confirmed_at: datetime | None
    ended_at: datetime | None
    end_channel: str | None


class Sms(NamedTuple):
    id: int
    at: datetime
    inbound: bool  # sms_in (the user's MO) or sms_out (what the user got)
    text: str
    purpose: str | None


@dataclass
class Step:
    action: Action
    at: datetime  # the clock just before the action
    before: dict[UUID, Sub]
    after: dict[UUID, Sub]
    sms: list[Sms]  # the records of SMS in and out made by the action


@dataclass
class World:
    pool: asyncpg.Pool
    clock: ScriptClock
    subscriptions: SubscriptionService
    billing: BillingService
    products: dict[str, Product]  # by code
    users: int = 0

    def new_user(self) -> str:
        self.users += 1
        return f"86139{self.users:08d}"


OPEN = ("pending", "active", "suspended")

_ITEM_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{1,2})[.．、]")
_QUOTED = re.compile(r"“([^”]+)”")
_CANCELLED = re.compile(r"成功退订|已退订|已取消订购|已取消")


def numbered_items(text: str) -> list[str]:
    """The products of a numbered list ("1.每日笑话 5元/月；2.…"), by name, in order; [] if the
    text is no numbered list."""
    items: list[tuple[int, str]] = []
    for match in _ITEM_NUMBER.finditer(text):
        rest = text[match.end() :].lstrip(' “"')
        name = next((n for n in NAMES if rest.startswith(n)), None)
        if name is not None:
            items.append((int(match.group(1)), name))
    if not items:
        return []
    assert [n for n, _ in items] == list(range(1, len(items) + 1)), f"list numbered oddly: {text}"
    return [name for _, name in items]


def shown_list(sms: Sms) -> list[str] | None:
    """The list this SMS showed the user (maybe empty: "您当前没有订购任何业务"), None if it is none."""
    items = numbered_items(sms.text)
    if items:
        return items
    if sms.purpose == "list" or "没有订购" in sms.text:
        return []
    return None


_PICK_BY_NUMBER = re.compile(r"Y\s*(?:\d|[+＋<＜(（]|加|序号)")


def is_pending_list(sms: Sms) -> bool:
    """A numbered list that asks for Y1, Y2, … (or "Y加序号"): the pending orders to choose from."""
    return bool(numbered_items(sms.text)) and bool(_PICK_BY_NUMBER.search(sms.text))


def cancelled_names(text: str) -> set[str]:
    """The products a cancellation SMS names; empty for any other SMS."""
    return set(_QUOTED.findall(text)) if _CANCELLED.search(text) else set()


def is_request_for(sms: Sms, sub: Sub) -> bool:
    """A confirmation request the user got for this order (sent when it was made or later)."""
    return (
        not sms.inbound
        and sms.at >= sub.requested_at
        and f"“{sub.product}”" in sms.text
        and "回复Y" in sms.text
        and not cancelled_names(sms.text)
    )


# -- the fixture --------------------------------------------------------------------------------


PROVIDER = "VAS"


@pytest.fixture
async def world(database: str) -> AsyncIterator[World]:
    """The service's schema in a fresh database and its use cases on a pool of their own: no
    app, no broker (what the use cases hand to Kafka stays in the outbox table)."""
    clock = ScriptClock(FIRST_BOUNDARY - timedelta(days=40))
    pool = await create_pool(database)
    try:
        await migrate(pool, [("common", COMMON_MIGRATIONS), ("subscription", MIGRATIONS)])
        partners = PartnerService(pool, clock=clock.now, system_access_number="10690000")
        product_service = ProductService(pool, clock, PROVIDER)
        products: dict[str, Product] = {}
        for offer in OFFERS:
            partner, _key = await partners.create(f"{offer.name}内容商")
            draft = await product_service.create(
                partner.id,
                {
                    "code": offer.code,
                    "name": offer.name,
                    "billing_type": offer.billing_type.value,
                    "price_fen": offer.price_fen,
                    "description": f"{offer.name}，每天推送",
                    "availability": "全国",
                    "how_to_cancel": f"回复TD{offer.code}",
                    "charge_rule": domain.catalogue_month_rules(
                        offer.billing_type, offer.first_month, offer.last_month
                    ).rstrip("。"),
                    "fault_hotline": "10086",
                    "consult_hotline": "4001234567",
                    "first_month": offer.first_month,
                    "last_month": offer.last_month,
                },
            )
            products[offer.code] = await product_service.publish(draft.id, partner.id)
        yield World(
            pool,
            clock,
            SubscriptionService(pool, clock, PROVIDER),
            BillingService(pool, clock),
            products,
        )
    finally:
        await pool.close()


# -- running an example -------------------------------------------------------------------------


async def subscriptions_of(world: World, msisdn: str) -> dict[UUID, Sub]:
    rows = await world.pool.fetch(
        """
        SELECT s.id, p.name AS product, s.status, s.requested_at, s.confirm_by, s.confirmed_at,
               s.ended_at, s.end_channel
          FROM subscriptions s JOIN products p ON p.id = s.product_id
         WHERE s.msisdn = $1 ORDER BY s.requested_at, s.id
        """,
        msisdn,
    )
    return {r["id"]: Sub(**dict(r)) for r in rows}


async def sms_of(world: World, msisdn: str, after_id: int) -> list[Sms]:
    rows = await world.pool.fetch(
        """
        SELECT id, occurred_at, kind, detail->>'text' AS text, detail->>'purpose' AS purpose
          FROM order_records
         WHERE msisdn = $1 AND kind IN ('sms_in', 'sms_out') AND id > $2 ORDER BY id
        """,
        msisdn,
        after_id,
    )
    return [
        Sms(r["id"], r["occurred_at"], r["kind"] == "sms_in", r["text"] or "", r["purpose"]) for r in rows
    ]


def latest_of(subs: dict[UUID, Sub], name: str) -> Sub | None:
    mine = [s for s in subs.values() if s.product == name]
    return mine[-1] if mine else None


async def perform(world: World, msisdn: str, action: Action, subs: dict[UUID, Sub]) -> None:
    clock, service = world.clock, world.subscriptions
    if isinstance(action, Mo):
        received = clock.peek()
        await service.handle_mo(
            MoMessage(
                mo_id=uuid.uuid4(),
                msisdn=msisdn,
                destination=ACCESS_NUMBER,
                text=action.text,
                received_at=received,
            )
        )
    elif isinstance(action, PartnerOrder):
        product = world.products[action.code]
        with contextlib.suppress(SubscriptionExists):  # already ordered: the partner is told so
            await service.request(msisdn, product.code, "partner_api", partner_id=product.partner_id)
    elif isinstance(action, PartnerCancel | OperatorCancel):
        product = world.products[action.code]
        target = latest_of(subs, product.name)
        if target is None:
            return
        if isinstance(action, PartnerCancel):
            await service.cancel(target.id, "partner_api", partner_id=product.partner_id)
        else:
            await service.cancel(target.id, "operator_api", msisdn=msisdn)
    elif isinstance(action, Advance):
        clock.set(clock.peek() + timedelta(minutes=action.minutes))
    elif isinstance(action, NextMonth):
        _, end = domain.period_bounds(domain.period_of(clock.peek()))
        clock.set(end + timedelta(minutes=action.minutes_past))
    elif isinstance(action, ExpirePending):
        await service.expire_pending()
    elif isinstance(action, BillMonth):
        period = domain.shift_period(domain.period_of(clock.peek()), -action.months_back)
        await world.billing.run_monthly(period)
    elif isinstance(action, Content):
        product = world.products[action.code]
        delivered = clock.now()
        state = MessageState(
            message_id=uuid.uuid4(),
            partner_id=product.partner_id,
            recipient=msisdn,
            status=MessageStatus.DELIVERED,
            segments_total=1,
            segments=[],
            accepted_at=delivered,
            submitted_at=delivered,
            done_at=delivered,
            product_code=product.code,
        )
        await service.note_content(state, delivered)
        await world.billing.charge_delivered(state)


def transcript(steps: Sequence[Step]) -> str:
    """The conversation as the user saw it, for the failure message."""
    lines = []
    for step in steps:
        when = step.at.astimezone(SHANGHAI).strftime("%m-%d %H:%M")
        lines.append(f"  {when} {step.action}")
        lines += [f"      -> {sms.text}" for sms in step.sms if not sms.inbound]
        changed = [
            f"{s.product}:{step.before[s.id].status if s.id in step.before else 'new'}->{s.status}"
            for s in step.after.values()
            if s.id not in step.before or step.before[s.id].status != s.status
        ]
        if changed:
            lines.append(f"      == {', '.join(changed)}")
    return "\n".join(lines)


# -- the invariants -----------------------------------------------------------------------------


def transitions(step: Step, old: Sequence[str], new: str) -> list[Sub]:
    return [
        s
        for s in step.after.values()
        if s.status == new and s.id in step.before and step.before[s.id].status in old
    ]


def check_menu_number(step: Step, number: int, last_list: list[str] | None, story: str) -> None:
    """4. A number cancels the n-th product of the last list shown, or is answered with a list."""
    cancelled = transitions(step, OPEN, "cancelled")
    named = set().union(*(cancelled_names(s.text) for s in step.sms if not s.inbound))
    if last_list is not None and 1 <= number <= len(last_list):
        target = last_list[number - 1]
        assert [s.product for s in cancelled] in ([], [target]), (
            f"4: {number} cancelled {[s.product for s in cancelled]}, the list showed {last_list}\n{story}"
        )
        assert named <= {target}, f"4: {number} after the list {last_list} was answered {named}\n{story}"
    else:
        assert not cancelled, (
            f"4: {number} is not on the last list shown ({last_list}) but cancelled "
            f"{[s.product for s in cancelled]}\n{story}"
        )
        assert not named, f"4: {number} is not on the last list shown ({last_list}) but {named}\n{story}"
    if not cancelled:
        assert any(shown_list(s) is not None for s in step.sms if not s.inbound), (
            f"4: {number} cancelled nothing and was not answered with a list\n{story}"
        )


def check_confirmation(
    step: Step, word: str, earlier: Sequence[Sms], pending_list: list[str] | None, story: str
) -> None:
    """5. A confirmation word confirms only an order the user was asked about, and never one of
    several without saying which."""
    confirmed = transitions(step, ("pending",), "active")
    for sub in confirmed:
        assert any(is_request_for(sms, sub) for sms in earlier), (
            f"5: {word!r} confirmed {sub.product}, for which no confirmation request was sent\n{story}"
        )
    live = [s for s in step.before.values() if s.status == "pending" and s.confirm_by > step.at]
    if word in BARE_CONFIRMATIONS:
        if len(live) >= 2:
            assert not confirmed, (
                f"5: {word!r} with {len(live)} pending orders confirmed {[s.product for s in confirmed]}"
                f" without asking which\n{story}"
            )
            assert any(len(numbered_items(s.text)) >= 2 for s in step.sms if not s.inbound), (
                f"5: {word!r} with {len(live)} pending orders was not answered with a list of them\n{story}"
            )
        elif len(live) == 1:
            assert [s.id for s in confirmed] == [live[0].id], (
                f"5: {word!r} with the one pending order {live[0].product} confirmed "
                f"{[s.product for s in confirmed]}\n{story}"
            )
        else:
            assert not confirmed, f"5: {word!r} without a pending order confirmed something\n{story}"
    else:
        number = int(word[1:])
        if pending_list is not None and 1 <= number <= len(pending_list):
            target = pending_list[number - 1]
            assert [s.product for s in confirmed] in ([], [target]), (
                f"5: {word!r} confirmed {[s.product for s in confirmed]}, the pending list showed "
                f"{pending_list}\n{story}"
            )
        else:
            assert not confirmed, (
                f"5: {word!r} confirmed {[s.product for s in confirmed]}, but no pending list with "
                f"{number} items was shown ({pending_list})\n{story}"
            )


def check_steps(steps: Sequence[Step], story: str) -> None:
    seen: list[Sms] = []
    last_list: list[str] | None = None
    pending_list: list[str] | None = None
    for step in steps:
        if isinstance(step.action, Mo):
            word = step.action.text
            if word in NUMBERS:
                check_menu_number(step, int(word), last_list, story)
            if word in CONFIRMATIONS:
                check_confirmation(step, word, seen, pending_list, story)
        for sms in step.sms:
            if sms.inbound:
                continue
            shown = shown_list(sms)
            if shown is not None:
                last_list = shown
            if is_pending_list(sms):
                pending_list = shown
        seen += step.sms


async def check_records(world: World, msisdn: str, story: str) -> None:
    subs = list((await subscriptions_of(world, msisdn)).values())
    records = await sms_of(world, msisdn, 0)
    charges = await world.pool.fetch(
        """
        SELECT c.id, p.name AS product, c.period, c.message_id, c.amount_fen, c.charged_at
          FROM charges c JOIN products p ON p.id = c.product_id
         WHERE c.msisdn = $1 AND c.refund_of IS NULL ORDER BY c.charged_at, c.id
        """,
        msisdn,
    )

    # 1. at most one monthly fee per user, product and month
    fees: dict[tuple[str, str], int] = {}
    for charge in charges:
        if charge["period"] is not None:
            key = (charge["product"], charge["period"])
            fees[key] = fees.get(key, 0) + 1
    assert all(n == 1 for n in fees.values()), f"1: two fees for one month: {fees}\n{story}"

    # 2. no charge but for a time some subscription to the product was active
    def active_between(product: str, start: datetime, end: datetime) -> bool:
        return any(
            s.product == product
            and s.confirmed_at is not None
            and s.confirmed_at < end
            and (s.ended_at is None or s.ended_at > start)
            for s in subs
        )

    for charge in charges:
        if charge["period"] is not None:
            start, end = domain.period_bounds(charge["period"])
            assert active_between(charge["product"], start, end), (
                f"2: {charge['product']} charged for {charge['period']}, when no subscription to it "
                f"was active: {subs}\n{story}"
            )
        else:
            at = charge["charged_at"]
            assert active_between(charge["product"], at, at + timedelta(microseconds=1)), (
                f"2: {charge['product']} content delivered at {at} charged while not subscribed\n{story}"
            )

    # 3. every cancellation is confirmed by SMS, at the instant it happened, naming the product
    for sub in subs:
        if sub.status == "cancelled":
            assert any(
                not sms.inbound and sms.at == sub.ended_at and sub.product in cancelled_names(sms.text)
                for sms in records
            ), f"3: the cancellation of {sub.product} ({sub.end_channel}) was not confirmed by SMS\n{story}"

    # 6. active only after a confirmation MO that followed the confirmation request
    for sub in subs:
        if sub.confirmed_at is None:
            continue
        mo = [sms for sms in records if sms.inbound and sms.at <= sub.confirmed_at]
        assert mo, f"6: {sub.product} became active without any MO\n{story}"
        assert mo[-1].text in CONFIRMATIONS, (
            f"6: {sub.product} became active after {mo[-1].text!r}, no confirmation\n{story}"
        )
        assert any(is_request_for(sms, sub) and sms.at < mo[-1].at for sms in records), (
            f"6: {sub.product} became active without a confirmation request before the MO\n{story}"
        )


async def forget(world: World, msisdn: str) -> None:
    """Out of the way of the next examples' billing runs (they bill every user)."""
    async with world.pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM charges WHERE msisdn = $1", msisdn)
        await conn.execute("DELETE FROM subscriptions WHERE msisdn = $1", msisdn)


def coverage(steps: Sequence[Step]) -> None:
    """What the example got to, for --hypothesis-show-statistics."""
    for i, step in enumerate(steps):
        if isinstance(step.action, Mo) and step.action.text in NUMBERS:
            lists = [shown_list(s) for earlier in steps[:i] for s in earlier.sms if not s.inbound]
            shown = [items for items in lists if items is not None]
            event(
                "a number without a list"
                if not shown
                else f"a number after a list of {min(len(shown[-1]), 2)}"
            )
        if isinstance(step.action, Mo) and step.action.text in BARE_CONFIRMATIONS:
            live = [s for s in step.before.values() if s.status == "pending" and s.confirm_by > step.at]
            event(f"a bare confirmation with {min(len(live), 2)} pending")
        if transitions(step, OPEN, "cancelled"):
            event("a cancellation")
        if isinstance(step.action, BillMonth) and any(s.confirmed_at for s in step.after.values()):
            event("a billing run for a user with a confirmed subscription")


@settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    # one database and one catalogue for all examples; each example has a user of its own
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    start_before=st.sampled_from(START_BEFORE),
    orders=st.lists(st.tuples(st.sampled_from(CODES), st.booleans()), unique_by=lambda o: o[0], max_size=3),
    script=scripts(),
)
# The conversations the properties are about, tried first whatever the random ones turn out to be:
# Y with two pending orders, then Y2 from the list of them, then Y for the one left
@example(30, [("JOKE", False), ("NEWS", False)], [Mo("Y"), Mo("Y2"), Mo("Y"), Mo("0000"), Mo("2")])
# 00000 with an active and a pending order; then a number and a Y with nothing left
@example(30, [("JOKE", True), ("NEWS", False)], [Mo("00000"), Mo("1"), Mo("Y")])
# a number beyond the list; a list after a product code already ordered, then its number
@example(300, [("JOKE", True)], [Mo("0000"), Mo("3"), Mo("JOKE"), Mo("1")])
# the list after a code already ordered is the menu: 2 is what it showed second, not the 0000 menu's 2
@example(
    300,
    [("JOKE", True), ("NEWS", True)],
    [Mo("0000"), Mo("TDJOKE"), Mo("JOKE"), Mo("Y"), Mo("NEWS"), Mo("2")],
)
# a bare TD cancels the product whose content came last, the next TD the one left; then a number
@example(300, [("JOKE", True), ("WTHR", True)], [Content("WTHR"), Mo("TD"), Mo("TD"), Mo("1")])
# monthly fees across a month boundary, all cancelled in the new month, both months billed twice
@example(
    4320,
    [("JOKE", True), ("NEWS", True), ("WTHR", True)],
    [BillMonth(0), NextMonth(5), Mo("00000"), BillMonth(0), BillMonth(1), NextMonth(0), BillMonth(1)],
)
# cancelled and ordered again in one month: one fee
@example(
    30, [("JOKE", True), ("WTHR", True)], [Mo("TDJOKE"), Mo("JOKE"), Mo("Y"), NextMonth(0), BillMonth(1)]
)
# per-message fees: content before, after the cancellation, after ordering again
@example(
    30, [("STK", True)], [Content("STK"), Mo("TDSTK"), Content("STK"), Mo("STK"), Mo("Y"), Content("STK")]
)
# the partner's order cancelled by the partner while pending, the operator cancels an active one
@example(
    300, [("JOKE", True)], [PartnerOrder("NEWS"), PartnerCancel("NEWS"), OperatorCancel("JOKE"), Mo("Y")]
)
# a Y exactly 24 hours after the order is too late; the partner's new order is confirmed by 是
@example(300, [("JOKE", False)], [Advance(24 * 60), Mo("Y"), ExpirePending(), PartnerOrder("JOKE"), Mo("是")])
# 确认 confirms as Y does
@example(30, [("WTHR", False)], [Mo("确认"), Mo("0000")])
async def test_mo_conversations_keep_their_promises(
    world: World, start_before: int, orders: list[tuple[str, bool]], script: list[Action]
) -> None:
    """The user first orders products by SMS (the code; then Y where `orders` says so), so that
    the script starts with active and pending orders; then `script` runs."""
    msisdn = world.new_user()
    world.clock.set(FIRST_BOUNDARY - timedelta(minutes=start_before))
    ordered = [action for code, confirm in orders for action in (Mo(code), Mo("Y"))[: 1 + confirm]]
    steps: list[Step] = []
    last_id = 0
    try:
        subs = await subscriptions_of(world, msisdn)
        for action in ordered + script:
            at = world.clock.peek()
            await perform(world, msisdn, action, subs)
            after = await subscriptions_of(world, msisdn)
            sms = await sms_of(world, msisdn, last_id)
            last_id = max([last_id, *(s.id for s in sms)])
            steps.append(Step(action, at, subs, after, sms))
            subs = after
        coverage(steps)
        story = transcript(steps)
        check_steps(steps, story)
        await check_records(world, msisdn, story)
    finally:
        await forget(world, msisdn)
