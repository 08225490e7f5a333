"""Alt-coin contract data per venue (published tables where found, flagged estimates otherwise): worked
examples computed by hand from the tables quoted in docs/mechanics.md, "Alts"."""

from decimal import Decimal as D

import pytest

from hedge import venues
from hedge.venues.base import FALLBACK_MMR, Account, Position, Side

ALTS = ("SOLUSDT", "XRPUSDT", "DOGEUSDT", "BNBUSDT", "ADAUSDT", "LINKUSDT", "AVAXUSDT")


def test_binance_alt_brackets_reproduce_the_snapshot_cum_column():
    binance = venues.get("binance")
    # leverageBracket snapshot 2024-10-24, cum of brackets 2..4: SOL 30 / 380 / 8,380; DOGE 20 / 170 / 7,670.
    assert [t.maint_amount for t in binance.spec("SOLUSDT").margin_tiers[1:4]] == [D(30), D(380), D(8380)]
    assert [t.maint_amount for t in binance.spec("DOGEUSDT").margin_tiers[1:4]] == [D(20), D(170), D(7670)]
    assert not any(binance.is_estimated(s) for s in ALTS)


def test_binance_sol_isolated_long_in_the_second_bracket():
    # 500 SOL @ 100 (50,000 notional), 10x: margin 5,000. At the root the notional (~45,264) is in bracket 2
    # (20,000..100,000: 0.65 %, cum 30): LP = (5,000 + 30 - 50,000) / (500 x 0.0065 - 500) = 90.5284...
    pos = Position("SOLUSDT", Side.LONG, D(500), D(100), leverage=D(10))
    liq = venues.get("binance").liquidation_price(pos)
    assert venues.get("binance").round_price(liq, "SOLUSDT") == D("90.528")
    assert abs(liq - D(-44970) / D("-496.75")) < D("1e-20")


def test_okx_sol_published_tier_two_with_the_clearance_fee():
    # OKX SOLUSDT tier 2 (1,001..2,000 contracts of 1 SOL): 1.5 %; OKX counts its 0.05 % taker fee too.
    # Long 1,500 SOL @ 100, 10x: margin 15,000; LP = (15,000 - 150,000) / (1,500 x (0.0155 - 1)) = 91.417
    okx = venues.get("okx")
    pos = Position("SOLUSDT", Side.LONG, D(1500), D(100), leverage=D(10))
    assert okx.round_price(okx.liquidation_price(pos), "SOLUSDT") == D("91.417")
    assert not okx.is_estimated("SOLUSDT") and not okx.is_estimated("ADA_USDT")


def test_okx_ada_tiers_are_counted_in_contracts_of_100_ada():
    okx = venues.get("okx")
    spec = okx.spec("ADAUSDT")
    assert spec.contract_size == D(100)
    # 200,000 ADA = 2,000 contracts: tier 2 (0.75 %); 150,000 ADA = 1,500 contracts: tier 1 (0.5 %, the cap
    # belongs to the tier)
    assert okx.tier_for("ADAUSDT", okx.tier_measure("ADAUSDT", D(200000), D("0.4"))).mmr == D("0.0075")
    assert okx.tier_for("ADAUSDT", okx.tier_measure("ADAUSDT", D(150000), D("0.4"))).mmr == D("0.005")


def test_bybit_alt_estimate_from_max_leverage_and_entry_valuation():
    # Bybit SOLUSDT max leverage 100: estimated tier IMR 1 %, MMR 0.5 %. Isolated long 10 @ 150, 5x: IM 300,
    # MM at entry 7.5; LP = 150 - (300 - 7.5) / 10 = 120.75.
    bybit = venues.get("bybit")
    pos = Position("SOLUSDT", Side.LONG, D(10), D(150), leverage=D(5))
    assert bybit.liquidation_price(pos) == D("120.75")
    assert bybit.is_estimated("SOLUSDT") and bybit.spec("SOLUSDT").tick_size == D("0.01")
    assert bybit.spec("DOGEUSDT").margin_tiers[0].mmr == D(1) / D(75) / 2


@pytest.mark.parametrize("venue", ["coinex", "bitmex"])
def test_venues_without_alt_tables_use_the_fallback_in_cross(venue):
    # Cross: wallet 1,000, long 100 SOL @ 150 (mark 150) beside a BTC short that is flat in PnL.
    mechanics = venues.get(venue)
    sol = Position("SOLUSDT", Side.LONG, D(100), D(150), mark_price=D(150))
    btc = Position("BTCUSDT", Side.SHORT, D("0.1"), D(60000), mark_price=D(60000))
    cross = mechanics.evaluate_cross(Account(D(1000), (sol, btc)))
    assert mechanics.is_estimated("SOLUSDT") and not mechanics.is_estimated("BTCUSDT")
    assert mechanics.spec("SOLUSDT").margin_tiers[0].mmr == FALLBACK_MMR
    # equity 1,000 = requirement: SOL 100 x P x 3 % (CoinEx at mark; BitMEX 450 at entry) + BTC 30 (0.5 %);
    # CoinEx: 1,000 + 100 (P - 150) = 3 P + 30 -> P = 14,030 / 97;
    # BitMEX: 1,000 + 100 (P - 150) = 480 -> 144.8
    expected = D(14030) / D(97) if venue == "coinex" else D("144.8")
    assert abs(cross.liquidation_prices["SOLUSDT"] - expected) < D("1e-20")


def test_a_name_that_is_not_a_usdt_perpetual_is_still_refused():
    for name in ("BTCUSD", "ETH-USD-SWAP", "USDT", "SOL/USDC"):
        with pytest.raises(ValueError, match="not a USDT perpetual"):
            venues.get("binance").spec(name)
