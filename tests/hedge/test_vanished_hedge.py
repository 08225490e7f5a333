"""A pair's leg the venue cuts (ADL) while its hedge leg's venue refuses every order (issue #17).

binance holds the short of a pair with bybit (0.3 BTC); the price falls 3 % and binance auto-deleverages half
of the winning short while bybit refuses every order for 600 s. The hedge of what vanished, bybit's long,
cannot be closed there: it is unhedged exposure for as long as bybit refuses unless it is hedged elsewhere."""

from decimal import Decimal

from hedge.app import App
from tests.hedge.test_rehedge import PARAMS, Sim3, _agree, _calls, _net, _positions
from tests.hedge.test_scenarios import SYMBOL, open_and_book

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
    open_and_book(app, sim, bybit, binance, D("0.3"), price)
    for _second in range(5):
        app.tick()
        sim.clock.sleep(1000)
    return sim, app


def _tick_within_one_lot_past(sim: Sim3, app: App, bound_ms: int, until_ms: int) -> None:
    """Ticks each second until until_ms; from bound_ms on, the net is within one lot at every second."""
    while sim.now_ms() < until_ms:
        app.tick()
        if sim.now_ms() >= bound_ms:
            net = _net(sim)
            past_s = (sim.now_ms() - bound_ms) // 1000
            assert abs(net) <= LOT, f"{net:+f} BTC unhedged {past_s} s past the bound: {_positions(sim)}"
        sim.clock.sleep(1000)


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
    _tick_within_one_lot_past(sim, app, bound_ms, adl_ms + REFUSED_MS)
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
    _tick_within_one_lot_past(sim, app, bound_ms, adl_ms + REFUSED_MS + AFTER_MS)
    held = _positions(sim)
    assert held["binance"] == D("-0.15")  # the ADL took half the short
    assert held["bybit"] == D("0.3")  # bybit's long as it was: nothing sent while down, nothing doubled
    assert held.get("okx", D(0)) == D("-0.15")  # the re-hedge, once
    assert any("less than the pairs" in line for line in sim.logs)
    assert not bybit_calls, f"{len(bybit_calls)} orders sent to bybit"
    assert not app.ledger.orders and not app.ledger.loose
    _agree(app)


def _closed_by_hand(sim: Sim3, venues: tuple[str, ...]) -> None:
    """The operator closes every position on `venues` by hand: market reduce-only orders of the account's own,
    no liquidation or ADL marker (so no venue evidence of why the legs vanished)."""
    for acc in sim.world.accounts:
        if acc.venue in venues and acc.futures:
            for pos in list(acc.positions.values()):
                if pos.qty:
                    acc.place(pos.pair, "sell" if pos.qty > 0 else "buy", -1, abs(pos.qty), reduce_only=True)


def test_a_leg_gone_without_evidence_while_its_hedge_venue_is_down_is_not_rehedged_from_the_ledger():
    """Review of d708150 (tests/hedge/test_review_adversary.py, case (a)): binance and bybit both unreachable,
    the operator closes the pair by hand on both; binance is back 60 s later showing 0, bybit 600 s later.
    binance reports no liquidation/ADL order: nothing says the short was taken by the venue, and bybit's long
    (unreadable) may be gone as well. d708150 booked bybit's long loose as the ledger has it and re-hedged it
    on okx: net -0.30 BTC for 540 s (before d708150: net 0). Now the pair waits for bybit, the difference
    named, openings stopped; nothing is traded on okx. Once bybit is back flat, the pair is booked gone."""
    sim, app = _a_pair_long_bybit_short_binance()
    okx_calls = _calls(sim, 1)
    t0 = sim.now_ms()
    sim.world.inject("binance", "down", t0 + 60_000, from_ms=t0)
    sim.world.inject("bybit", "down", t0 + 660_000, from_ms=t0)
    sim.world.at(t0 + 20_000, lambda: _closed_by_hand(sim, ("binance", "bybit")))
    worst, worst_at, over_s, refused_opening = D(0), 0, 0, False
    while sim.now_ms() < t0 + 900_000:
        app.tick()
        net = _net(sim)
        over_s += abs(net) > LOT
        if abs(net) > abs(worst):
            worst, worst_at = net, (sim.now_ms() - t0) // 1000
        if t0 + 70_000 < sim.now_ms() < t0 + 650_000:
            refused_opening = refused_opening or not app.state.may_open
        sim.clock.sleep(1000)
    assert over_s == 0, f"net {worst:+f} BTC at {worst_at} s, over one lot for {over_s} s"
    assert not okx_calls, f"{len(okx_calls)} orders sent to okx"
    assert refused_opening, "openings were not stopped while the pair's hedge could not be read"
    assert all(v == 0 for v in _positions(sim).values()), _positions(sim)
    _agree(app)


