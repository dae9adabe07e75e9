"""One SMPP session over an asyncio stream, for either side of a bind.

It frames and decodes PDUs, matches responses to requests by sequence number, answers
enquire_link and unbind itself, keeps the link alive with enquire_link when idle, and hands
every other request to `on_request` (a plain callback: the owner answers when it is ready).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable

from vas_common.smpp.pdu import Command, Pdu, PduError, decode, encode, read_frame, response_to

logger = logging.getLogger(__name__)

_WRITE_HIGH_WATER = 256 * 1024


class SessionClosed(ConnectionError):
    pass


class SmppSession:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_request: Callable[[SmppSession, Pdu], None],
        *,
        name: str = "smpp",
        enquire_link_interval_s: float = 10.0,
        response_timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self._reader = reader
        self._writer = writer
        self._on_request = on_request
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._sequence = itertools.count(1)
        self._enquire_interval = enquire_link_interval_s
        self._response_timeout = response_timeout_s
        self._tasks: list[asyncio.Task[None]] = []
        self.closed = asyncio.Event()
        self.answer_enquire_link = True
        self._last_received = asyncio.get_running_loop().time()
        self._outgoing: list[bytes] = []
        self._outgoing_size = 0
        self._flush_scheduled = False

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._read_loop(), name=f"{self.name}:read"),
            asyncio.create_task(self._keepalive(), name=f"{self.name}:keepalive"),
        ]

    @property
    def pending(self) -> int:
        return len(self._pending)

    def next_sequence(self) -> int:
        return next(self._sequence) & 0x7FFFFFFF or next(self._sequence)

    async def send(self, pdu: Pdu) -> None:
        """Queue the PDU; the PDUs queued during one turn of the event loop go out in one
        write (one system call for a whole window of submit_sm instead of one each)."""
        if self.closed.is_set():
            raise SessionClosed(f"{self.name} is closed")
        data = encode(pdu)
        self._outgoing.append(data)
        self._outgoing_size += len(data)
        if self._outgoing_size > _WRITE_HIGH_WATER:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        if self._writer.transport.get_write_buffer_size() > _WRITE_HIGH_WATER:
            await self._writer.drain()

    def close(self) -> None:
        """Close the connection once what is queued is written (no unbind)."""
        self._flush()
        self._writer.close()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._outgoing and not self._writer.transport.is_closing():
            self._writer.write(b"".join(self._outgoing))
        self._outgoing.clear()
        self._outgoing_size = 0

    async def request(self, pdu: Pdu, timeout_s: float | None = None) -> Pdu:
        """Send a request (its sequence is assigned here) and wait for the response."""
        sequence = self.next_sequence()
        pdu = Pdu(
            pdu.command,
            sequence,
            pdu.status,
            pdu.system_id,
            pdu.password,
            pdu.message_id,
            pdu.sm,
            pdu.source_addr,
            pdu.message_state,
            pdu.final_date,
            pdu.error_code,
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Pdu] = loop.create_future()
        self._pending[sequence] = future
        # A timer that fails the future, rather than asyncio.wait_for: one object per request
        # instead of four (hundreds of requests a second each way).
        timer = loop.call_later(timeout_s or self._response_timeout, _expire, future)
        try:
            await self.send(pdu)
            return await future
        finally:
            timer.cancel()
            self._pending.pop(sequence, None)

    async def _read_loop(self) -> None:
        try:
            while True:
                frame = await read_frame(self._reader)
                self._last_received = asyncio.get_running_loop().time()
                try:
                    pdu = decode(frame)
                except PduError as exc:
                    logger.warning("%s: undecodable PDU (%s); answering generic_nack", self.name, exc)
                    sequence = int.from_bytes(frame[12:16], "big")
                    await self.send(Pdu(Command.GENERIC_NACK, sequence, 0x03))
                    continue
                if pdu.is_response:
                    future = self._pending.get(pdu.sequence)
                    if future is not None and not future.done():
                        future.set_result(pdu)
                    continue
                if pdu.command == Command.ENQUIRE_LINK:
                    if self.answer_enquire_link:
                        await self.send(response_to(pdu))
                    continue
                if pdu.command == Command.UNBIND:
                    with contextlib.suppress(SessionClosed, ConnectionError):
                        await self.send(response_to(pdu))
                    break
                self._on_request(self, pdu)
        except (asyncio.IncompleteReadError, ConnectionError, PduError, OSError) as exc:
            logger.info("%s: connection ended (%s)", self.name, type(exc).__name__)
        finally:
            await self._shutdown()

    async def _keepalive(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.closed.is_set():
            await asyncio.sleep(self._enquire_interval / 2)
            if loop.time() - self._last_received < self._enquire_interval:
                continue
            try:
                await self.request(Pdu(Command.ENQUIRE_LINK, 0), self._response_timeout)
            except (TimeoutError, SessionClosed, ConnectionError):
                logger.warning("%s: no answer to enquire_link; closing", self.name)
                self._writer.close()
                return

    async def _shutdown(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SessionClosed(f"{self.name} closed"))
        self._pending.clear()
        with contextlib.suppress(Exception):
            self._flush()  # what was answered last (an unbind_resp) still goes out
            self._writer.close()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    async def unbind_and_close(self, timeout_s: float = 2.0) -> None:
        if not self.closed.is_set():
            with contextlib.suppress(Exception):
                await self.request(Pdu(Command.UNBIND, 0), timeout_s)
        await self.abort()

    async def abort(self) -> None:
        """Close the TCP connection at once (no unbind)."""
        with contextlib.suppress(Exception):
            self._writer.close()
        await self._shutdown()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _expire(future: asyncio.Future[Pdu]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("no response in time"))
