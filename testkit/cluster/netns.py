"""A private network of Linux network namespaces: one bridge, one namespace per host, a veth pair
each, an /etc/hosts-like file per namespace (`ip netns exec` bind-mounts /etc/netns/<ns>/hosts).

Everything made carries PREFIX, so `sweep()` finds and removes what an interrupted run left. No
forwarding, no NAT, no default route: the addresses live on the bridge only. Root only.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "tlr"
BRIDGE = f"{PREFIX}-br0"
SUBNET = "10.231.0"  # /24; .1 is the bridge (the machine itself, like docker's host side)
GATEWAY = f"{SUBNET}.1"
NETNS_ETC = Path("/etc/netns")


class NetnsError(RuntimeError):
    """An `ip` command failed; the message has its output."""


def unavailable_reason() -> str | None:
    """Why namespace hosts cannot be made here (not root, no iproute2), or None."""
    if os.geteuid() != 0:
        return "network-namespace hosts need root (ip netns, veth, a bridge)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    return None


def ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@dataclass(frozen=True)
class NetHost:
    """One namespace host: its namespace, its address, the bridge side of its veth."""

    name: str
    address: str

    @property
    def netns(self) -> str:
        return f"{PREFIX}-{self.name}"

    @property
    def veth(self) -> str:  # the bridge side (IFNAMSIZ: 15 characters)
        return f"{PREFIX}v-{self.name}"[:15]

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns]

    def pids(self) -> list[int]:
        out = ip("netns", "pids", self.netns, check=False)
        return [int(p) for p in out.split()]

    def signal_all(self, signum: int) -> int:
        """Send `signum` to every process in the namespace; how many got it."""
        sent = 0
        for pid in self.pids():
            try:
                os.kill(pid, signum)
                sent += 1
            except ProcessLookupError:
                pass
        return sent

    def link(self, up: bool) -> None:
        """Cut (False) or restore (True) the host's only link, from the bridge side."""
        ip("link", "set", self.veth, "up" if up else "down")


def create_bridge() -> None:
    ip("link", "add", BRIDGE, "type", "bridge")
    ip("addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")


def create_host(host: NetHost, hosts_file: str) -> None:
    """The namespace, its veth pair on the bridge, loopback up, and its hosts file."""
    ip("netns", "add", host.netns)
    ip("link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
    ip("link", "set", host.veth, "master", BRIDGE)
    ip("link", "set", host.veth, "up")
    ns = ["-n", host.netns]
    ip(*ns, "addr", "add", f"{host.address}/24", "dev", "eth0")
    ip(*ns, "link", "set", "eth0", "up")
    ip(*ns, "link", "set", "lo", "up")
    etc = NETNS_ETC / host.netns
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "hosts").write_text(hosts_file)


def hosts_file(hostname: str, addresses: dict[str, str]) -> str:
    lines = ["127.0.0.1\tlocalhost"]
    lines += [f"{address}\t{name}" for name, address in addresses.items()]
    return "\n".join(lines) + "\n"


def remove_host(netns: str) -> None:
    """Kill what still runs in `netns`, delete it (its veth goes with it) and its /etc/netns dir."""
    for pid in ip("netns", "pids", netns, check=False).split():
        try:
            os.kill(int(pid), signal.SIGCONT)
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    ip("netns", "delete", netns, check=False)
    shutil.rmtree(NETNS_ETC / netns, ignore_errors=True)


def sweep() -> list[str]:
    """Remove every namespace, link and /etc/netns entry of PREFIX (a run that was interrupted)."""
    removed = []
    for line in ip("netns", "list", check=False).splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(f"{PREFIX}-"):
            remove_host(name)
            removed.append(name)
    for line in ip("-o", "link", "show", check=False).splitlines():
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if name.startswith(PREFIX):
            ip("link", "delete", name, check=False)
            removed.append(name)
    if NETNS_ETC.exists():
        for entry in NETNS_ETC.glob(f"{PREFIX}-*"):
            shutil.rmtree(entry, ignore_errors=True)
        try:
            NETNS_ETC.rmdir()  # only if empty: another tool's entries stay
        except OSError:
            pass
    if removed:
        log.info("removed leftovers of an earlier cluster: %s", ", ".join(removed))
    return removed
