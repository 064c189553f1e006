"""Storing test data the only way the web node allows: POST /api/v1/batches under a grant."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import aiohttp

from testkit.steady import shares_by_receiver
from tests.support.web import RunningWebNode, make_reading
from web_node.appkeys import storage_key


def iso(unix_s: float) -> str:
    """Unix seconds as the RFC 3339 text the API answers with."""
    return datetime.fromtimestamp(unix_s, tz=UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def reading_at(sensor_id: str, seq: int, unix_s: float, **values: float) -> dict:
    """A valid reading (JSON-ready) measured at `unix_s`."""
    return make_reading(sensor_id, seq, ts=iso(unix_s), **values)


class Writer:
    """Posts readings as the token ring would: one batch per receiver's share, each under a
    grant of the next epoch, so the fence always lets it through. One `store` at a time."""

    def __init__(self, http: aiohttp.ClientSession, node: RunningWebNode, *, batch: int = 5000) -> None:
        self.http, self.node, self.batch = http, node, batch
        self.epoch = 0
        self.stored = 0
        self.duplicates = 0

    async def store(self, readings: Iterable[dict]) -> int:
        """Store readings (any sensors, any number); returns how many were newly stored."""
        stored = 0
        for receiver, share in shares_by_receiver(readings, self.node.settings.readings_partitions):
            for start in range(0, len(share), self.batch):
                stored += await self._post(receiver, share[start : start + self.batch])
        return stored

    async def _post(self, receiver: int, readings: list[dict]) -> int:
        self.epoch = max(self.epoch, self.node.app[storage_key].fence_epoch) + 1
        headers = {"Authorization": f"Bearer {self.node.grant(receiver, self.epoch)}"}
        async with self.http.post(
            f"{self.node.url}/api/v1/batches", json={"readings": readings}, headers=headers
        ) as resp:
            body = await resp.json()
            assert resp.status == 200, body
        self.stored += body["stored"]
        self.duplicates += body["duplicates"]
        return body["stored"]
