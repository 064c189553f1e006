"""The signed grant: the token that lets one receiver write (DESIGN.md, The token).

The wire format is a public contract: `URLSafeTimedSerializer(keys, salt="telering.grant.v1")`
over the JSON object `{"receiver": int, "epoch": int, "expires_at": float, "app": str}`. `app` is
the deployment's TELERING_APP_ID: two deployments that share a key (staging and production, say)
must not accept each other's grants, nor raise each other's fence with them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

GRANT_SALT = "telering.grant.v1"
INT64_MAX = 2**63 - 1  # epochs are stored as BIGINT (the web node's fence)
PARTITION_MAX = 2**31 - 1  # a receiver is a Kafka partition: an int32
# A grant lives GRANT_TTL_S; one that claims far longer was not made by an honest coordinator
# (a leaked key's grant must not be good for ever). The floor leaves room for clock skew.
LIFETIME_FLOOR_S = 60.0
LIFETIME_TTLS = 4
DEFAULT_APP_ID = "telering"  # TELERING_APP_ID unset (protocol/settings.py)
APP_ID_MAX = 249  # the app id names Kafka consumer groups and topics, whose names stop at 249
_FIELDS = ("receiver", "epoch", "expires_at", "app")


def max_lifetime_s(ttl_s: float) -> float:
    """How far ahead a grant's `expires_at` may lie: max(60 s, 4 x GRANT_TTL_S)."""
    return max(LIFETIME_FLOOR_S, LIFETIME_TTLS * ttl_s)


@dataclass(frozen=True)
class Grant:
    receiver: int
    epoch: int
    expires_at: float
    app: str = DEFAULT_APP_ID

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

    def verify(
        self,
        token: str,
        now: float | None = None,
        *,
        max_lifetime_s: float | None = None,
        app: str | None = None,
    ) -> Grant:
        """Check the signature, then the payload's shape and deployment (`app`, if given), then
        `expires_at` (past: expired; more than `max_lifetime_s` ahead, if given: invalid)."""
        try:
            payload = self._serializer.loads(token)
        except BadSignature as exc:
            raise GrantInvalid("signature does not verify with any known key") from exc
        grant = _grant_from_payload(payload)
        if app is not None and grant.app != app:
            raise GrantInvalid(
                f"the grant is for deployment {grant.app!r}, this one is {app!r} (TELERING_APP_ID): "
                "a key shared between deployments does not make their grants interchangeable"
            )
        remaining = grant.remaining(now)
        if remaining <= 0:
            raise GrantExpired(f"grant for receiver {grant.receiver} epoch {grant.epoch} has expired")
        if max_lifetime_s is not None and remaining > max_lifetime_s:
            raise GrantInvalid(
                f"grant for receiver {grant.receiver} epoch {grant.epoch} expires {remaining:.0f} s from now; "
                f"a grant may live at most {max_lifetime_s:.0f} s (max(60 s, 4 x GRANT_TTL_S))"
            )
        return grant


def _grant_from_payload(payload: object) -> Grant:
    if not isinstance(payload, dict) or set(payload) != set(_FIELDS):
        raise GrantInvalid(
            "payload must be {receiver, epoch, expires_at, app}"
            + (" (a grant without `app` names no deployment)" if isinstance(payload, dict) else "")
        )
    receiver, epoch, expires_at, app = (payload[f] for f in _FIELDS)
    if not _is_int(receiver) or not 0 <= receiver <= PARTITION_MAX:
        raise GrantInvalid(f"receiver must be an integer in 0..{PARTITION_MAX} (a Kafka partition)")
    if not _is_int(epoch) or not 0 <= epoch <= INT64_MAX:
        raise GrantInvalid(f"epoch must be an integer in 0..{INT64_MAX} (int64)")
    if isinstance(expires_at, bool) or not isinstance(expires_at, (int, float)) or not math.isfinite(expires_at):
        raise GrantInvalid("expires_at must be a finite number")
    if not isinstance(app, str) or not 1 <= len(app) <= APP_ID_MAX:
        raise GrantInvalid(f"app must be a string of 1..{APP_ID_MAX} characters (the deployment's TELERING_APP_ID)")
    return Grant(receiver=receiver, epoch=epoch, expires_at=float(expires_at), app=app)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
