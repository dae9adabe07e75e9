"""HTTP shapes of the subscription service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from subscription.domain import (
    SHANGHAI,
    BillingType,
    CatalogueEntry,
    Charge,
    Partner,
    Product,
    ProductStatus,
    SendingProfile,
    Subscription,
    SubscriptionStatus,
    catalogue_month_rules,
    price_text,
    shanghai_date_text,
)
from vas_common.events.subscription import PartnerStatus, SignaturePlacement
from vas_common.msisdn import MSISDN_PATTERN
from vas_common.types import Instant, JsonInt, MultiLineText, SingleLineText, json_integer, single_line_text


class SendingProfileIn(BaseModel):
    # A constraint goes before the text check: after a validator pydantic leaves it out of the
    # JSON schema, and clients (and the fuzzer) would not know it.
    signature: (
        Annotated[str, Field(pattern=r"^【[^【】]{2,20}】$"), AfterValidator(single_line_text)] | None
    ) = Field(default=None, description="The approved signature, e.g. 【Acme】")
    signature_placement: SignaturePlacement = SignaturePlacement.PREPEND
    access_number: Annotated[str, Field(pattern=r"^106[0-9]{2,17}$")] | None = Field(
        default=None, description="SP access number"
    )
    rate_limit_per_s: Annotated[int, Field(ge=1, le=100_000), BeforeValidator(json_integer)] | None = None

    def domain(self) -> SendingProfile:
        return SendingProfile(**self.model_dump())


class PartnerCreate(BaseModel):
    name: SingleLineText = Field(min_length=1, max_length=120, description="The CP's registered name")
    profile: SendingProfileIn = SendingProfileIn()


class PartnerUpdate(BaseModel):
    status: PartnerStatus | None = None
    profile: SendingProfileIn | None = None


class PartnerOut(BaseModel):
    id: UUID
    name: str
    status: PartnerStatus
    api_key_id: str = Field(
        description="Public identifier of the current key (the key itself is never shown again)"
    )
    created_at: datetime
    updated_at: datetime
    profile: SendingProfileIn

    @classmethod
    def of(cls, partner: Partner) -> PartnerOut:
        return cls(
            id=partner.id,
            name=partner.name,
            status=partner.status,
            api_key_id=partner.api_key_id,
            created_at=partner.created_at,
            updated_at=partner.updated_at,
            profile=SendingProfileIn(**partner.profile.__dict__),
        )


class PartnerWithKeyOut(PartnerOut):
    api_key: str = Field(description="Shown once. Store it now: only its hash is kept.")


class PartnerPage(BaseModel):
    items: list[PartnerOut]
    next_after: UUID | None


class WhoAmI(BaseModel):
    partner_id: str
    name: str


# -- products --------------------------------------------------------------------------------


class ProductIn(BaseModel):
    code: SingleLineText = Field(
        pattern=r"^[A-Za-z0-9]{1,20}$", description="The SMS keyword users send to subscribe"
    )
    name: SingleLineText = Field(min_length=1, max_length=60)
    billing_type: BillingType
    price_fen: JsonInt = Field(
        ge=0, le=100_000, description="Price in fen (0.01 CNY) per month or per message"
    )
    description: MultiLineText = Field(default="", max_length=500, description="What the product does")
    availability: SingleLineText = Field(default="", max_length=200, description="Where it is available")
    how_to_cancel: SingleLineText = Field(default="", max_length=200)
    charge_rule: SingleLineText = Field(
        default="", max_length=200, description="The fee and when it is charged"
    )
    fault_hotline: SingleLineText = Field(default="", max_length=40)
    consult_hotline: SingleLineText = Field(default="", max_length=40)
    first_month: Literal["full", "free"] = Field(
        default="full", description="Charge for the month of sign-up"
    )
    last_month: Literal["full", "none"] = Field(
        default="full", description="Charge for the month of cancellation"
    )


class ProductTerms(ProductIn):
    status: ProductStatus
    price: str = Field(description="The price as users are told it, e.g. 5元/月")
    discontinue_at: datetime | None = Field(
        description="When the product stops, given in Beijing time (+08:00) as users are told it"
    )


class CatalogueEntryOut(ProductTerms):
    """A product as the public sees it: what it is, who provides it and what it costs."""

    provider: str = Field(description="The name of the company that provides the service")
    month_rules: str = Field(
        description="The first/last-month charging rules in words, e.g. 首月免费，退订当月全额收费"
    )
    discontinue_on: str | None = Field(
        description="The day the service stops, as users are told it, e.g. 2027年01月03日（北京时间）"
    )

    @classmethod
    def of(cls, entry: CatalogueEntry) -> Self:
        p = entry.product
        return cls(
            **_product_fields(p),
            provider=entry.provider,
            month_rules=catalogue_month_rules(p.billing_type, p.first_month, p.last_month),
            discontinue_on=shanghai_date_text(p.discontinue_at) if p.discontinue_at else None,
        )


class ProductOut(ProductTerms):
    id: UUID
    partner_id: UUID
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: Product) -> Self:
        return cls(
            **_product_fields(p),
            id=p.id,
            partner_id=p.partner_id,
            created_at=p.created_at,
            updated_at=p.updated_at,
        )


def _product_fields(p: Product) -> dict[str, Any]:
    return {
        "code": p.code,
        "name": p.name,
        "billing_type": p.billing_type,
        "price_fen": p.price_fen,
        "description": p.description,
        "availability": p.availability,
        "how_to_cancel": p.how_to_cancel,
        "charge_rule": p.charge_rule,
        "fault_hotline": p.fault_hotline,
        "consult_hotline": p.consult_hotline,
        "first_month": p.first_month,
        "last_month": p.last_month,
        "status": p.status,
        "price": p.price_text,
        "discontinue_at": p.discontinue_at.astimezone(SHANGHAI) if p.discontinue_at else None,
    }


class DiscontinuationIn(BaseModel):
    effective_at: Instant = Field(description="At least 30 days from now")
    reason: SingleLineText = Field(min_length=1, max_length=200)


class DiscontinuationOut(BaseModel):
    product: ProductOut
    subscribers_notified: int


# -- subscriptions ---------------------------------------------------------------------------


class SubscriptionIn(BaseModel):
    msisdn: str = Field(pattern=MSISDN_PATTERN, description="The user's mobile number, +86 optional")
    product_code: SingleLineText = Field(pattern=r"^[A-Za-z0-9]{1,20}$")


class SubscriptionOut(BaseModel):
    id: UUID
    msisdn: str
    product_code: str
    product_name: str
    price: str
    status: SubscriptionStatus
    channel: str
    requested_at: datetime
    confirm_by: datetime
    confirmed_at: datetime | None
    ended_at: datetime | None
    end_channel: str | None
    confirmation_sms: str | None = Field(
        default=None,
        description=(
            "The final outcome known of the order's confirmation SMS while it waited: delivered, failed, "
            "expired or unknown; null while none is known (or for an order placed before it was kept)"
        ),
    )
    expiry_reason: str | None = Field(
        default=None,
        description=(
            "Why an expired order expired: answer_unmatched, confirmation_undelivered, confirmation_late "
            "(failures on our side) or never_answered"
        ),
    )

    @classmethod
    def of(cls, s: Subscription) -> SubscriptionOut:
        return cls(
            id=s.id,
            msisdn=s.msisdn,
            product_code=s.product_code,
            product_name=s.product_name,
            price=price_text(s.price_fen, s.billing_type),
            status=s.status,
            channel=s.channel,
            requested_at=s.requested_at,
            confirm_by=s.confirm_by,
            confirmed_at=s.confirmed_at,
            ended_at=s.ended_at,
            end_channel=s.end_channel,
            confirmation_sms=s.confirmation_outcome,
            expiry_reason=s.expiry_reason,
        )


class SuspensionIn(BaseModel):
    effective_at: Instant = Field(description="At least 24 hours from now")
    reason: SingleLineText = Field(min_length=1, max_length=200)


class RegistrationSuccessOut(BaseModel):
    since: datetime
    until: datetime
    rule: str = Field(
        default=(
            "Orders placed in [since, until): rate = confirmed / (confirmed + failed). An order failed "
            "when it expired unconfirmed for a reason on our side (failed_by_reason): the user answered "
            "and we could not match or read it (answer_unmatched), the confirmation SMS finally failed "
            "(confirmation_undelivered), or it was not known delivered before the order's 24 h ran out "
            "(confirmation_late). Orders whose user got the confirmation SMS and never answered "
            "(never_answered), withdrawn before a Y (withdrawn) and still waiting (waiting) are counted "
            "apart."
        )
    )
    orders: int
    confirmed: int
    failed: int
    never_answered: int
    withdrawn: int
    waiting: int
    attempts: dict[str, int] = Field(description="Confirmation attempts in the period, by outcome")
    failed_by_reason: dict[str, int] = Field(
        description=(
            "The failed orders by reason: answer_unmatched, confirmation_undelivered, confirmation_late "
            "(each present; they add up to failed)"
        )
    )
    rate: float
    promise: float = 0.999
    met: bool


class JobResult(BaseModel):
    job: str
    affected: int


# -- billing ---------------------------------------------------------------------------------

PERIOD_PATTERN = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"
Period = Annotated[str, Field(pattern=PERIOD_PATTERN, description="A month, YYYY-MM (Asia/Shanghai)")]


class BillingRunIn(BaseModel):
    period: Period


class BillingRunOut(BaseModel):
    period: str
    charged: int = Field(description="Charges this run made")
    amount_fen: int = Field(description="Their sum")
    already_charged: int = Field(
        description="Users and products due for the period whose month was charged before"
    )


class RefundIn(BaseModel):
    amount_fen: JsonInt = Field(gt=0, le=10_000_000)
    reason: SingleLineText = Field(min_length=1, max_length=200)


class ChargeOut(BaseModel):
    id: UUID
    msisdn: str
    subscription_id: UUID
    product_code: str
    amount_fen: int = Field(description="Negative for a refund")
    reason: str
    charged_at: datetime
    period: str | None = Field(description="The month a monthly fee is for")
    message_id: UUID | None = Field(description="The delivered message a per-message fee is for")
    refund_of: UUID | None = Field(description="The charge a refund returns money of")

    @classmethod
    def of(cls, c: Charge) -> ChargeOut:
        return cls(
            id=c.id,
            msisdn=c.msisdn,
            subscription_id=c.subscription_id,
            product_code=c.product_code,
            amount_fen=c.amount_fen,
            reason=c.reason,
            charged_at=c.charged_at,
            period=c.period,
            message_id=c.message_id,
            refund_of=c.refund_of,
        )


class UserChargesOut(BaseModel):
    msisdn: str
    month: str
    charges: list[ChargeOut]
    total_fen: int = Field(description="What the user paid in the month: charges less refunds")


# -- records and legal holds -----------------------------------------------------------------


class OrderRecordOut(BaseModel):
    occurred_at: datetime
    kind: str
    product_code: str | None
    channel: str | None
    subscription_id: UUID | None
    detail: dict[str, Any]


class UserRecordsOut(BaseModel):
    msisdn: str
    time_zone: str = Field(description="The zone every time in this list is given in (IANA name)")
    since: datetime | None = Field(serialization_alias="from")
    until: datetime | None = Field(serialization_alias="to")
    records: list[OrderRecordOut]


LEGAL_HOLDER_PATTERN = r"^legal(:[A-Za-z0-9._-]{1,64})?$"
LEGAL_HOLDER_DESCRIPTION = (
    "Which legal hold: `legal` (the default), or `legal:<name>` to keep several apart"
    " (a case number); releasing one never lifts another, nor a complaint's dispute hold"
)


class LegalHoldIn(BaseModel):
    msisdn: str = Field(pattern=MSISDN_PATTERN, description="The user's mobile number, +86 optional")
    reason: SingleLineText = Field(
        min_length=1, max_length=200, description="e.g. the complaint or case it is for"
    )
    holder: str = Field(default="legal", pattern=LEGAL_HOLDER_PATTERN, description=LEGAL_HOLDER_DESCRIPTION)


class HoldOut(BaseModel):
    msisdn: str
    holder: str = Field(description="`legal`, `legal:<name>`, or `complaint:<complaint id>` (a dispute hold)")
    reason: str
    placed_at: datetime


class LegalHoldOut(HoldOut):
    pass


class UserHoldsOut(BaseModel):
    msisdn: str
    held: bool = Field(description="Whether the user's records are kept past the retention horizon")
    holds: list[HoldOut]


class RetentionOut(JobResult):
    cutoff: datetime = Field(description="Records older than this are gone, unless their user is held")
    partitions_created: list[str]
    partitions_dropped: list[str]
    records_deleted: int
    charges_deleted: int
    subscriptions_deleted: int = Field(description="Subscriptions that ended before the cutoff")
    processed_mo_deleted: int = Field(description="Ids of handled MO past the 7 days an MO could come again")
    refund_requests_deleted: int = Field(
        default=0, description="Complaints' refund requests handled before the cutoff, of users not held"
    )
