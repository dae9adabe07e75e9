"""Settings base classes. Each service subclasses ServiceSettings with its own env prefix.

Nothing here reads the environment at import time: a service builds its settings in
`create_app` (or its CLI) and passes them down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Where spans go: nowhere (not recorded), printed, or OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT.
TraceExporter = Literal["none", "console", "otlp"]
# How the Kafka client talks to the broker (Kafka's security.protocol and sasl.mechanism).
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

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
    # PLAINTEXT (the local stack and tests), SSL (TLS), SASL_PLAINTEXT or SASL_SSL (a user and
    # password; production: SCRAM-SHA-512 over TLS on Strimzi's listener 9093). With SSL or
    # SASL_SSL the broker's certificate is checked against KAFKA_SSL_CAFILE, or the system's
    # trust store when that is empty; the host name is always checked. KAFKA_SSL_CERTFILE and
    # KAFKA_SSL_KEYFILE (both or neither) present a client certificate (mutual TLS).
    kafka_security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: KafkaSaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    # True (the local stack and tests): start-up creates the topics and dead-letter topics that
    # are missing. Production sets false: the topics are Strimzi KafkaTopics
    # (deploy/k8s/base/kafka.yaml), and start-up only checks that they all exist, failing with
    # the names of those that do not.
    kafka_create_topics: bool = True
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
    # "none" records no span (trace context is still passed on); "console" prints them
    # (development); "otlp" sends them to OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP, protobuf).
    # Any other value is refused at start-up.
    trace_exporter: TraceExporter = "none"
    # How often the sampled gauges are refreshed: consumer lag, outbox backlog and the
    # services' own queues (a query or a broker request each, so not per record).
    metrics_sample_interval_s: float = Field(default=15.0, gt=0)

    @field_validator("staff_token_key")
    @classmethod
    def _long_enough(cls, key: SecretStr) -> SecretStr:
        if key.get_secret_value() and len(key.get_secret_value()) < MIN_KEY_LENGTH:
            raise ValueError(f"STAFF_TOKEN_KEY must have at least {MIN_KEY_LENGTH} characters, or be empty")
        return key

    @model_validator(mode="after")
    def _kafka_security_consistent(self) -> ServiceSettings:
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password.get_secret_value()
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        if protocol.endswith("SSL"):
            if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
                raise ValueError(
                    "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together (mutual TLS): set both or neither"
                )
            for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
                path: Path | None = getattr(self, name)
                if path is not None and not path.is_file():
                    raise ValueError(f"{name.upper()}: no such file: {path}")
        elif any(
            p is not None for p in (self.kafka_ssl_cafile, self.kafka_ssl_certfile, self.kafka_ssl_keyfile)
        ):
            raise ValueError(f"KAFKA_SSL_* files are set but KAFKA_SECURITY_PROTOCOL={protocol} uses no TLS")
        return self

    def client_id(self) -> str:
        return self.kafka_client_id or self.service_name
