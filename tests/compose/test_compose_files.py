"""compose/: the docker compose files and Dockerfile, checked by parsing them (no Docker engine
here): the checks `docker compose config` would make are made by reading them the way it does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from protocol.kafka_acls import PRODUCER, WORKER
from protocol.settings import Settings
from protocol.topic_admin import TOKEN_RETENTION_MS, telering_topics
from protocol.topics import Topics
from testkit.cluster import compose

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose"
BASE = COMPOSE / "docker-compose.yml"
KAFKA3 = COMPOSE / "docker-compose.kafka3.yml"

WEB_NODES = ("web-node-1", "web-node-2")  # the replicas behind the balancer, the service `web-node`
TELERING_SERVICES = {"acl-init", "topic-init", *WEB_NODES, "worker", "simulator"}  # env read by our Settings
SETTINGS_NAMES = {field.validation_alias for field in Settings.model_fields.values()}
# ${...} knobs of the compose files themselves, documented in docs/scale-out.md
COMPOSE_KNOBS = {
    "TELERING_VERSION",
    "TELERING_UID",
    "KAFKA_EXTERNAL_HOST",
    "SIM_SENSORS",
    "SIM_RATE",
    "KAFKA_HEAP_OPTS",
    "KAFKA_MEM_LIMIT",
    "TELERING_PUBLISH_HOST",
}
HEALTHY, COMPLETED = "service_healthy", "service_completed_successfully"


def _merge(base: Any, override: Any) -> Any:
    """Compose's merge of an override file, for the parts these files use (mappings merge)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return override


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


VARIANTS = {"single-broker": lambda: _load(BASE), "three-brokers": lambda: _merge(_load(BASE), _load(KAFKA3))}


@pytest.fixture(params=sorted(VARIANTS))
def project(request: pytest.FixtureRequest) -> dict:
    """The compose project as docker compose would see it: the base file, or base + kafka3."""
    return VARIANTS[request.param]()


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment should be a mapping"
    return {key: str(value) for key, value in env.items()}


def _brokers(project: dict) -> dict[str, dict]:
    return {name: s for name, s in project["services"].items() if "KAFKA_NODE_ID" in _env(s)}


# The compose-spec attributes these files may use: a misspelt key fails here, not on a deploy day.
TOP_LEVEL = {"name", "services", "volumes", "secrets", "networks", "configs"}
SERVICE_KEYS = {
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "depends_on",
    "healthcheck",
    "ports",
    "volumes",
    "secrets",
    "restart",
    "hostname",
    "deploy",
    "configs",
    "user",
    "cap_drop",
    "cap_add",
    "security_opt",
    "read_only",
    "tmpfs",
    "mem_limit",
}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}
RESTART_POLICIES = {"no", "always", "on-failure", "unless-stopped"}


def test_only_known_compose_attributes(project):
    assert {k for k in project if not k.startswith("x-")} <= TOP_LEVEL
    for name, service in project["services"].items():
        assert set(service) <= SERVICE_KEYS, f"{name}: {sorted(set(service) - SERVICE_KEYS)}"
        assert set(service.get("healthcheck", {})) <= HEALTHCHECK_KEYS, name
        assert service.get("restart", "no") in RESTART_POLICIES, name
        for target, spec in service.get("depends_on", {}).items():
            assert target in project["services"], f"{name} depends on unknown service {target}"
            assert set(spec) <= {"condition", "restart", "required"}, name
        for secret in service.get("secrets", []):
            source = secret if isinstance(secret, str) else secret["source"]
            assert source in project["secrets"], f"{name}: undeclared secret {source}"
            if not isinstance(secret, str):
                assert set(secret) <= {"source", "target", "uid", "gid", "mode"}, name
        for config in service.get("configs", []):
            source = config if isinstance(config, str) else config["source"]
            assert source in project["configs"], f"{name}: undeclared config {source}"
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in project["volumes"], f"{name}: undeclared volume {volume}"


