"""`python -m vas_bench.loadgen SPEC.json`: the load generator, a process of its own.

Offers MT load open-loop at a fixed rate (a request is sent when it is due, whether or not
earlier ones were answered; at most `max_inflight` at once, the rest are counted as not
offered), injects MO at the SMSC simulator (POST /mo/batch, `MoSpec.batch_size` users' messages a
request, each counted as injected when its request is sent) and counts the MO events the
sms-sender publishes on `sms.mo` with a group-less consumer positioned at the end of the
topic before the first injection.

Every recipient and MO sender is unique, so each message is identifiable at the simulator.
For each accepted message it records the monotonic time the request was sent and the
monotonic and wall-clock time its 202 arrived; `time.monotonic()` is CLOCK_MONOTONIC, shared
by every process in one time namespace, so the harness compares it with the simulator's
`first_received_monotonic`. Prints a JSON progress line every `progress_interval_s`, and at
the end writes everything to `out` as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from vas_bench.http import HttpClient, HttpError

MO_TOPIC = "sms.mo"
# The MT load is category "notice". Partner content must name a product and goes only to that
# product's active subscribers, each double-confirmed by SMS through the subscription service:
# the hundreds of thousands of unique recipients of a run cannot all subscribe first. A notice
# needs no product; it takes the priority lane (its topic and consumer group, the bind's whole
# window where bulk content gets W-4) and is not screened for opt-outs at accept.
MT_CATEGORY = "notice"
MT_TOPIC = "sms.submit.priority"  # the lane of MT_CATEGORY
# where the answers to MO are asked for (subscription -> sms-sender): the MO -> reply hook
REQUESTS_TOPIC = "sms.send-requests"


def mt_recipient(n: int) -> str:
    """A valid mainland mobile number (139 prefix), unique for n < 10**8."""
    return f"86139{n:08d}"


def mo_source(n: int) -> str:
    return f"86158{n:08d}"


@dataclass
class MtSpec:
    mode: str  # "batch" | "single"
    rate: float  # messages per second
    duration_s: float
    batch_size: int = 100
    recipient_start: int = 0
    content: str = "您的账单已生成，本月消费 58.00 元，详情请登录查询。"
    category: str = MT_CATEGORY


@dataclass
class MoSpec:
    rate: float
    duration_s: float
    source_start: int = 0
    destination: str = "10690019"
    text: str = "0000"
    batch_size: int = 10  # MO per POST /mo/batch; each counts as injected when its request is sent


@dataclass
class Spec:
    api_urls: list[str]
    api_key: str
    smsc_url: str
    kafka_bootstrap: str
    out: str
    run_id: str
    mt: MtSpec | None = None
    mo: MoSpec | None = None
    max_inflight: int = 512
    drain_timeout_s: float = 30.0
    progress_interval_s: float = 2.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Spec:
        mt = MtSpec(**data.pop("mt")) if data.get("mt") else None
        mo = MoSpec(**data.pop("mo")) if data.get("mo") else None
        data.pop("mt", None)
        data.pop("mo", None)
        return cls(mt=mt, mo=mo, **data)


@dataclass
class State:
    # MT
    requests_due: int = 0
    requests_skipped: int = 0  # due while max_inflight requests were open: not offered
    msgs_offered: int = 0
    msgs_accepted: int = 0
    msgs_rejected: int = 0
    inflight: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    # each non-202 answer by status and whether it was problem+json with a Retry-After
    refusals: Counter[str] = field(default_factory=Counter)
    messages: list[tuple[str, str, float, float, float]] = field(default_factory=list)
    requests: list[tuple[float, float, int, int, int]] = field(default_factory=list)
    # MO
    mo_due: int = 0
    mo_skipped: int = 0
    mo_injected: list[tuple[str, float, float]] = field(default_factory=list)
    mo_errors: Counter[str] = field(default_factory=Counter)
    mo_inflight: int = 0
    mo_wanted: set[str] = field(default_factory=set)
    mo_seen: dict[str, list[float]] = field(default_factory=dict)  # source -> [first seen, copies]
    mo_seen_total: int = 0
    reply_requested: dict[str, float] = field(default_factory=dict)  # recipient -> first seen


def describe_refusal(status: int, headers: dict[str, str]) -> str:
    """ "503 problem+json retry-after" for a well-formed refusal, else what it lacked."""
    kind = (
        "problem+json"
        if headers.get("content-type", "").startswith("application/problem+json")
        else "not-problem"
    )
    retry = "retry-after" if headers.get("retry-after", "").strip().isdigit() else "no-retry-after"
    return f"{status} {kind} {retry}"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _paced(rate_per_s: float, duration_s: float, start: float, fire: Any) -> None:
    """Call fire(i) at start + i / rate, for duration_s (open loop: never waits on fire)."""
    interval = 1.0 / rate_per_s
    end = start + duration_s
    for i in itertools.count():
        due = start + i * interval
        if due >= end:
            return
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        fire(i)


class LoadGenerator:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.state = State()
        self.tasks: set[asyncio.Task[None]] = set()
        self.t0 = 0.0
        self.t0_wall = 0.0
        self.end_of_load = 0.0

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- MT --------------------------------------------------------------------------------------

    async def _send(self, api: HttpClient, index: int, recipients: list[str]) -> None:
        spec, st = self.spec, self.state
        assert spec.mt is not None
        body = json.dumps(
            {"recipients": recipients, "content": spec.mt.content, "category": spec.mt.category}
        ).encode()
        headers = {"X-API-Key": spec.api_key, "Idempotency-Key": f"{spec.run_id}-{index}"}
        st.inflight += 1
        sent = time.monotonic()
        status = 0
        accepted = 0
        try:
            response = await api.post_full("/v1/messages", body, headers)
            status, payload = response.status, response.body
            answered = time.monotonic()
            wall = time.time()
            if status == 202:
                data = json.loads(payload)
                for item in data["accepted"]:
                    st.messages.append((item["message_id"], item["recipient"], sent, answered, wall))
                accepted = len(data["accepted"])
                st.msgs_accepted += accepted
                st.msgs_rejected += len(data["rejected"])
            else:
                st.errors[str(status)] += 1
                st.refusals[describe_refusal(status, response.headers)] += 1
        except (HttpError, TimeoutError, OSError) as exc:
            answered = time.monotonic()
            st.errors[type(exc).__name__] += 1
        finally:
            st.inflight -= 1
        st.requests.append((sent, answered, status, len(recipients), accepted))

    async def run_mt(self, apis: list[HttpClient]) -> None:
        mt = self.spec.mt
        if mt is None:
            return
        per_request = mt.batch_size if mt.mode == "batch" else 1
        st = self.state
        counter = itertools.count(mt.recipient_start)

        def fire(i: int) -> None:
            st.requests_due += 1
            recipients = [mt_recipient(next(counter)) for _ in range(per_request)]
            if st.inflight >= self.spec.max_inflight:
                st.requests_skipped += 1
                return
            st.msgs_offered += per_request
            self._spawn(self._send(apis[i % len(apis)], i, recipients))

        await _paced(mt.rate / per_request, mt.duration_s, self.t0, fire)

    # -- MO --------------------------------------------------------------------------------------

    async def _inject(self, smsc: HttpClient, sources: list[str]) -> None:
        spec, st = self.spec, self.state
        assert spec.mo is not None
        st.mo_inflight += 1
        sent = time.monotonic()
        body = json.dumps(
            {
                "messages": [
                    {"source": source, "destination": spec.mo.destination, "text": spec.mo.text}
                    for source in sources
                ]
            }
        ).encode()
        try:
            status, _ = await smsc.post("/mo/batch", body, {})
            if status == 200:
                answered = time.monotonic()
                st.mo_injected += [(source, sent, answered) for source in sources]
            else:
                st.mo_errors[str(status)] += len(sources)
        except (HttpError, TimeoutError, OSError) as exc:
            st.mo_errors[type(exc).__name__] += len(sources)
        finally:
            st.mo_inflight -= 1

    async def run_mo(self, smsc: HttpClient) -> None:
        mo = self.spec.mo
        if mo is None:
            return
        st = self.state
        per_request = max(1, mo.batch_size)

        def fire(i: int) -> None:
            st.mo_due += per_request
            sources = [mo_source(mo.source_start + i * per_request + k) for k in range(per_request)]
            if st.mo_inflight >= self.spec.max_inflight:
                st.mo_skipped += per_request
                return
            st.mo_wanted.update(sources)
            self._spawn(self._inject(smsc, sources))

        await _paced(mo.rate / per_request, mo.duration_s, self.t0, fire)

    async def start_mo_consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.spec.kafka_bootstrap, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        tps: list[TopicPartition] = []
        for _ in range(50):
            await consumer.topics()
            tps = [
                TopicPartition(topic, p)
                for topic in (MO_TOPIC, REQUESTS_TOPIC)
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            if any(tp.topic == MO_TOPIC for tp in tps):
                break
            await asyncio.sleep(0.2)
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)  # resolve the end offsets now, before anything is injected
        return consumer

    async def consume_mo(self, consumer: AIOKafkaConsumer) -> None:
        st = self.state
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=2000)
            now = time.monotonic()
            for records in batches.values():
                for record in records:
                    try:
                        event = json.loads(record.value or b"")
                        kind = event.get("type")
                        if kind == "sms.send_requested":
                            st.reply_requested.setdefault(event["payload"]["recipient"], now)
                            continue
                        msisdn = event["payload"]["msisdn"] if kind == "sms.mo_received" else None
                    except (ValueError, KeyError, TypeError, AttributeError):
                        continue
                    if msisdn is None:
                        continue
                    seen = st.mo_seen.get(msisdn)
                    if seen is None:
                        st.mo_seen[msisdn] = [now, 1]
                    else:
                        seen[1] += 1
                    st.mo_seen_total += 1

    # -- progress and run --------------------------------------------------------------------------

    def progress(self) -> dict[str, Any]:
        st = self.state
        return {
            "t": round(time.monotonic() - self.t0, 2),
            "mt_offered": st.msgs_offered,
            "mt_accepted": st.msgs_accepted,
            "mt_skipped_requests": st.requests_skipped,
            "mt_errors": sum(st.errors.values()),
            "inflight": st.inflight,
            "mo_injected": len(st.mo_injected),
            "mo_seen": len(st.mo_seen),
            "mo_errors": sum(st.mo_errors.values()),
            "cpu_s": round(_cpu_s(), 2),
        }

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(self.spec.progress_interval_s)
            print(json.dumps({"progress": self.progress()}), flush=True)

    async def run(self) -> dict[str, Any]:
        spec = self.spec
        consumer = await self.start_mo_consumer() if spec.mo else None
        consume = asyncio.create_task(self.consume_mo(consumer)) if consumer else None
        cpu0 = _cpu_s()
        # a client (connection pool) per target, so a slow API never holds up MO injection
        limit = spec.max_inflight + 16
        apis = [HttpClient(url, limit=limit) for url in spec.api_urls]
        smsc = HttpClient(spec.smsc_url, limit=limit)
        self.t0 = time.monotonic() + 0.2
        self.t0_wall = time.time() + (self.t0 - time.monotonic())
        print(json.dumps({"started": {"t0": self.t0, "t0_wall": self.t0_wall}}), flush=True)
        reporter = asyncio.create_task(self._report())
        try:
            await asyncio.gather(self.run_mt(apis), self.run_mo(smsc))
            self.end_of_load = time.monotonic()
            if self.tasks:
                await asyncio.wait(list(self.tasks), timeout=60)
            if consume is not None:
                await self._wait_mo()
                await self._wait_reply_requests()
        finally:
            reporter.cancel()
            for client in (*apis, smsc):
                await client.close()
            if consume is not None:
                consume.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await consume
            if consumer is not None:
                await consumer.stop()
        print(json.dumps({"progress": self.progress()}), flush=True)
        return self.result(_cpu_s() - cpu0)

    async def _wait_mo(self) -> None:
        st = self.state
        injected = {source for source, _, _ in st.mo_injected}
        last, last_change = -1, time.monotonic()
        while True:
            seen = len(injected & st.mo_seen.keys())
            if seen >= len(injected):
                return
            now = time.monotonic()
            if seen != last:
                last, last_change = seen, now
            elif now - last_change > self.spec.drain_timeout_s:
                return
            await asyncio.sleep(0.2)

    async def _wait_reply_requests(self, quiet_s: float = 5.0, limit_s: float = 600.0) -> None:
        """Answers to MO are asked for after the MO: keep counting until none came for quiet_s."""
        st = self.state
        started = time.monotonic()
        last, last_change = len(st.reply_requested), time.monotonic()
        while time.monotonic() - last_change < quiet_s and time.monotonic() - started < limit_s:
            await asyncio.sleep(0.5)
            if len(st.reply_requested) != last:
                last, last_change = len(st.reply_requested), time.monotonic()

    def result(self, cpu_s: float) -> dict[str, Any]:
        st = self.state
        return {
            "t0": self.t0,
            "t0_wall": self.t0_wall,
            "end_of_load": self.end_of_load,
            "cpu_s": cpu_s,
            "mt": {
                "requests_due": st.requests_due,
                "requests_skipped": st.requests_skipped,
                "offered": st.msgs_offered,
                "accepted": st.msgs_accepted,
                "rejected": st.msgs_rejected,
                "errors": dict(st.errors),
                "refusals": dict(st.refusals),
                "messages": st.messages,
                "requests": st.requests,
            },
            "mo": {
                "due": st.mo_due,
                "skipped": st.mo_skipped,
                "errors": dict(st.mo_errors),
                "injected": st.mo_injected,
                "seen": st.mo_seen,
                "seen_total": st.mo_seen_total,
                "reply_requested": st.reply_requested,
            },
        }


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    spec = Spec.from_json(json.loads(Path(args[0]).read_text()))
    result = asyncio.run(LoadGenerator(spec).run())
    Path(spec.out).write_text(json.dumps(result))
    print(json.dumps({"done": spec.out}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
