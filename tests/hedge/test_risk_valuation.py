"""Issue #17, risk valuation: what risk values a venue's positions at (never a price older than
max_book_age_ms), the liquidation distance of a whole account, and re-valuing every venue every turn."""

import json
from decimal import Decimal

from hedge.app import App
from hedge.execution import Leg

D = Decimal
SYMBOL = "BTC_USDT"
BASE = {
    "symbols": ["BTC_USDT"],
    "order_notional_usdt": 1000,
    "max_position_usdt": 2000,
    "open_threshold_bps": 900,
    "close_threshold_bps": -900,
    "status_interval_s": 60,
    "leverage": {"binance": 10, "okx": 10},
}


def _hedged(sim_robot, notional: int = 24_000, hours: int = 4, **params) -> tuple:
    """binance long, okx short, one pair of `notional` USDT per leg on 10 000 USDT accounts (~42 % from
    liquidation), and thresholds no spread reaches (only stops trade)."""
    sim = sim_robot("Futures_Binance", "Futures_OKX", hours=hours)
    app = sim.app(json.dumps({**BASE, **params}))
    assert app.start()
    buy, sell = app.venues
    price = D(str(buy.exchange.GetTicker(SYMBOL + ".swap")["Last"]))
    qty = (D(notional) / price).quantize(D("0.001"))
    fill = app.executor.execute_pair(SYMBOL, (Leg(buy, "buy", qty, price), Leg(sell, "sell", qty, price)),
                                     "open#1")
    app.ledger.record_open(symbol=SYMBOL, long_venue="binance", short_venue="okx", qty=fill.qty,
                           long_price=fill.fills[0].avg_price, short_price=fill.fills[1].avg_price,
                           fees=fill.fees, client_ids=(), now_ms=sim.now_ms())
    app.ledger.clear_orders()
    app.ledger.save(app.api.store)
    return sim, app


def _run(sim, app: App, seconds: int, moves: dict[int, float] | None = None) -> None:
    """Tick once a second; at second s of `moves` the coin's fair price jumps by that factor."""
    coin = sim.world.coins["BTC"]
    for second in range(seconds):
        if moves and second in moves:
            coin.fair *= moves[second]
        app.tick()
        sim.clock.sleep(1000)


def _stop_lines(sim) -> list[str]:
    return [line for line in sim.logs if line.startswith("STOP level") and " done" not in line]


def test_seq1_a_frozen_book_does_not_blind_the_stops(sim_robot):
    """#17 seq 1: okx's feed freezes (tickers and depth answer the old book, stamped old) while the coin
    rises 45 % in three gaps; okx holds the short. Risk must value okx at a price no older than
    max_book_age_ms (okx's own mark from its position endpoint), so the stops fire and nothing is
    liquidated. On the old code okx stayed ~42 % from liquidation at the frozen mid and was liquidated."""
    sim, app = _hedged(sim_robot)
    sim.world.inject("okx", "stale_market", sim.now_ms() + 10 * 60_000)
    _run(sim, app, 240, {20: 1.08, 40: 1.14, 60: 1.18})
    assert [acc.liquidations for acc in sim.world.accounts] == [0, 0]
    lines = _stop_lines(sim)
    assert lines and all(" on okx:" in line for line in lines)
    assert app.risk.stops_fired[0] >= 1
    okx = app.risk.views["okx"]
    fair = D(repr(sim.world.coins["BTC"].fair))
    mark = okx.positions[0].mark if okx.positions else fair
    assert abs(mark / fair - 1) < D("0.02")  # valued near the moved market, not at the frozen book


def test_seq1_the_emergency_flatten_of_a_venue_with_a_frozen_book_is_banded_around_a_fresh_price(sim_robot):
    """#17 seq 1: with okx's book frozen, a gap past the last level must still flatten okx: its banded IOC
    orders are priced around the fresh valuation (okx's mark), not the frozen book they could never fill
    at (a buy limit 1 % above a book 35 % below the market)."""
    sim, app = _hedged(sim_robot)
    sim.world.inject("okx", "stale_market", sim.now_ms() + 10 * 60_000)
    _run(sim, app, 60, {10: 1.35})
    assert app.risk.stops_fired[-1] >= 1
    assert [acc.liquidations for acc in sim.world.accounts] == [0, 0]
    assert app.ledger.pairs == {} and not app.ledger.loose
    assert not [line for line in sim.logs if "LOOSE LEG" in line]  # both legs closed together, every time
    fair = sim.world.coins["BTC"].fair
    okx_limits = [o["Price"] for o in sim.orders(1)[2:] if o["Price"] > 0]
    assert okx_limits and all(abs(price / fair - 1) < 0.03 for price in okx_limits)


def test_seq1_a_venue_that_cannot_be_read_is_valued_at_the_other_venues_books(sim_robot):
    """#17 seq 1: okx down as a whole (book frozen, account unreadable) while the coin rises: its short is
    valued at binance's fresh book, so risk sees okx's distance shrink (and reports the due stop it cannot
    send there) instead of keeping the price of okx's last answer."""
    sim, app = _hedged(sim_robot)
    _run(sim, app, 1)  # okx's positions read once
    sim.world.inject("okx", "down", sim.now_ms() + 10 * 60_000)
    _run(sim, app, 30, {5: 1.2})
    okx = app.risk.views["okx"]
    assert okx.priced_by["BTC_USDT"] == "other venues' books"
    binance_mid = D(repr(app.market.tops["binance"][SYMBOL].mid))
    assert okx.positions[0].mark == binance_mid
    assert okx.nearest[1] < 30  # ~42 % before the 20 % rise, ~19 % after it
    assert any("STOP level" in line and "due on okx" in line and "cannot trade" in line for line in sim.logs)


def _without_marks(exchange) -> None:
    """The venue's positions carry no mark price (CoinEx's v2 positions have none: ccxt's coinex.py
    parse_position sets markPrice None)."""
    read = exchange.GetPositions

    def positions(*args):
        raw = read(*args)
        for item in raw or []:
            for name in ("markPrice", "markPx"):
                item["Info"].pop(name, None)
        return raw

    exchange.GetPositions = positions


def test_seq1_a_position_nothing_fresh_prices_counts_at_the_levels_it_could_have_reached(sim_robot):
    """#17 seq 1: every book frozen and okx giving no mark price: okx's short cannot be valued. It counts at
    the first stop level at once and one level deeper for every stops.retry_s it stays so (the stops close
    equal quantities on both legs, which trade), and no pair may open there meanwhile."""
    sim, app = _hedged(sim_robot)
    _without_marks(sim.world.exchanges[1])
    until = sim.now_ms() + 10 * 60_000
    sim.world.inject("okx", "stale_market", until)
    sim.world.inject("binance", "stale_market", until)
    start = app.ledger.pairs[1].qty
    _run(sim, app, 6)
    assert app.risk.unvalued_since("okx") is not None and app.risk.unvalued_since("binance") is None
    assert app.risk.stops_fired[0] == 1 and app.ledger.pairs[1].qty < start
    refused = app.risk.open_problem("okx")
    assert refused is not None and "fresher than 3000 ms" in refused
    _run(sim, app, 20)
    assert app.risk.stops_fired[1] >= 1 and app.risk.stops_fired[2] == 1  # escalated: okx flattened
    assert app.ledger.pairs == {}
    assert [acc.liquidations for acc in sim.world.accounts] == [0, 0]
