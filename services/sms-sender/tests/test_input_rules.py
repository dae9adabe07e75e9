"""Bad input to the sms-sender is a 4xx problem+json with a stable code, never a 500: text the
database cannot store or that hides what it shows, out-of-range queries, content with nothing to
read, and bodies that are not JSON."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from vas_devstack.pytest_plugin import problem_of

GOOD = {"recipients": ["13812345678"], "content": "您的验证码是 123456", "category": "verification"}

FORBIDDEN_TEXT = {
    "NUL in content": {"content": "验证码\x00123456"},
    "escape in content": {"content": "验证码\x1b[31m123456"},
    "lone CR in content": {"content": "验证码\r123456"},
    "bidi override in content": {"content": "验证码\u202e654321"},
    "NUL in client_ref": {"client_ref": "order-\x00-1"},
    "LF in client_ref": {"client_ref": "order-\n-1"},
    "NUL in a recipient": {"recipients": ["13812345678", "1381234\x005679"]},
}


@pytest.mark.parametrize("fields", FORBIDDEN_TEXT.values(), ids=FORBIDDEN_TEXT.keys())
async def test_text_with_forbidden_characters_is_refused_before_anything_is_stored(
    sms_sender_client: httpx.AsyncClient, make_partner: Any, fields: dict[str, Any]
) -> None:
    partner = await make_partner(sms_sender_client)()
    # With an Idempotency-Key the answer, rejected recipients included, is stored as jsonb too.
    response = await sms_sender_client.post(
        "/v1/messages", headers={**partner.headers, "Idempotency-Key": "k1"}, json={**GOOD, **fields}
    )
    errors = problem_of(response, 422, "validation_failed")["errors"]
    assert errors[0]["loc"][:2] == ["body", next(iter(fields))]
    assert errors[0]["type"] == "text_forbidden_character"


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/v1/messages", "client_ref=%00", "client_ref"),
        ("/v1/messages", "client_ref=a%0Ab", "client_ref"),
        ("/v1/messages", "since=9999-12-31T23:59:59-23:59", "since"),
        ("/v1/messages", "since=2026-01-01T00:00:00", "since"),
        ("/v1/status-events", "cursor=9223372036854775808", "cursor"),
    ],
)
async def test_queries_out_of_range_or_with_control_characters_are_422(
    sms_sender_client: httpx.AsyncClient, make_partner: Any, path: str, query: str, field: str
) -> None:
    partner = await make_partner(sms_sender_client)()
    response = await sms_sender_client.get(f"{path}?{query}", headers=partner.headers)
    assert problem_of(response, 422, "validation_failed")["errors"][0]["loc"] == ["query", field]


@pytest.mark.parametrize(
    "content",
    [
        "   ",
        "\n\n",
        "\t \n",
        "\u200b\u200c\u200d\u2060\ufeff",
        "\u3000",
        "【测试】",  # the partner's approved signature and nothing else
        "【测试】 \u200b",
        " 【测试】",
    ],
)
async def test_content_with_nothing_to_read_is_content_empty(
    sms_sender_client: httpx.AsyncClient, make_partner: Any, content: str
) -> None:
    partner = await make_partner(sms_sender_client)(signature="【测试】")
    response = await sms_sender_client.post(
        "/v1/messages", headers=partner.headers, json={**GOOD, "content": content}
    )
    problem_of(response, 422, "content_empty")


async def test_content_with_text_besides_the_signature_is_sent(
    sms_sender_client: httpx.AsyncClient, make_partner: Any
) -> None:
    partner = await make_partner(sms_sender_client)(signature="【测试】")
    for content in ("【测试】验证码 123456", "第一行\n第二行\r\n\t第三行", "【别的】"):
        response = await sms_sender_client.post(
            "/v1/messages", headers=partner.headers, json={**GOOD, "content": content}
        )
        assert response.status_code == 202, response.text


@pytest.mark.parametrize("notify_submitted", ["true", 1])
async def test_a_flag_must_be_a_json_boolean(
    sms_sender_client: httpx.AsyncClient, make_partner: Any, notify_submitted: object
) -> None:
    partner = await make_partner(sms_sender_client)()
    response = await sms_sender_client.post(
        "/v1/messages", headers=partner.headers, json={**GOOD, "notify_submitted": notify_submitted}
    )
    assert problem_of(response, 422, "validation_failed")["errors"][0]["loc"] == ["body", "notify_submitted"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_send_body_that_is_not_declared_json_is_415(
    sms_sender_client: httpx.AsyncClient, make_partner: Any, content_type: str | None
) -> None:
    partner = await make_partner(sms_sender_client)()
    headers = {**partner.headers, **({"Content-Type": content_type} if content_type else {})}
    response = await sms_sender_client.post(
        "/v1/messages", headers=headers, content=b'{"recipients": ["13812345678"], "content": "hi"}'
    )
    problem_of(response, 415, "unsupported_media_type")
