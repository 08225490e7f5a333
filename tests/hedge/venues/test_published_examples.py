"""Every worked example the venues publish that we found, reproduced with hedge.venues."""

from decimal import Decimal as D

import pytest

from hedge import venues
from hedge.venues.base import Account, MarginTier, Position, Side, tiers_with_cum

# --- Binance -------------------------------------------------------------------------------------------
# Source: Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts"
# https://www.binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93 (cross margin, one-way mode):
# WB 1,535,443.01; BTCUSDT long 109.488 @ 32,481.980, mark 31,967.27, MMR 2.5 %, cum 16,300;
# ETHUSDT long 3,683.979 @ 1,456.84, mark 1,335.18, MMR 10 %, cum 135,365.
# Published: MM(BTC) = 71,200.81144, MM(ETH) = 356,512.508, UPNL(ETH) = -448,192.89, UPNL(BTC) = -56,354.57,
# LP(BTC) = 26,316.89, LP(ETH) = 1,153.26.
BTC_2021 = MarginTier(cap=D("10000000"), mmr=D("0.025"), max_leverage=D("20"), maint_amount=D("16300"))
ETH_2021 = MarginTier(cap=D("5000000"), mmr=D("0.10"), max_leverage=D("10"), maint_amount=D("135365"))


def _binance_faq_positions(tiers_pinned: bool) -> tuple[Position, Position]:
    btc = Position("BTCUSDT", Side.LONG, D("109.488"), D("32481.980"), mark_price=D("31967.27"),
                   tier=BTC_2021 if tiers_pinned else None)
    eth = Position("ETHUSDT", Side.LONG, D("3683.979"), D("1456.84"), mark_price=D("1335.18"),
                   tier=ETH_2021 if tiers_pinned else None)
    return btc, eth


def test_binance_faq_cross_example_intermediate_figures():
    binance = venues.get("binance")
    btc, eth = _binance_faq_positions(tiers_pinned=True)
    assert binance.maintenance_margin(btc).quantize(D("0.00001")) == D("71200.81144")
    assert binance.maintenance_margin(eth).quantize(D("0.001")) == D("356512.508")
    assert eth.unrealized_pnl().quantize(D("0.01")) == D("-448192.89")
    assert btc.unrealized_pnl().quantize(D("0.01")) == D("-56354.57")


def test_binance_faq_cross_example_liquidation_prices():
    binance = venues.get("binance")
    btc, eth = _binance_faq_positions(tiers_pinned=True)
    account = Account(wallet_balance=D("1535443.01"), positions=(btc, eth))
    assert binance.round_price(binance.liquidation_price(btc, account), "BTCUSDT") == D("26316.89")
    assert binance.round_price(binance.liquidation_price(eth, account), "ETHUSDT") == D("1153.26")


def test_binance_faq_example_with_2021_brackets_looked_up_at_the_liquidation_price():
    # 2021 brackets (BTCUSDT <=50k 0.4 %, <=250k 0.5 %, <=1M 1 %, <=10M 2.5 %; ETHUSDT <=10k 0.5 %, <=100k
    # 0.65 %, <=500k 1 %, <=1M 2 %, <=2M 5 %, <=5M 10 %), as used by the FAQ (gists highfestiva/b71e76f5...,
    # crackcomm/e2958203...). The 5M-10M ETH bracket (12.5 %) is an extension for this test: ETH's entry
    # notional (5.37M) sits in it, but Binance takes the bracket at the liquidation price (4.25M -> 10 %).
    binance = venues.get("binance").with_overrides({
        "BTCUSDT": {"margin_tiers": tiers_with_cum([
            ("50000", "0.004", "125"), ("250000", "0.005", "100"), ("1000000", "0.01", "50"),
            ("10000000", "0.025", "20"), ("20000000", "0.05", "10")])},
        "ETHUSDT": {"margin_tiers": tiers_with_cum([
            ("10000", "0.005", "100"), ("100000", "0.0065", "75"), ("500000", "0.01", "50"),
            ("1000000", "0.02", "25"), ("2000000", "0.05", "10"), ("5000000", "0.10", "5"),
            ("10000000", "0.125", "4")])},
    })
    assert binance.spec("ETHUSDT").margin_tiers[5].maint_amount == D("135365")
    btc, eth = _binance_faq_positions(tiers_pinned=False)
    account = Account(wallet_balance=D("1535443.01"), positions=(btc, eth))
    assert binance.round_price(binance.liquidation_price(eth, account), "ETHUSDT") == D("1153.26")
    assert binance.round_price(binance.liquidation_price(btc, account), "BTCUSDT") == D("26316.89")


