"""The dashboards and Prometheus rules in deploy/observability name only metrics the services
really export: every PromQL expression is parsed (promql-parser, a maintained PromQL parser)
and each metric it selects must appear in the /metrics of the four running services (or be a
recording rule's output, or one of Prometheus's own series)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import promql_parser
import yaml
from prometheus_client.parser import text_string_to_metric_families

from vas_devstack.pytest_plugin import repo_root

OBSERVABILITY = repo_root() / "deploy" / "observability"
DASHBOARDS = sorted((OBSERVABILITY / "dashboards").glob("*.json"))
RULE_FILES = sorted((OBSERVABILITY / "rules").glob("*.yml"))
# Series Prometheus makes itself: the alert state of its rules, and the scrape's own.
PROMETHEUS_SERIES = frozenset({"ALERTS", "ALERTS_FOR_STATE", "up"})
# The sample names a metric family of each type shows, besides its own name.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "info": ("_info",),
}


def dashboard_expressions() -> Iterator[tuple[str, str]]:
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in _panels(board["panels"]):
            for target in panel.get("targets", ()):
                yield f"{path.name}: {panel['title']}", target["expr"]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def rules() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                yield path.name, rule


def rule_expressions() -> Iterator[tuple[str, str]]:
    for file, rule in rules():
        yield f"{file}: {rule.get('alert') or rule.get('record')}", rule["expr"]


def selected_metrics(expr: str) -> set[str]:
    """The metric names an expression selects (by name or by a __name__="..." matcher)."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__":
                    assert matcher.op == promql_parser.MatchOp.Equal, f"{expr}: name by regex"
                    names.add(matcher.value)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def exported_names(text: str) -> set[str]:
    """Every sample name a /metrics page can show, also of labelled metrics with no sample yet
    (only their HELP and TYPE lines are there until a first label set is used)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def test_every_expression_parses_and_there_is_one_dashboard_per_service() -> None:
    assert {p.stem for p in DASHBOARDS} == {
        "overview",
        "sms-sender",
        "subscription",
        "complaints",
        "incident",
    }
    expressions = [*dashboard_expressions(), *rule_expressions()]
    assert len(expressions) > 100
    for where, expr in expressions:
        try:
            promql_parser.parse(expr)
        except Exception as exc:
            raise AssertionError(f"{where}: {expr!r} is not PromQL: {exc}") from exc


def test_alerts_link_dashboards_that_exist() -> None:
    uids = {json.loads(p.read_text())["uid"] for p in DASHBOARDS}
    for file, rule in rules():
        if "alert" in rule:
            assert rule["labels"]["severity"] in {"page", "warning"}, rule["alert"]
            assert rule["annotations"]["dashboard"] in uids, f"{file}: {rule['alert']}"


async def test_dashboards_and_rules_name_only_metrics_the_services_export(suite: Any) -> None:
    exported: set[str] = set()
    for service in (suite.sms_sender, suite.subscription, suite.complaints, suite.incident):
        response = await service.get("/metrics")
        assert response.status_code == 200
        exported |= exported_names(response.text)
    recorded = {rule["record"] for _, rule in rules() if "record" in rule}
    known = exported | recorded | PROMETHEUS_SERIES
    unknown = {
        f"{where}: {name}"
        for where, expr in [*dashboard_expressions(), *rule_expressions()]
        for name in selected_metrics(expr) - known
    }
    assert not unknown, "metrics no service exports:\n" + "\n".join(sorted(unknown))
    # The metrics this issue added are among them (a rename would show here first).
    for name in (
        "kafka_consumer_lag_records",
        "outbox_pending_events",
        "outbox_oldest_event_age_seconds",
        "db_pool_connections",
        "db_pool_max_connections",
        "sms_status_relay_pending_events",
        "sms_status_relay_lag_seconds",
        "sms_callbacks_pending",
        "sms_callbacks_due",
        "sms_callbacks_due_wait_seconds",
        "incident_quality_rollup_age_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "python_gc_collections_total",
        "python_info",
    ):
        assert name in exported, name


def test_the_name_check_would_catch_a_misspelt_metric() -> None:
    assert selected_metrics('sum(rate(sms_mo_totl{job="x"}[5m])) / on() group_left up') == {
        "sms_mo_totl",
        "up",
    }
    assert selected_metrics('{__name__="outbox_pending_events"}') == {"outbox_pending_events"}
    assert "http_requests_total" in exported_names(
        "# HELP http_requests HTTP requests\n# TYPE http_requests counter\n"
    )
