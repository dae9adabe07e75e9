"""The whole SMS path on the real broker, PostgreSQL and the SMSC simulator: API → Kafka →
dispatcher → SMPP → receipts → status, callbacks and MO."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI, Request, Response
from standardwebhooks import Webhook, WebhookVerificationError

from sms_sender.main import create_app
from vas_common.events import UnknownEvent, decode_event
from vas_common.events.sms_requests import SendRequested, SystemMessage
from vas_common.events.sms_sender import Category, MoReceived
from vas_common.events.topics import SMS_MO, SMS_SEND_REQUESTS
from vas_devstack.pytest_plugin import eventually, serve, serve_http
from vas_devstack.smsc import SmscSimulator

CHINESE_297 = ("移动增值业务服务质量承诺" * 30)[:297]  # the 3-character signature makes it 300
GSM_156 = ("Your code is 1234. " * 9)[:156]  # with 【测试】 it is UCS2; this partner signs in Latin


@dataclass
class CallbackReceiver:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0  # answer 500 to this many calls
    calls: int = 0
    webhook_ids: list[str | None] = field(default_factory=list)  # of every call, failed ones too


@pytest.fixture
async def callbacks() -> AsyncIterator[CallbackReceiver]:
    receiver = CallbackReceiver(url="")
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        receiver.calls += 1
        receiver.webhook_ids.append(request.headers.get("webhook-id"))
        if receiver.calls <= receiver.fail_first:
            return Response(status_code=500)
        body = await request.body()
        receiver.received.append({"headers": dict(request.headers), "body": body, "json": json.loads(body)})
        return Response(status_code=204)

    async with serve_http(app) as origin:
        receiver.url = f"{origin}/hook"
        yield receiver


@pytest.fixture
async def sender(
    database: str, kafka: Any, smsc: SmscSimulator, sms_settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    settings = sms_settings(
        database,
        kafka,
        role="all",
        smsc_port=smsc.smpp_port,
        smsc_tps=0,
        smsc_binds=2,
        callback_retry_initial_s=0.2,
        callback_retry_max_s=1.0,
        smsc_response_timeout_s=2.0,
        callback_allow_http=True,  # the test's callback receiver is plain http on loopback
        callback_allowed_destinations=["127.0.0.1"],
    )
    async with serve(create_app(settings)) as client:
        await eventually(lambda: _ready(client))
        yield client


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def send(
    client: httpx.AsyncClient, partner: Any, recipients: list[str], content: str, **extra: Any
) -> list[str]:
    response = await client.post(
        "/v1/messages", headers=partner.headers, json={"recipients": recipients, "content": content, **extra}
    )
    assert response.status_code == 202, response.text
    return [a["message_id"] for a in response.json()["accepted"]]


async def statuses(client: httpx.AsyncClient, partner: Any, ids: list[str]) -> dict[str, str]:
    out = {}
    for message_id in ids:
        out[message_id] = (await client.get(f"/v1/messages/{message_id}", headers=partner.headers)).json()[
            "status"
        ]
    return out


async def all_status(client: httpx.AsyncClient, partner: Any, ids: list[str], wanted: str) -> bool:
    counts = Counter((await statuses(client, partner, ids)).values())
    assert set(counts) == {wanted}, f"statuses: {dict(counts)}"  # shown if it never gets there
    return True


def seen(smsc: SmscSimulator, destination: str) -> list[dict[str, Any]]:
    return list(smsc.messages(destination=destination)["messages"])


async def test_long_chinese_and_gsm_texts_arrive_whole_delivered_and_called_back(
    sender: httpx.AsyncClient,
    smsc: SmscSimulator,
    make_partner: Any,
    make_product: Any,
    callbacks: CallbackReceiver,
) -> None:
    partner = await make_partner(sender)()
    latin = await make_partner(sender)(signature=None)
    news, jokes = await make_product(partner, ["13800000001"]), await make_product(latin, ["13800000002"])
    secret = (await sender.post("/v1/callback-secrets", headers=partner.headers)).json()["secret"]
    [chinese_id] = await send(
        sender,
        partner,
        ["13800000001"],
        CHINESE_297,
        callback_url=callbacks.url,
        ext_code="9",
        product_code=news,
    )
    [gsm_id] = await send(sender, latin, ["13800000002"], GSM_156 + "abcd", product_code=jokes)

    await eventually(lambda: all_status(sender, partner, [chinese_id], "delivered"))
    await eventually(lambda: all_status(sender, latin, [gsm_id], "delivered"))

    [chinese] = seen(smsc, "8613800000001")
    assert chinese["total"] == 5
    assert chinese["segments_received"] == 5
    assert chinese["data_coding"] == [8]
    assert chinese["text"] == "【测试】" + CHINESE_297
    assert chinese["in_order"] is True
    assert chinese["duplicates"] == 0
    assert chinese["source"] == "10690019"
    [gsm] = seen(smsc, "8613800000002")
    assert gsm["total"] == 1
    assert gsm["data_coding"] == [0]
    assert gsm["text"] == GSM_156 + "abcd"

    detail = (await sender.get(f"/v1/messages/{chinese_id}", headers=partner.headers)).json()
    assert [s["status"] for s in detail["segments"]] == ["delivered"] * 5
    assert all(s["smsc_message_id"] for s in detail["segments"])

    await eventually(lambda: _has(callbacks, 1))
    call = callbacks.received[0]
    headers = call["headers"]
    # A partner verifies it with the Standard Webhooks library, as the README shows.
    assert secret.startswith("whsec_")
    payload = Webhook(secret).verify(call["body"], headers)
    assert payload == call["json"]
    assert call["json"]["message"]["message_id"] == chinese_id
    assert call["json"]["message"]["status"] == "delivered"
    assert call["json"]["event_id"] == headers["webhook-id"]
    assert not any(h.startswith("x-vas-") for h in headers)  # a new secret: the old headers are not sent
    tampered = call["body"].replace(b'"delivered"', b'"failed"')
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)

    events = (await sender.get("/v1/status-events", headers=partner.headers)).json()
    assert [e["status"] for e in events["items"] if e["message_id"] == chinese_id] == [
        "submitted",
        "delivered",
    ]
    # One page at a time with the opaque cursor (row ids would tell the platform's volume).
    first = (await sender.get("/v1/status-events", params={"limit": 1}, headers=partner.headers)).json()
    [event] = first["items"]
    assert first["next_cursor"] == event["cursor"]
    assert len(event["cursor"]) == 11
    assert not event["cursor"].isdigit()
    rest = (
        await sender.get("/v1/status-events", params={"cursor": event["cursor"]}, headers=partner.headers)
    ).json()
    assert [event, *rest["items"]] == events["items"]
    bad = await sender.get("/v1/status-events", params={"cursor": "AAAAAAAAAA="}, headers=partner.headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"


async def _has(receiver: CallbackReceiver, n: int) -> bool:
    return len(receiver.received) >= n


async def test_throttled_smsc_still_gets_everything_in_order_once(
    sender: httpx.AsyncClient, smsc: SmscSimulator, make_partner: Any, make_product: Any
) -> None:
    partner = await make_partner(sender)()
    recipients = [f"1390000{i:04d}" for i in range(60)]
    product = await make_product(partner, recipients)
    smsc.update_config(tps=15)  # 2 binds x 15/s: far below what we offer
    ids = await send(sender, partner, recipients, "限流测试 " + "长" * 70, product_code=product)  # 2 segments
    await eventually(lambda: all_status(sender, partner, ids, "delivered"), timeout_s=60)
    assert smsc.stats()["submit_sm_throttled"] > 0, "the test did not make the SMSC throttle"
    for number in recipients:
        [message] = seen(smsc, "86" + number)
        assert message["complete"]
        assert message["in_order"]
        assert message["duplicates"] == 0


async def test_verification_codes_do_not_queue_behind_bulk_content(
    sender: httpx.AsyncClient, smsc: SmscSimulator, make_partner: Any, make_product: Any
) -> None:
    partner = await make_partner(sender)()
    subscribers = [f"1320000{i:04d}" for i in range(200)]
    product = await make_product(partner, subscribers)
    smsc.update_config(tps=20)  # 2 binds x 20/s: 200 bulk messages need at least 5 s
    bulk = await send(sender, partner, subscribers, "批量内容", product_code=product)
    await eventually(lambda: _accepted_at_least(smsc, 10))  # the bulk backlog is in the binds
    [code] = await send(sender, partner, ["13299999999"], "您的验证码是 8765", category="verification")
    await eventually(lambda: all_status(sender, partner, [code], "delivered"))
    bulk_done = Counter((await statuses(sender, partner, bulk)).values())["delivered"]
    print(f"verification delivered while {200 - bulk_done} of 200 bulk messages were still waiting")
    assert bulk_done < 200
    await eventually(lambda: all_status(sender, partner, bulk, "delivered"), timeout_s=60)


async def test_receipts_that_overtake_the_submit_resp_are_still_applied(
    sender: httpx.AsyncClient, smsc: SmscSimulator, make_partner: Any, make_product: Any
) -> None:
    partner = await make_partner(sender)()
    recipients = [f"1330000{i:04d}" for i in range(40)]
    product = await make_product(partner, recipients)
    smsc.update_config(receipt_before_resp=True, outcomes={"DELIVRD": 0.7, "UNDELIV": 0.3})
    ids = await send(sender, partner, recipients, "回执先到", product_code=product)
    await eventually(lambda: _all_final(sender, partner, ids))
    final = await statuses(sender, partner, ids)
    assert set(final.values()) == {"delivered", "failed"}  # both outcomes came through
    failed = next(i for i, status in final.items() if status == "failed")
    detail = (await sender.get(f"/v1/messages/{failed}", headers=partner.headers)).json()
    assert detail["segments"][0]["receipt_stat"] == "UNDELIV"
    assert detail["error"] == "segment 1: UNDELIV"


async def _all_final(client: httpx.AsyncClient, partner: Any, ids: list[str]) -> bool:
    counts = Counter((await statuses(client, partner, ids)).values())
    assert set(counts) <= {"delivered", "failed"}, f"statuses: {dict(counts)}"
    return True


async def test_dropped_binds_reconnect_and_nothing_is_lost(
    sender: httpx.AsyncClient, smsc: SmscSimulator, make_partner: Any, make_product: Any
) -> None:
    partner = await make_partner(sender)()
    recipients = [f"1370000{i:04d}" for i in range(150)]
    product = await make_product(partner, recipients)
    smsc.update_config(tps=50)
    ids = await send(sender, partner, recipients, "断线重连测试", product_code=product)
    await eventually(lambda: _accepted_at_least(smsc, 20))
    dropped = await smsc.drop_binds()
    assert dropped == 2
    await eventually(lambda: all_status(sender, partner, ids, "delivered"), timeout_s=60)
    for number in recipients:
        assert seen(smsc, "86" + number), f"{number} never reached the SMSC"
    assert (await sender.get("/readyz")).status_code == 200


async def _accepted_at_least(smsc: SmscSimulator, n: int) -> bool:
    return int(smsc.stats()["submit_sm_accepted"]) >= n


async def test_failing_callback_is_retried_while_messages_keep_flowing(
    sender: httpx.AsyncClient,
    smsc: SmscSimulator,
    make_partner: Any,
    make_product: Any,
    callbacks: CallbackReceiver,
) -> None:
    partner = await make_partner(sender)()
    subscribers = [f"1360000{i:04d}" for i in range(1, 40)]
    product = await make_product(partner, subscribers)
    secret = (await sender.post("/v1/callback-secrets", headers=partner.headers)).json()["secret"]
    callbacks.fail_first = 3
    [watched] = await send(
        sender, partner, subscribers[:1], "回调重试", callback_url=callbacks.url, product_code=product
    )
    others = await send(sender, partner, subscribers[1:], "其他消息", product_code=product)
    await eventually(lambda: all_status(sender, partner, others, "delivered"))
    await eventually(lambda: _has(callbacks, 1), timeout_s=30)
    assert callbacks.calls == 4  # three failures, then delivered
    [call] = callbacks.received
    assert call["json"]["message"]["message_id"] == watched
    # Every retry is the same webhook: one webhook-id, so the receiver can drop a repeat.
    assert callbacks.webhook_ids == [call["json"]["event_id"]] * 4
    Webhook(secret).verify(call["body"], call["headers"])


async def test_mo_td_is_published_with_msisdn_and_ext_code(
    sender: httpx.AsyncClient, smsc: SmscSimulator, kafka: Any
) -> None:
    consumer = AIOKafkaConsumer(SMS_MO.name, bootstrap_servers=kafka.bootstrap, auto_offset_reset="latest")
    await consumer.start()
    await eventually(lambda: _assigned(consumer))
    try:
        assert smsc.inject_mo("8613912345678", "106900188", "TD") == 1
        long_text = "我要退订" * 40  # 160 characters: concatenated UCS2 parts
        assert smsc.inject_mo("8613912345679", "106900177", long_text) > 1
        found: dict[str, MoReceived] = {}

        async def both() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    try:
                        event = decode_event(record.value or b"")
                    except UnknownEvent:
                        continue
                    if isinstance(event, MoReceived):
                        found[event.payload.msisdn] = event
            return {"8613912345678", "8613912345679"} <= set(found)

        await eventually(both)
    finally:
        await consumer.stop()
    td = found["8613912345678"].payload
    assert (td.text, td.destination) == ("TD", "106900188")
    long = found["8613912345679"].payload
    assert (long.text, long.destination, long.parts > 1) == (long_text, "106900177", True)


async def _assigned(consumer: AIOKafkaConsumer) -> bool:
    await consumer.getmany(timeout_ms=100)
    return bool(consumer.assignment())


async def test_system_messages_are_sent_once_under_the_provider_identity(
    sender: httpx.AsyncClient, smsc: SmscSimulator, publisher: Any
) -> None:
    request = SendRequested(
        producer="subscription",
        payload=SystemMessage(
            request_id=uuid.uuid4(),
            recipient="+8613500000001",
            text="【VAS】请回复Y确认订购新闻早报，5元/月",
            category=Category.NOTICE,
            ext_code="1",
            requested_at=datetime.now(UTC),
            reason="subscription.confirmation",
        ),
    )
    await publisher.publish(SMS_SEND_REQUESTS, request)
    await publisher.publish(SMS_SEND_REQUESTS, request)  # delivered twice: stored and sent once
    await eventually(lambda: _seen_once(smsc, "8613500000001"))
    [message] = seen(smsc, "8613500000001")
    assert message["text"] == request.payload.text
    assert message["source"] == "106900001"
    assert message["duplicates"] == 0


async def _seen_once(smsc: SmscSimulator, destination: str) -> bool:
    return len(seen(smsc, destination)) == 1


async def test_one_trace_from_the_http_request_to_the_submit_sm(
    sender: httpx.AsyncClient, smsc: SmscSimulator, make_partner: Any, make_product: Any, span_exporter: Any
) -> None:
    partner = await make_partner(sender)()
    product = await make_product(partner, ["13400000001"])
    [message_id] = await send(sender, partner, ["13400000001"], "trace me", product_code=product)
    await eventually(lambda: _span_named(span_exporter, "submit_sm", message_id))
    spans = span_exporter.get_finished_spans()
    dispatch = next(
        s
        for s in spans
        if s.name == "sms.submit dispatch" and s.attributes.get("vas.message_id") == message_id
    )
    requests = [
        s
        for s in spans
        if s.kind.name == "SERVER"
        and s.attributes.get("http.route") == "/v1/messages"
        and s.context.trace_id == dispatch.context.trace_id
    ]
    assert requests, "the dispatch span is not in the trace of the POST /v1/messages request"
    submit = [
        s
        for s in spans
        if s.name == "submit_sm" and s.parent and s.parent.span_id == dispatch.context.span_id
    ]
    assert submit
    assert submit[0].attributes["smpp.command_status"] == 0


async def _span_named(exporter: Any, name: str, message_id: str) -> bool:
    spans = exporter.get_finished_spans()
    dispatch = [
        s
        for s in spans
        if s.name == "sms.submit dispatch" and s.attributes.get("vas.message_id") == message_id
    ]
    return bool(dispatch) and any(
        s.name == name and s.context.trace_id == dispatch[0].context.trace_id for s in spans
    )
