"""HTTP shapes of the sms-sender."""

from __future__ import annotations

from pydantic import BaseModel


class WhoAmI(BaseModel):
    partner_id: str
    name: str
