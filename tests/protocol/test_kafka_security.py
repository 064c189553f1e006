"""protocol.kafka_security: one set of settings becomes aiokafka's, kafka-python's (and, in
stream_app.app, Faust's) options; combinations that cannot work name the setting."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from kafka_local import certs
from protocol.kafka_security import KafkaSecurityError, aiokafka_options, describe, kafka_python_options
from protocol.settings import Settings


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "ca.crt"
    certs.new_ca().write_pem(path)
    return path


def settings(**values: object) -> Settings:
    return Settings(**{"KAFKA_BOOTSTRAP": "a:9093,b:9093", **values})


def test_plaintext_is_the_default_and_only_the_address(monkeypatch):
    for name in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SSL_CAFILE"):
        monkeypatch.delenv(name, raising=False)
    assert aiokafka_options(settings()) == {"bootstrap_servers": "a:9093,b:9093", "security_protocol": "PLAINTEXT"}
    assert kafka_python_options(settings())["bootstrap_servers"] == ["a:9093", "b:9093"]


def test_sasl_ssl_options_for_both_clients(ca_file: Path, tmp_path: Path):
    password = tmp_path / "pw"
    password.write_text("s3cret\n")
    s = settings(
        KAFKA_SECURITY_PROTOCOL="sasl_ssl",
        KAFKA_SASL_MECHANISM="scram-sha-512",
        KAFKA_SASL_USERNAME="telering",
        KAFKA_SASL_PASSWORD_FILE=str(password),
        KAFKA_SSL_CAFILE=str(ca_file),
    )
    for options in (aiokafka_options(s), kafka_python_options(s)):
        assert options["security_protocol"] == "SASL_SSL"
        assert options["sasl_mechanism"] == "SCRAM-SHA-512"
        assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("telering", "s3cret")
        context = options["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert "s3cret" not in describe(s) and "telering" in describe(s)


def test_client_certificate_for_ssl(ca_file: Path, tmp_path: Path):
    client = certs.issue(certs.new_ca(), ["client"], client=True)
    client.write_pem(tmp_path / "c.crt", tmp_path / "c.key")
    s = settings(
        KAFKA_SECURITY_PROTOCOL="SSL",
        KAFKA_SSL_CAFILE=str(ca_file),
        KAFKA_SSL_CERTFILE=str(tmp_path / "c.crt"),
        KAFKA_SSL_KEYFILE=str(tmp_path / "c.key"),
    )
    assert isinstance(aiokafka_options(s)["ssl_context"], ssl.SSLContext)
    assert "sasl_mechanism" not in aiokafka_options(s)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"KAFKA_SSL_CAFILE": "/x"}, "KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT"),
        ({"KAFKA_SASL_USERNAME": "u"}, "KAFKA_SASL_USERNAME is set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN"}, "needs KAFKA_SASL_USERNAME"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u"},
            "needs KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE",
        ),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "KAFKA_SASL_MECHANISM": "PLAIN",
                "KAFKA_SASL_USERNAME": "u",
                "KAFKA_SASL_PASSWORD": "p",
                "KAFKA_SASL_PASSWORD_FILE": "/p",
            },
            "not both",
        ),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "KAFKA_SASL_MECHANISM": "PLAIN",
                "KAFKA_SASL_USERNAME": "u",
                "KAFKA_SASL_PASSWORD_FILE": "/does/not/exist",
            },
            "KAFKA_SASL_PASSWORD_FILE=/does/not/exist: cannot read it",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/no/ca.crt"}, "KAFKA_SSL_CAFILE=/no/ca.crt"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEYFILE": "/k"}, "KAFKA_SSL_KEYFILE is set without"),
    ],
)
def test_unusable_combinations_name_the_setting(values: dict, named: str):
    with pytest.raises(KafkaSecurityError, match=named.replace("(", r"\(")):
        aiokafka_options(settings(**values))


def test_an_unknown_protocol_or_mechanism_is_refused_by_name():
    with pytest.raises(ValueError, match="KAFKA_SECURITY_PROTOCOL"):
        settings(KAFKA_SECURITY_PROTOCOL="TLS")
    with pytest.raises(ValueError, match="KAFKA_SASL_MECHANISM"):
        settings(KAFKA_SASL_MECHANISM="GSSAPI")
