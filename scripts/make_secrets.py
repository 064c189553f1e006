"""Make the secrets of the compose deployment in compose/secrets/ (git-ignored), in order:
a CA, a keystore per Kafka broker, the brokers' SASL users (one per role: `admin` for the
brokers and ACLs, `telering` for the workers, `simulator` for producers, `webnode` for the web
node's alerts; protocol/kafka_acls.py), the web node's certificate, the
grant key, the PostgreSQL password and a first reader token (printed once, as the last line).

`python scripts/make_secrets.py [--dir compose/secrets] [--host NAME]...` (or `make secrets`).
Files that exist are kept: run it again after adding a `--host` and only what is missing is
made (delete a file to make it anew). See compose/secrets/README.md for what each file is.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from kafka_local import certs
from protocol import reader_tokens
from protocol.keys import add_key

BROKERS = ("kafka", "kafka-2", "kafka-3")
READER = "dashboard"
# Read by the apache/kafka image, which runs as its own user (appuser): world-readable files in
# a directory only the owner can enter (the container sees the single file, never the folder).
_KAFKA_IMAGE_FILE = 0o644


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make_secrets", description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("compose/secrets"), help="where (default compose/secrets)")
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        help="another name or address the brokers' EXTERNAL listener and the web node are reached by "
        "(KAFKA_EXTERNAL_HOST; repeat for several; 127.0.0.1 and localhost are always included)",
    )
    args = parser.parse_args(argv)
    out: Path = args.dir
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    hosts = ["localhost", "127.0.0.1", *args.host]

    ca = _ca(out)
    keystore_password = _secret(out / "kafka_keystore_password", _KAFKA_IMAGE_FILE)
    for broker in BROKERS:
        path = out / f"{broker}.keystore.p12"
        if not path.exists():
            certs.issue(ca, [broker, *hosts]).write_pkcs12(path, keystore_password, ca)
            os.chmod(path, _KAFKA_IMAGE_FILE)
    admin = _secret(out / "kafka_admin_password", 0o600)
    users = {
        "telering": _secret(out / "kafka_password", 0o600),
        "simulator": _secret(out / "kafka_simulator_password", 0o600),
        "webnode": _secret(out / "kafka_web_node_password", 0o600),
    }
    _write(out / "kafka_jaas.conf", _jaas(admin, users), _KAFKA_IMAGE_FILE)
    _write(out / "kafka_client.properties", _client_properties(admin), _KAFKA_IMAGE_FILE)
    if not (out / "web-node.crt").exists():
        certs.issue(ca, ["web-node", *hosts]).write_pem(out / "web-node.crt", out / "web-node.key")
    if not (out / "telering.keys").exists():
        add_key(out / "telering.keys")
    _secret(out / "postgres_password", 0o600)
    readers_file = out / "telering.readers"
    if readers_file.exists() and READER in reader_tokens.read_readers(readers_file):
        print(f"{out}: complete; reader {READER!r} exists (`telering-keys reader new --file {readers_file}` for more)")
        return 0
    token = reader_tokens.add_reader(readers_file, READER)
    print(f"{out}: complete. The reader token of {READER!r} (TELERING_READER_TOKEN), shown only now:")
    print(token)
    return 0


def _ca(out: Path) -> certs.Issued:
    cert, key = out / "ca.crt", out / "ca.key"
    if cert.exists() and key.exists():
        return certs.load(cert, key)
    ca = certs.new_ca("telering deployment CA")
    ca.write_pem(cert, key)  # ca.key signs; it is mounted nowhere
    return ca


def _secret(path: Path, mode: int) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(24)
    _write(path, value + "\n", mode)
    return value


def _write(path: Path, text: str, mode: int) -> None:
    if path.exists():
        return
    certs.write_private(path, text.encode())
    os.chmod(path, mode)


def _jaas(admin: str, users: dict[str, str]) -> str:
    """The brokers' SASL/PLAIN users (the apache/kafka image's KAFKA_OPTS convention): `admin`
    (the one super user) between the brokers, to the controllers, for the health check and
    acl-init; one user per telering role, each allowed only its ACLs."""
    lines = [f'    user_{name}="{password}"' for name, password in {"admin": admin, **users}.items()]
    return (
        "KafkaServer {\n"
        "    org.apache.kafka.common.security.plain.PlainLoginModule required\n"
        f'    username="admin" password="{admin}"\n' + "\n".join(lines) + ";\n};\n"
    )


def _client_properties(admin: str) -> str:
    """For the brokers' health check (kafka-broker-api-versions.sh --command-config)."""
    return (
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="admin" password="{admin}";\n'
        "ssl.truststore.type=PEM\n"
        "ssl.truststore.location=/etc/kafka/secrets/ca.crt\n"
    )


if __name__ == "__main__":
    sys.exit(main())
