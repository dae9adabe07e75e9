"""The SMSC simulator: an SMPP 3.4 server (the SMSC side of a bind) plus an HTTP control API.

One event loop runs both. Every accepted TCP connection is a `vas_common.smpp.session.SmppSession`
whose requests arrive at `_on_request` (synchronous, no task per PDU). Everything the SMSC
sends on a connection goes through that connection's outbox, written in order by one writer
task: responses (delayed by `submit_latency_ms` with a timer, so latency never caps
throughput), deliver_sm (receipts and MO, each awaiting its deliver_sm_resp in a task of its
own) and, after a failed bind, the close. While paused the writers hold everything and every
request that arrives is dropped unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import socket
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from vas_common.clock import Clock, SystemClock
from vas_common.smpp.pdu import (
    ESM_CLASS_DELIVERY_RECEIPT,
    TLV_MESSAGE_STATE,
    TLV_RECEIPTED_MESSAGE_ID,
    TRANSIENT_STATUSES,
    Command,
    MessageState,
    Pdu,
    ShortMessage,
    Status,
    response_to,
)
from vas_common.smpp.session import SessionClosed, SmppSession
from vas_common.smpp.text import encode_message, format_receipt, split_udh
from vas_devstack.smsc.records import MessageBook, SubmitRecord

logger = logging.getLogger(__name__)

# receipt stat -> message_state TLV value (SMPP 3.4 section 5.2.28)
MESSAGE_STATES: Final[Mapping[str, int]] = {
    "DELIVRD": 2,
    "EXPIRED": 3,
    "DELETED": 4,
    "UNDELIV": 5,
    "ACCEPTD": 6,
    "UNKNOWN": 7,
    "REJECTD": 8,
}
_RECEIPT_ERR = {"DELIVRD": "000", "ACCEPTD": "000"}

BIND_TYPES: Final[Mapping[Command, str]] = {
    Command.BIND_TRANSCEIVER: "transceiver",
    Command.BIND_TRANSMITTER: "transmitter",
    Command.BIND_RECEIVER: "receiver",
}
_DELIVER_RETRY_S = 1.0


class ConfigError(ValueError):
    pass


def validate_outcomes(outcomes: Mapping[str, float]) -> dict[str, float]:
    cleaned = {stat.upper(): float(weight) for stat, weight in outcomes.items()}
    unknown = sorted(set(cleaned) - set(MESSAGE_STATES))
    if unknown:
        raise ConfigError(f"unknown receipt stat {', '.join(unknown)}; known: {', '.join(MESSAGE_STATES)}")
    if any(weight < 0 for weight in cleaned.values()) or sum(cleaned.values()) <= 0:
        raise ConfigError("outcome weights must be >= 0 and sum to more than 0")
    return cleaned


@dataclass
class SmscConfig:
    host: str = "127.0.0.1"
    smpp_port: int = 0  # 0: a free port
    http_port: int = 0  # 0: a free port
    accounts: dict[str, str] = field(default_factory=lambda: {"vas": "vas-pass"})
    system_id: str = "vas-smsc"  # what bind_*_resp carries
    # changeable at run time (PUT /config, `update_config`)
    tps: float = 0.0  # per bind; 0 = unlimited
    # per account (system_id), over all its binds: a submit beyond it (bursts up to one second's
    # worth) is answered ESME_RTHROTTLED, as an operator enforcing an account's TPS does
    account_tps: float = 0.0
    submit_latency_ms: float = 0.0
    receipt_delay_ms: float = 50.0  # counted from the submit_sm_resp
    outcomes: dict[str, float] = field(default_factory=lambda: {"DELIVRD": 1.0})
    receipt_before_resp: bool = False
    drop_receipts: float = 0.0  # the share of receipts never sent (query_sm still knows the state)
    seed: int | None = 1
    enquire_link_interval_s: float = 30.0
    deliver_timeout_s: float = 10.0
    # The first message id (hex of it). None: from the clock, so ids stay unique across restarts
    # of the simulator (an ESME's store outlives it). A number: two simulators can be made to
    # hand out the same ids, as two operators' SMSCs may.
    first_message_id: int | None = None


RUNTIME_FIELDS = (
    "tps",
    "submit_latency_ms",
    "receipt_delay_ms",
    "outcomes",
    "receipt_before_resp",
    "drop_receipts",
)


class TokenBucket:
    __slots__ = ("last", "rate", "tokens")

    def __init__(self) -> None:
        self.rate = 0.0
        self.tokens = 0.0
        self.last = 0.0

    def take(self, now: float, rate: float) -> bool:
        if rate <= 0:
            return True
        if rate != self.rate:  # new bind, or the limit was changed: start full
            self.rate = rate
            self.tokens = rate
        else:
            self.tokens = min(rate, self.tokens + (now - self.last) * rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(eq=False, slots=True)
class Delivery:
    """A deliver_sm the SMSC owes an ESME (a receipt or an MO part)."""

    sm: ShortMessage
    kind: str  # "receipt" | "mo"
    system_id: str | None  # only sessions of this account may take it; None: any
    receipt_of: tuple[str, str] | None = None  # a receipt's (message id, stat)


class _Close:
    pass


_CLOSE: Final = _Close()
_OutItem = Pdu | Delivery | _Close


class Bind:
    """One accepted TCP connection, bound or not yet."""

    def __init__(
        self, session_id: int, session: SmppSession, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        self.id = session_id
        self.session = session
        self.writer = writer
        self.peer = peer
        self.system_id: str | None = None
        self.bind_type: str | None = None
        self.bucket = TokenBucket()
        self.outbox: deque[_OutItem] = deque()
        self.wake = asyncio.Event()
        self.alive = True
        self.connected_at = time.time()
        self.writer_task: asyncio.Task[None] | None = None

    @property
    def can_receive(self) -> bool:
        return (
            self.alive and self.bind_type in ("transceiver", "receiver") and not self.session.closed.is_set()
        )

    @property
    def can_transmit(self) -> bool:
        return self.bind_type in ("transceiver", "transmitter")

    def put(self, item: _OutItem) -> None:
        if self.alive:
            self.outbox.append(item)
            self.wake.set()

    def as_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.id,
            "system_id": self.system_id,
            "bind_type": self.bind_type,
            "peer": self.peer,
            "connected_at": datetime.fromtimestamp(self.connected_at, UTC).isoformat(),
        }


@dataclass
class Counters:
    submit_sm_received: int = 0
    submit_sm_accepted: int = 0
    submit_sm_throttled: int = 0
    submit_sm_rejected: int = 0  # other refusals: receiver bind, no destination
    receipts_sent: int = 0  # acknowledged by the ESME with deliver_sm_resp OK
    mo_sent: int = 0  # MO parts acknowledged by the ESME
    deliver_sm_refused: int = 0  # deliver_sm_resp with a permanent error status (not resent)
    deliver_sm_resent: int = 0  # timed out, connection lost or transient error: sent again
    deliver_sm_unanswered: int = 0  # sent, deliver_sm_resp not come yet (a gauge)
    receipts_dropped: int = 0  # never sent (`drop_receipts`)
    query_sm_received: int = 0
    binds_accepted: int = 0
    binds_refused: int = 0
    binds_peak: int = 0  # the most binds one account held at once
    generic_nacks: int = 0


def _smpp_time(wall: float) -> str:
    return time.strftime("%y%m%d%H%M", time.localtime(wall))


def _smpp_absolute_time(wall: float) -> str:
    """SMPP 3.4 absolute time in UTC: YYMMDDhhmmsst00+."""
    tenths = int(wall * 10) % 10
    return time.strftime("%y%m%d%H%M%S", time.gmtime(wall)) + f"{tenths}00+"


class SmscSimulator:
    def __init__(self, config: SmscConfig | None = None) -> None:
        self.config = config or SmscConfig()
        self.config.outcomes = validate_outcomes(self.config.outcomes)
        for name in ("tps", "account_tps", "submit_latency_ms", "receipt_delay_ms"):
            value = float(getattr(self.config, name))
            if value < 0:
                raise ConfigError(f"{name} must be >= 0")
            setattr(self.config, name, value)
        self._apply_outcomes()
        self.rng = random.Random(self.config.seed)
        self.book = MessageBook()
        self.counters = Counters()
        self._binds: dict[int, Bind] = {}
        self._account_buckets: dict[str, TokenBucket] = {}
        self._by_session: dict[SmppSession, Bind] = {}
        self._session_ids = itertools.count(1)
        # message ids: a counter in hex (see SmscConfig.first_message_id)
        first_id = self.config.first_message_id
        self._message_ids = itertools.count(time.time_ns() // 1000 if first_id is None else first_id)
        self._mo_references = itertools.count(random.randrange(256))
        self._rr = itertools.count()
        self._held: deque[Delivery] = deque()
        # message id -> (source address, message_state, when it became final) for query_sm;
        # ENROUTE until its receipt is due (sent or dropped)
        self._states: dict[str, tuple[str, int, float | None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()  # deliver_sm in flight
        self._connection_tasks: set[asyncio.Task[Any]] = set()
        self._paused_until_mono = 0.0
        self._paused_until_wall: float | None = None
        self._unpaused = asyncio.Event()
        self._unpaused.set()
        self._resume_handle: asyncio.TimerHandle | None = None
        # refuse_binds: until when (on which clock) every bind is refused
        self._binds_refused_until: datetime | None = None
        self._refusal_clock: Clock = SystemClock()
        self._server: asyncio.Server | None = None
        self._http: Any = None  # uvicorn.Server, imported only when started
        self._loop: asyncio.AbstractEventLoop
        self._http_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.smpp_port = self.config.smpp_port
        self.http_port = self.config.http_port

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def http_url(self) -> str:
        return f"http://{self.config.host}:{self.http_port}"

    @property
    def smpp_address(self) -> str:
        return f"{self.config.host}:{self.smpp_port}"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._on_connect, self.config.host, self.config.smpp_port, reuse_address=True
        )
        self.smpp_port = self._server.sockets[0].getsockname()[1]
        try:
            await self._start_http()
        except BaseException:
            self._server.close()
            raise
        logger.info("SMSC simulator: smpp %s, http %s", self.smpp_address, self.http_url)

    async def _start_http(self) -> None:
        import uvicorn

        from vas_devstack.smsc.api import EmbeddedServer, create_app

        # proto given explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
        # listening socket says IPPROTO_TCP; without it every keep-alive request waits ~40 ms
        # on delayed ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, self.config.http_port))
        except OSError:
            sock.close()
            raise
        self.http_port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self),
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        server = EmbeddedServer(config)
        self._http = server
        self._http_task = asyncio.create_task(server.serve(sockets=[sock]), name="smsc:http")
        while not server.started:
            if self._http_task.done():
                await self._http_task  # raises what stopped it
                raise RuntimeError("the HTTP control API did not start")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        await self.drop_binds()
        if self._connection_tasks:
            await asyncio.wait(list(self._connection_tasks), timeout=5)
        if self._resume_handle is not None:
            self._resume_handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._http_task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    # -- connections -------------------------------------------------------------------------

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._stopping:
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._connection_tasks.add(task)
            task.add_done_callback(self._connection_tasks.discard)
        peer = writer.get_extra_info("peername")
        session_id = next(self._session_ids)
        session = SmppSession(
            reader,
            writer,
            self._on_request,
            name=f"smsc-session-{session_id}",
            enquire_link_interval_s=self.config.enquire_link_interval_s,
            response_timeout_s=self.config.deliver_timeout_s,
        )
        session.answer_enquire_link = not self.paused
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        bind = Bind(session_id, session, writer, f"{peer[0]}:{peer[1]}" if peer else "?")
        self._binds[session_id] = bind
        self._by_session[session] = bind
        session.start()
        bind.writer_task = asyncio.create_task(
            self._write_loop(bind), name=f"smsc-session-{session_id}:write"
        )
        try:
            await session.closed.wait()
        finally:
            self._forget(bind)
            if bind.writer_task is not asyncio.current_task():
                bind.writer_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await bind.writer_task

    def _forget(self, bind: Bind) -> None:
        if not bind.alive:
            return
        bind.alive = False
        self._binds.pop(bind.id, None)
        self._by_session.pop(bind.session, None)
        # the SMSC keeps what it owed this connection: deliver it elsewhere or when one binds
        left = [item for item in bind.outbox if isinstance(item, Delivery)]
        bind.outbox.clear()
        if left and not self._stopping:
            self._dispatch(left)

    async def _write_loop(self, bind: Bind) -> None:
        session = bind.session
        outbox = bind.outbox
        spawned = False  # deliver_sm tasks created since the last yield
        try:
            while True:
                if not outbox:
                    if spawned:
                        spawned = False
                        await asyncio.sleep(0)
                        continue
                    bind.wake.clear()
                    await bind.wake.wait()
                    continue
                if not self._unpaused.is_set():
                    await self._unpaused.wait()
                    continue
                item = outbox.popleft()
                if isinstance(item, Delivery):
                    # the task writes the deliver_sm in its first step; tasks run in creation order
                    self._spawn(self._deliver(bind, item))
                    spawned = True
                    continue
                if spawned:
                    # let the deliver_sm tasks write first, so the wire order is the outbox order
                    spawned = False
                    await asyncio.sleep(0)
                if isinstance(item, _Close):
                    session.close()
                    return
                await session.send(item)
        except (SessionClosed, ConnectionError, OSError):
            return

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- requests ------------------------------------------------------------------------------

    def _on_request(self, session: SmppSession, pdu: Pdu) -> None:
        if self.paused:
            return  # a hung SMSC: never answered
        bind = self._by_session.get(session)
        if bind is None or not bind.alive:
            return
        command = pdu.command
        if command == Command.SUBMIT_SM and bind.bind_type is not None:
            self._on_submit(bind, pdu)
        elif command == Command.QUERY_SM and bind.can_transmit:
            self._on_query(bind, pdu)
        elif command in BIND_TYPES:
            self._on_bind(bind, pdu)
        elif bind.bind_type is None:
            self.counters.generic_nacks += 1
            bind.put(Pdu(Command.GENERIC_NACK, pdu.sequence, Status.ESME_RINVBNDSTS))
        else:
            self.counters.generic_nacks += 1
            bind.put(Pdu(Command.GENERIC_NACK, pdu.sequence, Status.ESME_RINVCMDID))

    def _on_bind(self, bind: Bind, pdu: Pdu) -> None:
        if bind.bind_type is not None:
            bind.put(response_to(pdu, Status.ESME_RALYBND, system_id=self.config.system_id))
            return
        expected = self.config.accounts.get(pdu.system_id)
        if self.refusing_binds:
            status = Status.ESME_RBINDFAIL
        elif expected is None:
            status = Status.ESME_RINVSYSID
        elif expected != pdu.password:
            status = Status.ESME_RINVPASWD
        else:
            status = Status.ESME_ROK
        bind.put(response_to(pdu, status, system_id=self.config.system_id))
        if status != Status.ESME_ROK:
            self.counters.binds_refused += 1
            logger.info("SMSC: bind of %r refused: %s", pdu.system_id, status.name)
            bind.put(_CLOSE)
            return
        self.counters.binds_accepted += 1
        bind.system_id = pdu.system_id
        bind.bind_type = BIND_TYPES[pdu.command]
        bound = sum(1 for b in self._binds.values() if b.system_id == bind.system_id and b.bind_type)
        self.counters.binds_peak = max(self.counters.binds_peak, bound)
        if bind.can_receive and self._held:
            held = list(self._held)
            self._held.clear()
            for delivery in held:
                if delivery.system_id is None or delivery.system_id == bind.system_id:
                    bind.put(delivery)
                else:
                    self._held.append(delivery)

    def _on_submit(self, bind: Bind, pdu: Pdu) -> None:
        counters = self.counters
        counters.submit_sm_received += 1
        sm = pdu.sm
        assert sm is not None
        if not bind.can_transmit or not sm.destination_addr:
            counters.submit_sm_rejected += 1
            status = Status.ESME_RINVBNDSTS if not bind.can_transmit else Status.ESME_RINVDSTADR
            bind.put(Pdu(Command.SUBMIT_SM_RESP, pdu.sequence, status))
            return
        now = time.monotonic()
        assert bind.system_id is not None
        account = self._account_buckets.setdefault(bind.system_id, TokenBucket())
        if not bind.bucket.take(now, self.config.tps) or not account.take(now, self.config.account_tps):
            counters.submit_sm_throttled += 1
            bind.put(Pdu(Command.SUBMIT_SM_RESP, pdu.sequence, Status.ESME_RTHROTTLED))
            return
        counters.submit_sm_accepted += 1
        message_id = format(next(self._message_ids), "x")
        wall = time.time()
        segment = split_udh(sm.short_message, sm.esm_class)
        udh = sm.short_message[: len(sm.short_message) - len(segment.payload)] if sm.esm_class & 0x40 else b""
        assert bind.system_id is not None
        self.book.add(
            SubmitRecord(
                message_id=message_id,
                session_id=bind.id,
                system_id=bind.system_id,
                source=sm.source_addr,
                destination=sm.destination_addr,
                esm_class=sm.esm_class,
                data_coding=sm.data_coding,
                registered_delivery=sm.registered_delivery,
                udh=udh,
                reference=segment.reference,
                total=segment.total,
                sequence=segment.sequence,
                payload=segment.payload,
                received_monotonic=now,
                received_at=wall,
            )
        )
        receipt = self._receipt(sm, message_id, wall, bind.system_id) if sm.registered_delivery & 1 else None
        self._states[message_id] = (sm.source_addr, MessageState.ENROUTE, None)
        resp = Pdu(Command.SUBMIT_SM_RESP, pdu.sequence, 0, message_id=message_id)
        latency = self.config.submit_latency_ms
        if latency > 0:
            self._loop.call_later(latency / 1000.0, self._answer, bind, resp, receipt)
        else:
            self._answer(bind, resp, receipt)

    def _answer(self, bind: Bind, resp: Pdu, receipt: Delivery | None) -> None:
        if receipt is None:
            bind.put(resp)
            return
        if self.config.receipt_before_resp:
            self._send_receipt(receipt, bind)
            bind.put(resp)
            return
        bind.put(resp)
        delay = self.config.receipt_delay_ms
        if delay > 0:
            self._loop.call_later(delay / 1000.0, self._send_receipt, receipt, bind)
        else:
            self._send_receipt(receipt, bind)

    def _send_receipt(self, receipt: Delivery, bind: Bind) -> None:
        """The message is final now: query_sm tells its state; the receipt goes out unless
        this SMSC drops it (`drop_receipts`)."""
        assert receipt.receipt_of is not None
        message_id, stat = receipt.receipt_of
        source = self._states[message_id][0]
        self._states[message_id] = (source, MESSAGE_STATES[stat], time.time())
        if self.config.drop_receipts > 0 and self.rng.random() < self.config.drop_receipts:
            self.counters.receipts_dropped += 1
            return
        self._dispatch([receipt], bind)

    def _on_query(self, bind: Bind, pdu: Pdu) -> None:
        self.counters.query_sm_received += 1
        state = self._states.get(pdu.message_id)
        if state is None or state[0] != pdu.source_addr:  # a message is named by id and source
            bind.put(Pdu(Command.QUERY_SM_RESP, pdu.sequence, Status.ESME_RQUERYFAIL))
            return
        _source, message_state, final = state
        bind.put(
            Pdu(
                Command.QUERY_SM_RESP,
                pdu.sequence,
                0,
                message_id=pdu.message_id,
                final_date=_smpp_absolute_time(final) if final is not None else "",
                message_state=message_state,
            )
        )

    def _receipt(self, sm: ShortMessage, message_id: str, submitted: float, system_id: str) -> Delivery:
        if len(self._outcome_stats) == 1:
            stat = self._outcome_stats[0]  # no draw: random.choices was 8 % of the CPU under load
        else:
            stat = self.rng.choices(self._outcome_stats, cum_weights=self._outcome_cum)[0]
        done = submitted + self.config.receipt_delay_ms / 1000.0
        text = format_receipt(
            message_id, stat, _RECEIPT_ERR.get(stat, "001"), _smpp_time(submitted), _smpp_time(done)
        )
        return Delivery(
            ShortMessage(
                source_addr=sm.destination_addr,
                destination_addr=sm.source_addr,
                short_message=text,
                esm_class=ESM_CLASS_DELIVERY_RECEIPT,
                data_coding=0,
                source_addr_ton=sm.dest_addr_ton,
                source_addr_npi=sm.dest_addr_npi,
                dest_addr_ton=sm.source_addr_ton,
                dest_addr_npi=sm.source_addr_npi,
                tlvs=(
                    (TLV_RECEIPTED_MESSAGE_ID, message_id.encode("ascii") + b"\x00"),
                    (TLV_MESSAGE_STATE, bytes([MESSAGE_STATES[stat]])),
                ),
            ),
            "receipt",
            system_id,
            (message_id, stat),
        )

    # -- deliver_sm ------------------------------------------------------------------------------

    def _pick_receiver(self, system_id: str | None) -> Bind | None:
        candidates = [
            b
            for b in self._binds.values()
            if b.can_receive and (system_id is None or b.system_id == system_id)
        ]
        if not candidates:
            return None
        return candidates[next(self._rr) % len(candidates)]

    def _dispatch(self, deliveries: list[Delivery], prefer: Bind | None = None) -> None:
        """Queue deliver_sm in order on one session per account: `prefer` if it can receive and
        belongs to the account, else a receive-capable session of the account, else hold them
        until one binds."""
        if self._stopping:
            return
        for system_id, group in itertools.groupby(deliveries, key=lambda d: d.system_id):
            target = prefer
            if target is None or not target.can_receive or system_id not in (None, target.system_id):
                target = self._pick_receiver(system_id)
            if target is None:
                self._held.extend(group)
                continue
            for delivery in group:
                target.put(delivery)

    async def _deliver(self, bind: Bind, delivery: Delivery) -> None:
        self.counters.deliver_sm_unanswered += 1
        try:
            resp = await bind.session.request(Pdu(Command.DELIVER_SM, 0, sm=delivery.sm))
        except (TimeoutError, SessionClosed, ConnectionError, OSError):
            self.counters.deliver_sm_unanswered -= 1
            self.counters.deliver_sm_resent += 1
            # hold it until a session takes it; the writer of a live session re-sends it
            self._dispatch([delivery], bind if bind.alive and not bind.session.closed.is_set() else None)
            return
        self.counters.deliver_sm_unanswered -= 1
        if resp.status == Status.ESME_ROK and resp.command == Command.DELIVER_SM_RESP:
            if delivery.kind == "receipt":
                self.counters.receipts_sent += 1
            else:
                self.counters.mo_sent += 1
        elif resp.status in TRANSIENT_STATUSES:
            self.counters.deliver_sm_resent += 1
            self._loop.call_later(_DELIVER_RETRY_S, self._dispatch, [delivery], bind)
        else:
            self.counters.deliver_sm_refused += 1

    # -- control (what the HTTP API calls) -------------------------------------------------------

    def inject_mo(self, source: str, destination: str, text: str, system_id: str | None = None) -> int:
        """Send a user's message (MO) to a bound ESME; returns the number of deliver_sm parts."""
        encoded = encode_message(text, reference=next(self._mo_references) & 0xFF)
        deliveries = [
            Delivery(
                ShortMessage(
                    source_addr=source,
                    destination_addr=destination,
                    short_message=segment,
                    esm_class=encoded.esm_class,
                    data_coding=encoded.data_coding,
                    source_addr_ton=1,
                    source_addr_npi=1,
                    dest_addr_ton=0,
                    dest_addr_npi=1,
                ),
                "mo",
                system_id,
            )
            for segment in encoded.segments
        ]
        self._dispatch(deliveries)
        return len(deliveries)

    async def drop_binds(self) -> int:
        """Close every connection at once, without unbind. Returns how many were closed."""
        binds = list(self._binds.values())
        for bind in binds:
            with contextlib.suppress(Exception):
                bind.writer.transport.abort()
            self._forget(bind)
        for bind in binds:
            await bind.session.abort()
        return len(binds)

    async def refuse_binds(self, seconds: float, clock: Clock | None = None) -> datetime:
        """An SMSC outage as an ESME sees it: every bind is dropped now, and every bind asked for
        is refused (ESME_RBINDFAIL) until `seconds` have passed on `clock` (a test's ManualClock:
        moving it on ends the outage). Returns when it ends."""
        if seconds <= 0:
            raise ConfigError("seconds must be > 0")
        self._refusal_clock = clock or SystemClock()
        self._binds_refused_until = self._refusal_clock.now() + timedelta(seconds=seconds)
        await self.drop_binds()
        return self._binds_refused_until

    @property
    def refusing_binds(self) -> bool:
        until = self._binds_refused_until
        return until is not None and self._refusal_clock.now() < until

    @property
    def paused(self) -> bool:
        return not self._unpaused.is_set()

    def pause(self, seconds: float) -> float:
        """Answer nothing (no response, no enquire_link_resp, no deliver_sm) for `seconds`;
        requests received meanwhile are never answered. Returns the wall time it ends."""
        if seconds <= 0:
            raise ConfigError("seconds must be > 0")
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        if self.paused and until <= self._paused_until_mono:
            assert self._paused_until_wall is not None
            return self._paused_until_wall
        self._paused_until_mono = until
        self._paused_until_wall = time.time() + seconds
        self._unpaused.clear()
        for bind in self._binds.values():
            bind.session.answer_enquire_link = False
        if self._resume_handle is not None:
            self._resume_handle.cancel()
        self._resume_handle = loop.call_at(until, self._resume)
        return self._paused_until_wall

    def _resume(self) -> None:
        self._resume_handle = None
        self._paused_until_wall = None
        for bind in self._binds.values():
            bind.session.answer_enquire_link = True
        self._unpaused.set()

    def _apply_outcomes(self) -> None:
        stats = [stat for stat, weight in self.config.outcomes.items() if weight > 0]
        self._outcome_stats = stats
        self._outcome_cum = list(itertools.accumulate(self.config.outcomes[s] for s in stats))

    def get_config(self) -> dict[str, Any]:
        return {
            "tps": self.config.tps,
            "submit_latency_ms": self.config.submit_latency_ms,
            "receipt_delay_ms": self.config.receipt_delay_ms,
            "outcomes": dict(self.config.outcomes),
            "receipt_before_resp": self.config.receipt_before_resp,
            "drop_receipts": self.config.drop_receipts,
        }

    def update_config(self, **changes: Any) -> dict[str, Any]:
        unknown = set(changes) - set(RUNTIME_FIELDS)
        if unknown:
            raise ConfigError(f"not changeable at run time: {', '.join(sorted(unknown))}")
        for name in ("tps", "submit_latency_ms", "receipt_delay_ms"):
            if name in changes and (changes[name] is None or float(changes[name]) < 0):
                raise ConfigError(f"{name} must be >= 0")
        if "outcomes" in changes:
            outcomes = validate_outcomes(changes["outcomes"])
            self.config.outcomes = outcomes
            self._apply_outcomes()
        for name in ("tps", "submit_latency_ms", "receipt_delay_ms"):
            if name in changes:
                setattr(self.config, name, float(changes[name]))
        if "receipt_before_resp" in changes:
            self.config.receipt_before_resp = bool(changes["receipt_before_resp"])
        if "drop_receipts" in changes:
            share = float(changes["drop_receipts"])
            if not 0 <= share <= 1:
                raise ConfigError("drop_receipts must be between 0 and 1")
            self.config.drop_receipts = share
        return self.get_config()

    def stats(self) -> dict[str, Any]:
        binds = [b.as_dict() for b in self._binds.values() if b.bind_type is not None]
        return {
            "binds": binds,
            "binds_active": len(binds),
            "connections": len(self._binds),
            **vars(self.counters),
            "deliver_sm_held": len(self._held),
            "paused": self.paused,
            "binds_refused_until": (
                self._binds_refused_until.isoformat()
                if self.refusing_binds and self._binds_refused_until
                else None
            ),
            "paused_until": (
                datetime.fromtimestamp(self._paused_until_wall, UTC).isoformat()
                if self.paused and self._paused_until_wall is not None
                else None
            ),
        }

    def summary(self) -> dict[str, int]:
        return self.book.summary()

    def messages(self, destination: str | None = None, limit: int | None = None) -> dict[str, Any]:
        return {
            "total": self.book.count(destination),
            "messages": [m.as_dict() for m in self.book.messages(destination, limit)],
        }

    @property
    def records(self) -> list[SubmitRecord]:
        return self.book.records

    def reset(self) -> None:
        """Forget what was seen and zero the counters (message ids keep counting)."""
        self.book.clear()
        self.counters = Counters()
