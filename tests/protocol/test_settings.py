"""Settings: the environment names and defaults of DESIGN.md's configuration table."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from protocol.settings import Settings

ENV_NAMES = [
    "KAFKA_BOOTSTRAP",
    "DATABASE_URL",
    "TELERING_KEYS_FILE",
    "TELERING_GRANT_KEYS",
    "WEB_NODE_HOST",
    "WEB_NODE_PORT",
    "WEB_NODE_URL",
    "READINGS_PARTITIONS",
    "GRANT_TTL_S",
    "TELERING_TOPIC_PREFIX",
    "TELERING_APP_ID",
    "BATCH_MAX_READINGS",
    "RECEIVER_BUFFER_MAX",
    "TOPIC_REPLICATION",
    "WEB_NODE_CHECK_PARTITION",
    "WEB_NODE_HEADER_TIMEOUT_S",
    "WEB_NODE_STATEMENT_TIMEOUT_S",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SASL_USERNAME",
    "KAFKA_SASL_PASSWORD",
    "KAFKA_SASL_PASSWORD_FILE",
    "KAFKA_SSL_CAFILE",
    "KAFKA_SSL_CERTFILE",
    "KAFKA_SSL_KEYFILE",
    "WEB_NODE_TLS_CERT",
    "WEB_NODE_TLS_KEY",
    "WEB_NODE_CA_FILE",
    "TELERING_READERS_FILE",
    "WEB_NODE_READ_AUTH",
    "WEB_NODE_METRICS_AUTH",
    "TELERING_READER_TOKEN",
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_defaults_match_the_design(clean_env: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.database_url == "sqlite+aiosqlite:///telering.db"
    assert s.telering_keys_file == Path("telering.keys")
    assert s.telering_grant_keys is None
    assert (s.web_node_host, s.web_node_port) == ("127.0.0.1", 8080)
    assert s.web_node_url == "http://127.0.0.1:8080"
    assert s.readings_partitions == 4
    assert s.grant_ttl_s == 5.0
    assert s.telering_topic_prefix == ""


def test_reads_the_design_env_names(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    values = {
        "KAFKA_BOOTSTRAP": "broker-a:9092,broker-b:9092",
        "DATABASE_URL": "postgresql+asyncpg://u@h/db",
        "TELERING_KEYS_FILE": str(tmp_path / "k.keys"),
        "TELERING_GRANT_KEYS": "k1,k2",
        "WEB_NODE_HOST": "0.0.0.0",
        "WEB_NODE_PORT": "9000",
        "WEB_NODE_URL": "http://web:9000",
        "READINGS_PARTITIONS": "8",
        "GRANT_TTL_S": "2.5",
        "TELERING_TOPIC_PREFIX": "t1-",
    }
    for name, value in values.items():
        clean_env.setenv(name, value)
    s = Settings()
    assert s.kafka_bootstrap == "broker-a:9092,broker-b:9092"
    assert s.database_url == "postgresql+asyncpg://u@h/db"
    assert s.telering_keys_file == tmp_path / "k.keys"
    assert s.telering_grant_keys is not None and s.telering_grant_keys.get_secret_value() == "k1,k2"
    assert (s.web_node_host, s.web_node_port, s.web_node_url) == ("0.0.0.0", 9000, "http://web:9000")
    assert (s.readings_partitions, s.grant_ttl_s, s.telering_topic_prefix) == (8, 2.5, "t1-")


def test_env_names_are_case_insensitive(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("kafka_bootstrap", "lower:1")
    assert Settings().kafka_bootstrap == "lower:1"


def test_grant_keys_are_secret_in_repr(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TELERING_GRANT_KEYS", "very-secret-key")
    s = Settings()
    assert "very-secret-key" not in repr(s) and "very-secret-key" not in str(s.model_dump())


def test_explicit_values_beat_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("KAFKA_BOOTSTRAP", "env:1")
    assert Settings(kafka_bootstrap="given:2").kafka_bootstrap == "given:2"


@pytest.mark.parametrize(
    ("name", "value"),
    [("WEB_NODE_PORT", "70000"), ("WEB_NODE_PORT", "http"), ("READINGS_PARTITIONS", "0"), ("GRANT_TTL_S", "0")],
)
def test_bad_values_name_the_variable(clean_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError, match=name):
        Settings()


def test_security_names_and_defaults(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = Settings()
    assert (s.kafka_security_protocol, s.kafka_sasl_mechanism, s.kafka_ssl_cafile) == ("PLAINTEXT", None, None)
    assert s.telering_readers_file == Path("telering.readers") and s.web_node_read_auth is None
    assert not s.read_auth_required and not s.metrics_auth_required  # loopback: the demo stays open
    clean_env.setenv("WEB_NODE_HOST", "0.0.0.0")
    assert Settings().read_auth_required and Settings().metrics_auth_required
    clean_env.setenv("WEB_NODE_METRICS_AUTH", "off")
    clean_env.setenv("KAFKA_SECURITY_PROTOCOL", "sasl_ssl")
    clean_env.setenv("KAFKA_SASL_MECHANISM", "scram-sha-256")
    clean_env.setenv("KAFKA_SSL_CAFILE", str(tmp_path / "ca.crt"))
    clean_env.setenv("WEB_NODE_TLS_CERT", "")  # compose passes unset knobs as empty strings
    s = Settings()
    assert s.read_auth_required and not s.metrics_auth_required
    assert (s.kafka_security_protocol, s.kafka_sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-256")
    assert s.kafka_ssl_cafile == tmp_path / "ca.crt" and s.web_node_tls_cert is None
    for host, loopback in (("127.0.0.1", True), ("::1", True), ("localhost", True), ("10.0.0.5", False)):
        clean_env.setenv("WEB_NODE_HOST", host)
        clean_env.delenv("WEB_NODE_READ_AUTH", raising=False)
        assert Settings().read_auth_required is not loopback, host


def test_every_field_is_named_after_its_variable():
    """`settings.telering_topic_prefix` reads TELERING_TOPIC_PREFIX: no field drifts from its variable."""
    drifted = {
        name: field.validation_alias
        for name, field in Settings.model_fields.items()
        if name.upper() != field.validation_alias
    }
    assert drifted == {}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WEB_NODE_ALLOWED_HOSTS", "web-node:8080"),
        ("WEB_NODE_ALLOWED_HOSTS", "a@b"),
        ("WEB_NODE_ALLOWED_HOSTS", "http://web-node"),
        ("WEB_NODE_ALLOWED_ORIGINS", "dash.example"),
        ("WEB_NODE_ALLOWED_ORIGINS", "ftp://dash.example"),
    ],
)
def test_a_malformed_host_or_origin_list_is_an_error_naming_the_variable(variable, value):
    with pytest.raises(ValidationError) as info:
        Settings(**{variable: value})
    assert variable in str(info.value) and repr(value.split(",")[0]) in str(info.value)


def test_host_lists_accept_names_addresses_and_any():
    settings = Settings(WEB_NODE_ALLOWED_HOSTS="web-node, telering.example.,[::1],10.0.0.5,*")
    assert settings.web_node_allowed_hosts is not None
    assert Settings(WEB_NODE_ALLOWED_HOSTS="").web_node_allowed_hosts is None  # compose's unset
    assert Settings(WEB_NODE_ALLOWED_ORIGINS="https://dash.example:8443,http://[::1]:8080").web_node_allowed_origins
