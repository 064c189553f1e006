"""`python -m stream_app`: run a worker (same as `faust -A stream_app.app worker -l info`)."""

from __future__ import annotations

import argparse
import logging
import sys

from protocol.kafka_security import KafkaSecurityError, validate
from protocol.keys import KeysMissing, load_keys
from protocol.settings import Settings
from stream_app.web_port import WebPortError, check_explicit_port

log = logging.getLogger("stream_app")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stream_app",
        description="telering worker: receivers take turns writing to the web node through a signed token. "
        "Configured by KAFKA_BOOTSTRAP, WEB_NODE_URL, TELERING_KEYS_FILE/TELERING_GRANT_KEYS, "
        "READINGS_PARTITIONS, GRANT_TTL_S, BATCH_MAX_READINGS, RECEIVER_BUFFER_MAX, TELERING_TOPIC_PREFIX, "
        "TELERING_APP_ID; it serves GET /healthz and /metrics on WORKER_WEB_HOST:WORKER_WEB_PORT "
        "(default 127.0.0.1 and the first free port from 6066 up, logged and named in /healthz; "
        "a WORKER_WEB_PORT that is set and busy is a start-up error).",
    )
    parser.add_argument("-l", "--loglevel", default="info", help="log level (default info)")
    args = parser.parse_args(argv)
    try:
        settings = Settings()
        load_keys(settings)  # every worker may become the coordinator: fail early, clearly
        validate(settings)  # and a Kafka security setting that cannot work
        check_explicit_port(settings.worker_web_host, settings.worker_web_port)
    except (KeysMissing, KafkaSecurityError, WebPortError) as exc:
        logging.basicConfig()
        log.error("%s", exc)
        return 2
    from stream_app.app import app  # imported here: defining the app reads the environment

    sys.argv = ["stream_app", "worker", "-l", args.loglevel]
    app.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
