"""The SMS conversation with a subscriber: what each MO means given what the user was last shown.

- A product code orders it (the confirmation SMS asks for a Y).
- Y (是, 确认, OK, Y. …) confirms the user's only pending order; with several pending, nothing is
  confirmed and the user gets the numbered list of them, answered by Y<n>.
- 0000 lists every subscription not ended (pending, active, suspended), numbered; a number
  cancels the one shown under it. Every list a user is shown is the menu their next number
  refers to, and a number that no longer points at an open subscription is answered with the
  current list: a number never cancels anything but what was shown under it.
- TD / 退订 / 取消, with a product code or alone, cancel in every state but ended; 00000 cancels
  everything and opts the user out of promotions.
- Anything else while an order waits says that the order waits for a Y.

Every confirmation attempt (a Y of any form, or an answer we could not read while an order
waits) is recorded with its outcome: the registration success rate counts the ones that failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from prometheus_client import CollectorRegistry, Counter

from subscription import domain
from subscription.domain import MenuPurpose, MoKind, ProductStatus, Subscription
from subscription.repository.products import ProductRepository
from subscription.repository.subscriptions import AlreadySubscribed, SubscriptionRepository
from subscription.service.messaging import Messaging, reply_id
from subscription.service.orders import OrderSteps
from vas_common.db import DbConnection
from vas_common.events.sms_sender import MoMessage
from vas_common.events.subscription import UserOptedOut, UserPreference

MENU_TTL = timedelta(hours=24)


class ConfirmationOutcome:
    """How a confirmation attempt ended (the `outcome` of its record and metric label)."""

    CONFIRMED = "confirmed"
    ASKED_WHICH = "asked_which"  # several orders wait: the user was asked which
    STALE_CHOICE = "stale_choice"  # Y<n> not pointing at a waiting order: asked again
    NO_PENDING = "no_pending"
    NOT_ON_SALE = "not_on_sale"  # the product stopped selling while the order waited
    UNRECOGNISED = "unrecognised"  # an answer we could not read while an order waits


class RegistrationMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.confirmations = Counter(
            "subscription_confirmations_total",
            "Confirmation attempts by users (a Y of any form, or an unreadable answer while an order waits)",
            ["outcome"],
            registry=registry,
        )


class SmsConversation:
    def __init__(
        self,
        provider: str,
        steps: OrderSteps,
        subscriptions: SubscriptionRepository,
        products: ProductRepository,
        messaging: Messaging,
        metrics: RegistrationMetrics,
        leave_alone: Callable[[MoMessage], bool] = lambda _: False,
    ) -> None:
        self._leave_alone = leave_alone
        self._provider = provider
        self._steps = steps
        self._subs = subscriptions
        self._products = products
        self._messaging = messaging
        self._metrics = metrics

    async def handle(self, conn: DbConnection, mos: Sequence[MoMessage], now: datetime) -> None:
        """These MO in order, inside the caller's transaction; an MO seen before is skipped, and
        so is one the complaints service answers (a complaint, a reply to its texts)."""
        mos = [mo for mo in mos if not self._leave_alone(mo)]
        if not mos:
            return
        fresh = await self._subs.first_time_seen(conn, [mo.mo_id for mo in mos])
        work: list[tuple[MoMessage, domain.MoCommand]] = []
        for mo in mos:
            if mo.mo_id in fresh:
                fresh.discard(mo.mo_id)  # the same MO twice in one batch: once
                work.append((mo, domain.parse_mo(mo.text)))
        # 0000 is most of the MO traffic. A user who sends nothing else in this batch gets the
        # list read for all such users at once and the menu saved at the end; anyone else's MO
        # are handled in order, each seeing what the ones before it changed.
        senders = {mo.msisdn for mo, _ in work}
        senders -= {mo.msisdn for mo, command in work if command.kind is not MoKind.LIST}
        lists = await self._subs.of_users(conn, list(senders), domain.OPEN_STATUSES) if senders else {}
        menus: dict[str, list[UUID]] = {}
        for mo, command in work:
            await self._record_mo(conn, mo, command, now)
            if mo.msisdn in senders:
                shown = lists.get(mo.msisdn, [])
                menus[mo.msisdn] = [s.id for s in shown]
                await self._reply(conn, mo, domain.list_text(self._provider, shown), "list", now)
            else:
                await self._handle(conn, mo, command, now)
        if menus:
            await self._subs.save_menus(conn, menus, now + MENU_TTL)

    async def _record_mo(
        self, conn: DbConnection, mo: MoMessage, command: domain.MoCommand, now: datetime
    ) -> None:
        await self._messaging.record(
            conn,
            now,
            mo.msisdn,
            "sms_in",
            channel="sms",
            received_at=mo.received_at.isoformat(),
            text=mo.text,
            destination=mo.destination,
            command=command.kind.value,
        )

    async def _handle(
        self, conn: DbConnection, mo: MoMessage, command: domain.MoCommand, now: datetime
    ) -> None:
        number = int(command.argument) if command.argument and command.argument.isdigit() else 0
        match command.kind:
            case MoKind.CONFIRM:
                await self._confirm(conn, mo, None, now)
            case MoKind.CONFIRM_CHOICE:
                await self._confirm(conn, mo, number, now)
            case MoKind.LIST:
                await self._show_list(conn, mo, now)
            case MoKind.MENU_CHOICE:
                await self._menu_choice(conn, mo, number, now)
            case MoKind.UNSUBSCRIBE_ALL:
                await self._unsubscribe_all(conn, mo, now)
            case MoKind.UNSUBSCRIBE:
                await self._td(conn, mo, command.argument, now)
            case MoKind.SUBSCRIBE if command.argument:
                await self._subscribe(conn, mo, command.argument, now)
            case _:
                await self._unrecognised(conn, mo, now)

    async def _reply(self, conn: DbConnection, mo: MoMessage, text: str, purpose: str, now: datetime) -> None:
        await self._messaging.sms(
            conn, mo.msisdn, text, now, purpose=purpose, request_id=reply_id(mo.mo_id, purpose)
        )

    async def _attempt(
        self, conn: DbConnection, mo: MoMessage, outcome: str, now: datetime, sub: Subscription | None = None
    ) -> None:
        self._metrics.confirmations.labels(outcome).inc()
        await self._messaging.record(
            conn, now, mo.msisdn, "confirmation_attempt", sub, "sms", outcome=outcome
        )

    # -- confirming --------------------------------------------------------------------------

    async def _confirm(self, conn: DbConnection, mo: MoMessage, number: int | None, now: datetime) -> None:
        """Y confirms the only waiting order; Y<n> the n-th of the waiting orders last shown."""
        pending = await self._subs.pending(conn, mo.msisdn, now)
        if not pending:
            await self._attempt(conn, mo, ConfirmationOutcome.NO_PENDING, now)
            await self._reply(conn, mo, domain.no_pending_text(self._provider), "no_pending", now)
            return
        if number is None:
            chosen = pending[0] if len(pending) == 1 else None
            outcome = ConfirmationOutcome.ASKED_WHICH
        else:
            menu = await self._subs.menu(conn, mo.msisdn, now)
            picked = menu.pick(MenuPurpose.CONFIRM, number) if menu else None
            chosen = next((s for s in pending if s.id == picked), None)
            outcome = ConfirmationOutcome.STALE_CHOICE
        if chosen is None:
            await self._attempt(conn, mo, outcome, now)
            await self._subs.save_menus(
                conn, {mo.msisdn: [s.id for s in pending]}, now + MENU_TTL, MenuPurpose.CONFIRM
            )
            await self._reply(
                conn, mo, domain.pending_list_text(self._provider, pending), "pending_list", now
            )
            return
        product = await self._products.get(conn, chosen.product_id)
        if product is None or product.status is not ProductStatus.PUBLISHED:
            await self._attempt(conn, mo, ConfirmationOutcome.NOT_ON_SALE, now, chosen)
            await self._steps.cancel(
                conn,
                [chosen],
                "not_on_sale",
                now,
                mo.mo_id,
                lambda provider, _: domain.not_on_sale_text(provider, chosen),
            )
            return
        await self._attempt(conn, mo, ConfirmationOutcome.CONFIRMED, now, chosen)
        await self._steps.confirm(conn, chosen, now, mo.mo_id)

    async def _unrecognised(self, conn: DbConnection, mo: MoMessage, now: datetime) -> None:
        pending = await self._subs.pending(conn, mo.msisdn, now)
        if not pending:
            await self._reply(conn, mo, domain.help_text(self._provider), "help", now)
            return
        await self._attempt(conn, mo, ConfirmationOutcome.UNRECOGNISED, now)
        await self._reply(conn, mo, domain.waiting_text(self._provider, pending), "waiting", now)

    # -- ordering ------------------------------------------------------------------------------

    async def _subscribe(self, conn: DbConnection, mo: MoMessage, code: str, now: datetime) -> None:
        product = await self._products.by_code(conn, code)
        if product is None or product.status is not ProductStatus.PUBLISHED:
            await self._reply(conn, mo, domain.help_text(self._provider), "help", now)
            return
        try:
            await self._steps.place(conn, mo.msisdn, product, "sms", now, reply_id(mo.mo_id, "confirmation"))
        except AlreadySubscribed:
            await self._show_list(conn, mo, now)

    # -- lists and cancelling --------------------------------------------------------------------

    async def _show_list(
        self, conn: DbConnection, mo: MoMessage, now: datetime, shown: list[Subscription] | None = None
    ) -> None:
        """The numbered list of the user's open subscriptions; it is the menu from now on."""
        if shown is None:
            shown = await self._subs.of_user(conn, mo.msisdn, domain.OPEN_STATUSES)
        await self._subs.save_menus(conn, {mo.msisdn: [s.id for s in shown]}, now + MENU_TTL)
        await self._reply(conn, mo, domain.list_text(self._provider, shown), "list", now)

    async def _menu_choice(self, conn: DbConnection, mo: MoMessage, number: int, now: datetime) -> None:
        menu = await self._subs.menu(conn, mo.msisdn, now)
        picked = menu.pick(MenuPurpose.CANCEL, number) if menu else None
        open_now = await self._subs.of_user(conn, mo.msisdn, domain.OPEN_STATUSES, lock=True)
        chosen = [s for s in open_now if s.id == picked]
        if not chosen:  # no list, another kind of list, out of range, or no longer open
            await self._show_list(conn, mo, now, open_now)
            return
        await self._steps.cancel(conn, chosen, "sms_0000", now, mo.mo_id)

    async def _td(self, conn: DbConnection, mo: MoMessage, code: str | None, now: datetime) -> None:
        open_now = await self._subs.of_user(conn, mo.msisdn, domain.OPEN_STATUSES, lock=True)
        if code is not None:
            targets = [s for s in open_now if s.product_code == code]
        else:
            target = domain.pick_td_target(open_now)
            targets = [target] if target else []
        if targets:
            await self._steps.cancel(conn, targets, "sms_td", now, mo.mo_id)
            return
        # Unclear (several products, none recently received) or nothing to cancel: list them.
        await self._show_list(conn, mo, now, open_now)

    async def _unsubscribe_all(self, conn: DbConnection, mo: MoMessage, now: datetime) -> None:
        open_now = await self._subs.of_user(conn, mo.msisdn, domain.OPEN_STATUSES, lock=True)
        await self._messaging.publish(
            conn, UserOptedOut(payload=UserPreference(msisdn=mo.msisdn, occurred_at=now))
        )
        if open_now:
            await self._steps.cancel(conn, open_now, "sms_00000", now, mo.mo_id, domain.opted_out_text)
        else:
            await self._reply(conn, mo, domain.opted_out_text(self._provider, []), "cancelled", now)
