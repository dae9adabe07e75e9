"""The quality scenario's synthetic histograms and verdicts: what fails a run, the promise row."""

from __future__ import annotations

from typing import Any

from vas_bench import quality


def result(
    slowest: float = 0.244, reported: int = 1_296_000_000, messages: int = 1_296_000_000
) -> dict[str, Any]:
    return {
        "rollups": {
            "minute_rows": 432_000,
            "day_rows": 300,
            "traffic_rows": 86_400,
            "messages": messages,
            "buckets_per_row": 98.0,
            "table_mib": 533.2,
            "insert_s": 8.0,
        },
        "report": {
            "json_s": [slowest, 0.1, 0.09],
            "json_max_s": slowest,
            "json_warm_median_s": 0.095,
            "quarter_s": 0.085,
            "page_s": 0.156,
            "pdf_s": 0.253,
            "messages_reported": reported,
        },
        "crashed": [],
    }


def test_a_minute_shape_holds_its_messages_with_a_tail_past_4_s() -> None:
    buckets, within, total, longest = quality.delay_shape(3000, 0)
    assert sum(buckets.values()) == 3000
    assert 2900 < within < 3000
    assert longest > 4.0
    assert 0.2 < total / 3000 < 0.4
    moved, *_ = quality.delay_shape(3000, 3)
    assert min(moved) == min(buckets) + 3


def test_the_report_must_count_every_message_and_answer_under_2_s() -> None:
    assert quality.failures(result()) == []
    assert quality.failures(result(reported=5)) == ["quality: 1,296,000,000 messages written, 5 reported"]
    assert quality.promise(result())["status"] == "met"  # type: ignore[index]
    assert quality.promise(result(slowest=2.5))["status"] == "NOT MET"  # type: ignore[index]
    assert quality.promise(result(messages=1_000_000, reported=1_000_000))["status"] == "not run"  # type: ignore[index]
    assert "month report JSON 244, 100" in "\n".join(quality.summary_lines(result()))
