"""Rules of the subscription service: partners, products and tariffs, subscriptions, MO commands,
the texts users get, billing periods. Pure: no I/O."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from vas_common.auth import IssuedApiKey, issue_api_key
from vas_common.events.sms_sender import MessageOutcome, MessageState, MessageStatus
from vas_common.events.subscription import Charge as ChargePayload
from vas_common.events.subscription import ExpiryReason, PartnerState, PartnerStatus, SignaturePlacement
from vas_common.mo_routing import COMPLAINT_KEYWORDS, complaint_text


@dataclass(frozen=True)
class SendingProfile:
    signature: str | None = None
    signature_placement: SignaturePlacement = SignaturePlacement.PREPEND
    access_number: str | None = None
    rate_limit_per_s: int | None = None


@dataclass(frozen=True)
class Partner:
    id: UUID
    name: str
    status: PartnerStatus
    api_key_id: str
    api_key_sha256: str
    revision: int
    created_at: datetime
    updated_at: datetime
    profile: SendingProfile = SendingProfile()

    def state(self) -> PartnerState:
        return PartnerState(
            partner_id=self.id,
            name=self.name,
            status=self.status,
            api_key_id=self.api_key_id,
            api_key_sha256=self.api_key_sha256,
            revision=self.revision,
            updated_at=self.updated_at,
            signature=self.profile.signature,
            signature_placement=self.profile.signature_placement,
            access_number=self.profile.access_number,
            rate_limit_per_s=self.profile.rate_limit_per_s,
        )


def new_partner(
    name: str, now: datetime, profile: SendingProfile | None = None
) -> tuple[Partner, IssuedApiKey]:
    key = issue_api_key()
    partner = Partner(
        id=uuid4(),
        name=name.strip(),
        status=PartnerStatus.ACTIVE,
        api_key_id=key.key_id,
        api_key_sha256=key.sha256,
        revision=1,
        created_at=now,
        updated_at=now,
        profile=profile or SendingProfile(),
    )
    return partner, key


def rotate_key(partner: Partner, now: datetime) -> tuple[Partner, IssuedApiKey]:
    """A new key replaces the old one at once: the old key is revoked by the same change."""
    key = issue_api_key()
    rotated = replace(
        partner,
        api_key_id=key.key_id,
        api_key_sha256=key.sha256,
        revision=partner.revision + 1,
        updated_at=now,
    )
    return rotated, key


def change_status(partner: Partner, status: PartnerStatus, now: datetime) -> Partner | None:
    """The partner with its new status, or None when nothing changes."""
    if partner.status == status:
        return None
    return replace(partner, status=status, revision=partner.revision + 1, updated_at=now)


def merged_profile(profile: SendingProfile, changes: Mapping[str, Any]) -> SendingProfile:
    """The profile with the fields named in `changes` replaced; the others are kept."""
    return replace(profile, **changes)


def change_profile(partner: Partner, profile: SendingProfile, now: datetime) -> Partner | None:
    if partner.profile == profile:
        return None
    return replace(partner, profile=profile, revision=partner.revision + 1, updated_at=now)


def access_numbers_overlap(a: str, b: str) -> bool:
    """One is a prefix of the other: an extension of the shorter reaches the longer's range."""
    return a.startswith(b) or b.startswith(a)


# -- products and tariffs -------------------------------------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")


class BillingType(StrEnum):
    MONTHLY = "monthly"
    PER_MESSAGE = "per_message"


class ProductStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    DISCONTINUING = "discontinuing"
    DISCONTINUED = "discontinued"


# What a user must be told before signing up; a product missing any of them cannot be published.
REQUIRED_DISCLOSURES = (
    "description",
    "availability",
    "how_to_cancel",
    "charge_rule",
    "fault_hotline",
    "consult_hotline",
)


@dataclass(frozen=True)
class Product:
    id: UUID
    partner_id: UUID
    code: str
    name: str
    billing_type: BillingType
    price_fen: int
    description: str
    availability: str
    how_to_cancel: str
    charge_rule: str
    fault_hotline: str
    consult_hotline: str
    first_month: str  # full | free
    last_month: str  # full | none
    status: ProductStatus
    discontinue_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def missing_disclosures(self) -> list[str]:
        return [name for name in REQUIRED_DISCLOSURES if not str(getattr(self, name)).strip()]

    @property
    def price_text(self) -> str:
        return price_text(self.price_fen, self.billing_type)


