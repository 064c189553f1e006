"""What the live push of one 5,000-reading batch costs the web node, with few and with many clients.

Needs: a real `python -m web_node` process (one, so its CPU time is the whole cost) on a loopback
port and a real SQLite file. The figures are reported (docs/scale-out.md), never asserted on;
what is asserted is that every client got every reading, in order.
"""

from __future__ import annotations

import asyncio
import os

import aiohttp

from tests.support.web import make_reading, sensors_of_receiver
from tests.web_node.processes import ProcessesNode, post_until_stored

BATCH = 5000
FEW, MANY = 2, 50


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (/proc/<pid>/stat, fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _push_cost(node: ProcessesNode, clients: int, first_seq: int) -> float:
    sensor = sensors_of_receiver(0, n=1, prefix="cost-")[0]
    readings = [make_reading(sensor, first_seq + i) for i in range(BATCH)]
    async with aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(f"{node.url}/api/v1/live") for _ in range(clients)]
        before = cpu_seconds(node.proc.pid)
        await post_until_stored(node, readings)

        async def receive_all(ws: aiohttp.ClientWebSocketResponse) -> list[int]:
            return [(await ws.receive_json(timeout=60))["seq"] for _ in range(BATCH)]

        received = await asyncio.gather(*(receive_all(ws) for ws in sockets))
        cost = cpu_seconds(node.proc.pid) - before
        for ws in sockets:
            await ws.close()
    assert all(seqs == [r["seq"] for r in readings] for seqs in received)
    return cost


async def test_a_batch_costs_about_the_same_pushed_to_few_or_many_clients(tmp_path, report):
    node = ProcessesNode(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'telering.db'}", 1, WEB_NODE_LIVE_MAX_PER_READER=str(MANY)
    ).start()
    try:
        none = await _push_cost(node, 0, 0)  # the store alone: with no client the feed reads nothing
        few = await _push_cost(node, FEW, BATCH)
        many = await _push_cost(node, MANY, 2 * BATCH)
    finally:
        assert node.stop() == 0
    report(f"cpu_store_{BATCH}_no_client_ms", 1000 * none, "ms")
    report(f"cpu_store_and_push_{BATCH}_to_{FEW}_clients_ms", 1000 * few, "ms")
    report(f"cpu_store_and_push_{BATCH}_to_{MANY}_clients_ms", 1000 * many, "ms")
