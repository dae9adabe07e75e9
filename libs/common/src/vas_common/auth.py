"""Credentials: partner API keys (stored only as a SHA-256 hash) and the operator token.

API keys are 256 bits from `secrets`, so a fast hash is the right tool (no password
stretching is needed for high-entropy secrets) and lets a request be authenticated with
one indexed lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from pydantic import SecretStr

from vas_common.errors import Unauthorized

API_KEY_PREFIX = "vask"


@dataclass(frozen=True)
class IssuedApiKey:
    key_id: str
    secret: str
    sha256: str

    def __repr__(self) -> str:  # never print the secret by accident
        return f"IssuedApiKey(key_id={self.key_id!r})"


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def issue_api_key() -> IssuedApiKey:
    key_id = secrets.token_hex(4)
    secret = f"{API_KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return IssuedApiKey(key_id=key_id, secret=secret, sha256=hash_api_key(secret))


def presented_credential(request: Request) -> str | None:
    """The credential of a request: `Authorization: Bearer …` or `X-API-Key: …`."""
    token = bearer_token(request)
    if token is not None:
        return token
    api_key = request.headers.get("x-api-key", "").strip()
    return api_key or None


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def check_operator_token(request: Request, expected: SecretStr) -> None:
    """The operator token comes as `Authorization: Bearer …` only: `X-API-Key` is a partner's."""
    presented = bearer_token(request)
    if presented is None:
        raise Unauthorized("missing operator token")
    token = expected.get_secret_value()
    if not token or not hmac.compare_digest(presented.encode(), token.encode()):
        raise Unauthorized("invalid operator token")


@dataclass(frozen=True)
class AuthenticatedPartner:
    partner_id: str
    name: str


async def authenticate_partner(
    request: Request, lookup: Callable[[str], Awaitable[AuthenticatedPartner | None]]
) -> AuthenticatedPartner:
    """Resolve the partner behind the request's API key, or answer 401 (missing, wrong or revoked)."""
    presented = presented_credential(request)
    if presented is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'")
    partner = await lookup(hash_api_key(presented))
    if partner is None:
        raise Unauthorized("invalid or revoked API key")
    return partner
