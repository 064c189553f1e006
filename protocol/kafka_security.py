"""How every telering Kafka client connects: bootstrap servers, TLS and SASL, from Settings.

One place builds the connection options, so the worker (aiokafka, Faust), the simulator and
the tools (kafka-python) can never disagree on how to reach the cluster. Settings that do not
fit together (a SASL protocol without a mechanism, a CA file for a plaintext connection, a
password both inline and in a file …) raise `KafkaSecurityError` naming the setting;
`check_connection` (kafka_preflight.py) turns a wrong password or an untrusted certificate into
the same kind of error at start-up instead of a client retrying forever.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from protocol.settings import Settings

TLS_PROTOCOLS = {"SSL", "SASL_SSL"}
SASL_PROTOCOLS = {"SASL_PLAINTEXT", "SASL_SSL"}


class KafkaSecurityError(ValueError):
    """The Kafka security settings are unusable; the message names the setting at fault."""


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaConsumer / AIOKafkaProducer / AIOKafkaAdminClient."""
    return {"bootstrap_servers": settings.kafka_bootstrap, **_security_options(settings)}


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaConsumer / KafkaProducer / KafkaAdminClient."""
    return {"bootstrap_servers": settings.kafka_bootstrap.split(","), **_security_options(settings)}


def describe(settings: Settings) -> str:
    """A log line's worth: protocol, mechanism and user (never the password)."""
    text = f"{settings.kafka_security_protocol} to {settings.kafka_bootstrap}"
    if settings.kafka_security_protocol in SASL_PROTOCOLS:
        text += f" as {settings.kafka_sasl_username!r} ({settings.kafka_sasl_mechanism})"
    return text


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """The TLS context for SSL / SASL_SSL: verifies the broker against KAFKA_SSL_CAFILE (the
    system's trust store if unset) including its host name, and presents KAFKA_SSL_CERTFILE."""
    cafile = settings.kafka_ssl_cafile
    try:
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except (OSError, ssl.SSLError) as exc:
        raise KafkaSecurityError(f"KAFKA_SSL_CAFILE={cafile}: cannot load CA certificates: {exc}") from exc
    if settings.kafka_ssl_certfile is not None:
        keyfile = settings.kafka_ssl_keyfile
        try:
            context.load_cert_chain(str(settings.kafka_ssl_certfile), str(keyfile) if keyfile else None)
        except (OSError, ssl.SSLError) as exc:
            raise KafkaSecurityError(
                f"KAFKA_SSL_CERTFILE={settings.kafka_ssl_certfile} / KAFKA_SSL_KEYFILE={keyfile}: "
                f"cannot load the client certificate: {exc}"
            ) from exc
    return context


def sasl_password(settings: Settings) -> str:
    """KAFKA_SASL_PASSWORD, or the first line of KAFKA_SASL_PASSWORD_FILE."""
    if settings.kafka_sasl_password is not None:
        return settings.kafka_sasl_password.get_secret_value()
    path = settings.kafka_sasl_password_file
    if path is None:
        raise KafkaSecurityError(
            f"KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs KAFKA_SASL_PASSWORD "
            "or KAFKA_SASL_PASSWORD_FILE"
        )
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise KafkaSecurityError(f"KAFKA_SASL_PASSWORD_FILE={path}: cannot read it: {exc.strerror or exc}") from exc
    password = text.splitlines()[0].strip() if text.strip() else ""
    if not password:
        raise KafkaSecurityError(f"KAFKA_SASL_PASSWORD_FILE={path} is empty")
    return password


def validate(settings: Settings) -> None:
    """Raise KafkaSecurityError unless the security settings fit together."""
    protocol = settings.kafka_security_protocol
    tls, sasl = protocol in TLS_PROTOCOLS, protocol in SASL_PROTOCOLS
    if not tls:
        for name, value in (
            ("KAFKA_SSL_CAFILE", settings.kafka_ssl_cafile),
            ("KAFKA_SSL_CERTFILE", settings.kafka_ssl_certfile),
            ("KAFKA_SSL_KEYFILE", settings.kafka_ssl_keyfile),
        ):
            if value is not None:
                raise KafkaSecurityError(
                    f"{name} is set but KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS (use SSL or SASL_SSL)"
                )
    if settings.kafka_ssl_keyfile is not None and settings.kafka_ssl_certfile is None:
        raise KafkaSecurityError("KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE")
    password_set = settings.kafka_sasl_password is not None or settings.kafka_sasl_password_file is not None
    if not sasl:
        for name, value in (
            ("KAFKA_SASL_MECHANISM", settings.kafka_sasl_mechanism),
            ("KAFKA_SASL_USERNAME", settings.kafka_sasl_username),
            ("KAFKA_SASL_PASSWORD", True if password_set else None),
        ):
            if value is not None:
                raise KafkaSecurityError(
                    f"{name} is set but KAFKA_SECURITY_PROTOCOL={protocol} does not use SASL "
                    "(use SASL_SSL or SASL_PLAINTEXT)"
                )
        return
    if settings.kafka_sasl_mechanism is None:
        raise KafkaSecurityError(
            f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_MECHANISM (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
        )
    if not settings.kafka_sasl_username:
        raise KafkaSecurityError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME")
    if settings.kafka_sasl_password is not None and settings.kafka_sasl_password_file is not None:
        raise KafkaSecurityError("set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both")
    if not password_set:
        raise KafkaSecurityError(
            f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE"
        )


def _security_options(settings: Settings) -> dict[str, Any]:
    """The options aiokafka and kafka-python share (same names, same meaning)."""
    validate(settings)
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in TLS_PROTOCOLS:
        options["ssl_context"] = ssl_context(settings)
    if protocol in SASL_PROTOCOLS:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = sasl_password(settings)
    return options
