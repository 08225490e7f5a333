"""Binance USDⓈ-M futures (classic account, one-way mode). Sources: docs/mechanics.md (binance)."""

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
    tiers_with_cum,
)

# GET /fapi/v1/leverageBracket snapshot (freqtrade binance_leverage_tiers.json, 2024-10-24):
# (cap, mmr, max leverage).
# The maintenance amounts (cum) follow from Binance's recursion; they match the snapshot's cum column.
BTCUSDT_BRACKETS = tiers_with_cum([
    ("50000", "0.004", "125"), ("600000", "0.005", "100"), ("3000000", "0.0065", "75"),
    ("12000000", "0.01", "50"), ("70000000", "0.02", "25"), ("100000000", "0.025", "20"),
    ("230000000", "0.05", "10"), ("480000000", "0.1", "5"), ("600000000", "0.125", "4"),
    ("800000000", "0.15", "3"), ("1200000000", "0.25", "2"), ("1800000000", "0.5", "1"),
])
ETHUSDT_BRACKETS = tiers_with_cum([
    ("50000", "0.004", "125"), ("600000", "0.005", "100"), ("3000000", "0.0065", "75"),
    ("12000000", "0.01", "50"), ("50000000", "0.02", "25"), ("65000000", "0.025", "20"),
    ("150000000", "0.05", "10"), ("320000000", "0.1", "5"), ("400000000", "0.125", "4"),
    ("530000000", "0.15", "3"), ("800000000", "0.25", "2"), ("1200000000", "0.5", "1"),
])

# Alts, same snapshot (its cum column equals the recursion for every row). Confidence: high for the 2024-10-24
# brackets; Binance revises them by announcement, and the live leverageBracket feed overrides them.
_ALT_BRACKETS = {
    "SOLUSDT": [("20000", "0.005", "100"), ("100000", "0.0065", "75"), ("800000", "0.01", "50"),
                ("4000000", "0.02", "25"), ("8000000", "0.025", "20"), ("40000000", "0.05", "10"),
                ("80000000", "0.1", "5"), ("100000000", "0.125", "4"), ("200000000", "0.25", "2"),
                ("400000000", "0.5", "1")],
    "XRPUSDT": [("10000", "0.005", "75"), ("20000", "0.0065", "50"), ("160000", "0.01", "40"),
                ("800000", "0.02", "25"), ("1600000", "0.025", "20"), ("8000000", "0.05", "10"),
                ("16000000", "0.1", "5"), ("20000000", "0.125", "4"), ("40000000", "0.25", "2"),
                ("80000000", "0.5", "1")],
    "DOGEUSDT": [("10000", "0.005", "75"), ("50000", "0.007", "50"), ("750000", "0.01", "40"),
                 ("800000", "0.02", "25"), ("1600000", "0.025", "20"), ("8000000", "0.05", "10"),
                 ("16000000", "0.1", "5"), ("20000000", "0.125", "4"), ("40000000", "0.25", "2"),
                 ("80000000", "0.5", "1")],
    "BNBUSDT": [("10000", "0.005", "75"), ("50000", "0.006", "50"), ("200000", "0.01", "40"),
                ("1500000", "0.02", "25"), ("3000000", "0.025", "20"), ("15000000", "0.05", "10"),
                ("30000000", "0.1", "5"), ("37500000", "0.125", "4"), ("75000000", "0.25", "2"),
                ("150000000", "0.5", "1")],
    "ADAUSDT": [("10000", "0.005", "75"), ("50000", "0.01", "50"), ("100000", "0.015", "40"),
                ("500000", "0.02", "25"), ("1000000", "0.025", "20"), ("5000000", "0.05", "10"),
                ("10000000", "0.1", "5"), ("20000000", "0.125", "4"), ("30000000", "0.25", "2"),
                ("50000000", "0.5", "1")],
    "LINKUSDT": [("10000", "0.005", "75"), ("50000", "0.01", "50"), ("80000", "0.015", "40"),
                 ("400000", "0.02", "25"), ("800000", "0.025", "20"), ("4000000", "0.05", "10"),
                 ("8000000", "0.1", "5"), ("20000000", "0.125", "4"), ("30000000", "0.25", "2"),
                 ("50000000", "0.5", "1")],
    "AVAXUSDT": [("5000", "0.005", "75"), ("25000", "0.0065", "50"), ("80000", "0.01", "40"),
                 ("400000", "0.02", "25"), ("800000", "0.025", "20"), ("4000000", "0.05", "10"),
                 ("8000000", "0.1", "5"), ("10000000", "0.125", "4"), ("20000000", "0.25", "2"),
                 ("50000000", "0.5", "1")],
    "DOTUSDT": [("10000", "0.0065", "75"), ("50000", "0.01", "50"), ("100000", "0.015", "40"),
                ("500000", "0.02", "25"), ("800000", "0.025", "20"), ("4000000", "0.05", "10"),
                ("8000000", "0.1", "5"), ("10000000", "0.125", "4"), ("30000000", "0.25", "2"),
                ("50000000", "0.5", "1")],
    "LTCUSDT": [("10000", "0.005", "75"), ("50000", "0.01", "50"), ("100000", "0.015", "40"),
                ("750000", "0.02", "25"), ("1000000", "0.025", "20"), ("5000000", "0.05", "10"),
                ("10000000", "0.1", "5"), ("20000000", "0.125", "4"), ("30000000", "0.25", "2"),
                ("50000000", "0.5", "1")],
    "TRXUSDT": [("10000", "0.0065", "75"), ("90000", "0.01", "50"), ("120000", "0.015", "40"),
                ("650000", "0.02", "25"), ("800000", "0.025", "20"), ("3000000", "0.05", "10"),
                ("6000000", "0.1", "5"), ("12000000", "0.125", "4"), ("20000000", "0.25", "2"),
                ("30000000", "0.5", "1")],
    "BCHUSDT": [("5000", "0.005", "75"), ("10000", "0.0065", "50"), ("100000", "0.01", "40"),
                ("500000", "0.02", "25"), ("1000000", "0.025", "20"), ("5000000", "0.05", "10"),
                ("10000000", "0.1", "5"), ("15000000", "0.125", "4"), ("25000000", "0.25", "2"),
                ("50000000", "0.5", "1")],
}
# Filters (tickSize, stepSize = minQty) and liquidationFee from the exchangeInfo in
# ../shared/data/cryptofeed_raw_ws (2021-07-22; medium confidence: filters rarely change); MIN_NOTIONAL 5
# USDT for every alt there.
_ALT_FILTERS = {
    "SOLUSDT": ("0.001", "1", "0.0075"), "XRPUSDT": ("0.0001", "0.1", "0.005"),
    "DOGEUSDT": ("0.00001", "1", "0.0075"), "BNBUSDT": ("0.01", "0.01", "0.005"),
    "ADAUSDT": ("0.0001", "1", "0.005"), "LINKUSDT": ("0.001", "0.01", "0.005"),
    "AVAXUSDT": ("0.001", "1", "0.0075"), "DOTUSDT": ("0.001", "0.1", "0.005"),
    "LTCUSDT": ("0.01", "0.001", "0.005"), "TRXUSDT": ("0.00001", "1", "0.005"),
    "BCHUSDT": ("0.01", "0.001", "0.005"),
}

