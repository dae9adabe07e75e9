"""The CP send API against the real broker and PostgreSQL (API role: nothing is dispatched here)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from vas_common.events import UnknownEvent, decode_event
from vas_common.events.sms_sender import Category, ContentRejected, SubmitRequested
from vas_common.events.subscription import SignaturePlacement
from vas_common.events.topics import SMS_STATUS, SMS_SUBMIT, SMS_SUBMIT_PRIORITY
from vas_devstack.pytest_plugin import eventually, read_events

CHINESE_300 = ("移动增值业务服务质量承诺" * 30)[:297]  # + the 3-character signature = 300


async def submitted(kafka: Any, topic: str, message_ids: set[str]) -> dict[str, SubmitRequested]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: dict[str, SubmitRequested] = {}
    try:

        async def all_there() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    try:
                        event = decode_event(record.value or b"")
                    except UnknownEvent:
                        continue
                    if isinstance(event, SubmitRequested) and str(event.payload.message_id) in message_ids:
                        found[str(event.payload.message_id)] = event
                        assert record.key == event.payload.recipient.encode()
            return set(found) == message_ids

        await eventually(all_there)
    finally:
        await consumer.stop()
    return found


async def test_accepts_valid_recipients_and_reports_the_rest(
    sms_sender_client: httpx.AsyncClient, make_partner: Any, make_product: Any, kafka: Any
) -> None:
    partner = await make_partner(sms_sender_client)()
    product = await make_product(partner, ["13812345678", "13912345678"])
    response = await sms_sender_client.post(
        "/v1/messages",
        headers=partner.headers,
        json={
            "recipients": ["13812345678", "+8613912345678", "12345", "+14155552671", "13812345678"],
            "content": CHINESE_300,
            "product_code": product,
            "ext_code": "88",
            "client_ref": "order-1",
        },
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert [a["recipient"] for a in body["accepted"]] == ["8613812345678", "8613912345678"]
    assert {(r["recipient"], r["code"]) for r in body["rejected"]} == {
        ("12345", "not_chinese_mobile"),
        ("+14155552671", "not_chinese_mobile"),
        ("13812345678", "duplicate_recipient"),
    }
    assert body["segments"] == 5
    assert body["encoding"] == "ucs2"
    assert body["content"] == "【测试】" + CHINESE_300

    ids = {a["message_id"] for a in body["accepted"]}
    events = await submitted(kafka, SMS_SUBMIT.name, ids)
    work = events[body["accepted"][0]["message_id"]].payload
    assert work.source_addr == "106900188"
    assert work.text == "【测试】" + CHINESE_300
    assert work.segments == 5

    status = await sms_sender_client.get(
        f"/v1/messages/{body['accepted'][0]['message_id']}", headers=partner.headers
    )
    assert status.status_code == 200
    assert status.json()["status"] == "accepted"
    listed = await sms_sender_client.get(
        "/v1/messages", params={"client_ref": "order-1"}, headers=partner.headers
    )
    assert {m["id"] for m in listed.json()["items"]} == ids


async def test_verification_codes_take_the_priority_lane(
    sms_sender_client: httpx.AsyncClient, make_partner: Any, kafka: Any
) -> None:
    partner = await make_partner(sms_sender_client)()
    response = await sms_sender_client.post(
        "/v1/messages",
        headers=partner.headers,
        json={"recipients": ["13700000001"], "content": "您的验证码是 123456", "category": "verification"},
    )
    assert response.status_code == 202
    message_id = response.json()["accepted"][0]["message_id"]
    await submitted(kafka, SMS_SUBMIT_PRIORITY.name, {message_id})


async def test_idempotency_key_replays_and_conflicts(
    sms_sender_client: httpx.AsyncClient, make_partner: Any
) -> None:
    partner = await make_partner(sms_sender_client)()
    key = {**partner.headers, "Idempotency-Key": str(uuid.uuid4())}
    request = {"recipients": ["13812345678"], "content": "hello", "category": "notice", "client_ref": "idem"}
    first = await sms_sender_client.post("/v1/messages", headers=key, json=request)
    again = await sms_sender_client.post("/v1/messages", headers=key, json=request)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    listed = await sms_sender_client.get(
        "/v1/messages", params={"client_ref": "idem"}, headers=partner.headers
    )
    assert len(listed.json()["items"]) == 1  # the replay created nothing
    different = await sms_sender_client.post("/v1/messages", headers=key, json={**request, "content": "bye"})
    assert different.status_code == 409
    assert different.json()["code"] == "idempotency_key_reused"


async def test_concurrent_requests_with_one_key_create_one_message(
    sms_sender_client: httpx.AsyncClient, make_partner: Any
) -> None:
    """Accepts of concurrent requests are committed together: two requests with the same key
    can land in one transaction, and still only the first one creates messages."""
    partner = await make_partner(sms_sender_client)()
    keys = [str(uuid.uuid4()) for _ in range(10)]

    async def send(key: str, recipient: str) -> httpx.Response:
        return await sms_sender_client.post(
            "/v1/messages",
            headers={**partner.headers, "Idempotency-Key": key},
            json={
                "recipients": [recipient],
                "content": "hello",
                "category": "notice",
                "client_ref": f"c-{key}",
            },
        )

    answers = await asyncio.gather(*(send(k, "13812345678") for k in keys for _ in range(3)))
    assert [a.status_code for a in answers] == [202] * 30
    for i, key in enumerate(keys):
        trio = [a.json() for a in answers[3 * i : 3 * i + 3]]
        assert trio[0] == trio[1] == trio[2], f"key {key} answered differently"
        listed = await sms_sender_client.get(
            "/v1/messages", params={"client_ref": f"c-{key}"}, headers=partner.headers
        )
        assert [m["id"] for m in listed.json()["items"]] == [trio[0]["accepted"][0]["message_id"]]


async def test_partners_see_only_their_own_messages(
    sms_sender_client: httpx.AsyncClient, make_partner: Any
) -> None:
    make = make_partner(sms_sender_client)
    a, b = await make(), await make()
    sent = await sms_sender_client.post(
        "/v1/messages",
        headers=a.headers,
        json={"recipients": ["13812345678"], "content": "hi", "category": "notice", "client_ref": "a"},
    )
    message_id = sent.json()["accepted"][0]["message_id"]
    assert (await sms_sender_client.get(f"/v1/messages/{message_id}", headers=a.headers)).status_code == 200
    other = await sms_sender_client.get(f"/v1/messages/{message_id}", headers=b.headers)
    assert other.status_code == 404
    assert other.json()["code"] == "message_not_found"
    assert (
        await sms_sender_client.get("/v1/messages", params={"client_ref": "a"}, headers=b.headers)
    ).json() == {"items": []}
    wrong = await sms_sender_client.post(
        "/v1/messages",
        headers={"X-API-Key": "vask_nope"},
        json={"recipients": ["13812345678"], "content": "x"},
    )
    assert wrong.status_code == 401


async def test_only_a_products_owner_sends_under_its_code(
    sms_sender_client: httpx.AsyncClient, make_partner: Any, make_product: Any
) -> None:
    """Product codes are public (the catalogue lists them): another partner's code, or one
    nobody owns, is refused, also for the product's own subscribers."""
    make = make_partner(sms_sender_client)
    owner, other = await make(), await make()
    user = "8613900000003"
    await make_product(owner, [user], "QAB2")

    def send(partner: Any, code: str) -> Any:
        return sms_sender_client.post(
            "/v1/messages",
            headers=partner.headers,
            json={"recipients": [user], "content": "今日内容", "product_code": code},
        )

    assert (await send(owner, "QAB2")).status_code == 202
    for partner, code in ((other, "QAB2"), (owner, "NOSUCH"), (other, "NOSUCH")):
        refused = await send(partner, code)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert (refused.json()["code"], refused.json()["product_code"]) == ("product_not_owned", code)


