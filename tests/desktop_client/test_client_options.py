"""Options, window plans, sensor filters, back-off, rates and wire parsing: no Qt, no network."""

from __future__ import annotations

import json
import random

import pytest

from desktop_client.backoff import Backoff
from desktop_client.options import (
    DAY,
    RAW_HISTORY_MAX_S,
    STATS_MAX_POINTS,
    STATS_POINTS,
    WINDOWS,
    ClientOptions,
    SensorFilter,
    plan_for,
)
from desktop_client.rate import RateMeter
from desktop_client.records import Sample, WireError, parse_sample, parse_sensors, parse_stats, parse_time
from protocol.readings import ReadingOut, reading_fields_schema, reading_out


def test_short_windows_load_raw_readings_long_ones_stats_buckets():
    assert list(WINDOWS) == ["1m", "10m", "1h", "24h", "7d", "30d"]
    assert plan_for(WINDOWS["1m"]).raw and plan_for(WINDOWS["10m"]).raw
    buckets = {key: plan_for(WINDOWS[key]).bucket_s for key in ("1h", "24h", "7d", "30d")}
    assert buckets == {"1h": 60, "24h": 180, "7d": 3600, "30d": 7200}  # what the rollups answer
    for key in buckets:
        plan = plan_for(WINDOWS[key])
        assert not plan.raw and plan.points_per_sensor <= 500
        assert plan.sensors_per_stats_request() * plan.points_per_sensor <= STATS_MAX_POINTS


def test_every_stats_bucket_is_whole_minutes_or_whole_hours():
    for window_s in range(RAW_HISTORY_MAX_S + 1, 90 * DAY, 3607):
        bucket = plan_for(window_s).bucket_s
        assert bucket % 60 == 0 and (bucket < 3600 or bucket % 3600 == 0), (window_s, bucket)
        assert window_s / bucket <= STATS_POINTS


def test_sensor_filter_exact_ids_go_to_the_server_patterns_stay_local():
    exact = SensorFilter.parse("a, b")
    assert exact.exact_ids == ("a", "b") and exact.accepts("a") and not exact.accepts("c")
    pattern = SensorFilter.parse("lab-*")
    assert pattern.exact_ids is None and pattern.accepts("lab-3") and not pattern.accepts("roof-1")
    assert SensorFilter.parse("").accepts("anything")


def test_options_reject_unknown_window():
    with pytest.raises(ValueError, match="'2h'"):
        ClientOptions(url="http://x", window="2h")


def test_backoff_grows_to_its_cap_and_resets():
    backoff = Backoff(base=0.5, factor=2, maximum=4, jitter=0, rng=random.Random(1))
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1, 2, 4, 4]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_rate_meter_counts_the_last_span_only():
    meter = RateMeter(span_s=5)
    meter.add(50, now=100.0)
    meter.add(50, now=104.0)
    assert meter.rate(now=104.0) == 20.0
    assert meter.rate(now=108.0) == 10.0


def test_wire_parses_the_api_shapes():
    reading = {
        "sensor_id": "s1",
        "seq": 3,
        "ts": "2026-11-24T14:00:00.5Z",
        "temperature": 21.5,
        "humidity": 45.0,
        "pressure": 1013.2,
        "battery": 88.0,
    }
    sample = parse_sample(reading)
    assert sample.t == parse_time("2026-11-24T14:00:00.5+00:00") and sample.values[2] == 1013.2
    [info], next_after = parse_sensors(
        {
            "next_after": None,
            "sensors": [
                {
                    "sensor_id": "s1",
                    "count": 4,
                    "first_seen": reading["ts"],
                    "last_seen": reading["ts"],
                    "latest": reading,
                }
            ],
        }
    )
    assert info.count == 4 and info.latest == sample and next_after is None
    cell = {"min": 1.0, "max": 3.0, "mean": 2.0}
    [block] = parse_stats(
        {
            "bucket_s": 60,
            "series": [
                {
                    "sensor_id": "s1",
                    "points": [
                        {
                            "t": 120.0,
                            "count": 2,
                            "temperature": cell,
                            "humidity": cell,
                            "pressure": cell,
                            "battery": cell,
                        },
                        {
                            "t": "1970-01-01T00:01:00Z",
                            "count": 1,
                            "temperature": cell,
                            "humidity": cell,
                            "pressure": cell,
                            "battery": cell,
                        },
                    ],
                }
            ],
        }
    )
    assert block.t.tolist() == [60.0, 120.0] and block.counts.tolist() == [1, 2]


def test_wire_refuses_garbage_with_its_own_error():
    with pytest.raises(WireError):
        parse_sample({"sensor_id": "s1"})
    with pytest.raises(WireError):
        parse_time("yesterday")
    with pytest.raises(WireError, match="bad /stats answer"):
        parse_stats({"bucket_s": 60, "series": [{"sensor_id": "s1", "points": [{"t": 60.0, "count": 1}]}]})


def test_readings_are_checked_against_the_protocol_model():
    """parse_sample reads what reading_out writes, and refuses what ReadingOut refuses."""
    row = {"sensor_id": "lab.3", "seq": 9, "ts": 1_764_000_000.25, "temperature": -60, "humidity": 100.0,
           "pressure": 300.0, "battery": 0.0}  # fmt: skip
    rendered = reading_out(row)
    for raw in (rendered, json.dumps(rendered), json.dumps(rendered).encode()):
        assert parse_sample(raw) == Sample("lab.3", 9, 1_764_000_000.25, (-60.0, 100.0, 300.0, 0.0))
    assert parse_sample({**rendered, "receiver": 2}).seq == 9  # a field the client does not know: ignored
    for field, bad in (("pressure", 1100.5), ("sensor_id", "no spaces"), ("seq", -1), ("ts", "2026-11-24T14:00:00")):
        with pytest.raises(WireError, match=field if field != "ts" else "timezone"):
            parse_sample({**rendered, field: bad})
    assert reading_fields_schema(ReadingOut) is not None  # so parse_sample checks every rule of the model