# Capped funding rate = clamp(rate, -0.75 * MMR, 0.75 * MMR), MMR of the first bracket (default multiplier).
_CAP_MULTIPLIER = D("0.75")

SPECS = {
    "BTCUSDT": ContractSpec(
        symbol="BTCUSDT", tick_size=D("0.1"), lot_size=D("0.001"), min_qty=D("0.001"), min_notional=D("100"),
        margin_tiers=BTCUSDT_BRACKETS, price_decimals=2, liquidation_fee_rate=D("0.0125"),
        funding_cap=_CAP_MULTIPLIER * D("0.004"), funding_floor=-_CAP_MULTIPLIER * D("0.004"),
    ),
    "ETHUSDT": ContractSpec(
        symbol="ETHUSDT", tick_size=D("0.01"), lot_size=D("0.001"), min_qty=D("0.001"), min_notional=D("20"),
        margin_tiers=ETHUSDT_BRACKETS, price_decimals=2, liquidation_fee_rate=D("0.0125"),
        funding_cap=_CAP_MULTIPLIER * D("0.004"), funding_floor=-_CAP_MULTIPLIER * D("0.004"),
    ),
}
for _symbol, (_tick, _step, _liq_fee) in _ALT_FILTERS.items():
    _tiers = tiers_with_cum(_ALT_BRACKETS[_symbol])
    SPECS[_symbol] = ContractSpec(
        symbol=_symbol, tick_size=D(_tick), lot_size=D(_step), min_qty=D(_step), min_notional=D("5"),
        margin_tiers=_tiers, price_decimals=decimals(D(_tick)), liquidation_fee_rate=D(_liq_fee),
        funding_cap=_CAP_MULTIPLIER * _tiers[0].mmr, funding_floor=-_CAP_MULTIPLIER * _tiers[0].mmr,
    )

# USDⓈ-M regular..VIP9 (maker, taker); LP1..LP5 = the USDⓈ-M Futures Liquidity Provider Program's USDT-M maker
# rebates (announcement of the 2023-04-03 upgrade), taker "as per the user's VIP level": VIP9's (assumed).
# "MM" is kept as the name of the top programme tier (= LP5).
FEE_TIERS = tuple(FeeTier(name, D(maker), D(taker)) for name, maker, taker in [
    ("Regular", "0.0002", "0.0005"), ("VIP1", "0.00016", "0.0004"), ("VIP2", "0.00014", "0.00035"),
    ("VIP3", "0.00012", "0.00032"), ("VIP4", "0.0001", "0.0003"), ("VIP5", "0.00008", "0.00027"),
    ("VIP6", "0.00006", "0.00025"), ("VIP7", "0.00004", "0.00022"), ("VIP8", "0.00002", "0.0002"),
    ("VIP9", "0", "0.00017"), ("LP1", "-0.00001", "0.00017"), ("LP2", "-0.00002", "0.00017"),
    ("LP3", "-0.00003", "0.00017"), ("LP4", "-0.00004", "0.00017"), ("LP5", "-0.00005", "0.00017"),
    ("MM", "-0.00005", "0.00017"),
])

RULES = VenueRules(
    name="binance", valuation=Valuation.MARK, tier_unit=TierUnit.NOTIONAL,
    ratio_orientation=RatioOrientation.MM_OVER_EQUITY, settles_at=SettlesAt.MARK,
    liquidation_fee_in_maintenance=False, money_decimals=8,
)

VENUE = Venue(rules=RULES, specs=SPECS, fee_tiers=FEE_TIERS, fee_tier_name="Regular")
