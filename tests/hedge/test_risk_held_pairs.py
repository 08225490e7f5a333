"""Issue #17: a reduction waiting for a price to be booked holds the pairs it closed, not their venue-symbols
(Book.held_pairs): the other pairs there are still stopped while no price is known and the coin runs."""

import json
from decimal import Decimal

from hedge.app import App
from hedge.execution import Leg
from tests.hedge.test_recovery import without_avg_price
from tests.hedge.test_risk_valuation import BASE, SYMBOL, _contracts, _open_pair, _without_marks
from tests.hedge.test_scenarios import _ledger_is_the_venues

D = Decimal
BLACKOUT_MS = 15 * 60_000


def _stopped_unbooked(sim_robot, tag: str = "stop1#1") -> tuple:
    """binance long / okx short BTC on 10,000 USDT accounts: pair #1 of 12,000 USDT per leg, pair #2 of
    24,000. A stop closes both legs of pair #1 (`tag`) and the process dies before booking it; binance
    reports no average price (FMZ Order.AvgPrice 0), no position carries a mark and every book freezes for
    15 min: nothing prices binance's fill. Restarted 10 s later: stop1#1 waits in the journal for a price.
    Returns (sim, the restarted app, pair #1, pair #2, the coin's price at the stop)."""
    sim = sim_robot("Futures_Binance", "Futures_OKX", hours=4)
    app = sim.app(json.dumps(BASE))
    assert app.start()
    _open_pair(sim, app, 12_000)
    _open_pair(sim, app, 24_000)
    first, second = (app.ledger.pairs[i] for i in (1, 2))
    binance, okx = sim.world.exchanges
    without_avg_price(binance)
    for exchange in (binance, okx):
        _without_marks(exchange)
    buy, sell = app.venues
    price = D(str(buy.exchange.GetTicker(SYMBOL + ".swap")["Last"]))
    fill = app.executor.execute_pair(SYMBOL, (Leg(buy, "closebuy", first.qty, price),
                                              Leg(sell, "closesell", first.qty, price)), tag,
                                     undo_closes=False)
    assert fill is not None and fill.qty == first.qty  # both legs closed; the process dies here
    for venue in ("binance", "okx"):
        sim.world.inject(venue, "stale_market", sim.now_ms() + BLACKOUT_MS)
    sim.clock.sleep(10_000)
    again = sim.app(json.dumps(BASE))
    again.start()
    return sim, again, first, second, sim.world.coins["BTC"].fair


def _run(sim, app: App, seconds: int, rise: float = 1.0) -> None:
    coin = sim.world.coins["BTC"]
    for _ in range(seconds):
        coin.fair *= rise
        app.tick()
        sim.clock.sleep(1000)


def test_seq1_a_stop_waiting_for_a_price_does_not_keep_the_other_pairs_there_from_being_stopped(sim_robot):
    """#17 seq 1 (review of 20cfc03): stop1#1 closed pair #1 and waits for a price; the coin then rises 50 %
    in 5 min while every book stays frozen. Pair #2 (okx short, on the same venue-symbols) must be stopped
    by the UNVALUED levels before okx liquidates it. Before: Book.hold_unbooked held binance and okx BTC
    whole, every stop there was refused ('nothing could be closed') and okx liquidated pair #2's short.
    Now pair #1 alone is held: pair #2 is closed, nothing is liquidated, and pair #1 stays journaled, not
    closed a second time (binance got one closebuy, for it)."""
    sim, app, first, second, _ = _stopped_unbooked(sim_robot)
    assert app.book.held_pairs() == {first.id}
    _run(sim, app, 300, 1.5 ** (1 / 300))
    assert [acc.liquidations for acc in sim.world.accounts] == [0, 0]
    assert second.id not in app.ledger.pairs
    assert first.id in app.ledger.pairs and {r.tag for r in app.ledger.orders.values()} == {"stop1#1"}
    assert _contracts(sim) == [0, 0]  # pair #1 closed once, pair #2 closed: nothing flipped
    closes = [o for o in sim.orders(0) if o["Offset"] == 1]
    assert sum(D(repr(o["DealAmount"])) for o in closes) == first.qty + second.qty


