"""Every validation rule of ReadingIn / parse_reading (DESIGN.md, Reading)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from protocol import quantities, readings
from protocol.quantities import QUANTITIES, RANGES, TITLES, UNITS
from protocol.readings import (
    InvalidReading,
    Measurements,
    ReadingIn,
    ReadingOut,
    parse_reading,
    reading_out,
    rfc3339,
)


def _ts(delta_s: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=delta_s)).isoformat().replace("+00:00", "Z")


def valid(**overrides: object) -> dict[str, object]:
    reading: dict[str, object] = {
        "sensor_id": "sensor-001",
        "seq": 7,
        "ts": "2026-01-02T03:04:05.123456Z",
        "temperature": 21.5,
        "humidity": 48.0,
        "pressure": 1013.2,
        "battery": 88.0,
    }
    reading.update(overrides)
    return reading


def without(field: str) -> dict[str, object]:
    reading = valid()
    del reading[field]
    return reading


def accepted(reading: dict[str, object]) -> ReadingIn:
    return parse_reading(json.dumps(reading))


def rejected(raw: dict[str, object] | str | bytes, field: str | None = None) -> InvalidReading:
    with pytest.raises(InvalidReading) as info:
        parse_reading(json.dumps(raw) if isinstance(raw, dict) else raw)
    if field is not None:
        assert info.value.reason.startswith(field), info.value.reason
    return info.value


def test_a_valid_reading_parses_with_utc_ts() -> None:
    reading = accepted(valid())
    assert reading.sensor_id == "sensor-001" and reading.seq == 7
    assert reading.ts == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert (reading.temperature, reading.humidity, reading.pressure, reading.battery) == (21.5, 48.0, 1013.2, 88.0)


def test_parse_accepts_bytes_and_str() -> None:
    raw = json.dumps(valid())
    assert parse_reading(raw.encode()) == parse_reading(raw)


def test_integers_are_fine_for_float_fields() -> None:
    assert accepted(valid(temperature=20, pressure=1000)).temperature == 20.0


BOUNDS = [("temperature", -60, 100), ("humidity", 0, 100), ("pressure", 300, 1100), ("battery", 0, 100)]


@pytest.mark.parametrize(("field", "low", "high"), BOUNDS)
def test_range_bounds_are_inclusive(field: str, low: float, high: float) -> None:
    assert getattr(accepted(valid(**{field: float(low)})), field) == low
    assert getattr(accepted(valid(**{field: float(high)})), field) == high


@pytest.mark.parametrize(("field", "low", "high"), BOUNDS)
def test_values_just_outside_the_range_are_rejected(field: str, low: float, high: float) -> None:
    rejected(valid(**{field: low - 0.001}), field)
    rejected(valid(**{field: high + 0.001}), field)


@pytest.mark.parametrize("field", ["temperature", "humidity", "pressure", "battery"])
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_nan_and_infinities_are_rejected(field: str, token: str) -> None:
    raw = json.dumps(valid(**{field: 1.0})).replace(f'"{field}": 1.0', f'"{field}": {token}')
    assert token in raw
    rejected(raw, field)


def test_nan_is_rejected_in_python_mode_too() -> None:
    with pytest.raises(ValueError):
        ReadingIn.model_validate(valid(temperature=float("nan")))


@pytest.mark.parametrize("field", list(valid()))
def test_every_field_is_required(field: str) -> None:
    rejected(without(field), field)


@pytest.mark.parametrize("extra", [{"firmware": "1.0"}, {"id": 3}, {"stored_at": 1.0}])
def test_extra_fields_are_rejected(extra: dict[str, object]) -> None:
    rejected(valid(**extra), next(iter(extra)))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", "7"),
        ("seq", 7.0),
        ("seq", 7.5),
        ("seq", True),
        ("seq", None),
        ("temperature", "21.5"),
        ("temperature", True),
        ("humidity", False),
        ("pressure", None),
        ("battery", [88.0]),
        ("sensor_id", 17),
        ("sensor_id", None),
        ("ts", None),
        ("ts", ["2026-01-02"]),
    ],
)
def test_wrong_types_are_rejected(field: str, value: object) -> None:
    rejected(valid(**{field: value}), field)


def test_ts_as_a_number_is_rejected() -> None:
    rejected(valid(ts=1_767_323_045.0), "ts")
    rejected(valid(ts=1_767_323_045), "ts")


def test_ts_as_a_numeric_string_is_rejected() -> None:
    rejected(valid(ts="1767323045"), "ts")


@pytest.mark.parametrize("ts", ["2026-01-02T03:04:05", "2026-01-02T03:04:05.5", "2026-01-02"])
def test_ts_without_an_offset_is_rejected(ts: str) -> None:
    rejected(valid(ts=ts), "ts")


@pytest.mark.parametrize("ts", ["yesterday", "2026-13-02T03:04:05Z", "", "2026-01-02T25:00:00Z"])
def test_ts_that_is_not_a_timestamp_is_rejected(ts: str) -> None:
    rejected(valid(ts=ts), "ts")


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_ts_whose_utc_form_leaves_the_calendar_is_rejected_not_raised(ts: str) -> None:
    rejected(valid(ts=ts), "ts")  # was an OverflowError: a 500 at the web node


def test_ts_with_another_offset_is_normalised_to_utc() -> None:
    reading = accepted(valid(ts="2026-01-02T05:04:05+02:00"))
    assert reading.ts == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert reading.ts.utcoffset() == timedelta(0)


def test_ts_one_minute_in_the_future_is_accepted() -> None:
    accepted(valid(ts=_ts(60)))


@pytest.mark.parametrize("ahead_s", [330, 3600, 86_400 * 365])
def test_ts_more_than_five_minutes_in_the_future_is_rejected(ahead_s: float) -> None:
    assert "future" in rejected(valid(ts=_ts(ahead_s)), "ts").reason


def test_old_ts_is_accepted() -> None:
    accepted(valid(ts="1999-12-31T23:59:59Z"))


@pytest.mark.parametrize("sensor_id", ["a", "A-z_0.9", "s" * 64, "sensor-000", "..", "-"])
def test_sensor_id_charset_and_length_accepted(sensor_id: str) -> None:
    assert accepted(valid(sensor_id=sensor_id)).sensor_id == sensor_id


@pytest.mark.parametrize("sensor_id", ["", "s" * 65, "a b", "a/b", "a:b", "é", "٣", "abc\n", "a\x00", "a+b"])
def test_sensor_id_charset_and_length_rejected(sensor_id: str) -> None:
    rejected(valid(sensor_id=sensor_id), "sensor_id")


def test_seq_bounds() -> None:
    assert accepted(valid(seq=0)).seq == 0
    assert accepted(valid(seq=2**63 - 1)).seq == 2**63 - 1
    rejected(valid(seq=-1), "seq")
    rejected(valid(seq=2**63), "seq")


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"not json", b"[]", b'"reading"', b"null", b"\xff\xfe{}", b"{'sensor_id': 'a'}"]
)
def test_malformed_json_is_rejected(raw: bytes) -> None:
    rejected(raw)


def test_invalid_reading_reason_is_one_line_and_names_the_fields() -> None:
    error = rejected(valid(temperature=1000.0, humidity=-1.0))
    assert "\n" not in error.reason
    assert "temperature" in error.reason and "humidity" in error.reason
    assert str(error) == error.reason
    assert isinstance(error, ValueError)


def test_rfc3339_is_utc_with_six_fractional_digits() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000000Z"
    assert rfc3339(1_764_000_000.5) == "2025-11-24T16:00:00.500000Z"
    assert rfc3339(datetime.fromisoformat("2026-11-24T15:00:00.123456+01:00")) == "2026-11-24T14:00:00.123456Z"


@pytest.mark.parametrize("ts", [1_764_000_000.123456, datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)])
def test_reading_out_is_the_models_json(ts: float | datetime) -> None:
    """The hot-path dict equals what ReadingOut itself would write, field order included."""
    row = {**valid(), "ts": ts, "stored_at": 1.0, "id": 3}  # a stored row has more columns: not sent
    rendered = reading_out(row)
    model = ReadingOut.model_validate(row).model_dump(mode="json")
    assert rendered == model and list(rendered) == list(model) == ["sensor_id", "seq", "ts", *QUANTITIES]


def test_in_and_out_share_every_field_rule() -> None:
    """ReadingIn and ReadingOut are one family: same fields, same JSON Schema for all but ts's text."""
    inbound, outbound = ReadingIn.model_json_schema(), ReadingOut.model_json_schema(mode="serialization")
    assert list(inbound["properties"]) == list(outbound["properties"])
    for name in inbound["properties"]:
        if name != "ts":
            assert inbound["properties"][name] == outbound["properties"][name], name


def test_measurements_is_the_quantities_table() -> None:
    """Measurements (its JSON Schema, what ReadingIn validates) and the ranges, units and titles the
    dashboard and the simulator use are one declaration, protocol/quantities.py."""
    schema = Measurements.model_json_schema()["properties"]
    assert list(RANGES) == list(UNITS) == list(TITLES) == list(QUANTITIES) == list(schema)
    for quantity, declared in schema.items():
        assert RANGES[quantity] == (declared["minimum"], declared["maximum"])
        assert UNITS[quantity] == declared["description"] and TITLES[quantity] == declared["title"]
    assert readings.QUANTITIES is quantities.QUANTITIES


def test_one_fields_validator_per_model_and_a_model_with_model_level_rules_refused():
    """The hot paths share one validator per model; a model its fields alone cannot check is refused."""
    from pydantic import model_validator

    assert readings.reading_validator() is readings.reading_validator(readings.ReadingIn)
    assert readings.reading_validator(readings.ReadingOut) is not readings.reading_validator()

    class Checked(readings.ReadingIn):
        @model_validator(mode="after")
        def _humid_when_cold(self):
            return self

    with pytest.raises(TypeError, match="model-level rules"):
        readings.reading_validator(Checked)
