"""The simulated venues' maximum order size (issue #17): world.set_max_qty sets a venue-symbol's FMZ
Market.MaxQty, GetMarkets reports it, and an order above it is refused the way the venue refuses it (a
definite rejection, nothing can land later): Binance USDⓈ-M -4005 "Quantity greater than max quantity.",
OKX 51202, Bybit 10001 (fmz_compat/sim/exchange.py _TOO_LARGE says where each answer comes from)."""

import pytest

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world

START_MS = 1_700_000_000_000


def _world():
    names = ("Futures_Binance", "Futures_OKX", "Futures_Bybit")
    cfg = SimConfig(seed=3, start_ms=START_MS, symbols=("BTC_USDT",),
                    bindings=tuple(ExchangeBinding(n, balance=50_000) for n in names))
    clock = BacktestClock(START_MS * 1_000_000, (START_MS + 3_600_000) * 1_000_000)
    log = MemoryLog()
    return create_world(cfg, clock, log), log


@pytest.mark.parametrize(("index", "venue", "code"), [(0, "binance", "-4005"), (1, "okx", "51202"),
                                                      (2, "bybit", "10001")])
def test_an_order_above_the_venues_maximum_order_size_is_refused_definitely(index, venue, code):
    world, log = _world()
    ex = world.exchanges[index]
    assert ex.GetMarkets()["BTC_USDT.swap"].MaxQty == 1e9  # none set: no bound, as before
    world.set_max_qty(venue, "BTC_USDT", 5)
    assert ex.GetMarkets()["BTC_USDT.swap"].MaxQty == 5
    assert ex.CreateOrder("BTC_USDT.swap", "buy", -1, 6) is None
    assert ex.last_outcome_unknown is False  # the venue answered: nothing of it can land later
    assert code in log.last_error and "rejected (" in log.last_error, log.last_error
    assert not any(p.Amount for p in ex.GetPositions("BTC_USDT.swap") or [])
    assert ex.CreateOrder("BTC_USDT.swap", "buy", -1, 5) is not None  # at the maximum: taken
    assert sum(p.Amount for p in ex.GetPositions("BTC_USDT.swap")) == 5
    assert ex.CreateOrder("BTC_USDT.swap", "closebuy", -1, 5.5) is None  # a close above it too
