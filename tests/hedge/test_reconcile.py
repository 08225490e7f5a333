"""Reconcile's positions read: one GetPositions per venue for all its symbols.

FMZ documents that GetPositions() without a symbol answers every position in the range of the current pair
and contract type (https://www.fmz.com/syntax-guide/fun/futures/exchange.getpositions): on a USDT perpetual
exchange object, every USDT perpetual of the account. A reconcile of 5 venues x 50 symbols read them one
symbol at a time (250 REST calls, up to 2.5 s of a live turn: docs/live.md, "Reaction: book events")."""

import json
from decimal import Decimal
from typing import Any

from hedge.app import App
from hedge.config import parse_params
from hedge.fmz import Api

D = Decimal
VENUES = ("binance", "okx", "bybit", "coinex", "bitmex")
SYMBOLS = tuple(f"C{i}_USDT" for i in range(50))


def _world(fake_exchange, fake_runtime):
    books = {symbol: (100.0, 100.01) for symbol in SYMBOLS}
    exchanges = [fake_exchange(venue, books=books) for venue in VENUES]
    calls: dict[str, list[str]] = {venue: [] for venue in VENUES}
    for exchange in exchanges:
        exchange.GetPositions = _counted(exchange.GetPositions, calls[exchange.venue])
    runtime = fake_runtime(exchanges)
    params = {"symbols": list(SYMBOLS), "order_notional_usdt": 100, "max_position_usdt": 200,
              "open_threshold_bps": 30, "close_threshold_bps": 0, "status_interval_s": 60}
    app = App(Api.from_globals(runtime.globals()), parse_params(json.dumps(params)))
    assert app.start()
    runtime.Sleep(1_000)  # reads from here on are the reconcile's
    return exchanges, calls, app


def _counted(positions: Any, calls: list[str]) -> Any:
    def counted(symbol: str = "") -> Any:
        calls.append(symbol)
        return positions(symbol)
    return counted


def test_a_reconcile_of_5_venues_x_50_symbols_reads_each_venue_once(fake_exchange, fake_runtime):
    exchanges, calls, app = _world(fake_exchange, fake_runtime)
    exchanges[1].contracts["C7_USDT"] = D(3)  # someone left a long of 3 on okx: reconcile must see it
    for made in calls.values():
        made.clear()
    app.reconciler.reconcile()
    assert sum(len(made) for made in calls.values()) <= len(VENUES)
    assert all(made == [""] for made in calls.values())  # no symbol: the venue's every USDT perpetual
    assert app.reconciler.suspect == {("okx", "C7_USDT")}
    now = app.api.now_ms()
    assert all(app.executor.read_since(venue, symbol, now) and not app.executor.unreadable(venue, symbol)
               for venue in VENUES for symbol in SYMBOLS)


def test_a_none_answer_marks_every_symbol_of_that_venue_unreadable(fake_exchange, fake_runtime):
    exchanges, calls, app = _world(fake_exchange, fake_runtime)
    exchanges[2].positions_down = True  # bybit answers None
    app.reconciler.reconcile()
    assert all(app.executor.unreadable("bybit", symbol) for symbol in SYMBOLS)
    assert app.reconciler.openings_stopped == "positions unreadable on some venue; will retry"

