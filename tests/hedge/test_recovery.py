"""Recovery and the late orders (hedge/recovery.py): what is booked once an execution's outcome is known."""

from decimal import Decimal

from fmz_compat.sim import world as sim_world
from hedge.ledger import Ledger
from tests.hedge.test_scenarios import (
    SYMBOL,
    Sim,
    _book_fill,
    _killed_before_okxs_order,
    _ledger_is_the_venues,
    _open_legs,
    patient,
)

D = Decimal
LOT = D("0.001")
UNREADABLE_MS = 300_000


def _held(read, contract: Decimal) -> Decimal:
    """The base held, by a venue's GetPositions `read` (its own, where the test makes it fail)."""
    return sum((D(str(p["Amount"])) * contract * (1 if p["Type"] == 0 else -1)
                for p in read(SYMBOL + ".swap") or []), D(0))


def test_attack_a_late_opening_counted_as_its_top_ups_fill_is_not_closed_again_blind(monkeypatch):
    """Double booking (issue #17, the read check 6cc416f gave the blind booking of late closes): okx's
    orders time out and land 17 s after their send. The opening's okx sell is proved absent (10 s) and
    topped up once; the first sell lands inside the top-up's settle window, so the executor, measuring a
    fill by the position change, counts it as the top-up's fill: the pair is booked balanced, 0.02 each.
    The top-up itself lands 7 s after that settle window's last read. Both are on the watch list, and okx's
    positions then cannot be read for 300 s while its order lookups answer. Only the top-up's landing (after
    our last read) is closed blind; the first sell, which that read counted, is not closed again. Before:
    both were closed reduce-only, okx 0 against the ledger's -0.02, binance's 0.02 unhedged for the whole
    outage and after it."""
    monkeypatch.setattr(sim_world, "LATE_LANDING_MS", (17_000, 17_001))
    sim = Sim("Futures_Binance", "Futures_OKX", hours=2)
    app = sim.app(params=patient())
    assert app.start()
    binance, okx = sim.world.exchanges
    t0 = sim.now_ms()
    sim.world.inject("okx", "timeout_lands_late", t0 + 15_000, from_ms=t0)
    fill = app.executor.execute_pair(SYMBOL, _open_legs(app), "open#1")
    assert fill.balanced and fill.qty == D("0.02")
    assert any("topping up" in line for line in sim.logs)
    _book_fill(app, sim, fill, SYMBOL)
    app.book.save()
    assert len(app.ledger.watch) == 2  # the opening's sell and its top-up, both proved absent
    read = okx.GetPositions
    until = sim.now_ms() + UNREADABLE_MS
    okx.GetPositions = lambda *args: None if sim.now_ms() < until else read(*args)
    while sim.now_ms() < until + 60_000:
        app.tick()
        if len(sim.world.late_landings) == 2 and sim.now_ms() > t0 + 60_000:
            net = _held(binance.GetPositions, D(1)) + _held(read, D("0.01"))
            assert abs(net) <= LOT, f"{net:+f} BTC unhedged at {(sim.now_ms() - t0) // 1000} s"
        sim.clock.sleep(1000)
    assert len(sim.world.late_landings) == 2
    held = {key: qty for key, qty in Ledger.load(sim.store).held_positions().items() if qty}
    venues = {("binance", SYMBOL): _held(binance.GetPositions, D(1)), ("okx", SYMBOL): _held(read, D("0.01"))}
    assert held == {key: qty for key, qty in venues.items() if qty}
    assert sum("closed reduce-only" in line for line in sim.logs) == 1  # the top-up's landing only


def without_avg_price(exchange) -> None:
    """The venue's order lookups give no average price: FMZ's Order.AvgPrice is 0 where the exchange does
    not report it (FMZ API, Order structure)."""
    for name in ("GetOrder", "GetOrders", "GetHistoryOrders", "GetOrderByClientId"):
        real = getattr(exchange, name, None)
        if real is None:
            continue

        def lookup(*args, _real=real, **kwargs):
            found = _real(*args, **kwargs)
            for order in found if isinstance(found, list) else [found] if isinstance(found, dict) else []:
                order["AvgPrice"] = 0
            return found

        setattr(exchange, name, lookup)


def _booked_prices(store) -> list[Decimal]:
    ledger = Ledger.load(store)
    return ([leg.price for leg in ledger.loose.values()]
            + [price for pair in ledger.pairs.values() for price in (pair.long_price, pair.short_price)])


def test_a_refused_trade_back_without_a_reported_price_is_booked_at_a_fresh_price_never_at_0():
    """issue #17: binance's opening leg filled, okx's was never sent (killed), and binance refuses the
    trade-back: recovery books the fill as a loose leg (Recovery._book_refused). binance reports no average
    price for its orders and its book is frozen (no fresh mid of its own). Before: booked at price 0, and
    the re-hedge that paired it on okx raised DivisionByZero (the pair's spread from a 0 entry). Now at a
    fresh price (okx's mid, Risk.mark), or not yet while none is known: every booked price within 2 % of the
    market, the fill hedged on okx, ledger == venues."""
    sim = Sim("Futures_Binance", "Futures_OKX", hours=2)
    app = sim.app()
    assert app.start()
    binance, okx = sim.world.exchanges
    without_avg_price(binance)
    _killed_before_okxs_order(app, okx, "open#1")
    market = D(str(okx.GetTicker(SYMBOL + ".swap")["Last"]))
    restart_ms = sim.now_ms()
    sim.world.inject("binance", "refuse_orders", restart_ms + 600_000)
    sim.world.inject("binance", "stale_market", restart_ms + 600_000)
    again = sim.app()
    assert again.start()
    booked: set[Decimal] = set()
    while sim.now_ms() < restart_ms + 300_000:
        again.tick()
        booked |= set(_booked_prices(sim.store))
        sim.clock.sleep(1000)
    assert booked and all(abs(price / market - 1) < D("0.02") for price in booked), (market, booked)
    assert any(line.startswith("REHEDGED") for line in sim.logs)
    assert abs(_held(binance.GetPositions, D(1)) + _held(okx.GetPositions, D("0.01"))) <= LOT
    _ledger_is_the_venues(sim, again)
