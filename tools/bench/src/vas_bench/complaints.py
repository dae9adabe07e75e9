"""The complaints scenario: intake rate, and the SLA scheduler over 100,000 open complaints.

Runs on a stack of its own (PostgreSQL, the broker, one complaints process; no SMS path), the
scheduler's own timer off (`COMPLAINTS_SLA_TICK_INTERVAL_S=3600`): the harness ticks.

1. Intake, closed loop: `concurrency` clients post for `intake_s` seconds each, first to the
   staff endpoint (`POST /v1/complaints`, phone calls logged with the operator token), then to
   the public form (`POST /v1/public/complaints`, its per-address limit raised for the run:
   every request comes from 127.0.0.1). Every number is unique. Throughput = answered 201s
   over the run; latency = request sent -> answer, per request.
2. Open complaints: a few templates are made through the API (every channel, a paused one, a
   forwarded one with the operator's deadline ten days ahead, and one logged 2 h 30 min late:
   its 4-hour first reply is past the 50 % warning), then copied in SQL with generate_series
   (complaints + complaint_events + complaint_clocks, one statement each, in one transaction;
   the report's triggers fill clock_runs as they would) until `open` complaints are open. A
   copy has its template's history, so its clocks as stored are the ones the service computes.
3. The scan: `POST /v1/jobs/sla-tick` with nothing due (the due query over every open clock),
   `ticks` times; then `due` copies of the late template get their first-reply clock due
   (next_alert_at in the past, as before their 50 % warning was raised) and the harness ticks
   until a tick finds nothing: each is recomputed and its warning raised once. Timed from
   the harness (HTTP included) and by the service's `complaints_scheduler_tick_seconds`.
   `EXPLAIN ANALYZE` of the due query itself (the SQL of SlaRepository.due, copied here).
4. `POST /v1/jobs/recompute-clocks` over every open complaint (what a calendar or policy
   change runs), the attainment report of the two days around now (JSON and CSV), and one
   refresh of the SLA gauges (`complaints_sla_gauges_refresh_seconds`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from vas_bench.http import HttpClient, HttpError
from vas_bench.monitor import Monitor
from vas_bench.stack import BenchStack

# The due query of complaints.sla.repository.SlaRepository.due (the harness imports no service).
DUE_QUERY = """
SELECT DISTINCT complaint_id FROM (
    SELECT complaint_id FROM complaint_clocks
     WHERE next_alert_at <= now() ORDER BY next_alert_at LIMIT 500
       FOR UPDATE SKIP LOCKED
) d
"""
SCAN_TARGET_S = 1.0  # the issue: 100,000 open complaints scanned in under 1 s


@dataclass
class ComplaintsSpec:
    open: int = 100_000
    due: int = 1_000
    intake_s: float = 20.0
    concurrency: int = 8
    ticks: int = 20  # ticks timed with nothing due


def complaints_env() -> dict[str, str]:
    return {
        "COMPLAINTS_SLA_TICK_INTERVAL_S": "3600",  # the harness ticks
        "COMPLAINTS_SLA_GAUGES_INTERVAL_S": "5",
        "COMPLAINTS_WEB_COMPLAINTS_PER_ADDRESS_PER_HOUR": "1000000000",
        "COMPLAINTS_DATABASE_STATEMENT_TIMEOUT_S": "600",  # the recompute of 100,000
    }


def _say(message: str) -> None:
    print(message, flush=True)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def _histogram(text: str, name: str) -> tuple[float, float]:
    """(sum, count) of a Prometheus histogram in /metrics text."""
    total = re.search(rf"^{name}_sum ([0-9.e+-]+)$", text, re.M)
    count = re.search(rf"^{name}_count ([0-9.e+-]+)$", text, re.M)
    return (float(total.group(1)) if total else 0.0, float(count.group(1)) if count else 0.0)


class ComplaintsScenario:
    def __init__(
        self, stack: BenchStack, monitor: Monitor, spec: ComplaintsSpec, operator_token: str
    ) -> None:
        self.stack = stack
        self.monitor = monitor
        self.spec = spec
        self.auth = {"Authorization": f"Bearer {operator_token}"}
        assert stack.complaints is not None
        self.url = stack.complaints.url
        self.http = httpx.AsyncClient(base_url=self.url, timeout=3600.0, headers=self.auth)
        self._numbers = 0

    async def close(self) -> None:
        await self.http.aclose()

    def _msisdn(self) -> str:
        self._numbers += 1
        return f"86137{self._numbers:08d}"

    async def run(self) -> dict[str, Any]:
        result: dict[str, Any] = {"spec": self.spec.__dict__.copy()}
        self.monitor.reset()
        result["intake"] = {
            "staff": await self._intake("staff", "/v1/complaints", self._staff_body, self.auth),
            "public": await self._intake("public", "/v1/public/complaints", self._public_body, {}),
        }
        result["intake_cpu"] = self.monitor.summary()
        async with self._db() as conn:
            result["open_complaints"] = await self._fill(conn)
            result["scan"] = await self._scan(conn)
        result["recompute_open"] = await self._recompute()
        result["report"] = await self._report()
        result["gauges"] = await self._gauges()
        result["crashed"] = self.stack.crashed()
        return result

    # -- intake -----------------------------------------------------------------------------

    def _staff_body(self) -> dict[str, Any]:
        return {
            "channel": "phone",
            "category": "billing",
            "msisdn": self._msisdn(),
            "summary": "用户来电：上月多扣了5元信息费，要求核实并退费。",
            "solved_on_call": False,
        }

    def _public_body(self) -> dict[str, Any]:
        return {"msisdn": self._msisdn(), "category": "content", "summary": "收到的内容与订购的产品不符。"}

    async def _intake(self, name: str, path: str, body: Any, headers: dict[str, str]) -> dict[str, Any]:
        spec = self.spec
        latencies: list[float] = []
        done_at: list[float] = []
        errors: dict[str, int] = {}
        client = HttpClient(self.url, limit=spec.concurrency)
        started = time.monotonic()
        end = started + spec.intake_s

        async def worker() -> None:
            while time.monotonic() < end:
                sent = time.monotonic()
                try:
                    status, payload = await client.post(path, json.dumps(body()).encode(), headers)
                except (HttpError, TimeoutError, OSError) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                answered = time.monotonic()
                if status == 201:
                    latencies.append(answered - sent)
                    done_at.append(answered - started)
                else:
                    errors[str(status)] = errors.get(str(status), 0) + 1
                    if len(errors) == 1 and sum(errors.values()) == 1:
                        _say(f"  [{name}] {status}: {payload[:300]!r}")

        try:
            await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
        finally:
            await client.close()
        took = time.monotonic() - started
        per_second = [0] * (int(took) + 1)
        for t in done_at:
            per_second[int(t)] += 1
        lat = _percentiles(latencies)
        out: dict[str, Any] = {
            "endpoint": path,
            "concurrency": spec.concurrency,
            "duration_s": round(took, 2),
            "created": len(latencies),
            "errors": errors,
            "per_s": round(len(latencies) / took, 1),
            "latency": lat,
            "series_per_s": per_second,
        }
        _say(
            f"  intake {name}: {out['per_s']:.0f} complaints/s, p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms"
            f" ({out['created']} in {took:.1f}s, {spec.concurrency} clients, errors {errors or 0})"
        )
        return out

    # -- open complaints ---------------------------------------------------------------------

    def _db(self) -> Any:
        return _Connection(self.stack.complaints_dsn)

    async def _template(self, **fields: Any) -> str:
        body = {"category": "billing", "msisdn": self._msisdn(), "summary": "模板投诉", **fields}
        response = await self.http.post("/v1/complaints", json=body)
        response.raise_for_status()
        return str(response.json()["id"])

    async def _fill(self, conn: asyncpg.Connection) -> dict[str, Any]:
        now = datetime.now(UTC)
        late = await self._template(
            channel="web", occurred_at=(now - timedelta(hours=2, minutes=30)).isoformat()
        )
        paused = await self._template(channel="web", category="content")
        event = await self.http.post(f"/v1/complaints/{paused}/events", json={"kind": "waiting_on_user"})
        event.raise_for_status()
        templates = [
            paused,
            await self._template(channel="web"),
            await self._template(channel="web", category="feedback"),
            await self._template(channel="web", category="content", partner_id=str(uuid.uuid4())),
            await self._template(channel="sms", category="subscription"),
            await self._template(channel="phone", solved_on_call=True),
            await self._template(
                channel="operator",
                category="service",
                operator_deadline=(now + timedelta(days=10)).isoformat(),
                operator_reference="GX-1",
            ),
        ]
        already = int(
            await conn.fetchval("SELECT count(*) FROM complaints WHERE status IN ('open', 'waiting_on_user')")
        )
        # `due` copies of the late template (made due in the scan), the rest from the others.
        others = max(0, self.spec.open - already - self.spec.due)
        copies = others + self.spec.due
        started = time.monotonic()
        async with conn.transaction():
            await conn.execute(
                """
                CREATE TEMP TABLE bench_copies ON COMMIT DROP AS
                SELECT gen_random_uuid() AS id, t.id AS template, i, false AS due
                  FROM generate_series(1, $1::int) i
                  JOIN unnest($2::uuid[]) WITH ORDINALITY AS t(id, n) ON t.n = i % cardinality($2::uuid[]) + 1
                UNION ALL
                SELECT gen_random_uuid(), $3::uuid, $1::int + i, true FROM generate_series(1, $4::int) i
                """,
                others,
                [uuid.UUID(t) for t in templates],
                uuid.UUID(late),
                self.spec.due,
            )
            await conn.execute(
                """
                INSERT INTO complaints (id, tracking_code, channel, category, msisdn, summary, status,
                    partner_id, product_code, subscription_id, message_id, charge_id, solved_on_call,
                    operator_reference, operator_deadline, satisfaction, source_address, created_at, updated_at)
                SELECT b.id, CASE WHEN b.due THEN 'BD' ELSE 'BN' END || lpad(b.i::text, 10, '0'), c.channel, c.category,
                       '86136' || lpad(b.i::text, 8, '0'), c.summary, c.status, c.partner_id, c.product_code,
                       c.subscription_id, c.message_id, c.charge_id, c.solved_on_call, c.operator_reference,
                       c.operator_deadline, c.satisfaction, c.source_address, c.created_at, c.updated_at
                  FROM bench_copies b JOIN complaints c ON c.id = b.template
                """
            )
            await conn.execute(
                """
                INSERT INTO complaint_events (id, complaint_id, kind, occurred_at, recorded_at, actor, note, detail)
                SELECT gen_random_uuid(), b.id, e.kind, e.occurred_at, e.recorded_at, e.actor, e.note, e.detail
                  FROM bench_copies b JOIN complaint_events e ON e.complaint_id = b.template
                """
            )
            await conn.execute(
                """
                INSERT INTO complaint_clocks (complaint_id, clock, started_at, due_at, stopped_at, state,
                                              next_alert_at, computed_at)
                SELECT b.id, k.clock, k.started_at, k.due_at, k.stopped_at, k.state, k.next_alert_at, k.computed_at
                  FROM bench_copies b JOIN complaint_clocks k ON k.complaint_id = b.template
                """
            )
        inserted_s = time.monotonic() - started
        await conn.execute("ANALYZE")
        counts = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM complaints WHERE status IN ('open', 'waiting_on_user')) AS open,
                   (SELECT count(*) FROM complaint_clocks) AS clocks,
                   (SELECT count(*) FROM complaint_clocks WHERE next_alert_at IS NOT NULL) AS scheduled,
                   (SELECT count(*) FROM clock_runs) AS runs
            """
        )
        assert counts is not None
        out = {
            "templates_through_api": len(templates) + 1,
            "copied_in_sql": copies,
            "insert_s": round(inserted_s, 2),
            "open": counts["open"],
            "clocks": counts["clocks"],
            "clocks_with_an_alert_to_come": counts["scheduled"],
            "clock_runs": counts["runs"],
            "late_template": late,
        }
        _say(
            f"  {copies:,} complaints copied in {inserted_s:.1f}s: {out['open']:,} open, {out['clocks']:,} clocks"
            f" ({out['clocks_with_an_alert_to_come']:,} with an alert to come)"
        )
        return out

    # -- the scan ----------------------------------------------------------------------------

    async def _tick(self) -> tuple[int, float]:
        started = time.monotonic()
        response = await self.http.post("/v1/jobs/sla-tick")
        response.raise_for_status()
        return int(response.json()["affected"]), time.monotonic() - started

    async def _tick_histogram(self) -> tuple[float, float]:
        return _histogram((await self.http.get("/metrics")).text, "complaints_scheduler_tick_seconds")

    async def _scan(self, conn: asyncpg.Connection) -> dict[str, Any]:
        spec = self.spec
        await self._tick()  # warm: plans, caches
        before = await self._tick_histogram()
        idle = []
        for _ in range(spec.ticks):
            affected, took = await self._tick()
            if affected:
                raise RuntimeError(f"a tick with nothing due found {affected} complaints")
            idle.append(took)
        after = await self._tick_histogram()
        plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {DUE_QUERY}")
        explained = json.loads(plan)[0]
        nothing_due = {
            "ticks": spec.ticks,
            "harness": _percentiles(idle),
            "service_mean_ms": round((after[0] - before[0]) / max(1.0, after[1] - before[1]) * 1000, 2),
            "due_query_ms": round(explained["Execution Time"], 2),
            "due_query_plan": explained["Plan"]["Plans"][0]["Node Type"]
            if explained["Plan"].get("Plans")
            else "",
        }
        _say(
            f"  tick with nothing due over {spec.open:,} open: p50 {nothing_due['harness']['p50_ms']} ms,"
            f" max {nothing_due['harness']['max_ms']} ms (service {nothing_due['service_mean_ms']} ms;"
            f" the due query {nothing_due['due_query_ms']} ms)"
        )
        # The copies of the late template fall due: their first reply's 50 % warning.
        status = await conn.execute(
            """
            UPDATE complaint_clocks k SET next_alert_at = now() - interval '1 second'
              FROM complaints c
             WHERE c.id = k.complaint_id AND c.tracking_code LIKE 'BD%' AND k.clock = 'first_reply'
            """
        )
        marked = int(status.rsplit(" ", 1)[-1])
        alerts_before = int(await conn.fetchval("SELECT count(*) FROM sla_alerts"))
        before = await self._tick_histogram()
        ticks: list[tuple[int, float]] = []
        started = time.monotonic()
        while True:
            affected, took = await self._tick()
            ticks.append((affected, took))
            if affected == 0:
                break
        total = time.monotonic() - started
        after = await self._tick_histogram()
        raised = int(await conn.fetchval("SELECT count(*) FROM sla_alerts")) - alerts_before
        due = {
            "due": marked,
            "ticks": [{"complaints": a, "ms": round(t * 1000, 1)} for a, t in ticks],
            "total_s": round(total, 3),
            "service_s": round(after[0] - before[0], 3),
            "alerts_raised": raised,
            "per_complaint_ms": round(total / max(1, marked) * 1000, 3),
        }
        _say(
            f"  {marked:,} due: {len(ticks)} ticks, {total:.2f}s in all ({due['per_complaint_ms']} ms a complaint),"
            f" {raised} warnings raised"
        )
        return {"nothing_due": nothing_due, "due": due}

    # -- recompute, report, gauges -------------------------------------------------------------

    async def _recompute(self) -> dict[str, Any]:
        _say("  recomputing every open complaint (POST /v1/jobs/recompute-clocks) ...")
        started = time.monotonic()
        response = await self.http.post("/v1/jobs/recompute-clocks")
        response.raise_for_status()
        took = time.monotonic() - started
        affected = int(response.json()["affected"])
        out = {"complaints": affected, "s": round(took, 2), "per_s": round(affected / took, 1)}
        _say(f"  recompute_open: {affected:,} complaints in {took:.1f}s ({out['per_s']:.0f}/s)")
        return out

    async def _report(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        params = {"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(days=1)).isoformat()}
        started = time.monotonic()
        response = await self.http.get("/v1/reports/attainment", params=params)
        response.raise_for_status()
        json_s = time.monotonic() - started
        runs = int(response.json()["data"]["runs"])
        started = time.monotonic()
        exported = await self.http.get("/v1/reports/attainment", params={**params, "format": "csv"})
        exported.raise_for_status()
        csv_s = time.monotonic() - started
        out = {
            "runs": runs,
            "json_s": round(json_s, 2),
            "csv_s": round(csv_s, 2),
            "csv_mib": round(len(exported.content) / 2**20, 1),
        }
        _say(
            f"  attainment report over {runs:,} runs: JSON {json_s:.2f}s, CSV {csv_s:.2f}s ({out['csv_mib']} MiB)"
        )
        return out

    async def _gauges(self) -> dict[str, Any]:
        first = _histogram((await self.http.get("/metrics")).text, "complaints_sla_gauges_refresh_seconds")
        deadline = time.monotonic() + 30
        while True:
            now = _histogram((await self.http.get("/metrics")).text, "complaints_sla_gauges_refresh_seconds")
            if now[1] > first[1] or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        refreshes = now[1] - first[1]
        mean = (now[0] - first[0]) / refreshes if refreshes else None
        out = {"refresh_ms": round(mean * 1000, 1) if mean is not None else None}
        _say(f"  SLA gauges refresh: {out['refresh_ms']} ms")
        return out


class _Connection:
    """`async with` a direct connection to the complaints database."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> asyncpg.Connection:
        self._conn = await asyncpg.connect(self._dsn, command_timeout=3600)
        return self._conn

    async def __aexit__(self, *_exc: object) -> None:
        if self._conn is not None:
            await self._conn.close()


def failures(result: dict[str, Any]) -> list[str]:
    """What fails a run: a crash, a failed intake request, an alert not raised exactly once."""
    out = []
    if result.get("crashed"):
        out.append(f"complaints: crashed {result['crashed']}")
    for name, intake in result.get("intake", {}).items():
        if intake["errors"]:
            out.append(f"complaints intake {name}: errors {intake['errors']}")
        if not intake["created"]:
            out.append(f"complaints intake {name}: nothing created")
    due = result.get("scan", {}).get("due")
    if due and due["alerts_raised"] != due["due"]:
        out.append(f"complaints: {due['due']} due, {due['alerts_raised']} warnings raised")
    return out


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = ["", "Complaints:"]
    for name, intake in result.get("intake", {}).items():
        lat = intake["latency"]
        lines.append(
            f"  intake {name:<7} {intake['per_s']:>7.1f} complaints/s ({intake['concurrency']} clients,"
            f" {intake['duration_s']:g}s): p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, p99 {lat['p99_ms']} ms,"
            f" max {lat['max_ms']} ms; errors {intake['errors'] or 0}"
        )
    cpu = result.get("intake_cpu")
    if cpu:
        shown = ", ".join(
            f"{k} {v['cpu_mean_pct']:.0f}%"
            for k, v in cpu.items()
            if k in ("complaints", "postgres", "broker", "harness")
        )
        lines.append(f"  CPU during the intake (mean % of one core): {shown}")
    filled = result.get("open_complaints")
    if filled:
        lines.append(
            f"  open complaints {filled['open']:,} ({filled['copied_in_sql']:,} copied in SQL in {filled['insert_s']}s),"
            f" {filled['clocks']:,} clocks"
        )
    scan = result.get("scan")
    if scan:
        idle = scan["nothing_due"]
        lines.append(
            f"  tick, nothing due:  p50 {idle['harness']['p50_ms']} ms, max {idle['harness']['max_ms']} ms"
            f" (service {idle['service_mean_ms']} ms; due query {idle['due_query_ms']} ms)"
        )
        due = scan["due"]
        lines.append(
            f"  tick, {due['due']:,} due:   {len(due['ticks'])} ticks, {due['total_s']}s in all"
            f" ({due['per_complaint_ms']} ms a complaint), {due['alerts_raised']} warnings raised"
        )
    if result.get("recompute_open"):
        r = result["recompute_open"]
        lines.append(f"  recompute_open:     {r['complaints']:,} complaints in {r['s']}s ({r['per_s']}/s)")
    if result.get("report"):
        r = result["report"]
        lines.append(
            f"  attainment report:  {r['runs']:,} runs, JSON {r['json_s']}s, CSV {r['csv_s']}s ({r['csv_mib']} MiB)"
        )
    if result.get("gauges"):
        lines.append(f"  SLA gauges refresh: {result['gauges']['refresh_ms']} ms")
    return lines


def promise(result: dict[str, Any]) -> dict[str, Any] | None:
    scan = result.get("scan")
    if not scan:
        return None
    idle = scan["nothing_due"]["harness"]["max_ms"] / 1000
    n = result["open_complaints"]["open"]
    return {
        "promise": f"SLA scan of {n:,} open complaints",
        "target": "< 1 s with 100,000 open",
        "measured": f"tick with nothing due max {idle * 1000:.0f} ms; {scan['due']['due']:,} due handled in"
        f" {scan['due']['total_s']} s",
        "status": "met"
        if idle < SCAN_TARGET_S and n >= 100_000
        else ("NOT MET" if idle >= SCAN_TARGET_S else "not run"),
    }


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, (ax_in, ax_scan) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, intake in result.get("intake", {}).items():
        ax_in.plot(
            intake["series_per_s"][:-1],
            label=f"{name}: {intake['per_s']:.0f}/s, p99 {intake['latency']['p99_ms']} ms",
        )
    ax_in.set_xlabel("seconds")
    ax_in.set_ylabel("complaints created / s")
    ax_in.set_title(f"intake, {result['spec']['concurrency']} clients each")
    ax_in.legend(fontsize=8)
    ax_in.grid(alpha=0.3)
    bars: list[tuple[str, float]] = []
    scan = result.get("scan")
    if scan:
        bars.append(("tick, nothing due\n(max)", scan["nothing_due"]["harness"]["max_ms"] / 1000))
        bars.append(("due query\n(EXPLAIN ANALYZE)", scan["nothing_due"]["due_query_ms"] / 1000))
        bars.append((f"ticks, {scan['due']['due']:,} due\n(all)", scan["due"]["total_s"]))
    if result.get("recompute_open"):
        bars.append(("recompute_open", result["recompute_open"]["s"]))
    if result.get("report"):
        bars.append(("attainment\nreport (JSON)", result["report"]["json_s"]))
    if bars:
        ax_scan.bar([b[0] for b in bars], [max(b[1], 1e-4) for b in bars])
        for i, (_, value) in enumerate(bars):
            ax_scan.annotate(f"{value:.3g} s", (i, max(value, 1e-4)), ha="center", va="bottom", fontsize=8)
        ax_scan.axhline(SCAN_TARGET_S, color="red", linestyle="--", label="1 s (the scan's promise)")
        ax_scan.set_yscale("log")
        ax_scan.set_ylabel("seconds")
        n = result.get("open_complaints", {}).get("open", 0)
        ax_scan.set_title(f"the SLA scheduler over {n:,} open complaints")
        ax_scan.tick_params(axis="x", labelsize=7)
        ax_scan.legend(fontsize=8)
        ax_scan.grid(alpha=0.3, axis="y", which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


async def run_scenario(stack: BenchStack, monitor: Monitor, spec: ComplaintsSpec) -> dict[str, Any]:
    scenario = ComplaintsScenario(stack, monitor, spec, stack.operator_token)
    try:
        return await scenario.run()
    finally:
        await scenario.close()
