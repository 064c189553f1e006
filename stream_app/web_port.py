"""The worker's own web server port: ``WORKER_WEB_PORT`` if set, else the first free one from 6066.

Several workers on one host with one environment each take a port of their own: the port is
claimed by binding it (no probe-then-bind race between workers starting together), and the one
taken is logged and reported in ``/healthz``. A port set explicitly stays the worker's only
choice: busy, it is a start-up error naming the variable.
"""

from __future__ import annotations

import errno
import logging
import socket

from aiohttp.web import TCPSite
from faust.web.drivers.aiohttp import Web

log = logging.getLogger(__name__)

FIRST_PORT = 6066
PORT_SPAN = 100  # 6066..6165


class WebPortError(RuntimeError):
    """The worker's web server could not listen where it was told to, or anywhere in the range."""


def busy_port_error(host: str, port: int) -> WebPortError:
    return WebPortError(
        f"WORKER_WEB_PORT={port}: {host}:{port} is already in use; "
        "choose another port, or unset WORKER_WEB_PORT to take the first free one from 6066"
    )


def check_explicit_port(host: str, port: int | None) -> None:
    """Raise WebPortError if an explicitly set ``port`` is taken (checked before Faust starts,
    so the worker ends with one clear line instead of a server's traceback)."""
    if port is None:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise busy_port_error(host, port) from None
            raise


class PortPickingWeb(Web):
    """Faust's aiohttp web server, listening on the configured port or the first free one."""

    bound_port: int | None = None

    async def start_server(self) -> None:
        try:
            await self._listen()
        except WebPortError as exc:  # as the app's other start-up errors: one line, exit 2
            log.error("%s", exc)
            raise SystemExit(2) from None

    async def _listen(self) -> None:
        await self._runner.setup()
        settings = self.app.telering_settings
        host, explicit = settings.worker_web_host, settings.worker_web_port
        for port in [explicit] if explicit is not None else range(FIRST_PORT, FIRST_PORT + PORT_SPAN):
            site = TCPSite(self._runner, host, port, ssl_context=self.app.conf.web_ssl_context)
            try:
                await site.start()
            except OSError as exc:
                await site.stop()
                if exc.errno != errno.EADDRINUSE:
                    raise
                if explicit is not None:
                    raise busy_port_error(host, port) from None
                continue
            self.bound_port = port
            log.info("Worker web server on http://%s:%d (/healthz, /metrics)", host, port)
            return
        raise WebPortError(
            f"no free port for the worker's web server on {host} in {FIRST_PORT}..{FIRST_PORT + PORT_SPAN - 1}; "
            "set WORKER_WEB_PORT"
        )
