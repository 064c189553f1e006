"""One child of the web node (web_node/processes.py): its application on the shared port.

The port is shared with SO_REUSEPORT. On SQLite with several processes the writer serves only
its unix socket (0600, in the parent's 0700 runtime directory), where the others pass their
batches: they answer every request, it stores. The parent has migrated the database: a child
only checks that the schema is current.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from aiohttp import web

from protocol.settings import Settings
from web_node.app import create_app
from web_node.siblings import Role
from web_node.startup import START_UP_ERRORS, refused
from web_node.tls import server_ssl_context

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 5.0


async def serve_child(settings: Settings, role: Role) -> int:
    """Serve until SIGTERM; 2 on a start-up error (as `python -m web_node` would say it)."""
    try:
        ssl_context = server_ssl_context(settings)
        app = create_app(settings, migrate=False, role=role)
    except START_UP_ERRORS as exc:  # e.g. a rules file broken since the parent checked it
        return refused(exc)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        if role.writes and role.count > 1 and settings.database_url.startswith("sqlite"):
            # the SQLite writer among several serves its unix socket only, where the others pass
            # their batches: no read shares its event loop, so reads never hold up a batch
            path = role.writer_socket
            path.unlink(missing_ok=True)  # left by a writer that was killed
            await web.UnixSite(runner, str(path)).start()
            os.chmod(path, 0o600)
        else:
            site = web.TCPSite(
                runner, settings.web_node_host, settings.web_node_port, ssl_context=ssl_context, reuse_port=True
            )
            await site.start()
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0
