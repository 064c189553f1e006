"""How clients of the web node verify it over HTTPS: WEB_NODE_CA_FILE (stdlib ssl only).

Workers, the desktop client, benchmarks and the test harness build their HTTP sessions with
this context, so an `https://` WEB_NODE_URL is verified against the deployment's own CA
(including the host name) instead of being trusted blindly or refused.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from protocol.settings import Settings


class WebTlsError(ValueError):
    """WEB_NODE_CA_FILE cannot be used; the message names it."""


def client_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A verifying context trusting WEB_NODE_CA_FILE, or None (the system's trust store) if unset."""
    return ca_context(settings.web_node_ca_file)


def ca_context(ca_file: Path | None) -> ssl.SSLContext | None:
    if ca_file is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise WebTlsError(f"WEB_NODE_CA_FILE={ca_file}: cannot load CA certificates: {exc}") from exc
