"""Each bound venue's account as last read: equity, margin, leverage, the nearest liquidation distance.

`AccountReader` reads them (at start and once per status interval, and a venue's again when a stop needs
it) into `AccountView`s it refreshes in place: treasury and the status view hold the same mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hedge.decimals import to_decimal as _dec
from hedge.market import Venue
from hedge.valuation import VenueRisk
from hedge.venues.base import Venue as VenueMechanics


@dataclass
class AccountView:
    equity: Decimal = Decimal(0)
    available: Decimal = Decimal(0)
    upnl: Decimal = Decimal(0)
    ok: bool = False
    margin_used: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)  # sum of |position| x mark
    liquidation: tuple[str, Decimal] | None = None  # nearest position: symbol (", estimated"), distance %

    @property
    def leverage(self) -> Decimal | None:
        return self.notional / self.equity if self.equity > 0 else None


class AccountReader:
    """venues: the bound venues (App's list, filled at start); read_risk: the stops' valuation of one
    GetPositions answer (Risk.read); mechanics: a venue's mechanics with this account's own data."""

    def __init__(self, venues: list[Venue],
                 read_risk: Callable[[Venue, list[Any], Decimal, Decimal], VenueRisk],
                 mechanics: Callable[[str], VenueMechanics]) -> None:
        self.venues = venues
        self.read_risk = read_risk
        self.mechanics = mechanics
        self.views: dict[str, AccountView] = {}
        self.answered: set[str] = set()  # venues whose account answered at least once in this process

    def refresh(self, key: str) -> None:
        """Read one venue's account and positions: equity, margin, leverage, liquidation distances."""
        venue = next((v for v in self.venues if v.key == key), None)
        if venue is None:
            raise KeyError(key)
        view = self.views.setdefault(venue.key, AccountView())
        account = venue.exchange.GetAccount()
        if account is None:
            view.ok = False
            return
        view.available = _dec(account.get("Balance"))
        view.upnl = _dec(account.get("UPnL"))
        view.equity = _dec(account.get("Equity")) or view.available + _dec(account.get("FrozenBalance"))
        view.ok = True
        self.answered.add(venue.key)
        self._read_positions(venue, view)

    def _read_positions(self, venue: Venue, view: AccountView) -> None:
        """Margin used, notional and the nearest liquidation (cross, one-way) from one GetPositions call
        (hedge/risk.py). Marks are book mids; a position without a book uses its entry price."""
        raw = venue.exchange.GetPositions()
        view.margin_used = max(view.equity - view.available, Decimal(0))
        if raw is None:
            return
        margin = sum((_dec(item.get("Margin")) for item in raw), Decimal(0))
        if margin > 0:
            view.margin_used = margin
        risk = self.read_risk(venue, raw, view.equity, view.upnl)
        view.notional = risk.notional
        nearest = risk.nearest
        view.liquidation = None
        if nearest:
            symbol = nearest[0].replace("_", "")
            # a symbol without the venue's published tiers is computed with the conservative estimate
            estimated = risk.method != "mechanics" or self.mechanics(venue.key).is_estimated(symbol)
            label = symbol if len(risk.positions) == 1 else f"{len(risk.positions)} positions together"
            view.liquidation = (f"{label}, estimated" if estimated else label, nearest[1])
