"""Who may talk to the web node from a browser, and what every answer says about itself.

DNS rebinding: a page of `attacker.example` whose name the attacker re-points at 127.0.0.1 reads
the web node as its own origin, so the browser's same-origin rule protects nothing. The page
cannot change the `Host` it sends, though: the web node answers only the names it is reached by
(the bind address's names, any port, and those WEB_NODE_ALLOWED_HOSTS adds) and refuses others
with 421 `host_not_allowed`. A bind to every interface (0.0.0.0, ::) has no one name: it then answers
IP literals (no page can re-point those) and the machine's names, and other names only if listed.

Cross-site WebSocket hijacking: browsers let any page open a WebSocket anywhere, sending the page's
`Origin`. A handshake whose Origin is not the web node's own (WEB_NODE_ALLOWED_ORIGINS; by default
an allowed host on the port the request came to) is refused 403 `origin_not_allowed` before the
upgrade. Without an Origin (the dashboard, curl, workers: not a browser) it goes on.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass

from aiohttp import hdrs, web

from protocol.settings import Settings, is_loopback, split_host
from web_node.auth import reader_key
from web_node.errors import ApiError, Handler

log = logging.getLogger(__name__)

SERVER = "telering"  # no version: nothing for a scanner to match against a list of flaws
HSTS = "max-age=31536000"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHOWN = 100  # characters of a refused Host or Origin repeated in the answer


@dataclass(frozen=True)
class HostPolicy:
    """The names requests may be addressed to (lower case, IPv6 without brackets), any port."""

    names: frozenset[str]
    any_ip: bool = False  # a wildcard bind: any IP literal is one of its addresses
    anything: bool = False  # WEB_NODE_ALLOWED_HOSTS=*

    def allows(self, host: str) -> bool:
        return self.anything or host in self.names or (self.any_ip and _is_ip(host))

    @classmethod
    def from_settings(cls, settings: Settings) -> HostPolicy:
        """The bind address's own names, and those WEB_NODE_ALLOWED_HOSTS adds (none of the
        node's own can be rebound by a page, so a list adds to them rather than replacing them)."""
        listed = _entries(settings.web_node_allowed_hosts or "")
        names = {_canonical(n) for n in listed if n != "*"}
        bind = _canonical(settings.web_node_host)
        if bind in WILDCARD_BINDS:
            names |= {*LOOPBACK_NAMES, _canonical(socket.gethostname())}
        elif is_loopback(bind):
            names |= {bind, *LOOPBACK_NAMES}
        else:
            names.add(bind)
        return cls(frozenset(names), any_ip=bind in WILDCARD_BINDS, anything="*" in listed)


@dataclass(frozen=True)
class OriginPolicy:
    """The origins a WebSocket handshake may come from; None: the web node's own (see module doc)."""

    origins: frozenset[tuple[str, str, int | None]] | None
    anything: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> OriginPolicy:
        listed = settings.web_node_allowed_origins
        if listed is None:
            return cls(None)
        entries = _entries(listed)
        parsed = {_origin(e) for e in entries if e != "*"}
        return cls(frozenset(o for o in parsed if o is not None), anything="*" in entries)


def request_guard(settings: Settings) -> Handler:
    """The middleware checking Host (every request) and Origin (WebSocket handshakes)."""
    hosts, origins = HostPolicy.from_settings(settings), OriginPolicy.from_settings(settings)
    _log_policy(settings, hosts, origins)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        raw_host = request.headers.get(hdrs.HOST)
        # no Host at all comes from no browser (HTTP/1.0 tools): nothing to rebind
        target = split_host(raw_host) if raw_host is not None else None
        if raw_host is not None and (target is None or not hosts.allows(target[0])):
            raise ApiError(
                421,
                "host_not_allowed",
                f"Host {raw_host[:_SHOWN]!r} is not a name of this web node (WEB_NODE_ALLOWED_HOSTS)",
            )
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and _is_websocket(request) and not _origin_allowed(origin, target, hosts, origins):
            raise ApiError(
                403,
                "origin_not_allowed",
                f"a WebSocket from Origin {origin[:_SHOWN]!r} is not allowed (WEB_NODE_ALLOWED_ORIGINS)",
            )
        return await handler(request)

    return guard


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: what every answer says about itself, errors included."""
    headers = response.headers
    headers[hdrs.SERVER] = SERVER
    headers["X-Content-Type-Options"] = "nosniff"
    if reader_key in request:  # an answer only a reader token opened: no shared cache keeps it
        cache = headers.get(hdrs.CACHE_CONTROL)
        if cache is None:
            headers[hdrs.CACHE_CONTROL] = "private"
        elif "private" not in cache.lower():
            headers[hdrs.CACHE_CONTROL] = f"private, {cache}"
    if request.secure:
        headers["Strict-Transport-Security"] = HSTS


def warn_if_plain_http_off_loopback(settings: Settings) -> None:
    """Reader tokens, grants and readings would cross the network in clear."""
    if settings.web_node_tls_cert is None and not is_loopback(settings.web_node_host):
        log.warning(
            "serving plain HTTP on %s: grants, reader tokens and readings cross the network in clear; "
            "set WEB_NODE_TLS_CERT and WEB_NODE_TLS_KEY (or bind 127.0.0.1 behind a TLS proxy)",
            settings.web_node_host,
        )


def _origin_allowed(
    origin: str, target: tuple[str, int | None] | None, hosts: HostPolicy, origins: OriginPolicy
) -> bool:
    parsed = _origin(origin)
    if origins.origins is not None:
        return origins.anything or parsed in origins.origins
    if parsed is None or target is None:
        return False
    _scheme, host, port = parsed
    _target_host, target_port = target
    # the node's own origins: an allowed name on the port the request came to (80 and 443, the
    # default ports, are left out of both, so a TLS proxy in front changes nothing)
    return hosts.allows(host) and port == (None if target_port in (80, 443) else target_port)


def _origin(value: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port without its scheme's default) of an http(s) origin; None otherwise
    (`null`, `file://`, a browser extension: never the web node's own)."""
    scheme, sep, rest = value.strip().lower().partition("://")
    if not sep or scheme not in _DEFAULT_PORTS:
        return None
    parsed = split_host(rest)
    if parsed is None:
        return None
    host, port = parsed
    return scheme, host, None if port == _DEFAULT_PORTS[scheme] else port


def _is_websocket(request: web.Request) -> bool:
    return "websocket" in (t.strip().lower() for t in request.headers.get(hdrs.UPGRADE, "").split(","))


def _entries(listed: str) -> list[str]:
    return [e.strip() for e in listed.split(",") if e.strip()]


def _canonical(host: str) -> str:
    parsed = split_host(host)
    return parsed[0] if parsed is not None else host.strip().lower()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _log_policy(settings: Settings, hosts: HostPolicy, origins: OriginPolicy) -> None:
    if hosts.anything:
        log.warning("WEB_NODE_ALLOWED_HOSTS=*: any Host is answered; a web page can rebind a name to this node")
    else:
        extra = " and any IP address" if hosts.any_ip else ""
        log.info("answering Host %s%s (WEB_NODE_ALLOWED_HOSTS)", ", ".join(sorted(hosts.names)), extra)
    if origins.anything:
        log.warning("WEB_NODE_ALLOWED_ORIGINS=*: any web page may open this node's WebSockets")
    warn_if_plain_http_off_loopback(settings)
