"""`run(config) -> Summary`: one simulator run, in-process (the CLI, demo, benchmarks, tests)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from protocol.settings import Settings
from simulator.config import Progress, SimulatorConfig
from simulator.messages import MessageSource, sensor_ids
from simulator.producer import Pacer, ReadingProducer, check_kafka, ensure_topic
from simulator.summary import Summary, Tally

log = logging.getLogger(__name__)


def run(config: SimulatorConfig) -> Summary:
    """Produce readings as configured, wait for every acknowledgement, return the summary.

    Ctrl-C or SIGTERM (`docker compose stop`) ends the run early, between two messages, and it
    still flushes and summarises.
    """
    ids = sensor_ids(config.sensor_prefix, config.sensors)
    source = MessageSource(
        ids, config.seed, start_seq=config.start_seq, faults=config.faults, day_length_s=config.day_length_s
    )
    tally = Tally(ids, config.start_seq)
    log.info(
        "producing to %s at %s: %d sensors, rate %s/s, seed %d, seqs from %d",
        config.topic,
        config.bootstrap,
        config.sensors,
        config.rate or "max",
        config.seed,
        config.start_seq,
    )
    kafka = (config.kafka if config.kafka is not None else Settings()).model_copy(
        update={"kafka_bootstrap": config.bootstrap}
    )
    check_kafka(kafka)
    if config.partitions:
        ensure_topic(kafka, config.topic, config.partitions)
    with ReadingProducer(kafka, config.topic, tally, **config.producer_options) as producer:
        started, started_at = time.monotonic(), time.time()
        with _stop_requests() as stop:
            try:
                _produce(config, source, producer, tally, started, stop)
            except KeyboardInterrupt:  # run outside the main thread: no handler of our own
                stop.set()
        if stop.is_set():
            log.info("interrupted: flushing what was already sent")
        for message in source.drain():
            producer.send(message)
        producer.flush(config.flush_timeout_s)
        elapsed = time.monotonic() - started
    summary = tally.summary(elapsed, started_at)
    if summary.failed:
        log.warning("%d message(s) were not delivered; last error: %s", summary.failed, tally.last_error)
    if config.summary_json is not None:
        summary.write(config.summary_json)
    return summary


@contextmanager
def _stop_requests() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while the run lasts (in the main thread only: signal
    handlers cannot be installed elsewhere), so a stop never falls between sending a message
    and counting it."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _produce(
    config: SimulatorConfig,
    source: MessageSource,
    producer: ReadingProducer,
    tally: Tally,
    started: float,
    stop: threading.Event,
) -> None:
    pacer = Pacer(config.rate)
    deadline = None if config.duration_s is None else started + config.duration_s
    reporter = _Reporter(config, tally, producer, started)
    slot = 0
    while (config.count is None or slot < config.count) and not stop.is_set():
        pacer.wait(slot, not_after=deadline)
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        for message in source.slot(slot, now - started):
            producer.send(message)
        slot += 1
        producer.wait_for_room()
        reporter.maybe_report(now)


class _Reporter:
    """Calls `config.progress` about once a second with the delivery rate."""

    def __init__(self, config: SimulatorConfig, tally: Tally, producer: ReadingProducer, started: float) -> None:
        self._callback = config.progress
        self._tally, self._producer, self._started = tally, producer, started
        self._last_time, self._last_delivered = started, 0

    def maybe_report(self, now: float) -> None:
        if self._callback is None or now - self._last_time < 1.0:
            return
        delivered = self._tally.delivered
        rate = (delivered - self._last_delivered) / (now - self._last_time)
        self._last_time, self._last_delivered = now, delivered
        self._callback(
            Progress(
                elapsed_s=now - self._started,
                submitted=self._producer.submitted,
                delivered=delivered,
                failed=self._tally.failed,
                rate=rate,
            )
        )
