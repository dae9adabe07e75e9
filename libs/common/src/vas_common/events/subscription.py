"""Events produced by the subscription service on `subscription.events`."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime

from vas_common.events.envelope import Event, Payload

PRODUCER = "subscription"


class PartnerStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class SignaturePlacement(StrEnum):
    PREPEND = "prepend"  # the sms-sender puts the signature in front when it is missing
    REQUIRE = "require"  # content without the signature is refused


class PartnerState(Payload):
    """The whole current state of a partner (event-carried state transfer).

    `revision` grows with every change, so a consumer keeps the newest state even if it
    sees an older event again (at-least-once delivery, replays).
    """

    partner_id: UUID
    name: str
    status: PartnerStatus
    api_key_id: str
    api_key_sha256: str
    revision: int
    updated_at: AwareDatetime
    # Sending profile (optional so that older events still read):
    signature: str | None = None  # the approved 【…】 signature
    signature_placement: SignaturePlacement = SignaturePlacement.PREPEND
    access_number: str | None = None  # the partner's SP access number; None: the provider default
    rate_limit_per_s: int | None = None  # messages per second; None: the sms-sender default


class _PartnerEvent(Event):
    producer: str = PRODUCER
    payload: PartnerState

    def key(self) -> str:
        return str(self.payload.partner_id)


class PartnerCreated(_PartnerEvent):
    type: Literal["partner.created"] = "partner.created"


class PartnerKeyRotated(_PartnerEvent):
    type: Literal["partner.key_rotated"] = "partner.key_rotated"


class PartnerStatusChanged(_PartnerEvent):
    type: Literal["partner.status_changed"] = "partner.status_changed"


class PartnerProfileChanged(_PartnerEvent):
    type: Literal["partner.profile_changed"] = "partner.profile_changed"


PARTNER_EVENTS = (PartnerCreated, PartnerKeyRotated, PartnerStatusChanged, PartnerProfileChanged)


class SubscriptionState(Payload):
    """A subscription as it is now; `status` says whether the user may get the product's content."""

    subscription_id: UUID
    msisdn: str
    product_code: str
    partner_id: UUID
    status: str  # pending | active | expired | cancelled | suspended | ended
    channel: str
    occurred_at: AwareDatetime


class _SubscriptionEvent(Event):
    producer: str = PRODUCER
    payload: SubscriptionState

    def key(self) -> str:
        return self.payload.msisdn


class SubscriptionRequested(_SubscriptionEvent):
    type: Literal["subscription.requested"] = "subscription.requested"


class SubscriptionConfirmed(_SubscriptionEvent):
    type: Literal["subscription.confirmed"] = "subscription.confirmed"


class ExpiryReason(StrEnum):
    """Why an order expired unconfirmed, the first that holds in this order (each but the last is
    a failure on our side, counted in the registration success rate):

    - `answer_unmatched`: the user tried to answer while it waited (an answer we could not read, a
      Y<n> we could not match to it);
    - `confirmation_undelivered`: the confirmation SMS finally failed (refused, undeliverable,
      given up at its validity's end or its fate never learnt);
    - `confirmation_late`: no delivery of the confirmation SMS was known before the order's
      confirmation window closed (timeout on our side);
    - `never_answered`: the confirmation SMS was delivered and the user never answered (counted
      apart, not a failure)."""

    ANSWER_UNMATCHED = "answer_unmatched"
    CONFIRMATION_UNDELIVERED = "confirmation_undelivered"
    CONFIRMATION_LATE = "confirmation_late"
    NEVER_ANSWERED = "never_answered"

    @property
    def is_failure(self) -> bool:
        """A failure on our side (the rate counts it), not the user's choice."""
        return self is not ExpiryReason.NEVER_ANSWERED


SYSTEM_FAILURES = tuple(r for r in ExpiryReason if r.is_failure)


