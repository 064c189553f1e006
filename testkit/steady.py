"""A steady writer for benchmarks: readings of a set of sensors at a fixed rate (ts = now),
posted to a web node as the token ring would (one batch per receiver's share, each under a
signed grant of the next epoch), with every batch's latency."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable

import aiohttp

from protocol.grants import Grant, GrantCodec
from protocol.partitioning import partition_for
from protocol.readings import rfc3339


def shares_by_receiver(readings: Iterable[dict], partitions: int) -> list[tuple[int, list[dict]]]:
    """Readings grouped by the receiver (partition) whose grant may store them, in receiver order:
    how a test or a benchmark stores data the way the token ring does."""
    shares: dict[int, list[dict]] = {}
    for reading in readings:
        shares.setdefault(partition_for(reading["sensor_id"], partitions), []).append(reading)
    return sorted(shares.items())


class SteadyWriter:
    """`rate` readings/s in `ticks_per_s` batches, as the ring would post them."""

    def __init__(
        self, http: aiohttp.ClientSession, url: str, keys: list[str], sensors: int, rate: float, *, partitions: int
    ) -> None:
        self.http, self.url, self.codec, self.partitions = http, url, GrantCodec(keys), partitions
        self.sensors = [f"soak-{i:03d}" for i in range(sensors)]
        self.rate, self.seq, self.epoch = rate, dict.fromkeys(self.sensors, 0), 0
        self.sent = self.stored = self.duplicates = 0
        self.latencies_ms: list[float] = []  # per batch: request sent -> answer read
        self.random = random.Random(20261202)

    async def run(self, seconds: float, ticks_per_s: float = 5.0) -> None:
        period, owed = 1.0 / ticks_per_s, 0.0
        started = time.monotonic()
        next_tick = started
        while next_tick < started + seconds:
            owed += self.rate * period
            count, owed = int(owed), owed - int(owed)
            await self._post_tick(count)
            next_tick += period
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))  # pacing the offered load

    async def _post_tick(self, count: int) -> None:
        now = time.time()
        tick = [self._reading(self.sensors[(self.sent + n) % len(self.sensors)], now) for n in range(count)]
        for receiver, readings in shares_by_receiver(tick, self.partitions):
            self.epoch += 1
            grant = self.codec.sign(Grant(receiver, self.epoch, time.time() + 30))
            started = time.perf_counter()
            async with self.http.post(
                f"{self.url}/api/v1/batches",
                json={"readings": readings},
                headers={"Authorization": f"Bearer {grant}"},
            ) as resp:
                body = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"batch refused: {resp.status} {body}")
            self.latencies_ms.append(1000 * (time.perf_counter() - started))
            self.sent += len(readings)
            self.stored += body["stored"]
            self.duplicates += body["duplicates"]

    def _reading(self, sensor: str, now: float) -> dict:
        seq = self.seq[sensor]
        self.seq[sensor] = seq + 1
        r = self.random.random()
        return {
            "sensor_id": sensor,
            "seq": seq,
            "ts": rfc3339(now),
            "temperature": round(15 + 10 * r, 2),
            "humidity": round(40 + 20 * r, 2),
            "pressure": round(1000 + 20 * r, 2),
            "battery": round(100 - 50 * r, 2),
        }
