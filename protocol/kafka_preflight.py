"""A start-up check of the Kafka connection: TLS trust and SASL credentials, with clear errors.

Kafka clients treat a refused password or an untrusted broker certificate like a broker that is
not up yet: they log, back off and retry for ever ("Unable to bootstrap"). Every telering part
that talks to a secured cluster calls `check_connection` first, which opens one connection with
the same options (aiokafka's connection, imported only when called) and raises
`KafkaSecurityError` naming the setting at fault. A broker that cannot be reached yet is retried
until the deadline. PLAINTEXT needs no check: there is nothing to get wrong but the address.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time

from protocol.kafka_security import KafkaSecurityError, aiokafka_options, describe
from protocol.settings import Settings

log = logging.getLogger(__name__)

RETRY_S = 0.5


def check_connection(settings: Settings, timeout_s: float = 30.0) -> None:
    """Blocking form of `check_connection_async` (for the simulator and the tools)."""
    asyncio.run(check_connection_async(settings, timeout_s))


async def check_connection_async(settings: Settings, timeout_s: float = 30.0) -> None:
    """Connect and authenticate once to a bootstrap broker; KafkaSecurityError if the broker
    refuses the credentials or its certificate, or if none answers within `timeout_s`."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return
    from aiokafka.conn import create_conn  # not at import: protocol stays cheap to import
    from aiokafka.errors import KafkaError, SaslAuthenticationFailed, UnsupportedSaslMechanismError

    options = aiokafka_options(settings)
    addresses = [_host_port(a) for a in options.pop("bootstrap_servers").split(",") if a.strip()]
    deadline = time.monotonic() + timeout_s
    last_error = "no address"
    while True:
        for host, port in addresses:
            try:
                conn = await create_conn(host, port, request_timeout_ms=10_000, **options)
            except ssl.SSLCertVerificationError as exc:
                raise KafkaSecurityError(_untrusted(settings, host, port, exc)) from None
            except ssl.SSLError as exc:
                raise KafkaSecurityError(
                    f"KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol}: the TLS handshake with "
                    f"{host}:{port} failed ({exc.reason or exc}); is that a TLS listener?"
                ) from None
            except SaslAuthenticationFailed as exc:
                raise KafkaSecurityError(
                    f"KAFKA_SASL_USERNAME={settings.kafka_sasl_username!r} / {_password_source(settings)}: the broker "
                    f"at {host}:{port} refused these credentials ({settings.kafka_sasl_mechanism}): {exc}"
                ) from None
            except UnsupportedSaslMechanismError as exc:
                raise KafkaSecurityError(
                    f"KAFKA_SASL_MECHANISM={settings.kafka_sasl_mechanism}: the broker at {host}:{port} "
                    f"does not offer it: {exc}"
                ) from None
            except (OSError, KafkaError, TimeoutError) as exc:
                last_error = f"{host}:{port}: {type(exc).__name__}: {exc}"
                continue
            conn.close()
            log.info("Kafka connection checked: %s", describe(settings))
            return
        if time.monotonic() >= deadline:
            raise KafkaSecurityError(
                f"no Kafka broker answered at KAFKA_BOOTSTRAP={settings.kafka_bootstrap} within "
                f"{timeout_s:g} s ({last_error})"
            )
        await asyncio.sleep(RETRY_S)  # the broker may still be starting: poll until the deadline


def _untrusted(settings: Settings, host: str, port: int, exc: ssl.SSLCertVerificationError) -> str:
    source = (
        f"KAFKA_SSL_CAFILE={settings.kafka_ssl_cafile}"
        if settings.kafka_ssl_cafile
        else "KAFKA_SSL_CAFILE (unset: the system's trust store)"
    )
    return f"{source}: the certificate of the broker at {host}:{port} is not trusted: {exc.verify_message or exc}"


def _password_source(settings: Settings) -> str:
    if settings.kafka_sasl_password is None and settings.kafka_sasl_password_file is not None:
        return f"KAFKA_SASL_PASSWORD_FILE={settings.kafka_sasl_password_file}"
    return "KAFKA_SASL_PASSWORD"


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)
