"""Mirror takeover (issue #17): an SMSC route with a standby. The primary is dropped mid-run;
dispatch moves to the standby after every primary bind has been down for N s, loses nothing,
keeps each long message whole on one SMSC, and returns to the primary once it has been up for
M s. On the real broker, PostgreSQL and two SMSC simulators."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from sms_sender.connectors import Route, smsc_own_id
from sms_sender.connectors.failover import FailoverConnector
from sms_sender.connectors.smpp import SmppConnector
from sms_sender.main import _connector, _health_monitor, create_app
from sms_sender.settings import SmsSenderSettings
from vas_common.clock import ManualClock
from vas_common.events.sms_sender import HealthCheck, MoReceived
from vas_common.events.topics import SMS_MO
from vas_devstack.broker import EmbeddedBroker
from vas_devstack.pytest_plugin import eventually, read_events, serve, service_settings_kwargs
from vas_devstack.smsc import SmscConfig, SmscSimulator

STANDBY_AFTER_S = 1.0
PRIMARY_HOLD_S = 1.5
RECIPIENTS = [f"86138000{n:05d}" for n in range(20)]
LONG = "移动增值业务服务质量承诺" * 8  # with the number and the signature: 2 UCS2 segments
SIGNATURE = "【测试】"


@pytest.fixture
def kafka(own_broker: EmbeddedBroker) -> EmbeddedBroker:
    """A broker of the test's own: these tests compare what the two SMSCs received with what
    they sent, and a dispatcher on the shared topics also sends what other tests left there
    (a complaint's acknowledgement was seen at the simulator in a full run)."""
    return own_broker


@pytest.fixture
async def standby() -> AsyncIterator[SmscSimulator]:
    """A second SMSC with an account of its own: the standby route."""
    simulator = SmscSimulator(SmscConfig(smpp_port=0, http_port=0, accounts={"vas-standby": "standby-pass"}))
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def text(n: int) -> str:
    return f"{n:03d}{LONG}" if n % 3 == 0 else f"{n:03d} short notice"


async def send_all(client: httpx.AsyncClient, partner: Any, numbers: range) -> dict[str, str]:
    """One request per message, all at once; message id -> the text the handset shows."""

    async def one(n: int) -> tuple[str, str]:
        response = await client.post(
            "/v1/messages",
            headers=partner.headers,
            json={"recipients": [RECIPIENTS[n % len(RECIPIENTS)]], "content": text(n), "category": "notice"},
        )
        assert response.status_code == 202, response.text
        return str(response.json()["accepted"][0]["message_id"]), SIGNATURE + text(n)

    return dict(await asyncio.gather(*(one(n) for n in numbers)))


async def statuses(database: str, ids: list[str]) -> Counter[str]:
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT status FROM messages WHERE id = ANY($1::uuid[])", [uuid.UUID(i) for i in ids]
        )
    finally:
        await conn.close()
    return Counter(r["status"] for r in rows)


async def segment_routes(database: str, ids: list[str]) -> dict[str, str | None]:
    """SMSC message id -> the route recorded for the segment."""
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT smsc_message_id, route FROM segments WHERE message_id = ANY($1::uuid[])",
            [uuid.UUID(i) for i in ids],
        )
    finally:
        await conn.close()
    return {r["smsc_message_id"]: r["route"] for r in rows}


def complete_texts(*smscs: SmscSimulator) -> Counter[str]:
    return Counter(m["text"] for s in smscs for m in s.messages()["messages"] if m["complete"])


