"""Bad input to the subscription service is a 4xx problem+json with a stable code, never a 500:
text the database cannot store or that hides what it shows, money given as a string or a
boolean, instants out of range, and bodies that are not JSON."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from vas_devstack.pytest_plugin import problem_of

PRODUCT = {
    "name": "天气预报",
    "billing_type": "monthly",
    "price_fen": 300,
    "description": "每天天气\n早晚各一条",
    "availability": "全国",
    "how_to_cancel": "回复TD",
    "charge_rule": "按月收费",
    "fault_hotline": "10086",
    "consult_hotline": "10086",
}
TEXT_FIELDS = ("name", "description", "availability", "how_to_cancel", "charge_rule", "fault_hotline")
USER = "8613812340000"


def refused_field(response: httpx.Response) -> list[Any]:
    loc: list[Any] = problem_of(response, 422, "validation_failed")["errors"][0]["loc"]
    return loc


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


@pytest.fixture
async def partner_key(subscription_client: httpx.AsyncClient, operator: dict[str, str]) -> dict[str, str]:
    created = await subscription_client.post(
        "/v1/partners", json={"name": f"cp-{uuid.uuid4().hex[:8]}"}, headers=operator
    )
    assert created.status_code == 201, created.text
    return {"X-API-Key": created.json()["api_key"]}


async def create_product(client: httpx.AsyncClient, key: dict[str, str], **fields: Any) -> httpx.Response:
    body = {**PRODUCT, "code": "I" + uuid.uuid4().hex[:6].upper(), **fields}
    return await client.post("/v1/products", json=body, headers=key)


PARTNER_NAMES = {
    "NUL": "Acme\x00 Content",
    "right-to-left override": "Acme \u202etnetnoC",
    "first strong isolate": "Acme \u2068Content",
    "LF": "Acme\nContent",
    "CR": "Acme\rContent",
    "tab": "Acme\tContent",
    "zero-width only": "\u200b\u200b",
}
SIGNATURES = {
    "NUL": "【Ac\x00me】",
    "right-to-left override": "【Ac\u202eme】",
    "pop directional isolate": "【Acme\u2069】",
    "LF": "【Ac\nme】",
    "CR": "【Ac\rme】",
}


@pytest.mark.parametrize("name", PARTNER_NAMES.values(), ids=PARTNER_NAMES.keys())
async def test_a_partner_name_must_be_one_line_of_plain_text(
    subscription_client: httpx.AsyncClient, operator: dict[str, str], name: str
) -> None:
    response = await subscription_client.post("/v1/partners", json={"name": name}, headers=operator)
    assert refused_field(response) == ["body", "name"]


@pytest.mark.parametrize("signature", SIGNATURES.values(), ids=SIGNATURES.keys())
async def test_a_signature_must_be_one_line_of_plain_text_on_create_and_on_update(
    subscription_client: httpx.AsyncClient, operator: dict[str, str], signature: str
) -> None:
    profile = {"signature": signature}
    created = await subscription_client.post(
        "/v1/partners", json={"name": f"cp-{uuid.uuid4().hex[:8]}", "profile": profile}, headers=operator
    )
    assert refused_field(created) == ["body", "profile", "signature"]
    partner = await subscription_client.post(
        "/v1/partners", json={"name": f"cp-{uuid.uuid4().hex[:8]}"}, headers=operator
    )
    updated = await subscription_client.patch(
        f"/v1/partners/{partner.json()['id']}", json={"profile": profile}, headers=operator
    )
    assert refused_field(updated) == ["body", "profile", "signature"]


@pytest.mark.parametrize("field", TEXT_FIELDS)
async def test_nul_in_any_product_field_is_422(
    subscription_client: httpx.AsyncClient, partner_key: dict[str, str], field: str
) -> None:
    response = await create_product(subscription_client, partner_key, **{field: "一\x00二"})
    assert refused_field(response) == ["body", field]


@pytest.mark.parametrize("field", [f for f in TEXT_FIELDS if f != "description"])
async def test_short_product_fields_are_one_line(
    subscription_client: httpx.AsyncClient, partner_key: dict[str, str], field: str
) -> None:
    response = await create_product(subscription_client, partner_key, **{field: "一\n二"})
    assert refused_field(response) == ["body", field]


@pytest.mark.parametrize("price_fen", ["5", True])
async def test_a_price_must_be_a_json_integer(
    subscription_client: httpx.AsyncClient, partner_key: dict[str, str], price_fen: object
) -> None:
    response = await create_product(subscription_client, partner_key, price_fen=price_fen)
    assert refused_field(response) == ["body", "price_fen"]


async def test_a_rate_limit_must_be_a_json_integer(
    subscription_client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    response = await subscription_client.post(
        "/v1/partners",
        json={"name": f"cp-{uuid.uuid4().hex[:8]}", "profile": {"rate_limit_per_s": "50"}},
        headers=operator,
    )
    assert refused_field(response) == ["body", "profile", "rate_limit_per_s"]


@pytest.mark.parametrize("amount_fen", ["5", True])
async def test_a_refund_amount_must_be_a_json_integer(
    subscription_client: httpx.AsyncClient, operator: dict[str, str], amount_fen: object
) -> None:
    response = await subscription_client.post(
        f"/v1/charges/{uuid.uuid4()}/refunds",
        json={"amount_fen": amount_fen, "reason": "投诉"},
        headers=operator,
    )
    assert refused_field(response) == ["body", "amount_fen"]


async def test_nul_in_a_refund_reason_is_422(
    subscription_client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    response = await subscription_client.post(
        f"/v1/charges/{uuid.uuid4()}/refunds", json={"amount_fen": 5, "reason": "投\x00诉"}, headers=operator
    )
    assert refused_field(response) == ["body", "reason"]


BAD_NOTICES = {
    "NUL in the reason": ({"reason": "停\x00止", "effective_at": in_days(31)}, "reason"),
    "LF in the reason": ({"reason": "停止\n服务", "effective_at": in_days(31)}, "reason"),
    "past year 9999 in UTC": (
        {"reason": "停止", "effective_at": "9999-12-31T23:59:59-23:59"},
        "effective_at",
    ),
    "no time zone": ({"reason": "停止", "effective_at": "2026-12-31T00:00:00"}, "effective_at"),
}


@pytest.mark.parametrize(("notice", "field"), BAD_NOTICES.values(), ids=BAD_NOTICES.keys())
async def test_a_discontinuation_needs_a_plain_reason_and_an_instant_in_range(
    subscription_client: httpx.AsyncClient,
    partner_key: dict[str, str],
    notice: dict[str, str],
    field: str,
) -> None:
    product = (await create_product(subscription_client, partner_key)).json()
    published = await subscription_client.post(
        f"/v1/products/{product['id']}/publication", headers=partner_key
    )
    assert published.status_code == 200, published.text
    response = await subscription_client.post(
        f"/v1/products/{product['id']}/discontinuation",
        json=notice,
        headers=partner_key,
    )
    assert refused_field(response) == ["body", field]


@pytest.mark.parametrize(("notice", "field"), BAD_NOTICES.values(), ids=BAD_NOTICES.keys())
async def test_a_suspension_needs_a_plain_reason_and_an_instant_in_range(
    subscription_client: httpx.AsyncClient,
    operator: dict[str, str],
    notice: dict[str, str],
    field: str,
) -> None:
    response = await subscription_client.post(
        f"/v1/users/{USER}/suspensions",
        json=notice,
        headers=operator,
    )
    assert refused_field(response) == ["body", field]


@pytest.mark.parametrize(
    "body", [{"msisdn": USER, "reason": "案\x00件"}, {"msisdn": USER + "\x00", "reason": "案件"}]
)
async def test_nul_in_a_legal_hold_is_422(
    subscription_client: httpx.AsyncClient, operator: dict[str, str], body: dict[str, str]
) -> None:
    response = await subscription_client.post("/v1/legal-holds", json=body, headers=operator)
    assert refused_field(response)[0] == "body"


async def test_nul_in_a_product_code_to_subscribe_to_is_422(
    subscription_client: httpx.AsyncClient, partner_key: dict[str, str]
) -> None:
    response = await subscription_client.post(
        "/v1/subscriptions", json={"msisdn": USER, "product_code": "WX\x00"}, headers=partner_key
    )
    assert refused_field(response) == ["body", "product_code"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/registration-success?since=9999-12-31T23:59:59-23:59", "since"),
        ("/v1/registration-success?until=1970-01-01T00:00:00Z", "until"),
        (f"/v1/users/{USER}/records?from=9999-12-31T23:59:59-23:59", "from"),
        (f"/v1/users/{USER}/records?to=0001-01-01T00:00:00%2B00:00", "to"),
    ],
)
async def test_query_instants_out_of_range_are_422(
    subscription_client: httpx.AsyncClient, operator: dict[str, str], path: str, field: str
) -> None:
    response = await subscription_client.get(path, headers=operator)
    assert refused_field(response) == ["query", field]


@pytest.mark.parametrize("content_type", ["text/plain", None])
async def test_a_body_that_is_not_declared_json_is_415(
    subscription_client: httpx.AsyncClient, operator: dict[str, str], content_type: str | None
) -> None:
    headers = {**operator, **({"Content-Type": content_type} if content_type else {})}
    response = await subscription_client.post("/v1/partners", content=b'{"name": "Acme"}', headers=headers)
    problem_of(response, 415, "unsupported_media_type")
