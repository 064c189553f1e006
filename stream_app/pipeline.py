"""Wires one worker: the receivers' agent, the token channel, turns and the coordinator."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence

import aiohttp
import faust
from faust.types import TP

from protocol.keys import load_keys
from protocol.settings import Settings
from protocol.token import GrantMessage, Presence, Release
from protocol.topics import Topics
from stream_app import dlq
from stream_app.buffers import Pending, ReceiverBuffers
from stream_app.coordinator import Coordinator
from stream_app.token_channel import TokenChannel
from stream_app.turns import TurnRunner
from stream_app.web_client import WebNodeClient

log = logging.getLogger("stream_app")

PRESENCE_INTERVAL_S = 1.0
TAKE_MAX = 2000
TAKE_WITHIN_S = 0.05


class Pipeline:
    def __init__(self, app: faust.App, settings: Settings, topics: Topics, dlq_topic: faust.TopicT) -> None:
        self.app = app
        self.settings = settings
        self.topics = topics
        self.dlq_topic = dlq_topic
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.buffers = ReceiverBuffers(settings.receiver_buffer_max)
        self.assigned: set[int] = set()
        self.channel = TokenChannel(settings.kafka_bootstrap, topics.token)
        self.coordinator = Coordinator(publish=self.channel.publish, is_leader=app.is_leader,
                                       keys=lambda: load_keys(settings), ttl_s=settings.grant_ttl_s)
        self._turns: dict[int, asyncio.Task] = {}
        self._presence_changed = asyncio.Event()
        self.dead_lettered = 0

    # -- the agent: validate, dead-letter, buffer (never ack a valid reading here) -----------
    async def receive(self, stream: faust.StreamT) -> None:
        async for events in stream.noack_take(TAKE_MAX, within=TAKE_WITHIN_S):
            invalid = []
            for event in events:
                message = event.message
                if message.partition not in self.assigned:
                    continue
                dead = dlq.check(message.value)
                if dead is None:
                    self.buffers.add(message.partition, Pending(event, message.value, message.offset))
                else:
                    invalid.append((event, dead.reason))
            if invalid:
                await self._dead_letter_events(invalid)
            await self.buffers.wait_for_space()

    async def _dead_letter_events(self, invalid: Sequence[tuple[object, str]]) -> None:
        """Send to the DLQ, wait until Kafka has them, then ack: an invalid message is never lost."""
        futures = []
        for event, reason in invalid:
            m = event.message
            futures.append(await self.dlq_topic.send(
                key=m.key, value=m.value if m.value is not None else b"",
                headers=dlq.headers(reason, m.topic, m.partition, m.offset)))
        await asyncio.gather(*futures)
        for event, _ in invalid:
            event.ack()
        self.dead_lettered += len(invalid)

    async def _dead_letter_pending(self, receiver: int, items: Sequence[tuple[Pending, str]]) -> None:
        await self._dead_letter_events([(p.event, reason) for p, reason in items])

    # -- rebalances ---------------------------------------------------------------------------
    async def on_assigned(self, sender: object, assigned: set[TP], **kwargs: object) -> None:
        now = {tp.partition for tp in assigned if tp.topic == self.topics.readings}
        self.buffers.drop(self.assigned - now)
        self.assigned = now
        log.info("worker %s owns receivers %s", self.worker_id, sorted(now))
        self._presence_changed.set()
        self.coordinator.on_rebalance()

    async def on_revoked(self, sender: object, revoked: set[TP], **kwargs: object) -> None:
        gone = {tp.partition for tp in revoked if tp.topic == self.topics.readings}
        self.buffers.drop(gone)
        self.assigned -= gone
        self._presence_changed.set()

    # -- the token loop: presence out, grants in ------------------------------------------------
    async def run_token_loop(self) -> None:
        await self.channel.start()
        try:
            async with aiohttp.ClientSession() as session:
                runner = TurnRunner(self.buffers, WebNodeClient(self.settings.web_node_url, session),
                                    chunk_size=self.settings.batch_max_readings, worker=self.worker_id,
                                    ack=_ack, dead_letter=self._dead_letter_pending)
                presence = asyncio.create_task(self._announce_presence())
                coordinator = asyncio.create_task(self.coordinator.run(self.channel.caught_up))
                try:
                    async for message in self.channel.messages():
                        self._dispatch(message, runner)
                finally:
                    presence.cancel()
                    coordinator.cancel()
        finally:
            await self.channel.stop()

    def _dispatch(self, message: object, runner: TurnRunner) -> None:
        if isinstance(message, GrantMessage):
            self.coordinator.observe_grant(message)
            if (message.receiver in self.assigned and message.expires_at > time.time()
                    and message.receiver not in self._turns):
                self._turns[message.receiver] = asyncio.create_task(self._take_turn(runner, message))
        elif isinstance(message, Release):
            self.coordinator.observe_release(message)
        elif isinstance(message, Presence):
            self.coordinator.observe_presence(message)

    async def _take_turn(self, runner: TurnRunner, grant: GrantMessage) -> None:
        try:
            release = await runner.run(grant)
            await self.channel.publish(release)
        except Exception:
            log.exception("receiver %d: turn for epoch %d failed", grant.receiver, grant.epoch)
        finally:
            self._turns.pop(grant.receiver, None)

    async def _announce_presence(self) -> None:
        while True:
            await self.channel.publish(Presence(self.worker_id, tuple(sorted(self.assigned)), time.time()))
            self._presence_changed.clear()
            try:
                await asyncio.wait_for(self._presence_changed.wait(), PRESENCE_INTERVAL_S)
            except TimeoutError:
                pass


def _ack(chunk: Sequence[Pending]) -> None:
    for pending in chunk:
        pending.event.ack()
