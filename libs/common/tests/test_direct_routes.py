"""A direct endpoint is served past FastAPI's routing, yet answers and fails as its route would."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import BaseModel

from vas_common.direct_routes import DirectRoutes
from vas_common.errors import Conflict, install_problem_handlers
from vas_common.json_body import parse_json_body


class Order(BaseModel):
    count: int


router = APIRouter(prefix="/v1")


@router.post("/orders", status_code=201)
async def create_order(request: Request) -> Response:
    order = parse_json_body(Order, await request.body())
    if order.count == 0:
        raise Conflict("order exists")
    if order.count == 13:
        raise RuntimeError("boom")
    # FastAPI's router marks the scope with the endpoint it matched; served directly, it is not.
    routed = "endpoint" in request.scope
    return Response(f'{{"count": {order.count}, "routed": {str(routed).lower()}}}', status_code=201)


@router.get("/orders/{order_id}")
async def read_order(order_id: int) -> dict[str, int]:
    return {"order_id": order_id}


def make_app(*endpoints: object) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.add_middleware(DirectRoutes, fastapi_app=app, endpoints=endpoints or (create_order,))
    return app


async def call(app: FastAPI, method: str, path: str, **kw: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, **kw)  # type: ignore[arg-type]


async def test_the_endpoint_is_served_without_routing() -> None:
    response = await call(make_app(), "POST", "/v1/orders", json={"count": 2})
    assert response.status_code == 201
    assert response.json() == {"count": 2, "routed": False}

    other = await call(make_app(), "GET", "/v1/orders/7")
    assert other.json() == {"order_id": 7}
    assert (await call(make_app(), "PUT", "/v1/orders")).status_code == 405


async def test_errors_are_rendered_by_the_apps_own_handlers() -> None:
    app = make_app()
    conflict = await call(app, "POST", "/v1/orders", json={"count": 0})
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "application/problem+json"
    assert (conflict.json()["code"], conflict.json()["instance"]) == ("conflict", "/v1/orders")

    invalid = await call(app, "POST", "/v1/orders", content=b'{"count": "many"}')
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"] == ["body", "count"]

    unexpected = await call(app, "POST", "/v1/orders", json={"count": 13})
    assert unexpected.status_code == 500
    assert unexpected.json()["code"] == "internal_error"


def _depends_on_something() -> int:
    return 1


async def test_an_endpoint_that_needs_fastapi_is_refused() -> None:
    needs_dependency = APIRouter()

    @needs_dependency.post("/d")
    async def with_dependency(
        request: Request, n: Annotated[int, Depends(_depends_on_something)]
    ) -> Response:
        return Response()

    app = make_app(with_dependency, read_order)
    app.include_router(needs_dependency)
    for endpoint in (with_dependency, read_order):
        with pytest.raises(ValueError, match="cannot be served directly"):
            DirectRoutes(app, fastapi_app=app, endpoints=[endpoint])  # type: ignore[list-item]

    async def not_a_route(request: Request) -> Response:
        return Response()

    with pytest.raises(ValueError, match="exactly one route"):
        DirectRoutes(app, fastapi_app=app, endpoints=[not_a_route])
