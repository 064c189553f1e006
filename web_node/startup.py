"""What the settings can be wrong about when a web node starts, for one process and for several:
one line naming the cause, and exit code 2."""

from __future__ import annotations

import logging

from protocol.keys import KeysMissing
from web_node.alerts.rules import RulesError
from web_node.auth import ReadAuthUnavailable
from web_node.tls import TlsSettingsError

log = logging.getLogger("web_node")

START_UP_ERRORS = (KeysMissing, ReadAuthUnavailable, TlsSettingsError, RulesError)


def refused(exc: Exception) -> int:
    """Say why the web node cannot start; its exit code."""
    log.error("TELERING_ALERT_RULES: %s" if isinstance(exc, RulesError) else "%s", exc)
    return 2
