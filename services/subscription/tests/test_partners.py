"""Partners (CPs) in the subscription service: operator-only management, keys shown once,
rotation revokes the old key, and every change is announced on subscription.events."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from subscription.main import create_app
from subscription.settings import SubscriptionSettings
from vas_common.auth import hash_api_key
from vas_common.events import UnknownEvent, decode_event
from vas_common.events.subscription import (
    PARTNER_EVENTS,
    PartnerCreated,
    PartnerKeyRotated,
    PartnerStatusChanged,
)
from vas_common.events.topics import SUBSCRIPTION_EVENTS
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually, serve, service_settings_kwargs


def unique_name() -> str:
    return f"cp-{uuid.uuid4().hex[:8]}"


async def test_creating_a_partner_needs_the_operator_token(subscription_client: httpx.AsyncClient) -> None:
    missing = await subscription_client.post("/v1/partners", json={"name": unique_name()})
    assert missing.status_code == 401
    assert missing.json()["code"] == "unauthorized"
    wrong = await subscription_client.post(
        "/v1/partners", json={"name": unique_name()}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert wrong.headers["content-type"] == "application/problem+json"


async def test_key_is_returned_once_and_authenticates_the_partner(
    subscription_client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    name = unique_name()
    created = await subscription_client.post("/v1/partners", json={"name": name}, headers=operator)
    assert created.status_code == 201, created.text
    body = created.json()
    key = body["api_key"]
    assert key.startswith("vask_")
    fetched = await subscription_client.get(f"/v1/partners/{body['id']}", headers=operator)
    assert fetched.status_code == 200
    assert "api_key" not in fetched.json()
    assert key not in fetched.text

    me = await subscription_client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    assert me.json() == {"partner_id": body["id"], "name": name}
    via_header = await subscription_client.get("/v1/me", headers={"X-API-Key": key})
    assert via_header.status_code == 200


async def test_missing_wrong_rotated_and_suspended_keys_get_401(
    subscription_client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    created = (
        await subscription_client.post("/v1/partners", json={"name": unique_name()}, headers=operator)
    ).json()
    old_key = created["api_key"]
    assert (await subscription_client.get("/v1/me")).status_code == 401
    assert (await subscription_client.get("/v1/me", headers={"X-API-Key": old_key + "x"})).status_code == 401

    rotated = await subscription_client.post(f"/v1/partners/{created['id']}/key-rotations", headers=operator)
    assert rotated.status_code == 201
    new_key = rotated.json()["api_key"]
    assert new_key != old_key
    revoked = await subscription_client.get("/v1/me", headers={"X-API-Key": old_key})
    assert revoked.status_code == 401
    assert revoked.json()["code"] == "unauthorized"
    assert (await subscription_client.get("/v1/me", headers={"X-API-Key": new_key})).status_code == 200

    suspended = await subscription_client.patch(
        f"/v1/partners/{created['id']}", json={"status": "suspended"}, headers=operator
    )
    assert suspended.json()["status"] == "suspended"
    assert (await subscription_client.get("/v1/me", headers={"X-API-Key": new_key})).status_code == 401


async def test_bad_input_is_problem_json_with_stable_codes(
    subscription_client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    name = unique_name()
    assert (
        await subscription_client.post("/v1/partners", json={"name": name}, headers=operator)
    ).status_code == 201
    duplicate = await subscription_client.post("/v1/partners", json={"name": name}, headers=operator)
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "partner_name_taken"
    empty = await subscription_client.post("/v1/partners", json={"name": ""}, headers=operator)
    assert empty.status_code == 422
    assert empty.json()["code"] == "validation_failed"
    unknown = await subscription_client.get(f"/v1/partners/{uuid.uuid4()}", headers=operator)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "partner_not_found"
    bad_status = await subscription_client.patch(
        f"/v1/partners/{uuid.uuid4()}", json={"status": "banned"}, headers=operator
    )
    assert bad_status.status_code == 422


async def test_every_change_is_published_with_the_key_hash_never_the_key(
    subscription_client: httpx.AsyncClient, operator: dict[str, str], kafka: Any
) -> None:
    created = (
        await subscription_client.post("/v1/partners", json={"name": unique_name()}, headers=operator)
    ).json()
    rotated = (
        await subscription_client.post(f"/v1/partners/{created['id']}/key-rotations", headers=operator)
    ).json()
    await subscription_client.patch(
        f"/v1/partners/{created['id']}", json={"status": "suspended"}, headers=operator
    )

    consumer = AIOKafkaConsumer(
        SUBSCRIPTION_EVENTS.name,
        bootstrap_servers=kafka.bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    mine: list[Any] = []
    try:

        async def three_events() -> bool:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    assert created["api_key"].encode() not in record.value
                    assert rotated["api_key"].encode() not in record.value
                    try:
                        event = decode_event(record.value)
                    except UnknownEvent:
                        continue  # other tests share the topic and publish poison on purpose
                    if not isinstance(event, PARTNER_EVENTS):
                        continue  # billing, holds, subscriptions of other tests share the topic
                    if str(event.payload.partner_id) == created["id"]:
                        assert record.key == created["id"].encode()
                        mine.append(event)
            return len(mine) >= 3

        await eventually(three_events)
    finally:
        await consumer.stop()
    assert [type(e) for e in mine] == [PartnerCreated, PartnerKeyRotated, PartnerStatusChanged]
    assert [e.payload.revision for e in mine] == [1, 2, 3]
    assert mine[0].payload.api_key_sha256 == hash_api_key(created["api_key"])
    assert mine[1].payload.api_key_sha256 == hash_api_key(rotated["api_key"])
    assert mine[2].payload.status == "suspended"


async def create_partner(
    client: httpx.AsyncClient, operator: dict[str, str], **profile: Any
) -> httpx.Response:
    return await client.post(
        "/v1/partners", json={"name": unique_name(), "profile": profile}, headers=operator
    )


async def test_a_partial_profile_change_keeps_the_other_fields(
    subscription_client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    created = await create_partner(
        subscription_client, operator, signature="【甲方】", access_number="1069031", rate_limit_per_s=50
    )
    assert created.status_code == 201, created.text
    url = f"/v1/partners/{created.json()['id']}"
    patched = await subscription_client.patch(
        url, json={"profile": {"rate_limit_per_s": 5}}, headers=operator
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["profile"] == {
        "signature": "【甲方】",
        "signature_placement": "prepend",
        "access_number": "1069031",
        "rate_limit_per_s": 5,
    }
    cleared = await subscription_client.patch(url, json={"profile": {"signature": None}}, headers=operator)
    assert cleared.json()["profile"] == {**patched.json()["profile"], "signature": None}
    fetched = await subscription_client.get(url, headers=operator)
    assert fetched.json()["profile"] == cleared.json()["profile"]


async def test_access_numbers_are_ranges_of_their_own(
    subscription_client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    """With its extension, a partner's number must never reach another's range, nor the provider's
    own system number (10690000 here): no number may be a prefix of another in use."""
    assert (await create_partner(subscription_client, operator, access_number="1069031")).status_code == 201
    for taken, overlaps in (
        ("1069031", "1069031"),  # the same
        ("106903", "1069031"),  # 106903 + ext 1 would be the first partner's
        ("10690312", "1069031"),  # inside the first partner's range
        ("10690", "10690000"),  # the provider's system number
        ("106900001", "10690000"),
    ):
        refused = await create_partner(subscription_client, operator, access_number=taken)
        assert refused.status_code == 409, (taken, refused.text)
        assert (refused.json()["code"], refused.json()["overlaps"]) == ("access_number_overlaps", overlaps)

    second = await create_partner(subscription_client, operator, access_number="1069032")
    assert second.status_code == 201, second.text
    moved = await subscription_client.patch(
        f"/v1/partners/{second.json()['id']}",
        json={"profile": {"access_number": "10690311"}},
        headers=operator,
    )
    assert moved.status_code == 409
    kept = await subscription_client.get(f"/v1/partners/{second.json()['id']}", headers=operator)
    assert kept.json()["profile"]["access_number"] == "1069032"

    at_once = await asyncio.gather(
        *(create_partner(subscription_client, operator, access_number="1069040") for _ in range(4))
    )
    assert sorted(r.status_code for r in at_once) == [201, 409, 409, 409]


async def test_credentials_are_checked_before_the_body_is_read(
    subscription_client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    """A stranger learns nothing about what a body should be: 401 comes first, also for a body
    that is not JSON; the operator token is a bearer token, never an X-API-Key."""
    for headers in ({}, {"X-API-Key": operator["Authorization"].removeprefix("Bearer ")}):
        for body in ("{not json", '{"name": 5}'):
            refused = await subscription_client.post(
                "/v1/partners", content=body, headers={**headers, "content-type": "application/json"}
            )
            assert refused.status_code == 401, (headers, body, refused.text)
            assert refused.json()["code"] == "unauthorized"


async def test_failed_authentications_from_one_client_are_limited(database: str, kafka: Any) -> None:
    settings = SubscriptionSettings(
        **{**service_settings_kwargs(database, kafka.bootstrap), "auth_failures_per_window": 3}
    )
    async with serve(create_app(settings)) as client:
        created = await client.post(
            "/v1/partners",
            json={"name": unique_name()},
            headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        )
        good = {"X-API-Key": created.json()["api_key"]}
        assert (await client.get("/v1/me", headers=good)).status_code == 200
        for n in range(3):
            bad = await client.get("/v1/me", headers={"X-API-Key": f"vask_0000000{n}_guess"})
            assert bad.status_code == 401
        refused = await client.get("/v1/me", headers={"X-API-Key": "vask_00000009_guess"})
        assert refused.status_code == 429
        assert refused.json()["code"] == "too_many_failed_attempts"
        assert int(refused.headers["retry-after"]) > 0
        # the client is refused whatever it presents until the window ends: a right guess is no use
        assert (await client.get("/v1/me", headers=good)).status_code == 429
