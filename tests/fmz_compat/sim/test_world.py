"""The simulated world through create_world: determinism, stream independence, funding, liquidation,
faults, transfers and the run summary."""

import json
import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fmz_compat.core import ORDER_STATE_CANCELED, BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world
from fmz_compat.sim.rules import funding_payment, liquidation_check

START_MS = 1_719_792_000_000  # 2024-07-01 00:00 UTC
HOUR_MS = 3_600_000


def make(eids=("Futures_Binance", "Futures_OKX"), *, seed=7, hours=48, balance=10_000.0, currency="BTC_USDT",
         step_ms=1000, latency_ms=0, symbols=("BTC_USDT", "ETH_USDT"), stocks=0.0):
    bindings = tuple(ExchangeBinding(e, currency, balance, stocks) for e in eids)
    cfg = SimConfig(seed=seed, start_ms=START_MS, bindings=bindings, symbols=symbols, step_ms=step_ms,
                    latency_ms=latency_ms)
    clock = BacktestClock(START_MS * 1_000_000, (START_MS + hours * HOUR_MS) * 1_000_000)
    log = MemoryLog()
    return create_world(cfg, clock, log), clock, log


def sleep_until(clock, ms):
    clock.sleep(ms - clock.now_ns() // 1_000_000)


def scripted_run(seed, eids=("Futures_Binance", "Futures_OKX", "Futures_Bybit")):
    """A toy strategy: every 10 s buy on the cheapest venue and sell on the richest, then flatten."""
    world, clock, log = make(eids, seed=seed, hours=2)
    ex = world.exchanges
    sizes = {"Futures_OKX": 1.0}
    try:
        while True:
            tickers = [e.GetTicker("BTC_USDT.swap") for e in ex]
            lo = min(range(len(ex)), key=lambda i: tickers[i].Sell)
            hi = max(range(len(ex)), key=lambda i: tickers[i].Buy)
            if lo != hi:
                ex[lo].CreateOrder("BTC_USDT.swap", "buy", -1, sizes.get(ex[lo].GetName(), 0.01))
                ex[hi].CreateOrder("BTC_USDT.swap", "sell", -1, sizes.get(ex[hi].GetName(), 0.01))
            for e in ex:
                for p in e.GetPositions("BTC_USDT.swap"):
                    side = "closebuy" if p.Type == 0 else "closesell"
                    e.CreateOrder("BTC_USDT.swap", side, -1, p.Amount)
            clock.sleep(10_000)
    except EOFError:
        pass
    return world, log


def test_same_seed_same_trades_and_summary():
    w1, log1 = scripted_run(3)
    w2, log2 = scripted_run(3)
    assert w1.stats() == w2.stats()
    assert log1.rows == log2.rows
    assert w1.stats()["totals"]["trades"] > 100


def test_different_seed_different_path():
    w1, _ = scripted_run(3)
    w2, _ = scripted_run(4)
    assert w1.stats()["totals"]["fees_usdt"] != w2.stats()["totals"]["fees_usdt"]


def test_path_independent_of_read_frequency_and_of_other_venues():
    a, ca, _ = make(("Futures_Binance",), hours=2)
    b, cb, _ = make(("Futures_Binance", "Futures_Bybit", "Futures_CoinEx"), hours=2)
    for _ in range(100):
        ca.sleep(1000)
        a.exchanges[0].GetTicker("BTC_USDT.swap")
    cb.sleep(100_000)
    ta = a.exchanges[0].GetTicker("BTC_USDT.swap")
    tb = b.exchanges[0].GetTicker("BTC_USDT.swap")
    assert (ta.Last, ta.Buy, ta.Sell, ta.Time) == (tb.Last, tb.Buy, tb.Sell, tb.Time)


def test_eof_at_window_end():
    world, clock, _ = make(hours=1)
    clock.sleep(HOUR_MS - 1)
    assert world.exchanges[0].GetTicker("BTC_USDT.swap") is not None
    with pytest.raises(EOFError):
        clock.sleep(1)
    with pytest.raises(EOFError):
        world.exchanges[0].GetTicker("BTC_USDT.swap")


def test_latency_advances_virtual_clock():
    world, clock, _ = make(latency_ms=25)
    world.exchanges[0].GetTicker("BTC_USDT.swap")
    world.exchanges[0].GetAccount()
    assert clock.now_ns() == START_MS * 1_000_000 + 50 * 1_000_000


def _wallet(ex, asset: str = "USDT") -> float:
    """The wallet balance in the venue's own account answer (Binance fapi/v3/account, OKX account/balance)."""
    info = ex.GetAccount().Info
    if "assets" in info:
        return float(next(row for row in info.assets if row.asset == asset).walletBalance)
    return float(next(row for row in info.data[0].details if row.ccy == asset).cashBal)


def test_funding_sign_and_timing_long_pays_when_rate_positive():
    world, clock, _ = make(("Futures_Binance", "Futures_OKX"), hours=20)
    b, o = world.exchanges
    assert b.CreateOrder("BTC_USDT.swap", "buy", -1, 0.1)
    assert o.CreateOrder("BTC_USDT.swap", "sell", -1, 10)  # 10 contracts = 0.1 BTC
    fb = b.GetFundings("BTC_USDT.swap")[0]
    assert fb.Time == START_MS + 8 * HOUR_MS and fb.Interval == 8 * HOUR_MS
    before_b, before_o = _wallet(b), _wallet(o)
    sleep_until(clock, START_MS + 8 * HOUR_MS - 1000)
    assert _wallet(b) == before_b  # nothing before the settlement
    # the predicted rate has converged to the settled one by now
    fb, fo = b.GetFundings("BTC_USDT.swap")[0], o.GetFundings("BTC_USDT.swap")[0]
    mark_b = b.GetTicker("BTC_USDT.swap").Info.markPrice
    sleep_until(clock, START_MS + 8 * HOUR_MS)
    paid_b = _wallet(b) - before_b
    paid_o = _wallet(o) - before_o
    assert math.copysign(1, paid_b) == -math.copysign(1, fb.Rate)  # long pays when rate > 0
    assert math.copysign(1, paid_o) == math.copysign(1, fo.Rate)   # short receives when rate > 0
    assert paid_b == pytest.approx(-0.1 * mark_b * fb.Rate, rel=2e-4, abs=1e-4)
    assert b.GetFundings("BTC_USDT.swap")[0].Time == START_MS + 16 * HOUR_MS
    stats = world.stats()
    assert stats["venues"]["Futures_Binance"]["funding_usdt"] == pytest.approx(paid_b, abs=1e-6)


def test_predicted_funding_moves_from_last_settled_rate_to_the_next():
    world, clock, _ = make(("Futures_Bybit",), hours=20)
    ex = world.exchanges[0]
    rates = []
    for _ in range(16):
        rates.append(ex.GetFundings("BTC_USDT.swap")[0].Rate)
        clock.sleep(HOUR_MS // 2)
    steps = [b - a for a, b in zip(rates, rates[1:], strict=False)]
    assert all(s == pytest.approx(steps[0], abs=1e-12) for s in steps[:15])  # linear within the interval
    settled_first = rates[-1] + steps[0]  # extrapolated to 08:00, the first settlement
    after = ex.GetFundings("BTC_USDT.swap")[0]  # now 08:00: the new interval starts from the settled rate
    assert after.Time == START_MS + 16 * HOUR_MS
    assert after.Rate == pytest.approx(settled_first, abs=1e-9)


def test_bitmex_settles_at_04_12_20_and_custom_intervals():
    bindings = (ExchangeBinding("Futures_BitMEX"), ExchangeBinding("Futures_Binance"))
    cfg = SimConfig(seed=1, start_ms=START_MS, bindings=bindings)
    clock = BacktestClock(START_MS * 1_000_000, (START_MS + 24 * HOUR_MS) * 1_000_000)
    world = create_world(cfg, clock, MemoryLog(), funding_hours={("binance", "ETH_USDT"): 4})
    mex, bn = world.exchanges
    assert mex.GetFundings("BTC_USDT.swap")[0].Time == START_MS + 4 * HOUR_MS
    eth = bn.GetFundings("ETH_USDT.swap")[0]
    assert (eth.Time, eth.Interval) == (START_MS + 4 * HOUR_MS, 4 * HOUR_MS)


def test_isolated_high_leverage_position_gets_liquidated():
    world, clock, log = make(("Futures_Binance",), hours=72, balance=100.0)
    ex = world.exchanges[0]
    assert ex.IO("cross", False) is True
    assert ex.SetMarginLevel("BTC_USDT.swap", 125)
    assert ex.CreateOrder("BTC_USDT.swap", "buy", -1, 0.01)
    acct0 = _wallet(ex)
    try:
        while ex.GetPositions("BTC_USDT.swap"):
            clock.sleep(60_000)
    except EOFError:
        pytest.fail("a 125x isolated long should be liquidated within 3 days")
    stats = world.stats()["venues"]["Futures_Binance"]
    assert stats["liquidations"] == 1
    assert _wallet(ex) < acct0 + 1e-9
    assert any("liquidated" in r["message"] for r in log.rows)


@settings(max_examples=60, deadline=None)
@given(margin=st.floats(0, 1e5), extra=st.floats(0.01, 1e4),
       size=st.floats(-50, 50).filter(lambda x: abs(x) > 1e-6),
       entry=st.floats(100, 1e5), move=st.floats(-0.5, 0.5))
def test_liquidation_check_is_monotone_in_margin(margin, extra, size, entry, move):
    legs = [("BTC_USDT", size, entry, entry * (1 + move))]
    if liquidation_check("binance", margin + extra, legs):
        assert liquidation_check("binance", margin, legs)


@given(size=st.floats(-100, 100).filter(lambda x: abs(x) > 1e-9), mark=st.floats(1, 1e5),
       rate=st.floats(-0.01, 0.01).filter(lambda x: abs(x) > 1e-9))
def test_funding_payment_sign(size, mark, rate):
    pay = funding_payment("okx", size, mark, rate)
    # OKX rounds to 1e-8 USDT: half a unit at a tie, plus float error
    assert pay == pytest.approx(-size * mark * rate, rel=1e-9, abs=6e-9)
    if pay:
        assert (pay < 0) == ((size > 0) == (rate > 0))  # longs pay when rate > 0, shorts when < 0


def test_fault_refuse_orders_and_recovery():
    world, clock, log = make()
    ex = world.exchanges[0]
    world.inject("Futures_Binance", "refuse_orders", START_MS + 60_000)
    assert ex.CreateOrder("BTC_USDT.swap", "buy", -1, 0.01) is None
    assert "-1001" in log.last_error
    assert ex.GetTicker("BTC_USDT.swap") is not None  # market data still works
    clock.sleep(60_000)
    assert ex.CreateOrder("BTC_USDT.swap", "buy", -1, 0.01) is not None


def test_fault_refuse_orders_answers_an_unknown_outcome_and_refuse_definite_a_definite_refusal():
    """refuse_orders: None and the venue's "try again" body, nothing more (FMZ says nothing: the caller cannot
    tell a refusal from a lost answer). refuse_definite: the venue's margin refusal, which ccxt 4.5.83 maps to
    InsufficientFunds (python/ccxt/binance.py linear "exceptions" -2019, okx.py 51008), a definite rejection:
    the runtime tells it as fmz_compat.live does (`last_outcome_unknown` False, "rejected (...)"), nothing is
    placed, cancels still work, and the next call's outcome is told afresh."""
    world, clock, log = make()
    binance, okx = world.exchanges
    world.inject("binance", "refuse_orders", START_MS + 60_000)
    assert binance.CreateOrder("BTC_USDT.swap", "buy", -1, 0.01) is None
    assert binance.last_outcome_unknown is None and "-1001" in log.last_error
    bid = okx.GetTicker("BTC_USDT.swap").Buy
    resting = okx.CreateOrder("BTC_USDT.swap", "buy", bid - 500, 1)
    assert resting is not None and okx.last_outcome_unknown is None
    world.inject("okx", "refuse_definite", START_MS + 60_000)
    assert okx.CreateOrder("BTC_USDT.swap", 'closebuy;{"clOrdId":"c1"}', -1, 1) is None
    assert okx.last_outcome_unknown is False
    assert "rejected (InsufficientFunds)" in log.last_error and '"sCode":"51008"' in log.last_error
    assert [o.Id for o in okx.GetOrders("BTC_USDT.swap")] == [resting]  # nothing placed
    assert okx.last_outcome_unknown is None  # told afresh at each call
    assert okx.CancelOrder(resting) is True
    clock.sleep(60_000)
    assert okx.CreateOrder("BTC_USDT.swap", "buy", -1, 1) is not None and okx.last_outcome_unknown is None
    assert binance.CreateOrder("BTC_USDT.swap", "buy", -1, 0.01) is not None


def test_fault_timeout_after_accept_leaves_the_order_on_the_venue():
    world, _, log = make()
    ex = world.exchanges[0]
    bid = ex.GetTicker("BTC_USDT.swap").Buy
    world.inject("binance", "timeout_after_accept", START_MS + 60_000)
    assert ex.CreateOrder("BTC_USDT.swap", "buy", bid - 100, 0.01) is None
    assert "deadline exceeded" in log.last_error
    orders = ex.GetOrders("BTC_USDT.swap")
    assert len(orders) == 1 and orders[0].Amount == 0.01
    assert ex.CancelOrder(orders[0].Id) is False  # cancelled on the venue, but the caller cannot know
    assert ex.GetOrders("BTC_USDT.swap") == []


def test_fault_stale_market_and_down():
    world, clock, log = make()
    ex, okx = world.exchanges
    t0 = ex.GetTicker("BTC_USDT.swap")
    world.inject("binance", "stale_market", START_MS + 600_000)
    world.inject("okx", "down", START_MS + 600_000)
    clock.sleep(30_000)
    t1 = ex.GetTicker("BTC_USDT.swap")
    assert (t1.Time, t1.Last) == (t0.Time, t0.Last)
    assert ex.GetDepth("BTC_USDT.swap").Time == t0.Time
    assert okx.GetTicker("BTC_USDT.swap") is None and "connection refused" in log.last_error
    assert okx.GetPositions("BTC_USDT.swap") is None
    clock.sleep(600_000)
    assert ex.GetTicker("BTC_USDT.swap").Time > t0.Time
    assert okx.GetPositions("BTC_USDT.swap") == []
    with pytest.raises(ValueError):
        world.inject("binance", "meteor", START_MS)


def test_faults_can_be_scheduled_ahead():
    world, clock, log = make(hours=2)
    ex, okx = world.exchanges
    world.inject("okx", "down", until_ms=START_MS + 1_200_000, from_ms=START_MS + 600_000)
    world.inject("binance", "stale_market", until_ms=START_MS + 1_800_000, from_ms=START_MS + 300_000)
    clock.sleep(599_000)
    assert okx.GetTicker("BTC_USDT.swap") is not None
    assert ex.GetTicker("BTC_USDT.swap").Time == START_MS + 300_000  # frozen at the fault's start
    clock.sleep(1_000)
    assert okx.GetTicker("BTC_USDT.swap") is None and "connection refused" in log.last_error
    clock.sleep(600_000)
    assert okx.GetTicker("BTC_USDT.swap").Time == START_MS + 1_200_000
    clock.sleep(600_000)
    assert ex.GetTicker("BTC_USDT.swap").Time == START_MS + 1_800_000
    with pytest.raises(ValueError, match="must be after"):
        world.inject("okx", "down", until_ms=START_MS)


def test_withdrawal_between_venues_arrives_after_delay_minus_fee():
    world, clock, log = make(("Futures_Binance", "Futures_OKX"))
    bn, okx = world.exchanges
    addr = okx.IO("api", "GET", "/api/v5/asset/deposit-address", "ccy=USDT").data[0].addr
    assert bn.IO("api", "POST", "/sapi/v1/asset/transfer", "type=UMFUTURE_MAIN&asset=USDT&amount=500")
    assert bn.GetAccount().Balance == pytest.approx(9_500)
    res = bn.IO("api", "POST", "/sapi/v1/capital/withdraw/apply",
                f"coin=USDT&network=TRC20&address={addr}&amount=200")
    assert res.id.startswith("simtx")
    assert bn.IO("api", "POST", "/sapi/v1/capital/withdraw/apply",
                 "coin=USDT&network=TRC20&address=nowhere&amount=10") is None
    assert "whitelist" in log.last_error
    clock.sleep(119_000)
    assert okx.IO("api", "GET", "/sim/balances").funding.get("USDT", 0) == 0
    clock.sleep(2_000)
    assert okx.IO("api", "GET", "/sim/balances").funding.USDT == pytest.approx(199.0)
    body = '{"ccy":"USDT","amt":"199","from":"6","to":"18"}'
    assert okx.IO("api", "POST", "/api/v5/asset/transfer", "", body)
    assert okx.GetAccount().Balance == pytest.approx(10_199)
    assert bn.IO("api", "GET", "/nope") is None and "not simulated" in log.last_error


def test_stats_are_json_and_track_net_exposure():
    world, clock, _ = make(("Futures_Binance", "Futures_OKX"), hours=1)
    b, o = world.exchanges
    b.CreateOrder("BTC_USDT.swap", "buy", -1, 0.1)
    clock.sleep(10_000)
    o.CreateOrder("BTC_USDT.swap", "sell", -1, 10)
    clock.sleep(10_000)
    b.GetTicker("BTC_USDT.swap")
    stats = json.loads(json.dumps(world.stats()))
    price = b.GetTicker("BTC_USDT.swap").Last
    assert stats["max_net_exposure"]["coin"] == "BTC"
    assert stats["max_abs_net_exposure_usdt"] == pytest.approx(0.1 * price, rel=0.01)
    assert START_MS < stats["max_net_exposure"]["time_ms"] <= START_MS + 10_000
    assert stats["totals"]["trades"] == 2 and stats["seed"] == 7
    assert set(stats["venues"]["Futures_OKX"]) == {
        "trades", "volume_usdt", "fees_usdt", "funding_usdt", "realized_pnl_usdt",
        "equity_start_usdt", "equity_end_usdt", "liquidations"}


def test_many_symbols_have_sane_specs():
    syms = tuple(f"{c}_USDT" for c in ("BTC", "ETH", "SOL", "XRP", "DOGE", "PEPE", "ZZZ"))
    world, _, _ = make(("Futures_Binance", "Futures_OKX", "Futures_BitMEX"), symbols=syms)
    for ex in world.exchanges:
        markets = ex.GetMarkets()
        assert len(markets) == len(syms)
        tickers = ex.GetTickers()
        assert len(tickers) == len(syms)
        for t in tickers:
            m = markets[t.Symbol]
            assert 0 < t.Buy < t.Sell
            assert t.Sell - t.Buy < t.Last * 0.002
            assert m.MinQty * m.CtVal * t.Last < 100  # a small order is always possible


@pytest.mark.slow
def test_calibrated_volatility_and_cross_venue_spread():
    """Coarse grid (1 min) over 200 days: 8h vol and Bybit-OKX spread near the data's figures."""
    world, clock, _ = make(("Futures_Bybit", "Futures_OKX"), hours=200 * 24, step_ms=60_000,
                           symbols=("BTC_USDT",))
    by, okx = world.exchanges
    closes, spreads = [], []
    for _ in range(3 * 200 - 1):
        clock.sleep(8 * HOUR_MS)
        a, b = by.GetTicker("BTC_USDT.swap").Last, okx.GetTicker("BTC_USDT.swap").Last
        closes.append(b)
        spreads.append((a / b - 1) * 1e4)
    rets = [math.log(y / x) for x, y in zip(closes, closes[1:], strict=False)]
    assert 0.008 < statistics.pstdev(rets) < 0.02          # data: 0.0135
    assert 2.5 < statistics.pstdev(spreads) < 7.0          # data: 4.4 bps
    assert abs(statistics.fmean(spreads) + 1.75) < 2.0     # data: -1.75 bps (Bybit below OKX)


@pytest.mark.slow
def test_venue_down_keeps_running_and_liquidates_the_orphaned_leg():
    world, clock, log = make(("Futures_Binance", "Futures_OKX"), hours=96, balance=100.0)
    bn, okx = world.exchanges
    for ex in (bn, okx):
        ex.IO("cross", False)
        ex.SetMarginLevel("BTC_USDT.swap", 100)
    assert bn.CreateOrder("BTC_USDT.swap", "buy", -1, 0.01)
    assert okx.CreateOrder("BTC_USDT.swap", "sell", -1, 1)
    world.inject("okx", "down", START_MS + 90 * HOUR_MS)
    while not world.stats()["venues"]["Futures_OKX"]["liquidations"]:
        clock.sleep(600_000)
        assert okx.GetPositions("BTC_USDT.swap") is None  # unreachable while down
        assert clock.now_ns() // 1_000_000 < START_MS + 90 * HOUR_MS, "the 100x short should go first"
    clock.sleep(90 * HOUR_MS - (clock.now_ns() // 1_000_000 - START_MS))
    assert okx.GetPositions("BTC_USDT.swap") == []
    assert any("Futures_OKX" in r["message"] and "liquidated" in r["message"] for r in log.rows)


@pytest.mark.slow
def test_cross_margin_liquidates_all_cross_positions_once_wallet_is_gone():
    world, clock, _ = make(("Futures_Bybit",), hours=24 * 20, balance=60.0)
    ex = world.exchanges[0]
    ex.SetMarginLevel("BTC_USDT.swap", 100)
    ex.SetMarginLevel("ETH_USDT.swap", 100)
    assert ex.CreateOrder("BTC_USDT.swap", "buy", -1, 0.05)   # ~3,100 USDT at 100x
    assert ex.CreateOrder("ETH_USDT.swap", "buy", -1, 0.5)    # ~1,700 USDT
    try:
        while ex.GetPositions():
            clock.sleep(300_000)
    except EOFError:
        pytest.fail("a 80x cross long should be liquidated within 20 days")
    s = world.stats()["venues"]["Futures_Bybit"]
    assert s["liquidations"] == 2
    assert ex.GetAccount().Equity >= 0.0



def test_spot_resting_sell_freezes_coins_and_fills_when_price_rises():
    world, clock, _ = make(("Binance",), hours=24 * 5, balance=0.0, stocks=0.01)
    ex = world.exchanges[0]
    ask = ex.GetTicker("BTC_USDT").Sell
    oid = ex.Sell(round(ask * 1.002, 1), 0.01)
    acct = ex.GetAccount()
    assert (acct.Stocks, acct.FrozenStocks) == (0.0, 0.01)
    while ex.GetOrder(oid).Status == 0:
        clock.sleep(60_000)
    acct = ex.GetAccount()
    o = ex.GetOrder(oid)
    assert (acct.Stocks, acct.FrozenStocks) == (0.0, 0.0)
    assert acct.Balance == pytest.approx(0.01 * o.Price * (1 - 0.0002))


def _lag1(xs):
    m = statistics.fmean(xs)
    return sum((a - m) * (b - m) for a, b in zip(xs, xs[1:], strict=False)) / sum((a - m) ** 2 for a in xs)


@pytest.mark.slow
def test_calibrated_funding_statistics():
    """Settled 8h rates over 300 days: std, autocorrelation and venue differences near the data's."""
    world, clock, _ = make(("Futures_Binance", "Futures_Bybit", "Futures_OKX"), hours=300 * 24,
                           step_ms=60_000, symbols=("BTC_USDT",), seed=5)
    rates = {ex.GetName(): [] for ex in world.exchanges}
    for _ in range(3 * 300 - 1):
        clock.sleep(8 * HOUR_MS)
        for ex in world.exchanges:  # at a settlement the predicted rate starts from the settled one
            rates[ex.GetName()].append(ex.GetFundings("BTC_USDT.swap")[0].Rate * 1e4)
    bn, by, okx = rates["Futures_Binance"], rates["Futures_Bybit"], rates["Futures_OKX"]
    for series, std, ac in ((bn, 1.04, 0.83), (by, 1.18, 0.82), (okx, 1.42, 0.57)):  # data, bps
        assert 0.3 < statistics.fmean(series) < 1.5
        assert std * 0.75 < statistics.pstdev(series) < std * 1.25
        assert abs(_lag1(series) - ac) < 0.15
    diff = [a - b for a, b in zip(bn, okx, strict=True)]
    assert 0.7 < statistics.pstdev(diff) < 1.4  # data: 1.02 bps


def test_fault_partial_fill_fills_half_of_market_and_ioc_orders_and_cancels_the_rest():
    world, clock, _ = make()
    ex = world.exchanges[0]
    world.inject("binance", "partial_fill", START_MS + 60_000)
    market = ex.GetOrder(ex.CreateOrder("BTC_USDT.swap", "buy", -1, 0.015))
    assert (market.Amount, market.DealAmount, market.Status) == (0.015, 0.007, ORDER_STATE_CANCELED)
    ask = ex.GetTicker("BTC_USDT.swap").Sell
    ioc = ex.GetOrder(ex.CreateOrder("BTC_USDT.swap", "buy;timeInForce=IOC", ask + 50, 0.01))
    assert (ioc.DealAmount, ioc.Status) == (0.005, ORDER_STATE_CANCELED)
    odd = ex.GetOrder(ex.CreateOrder("BTC_USDT.swap", "sell", -1, 0.003))  # half of 3 steps: 1 step
    assert (odd.DealAmount, odd.Status) == (0.001, ORDER_STATE_CANCELED)
    [position] = ex.GetPositions("BTC_USDT.swap")
    assert abs(position.Amount - 0.011) < 1e-12
    assert world.exchanges[1].GetOrder(
        world.exchanges[1].CreateOrder("BTC_USDT.swap", "buy", -1, 3)).DealAmount == 3  # okx untouched
    clock.sleep(60_000)
    assert ex.GetOrder(ex.CreateOrder("BTC_USDT.swap", "buy", -1, 0.015)).DealAmount == 0.015
