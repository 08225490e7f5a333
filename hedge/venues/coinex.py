"""CoinEx linear futures. Sources and confidence: docs/mechanics.md (coinex)."""

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

# Position levels, max position in base units (API v2 GET /futures/position-level example for BTCUSDT).
BTCUSDT_LEVELS = flat_tiers([
    ("20", "0.005", "100"), ("50", "0.01", "50"), ("100", "0.015", "30"),
    ("200", "0.02", "20"), ("500", "0.025", "15"), ("1000", "0.03", "10"),
])
# ETHUSDT levels not found: BTC's rates with caps scaled by 20 (placeholder).
ETHUSDT_LEVELS = flat_tiers([
    ("400", "0.005", "100"), ("1000", "0.01", "50"), ("2000", "0.015", "30"),
    ("4000", "0.02", "20"), ("10000", "0.025", "15"), ("20000", "0.03", "10"),
])

# Funding cap/floor = -+0.75 x the minimum initial margin rate (1 % at 100x) since 2023-10-16.
SPECS = {
    "BTCUSDT": ContractSpec(
        symbol="BTCUSDT", tick_size=D("0.01"), lot_size=D("0.0001"), min_qty=D("0.0001"), min_notional=D("0"),
        margin_tiers=BTCUSDT_LEVELS, price_decimals=2, funding_cap=D("0.0075"), funding_floor=D("-0.0075"),
    ),
    "ETHUSDT": ContractSpec(
        symbol="ETHUSDT", tick_size=D("0.01"), lot_size=D("0.001"), min_qty=D("0.001"), min_notional=D("0"),
        margin_tiers=ETHUSDT_LEVELS, price_decimals=2, funding_cap=D("0.0075"), funding_floor=D("-0.0075"),
    ),
}

FEE_TIERS = (FeeTier("Regular", D("0.0003"), D("0.0005")),)

RULES = VenueRules(
    name="coinex", valuation=Valuation.MARK, tier_unit=TierUnit.BASE,
    ratio_orientation=RatioOrientation.MM_OVER_EQUITY, settles_at=SettlesAt.BANKRUPTCY,
    liquidation_fee_in_maintenance=False, money_decimals=8, tier_cap_inclusive=True,
)

VENUE = Venue(rules=RULES, specs=SPECS, fee_tiers=FEE_TIERS, fee_tier_name="Regular")
