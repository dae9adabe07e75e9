from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from vas_common.settings import ServiceSettings


class ComplaintsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLAINTS_", extra="ignore")

    service_name: str = "complaints"
    provider_name: str = "VAS"  # how the provider signs the SMS it sends users
    # The public form: a number, and a client address, may complain this often an hour.
    web_complaints_per_number_per_hour: int = Field(default=3, ge=1)
    web_complaints_per_address_per_hour: int = Field(default=20, ge=1)
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
