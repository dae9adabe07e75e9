"""The public status page publishes the provider's services as the subscription catalogue
announced them: a product on sale with its tariff and scope, and its discontinuation when it is
announced, on the page, in the Atom feed and in the JSON API (subscription.events → incident)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

from vas_devstack.pytest_plugin import OPERATOR_TOKEN, eventually

Suite = Any
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
ATOM = "{http://www.w3.org/2005/Atom}"


async def test_the_catalogue_and_a_discontinuation_reach_the_status_page(suite: Suite) -> None:
    partner = await suite.partner()
    product = await suite.product(partner, name="天气预报", price_fen=300, availability="广东省内移动用户")
    other = await suite.product(partner, name="笑话精选")
    code = product["code"]

    async def listed() -> dict[str, Any] | None:
        published = (await suite.incident.get("/v1/status/published")).json()
        found = {p["code"]: p for p in published["products"]}
        return found.get(code) if other["code"] in found else None

    shown = await eventually(listed)
    assert (shown["name"], shown["price"], shown["scope"]) == ("天气预报", "3元/月", "广东省内移动用户")
    assert shown["provider"] == partner["name"]
    assert shown["discontinue_at"] is None
    published = (await suite.incident.get("/v1/status/published")).json()
    assert {"name": "包月订阅类短信业务", "products_on_sale": 2} in published["service_types"]
    keys = [c["key"] for c in published["commitments"]]
    assert {"sms_send_delay", "availability", "repair", "maintenance_notice"} <= set(keys)

    page = await suite.incident.get("/status")
    assert page.status_code == 200
    assert "天气预报" in page.text
    assert "广东省内移动用户" in page.text
    assert "4秒内" in page.text  # the send-delay promise

    ends = suite.clock.now() + timedelta(days=31)
    scheduled = await suite.subscription.post(
        f"/v1/products/{product['id']}/discontinuation",
        json={"effective_at": ends.isoformat(), "reason": "合作到期"},
        headers=partner["headers"],
    )
    assert scheduled.status_code == 200, scheduled.text

    async def announced() -> bool:
        return (await listed() or {}).get("discontinue_at") is not None

    await eventually(announced)
    page = await suite.incident.get("/status")
    assert "业务停止公告" in page.text
    assert f'id="ending-{code}"' in page.text
    assert "合作到期" in page.text
    feed = await suite.incident.get("/status/feed.atom")
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("application/atom+xml")
    entries = ET.fromstring(feed.content).findall(f"{ATOM}entry")  # noqa: S314 (our own feed)
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert f"业务停止：天气预报（{code}）" in titles
    assert all(other["code"] not in (t or "") for t in titles)


async def test_commitments_are_data_the_administrator_words(suite: Suite) -> None:
    body = {"title": "短信发送时延", "promise": "受理后3秒内提交至运营商短信中心"}
    changed = await suite.incident.put("/v1/status/commitments/sms_send_delay", json=body, headers=OPERATOR)
    assert changed.status_code == 200, changed.text
    assert changed.json()["updated_by"] == "operator"
    assert "受理后3秒内" in (await suite.incident.get("/status")).text
    missing = await suite.incident.put("/v1/status/commitments/no_such_thing", json=body, headers=OPERATOR)
    assert missing.status_code == 404
    assert missing.json()["code"] == "commitment_not_found"
    anonymous = await suite.incident.put("/v1/status/commitments/sms_send_delay", json=body)
    assert anonymous.status_code == 401
    blank = await suite.incident.put(
        "/v1/status/commitments/sms_send_delay", json={**body, "promise": ""}, headers=OPERATOR
    )
    assert blank.status_code == 422
