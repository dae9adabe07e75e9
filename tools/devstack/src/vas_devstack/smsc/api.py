"""The simulator's HTTP control API (served by uvicorn in the simulator's own event loop)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import uvicorn
from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from vas_devstack.smsc.simulator import SmscSimulator


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process (or pytest) running the simulator owns them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class MoRequest(BaseModel):
    source: str = Field(min_length=1, max_length=20, description="the user's MSISDN")
    destination: str = Field(min_length=1, max_length=20, description="access number + extension code")
    text: str = Field(min_length=1)
    system_id: str | None = Field(default=None, description="only sessions of this account; default any")


class MoBatchRequest(BaseModel):
    messages: list[MoRequest] = Field(min_length=1, max_length=1000)


class PauseRequest(BaseModel):
    seconds: float = Field(gt=0, le=3600)


class ConfigUpdate(BaseModel):
    tps: float | None = Field(default=None, ge=0)
    submit_latency_ms: float | None = Field(default=None, ge=0)
    receipt_delay_ms: float | None = Field(default=None, ge=0)
    outcomes: dict[str, float] | None = None
    receipt_before_resp: bool | None = None
    drop_receipts: float | None = Field(default=None, ge=0, le=1)


def create_app(sim: SmscSimulator) -> FastAPI:
    from vas_devstack.smsc.simulator import ConfigError

    app = FastAPI(title="SMSC simulator", description="Control API of the SMPP 3.4 SMSC simulator")

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "smpp": sim.smpp_address}

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return sim.stats()

    @app.get("/messages")
    async def messages(
        destination: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    ) -> dict[str, Any]:
        return sim.messages(destination or None, limit)

    @app.get("/messages/summary")
    async def summary() -> dict[str, int]:
        return sim.summary()

    @app.delete("/messages")
    async def reset() -> dict[str, Any]:
        sim.reset()
        return sim.summary()

    @app.post("/mo")
    async def mo(body: MoRequest) -> dict[str, int]:
        try:
            parts = sim.inject_mo(body.source, body.destination, body.text, body.system_id)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"parts": parts}

    @app.post("/mo/batch")
    async def mo_batch(body: MoBatchRequest) -> dict[str, int]:
        """Several users' messages in one request: a load generator injecting hundreds a
        second would otherwise spend more on HTTP than the SMSC does on SMPP."""
        try:
            parts = sum(sim.inject_mo(m.source, m.destination, m.text, m.system_id) for m in body.messages)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"parts": parts, "messages": len(body.messages)}

    @app.post("/faults/drop-binds")
    async def drop_binds() -> dict[str, int]:
        return {"dropped": await sim.drop_binds()}

    @app.post("/faults/refuse-binds")
    async def refuse_binds(body: PauseRequest) -> dict[str, Any]:
        """Drop every bind and refuse new ones for `seconds` (an SMSC outage)."""
        until = await sim.refuse_binds(body.seconds)
        return {"binds_refused_until": until.isoformat(), "seconds": body.seconds}

    @app.post("/faults/pause")
    async def pause(body: PauseRequest) -> dict[str, Any]:
        sim.pause(body.seconds)
        return {"paused_until": sim.stats()["paused_until"], "seconds": body.seconds}

    @app.get("/config")
    async def get_config() -> dict[str, Any]:
        return sim.get_config()

    @app.put("/config")
    async def put_config(body: ConfigUpdate) -> dict[str, Any]:
        changes = body.model_dump(exclude_none=True)
        try:
            return sim.update_config(**changes)
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from exc

    return app
