"""HTTP endpoints of the sms-sender: the CP send API, message status, status events, callbacks."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from sms_sender.schemas import (
    CallbackSecretOut,
    DeadCallbackOut,
    MessageOut,
    MessagePage,
    SendRequest,
    SendResponse,
    StatusEventOut,
    StatusEventPage,
    WhoAmI,
)
from sms_sender.service.accept import SendService
from sms_sender.service.callbacks import CallbackSecrets
from sms_sender.service.errors import (
    CallbackSecretMissing,
    CallbackUrlForbidden,
    ContentEmpty,
    ContentNeedsProduct,
    ContentRejected,
    ExtCodeNotAllowed,
    IdempotencyConflict,
    NoValidRecipients,
    ProductNotOwned,
    RateLimited,
    SignatureRequired,
    SourceTooLong,
)
from sms_sender.service.partners import PartnerDirectory, Sender
from sms_sender.service.queries import StatusQueries
from vas_common.access import Audience, audience_router, authenticate, principal
from vas_common.app import app_state
from vas_common.auth import hash_api_key, presented_credential
from vas_common.errors import Unauthorized, ValidationFailed, documented
from vas_common.json_body import json_body_openapi, parse_json_body
from vas_common.types import Instant, SingleLineText

IDEMPOTENCY_KEY_MAX = 128


async def partner_directory(request: Request) -> PartnerDirectory:
    return app_state(request, "partner_directory", PartnerDirectory)


async def authenticate_sender(request: Request) -> Sender:
    """The partner authenticator of the sms-sender (vas_common.access): its own copy of the partners."""
    presented = presented_credential(request)
    if presented is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'")
    sender = await (await partner_directory(request)).sender(hash_api_key(presented))
    if sender is None:
        raise Unauthorized("invalid or revoked API key")
    return sender


async def current_sender(request: Request) -> Sender:
    return principal(request, Sender)


async def send_service(request: Request) -> SendService:
    return app_state(request, "send_service", SendService)


async def status_queries(request: Request) -> StatusQueries:
    return app_state(request, "status_queries", StatusQueries)


async def callback_secrets(request: Request) -> CallbackSecrets:
    return app_state(request, "callback_secrets", CallbackSecrets)


CurrentSender = Annotated[Sender, Depends(current_sender)]

router = audience_router(Audience.PARTNER, prefix="/v1", tags=["partner"])


@router.get("/me", response_model=WhoAmI)
async def who_am_i(sender: CurrentSender) -> WhoAmI:
    return WhoAmI(partner_id=str(sender.partner_id), name=sender.name)


@router.post(
    "/messages",
    status_code=202,
    response_model=SendResponse,
    summary="Send one text to 1-1000 recipients",
    # Every 422 code of the route: listing any replaces the generic description.
    responses=documented(
        IdempotencyConflict,
        RateLimited,
        ValidationFailed,
        ContentNeedsProduct,
        ProductNotOwned,
        ContentRejected,
        SignatureRequired,
        ContentEmpty,
        ExtCodeNotAllowed,
        SourceTooLong,
        CallbackSecretMissing,
        CallbackUrlForbidden,
        NoValidRecipients,
    ),
    description=(
        "202 means every accepted message is stored and will be sent: it can no longer be lost. "
        "Recipients that cannot receive it are listed in `rejected` with a reason. "
        "Content (the default category) must name its `product_code` and goes only to that "
        "product's active subscribers; without one it is refused (422 `content_needs_product`). "
        "Notices and verification codes need no product."
    ),
    openapi_extra={
        **json_body_openapi(SendRequest),
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
                "description": "A retried request with the same key gets the first answer again",
            }
        ],
    },
)
async def send_messages(request: Request) -> Response:
    # The hottest endpoint reads its body, key and headers itself, without FastAPI parameters or
    # Depends (vas_common.json_body), and is served past FastAPI's routing (main.py,
    # vas_common.direct_routes, where the figures are), so it authenticates itself.
    sender = await authenticate(request, Audience.PARTNER)
    assert isinstance(sender, Sender)
    body = parse_json_body(SendRequest, await request.body())
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and len(idempotency_key) > IDEMPOTENCY_KEY_MAX:
        raise RequestValidationError(
            [
                {
                    "loc": ("header", "Idempotency-Key"),
                    "msg": f"String should have at most {IDEMPOTENCY_KEY_MAX} characters",
                    "type": "string_too_long",
                }
            ]
        )
    # Only a request with a key is compared with an earlier one.
    fingerprint = body.fingerprint() if idempotency_key else ""
    result = await (await send_service(request)).send(sender, body.order(), idempotency_key, fingerprint)
    return Response(SendResponse.of(result).model_dump_json(), status_code=202, media_type="application/json")


@router.get("/messages/{message_id}", response_model=MessageOut)
async def get_message(
    message_id: UUID, sender: CurrentSender, queries: Annotated[StatusQueries, Depends(status_queries)]
) -> MessageOut:
    return MessageOut.of(await queries.message(sender.partner_id, message_id))


@router.get("/messages", response_model=MessagePage)
async def list_messages(
    sender: CurrentSender,
    queries: Annotated[StatusQueries, Depends(status_queries)],
    client_ref: SingleLineText | None = None,
    since: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MessagePage:
    messages = await queries.messages(sender.partner_id, client_ref, since, limit)
    return MessagePage(items=[MessageOut.of(m) for m in messages])


@router.get("/status-events", response_model=StatusEventPage, summary="Pull status changes after a cursor")
async def status_events(
    sender: CurrentSender,
    queries: Annotated[StatusQueries, Depends(status_queries)],
    cursor: Annotated[
        str | None, Query(min_length=11, max_length=11, description="next_cursor of the page before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> StatusEventPage:
    events, next_cursor = await queries.status_events(sender.partner_id, cursor, limit)
    return StatusEventPage(
        items=[StatusEventOut.of(e) for e in events],
        next_cursor=next_cursor,
    )


@router.post("/callback-secrets", status_code=201, response_model=CallbackSecretOut)
async def rotate_callback_secret(
    sender: CurrentSender, secrets: Annotated[CallbackSecrets, Depends(callback_secrets)]
) -> CallbackSecretOut:
    """A new signing secret for your status callbacks; the previous one stops being used."""
    return CallbackSecretOut(secret=await secrets.rotate(sender.partner_id))


@router.get("/callbacks/dead", response_model=list[DeadCallbackOut])
async def dead_callbacks(
    sender: CurrentSender,
    secrets: Annotated[CallbackSecrets, Depends(callback_secrets)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeadCallbackOut]:
    """Callbacks that could not be delivered within the retry period."""
    return [DeadCallbackOut.of(d) for d in await secrets.dead(sender.partner_id, limit)]
