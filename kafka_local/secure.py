"""What a SASL_SSL local broker needs: a CA and a broker keystore it makes, SCRAM users it
creates when the storage is formatted, ACLs per role, and the client settings that reach it.

Everything lives in `<workdir>/secrets/` (files 0600), so a restarted broker, or a second
`python -m kafka_local run --secure` on the same work directory, keeps its certificate and
passwords. One SCRAM user per role (protocol/kafka_acls.py): `telering` for the workers,
`simulator` for producers, `webnode` for the web node's alerts, and `admin`, a super user, for
the brokers' own traffic and for creating ACLs. The broker runs KRaft's StandardAuthorizer: a
principal may do only what an ACL allows it. The inter-broker traffic goes over the SASL_SSL
listener as `admin`, and the KRaft controller listener is SASL_SSL too (SASL/PLAIN: SCRAM
credentials live in the metadata the controller serves, so it cannot log in with them), its one
user `controller` a super user. The PLAINTEXT listener stays on loopback for the broker's
readiness probe; anyone reaching it is `User:ANONYMOUS`, whom no ACL allows anything.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from kafka_local import certs

MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
CLIENT_USER = "telering"  # the workers' (protocol/kafka_acls.py)
PRODUCER_USER = "simulator"
WEB_NODE_USER = "webnode"
ADMIN_USER = "admin"
USERS = (CLIENT_USER, PRODUCER_USER, WEB_NODE_USER, ADMIN_USER)
CONTROLLER_USER = "controller"  # SASL/PLAIN on the controller listener only
LISTENER = "SASL_SSL"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule required"
_PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule required"


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
        passwords = {user: _secret(directory / f"{user}.password") for user in (*users, CONTROLLER_USER)}
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
        """TLS, SASL and the authorizer of the SASL_SSL and CONTROLLER listeners (their names are
        the broker's; kafka_local.config adds the listeners). They hold passwords: the file they
        are written to is 0600."""
        clients, controller = f"listener.name.{LISTENER.lower()}", "listener.name.controller"
        admin, ctl = self.passwords[ADMIN_USER], self.passwords[CONTROLLER_USER]
        props = {
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.directory / "broker.p12"),
            "ssl.keystore.password": self.keystore_password,
            "ssl.key.password": self.keystore_password,
            "ssl.client.auth": "none",
            # the broker is a TLS client of itself (inter-broker, controller): it trusts its CA
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
            f"{clients}.sasl.enabled.mechanisms": ",".join(MECHANISMS),
            "sasl.enabled.mechanisms": ",".join(MECHANISMS),
            "inter.broker.listener.name": LISTENER,
            "sasl.mechanism.inter.broker.protocol": MECHANISMS[0],
            f"{controller}.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            f"{controller}.plain.sasl.jaas.config": (
                f'{_PLAIN_LOGIN} username="{CONTROLLER_USER}" password="{ctl}" user_{CONTROLLER_USER}="{ctl}";'
            ),
            "authorizer.class.name": AUTHORIZER,
            "super.users": f"User:{ADMIN_USER};User:{CONTROLLER_USER}",
            "allow.everyone.if.no.acl.found": "false",
        }
        for mechanism in MECHANISMS:  # the broker logs in as admin to its own listener
            props[f"{clients}.{mechanism.lower()}.sasl.jaas.config"] = (
                f'{_SCRAM_LOGIN} username="{ADMIN_USER}" password="{admin}";'
            )
        return props

    def format_arguments(self) -> list[str]:
        """`kafka-storage format` arguments that create every SCRAM user with both mechanisms: they
        hold passwords, so they go to the JVM in an argument file, never on a command line."""
        args: list[str] = []
        for user, password in self.passwords.items():
            if user == CONTROLLER_USER:
                continue
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
