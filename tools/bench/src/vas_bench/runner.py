"""One load run against a started stack: reset the simulator, run the load generator process,
print progress, wait for the stack to drain, collect what the simulator, the database and the
load generator saw, and analyse it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from vas_bench.analysis import analyse_mo, analyse_mt, mo_replies, smsc_view
from vas_bench.loadgen import MT_CATEGORY, MT_TOPIC, MoSpec, MtSpec, mt_recipient
from vas_bench.monitor import Monitor
from vas_bench.stack import BenchStack

SMSC_LIST_LIMIT = 100_000  # GET /messages?limit= maximum of the simulator
SAMPLE_SIZE = 5_000
WARMUP_RECIPIENT_BASE = 99_000_000  # warm-up recipients live far above the runs' counters


class BenchError(RuntimeError):
    pass


def _say(message: str) -> None:
    print(message, flush=True)


def _fmt_cpu(cpu: dict[str, float]) -> str:
    order = sorted(cpu, key=lambda n: -cpu[n])
    return " ".join(f"{name} {cpu[name]:.0f}%" for name in order if cpu[name] >= 1)


class Runner:
    def __init__(self, stack: BenchStack, monitor: Monitor, workdir: Path) -> None:
        self.stack = stack
        self.monitor = monitor
        self.workdir = workdir
        self.api_key = ""
        self.partner_id = ""
        self.next_recipient = 0
        self.next_mo_source = 0
        self.http = httpx.AsyncClient(timeout=30.0)
        self._warmups = 0

    async def close(self) -> None:
        await self.http.aclose()

    # -- set-up ---------------------------------------------------------------------------------

    async def create_partner(self, rate_limit_per_s: int = 100_000) -> None:
        """A partner made by the subscription service (operator token), known to the sms-sender."""
        assert self.stack.subscription is not None
        resp = await self.http.post(
            self.stack.subscription.url + "/v1/partners",
            headers={"Authorization": f"Bearer {self.stack.operator_token}"},
            json={
                "name": f"Bench {uuid.uuid4().hex[:8]}",
                "profile": {
                    "signature": "【基准测试】",
                    # Access numbers may not overlap: each benchmark partner has its own.
                    "access_number": f"1066{uuid.uuid4().int % 10**8:08d}",
                    "rate_limit_per_s": rate_limit_per_s,
                },
            },
        )
        if resp.status_code != 201:
            raise BenchError(f"creating the partner failed: {resp.status_code} {resp.text}")
        body = resp.json()
        self.api_key = body["api_key"]
        self.partner_id = body.get("id") or body.get("partner_id") or ""
        started = time.monotonic()
        for url in self.stack.api_urls:
            while True:
                me = await self.http.get(url + "/v1/me", headers={"X-API-Key": self.api_key})
                if me.status_code == 200:
                    self.partner_id = me.json()["partner_id"]
                    break
                if time.monotonic() - started > 30:
                    raise BenchError(f"the sms-sender at {url} did not learn the partner in 30 s")
                await asyncio.sleep(0.1)
        _say(f"  partner {self.partner_id} known to the sms-sender after {time.monotonic() - started:.2f}s")

    async def _consumed(self) -> list[float]:
        """kafka_records_consumed_total for the MT lane (MT_TOPIC) of each dispatcher."""
        pattern = re.compile(
            rf'^kafka_records_consumed_total\{{[^}}]*topic="{re.escape(MT_TOPIC)}"[^}}]*\}} ([0-9.e+]+)$',
            re.M,
        )
        out = []
        for disp in self.stack.dispatchers:
            text = (await self.http.get(disp.url + "/metrics")).text
            out.append(sum(float(v) for v in pattern.findall(text)))
        return out

    async def warm_up(self, timeout_s: float = 90.0) -> None:
        """Send small batches until every dispatcher consumes its share and all arrive quickly,
        so that a run starts with a settled consumer group."""
        started = time.monotonic()
        while True:
            self._warmups += 1
            before = await self._consumed()
            await self.http.delete(self.stack.smsc_url + "/messages")
            base = WARMUP_RECIPIENT_BASE + self._warmups * 100
            recipients = [mt_recipient(base + i) for i in range(60)]
            resp = await self.http.post(
                self.stack.api_urls[0] + "/v1/messages",
                headers={"X-API-Key": self.api_key},
                json={"recipients": recipients, "content": "预热消息", "category": MT_CATEGORY},
            )
            if resp.status_code != 202:
                raise BenchError(f"warm-up send failed: {resp.status_code} {resp.text}")
            sent = time.monotonic()
            while time.monotonic() - sent < 3.0:
                summary = (await self.http.get(self.stack.smsc_url + "/messages/summary")).json()
                if summary["messages"] >= len(recipients):
                    break
                await asyncio.sleep(0.05)
            took = time.monotonic() - sent
            after = await self._consumed()
            everyone = all(a > b for a, b in zip(after, before, strict=True))
            if everyone and took < 1.5:
                _say(f"  warm-up: {len(after)} dispatcher(s) consuming, 60 messages in {took:.2f}s")
                return
            if time.monotonic() - started > timeout_s:
                raise BenchError(f"the dispatchers did not settle in {timeout_s:.0f}s")
            await asyncio.sleep(0.5)

    async def settle(self, name: str, timeout_s: float = 180.0) -> None:
        """Before a run: wait until the previous one has left no work behind (the sms-sender's
        outbox is empty and the stack's processes are nearly idle), so runs do not overlap."""
        started = time.monotonic()
        conn = await self._db()
        try:
            while True:
                outbox = int(await conn.fetchval("SELECT count(*) FROM outbox"))
                busy = sum(self.monitor.latest().values())  # the monitor samples once a second
                if outbox == 0 and busy < 30.0:
                    return
                if time.monotonic() - started > timeout_s:
                    _say(
                        f"[{name}] not idle after {timeout_s:.0f}s (outbox {outbox}, CPU {busy:.0f}%); starting"
                    )
                    return
                await asyncio.sleep(1.0)
        finally:
            await conn.close()

    # -- a run ----------------------------------------------------------------------------------

    async def run(
        self,
        name: str,
        mt: MtSpec | None,
        mo: MoSpec | None,
        *,
        drain_timeout_s: float = 45.0,
        during: Callable[[], Coroutine[Any, Any, Any]] | None = None,
        during_key: str = "profile",
        keep_raw: bool = False,
    ) -> dict[str, Any]:
        """One load run; returns its analysed result (with `series` for the plots).

        `during` starts when the load does; what it returns is kept under `during_key`.
        `keep_raw` keeps, under "raw", each request (sent, answered, status, recipients,
        accepted) and each accepted message's (202 time, first submit_sm time or None), all
        monotonic: what the chaos suite measures recovery on."""
        if mt is not None:
            mt.recipient_start = self.next_recipient
            per_req = mt.batch_size if mt.mode == "batch" else 1
            self.next_recipient += int(mt.rate * mt.duration_s) + 10 * per_req
        if mo is not None:
            mo.source_start = self.next_mo_source
            self.next_mo_source += int(mo.rate * mo.duration_s) + 10
        duration = max(mt.duration_s if mt else 0.0, mo.duration_s if mo else 0.0)
        label = " + ".join(
            part
            for part in (
                f"MT {mt.mode} {mt.rate:g} msg/s"
                + (f" ({mt.batch_size}/request)" if mt.mode == "batch" else "")
                if mt
                else "",
                f"MO {mo.rate:g} msg/s" if mo else "",
            )
            if part
        )
        _say(f"\n== {name}: {label} for {duration:g}s ==")
        await self.settle(name)
        await self.http.delete(self.stack.smsc_url + "/messages")
        crashed_before = set(self.stack.crashed())
        out_path = self.workdir / f"{name}.loadgen.json"
        spec = {
            "api_urls": self.stack.api_urls,
            "api_key": self.api_key,
            "smsc_url": self.stack.smsc_url,
            "kafka_bootstrap": self.stack.kafka_bootstrap,
            "out": str(out_path),
            "run_id": f"{name}-{uuid.uuid4().hex[:8]}",
            "mt": asdict(mt) if mt else None,
            "mo": asdict(mo) if mo else None,
            "progress_interval_s": 3.0,
        }
        spec_path = self.workdir / f"{name}.spec.json"
        spec_path.write_text(json.dumps(spec))
        db_since = time.time()
        self.monitor.reset()
        lg_proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vas_bench.loadgen",
            str(spec_path),
            stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        self.stack.track("loadgen", lg_proc.pid)
        during_task: asyncio.Task[Any] | None = None
        try:  # a fault injected `during` the run is undone (cancelled) if the run fails
            try:
                assert lg_proc.stdout is not None
                async for raw in lg_proc.stdout:
                    line = json.loads(raw) if raw.startswith(b"{") else {}
                    if "started" in line and during is not None:
                        during_task = asyncio.create_task(during())
                    if "progress" in line:
                        await self._print_progress(name, line["progress"], mt, mo)
                    crashed = set(self.stack.crashed()) - crashed_before
                    if crashed:
                        raise BenchError(f"crashed during {name}: {', '.join(sorted(crashed))}")
                code = await lg_proc.wait()
            finally:
                if lg_proc.returncode is None:
                    lg_proc.kill()
                    await lg_proc.wait()
                self.stack.untrack("loadgen")
            if code != 0:
                raise BenchError(f"the load generator exited with {code}")
            lg = json.loads(await asyncio.to_thread(out_path.read_text))
            cpu = self.monitor.summary(since=0.0, until=duration + 0.5)
            cpu["loadgen_self_reported_cpu_s"] = round(lg["cpu_s"], 2)
            accepted = len(lg["mt"]["messages"])
            if accepted:
                await self._drain_smsc(name, accepted, drain_timeout_s, quiet_s=3.0 if mo else 0.0)
                await self._drain_receipts(name, accepted, db_since, drain_timeout_s)
            if during_task is not None:
                profile = await during_task
            else:
                profile = None
        except BaseException:
            await cancel_quietly(during_task)
            raise
        length = int(max(duration, time.monotonic() - lg["t0"])) + 1
        result: dict[str, Any] = {
            "name": name,
            "duration_s": duration,
            "dispatch": asdict(self.stack.dispatch),
            "api_processes": len(self.stack.apis),
            "cpu": cpu,
            "cpu_series": {
                k: [(round(t, 1), round(c, 1)) for t, c, _ in v] for k, v in self.monitor.series().items()
            },
        }
        stats = (await self.http.get(self.stack.smsc_url + "/stats")).json()
        result["smsc_counters"] = {
            k: v for k, v in stats.items() if isinstance(v, int) and not isinstance(v, bool)
        }
        if mt is not None:
            result["mt_spec"] = asdict(mt)
            view = await self._smsc_view(lg)
            missing = sum(1 for m in lg["mt"]["messages"] if m[1] not in view.first_mono)
            if missing > 0 and not view.sampled:
                # replies to MO may have filled the count: wait until nothing moves, look again
                _say(f"[{name}] {missing} not at the SMSC yet; waiting until it is quiet")
                await self._drain_smsc(name, accepted, drain_timeout_s, quiet_s=drain_timeout_s / 3)
                view = await self._smsc_view(lg)
            rows = await self._db_rows(db_since)
            result["mt"] = analyse_mt(lg, view, rows, mt.duration_s, length)
            result["mt"]["requests"]["refusals"] = lg["mt"].get("refusals", {})
            if keep_raw:
                result["raw"] = {
                    "t0": lg["t0"],
                    "end_of_load": lg["end_of_load"],
                    "requests": lg["mt"]["requests"],
                    "accepted": [(m[3], view.first_mono.get(m[1])) for m in lg["mt"]["messages"]],
                }
            if mo is not None:
                result["mo_replies"] = mo_replies(lg, view.first_mono, length)
        if mo is not None:
            result["mo_spec"] = asdict(mo)
            result["mo"] = analyse_mo(lg, mo.duration_s, length)
        if profile is not None:
            result[during_key] = profile
        crashed_now = sorted(set(self.stack.crashed()) - crashed_before)
        result["crashed"] = crashed_now
        if crashed_now:
            raise BenchError(f"crashed during {name}: {', '.join(crashed_now)}")
        await asyncio.to_thread(out_path.unlink, missing_ok=True)  # large; the result keeps what matters
        return result

    async def _print_progress(
        self, name: str, p: dict[str, Any], mt: MtSpec | None, mo: MoSpec | None
    ) -> None:
        try:
            stats = (await self.http.get(self.stack.smsc_url + "/stats")).json()
        except httpx.HTTPError:
            stats = {}
        t = max(p["t"], 1e-3)
        parts = [f"[{name} t={p['t']:5.1f}s]"]
        if mt is not None:
            parts.append(
                f"MT offered {p['mt_offered']} accepted {p['mt_accepted']} ({p['mt_accepted'] / t:.0f}/s)"
                f" | SMSC submits {stats.get('submit_sm_accepted', '?')} | inflight {p['inflight']}"
                + (f" errors {p['mt_errors']}" if p["mt_errors"] else "")
                + (f" not-offered {p['mt_skipped_requests']}" if p["mt_skipped_requests"] else "")
            )
        if mo is not None:
            parts.append(
                f"MO injected {p['mo_injected']} on sms.mo {p['mo_seen']}"
                + (f" errors {p['mo_errors']}" if p["mo_errors"] else "")
            )
        parts.append(f"| cpu {_fmt_cpu(self.monitor.latest())}")
        other = self.monitor.other_load()
        if other > 25:
            parts.append(f"| OTHER LOAD on the machine {other:.0f}%")
        _say(" ".join(parts))

    async def _smsc_count(self) -> int:
        return int((await self.http.get(self.stack.smsc_url + "/messages/summary")).json()["messages"])

    async def _drain_smsc(self, name: str, accepted: int, timeout_s: float, quiet_s: float) -> None:
        """Wait until the simulator saw at least as many messages as were accepted (it was reset
        before the run) and then nothing new for quiet_s (replies to MO come after), or nothing
        moved for timeout_s."""
        last, last_change, last_print = -1, time.monotonic(), 0.0
        while True:
            seen = await self._smsc_count()
            now = time.monotonic()
            if seen != last:
                last, last_change = seen, now
            if seen >= accepted and now - last_change >= quiet_s:
                return
            if now - last_change > timeout_s:
                _say(f"[{name}] SMSC stuck at {seen} of {accepted} for {timeout_s:.0f}s; collecting")
                return
            if now - last_print > 5:
                _say(f"[{name}] draining: SMSC has {seen} messages, {accepted} accepted")
                last_print = now
            await asyncio.sleep(0.5)

    async def _db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.stack.sender_dsn)

    async def _drain_receipts(self, name: str, accepted: int, since: float, timeout_s: float) -> None:
        conn = await self._db()
        try:
            last, last_change = -1, time.monotonic()
            while True:
                done = int(
                    await conn.fetchval(
                        "SELECT count(*) FROM messages WHERE partner_id = $1::uuid"
                        " AND accepted_at >= to_timestamp($2) AND done_at IS NOT NULL",
                        self.partner_id,
                        since,
                    )
                )
                now = time.monotonic()
                if done >= accepted:
                    return
                if done != last:
                    last, last_change = done, now
                elif now - last_change > min(timeout_s, 20.0):
                    _say(f"[{name}] receipts stuck at {done} of {accepted}; collecting")
                    return
                await asyncio.sleep(0.5)
        finally:
            await conn.close()

    async def _db_rows(self, since: float) -> list[tuple[str, float, float | None, float | None, str]]:
        conn = await self._db()
        try:
            rows = await conn.fetch(
                "SELECT id::text, extract(epoch FROM accepted_at)::float8 AS accepted,"
                " extract(epoch FROM submitted_at)::float8 AS submitted,"
                " extract(epoch FROM done_at)::float8 AS done, status"
                " FROM messages WHERE partner_id = $1::uuid AND accepted_at >= to_timestamp($2)",
                self.partner_id,
                since,
            )
        finally:
            await conn.close()
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def _smsc_view(self, lg: dict[str, Any]) -> Any:
        summary = (await self.http.get(self.stack.smsc_url + "/messages/summary")).json()
        total = int(summary["messages"])
        if total <= SMSC_LIST_LIMIT:
            resp = await self.http.get(
                self.stack.smsc_url + "/messages", params={"limit": SMSC_LIST_LIMIT}, timeout=300
            )
            return smsc_view(resp.json()["messages"], total)
        # More than the simulator lists at once: look up a random sample of destinations.
        recipients = [m[1] for m in lg["mt"]["messages"]]
        sample = set(random.sample(recipients, min(SAMPLE_SIZE, len(recipients))))
        found: list[dict[str, Any]] = []
        sem = asyncio.Semaphore(16)

        async def one(dest: str) -> None:
            async with sem:
                resp = await self.http.get(self.stack.smsc_url + "/messages", params={"destination": dest})
                found.extend(resp.json()["messages"])

        await asyncio.gather(*(one(d) for d in sample))
        _say(f"  {total} messages at the SMSC: looked up a sample of {len(sample)} destinations")
        return smsc_view(found, total, looked_up=sample)


async def cancel_quietly(task: asyncio.Task[Any] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
