from __future__ import annotations

from pydantic_settings import SettingsConfigDict
from vas_common.settings import ServiceSettings


class SmsSenderSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SMS_SENDER_", extra="ignore")

    service_name: str = "sms-sender"
