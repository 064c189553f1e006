"""The simulator's command line: defaults from the environment, options mapped onto the config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from protocol.settings import Settings
from simulator.__main__ import build_parser, config_from_args, main, print_progress
from simulator.config import Progress, SimulatorConfig
from simulator.faults import FaultConfig


def parse(*argv: str, settings: Settings | None = None) -> SimulatorConfig:
    parser = build_parser(settings or Settings(kafka_bootstrap="127.0.0.1:9092", telering_topic_prefix=""))
    return config_from_args(parser.parse_args(list(argv)))


def test_defaults() -> None:
    config = parse()
    assert (config.bootstrap, config.topic) == ("127.0.0.1:9092", "readings")
    assert (config.sensors, config.rate, config.count, config.duration_s) == (10, 100.0, None, None)
    assert (config.seed, config.sensor_prefix, config.start_seq) == (0, "sensor-", 0)
    assert config.faults == FaultConfig()
    assert config.summary_json is None and config.progress is print_progress


def test_bootstrap_and_topic_default_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "broker:29092")
    monkeypatch.setenv("TELERING_TOPIC_PREFIX", "t7-")
    config = parse(settings=Settings())
    assert (config.bootstrap, config.topic) == ("broker:29092", "t7-readings")


def test_every_option_maps_onto_the_config(tmp_path: Path) -> None:
    config = parse(
        "--sensors",
        "5",
        "--rate",
        "0",
        "--count",
        "2000",
        "--seed",
        "42",
        "--bootstrap",
        "b:1",
        "--topic",
        "t",
        "--sensor-prefix",
        "dev.",
        "--start-seq",
        "500",
        "--invalid-fraction",
        "0.05",
        "--duplicate-fraction",
        "0.04",
        "--out-of-order-fraction",
        "0.03",
        "--day-length",
        "60",
        "--summary-json",
        str(tmp_path / "s.json"),
        "--quiet",
        "--partitions",
        "8",
    )
    assert config == SimulatorConfig(
        bootstrap="b:1",
        topic="t",
        partitions=8,
        sensors=5,
        rate=0.0,
        count=2000,
        seed=42,
        sensor_prefix="dev.",
        start_seq=500,
        faults=FaultConfig(0.05, 0.04, 0.03),
        day_length_s=60.0,
        summary_json=tmp_path / "s.json",
        progress=None,
    )
    assert parse("--duration", "2.5").duration_s == 2.5


def test_help_documents_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--sensors",
        "--rate",
        "--duration",
        "--count",
        "--seed",
        "--bootstrap",
        "--topic",
        "--sensor-prefix",
        "--start-seq",
        "--invalid-fraction",
        "--duplicate-fraction",
        "--out-of-order-fraction",
        "--day-length",
        "--summary-json",
        "--quiet",
        "--partitions",
    ):
        assert option in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--duration", "1", "--count", "1"],
        ["--sensors", "0"],
        ["--rate", "-1"],
        ["--count", "-5"],
        ["--invalid-fraction", "2"],
        ["--invalid-fraction", "0.6", "--duplicate-fraction", "0.6"],
        ["--sensor-prefix", "bad prefix"],
        ["--start-seq", "-1"],
        ["--sensors", "many"],
    ],
)
def test_bad_options_exit_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_progress_line_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    print_progress(Progress(elapsed_s=3.0, submitted=120, delivered=100, failed=1, rate=1234.5))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "100 delivered" in captured.err and "19 pending" in captured.err and "1,234 msg/s" in captured.err


def test_the_simulator_starts_without_sqlmodel() -> None:
    """Its ranges come from protocol.quantities, not protocol.readings: SQLModel and SQLAlchemy
    would add seconds to every start on a busy machine (load generators count from the spawn)."""
    code = "import sys, simulator.__main__; print(','.join(m for m in ('sqlmodel', 'sqlalchemy') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == ""
