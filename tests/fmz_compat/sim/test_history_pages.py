"""GetHistoryOrders answers one page, as the venues do (issue #17): without a start time the newest rows of
the venue's page (fmz_compat/sim/exchange.py HISTORY_PAGE), with one the rows from then on, oldest first.
Before, the simulator returned every finished order ever, kinder than any venue."""

import pytest

from fmz_compat import live
from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world
from fmz_compat.sim.exchange import HISTORY_PAGE

START_MS = 1_719_792_000_000
SYM = "BTC_USDT.swap"
_IOC = {"Futures_Bybit": '{"timeInForce":"IOC"}', "Futures_OKX": '{"ordType":"ioc"}',
        "Futures_Binance": '{"timeInForce":"IOC"}'}
_SMALLEST = {"Futures_Bybit": 0.001, "Futures_OKX": 1, "Futures_Binance": 0.002}


def _finished(name: str, rows: int):
    """An exchange object of `name` whose account has `rows` finished orders, one every 100 ms (IOC buys
    under the market that take nothing), and their creation times, oldest first."""
    clock = BacktestClock(START_MS * 1_000_000, (START_MS + 3_600_000) * 1_000_000)
    world = create_world(SimConfig(seed=7, start_ms=START_MS, bindings=(ExchangeBinding(name),),
                                   symbols=("BTC_USDT",)), clock, MemoryLog())
    ex = world.exchanges[0]
    price = round(ex.GetTicker(SYM)["Last"] * 0.9, 1)
    for _ in range(rows):
        assert ex.CreateOrder(SYM, "buy;" + _IOC[name], price, _SMALLEST[name]) is not None
        clock.sleep(100)
    return ex, [order.time_ms for order in world.accounts[0].orders.values()]


def _ids(orders) -> list[int]:
    return [int(o["Id"].split(",")[1]) for o in orders]


@pytest.mark.parametrize(("name", "venue"), [("Futures_Bybit", "bybit"), ("Futures_OKX", "okx")])
def test_without_a_start_time_only_the_newest_page_is_listed(name, venue):
    default, _most = HISTORY_PAGE[venue]
    ex, _times = _finished(name, default + 10)
    listed = ex.GetHistoryOrders(SYM)
    assert _ids(listed) == list(range(11, default + 11))
    assert _ids(ex.GetHistoryOrders(SYM, 0, 5)) == list(range(default + 6, default + 11))


def test_with_a_start_time_the_rows_from_then_on_oldest_first_up_to_the_page():
    ex, times = _finished("Futures_Bybit", 70)
    since = times[20]  # the 21st order's creation time (the orders before it are older)
    first = next(n for n, t in enumerate(times) if t >= since) + 1
    assert _ids(ex.GetHistoryOrders(SYM, since)) == list(range(first, first + 50))
    assert _ids(ex.GetHistoryOrders(SYM, since, 20)) == list(range(first, first + 20))
    assert len(ex.GetHistoryOrders(SYM, since, 500)) == 50  # Bybit's most
    assert _ids(ex.GetHistoryOrders(SYM, times[-1])) == [n + 1 for n, t in enumerate(times) if t >= times[-1]]


def test_the_live_objects_ask_the_venues_for_the_pages_the_simulator_lists():
    assert live._HISTORY_PAGE == HISTORY_PAGE
