"""``telering-kafka``: fetch the broker's jars, or run a local broker until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

from kafka_local.broker import BrokerError, LocalKafka
from kafka_local.jars import KAFKA_VERSION, JarsError, resolve
from kafka_local.secure import PRODUCER_USER, WEB_NODE_USER
from protocol.kafka_acls import AclError
from protocol.settings import Settings

log = logging.getLogger("kafka_local")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telering-kafka",
        description=f"Run a local single-node Apache Kafka broker (KRaft): {KAFKA_VERSION} unless "
        "KAFKA_VERSION names another 3.x.y or 4.x.y release (e.g. 3.9.1). "
        "Jars come from $KAFKA_HOME/libs, or are fetched once through Maven into "
        "$TELERING_KAFKA_CACHE/kafka-<version>/lib (default: .cache/ of the checkout).",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="level of this launcher's own log (default: INFO)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="only resolve/fetch the broker jars and print their directory")
    run = sub.add_parser(
        "run", help="start a broker, print KAFKA_BOOTSTRAP=..., run until SIGINT/SIGTERM, then stop it cleanly"
    )
    run.add_argument(
        "--workdir",
        type=Path,
        default=Path(".cache/kafka-data"),
        help="config, data and broker.log live here (default: .cache/kafka-data)",
    )
    run.add_argument(
        "--port", type=int, default=None, help="client (PLAINTEXT) port on 127.0.0.1 (default: a free port)"
    )
    run.add_argument(
        "--controller-port", type=int, default=None, help="KRaft controller port on 127.0.0.1 (default: a free port)"
    )
    run.add_argument("--heap", default="512m", help="JVM heap size (default: 512m)")
    run.add_argument(
        "--secure",
        action="store_true",
        help="also listen on SASL_SSL (a CA and certificate made in WORKDIR/secrets; SCRAM-SHA-512/256 users "
        "`telering` (workers), `simulator` (producers), `webnode` and `admin` created at format time, their "
        "passwords in WORKDIR/secrets/<user>.password), run KRaft's StandardAuthorizer with ACLs per role for "
        "TELERING_TOPIC_PREFIX / TELERING_APP_ID, and print the workers' client settings; the controller "
        "listener is SASL_SSL too, and the PLAINTEXT listener stays for the readiness probe (its anonymous "
        "users may do nothing)",
    )
    run.add_argument(
        "--secure-port",
        type=int,
        default=None,
        help="client (SASL_SSL) port on 127.0.0.1 with --secure (default: free)",
    )
    run.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait for the broker to answer (default: 90)"
    )
    return parser


def _fetch() -> int:
    print(resolve().lib)
    return 0


def _run(args: argparse.Namespace) -> int:
    # SIGINT and SIGTERM both raise KeyboardInterrupt and end in the same clean stop below
    # (set SIGINT explicitly: a shell starts background jobs with it ignored).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    broker = LocalKafka(
        args.workdir,
        port=args.port,
        controller_port=args.controller_port,
        heap=args.heap,
        security="SASL_SSL" if args.secure else "PLAINTEXT",
        secure_port=args.secure_port,
    )
    try:
        broker.start(args.timeout)
        if broker.security is not None:
            # ACLs per role for the deployment this environment names (TELERING_TOPIC_PREFIX, TELERING_APP_ID)
            broker.grant_roles(Settings())
            for user in (PRODUCER_USER, WEB_NODE_USER):
                log.info(
                    "  %s's login: KAFKA_SASL_USERNAME=%s KAFKA_SASL_PASSWORD_FILE=%s",
                    user,
                    user,
                    broker.security.password_file(user),
                )
        # the lines a client's environment needs (passwords by file, never printed): the workers' login
        for name, value in broker.client_env().items():
            print(f"{name}={value}", flush=True)
        rc = broker.wait()
        log.error("Kafka broker exited on its own (code %s); see %s:\n%s", rc, broker.log_path, broker.log_tail())
        return 1
    except KeyboardInterrupt:
        log.info("Stopping Kafka broker at %s", broker.bootstrap)
        return 0
    finally:
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(max(logging.WARNING, log.getEffectiveLevel()))
    try:
        return _fetch() if args.command == "fetch" else _run(args)
    except (JarsError, BrokerError, AclError) as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
