"""Export what is shown: the plots as PNG, the visible points as CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PyQt5.QtWidgets import QWidget

from desktop_client.options import QUANTITIES

CSV_HEADER = ["sensor_id", "ts", "unix_s", *QUANTITIES]


class ExportError(OSError):
    """An export file could not be written."""


def save_png(widget: QWidget, path: Path) -> Path:
    """Render the widget as it is on screen (works offscreen too) into a PNG file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(path), "PNG"):
        raise ExportError(f"could not write PNG {path}")
    return path


def write_csv(path: Path, rows_by_sensor: Iterable[tuple[str, np.ndarray]]) -> int:
    """Rows (t, quantities...) per sensor into one CSV, time as RFC 3339 UTC; returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_HEADER)
        for sensor_id, rows in rows_by_sensor:
            for row in rows:
                ts = datetime.fromtimestamp(row[0], tz=UTC).isoformat(timespec="milliseconds")
                writer.writerow([sensor_id, ts.replace("+00:00", "Z"), f"{row[0]:.3f}", *(f"{v:.3f}" for v in row[1:])])
                written += 1
    return written
