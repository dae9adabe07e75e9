"""Raw records (operator): a user's raw data list (原始数据清单) as JSON or CSV, legal holds, who
holds a user's records, and the retention job."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Response

from subscription.api.deps import Records, UserMsisdn
from subscription.domain import SHANGHAI
from subscription.repository.records import OrderRecord
from subscription.repository.retention import Hold
from subscription.schemas import (
    LEGAL_HOLDER_DESCRIPTION,
    LEGAL_HOLDER_PATTERN,
    HoldOut,
    LegalHoldIn,
    LegalHoldOut,
    OrderRecordOut,
    RetentionOut,
    UserHoldsOut,
    UserRecordsOut,
)
from subscription.service.records import LegalHoldNotFound
from vas_common.access import Audience, audience_router
from vas_common.errors import documented
from vas_common.msisdn import normalized_msisdn
from vas_common.types import Instant

router = audience_router(Audience.OPERATOR, prefix="/v1", tags=["records (operator)"])
jobs_router = audience_router(Audience.OPERATOR, prefix="/v1/jobs", tags=["jobs (operator)"])

# One zone for every time of an export, the one users read: Asia/Shanghai, named in the export.
EXPORT_ZONE = SHANGHAI
CSV_COLUMNS = (
    f"occurred_at ({EXPORT_ZONE.key})",
    "kind",
    "product_code",
    "channel",
    "subscription_id",
    "detail",
)


def in_export_zone(at: datetime) -> datetime:
    return at.astimezone(EXPORT_ZONE)


def detail_in_export_zone(detail: dict[str, Any]) -> dict[str, Any]:
    """A record's detail with the times it holds (`…_at` keys, ISO 8601 with an offset) in the
    export's zone."""
    shown = dict(detail)
    for key, value in detail.items():
        if not key.endswith("_at") or not isinstance(value, str):
            continue
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            continue
        if at.tzinfo is not None:
            shown[key] = in_export_zone(at).isoformat()
    return shown


def records_csv(records: list[OrderRecord]) -> str:
    out = io.StringIO()
    # Excel reads a CSV without a byte-order mark in the ANSI code page (GBK on Chinese Windows),
    # which garbles UTF-8 Chinese; with the BOM it knows the file is UTF-8.
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in records:
        writer.writerow(
            (
                in_export_zone(r.occurred_at).isoformat(),
                r.kind,
                r.product_code or "",
                r.channel or "",
                str(r.subscription_id) if r.subscription_id else "",
                json.dumps(detail_in_export_zone(r.detail), ensure_ascii=False, sort_keys=True),
            )
        )
    return out.getvalue()


@router.get(
    "/users/{msisdn}/records",
    response_model=UserRecordsOut,
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}},
)
async def user_records(
    msisdn: UserMsisdn,
    records: Records,
    since: Annotated[Instant | None, Query(alias="from", description="inclusive")] = None,
    until: Annotated[Instant | None, Query(alias="to", description="exclusive")] = None,
    output: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Response | UserRecordsOut:
    """Every order action, charge and SMS exchanged with the user (product content delivered
    included), with its time, oldest first; every time in Asia/Shanghai (+08:00), as `time_zone` says."""
    number = msisdn
    found = await records.of_user(number, since, until)
    if output == "csv":
        return Response(
            records_csv(found),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="records-{number}.csv"'},
        )
    return UserRecordsOut(
        msisdn=number,
        time_zone=EXPORT_ZONE.key,
        since=in_export_zone(since) if since else None,
        until=in_export_zone(until) if until else None,
        records=[
            OrderRecordOut(
                occurred_at=in_export_zone(r.occurred_at),
                kind=r.kind,
                product_code=r.product_code,
                channel=r.channel,
                subscription_id=r.subscription_id,
                detail=detail_in_export_zone(r.detail),
            )
            for r in found
        ],
    )


def _legal(hold: Hold) -> LegalHoldOut:
    return LegalHoldOut(msisdn=hold.msisdn, holder=hold.holder, reason=hold.reason, placed_at=hold.placed_at)


@router.post("/legal-holds", status_code=201, response_model=LegalHoldOut)
async def place_legal_hold(body: LegalHoldIn, records: Records) -> LegalHoldOut:
    """The user's records are kept past the retention horizon, here and in the sms-sender, until
    this holder is released (and no other holder remains). Placing it again changes its reason."""
    return _legal(await records.place_hold(normalized_msisdn(body.msisdn), body.reason, body.holder))


@router.get("/legal-holds", response_model=list[LegalHoldOut])
async def legal_holds(records: Records) -> list[LegalHoldOut]:
    """Every legal hold, oldest first (a complaint's dispute hold is listed per user, below)."""
    return [_legal(h) for h in await records.holds()]


@router.delete("/legal-holds/{msisdn}", status_code=204, responses=documented(LegalHoldNotFound))
async def release_legal_hold(
    msisdn: UserMsisdn,
    records: Records,
    holder: Annotated[
        str, Query(pattern=LEGAL_HOLDER_PATTERN, description=LEGAL_HOLDER_DESCRIPTION)
    ] = "legal",
) -> Response:
    """Release one legal holder (`legal` unless named): the records stay while another holder,
    a complaint's dispute hold included, remains."""
    await records.release_hold(msisdn, holder)
    return Response(status_code=204)


@router.get("/users/{msisdn}/holds", response_model=UserHoldsOut)
async def user_holds(msisdn: UserMsisdn, records: Records) -> UserHoldsOut:
    """Who keeps the user's records past the retention horizon: legal holds and the dispute holds
    of open billing or subscription complaints."""
    found = await records.holds_of(msisdn)
    return UserHoldsOut(
        msisdn=msisdn,
        held=bool(found),
        holds=[
            HoldOut(msisdn=h.msisdn, holder=h.holder, reason=h.reason, placed_at=h.placed_at) for h in found
        ],
    )


@jobs_router.post("/retention", response_model=RetentionOut)
async def retention(records: Records) -> RetentionOut:
    """Records, charges and ended subscriptions older than the retention horizon are removed,
    except held users'; and the ids of MO handled more than 7 days ago."""
    result = await records.apply_retention()
    return RetentionOut(
        job="retention",
        affected=result.records_deleted
        + result.charges_deleted
        + result.subscriptions_deleted
        + result.processed_mo_deleted
        + result.refund_requests_deleted,
        cutoff=result.cutoff,
        partitions_created=result.partitions_created,
        partitions_dropped=result.partitions_dropped,
        records_deleted=result.records_deleted,
        charges_deleted=result.charges_deleted,
        subscriptions_deleted=result.subscriptions_deleted,
        processed_mo_deleted=result.processed_mo_deleted,
        refund_requests_deleted=result.refund_requests_deleted,
    )
