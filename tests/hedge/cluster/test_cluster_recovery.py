"""Late orders in a cluster (hedge/recovery.py, LateOrders): App nodes on one simulated set of accounts,
coordinated through a real redis-server, in one process on one runtime clock (deterministic turns)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fmz_compat.sim import world as sim_world
from hedge.cluster import Unit
from hedge.execution import Leg
from tests.hedge.cluster.test_cluster_risk import SYMBOL, Node, World, _book_matches_venues, _settled

D = Decimal
UNREADABLE_MS = 60_000


class PositionsUnreadable:
    """One node's view of a venue whose positions endpoint fails for that node only (its key, its network
    path), while the venue and its order lookups answer."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.failing = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def GetPositions(self, *args: Any) -> Any:
        return None if self.failing else self._inner.GetPositions(*args)


def test_a_late_opening_landing_while_a_nodes_positions_are_unreadable_is_not_closed_blind_in_a_cluster(
        redis_url, monkeypatch):
    """issue #17 (LateOrders.close_blind_late_fills): node a's opening sell on okx times out and reaches
    okx 17 s after its send, after recovery proved it absent and traded binance's buy back; a's okx
    positions cannot be read from 5 s to 60 s (b reads them). Executor.unread_since knows a's own reads
    only: another node's read (its execution there measuring a fill by the position change) may have
    counted the landing, so in a cluster it is not closed blind (as LateOrders._book_blind_closes). Before:
    a closed it blind 1 s after it landed. Now it is said once and left to reconcile, which closes it once,
    reduce-only, after a's positions read again: every venue flat, the ledger the venues'."""
    monkeypatch.setattr(sim_world, "LATE_LANDING_MS", (17_000, 17_001))
    world = World("binance", "okx")
    a = Node(world, "a", ("binance", "okx"), redis_url, weight=2)  # preferred owner of the unit
    b = Node(world, "b", ("binance", "okx"), redis_url)
    _settled(world, [a, b])
    assert Unit.of(SYMBOL, "binance", "okx") in a.app.coordinator.held
    okx = a.app.trader.venue("okx")
    okx.exchange = blind = PositionsUnreadable(okx.exchange)
    t0 = world.now()
    world.sim.inject("okx", "timeout_lands_late", t0 + 3_000, from_ms=t0)
    app = a.app
    price = D(str(world.exchange("binance").GetTicker(SYMBOL + ".swap")["Last"]))
    app.book.use_pair_id(int(app.coordinator.r.incr("risk:pair_id")))  # unique in the cluster
    legs = (Leg(app.trader.venue("binance"), "buy", D("0.01"), price), Leg(okx, "sell", D("0.01"), price))
    assert app.trader.execute(SYMBOL, legs, f"open#{app.ledger.next_id}") is None  # okx's outcome unknown
    okx_sent = []
    while world.now() < t0 + UNREADABLE_MS + 30_000:
        blind.failing = t0 + 5_000 < world.now() < t0 + UNREADABLE_MS
        for node in (a, b):
            node.tick()
        okx_sent = [o for o in world.orders("okx") if o.get("Type") == 0]  # buys: closes of the short
        if world.now() < t0 + UNREADABLE_MS:
            assert okx_sent == [], f"closed blind at {(world.now() - t0) // 1000} s"
        world.clock.sleep(1000)
    assert len(world.sim.late_landings) == 1  # it did land
    assert len(okx_sent) == 1  # closed once, by reconcile
    assert world.positions() == {}
    assert sum("not closed blind in a cluster" in line for line in a.logs) == 1
    assert sum("reached okx late" in line and "closed reduce-only" in line for line in a.logs) == 1
    _book_matches_venues(world, a)
    assert a.app.ledger.watch == {} and a.app.ledger.orders == {}
