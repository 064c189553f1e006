"""One typed settings object, read from the environment at each part's edge."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocol.durations import DurationError, parse_duration


class Settings(BaseSettings):
    """Configuration shared by every part; field names map to DESIGN.md's env vars."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", populate_by_name=True)

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP")
    database_url: str = Field(default="sqlite+aiosqlite:///telering.db", validation_alias="DATABASE_URL")
    telering_keys_file: Path = Field(default=Path("telering.keys"), validation_alias="TELERING_KEYS_FILE")
    telering_grant_keys: SecretStr | None = Field(default=None, validation_alias="TELERING_GRANT_KEYS")
    web_node_host: str = Field(default="127.0.0.1", validation_alias="WEB_NODE_HOST")
    web_node_port: int = Field(default=8080, ge=0, le=65535, validation_alias="WEB_NODE_PORT")
    web_node_url: str = Field(default="http://127.0.0.1:8080", validation_alias="WEB_NODE_URL")
    readings_partitions: int = Field(default=4, ge=1, le=1024, validation_alias="READINGS_PARTITIONS")
    grant_ttl_s: float = Field(default=5.0, gt=0, le=600, validation_alias="GRANT_TTL_S")

    # Beyond DESIGN.md's table: names that let tests and several deployments share a broker.
    telering_topic_prefix: str = Field(default="", validation_alias="TELERING_TOPIC_PREFIX")
    telering_app_id: str = Field(default="telering", validation_alias="TELERING_APP_ID")
    batch_max_readings: int = Field(default=5000, ge=1, le=100_000, validation_alias="BATCH_MAX_READINGS")
    receiver_buffer_max: int = Field(default=50_000, ge=1, validation_alias="RECEIVER_BUFFER_MAX")
    topic_replication: int = Field(default=1, ge=1, le=5, validation_alias="TOPIC_REPLICATION")
    web_node_check_partition: bool = Field(default=True, validation_alias="WEB_NODE_CHECK_PARTITION")
    # a connection whose request headers are not complete this long after it opened (or after the
    # previous answer on it) is closed: a client cannot hold a socket by never finishing a request
    web_node_header_timeout_s: float = Field(default=10.0, gt=0, le=3600, validation_alias="WEB_NODE_HEADER_TIMEOUT_S")
    # how many processes serve the web node's port (web_node/processes.py): `auto` = one per core
    web_node_processes: int | Literal["auto"] = Field(default="auto", validation_alias="WEB_NODE_PROCESSES")
    # live WebSockets open at once, per reader token (per client address when reads are open) and in
    # all, counted across the web node's processes: more are refused 429 before the upgrade
    web_node_live_max_per_reader: int = Field(default=20, ge=1, validation_alias="WEB_NODE_LIVE_MAX_PER_READER")
    web_node_live_max: int = Field(default=500, ge=1, validation_alias="WEB_NODE_LIVE_MAX")
    # a read statement running longer is ended with 503 `query_timeout` (web_node/read/queries.py)
    web_node_statement_timeout_s: float = Field(
        default=10.0, gt=0, le=3600, validation_alias="WEB_NODE_STATEMENT_TIMEOUT_S"
    )
    # The worker's own web server (Faust's): GET /healthz and /metrics. Port unset: the first free
    # one from 6066 up (stream_app/web_port.py), so several workers share a host and an environment.
    worker_web_host: str = Field(default="127.0.0.1", validation_alias="WORKER_WEB_HOST")
    worker_web_port: int | None = Field(default=None, ge=1, le=65535, validation_alias="WORKER_WEB_PORT")

    # Kafka connection security (protocol/kafka_security.py turns these into client options).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, validation_alias="KAFKA_SASL_MECHANISM"
    )
    kafka_sasl_username: str | None = Field(default=None, validation_alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password: SecretStr | None = Field(default=None, validation_alias="KAFKA_SASL_PASSWORD")
    kafka_sasl_password_file: Path | None = Field(default=None, validation_alias="KAFKA_SASL_PASSWORD_FILE")
    kafka_ssl_cafile: Path | None = Field(default=None, validation_alias="KAFKA_SSL_CAFILE")
    kafka_ssl_certfile: Path | None = Field(default=None, validation_alias="KAFKA_SSL_CERTFILE")
    kafka_ssl_keyfile: Path | None = Field(default=None, validation_alias="KAFKA_SSL_KEYFILE")

    # The web node over HTTPS, and who may read from it (web_node/tls.py, web_node/auth.py).
    web_node_tls_cert: Path | None = Field(default=None, validation_alias="WEB_NODE_TLS_CERT")
    web_node_tls_key: Path | None = Field(default=None, validation_alias="WEB_NODE_TLS_KEY")
    web_node_ca_file: Path | None = Field(default=None, validation_alias="WEB_NODE_CA_FILE")
    telering_readers_file: Path = Field(default=Path("telering.readers"), validation_alias="TELERING_READERS_FILE")
    # None: `required` unless WEB_NODE_HOST is a loopback address (see `read_auth_required`)
    web_node_read_auth: Literal["required", "off"] | None = Field(default=None, validation_alias="WEB_NODE_READ_AUTH")
    web_node_metrics_auth: Literal["required", "off"] | None = Field(
        default=None, validation_alias="WEB_NODE_METRICS_AUTH"
    )
    telering_reader_token: SecretStr | None = Field(default=None, validation_alias="TELERING_READER_TOKEN")
    # What the web node answers besides its own names (web_node/guards.py): comma-separated host
    # names (any port), and the origins WebSockets may come from (unset: its own); `*` for any.
    web_node_allowed_hosts: str | None = Field(default=None, validation_alias="WEB_NODE_ALLOWED_HOSTS")
    web_node_allowed_origins: str | None = Field(default=None, validation_alias="WEB_NODE_ALLOWED_ORIGINS")

    # How long the web node keeps data (web_node/retention.py), in seconds; the variables take
    # durations (protocol/durations.py: 300, 90s, 30m, 36h, 7d).
    telering_retention_raw: float = Field(default=7 * 86_400.0, gt=0, validation_alias="TELERING_RETENTION_RAW")
    telering_retention_rollups: float = Field(
        default=400 * 86_400.0, gt=0, validation_alias="TELERING_RETENTION_ROLLUPS"
    )
    # how often expired rows are looked for: at least once a minute
    telering_retention_interval: float = Field(
        default=60.0, gt=0, le=60.0, validation_alias="TELERING_RETENTION_INTERVAL"
    )

    # Alerting (web_node/alerts): the rules file (unset: no alerting), where notifications go.
    telering_alert_rules: Path | None = Field(default=None, validation_alias="TELERING_ALERT_RULES")
    telering_alertmanager_url: str | None = Field(default=None, validation_alias="TELERING_ALERTMANAGER_URL")
    # publish transitions to the `telering-alerts` topic (off: only REST, live and Alertmanager)
    telering_alerts_kafka: bool = Field(default=True, validation_alias="TELERING_ALERTS_KAFKA")
    # how often a firing alert is re-sent to Alertmanager (seconds, or a duration)
    telering_alertmanager_interval: float = Field(
        default=60.0, gt=0, le=600, validation_alias="TELERING_ALERTMANAGER_INTERVAL"
    )

    @field_validator(
        "telering_retention_raw",
        "telering_retention_rollups",
        "telering_retention_interval",
        "telering_alertmanager_interval",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        try:
            return parse_duration(value.strip())
        except DurationError as exc:
            variable = cls.model_fields[info.field_name].validation_alias
            raise ValueError(f"{variable}: {exc}") from None

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("web_node_processes", mode="before")
    @classmethod
    def _processes(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        count = int(value) if isinstance(value, str) and value.strip().isdigit() else value
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 256:
            raise ValueError("WEB_NODE_PROCESSES: `auto` (one per core) or a whole number from 1 to 256")
        return count

    @field_validator("web_node_read_auth", "web_node_metrics_auth", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator(
        "kafka_sasl_mechanism",
        "kafka_sasl_username",
        "kafka_sasl_password_file",
        "kafka_ssl_cafile",
        "kafka_ssl_certfile",
        "kafka_ssl_keyfile",
        "web_node_tls_cert",
        "web_node_tls_key",
        "web_node_ca_file",
        "web_node_read_auth",
        "web_node_metrics_auth",
        "telering_alert_rules",
        "telering_alertmanager_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # compose files and shells pass unset knobs as empty strings
        return None if value == "" else value

    @field_validator("web_node_allowed_hosts", "web_node_allowed_origins", mode="before")
    @classmethod
    def _name_list(cls, value: object, info: ValidationInfo) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            return value
        origins = info.field_name == "web_node_allowed_origins"
        for entry in (e.strip() for e in value.split(",") if e.strip()):
            if entry != "*" and not (_is_origin(entry) if origins else _is_host_name(entry)):
                variable = cls.model_fields[info.field_name].validation_alias
                shape = "an origin, scheme://host[:port]" if origins else "a host name or address, without a port"
                raise ValueError(f"{variable}: {entry!r} is not {shape} (or `*` for any)")
        return value

    @property
    def process_count(self) -> int:
        """WEB_NODE_PROCESSES as a number: `auto` is the cores this process may run on."""
        if self.web_node_processes != "auto":
            return self.web_node_processes
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    @property
    def read_auth_required(self) -> bool:
        """Whether reads need a reader token: WEB_NODE_READ_AUTH, else `required` off loopback."""
        if self.web_node_read_auth is not None:
            return self.web_node_read_auth == "required"
        return not is_loopback(self.web_node_host)

    @property
    def metrics_auth_required(self) -> bool:
        """Whether /metrics needs a reader token: WEB_NODE_METRICS_AUTH, else as reads."""
        if self.web_node_metrics_auth is not None:
            return self.web_node_metrics_auth == "required"
        return self.read_auth_required


def is_loopback(host: str) -> bool:
    """`127.0.0.1`, `::1`, `localhost`: an address only this machine reaches."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_.])?)(?::([0-9]{1,5}))?")


def split_host(value: str) -> tuple[str, int | None] | None:
    """`(host, port)` of a Host header (`name`, `name:port`, `[v6]:port`) or a bind address
    (also a bare `::1`); the host in lower case, an IP address in its short form without
    brackets, a name without its final dot. None if it is no such thing (`a@b`, `a/b`, `x:y`)."""
    value = value.strip().lower()
    try:
        return str(ipaddress.IPv6Address(value)), None  # a bare IPv6 address: `::`, `::1`
    except ValueError:
        pass
    match = _HOST.fullmatch(value)
    if match is None or (match.group(2) is not None and int(match.group(2)) > 65535):
        return None
    host = match.group(1)
    if host.startswith("["):
        try:
            host = str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            return None
    else:
        host = host.rstrip(".")
    return host, int(match.group(2)) if match.group(2) is not None else None


def _is_host_name(entry: str) -> bool:
    parsed = split_host(entry)
    return parsed is not None and parsed[1] is None


def _is_origin(entry: str) -> bool:
    scheme, sep, rest = entry.lower().partition("://")
    return bool(sep) and scheme in ("http", "https") and split_host(rest) is not None
