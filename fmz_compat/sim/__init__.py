"""Simulated venues for fmz_compat: `create_world(cfg, clock, log)` builds them.

See docs/simulator.md for the market model, its calibration and the fault-injection API.
"""

from __future__ import annotations

from fmz_compat.core import Clock, LogSink, SimConfig
from fmz_compat.sim.exchange import Exchange
from fmz_compat.sim.world import FAULTS, SimWorld


def create_world(cfg: SimConfig, clock: Clock, log: LogSink,
                 funding_hours: dict[tuple[str, str], int] | None = None) -> SimWorld:
    """Build the simulated venues and one FMZ exchange object per `cfg.bindings` entry.

    `funding_hours` optionally changes a perp's funding interval: {("binance", "DOGE_USDT"): 4}.
    """
    return SimWorld(cfg, clock, log, Exchange, funding_hours=funding_hours)


__all__ = ["FAULTS", "Exchange", "SimWorld", "create_world"]
