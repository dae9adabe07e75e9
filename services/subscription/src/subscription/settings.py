from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from vas_common.mo_routing import COMPLAINT_KEYWORDS, COMPLAINTS_EXT_CODE
from vas_common.settings import ServiceSettings


class SubscriptionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SUBSCRIPTION_", extra="ignore")

    service_name: str = "subscription"
    provider_name: str = "VAS"  # how the provider signs the SMS it sends users
    # The provider's own access number (the sms-sender's SMS_SENDER_DEFAULT_ACCESS_NUMBER): no
    # partner's access number may overlap it.
    system_access_number: str = Field(default="10690000", pattern=r"^\d{3,20}$")
    # MO the complaints service answers (vas_common.mo_routing): left alone here.
    complaint_keywords: tuple[str, ...] = COMPLAINT_KEYWORDS
    complaints_ext_code: str = Field(default=COMPLAINTS_EXT_CODE, pattern=r"^[0-9]{1,6}$")
    jobs_interval_s: float = 60.0  # expiry of unconfirmed orders, scheduled notices
    # Raw records (order_records, charges) are kept this many Asia/Shanghai months, longer under a
    # legal hold; the retention job runs this often (and on POST /v1/jobs/retention).
    retention_months: int = Field(default=6, ge=1)
    retention_interval_s: float = 86_400.0
    billing_interval_s: float = 3600.0  # the current month's run repeats this often (idempotent)
    # A maintenance notice (incident.events) is sent to this many subscribers per transaction.
    maintenance_notice_page_size: int = Field(default=500, ge=1, le=10_000)
