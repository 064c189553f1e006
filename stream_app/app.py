"""The only place that builds the Faust `App` (`faust -A stream_app.app worker -l info`)."""

from __future__ import annotations

import asyncio
import logging

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.web import Request, Response, View

from protocol.kafka_preflight import check_connection_async
from protocol.kafka_security import KafkaSecurityError, aiokafka_options
from protocol.settings import Settings
from protocol.topic_admin import TopicAdminError, ensure_topics
from protocol.topics import Topics
from stream_app import health
from stream_app.consumer import HEARTBEAT_INTERVAL_S, SESSION_TIMEOUT_S
from stream_app.metrics import registry_for
from stream_app.web_port import FIRST_PORT, PortPickingWeb
from stream_app.worker import Worker

log = logging.getLogger(__name__)


class TeleringApp(faust.App):
    """A Faust app that checks its Kafka credentials and creates telering's topics before its
    consumer subscribes to them (left to Kafka's auto-creation, `readings` would get the broker's
    default partition count)."""

    telering_settings: Settings
    worker: Worker

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

    def _new_web(self) -> PortPickingWeb:
        return PortPickingWeb(self)


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
    """Define the app, its web pages and its one service; connects to nothing until a worker starts it."""
    topics = Topics.with_prefix(settings.telering_topic_prefix)
    app = TeleringApp(
        settings.telering_app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=broker_credentials(settings),
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        web_enabled=True,
        web_bind=settings.worker_web_host,
        web_port=settings.worker_web_port or FIRST_PORT,  # PortPickingWeb binds the real one
        # only /healthz and /metrics: Faust's /router/ and /table/ would show any caller the
        # cluster's assignment and the tables' contents
        web_router_enabled=False,
        web_tables_enabled=False,
        # Faust's group elects the leader (the coordinator's worker); a killed worker's
        # leadership moves after the same session timeout as its receivers
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=HEARTBEAT_INTERVAL_S,
        producer_acks=-1,
    )
    app.telering_settings = settings
    dlq_topic = app.topic(topics.dlq, partitions=1, key_serializer="raw", value_serializer="raw")
    worker = app.worker = Worker(app, settings, topics, dlq_topic)
    # `readings` is read by the receivers' own batch consumer (stream_app/consumer.py says why);
    # Faust runs the worker, elects the leader, produces to the DLQ and serves /healthz and /metrics.
    app.service(worker)  # type: ignore[arg-type]  # Faust starts an instance as it does a class
    app.on_partitions_assigned.connect(worker.on_faust_rebalance)
    setup_prometheus_sensors(app, pattern="/metrics", registry=registry_for(worker), name_prefix="faust")

    @app.page("/healthz")
    async def healthz(view: View, request: Request) -> Response:
        ready, details = health.check(worker)
        details["web_port"] = app.web.bound_port
        return view.json(details, status=200 if ready else 503)

    return app


app = build_app(Settings())
