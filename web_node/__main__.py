"""`python -m web_node`: run the web node; `python -m web_node migrate`: migrate its database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from protocol.keyring import Keyring
from protocol.settings import Settings
from web_node.alerts.rules import load_rules
from web_node.app import create_app
from web_node.auth import reader_auth
from web_node.processes import Supervisor
from web_node.startup import START_UP_ERRORS, refused
from web_node.tls import server_ssl_context
from web_node.write import migrations_runner
from web_node.write.storage import DatabaseUrlError, check_database_url

log = logging.getLogger("web_node")


def _parser(env: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="web_node",
        description="telering web node: stores and serves readings. With no "
        "command it serves, first bringing the database schema up to date (Alembic), from "
        "WEB_NODE_PROCESSES processes on one port (default `auto`, one per core).",
    )
    parser.add_argument(
        "--host", default=env.web_node_host, help=f"listen address (WEB_NODE_HOST, default {env.web_node_host})"
    )
    parser.add_argument(
        "--port", type=int, default=env.web_node_port, help=f"listen port (WEB_NODE_PORT, default {env.web_node_port})"
    )
    parser.add_argument("--database-url", default=env.database_url, help="SQLAlchemy async URL (DATABASE_URL)")
    parser.add_argument(
        "--no-migrate",
        action="store_true",
        help=f"do not migrate the database on start: refuse to serve unless its schema is "
        f"current (migrate it with `{migrations_runner.MIGRATE_COMMAND}`)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    migrate = commands.add_parser(
        "migrate",
        help="bring the database schema up to date, then exit",
        description="Apply the packaged Alembic migrations to DATABASE_URL, then exit.",
    )
    migrate.add_argument("--database-url", default=argparse.SUPPRESS, help="SQLAlchemy async URL (DATABASE_URL)")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        env = Settings()
    except ValidationError as exc:  # e.g. TELERING_RETENTION_RAW=7x: name the variable, no traceback
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
        for error in exc.errors():
            variable = ".".join(str(part) for part in error["loc"])
            log.error("bad setting %s=%r: %s", variable, error.get("input"), error["msg"])
        return 2
    args = _parser(env).parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:  # web_node.write.migrations_runner says what changed
        logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    settings = env.model_copy(
        update={"web_node_host": args.host, "web_node_port": args.port, "database_url": args.database_url}
    )
    try:
        check_database_url(settings.database_url)  # e.g. PostgreSQL without the `postgres` extra
    except DatabaseUrlError as exc:
        log.error("%s", exc)
        return 2
    if args.command == "migrate":
        return _migrate(settings.database_url)
    if args.no_migrate and not _schema_is_current(settings.database_url):
        return 2
    if settings.process_count > 1:
        return _serve_processes(settings, args)
    try:
        ssl_context = server_ssl_context(settings)  # HTTPS with WEB_NODE_TLS_CERT / _KEY
        app = create_app(settings, migrate=not args.no_migrate)
    except START_UP_ERRORS as exc:
        return refused(exc)
    web.run_app(
        app,
        host=settings.web_node_host,
        port=settings.web_node_port,
        ssl_context=ssl_context,
        print=None,
        access_log=None,
        shutdown_timeout=5,
    )
    return 0


def _serve_processes(settings: Settings, args: argparse.Namespace) -> int:
    """WEB_NODE_PROCESSES > 1: check what every child needs, migrate once, then supervise them."""
    try:  # a start-up error is said once, here, not by every child
        server_ssl_context(settings)
        Keyring.from_settings(settings)
        reader_auth(settings)
        if settings.telering_alert_rules is not None:
            load_rules(settings.telering_alert_rules)
    except START_UP_ERRORS as exc:
        return refused(exc)
    if not args.no_migrate and _migrate(settings.database_url) != 0:
        return 1
    return Supervisor(settings, settings.process_count, log_level=args.log_level.upper()).run()


def _migrate(url: str) -> int:
    try:
        before, after = asyncio.run(migrations_runner.migrate_url(url))
    except migrations_runner.SchemaOutOfDate as exc:
        log.error("%s", exc)
        return 1
    except (SQLAlchemyError, OSError) as exc:
        log.error("cannot migrate the database: %s", exc)
        return 1
    log.info("database schema at revision %s (was %s)", after, before or "<empty>")
    return 0


def _schema_is_current(url: str) -> bool:
    try:
        asyncio.run(migrations_runner.check_url(url))
    except migrations_runner.SchemaOutOfDate as exc:
        log.error("%s", exc)
        return False
    except (SQLAlchemyError, OSError) as exc:
        log.error("cannot check the database schema: %s", exc)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
