"""CPU time and RSS of child processes, sampled in the background, read back over any window."""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass, field

import psutil


@dataclass(frozen=True)
class Sample:
    at: float  # unix seconds
    cpu_s: float  # user + system, the process's own (children not included)
    rss: int  # bytes


@dataclass
class ProcessSampler:
    """Samples named processes every `interval` seconds from a daemon thread, until `stop()`."""

    interval: float = 0.2
    series: dict[str, list[Sample]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._procs: dict[str, psutil.Process] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def watch(self, name: str, pid: int) -> None:
        with self._lock:
            self._procs[name] = psutil.Process(pid)
            self.series.setdefault(name, [])
        self._sample_now()

    def start(self) -> ProcessSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._sample_now()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def cpu_between(self, name: str, start: float, end: float) -> float:
        """CPU seconds `name` used between two instants (linear between samples)."""
        return self._cpu_at(name, end) - self._cpu_at(name, start)

    def rss_between(self, name: str, start: float = 0.0, end: float = float("inf")) -> list[Sample]:
        return [s for s in self.series.get(name, []) if start <= s.at <= end]

    def peak_rss(self, name: str) -> int:
        return max((s.rss for s in self.series.get(name, [])), default=0)

    def names(self) -> list[str]:
        return list(self.series)

    def _cpu_at(self, name: str, at: float) -> float:
        samples = self.series[name]
        if not samples:
            return 0.0
        times = [s.at for s in samples]
        i = bisect.bisect_left(times, at)
        if i <= 0:
            return samples[0].cpu_s
        if i >= len(samples):
            return samples[-1].cpu_s
        a, b = samples[i - 1], samples[i]
        return a.cpu_s + (b.cpu_s - a.cpu_s) * (at - a.at) / (b.at - a.at) if b.at > a.at else b.cpu_s

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample_now()

    def _sample_now(self) -> None:
        with self._lock:
            for name, proc in self._procs.items():
                try:
                    with proc.oneshot():
                        cpu = proc.cpu_times()
                        sample = Sample(time.time(), cpu.user + cpu.system, proc.memory_info().rss)
                except psutil.Error:  # exited: its series simply ends
                    continue
                self.series[name].append(sample)