def price_text(price_fen: int, billing_type: BillingType) -> str:
    yuan = f"{price_fen / 100:.2f}".rstrip("0").rstrip(".")
    return f"{yuan}元/月" if billing_type is BillingType.MONTHLY else f"{yuan}元/条"


@dataclass(frozen=True)
class CatalogueEntry:
    """A product on sale and the name of the partner who provides it."""

    product: Product
    provider: str


class FirstMonthRule(StrEnum):
    FULL = "full"
    FREE = "free"


class LastMonthRule(StrEnum):
    FULL = "full"
    NONE = "none"


_FIRST_MONTH_TEXT = {FirstMonthRule.FULL: "首月全额收费", FirstMonthRule.FREE: "首月免费"}
_LAST_MONTH_TEXT = {LastMonthRule.FULL: "退订当月全额收费", LastMonthRule.NONE: "退订当月不收费"}


def first_month_text(rule: str) -> str:
    return _FIRST_MONTH_TEXT[FirstMonthRule(rule)]


def last_month_text(rule: str) -> str:
    return _LAST_MONTH_TEXT[LastMonthRule(rule)]


# What monthly_fee guarantees, in the words the catalogue gives it.
ONE_FEE_A_MONTH = "同一用户同一业务每个自然月（北京时间）最多收取一次月费，当月退订后再次订购不重复收费。"


def catalogue_month_rules(billing_type: BillingType, first_month: str, last_month: str) -> str:
    """The first/last-month rules as a user reads them; when they disagree, also what a month in
    which the user both orders and cancels costs."""
    if billing_type is not BillingType.MONTHLY:
        return "按条收费，不收月功能费"
    first, last = FirstMonthRule(first_month), LastMonthRule(last_month)
    text = f"{first_month_text(first)}，{last_month_text(last)}"
    if (first is FirstMonthRule.FREE) != (last is LastMonthRule.NONE):
        same_month = "按月全额收费" if _same_month_charged(first, last) else "当月不收费"
        text += f"；当月订购又当月退订的，{same_month}"
    return f"{text}。{ONE_FEE_A_MONTH}"


def _same_month_charged(first: FirstMonthRule, last: LastMonthRule) -> bool:
    # Asks the billing rule itself, so that the catalogue cannot promise what billing does not do.
    period = "2000-01"
    start, _ = period_bounds(period)
    return monthly_charge(start, start + timedelta(days=1), 1, first, last, period) is not None


def shanghai_date_text(moment: datetime) -> str:
    """A date as users are told it: the Asia/Shanghai calendar day, labelled."""
    return moment.astimezone(SHANGHAI).strftime("%Y年%m月%d日") + "（北京时间）"


# -- subscriptions --------------------------------------------------------------------------

CONFIRMATION_WINDOW = timedelta(hours=24)
DISCONTINUE_NOTICE = timedelta(days=30)
SUSPEND_NOTICE = timedelta(hours=24)


class SubscriptionStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    SUSPENDED = "suspended"
    ENDED = "ended"


OPEN_STATUSES = (SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED)


@dataclass(frozen=True)
class Subscription:
    id: UUID
    msisdn: str
    product_id: UUID
    product_code: str
    product_name: str
    price_fen: int
    billing_type: BillingType
    partner_id: UUID
    status: SubscriptionStatus
    channel: str
    requested_at: datetime
    confirm_by: datetime
    confirmed_at: datetime | None
    ended_at: datetime | None
    end_channel: str | None
    last_content_at: datetime | None
    # The confirmation SMS: its message id at the sms-sender, its strongest final outcome known
    # (None: none yet) and when that happened (see `ConfirmationFate`).
    confirmation_request_id: UUID | None = None
    confirmation_outcome: MessageOutcome | None = None
    confirmation_outcome_at: datetime | None = None
    expiry_reason: ExpiryReason | None = None


# -- the confirmation SMS's fate and why an order expired ------------------------------------

# Final outcomes of a confirmation SMS by strength: the strongest seen is kept. A delivered
# receipt wins over every failure (the sms-sender says delivered only when every segment was, so
# a failure it reported before was a give-up a later receipt contradicts); among failures a
# definite one (refused, undeliverable) wins over an expiry at the SMSC, which wins over a fate
# never learnt. Keeping the maximum makes the result the same whatever order the statuses come
# in and however often each is redelivered.
_OUTCOME_STRENGTH = {
    MessageOutcome.UNKNOWN: 0,
    MessageOutcome.EXPIRED: 1,
    MessageOutcome.FAILED: 2,
    MessageOutcome.DELIVERED: 3,
}
OUTCOMES_BY_STRENGTH = tuple(sorted(_OUTCOME_STRENGTH, key=_OUTCOME_STRENGTH.__getitem__))


