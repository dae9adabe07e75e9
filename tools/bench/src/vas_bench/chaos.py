"""`vas-bench chaos`: faults under load (`make chaos`; `--short` in CI).

Each row is one load run of the benchmark (`Runner.run`: the same stack, load generator and
accounting as `make bench`) with one fault from `faults.FAULTS` injected `before_s` into the
load; the load goes on `after_s` past the fault's end. The API and dispatcher processes are
watched by `make run`'s supervisor (`BenchStack.supervise`), which restarts a killed one.

Per row: accepted (202) recipients, delivered (seen at the SMSC simulator), lost (accepted,
never seen), duplicates (resent segments and a recipient seen twice), the 503s the API
answered (and whether each was problem+json with a Retry-After), other failed requests, and
the time to recover: from the fault's end to the first second in which accepts, and then
deliveries, are back at the rate measured before the fault (`recovery_s`).

A row fails when anything accepted was lost, the API answered a 5xx other than a well-formed
503, the stack did not recover (no second back at rate before the load ended), or a process
was restarted that no fault killed. The command exits non-zero when any row fails.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from vas_bench.faults import FAULTS, Fault, FaultWindow
from vas_bench.loadgen import MtSpec
from vas_bench.stack import BenchStack
from vas_devstack.supervise import RestartPolicy

if TYPE_CHECKING:
    from vas_bench.cli import Bench

BACK_AT_RATE = 0.8  # a second counts as "back at rate" at 80 % of the rate before the fault
WELL_FORMED_503 = "503 problem+json retry-after"
# the services' database statement timeout (vas_common.settings, default): a request held by
# a hung database is answered 503 after it (or sooner, when no connection can be acquired)
STATEMENT_TIMEOUT_S = 5.0
# the longest a request sent during a fault may wait for its answer
HELD_LIMIT_S = 2 * STATEMENT_TIMEOUT_S


@dataclass(frozen=True)
class Row:
    fault: str  # a key of faults.FAULTS
    fault_s: float  # the fault's own duration (a kill or restart: 0)
    before_s: float = 8.0  # load before the fault
    after_s: float = 20.0  # load after the fault's end
    # why this row may fail today (said in the table; it still fails the command)
    known_issue: str = ""
    # more sms-sender settings for the row's stack (a fresh stack per row only)
    sender_env: dict[str, str] = field(default_factory=dict)

    @property
    def load_s(self) -> float:
        return self.before_s + self.fault_s + self.after_s


# The dev broker (Tansu, memory://; this build has no other storage it can use here) comes back
# empty: no topics, records or group offsets. What it held, and what was published just after the
# restart, stays `accepted` in the sms-sender until the republish sweep publishes it again; in
# production that waits 5 minutes (a real Kafka keeps its records), here 10 s, swept every 2 s, so
# it happens within the row's load and drain. The services create the topics again (vas_common).
BROKER_RESTART_SENDER_ENV = {"SMS_SENDER_REPUBLISH_AFTER_S": "10", "SMS_SENDER_REPUBLISH_INTERVAL_S": "2"}


def full_suite(fault_s: float) -> list[Row]:
    """`make chaos`: every fault; each row on a fresh stack."""
    return [
        Row("postgres-pause", fault_s),
        Row("broker-pause", fault_s),
        Row("broker-restart", 0.0, sender_env=BROKER_RESTART_SENDER_ENV),
        Row("smsc-flap", fault_s),
        Row("dispatcher-kill", 0.0),
        Row("api-kill", 0.0),
    ]


def short_suite(fault_s: float) -> list[Row]:
    """CI: the rows that prove the most in the least time, on one stack: the API's 503 path
    and its recovery (PostgreSQL paused), the outbox holding while the broker is stopped, and a
    SIGKILLed dispatcher restarted by the supervisor (offsets not committed, receipts in flight)."""
    return [
        # longer than the services' 5 s statement timeout, or every request is simply held
        # through the pause and accepted after it (no 503 is owed then)
        Row("postgres-pause", max(fault_s, STATEMENT_TIMEOUT_S + 2.0), before_s=3.0, after_s=5.0),
        Row("broker-pause", fault_s, before_s=3.0, after_s=5.0),
        Row("dispatcher-kill", 0.0, before_s=3.0, after_s=7.0),
    ]


# -- measuring ------------------------------------------------------------------------------------


def first_back_at_rate(
    times: Sequence[float], since: float, rate: float, window_s: float = 1.0
) -> float | None:
    """The earliest t >= since such that [t, t + window_s) holds at least rate * window_s of the
    sorted `times`; None if there is none."""
    need = max(1, int(rate * window_s))
    start = bisect.bisect_left(times, since)
    for i in range(start, len(times)):
        j = i + need - 1
        if j < len(times) and times[j] < times[i] + window_s:
            return max(since, times[i])
    return None


def rate_between(times: Sequence[float], start: float, end: float) -> float:
    if end <= start:
        return 0.0
    return (bisect.bisect_left(times, end) - bisect.bisect_left(times, start)) / (end - start)


def recovery(raw: dict[str, Any], window: FaultWindow, offered_rate: float) -> dict[str, float | None]:
    """Seconds from the fault's end until accepts (202 answers) and deliveries (first submit_sm at
    the SMSC) are back at rate: BACK_AT_RATE of what they were before the fault (at most the
    offered rate), over one second. 0 when they never fell; None when they never came back.
    Deliveries after the fault count only for messages accepted since it began."""
    accepts = sorted(a for a, _ in raw["accepted"])
    deliveries = sorted(d for _, d in raw["accepted"] if d is not None)
    # after the fault only the deliveries of messages accepted since it began count: what was
    # already on its way before (fetched by a dispatcher) says nothing about recovery
    since_fault = sorted(d for a, d in raw["accepted"] if d is not None and a >= window.started)
    steady_from = raw["t0"] + 1.0  # the first second ramps up
    out: dict[str, float | None] = {}
    for name, times, after in (("accept", accepts, accepts), ("delivery", deliveries, since_fault)):
        before = rate_between(times, steady_from, window.started)
        target = BACK_AT_RATE * min(offered_rate, before or offered_rate)
        back = first_back_at_rate(after, window.ended, target)
        out[f"{name}_s"] = None if back is None else round(back - window.ended, 2)
        out[f"{name}_rate_before"] = round(before, 1)
    accept_s, delivery_s = out["accept_s"], out["delivery_s"]
    out["recovery_s"] = None if accept_s is None or delivery_s is None else max(accept_s, delivery_s)
    return out


def requests_during(raw: dict[str, Any], window: FaultWindow) -> dict[str, float | int]:
    """The requests sent while the fault lasted: how many, and the longest wait for an answer
    (a request held by a hung dependency shows here; a prompt 503 does not)."""
    during = [
        (sent, answered) for sent, answered, *_ in raw["requests"] if window.started <= sent <= window.ended
    ]
    return {
        "sent": len(during),
        "longest_answer_s": round(max((a - s for s, a in during), default=0.0), 2),
    }


def row_result(
    row: Row, run: dict[str, Any], window: FaultWindow, rate: float, restarts: int
) -> dict[str, Any]:
    """The table's figures for one row and why it failed, if it did."""
    mt = run["mt"]
    raw = run["raw"]
    refusals: dict[str, int] = mt["requests"].get("refusals", {})
    errors: dict[str, int] = mt["requests"]["errors"]
    answered_503 = refusals.get(WELL_FORMED_503, 0)
    bad_answers = {k: v for k, v in refusals.items() if k.startswith("5") and k != WELL_FORMED_503}
    unanswered = {k: v for k, v in errors.items() if not k.isdigit()}
    rec = recovery(raw, window, rate)
    during = requests_during(raw, window)
    fault = FAULTS[row.fault]
    failures = []
    if mt["lost"]:
        failures.append(f"{mt['lost']} lost")
    if bad_answers:
        failures.append(f"answers other than a problem+json 503 with Retry-After: {bad_answers}")
    if fault.cannot_store and window.ended - window.started > STATEMENT_TIMEOUT_S + 1.0 and not answered_503:
        failures.append("no 503 answered while the API could not store")
    if during["longest_answer_s"] > HELD_LIMIT_S:
        failures.append(f"a request held {during['longest_answer_s']} s without an answer")
    if unanswered and not fault.no_api:
        failures.append(f"requests not answered: {unanswered}")
    if rec["recovery_s"] is None:
        failures.append("did not recover before the load ended")
    if restarts != fault.kills:
        failures.append(f"{restarts} process restart(s), {fault.kills} killed")
    if not mt["accepted"]:
        failures.append("nothing accepted")
    offered = mt["offered"]
    return {
        "fault": row.fault,
        "what": FAULTS[row.fault].what,
        "row": asdict(row),
        "window": window.as_dict(),
        "offered": offered,
        "offered_rate_msg_per_s": round(offered / row.load_s, 1),
        "accepted": mt["accepted"],
        "delivered": mt["seen_at_smsc"],
        "lost": mt["lost"],
        "duplicates": mt["duplicates_at_smsc"],
        "answered_503": answered_503,
        "refusals": refusals,
        "unanswered_requests": unanswered,
        "restarts": restarts,
        "recovery": rec,
        "requests_during_fault": during,
        # lost (never at the SMSC) by when they were accepted: what a fault took with it, or
        # what could not flow after it
        "lost_accepted": {
            "before_fault": sum(1 for a, d in raw["accepted"] if d is None and a < window.started),
            "since_fault": sum(1 for a, d in raw["accepted"] if d is None and a >= window.started),
        },
        "db_status": mt["db_status"],
        "failures": failures,
        "passed": not failures,
    }


