"""The compose project as `docker compose` reads it: the YAML files merged, `${VAR}` interpolated,
each service's command, environment, ports, secrets, volumes, health check and `depends_on`.

Only what compose/docker-compose*.yml use is modelled; anything else in a service is ignored
(tests/compose/test_compose_files.py keeps the files to the known attributes).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from testkit.cluster.limits import parse_bytes

__all__ = ["ComposeError", "HealthCheck", "Project", "Service", "interpolate", "load", "merge", "parse_bytes"]

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "compose" / "docker-compose.yml"
KAFKA3 = ROOT / "compose" / "docker-compose.kafka3.yml"
SECRETS_TARGET = "/run/secrets"
_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


class ComposeError(ValueError):
    """The compose files say something this harness cannot run; the message says what."""


@dataclass(frozen=True)
class HealthCheck:
    test: list[str]  # compose's form: ["CMD", argv...] or ["CMD-SHELL", script]
    interval_s: float = 30.0
    timeout_s: float = 30.0
    retries: int = 3
    start_period_s: float = 0.0

    def argv(self) -> list[str]:
        kind, *rest = self.test
        if kind == "CMD":
            return rest
        if kind == "CMD-SHELL":
            return ["sh", "-c", rest[0]]
        raise ComposeError(f"health check test {self.test!r}: expected CMD or CMD-SHELL")


@dataclass(frozen=True)
class Service:
    name: str
    image: str
    command: list[str] | None
    environment: dict[str, str]
    ports: list[tuple[int, int]]  # (published, container)
    secrets: dict[str, str]  # target path -> secret name
    configs: dict[str, str]  # target path -> config name
    volumes: dict[str, str]  # target path -> volume name
    depends_on: dict[str, str]  # service -> condition
    healthcheck: HealthCheck | None
    restart: str = "no"
    hostname: str | None = None
    mem_limit: int | None = None  # bytes (testkit/cluster/limits.py)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def image_name(self) -> str:
        return self.image.rpartition(":")[0] or self.image


@dataclass(frozen=True)
class Project:
    services: dict[str, Service]
    secret_files: dict[str, Path]  # secret name -> file (relative to compose/)
    config_files: dict[str, Path] = field(default_factory=dict)  # config name -> file (in compose/)

    def start_order(self, wanted: list[str] | None = None) -> list[str]:
        """Services in `depends_on` order (dependencies first), like `docker compose up`."""
        order: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in order:
                return
            if name in visiting:
                raise ComposeError(f"depends_on cycle through {name}")
            visiting.add(name)
            for dependency in self.services[name].depends_on:
                visit(dependency)
            visiting.discard(name)
            order.append(name)

        for name in list(self.services) if wanted is None else wanted:
            visit(name)
        return order


def merge(base: Any, override: Any) -> Any:
    """Compose's merge of an override file for what these files use: mappings merge, the rest replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return override


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `$VAR` and `$$` as compose does."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, arg = match.group(2), match.group(3) or ""
        value = variables.get(name)
        if op == ":-":
            return value if value else interpolate(arg, variables)
        if op == "-":
            return value if value is not None else interpolate(arg, variables)
        if op in (":?", "?") and not value:
            raise ComposeError(f"${{{name}}} is required: {arg}")
        return value or ""

    return _VARIABLE.sub(replace, text)


def _interpolated(value: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return interpolate(value, variables)
    if isinstance(value, list):
        return [_interpolated(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _interpolated(v, variables) for k, v in value.items()}
    return value


def load(files: list[Path] | None = None, variables: Mapping[str, str] | None = None) -> Project:
    """The project of `files` (default: docker-compose.yml + docker-compose.kafka3.yml)."""
    raw: dict = {}
    for path in files or [BASE, KAFKA3]:
        raw = merge(raw, yaml.safe_load(path.read_text()))
    raw = _interpolated(raw, dict(variables or {}))
    services = {name: _service(name, spec) for name, spec in raw["services"].items()}
    folder = (files or [BASE])[0].parent
    secret_files = {name: (folder / spec["file"]).resolve() for name, spec in raw.get("secrets", {}).items()}
    config_files = {name: (folder / spec["file"]).resolve() for name, spec in raw.get("configs", {}).items()}
    return Project(services, secret_files, config_files)


def _service(name: str, spec: dict) -> Service:
    command = spec.get("command")
    if isinstance(command, str):
        command = shlex.split(command)
    if "entrypoint" in spec:
        raise ComposeError(f"{name}: entrypoint is not supported by this harness")
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    ports = []
    for port in spec.get("ports", []):
        # [address:]published:target; the harness publishes on its bridge address whatever the
        # address (testkit/cluster/ports.py), so it is not kept
        published, _, target = str(port).rpartition(":")
        ports.append((int(published.rpartition(":")[2] or target), int(target)))
    secrets = _mounts(spec.get("secrets", []), SECRETS_TARGET)
    configs = _mounts(spec.get("configs", []), "")
    volumes = {v.split(":")[1]: v.split(":")[0] for v in spec.get("volumes", [])}
    depends = spec.get("depends_on") or {}
    if isinstance(depends, list):
        depends = dict.fromkeys(depends, "service_started")
    else:
        depends = {k: (v or {}).get("condition", "service_started") for k, v in depends.items()}
    check = spec.get("healthcheck")
    health = None
    if check and not check.get("disable"):
        test = check["test"]
        health = HealthCheck(
            test=["CMD-SHELL", test] if isinstance(test, str) else list(test),
            interval_s=duration(check.get("interval", "30s")),
            timeout_s=duration(check.get("timeout", "30s")),
            retries=int(check.get("retries", 3)),
            start_period_s=duration(check.get("start_period", "0s")),
        )
    return Service(
        name=name,
        image=spec["image"],
        command=[str(c) for c in command] if command else None,
        environment={k: "" if v is None else str(v) for k, v in env.items()},
        ports=ports,
        secrets=secrets,
        configs=configs,
        volumes=volumes,
        depends_on=depends,
        healthcheck=health,
        restart=str(spec.get("restart", "no")),
        hostname=spec.get("hostname"),
        mem_limit=parse_bytes(spec.get("mem_limit")),
    )


def _mounts(entries: list, folder: str) -> dict[str, str]:
    """Secrets or configs, short or long form: target path -> name. A relative secret target is
    under /run/secrets; a config's default target is /<name>, as compose mounts them."""
    mounts = {}
    for entry in entries:
        source, target = (entry, None) if isinstance(entry, str) else (entry["source"], entry.get("target"))
        target = target or source
        mounts[target if target.startswith("/") else f"{folder}/{target}"] = source
    return mounts


def duration(text: str | int | float) -> float:
    """Compose durations: `10s`, `1m30s`, `500ms`."""
    if isinstance(text, (int, float)):
        return float(text)
    total, units = 0.0, {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text):
        total += float(number) * units[unit]
    return total
