"""The complaints scenario's verdicts: what fails a run, the promise row, the printed lines."""

from __future__ import annotations

from typing import Any

from vas_bench import complaints


def result(raised: int = 1000, idle_max_ms: float = 3.0, open_: int = 100_000) -> dict[str, Any]:
    latency = {"p50_ms": 11.0, "p95_ms": 17.0, "p99_ms": 25.0, "max_ms": 96.0}
    intake = {
        "concurrency": 8,
        "duration_s": 20.0,
        "created": 100,
        "errors": {},
        "per_s": 688.1,
        "latency": latency,
    }
    return {
        "spec": {"concurrency": 8},
        "intake": {"staff": intake, "public": {**intake, "per_s": 465.1}},
        "open_complaints": {"open": open_, "copied_in_sql": 76_918, "insert_s": 6.1, "clocks": 413_769},
        "scan": {
            "nothing_due": {
                "harness": {**latency, "max_ms": idle_max_ms},
                "service_mean_ms": 0.58,
                "due_query_ms": 0.02,
            },
            "due": {
                "due": 1000,
                "ticks": [{}, {}, {}],
                "total_s": 0.85,
                "per_complaint_ms": 0.85,
                "alerts_raised": raised,
            },
        },
        "crashed": [],
    }


def test_a_run_fails_when_an_alert_is_not_raised_exactly_once() -> None:
    assert complaints.failures(result()) == []
    assert complaints.failures(result(raised=999)) == ["complaints: 1000 due, 999 warnings raised"]


def test_the_scan_promise_needs_100000_open_and_a_tick_under_a_second() -> None:
    assert complaints.promise(result())["status"] == "met"  # type: ignore[index]
    assert complaints.promise(result(idle_max_ms=1500))["status"] == "NOT MET"  # type: ignore[index]
    assert complaints.promise(result(open_=2000))["status"] == "not run"  # type: ignore[index]


def test_the_summary_names_each_figure() -> None:
    text = "\n".join(complaints.summary_lines(result()))
    assert "intake staff" in text
    assert "688.1 complaints/s" in text
    assert "1,000 due" in text
