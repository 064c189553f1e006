"""Simulated sensors: realistic readings (and chosen faults) produced to the `readings` topic.

In-process use: `run(SimulatorConfig(bootstrap=..., topic=..., count=...)) -> Summary`.
"""

from simulator.config import Progress, SimulatorConfig
from simulator.faults import FaultConfig
from simulator.runner import run
from simulator.summary import Summary

__all__ = ["FaultConfig", "Progress", "SimulatorConfig", "Summary", "run"]
