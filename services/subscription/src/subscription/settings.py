from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from vas_common.settings import ServiceSettings


class SubscriptionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SUBSCRIPTION_", extra="ignore")

    service_name: str = "subscription"
    provider_name: str = "VAS"  # how the provider signs the SMS it sends users
    jobs_interval_s: float = 60.0  # expiry of unconfirmed orders, scheduled notices
