"""The chaos suite's accounting: recovery time, a row's verdict and its table line."""

from __future__ import annotations

from typing import Any

from vas_bench.chaos import WELL_FORMED_503, Row, first_back_at_rate, markdown, recovery, row_result
from vas_bench.faults import FaultWindow


def _every(start: float, end: float, rate: float) -> list[float]:
    n = round((end - start) * rate)
    return [start + i / rate for i in range(n)]


def test_first_back_at_rate_is_the_first_full_second_after_the_end() -> None:
    times = _every(0.0, 5.0, 100.0) + _every(12.5, 20.0, 100.0)
    assert first_back_at_rate(times, since=10.0, rate=80.0) == 12.5
    # never fell: back at once
    assert first_back_at_rate(_every(0.0, 20.0, 100.0), since=10.0, rate=80.0) == 10.0
    # a trickle is not "back at rate"
    assert first_back_at_rate(_every(10.0, 20.0, 10.0), since=10.0, rate=80.0) is None


def _raw(accept_times: list[float], delay_s: float, gap: tuple[float, float] | None = None) -> dict[str, Any]:
    accepted = []
    for t in accept_times:
        delivered = t + delay_s
        if gap is not None and gap[0] <= delivered < gap[1]:
            delivered = gap[1] + (delivered - gap[0]) / 10  # held, then sent in a burst
        accepted.append((t, delivered))
    return {"t0": 0.0, "end_of_load": accept_times[-1], "requests": [], "accepted": accepted}


def test_recovery_measures_accepts_and_deliveries_from_the_faults_end() -> None:
    window = FaultWindow("broker-pause", started=5.0, ended=9.0)
    # accepts never stop (the outbox holds them); deliveries stop until 9.5 s
    raw = _raw(_every(0.0, 20.0, 100.0), 0.05, gap=(5.0, 9.5))
    rec = recovery(raw, window, offered_rate=100.0)
    assert rec["accept_s"] == 0.0
    assert rec["delivery_s"] == 0.5
    assert rec["recovery_s"] == 0.5


def test_recovery_is_none_when_what_was_accepted_since_the_fault_is_never_delivered() -> None:
    window = FaultWindow("broker-restart", started=5.0, ended=5.5)
    # what dispatchers had fetched before the fault still arrives after it: not a recovery
    raw = _raw(_every(0.0, 20.0, 100.0), 2.0)
    raw["accepted"] = [(a, d if a < 5.0 else None) for a, d in raw["accepted"]]
    assert recovery(raw, window, offered_rate=100.0)["recovery_s"] is None


def _run(
    lost: int = 0, refusals: dict[str, int] | None = None, unanswered: dict[str, int] | None = None
) -> dict[str, Any]:
    times = _every(0.0, 20.0, 100.0)
    errors = {k.split()[0]: v for k, v in (refusals or {}).items()} | (unanswered or {})
    return {
        "mt": {
            "offered": 2000,
            "accepted": 2000,
            "seen_at_smsc": 2000 - lost,
            "lost": lost,
            "duplicates_at_smsc": 3,
            "db_status": {"delivered": 2000},
            "requests": {"errors": errors, "refusals": refusals or {}},
        },
        "raw": _raw(times, 0.05),
    }


def test_a_row_passes_with_nothing_lost_and_a_well_formed_503() -> None:
    row = Row("postgres-pause", 5.0, before_s=5.0, after_s=10.0)
    window = FaultWindow("postgres-pause", 5.0, 10.0)
    result = row_result(row, _run(refusals={WELL_FORMED_503: 4}), window, 100.0, restarts=0)
    assert result["passed"], result["failures"]
    assert result["answered_503"] == 4
    assert result["duplicates"] == 3
    chaos = {"rate_msg_per_s": 100, "batch_size": 10, "fresh_stack_per_row": True, "rows": [result]}
    assert "| 0 | 3 | 4 (longest answer" in markdown(chaos, "make chaos")


def test_a_row_fails_on_loss_a_bad_5xx_or_an_unexplained_restart() -> None:
    row = Row("postgres-pause", 7.0, before_s=5.0, after_s=8.0)
    window = FaultWindow("postgres-pause", 5.0, 12.0)
    bad = {"500 problem+json no-retry-after": 1, "503 not-problem no-retry-after": 2}
    result = row_result(row, _run(lost=2, refusals=bad), window, 100.0, restarts=1)
    assert not result["passed"]
    text = "; ".join(result["failures"])
    assert "2 lost" in text
    assert "500 problem+json no-retry-after" in text
    assert "503 not-problem no-retry-after" in text
    assert "no 503 answered while the API could not store" in text
    assert "1 process restart(s), 0 killed" in text


def test_a_pause_shorter_than_the_statement_timeout_owes_no_503() -> None:
    # every request is held through it and accepted after it: no refusal is owed
    row = Row("postgres-pause", 4.0, before_s=5.0, after_s=10.0)
    result = row_result(row, _run(), FaultWindow("postgres-pause", 5.0, 9.0), 100.0, restarts=0)
    assert result["passed"], result["failures"]
    longer = row_result(row, _run(), FaultWindow("postgres-pause", 5.0, 12.0), 100.0, restarts=0)
    assert longer["failures"] == ["no 503 answered while the API could not store"]


def test_a_request_held_through_the_fault_fails_the_row() -> None:
    row = Row("postgres-pause", 5.0, before_s=5.0, after_s=10.0)
    window = FaultWindow("postgres-pause", 5.0, 10.0)
    run = _run(refusals={WELL_FORMED_503: 4})
    run["raw"]["requests"] = [(6.0, 18.5, 202, 10, 10)]  # sent in the fault, answered long after it
    result = row_result(row, run, window, 100.0, restarts=0)
    assert result["failures"] == ["a request held 12.5 s without an answer"]


def test_unanswered_requests_fail_a_row_unless_the_api_process_is_down() -> None:
    refused = {"ConnectionRefusedError": 2}
    pause = row_result(
        Row("broker-pause", 5.0), _run(unanswered=refused), FaultWindow("broker-pause", 5.0, 10.0), 100.0, 0
    )
    assert pause["failures"] == ["requests not answered: {'ConnectionRefusedError': 2}"]
    kill = row_result(
        Row("api-kill", 0.0), _run(unanswered=refused), FaultWindow("api-kill", 5.0, 5.0), 100.0, 1
    )
    assert kill["passed"], kill["failures"]
    assert kill["unanswered_requests"] == refused


def test_a_kill_row_expects_exactly_one_restart() -> None:
    row = Row("dispatcher-kill", 0.0, before_s=5.0, after_s=10.0)
    window = FaultWindow("dispatcher-kill", 5.0, 5.0)
    assert row_result(row, _run(), window, 100.0, restarts=1)["passed"]
    assert not row_result(row, _run(), window, 100.0, restarts=0)["passed"]
