"""Freshness of token-topic messages: each sender's stream only moves forward.

A signed message stays signed for ever, so anyone who can write to the token topic could write
a copy of an old one again: a presence from when a worker owned fewer partitions would take the
others out of the ring for as long as it is repeated. Every message therefore carries its
sender's incarnation (random per process start) and a sequence number inside its signature
(protocol/token_messages.py, `Origin`), and a receiver of the topic acts on a message only if it
is the newest it has seen of that sender:

- same incarnation: its `seq` must be above the highest seen, else it is `replayed`;
- another incarnation of a known sender: it is a restart (or a copy of an older incarnation's
  message). It is taken as the sender's new incarnation only if it was sent later, by its own
  signed `sent_at`, than the newest message of the incarnation it replaces; that one is retired
  and its messages are `replayed` from then on. Otherwise it is `replayed` itself.
- a sender not seen before (or forgotten, see below) is taken at its word, unless its message
  was sent more than MAX_AGE_S before it was seen: then it is `stale`. Live messages are seen
  now; those read back from the topic's history when a worker starts at their broker time.

So a copy is refused whether the sender is alive (its seq is behind) or long gone (stale). The
state is bounded: the MAX_SENDERS senders seen most recently are remembered. Forgetting one is
safe once its messages are older than MAX_AGE_S, which is why the bound is generous: a worker
sends about one message a second, and workers' ids are unique per process.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from protocol.token_messages import Origin, TokenMessage, TokenMessageInvalid, stamped

# Older than this when seen, a message of an unknown sender is not acted on. Hosts' clocks must
# agree this well anyway: grants expire on the sender's clock and are judged on the receiver's.
MAX_AGE_S = 60.0
MAX_SENDERS = 1024
MAX_RETIRED = 4096


class Outgoing:
    """Stamps this process's messages: its deployment, its id, one incarnation, seq 1, 2, 3 ..."""

    def __init__(self, app: str, sender: str, *, clock: Callable[[], float] = time.time) -> None:
        self.app, self.sender, self._clock = app, sender, clock
        self.incarnation = secrets.token_hex(16)
        self._seq = 0

    def stamp(self, message: TokenMessage) -> TokenMessage:
        self._seq += 1
        origin = Origin(
            app=self.app, sender=self.sender, incarnation=self.incarnation, seq=self._seq, sent_at=self._clock()
        )
        return stamped(message, origin)


@dataclass(slots=True)
class _Newest:
    incarnation: str
    seq: int
    sent_at: float


class Freshness:
    """The newest (incarnation, seq) seen of each sender; `check` refuses anything not newer."""

    def __init__(self, app: str, *, max_age_s: float = MAX_AGE_S, max_senders: int = MAX_SENDERS) -> None:
        self.app = app
        self._max_age_s = max_age_s
        self._max_senders = max_senders
        self._newest: OrderedDict[str, _Newest] = OrderedDict()  # least recently seen first
        self._retired: OrderedDict[str, None] = OrderedDict()  # incarnations replaced by a newer one

    def check(self, origin: Origin | None, seen_at: float) -> None:
        """Accept the message `origin` sent (it becomes its sender's newest), or raise
        TokenMessageInvalid: `unbound` (no origin), `other_deployment`, `replayed` or `stale`."""
        if origin is None:
            raise TokenMessageInvalid("unbound", "no origin: the message names no deployment, sender or sequence")
        if origin.app != self.app:
            raise TokenMessageInvalid(
                "other_deployment", f"sent by deployment {origin.app!r}, this one is {self.app!r}"
            )
        newest = self._newest.get(origin.sender)
        where = f"{origin.sender} incarnation {origin.incarnation[:8]} seq {origin.seq}"
        if origin.incarnation in self._retired:
            raise TokenMessageInvalid("replayed", f"{where}: that incarnation was replaced by a newer one")
        if newest is not None and newest.incarnation == origin.incarnation:
            if origin.seq <= newest.seq:
                raise TokenMessageInvalid("replayed", f"{where}: seq {newest.seq} was seen already")
        elif newest is not None:
            if origin.sent_at <= newest.sent_at:
                raise TokenMessageInvalid("replayed", f"{where}: not newer than its incarnation seen last")
            self._retire(newest.incarnation)
        elif seen_at - origin.sent_at > self._max_age_s:
            raise TokenMessageInvalid("stale", f"{where}: sent {seen_at - origin.sent_at:.0f} s before it was seen")
        self._newest[origin.sender] = _Newest(origin.incarnation, origin.seq, origin.sent_at)
        self._newest.move_to_end(origin.sender)
        while len(self._newest) > self._max_senders:
            self._newest.popitem(last=False)

    def _retire(self, incarnation: str) -> None:
        self._retired[incarnation] = None
        while len(self._retired) > MAX_RETIRED:
            self._retired.popitem(last=False)
