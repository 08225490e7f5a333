"""Funding schedule and sign, fee tiers, contract specs and live-data overrides."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge import venues
from hedge.venues.base import Position, Side


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_registry_lists_the_five_venues_and_rejects_others():
    assert set(venues.NAMES) == {"binance", "bybit", "okx", "coinex", "bitmex"}
    assert venues.get("OKX").name == "okx"
    with pytest.raises(ValueError, match="unknown venue 'kraken'"):
        venues.get("kraken")


@pytest.mark.parametrize("name", ["binance", "bybit", "okx", "coinex"])
def test_eight_hour_funding_at_00_08_16_utc(name):
    venue = venues.get(name)
    assert venue.next_funding_time("BTCUSDT", _ms("2024-03-01T07:59:59")) == _ms("2024-03-01T08:00:00")
    assert venue.next_funding_time("BTCUSDT", _ms("2024-03-01T08:00:00")) == _ms("2024-03-01T16:00:00")
    assert venue.next_funding_time("BTCUSDT", _ms("2024-03-01T23:00:00")) == _ms("2024-03-02T00:00:00")


def test_bitmex_funds_at_04_12_20_utc():
    bitmex = venues.get("bitmex")
    assert bitmex.funding_times("BTCUSDT", _ms("2024-03-01T00:00:00"), _ms("2024-03-02T00:00:00")) == [
        _ms("2024-03-01T04:00:00"), _ms("2024-03-01T12:00:00"), _ms("2024-03-01T20:00:00")]


def test_funding_interval_per_symbol_comes_from_the_spec_and_can_be_overridden():
    venue = venues.get("binance").with_overrides({"ETHUSDT": {"funding_interval_hours": 4}})
    times = venue.funding_times("ETHUSDT", _ms("2024-03-01T00:00:00"), _ms("2024-03-01T12:00:00"))
    assert times == [_ms("2024-03-01T04:00:00"), _ms("2024-03-01T08:00:00"), _ms("2024-03-01T12:00:00")]
    assert venue.funding_times("BTCUSDT", _ms("2024-03-01T00:00:00"), _ms("2024-03-01T12:00:00")) == [
        _ms("2024-03-01T08:00:00")]


@given(st.sampled_from(venues.NAMES), st.decimals(min_value=D("1"), max_value=D("1e7"), places=2),
       st.decimals(min_value=D("-0.03"), max_value=D("0.03"), places=6))
def test_positive_rate_longs_pay_shorts_and_the_two_sides_net_to_zero(name, notional, rate):
    venue = venues.get(name)
    long_fee = venue.funding_fee(notional, rate, Side.LONG)
    short_fee = venue.funding_fee(notional, rate, Side.SHORT)
    assert long_fee == -short_fee
    if rate > 0:
        assert long_fee < 0 or long_fee == 0 and notional * rate < D("1e-6")


def test_funding_fee_is_notional_at_mark_times_rate_rounded_to_the_settlement_precision():
    binance = venues.get("binance")
    assert binance.funding_fee(D("30123.45"), D("0.0001"), Side.LONG) == D("-3.01234500")
    assert binance.funding_fee(D("30123.45"), D("-0.000123456789"), Side.LONG) == D("3.71894441")


def test_funding_rate_caps_per_venue():
    assert venues.get("binance").clamp_funding_rate("BTCUSDT", D("0.01")) == D("0.003")  # 0.75 x 0.4 %
    assert venues.get("coinex").clamp_funding_rate("BTCUSDT", D("-0.02")) == D("-0.0075")
    assert venues.get("bybit").clamp_funding_rate("BTCUSDT", D("0.0001")) == D("0.0001")


def test_fee_tiers_are_chosen_by_name_and_negative_maker_is_a_rebate():
    bitmex = venues.get("bitmex")
    assert bitmex.trading_fee(D("10000"), maker=True) == D("-1")
    assert bitmex.trading_fee(D("10000"), maker=False) == D("5")
    vip9 = venues.get("binance").with_fee_tier("VIP9")
    assert vip9.fees.maker == 0 and vip9.fees.taker == D("0.00017")
    with pytest.raises(ValueError, match="unknown fee tier 'VIP99' on binance; choose one of: Regular"):
        venues.get("binance").with_fee_tier("VIP99")


def test_okx_liquidation_fee_is_in_the_requirement_and_charged_at_taker():
    okx = venues.get("okx")
    pos = Position("BTCUSDT", Side.LONG, D("1"), D("30000"), leverage=D("10"))
    assert okx.maintenance_margin(pos) == D("30000") * (D("0.004") + D("0.0005"))
    assert okx.liquidation_fee(pos, D("27000")) == D("13.5")


def test_binance_clearance_fee_uses_the_symbol_liquidation_fee_rate():
    binance = venues.get("binance")
    pos = Position("BTCUSDT", Side.LONG, D("2"), D("30000"), leverage=D("10"))
    assert binance.liquidation_fee(pos, D("27000")) == D("675")
    assert binance.liquidation_close_price(pos) == binance.liquidation_price(pos)


def test_bankruptcy_settling_venues_close_at_the_bankruptcy_price_without_fee():
    bybit = venues.get("bybit")
    pos = Position("BTCUSDT", Side.SHORT, D("1"), D("20000"), leverage=D("50"))
    assert bybit.liquidation_close_price(pos) == D("20400")
    assert bybit.liquidation_fee(pos, D("20300")) == 0


def test_okx_quantities_are_contracts_of_ctval():
    okx = venues.get("okx")
    assert okx.contracts("BTCUSDT", D("0.5")) == D("50")
    assert okx.round_qty("BTCUSDT", D("0.0123")) == D("0.012")
    assert okx.order_problem("BTCUSDT", D("0.0005"), D("30000")) is not None
    assert okx.order_problem("BTCUSDT", D("0.001"), D("30000")) is None


def test_binance_min_notional_is_checked():
    binance = venues.get("binance")
    assert "below the minimum 100" in binance.order_problem("BTCUSDT", D("0.001"), D("30000"))
    assert binance.order_problem("BTCUSDT", D("0.004"), D("30000")) is None


def test_overrides_replace_fields_from_live_data_and_reject_unknown_keys():
    venue = venues.get("okx").with_overrides({
        "BTCUSDT": {"tick_size": "0.5", "lot_size": "0.01",
                    "margin_tiers": [{"cap": "1000", "mmr": "0.01", "max_leverage": "50"}]},
        "SOLUSDT": {"tick_size": "0.001", "lot_size": "1", "min_qty": "1", "min_notional": "0",
                    "contract_size": "1",
                    "margin_tiers": [{"cap": "1e9", "mmr": "0.01", "max_leverage": "50"}]},
    })
    assert venue.spec("BTCUSDT").tick_size == D("0.5")
    assert venue.spec("BTCUSDT").margin_tiers[0].mmr == D("0.01")
    assert venue.spec("SOLUSDT").max_leverage == D("50")
    assert venues.get("okx").spec("BTCUSDT").tick_size == D("0.1")  # the registry's venue is untouched
    with pytest.raises(ValueError, match="unknown contract field"):
        venues.get("okx").with_overrides({"BTCUSDT": {"tick": "0.5"}})
    with pytest.raises(ValueError, match="missing fields"):
        venues.get("okx").with_overrides({"PEPEUSDT": {"tick_size": "0.1"}})
    with pytest.raises(ValueError, match="unknown symbol 'XRPUSD' on okx: not a USDT perpetual"):
        venue.spec("XRPUSD")


def test_bad_positions_are_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="quantity must be positive"):
        empty = Position("BTCUSDT", Side.LONG, D("0"), D("100"), leverage=D(2))
        venues.get("binance").liquidation_price(empty)


@given(st.sampled_from(venues.NAMES), st.sampled_from([1, 4, 8]),
       st.integers(min_value=1_500_000_000_000, max_value=2_000_000_000_000))
def test_next_funding_time_is_the_next_point_on_the_grid(name, hours, now_ms):
    venue = venues.get(name).with_overrides({"BTCUSDT": {"funding_interval_hours": hours}})
    t = venue.next_funding_time("BTCUSDT", now_ms)
    interval = hours * 3_600_000
    assert now_ms < t <= now_ms + interval
    assert (t - venue.rules.funding_anchor_hour * 3_600_000) % interval == 0


def test_is_liquidated_flips_at_the_liquidation_price():
    bybit = venues.get("bybit")
    above = Position("BTCUSDT", Side.LONG, D("1"), D("20000"), mark_price=D("19700.1"), leverage=D("50"))
    at = Position("BTCUSDT", Side.LONG, D("1"), D("20000"), mark_price=D("19700"), leverage=D("50"))
    assert not bybit.is_liquidated(above)
    assert bybit.is_liquidated(at)


@pytest.mark.parametrize("text", ["BTCUSDT", "BTC_USDT", "BTC_USDT.swap", "BTC/USDT:USDT", "BTC-USDT-SWAP",
                                  "XBTUSDT", "btc_usdt"])
def test_specs_accept_fmz_ccxt_and_venue_spellings(text):
    assert venues.get("okx").spec(text).symbol == "BTCUSDT"


def test_get_applies_the_fee_tier_and_overrides_from_params():
    venue = venues.get("bybit", fee_tier="SupremeVIP", overrides={"BTCUSDT": {"min_notional": "10"}})
    assert venue.fees.taker == D("0.0003")
    assert venue.spec("BTCUSDT").min_notional == D("10")


@given(st.sampled_from(venues.NAMES), st.sampled_from(["BTCUSDT", "ETHUSDT"]),
       st.decimals(min_value=D("0.0001"), max_value=D("1000"), places=6))
def test_rounded_quantities_are_whole_lots_never_above_the_request(name, symbol, qty):
    venue = venues.get(name)
    rounded = venue.round_qty(symbol, qty)
    spec = venue.spec(symbol)
    assert 0 <= rounded <= qty
    assert qty - rounded < spec.lot_size * spec.contract_size
    assert venue.round_qty(symbol, rounded) == rounded


def test_bybit_btcusdt_risk_limits_use_the_published_initial_rates():
    """Bybit's BTCUSDT risk-limit list, tiers 1-3 (2/4/6 M USDT, MMR 0.5/1/1.5 %, IMR 1/1.75/2.5 %,
    100/57.14/40x), as printed by carpenstar/bybitapi-sdk-derivatives' RiskLimit README; without a leverage
    the initial margin is the tier's published rate, not 1/max leverage."""
    bybit = venues.get("bybit")
    tiers = bybit.spec("BTCUSDT").margin_tiers[:3]
    assert [(t.cap, t.mmr, t.imr, t.max_leverage) for t in tiers] == [
        (D("2000000"), D("0.005"), D("0.01"), D("100")), (D("4000000"), D("0.01"), D("0.0175"), D("57.14")),
        (D("6000000"), D("0.015"), D("0.025"), D("40"))]
    assert [t.maint_amount for t in tiers] == [D("0"), D("10000"), D("30000")]  # floor x MMR step, cumulated
    pos = Position("BTCUSDT", Side.LONG, D("50"), D("60000"))  # 3 M USDT: tier 2
    assert bybit.initial_margin(pos) == D("52500.0000")


