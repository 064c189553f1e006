"""Query-parameter parsing (web_node/read/params.py), without a server."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from web_node.errors import ApiError
from web_node.read import params


@pytest.mark.parametrize(
    ("raw", "unix_s"),
    [
        ("1764000000", 1_764_000_000.0),
        ("1764000000.25", 1_764_000_000.25),
        ("-315619170", -315_619_170.0),
        ("1e-05", 0.00001),
        ("2025-11-24T16:00:00Z", 1_764_000_000.0),
        ("2025-11-24t16:00:00.5z", 1_764_000_000.5),
        ("2025-11-24 18:00:00+02:00", 1_764_000_000.0),
        ("2025-11-24T16:00:00.1234567Z", 1_764_000_000.123456),  # beyond microseconds: truncated
        ("2016-12-31T23:59:60Z", 1_483_228_800.0),  # a leap second: the next second
        ("0001-01-01T00:00:00Z", params.MIN_UNIX_S),
        ("1764000000000", 1_764_000_000.0),  # epoch milliseconds: Grafana's ${__from}
        ("1764000000254", 1_764_000_000.254),
        ("2025-11-24T16:00:00.254Z", 1_764_000_000.254),  # Grafana's ${__from:date:iso}
    ],
)
def test_instants(raw, unix_s):
    assert params.parse_instant(raw) == pytest.approx(unix_s, abs=1e-6)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "now",
        "nan",
        "inf",
        "-inf",
        "1e400",
        "0x10",
        "1_000",
        "١٢٣",
        "2025-11-24T16:00:00",
        "2025-11-24",
        "2025-02-30T00:00:00Z",
        "2025-11-24T16:00:00+24:00",
        "2025-11-24T16:00:00+05:60",
        "2025-11-24T24:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "253402300800",
        "17640000000000",  # 14 digits: neither seconds in range nor milliseconds
        "-1764000000000",
        "1764000000000.5",
        "1764000000\n",
    ],
)
def test_not_instants(raw):
    assert params.parse_instant(raw) is None


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("1", True),
        ("1000", True),
        ("0", False),
        ("1001", False),
        ("01", True),
        ("-1", False),
        ("+1", False),
        ("1.0", False),
        (" 1", False),
        ("1\n", False),
        ("١", False),
        ("9" * 40, False),
    ],
)
def test_integers_are_plain_digits_in_range(raw, ok):
    query = MultiDict(limit=raw)
    if ok:
        assert params.integer(query, "limit", default=5, low=1, high=1000) == int(raw)
    else:
        with pytest.raises(ApiError) as refused:
            params.integer(query, "limit", default=5, low=1, high=1000)
        assert refused.value.status == 400 and refused.value.code == "invalid_parameter"
    assert params.integer(MultiDict(), "limit", default=5, low=1, high=1000) == 5


def test_names_unknown_repeated_and_repeatable():
    params.check_names(MultiDict([("sensor", "a"), ("sensor", "b")]), ("sensor",), repeatable=("sensor",))
    for query in (MultiDict(x="1"), MultiDict([("limit", "1"), ("limit", "2")])):
        with pytest.raises(ApiError):
            params.check_names(query, ("limit",))


def test_sensor_filter_keeps_order_without_repeats():
    assert params.sensors(MultiDict([("sensor", "b"), ("sensor", "a"), ("sensor", "b")])) == ["b", "a"]
    for bad in ("", "a b", "a/b", "x" * 65, "a\n"):
        with pytest.raises(ApiError):
            params.sensors(MultiDict(sensor=bad))


def test_an_unencoded_plus_gets_a_hint():
    with pytest.raises(ApiError) as refused:
        params.instant(MultiDict(since="2025-11-24T18:00:00 02:00"), "since")
    assert "%2B" in refused.value.text
