"""One worker: its receiver side and token side, attached to the Faust app as a service.

Faust starts the service with the app and supervises it (mode's `Service`): each side runs as a
task of the service, and when any of their loops fails the service crashes, the reason is
logged, and Faust stops the app and exits non-zero — never a live-looking process doing nothing.
Keys are loaded here, when the worker starts, not when the app is defined.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

import faust
from mode import Service

from protocol.keyring import Keyring
from protocol.settings import Settings
from protocol.topics import Topics
from stream_app.dlq import DeadLetters
from stream_app.receiver_side import ReceiverSide
from stream_app.token_side import TokenSide

log = logging.getLogger(__name__)


class Worker(Service):
    def __init__(self, app: faust.App, settings: Settings, topics: Topics, dlq_topic: faust.TopicT) -> None:
        super().__init__()
        self.app = app
        self.settings = settings
        self.topics = topics
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.dead_letters = DeadLetters(dlq_topic)
        self.receivers: ReceiverSide | None = None
        self.tokens: TokenSide | None = None
        self.faust_assigned = False

    async def on_start(self) -> None:
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

    @Service.task
    async def _receiver_side(self) -> None:
        assert self.receivers is not None
        await self.receivers.run()

    @Service.task
    async def _token_side(self) -> None:
        assert self.tokens is not None
        await self.tokens.run()

    async def crash(self, reason: BaseException) -> None:
        """A loop failed: say so, then let Faust stop the app (and the process, non-zero)."""
        if not self.crashed:
            log.critical("worker %s: a background loop failed, stopping the worker: %s", self.worker_id, _why(reason))
        await super().crash(reason)

    @property
    def running(self) -> bool:
        """Started, and neither stopping nor crashed."""
        return self.started and not self.should_stop

    async def on_faust_rebalance(self, sender: object, *args: object, **kwargs: object) -> None:
        """Faust's own group (which elects the leader) rebalanced: leadership may have moved."""
        self.faust_assigned = True
        if self.tokens is not None:
            self.tokens.on_rebalance()


def _why(reason: BaseException) -> str:
    """The failures inside (nested) task groups, each as `Type: message`."""
    if isinstance(reason, BaseExceptionGroup):
        return "; ".join(_why(e) for e in reason.exceptions)
    return f"{type(reason).__name__}: {reason}"
