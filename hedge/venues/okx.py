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
    decimals,
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

# Alts: instruments (ctVal, tickSz; lotSz = minSz = 1 contract) from ../shared/data/cryptofeed_raw_ws
# (OKX, 2022-05-13; medium confidence: OKX has since allowed fractional lots on some swaps). Position
# tiers published in OKX announcements: SOLUSDT (2022-11-08: 1,000 / 2,000 / 9,000 / 18,000 contracts at 1
# / 1.5 / 2 / 2.5 %, then +9,000 contracts and +0.5 % per tier) and ADAUSDT (2023-05-19: 1,500 / 3,000 /
# 6,000 contracts at 0.5 / 0.75 / 1 %, then +6,000 and +0.5 %); medium confidence (OKX revises tiers by
# announcement; the live feed overrides). The others: every 75x first tier in those announcements before
# 2023 had 1 % maintenance; that tier is used for all sizes, flagged estimated.
_ALT_INSTRUMENTS = {  # ctVal, tickSz
    "SOLUSDT": ("1", "0.001"), "XRPUSDT": ("100", "0.00001"), "DOGEUSDT": ("1000", "0.000001"),
    "ADAUSDT": ("100", "0.00001"), "LINKUSDT": ("1", "0.001"), "AVAXUSDT": ("1", "0.001"),
    "DOTUSDT": ("1", "0.001"), "LTCUSDT": ("1", "0.01"), "TRXUSDT": ("1000", "0.00001"),
    "BCHUSDT": ("0.1", "0.01"),
}
_ALT_TIERS = {
    "SOLUSDT": flat_tiers([("1000", "0.01", "75"), ("2000", "0.015", "50"), ("9000", "0.02", "20"),
                           ("18000", "0.025", "18.18"), ("27000", "0.03", "16.66"),
                           ("36000", "0.035", "15.38")]),
    "ADAUSDT": flat_tiers([("1500", "0.005", "75"), ("3000", "0.0075", "50"), ("6000", "0.01", "40"),
                           ("12000", "0.015", "20"), ("18000", "0.02", "18.18"),
                           ("24000", "0.025", "16.66")]),
}
for _symbol, (_ct_val, _tick) in _ALT_INSTRUMENTS.items():
    _published = _symbol in _ALT_TIERS
    SPECS[_symbol] = ContractSpec(
        symbol=_symbol, contract_size=D(_ct_val), tick_size=D(_tick), lot_size=D(1), min_qty=D(1),
        min_notional=D("0"), price_decimals=decimals(D(_tick)),
        margin_tiers=_ALT_TIERS[_symbol] if _published else flat_tiers([("Infinity", "0.01", "75")]),
        funding_cap=D("0.0075"), funding_floor=D("-0.0075"), estimated=not _published,
    )

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
