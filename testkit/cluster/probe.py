"""The Kafka image's `kafka-broker-api-versions.sh --bootstrap-server B --command-config F` as a
health probe: an ApiVersions round trip with F's client settings (security.protocol,
sasl.mechanism, the JAAS user, a PEM truststore), by kafka-python. Exit 0 if the broker answers.

`python testkit/cluster/probe.py broker-api-versions --bootstrap-server localhost:9092 --command-config F`
(run inside the broker's namespace, like the compose health check). TLR_HOST_ROOT: the host's
file system root, where absolute paths inside F are looked up first.
"""

from __future__ import annotations

import argparse
import os
import re
import ssl
import sys
from pathlib import Path


def _properties(path: Path) -> dict[str, str]:
    props = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


def _local(path: str) -> str:
    root = os.environ.get("TLR_HOST_ROOT")
    if root and path.startswith("/") and (Path(root) / path.lstrip("/")).exists():
        return str(Path(root) / path.lstrip("/"))
    return path


def options(props: dict[str, str]) -> dict:
    """kafka-python options for a Java client's properties."""
    protocol = props.get("security.protocol", "PLAINTEXT")
    opts: dict = {"security_protocol": protocol}
    if "SSL" in protocol:
        context = ssl.create_default_context(cafile=_local(props["ssl.truststore.location"]))
        opts["ssl_context"] = context
    if protocol.startswith("SASL"):
        jaas = props.get("sasl.jaas.config", "")
        user = re.search(r'username="([^"]*)"', jaas)
        password = re.search(r'password="([^"]*)"', jaas)
        opts.update(
            sasl_mechanism=props.get("sasl.mechanism", "GSSAPI"),
            sasl_plain_username=user.group(1) if user else None,
            sasl_plain_password=password.group(1) if password else None,
        )
    return opts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="testkit.cluster.probe", description=__doc__)
    parser.add_argument("tool", choices=["broker-api-versions"])
    parser.add_argument("--bootstrap-server", required=True)
    parser.add_argument("--command-config", type=Path)
    args = parser.parse_args(argv)
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    props = _properties(args.command_config) if args.command_config else {}
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=args.bootstrap_server,
            request_timeout_ms=10_000,
            **options(props),
        )
    except (KafkaError, OSError, ssl.SSLError) as exc:
        print(f"{args.bootstrap_server}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    try:  # the client negotiated API versions on connect; the metadata answer proves the broker serves
        brokers = admin.describe_cluster().get("brokers", [])
    except KafkaError as exc:
        print(f"{args.bootstrap_server}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        admin.close()
    print(f"{args.bootstrap_server}: answers, {len(brokers)} broker(s) in the cluster")
    return 0 if brokers else 1


if __name__ == "__main__":
    sys.exit(main())
