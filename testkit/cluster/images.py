"""What each compose image becomes on a namespace host, the image's own conventions kept:

- `apache/kafka:<version>`: that release's Maven jars and log4j config (kafka_local.jars); its
  `KAFKA_*` environment turned into `server.properties` the way the image does
  (docker/resources/common-scripts/configure and kafka.docker.KafkaDockerWrapper: `KAFKA_FOO_BAR`
  -> `foo.bar`, `___` -> `-`, `__` -> `_`; the SSL `_FILENAME` / `_CREDENTIALS` files under
  /etc/kafka/secrets), storage formatted with CLUSTER_ID, `kafka.Kafka` launched with
  KAFKA_HEAP_OPTS and KAFKA_OPTS;
- `postgres`: Debian's PostgreSQL server (testkit.cluster.postgres_image), initialised as the image's entrypoint does
  (POSTGRES_USER, POSTGRES_PASSWORD_FILE, POSTGRES_DB, `listen_addresses='*'`, scram for hosts);
- `haproxy`: Debian's haproxy (`make sysdeps`) with the service's own config file (a compose
  `configs:` mount, its paths mapped), started as the image's entrypoint does (`haproxy -W -db -f
  /usr/local/etc/haproxy/haproxy.cfg`, master-worker in the foreground), stopped with the image's
  STOPSIGNAL (SIGUSR1, a soft stop);
- `telering`: this repository's virtualenv (the Dockerfile's ENV, its WORKDIR).

A container's file system is a directory per host (`root`): every absolute path the compose
files name (secrets, volumes, the working directory) is that path under `root`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from kafka_local.jars import resolve
from testkit.cluster.compose import ComposeError, Service
from testkit.cluster.hostfs import HostFs, Launch
from testkit.cluster.postgres_image import postgres_launch

_KAFKA_SECRETS = "/etc/kafka/secrets"
# KafkaDockerWrapper.ExcludeServerPropsEnv: environment the image does not turn into properties
_NOT_PROPERTIES = {
    "KAFKA_VERSION",
    "KAFKA_HEAP_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_HOSTNAME",
}
_JVM_PERFORMANCE = "-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35"
_BROKER_API_VERSIONS = "/opt/kafka/bin/kafka-broker-api-versions.sh"
TELERING_WORKDIR = "/home/telering"  # compose/Dockerfile's final WORKDIR
HAPROXY_CONFIG = "/usr/local/etc/haproxy/haproxy.cfg"  # the haproxy image's CMD reads this file


def mapped_paths(service: Service) -> list[str]:
    return [*service.secrets, *service.configs, *service.volumes, "/run/secrets", _KAFKA_SECRETS, TELERING_WORKDIR]


def launch(service: Service, fs: HostFs, venv_bin: Path) -> Launch:
    if service.image_name == "apache/kafka":
        return _kafka(service, fs)
    if service.image_name == "postgres":
        return postgres_launch(service, fs)
    if service.image_name == "telering":
        return _telering(service, fs, venv_bin)
    if service.image_name == "haproxy":
        return _haproxy(service, fs)
    raise ComposeError(f"{service.name}: no stand-in for image {service.image!r} on this machine")


def base_env(fs: HostFs, venv_bin: Path) -> dict[str, str]:
    """A container's start: no environment of ours, only PATH, HOME and the Dockerfile's ENV."""
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": str(fs.path(TELERING_WORKDIR)),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }


def health_argv(service: Service, fs: HostFs, venv_bin: Path) -> list[str]:
    """The service's health check command as it runs on the host (paths mapped; the Kafka
    image's CLI tool replaced by its kafka-python equivalent, testkit.cluster.probe)."""
    assert service.healthcheck is not None
    argv = [fs.text(a) for a in service.healthcheck.argv()]
    # run by its path: the test kit is not installed in the virtualenv, only the product is
    probe = f"{sys.executable} {Path(__file__).with_name('probe.py')} broker-api-versions"
    return [a.replace(_BROKER_API_VERSIONS, probe) for a in argv]


def _telering(service: Service, fs: HostFs, venv_bin: Path) -> Launch:
    if not service.command:
        raise ComposeError(f"{service.name}: the telering image needs a command")
    workdir = fs.path(TELERING_WORKDIR)
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**base_env(fs, venv_bin), **{k: fs.text(v) for k, v in service.environment.items()}}
    return Launch([fs.text(a) for a in service.command], env, workdir)


