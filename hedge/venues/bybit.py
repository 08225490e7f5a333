"""Bybit V5 linear (USDT perpetual), one-way mode. Sources and confidence: docs/mechanics.md (bybit)."""

from decimal import Decimal as D

from hedge.venues.base import (
    ContractSpec,
    FeeTier,
    MarginTier,
    RatioOrientation,
    SettlesAt,
    TierUnit,
    Valuation,
    Venue,
    VenueRules,
    decimals,
    tiers_with_cum,
)

# Risk limits (GET /v5/market/risk-limit gives riskLimitValue, maintenanceMargin, initialMargin, maxLeverage,
# mmDeduction). BTCUSDT tiers 1-3 (2/4/6 M USDT; MMR 0.5/1/1.5 %; IMR 1/1.75/2.5 %; 100/57.14/40x) are
# Bybit's risk-limit list as printed in an API client's README (docs/mechanics.md, bybit); tiers above 6 M
# follow the same steps and are estimates, as are ETHUSDT's. Deductions by the cum recursion until the live
# feed overrides them.
BTCUSDT_RISK_LIMITS = tiers_with_cum([
    ("2000000", "0.005", "100", "0.01"), ("4000000", "0.01", "57.14", "0.0175"),
    ("6000000", "0.015", "40", "0.025"), ("8000000", "0.02", "30.76", "0.0325"),
    ("10000000", "0.025", "25", "0.04"), ("20000000", "0.05", "10"),
])
ETHUSDT_RISK_LIMITS = tiers_with_cum([
    ("1000000", "0.005", "100"), ("2000000", "0.01", "50"), ("3000000", "0.015", "33.33"),
    ("4000000", "0.02", "25"), ("5000000", "0.025", "20"), ("10000000", "0.05", "10"),
])

SPECS = {
    "BTCUSDT": ContractSpec(
        symbol="BTCUSDT", tick_size=D("0.1"), lot_size=D("0.001"), min_qty=D("0.001"), min_notional=D("5"),
        margin_tiers=BTCUSDT_RISK_LIMITS, price_decimals=1, funding_cap=D("0.005"), funding_floor=D("-0.005"),
    ),
    "ETHUSDT": ContractSpec(
        symbol="ETHUSDT", tick_size=D("0.01"), lot_size=D("0.01"), min_qty=D("0.01"), min_notional=D("5"),
        margin_tiers=ETHUSDT_RISK_LIMITS, price_decimals=2, funding_cap=D("0.005"), funding_floor=D("-0.005"),
    ),
}

# Alts: instrument filters from instruments-info in ../shared/data/cryptofeed_raw_ws (BYBIT, 2026-08-09;
# high confidence): (tickSize, qtyStep = minOrderQty, maxLeverage); minNotionalValue 5 USDT for all of
# them. Their risk-limit tables are not in the store: tier 1 is estimated as initial rate 1/maxLeverage,
# maintenance half of it (the relation of Bybit's published BTC/ETH first tiers), one tier for every size,
# flagged estimated.
_ALT_INSTRUMENTS = {
    "SOLUSDT": ("0.01", "0.1", "100"), "XRPUSDT": ("0.0001", "0.1", "100"),
    "DOGEUSDT": ("0.00001", "1", "75"), "BNBUSDT": ("0.1", "0.01", "50"),
    "ADAUSDT": ("0.0001", "1", "75"), "LINKUSDT": ("0.001", "0.1", "50"),
    "AVAXUSDT": ("0.001", "0.1", "50"), "DOTUSDT": ("0.0001", "0.1", "50"), "LTCUSDT": ("0.01", "0.1", "50"),
    "TRXUSDT": ("0.00001", "1", "75"), "BCHUSDT": ("0.1", "0.01", "50"), "SUIUSDT": ("0.0001", "10", "50"),
}
for _symbol, (_tick, _step, _lev) in _ALT_INSTRUMENTS.items():
    _imr = D(1) / D(_lev)
    SPECS[_symbol] = ContractSpec(
        symbol=_symbol, tick_size=D(_tick), lot_size=D(_step), min_qty=D(_step), min_notional=D("5"),
        margin_tiers=(MarginTier(cap=D("Infinity"), mmr=_imr / 2, max_leverage=D(_lev), imr=_imr),),
        price_decimals=decimals(D(_tick)), funding_cap=D("0.005"), funding_floor=D("-0.005"), estimated=True,
    )

# Derivatives fee structure VIP0..Supreme VIP; MM1/MM2 = Market Maker Incentive Program derivatives maker
# rebates (Bybit help "Introduction to the Market Maker Incentive Program"), taker by VIP/Pro level: Supreme
# VIP's here (assumed). "MM" is kept as the name of the top tier (= MM2).
FEE_TIERS = tuple(FeeTier(name, D(maker), D(taker)) for name, maker, taker in [
    ("VIP0", "0.0002", "0.00055"), ("VIP1", "0.00018", "0.0004"), ("VIP2", "0.00016", "0.000375"),
    ("VIP3", "0.00014", "0.00035"), ("VIP4", "0.00012", "0.00032"), ("VIP5", "0.0001", "0.00032"),
    ("SupremeVIP", "0", "0.0003"), ("MM1", "-0.000025", "0.0003"), ("MM2", "-0.00005", "0.0003"),
    ("MM", "-0.00005", "0.0003"),
])

RULES = VenueRules(
    name="bybit", valuation=Valuation.ENTRY, tier_unit=TierUnit.NOTIONAL,
    ratio_orientation=RatioOrientation.MM_OVER_EQUITY, settles_at=SettlesAt.BANKRUPTCY,
    liquidation_fee_in_maintenance=False, money_decimals=8, tier_cap_inclusive=True,
)

VENUE = Venue(rules=RULES, specs=SPECS, fee_tiers=FEE_TIERS, fee_tier_name="VIP0")