# -- running ------------------------------------------------------------------------------------


async def run_suite(bench: Bench, rows: list[Row], rate: float, batch_size: int, fresh_stacks: bool) -> None:
    """Run the rows, writing chaos.json and chaos.md into the run's folder after each."""
    chaos: dict[str, Any] = {
        "rate_msg_per_s": rate,
        "batch_size": batch_size,
        "fresh_stack_per_row": fresh_stacks,
        "environment": bench.results.get("environment", {}),
        "rows": [],
    }
    bench.results["chaos"] = chaos
    for row in rows:
        fault = FAULTS[row.fault]
        runner = await bench.stack_for(f"chaos-{row.fault}", sender_env=row.sender_env)
        stack = bench.stack
        assert stack is not None
        if stack.supervisor is None:
            stack.supervise(RestartPolicy())  # make run's: 1 s, doubling to 30 s
        restarts_before = _restarts(stack.supervisor_log)

        inject = functools.partial(_inject, fault, stack, row)

        name = f"chaos-{row.fault}"
        run = await runner.run(
            name,
            MtSpec("batch", rate, row.load_s, batch_size=batch_size),
            None,
            drain_timeout_s=45.0,
            during=inject,
            during_key="fault",
            keep_raw=True,
        )
        w = dict(run["fault"])
        window = FaultWindow(w.pop("fault"), w.pop("started"), w.pop("ended"), w)
        w.pop("held_s", None)
        result = row_result(row, run, window, rate, _restarts(stack.supervisor_log) - restarts_before)
        result["outbox_left"] = await _outbox_left(stack)
        if row.known_issue:
            result["known_issue"] = row.known_issue
        chaos["rows"].append(result)
        print(format_line(result), flush=True)
        write(chaos, bench.out)


