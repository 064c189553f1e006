"""`python -m web_node`: run the web node."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from protocol.keys import KeysMissing
from protocol.settings import Settings
from web_node.app import create_app

log = logging.getLogger("web_node")


def main(argv: list[str] | None = None) -> int:
    env = Settings()
    parser = argparse.ArgumentParser(prog="web_node", description="telering web node: stores and serves readings")
    parser.add_argument("--host", default=env.web_node_host, help=f"listen address (WEB_NODE_HOST, default {env.web_node_host})")
    parser.add_argument("--port", type=int, default=env.web_node_port, help=f"listen port (WEB_NODE_PORT, default {env.web_node_port})")
    parser.add_argument("--database-url", default=env.database_url, help="SQLAlchemy async URL (DATABASE_URL)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = env.model_copy(update={"web_node_host": args.host, "web_node_port": args.port,
                                      "database_url": args.database_url})
    try:
        app = create_app(settings)
    except KeysMissing as exc:
        log.error("%s", exc)
        return 2
    web.run_app(app, host=settings.web_node_host, port=settings.web_node_port, print=None,
                access_log=None, shutdown_timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