def test_binance_faq_bracket_lookup_and_maintenance_amount_figures():
    # Same FAQ (b3c689c1f50a44cabb3a84e663b81d93), its notes on the 2021 BTCUSDT table: "if the position
    # size ... is 264,000 USDT, then the maintenance margin rate would be 1%"; "500,000 USDT -> maintenance
    # amount 1,300"; "Maintenance Amount on Level 5 = 250,000 * (1% - 0.5%) + 50 USDT = 1,300 USDT".
    binance = venues.get("binance").with_overrides({"BTCUSDT": {"margin_tiers": tiers_with_cum([
        ("50000", "0.004", "125"), ("250000", "0.005", "100"), ("1000000", "0.01", "50"),
        ("10000000", "0.025", "20")])}})
    assert binance.tier_for("BTCUSDT", D("264000")).mmr == D("0.01")
    assert binance.tier_for("BTCUSDT", D("500000")).maint_amount == D("1300")
    pos = Position("BTCUSDT", Side.LONG, D("10"), D("50000"), leverage=D("20"))
    assert binance.maintenance_margin(pos) == D("500000") * D("0.01") - D("1300")


def test_binance_current_bracket_maintenance_amounts_match_the_api_snapshot():
    # GET /fapi/v1/leverageBracket snapshot (freqtrade binance_leverage_tiers.json, 2024-10-24) cum column.
    binance = venues.get("binance")
    cums = [t.maint_amount for t in binance.spec("BTCUSDT").margin_tiers]
    assert cums[:6] == [D(0), D(50), D(950), D(11450), D(131450), D(481450)]
    assert cums[-1] == D("421481450")
    assert [t.maint_amount for t in binance.spec("ETHUSDT").margin_tiers][5] == D("381450")


# --- Bybit ---------------------------------------------------------------------------------------------
# Source: Bybit help "Liquidation Price (USDT Contract)" (testnet.bybit.com/en-US/help-center/s/article/
# Liquidation-Price-USDT-Contract): long 1 BTC @ 20,000, 50x, MMR 0.5 % -> IM 400, MM 100, LP 19,700.
# Bankruptcy price (isolated) = entry x (1 - 1/leverage): "Order Cost (USDT Contract)".
def test_bybit_isolated_long_example():
    bybit = venues.get("bybit")
    pos = Position("BTCUSDT", Side.LONG, D("1"), D("20000"), leverage=D("50"))
    assert bybit.initial_margin(pos) == D("400")
    assert bybit.maintenance_margin(pos) == D("100")
    assert bybit.liquidation_price(pos) == D("19700")
    assert bybit.bankruptcy_price(pos) == D("20000") * (1 - D(1) / D(50))


def test_bybit_isolated_short_mirror_of_the_example():
    # Same page, short side: LP = Entry + (IM - MM)/Size.
    bybit = venues.get("bybit")
    pos = Position("BTCUSDT", Side.SHORT, D("1"), D("20000"), leverage=D("50"))
    assert bybit.liquidation_price(pos) == D("20300")
    assert bybit.bankruptcy_price(pos) == D("20400")


def test_bybit_extra_margin_moves_the_liquidation_price_by_margin_over_size():
    # Same page: "- ExtraMargin/Size".
    bybit = venues.get("bybit")
    pos = Position("BTCUSDT", Side.LONG, D("2"), D("20000"), margin=D("800") + D("300"))
    assert bybit.liquidation_price(pos) == D("20000") - (D("800") - D("200")) / 2 - D("300") / 2


