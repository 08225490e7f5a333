"""BitMEX linear USDT perpetuals (XBTUSDT, ETHUSDT). Sources and confidence: docs/mechanics.md (bitmex)."""

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

# Risk limits: base IM/MM from the instrument (XBTUSDT 1 % / 0.5 %; ETHUSDT 2 % / 1 % as in BitMEX's
# cross-margin example). Higher steps are placeholders (+0.5 % MM per step) until overridden from live data.
XBTUSDT_RISK_LIMITS = flat_tiers([
    ("10000000", "0.005", "100"), ("20000000", "0.01", "50"), ("30000000", "0.015", "33.33"),
    ("40000000", "0.02", "25"), ("50000000", "0.025", "20"),
])
ETHUSDT_RISK_LIMITS = flat_tiers([
    ("5000000", "0.01", "50"), ("10000000", "0.015", "33.33"), ("15000000", "0.02", "25"),
    ("20000000", "0.025", "20"),
])

SPECS = {
    "BTCUSDT": ContractSpec(  # BitMEX XBTUSDT: 1 contract = 0.000001 XBT, lot 100 contracts
        symbol="BTCUSDT", contract_size=D("0.000001"), tick_size=D("0.1"), lot_size=D("100"),
        min_qty=D("100"), min_notional=D("0"), margin_tiers=XBTUSDT_RISK_LIMITS, price_decimals=1,
    ),
    "ETHUSDT": ContractSpec(  # 1 contract = 0.00001 ETH (multiplier / underlyingToSettleMultiplier), lot 100
        symbol="ETHUSDT", contract_size=D("0.00001"), tick_size=D("0.01"), lot_size=D("100"),
        min_qty=D("100"), min_notional=D("0"), margin_tiers=ETHUSDT_RISK_LIMITS, price_decimals=2,
    ),
}

# After the fee revamp: taker 0.05 %, maker rebate 0.01 %; "Floor" = the published discount floor.
FEE_TIERS = (
    FeeTier("Regular", D("-0.0001"), D("0.0005")),
    FeeTier("Floor", D("-0.000125"), D("0.000175")),
)

RULES = VenueRules(
    name="bitmex", valuation=Valuation.ENTRY, tier_unit=TierUnit.NOTIONAL,
    ratio_orientation=RatioOrientation.MM_OVER_EQUITY, settles_at=SettlesAt.BANKRUPTCY,
    liquidation_fee_in_maintenance=False, money_decimals=6, tier_cap_inclusive=True, funding_anchor_hour=4,
)

VENUE = Venue(rules=RULES, specs=SPECS, fee_tiers=FEE_TIERS, fee_tier_name="Regular")
