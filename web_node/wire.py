"""Readings as the read API and the live socket send them (docs/API.md): one shape for both."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from protocol.readings import QUANTITIES, ReadingIn


def rfc3339(ts: float | datetime) -> str:
    """`2026-11-24T14:00:00.123456Z`: UTC, always six fractional digits."""
    if not isinstance(ts, datetime):
        ts = datetime.fromtimestamp(ts, tz=UTC)
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def reading_out(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row (`ts` in unix seconds) as a `ReadingOut` JSON object."""
    return {
        "sensor_id": row["sensor_id"],
        "seq": row["seq"],
        "ts": rfc3339(row["ts"]),
        **{q: row[q] for q in QUANTITIES},
    }


def reading_text(reading: ReadingIn) -> str:
    """A just-stored reading as the JSON text the live socket sends; equal to what REST answers."""
    return json.dumps(
        {
            "sensor_id": reading.sensor_id,
            "seq": reading.seq,
            "ts": rfc3339(reading.ts),
            **{q: getattr(reading, q) for q in QUANTITIES},
        }
    )