@dataclass(frozen=True)
class ConfirmationFate:
    """A final outcome of a system message (perhaps an order's confirmation SMS) and its time."""

    message_id: UUID
    outcome: MessageOutcome
    at: datetime

    def stronger(self, other: ConfirmationFate) -> ConfirmationFate:
        """The one to keep of two fates of one message: the stronger outcome; of equal ones, the
        earlier (so that a copy with another done time changes nothing either)."""
        mine, theirs = _OUTCOME_STRENGTH[self.outcome], _OUTCOME_STRENGTH[other.outcome]
        if mine != theirs:
            return self if mine > theirs else other
        return self if self.at <= other.at else other


def system_message_fate(state: MessageState, fallback_at: datetime) -> ConfirmationFate | None:
    """The final outcome a provider system message's status says, if it is one (a partner's
    message or a status on the way says nothing). A failed status from a sender release without
    `outcome` counts as failed."""
    if state.partner_id is not None:
        return None
    if state.status is MessageStatus.DELIVERED:
        outcome = MessageOutcome.DELIVERED
    elif state.status is MessageStatus.FAILED:
        outcome = (
            state.outcome if state.outcome not in (None, MessageOutcome.DELIVERED) else MessageOutcome.FAILED
        )
    else:
        return None
    return ConfirmationFate(state.message_id, outcome, state.done_at or fallback_at)


def strongest_fates(fates: Sequence[ConfirmationFate]) -> list[ConfirmationFate]:
    """One fate per message: the one to keep of those given."""
    kept: dict[UUID, ConfirmationFate] = {}
    for fate in fates:
        seen = kept.get(fate.message_id)
        kept[fate.message_id] = fate if seen is None else seen.stronger(fate)
    return list(kept.values())


def expiry_reason(sub: Subscription, answered: bool) -> ExpiryReason:
    """Why this order expires unconfirmed (ExpiryReason's order is the precedence): the user's
    attempt to answer first (whatever became of the SMS, they were trying and we failed them),
    then the confirmation SMS finally failed, then no delivery known by the window's end (none,
    or one done after it); else the user had the question and never answered. An order placed
    before its confirmation SMS was tracked is judged as then: by `answered` alone."""
    if answered:
        return ExpiryReason.ANSWER_UNMATCHED
    if sub.confirmation_request_id is None:
        return ExpiryReason.NEVER_ANSWERED
    outcome, at = sub.confirmation_outcome, sub.confirmation_outcome_at
    if outcome is not None and outcome is not MessageOutcome.DELIVERED:
        return ExpiryReason.CONFIRMATION_UNDELIVERED
    if outcome is None or at is None or at > sub.confirm_by:
        return ExpiryReason.CONFIRMATION_LATE
    return ExpiryReason.NEVER_ANSWERED


# -- MO commands ----------------------------------------------------------------------------


class MoKind(StrEnum):
    CONFIRM = "confirm"  # Y, 是, 确认, OK …: the user's only pending order, or a question which
    CONFIRM_CHOICE = "confirm_choice"  # Y<n>: the n-th order of the last pending list shown
    UNSUBSCRIBE = "unsubscribe"  # TD, 退订, 取消, each alone or with a product code
    LIST = "list"  # 0000
    UNSUBSCRIBE_ALL = "unsubscribe_all"  # 00000
    MENU_CHOICE = "menu_choice"  # a number: the n-th subscription of the last list shown
    SUBSCRIBE = "subscribe"  # a product code
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class MoCommand:
    kind: MoKind
    argument: str | None = None


_CODE = re.compile(r"^[A-Z0-9]{1,20}$")
_CHOICE = re.compile(r"^[0-9]{1,2}$")

# The words an MO is read by. A product code must be none of them, nor start with an
# unsubscribe word, nor be a number (numbers answer a list) or Y and a number: no user could
# order it. Users answer the way they talk, so the common affirmatives all confirm.
CONFIRM_WORDS = ("Y", "YES", "OK", "是", "是的", "确认", "确定", "同意", "好", "好的")
CONFIRM_CHOICE_PREFIX = "Y"
UNSUBSCRIBE_PREFIX = "TD"
UNSUBSCRIBE_WORDS = (UNSUBSCRIBE_PREFIX, "退订", "取消")
LIST_WORD = "0000"
UNSUBSCRIBE_ALL_WORD = "00000"
# What people put around a one-word answer: "Y.", "是的！", "OK~".
_ANSWER_PUNCTUATION = ".,!?~;:'\"。，！？～；：、…·“”‘’"


