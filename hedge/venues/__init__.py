"""Venue mechanics registry: `get("okx")` returns that venue's `Venue` (see base.py for the interface)."""

from typing import Any

from hedge.venues import binance, bitmex, bybit, coinex, okx
from hedge.venues.base import Account, ContractSpec, FeeTier, MarginTier, Position, Side, Venue

_REGISTRY: dict[str, Venue] = {
    m.VENUE.name: m.VENUE for m in (binance, bybit, okx, coinex, bitmex)
}

NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get(name: str, *, fee_tier: str | None = None,
        overrides: dict[str, dict[str, Any]] | None = None) -> Venue:
    """The venue's mechanics, optionally with the fee tier named in params and live contract overrides."""
    try:
        venue = _REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown venue {name!r}; choose one of: {', '.join(NAMES)}") from None
    if fee_tier is not None:
        venue = venue.with_fee_tier(fee_tier)
    if overrides:
        venue = venue.with_overrides(overrides)
    return venue


__all__ = ["NAMES", "Account", "ContractSpec", "FeeTier", "MarginTier", "Position", "Side", "Venue", "get"]
