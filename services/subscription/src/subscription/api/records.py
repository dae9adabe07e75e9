"""Raw records (operator): a user's raw data list (原始数据清单) as JSON or CSV, legal holds, and
the retention job."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Literal

from fastapi import Query, Response

from subscription.api.deps import Records, UserMsisdn, normalized_msisdn
from subscription.domain import SHANGHAI
from subscription.repository.records import OrderRecord
from subscription.schemas import LegalHoldIn, LegalHoldOut, OrderRecordOut, RetentionOut, UserRecordsOut
from vas_common.access import Audience, audience_router
from vas_common.types import Instant

router = audience_router(Audience.OPERATOR, prefix="/v1", tags=["records (operator)"])
jobs_router = audience_router(Audience.OPERATOR, prefix="/v1/jobs", tags=["jobs (operator)"])

CSV_COLUMNS = ("occurred_at", "kind", "product_code", "channel", "subscription_id", "detail")


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
                r.occurred_at.astimezone(SHANGHAI).isoformat(),
                r.kind,
                r.product_code or "",
                r.channel or "",
                str(r.subscription_id) if r.subscription_id else "",
                json.dumps(r.detail, ensure_ascii=False, sort_keys=True),
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
    """Every order action and every SMS exchanged with the user, with its time, oldest first."""
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
        since=since,
        until=until,
        records=[
            OrderRecordOut(
                occurred_at=r.occurred_at,
                kind=r.kind,
                product_code=r.product_code,
                channel=r.channel,
                subscription_id=r.subscription_id,
                detail=r.detail,
            )
            for r in found
        ],
    )


@router.post("/legal-holds", status_code=201, response_model=LegalHoldOut)
async def place_legal_hold(body: LegalHoldIn, records: Records) -> LegalHoldOut:
    """The user's records are kept past the retention horizon, here and in the sms-sender."""
    hold = await records.place_hold(normalized_msisdn(body.msisdn), body.reason)
    return LegalHoldOut(msisdn=hold.msisdn, reason=hold.reason, placed_at=hold.placed_at)


@router.get("/legal-holds", response_model=list[LegalHoldOut])
async def legal_holds(records: Records) -> list[LegalHoldOut]:
    return [
        LegalHoldOut(msisdn=h.msisdn, reason=h.reason, placed_at=h.placed_at) for h in await records.holds()
    ]


@router.delete("/legal-holds/{msisdn}", status_code=204)
async def release_legal_hold(msisdn: UserMsisdn, records: Records) -> Response:
    await records.release_hold(msisdn)
    return Response(status_code=204)


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
        + result.processed_mo_deleted,
        cutoff=result.cutoff,
        partitions_created=result.partitions_created,
        partitions_dropped=result.partitions_dropped,
        records_deleted=result.records_deleted,
        charges_deleted=result.charges_deleted,
        subscriptions_deleted=result.subscriptions_deleted,
        processed_mo_deleted=result.processed_mo_deleted,
    )
