"""The account's own venue data, where the exchange object offers it, over the tables in this package.

fmz_compat's live exchange objects answer three calls FMZ's do not: `GetMarginTiers(symbol)` (the venue's
maintenance tiers for this account), `GetFees(symbol)` (this account's fee rates) and `GetFundings()` with
an `Interval` (ms between settlements). On FMZ (or the simulator) they are absent and the tables stand.
Everything here is read once at start; a call that fails keeps the table for that symbol.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hedge.decimals import read_decimal
from hedge.venues import get as tables
from hedge.venues.base import MarginTier, TierUnit, Venue, canonical_symbol, flat_tiers, tiers_with_cum

# what GetMarginTiers' Unit says -> the tier measure it is in
_UNITS = {"USDT": TierUnit.NOTIONAL, "contracts": TierUnit.CONTRACTS, "base": TierUnit.BASE}
CUMULATIVE = frozenset({"binance", "bybit"})  # a deduction (cum / mmDeduction) carries between tiers
HOUR_MS = 3_600_000


@dataclass
class LiveData:
    """What the account's venue said at start, per FMZ symbol, and the mechanics built from it."""

    venue: Venue
    tiers_from: list[str] = field(default_factory=list)  # symbols whose tiers are the venue's answer
    taker_bps: Decimal | None = None
    maker_bps: Decimal | None = None
    intervals: dict[str, int] = field(default_factory=dict)  # symbol -> funding interval hours


def tiers_from_rows(venue: str, rows: list[Any], expected: TierUnit) -> tuple[MarginTier, ...] | None:
    """MarginTier rows from GetMarginTiers' answer (lowest first), or None when it is unusable: another
    unit than the mechanics measure tiers in, a missing rate, or bounds that do not rise."""
    if not rows or _UNITS.get(str(rows[0].get("Unit", ""))) is not expected:
        return None
    table: list[tuple[str, str, str]] = []
    last = Decimal(0)
    for row in rows:
        cap, mmr, lev = (read_decimal(row.get("MaxNotional")), read_decimal(row.get("MaintenanceMarginRate")),
                         read_decimal(row.get("MaxLeverage")))
        if cap is None or mmr is None or lev is None or cap <= last or not 0 < mmr < 1 or lev <= 0:
            return None
        table.append((str(cap), str(mmr), str(lev)))
        last = cap
    return tiers_with_cum(table) if venue in CUMULATIVE else flat_tiers(table)


def read_live(venue_key: str, exchange: Any, symbols: list[str]) -> LiveData:
    """The venue's mechanics with this account's tiers and funding intervals, and its fee rates."""
    venue = tables(venue_key)
    data = LiveData(venue)
    overrides: dict[str, dict[str, Any]] = {}
    tiers_reader = getattr(exchange, "GetMarginTiers", None)
    for symbol in symbols:
        canonical = canonical_symbol(symbol)
        if tiers_reader is not None:
            rows = tiers_reader(f"{symbol}.swap")
            tiers = tiers_from_rows(venue_key, list(rows or []), venue.rules.tier_unit)
            if tiers is not None:
                overrides.setdefault(canonical, {})["margin_tiers"] = tiers
                data.tiers_from.append(symbol)
    fundings = getattr(exchange, "GetFundings", None)
    for item in (fundings() or []) if fundings is not None else []:
        symbol = str(item.get("Symbol", "")).split(".")[0]
        interval = item.get("Interval")
        if symbol in symbols and isinstance(interval, int | float) and interval >= HOUR_MS:
            hours = int(interval // HOUR_MS)
            data.intervals[symbol] = hours
            overrides.setdefault(canonical_symbol(symbol), {})["funding_interval_hours"] = hours
    fees_reader = getattr(exchange, "GetFees", None)
    fees = fees_reader(f"{symbols[0]}.swap") if fees_reader is not None and symbols else None
    if fees is not None:
        taker, maker = read_decimal(fees.get("Taker")), read_decimal(fees.get("Maker"))
        data.taker_bps = taker * 10_000 if taker is not None else None
        data.maker_bps = maker * 10_000 if maker is not None else None
    specs = dict(venue.specs)
    for canonical, values in overrides.items():
        base = specs.get(canonical) or venue.estimated_spec(canonical)  # an alt with no table here
        if canonical not in specs and "margin_tiers" not in values:
            continue  # an interval alone does not make a table
        specs[canonical] = dataclasses.replace(base, **values, estimated=False if "margin_tiers" in values
                                               else base.estimated)
    data.venue = dataclasses.replace(venue, specs=specs) if overrides else venue
    return data
