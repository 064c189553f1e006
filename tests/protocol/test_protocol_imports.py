"""`protocol` stays cheap to import: no Faust, aiohttp or Qt, and no work at import time."""

from __future__ import annotations

import subprocess
import sys

MODULES = [
    "protocol",
    "protocol.readings",
    "protocol.quantities",
    "protocol.bodies",
    "protocol.grants",
    "protocol.keys",
    "protocol.keys_cli",
    "protocol.token_messages",
    "protocol.settings",
    "protocol.topics",
    "protocol.partitioning",
    "protocol.reader_tokens",
    "protocol.kafka_security",
    "protocol.kafka_preflight",
    "protocol.topic_admin",
    "protocol.topics_cli",
    "protocol.web_tls",
]


def test_protocol_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in MODULES)
        + "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'faust', 'aiohttp', 'PyQt5', 'mode'})\n"
        + "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == ""
