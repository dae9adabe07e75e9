"""SMPP 3.4 ESME connector: B binds (bind_transceiver), each with a window of W outstanding
submit_sm and the operator's TPS cap T; enquire_link keep-alive; reconnect with back-off;
ESME_RTHROTTLED / ESME_RMSGQFUL slow down and resend the same PDU. A login refused for its
credentials backs off for minutes, for every bind of the account at once (_LoginGate)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Gauge

from sms_sender.connectors import (
    Inbound,
    InboundHandler,
    OutboundSegment,
    QueryResult,
    Route,
    SubmitResult,
    submit_in_order,
)
from vas_common.smpp.pdu import (
    ESM_CLASS_DELIVERY_RECEIPT,
    RECEIPT_STATS,
    TLV_RECEIPTED_MESSAGE_ID,
    TRANSIENT_STATUSES,
    Command,
    MessageState,
    Pdu,
    ShortMessage,
    Status,
    response_to,
    status_name,
)
from vas_common.smpp.session import SessionClosed, SmppSession

logger = logging.getLogger(__name__)

_FIRST_PAUSE_S = 0.05
_MAX_PAUSE_S = 2.0


@dataclass(frozen=True)
class SmppBindConfig:
    host: str
    port: int
    system_id: str
    password: str
    binds: int = 2
    window: int = 32
    tps: float = 100.0  # per bind; 0 = no cap
    priority_reserve: int = 4  # window slots bulk content may not take
    response_timeout_s: float = 10.0
    enquire_link_interval_s: float = 10.0
    reconnect_max_s: float = 5.0
    give_up_after_s: float = 600.0  # transient refusals retried this long before a segment fails
    auth_backoff_s: float = 300.0  # after a login refused for its credentials; doubles per refusal
    auth_backoff_max_s: float = 3600.0


# Bind refusals that say the account or its password is wrong: trying again at once cannot
# succeed, and an operator locks an account after a few failed logins. ESME_RBINDFAIL is not
# one of them: SMPP 3.4 calls it a generic "bind failed", and SMSCs answer it for passing
# states (an outage, too many binds, maintenance); it keeps the fast network back-off.
CREDENTIALS_REFUSED: dict[int, str] = {
    Status.ESME_RINVPASWD: "invalid password",
    Status.ESME_RINVSYSID: "invalid system_id",
}


class _Pacer:
    """Spaces sends 1/T apart (the operator counts submits per second per bind), and a
    priority send takes the next free slot ahead of every bulk send already waiting: a
    verification code never queues behind a backlog. (aiolimiter and the like have no
    priority classes, hence this.)

    Slots lie on a fixed grid: a slot granted late (a busy event loop wakes the releaser a
    little after its time) does not push the later ones back, so the bind keeps T per second
    on average. Catching up is bounded by `catch_up_s` of slots, well inside what an
    operator's per-second count allows; an idle bind does not catch up at all."""

    def __init__(self, tps: float, catch_up_s: float = 0.05) -> None:
        self._interval = 0.0
        self.set_rate(tps)
        self._catch_up_s = catch_up_s
        self._next = 0.0
        self._pause = 0.0  # after throttling answers in a row: doubles from _FIRST_PAUSE_S
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []  # heap: (class, arrival, waiter)
        self._arrivals = itertools.count()
        self._releaser: asyncio.Task[None] | None = None

    async def wait(self, priority: bool = False) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._waiting and now >= self._next:
            self.take_slot(now)
            return
        waiter: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiting, (0 if priority else 1, next(self._arrivals), waiter))
        if self._releaser is None or self._releaser.done():
            self._releaser = asyncio.create_task(self._release_in_turn(), name="smpp-pacer")
        await waiter

    async def _release_in_turn(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            delay = self._next - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue  # a throttling answer may have moved the next slot meanwhile
            _, _, waiter = heapq.heappop(self._waiting)
            if not waiter.done():  # a cancelled sender gives its turn away
                waiter.set_result(None)
                self.take_slot(loop.time())

    def set_rate(self, tps: float) -> None:
        """From the next slot on, T = `tps` (0: no cap)."""
        self._interval = 1.0 / tps if tps > 0 else 0.0

    def take_slot(self, now: float) -> None:
        """A send goes at `now` (at or after the next slot): the next slot is one interval on
        from this one's place on the grid, not from `now`. A bind idle for longer than the
        catch-up starts a new grid instead of sending a burst."""
        if now - self._next > self._catch_up_s:
            self._next = now
        self._next += self._interval

    def throttled(self) -> None:
        """The SMSC refused a send for load (THROTTLED / MSGQFUL): no send on this bind for a
        pause that doubles with each refusal in a row, up to _MAX_PAUSE_S. The refused send
        then waits for its turn like any other, so a priority one still goes first."""
        self._pause = min(self._pause * 2, _MAX_PAUSE_S) if self._pause else _FIRST_PAUSE_S
        self._next = max(self._next, asyncio.get_running_loop().time() + self._pause)

    def accepted(self) -> None:
        self._pause = 0.0

    async def close(self) -> None:
        if self._releaser is not None:
            self._releaser.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._releaser


class _Bind:
    def __init__(self, index: int, config: SmppBindConfig, connector: SmppConnector) -> None:
        self.index = index
        self.config = config
        self.connector = connector
        self.session: SmppSession | None = None
        self.ready = asyncio.Event()
        self.window = asyncio.Semaphore(config.window)
        self.bulk_window = asyncio.Semaphore(max(1, config.window - config.priority_reserve))
        self.pacer = _Pacer(config.tps)
        self.queued = 0  # submits given to this bind and not yet answered (waiting or in flight)
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._maintain(), name=f"smpp-bind-{self.index}")

    async def park(self) -> None:
        """Unbind and stay down until started again (the dispatcher's share of the account's
        binds went down). Its pacer keeps releasing: a submit waiting on it takes another bind."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.ready.clear()
        if self.session is not None:
            await self.session.unbind_and_close()
            self.session = None
        self.connector.binds_connected.set(self.connector.connected_binds())

    async def stop(self) -> None:
        await self.park()
        await self.pacer.close()

    async def _maintain(self) -> None:
        delay = 0.1
        gate = self.connector.login_gate
        while True:
            try:
                await gate.login(self._connect)
                delay = 0.1
                assert self.session is not None
                await self.session.closed.wait()
                logger.warning(
                    "bind %d to %s:%d lost; reconnecting", self.index, self.config.host, self.config.port
                )
            except BindRefused as exc:
                if exc.status not in CREDENTIALS_REFUSED:  # those are logged once per step by the gate
                    logger.warning("bind %d refused (%s); retrying in %.1fs", self.index, exc, delay)
            except (OSError, TimeoutError, SessionClosed) as exc:
                logger.warning("bind %d failed (%s); retrying in %.1fs", self.index, exc, delay)
            self.ready.clear()
            self.connector.binds_changed()
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self.config.reconnect_max_s)

    async def _connect(self) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.config.host, self.config.port), self.config.response_timeout_s
            )
        except TimeoutError:
            self.connector.bind_failed("connect_timeout", "connect timed out")
            raise
        except OSError as exc:
            self.connector.bind_failed("connect_failed", f"connect failed: {exc}")
            raise
        session = SmppSession(
            reader,
            writer,
            self.connector.on_request,
            name=f"esme-bind-{self.index}",
            enquire_link_interval_s=self.config.enquire_link_interval_s,
            response_timeout_s=self.config.response_timeout_s,
        )
        session.start()
        try:
            answer = await session.request(
                Pdu(
                    Command.BIND_TRANSCEIVER,
                    0,
                    system_id=self.config.system_id,
                    password=self.config.password,
                )
            )
        except (OSError, TimeoutError, SessionClosed) as exc:
            await session.abort()
            self.connector.bind_failed("no_bind_answer", f"no answer to bind_transceiver: {exc!r}")
            raise
        if answer.status != Status.ESME_ROK:
            await session.abort()
            name = status_name(answer.status)
            self.connector.bind_failed(name, f"bind refused: {name}")
            raise BindRefused(answer.status)
        self.session = session
        self.connector.last_bind_failure = None
        self.ready.set()
        self.connector.binds_changed()
        logger.info(
            "bind %d up (%s@%s:%d)", self.index, self.config.system_id, self.config.host, self.config.port
        )


class BindRefused(ConnectionError):
    def __init__(self, status: int) -> None:
        super().__init__(status_name(status))
        self.status = status


class _LoginGate:
    """The login back-off shared by every bind of one account. A login refused for its
    credentials (CREDENTIALS_REFUSED) stops all of them for auth_backoff_s, doubling per
    refusal up to auth_backoff_max_s, and is logged once per step at ERROR. Until a login has
    succeeded (at start, and after a credentials refusal) the binds log in one at a time, so a
    wrong password costs one failed login per step, not one per bind. Other failures leave the
    gate alone: each bind keeps its fast reconnect back-off."""

    def __init__(self, config: SmppBindConfig) -> None:
        self._config = config
        self._lock = asyncio.Lock()
        self._verified = False  # a login with these credentials has succeeded since the last refusal
        self._until = 0.0  # event-loop time before which no bind logs in
        self._step_s = 0.0
        self.refused: str | None = None  # why the last login was refused for its credentials
        self.next_try: datetime | None = None

    async def login(self, attempt: Callable[[], Awaitable[None]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            wait = self._until - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            if self._verified:
                await self._try(attempt)
                return
            async with self._lock:
                if self._until > loop.time():
                    continue  # the bind ahead of this one was refused: wait for the next step
                await self._try(attempt)
                return

    async def _try(self, attempt: Callable[[], Awaitable[None]]) -> None:
        try:
            await attempt()
        except BindRefused as exc:
            if exc.status in CREDENTIALS_REFUSED:
                self._credentials_refused(exc.status)
            raise
        self._verified = True
        self._step_s = 0.0
        self.refused = self.next_try = None

    def _credentials_refused(self, status: int) -> None:
        loop = asyncio.get_running_loop()
        self._verified = False
        if self._until > loop.time():
            return  # a login already under way when another was refused: the same step
        self._step_s = min(
            self._step_s * 2 if self._step_s else self._config.auth_backoff_s, self._config.auth_backoff_max_s
        )
        self._until = loop.time() + self._step_s
        self.next_try = datetime.now(UTC) + timedelta(seconds=self._step_s)
        self.refused = f"{CREDENTIALS_REFUSED[status]} ({status_name(status)})"
        logger.error(
            "SMSC %s:%d refused the login of %r: %s; no bind of this account logs in again for %.0fs "
            "(until %s)",
            self._config.host,
            self._config.port,
            self._config.system_id,
            self.refused,
            self._step_s,
            self.next_try.isoformat(timespec="seconds"),
        )

    def describe(self) -> str | None:
        """For /readyz: the credentials refusal and when the next login is tried, or None."""
        if self.refused is None or self.next_try is None:
            return None
        return f"bind refused: {self.refused}, next try at {self.next_try.isoformat(timespec='seconds')}"


class SmppConnector:
    def __init__(self, config: SmppBindConfig) -> None:
        self.config = config
        self._binds = [_Bind(i, config, self) for i in range(config.binds)]
        self._rotation = itertools.cycle(range(config.binds))
        self._on_inbound: InboundHandler | None = None
        self._inbound: asyncio.Queue[tuple[SmppSession, Pdu]] = asyncio.Queue()
        self._inbound_task: asyncio.Task[None] | None = None
        self.binds_connected = Gauge("smpp_binds_connected", "SMPP binds up", registry=None)
        self.window_in_use = Gauge("smpp_window_in_use", "Outstanding submit_sm", registry=None)
        self.throttled = Counter(
            "smpp_throttled_total", "submit_sm answered THROTTLED/MSGQFUL", registry=None
        )
        self.resent = Counter(
            "smpp_resent_total", "submit_sm sent again after a transient failure", registry=None
        )
        self.bind_failures = Counter(
            "smpp_bind_failures_total",
            "Binds that failed, by reason: the SMSC's refusal status (ESME_RINVPASWD, ESME_RBINDFAIL, ...), "
            "connect_failed, connect_timeout or no_bind_answer",
            ["reason"],
            registry=None,
        )
        self.login_gate = _LoginGate(config)
        self.last_bind_failure: str | None = None
        self.on_binds_changed: Callable[[], None] | None = None  # a bind came up or went down
        self.allowed_binds = config.binds  # this process's share of the account's (set_limits)
        self._started = False
        self._limits_lock = asyncio.Lock()

    def binds_changed(self) -> None:
        self.binds_connected.set(self.connected_binds())
        if self.on_binds_changed is not None:
            self.on_binds_changed()

    def metrics(self) -> list[Gauge | Counter]:
        return [self.binds_connected, self.window_in_use, self.throttled, self.resent, self.bind_failures]

    def bind_failed(self, reason: str, detail: str) -> None:
        self.bind_failures.labels(reason=reason).inc()
        self.last_bind_failure = detail

    def bind_problem(self) -> str | None:
        """Why binds are not up, for /readyz: a credentials refusal with its next try, else the
        last bind failure."""
        return self.login_gate.describe() or self.last_bind_failure

    def login_problem(self) -> str | None:
        return self.login_gate.describe()

    async def set_limits(self, binds: int, tps: float) -> None:
        """This process's share of the account's limits (see service.account_lease): at most
        `binds` binds up (the others unbind) sending `tps` a second in all, spread over them and
        never more than the per-bind cap of the config. Before start() it only records them."""
        async with self._limits_lock:
            self.allowed_binds = max(0, min(binds, len(self._binds)))
            per_bind = tps / self.allowed_binds if self.allowed_binds and tps > 0 else 0.0
            if self.config.tps > 0:
                per_bind = min(per_bind, self.config.tps) if per_bind else self.config.tps
            for bind in self._binds:
                bind.pacer.set_rate(per_bind)
            if self._started:
                await self._apply_binds()

    async def _apply_binds(self) -> None:
        for bind in self._binds[self.allowed_binds :]:
            if bind.running:
                await bind.park()
        for bind in self._binds[: self.allowed_binds]:
            bind.start()

    async def start(self, on_inbound: InboundHandler) -> None:
        self._on_inbound = on_inbound
        self._inbound_task = asyncio.create_task(self._inbound_loop(), name="smpp-inbound")
        async with self._limits_lock:
            self._started = True
            await self._apply_binds()

    async def stop(self) -> None:
        for bind in self._binds:
            await bind.stop()
        if self._inbound_task is not None:
            self._inbound_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._inbound_task

    def connected_binds(self) -> int:
        return sum(1 for b in self._binds if b.ready.is_set())

    async def wait_connected(self, timeout_s: float) -> None:
        binds = self._binds[: self.allowed_binds]
        await asyncio.wait_for(asyncio.gather(*(b.ready.wait() for b in binds)), timeout_s)

    async def _pick_bind(self, deadline: float) -> _Bind:
        loop = asyncio.get_running_loop()
        while True:
            start = next(self._rotation)
            candidates = self._binds[start:] + self._binds[:start]
            ready = [b for b in candidates if b.ready.is_set()]
            if ready:
                # The shortest queue: a bind chosen by what it has in flight alone could be
                # left idle while the other still had a backlog waiting for its pacer.
                return min(ready, key=lambda b: b.queued)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("no SMPP bind available")
            waits = [asyncio.ensure_future(b.ready.wait()) for b in self._binds]
            try:
                await asyncio.wait(waits, timeout=min(remaining, 1.0), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()

    async def submit_message(self, segments: Sequence[OutboundSegment]) -> list[SubmitResult]:
        return await submit_in_order(self.submit, segments)

    async def submit(self, segment: OutboundSegment) -> SubmitResult:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.give_up_after_s
        attempts = 0
        backoff = 0.05
        last_status = Status.ESME_RSYSERR
        sm = ShortMessage(
            source_addr=segment.source_addr,
            destination_addr=segment.destination_addr,
            short_message=segment.short_message,
            esm_class=segment.esm_class,
            data_coding=segment.data_coding,
            registered_delivery=1,
        )
        while loop.time() < deadline:
            bind = await self._pick_bind(deadline)
            window = bind.window if segment.priority else bind.bulk_window
            bind.queued += 1
            try:
                async with window, bind.window if not segment.priority else contextlib.nullcontext():
                    await bind.pacer.wait(segment.priority)
                    session = bind.session
                    if session is None or not bind.ready.is_set():
                        continue
                    attempts += 1
                    if attempts > 1:
                        self.resent.inc()
                    self.window_in_use.inc()
                    try:
                        answer = await session.request(Pdu(Command.SUBMIT_SM, 0, sm=sm))
                    except (TimeoutError, SessionClosed, ConnectionError):
                        # Unknown whether the SMSC took it: send again (a possible duplicate, counted).
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, 2.0)
                        continue
                    finally:
                        self.window_in_use.dec()
            finally:
                bind.queued -= 1
            if answer.status == Status.ESME_ROK:
                bind.pacer.accepted()
                return SubmitResult(True, answer.message_id, 0, "ESME_ROK", attempts)
            last_status = Status(answer.status) if answer.status in Status._value2member_map_ else last_status
            if answer.status in TRANSIENT_STATUSES:
                self.throttled.inc()
                bind.pacer.throttled()  # the back-off is the bind's; this submit queues again
                continue
            return SubmitResult(False, None, answer.status, status_name(answer.status), attempts)
        return SubmitResult(False, None, last_status, f"gave up: {last_status.name}", attempts)

    async def query(self, smsc_message_id: str, source_addr: str, route: Route | None = None) -> QueryResult:
        """One query_sm on a ready bind, paced like bulk submits (the SMSC counts every PDU).
        One SMSC: `route` names none other."""
        loop = asyncio.get_running_loop()
        try:
            bind = await self._pick_bind(loop.time() + self.config.response_timeout_s)
            async with bind.bulk_window, bind.window:
                await bind.pacer.wait(False)
                session = bind.session
                if session is None or not bind.ready.is_set():
                    return QueryResult(answered=False, known=False, final=False, stat="")
                answer = await session.request(
                    Pdu(Command.QUERY_SM, 0, message_id=smsc_message_id, source_addr=source_addr)
                )
        except (TimeoutError, SessionClosed, ConnectionError):
            return QueryResult(answered=False, known=False, final=False, stat="")
        if answer.status in TRANSIENT_STATUSES:
            return QueryResult(answered=False, known=False, final=False, stat="")
        if answer.status != Status.ESME_ROK or answer.command != Command.QUERY_SM_RESP:
            return QueryResult(answered=True, known=False, final=False, stat="")
        try:
            state = MessageState(answer.message_state)
        except ValueError:
            return QueryResult(answered=True, known=True, final=False, stat="")
        return QueryResult(
            answered=True,
            known=True,
            final=state.is_final,
            stat=RECEIPT_STATS[state],
            err=f"{answer.error_code:03d}",
        )

    # -- inbound -------------------------------------------------------------------------

    def on_request(self, session: SmppSession, pdu: Pdu) -> None:
        if pdu.command == Command.DELIVER_SM and pdu.sm is not None:
            self._inbound.put_nowait((session, pdu))
        else:
            self._inbound.put_nowait((session, response_to(pdu, Status.ESME_RINVCMDID)))

    async def _inbound_loop(self) -> None:
        """Hand deliver_sm to the owner in batches; answer each only once it is stored."""
        while True:
            first = await self._inbound.get()
            batch = [first]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.02):
                    while len(batch) < 500:
                        batch.append(await self._inbound.get())
            while not self._inbound.empty() and len(batch) < 500:
                batch.append(self._inbound.get_nowait())
            refusals = [(s, p) for s, p in batch if p.is_response]
            batch = [(s, p) for s, p in batch if not p.is_response]
            for session, refusal in refusals:
                await _answer(session, refusal)
            if not batch:
                continue
            items = [
                Inbound(
                    source_addr=pdu.sm.source_addr,
                    destination_addr=pdu.sm.destination_addr,
                    short_message=pdu.sm.short_message,
                    data_coding=pdu.sm.data_coding,
                    esm_class=pdu.sm.esm_class,
                    receipted_message_id=pdu.sm.tlv(TLV_RECEIPTED_MESSAGE_ID),
                )
                for _session, pdu in batch
                if pdu.sm is not None
            ]
            status = Status.ESME_ROK
            try:
                assert self._on_inbound is not None
                await self._on_inbound(items)
            except Exception:
                logger.exception(
                    "storing %d inbound messages failed; the SMSC will send them again", len(items)
                )
                status = Status.ESME_RSYSERR
            for session, pdu in batch:
                await _answer(session, response_to(pdu, status))


def is_receipt(item: Inbound) -> bool:
    return bool(item.esm_class & ESM_CLASS_DELIVERY_RECEIPT)


async def _answer(session: SmppSession, pdu: Pdu) -> None:
    with contextlib.suppress(SessionClosed, ConnectionError):
        await session.send(pdu)
