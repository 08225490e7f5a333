"""Taker matching against generated depth (property-based)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fmz_compat.core import (
    ORDER_STATE_CANCELED,
    ORDER_STATE_CLOSED,
    BacktestClock,
    ExchangeBinding,
    MemoryLog,
    SimConfig,
)
from fmz_compat.sim import create_world

START_MS = 1_719_792_000_000
# each venue's own time-in-force parameter (docs/live.md "Per venue" order fields): Binance and Bybit
# timeInForce, OKX ordType, BitMEX timeInForce in its own words
TIF_OPTION = {"Futures_Binance": ("timeInForce", {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK"}),
              "Futures_Bybit": ("timeInForce", {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK"}),
              "Futures_OKX": ("ordType", {"GTC": "limit", "IOC": "ioc", "FOK": "fok"}),
              "Futures_BitMEX": ("timeInForce", {"GTC": "GoodTillCancel", "IOC": "ImmediateOrCancel",
                                                 "FOK": "FillOrKill"})}


@settings(max_examples=60, deadline=None)
@given(eid=st.sampled_from(["Futures_Binance", "Futures_OKX", "Futures_Bybit", "Futures_BitMEX"]),
       symbol=st.sampled_from(["BTC_USDT.swap", "ETH_USDT.swap", "SOL_USDT.swap"]),
       side=st.sampled_from(["buy", "sell"]), lots=st.integers(1, 200_000), offset_ticks=st.integers(-50, 50),
       tif=st.sampled_from(["GTC", "IOC", "FOK"]), seed=st.integers(0, 50))
def test_taker_fills_respect_limit_depth_and_lot(eid, symbol, side, lots, offset_ticks, tif, seed):
    cfg = SimConfig(seed=seed, start_ms=START_MS, bindings=(ExchangeBinding(eid, balance=1e12),),
                    symbols=("BTC_USDT", "ETH_USDT", "SOL_USDT"))
    world = create_world(cfg, BacktestClock(START_MS * 10**6, (START_MS + 3_600_000) * 10**6), MemoryLog())
    ex = world.exchanges[0]
    ex.SetMarginLevel(symbol, 1)
    m = ex.GetMarkets()[symbol]
    depth = ex.GetDepth(symbol)
    levels = depth.Asks if side == "buy" else depth.Bids
    touch = levels[0].Price
    limit = round(touch + (offset_ticks if side == "buy" else -offset_ticks) * m.TickSize, m.PricePrecision)
    lots = max(lots, int(m.MinNotional / (m.AmountSize * m.CtVal * touch)) + 2)  # respect min notional
    amount = round(lots * m.AmountSize, 8)
    field, words = TIF_OPTION[eid]
    oid = ex.CreateOrder(symbol, f'{side};{{"{field}":"{words[tif]}"}}', limit, amount)
    assert oid is not None
    o = ex.GetOrder(oid)
    crossing = [lv for lv in levels if (lv.Price <= limit if side == "buy" else lv.Price >= limit)]
    available = sum(lv.Amount for lv in crossing)
    assert o.DealAmount <= amount + 1e-9
    assert o.DealAmount <= available + m.AmountSize
    steps = o.DealAmount / m.AmountSize
    assert steps == pytest.approx(round(steps), abs=1e-6)
    if o.DealAmount > 0:
        assert (o.AvgPrice <= limit + 1e-9) if side == "buy" else (o.AvgPrice >= limit - 1e-9)
        assert (o.AvgPrice >= touch - 1e-9) if side == "buy" else (o.AvgPrice <= touch + 1e-9)
    if tif == "FOK":
        assert o.DealAmount in (0, amount)
    if o.DealAmount == pytest.approx(amount):
        assert o.Status == ORDER_STATE_CLOSED
    elif tif in ("IOC", "FOK"):
        assert o.Status == ORDER_STATE_CANCELED
    else:
        assert ex.GetOrders(symbol)[0].Id == oid  # the rest rests
    held = ex.GetPositions(symbol)
    assert sum(p.Amount for p in held) == pytest.approx(o.DealAmount)