class ExpiredState(SubscriptionState):
    """An order that expired unconfirmed. `answered`: whether the user had tried to answer while
    it waited (an answer we could not read, a Y<n> we could not match to it: a failure on our
    side) or never answered; None in events published before the field existed. `reason`: why it
    expired (ExpiryReason); None in events published before it existed, whose readers judge by
    `answered` alone. A reader that knows `reason` counts a failure by it: `answered` false with
    a `confirmation_undelivered` reason is still a failure (the user never got the question).
    A string, not the enum, so that a reason added later does not make the event unreadable to
    older readers (as HealthCheckResult.check): a reason a reader does not know counts as a
    failure on our side."""

    answered: bool | None = None
    reason: str | None = None  # an ExpiryReason value


class SubscriptionExpired(_SubscriptionEvent):
    type: Literal["subscription.expired"] = "subscription.expired"
    payload: ExpiredState


class SubscriptionCancelled(_SubscriptionEvent):
    type: Literal["subscription.cancelled"] = "subscription.cancelled"


class SubscriptionSuspended(_SubscriptionEvent):
    type: Literal["subscription.suspended"] = "subscription.suspended"


class SubscriptionEnded(_SubscriptionEvent):
    """Ended by the provider: the product was discontinued."""

    type: Literal["subscription.ended"] = "subscription.ended"


class UserPreference(Payload):
    msisdn: str
    occurred_at: AwareDatetime


class UserOptedOut(Event):
    """The user sent 00000: no content of any kind until they subscribe again."""

    producer: str = PRODUCER
    type: Literal["user.opted_out"] = "user.opted_out"
    payload: UserPreference

    def key(self) -> str:
        return self.payload.msisdn


class UserOptedIn(Event):
    producer: str = PRODUCER
    type: Literal["user.opted_in"] = "user.opted_in"
    payload: UserPreference

    def key(self) -> str:
        return self.payload.msisdn


LEGAL_HOLDER = "legal"


class LegalHold(Payload):
    msisdn: str
    held: bool
    reason: str | None = None
    occurred_at: AwareDatetime
    # Holds are per (msisdn, holder): `legal`, or `legal:<name>` when several are kept apart.
    # Events written before holders existed read as the one legal hold.
    holder: str = LEGAL_HOLDER


class LegalHoldChanged(Event):
    """Records of a held user are kept past the 6-month retention (every service that keeps them)
    while any holder remains: this legal holder, another one, or a complaint's dispute hold."""

    producer: str = PRODUCER
    type: Literal["user.legal_hold_changed"] = "user.legal_hold_changed"
    payload: LegalHold

    def key(self) -> str:
        return self.payload.msisdn


class Charge(Payload):
    charge_id: UUID
    msisdn: str
    subscription_id: UUID
    product_code: str
    amount_fen: int  # negative for a refund
    period: str | None = None
    message_id: UUID | None = None
    reason: str
    charged_at: AwareDatetime


class Charged(Event):
    producer: str = PRODUCER
    type: Literal["billing.charged"] = "billing.charged"
    payload: Charge

    def key(self) -> str:
        return self.payload.msisdn


class RefundCharge(Charge):
    """A refund: a negative charge naming the charge it returns money of, and, when a complaint
    asked for it (complaint.refund_requested), the request and the complaint."""

    refund_of: UUID | None = None
    request_id: UUID | None = None
    complaint_id: UUID | None = None


class Refunded(Event):
    producer: str = PRODUCER
    type: Literal["billing.refunded"] = "billing.refunded"
    payload: RefundCharge

    def key(self) -> str:
        return self.payload.msisdn


class RefundFailure(Payload):
    """A complaint's refund request that was refused: `code` says why (`charge_not_found`,
    `charge_of_another_user`, `charge_not_refundable`, `refund_exceeds_charge`)."""

    request_id: UUID
    complaint_id: UUID
    msisdn: str
    charge_id: UUID
    amount_fen: int
    code: str
    detail: str
    refundable_fen: int | None = None  # what is left to refund of the charge, when it is the user's
    occurred_at: AwareDatetime


class RefundFailed(Event):
    producer: str = PRODUCER
    type: Literal["billing.refund_failed"] = "billing.refund_failed"
    payload: RefundFailure

    def key(self) -> str:
        return self.payload.msisdn


class ProductOwnership(Payload):
    """Which partner a product belongs to. A product code is never reused and never changes
    hands, so this is sent once, when the product is created."""

    product_id: UUID
    product_code: str
    partner_id: UUID
    occurred_at: AwareDatetime


