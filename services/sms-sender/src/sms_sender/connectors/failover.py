"""A primary SMSC route and its standby (another host or account), each an SmppConnector of its
own, both bound all the time (a hot standby: the switch costs no login, and receipts and MO come
in from both). Dispatch uses the active route:

- to the standby when every primary bind has been down for `standby_after_s` (and the standby
  has a bind up); back when the primary has had a bind up for `primary_hold_s` without a break,
  or at once when the standby loses every bind while the primary has one up;
- a message goes whole on one route, its segments in order: one still being sent on a route
  that is no longer active and has no bind up is cancelled there and sent again whole on the
  active route, with the same UDH (its concatenation reference is stored with the message).
  Segments the failed route took before are then duplicates on that SMSC's side, never lost.

Each switch is logged once (ERROR to the standby, WARNING back) with its reason and counted;
`smpp_route_active{route}` says which route is used, and every smpp_* metric of the two
connectors carries a `route` label."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from prometheus_client import Counter, Gauge
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from sms_sender.connectors import (
    Inbound,
    InboundHandler,
    OutboundSegment,
    QueryResult,
    Route,
    SubmitResult,
    route_scoped_id,
    smsc_own_id,
)
from sms_sender.connectors.smpp import SmppConnector
from vas_common.clock import Clock, SystemClock

logger = logging.getLogger(__name__)


@dataclass
class _Route:
    name: Route
    connector: SmppConnector
    # Not the active route and no bind up: what is still being sent on it moves to the other.
    gone: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def address(self) -> str:
        config = self.connector.config
        return f"{config.system_id}@{config.host}:{config.port}"

    def up(self) -> bool:
        return self.connector.connected_binds() > 0


class _RouteLabelled(Collector):
    """The smpp_* metrics of both connectors, one family per name, each sample with its route."""

    def __init__(self, routes: Sequence[_Route]) -> None:
        self._routes = routes

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for route in self._routes:
            for metric in route.connector.metrics():
                for family in metric.collect():
                    merged = families.setdefault(
                        family.name, Metric(family.name, family.documentation, family.type, family.unit)
                    )
                    for sample in family.samples:
                        merged.add_sample(
                            sample.name,
                            {**sample.labels, "route": route.name},
                            sample.value,
                            sample.timestamp,
                        )
        yield from families.values()


class FailoverConnector:
    def __init__(
        self,
        primary: SmppConnector,
        standby: SmppConnector,
        *,
        standby_after_s: float,
        primary_hold_s: float,
        clock: Clock | None = None,  # for the times shown; the timing itself is the event loop's
    ) -> None:
        self._clock = clock or SystemClock()
        self.primary = _Route(Route.PRIMARY, primary)
        self.standby = _Route(Route.STANDBY, standby)
        self._routes = (self.primary, self.standby)
        self.active = self.primary
        self.standby_after_s = standby_after_s
        self.primary_hold_s = primary_hold_s
        self.active_since = self._clock.now()
        self.switch_reason: str | None = None  # why the active route is the standby
        # Event-loop times: since when every primary bind is down / some primary bind is up.
        self._primary_down_since: float | None = None
        self._primary_up_since: float | None = None
        self._changed = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self.route_active = Gauge(
            "smpp_route_active",
            "1 for the SMSC route dispatch uses, 0 for the other",
            ["route"],
            registry=None,
        )
        self.switches = Counter(
            "smpp_route_switches_total", "Dispatch moved to the other SMSC route", ["to"], registry=None
        )
        self.moved = Counter(
            "smpp_route_messages_moved_total",
            "Messages still being sent on a route that failed, sent again whole on the other",
            ["to"],
            registry=None,
        )
        self._show_active()

    def metrics(self) -> list[Collector]:
        return [_RouteLabelled(self._routes), self.route_active, self.switches, self.moved]

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, on_inbound: InboundHandler) -> None:
        self._primary_down_since = asyncio.get_running_loop().time()  # not bound yet
        self.primary.connector.on_binds_changed = self._primary_changed
        self.standby.connector.on_binds_changed = self._changed.set

        async def from_standby(items: list[Inbound]) -> None:
            await on_inbound([replace(item, route=Route.STANDBY) for item in items])

        await self.primary.connector.start(on_inbound)
        await self.standby.connector.start(from_standby)
        self._watcher = asyncio.create_task(self._watch(), name="smpp-route-watch")

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        for route in self._routes:
            await route.connector.stop()

    # -- which route -------------------------------------------------------------------------

    def _primary_changed(self) -> None:
        now = asyncio.get_running_loop().time()
        if self.primary.up():
            self._primary_down_since = None
            if self._primary_up_since is None:
                self._primary_up_since = now
        else:
            self._primary_up_since = None
            if self._primary_down_since is None:
                self._primary_down_since = now
        self._changed.set()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._changed.clear()
            due = self._decide(loop.time())
            for route in self._routes:
                if route is not self.active and not route.up():
                    route.gone.set()
                else:
                    route.gone.clear()
            timeout = None if due is None else max(0.0, due - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    def _decide(self, now: float) -> float | None:
        """Switch if it is time; else when to look again (None: at the next bind change)."""
        if self.active is self.primary:
            down_since = self._primary_down_since
            if down_since is None or not self.standby.up():
                return None
            if now < down_since + self.standby_after_s:
                return down_since + self.standby_after_s
            problem = self.primary.connector.bind_problem()
            self._switch(
                self.standby,
                f"every bind of the primary {self.primary.address} has been down for {now - down_since:.1f}s"
                + (f" ({problem})" if problem else ""),
            )
            return None
        up_since = self._primary_up_since
        if up_since is None:
            return None
        if not self.standby.up():
            self._switch(
                self.primary, f"the standby {self.standby.address} lost every bind; the primary is up"
            )
            return None
        if now < up_since + self.primary_hold_s:
            return up_since + self.primary_hold_s
        self._switch(
            self.primary, f"the primary {self.primary.address} has been up for {now - up_since:.1f}s"
        )
        return None

    def _switch(self, to: _Route, reason: str) -> None:
        self.active = to
        self.active_since = self._clock.now()
        self.switch_reason = reason if to is self.standby else None
        self.switches.labels(to=to.name).inc()
        self._show_active()
        if to is self.standby:
            logger.error("SMSC route: %s; dispatch moves to the standby %s", reason, to.address)
        else:
            logger.warning("SMSC route: %s; dispatch moves back to the primary", reason)

    def _show_active(self) -> None:
        for route in self._routes:
            self.route_active.labels(route=route.name).set(1 if route is self.active else 0)

    # -- sending -----------------------------------------------------------------------------

    async def submit(self, segment: OutboundSegment) -> SubmitResult:
        """A segment on its own (a one-part message)."""
        [result] = await self.submit_message([segment])
        return result

    async def submit_message(self, segments: Sequence[OutboundSegment]) -> list[SubmitResult]:
        while True:
            route = self.active
            sending = asyncio.create_task(route.connector.submit_message(segments))
            gone = asyncio.create_task(route.gone.wait())
            try:
                done, _ = await asyncio.wait((sending, gone), return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                sending.cancel()
                raise
            finally:
                gone.cancel()
            if sending in done:
                return _taken_by(route.name, sending.result())
            sending.cancel()
            await asyncio.wait((sending,))
            if not sending.cancelled():  # it ended before the cancel reached it
                return _taken_by(route.name, sending.result())
            self.moved.labels(to=self.active.name).inc()
            logger.debug(  # counted; the switch itself is logged once
                "message %s: the %s route failed while it was being sent; it is sent again whole on the %s",
                segments[0].message_id if segments else "-",
                route.name,
                self.active.name,
            )

    async def query(self, smsc_message_id: str, source_addr: str, route: Route | None = None) -> QueryResult:
        """query_sm on the route that took the message (its segment's `route`); a segment from
        before the standby was set up (no route) went to the primary."""
        target = self.standby if route is Route.STANDBY else self.primary
        return await target.connector.query(smsc_own_id(route, smsc_message_id), source_addr)

    async def set_limits(self, binds: int, tps: float) -> None:
        """This process's share of the account's limits, on both routes: the standby takes the
        same binds and TPS settings as the primary, so it is shared the same way."""
        for route in self._routes:
            await route.connector.set_limits(binds, tps)

    @property
    def allowed_binds(self) -> int:
        return self.primary.connector.allowed_binds

    # -- state for /readyz and health --------------------------------------------------------

    def connected_binds(self) -> int:
        """The binds of the active route."""
        return self.active.connector.connected_binds()

    def bind_problem(self) -> str | None:
        problems = [
            f"{route.name} {route.address}: {problem}"
            for route in self._routes
            if not route.up() and (problem := route.connector.bind_problem())
        ]
        return "; ".join(problems) or None

    def login_problem(self) -> str | None:
        problems = [
            f"{route.name}: {problem}"
            for route in self._routes
            if (problem := route.connector.login_problem())
        ]
        return "; ".join(problems) or None

    def describe_route(self) -> str | None:
        """For /readyz warnings: None on the primary, else since when and why on the standby."""
        if self.active is self.primary:
            return None
        return (
            f"dispatching on the standby route {self.standby.address} since "
            f"{self.active_since.isoformat(timespec='seconds')}: {self.switch_reason}"
        )


def _taken_by(route: Route, results: Sequence[SubmitResult]) -> list[SubmitResult]:
    """The results with the route that took them, and each SMSC id as it is recorded."""
    return [
        replace(
            r,
            route=route,
            smsc_message_id=None if r.smsc_message_id is None else route_scoped_id(route, r.smsc_message_id),
        )
        for r in results
    ]