def test_services_and_pinned_images(project):
    services = project["services"]
    assert TELERING_SERVICES | {"kafka", "postgres", "web-node"} <= set(services)
    for name, service in services.items():
        image = service.get("image", "")
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: image {image!r} is not pinned to a version"
    for name, broker in _brokers(project).items():
        assert broker.get("image", services["kafka"]["image"]) == "apache/kafka:4.1.2", name
    assert services["postgres"]["image"].startswith("postgres:16")
    assert {s["image"] for n, s in services.items() if n in TELERING_SERVICES - {"topic-init"}} == {
        "telering:${TELERING_VERSION:-0.1.0}"
    }


def test_env_names_are_the_settings_names(project):
    for name in TELERING_SERVICES:
        unknown = set(_env(project["services"][name])) - SETTINGS_NAMES
        assert not unknown, f"{name}: {sorted(unknown)} are not telering settings ({sorted(SETTINGS_NAMES)})"
    text = BASE.read_text() + KAFKA3.read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    assert used <= SETTINGS_NAMES | COMPOSE_KNOBS, sorted(used - SETTINGS_NAMES - COMPOSE_KNOBS)


def test_parts_agree_on_partitions_brokers_and_replication(project):
    envs = {name: _env(project["services"][name]) for name in TELERING_SERVICES}
    assert len({env["READINGS_PARTITIONS"] for env in envs.values()}) == 1
    kafka_users = {name: env for name, env in envs.items() if name not in WEB_NODES}
    assert len({env["KAFKA_BOOTSTRAP"] for env in kafka_users.values()}) == 1
    assert len({env["TOPIC_REPLICATION"] for env in kafka_users.values()}) == 1
    brokers = _brokers(project)
    bootstrap = next(iter(kafka_users.values()))["KAFKA_BOOTSTRAP"].split(",")
    assert sorted(b.split(":")[0] for b in bootstrap) == sorted(brokers)
    replication = int(next(iter(kafka_users.values()))["TOPIC_REPLICATION"])
    assert replication == len(brokers)
    assert envs["worker"]["WEB_NODE_URL"] == "https://web-node:8080"
    assert {envs[name]["DATABASE_URL"] for name in WEB_NODES} == {
        "postgresql+asyncpg://telering@postgres:5432/telering"
    }


def test_brokers_form_one_kraft_quorum(project):
    brokers = _brokers(project)
    envs = {name: _env(b) for name, b in brokers.items()}
    assert sorted(int(env["KAFKA_NODE_ID"]) for env in envs.values()) == list(range(1, len(brokers) + 1))
    assert len({env["CLUSTER_ID"] for env in envs.values()}) == 1
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs.values()}
    assert voters == {
        ",".join(
            f"{env['KAFKA_NODE_ID']}@{name}:9093"
            for name, env in sorted(envs.items(), key=lambda item: int(item[1]["KAFKA_NODE_ID"]))
        )
    }
    for name, env in envs.items():
        assert f"SASL_SSL://{name}:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
        if len(brokers) == 3:
            assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2" and env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
            assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"


def test_depends_on_waits_on_health_or_completion(project):
    services = project["services"]
    expected = {
        "worker": {"kafka", "topic-init", "web-node"},
        "web-node-1": {"postgres"},
        "web-node-2": {"postgres"},
        "web-node": set(WEB_NODES),
        "simulator": {"kafka", "topic-init"},
        "topic-init": {"kafka", "acl-init"},
        "acl-init": {"kafka"},
    }
    for name, needs in expected.items():
        assert needs <= set(services[name].get("depends_on", {})), name
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs the long form with conditions"
        for target, spec in depends.items():
            condition = spec.get("condition")
            assert condition in (HEALTHY, COMPLETED), f"{name} -> {target}: condition {condition!r}"
            if condition == HEALTHY:
                check = services[target].get("healthcheck", {})
                assert check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), (
                    f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
                )
            else:
                assert services[target].get("restart") == "no", f'{target} is a one-shot: restart: "no"'
    assert services["topic-init"]["depends_on"]["acl-init"]["condition"] == COMPLETED
    for broker in _brokers(project):
        for one_shot in ("acl-init", "topic-init"):
            assert services[one_shot]["depends_on"][broker]["condition"] == HEALTHY, (one_shot, broker)


