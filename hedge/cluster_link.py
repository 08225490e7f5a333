"""What a cluster's coordinator calls back on this node (`hedge.cluster.base.ClusterHost`), and what this
node publishes to the others: Redis away or back (the gate's `cluster` hold, reconcile brought forward),
the other nodes' order events and critical events written into this robot's log, this node's order events
published."""

from __future__ import annotations

from collections.abc import Callable

from hedge.cluster.base import Coordinator
from hedge.events import LOG_COLOURS
from hedge.gate import CLUSTER, TradingGate
from hedge.market import Venue
from hedge.state import TradingState


class ClusterLink:
    def __init__(self, *, coordinator: Coordinator, gate: TradingGate, event: Callable[..., None],
                 log: Callable[..., None], venue_or_none: Callable[[str], Venue | None],
                 bring_forward: Callable[[], None]) -> None:
        self._coordinator = coordinator
        self._gate = gate
        self.event = event
        self._log = log
        self._venue_or_none = venue_or_none
        self._bring_forward = bring_forward  # the next reconcile, now

    def order_logged(self, venue: str, log_type: int, price: float, amount: float, text: str) -> None:
        """This node's order event, published to the others (the executor's `logged`)."""
        kind = "fill" if " FILLED " in text or " PARTIALLY_FILLED " in text else "order"
        self._coordinator.publish(kind, {"venue": venue, "log_type": log_type, "price": price,
                                         "amount": amount, "text": text})

    def remote_order_log(self, node: str, venue: str, log_type: int, price: float, amount: float,
                         text: str) -> None:
        """Another node's order event, written into this robot's order log (the whole account shows)."""
        target = self._venue_or_none(venue)
        log = getattr(target.exchange, "Log", None) if target is not None else None
        if log is not None:
            log(log_type, price, amount, f"[node {node}] {text}")
        else:
            self._log(f"[node {node}] {text}")

    def remote_event(self, node: str, level: str, text: str) -> None:
        self._log(f"[node {node}] {level}: {text}", LOG_COLOURS.get(level) or "#ff9900")

    def coordination_lost(self, reason: str) -> None:
        """Redis away: no new pairs; stops still act inside leases this node knows it holds."""
        if not self._gate.hold(CLUSTER, TradingState.REDUCING, reason):
            self.event(f"cluster: {reason}", "critical")

    def coordination_back(self) -> None:
        self._gate.release(CLUSTER, "redis reachable again")
        self._bring_forward()
