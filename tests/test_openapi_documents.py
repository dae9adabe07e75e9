"""What each service's OpenAPI document tells a client (and the fuzzer): how to authenticate,
every status a route may answer, and that errors are application/problem+json (a page's as a
page, text/html, but for what the middleware answers before any route: 413)."""

from __future__ import annotations

from typing import Any

import pytest

from complaints.main import create_app as complaints_app
from complaints.settings import ComplaintsSettings
from incident.main import create_app as incident_app
from incident.settings import IncidentSettings
from sms_sender.main import create_app as sms_sender_app
from sms_sender.settings import SmsSenderSettings
from subscription.main import create_app as subscription_app
from subscription.settings import SubscriptionSettings

DOCUMENTS = {
    "sms-sender": lambda: sms_sender_app(SmsSenderSettings()).openapi(),
    "subscription": lambda: subscription_app(SubscriptionSettings()).openapi(),
    "complaints": lambda: complaints_app(ComplaintsSettings()).openapi(),
    "incident": lambda: incident_app(IncidentSettings()).openapi(),
}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, item in document["paths"].items() for m, op in item.items()]


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_routes_say_who_may_call_them_and_how(service: str) -> None:
    document = DOCUMENTS[service]()
    schemes = document["components"]["securitySchemes"]
    assert schemes["partnerApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The partner's API key",
    }
    assert schemes["operatorBearer"]["scheme"] == "bearer"
    for method, path, operation in operations(document):
        audience = operation["x-audience"]
        if audience == "public":
            assert "security" not in operation, (method, path)
            continue
        for requirement in operation["security"]:
            assert set(requirement) <= set(schemes), (method, path)
        assert {"401", "429"} <= set(operation["responses"]), (method, path)


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_every_error_is_documented_as_problem_json(service: str) -> None:
    document = DOCUMENTS[service]()
    for method, path, operation in operations(document):
        responses = operation["responses"]
        assert {"413", "503"} <= set(responses), (method, path)
        if "{" in path:
            assert {"404", "422"} <= set(responses), (method, path)
        for status, response in responses.items():
            if status[0] not in "45":
                continue
            if operation.get("x-page") and status != "413":
                assert list(response["content"]) == ["text/html"], (method, path, status)
            else:
                assert list(response["content"]) == ["application/problem+json"], (method, path, status)
                assert response["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }


def test_staff_routes_take_the_session_the_staff_token_or_the_operator_token() -> None:
    document = DOCUMENTS["complaints"]()
    schemes = document["components"]["securitySchemes"]
    assert schemes["staffSession"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "vas_staff",
        "description": schemes["staffSession"]["description"],
    }
    staff = [op for _m, _p, op in operations(document) if op["x-audience"] == "staff"]
    assert staff
    for operation in staff:
        assert operation["security"] == [{"staffSession": []}, {"staffBearer": []}, {"operatorBearer": []}]
    roles = {
        (m, p): op.get("x-staff-role") for m, p, op in operations(document) if op["x-audience"] == "staff"
    }
    assert roles[("PUT", "/v1/calendar/days/{day}")] == "admin"
    assert roles[("POST", "/v1/sla/policies")] == "supervisor"
    assert roles[("GET", "/staff/attainment")] == "supervisor"
    assert roles[("POST", "/v1/complaints/{complaint_id}/events")] is None  # any staff member
    for (method, path), role in roles.items():
        if role is not None:
            assert "403" in document["paths"][path][method.lower()]["responses"], (method, path)


def test_metrics_are_documented_as_text() -> None:
    document = DOCUMENTS["sms-sender"]()
    content = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/plain"]


def test_the_public_catalogue_does_not_name_partners() -> None:
    document = DOCUMENTS["subscription"]()
    entry = document["paths"]["/v1/catalogue"]["get"]["responses"]["200"]["content"]["application/json"]
    name = entry["schema"]["items"]["$ref"].rsplit("/", 1)[-1]
    assert "partner_id" not in document["components"]["schemas"][name]["properties"]
