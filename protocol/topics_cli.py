"""`telering-topics` / `python -m protocol.topics_cli`: create telering's topics, then exit.

What compose's one-shot `topic-init` runs; the worker and the simulator make the same topics
through the same function (protocol.topic_admin.ensure_topics) if they are missing.
"""

from __future__ import annotations

import argparse
import logging
import sys

from protocol.kafka_preflight import check_connection
from protocol.kafka_security import KafkaSecurityError
from protocol.settings import Settings
from protocol.topic_admin import TopicAdminError, ensure_topics, telering_topics

log = logging.getLogger("protocol.topics")


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    parser = argparse.ArgumentParser(
        prog="telering-topics",
        description="Create telering's topics (readings, telering-token, readings-dlq, telering-alerts) unless "
        "they exist: "
        "READINGS_PARTITIONS partitions of readings, TOPIC_REPLICATION copies (and min.insync.replicas a majority "
        "of them), the token topic's retention. Connects with KAFKA_BOOTSTRAP and the KAFKA_SECURITY_PROTOCOL / "
        "KAFKA_SASL_* / KAFKA_SSL_* settings; TELERING_TOPIC_PREFIX prefixes the names.",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the broker and the topics (default 60)"
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python's connection chatter
    try:
        check_connection(settings, timeout_s=args.timeout)
        created = ensure_topics(settings, timeout_s=args.timeout)
    except (KafkaSecurityError, TopicAdminError) as exc:
        log.error("%s", exc)
        return 2
    for spec in telering_topics(settings):
        state = "created" if spec.name in created else "exists"
        print(f"{spec.name}: {state} ({spec.partitions} partition(s), replication {spec.replication})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
