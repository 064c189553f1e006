"""The compose deployment as a cluster of namespace hosts: bridge, hosts, secrets, published
ports, services started in `depends_on` order, and a teardown that always runs (atexit, SIGTERM,
SIGINT, and a sweep of an earlier run's leftovers before anything is made)."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import io
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from testkit.cluster import compose, netns
from testkit.cluster.hostfs import HostFs
from testkit.cluster.hosts import Host, HostError
from testkit.cluster.images import mapped_paths
from testkit.cluster.ports import Published

log = logging.getLogger(__name__)

VENV_BIN = Path(sys.executable).parent
# The compose files' knobs for this machine: 2 cores shared by three brokers and the rest
DEFAULT_VARIABLES = {"KAFKA_HEAP_OPTS": "-Xmx384m -Xms384m", "KAFKA_EXTERNAL_HOST": netns.GATEWAY}
ONE_SHOT = {"acl-init", "topic-init"}
# One cluster per machine at a time (the names and the subnet are fixed): whoever holds this lock
# owns every `tlr-` namespace, so the sweep of leftovers never removes a live cluster of another run.
LOCK_FILE = Path(tempfile.gettempdir()) / f"{netns.PREFIX}-cluster.lock"
LOCK_WAIT_S = 1200.0
_live: list[Cluster] = []
_lock = threading.Lock()


class Cluster:
    """`Cluster(workdir, scale={"worker": 3}).up()`; `close()` (or `with`) removes everything."""

    def __init__(
        self,
        workdir: Path,
        *,
        files: list[Path] | None = None,
        scale: Mapping[str, int] | None = None,
        variables: Mapping[str, str] | None = None,
        extra_args: Mapping[str, list[str]] | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.variables = {**DEFAULT_VARIABLES, **(variables or {})}
        self.project = compose.load(files, self.variables)
        self.scale = dict(scale or {})
        self.extra_args = dict(extra_args or {})
        self.secrets_dir = self.workdir / "secrets"
        self.hosts: dict[str, Host] = {}
        self.published: list[Published] = []
        self.reader_token: str | None = None
        self._pg_roots: list[Path] = []
        self._lock_file: io.TextIOWrapper | None = None
        self._closed = False

    # --- the hosts ----------------------------------------------------------------------------
    def replicas(self, service: str) -> list[Host]:
        return [h for h in self.hosts.values() if h.service.name == service]

    def host(self, name: str) -> Host:
        return self.hosts[name]

    def brokers(self) -> list[Host]:
        return [h for h in self.hosts.values() if h.service.image_name == "apache/kafka"]

    def _names(self, service: str) -> list[str]:
        count = self.scale.get(service, 1)
        return [service] if count == 1 and service != "worker" else [f"{service}-{i}" for i in range(1, count + 1)]

    def _make_hosts(self) -> None:
        addresses: dict[str, str] = {}
        plan = []
        for number, (service, name) in enumerate(
            ((s, n) for s in self.project.services for n in self._names(s)), start=10
        ):
            plan.append((service, name, f"{netns.SUBNET}.{number}"))
            addresses[name] = f"{netns.SUBNET}.{number}"
        for service, names in ((s, self._names(s)) for s in self.project.services):
            addresses.setdefault(service, addresses[names[0]])  # the service name resolves, like compose DNS
        for service_name, name, address in plan:
            service = self.project.services[service_name]
            root = self._host_root(name, service)
            fs = HostFs(root, mapped_paths(service))
            self._copy_secrets(service, fs)
            net = netns.NetHost(name, address)
            netns.create_host(net, netns.hosts_file(service.hostname or name, addresses))
            index = self._names(service_name).index(name)
            extra = [a.replace("{i}", str(index)) for a in self.extra_args.get(service_name, [])]
            self.hosts[name] = Host(name, service, net, fs, VENV_BIN, extra)

    def _host_root(self, name: str, service: compose.Service) -> Path:
        if service.image_name != "postgres":
            root = self.workdir / "hosts" / name
            root.mkdir(parents=True, exist_ok=True)
            return root
        root = Path(tempfile.mkdtemp(prefix=f"{netns.PREFIX}-pg-"))  # the postgres user must reach it
        os.chmod(root, 0o755)
        self._pg_roots.append(root)
        link = self.workdir / "hosts" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(root)
        return root

    def _copy_secrets(self, service: compose.Service, fs: HostFs) -> None:
        """The service's secrets (made into secrets_dir) and configs (files of compose/) into its root."""
        mounts = [(t, self.secrets_dir / self.project.secret_files[s].name) for t, s in service.secrets.items()]
        mounts += [(t, self.project.config_files[c]) for t, c in service.configs.items()]
        for target, local in mounts:
            path = fs.path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(local, path)  # docker mounts the file, mode and all

    # --- lifecycle ----------------------------------------------------------------------------
    def up(self, services: list[str] | None = None, timeout: float = 300.0) -> Cluster:
        """Bridge, hosts, published ports; then `services` (default all) in `depends_on` order."""
        if reason := netns.unavailable_reason():
            raise HostError(reason)
        _register(self)
        self._take_lock()
        netns.sweep()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._make_secrets()
        netns.create_bridge()
        self._make_hosts()
        for name in self.project.start_order(services):
            self.start_service(name, timeout)
        return self

    def start_service(self, service: str, timeout: float = 300.0) -> list[Host]:
        for dependency, condition in self.project.services[service].depends_on.items():
            for host in self.replicas(dependency):
                if condition == "service_healthy" and not host.healthy():
                    host.wait_healthy(timeout)
                elif condition == "service_completed_successfully":
                    host.wait_completed(timeout)
        started = []
        for host in self.replicas(service):
            if not host.alive and not (service in ONE_SHOT and host.proc is not None):
                started.append(host.start())
                self._publish(host)
        return started

    def wait_healthy(self, timeout: float = 300.0) -> dict[str, float]:
        """Until every host with a health check passes it; seconds each waited."""
        return {h.name: h.wait_healthy(timeout) for h in self.hosts.values() if h.service.healthcheck and h.alive}

    def _publish(self, host: Host) -> None:
        listening = {p.listen for p in self.published}
        for published, target in host.service.ports:
            if (netns.GATEWAY, published) not in listening:
                self.published.append(Published((netns.GATEWAY, published), (host.address, target)))

    def _make_secrets(self) -> None:
        """scripts/make_secrets.py, as the README says, naming the bridge address as KAFKA_EXTERNAL_HOST."""
        sys.path.insert(0, str(compose.ROOT / "scripts"))
        try:
            import make_secrets
        finally:
            sys.path.pop(0)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            make_secrets.main(["--dir", str(self.secrets_dir), "--host", self.variables["KAFKA_EXTERNAL_HOST"]])
        self.reader_token = out.getvalue().strip().splitlines()[-1]

    def close(self) -> None:
        """Stop every host, remove namespaces, links, /etc/netns entries and PostgreSQL's files."""
        if self._closed:
            return
        self._closed = True
        for host in reversed(list(self.hosts.values())):
            try:  # a throwaway cluster: `docker compose down -t 0`
                host.kill()
            except Exception as exc:  # teardown goes on whatever one host does
                log.warning("stopping %s: %s", host.name, exc)
        for published in self.published:
            published.close()
        netns.sweep()
        for root in self._pg_roots:
            shutil.rmtree(root, ignore_errors=True)
        with _lock:
            if self in _live:
                _live.remove(self)
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None

    def _take_lock(self) -> None:
        """Wait (up to LOCK_WAIT_S) for any other cluster run on this machine to finish."""
        from testkit.waiting import eventually

        handle = LOCK_FILE.open("a+")

        def acquired() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        if not acquired():
            log.info("another cluster run holds %s; waiting for it", LOCK_FILE)
            try:
                eventually(acquired, timeout=LOCK_WAIT_S, interval=2.0, message=f"{LOCK_FILE} stayed locked")
            except AssertionError as exc:
                handle.close()
                raise HostError(f"another cluster run still holds {LOCK_FILE}: {exc}") from exc
        self._lock_file = handle

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _register(cluster: Cluster) -> None:
    with _lock:
        first = not _live
        _live.append(cluster)
    if first:
        atexit.register(close_all)
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(signum)
            if threading.current_thread() is threading.main_thread():
                signal.signal(signum, _on_signal(previous))


def close_all() -> None:
    for cluster in list(_live):
        cluster.close()


def _on_signal(previous):  # type: ignore[no-untyped-def]
    def handler(signum, frame):  # type: ignore[no-untyped-def]
        close_all()
        if callable(previous):
            previous(signum, frame)
        else:
            raise SystemExit(128 + signum)

    return handler