def test_worker_scales(project):
    worker = project["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert "hostname" not in worker
    assert not [n for n, s in project["services"].items() if "container_name" in s]


def test_topic_init_makes_the_protocol_topics(project):
    """One place creates topics: compose runs the same `telering-topics` (protocol.topic_admin)
    the workers and the simulator call, with their partitions, replication and credentials."""
    init = project["services"]["topic-init"]
    assert init["command"] == ["telering-topics"]
    assert init["image"] == project["services"]["worker"]["image"]
    env = _env(init)
    assert {k: env[k] for k in ("READINGS_PARTITIONS", "TOPIC_REPLICATION")} == {
        k: _env(project["services"]["worker"])[k] for k in ("READINGS_PARTITIONS", "TOPIC_REPLICATION")
    }
    settings = Settings(**{k: v for k, v in env.items() if not v.startswith("${")})
    assert [t.name for t in telering_topics(settings)] == [
        Topics().readings,
        Topics().token,
        Topics().dlq,
        Topics().alerts,
    ]
    assert telering_topics(settings)[1].configs["retention.ms"] == str(TOKEN_RETENTION_MS)


def _secret_targets(service: dict) -> dict[str, str]:
    return {
        (s if isinstance(s, str) else s["source"]): (f"/run/secrets/{s}" if isinstance(s, str) else s["target"])
        for s in service.get("secrets", [])
    }


def test_every_hop_is_secured(project):
    """Kafka clients over SASL_SSL with their password and CA as secrets, every broker listener
    SASL_SSL, the controller's too (the apache/kafka image's keystore and JAAS conventions), the
    web node on HTTPS with reader tokens, its clients verifying it."""
    services = project["services"]
    users = {"acl-init": "admin", "topic-init": "telering", "worker": "telering", "simulator": "simulator"}
    for name, user in users.items():
        env, mounted = _env(services[name]), set(_secret_targets(services[name]).values())
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_USERNAME"] == user, name
        assert {env["KAFKA_SASL_PASSWORD_FILE"], env["KAFKA_SSL_CAFILE"]} <= mounted, name
        assert "KAFKA_SASL_PASSWORD" not in env
    for name, broker in _brokers(project).items():
        env, mounted = _env(broker), _secret_targets(broker)
        protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        for listener in env["KAFKA_LISTENERS"].split(","):
            listener_name = listener.split("://")[0]
            assert protocols[listener_name] == "SASL_SSL", (name, listener_name)
        assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "SASL_SSL"
        assert env["KAFKA_SASL_MECHANISM_CONTROLLER_PROTOCOL"] in env["KAFKA_SASL_ENABLED_MECHANISMS"].split(",")
        for variable in ("KAFKA_SSL_KEYSTORE_FILENAME", "KAFKA_SSL_KEYSTORE_CREDENTIALS", "KAFKA_SSL_KEY_CREDENTIALS"):
            assert f"/etc/kafka/secrets/{env[variable]}" in mounted.values(), (name, variable)
        assert "/etc/kafka/secrets/kafka_jaas.conf" in env["KAFKA_OPTS"] and "kafka_jaas" in mounted
        assert "--command-config /etc/kafka/secrets/client.properties" in broker["healthcheck"]["test"][1]
    keystores = [
        next(s["source"] for s in broker["secrets"] if not isinstance(s, str) and s["target"].endswith(".p12"))
        for broker in _brokers(project).values()
    ]
    assert len({project["secrets"][k]["file"] for k in keystores}) == len(keystores), "each broker its own keystore"
    for name in WEB_NODES:
        web = _env(services[name])
        mounted = set(_secret_targets(services[name]).values())
        assert {web["WEB_NODE_TLS_CERT"], web["WEB_NODE_TLS_KEY"], web["TELERING_READERS_FILE"]} <= mounted
        assert web["WEB_NODE_READ_AUTH"] == "required"
        assert "https://127.0.0.1:8080/healthz" in services[name]["healthcheck"]["test"][-1]
    worker = _env(services["worker"])
    assert worker["WEB_NODE_CA_FILE"] in set(_secret_targets(services["worker"]).values())


def test_brokers_authorize_each_role_by_its_own_login(project):
    """KRaft's StandardAuthorizer on every broker with `admin` the one super user; acl-init makes
    the role ACLs (protocol/kafka_acls.py) before any topic or client; each role its own login."""
    services = project["services"]
    for name, broker in _brokers(project).items():
        env = _env(broker)
        assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer", name
        assert env["KAFKA_SUPER_USERS"] == "User:admin", name
        assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false", name
    init = services["acl-init"]
    assert init["command"] == ["telering-acls"] and init.get("restart") == "no"
    assert _env(init)["KAFKA_SASL_PASSWORD_FILE"] == "/run/secrets/kafka_admin_password"
    logins = {
        n: set(_secret_targets(services[n])) & {s for s in project["secrets"] if "kafka" in s} for n in users_of()
    }
    assert logins["simulator"] == {"kafka_simulator_password"}, "the producer holds only its own login"
    assert logins["worker"] == logins["topic-init"] == {"kafka_password"}
    assert "telering_keys" not in services["simulator"].get("secrets", [])
    principals = {_env(services[n])["KAFKA_SASL_USERNAME"] for n in ("simulator", "worker")}
    assert principals == {PRODUCER.split(":")[1], WORKER.split(":")[1]}


def users_of() -> tuple[str, ...]:
    return ("acl-init", "topic-init", "worker", "simulator")


HARDENED = {"cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"], "read_only": True}
# what the postgres image's entrypoint needs to prepare its data directory, then drop to `postgres`
POSTGRES_CAPS = {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"}


def test_every_container_is_hardened(project):
    """No capabilities (postgres: the five its entrypoint uses), no-new-privileges, a read-only
    root with the tmpfs it writes to, a memory limit; ports published on 127.0.0.1 unless
    TELERING_PUBLISH_HOST says otherwise."""
    for name, service in project["services"].items():
        assert {k: service.get(k) for k in HARDENED} == HARDENED, name
        assert set(service.get("cap_add", [])) <= (POSTGRES_CAPS if name == "postgres" else set()), name
        tmpfs = service.get("tmpfs", [])
        assert "/tmp" in tmpfs and all(path.startswith("/") for path in tmpfs), name
        assert compose.parse_bytes(compose.interpolate(str(service["mem_limit"]), {})) >= 128 * 1024**2, name
        for port in service.get("ports", []):
            assert str(port).startswith("${TELERING_PUBLISH_HOST:-127.0.0.1}:"), (name, port)
    assert "/home/telering" in project["services"]["worker"]["tmpfs"]  # Faust's data directory
    assert "/var/run/postgresql" in project["services"]["postgres"]["tmpfs"]
    for name, broker in _brokers(project).items():
        assert {"/opt/kafka/config", "/opt/kafka/logs"} <= set(broker["tmpfs"]), name
    loaded = compose.load([BASE, KAFKA3], variables={})
    assert loaded.services["web-node"].ports == [(8080, 8080)]
    assert loaded.services["kafka"].mem_limit == 1536 * 1024**2


def test_keys_arrive_as_a_secret(project):
    secrets = project["secrets"]
    assert secrets["telering_keys"]["file"] == "./secrets/telering.keys"
    for name in ("worker", *WEB_NODES):
        service = project["services"][name]
        assert "telering_keys" in service["secrets"]
        assert _env(service)["TELERING_KEYS_FILE"] == "/run/secrets/telering_keys"
    for name in TELERING_SERVICES:
        assert "TELERING_GRANT_KEYS" not in _env(project["services"][name])
    assert "postgres_password" in project["services"]["postgres"]["secrets"]
    url = _env(project["services"]["web-node-1"])["DATABASE_URL"]
    assert re.fullmatch(r"postgresql\+asyncpg://[^:@/]+@[^/]+/\w+", url), "no password in DATABASE_URL"
    assert any(
        line.strip() in ("compose/secrets/*", "compose/secrets/")
        for line in (ROOT / ".gitignore").read_text().splitlines()
    )


def test_make_secrets_makes_every_secret_the_files_name(tmp_path, capsys):
    """scripts/make_secrets.py: every `secrets:` file of both variants, private where it may be,
    a reader token printed last; a second run keeps what exists."""
    import importlib.util
    import stat

    spec = importlib.util.spec_from_file_location("make_secrets", ROOT / "scripts" / "make_secrets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "secrets"
    assert module.main(["--dir", str(out), "--host", "kafka.example"]) == 0
    token = capsys.readouterr().out.splitlines()[-1]
    project = _merge(_load(BASE), _load(KAFKA3))
    for name, secret in project["secrets"].items():
        assert (out / Path(secret["file"]).name).is_file(), name
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for private in ("telering.keys", "telering.readers", "web-node.key", "kafka_password", "ca.key"):
        assert stat.S_IMODE((out / private).stat().st_mode) == 0o600, private
    from protocol.reader_tokens import Readers

    assert Readers(out / "telering.readers").identify(token) == "dashboard"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert module.main(["--dir", str(out)]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    jaas = (out / "kafka_jaas.conf").read_text()
    for user, secret in (("telering", "kafka_password"), ("simulator", "kafka_simulator_password")):
        assert f'user_{user}="{(out / secret).read_text().strip()}"' in jaas
        assert stat.S_IMODE((out / secret).stat().st_mode) == 0o600, secret
    passwords = [(out / f).read_text() for f in ("kafka_password", "kafka_simulator_password", "kafka_admin_password")]
    assert len(set(passwords)) == 3, "each role its own password"


def _looks_random(token: str) -> bool:
    return all(re.search(cls, token) for cls in ("[a-z]", "[A-Z]", "[0-9]"))


def test_no_key_material_in_the_files():
    local_keys = COMPOSE / "secrets" / "telering.keys"  # a deployer's real keys, if made here
    known = set(local_keys.read_text().split()) if local_keys.exists() else set()
    for path in (BASE, KAFKA3, COMPOSE / "Dockerfile", ROOT / ".dockerignore"):
        text = path.read_text()
        suspects = [t for t in re.findall(r"[A-Za-z0-9_\-]{32,}", text) if _looks_random(t)]
        assert not suspects, f"{path.name}: {[t[:6] + '…' for t in suspects]} look like key material"
        assert not [k for k in known if k in text], f"{path.name} holds a key of {local_keys}"
        assert "PRIVATE KEY" not in text


def test_dockerfile_is_slim_pinned_non_root_and_keyless():
    lines = [
        line.strip()
        for line in (COMPOSE / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    base = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    assert len(base) == 1 and re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base[0]), base
    users = [line.split()[1] for line in lines if line.upper().startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), users
    last_user = max(i for i, line in enumerate(lines) if line.upper().startswith("USER "))
    assert not [line for line in lines[last_user:] if line.upper().startswith(("RUN ", "COPY ", "ADD "))]
    copies = [line for line in lines if line.upper().startswith(("COPY ", "ADD "))]
    for copy in copies:
        sources = copy.split()[1:-1]
        assert not [s for s in sources if s in (".", "./", "*") or "keys" in s or "secrets" in s], copy
    assert any('pip install ".[postgres]"' in line for line in lines)
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*.keys" in ignored and "compose/secrets/" in ignored


@pytest.mark.parametrize("files", [[BASE], [BASE, KAFKA3]], ids=["single-broker", "three-brokers"])
def test_they_resolve_with_an_empty_environment(files):
    """What `docker compose --env-file <empty> config -q` checks, without Docker (none here): every
    `${...}` resolves with no variable set, and each service's ports, durations and command parse."""
    project = compose.load(files, variables={})
    for name, service in project.services.items():
        texts = [service.image, *(service.command or ()), *service.environment.values()]
        assert not [t for t in texts if "${" in t], f"{name}: an interpolation was left unresolved"
        assert all(0 < published < 65536 and 0 < target < 65536 for published, target in service.ports), name
        if service.healthcheck is not None:
            check = service.healthcheck
            assert check.argv() and check.interval_s > 0 and check.timeout_s > 0 and check.retries > 0, name
        assert set(service.depends_on) <= set(project.services), name
    assert project.start_order()  # no depends_on cycle