def metric(metrics: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(rf"^{name}\{{{wanted}\}} (\S+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else None


async def test_the_standby_takes_over_when_the_primary_is_dropped_mid_run_and_dispatch_returns_after_the_hold(
    database: str,
    kafka: Any,
    smsc: SmscSimulator,
    standby: SmscSimulator,
    sms_settings: Any,
    make_partner: Any,
    record_property: Callable[[str, object], None],
) -> None:
    """Was: no standby at all; with the primary refusing binds nothing was sent until it came back."""
    primary = smsc
    outage = ManualClock()  # the primary refuses binds until this clock is moved on
    settings = sms_settings(
        database,
        kafka,
        role="all",
        smsc_port=primary.smpp_port,
        smsc_binds=2,
        smsc_tps=40,  # 80 segments a second per route: the run lasts long enough to drop it midway
        smsc_response_timeout_s=2.0,
        default_rate_per_s=10_000,
        smsc_standby_host="127.0.0.1",
        smsc_standby_port=standby.smpp_port,
        smsc_standby_system_id="vas-standby",
        smsc_standby_password="standby-pass",
        smsc_standby_after_s=STANDBY_AFTER_S,
        smsc_primary_hold_s=PRIMARY_HOLD_S,
    )
    async with serve(create_app(settings)) as client:

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready)
        await eventually(lambda: standby.stats()["binds_active"] == 2)  # a hot standby
        metrics = (await client.get("/metrics")).text
        assert metric(metrics, "smpp_route_active", route="primary") == 1.0
        assert metric(metrics, "smpp_binds_connected", route="standby") == 2.0
        partner = await make_partner(client)()

        sending = asyncio.create_task(send_all(client, partner, range(200)))
        await eventually(lambda: len(primary.records) >= 60)
        dropped_at = time.monotonic()  # every primary bind is lost now, and new ones are refused
        await primary.refuse_binds(3600, clock=outage)
        sent = await sending
        assert len(primary.records) < 267, "the primary was not dropped mid-run"  # 67 long, 133 short

        # Nothing lost: every message whole on one SMSC or the other, each recorded as submitted.
        await eventually(lambda: complete_texts(primary, standby) >= Counter(sent.values()), timeout_s=60)
        assert set(complete_texts(primary, standby)) == set(sent.values())
        await eventually(lambda: _none_accepted(database, list(sent)))
        first_on_standby = min(r.received_monotonic for r in standby.records)
        switch_s = first_on_standby - dropped_at
        record_property("switch_to_standby_s", round(switch_s, 3))
        print(f"\nswitch time (primary's last bind lost -> first submit on the standby): {switch_s:.3f}s")
        assert STANDBY_AFTER_S <= switch_s < STANDBY_AFTER_S + 1.5

        # Each long message: all its parts in order on one SMSC; one half-sent on the primary
        # went again whole on the standby with the same reference.
        on_standby = {(m["destination"], m["reference"]): m for m in standby.messages()["messages"]}
        for m in primary.messages()["messages"]:
            if m["total"] > 1 and not m["complete"]:
                again = on_standby[(m["destination"], m["reference"])]
                assert (again["complete"], again["text"].startswith(m["text"])) == (True, True), (m, again)
        for m in standby.messages()["messages"]:
            assert (m["complete"], m["in_order"], m["duplicates"]) == (True, True, 0), m
        # Each segment records the route that took it (a receipt query must go to that SMSC).
        routes = await segment_routes(database, list(sent))
        on_standby_ids = {r.message_id for r in standby.records}
        on_primary_ids = {r.message_id for r in primary.records}
        assert set(routes.values()) == {"primary", "standby"}
        for recorded_id, route in routes.items():
            smsc_id = smsc_own_id(Route(route) if route else None, recorded_id)
            assert smsc_id in (on_standby_ids if route == "standby" else on_primary_ids), (smsc_id, route)
        half_sent = sum(1 for m in primary.messages()["messages"] if not m["complete"])
        print(f"long messages half-sent on the primary and resent whole on the standby: {half_sent}")

        metrics = (await client.get("/metrics")).text
        assert metric(metrics, "smpp_route_active", route="standby") == 1.0
        assert metric(metrics, "smpp_route_active", route="primary") == 0.0
        assert metric(metrics, "smpp_route_switches_total", to="standby") == 1.0
        assert (metric(metrics, "smpp_route_messages_moved_total", to="standby") or 0) >= 1
        body = (await client.get("/readyz")).json()
        assert body["warnings"]["smsc_route"].startswith("dispatching on the standby route vas-standby@")
        assert "every bind of the primary vas@127.0.0.1" in body["warnings"]["smsc_route"]

        # MO and receipts come in from the standby too.
        assert standby.inject_mo("8613912340001", "1069001", "TD") == 1
        await read_events(
            kafka.bootstrap,
            SMS_MO.name,
            lambda e: isinstance(e, MoReceived) and e.payload.msisdn == "8613912340001",
            1,
        )

        # The primary comes back: dispatch returns once it has been up for the hold.
        outage.advance(timedelta(hours=2))
        await eventually(lambda: primary.stats()["binds_active"] >= 1, interval_s=0.01)
        back_at = time.monotonic()  # the hold runs from the first primary bind up

        async def on_primary() -> bool:
            text = (await client.get("/metrics")).text
            return metric(text, "smpp_route_active", route="primary") == 1.0

        await eventually(on_primary)
        returned_s = time.monotonic() - back_at
        print(f"back on the primary {returned_s:.3f}s after its first bind was up again")
        assert returned_s >= PRIMARY_HOLD_S - 0.1
        assert "smsc_route" not in (await client.get("/readyz")).json()["warnings"]
        # Receipts of what the primary took before the drop came when it was back: all delivered.
        await eventually(lambda: _all_delivered(database, list(sent)), timeout_s=30)

        on_standby_before = len(standby.records)
        on_primary_before = len(primary.records)
        later = await send_all(client, partner, range(200, 220))
        await eventually(lambda: complete_texts(primary) >= Counter(later.values()))
        assert len(standby.records) == on_standby_before
        assert len(primary.records) > on_primary_before
        await eventually(lambda: _all_delivered(database, list(later)))


async def _none_accepted(database: str, ids: list[str]) -> bool:
    counts = await statuses(database, ids)
    assert set(counts) <= {"submitted", "delivered"}, dict(counts)
    return sum(counts.values()) == len(ids)


async def _all_delivered(database: str, ids: list[str]) -> bool:
    counts = await statuses(database, ids)
    assert counts["delivered"] == len(ids), dict(counts)
    return True


async def test_without_standby_settings_nothing_changes(
    database: str, kafka: Any, smsc: SmscSimulator, sms_settings: Any, make_partner: Any
) -> None:
    """One route, no route metrics or warnings; after an outage the primary carries on."""
    settings = sms_settings(
        database, kafka, role="all", smsc_port=smsc.smpp_port, smsc_tps=0, default_rate_per_s=10_000
    )
    assert isinstance(_connector(settings), SmppConnector)
    outage = ManualClock()
    async with serve(create_app(settings)) as client:

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready)
        partner = await make_partner(client)()
        await smsc.refuse_binds(3600, clock=outage)
        sent = await send_all(client, partner, range(30))
        metrics = (await client.get("/metrics")).text
        assert "smpp_route" not in metrics
        assert re.search(r"^smpp_binds_connected \S+$", metrics, re.MULTILINE)
        outage.advance(timedelta(hours=2))
        await eventually(ready)
        assert "smsc_route" not in (await client.get("/readyz")).json()["warnings"]
        await eventually(lambda: complete_texts(smsc) >= Counter(sent.values()))
        await eventually(lambda: _all_delivered(database, list(sent)))
        assert set((await segment_routes(database, list(sent))).values()) == {None}


