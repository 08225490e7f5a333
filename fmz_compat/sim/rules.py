"""The simulator's venue rules: liquidation and funding through hedge.venues' exact Decimal mechanics.

Every liquidation and funding decision of the simulator goes through the functions below, so the simulator
liquidates where `python -m tools.liqcalc` says it will (tiered maintenance, each venue's valuation and
clearance fee) and pays funding with the venue's sign and rounding.

Speed: the simulator checks every account with positions after every chunk of price steps (each API call
ends one) at the chunk's most adverse marks. `safe_move` gives each account a band of marks inside which it
cannot be liquidated, so a chunk whose marks stay inside costs a few comparisons. A float check with the
same tiers decides the other cases; only an account within a hair of maintenance is checked again in Decimal.
Coin-margined (inverse) legs are outside hedge.venues (USDT-margined only): they keep a flat maintenance
rate (`params.VENUES[venue].mmr`). A USDT pair hedge.venues has no table for (SOL_USDT, ...) is checked with
that flat rate as a single tier, under the venue's own valuation rule.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from fmz_compat.sim.params import VENUES
from hedge import venues as hv
from hedge.venues.base import (
    Account,
    MarginTier,
    Position,
    SettlesAt,
    Side,
    TierUnit,
    Valuation,
    Venue,
    canonical_symbol,
)

# (FMZ pair such as "BTC_USDT", signed size in base units, entry price, mark price); a coin-margined
# leg arrives in reciprocal terms (size -contracts x CtVal USD, 1/entry, 1/mark) so PnL is in coin.
Leg = tuple[str, float, float, float]

# Float results this close to maintenance (relative to the account's size) are re-checked in Decimal.
_NEAR = 1e-9


@dataclass(frozen=True)
class _FloatTiers:
    """One symbol's maintenance tiers on one venue, as floats, for the fast pre-check."""

    caps: tuple[float, ...]
    rates: tuple[float, ...]       # mmr (+ taker clearance fee where the venue counts it: OKX)
    amounts: tuple[float, ...]     # maintenance amount (Binance cum, Bybit deduction)
    at_entry: bool                 # requirement valued at entry (Bybit, BitMEX) instead of mark
    unit: TierUnit
    contract_size: float
    pinned: MarginTier | None      # flat tier for a symbol hedge.venues has no table for
    cap_inclusive: bool            # the venue's rule for a measure exactly at a cap

    def requirement(self, qty: float, entry: float, mark: float) -> float | None:
        """The requirement in float, or None when the measure is within float noise of a tier cap (the tier,
        hence the requirement, is then only known in Decimal)."""
        price = entry if self.at_entry else mark
        unit = self.unit
        if unit is TierUnit.NOTIONAL:
            measure = qty * price
        elif unit is TierUnit.BASE:
            measure = qty
        else:
            measure = qty / self.contract_size
        caps = self.caps
        locate = bisect_left if self.cap_inclusive else bisect_right
        i = min(locate(caps, measure), len(caps) - 1)
        near = _NEAR * measure
        if abs(caps[i] - measure) <= near or (i and abs(measure - caps[i - 1]) <= near):
            return None
        return qty * price * self.rates[i] - self.amounts[i]


@cache
def venue(name: str) -> Venue:
    """hedge.venues' mechanics for `name` (default fee tier), built once per process."""
    return hv.get(name)


@cache
def _tiers(venue_name: str, pair: str) -> _FloatTiers:
    v = venue(venue_name)
    at_entry = v.rules.valuation is Valuation.ENTRY
    symbol = canonical_symbol(pair)
    fee = float(v.fees.taker) if v.rules.liquidation_fee_in_maintenance else 0.0
    if symbol not in v.specs:
        mmr = VENUES[venue_name].mmr
        rate = Decimal(repr(mmr))
        tier = MarginTier(cap=Decimal("Infinity"), mmr=rate, max_leverage=1 / rate)
        return _FloatTiers((float("inf"),), (mmr + fee,), (0.0,), at_entry, TierUnit.NOTIONAL, 1.0, tier,
                           cap_inclusive=False)
    spec = v.specs[symbol]
    return _FloatTiers(
        caps=tuple(float(t.cap) for t in spec.margin_tiers),
        rates=tuple(float(t.mmr) + fee for t in spec.margin_tiers),
        amounts=tuple(float(t.maint_amount) for t in spec.margin_tiers),
        at_entry=at_entry, unit=v.rules.tier_unit, contract_size=float(spec.contract_size), pinned=None,
        cap_inclusive=v.rules.tier_cap_inclusive,
    )


def _is_inverse(pair: str) -> bool:
    return pair.endswith("_USD")


def _dec(x: float) -> Decimal:
    # 12 significant digits drop float noise such as 0.30000000000000004 (sizes are lot multiples)
    return Decimal(f"{x:.12g}")


def _position(venue_name: str, leg: Leg) -> Position:
    pair, size, entry, mark = leg
    return Position(symbol=canonical_symbol(pair), side=Side.LONG if size > 0 else Side.SHORT,
                    qty=_dec(abs(size)), entry_price=Decimal(repr(entry)), mark_price=Decimal(repr(mark)),
                    tier=_tiers(venue_name, pair).pinned)


