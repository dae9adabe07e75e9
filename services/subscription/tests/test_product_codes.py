"""Product codes are SMS keywords: a code an MO would read as Y, TD…, 0000, 00000 or a number is
refused at creation, naming the word, because no user could order the product by it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from subscription.domain import MoKind, parse_mo, reserved_word


@pytest.mark.parametrize(
    ("code", "word"),
    [
        ("Y", "Y"),
        ("y", "Y"),
        ("YES", "YES"),
        ("yes", "YES"),
        ("是", "是"),
        ("TD", "TD"),
        ("td", "TD"),
        ("TDNEWS", "TD"),
        ("TD1", "TD"),
        ("0000", "0000"),
        ("00000", "00000"),
        ("1", "1"),
        ("99", "99"),
        ("123456", "123456"),
        ("Y1", "Y1"),
        ("y12", "Y12"),
        ("OK", "OK"),
        ("TS", "TS"),  # a complaint keyword (vas_common.mo_routing)
    ],
)
def test_mo_words_are_reserved(code: str, word: str) -> None:
    assert reserved_word(code) == word


@pytest.mark.parametrize("code", ["NEWS", "Y0", "Y123", "YESNEWS", "ATD", "0A", "A0000", "P12345", "OKAY"])
def test_any_other_code_is_free_and_an_mo_with_it_orders_it(code: str) -> None:
    assert reserved_word(code) is None
    assert parse_mo(code).kind is MoKind.SUBSCRIBE
    assert parse_mo(code).argument == code


async def partner_headers(client: httpx.AsyncClient, operator: dict[str, str]) -> dict[str, str]:
    created = await client.post("/v1/partners", json={"name": f"cp-{uuid.uuid4().hex[:8]}"}, headers=operator)
    assert created.status_code == 201, created.text
    return {"X-API-Key": created.json()["api_key"]}


def product(code: str) -> dict[str, object]:
    return {"code": code, "name": "新闻早报", "billing_type": "monthly", "price_fen": 500}


@pytest.mark.parametrize(
    ("code", "word"),
    [
        ("Y", "Y"),
        ("y", "Y"),
        ("YES", "YES"),
        ("TD", "TD"),
        ("TDNEWS", "TD"),
        ("td8", "TD"),
        ("0000", "0000"),
        ("00000", "00000"),
        ("7", "7"),
        ("20261203", "20261203"),
    ],
)
async def test_a_reserved_word_is_refused_as_a_product_code(
    subscription_client: httpx.AsyncClient, operator: dict[str, str], code: str, word: str
) -> None:
    headers = await partner_headers(subscription_client, operator)
    refused = await subscription_client.post("/v1/products", json=product(code), headers=headers)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "product_code_reserved"
    assert problem["reserved_word"] == word
    assert word in problem["detail"]
    mine = await subscription_client.get("/v1/products", headers=headers)
    assert mine.json() == []


async def test_an_ordinary_code_is_still_accepted(
    subscription_client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    headers = await partner_headers(subscription_client, operator)
    code = "NEWS" + uuid.uuid4().hex[:6].upper()
    created = await subscription_client.post("/v1/products", json=product(code), headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["code"] == code
