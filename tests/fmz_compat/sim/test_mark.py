"""Mark prices built the way each venue publishes them, and liquidation at every price step.

Sources (read, not copied): Binance "Mark Price in USDⓈ-M futures" FAQ 360033525071 (median of
index x (1 + last funding rate x time to funding / interval), index + 5-minute moving average of
(bid1 + ask1) / 2 - index sampled every second, last price); Bybit help center "Mark Price Calculation
(Perpetual Contract)" (the same median,
5-minute basis average measured every second); OKX support "Mark Price" (index + moving average of
(best bid + best ask) / 2 - index); CoinEx help 900004269526 (index x (1 + moving average of the per-minute
premium index over the funding interval)); BitMEX "Fair Price Marking" (index x (1 + funding rate x time until
funding / funding interval)).
"""

import math
import statistics

import pytest

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world
from fmz_compat.sim.market import INDEX_LEVEL

START_MS = 1_719_792_000_000  # 2024-07-01 00:00 UTC
HOUR_MS = 3_600_000
VENUES = ("Futures_Binance", "Futures_Bybit", "Futures_OKX", "Futures_CoinEx", "Futures_BitMEX")


def make(eids, *, seed=7, hours=2, balance=10_000.0, step_ms=1000):
    bindings = tuple(ExchangeBinding(e, "BTC_USDT", balance) for e in eids)
    cfg = SimConfig(seed=seed, start_ms=START_MS, bindings=bindings, symbols=("BTC_USDT",), step_ms=step_ms)
    clock = BacktestClock(START_MS * 1_000_000, (START_MS + hours * HOUR_MS) * 1_000_000)
    log = MemoryLog()
    return create_world(cfg, clock, log), clock, log


def _median3(a, b, c):
    return sorted((a, b, c))[1]


def test_each_venue_mark_follows_its_documented_construction():
    """Step a world one grid point at a time, record every venue price and the spot index, and rebuild each
    venue's mark from those records with the venue's rule: it must be the simulator's mark at every step."""
    step_ms = 1000
    world, _clock, _log = make(VENUES, step_ms=step_ms)
    coin = world.coins["BTC"]
    venues = ("binance", "bybit", "okx", "coinex", "bitmex")
    quotes = {venue: world.quotes[(venue, "BTC_USDT")] for venue in venues}
    first = {venue: (q.price, coin.index) for venue, q in quotes.items()}
    history = {venue: [] for venue in quotes}
    window = {venue: len(q.ma_buf) if q.ma_buf is not None else 0 for venue, q in quotes.items()}
    assert window["binance"] == window["bybit"] == window["okx"] == 300  # 5 minutes, one sample a second
    assert window["coinex"] == 480  # one sample a minute over its 8-hour funding interval
    checked = 0
    for k in range(1, 901):
        world.advance((START_MS + k * step_ms) * 1_000_000)
        index = coin.index
        assert math.isclose(index, coin.fair * INDEX_LEVEL, rel_tol=1e-15)
        for venue, q in quotes.items():
            history[venue].append((k, q.price, index))
            f = q.funding
            left = (f.next_k - k) / f.interval_k
            if venue in ("binance", "bybit", "okx"):
                samples = [p - i for _k, p, i in history[venue][-300:]]
                samples = [first[venue][0] - first[venue][1]] * (300 - len(samples)) + samples
                ma = statistics.fmean(samples)
                if venue == "okx":
                    expected = index + ma
                else:
                    expected = _median3(index * (1 + f.prev_rate * left), index + ma, q.price)
            elif venue == "coinex":
                hs = q.half_spread_frac

                def premium(p, i, hs=hs):
                    return (max(0.0, p * (1 - hs) - i) - max(0.0, i - p * (1 + hs))) / i
                samples = [premium(p, i) for kk, p, i in history[venue] if kk % 60 == 0][-480:]
                samples = [premium(*first[venue])] * (480 - len(samples)) + samples
                expected = index * (1 + statistics.fmean(samples))
            else:
                expected = index * (1 + f.rate * left)
            assert math.isclose(q.mark, expected, rel_tol=1e-11), (venue, k, q.mark, expected)
            checked += 1
    assert checked == 5 * 900


