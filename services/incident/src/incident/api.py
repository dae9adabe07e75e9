"""HTTP endpoints of the incident service (its use cases arrive with their own issue)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["incident"])
