"""Every route of every service, called as each kind of caller.

Routes come from each service's OpenAPI document; each must declare its audience (`x-audience`).
Then each is called as no one, as a partner on its own data, as a partner on another partner's
data and as the operator:

| audience | no one | the operator | partner A, A's data | partner B, A's data |
|---|---|---|---|---|
| public | answered | answered | answered | answered |
| partner | 401 | 401 | answered, found | 404, or nothing of A's in the answer |
| operator | 401 | answered, found | 401 | 401 |
| staff | 401 | answered, found (the operator is a staff admin for machines) | 401 | 401 |

A staff route is also called as a signed-in agent (a staff token, issued by the complaints
service and verified by the service called): 403 `role_required` where the route says it needs a
higher role (`x-staff-role`), else answered and found.

"answered" = below 500 and not 401/403; "found" = not 404. A route this test does not know how to
call (a new one) fails it until it is added to REQUESTS below, so a new route is never unchecked.
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from subscription import domain
from vas_common.staff import CSRF_COOKIE, Csrf
from vas_devstack.pytest_plugin import OPERATOR_TOKEN, STAFF_TOKEN_KEY, eventually

OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
STAFF_PASSWORD = "matrix password 1"
LOGIN_NONCE = "matrix-nonce-0123456789"
LOGIN_CSRF = Csrf(SecretStr(STAFF_TOKEN_KEY)).token(LOGIN_NONCE, None)
ROLE_EXTENSION = "x-staff-role"
AUDIENCES = {"public", "partner", "operator", "staff"}
Suite = Any  # tests/conftest.py


@dataclass
class World:
    """Partner A's data, which partner B must never reach; a throwaway partner for the operator
    routes that change a partner (a key rotation would lock A out of the rest of the test)."""

    a: dict[str, Any]
    b: dict[str, Any]
    throwaway: dict[str, Any]
    product: dict[str, Any]
    user: str
    subscription_id: str
    message_id: str
    charge_id: str
    complaint: dict[str, Any]
    policy_id: str
    agent: dict[str, str]  # a signed-in agent's bearer token
    account_id: str  # a staff account (a throwaway one: the admin routes change it)
    incident_id: str  # an incident (merged into survivor_id by the merge route)
    survivor_id: str
    window_id: str  # a maintenance window longer than 24 h, and its regulator task
    task_id: str
    hold_id: str  # a hold on the window
    report_id: str  # the regulator report of a major outage

    def path_values(self) -> dict[str, str]:
        return {
            "complaint_id": self.complaint["id"],
            "tracking_code": self.complaint["tracking_code"],
            "policy_id": self.policy_id,
            "day": "2031-05-06",
            "year": "2031",
            "message_id": self.message_id,
            "product_id": self.product["id"],
            "subscription_id": self.subscription_id,
            "msisdn": self.user,
            "charge_id": self.charge_id,
            "partner_id": self.throwaway["id"],
            "account_id": self.account_id,
            "key": "records",
            "incident_id": self.incident_id,
            "window_id": self.window_id,
            "task_id": self.task_id,
            "hold_id": self.hold_id,
            "report_id": self.report_id,
            "stage": "first",
            "rule_id": "major_outage",
            "period": "2026-Q4",
            "month": "2026-11",
            "store": "subscription",
        }

    def traces_of_a(self) -> list[str]:
        """What no answer to partner B may contain (B may message A's subscriber itself, so the
        number alone is not A's)."""
        return [self.a["id"], self.product["id"], self.subscription_id, self.message_id, self.charge_id]


def requests(world: World, suite: Suite) -> dict[tuple[str, str], dict[str, Any]]:
    """How to call each route: its body and query (path values come from World.path_values)."""
    later = (suite.clock.now() + timedelta(days=31)).isoformat()
    period = {
        "from": (suite.clock.now() - timedelta(days=1)).isoformat(),
        "to": (suite.clock.now() + timedelta(days=1)).isoformat(),
    }
    return {
        ("POST", "/v1/messages"): {
            # A's product (content needs one): A sends to its subscriber, B is refused the code.
            "json": {"recipients": [world.user], "content": "你好", "product_code": world.product["code"]}
        },
        ("GET", "/v1/messages"): {},
        ("GET", "/v1/messages/{message_id}"): {},
        ("GET", "/v1/status-events"): {},
        ("POST", "/v1/callback-secrets"): {},
        ("GET", "/v1/callbacks/dead"): {},
        ("GET", "/v1/me"): {},
        ("POST", "/v1/jobs/retention"): {},
        ("GET", "/healthz"): {},
        ("GET", "/readyz"): {},
        ("GET", "/metrics"): {},
        ("POST", "/v1/partners"): {"json": {"name": f"cp-{uuid.uuid4().hex[:8]}"}},
        ("GET", "/v1/partners"): {},
        ("GET", "/v1/partners/{partner_id}"): {},
        ("PATCH", "/v1/partners/{partner_id}"): {"json": {"profile": {"rate_limit_per_s": 7}}},
        ("POST", "/v1/partners/{partner_id}/key-rotations"): {},
        ("GET", "/v1/products"): {},
        ("POST", "/v1/products"): {
            "json": {
                "code": "M" + uuid.uuid4().hex[:6].upper(),
                "name": "矩阵",
                "billing_type": "monthly",
                "price_fen": 100,
            }
        },
        ("POST", "/v1/products/{product_id}/publication"): {},
        ("POST", "/v1/products/{product_id}/discontinuation"): {
            "json": {"effective_at": later, "reason": "停止"}
        },
        ("POST", "/v1/operator/products/{product_id}/discontinuation"): {
            "json": {"effective_at": later, "reason": "停止"}
        },
        ("GET", "/v1/catalogue"): {},
        ("GET", "/catalogue"): {},
        ("POST", "/v1/subscriptions"): {
            "json": {"msisdn": world.user, "product_code": world.product["code"]}
        },
        ("GET", "/v1/subscriptions/{subscription_id}"): {},
        ("DELETE", "/v1/subscriptions/{subscription_id}"): {},
        ("GET", "/v1/users/{msisdn}/subscriptions"): {},
        ("DELETE", "/v1/users/{msisdn}/subscriptions/{subscription_id}"): {},
        ("POST", "/v1/users/{msisdn}/suspensions"): {
            "json": {"effective_at": (suite.clock.now() + timedelta(days=2)).isoformat(), "reason": "欠费"}
        },
        ("GET", "/v1/registration-success"): {},
        ("POST", "/v1/jobs/expire-pending"): {},
        ("POST", "/v1/jobs/scheduled-changes"): {},
        ("POST", "/v1/billing/runs"): {"json": {"period": domain.period_of(suite.clock.now())}},
        ("POST", "/v1/charges/{charge_id}/refunds"): {"json": {"amount_fen": 1, "reason": "测试"}},
        ("GET", "/v1/users/{msisdn}/charges"): {},
        ("GET", "/v1/users/{msisdn}/records"): {},
        ("GET", "/v1/legal-holds"): {},
        ("POST", "/v1/legal-holds"): {"json": {"msisdn": world.user, "reason": "投诉处理中"}},
        ("DELETE", "/v1/legal-holds/{msisdn}"): {},
        ("GET", "/v1/users/{msisdn}/holds"): {},
        # complaints (staff routes take the operator token until the staff login)
        ("POST", "/v1/complaints"): {
            "json": {"channel": "phone", "category": "billing", "msisdn": world.user, "summary": "扣费不明"}
        },
        ("GET", "/v1/complaints"): {},
        ("GET", "/v1/complaints/{complaint_id}"): {},
        ("POST", "/v1/complaints/{complaint_id}/events"): {"json": {"kind": "contacted"}},
        ("POST", "/v1/public/complaints"): {
            "json": {"msisdn": "8613760000052", "category": "service", "summary": "网页投诉"}
        },
        ("GET", "/v1/public/complaints/{tracking_code}"): {"params": {"last4": world.user[-4:]}},
        ("GET", "/v1/sla/policies"): {},
        ("POST", "/v1/sla/policies"): {
            "json": {
                "clock": "first_reply",
                "basis": "calendar",
                "target_minutes": 60,
                "channel": "web",
                "partner_id": world.a["id"],
            }
        },
        ("DELETE", "/v1/sla/policies/{policy_id}"): {},
        ("POST", "/v1/jobs/sla-tick"): {},
        ("POST", "/v1/jobs/recompute-clocks"): {},
        ("GET", "/v1/calendar"): {"params": {"year": 2026}},
        ("PUT", "/v1/calendar/days/{day}"): {"json": {"kind": "holiday", "note": "测试"}},
        ("DELETE", "/v1/calendar/days/{day}"): {},
        ("PUT", "/v1/calendar/years/{year}"): {"json": {"complete": True, "note": "测试"}},
        ("PUT", "/v1/calendar/hours"): {"json": {"start": "09:00", "end": "18:00"}},
        # staff sign-in and accounts (complaints), and the console's pages
        ("POST", "/v1/staff/sessions"): {"json": {"login": "matrix-agent", "password": STAFF_PASSWORD}},
        ("DELETE", "/v1/staff/sessions"): {},
        ("GET", "/v1/staff/me"): {},
        ("GET", "/v1/staff/accounts"): {},
        ("POST", "/v1/staff/accounts"): {
            "json": {
                "login": f"m{uuid.uuid4().hex[:8]}",
                "display_name": "矩阵",
                "role": "agent",
                "password": STAFF_PASSWORD,
            }
        },
        ("GET", "/v1/staff/accounts/{account_id}"): {},
        ("PATCH", "/v1/staff/accounts/{account_id}"): {"json": {"display_name": "改名"}},
        ("PUT", "/v1/staff/accounts/{account_id}/password"): {"json": {"password": STAFF_PASSWORD}},
        ("GET", "/complaints/new"): {},
        ("POST", "/complaints/new"): {
            "data": {"msisdn": world.user, "category": "service", "summary": "矩阵"}
        },
        ("GET", "/complaints/track"): {"params": {"code": "TS0000000000", "last4": world.user[-4:]}},
        ("GET", "/staff/login"): {},
        ("POST", "/staff/login"): {
            # a browser's form: its CSRF nonce cookie and the token the page gave it
            "data": {"login": "matrix-agent", "password": STAFF_PASSWORD, "csrf_token": LOGIN_CSRF},
            "headers": {"Cookie": f"{CSRF_COOKIE}={LOGIN_NONCE}"},
        },
        ("POST", "/staff/logout"): {"data": {}},
        ("GET", "/staff/complaints"): {},
        ("GET", "/staff/complaints/{complaint_id}"): {},
        ("POST", "/staff/complaints/{complaint_id}/events"): {"data": {"kind": "contacted", "note": "矩阵"}},
        ("GET", "/staff/calendar"): {"params": {"year": 2031}},
        ("POST", "/staff/calendar/overrides"): {
            "data": {"day": "2031-05-06", "kind": "holiday"}
        },  # removed next
        ("POST", "/staff/calendar/overrides/{day}/removal"): {"data": {}},
        ("GET", "/staff/attainment"): {},
        ("GET", "/v1/reports/attainment"): {"params": period},
        ("GET", "/v1/reports/complaint-rate"): {"params": period},
        # incident: the status page
        ("GET", "/v1/status"): {},
        ("GET", "/v1/status/published"): {},
        ("PUT", "/v1/status/commitments/{key}"): {
            "json": {"title": "记录保存", "promise": "原始记录保存6个月，用户可查询"}
        },
        ("GET", "/status"): {},
        ("GET", "/status/feed.atom"): {},
        # incident (staff: any member reads, a supervisor changes)
        ("GET", "/v1/incidents"): {},
        ("POST", "/v1/incidents"): {
            "json": {"title": "矩阵", "severity": "minor", "impact": "partial", "services": ["sms-sender"]}
        },
        ("GET", "/v1/incidents/{incident_id}"): {},
        ("PATCH", "/v1/incidents/{incident_id}"): {"json": {"commander": "矩阵"}},
        ("POST", "/v1/incidents/{incident_id}/timeline"): {"json": {"kind": "note", "text": "矩阵"}},
        ("POST", "/v1/incidents/{incident_id}/resolve"): {"json": {}},
        ("POST", "/v1/incidents/{incident_id}/merge"): {"json": {"into": world.survivor_id}},
        ("GET", "/v1/availability"): {"params": {"service": "sms-sender", "month": "2026-01"}},
        # incident: maintenance windows and regulator tasks (supervisor)
        ("POST", "/v1/maintenance-windows"): {"json": maintenance_window(suite, hours_ahead=80)},
        ("GET", "/v1/maintenance-windows"): {},
        ("GET", "/v1/maintenance-windows/{window_id}"): {},
        ("PUT", "/v1/maintenance-windows/{window_id}/schedule"): {
            "json": {k: v for k, v in maintenance_window(suite, hours_ahead=90).items() if k.endswith("_at")}
        },
        ("POST", "/v1/maintenance-windows/{window_id}/cancellation"): {"json": {"reason": "矩阵"}},
        ("POST", "/v1/maintenance-windows/{window_id}/completion"): {},
        ("POST", "/v1/jobs/maintenance-tick"): {},
        ("GET", "/v1/regulator-tasks"): {},
        ("POST", "/v1/regulator-tasks/{task_id}/completion"): {"json": {"note": "矩阵"}},
        # incident: records (supervisor)
        ("GET", "/v1/records/export"): {
            "params": {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}
        },
        ("POST", "/v1/records/holds"): {
            "json": {"window_id": world.window_id, "holder": "矩阵", "reason": "矩阵"}
        },
        ("GET", "/v1/records/holds"): {},
        ("POST", "/v1/records/holds/{hold_id}/release"): {},
        # incident: regulator reports (staff read, a supervisor changes, an admin changes rules)
        ("GET", "/v1/regulator-reports"): {},
        ("GET", "/v1/regulator-reports/{report_id}"): {},
        ("PATCH", "/v1/regulator-reports/{report_id}"): {"json": {"cause": "矩阵"}},
        ("POST", "/v1/regulator-reports/{report_id}/stages/{stage}/sent"): {"json": {"via": "矩阵"}},
        ("GET", "/v1/regulator-report-rules"): {},
        ("PUT", "/v1/regulator-report-rules/{rule_id}"): {
            "json": {  # the seeded figures again
                "first_within_s": 3600,
                "first_warn_before_s": 1800,
                "final_within_s": 5 * 86400,
                "final_warn_before_s": 86400,
                "basis": "矩阵",
            }
        },
        ("GET", "/staff/regulator-reports/{report_id}"): {},
        ("GET", "/staff/regulator-reports/{report_id}.pdf"): {},
        # incident: service quality (staff)
        ("GET", "/v1/quality/reports/{period}"): {},
        ("GET", "/v1/quality/days/{day}"): {},
        ("GET", "/staff/quality/{period}"): {},
        ("GET", "/staff/quality/{period}.pdf"): {},
        ("GET", "/status/quality/{period}"): {},
        ("GET", "/v1/quality/servqual/{month}"): {},
        ("GET", "/staff/quality/servqual/{month}"): {},
        ("PUT", "/v1/quality/records/{store}"): {
            "json": {"oldest_record_at": "2026-05-01T00:00:00+08:00", "note": "矩阵"}
        },
    }


def maintenance_window(suite: Suite, hours_ahead: int, lasts_hours: int = 4) -> dict[str, Any]:
    start = suite.clock.now() + timedelta(hours=hours_ahead)
    return {
        "product_codes": ["MATRIX"],
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=lasts_hours)).isoformat(),
        "text_zh": "矩阵维护",
    }