def test_attack_a_pair_stopped_while_another_waits_then_a_restart_then_the_price_returns(sim_robot):
    """Adversary: pair #2 is stopped while stop1#1 waits for a price, the process restarts, then the coin
    falls back and the books thaw. Each pair is booked closed exactly once (closed_pairs 2, nothing in
    the journal), no venue leg is closed twice, and the ledger is what the venues hold."""
    sim, app, first, second, price = _stopped_unbooked(sim_robot)
    _run(sim, app, 120, 1.2 ** (1 / 120))
    assert second.id not in app.ledger.pairs and first.id in app.ledger.pairs
    again = sim.app(json.dumps(BASE))
    again.start()
    assert again.book.held_pairs() == {first.id} and first.id in again.ledger.pairs
    coin = sim.world.coins["BTC"]
    coin.fair = price  # the coin is back where the stop closed pair #1
    _run(sim, again, BLACKOUT_MS // 1000)  # the books thaw meanwhile
    assert again.ledger.pairs == {} and again.ledger.closed_pairs == 2 and again.ledger.orders == {}
    assert [acc.liquidations for acc in sim.world.accounts] == [0, 0]
    assert _contracts(sim) == [0, 0]
    booked = [line for line in sim.logs if "close completed, not undone" in line]
    assert len(booked) == 1 and "#1 " in booked[0], booked  # pair #1 booked once, by recovery
    assert abs(again.ledger.realized_pnl) < D("0.01") * 36_000, again.ledger.realized_pnl
    _ledger_is_the_venues(sim, again)
    assert again.reconciler.openings_stopped is None


def test_attack_a_lone_close_waiting_beside_a_pairs_close_books_its_own_pair_not_the_held_one(sim_robot):
    """A lone close (stop1:binance, booked oldest first on its venue-symbol, Recovery._complete_alone)
    is journaled beside stop2#1, which closed pair #1 and waits for a price: binance's lone closebuy took
    pair #2's long (okx could not trade). Both unpriced, books frozen, a restart. Before: stop1:binance
    (sorted first, booked at once at its leg's entry price) booked pair #1 closed, then stop2#1 found its
    pair gone ('never booked'). Now the lone close skips the held pair #1 and books pair #2, stop2#1 books
    pair #1 once a price is known: each pair booked once, okx's leg of pair #2 a loose leg closed
    reduce-only, ledger = venues."""
    from hedge.orders import OrderRecord, OrderStatus

    sim, app, first, second, price = _stopped_unbooked(sim_robot, "stop2#1")
    binance = sim.world.exchanges[0]
    order_id = binance.CreateOrder(SYMBOL + ".swap", "closebuy", -1, float(second.qty))
    assert order_id and binance.GetOrder(order_id)["Status"] == 1
    app.book.journal(OrderRecord("hg9lone", "stop1:binance", "binance", SYMBOL, "closebuy", second.qty,
                                 status=OrderStatus.FILLED, order_id=str(order_id), filled=second.qty))
    app.book.save()
    sim.clock.sleep(10_000)
    again = sim.app(json.dumps(BASE))
    again.start()
    _run(sim, again, 30)
    assert set(again.ledger.pairs) == {first.id}  # the lone close booked at once, pair #1 waits
    assert {r.tag for r in again.ledger.orders.values()} == {"stop2#1"}
    _run(sim, again, BLACKOUT_MS // 1000)  # the books thaw meanwhile
    assert again.ledger.pairs == {} and again.ledger.closed_pairs == 2 and again.ledger.orders == {}
    assert not again.ledger.loose and _contracts(sim) == [0, 0]
    assert not any("was never booked" in line for line in sim.logs)
    _ledger_is_the_venues(sim, again)