def _adl_while_bybit_is_down_then_bybit_takes_its_long(drop: float) -> tuple[Sim3, App, int, list, Decimal]:
    """binance ADLs half the short (price x `drop`) while bybit is down 600 s; bybit itself closes our whole
    long 30 s after the ADL (its liquidation, or a hand close, while we cannot read it). Ticked each second
    to 180 s after bybit is back; returns how long after bybit was back net was last over one lot (ms), the
    okx calls and the worst net after bybit took its long."""
    sim, app = _a_pair_long_bybit_short_binance()
    okx_calls = _calls(sim, 1)
    sim.world.coins["BTC"].fair *= drop
    adl_ms = sim.now_ms() + 20_000
    gone_ms = adl_ms + 30_000
    sim.world.inject("bybit", "down", adl_ms + REFUSED_MS, from_ms=sim.now_ms())
    sim.world.schedule_adl("binance", adl_ms, 0.5)
    bybit = next(acc for acc in sim.world.accounts if acc.venue == "bybit" and acc.futures)
    sim.world.at(gone_ms, lambda: [bybit.auto_deleverage(p.pair, 1.0) for p in list(bybit.positions.values())
                                   if p.qty])
    worst, last_over_ms = D(0), 0
    while sim.now_ms() < adl_ms + REFUSED_MS + AFTER_MS:
        app.tick()
        net = _net(sim)
        if sim.now_ms() > gone_ms + 5_000 and abs(net) > abs(worst):
            worst = net
        if abs(net) > LOT:
            last_over_ms = sim.now_ms()
        sim.clock.sleep(1000)
    return sim, app, last_over_ms - (adl_ms + REFUSED_MS), okx_calls, worst


def test_a_vanished_legs_hedge_on_a_down_venue_within_its_stop_levels_is_not_rehedged():
    """Review of d708150, case (b) where it can be told apart: binance ADLs half the short (evidence) at a
    5 % fall, which leaves bybit's long 39.5 % from liquidation, within its first stop level (40 %); bybit
    is down, and takes the long itself 30 s later. d708150 booked bybit's hedge loose from the ledger and
    re-hedged it: net -0.30 BTC (the re-hedge of a leg bybit no longer holds) until bybit was back. Now a
    down venue within its stop levels is the likely one to lose its leg too: the pair waits (net +0.15, the
    ADL'd half, as before d708150), nothing traded for it, ledger = venues once bybit is back."""
    sim, app, _after_back_ms, okx_calls, worst = _adl_while_bybit_is_down_then_bybit_takes_its_long(0.95)
    assert abs(worst) <= D("0.15") + LOT, f"net {worst:+f} BTC after bybit took its long"
    assert any("within its stop levels" in line for line in sim.logs)
    assert not okx_calls, f"{len(okx_calls)} orders sent to okx"
    assert all(v == 0 for v in _positions(sim).values()), _positions(sim)
    _agree(app)