async def test_content_needs_a_product(
    sms_sender_client: httpx.AsyncClient, make_partner: Any, make_product: Any, database: str, kafka: Any
) -> None:
    """Content goes only to a product's active subscribers: the double-confirmed subscription is
    the user's recorded consent. Content naming no product is refused as a whole, even to a
    number that never subscribed to anything; notices and verification codes need no product."""
    partner = await make_partner(sms_sender_client)()
    stranger, subscriber = "8613900000011", "8613900000012"

    refused = await sms_sender_client.post(
        "/v1/messages",
        headers={**partner.headers, "Idempotency-Key": str(uuid.uuid4())},
        json={"recipients": [stranger], "content": "今日促销", "client_ref": "no-product"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "content_needs_product"
    assert "product_code" in problem["detail"]
    assert "notice" in problem["detail"]
    assert "verification" in problem["detail"]
    explicit = await sms_sender_client.post(
        "/v1/messages",
        headers=partner.headers,
        json={
            "recipients": [stranger],
            "content": "今日促销",
            "category": "content",
            "client_ref": "no-product",
        },
    )
    assert explicit.status_code == 422
    assert explicit.json()["code"] == "content_needs_product"
    # Nothing was accepted: no message row (written with its submit event in one transaction).
    listed = await sms_sender_client.get(
        "/v1/messages", params={"client_ref": "no-product"}, headers=partner.headers
    )
    assert listed.json() == {"items": []}
    conn = await asyncpg.connect(database)
    try:
        # (the partner's: the API also stores system messages other tests left on sms.send-requests)
        assert await conn.fetchval("SELECT count(*) FROM messages WHERE partner_id = $1", partner.id) == 0
    finally:
        await conn.close()

    notice = await sms_sender_client.post(
        "/v1/messages",
        headers=partner.headers,
        json={"recipients": [stranger], "content": "您的账单已生成", "category": "notice"},
    )
    assert notice.status_code == 202, notice.text
    await submitted(kafka, SMS_SUBMIT_PRIORITY.name, {notice.json()["accepted"][0]["message_id"]})

    product = await make_product(partner, [subscriber])
    response = await sms_sender_client.post(
        "/v1/messages",
        headers=partner.headers,
        json={"recipients": [subscriber, stranger], "content": "今日内容", "product_code": product},
    )
    assert response.status_code == 202, response.text
    sent = response.json()
    assert [a["recipient"] for a in sent["accepted"]] == [subscriber]
    assert [(r["recipient"], r["code"]) for r in sent["rejected"]] == [(stranger, "not_subscribed")]
    await submitted(kafka, SMS_SUBMIT.name, {sent["accepted"][0]["message_id"]})

    documented = (await sms_sender_client.get("/openapi.json")).json()["paths"]["/v1/messages"]["post"]
    assert "`content_needs_product`" in documented["responses"]["422"]["description"]


async def test_review_signature_and_subscription_rules(
    sms_sender_client: httpx.AsyncClient, make_partner: Any, make_product: Any, kafka: Any
) -> None:
    make = make_partner(sms_sender_client)
    partner = await make()
    bad = await sms_sender_client.post(
        "/v1/messages",
        headers=partner.headers,
        json={
            "recipients": ["13812345678", "13812345679"],
            "content": "加入网上刷单赚钱",
            "category": "notice",
        },
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "content_rejected"
    assert (bad.json()["category"], bad.json()["term"]) == ("fraud", "刷单")
    # What the review blocked reaches sms.status (through the outbox), without text or numbers.
    [(refusal, record)] = await read_events(
        kafka.bootstrap,
        SMS_STATUS.name,
        lambda e: isinstance(e, ContentRejected) and e.payload.partner_id == partner.id,
        1,
    )
    assert (refusal.payload.category, refusal.payload.rule_category) == (Category.NOTICE, "fraud")
    assert refusal.payload.recipients == 2
    assert b"13812345678" not in record.value
    assert "刷单".encode() not in record.value

    strict = await make(placement=SignaturePlacement.REQUIRE)
    unsigned = await sms_sender_client.post(
        "/v1/messages",
        headers=strict.headers,
        json={"recipients": ["13812345678"], "content": "hello", "category": "notice"},
    )
    assert unsigned.status_code == 422
    assert unsigned.json()["code"] == "signature_missing"

    await make_product(partner, [], "NEWS")  # nobody subscribes
    sent = await sms_sender_client.post(
        "/v1/messages",
        headers=partner.headers,
        json={"recipients": ["13812345678"], "content": "今日新闻", "product_code": "NEWS"},
    )
    assert sent.status_code == 422
    product = sent.json()
    assert product["code"] == "no_valid_recipients"
    assert product["rejected"][0]["code"] == "not_subscribed"

    invalid = await sms_sender_client.post(
        "/v1/messages", headers=partner.headers, json={"recipients": [], "content": "x"}
    )
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "validation_failed"

    callback = await sms_sender_client.post(
        "/v1/messages",
        headers=partner.headers,
        json={
            "recipients": ["13812345678"],
            "content": "x",
            "category": "notice",
            "callback_url": "http://127.0.0.1:1/cb",
        },
    )
    assert callback.status_code == 422
    assert callback.json()["code"] == "callback_secret_missing"


async def test_rate_limit_answers_429_with_retry_after(
    sms_sender_client: httpx.AsyncClient, make_partner: Any
) -> None:
    partner = await make_partner(sms_sender_client)(rate_limit_per_s=3)
    recipients = [f"1381234{i:04d}" for i in range(3)]
    ok = await sms_sender_client.post(
        "/v1/messages",
        headers=partner.headers,
        json={"recipients": recipients, "content": "a", "category": "notice"},
    )
    assert ok.status_code == 202
    limited = await sms_sender_client.post(
        "/v1/messages",
        headers=partner.headers,
        json={"recipients": recipients, "content": "b", "category": "notice"},
    )
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1


async def test_send_request_errors_and_its_documented_body(
    sms_sender_client: httpx.AsyncClient, make_partner: Any
) -> None:
    """The send endpoint parses its body itself: errors keep FastAPI's shape, the docs its body."""
    partner = await make_partner(sms_sender_client)()
    json_headers = {**partner.headers, "Content-Type": "application/json"}

    broken = await sms_sender_client.post("/v1/messages", headers=json_headers, content=b'{"recipients": [')
    assert broken.status_code == 422
    assert broken.headers["content-type"] == "application/problem+json"
    assert broken.json()["code"] == "validation_failed"
    assert broken.json()["errors"][0]["loc"][0] == "body"

    missing = await sms_sender_client.post("/v1/messages", headers=partner.headers, json={"content": "x"})
    assert missing.status_code == 422
    assert [e["loc"] for e in missing.json()["errors"]] == [["body", "recipients"]]

    long_key = await sms_sender_client.post(
        "/v1/messages",
        headers={**partner.headers, "Idempotency-Key": "k" * 129},
        json={"recipients": ["13812345678"], "content": "x"},
    )
    assert long_key.status_code == 422
    assert long_key.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]

    anonymous = await sms_sender_client.post(
        "/v1/messages", headers={"Content-Type": "application/json"}, content=b'{"recipients": ['
    )
    assert anonymous.status_code == 401

    huge = b'{"recipients": ["13812345678"], "content": "' + b"x" * 1_100_000 + b'"}'

    async def in_chunks() -> AsyncIterator[bytes]:  # no Content-Length
        for start in range(0, len(huge), 65_536):
            yield huge[start : start + 65_536]

    for content in (huge, in_chunks()):
        too_large = await sms_sender_client.post("/v1/messages", headers=json_headers, content=content)
        assert too_large.status_code == 413
        assert too_large.json()["code"] == "payload_too_large"

    operation = (await sms_sender_client.get("/openapi.json")).json()["paths"]["/v1/messages"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["recipients", "content"]
    assert body["properties"]["category"]["enum"] == ["verification", "notice", "content"]
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]
    assert "SendResponse" in operation["responses"]["202"]["content"]["application/json"]["schema"]["$ref"]

    metrics = (await sms_sender_client.get("/metrics")).text
    assert 'http_requests_total{method="POST",route="/v1/messages",status="422"} 3.0' in metrics
    # A declared length over the limit is refused before routing; a chunked body while it is read.
    assert 'http_requests_total{method="POST",route="unmatched",status="413"} 1.0' in metrics
    assert 'http_requests_total{method="POST",route="/v1/messages",status="413"} 1.0' in metrics
    assert 'http_requests_total{method="POST",route="/v1/messages",status="401"} 1.0' in metrics


async def test_an_extension_stays_in_the_senders_own_range(
    sms_sender_client: httpx.AsyncClient, make_partner: Any
) -> None:
    """A partner on the provider's number may not pick extensions (they are the provider's system
    numbers); a number and extension must fit an SMPP source address."""
    make = make_partner(sms_sender_client)
    for partner, ext_code, code in (
        (await make(access_number=None), "1", "ext_code_not_allowed"),
        (await make(access_number="106" + "9" * 14), "123456", "source_too_long"),
    ):
        refused = await sms_sender_client.post(
            "/v1/messages",
            headers=partner.headers,
            json={
                "recipients": ["13812345678"],
                "content": "通知",
                "category": "notice",
                "ext_code": ext_code,
            },
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == code
    own = await make(access_number="1069077")
    sent = await sms_sender_client.post(
        "/v1/messages",
        headers=own.headers,
        json={"recipients": ["13812345678"], "content": "通知", "category": "notice", "ext_code": "123456"},
    )
    assert sent.status_code == 202, sent.text
