"""What a SASL_SSL local broker needs: a CA and a broker keystore it makes, SCRAM users it
creates when the storage is formatted, and the client settings that reach it.

Everything lives in `<workdir>/secrets/` (files 0600), so a restarted broker, or a second
`python -m kafka_local run --secure` on the same work directory, keeps its certificate and
passwords. The broker's own inter-broker and controller listeners stay PLAINTEXT on loopback.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from kafka_local import certs

MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
CLIENT_USER = "telering"
USERS = (CLIENT_USER, "admin")
LISTENER = "SASL_SSL"
_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


@dataclass(frozen=True)
class BrokerSecurity:
    directory: Path
    passwords: dict[str, str]  # SCRAM user -> password
    keystore_password: str

    @classmethod
    def ensure(cls, directory: Path, users: tuple[str, ...] = USERS) -> BrokerSecurity:
        """Load the material of an earlier run from `directory`, making what is missing."""
        directory.mkdir(parents=True, exist_ok=True)
        ca_cert, ca_key = directory / "ca.crt", directory / "ca.key"
        if ca_cert.exists() and ca_key.exists():
            ca = certs.load(ca_cert, ca_key)
        else:
            ca = certs.new_ca("telering kafka_local CA")
            ca.write_pem(ca_cert, ca_key)
        keystore_password = _secret(directory / "keystore.password")
        keystore = directory / "broker.p12"
        if not keystore.exists():
            certs.issue(ca, ["localhost", "127.0.0.1", "::1"]).write_pkcs12(keystore, keystore_password, ca)
        passwords = {user: _secret(directory / f"{user}.password") for user in users}
        return cls(directory, passwords, keystore_password)

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca(self) -> certs.Issued:
        return certs.load(self.ca_file, self.directory / "ca.key")

    def password_file(self, user: str = CLIENT_USER) -> Path:
        return self.directory / f"{user}.password"

    def server_properties(self) -> dict[str, str]:
        """The SASL_SSL listener's TLS keystore and SCRAM mechanisms (listener names are the broker's)."""
        prefix = f"listener.name.{LISTENER.lower()}"
        props = {
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.directory / "broker.p12"),
            "ssl.keystore.password": self.keystore_password,
            "ssl.key.password": self.keystore_password,
            "ssl.client.auth": "none",
            f"{prefix}.sasl.enabled.mechanisms": ",".join(MECHANISMS),
            "sasl.enabled.mechanisms": ",".join(MECHANISMS),
        }
        for mechanism in MECHANISMS:
            props[f"{prefix}.{mechanism.lower()}.sasl.jaas.config"] = _SCRAM_LOGIN
        return props

    def format_arguments(self) -> list[str]:
        """`kafka-storage format` arguments that create every SCRAM user with both mechanisms."""
        args: list[str] = []
        for user, password in self.passwords.items():
            for mechanism in MECHANISMS:
                args += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
        return args

    def client_env(self, bootstrap: str, user: str = CLIENT_USER, mechanism: str = MECHANISMS[0]) -> dict[str, str]:
        """The environment of a telering part that connects as `user` (password by file)."""
        return {
            "KAFKA_BOOTSTRAP": bootstrap,
            "KAFKA_SECURITY_PROTOCOL": LISTENER,
            "KAFKA_SASL_MECHANISM": mechanism,
            "KAFKA_SASL_USERNAME": user,
            "KAFKA_SASL_PASSWORD_FILE": str(self.password_file(user)),
            "KAFKA_SSL_CAFILE": str(self.ca_file),
        }


def _secret(path: Path) -> str:
    """The secret kept in `path`, made (0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(24)
    certs.write_private(path, (value + "\n").encode())
    return value
