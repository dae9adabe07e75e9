"""Settings base classes. Each service subclasses ServiceSettings with its own env prefix.

Nothing here reads the environment at import time: a service builds its settings in
`create_app` (or its CLI) and passes them down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_KEY_LENGTH = 32  # of STAFF_TOKEN_KEY (vas_common.staff checks the same)


class ServiceSettings(BaseSettings):
    """What every service needs: where its database and the broker are, and how to log and trace."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None)

    service_name: str = "vas-service"
    database_url: SecretStr = Field(
        default=SecretStr("postgresql://postgres@127.0.0.1:5432/postgres"),
        description="asyncpg DSN of the service's own database",
    )
    database_pool_min: int = 1
    database_pool_max: int = 10
    # A request waits on the database no longer than these, then answers 503 with Retry-After:
    # for a pool connection, for each statement (and for a group commit to answer), for a new
    # connection's start-up. Long background statements pass their own timeout.
    database_acquire_timeout_s: float = Field(default=2.0, gt=0)
    database_statement_timeout_s: float = Field(default=5.0, gt=0)
    database_connect_timeout_s: float = Field(default=2.0, gt=0)
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_client_id: str | None = None
    kafka_topic_partitions: int = 6
    kafka_replication_factor: int = 1
    # How often a service checks that the broker still has every topic, and creates the missing
    # ones again (vas_common.kafka.keep_topics; a broker that lost its storage).
    kafka_topics_check_interval_s: float = Field(default=10.0, gt=0)
    # A new group member waits about half the session timeout to join on the dev broker;
    # the local stack and tests lower it, production keeps Kafka's usual values.
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    # How long the broker may hold a fetch that finds nothing new (Kafka's default, 500 ms).
    kafka_fetch_max_wait_ms: int = 500
    # How often producers and consumers refresh the broker's metadata unasked (Kafka's default,
    # 5 min). The dev broker, after a restart that emptied it, may give a topic fewer partitions
    # than before (a client asked for it first) and still accepts records for the partitions it
    # no longer has, which no consumer reads: a producer keeps sending there until it refreshes.
    # The bench stack lowers it (vas_bench.stack).
    kafka_metadata_max_age_ms: int = Field(default=300_000, gt=0)
    # How long a consumer waits for an offset commit before it goes on without it (see
    # vas_common.kafka.ConsumerRunner._commit).
    kafka_commit_timeout_s: float = Field(default=5.0, gt=0)
    # How often a consumer retries a failing record before it goes to the dead-letter topic.
    consumer_max_attempts: int = 5
    consumer_retry_initial_s: float = 0.05
    consumer_retry_max_s: float = 2.0
    outbox_poll_interval_s: float = 0.5
    readiness_timeout_s: float = 2.0
    # False: this process serves HTTP and runs its jobs but reads no topic (an API-only replica;
    # tests that start extra replicas to race on the database).
    consumers_enabled: bool = True
    # Each shutdown step (leaving a consumer group, flushing the producer, the relay, a job
    # loop) is given this long; one that hangs is logged and left (see vas_common.app._bounded).
    shutdown_step_timeout_s: float = 8.0
    # A request body over this is refused with 413 before it is read into memory; the largest
    # send request (1,000 recipients, 1,000 characters) is ~30 KB.
    max_request_body_bytes: int = 1_048_576
    operator_token: SecretStr = SecretStr("")
    # The key every service verifies staff sign-in tokens with (vas_common.staff); the complaints
    # service also issues them with it. Empty (the default) turns staff sign-in off, as an empty
    # operator token turns the operator off: nothing works with a key that everyone knows.
    # `make run` makes one in .state/staff-token-key; at least 32 characters.
    staff_token_key: SecretStr = SecretStr("")
    # Past this many failed authentications from one client address in a window, the client is
    # answered 429 until the window ends (keys cannot be guessed at speed).
    auth_failures_per_window: int = Field(default=20, ge=1)
    auth_failure_window_s: float = Field(default=60.0, gt=0)
    log_level: str = "INFO"
    log_json: bool = True
    migrate_on_start: bool = True
    # Where the service's NNN_name.sql files are; by default the source tree's migrations/.
    # Container images install the package non-editable and set this explicitly.
    migrations_dir: Path | None = None
    # "none" keeps spans in-process only (no export); "console" prints them (development).
    trace_exporter: str = "none"

    @field_validator("staff_token_key")
    @classmethod
    def _long_enough(cls, key: SecretStr) -> SecretStr:
        if key.get_secret_value() and len(key.get_secret_value()) < MIN_KEY_LENGTH:
            raise ValueError(f"STAFF_TOKEN_KEY must have at least {MIN_KEY_LENGTH} characters, or be empty")
        return key

    def client_id(self) -> str:
        return self.kafka_client_id or self.service_name