def test_a_venue_only_spike_in_the_book_does_not_drag_the_mark():
    """A +2 % jump of Binance's book alone (the index does not move): the mark is the median, so it stays
    with the index and follows the book only through the 5-minute basis average. The old mark (a 5-second
    average of the book) was 2 % up within 30 seconds."""
    world, clock, _log = make(("Futures_Binance",), hours=1)
    coin = world.coins["BTC"]
    q = world.quotes[("binance", "BTC_USDT")]
    coin.shape([], [], {"binance": [(10, 0.0), (11, 0.02), (400, 0.02), (401, 0.0)]})
    world.advance((START_MS + 40_000) * 1_000_000)
    assert q.price / coin.fair - 1 > 0.019
    assert abs(q.mark / coin.fair - 1) < 0.003  # 30 of 300 basis samples: about 0.2 %
    world.advance((START_MS + 330_000) * 1_000_000)
    assert q.mark / coin.fair - 1 > 0.019  # five minutes later the basis average has caught up


def _isolated_long(world, leverage=125, amount=0.05):
    ex = world.exchanges[0]
    assert ex.IO("cross", False) is True
    assert ex.SetMarginLevel("BTC_USDT.swap", leverage)
    assert ex.CreateOrder("BTC_USDT.swap", "buy", -1, amount)
    return ex


def test_a_spike_that_touches_the_liquidation_price_between_minute_samples_liquidates_at_once():
    """The fair price (hence the index and every mark) dips 3 % from second 10 to 19 of the first minute and
    comes back. A 125x isolated long is within 1 % of its liquidation price: it must be gone when the
    strategy next looks, at second 30. The old simulator checked liquidation only at whole minutes, so at
    second 30 the position was still open and could be closed as if nothing had happened."""
    world, clock, log = make(("Futures_Binance",), balance=1_000.0)
    ex = _isolated_long(world)
    coin = world.coins["BTC"]
    dip = math.log(0.97)
    coin.shape([(10, 0.0), (13, dip), (16, dip), (19, 0.0)], [], {})
    clock.sleep(30_000)
    assert ex.GetPositions("BTC_USDT.swap") == []
    assert world.accounts[0].liquidations == 1
    assert any("liquidated at mark" in r["message"] for r in log.rows)
    assert world.quotes[("binance", "BTC_USDT")].mark > coin.fair * 0.99  # the price came back by then

    calm, calm_clock, _ = make(("Futures_Binance",), balance=1_000.0)  # same seed without the dip: it lives
    calm_ex = _isolated_long(calm)
    calm_clock.sleep(30_000)
    assert len(calm_ex.GetPositions("BTC_USDT.swap")) == 1


@pytest.mark.slow
def test_the_safe_band_never_skips_a_liquidation_the_full_check_finds():
    """The screen that skips the check while every mark stays in the account's safe band must be invisible:
    a world run with it liquidates at the same step and mark as one that checks in full every chunk."""
    results = []
    for screen in (True, False):
        world, clock, log = make(("Futures_Binance", "Futures_OKX"), hours=72, balance=300.0, seed=3)
        for ex in world.exchanges:
            assert ex.SetMarginLevel("BTC_USDT.swap", 50)
        assert world.exchanges[0].CreateOrder("BTC_USDT.swap", "buy", -1, 0.1)
        assert world.exchanges[1].CreateOrder("BTC_USDT.swap", "sell", -1, 10)
        if not screen:
            for acc in world.accounts:
                acc._still_safe = lambda: False
        rows = []
        try:
            while len(rows) < 2:
                clock.sleep(7_000)
                world.exchanges[0].GetPositions("BTC_USDT.swap")
                rows = [r["message"] for r in log.rows if "liquidated" in r["message"]]
        except EOFError:
            pass
        results.append((rows, world.now_ms()))
    assert results[0][0], "a 50x pair on 300 USDT a venue should see a liquidation within 3 days"
    assert results[0] == results[1]
