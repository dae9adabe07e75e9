"""The Kafka client's security settings: what they are checked against at start-up, and the
aiokafka arguments every client of the suite is built with (pure; the broker tests are in
test_kafka_topics_check.py)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import certifi
import pytest
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from vas_common.kafka import client_kwargs
from vas_common.settings import ServiceSettings


def _settings(**kwargs: Any) -> ServiceSettings:
    return ServiceSettings(service_name="probe", kafka_bootstrap="broker:9093", **kwargs)


def test_plaintext_by_default_with_nothing_secret() -> None:
    assert client_kwargs(_settings()) == {
        "bootstrap_servers": "broker:9093",
        "client_id": "probe",
        "security_protocol": "PLAINTEXT",
    }


def test_scram_over_tls_checks_the_broker_against_the_ca_file() -> None:
    kwargs = client_kwargs(
        _settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_username="sms-sender",
            kafka_sasl_password=SecretStr("s3cret"),
            kafka_ssl_cafile=Path(certifi.where()),
        )
    )
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "sms-sender"
    assert kwargs["sasl_plain_password"] == "s3cret"
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_tls_without_a_ca_file_uses_the_system_trust_store() -> None:
    kwargs = client_kwargs(_settings(kafka_security_protocol="SSL"))
    assert "sasl_mechanism" not in kwargs
    context = kwargs["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_sasl_without_tls_has_no_ssl_context() -> None:
    kwargs = client_kwargs(
        _settings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-256",
            kafka_sasl_username="u",
            kafka_sasl_password=SecretStr("p"),
        )
    )
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256"
    assert "ssl_context" not in kwargs


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
@pytest.mark.parametrize(("username", "password"), [("", ""), ("u", ""), ("", "p")])
def test_sasl_needs_a_username_and_a_password(protocol: str, username: str, password: str) -> None:
    with pytest.raises(ValidationError, match="needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        _settings(
            kafka_security_protocol=protocol,
            kafka_sasl_username=username,
            kafka_sasl_password=SecretStr(password),
        )


def test_unknown_protocol_and_mechanism_are_refused() -> None:
    with pytest.raises(ValidationError, match="kafka_security_protocol"):
        _settings(kafka_security_protocol="TLS")
    with pytest.raises(ValidationError, match="kafka_sasl_mechanism"):
        _settings(kafka_sasl_mechanism="GSSAPI")


def test_client_certificate_needs_its_key(tmp_path: Path) -> None:
    cert = tmp_path / "user.crt"
    cert.write_text("not read here")
    with pytest.raises(ValidationError, match="KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together"):
        _settings(kafka_security_protocol="SSL", kafka_ssl_certfile=cert)


def test_a_missing_ca_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"KAFKA_SSL_CAFILE: no such file: .*ca\.crt"):
        _settings(kafka_security_protocol="SSL", kafka_ssl_cafile=tmp_path / "ca.crt")


def test_tls_files_without_tls_are_refused() -> None:
    with pytest.raises(ValidationError, match="uses no TLS"):
        _settings(kafka_ssl_cafile=Path(certifi.where()))


def test_the_password_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROBE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("PROBE_KAFKA_SASL_USERNAME", "incident")
    monkeypatch.setenv("PROBE_KAFKA_SASL_PASSWORD", "hunter2-secret")

    class ProbeSettings(ServiceSettings):
        model_config = SettingsConfigDict(extra="ignore", env_prefix="PROBE_")

    settings = ProbeSettings()
    assert settings.kafka_sasl_password.get_secret_value() == "hunter2-secret"
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings.model_dump())
