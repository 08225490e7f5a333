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

from fmz_compat import live
from fmz_compat.sim.exchange import HISTORY_PAGE
from hedge.execution import client_id_of
from hedge.market import venue_key
from hedge.order_history import MAX_PAGES, PAGE_ROWS, VENUE_PAGE_ROWS, evidence_since, finished_since
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


def test_a_page_asks_the_venues_most_rows_as_the_simulator_and_the_live_objects_list():
    assert VENUE_PAGE_ROWS == {venue: most for venue, (_, most) in HISTORY_PAGE.items()}
    assert VENUE_PAGE_ROWS == {venue: most for venue, (_, most) in live._HISTORY_PAGE.items()}
    venue = _Pages(_rows(2_500, 1_000), page=1_000)
    assert len(finished_since(venue, "BTC_USDT.swap", 1_000, "binance")) == 2_500
    assert [asked[2] for asked in venue.asked] == [1_000, 1_000, 1_000]


def test_evidence_past_the_walks_reach_is_read_from_the_newest_page_and_absence_there_proves_nothing():
    rows = _rows(PAGE_ROWS * MAX_PAGES + 120, 1_000)  # more than 40 pages of 50 from the start time
    venue = _Pages(rows, page=PAGE_ROWS)
    assert finished_since(venue, "BTC_USDT.swap", 1_000, "bybit") is None
    assert len(venue.asked) == MAX_PAGES
    venue.asked.clear()
    shown = evidence_since(venue, "BTC_USDT.swap", 1_000, "bybit")
    assert len(venue.asked) == MAX_PAGES + 1 and venue.asked[-1] == ("BTC_USDT.swap", 0, 0)
    assert [o["Id"] for o in shown] == [o["Id"] for o in rows[:PAGE_ROWS * MAX_PAGES - MAX_PAGES + 1]] + [
        o["Id"] for o in rows[-PAGE_ROWS:]]  # the walk's rows, then the newest page's, oldest first, once
    assert evidence_since(_Pages(_rows(30, 1_000), page=PAGE_ROWS), "BTC_USDT.swap", 1_000, "bybit") == _rows(
        30, 1_000)  # a walk that ends reads no more than finished_since


@pytest.mark.parametrize(("deleveraging", "index", "amount", "held", "move"), [
    ("binance", 0, 0.002, "-0.3", 0.97),  # 2,100 rows: past 40 pages of 50, within 3 of binance's 1,000
    ("bybit", 2, 0.001, "0.3", 1.03),  # 2,100 rows: past 40 pages of bybit's most (50); the newest has it
])
def test_adl_evidence_is_found_on_an_old_busy_pair_past_the_forward_walks_reach(
        deleveraging, index, amount, held, move):
    """From the review of 97b8e3f (reviewer's scratch test
    test_97b8e3f_adl_evidence_read_from_the_oldest_pairs_open_past_2000_rows, its binance case). The pair long
    bybit / short binance is old: since it opened, the venue listed 2,100 finished orders in the symbol
    (another strategy on the account: buys and sells 0.2 s apart). The venue then ADLs half our leg (the
    one in profit). Reading 50 rows a page from the pair's open, 40 pages did not reach the ADL order: no
    evidence, the ADL only named, the other venue's 0.15 BTC hedge of it never closed, and 800 history
    requests in 620 s. Now the pages are the venue's largest (binance 1,000) and a walk that cannot reach
    the present (bybit's 50 a page) also reads the newest page, where the ADL order is."""
    from tests.hedge.test_rehedge import _net as _venue_net
    from tests.hedge.test_rehedge import _positions
    from tests.hedge.test_vanished_hedge import _a_pair_long_bybit_short_binance

    sim, app = _a_pair_long_bybit_short_binance()
    venue = sim.world.exchanges[index]
    for i in range(2_100):
        assert venue.CreateOrder(SYMBOL + ".swap", "buy" if i % 2 == 0 else "sell", -1, amount) is not None
        sim.clock.sleep(200)
    assert _positions(sim)[deleveraging] == D(held)
    for _ in range(5):
        app.tick()
        sim.clock.sleep(1000)
    asked: list[tuple] = []
    read_history = venue.GetHistoryOrders

    def counted(*args):
        asked.append(args)
        return read_history(*args)

    venue.GetHistoryOrders = counted
    sim.world.coins["BTC"].fair *= move  # the ADL takes the leg in profit
    adl_ms = sim.now_ms() + 20_000
    sim.world.schedule_adl(deleveraging, adl_ms, 0.5)
    over = 0
    while sim.now_ms() < adl_ms + 600_000:
        app.tick()
        if sim.now_ms() > adl_ms + 120_000 and abs(_venue_net(sim)) > D("0.001"):
            over += 1
        sim.clock.sleep(1000)
    assert over == 0, f"net {_venue_net(sim):+f} BTC for {over} s from ADL+120 s on"
    assert len(asked) <= 2 * (MAX_PAGES + 1), f"{len(asked)} history requests on {deleveraging} in 620 s"
