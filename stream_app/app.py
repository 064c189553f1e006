"""The only place that builds the Faust `App` (`faust -A stream_app.app worker -l info`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import faust

from protocol.kafka_preflight import check_connection_async
from protocol.kafka_security import KafkaSecurityError, aiokafka_options
from protocol.settings import Settings
from protocol.topic_admin import TopicAdminError, ensure_topics
from protocol.topics import Topics
from stream_app.pipeline import Pipeline

log = logging.getLogger(__name__)


class TeleringApp(faust.App):
    """A Faust app that checks its Kafka credentials and creates telering's topics before its
    consumer subscribes to them (left to Kafka's auto-creation, `readings` would get the broker's
    default partition count)."""

    telering_settings: Settings

    async def on_first_start(self) -> None:
        await super().on_first_start()
        settings = self.telering_settings
        try:
            # a refused password or certificate ends the worker here, not in a retry loop
            await check_connection_async(settings)
            await asyncio.get_running_loop().run_in_executor(None, ensure_topics, settings)
        except (KafkaSecurityError, TopicAdminError) as exc:
            log.error("%s", exc)
            raise SystemExit(2) from None


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """Faust's form of the Kafka security settings (protocol/kafka_security.py builds them)."""
    options = aiokafka_options(settings)
    protocol = options["security_protocol"]
    if protocol == "SSL":
        return faust.SSLCredentials(options["ssl_context"])
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        return faust.SASLCredentials(
            username=options["sasl_plain_username"],
            password=options["sasl_plain_password"],
            ssl_context=options.get("ssl_context"),
            mechanism=options["sasl_mechanism"],
        )
    return None


def build_app(settings: Settings) -> TeleringApp:
    """Define the app, its topics and its tasks; connects to nothing until a worker starts it."""
    topics = Topics.with_prefix(settings.topic_prefix)
    app = TeleringApp(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=broker_credentials(settings),
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        web_enabled=False,
        topic_partitions=settings.readings_partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # a killed worker's partitions move after this long, not Faust's default minute
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        producer_acks=-1,
        stream_wait_empty=False,
    )
    app.telering_settings = settings
    dlq_topic = app.topic(topics.dlq, partitions=1, key_serializer="raw", value_serializer="raw")
    app.topic(topics.token, partitions=1, retention=timedelta(hours=1))
    pipeline = Pipeline(app, settings, topics, dlq_topic)
    # `readings` is read by the receivers' own batch consumer (stream_app/receivers.py says why);
    # Faust runs the worker, elects the leader (its group) and produces to the DLQ.
    app.task(pipeline.run_receivers)
    app.task(pipeline.run_token_loop)
    app.on_partitions_assigned.connect(pipeline.on_app_rebalance)
    app.pipeline = pipeline  # type: ignore[attr-defined]  # for tests and metrics
    return app


app = build_app(Settings())
