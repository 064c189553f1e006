"""Wires one worker: the receivers' consumer, the token channel, turns and the coordinator."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence

import faust

from protocol.keys import load_keys
from protocol.settings import Settings
from protocol.token import GrantMessage, Presence, Release
from protocol.topics import Topics
from stream_app import dlq
from stream_app.buffers import Pending, ReceiverBuffers
from stream_app.commits import CommitPoints
from stream_app.coordinator import Coordinator
from stream_app.receivers import Batch, ReceiverConsumer
from stream_app.token_channel import TokenChannel
from stream_app.turns import TurnRunner
from stream_app.web_client import WebNodeClient, open_session

log = logging.getLogger(__name__)

PRESENCE_INTERVAL_S = 1.0
COMMIT_INTERVAL_S = 0.2  # commits coalesce: at most a few a second, whatever the turn rate


class Pipeline:
    def __init__(self, app: faust.App, settings: Settings, topics: Topics, dlq_topic: faust.TopicT) -> None:
        self.app = app
        self.settings = settings
        self.topics = topics
        self.dlq_topic = dlq_topic
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.buffers = ReceiverBuffers(settings.receiver_buffer_max)
        self.commits = CommitPoints()
        self.assigned: set[int] = set()
        self.channel = TokenChannel(settings, topics.token)
        self.coordinator = Coordinator(
            publish=self.channel.publish,
            is_leader=app.is_leader,
            keys=lambda: load_keys(settings),
            ttl_s=settings.grant_ttl_s,
        )
        self._consumer: ReceiverConsumer | None = None
        self._turns: dict[int, asyncio.Task] = {}
        self._presence_changed = asyncio.Event()
        self._commit_wanted = asyncio.Event()
        self.dead_lettered = 0

    # -- the receivers: validate, dead-letter, buffer (a valid reading is committed only once stored)
    async def run_receivers(self) -> None:
        consumer = self._consumer = ReceiverConsumer(
            self.settings,
            self.topics.readings,
            client_id=self.worker_id,
            on_assigned=self.on_assigned,
            on_revoked=self.on_revoked,
        )
        await consumer.start()
        committer = asyncio.create_task(self._commit_loop())
        try:
            async for batch in consumer.batches(lambda: self.buffers.has_space):
                await self.receive(batch)
        finally:
            committer.cancel()
            await self._commit()
            await consumer.stop()

    async def receive(self, batch: Batch) -> None:
        """Buffer the valid readings of a fetched batch; dead-letter the others (then they count as handled)."""
        is_valid, add = dlq.is_valid, self.buffers.add
        for partition, records in batch.items():
            if partition not in self.assigned:
                continue
            invalid = []
            for record in records:
                if is_valid(record.value):
                    add(partition, Pending(record, record.value, record.offset))
                else:
                    invalid.append((record, _reason(record.value)))
            if invalid:
                await self._dead_letter_records(invalid)
            self.commits.handled(partition, records[-1].offset + 1)
        self._commit_wanted.set()

    async def _dead_letter_records(self, invalid: Sequence[tuple[object, str]]) -> None:
        """Send to the DLQ and wait until Kafka has them: an invalid message is never lost."""
        futures = []
        for record, reason in invalid:
            futures.append(
                await self.dlq_topic.send(
                    key=record.key,
                    value=record.value if record.value is not None else b"",
                    headers=dlq.headers(reason, record.topic, record.partition, record.offset),
                )
            )
        await asyncio.gather(*futures)
        self.dead_lettered += len(invalid)

    async def _dead_letter_pending(self, receiver: int, items: Sequence[tuple[Pending, str]]) -> None:
        await self._dead_letter_records([(p.event, reason) for p, reason in items])

    def _ack(self, chunk: Sequence[Pending]) -> None:
        """Stored (or dead-lettered) and gone from the buffer: its offset may now be committed."""
        self._commit_wanted.set()

    async def _commit_loop(self) -> None:
        while True:
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            await self._commit()
            await asyncio.sleep(COMMIT_INTERVAL_S)

    async def _commit(self, partitions: set[int] | None = None) -> None:
        if self._consumer is None:
            return
        due = self.commits.due(self.assigned if partitions is None else partitions, self.buffers.head_offset)
        if due and await self._consumer.commit(due):
            self.commits.committed(due)

    # -- rebalances ---------------------------------------------------------------------------
    async def on_assigned(self, partitions: set[int]) -> None:
        """The receivers' group gave this worker `partitions`: reading resumes at their commits."""
        self.buffers.drop(self.assigned - partitions)
        self.commits.reset(partitions | self.assigned)
        self.assigned = set(partitions)
        log.info("worker %s owns receivers %s", self.worker_id, sorted(partitions))
        self._presence_changed.set()

    async def on_revoked(self, partitions: set[int]) -> None:
        """Commit what is stored, then forget the rest: the next owner replays it."""
        await self._commit(partitions & self.assigned)
        self.buffers.drop(partitions)
        self.commits.reset(partitions)
        self.assigned -= partitions
        self._presence_changed.set()

    async def on_app_rebalance(self, sender: object, *args: object, **kwargs: object) -> None:
        """Faust's own group (which elects the leader) rebalanced: leadership may have moved."""
        self.coordinator.on_rebalance()

    # -- the token loop: presence out, grants in ------------------------------------------------
    async def run_token_loop(self) -> None:
        await self.channel.start()
        try:
            async with open_session(self.settings) as session:
                runner = TurnRunner(
                    self.buffers,
                    WebNodeClient(self.settings.web_node_url, session),
                    chunk_size=self.settings.batch_max_readings,
                    worker=self.worker_id,
                    ack=self._ack,
                    dead_letter=self._dead_letter_pending,
                )
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
            if (
                message.receiver in self.assigned
                and message.expires_at > time.time()
                and message.receiver not in self._turns
            ):
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


def _reason(raw: bytes | None) -> str:
    dead = dlq.check(raw)
    return dead.reason if dead is not None else "refused by the receivers' validation"