async def make_world(suite: Suite) -> World:
    a, b, throwaway = await suite.partner(), await suite.partner(), await suite.partner()
    product = await suite.product(a, name="每日一句", billing_type="per_message", price_fen=10)
    user = "8613760000051"
    await suite.mo(user, product["code"])
    await suite.mo(user, "Y")

    async def sent() -> str | None:
        response = await suite.sms_sender.post(
            "/v1/messages",
            headers=a["headers"],
            json={"recipients": [user], "content": "今日一句", "product_code": product["code"]},
        )
        return str(response.json()["accepted"][0]["message_id"]) if response.status_code == 202 else None

    message_id = await eventually(sent)  # once the subscription is active and known to the sms-sender

    async def charged() -> str | None:
        found = await suite.subscription.get(f"/v1/users/{user}/charges", headers=OPERATOR)
        charges = found.json()["charges"]
        return str(charges[0]["id"]) if charges else None

    charge_id = await eventually(charged)
    [subscription] = (
        await suite.subscription.get(f"/v1/users/{user}/subscriptions", headers=OPERATOR)
    ).json()
    complaint = await suite.complaints.post(
        "/v1/complaints",
        json={"channel": "web", "category": "billing", "msisdn": user, "summary": "扣费不明"},
        headers=OPERATOR,
    )
    assert complaint.status_code == 201, complaint.text
    policy = await suite.complaints.post(
        "/v1/sla/policies",
        json={
            "clock": "first_reply",
            "basis": "calendar",
            "target_minutes": 30,
            "channel": "web",
            "msisdn": user,
        },
        headers=OPERATOR,
    )
    assert policy.status_code == 201, policy.text
    override = await suite.complaints.put(
        "/v1/calendar/days/2031-05-06", json={"kind": "holiday", "note": "测试"}, headers=OPERATOR
    )
    assert override.status_code == 200, override.text
    await _staff_account(suite, "matrix-agent", "agent")
    signed_in = await suite.complaints.post(
        "/v1/staff/sessions", json={"login": "matrix-agent", "password": STAFF_PASSWORD}
    )
    assert signed_in.status_code == 201, signed_in.text
    suite.complaints.cookies.clear()  # each call below presents its own credentials
    throwaway_account = await _staff_account(suite, "matrix-throwaway", "agent")
    incidents = [
        await suite.incident.post(
            "/v1/incidents",
            json={"title": "矩阵", "severity": "major", "impact": "full", "services": ["sms-sender"]},
            headers=OPERATOR,
        )
        for _ in range(2)
    ]
    assert all(i.status_code == 201 for i in incidents), incidents[0].text
    window = await suite.incident.post(
        "/v1/maintenance-windows", json=maintenance_window(suite, 100, lasts_hours=30), headers=OPERATOR
    )
    assert window.status_code == 201, window.text
    task = (
        await suite.incident.get(f"/v1/maintenance-windows/{window.json()['id']}", headers=OPERATOR)
    ).json()
    hold = await suite.incident.post(
        "/v1/records/holds",
        json={"window_id": window.json()["id"], "holder": "matrix", "reason": "矩阵"},
        headers=OPERATOR,
    )
    assert hold.status_code == 201, hold.text
    outage = await suite.incident.post(
        "/v1/incidents",
        json={"title": "矩阵", "severity": "major_outage", "impact": "full", "services": ["sms-sender"]},
        headers=OPERATOR,
    )
    assert outage.status_code == 201, outage.text
    reports = (await suite.incident.get("/v1/regulator-reports", headers=OPERATOR)).json()
    [report] = [r for r in reports if r["incident_id"] == outage.json()["incident"]["id"]]
    return World(
        a,
        b,
        throwaway,
        product,
        user,
        subscription["id"],
        message_id,
        charge_id,
        complaint.json(),
        policy.json()["id"],
        {"Authorization": f"Bearer {signed_in.json()['token']}"},
        throwaway_account["id"],
        incident_id=incidents[0].json()["incident"]["id"],
        survivor_id=incidents[1].json()["incident"]["id"],
        window_id=window.json()["id"],
        task_id=task["regulator_task"]["id"],
        hold_id=hold.json()["id"],
        report_id=report["id"],
    )