def test_bitmex_linear_contract_sizes():
    """BitMEX linear USDT perps: 1 XBTUSDT contract = 0.000001 XBT, 1 ETHUSDT contract = 0.00001 ETH
    (multiplier / underlyingToSettleMultiplier of /api/v1/instrument/active, as listed by
    crypto-contract-value's bitmex.rs); a 100-contract lot is 0.001 ETH."""
    bitmex = venues.get("bitmex")
    assert bitmex.spec("XBTUSDT").contract_size == D("0.000001")
    assert bitmex.spec("ETHUSDT").contract_size == D("0.00001")
    assert bitmex.round_qty("ETHUSDT", D("0.0123")) == D("0.012")


def test_okx_first_position_tier_is_the_recorded_live_one():
    """OKX GET /api/v5/public/position-tiers (SWAP, cross), tier 1 as recorded live in API-client fixtures:
    BTC-USDT maxSz 1000 contracts, ETH-USDT 5000, mmr 0.004, imr 0.01, maxLever 100. maxSz belongs to its
    tier: 10 BTC is exactly 1,000 contracts and still in tier 1; one lot more is in tier 2."""
    okx = venues.get("okx")
    for symbol, cap in (("BTCUSDT", D("1000")), ("ETHUSDT", D("5000"))):
        first = okx.spec(symbol).margin_tiers[0]
        assert (first.cap, first.mmr, first.max_leverage, first.initial_rate) == (cap, D("0.004"), D("100"),
                                                                                D("0.01"))
    assert okx.tier_for("BTCUSDT", okx.tier_measure("BTCUSDT", D("10"), D("60000"))).mmr == D("0.004")
    assert okx.tier_for("BTCUSDT", okx.tier_measure("BTCUSDT", D("10.001"), D("60000"))).mmr == D("0.006")
    binance = venues.get("binance")  # Binance's notionalCap starts the next bracket
    assert binance.tier_for("BTCUSDT", D("50000")).mmr == D("0.005")


def test_market_maker_programme_tiers_pay_the_published_maker_rebates():
    """Binance USDⓈ-M Liquidity Provider Program (2023-04-03 upgrade): USDT-M maker -0.001 %..-0.005 % for
    LP1..LP5; Bybit Market Maker Incentive Program, derivatives: MM1 -0.0025 %, MM2 -0.005 %."""
    notional = D("1000000")
    binance = venues.get("binance")
    assert [binance.with_fee_tier(f"LP{i}").trading_fee(notional, maker=True) for i in range(1, 6)] == [
        D("-10"), D("-20"), D("-30"), D("-40"), D("-50")]
    bybit = venues.get("bybit")
    assert bybit.with_fee_tier("MM1").trading_fee(notional, maker=True) == D("-25")
    assert bybit.with_fee_tier("MM2").trading_fee(notional, maker=True) == D("-50")
