"""Venue rules at the simulated date: Binance USDⓈ-M's minimum order notional as Binance changed it.

Sources (Binance's own announcements, and for 2023 a third-party report of one; found with the search tool):
- "New Minimum Order Notional Limit Rule for USDⓈ-M Futures", 2021-01-21
  (binance.com/en/support/announcement/76719bbaeeb847bbac4daa2906fcdcc0): a new rule for all USDⓈ-M contracts
  from 2021-01-25 07:00 UTC, $1; reduce-only orders are not affected.
- "Updates to USDⓈ-M Futures Trading Rules", 2021-02-23 (binance.com/en/support/announcement/
  1d762daf60dd417f9d8a05d44b06a25c): 5 USDT from 2021-02-24 03:00 UTC. python-binance issue #947 (2021-06)
  shows the venue answering -4164 "no smaller than 5.0" then.
- BTCUSDT 5 -> 100 and ETHUSDT 5 -> 20 USDT from 2023-11-02 10:00 UTC: app.wrgsb.com/tr/post/status/17744539
  (a repost of Binance's announcement; the announcement itself is not in the store). Binance's FAQ
  360033161972 says 100 for BTCUSDT today, and alpha-rptr issue #77 (2024-07) shows -4164 "no smaller
  than 100".
Other venues, and Binance spot, keep today's rule at every date (docs/simulator.md, Contracts).
"""

from datetime import UTC, datetime

import pytest

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world

HOUR_MS = 3_600_000


def _world(start: str, *bindings: ExchangeBinding, hours: int = 24):
    start_ms = int(datetime.fromisoformat(start).replace(tzinfo=UTC).timestamp() * 1000)
    cfg = SimConfig(seed=3, start_ms=start_ms, symbols=("BTC_USDT", "ETH_USDT", "SOL_USDT"),
                    dated_prices=True, bindings=bindings or (ExchangeBinding("Futures_Binance"),))
    clock = BacktestClock(start_ms * 1_000_000, (start_ms + hours * HOUR_MS) * 1_000_000)
    log = MemoryLog()
    return create_world(cfg, clock, log), clock, log


def _minimums(ex) -> tuple[float, float, float]:
    markets = ex.GetMarkets()
    return tuple(markets[f"{coin}_USDT.swap"].MinNotional for coin in ("BTC", "ETH", "SOL"))


@pytest.mark.parametrize(("start", "expected"), [
    ("2021-01-25 06:59:00", (0.0, 0.0, 0.0)),  # no minimum before the first rule
    ("2021-01-25 07:00:00", (1.0, 1.0, 1.0)),
    ("2021-02-24 02:59:00", (1.0, 1.0, 1.0)),
    ("2021-02-24 03:00:00", (5.0, 5.0, 5.0)),
    ("2023-11-02 09:59:00", (5.0, 5.0, 5.0)),
    ("2023-11-02 10:00:00", (100.0, 20.0, 5.0)),
    ("2026-12-07 00:00:00", (100.0, 20.0, 5.0)),
])
def test_binance_usdm_minimum_notional_is_the_one_of_the_simulated_date(start, expected):
    world, _clock, _log = _world(start)
    assert _minimums(world.exchanges[0]) == expected


def test_the_minimum_changes_when_the_run_crosses_the_date():
    world, clock, _log = _world("2023-11-02 09:00:00")
    ex = world.exchanges[0]
    assert _minimums(ex) == (5.0, 5.0, 5.0)
    clock.sleep(HOUR_MS)
    assert _minimums(ex) == (100.0, 20.0, 5.0)


def test_a_2021_order_of_0_001_btc_is_taken_and_the_same_order_today_is_refused():
    world, _clock, log = _world("2021-06-01")
    ex = world.exchanges[0]
    price = ex.GetTicker("BTC_USDT.swap").Last
    assert 30_000 < price < 40_000  # BTC's real level then (month-end closes), so 0.001 BTC is 30..40 USDT
    assert ex.CreateOrder("BTC_USDT.swap", "buy", -1, 0.001) is not None
    world, _clock, log = _world("2024-06-01")
    ex = world.exchanges[0]
    assert ex.CreateOrder("BTC_USDT.swap", "buy", -1, 0.001) is None
    assert "below the minimum 100 USDT" in log.last_error


def test_reduce_only_orders_are_exempt_as_binance_says():
    world, _clock, log = _world("2024-06-01")
    ex = world.exchanges[0]
    assert ex.CreateOrder("BTC_USDT.swap", "buy", -1, 0.003) is not None  # ~200 USDT at 2024-06 prices
    assert ex.CreateOrder("BTC_USDT.swap", "closebuy", -1, 0.001) is not None  # ~67 USDT, closing
    assert ex.GetPositions("BTC_USDT.swap")[0].Amount == pytest.approx(0.002)


def test_other_venues_keep_todays_rule_at_every_date():
    for start in ("2021-01-10", "2024-06-01"):
        world, _clock, _log = _world(start, ExchangeBinding("Futures_Bybit"), ExchangeBinding("Futures_OKX"))
        bybit, okx = world.exchanges
        assert _minimums(bybit) == (5.0, 5.0, 5.0)
        assert _minimums(okx) == (0.0, 0.0, 0.0)
