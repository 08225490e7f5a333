"""A pair's leg the venue cuts (ADL) while its hedge leg's venue refuses every order (issue #17).

binance holds the short of a pair with bybit (0.3 BTC); the price falls 3 % and binance auto-deleverages half
of the winning short while bybit refuses every order for 600 s. The hedge of what vanished, bybit's long,
cannot be closed there: it is unhedged exposure for as long as bybit refuses unless it is hedged elsewhere."""

from decimal import Decimal

from hedge.app import App
from hedge.execution import Leg
from tests.hedge.test_rehedge import PARAMS, Sim3, _agree, _calls, _net, _positions
from tests.hedge.test_scenarios import SYMBOL

D = Decimal
LOT = D("0.001")
REFUSED_MS = 600_000
AFTER_MS = 180_000  # looked at after the hedge venue is back: recovered, nothing doubled


def _a_pair_long_bybit_short_binance() -> tuple[Sim3, App]:
    """Three venues; the pair long bybit / short binance 0.3 BTC booked as the trader books it; 5 s ticked."""
    sim = Sim3((10_000, 10_000, 8_000))
    app = sim.app(params=PARAMS)
    assert app.start()
    binance, okx, bybit = app.venues
    price = D(str(okx.exchange.GetTicker(SYMBOL + ".swap")["Last"]))
    fill = app.executor.execute_pair(SYMBOL, (Leg(bybit, "buy", D("0.3"), price),
                                              Leg(binance, "sell", D("0.3"), price)), "open#1")
    assert fill.balanced and fill.qty == D("0.3")
    app.book.record_open(symbol=SYMBOL, long_venue="bybit", short_venue="binance", qty=fill.qty,
                         long_price=fill.fills[0].avg_price, short_price=fill.fills[1].avg_price,
                         fees=fill.fees, client_ids=(), now_ms=sim.now_ms())
    app.book.clear_orders()
    for _second in range(5):
        app.tick()
        sim.clock.sleep(1000)
    return sim, app


def test_an_adl_whose_hedge_venue_refuses_leaves_a_loose_leg_backed_off_and_hedged_elsewhere_in_time():
    """Before: Risk._vanished sent the refused close of bybit's hedge again at every look (every position
    check, each 5 s) for as long as bybit refused, the pair stayed booked with binance's leg the venue no
    longer held (ledger != venue), and half the pair stayed unhedged for the whole 600 s. Now a hedge close
    that fills nothing books the pair closed by that much at the ADL's price and the hedge a loose leg on
    bybit: closed reduce-only with back-off while bybit refuses, re-hedged on okx after
    outage.max_unhedged_s. Net within one lot from then on, few orders to bybit, ledger = venues."""
    sim, app = _a_pair_long_bybit_short_binance()
    bybit_calls = _calls(sim, 2)
    sim.world.coins["BTC"].fair *= 0.97  # binance's short wins: the ADL takes half of it
    adl_ms = sim.now_ms() + 20_000
    sim.world.inject("bybit", "refuse_orders", adl_ms + REFUSED_MS, from_ms=sim.now_ms())
    sim.world.schedule_adl("binance", adl_ms, 0.5)
    limits = app.cfg.outage
    bound_ms = (adl_ms + app.cfg.position_check_s * 1000 + limits.max_unhedged_s * 1000
                + 2 * app.executor.settle_ms("okx") + 15_000)
    while sim.now_ms() < adl_ms + REFUSED_MS:
        app.tick()
        if sim.now_ms() >= bound_ms:
            net = _net(sim)
            past_s = (sim.now_ms() - bound_ms) // 1000
            assert abs(net) <= LOT, f"{net:+f} BTC unhedged {past_s} s past the bound: {_positions(sim)}"
        sim.clock.sleep(1000)
    assert _positions(sim)["binance"] == D("-0.15")  # the ADL took half the short
    assert any("less than the pairs" in line for line in sim.logs)
    assert len(bybit_calls) <= 8, f"{len(bybit_calls)} orders sent to bybit while it refused"
    assert not app.ledger.orders
    _agree(app)


def test_an_adl_while_the_hedge_venue_is_down_books_its_hedge_loose_and_hedges_it_elsewhere_in_time():
    """The same ADL while bybit is down (every call fails, positions unreadable) for 600 s. Before:
    Risk._close_vanished returned "cannot trade" at every look and the pair waited, half of it unhedged for
    the whole outage (net +0.15 BTC for 600 s, nothing sent). Now the pair is booked closed by what vanished
    and bybit's hedge of it, as the ledger holds it there, a loose leg: re-hedged on okx after
    outage.max_unhedged_s. When bybit is back its position is as booked: nothing doubled, ledger = venues."""
    sim, app = _a_pair_long_bybit_short_binance()
    bybit_calls = _calls(sim, 2)
    sim.world.coins["BTC"].fair *= 0.97
    adl_ms = sim.now_ms() + 20_000
    sim.world.inject("bybit", "down", adl_ms + REFUSED_MS, from_ms=sim.now_ms())
    sim.world.schedule_adl("binance", adl_ms, 0.5)
    bound_ms = (adl_ms + app.cfg.position_check_s * 1000 + app.cfg.outage.max_unhedged_s * 1000
                + 2 * app.executor.settle_ms("okx") + 15_000)
    while sim.now_ms() < adl_ms + REFUSED_MS + AFTER_MS:
        app.tick()
        if sim.now_ms() >= bound_ms:
            net = _net(sim)
            past_s = (sim.now_ms() - bound_ms) // 1000
            assert abs(net) <= LOT, f"{net:+f} BTC unhedged {past_s} s past the bound: {_positions(sim)}"
        sim.clock.sleep(1000)
    held = _positions(sim)
    assert held["binance"] == D("-0.15")  # the ADL took half the short
    assert held["bybit"] == D("0.3")  # bybit's long as it was: nothing sent while down, nothing doubled
    assert held.get("okx", D(0)) == D("-0.15")  # the re-hedge, once
    assert any("less than the pairs" in line for line in sim.logs)
    assert not bybit_calls, f"{len(bybit_calls)} orders sent to bybit"
    assert not app.ledger.orders and not app.ledger.loose
    _agree(app)
