"""Kafka ACLs per role, for brokers that run KRaft's StandardAuthorizer.

One principal per role, each allowed only what its part does (nothing else is allowed: the
brokers do not set `allow.everyone.if.no.acl.found`):

- producer (the simulator, any sensor gateway), `User:simulator`: Write and Describe `readings`;
- worker, `User:telering`: Read, Write, Describe and Create `readings`, the token topic, the DLQ
  and the alerts topic, and Faust's own `<app id>-…` topics; Read and Describe the groups
  `<app id>` and `<app id>-receivers` (one prefixed ACL);
- web node (it publishes alerts), `User:webnode`: Write, Describe and Create the alerts topic.

So only workers read the token topic, where grants travel: a producer's stolen login cannot
read a grant, nor write a forged or copied token message. The broker's own principal (and an
admin's) are `super.users` in the broker's configuration, not ACLs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
)
from kafka.errors import KafkaError

from protocol.kafka_security import kafka_python_options
from protocol.settings import Settings
from protocol.topics import Topics

log = logging.getLogger(__name__)

PRODUCER, WORKER, WEB_NODE = "User:simulator", "User:telering", "User:webnode"

_READ_WRITE = (ACLOperation.READ, ACLOperation.WRITE, ACLOperation.DESCRIBE, ACLOperation.CREATE)
_WRITE_ONLY = (ACLOperation.WRITE, ACLOperation.DESCRIBE)


class AclError(RuntimeError):
    """The ACLs could not be created (no broker, no authorizer, or not allowed to)."""


@dataclass(frozen=True)
class Principals:
    """Who plays each role (`User:<SASL user>`); None leaves a role out."""

    producer: str | None = PRODUCER
    worker: str | None = WORKER
    web_node: str | None = WEB_NODE


EVERY_ROLE = Principals()


def role_acls(settings: Settings, principals: Principals = EVERY_ROLE) -> list[ACL]:
    """Every ACL the roles need on this deployment's topics (TELERING_TOPIC_PREFIX) and groups
    (TELERING_APP_ID)."""
    topics = Topics.with_prefix(settings.telering_topic_prefix)
    alerts, app = topics.alerts, settings.telering_app_id
    acls: list[ACL] = []
    if principals.producer:
        acls += _allow(principals.producer, ResourceType.TOPIC, [topics.readings], _WRITE_ONLY)
    if principals.worker:
        worker = principals.worker
        acls += _allow(worker, ResourceType.TOPIC, [topics.readings, topics.token, topics.dlq, alerts], _READ_WRITE)
        # Faust's own topics (`<app id>-__assignor-__leader`, table changelogs) and the groups
        # `<app id>` (Faust's) and `<app id>-receivers` (the batch consumer)
        acls += _allow(worker, ResourceType.TOPIC, [f"{app}-"], _READ_WRITE, prefixed=True)
        acls += _allow(worker, ResourceType.GROUP, [app], (ACLOperation.READ, ACLOperation.DESCRIBE), prefixed=True)
    if principals.web_node:
        acls += _allow(principals.web_node, ResourceType.TOPIC, [alerts], (*_WRITE_ONLY, ACLOperation.CREATE))
    return acls


def create_acls(admin_settings: Settings, acls: Sequence[ACL], timeout_s: float = 30.0) -> int:
    """Create `acls` as the admin of `admin_settings` (a super user); creating one that exists is
    a no-op. Returns how many were asked for; raises AclError naming the first refusal."""
    options: Mapping[str, Any] = kafka_python_options(admin_settings)
    try:
        with KafkaAdminClient(**options, client_id="telering-acls", request_timeout_ms=int(timeout_s * 1000)) as admin:
            result = admin.create_acls(list(acls))
    except KafkaError as exc:
        raise AclError(f"cannot create ACLs at KAFKA_BOOTSTRAP={admin_settings.kafka_bootstrap}: {exc!r}") from exc
    failed = result.get("failed", [])
    if failed:
        raise AclError(f"{len(failed)} of {len(acls)} ACL(s) refused: {sorted({e.__name__ for e in failed})}")
    log.info("ACLs in place: %d for %s", len(acls), ", ".join(sorted({a.principal for a in acls})))
    return len(acls)


def _allow(
    principal: str,
    kind: ResourceType,
    names: Sequence[str],
    operations: Sequence[ACLOperation],
    *,
    prefixed: bool = False,
) -> list[ACL]:
    pattern = ACLResourcePatternType.PREFIXED if prefixed else ACLResourcePatternType.LITERAL
    return [
        ACL(principal, "*", operation, ACLPermissionType.ALLOW, ResourcePattern(kind, name, pattern))
        for name in names
        for operation in operations
    ]
