"""OKX V5 USDT-margined swap, single-currency margin. Sources and confidence: docs/mechanics.md (okx)."""

from decimal import Decimal as D

from hedge.venues.base import (
    ContractSpec,
    FeeTier,
    RatioOrientation,
    SettlesAt,
    TierUnit,
    Valuation,
    Venue,
    VenueRules,
    flat_tiers,
)

# Position tiers are in contracts (GET /api/v5/public/position-tiers: maxSz, mmr, imr, maxLever); the tier's
# mmr applies to the whole position. The BTC/ETH values were not found in any source: placeholders to be
# overridden by the live feed.
BTC_TIERS = flat_tiers([
    ("50000", "0.004", "100"), ("100000", "0.006", "75"), ("200000", "0.008", "50"),
    ("400000", "0.01", "30"), ("1000000", "0.02", "20"), ("2000000", "0.05", "10"),
])
ETH_TIERS = flat_tiers([
    ("50000", "0.004", "100"), ("100000", "0.006", "75"), ("200000", "0.008", "50"),
    ("400000", "0.01", "30"), ("1000000", "0.02", "20"), ("2000000", "0.05", "10"),
])

SPECS = {
    "BTCUSDT": ContractSpec(
        symbol="BTCUSDT", contract_size=D("0.01"), tick_size=D("0.1"), lot_size=D("0.1"), min_qty=D("0.1"),
        min_notional=D("0"), margin_tiers=BTC_TIERS, price_decimals=1,
        funding_cap=D("0.00375"), funding_floor=D("-0.00375"),
    ),
    "ETHUSDT": ContractSpec(
        symbol="ETHUSDT", contract_size=D("0.1"), tick_size=D("0.01"), lot_size=D("0.1"), min_qty=D("0.1"),
        min_notional=D("0"), margin_tiers=ETH_TIERS, price_decimals=2,
        funding_cap=D("0.0075"), funding_floor=D("-0.0075"),
    ),
}

# Lv1 is published; VIP8 is the top figure seen (on the spot table): unverified for swaps.
FEE_TIERS = tuple(FeeTier(name, D(maker), D(taker)) for name, maker, taker in [
    ("Lv1", "0.0002", "0.0005"), ("VIP8", "-0.00005", "0.00015"),
])

RULES = VenueRules(
    name="okx", valuation=Valuation.MARK, tier_unit=TierUnit.CONTRACTS,
    ratio_orientation=RatioOrientation.EQUITY_OVER_MM, settles_at=SettlesAt.MARK,
    liquidation_fee_in_maintenance=True, money_decimals=8,
)

VENUE = Venue(rules=RULES, specs=SPECS, fee_tiers=FEE_TIERS, fee_tier_name="Lv1")
