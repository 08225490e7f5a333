"""Venue mechanics registry: `get("okx")` returns that venue's `Venue` (see base.py for the interface)."""

from hedge.venues import binance, bitmex, bybit, coinex, okx
from hedge.venues.base import Account, ContractSpec, FeeTier, MarginTier, Position, Side, Venue

_REGISTRY: dict[str, Venue] = {
    m.VENUE.name: m.VENUE for m in (binance, bybit, okx, coinex, bitmex)
}

NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get(name: str) -> Venue:
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown venue {name!r}; choose one of: {', '.join(NAMES)}") from None


__all__ = ["NAMES", "Account", "ContractSpec", "FeeTier", "MarginTier", "Position", "Side", "Venue", "get"]
