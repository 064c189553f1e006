"""`python -m desktop_client`: the live dashboard."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from pathlib import Path

from desktop_client import qt_platform
from desktop_client.options import WINDOWS, ClientOptions, SensorFilter
from protocol.settings import Settings

log = logging.getLogger(__name__)

# What the `dashboard` extra installs: a plain `pip install telering` has none of them.
_GUI_MODULES = ("PyQt5", "pyqtgraph", "numpy")


def missing_gui_modules() -> list[str]:
    """The dashboard's toolkit modules this environment lacks."""
    return [name for name in _GUI_MODULES if importlib.util.find_spec(name) is None]


def parse_args(argv: list[str] | None, default_url: str, env: Settings | None = None) -> argparse.Namespace:
    env = env or Settings()
    env_token = env.telering_reader_token.get_secret_value() if env.telering_reader_token else None
    parser = argparse.ArgumentParser(
        prog="desktop_client", description="telering live dashboard: plots readings from a web node"
    )
    parser.add_argument("--url", default=default_url, help=f"web node base URL (WEB_NODE_URL, default {default_url})")
    parser.add_argument(
        "--token",
        default=env_token,
        help="reader token for a web node whose reads need one (TELERING_READER_TOKEN; prefer the variable: "
        "a command line is visible to other users)",
    )
    parser.add_argument(
        "--ca-file",
        type=Path,
        default=env.web_node_ca_file,
        help="CA certificate(s) that verify an https:// web node (WEB_NODE_CA_FILE; default: the system's)",
    )
    parser.add_argument(
        "--sensors",
        default="",
        metavar="IDS",
        help="comma-separated sensor ids or shell patterns to show, e.g. 'sensor-1,lab-*' (default: all)",
    )
    parser.add_argument(
        "--window",
        choices=list(WINDOWS),
        default="10m",
        help="time window shown at start (default 10m); 1h, 24h, 7d and 30d load downsampled history "
        "(/api/v1/stats buckets of whole minutes or hours)",
    )
    parser.add_argument(
        "--capacity",
        type=int,
        default=10_000,
        metavar="N",
        help="points kept per sensor (ring buffer size, default 10000)",
    )
    parser.add_argument(
        "--redraw-ms", type=int, default=100, metavar="MS", help="redraw period in milliseconds (default 100)"
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="save the window to PNG once it shows history and live readings, then exit "
        "(with QT_QPA_PLATFORM=offscreen: no screen needed)",
    )
    parser.add_argument(
        "--screenshot-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="give up (exit 1) if --screenshot has nothing to show after S seconds (default 60)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    if args.capacity < 1 or args.redraw_ms < 10:
        parser.error("--capacity must be >= 1 and --redraw-ms >= 10")
    return args


def main(argv: list[str] | None = None) -> int:
    env = Settings()
    args = parse_args(argv, env.web_node_url, env)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if missing := missing_gui_modules():
        log.error("the dashboard needs %s: pip install 'telering[dashboard]'", ", ".join(missing))
        return 2
    options = ClientOptions(
        url=args.url,
        sensors=SensorFilter.parse(args.sensors),
        window=args.window,
        capacity=args.capacity,
        redraw_ms=args.redraw_ms,
        token=args.token,
        ca_file=args.ca_file,
    )
    hint = qt_platform.problem(os.environ)
    if hint is not None:  # Qt would abort without naming what is missing
        log.error("%s", hint)
        return 1
    from desktop_client.app import run  # Qt loads only once the arguments are good

    if args.screenshot is not None:
        return run(options, screenshot=args.screenshot, screenshot_timeout_s=args.screenshot_timeout)
    return run(options)


if __name__ == "__main__":
    sys.exit(main())
