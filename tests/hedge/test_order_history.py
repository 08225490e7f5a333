"""Issue #17: the venues' finished-order lists are page-limited, and a lookup must not read an order that a
busy spell pushed past the newest page as absent (hedge/order_history.py).

The simulator lists the newest page without a start time, as the venues do (fmz_compat/sim/exchange.py
HISTORY_PAGE: Bybit 50, OKX 100, Binance 500); its exchange objects, like FMZ's own, have no
GetOrderByClientId, so the finished-order list is the only place a filled IOC order whose answer was lost can
be found. Someone else trading on the same account (a person, another bot) makes the busy spell: an IOC order
far from the market that takes nothing, ten a second.
"""

from decimal import Decimal

import pytest

from hedge.execution import client_id_of
from hedge.market import venue_key
from hedge.order_history import PAGE_ROWS, finished_since
from tests.hedge.test_scenarios import ADL_PARAMS, SYMBOL, Sim, _book_pair, _net, _open_legs, patient

D = Decimal


_IOC = {"bybit": '{"timeInForce":"IOC"}', "okx": '{"ordType":"ioc"}'}
_SMALLEST = {"bybit": 0.001, "okx": 1}  # FMZ amounts: Bybit base, OKX contracts of 0.01 BTC


def _busy_spell(sim: Sim, index: int, rows: int) -> None:
    """`rows` finished orders that are not ours on exchange `index`'s account, ten a second: each an IOC buy
    10 % under the market, which takes nothing and is canceled by the venue (no position moves). Its answer
    may be lost too (a fault on the venue): the order is there all the same."""
    exchange = sim.world.exchanges[index]
    symbol = SYMBOL + ".swap"
    key = venue_key(exchange.GetName())
    price = round(exchange.GetTicker(symbol)["Last"] * 0.9, 1)
    for _ in range(rows):
        exchange.CreateOrder(symbol, "buy;" + _IOC[key], price, _SMALLEST[key])
        sim.clock.sleep(100)


class _KilledAfterSend:
    """The simulator's exchange object whose process dies right after an order reached the venue, before
    its answer is read (the journal holds the order, its outcome unknown)."""

    def __init__(self, exchange) -> None:
        self._exchange = exchange

    def __getattr__(self, name):
        return getattr(self._exchange, name)

    def CreateOrder(self, *args):
        self._exchange.CreateOrder(*args)
        raise SystemExit("killed after the send")


def test_an_order_whose_answer_was_lost_is_found_past_a_busy_page_not_judged_absent():
    """Killed right after bybit's sell reached the venue (it filled; the answer never read), then 60 other
    orders finish on the bybit account before the restart. Recovery settles the journal by client id. Old
    code read GetHistoryOrders(symbol): Bybit's newest 50, ours not among them, so the sell was judged ABSENT:
    binance's buy was traded back and bybit's filled short left unexplained (net -0.02 BTC, openings
    stopped). Now the lookup asks from a settle window before the send and pages forward: the sell is found
    filled, both legs are traded back, nothing is left."""
    sim = Sim("Futures_Binance", "Futures_Bybit")
    app = sim.app(params=patient())
    assert app.start()
    app.venues[1].exchange = _KilledAfterSend(sim.world.exchanges[1])
    with pytest.raises(SystemExit):
        app.executor.execute_pair(SYMBOL, _open_legs(app), "open#1")
    ours = [o for o in sim.world.accounts[1].orders.values() if o.client_id.startswith("hg")]
    assert len(ours) == 1 and ours[0].filled == 0.02  # it filled on bybit
    _busy_spell(sim, 1, 60)
    again = sim.app(params=patient())
    assert again.start()
    assert _net(again) == 0 and again.reconciler.openings_stopped is None
    positions = again.venue_positions()
    assert positions is not None and all(q == 0 for q in positions.values())
    assert again.ledger.orders == {}


@pytest.mark.parametrize("long_name, short_name", [("Futures_OKX", "Futures_Bybit"),
                                                   ("Futures_Bybit", "Futures_OKX")])
