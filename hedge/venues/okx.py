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
# mmr applies to the whole position. Tier 1 is OKX's live answer as recorded in two independent API-client
# fixtures (docs/mechanics.md, okx): BTC-USDT up to 1,000 contracts (10 BTC), ETH-USDT up to 5,000 contracts
# (500 ETH), MMR 0.4 %, IMR 1 %, 100x. Tiers 2+ are estimates (caps x2/x4/x8/x20/x40, MMR ladder) until the
# live feed overrides them.
BTC_TIERS = flat_tiers([
    ("1000", "0.004", "100"), ("2000", "0.006", "75"), ("4000", "0.008", "50"),
    ("8000", "0.01", "30"), ("20000", "0.02", "20"), ("40000", "0.05", "10"),
])
ETH_TIERS = flat_tiers([
    ("5000", "0.004", "100"), ("10000", "0.006", "75"), ("20000", "0.008", "50"),
    ("40000", "0.01", "30"), ("100000", "0.02", "20"), ("200000", "0.05", "10"),
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
    liquidation_fee_in_maintenance=True, money_decimals=8, tier_cap_inclusive=True,
)

VENUE = Venue(rules=RULES, specs=SPECS, fee_tiers=FEE_TIERS, fee_tier_name="Lv1")
