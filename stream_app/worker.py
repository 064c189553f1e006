"""One worker: its receiver side and token side, started together and supervised together.

Both sides run in one task group inside a Faust app task: when any of their loops fails, the
others are cancelled, the reason is logged, and the Faust worker exits non-zero (Faust crashes
the app on a failed task) — never a live-looking process doing nothing. Keys are loaded here,
when the worker starts, not when the app is defined.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid

import faust

from protocol.keyring import Keyring
from protocol.settings import Settings
from protocol.topics import Topics
from stream_app.dlq import DeadLetters
from stream_app.receiver_side import ReceiverSide
from stream_app.token_side import TokenSide

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, app: faust.App, settings: Settings, topics: Topics, dlq_topic: faust.TopicT) -> None:
        self.app = app
        self.settings = settings
        self.topics = topics
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.dead_letters = DeadLetters(dlq_topic)
        self.receivers: ReceiverSide | None = None
        self.tokens: TokenSide | None = None
        self.task: asyncio.Task | None = None
        self.faust_assigned = False

    async def run(self) -> None:
        """The app task: both sides until the worker stops (or one of them fails)."""
        self.task = asyncio.current_task()
        keyring = Keyring.from_settings(self.settings)
        self.receivers = ReceiverSide(self.settings, self.topics.readings, self.dead_letters, client_id=self.worker_id)
        self.tokens = TokenSide(
            self.settings,
            self.topics.token,
            keyring,
            self.receivers,
            worker_id=self.worker_id,
            is_leader=self.app.is_leader,
        )
        log.info(
            "worker %s starting: receivers read %s, the token circulates on %s",
            self.worker_id,
            self.topics.readings,
            self.topics.token,
        )
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.receivers.run(), name="receiver-side")
                group.create_task(self.tokens.run(), name="token-side")
        except BaseExceptionGroup as failed:
            reasons = "; ".join(f"{type(e).__name__}: {e}" for e in failed.exceptions)
            log.critical("worker %s: a background loop failed, stopping the worker: %s", self.worker_id, reasons)
            raise

    async def on_faust_rebalance(self, sender: object, *args: object, **kwargs: object) -> None:
        """Faust's own group (which elects the leader) rebalanced: leadership may have moved."""
        self.faust_assigned = True
        if self.tokens is not None:
            self.tokens.coordinator.on_rebalance()
