"""The token side of a worker: grant → turn → release, top to bottom.

Every worker reads the whole token topic (stream_app/token_channel.py): it announces the
receivers it owns (presence), takes a turn when a grant names one of them (stream_app/turns.py,
through the receiver side's small interface), and releases. On the leader the coordinator
(stream_app/coordinator.py) also decides the turns: the token side tells it what the topic says
and sends the grants it hands back. All of it runs in one task group: if any loop fails, all
stop and the worker exits non-zero with the reason logged (stream_app/worker.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka.errors import KafkaError

from protocol.keyring import Keyring
from protocol.readings import max_batch_bytes
from protocol.settings import Settings
from protocol.token_messages import GrantMessage, Presence, Release
from stream_app.coordinator import CatchUp, Coordinator, CoordinatorStatus
from stream_app.receiver_side import ReceiverSide
from stream_app.ring import PRESENCE_INTERVAL_S, PRESENCE_TTL_S
from stream_app.token_channel import TokenChannel, TokenRecord
from stream_app.turns import TurnRunner
from stream_app.web_client import WebNodeClient, open_session

log = logging.getLogger(__name__)

BODY_OVERHEAD = 1024  # `{"receiver": n, "readings": [...]}` around the readings, with room to spare


@dataclass(frozen=True, slots=True)
class TokenStatus:
    last_record_at: float  # time.monotonic() of the latest token-topic record read: the loop is alive
    skipped: Counter[str]  # token-topic messages skipped, by reason
    turns: int  # turns taken by this worker's receivers
    answers: Counter[tuple[str, str]]  # the web node's answers to batches, by (status, code)
    coordinator: CoordinatorStatus


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
            is_leader=is_leader, keyring=keyring, ttl_s=settings.grant_ttl_s, app=settings.telering_app_id
        )
        self.runner: TurnRunner | None = None
        self._group: asyncio.TaskGroup | None = None
        self._turns: dict[int, asyncio.Task] = {}
        self._started: dict[int, int] = {}  # receiver -> highest epoch a turn was started for
        self._waiting: GrantMessage | None = None  # a grant meant for us that came while its receiver was not
        self._owned_at: dict[int, float] = {}  # receiver -> time.monotonic() this worker last owned it
        self.presence_at = 0.0  # time.monotonic() of the latest presence published

    def status(self) -> TokenStatus:
        runner = self.runner
        return TokenStatus(
            last_record_at=self.channel.last_record_at,
            skipped=Counter(self.channel.skipped),
            turns=runner.turns if runner else 0,
            answers=Counter(runner.answers if runner else {}),
            coordinator=self.coordinator.status(),
        )

    def on_rebalance(self) -> None:
        """Faust's group rebalanced: leadership (and so the coordinator's job) may have moved."""
        self.coordinator.on_rebalance()

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
                group.create_task(self._coordinate(), name="coordinator")
                group.create_task(self._wake_on_arrivals(), name="arrivals")
                async for record in self.channel.records():
                    self._dispatch(record)
        finally:
            self._group = None
            await self.channel.stop()

    def _dispatch(self, record: TokenRecord) -> None:
        message = record.message
        self.coordinator.observe(message, record.seen_at)
        waiting = self._waiting
        if isinstance(message, GrantMessage):
            if waiting is not None and message.epoch > waiting.epoch:
                self._waiting = None  # the ring has moved on
            if not self._start_turn(message):
                self._keep_if_meant_for_us(message)
        elif isinstance(message, Release) and waiting is not None and message.epoch >= waiting.epoch:
            self._waiting = None

    # -- turns ------------------------------------------------------------------------------
    def _start_turn(self, grant: GrantMessage) -> bool:
        """Take the turn `grant` gives, if it is for a receiver of ours, still valid and not taken yet."""
        receiver = grant.receiver
        if (
            self._group is None
            or not self._receivers.owns(receiver)
            or grant.expires_at <= time.time()
            or receiver in self._turns
            or grant.epoch <= self._started.get(receiver, -1)
        ):
            return False
        self._started[receiver] = grant.epoch
        self._turns[receiver] = self._group.create_task(self._take_turn(grant), name=f"turn-{receiver}")
        return True

    def _keep_if_meant_for_us(self, grant: GrantMessage) -> None:
        """Keep a grant for a receiver this worker owned a moment ago and no other worker claims:
        a rebalance revokes every partition before it assigns them again, and a grant that arrives
        in between would otherwise be taken by nobody and hold the ring for its whole lifetime
        (seen after a failover: the new leader's first grant went out 14 ms before its worker got
        its receivers back). Never one for a receiver that was another worker's: that worker, even
        paused, may hold it."""
        receiver = grant.receiver
        if (
            not self._receivers.owns(receiver)
            and time.monotonic() - self._owned_at.get(receiver, float("-inf")) <= PRESENCE_TTL_S
            and not self.coordinator.ring.owners(receiver, time.time()) - {self.worker_id}
        ):
            self._waiting = grant

    def _take_waiting_grant(self, owned: tuple[int, ...]) -> None:
        """Ownership changed: take the kept grant if its receiver is ours again (and it is still valid)."""
        now = time.monotonic()
        self._owned_at.update(dict.fromkeys(owned, now))
        grant, self._waiting = self._waiting, None
        if grant is not None and not self._start_turn(grant) and not self._receivers.owns(grant.receiver):
            self._waiting = grant  # not back yet

    async def _take_turn(self, grant: GrantMessage) -> None:
        assert self.runner is not None
        try:
            release = await self.runner.run(grant)
        finally:
            self._turns.pop(grant.receiver, None)
        self.coordinator.observe_release(release)  # ours, if this worker leads: no round trip through Kafka
        await self.channel.publish(release)

    # -- the coordinator's decisions --------------------------------------------------------
    async def _coordinate(self) -> None:
        await self.channel.caught_up.wait()
        async for decision in self.coordinator.run(self._receivers):
            if isinstance(decision, CatchUp):
                await self.channel.catch_up()
            elif not await self._send(decision):
                self.coordinator.not_delivered(decision)

    async def _send(self, grant: GrantMessage) -> bool:
        """A grant onto the topic, and straight into a turn if the receiver is ours; False: Kafka refused it."""
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
        async for owned in self._receivers.ownership(PRESENCE_INTERVAL_S):
            self._take_waiting_grant(owned)
            if await self.channel.publish(Presence(worker=self.worker_id, partitions=owned, at=time.time())):
                self.presence_at = time.monotonic()

    async def _wake_on_arrivals(self) -> None:
        async for _ in self._receivers.arrivals():
            self.coordinator.wake()


def _log_failed_delivery(delivery: asyncio.Future) -> None:
    if not delivery.cancelled() and delivery.exception() is not None:
        log.warning("token topic: a grant handed over in-process was not written: %s", delivery.exception())
