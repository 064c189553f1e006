"""The four measured quantities: title, unit and valid range, declared once (DESIGN.md, Reading).

`protocol.readings.Measurements` builds its fields from this table (tests/protocol checks the
two agree), and the parts that need only the ranges and units read them here: importing this
module costs nothing, importing `protocol.readings` costs SQLModel and SQLAlchemy (seconds on a
busy machine), which a simulator starting up should not pay.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quantity:
    name: str
    title: str
    unit: str
    low: float
    high: float


_DECLARED = (
    Quantity("temperature", "Temperature", "°C", -60.0, 100.0),
    Quantity("humidity", "Humidity", "%RH", 0.0, 100.0),
    Quantity("pressure", "Pressure", "hPa", 300.0, 1100.0),
    Quantity("battery", "Battery", "%", 0.0, 100.0),
)

QUANTITY: dict[str, Quantity] = {q.name: q for q in _DECLARED}
QUANTITIES: tuple[str, ...] = tuple(QUANTITY)  # temperature, humidity, pressure, battery
RANGES: dict[str, tuple[float, float]] = {q.name: (q.low, q.high) for q in _DECLARED}
UNITS: dict[str, str] = {q.name: q.unit for q in _DECLARED}
TITLES: dict[str, str] = {q.name: q.title for q in _DECLARED}