async def _staff_account(suite: Suite, login: str, role: str) -> dict[str, Any]:
    created = await suite.complaints.post(
        "/v1/staff/accounts",
        json={"login": login, "display_name": "矩阵", "role": role, "password": STAFF_PASSWORD},
        headers=OPERATOR,
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


def is_answered(response: httpx.Response) -> bool:
    return response.status_code < 500 and response.status_code not in (401, 403)


async def test_every_route_declares_its_audience_and_lets_in_only_that_audience(suite: Suite) -> None:
    world = await make_world(suite)
    calls = requests(world, suite)
    values = world.path_values()
    seen: set[tuple[str, str]] = set()
    failures: list[str] = []
    for client in (suite.sms_sender, suite.subscription, suite.complaints, suite.incident):
        document = (await client.get("/openapi.json")).json()
        for template, item in document["paths"].items():
            for method, operation in item.items():
                route = (method.upper(), template)
                seen.add(route)
                audience = operation.get("x-audience")
                if audience not in AUDIENCES:
                    failures.append(f"{route}: no audience declared ({audience!r})")
                    continue
                if route not in calls:
                    failures.append(f"{route}: unknown to this test; add it to requests()")
                    continue
                url = template.format(**{name: values[name] for name in _placeholders(template)})

                call = functools.partial(_call, client, route[0], url, calls[route])
                failures += await _check(route, audience, call, world, page=bool(operation.get("x-page")))
                if audience == "staff":
                    failures += await _check_role(route, operation.get(ROLE_EXTENSION), call, world)
                client.cookies.clear()  # a sign-in answered above leaves its cookie
    assert not failures, "\n".join(failures)
    assert not set(calls) - seen, f"routes gone from the OpenAPI documents: {set(calls) - seen}"


async def _call(
    client: httpx.AsyncClient, method: str, url: str, how: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    """The route called as `how` says, with the caller's credentials added to its headers."""
    return await client.request(method, url, **{**how, "headers": {**how.get("headers", {}), **headers}})


async def _check(route: tuple[str, str], audience: str, call: Any, world: World, *, page: bool) -> list[str]:
    failures: list[str] = []

    def expect(who: str, response: httpx.Response, ok: bool, wanted: str) -> None:
        if not ok:
            failures.append(
                f"{route} as {who}: {response.status_code} {response.text[:200]}; wanted {wanted}"
            )

    nobody = await call(headers={})
    if audience == "public":
        expect("no one", nobody, is_answered(nobody), "an answer")
        return failures
    expect("no one", nobody, nobody.status_code == 401, "401")
    if nobody.status_code == 401:
        # a page answers as a page (the sign-in form), the API in problem+json
        wanted = "text/html; charset=utf-8" if page else "application/problem+json"
        expect("no one", nobody, nobody.headers["content-type"] == wanted, wanted)

    other = await call(headers=world.b["headers"])
    if audience == "partner":
        if "{" in route[1]:
            expect("partner B on A's data", other, other.status_code == 404, "404")
        else:
            leaked = [trace for trace in world.traces_of_a() if trace in other.text]
            expect(
                "partner B", other, is_answered(other) and not leaked, f"an answer without A's data {leaked}"
            )
    else:
        expect("a partner", other, other.status_code == 401, "401")

    operator = await call(headers=OPERATOR)
    if audience in ("operator", "staff"):
        expect(
            "the operator",
            operator,
            is_answered(operator) and operator.status_code != 404,
            "an answer, found",
        )
    else:
        expect("the operator", operator, operator.status_code == 401, "401 (not a partner key)")

    own = await call(headers=world.a["headers"])
    if audience == "partner":
        expect(
            "partner A on its own data", own, is_answered(own) and own.status_code != 404, "an answer, found"
        )
    else:
        expect("partner A", own, own.status_code == 401, "401")
    return failures


async def _check_role(route: tuple[str, str], role: str | None, call: Any, world: World) -> list[str]:
    """A staff route as a signed-in agent: refused (403 role_required) where a higher role is
    required, else answered."""
    agent = await call(headers=world.agent)
    if role in ("supervisor", "admin"):
        if agent.status_code != 403:
            return [f"{route} as an agent: {agent.status_code} {agent.text[:200]}; wanted 403 (needs {role})"]
        return []
    if not is_answered(agent) or agent.status_code == 404:
        return [f"{route} as an agent: {agent.status_code} {agent.text[:200]}; wanted an answer, found"]
    return []


def _placeholders(template: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", template)  # also in a segment with more, like {report_id}.pdf
