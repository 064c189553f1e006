"""`telering-acls` / `python -m protocol.acls_cli`: create the Kafka ACLs of every role, then exit.

What compose's one-shot `acl-init` runs, logged in as a super user (the brokers run KRaft's
StandardAuthorizer): protocol/kafka_acls.py says who may do what.
"""

from __future__ import annotations

import argparse
import logging
import sys

from protocol.kafka_acls import PRODUCER, WEB_NODE, WORKER, AclError, Principals, create_acls, role_acls
from protocol.kafka_preflight import check_connection
from protocol.kafka_security import KafkaSecurityError
from protocol.settings import Settings

log = logging.getLogger("protocol.acls")


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    parser = argparse.ArgumentParser(
        prog="telering-acls",
        description="Create the Kafka ACLs of telering's roles on its topics (TELERING_TOPIC_PREFIX) and consumer "
        "groups (TELERING_APP_ID): producers may write `readings` only; workers read and write readings, the token "
        "topic, the DLQ and the alerts topic and use their groups; the web node writes the alerts topic. Connects "
        "with KAFKA_BOOTSTRAP and the KAFKA_SECURITY_PROTOCOL / KAFKA_SASL_* / KAFKA_SSL_* settings of a super user. "
        "Creating an ACL that exists changes nothing.",
    )
    parser.add_argument("--producer", default=PRODUCER, help=f"the producers' principal (default {PRODUCER})")
    parser.add_argument("--worker", default=WORKER, help=f"the workers' principal (default {WORKER})")
    parser.add_argument("--web-node", default=WEB_NODE, help=f"the web node's principal (default {WEB_NODE})")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the broker (default 60)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python's connection chatter
    principals = Principals(producer=args.producer, worker=args.worker, web_node=args.web_node)
    try:
        check_connection(settings, timeout_s=args.timeout)
        created = create_acls(settings, role_acls(settings, principals), timeout_s=args.timeout)
    except (KafkaSecurityError, AclError) as exc:
        log.error("%s", exc)
        return 2
    print(f"{created} ACLs in place for {args.producer}, {args.worker}, {args.web_node}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