def _mo_word(text: str) -> str:
    """The word an MO says: full-width forms as ASCII (ｙ → Y), upper case, no spaces, and no
    punctuation around it."""
    word = unicodedata.normalize("NFKC", text).upper()
    word = "".join(word.split())
    return word.strip(_ANSWER_PUNCTUATION)


def parse_mo(text: str) -> MoCommand:
    word = _mo_word(text)
    if word in CONFIRM_WORDS:
        return MoCommand(MoKind.CONFIRM)
    if word.startswith(CONFIRM_CHOICE_PREFIX) and _CHOICE.match(word[1:]) and int(word[1:]) >= 1:
        return MoCommand(MoKind.CONFIRM_CHOICE, str(int(word[1:])))
    for prefix in UNSUBSCRIBE_WORDS:
        if word == prefix:
            return MoCommand(MoKind.UNSUBSCRIBE)
        if word.startswith(prefix) and _CODE.match(word[len(prefix) :]):
            return MoCommand(MoKind.UNSUBSCRIBE, word[len(prefix) :])
    if word == LIST_WORD:
        return MoCommand(MoKind.LIST)
    if word == UNSUBSCRIBE_ALL_WORD:
        return MoCommand(MoKind.UNSUBSCRIBE_ALL)
    if _CHOICE.match(word) and int(word) >= 1:
        return MoCommand(MoKind.MENU_CHOICE, str(int(word)))
    if _CODE.match(word):
        return MoCommand(MoKind.SUBSCRIBE, word)
    return MoCommand(MoKind.UNKNOWN)


def reserved_word(code: str) -> str | None:
    """The MO word a product code would be taken for (the code itself, TD for a code that
    starts with it), or None when users can order a product by this code."""
    word = _mo_word(code)
    if word.startswith(UNSUBSCRIBE_PREFIX):
        return UNSUBSCRIBE_PREFIX
    if complaint_text(word, COMPLAINT_KEYWORDS) is not None:  # the complaints service's
        return word
    if word in CONFIRM_WORDS or word.isdigit():
        return word
    if parse_mo(word).kind is not MoKind.SUBSCRIBE:
        return word
    return None


class MenuPurpose(StrEnum):
    CANCEL = "cancel"  # a number cancels the subscription shown under it
    CONFIRM = "confirm"  # Y<n> confirms the order shown under n


@dataclass(frozen=True)
class Menu:
    """The last numbered list a user was shown: what their next number (or Y<n>) refers to."""

    purpose: MenuPurpose
    items: list[UUID]

    def pick(self, purpose: MenuPurpose, number: int) -> UUID | None:
        if self.purpose is not purpose or not 1 <= number <= len(self.items):
            return None
        return self.items[number - 1]