class ProductCreated(Event):
    """A partner created a product: only that partner may send under its code or be paid for it."""

    producer: str = PRODUCER
    type: Literal["product.created"] = "product.created"
    payload: ProductOwnership

    def key(self) -> str:
        return str(self.payload.product_id)


class ProductListing(Payload):
    """A product as the public catalogue shows it (the terms a user is told before signing up):
    what other services publish about the provider's services, e.g. the status page's tariffs."""

    product_id: UUID
    product_code: str
    partner_id: UUID
    name: str
    provider: str  # the partner's name
    billing_type: str  # monthly | per_message
    price_fen: int
    price: str  # as users are told it, e.g. 5元/月
    description: str
    availability: str  # the scope: where and to whom it is offered
    how_to_cancel: str
    charge_rule: str
    month_rules: str
    fault_hotline: str
    consult_hotline: str
    occurred_at: AwareDatetime


class ProductPublished(Event):
    """A product went on sale; its product code never changes hands and its terms do not change
    while it is on sale (a new product is made instead)."""

    producer: str = PRODUCER
    type: Literal["product.published"] = "product.published"
    payload: ProductListing

    def key(self) -> str:
        return str(self.payload.product_id)


class ProductNotice(Payload):
    product_id: UUID
    product_code: str
    effective_at: AwareDatetime
    reason: str
    # When the subscribers' notices were queued (the service's clock); None in events published
    # before the field existed (then the envelope's occurred_at says it).
    noticed_at: AwareDatetime | None = None


class ProductDiscontinuationScheduled(Event):
    producer: str = PRODUCER
    type: Literal["product.discontinuation_scheduled"] = "product.discontinuation_scheduled"
    payload: ProductNotice

    def key(self) -> str:
        return str(self.payload.product_id)


class ProductDiscontinued(Event):
    producer: str = PRODUCER
    type: Literal["product.discontinued"] = "product.discontinued"
    payload: ProductNotice

    def key(self) -> str:
        return str(self.payload.product_id)


class SuspensionNotice(Payload):
    """A user's active subscriptions are to be suspended at `effective_at` (at least 24 h later).
    `notified`: the active subscriptions the SMS notice queued with this event names; 0: the
    number had nothing to suspend and got no SMS."""

    msisdn: str
    effective_at: AwareDatetime
    reason: str
    notified: int
    noticed_at: AwareDatetime


class SuspensionScheduled(Event):
    producer: str = PRODUCER
    type: Literal["subscription.suspension_scheduled"] = "subscription.suspension_scheduled"
    payload: SuspensionNotice

    def key(self) -> str:
        return self.payload.msisdn


class MaintenanceNoticeCount(Payload):
    """The subscription service has sent a maintenance notice (incident.events) to every active
    subscriber of the window's products: how many users it went to, in all (a redelivered notice
    repeats the same total; each user is told once per notice)."""

    window_id: UUID
    notice: int
    notice_type: str  # the incident event it answers, e.g. incident.maintenance_rescheduled
    product_codes: list[str]
    subscribers_notified: int
    completed_at: AwareDatetime


class MaintenanceNoticesSent(Event):
    producer: str = PRODUCER
    type: Literal["maintenance.notices_sent"] = "maintenance.notices_sent"
    payload: MaintenanceNoticeCount

    def key(self) -> str:
        return str(self.payload.window_id)


SUBSCRIPTION_EVENTS = (
    SubscriptionRequested,
    SubscriptionConfirmed,
    SubscriptionExpired,
    SubscriptionCancelled,
    SubscriptionSuspended,
    SubscriptionEnded,
)
EVENTS = (
    *PARTNER_EVENTS,
    *SUBSCRIPTION_EVENTS,
    UserOptedOut,
    UserOptedIn,
    LegalHoldChanged,
    Charged,
    Refunded,
    RefundFailed,
    ProductCreated,
    ProductPublished,
    ProductDiscontinuationScheduled,
    ProductDiscontinued,
    SuspensionScheduled,
    MaintenanceNoticesSent,
)