def test_an_adl_order_past_the_newest_page_is_still_the_evidence_and_the_price(long_name, short_name):
    """The short venue auto-deleverages half of the winning short, then a busy spell finishes more than its
    page of other orders (Bybit 50, OKX 100) before reconcile looks. Old code read the newest page only: the
    ADL order was not on it, so the difference was only named (openings stopped, half the long unhedged).
    Now reconcile reads from the oldest pair's open time on: the long is closed by as much and the pair
    booked at the ADL order's price."""
    sim = Sim(long_name, short_name, hours=2)
    app = sim.app(params=ADL_PARAMS)
    assert app.start()
    _book_pair(app, sim, "0.1")
    short_key = app.venues[1].key
    short_ex = sim.world.exchanges[1]
    sim.world.coins["BTC"].fair *= 0.97
    adl_ms = sim.now_ms() + 20_000
    sim.world.schedule_adl(short_key, adl_ms, 0.5)
    sim.clock.sleep(21_000)
    _busy_spell(sim, 1, 110)
    for _ in range(90):
        app.tick()
        sim.clock.sleep(1000)
    adl = [o for o in short_ex.GetHistoryOrders(SYMBOL + ".swap", adl_ms - 1_000, 10)
           if o["DealAmount"] and o["Offset"] == 1 and not client_id_of(short_key, o).startswith("hg")]
    assert len(adl) == 1  # the venue's own order, past the newest page
    assert all(o["Id"] != adl[0]["Id"] for o in short_ex.GetHistoryOrders(SYMBOL + ".swap"))
    assert _net(app) == 0 and app.reconciler.openings_stopped is None
    assert app.ledger.pairs[1].qty == D("0.050")
    assert any(f"booked at {D(str(adl[0]['AvgPrice'])):.2f}" in line and "liquidation/ADL order" in line
               for line in sim.logs)


class _Pages:
    """GetHistoryOrders over a fixed list of finished orders, the way FMZ answers it: without since the
    newest `page`, with since the rows from then on, oldest first, at most `limit` (or `page`)."""

    def __init__(self, rows: list[dict], page: int) -> None:
        self.rows = rows
        self.page = page
        self.asked: list[tuple] = []

    def GetHistoryOrders(self, symbol="", since=0, limit=0):
        self.asked.append((symbol, since, limit))
        size = min(limit or self.page, self.page)
        if not since:
            return self.rows[-size:]
        return [o for o in self.rows if o["Time"] >= since][:size]


def _rows(count: int, start_ms: int, every_ms: int = 1) -> list[dict]:
    return [{"Id": f"BTC_USDT.swap,{n}", "Time": start_ms + n * every_ms} for n in range(count)]


def test_pages_forward_from_the_start_time_until_a_page_is_not_full():
    rows = _rows(130, 1_000)
    venue = _Pages(rows, page=PAGE_ROWS)
    found = finished_since(venue, "BTC_USDT.swap", 1_010)
    assert [o["Id"] for o in found] == [o["Id"] for o in rows[10:]]
    assert [asked[1] for asked in venue.asked] == [1_010, 1_059, 1_108]  # each from the last row's time


def test_rows_sharing_the_last_time_are_neither_lost_nor_counted_twice():
    rows = [{"Id": f"x,{n}", "Time": 1_000 + n // 3} for n in range(120)]  # three rows a millisecond
    found = finished_since(_Pages(rows, page=PAGE_ROWS), "BTC_USDT.swap", 1_000)
    assert [o["Id"] for o in found] == [o["Id"] for o in rows]


def test_no_answer_when_a_page_fails_or_the_pages_do_not_move_on():
    class Failing(_Pages):
        def GetHistoryOrders(self, symbol="", since=0, limit=0):
            return None if since > 1_000 else super().GetHistoryOrders(symbol, since, limit)

    assert finished_since(Failing(_rows(80, 1_000), page=PAGE_ROWS), "BTC_USDT.swap", 1_000) is None
    same_ms = [{"Id": f"x,{n}", "Time": 5_000} for n in range(60)]  # a full page that cannot move forward
    assert finished_since(_Pages(same_ms, page=PAGE_ROWS), "BTC_USDT.swap", 5_000) is None


def test_without_a_start_time_the_newest_page_is_read_as_before():
    venue = _Pages(_rows(80, 1_000), page=PAGE_ROWS)
    assert [o["Id"] for o in finished_since(venue, "BTC_USDT.swap", 0)] == [f"BTC_USDT.swap,{n}"
                                                                           for n in range(30, 80)]
    assert venue.asked == [("BTC_USDT.swap", 0, 0)]
    assert finished_since(object(), "BTC_USDT.swap", 1_000) == []
