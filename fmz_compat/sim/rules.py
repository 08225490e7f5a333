"""The two venue rules the lead will later swap for hedge/venues' exact Decimal versions.

Keep every liquidation and funding decision of the simulator behind these two functions.
"""

from __future__ import annotations

from collections.abc import Iterable

from fmz_compat.sim.params import VENUES

# (FMZ pair such as "BTC_USDT", signed size in base units, entry price, mark price); a coin-margined
# leg arrives in reciprocal terms (size -contracts x CtVal USD, 1/entry, 1/mark) so PnL is in coin.
Leg = tuple[str, float, float, float]


def liquidation_check(venue: str, margin: float, legs: Iterable[Leg]) -> bool:
    """PLACEHOLDER: True when `margin` plus the legs' unrealised PnL is below their maintenance.

    `margin` is the isolated margin of one position, or the cross wallet balance for all cross legs.
    Maintenance = |size| x mark x MMR with one flat MMR per venue (params.VENUES[venue].mmr);
    real venues use tiered brackets, deductions and closing fees (exchange_mechanics.md section 1).
    """
    mmr = VENUES[venue].mmr
    upnl = 0.0
    maintenance = 0.0
    for _pair, size, entry, mark in legs:
        upnl += size * (mark - entry)
        maintenance += abs(size) * mark * mmr
    return maintenance > 0.0 and margin + upnl < maintenance


def funding_payment(venue: str, size: float, mark: float, rate: float) -> float:
    """Funding received by a position (negative = paid): longs pay shorts when rate > 0.

    `size` is signed, in base units; notional is taken at the mark price (all five venues).
    """
    del venue  # same rule on every venue today; kept for the exact per-venue version
    return -size * mark * rate
