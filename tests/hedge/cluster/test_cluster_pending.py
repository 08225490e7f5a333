"""Issue #17 in a cluster: what a waiting booking leaves behind (a result waiting for a price,
Ledger.pending; a close waiting for a price in the journal, whose pairs Book.held_pairs holds) must reach
the node that takes the unit over when the node that booked it dies, through the shared state."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hedge.app import App
from hedge.config import parse_params
from hedge.fmz import Api
from hedge.orders import OrderRecord, OrderStatus
from tests.hedge.conftest import FakeStore, SimRobot
from tests.hedge.test_recovery import without_avg_price
from tests.hedge.test_risk_held_pairs import BLACKOUT_MS
from tests.hedge.test_risk_valuation import BASE, SYMBOL, _contracts, _open_pair, _without_marks
from tests.hedge.test_scenarios import _ledger_is_the_venues

D = Decimal
TTL_S = 30


def _node(sim: SimRobot, name: str, redis_url: str, store: FakeStore) -> App:
    """A cluster node on the simulated accounts, with its own _G (`store`), on the simulation's clock."""
    params = dict(BASE, cluster={"redis_url": redis_url, "node": name, "lease_ttl_s": TTL_S,
                                 "namespace": "pend"})
    api = Api(log=lambda *a: sim.logs.append(" ".join(str(x) for x in a)), log_status=lambda *a: None,
              log_profit=lambda *a: None, sleep=sim.clock.sleep, unix_nano=sim.clock.now_ns,
              store=store, exchanges=tuple(sim.world.exchanges), log_reset=lambda *_: None,
              is_virtual=lambda: True)
    app = App(api, parse_params(json.dumps(params)))
    assert app.start()
    return app


def _run(sim: SimRobot, app: App, seconds: int) -> None:
    for _ in range(seconds):
        app.tick()
        sim.clock.sleep(1000)


def _waiting(sim: SimRobot, redis_url: str, store: FakeStore) -> tuple[App, Any, Any]:
    """Node a holds binance long / okx short BTC: pair #1 of 12,000 USDT per leg, pair #2 of 24,000. stop2#1
    closed both legs of pair #1 and a lone close (stop1:binance) closed pair #2's binance leg; binance
    reports no average price, no position carries a mark and every book freezes for 15 min. Node a books
    the lone close at its leg's entry price, its result pending (Ledger.pending), okx's leg of pair #2 loose,
    and keeps stop2#1 journaled (pair #1 held) for want of a price. Returns (node a, pair #1, pair #2)."""
    app = _node(sim, "a", redis_url, store)
    _run(sim, app, 2)  # the unit's lease
    _open_pair(sim, app, 12_000)
    _open_pair(sim, app, 24_000)
    first, second = (app.ledger.pairs[i] for i in (1, 2))
    binance, okx = sim.world.exchanges
    without_avg_price(binance)
    for exchange in (binance, okx):
        _without_marks(exchange)
    from hedge.execution import Leg

    buy, sell = app.venues
    price = D(str(buy.exchange.GetTicker(SYMBOL + ".swap")["Last"]))
    unit = next(iter(app.coordinator.held))
    with app.coordinator.acting(unit):
        fill = app.executor.execute_pair(SYMBOL, (Leg(buy, "closebuy", first.qty, price),
                                                  Leg(sell, "closesell", first.qty, price)), "stop2#1",
                                         undo_closes=False)
        assert fill is not None and fill.qty == first.qty
        order_id = binance.CreateOrder(SYMBOL + ".swap", "closebuy", -1, float(second.qty))
        app.book.journal(OrderRecord("hg9lone", "stop1:binance", "binance", SYMBOL, "closebuy", second.qty,
                                     status=OrderStatus.FILLED, order_id=str(order_id), filled=second.qty))
        app.book.save()
    for venue in ("binance", "okx"):
        sim.world.inject(venue, "stale_market", sim.now_ms() + BLACKOUT_MS)
    sim.clock.sleep(10_000)
    app.reconciler.bring_forward()
    _run(sim, app, 5)  # recovery books the lone close (result pending), stop2#1 waits
    assert set(app.ledger.pairs) == {first.id}, "\n".join(sim.logs[-30:])
    assert {r.tag for r in app.ledger.orders.values()} == {"stop2#1"}
    assert [r.client_id for r in app.ledger.pending.values()] == ["hg9lone"]
    assert app.book.held_pairs() == {first.id}
    return app, first, second