def test_a_down_venues_hedge_it_takes_itself_after_the_rehedge_is_doubled_until_it_is_back():
    """Review of d708150 (its scratch test test_d708150_hedge_venue_down_and_its_leg_liquidated_while_down_
    is_rehedged_into_double_exposure), a loss path no policy can close (issue #17): binance ADLs half the
    short (its ADL order is evidence) at a 3 % fall, leaving bybit's long 40.7 % from liquidation, outside
    its stop levels (first at 40 %), bybit down; the hedge is booked loose from the ledger and re-hedged on
    okx after max_unhedged_s; bybit takes the long itself 30 s after the ADL, unseen: net -0.30 BTC for ~545
    s (before d708150: +0.15 for the whole outage). To the bot this is the re-hedge test above, which must
    re-hedge in time: the bot sends the same orders in both (the next test), and any quantity it holds
    re-hedged leaves at least 0.15 BTC unhedged in one of the two until bybit answers. What this pins: never
    more than the pair's size (0.30), ended within a positions check and two settle windows of bybit being
    back (measured 4 s), all flat and ledger = venues then."""
    sim, app, after_back_ms, _okx_calls, worst = _adl_while_bybit_is_down_then_bybit_takes_its_long(0.97)
    assert abs(worst) <= D("0.30") + LOT, f"net {worst:+f} BTC after bybit took its long"
    settled_ms = app.cfg.position_check_s * 1000 + 2 * app.executor.settle_ms("okx")
    assert after_back_ms <= settled_ms, f"over one lot {after_back_ms} ms after bybit was back"
    assert all(v == 0 for v in _positions(sim).values()), _positions(sim)
    _agree(app)


def _down_bybit_world(takes_its_long: bool) -> tuple[Sim3, App, list[list[tuple[int, str, str]]], int]:
    """binance ADLs half the short at a 3 % fall while bybit is down 600 s; bybit keeps its long, or itself
    closes it 30 s after the ADL (unseen). Ticked each second until one second before bybit is back; returns
    every CreateOrder call per venue (binance, okx, bybit) and the ms bybit's long was booked loose from."""
    sim, app = _a_pair_long_bybit_short_binance()
    calls = [_calls(sim, index) for index in range(3)]
    sim.world.coins["BTC"].fair *= 0.97
    adl_ms = sim.now_ms() + 20_000
    sim.world.inject("bybit", "down", adl_ms + REFUSED_MS, from_ms=sim.now_ms())
    sim.world.schedule_adl("binance", adl_ms, 0.5)
    if takes_its_long:
        bybit = next(acc for acc in sim.world.accounts if acc.venue == "bybit" and acc.futures)
        sim.world.at(adl_ms + 30_000, lambda: [bybit.auto_deleverage(p.pair, 1.0)
                                               for p in list(bybit.positions.values()) if p.qty])
    while sim.now_ms() < adl_ms + REFUSED_MS - 1_000:
        app.tick()
        sim.clock.sleep(1000)
    return sim, app, calls, adl_ms


def test_while_the_hedge_venue_is_down_no_policy_can_tell_its_leg_kept_from_its_leg_gone():
    """Why the doubling above is not closed (issue #17's bound cannot hold in both worlds): with bybit down
    (every call fails), the bot's observations are the same whether bybit kept its long or took it itself,
    so it does the same in both: every order sent, on every venue, at the same instant. Whatever quantity h
    a policy then holds re-hedged on okx, net is +0.15 - h in the first world and -0.15 - h in the second:
    at least 0.15 BTC unhedged in one of them until bybit answers, however the policy picks h or its time.
    This one picks h = 0.15 (bound met where bybit kept its long, the likely world: bybit cannot
    auto-deleverage a losing long, and a liquidation needs the price at its liquidation price, 40 % away
    by the other venues' books; a hand close while the bot cannot reach the venue remains)."""
    kept_sim, kept_app, kept_calls, _adl_ms = _down_bybit_world(False)
    gone_sim, _gone_app, gone_calls, _adl_ms = _down_bybit_world(True)
    assert kept_calls == gone_calls  # the same orders, at the same instants, in both worlds
    assert kept_calls[1], "nothing re-hedged on okx"
    assert abs(_net(kept_sim)) <= LOT, _positions(kept_sim)
    assert _net(gone_sim) == D("-0.30"), _positions(gone_sim)  # the pair's size, no more
    assert _positions(kept_sim)["bybit"] - _positions(gone_sim).get("bybit", D(0)) == D("0.3")
    assert not kept_app.ledger.orders
