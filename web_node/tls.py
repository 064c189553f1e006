"""The web node over HTTPS: WEB_NODE_TLS_CERT and WEB_NODE_TLS_KEY as an `ssl.SSLContext`."""

from __future__ import annotations

import ssl

from protocol.keys import exposed_mode
from protocol.settings import Settings


class TlsSettingsError(ValueError):
    """The TLS settings are unusable; the message names them."""


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A server context for the certificate (chain) and key, or None for plain HTTP (neither set)."""
    cert, key = settings.web_node_tls_cert, settings.web_node_tls_key
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        missing = "WEB_NODE_TLS_CERT" if cert is None else "WEB_NODE_TLS_KEY"
        raise TlsSettingsError(f"HTTPS needs both WEB_NODE_TLS_CERT and WEB_NODE_TLS_KEY; {missing} is unset")
    mode = exposed_mode(key)
    if mode is not None:  # whoever reads it can pose as the web node
        raise TlsSettingsError(
            f"WEB_NODE_TLS_KEY={str(key)!r} has mode {mode:o}, open to group or others; "
            f"make it the owner's only: `chmod 600 {key}`"
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise TlsSettingsError(
            f"WEB_NODE_TLS_CERT={cert} / WEB_NODE_TLS_KEY={key}: cannot load the certificate and key: {exc}"
        ) from exc
    return context