def pick_td_target(active: list[Subscription]) -> Subscription | None:
    """'TD' alone: the product whose content the user got most recently; None when unclear."""
    if len(active) == 1:
        return active[0]
    with_content = [s for s in active if s.last_content_at is not None]
    if not with_content:
        return None
    with_content.sort(key=lambda s: s.last_content_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    if len(with_content) > 1 and with_content[0].last_content_at == with_content[1].last_content_at:
        return None
    return with_content[0]


# -- texts the user gets ---------------------------------------------------------------------


def confirmation_request(provider: str, product: Product, partner_name: str) -> str:
    return (
        f"【{provider}】您正在订购{partner_name}的“{product.name}”业务，资费{product.price_text}，"
        f"{product.charge_rule}。回复Y确认订购（24小时内有效），不回复则不订购、不收费。"
        f"退订回复TD{product.code}。客服电话{product.consult_hotline}。"
    )


def confirmed_text(provider: str, sub: Subscription) -> str:
    return (
        f"【{provider}】您已成功订购“{sub.product_name}”，资费{price_text(sub.price_fen, sub.billing_type)}。"
        f"退订请回复TD{sub.product_code}，退订免费。"
    )


def _names(subs: Sequence[Subscription]) -> str:
    return "、".join(f"“{s.product_name}”" for s in subs)


def _cancellations(subs: Sequence[Subscription]) -> list[str]:
    """What cancelling these (as they were before) did: a confirmed subscription is 退订, an
    order never confirmed was only withdrawn and cost nothing."""
    confirmed = [s for s in subs if s.status is not SubscriptionStatus.PENDING]
    withdrawn = [s for s in subs if s.status is SubscriptionStatus.PENDING]
    done = []
    if confirmed:
        done.append(f"您已成功退订{_names(confirmed)}，退订立即生效，不再收费")
    if withdrawn:
        done.append(f"您已取消尚未确认的订购{_names(withdrawn)}，未收取任何费用")
    return done


def cancelled_text(provider: str, subs: Sequence[Subscription]) -> str:
    return f"【{provider}】{'；'.join(_cancellations(subs))}。"


def opted_out_text(provider: str, subs: Sequence[Subscription]) -> str:
    """The answer to 00000: what it cancelled, and that no promotion comes any more."""
    done = _cancellations(subs) or ["您当前没有订购任何业务"]
    return (
        f"【{provider}】{'；'.join(done)}。您已退订全部业务，今后不再收到业务推广短信；"
        "再次订购任一业务即恢复。"
    )


_STATE_LABEL = {SubscriptionStatus.PENDING: "（待确认）", SubscriptionStatus.SUSPENDED: "（已暂停）"}


def list_text(provider: str, subs: Sequence[Subscription]) -> str:
    """The user's subscriptions in every state but ended, numbered: the menu a number refers to."""
    if not subs:
        return f"【{provider}】您当前没有订购任何业务。"
    items = "；".join(
        f"{i}.{s.product_name} {price_text(s.price_fen, s.billing_type)}{_STATE_LABEL.get(s.status, '')}"
        for i, s in enumerate(subs, start=1)
    )
    return f"【{provider}】您已订购：{items}。回复序号退订对应业务，回复00000退订全部。"


def pending_list_text(provider: str, subs: Sequence[Subscription]) -> str:
    """Several orders wait for a Y: which one? Nothing is confirmed until the user says."""
    items = "；".join(
        f"{i}.{s.product_name} {price_text(s.price_fen, s.billing_type)}" for i, s in enumerate(subs, start=1)
    )
    return (
        f"【{provider}】您有{len(subs)}个待确认的订购：{items}。请回复Y加序号确认要订购的业务"
        f"（如Y1），不回复则不订购、不收费。"
    )


def waiting_text(provider: str, pending: Sequence[Subscription]) -> str:
    """An answer we could not read while an order waits: the order is still waiting."""
    if len(pending) == 1:
        sub = pending[0]
        return (
            f"【{provider}】您订购的“{sub.product_name}”还在等待您的确认：回复Y确认订购，"
            f"回复TD{sub.product_code}取消；不回复则不订购、不收费。"
        )
    return f"【{provider}】您有{len(pending)}个订购在等待您的确认，回复Y查看并选择；不回复则不订购、不收费。"


def not_on_sale_text(provider: str, sub: Subscription) -> str:
    return f"【{provider}】“{sub.product_name}”已停止销售，您的订购未生效，不会收费。"


def help_text(provider: str) -> str:
    return f"【{provider}】回复业务代码订购，回复0000查询并退订已订购业务，回复TD退订，回复00000退订全部。"


def no_pending_text(provider: str) -> str:
    return f"【{provider}】您没有待确认的订购，或确认已超过24小时。"


def discontinue_notice(provider: str, product_name: str, effective_at: datetime) -> str:
    day = shanghai_date_text(effective_at)
    return f"【{provider}】您订购的“{product_name}”将于{day}停止服务，届时自动退订并停止收费。"


def discontinue_pending_notice(provider: str, product_name: str, effective_at: datetime) -> str:
    day = shanghai_date_text(effective_at)
    return f"【{provider}】“{product_name}”将于{day}停止服务，您尚未确认的订购已取消，未收取任何费用。"


def suspend_notice(
    provider: str, effective_at: datetime, reason: str, subs: Sequence[Subscription], hotlines: Sequence[str]
) -> str:
    when = effective_at.astimezone(SHANGHAI).strftime("%Y年%m月%d日%H:%M") + "（北京时间）"
    return (
        f"【{provider}】您订购的{_names(subs)}将于{when}暂停（{reason}），暂停期间不收费。"
        f"如有疑问请致电客服{'、'.join(hotlines)}。"
    )


# -- billing ---------------------------------------------------------------------------------


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """A 'YYYY-MM' month in Asia/Shanghai as [start, end) instants."""
    year, month = (int(part) for part in period.split("-"))
    start = datetime(year, month, 1, tzinfo=SHANGHAI)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


def period_of(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m")


def shift_period(period: str, months: int) -> str:
    """The 'YYYY-MM' month `months` after `period` (before it when negative)."""
    year, month = (int(part) for part in period.split("-"))
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_owed(first_month: str, last_month: str, *, first: bool, last: bool) -> bool:
    """Whether a month of a monthly product is charged: `first` when the user subscribed in it,
    `last` when the user cancelled in it. When both apply (subscribed and cancelled in one month),
    the rule that charges nothing wins: "订购当月免费" and "退订当月不收费" each make that month free."""
    if first and first_month == "free":
        return False
    return not (last and last_month == "none")


def monthly_charge(
    confirmed_at: datetime | None,
    ended_at: datetime | None,
    price_fen: int,
    first_month: str,
    last_month: str,
    period: str,
) -> int | None:
    """What a monthly subscription owes for `period`, or None when nothing is due.
    The first and last month rules are product settings stated in the catalogue."""
    if confirmed_at is None or price_fen <= 0:
        return None
    start, end = period_bounds(period)
    if confirmed_at >= end or (ended_at is not None and ended_at <= start):
        return None
    first = start <= confirmed_at < end
    last = ended_at is not None and start <= ended_at < end
    if not month_owed(first_month, last_month, first=first, last=last):
        return None
    return price_fen


@dataclass(frozen=True)
class MonthlySubscription:
    """A confirmed subscription of one user to one monthly product."""

    id: UUID
    confirmed_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class MonthlyFee:
    subscription_id: UUID  # the subscription the fee is charged to
    amount_fen: int


def monthly_fee(
    subscriptions: Sequence[MonthlySubscription],
    price_fen: int,
    first_month: str,
    last_month: str,
    period: str,
) -> MonthlyFee | None:
    """The one fee a user owes for a product in `period`, whatever happened in the month (cancel
    and re-subscribe, several times): the subscriptions active in the month count as one, from the
    first confirmation to the last end (none while one is still open), and the fee is charged to
    the first of them, so every billing run picks the same one."""
    start, end = period_bounds(period)
    in_month = sorted(
        (s for s in subscriptions if s.confirmed_at < end and (s.ended_at is None or s.ended_at > start)),
        key=lambda s: (s.confirmed_at, s.id),
    )
    if not in_month:
        return None
    ends = [s.ended_at for s in in_month]
    ended_at = None if None in ends else max(e for e in ends if e is not None)
    fee = monthly_charge(in_month[0].confirmed_at, ended_at, price_fen, first_month, last_month, period)
    return None if fee is None else MonthlyFee(in_month[0].id, fee)


def message_charge(billing_type: BillingType, price_fen: int) -> int | None:
    """What one delivered message of the product costs, or None when it is not billed per message."""
    if billing_type is not BillingType.PER_MESSAGE or price_fen <= 0:
        return None
    return price_fen


def refundable(charged_fen: int, refunded_fen: int) -> int:
    """What may still be refunded of a charge, given what its refunds (positive fen) returned."""
    return max(0, charged_fen - refunded_fen)


@dataclass(frozen=True)
class Charge:
    """Money taken from (or, negative, returned to) a user; a refund names the charge it refunds."""

    id: UUID
    msisdn: str
    subscription_id: UUID
    product_id: UUID
    product_code: str
    amount_fen: int
    reason: str
    charged_at: datetime
    period: str | None = None
    message_id: UUID | None = None
    refund_of: UUID | None = None

    def payload(self) -> ChargePayload:
        return ChargePayload(
            charge_id=self.id,
            msisdn=self.msisdn,
            subscription_id=self.subscription_id,
            product_code=self.product_code,
            amount_fen=self.amount_fen,
            period=self.period,
            message_id=self.message_id,
            reason=self.reason,
            charged_at=self.charged_at,
        )


# -- records ---------------------------------------------------------------------------------


def retention_cutoff(now: datetime, months: int) -> datetime:
    """Records from before this instant are removed (unless the user is under a legal hold): the
    start of the Asia/Shanghai month `months` months before the current one, so at least `months`
    whole months are always kept."""
    start, _ = period_bounds(shift_period(period_of(now), -months))
    return start
