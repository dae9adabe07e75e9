from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from vas_common.settings import ServiceSettings


class Role(StrEnum):
    ALL = "all"  # API and dispatcher in one process (make run)
    API = "api"  # the CP-facing HTTP API only
    DISPATCHER = "dispatcher"  # SMSC binds, receipts, MO, callbacks; scaled as a consumer group


class SmsSenderSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SMS_SENDER_", extra="ignore")

    service_name: str = "sms-sender"
    role: Role = Role.ALL
    default_access_number: str = "10690000"
    default_rate_per_s: int = 1000
    # An API process keeps what it learnt about an API key this long: a rotated key or a
    # suspended partner is refused at most this much later than the change arrives.
    partner_cache_ttl_s: float = Field(default=1.0, ge=0)
    sensitive_words_path: Path | None = None  # None: the list shipped in the package

    # The submit lanes' fetch wait (None: kafka_fetch_max_wait_ms, as every other group). On a
    # broker that holds a fetch for all of it although records arrived (Tansu) the send delay
    # includes it; Kafka answers at once. The dev stack sets 100 here and leaves the rest.
    dispatch_fetch_max_wait_ms: int | None = Field(default=None, gt=0)

    smsc_host: str = "127.0.0.1"
    smsc_port: int = 2775
    smsc_system_id: str = "vas"
    smsc_password: SecretStr = SecretStr("vas-pass")
    # The operator's limits are the account's: smsc_binds binds and smsc_account_tps submits a
    # second in all (default smsc_binds x smsc_tps; 0 with smsc_tps 0: no cap), shared by every
    # dispatcher through leases in PostgreSQL; smsc_tps caps each bind as well.
    smsc_binds: int = Field(default=2, ge=1)
    smsc_window: int = 32
    smsc_tps: float = 100.0  # per bind, the operator's cap
    smsc_account_tps: float | None = Field(default=None, ge=0)
    # Each dispatcher renews its lease this often (and takes its new share); a dead one's share
    # is given to the others after the TTL. A new one sends after two heartbeats (at once if alone).
    smsc_lease_heartbeat_s: float = Field(default=2.0, gt=0)
    smsc_lease_ttl_s: float = Field(default=10.0, gt=0)
    smsc_response_timeout_s: float = 10.0
    smsc_enquire_link_interval_s: float = 10.0
    smsc_give_up_after_s: float = 600.0
    # A login refused for its credentials (ESME_RINVPASWD / ESME_RINVSYSID): every bind of the
    # account waits this long, doubling per refusal up to the max, before one logs in again.
    smsc_auth_backoff_s: float = Field(default=300.0, gt=0)
    smsc_auth_backoff_max_s: float = Field(default=3600.0, gt=0)
    # A standby SMSC route (another host, port or account; unset: none, and nothing changes).
    # Bound all the time next to the primary; dispatch moves to it when every primary bind has
    # been down for standby_after_s, and back when the primary has been up for primary_hold_s.
    # Unset port, system_id and password are the primary's.
    smsc_standby_host: str | None = None
    smsc_standby_port: int | None = None
    smsc_standby_system_id: str | None = None
    smsc_standby_password: SecretStr | None = None
    smsc_standby_after_s: float = Field(default=10.0, ge=0)
    smsc_primary_hold_s: float = Field(default=60.0, ge=0)
    # Concatenated messages carry a 16-bit reference (UDH IEI 0x08, 7 octets: a character less a
    # part) instead of the 8-bit one (IEI 0x00) when the SMSC accepts it. Set it on the API and
    # the dispatchers alike: it changes how many parts a text takes.
    smsc_concat_16bit: bool = False
    # Receipt reconciliation: a segment without its receipt this long after its submit is asked
    # about (query_sm), again every requery interval while the SMSC says it is on its way; the
    # sweep runs every interval and asks about at most `batch` segments.
    receipt_query_after_s: float = Field(default=1800.0, gt=0)
    receipt_requery_after_s: float = Field(default=1800.0, gt=0)
    receipt_query_interval_s: float = Field(default=30.0, gt=0)
    receipt_query_batch: int = Field(default=100, gt=0, le=10_000)
    # How long the SMSC keeps trying a message (its validity period: we send none, so set this
    # to the SMSC's default). A segment with no receipt nor final answer by then and one more
    # requery interval ends as failed, stat UNKNOWN (outcome `unknown`).
    smsc_validity_s: float = Field(default=48 * 3600.0, gt=0)

    # Health signals (sms_sender.health, topic sms.health): a report every interval from each
    # dispatcher; the SMSC's name in them (default system_id@host:port); the checks' thresholds.
    health_report_interval_s: float = Field(default=10.0, gt=0)
    health_smsc_name: str = ""
    health_binds_down_after_s: float = Field(default=30.0, ge=0)
    health_send_delay_threshold_s: float = Field(default=4.0, gt=0)
    health_send_delay_quantile: float = Field(default=0.99, gt=0, lt=1)
    health_send_delay_window_s: float = Field(default=300.0, gt=0)
    health_send_delay_min_samples: int = Field(default=20, ge=1)
    health_failure_rate_threshold: float = Field(default=0.2, gt=0, lt=1)
    health_failure_window_s: float = Field(default=300.0, gt=0)
    health_failure_min_samples: int = Field(default=50, ge=1)

    # Callbacks under a secret made before Standard Webhooks also carry the old X-VAS-* headers until
    # this time (or until the partner rotates its secret); a past time stops them at once.
    callback_legacy_headers_until: datetime = datetime(2027, 6, 30, tzinfo=UTC)
    callback_retry_initial_s: float = 10.0
    callback_retry_max_s: float = 3600.0
    callback_give_up_after_s: float = 86_400.0
    callback_connect_timeout_s: float = Field(default=2.0, gt=0)
    callback_read_timeout_s: float = Field(default=5.0, gt=0)
    # Deliveries in flight per dispatcher process, and to one partner among them: a partner
    # whose endpoint hangs holds at most this many, the others' callbacks keep going.
    callback_concurrency: int = Field(default=50, ge=1)
    callback_partner_concurrency: int = Field(default=4, ge=1)
    # After this many failures in a row a host is not called for the cool-down, then probed once.
    callback_breaker_failures: int = Field(default=5, ge=1)
    callback_breaker_cooldown_s: float = Field(default=30.0, gt=0)
    # Callback URLs must be https and resolve only to global unicast addresses, checked when a
    # message is accepted and again on each connection. Listed here (networks such as
    # "10.0.0.0/8" or "127.0.0.1", or host names) are called although they are not global.
    callback_allow_http: bool = False
    callback_allowed_destinations: tuple[str, ...] = ()
    callback_dns_cache_ttl_s: float = Field(default=30.0, ge=0)  # the accept-time verdict on a host

    # A message still `accepted` (no segment sent) this long after its accept has its submit record
    # written again (its first may be lost: a broker that lost its data); not again before twice
    # as long, and so on. Every role sweeps this often, at most `republish_batch` messages a sweep.
    republish_after_s: float = Field(default=300.0, gt=0)
    republish_interval_s: float = Field(default=30.0, gt=0)
    republish_batch: int = Field(default=1000, ge=1)

    # Messages, segments and status events are kept this many Asia/Shanghai months, longer for a
    # user under a legal hold; the retention job runs this often (and on POST /v1/jobs/retention).
    retention_months: int = Field(default=6, ge=1)
    retention_interval_s: float = 86_400.0

    @property
    def smsc_name(self) -> str:
        return self.health_smsc_name or f"{self.smsc_system_id}@{self.smsc_host}:{self.smsc_port}"

    @property
    def has_standby(self) -> bool:
        return self.smsc_standby_host is not None or self.smsc_standby_port is not None

    @property
    def smsc_account(self) -> str:
        """The account whose limits the dispatchers share."""
        return f"{self.smsc_system_id}@{self.smsc_host}:{self.smsc_port}"

    @property
    def account_tps(self) -> float:
        return self.smsc_account_tps if self.smsc_account_tps is not None else self.smsc_binds * self.smsc_tps

    @property
    def runs_api(self) -> bool:
        return self.role in (Role.ALL, Role.API)

    @property
    def runs_dispatcher(self) -> bool:
        return self.role in (Role.ALL, Role.DISPATCHER)

    @property
    def concat_reference_bits(self) -> int:
        return 16 if self.smsc_concat_16bit else 8
