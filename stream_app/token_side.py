"""The token side of a worker: grant → turn → release, top to bottom.

Every worker reads the whole token topic (stream_app/token_channel.py): it announces the
receivers it owns (presence), takes a turn when a grant names one of them (stream_app/turns.py,
through the receiver side's small interface), and releases. On the leader the coordinator
(stream_app/coordinator.py) also grants the turns. All of it runs in one task group: if any
loop fails, all stop and the worker exits non-zero with the reason logged (stream_app/app.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiokafka.errors import KafkaError

from protocol.keyring import Keyring
from protocol.readings import max_batch_bytes
from protocol.settings import Settings
from protocol.token_messages import GrantMessage, Presence, Release
from stream_app.coordinator import Coordinator
from stream_app.receiver_side import ReceiverSide
from stream_app.token_channel import TokenChannel, TokenRecord
from stream_app.turns import TurnRunner
from stream_app.web_client import WebNodeClient, open_session

log = logging.getLogger(__name__)

PRESENCE_INTERVAL_S = 1.0
BODY_OVERHEAD = 1024  # `{"receiver": n, "readings": [...]}` around the readings, with room to spare


class TokenSide:
    def __init__(
        self,
        settings: Settings,
        topic: str,
        keyring: Keyring,
        receivers: ReceiverSide,
        *,
        worker_id: str,
        is_leader: Callable[[], bool],
    ) -> None:
        self._settings = settings
        self._receivers = receivers
        self.worker_id = worker_id
        self.channel = TokenChannel(settings, topic, keyring, client_id=worker_id)
        self.coordinator = Coordinator(
            deliver=self._deliver,
            is_leader=is_leader,
            keyring=keyring,
            ttl_s=settings.grant_ttl_s,
            local_pending=self._local_pending,
            resync=self.channel.catch_up,
        )
        self.runner: TurnRunner | None = None
        self._group: asyncio.TaskGroup | None = None
        self._turns: dict[int, asyncio.Task] = {}
        self._started: dict[int, int] = {}  # receiver -> highest epoch a turn was started for
        self.presence_at = 0.0  # time.monotonic() of the latest presence published

    async def run(self) -> None:
        await self.channel.start()
        try:
            async with open_session(self._settings) as session, asyncio.TaskGroup() as group:
                self.runner = TurnRunner(
                    self._receivers,
                    WebNodeClient(self._settings.web_node_url, session),
                    chunk_size=self._settings.batch_max_readings,
                    max_body_bytes=max_batch_bytes(self._settings.batch_max_readings) - BODY_OVERHEAD,
                    worker=self.worker_id,
                )
                self._group = group
                group.create_task(self._announce_presence(), name="presence")
                group.create_task(self.coordinator.run(self.channel.caught_up), name="coordinator")
                group.create_task(self._wake_on_arrivals(), name="arrivals")
                async for record in self.channel.records():
                    self._dispatch(record)
        finally:
            self._group = None
            await self.channel.stop()

    def _dispatch(self, record: TokenRecord) -> None:
        message = record.message
        if isinstance(message, GrantMessage):
            self.coordinator.observe_grant(message)
            self._start_turn(message)
        elif isinstance(message, Release):
            self.coordinator.observe_release(message)
        elif isinstance(message, Presence):
            self.coordinator.observe_presence(message, record.seen_at)

    # -- turns ------------------------------------------------------------------------------
    def _start_turn(self, grant: GrantMessage) -> bool:
        """Take the turn `grant` gives, if it is for a receiver of ours, still valid and not taken yet."""
        receiver = grant.receiver
        if (
            self._group is None
            or receiver not in self._receivers.owned
            or grant.expires_at <= time.time()
            or receiver in self._turns
            or grant.epoch <= self._started.get(receiver, -1)
        ):
            return False
        self._started[receiver] = grant.epoch
        self._turns[receiver] = self._group.create_task(self._take_turn(grant), name=f"turn-{receiver}")
        return True

    async def _take_turn(self, grant: GrantMessage) -> None:
        assert self.runner is not None
        try:
            release = await self.runner.run(grant)
        finally:
            self._turns.pop(grant.receiver, None)
        self.coordinator.observe_release(release)  # ours, if this worker leads: no round trip through Kafka
        await self.channel.publish(release)

    def _local_pending(self, receiver: int) -> int | None:
        return self._receivers.pending(receiver) if receiver in self._receivers.owned else None

    async def _deliver(self, grant: GrantMessage) -> bool:
        """The coordinator's grant: onto the topic, and straight into a turn if the receiver is ours."""
        try:
            delivery = await self.channel.enqueue(grant)
        except KafkaError as exc:
            log.warning("token topic: could not queue the grant for receiver %d: %s", grant.receiver, exc)
            return False
        if self._start_turn(grant):  # ours: the turn is under way while Kafka takes the grant
            delivery.add_done_callback(_log_failed_delivery)
            return True
        try:
            await delivery
        except KafkaError as exc:
            log.warning("token topic: the grant for receiver %d was not written: %s", grant.receiver, exc)
            return False
        return True

    # -- presence ---------------------------------------------------------------------------
    async def _announce_presence(self) -> None:
        changed = self._receivers.ownership_changed
        while True:
            changed.clear()
            owned = tuple(sorted(self._receivers.owned))
            if await self.channel.publish(Presence(worker=self.worker_id, partitions=owned, at=time.time())):
                self.presence_at = time.monotonic()
            try:
                await asyncio.wait_for(changed.wait(), PRESENCE_INTERVAL_S)
            except TimeoutError:
                pass

    async def _wake_on_arrivals(self) -> None:
        arrived = self._receivers.buffers.arrived
        while True:
            await arrived.wait()
            arrived.clear()
            self.coordinator.wake()


def _log_failed_delivery(delivery: asyncio.Future) -> None:
    if not delivery.cancelled() and delivery.exception() is not None:
        log.warning("token topic: a grant handed over in-process was not written: %s", delivery.exception())