async def _inject(fault: Fault, stack: BenchStack, row: Row) -> dict[str, Any]:
    await asyncio.sleep(row.before_s)  # the schedule: load first, then the fault
    window = await fault.inject(stack, row.fault_s)
    return window.as_dict()


async def _outbox_left(stack: BenchStack) -> int:
    """Events the sms-sender stored but has not published (its outbox) when the row ends."""
    conn = await asyncpg.connect(stack.sender_dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM outbox"))
    finally:
        await conn.close()


def _restarts(log: list[tuple[float, str]]) -> int:
    return sum(1 for _, message in log if " restarted (pid " in message)


def failures(chaos: dict[str, Any]) -> list[str]:
    return [f"{r['fault']}: {'; '.join(r['failures'])}" for r in chaos.get("rows", []) if r["failures"]]


# -- reporting ------------------------------------------------------------------------------------


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def format_line(r: dict[str, Any]) -> str:
    rec = r["recovery"]
    verdict = "ok" if r["passed"] else "FAILED: " + "; ".join(r["failures"])
    return (
        f"  chaos {r['fault']}: accepted {r['accepted']} delivered {r['delivered']} lost {r['lost']}"
        f" duplicates {r['duplicates']} 503s {r['answered_503']} recovered accept {_s(rec['accept_s'])}"
        f" delivery {_s(rec['delivery_s'])}: {verdict}"
    )


def markdown(chaos: dict[str, Any], command: str) -> str:
    lines = [
        f"`{command}`: MT batch ({chaos['batch_size']} a request) offered at"
        f" {chaos['rate_msg_per_s']:g} msg/s"
        + (", a fresh stack per row" if chaos["fresh_stack_per_row"] else ", one stack for every row")
        + _environment(chaos.get("environment") or {}),
        "",
        "| fault | held | offered msg/s | accepted | delivered | lost | duplicates | 503 answered |"
        " other failed requests | recovered: accept / delivery | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in chaos["rows"]:
        rec = r["recovery"]
        other = {
            **{k: v for k, v in r["refusals"].items() if k != WELL_FORMED_503},
            **r["unanswered_requests"],
        }
        held = f"{r['window']['held_s']:.1f} s"
        if "ready_again_after_s" in r["window"]:
            held = f"kill; ready again {r['window']['ready_again_after_s']:.1f} s"
        result = "ok" if r["passed"] else "**FAILED**: " + "; ".join(r["failures"])
        if r.get("known_issue") and not r["passed"]:
            result += f" (known: {r['known_issue']})"
        lines.append(
            f"| {r['what']} | {held} | {r['offered_rate_msg_per_s']:g} | {r['accepted']} | {r['delivered']}"
            f" | {r['lost']} | {r['duplicates']} | {r['answered_503']}"
            f" (longest answer {r['requests_during_fault']['longest_answer_s']:.1f} s)"
            f" | {', '.join(f'{k}: {v}' for k, v in other.items()) or '0'}"
            f" | {_s(rec['accept_s'])} / {_s(rec['delivery_s'])} | {result} |"
        )
    return "\n".join(lines) + "\n"


def _environment(env: dict[str, Any]) -> str:
    if not env:
        return ""
    return f"; started {env.get('started_at', '?')}, commit {env.get('commit', '?')}, {env.get('cores', '?')} cores"


def write(chaos: dict[str, Any], out: Path, command: str = "make chaos") -> None:
    (out / "chaos.json").write_text(json.dumps(chaos, indent=2))
    (out / "chaos.md").write_text(markdown(chaos, command))


def publish(out: Path, latest: Path) -> None:
    """A full run's table and figures, kept in git (results/chaos/)."""
    latest.mkdir(parents=True, exist_ok=True)
    for name in ("chaos.json", "chaos.md"):
        shutil.copy2(out / name, latest / name)
