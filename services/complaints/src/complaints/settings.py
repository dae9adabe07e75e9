from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from vas_common.mo_routing import COMPLAINT_KEYWORDS, COMPLAINTS_EXT_CODE
from vas_common.settings import ServiceSettings


class ComplaintsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLAINTS_", extra="ignore")

    service_name: str = "complaints"
    provider_name: str = "VAS"  # how the provider signs the SMS it sends users
    # The public form: a number, and a client address, may complain this often an hour.
    web_complaints_per_number_per_hour: int = Field(default=3, ge=1)
    web_complaints_per_address_per_hour: int = Field(default=20, ge=1)
    # The provider's access number; replies to the complaints service's texts come to it plus
    # complaints_ext_code, and a text to it that starts with a keyword opens a complaint
    # (vas_common.mo_routing; the subscription service leaves those alone).
    system_access_number: str = Field(default="10690000", pattern=r"^[0-9]{3,20}$")
    complaint_keywords: tuple[str, ...] = COMPLAINT_KEYWORDS
    complaints_ext_code: str = Field(default=COMPLAINTS_EXT_CODE, pattern=r"^[0-9]{1,6}$")
    # A resolved complaint the user has not scored within this long is escalated to a supervisor.
    satisfaction_wait_hours: float = Field(default=72.0, gt=0)
    sla_tick_interval_s: float = Field(default=5.0, gt=0)  # how often due warnings/breaches are raised
    calendar_check_interval_s: float = Field(default=30.0, gt=0)
    # Staff sign-in (complaints/staff): how long a session lasts (a shift), how many failed
    # sign-ins a login may have from one address in a window, and the first administrator,
    # created at start when there is no account at all (`make run` sets both).
    staff_session_hours: float = Field(default=10.0, gt=0, le=24 * 7)
    staff_sign_in_failures: int = Field(default=5, ge=1)
    staff_sign_in_window_s: float = Field(default=900.0, gt=0)
    initial_admin_login: str = ""
    initial_admin_password: SecretStr = SecretStr("")
    sla_gauges_interval_s: float = Field(default=15.0, gt=0)  # open complaints by SLA state, for /metrics
