"""GetFees / GetMarginTiers: the account's fee rates and the margin tiers from the venues (REST mocked
with Binance USDⓈ-M and OKX V5 payloads from their API docs)."""

from __future__ import annotations

import re

from venue_payloads import okx_ok

BINANCE = "https://fapi.binance.com/fapi/v1"
OKX = "https://www.okx.com/api/v5"


def test_binance_fees_are_the_accounts_commission_rate(binance, http):
    ex, _ = binance
    http.get(f"{BINANCE}/commissionRate", json={"symbol": "BTCUSDT", "makerCommissionRate": "0.000180",
                                                 "takerCommissionRate": "0.000450"})
    fees = ex.GetFees("BTC_USDT.swap")
    assert (fees.Symbol, fees.Maker, fees.Taker) == ("BTC_USDT.swap", 0.00018, 0.00045)
    assert fees.Source == "account"


def test_binance_margin_tiers_from_the_leverage_brackets(binance, http):
    ex, _ = binance
    http.get(f"{BINANCE}/leverageBracket", json=[{"symbol": "BTCUSDT", "notionalCoef": 1.0, "brackets": [
        {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
         "maintMarginRatio": 0.004, "cum": 0.0},
        {"bracket": 2, "initialLeverage": 100, "notionalCap": 600000, "notionalFloor": 50000,
         "maintMarginRatio": 0.005, "cum": 50.0}]}])
    tiers = ex.GetMarginTiers("BTC_USDT.swap")
    assert [(t.Tier, t.MinNotional, t.MaxNotional, t.MaintenanceMarginRate, t.MaxLeverage, t.Unit)
            for t in tiers] == [(1, 0, 50000, 0.004, 125, "USDT"), (2, 50000, 600000, 0.005, 100, "USDT")]


def test_okx_fees_and_tiers_in_contracts(okx, http):
    ex, _ = okx
    http.get(re.compile(rf"{OKX}/account/trade-fee"), json=okx_ok([{
        "category": "1", "delivery": "", "exercise": "", "instType": "SWAP", "level": "Lv1",
        "maker": "-0.0002", "makerU": "-0.0002", "makerUSDC": "", "taker": "-0.0005", "takerU": "-0.0005",
        "takerUSDC": "", "ts": "1732500000000", "fiat": [], "ruleType": "normal"}]))
    fees = ex.GetFees("BTC_USDT.swap")
    # OKX writes fees as negative numbers for charges; ccxt turns them into positive rates
    assert (fees.Maker, fees.Taker, fees.Source) == (0.0002, 0.0005, "account")
    http.get(re.compile(rf"{OKX}/public/position-tiers"), json=okx_ok([
        {"baseMaxLoan": "", "imr": "0.01", "instFamily": "BTC-USDT", "instId": "", "maxLever": "100",
         "maxSz": "5000", "minSz": "0", "mmr": "0.004", "optMgnFactor": "0", "quoteMaxLoan": "", "tier": "1",
         "uly": "BTC-USDT"},
        {"baseMaxLoan": "", "imr": "0.0133", "instFamily": "BTC-USDT", "instId": "", "maxLever": "75",
         "maxSz": "20000", "minSz": "5001", "mmr": "0.006", "optMgnFactor": "0", "quoteMaxLoan": "",
         "tier": "2", "uly": "BTC-USDT"}]))
    tiers = ex.GetMarginTiers("BTC_USDT.swap")
    assert [(t.Tier, t.MinNotional, t.MaxNotional, t.MaintenanceMarginRate, t.MaxLeverage, t.Unit)
            for t in tiers] == [(1, 0, 5000, 0.004, 100, "contracts"),
                                (2, 5001, 20000, 0.006, 75, "contracts")]


def test_bitmex_fees_are_the_markets_and_tiers_are_refused_with_the_way_out(http):
    from venue_payloads import BITMEX_INSTRUMENTS, make

    http.get(re.compile(r"https://www\.bitmex\.com/api/v1/instrument/active"), json=BITMEX_INSTRUMENTS)
    ex, log = make("bitmex", "BTC_USDT")
    fees = ex.GetFees("BTC_USDT.swap")
    assert (fees.Maker, fees.Taker, fees.Source) == (-0.0001, 0.0005, "market")
    assert ex.GetMarginTiers("BTC_USDT.swap") is None
    assert "offers no margin tiers through ccxt" in log.last_error and not ex.last_outcome_unknown