def test_a_node_taking_over_a_unit_prices_its_pending_result_and_books_its_waiting_close_once(sim_robot,
                                                                                               redis_url):
    """Node a dies (no clean exit: its lease lapses) with a result pending and stop2#1 waiting for a price;
    node b (its own _G) takes the unit over. Node b must hold pair #1 (not close it again: binance and okx
    end flat, not flipped), price the lone close's result once at the first fresh price, and book stop2#1
    once when the books thaw. Node a then restarts on its old _G (which still lists the result as pending):
    the shared state is the one owner, so it is not priced a second time. Before: Ledger.pending lived in
    node a's _G only: node b never priced it (its pending [] after the takeover, priced 0 times)."""
    sim = sim_robot("Futures_Binance", "Futures_OKX", hours=4)
    store_a = FakeStore()
    node_a, first, second = _waiting(sim, redis_url, store_a)
    del node_a  # killed: no onexit, its lease lapses after the TTL
    sim.clock.sleep((TTL_S + 5) * 1000)
    node_b = _node(sim, "b", redis_url, FakeStore())
    _run(sim, node_b, 10)
    assert node_b.coordinator.held, "node b took the unit over"
    assert node_b.book.held_pairs() == {first.id} and first.id in node_b.ledger.pairs
    assert [r.client_id for r in node_b.ledger.pending.values()] == ["hg9lone"]
    _run(sim, node_b, BLACKOUT_MS // 1000)  # the books thaw meanwhile
    priced = [line for line in sim.logs if line.startswith("stop1:binance: ") and " priced at " in line]
    assert len(priced) == 1, priced  # the pending result priced once, by node b
    booked = [line for line in sim.logs if "close completed, not undone" in line]
    assert len(booked) == 1 and "#1 " in booked[0], booked  # stop2#1 booked once
    assert node_b.ledger.pairs == {} and node_b.ledger.orders == {} and not node_b.ledger.pending
    assert not node_b.ledger.loose and _contracts(sim) == [0, 0]  # nothing closed twice, nothing flipped
    assert [acc.liquidations for acc in sim.world.accounts] == [0, 0]
    _ledger_is_the_venues(sim, node_b)
    node_a = _node(sim, "a", redis_url, store_a)  # restarted: its _G still lists hg9lone as pending
    assert not node_a.ledger.pending
    _run(sim, node_a, 60)
    for node in (node_a, node_b):
        _run(sim, node, 5)
    assert not node_a.ledger.pending and not node_b.ledger.pending
    priced = [line for line in sim.logs if line.startswith("stop1:binance: ") and " priced at " in line]
    assert len(priced) == 1, priced


def test_a_cluster_node_restarting_keeps_its_pending_result_and_waiting_close(sim_robot, redis_url):
    """Node a restarts on its own _G inside the lease TTL while the result waits for a price and stop2#1
    for its booking: the unit back, it holds pair #1, prices the result once and books stop2#1 once."""
    sim = sim_robot("Futures_Binance", "Futures_OKX", hours=4)
    store = FakeStore()
    _, first, _ = _waiting(sim, redis_url, store)
    sim.clock.sleep(5000)
    again = _node(sim, "a", redis_url, store)
    _run(sim, again, 10)
    assert again.book.held_pairs() == {first.id} and first.id in again.ledger.pairs
    assert [r.client_id for r in again.ledger.pending.values()] == ["hg9lone"]
    _run(sim, again, BLACKOUT_MS // 1000)
    priced = [line for line in sim.logs if line.startswith("stop1:binance: ") and " priced at " in line]
    booked = [line for line in sim.logs if "close completed, not undone" in line]
    assert len(priced) == 1 and len(booked) == 1, (priced, booked)
    assert again.ledger.pairs == {} and again.ledger.orders == {} and not again.ledger.pending
    assert not again.ledger.loose and _contracts(sim) == [0, 0]
    _ledger_is_the_venues(sim, again)