async def test_a_receipt_from_one_smsc_never_marks_a_segment_the_other_took(
    database: str, kafka: Any, sms_settings: Any, make_partner: Any
) -> None:
    """Bug found by review, test first: segments were matched by the SMSC's id alone, and the
    two SMSCs hand out ids independently. Here both start at the same id: the primary takes one
    message and sends no receipt, dispatch moves to the standby, which takes another under the
    same id and delivers it. Its receipt marked both messages delivered."""
    primary = SmscSimulator(SmscConfig(smpp_port=0, http_port=0, drop_receipts=1.0, first_message_id=0x1000))
    standby = SmscSimulator(
        SmscConfig(
            smpp_port=0, http_port=0, accounts={"vas-standby": "standby-pass"}, first_message_id=0x1000
        )
    )
    await primary.start()
    await standby.start()
    outage = ManualClock()
    settings = sms_settings(
        database,
        kafka,
        role="all",
        smsc_port=primary.smpp_port,
        smsc_tps=0,
        default_rate_per_s=10_000,
        smsc_standby_host="127.0.0.1",
        smsc_standby_port=standby.smpp_port,
        smsc_standby_system_id="vas-standby",
        smsc_standby_password="standby-pass",
        smsc_standby_after_s=STANDBY_AFTER_S,
        smsc_primary_hold_s=PRIMARY_HOLD_S,
    )
    try:
        async with serve(create_app(settings)) as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready)
            await eventually(lambda: standby.stats()["binds_active"] >= 1)
            partner = await make_partner(client)()
            on_primary = await send_all(client, partner, range(1, 2))  # a short one
            await eventually(lambda: _none_accepted(database, list(on_primary)))
            await primary.refuse_binds(3600, clock=outage)

            async def on_standby_route() -> bool:
                text = (await client.get("/metrics")).text
                return metric(text, "smpp_route_active", route="standby") == 1.0

            await eventually(on_standby_route)
            on_standby = await send_all(client, partner, range(2, 3))
            await eventually(lambda: _all_delivered(database, list(on_standby)))

            [primary_id] = [r.message_id for r in primary.records]
            [standby_id] = [r.message_id for r in standby.records]
            assert primary_id == standby_id  # the collision this test is about
            assert await statuses(database, list(on_primary)) == Counter({"submitted": 1})  # no receipt came
            routes = await segment_routes(database, [*on_primary, *on_standby])
            assert routes == {primary_id: "primary", f"standby:{standby_id}": "standby"}
    finally:
        await standby.stop()
        await primary.stop()


def test_the_health_report_says_which_route_its_binds_are_of() -> None:
    """On the standby, the binds check passes while the primary may be down for good: the
    report says which route the binds are of (the incident service shows the evidence)."""

    def settings(**more: Any) -> SmsSenderSettings:
        base = service_settings_kwargs("postgresql://unused@/none", "127.0.0.1:9")
        return SmsSenderSettings(**{**base, "role": "dispatcher", **more})

    def route_shown(connector: Any, with_settings: SmsSenderSettings) -> object:
        monitor = _health_monitor(with_settings, ManualClock(), connector)
        [binds] = [c for c in monitor.report().checks if c.check == HealthCheck.BINDS_DOWN]
        return binds.detail.get("route", "not shown")

    two_routes = settings(smsc_standby_host="127.0.0.1", smsc_standby_port=2776)
    connector = _connector(two_routes)
    assert isinstance(connector, FailoverConnector)
    assert route_shown(connector, two_routes) == "primary"
    connector.active = connector.standby
    assert route_shown(connector, two_routes) == "standby"
    one_route = settings()
    assert route_shown(_connector(one_route), one_route) == "not shown"