# --- BitMEX --------------------------------------------------------------------------------------------
# Source: BitMEX "Isolated and Cross Margin Examples" (https://www.bitmex.com/app/isolatedMarginExamples):
# wallet 10,000 USDT, buys 20 ETHUSDT contracts (20 ETH of value here) @ 1,000 at 50x cross; IM 2 % = 400,
# MM 1 % = 200; liquidation 510, bankruptcy 500.
def test_bitmex_cross_margin_example():
    bitmex = venues.get("bitmex")
    pos = Position("ETHUSDT", Side.LONG, D("20"), D("1000"), leverage=D("50"))
    account = Account(wallet_balance=D("10000"), positions=(pos,))
    assert bitmex.initial_margin(pos) == D("400")
    assert bitmex.maintenance_margin(pos) == D("200")
    assert bitmex.liquidation_price(pos, account) == D("510")
    assert bitmex.bankruptcy_price(pos, account) == D("500")


def test_bitmex_isolated_example_loss_is_limited_to_the_margin():
    # Same page: position worth 100 (units) at price 100, isolated margin 4 -> liquidation before 96 is
    # reached; the trader loses only the 4 posted. With our MM (1 % of entry value for ETHUSDT) the position
    # is liquidated at 100 - (4 - 1)/1 = 97, the page's liquidation price.
    bitmex = venues.get("bitmex")
    pos = Position("ETHUSDT", Side.LONG, D("1"), D("100"), margin=D("4"))
    assert bitmex.liquidation_price(pos) == D("97")
    assert bitmex.bankruptcy_price(pos) == D("96")


# --- CoinEx --------------------------------------------------------------------------------------------
# Source: CoinEx "How to Calculate Liquidation Price For Linear Contract"
# (support.coinex.com/hc/en-us/articles/6951824248601): Long LP = SP x (1 - LMR)/(1 - MMR), bankruptcy
# SP x (1 - LMR); short LP = SP x (1 + LMR)/(1 + MMR); isolated LMR = position margin / settlement value
# (uPnL 0 at the settlement price); cross LMR = (available + position margin) / settlement value.
# The page publishes the formula, no figures: these are its figures for one BTCUSDT position.
@pytest.mark.parametrize("side", [Side.LONG, Side.SHORT])
def test_coinex_isolated_formula(side):
    coinex = venues.get("coinex")
    sp, qty, margin = D("30000"), D("3"), D("4500")
    pos = Position("BTCUSDT", side, qty, sp, margin=margin)
    lmr, mmr = margin / (qty * sp), D("0.005")  # 3 BTC -> level 1 (<= 20 BTC): MMR 0.5 %
    s = side.sign
    assert coinex.liquidation_price(pos) == pytest.approx(sp * (1 - s * lmr) / (1 - s * mmr), rel=D("1e-20"))
    assert coinex.bankruptcy_price(pos) == sp * (1 - s * lmr)


def test_coinex_cross_formula_and_position_level():
    coinex = venues.get("coinex")
    sp, qty, margin, available = D("30000"), D("60"), D("36000"), D("50000")
    pos = Position("BTCUSDT", Side.LONG, qty, sp, leverage=D("50"))
    account = Account(wallet_balance=margin + available, positions=(pos,))
    lmr, mmr = (available + margin) / (qty * sp), D("0.015")  # 60 BTC -> level 3 (50-100 BTC): 1.5 %
    assert coinex.liquidation_price(pos, account) == pytest.approx(sp * (1 - lmr) / (1 - mmr), rel=D("1e-20"))


# --- OKX -----------------------------------------------------------------------------------------------
# Source: OKX help "When would my order be liquidated" as restated (open-lib.com/11556.html): isolated
# USDT-margined margin ratio = (margin balance + PnL) / (face value x |contracts| x mark x (tier mmr + fee
# rate)); liquidation at 100 %. No figures are published; this checks the ratio is exactly 1 at our LP.
def test_okx_isolated_margin_ratio_is_one_at_the_liquidation_price():
    okx = venues.get("okx")
    pos = Position("BTCUSDT", Side.LONG, D("1.5"), D("30000"), leverage=D("20"))
    lp = okx.liquidation_price(pos)
    at_lp = Position("BTCUSDT", Side.LONG, D("1.5"), D("30000"), mark_price=lp, leverage=D("20"))
    contracts = D("1.5") / D("0.01")
    expected_ratio = (D("2250") + D("1.5") * (lp - D("30000"))) / (
        D("0.01") * contracts * lp * (D("0.004") + D("0.0005")))
    assert okx.margin_ratio(at_lp) == pytest.approx(D(1), rel=D("1e-20"))
    assert expected_ratio == pytest.approx(D(1), rel=D("1e-20"))
