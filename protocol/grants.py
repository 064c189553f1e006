"""The signed grant: the token that lets one receiver write (DESIGN.md, The token).

The wire format is a public contract: `URLSafeTimedSerializer(keys, salt="telering.grant.v1")`
over the JSON object `{"receiver": int, "epoch": int, "expires_at": float}`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

GRANT_SALT = "telering.grant.v1"


@dataclass(frozen=True)
class Grant:
    receiver: int
    epoch: int
    expires_at: float

    def remaining(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)


class GrantError(Exception):
    """A grant the web node must refuse; `code` is the API's machine-readable error."""

    code = "grant_invalid"


class GrantInvalid(GrantError):
    code = "grant_invalid"


class GrantExpired(GrantError):
    code = "grant_expired"


class GrantCodec:
    """Signs with the newest key, verifies against all of them (rotation without downtime)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("a grant codec needs at least one key")
        self._serializer = URLSafeTimedSerializer(list(keys), salt=GRANT_SALT)

    def sign(self, grant: Grant) -> str:
        return self._serializer.dumps(asdict(grant))

    def verify(self, token: str, now: float | None = None) -> Grant:
        """Check the signature, then the payload's shape, then `expires_at`."""
        try:
            payload = self._serializer.loads(token)
        except BadSignature as exc:
            raise GrantInvalid("signature does not verify with any known key") from exc
        grant = _grant_from_payload(payload)
        if grant.remaining(now) <= 0:
            raise GrantExpired(f"grant for receiver {grant.receiver} epoch {grant.epoch} has expired")
        return grant


def _grant_from_payload(payload: object) -> Grant:
    if not isinstance(payload, dict) or set(payload) != {"receiver", "epoch", "expires_at"}:
        raise GrantInvalid("payload must be {receiver, epoch, expires_at}")
    receiver, epoch, expires_at = payload["receiver"], payload["epoch"], payload["expires_at"]
    if not _is_int(receiver) or receiver < 0 or not _is_int(epoch) or epoch < 0:
        raise GrantInvalid("receiver and epoch must be non-negative integers")
    if isinstance(expires_at, bool) or not isinstance(expires_at, (int, float)) or not math.isfinite(expires_at):
        raise GrantInvalid("expires_at must be a finite number")
    return Grant(receiver=receiver, epoch=epoch, expires_at=float(expires_at))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
