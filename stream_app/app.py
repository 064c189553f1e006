"""The only place that builds the Faust `App` (`faust -A stream_app.app worker -l info`)."""

from __future__ import annotations

from datetime import timedelta

import faust

from protocol.settings import Settings
from protocol.topics import Topics
from stream_app.pipeline import Pipeline
from stream_app.topics_admin import ensure_topics


class TeleringApp(faust.App):
    """A Faust app that creates telering's topics before its consumer subscribes to them
    (left to Kafka's auto-creation, `readings` would get the broker's default partition count)."""

    telering_settings: Settings

    async def on_first_start(self) -> None:
        await super().on_first_start()
        await ensure_topics(self.telering_settings)


def build_app(settings: Settings) -> TeleringApp:
    """Define the app, its topics and its tasks; connects to nothing until a worker starts it."""
    topics = Topics.with_prefix(settings.topic_prefix)
    app = TeleringApp(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
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