def _haproxy(service: Service, fs: HostFs) -> Launch:
    binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if binary is None:
        raise ComposeError("haproxy not found: apt-get install haproxy (make sysdeps)")
    argv = [fs.text(a) for a in (service.command or ["haproxy", "-f", HAPROXY_CONFIG])]
    if argv[0] == "haproxy":  # the image's docker-entrypoint.sh: master-worker, in the foreground
        argv = [binary, "-W", "-db", *argv[1:]]
    for i, arg in enumerate(argv[:-1]):
        if arg == "-f":  # the config as the container reads it: its absolute paths under the root
            config = Path(argv[i + 1])
            config.write_text(fs.text(config.read_text()))
    return Launch(argv, {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}, fs.root, stop_signal="SIGUSR1")


def kafka_properties(env: dict[str, str], fs: HostFs) -> dict[str, str]:
    """server.properties from the image's environment convention."""
    env = dict(env)
    if "KAFKA_LISTENERS" not in env and "KAFKA_ADVERTISED_LISTENERS" in env:
        raise ComposeError("KAFKA_LISTENERS unset: the image would derive it; set it explicitly")
    if "SSL://" in env.get("KAFKA_ADVERTISED_LISTENERS", ""):
        for name in ("KAFKA_SSL_KEYSTORE_FILENAME", "KAFKA_SSL_KEY_CREDENTIALS", "KAFKA_SSL_KEYSTORE_CREDENTIALS"):
            if not env.get(name):
                raise ComposeError(f"{name} environment variable not set (the image's configure needs it)")
        env["KAFKA_SSL_KEYSTORE_LOCATION"] = f"{_KAFKA_SECRETS}/{env['KAFKA_SSL_KEYSTORE_FILENAME']}"
        env["KAFKA_SSL_KEY_PASSWORD"] = _secret(fs, env["KAFKA_SSL_KEY_CREDENTIALS"])
        env["KAFKA_SSL_KEYSTORE_PASSWORD"] = _secret(fs, env["KAFKA_SSL_KEYSTORE_CREDENTIALS"])
    props = {}
    for key, value in env.items():
        if key.startswith("KAFKA_") and key not in _NOT_PROPERTIES:
            name = key.replace("KAFKA_", "").lower().replace("_", ".").replace("...", "-").replace("..", "_")
            props[name] = fs.text(value)
    return props


def _secret(fs: HostFs, name: str) -> str:
    path = fs.path(f"{_KAFKA_SECRETS}/{name}")
    if not path.exists():
        raise ComposeError(f"{_KAFKA_SECRETS}/{name} file does not exist")
    return path.read_text().strip()


def _kafka(service: Service, fs: HostFs) -> Launch:
    env = service.environment
    if "CLUSTER_ID" not in env:
        raise ComposeError(f"{service.name}: CLUSTER_ID environment variable not set")
    config = fs.path("/opt/kafka/config/server.properties")
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("".join(f"{k}={v}\n" for k, v in kafka_properties(env, fs).items()))
    for target in service.volumes:
        fs.path(target).mkdir(parents=True, exist_ok=True)
    java = shutil.which("java")
    if java is None:
        raise ComposeError("java not found: install a JDK (17+)")
    heap = env.get("KAFKA_HEAP_OPTS", "-Xmx1G -Xms1G")  # kafka-server-start.sh's default
    jars = resolve(service.image.rpartition(":")[2] if ":" in service.image else None)
    jvm = [java, *_JVM_PERFORMANCE.split(), "-Djava.awt.headless=true", *jars.logging_options()]
    jvm += [f"-Dkafka.logs.dir={fs.path('/opt/kafka/logs')}", *fs.text(env.get("KAFKA_OPTS", "")).split()]
    classpath = ["-cp", jars.classpath]
    meta = [fs.path(d) / "meta.properties" for d in kafka_properties(env, fs).get("log.dirs", "").split(",") if d]
    if not any(m.exists() for m in meta):
        formatted = subprocess.run(
            [
                *jvm,
                "-Xmx256m",
                *classpath,
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                env["CLUSTER_ID"],
                "-c",
                str(config),
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if formatted.returncode != 0:
            raise ComposeError(f"{service.name}: kafka-storage format failed: {formatted.stdout}{formatted.stderr}")
    argv = [*jvm, *heap.split(), *classpath, "kafka.Kafka", str(config)]
    return Launch(argv, {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, fs.root)
