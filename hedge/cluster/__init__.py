"""Coordination seam: which node may act on which unit of work, and the state nodes share.

A unit of work is one symbol on one pair of venues (BTC_USDT on binance+okx). One node runs alone with
`LocalCoordinator` (the default: owns every unit, shares nothing, costs nothing); several nodes on the
same accounts run `RedisCoordinator` (hedge/cluster/redis.py, needs the optional `redis` package), which
gives each unit to one node at a time by lease with a fencing token, shares the pair ledger and the
order journal, reserves symbol/venue budgets atomically and streams every node's order events.

The App talks only to the `Coordinator` interface (hedge/cluster/base.py); docs/cluster.md describes the
protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hedge.cluster.base import ClusterHost, Coordinator, OpenRequest, Unit

if TYPE_CHECKING:
    from hedge.config import ClusterConfig

__all__ = ["ClusterHost", "Coordinator", "OpenRequest", "Unit", "make_coordinator"]


def make_coordinator(cfg: ClusterConfig | None, now_ms: Callable[[], int],
                     clock: Callable[[], int] | None = None,
                     sleep: Callable[[float], Any] | None = None, *,
                     virtual_clock: bool = False) -> Coordinator:
    """LocalCoordinator without a cluster section; RedisCoordinator with one. now_ms: the loop turn's
    runtime time (leases); clock: the runtime time now and sleep: the runtime's Sleep (execution locks).
    virtual_clock: the runtime runs simulated time (FMZ's IsVirtual(): a backtest, the simulator): expiries
    in Redis follow the runtime time; otherwise (a live run) Redis' own clock, so nodes whose clocks differ
    can never hold one lease or lock at once."""
    if cfg is None:
        from hedge.cluster.local import LocalCoordinator
        return LocalCoordinator()
    from hedge.cluster.redis import RedisCoordinator
    return RedisCoordinator(cfg, now_ms, clock=clock, sleep=sleep, server_clock=not virtual_clock)
