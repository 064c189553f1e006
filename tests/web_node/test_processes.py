"""Several web node processes on one port (web_node/processes.py), tested as real processes.

Needs: `python -m web_node` children on a loopback port, on a real SQLite file (one writer, the
others forwarding) and on the session's PostgreSQL (tests/support/postgres.py; every process
writes).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiohttp
import pytest

from testkit.database import query
from tests.support.waiting import async_eventually
from tests.support.web import make_reading, sensors_of_receiver
from tests.web_node.processes import ProcessesNode, post_until_stored

PROCESSES = 3
BATCHES = 40
PER_BATCH = 250
SENDERS = 4
HANDSHAKE = {  # a WebSocket upgrade request by hand, to read the refusal's body
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


@pytest.fixture
def node_factory(tmp_path):
    started: list[ProcessesNode] = []

    def start(database_url: str, processes: int = PROCESSES, **env: str) -> ProcessesNode:
        node = ProcessesNode(tmp_path, database_url, processes, **env).start()
        started.append(node)
        return node

    yield start
    for node in started:
        assert node.stop() == 0, node.proc.log_tail()


def _batches(prefix: str) -> list[list[dict]]:
    sensors = sensors_of_receiver(0, n=10, prefix=prefix)  # all receiver 0's: one grant covers them
    seqs = dict.fromkeys(sensors, 0)
    batches = []
    for b in range(BATCHES):
        batch = []
        for i in range(PER_BATCH):
            sensor = sensors[(b * PER_BATCH + i) % len(sensors)]
            batch.append(make_reading(sensor, seqs[sensor]))
            seqs[sensor] += 1
        batches.append(batch)
    return batches


async def test_processes_store_exactly_with_a_child_killed_mid_batch(node_factory, database_url):
    node = node_factory(database_url)
    batches = _batches("kill-")
    answers: list[dict] = []
    queue: asyncio.Queue[list[dict]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def sender() -> None:
        while not queue.empty():
            answers.append(await post_until_stored(node, queue.get_nowait()))

    # SQLite: the writer itself (the readers' batches wait for its replacement); PostgreSQL: any one
    victim = 0 if database_url.startswith("sqlite") else 1
    senders = [asyncio.create_task(sender()) for _ in range(SENDERS)]
    await async_eventually(lambda: len(answers) >= BATCHES // 4, timeout=60)
    killed = await node.kill_child(victim)
    await asyncio.gather(*senders)

    sent = BATCHES * PER_BATCH
    counting = "SELECT count(*), count(DISTINCT sensor_id || ':' || seq) FROM readings"
    rows = (await asyncio.to_thread(query, database_url, counting))[0]  # its own loop on PostgreSQL
    assert rows == (sent, sent)  # every reading once
    answered = sum(a["stored"] for a in answers)
    # a batch the killed process had committed, but not answered, is answered as duplicates on retry
    assert sent - PER_BATCH * SENDERS <= answered <= sent
    assert sum(a["stored"] + a["duplicates"] for a in answers) == sent  # each batch answered 200 once

    async def replaced() -> bool:
        children = await node.processes()
        return all(p["alive"] for p in children) and killed not in {p["pid"] for p in children}

    await async_eventually(replaced, timeout=60)
    assert f"(pid {killed}," in node.proc.log_text() and "died with exit code -9" in node.proc.log_text()
    # the counter sums every process's count, the killed one's too, and any process reports the
    # whole; the killed process counts a batch when it has stored it, a moment before it answers,
    # so it may have counted batches their senders never heard of (answered on retry as duplicates)
    counts = {await node.stored_counter() for _ in range(2 * PROCESSES)}
    assert len(counts) == 1, counts
    assert answered <= counts.pop() <= min(answered + PER_BATCH * SENDERS, sent)


async def test_a_live_client_gets_readings_another_process_stored(node_factory, database_url):
    node = node_factory(database_url, WEB_NODE_LIVE_MAX_PER_READER="100")
    clients: list[aiohttp.ClientWebSocketResponse] = []
    sessions: list[aiohttp.ClientSession] = []

    async def on_every_process() -> bool:
        # a socket of its own each time: the kernel spreads them over the processes
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        sessions.append(session)
        clients.append(await session.ws_connect(f"{node.url}/api/v1/live"))
        children = await node.processes()
        # on SQLite the writer serves no port (its unix socket only): every process that does
        serving = [p for p in children if not (database_url.startswith("sqlite") and p["role"] == "writer")]
        return len(serving) >= 2 and all(p["live_clients"] > 0 for p in serving)

    try:
        await async_eventually(on_every_process, timeout=60, interval=0.5)  # status files beat each second
        sensor = sensors_of_receiver(0, n=1, prefix="live-")[0]
        readings = [make_reading(sensor, seq) for seq in range(300)]
        for start in range(0, len(readings), 100):  # batches that land on any process
            await post_until_stored(node, readings[start : start + 100])
        for ws in clients:
            received = [json.loads((await ws.receive(timeout=30)).data) for _ in readings]
            assert [r["seq"] for r in received] == list(range(300))
    finally:
        for ws in clients:
            await ws.close()
        for session in sessions:
            await session.close()


async def test_live_sockets_are_capped_across_processes(node_factory, tmp_path):
    node = node_factory(f"sqlite+aiosqlite:///{tmp_path / 'telering.db'}", WEB_NODE_LIVE_MAX_PER_READER="4")
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) for _ in range(5)]
    try:
        clients = [await s.ws_connect(f"{node.url}/api/v1/live") for s in sessions[:4]]
        # all from 127.0.0.1 (reads are open: counted per address), spread over the processes
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await sessions[4].ws_connect(f"{node.url}/api/v1/live")
        assert refused.value.status == 429
        async with sessions[4].get(f"{node.url}/api/v1/live", headers=HANDSHAKE) as answer:
            assert answer.status == 429 and (await answer.json())["error"] == "too_many_live_clients"
        await clients[0].close()  # a place is free again, on whichever process
        await async_eventually(lambda: _connects(sessions[4], node), timeout=30)
    finally:
        for session in sessions:
            await session.close()


async def _connects(session: aiohttp.ClientSession, node: ProcessesNode) -> bool:
    try:
        ws = await session.ws_connect(f"{node.url}/api/v1/live")
    except aiohttp.WSServerHandshakeError:
        return False
    await ws.close()
    return True


async def test_stop_ends_every_child_and_cleans_up(node_factory, tmp_path):
    node = node_factory(f"sqlite+aiosqlite:///{tmp_path / 'telering.db'}")
    pids = [p["pid"] for p in await node.processes()]
    runtime = Path(re.search(r"runtime directory (\S+)", node.proc.log_text()).group(1))
    assert runtime.is_dir()
    assert node.stop() == 0
    for pid in pids:
        assert not _running(pid)
    assert not runtime.exists()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


ALERT_RULES = """\
rules:
  - name: boiler-hot
    sensors: ["hot-*"]
    severity: critical
    quantity: temperature
    above: 80
    clear: 75
"""
ALERT_SOCKETS = 12  # spread by the kernel over the processes: on SQLite most land where nothing is recorded


async def test_alert_sockets_on_every_process_get_each_transition(node_factory, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(ALERT_RULES)
    node = node_factory(f"sqlite+aiosqlite:///{tmp_path / 'telering.db'}", TELERING_ALERT_RULES=str(rules))
    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) for _ in range(ALERT_SOCKETS)]
    try:
        sockets = [await s.ws_connect(f"{node.url}/api/v1/alerts/live") for s in sessions]
        sensor = sensors_of_receiver(0, n=1, prefix="hot-")[0]
        hot, cool = make_reading(sensor, 0, temperature=90.0), make_reading(sensor, 1, temperature=20.0)
        await post_until_stored(node, [hot])
        await post_until_stored(node, [cool])
        for ws in sockets:
            seen = [(await ws.receive_json(timeout=30))["to"] for _ in range(2)]
            assert seen == ["firing", "ok"]
    finally:
        for session in sessions:
            await session.close()