def liquidation_check(venue_name: str, margin: float, legs: Iterable[Leg]) -> bool:
    """True when `margin` plus the legs' unrealised PnL is at or below their maintenance requirement.

    `margin` is the isolated margin of one position, or the cross wallet balance for all cross legs of one
    settlement asset. The requirement is hedge.venues' (`Venue.is_liquidated`): the venue's tier for the
    position (Binance's bracket at the mark, Bybit/BitMEX risk limit at entry, OKX tier in contracts with the
    clearance fee, CoinEx level in base units) and its maintenance amount.
    """
    legs = [leg for leg in legs if leg[1] != 0.0]
    if not legs:
        return False
    if _is_inverse(legs[0][0]):
        return _inverse_check(venue_name, margin, legs)
    equity = margin
    requirement = 0.0
    scale = abs(margin)
    for pair, size, entry, mark in legs:
        qty = abs(size)
        equity += size * (mark - entry)
        own = _tiers(venue_name, pair).requirement(qty, entry, mark)
        if own is None:
            return _exact_check(venue_name, margin, legs)
        requirement += own
        scale += qty * mark
    gap = equity - requirement
    if abs(gap) > _NEAR * (scale + 1.0):
        return gap < 0.0
    return _exact_check(venue_name, margin, legs)


def safe_move(venue_name: str, margin: float, legs: Iterable[Leg]) -> float:
    """A relative move of every leg's mark (each up or down by at most this fraction) that cannot bring
    `margin` + UPnL down to the requirement; 0.0 when none is known (then check every time).

    A move of every mark by at most d changes the equity by at most d x notional, and the requirement (mmr x
    notional at the mark less a maintenance amount that keeps it continuous across tiers; at entry: no
    change) by at most d x notional too; the headroom is shared with a factor 2.5 for that and float noise.
    Coin-margined legs, and a measure within noise of a tier cap, get 0.0."""
    legs = [leg for leg in legs if leg[1] != 0.0]
    if not legs or _is_inverse(legs[0][0]):
        return 0.0
    equity = margin
    requirement = 0.0
    notional = 0.0
    for pair, size, entry, mark in legs:
        qty = abs(size)
        equity += size * (mark - entry)
        own = _tiers(venue_name, pair).requirement(qty, entry, mark)
        if own is None:
            return 0.0
        requirement += own
        notional += qty * mark
    headroom = equity - requirement
    if headroom <= 0.0 or notional <= 0.0:
        return 0.0
    return headroom / (2.5 * notional)


def _exact_check(venue_name: str, margin: float, legs: Sequence[Leg]) -> bool:
    v = venue(venue_name)
    positions = tuple(_position(venue_name, leg) for leg in legs)
    account = Account(wallet_balance=Decimal(repr(margin)), positions=positions)
    return v.is_liquidated(positions[0], account)


def _inverse_check(venue_name: str, margin: float, legs: Sequence[Leg]) -> bool:
    mmr = VENUES[venue_name].mmr
    upnl = sum(size * (mark - entry) for _pair, size, entry, mark in legs)
    maintenance = sum(abs(size) * mark * mmr for _pair, size, _entry, mark in legs)
    return margin + upnl <= maintenance


def liquidation_penalties(venue_name: str, margin: float, legs: Sequence[Leg]) -> list[float]:
    """What the venue keeps from each leg it liquidates at the legs' marks (settlement currency).

    Venues that close at the liquidation price (Binance, OKX) charge a clearance fee on the notional
    (Binance's per-symbol liquidation fee rate, OKX's taker rate); venues that take the position over at
    the bankruptcy price (Bybit, CoinEx, BitMEX) keep the margin left above it. Never more than the margin
    left (`margin` + unrealised PnL): the insurance fund covers the rest.
    """
    if not legs:
        return []
    left = max(0.0, margin + sum(size * (mark - entry) for _pair, size, entry, mark in legs))
    notionals = [abs(size) * mark for _pair, size, _entry, mark in legs]
    if _is_inverse(legs[0][0]):
        fees = [n * VENUES[venue_name].mmr for n in notionals]
    else:
        v = venue(venue_name)
        if v.rules.settles_at is SettlesAt.BANKRUPTCY:
            total = sum(notionals)
            return [left * n / total if total else 0.0 for n in notionals]
        positions = [_position(venue_name, leg) for leg in legs]
        fees = [float(v.liquidation_fee(p, p.mark)) for p in positions]
    total_fee = sum(fees)
    if total_fee <= left:
        return fees
    return [f * left / total_fee for f in fees]


def funding_payment(venue_name: str, size: float, mark: float, rate: float) -> float:
    """Funding received by a position (negative = paid): longs pay shorts when rate > 0.

    `size` is signed, in base units; notional is taken at the mark price (all five venues); the amount is
    hedge.venues' `funding_fee`, rounded to the venue's money precision.
    """
    if size == 0.0 or rate == 0.0:
        return 0.0
    side = Side.LONG if size > 0 else Side.SHORT
    notional = _dec(abs(size)) * Decimal(repr(mark))
    return float(venue(venue_name).funding_fee(notional, Decimal(repr(rate)), side))
