"""One venue's positions valued for the stops (hedge/risk.py reads and evaluates them), and where each
position's valuation price came from. A leaf module: the status view (hedge/status.py) reads it too."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from hedge.venues.base import Position as VenuePosition

# Where a position's valuation price came from (Risk.price), best first.
BOOK, VENUE_MARK, OTHER_VENUES, UNVALUED = "book", "venue's mark", "other venues' books", "UNVALUED"


@dataclass
class VenueRisk:
    """One venue's positions as last read, and their distance to liquidation at the latest marks."""

    venue: str
    wallet: Decimal  # wallet balance (equity without unrealized PnL)
    positions: list[VenuePosition]  # mechanics symbols (BTCUSDT), base quantities
    pair_of: dict[str, str]  # mechanics symbol -> FMZ pair
    venue_liq: dict[str, Decimal]  # pair -> liquidation price the venue reported (fallback)
    method: str = "mechanics"  # mechanics | venue | estimate
    read_ms: int = 0
    equity: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    liquidation: dict[str, Decimal] = field(default_factory=dict)  # pair -> price
    distance: dict[str, Decimal] = field(default_factory=dict)  # pair -> % of mark, that symbol moving alone
    # % every position may move against us at once before the account is liquidated (all symbols)
    common: Decimal | None = None
    # marks (by mechanics symbol) and distance of the last full evaluation (Risk._far_still)
    basis: dict[str, Decimal] = field(default_factory=dict)
    basis_distance: Decimal | None = None
    venue_mark: dict[str, Decimal] = field(default_factory=dict)  # pair -> the venue's mark at read_ms
    priced_by: dict[str, str] = field(default_factory=dict)  # pair -> where its mark came from (BOOK...)
    foreign: set[str] = field(default_factory=set)  # pairs held that are not ours (at the venue's mark)

    @property
    def nearest(self) -> tuple[str, Decimal] | None:
        """The symbol nearest its own liquidation price, and the account's distance to liquidation: the
        smaller of that symbol's and the common adverse move of all positions (the one stops act on)."""
        if not self.distance:
            return None
        pair = min(self.distance, key=lambda p: (self.distance[p], p))
        distance = self.distance[pair]
        if self.common is not None and self.common < distance:
            distance = self.common
        return pair, distance

    @property
    def leverage(self) -> Decimal | None:
        return self.notional / self.equity if self.equity > 0 else None
