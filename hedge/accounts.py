"""One venue's account as last read (App.refresh_account): equity, margin, leverage, liquidation distance.

App refreshes each reading in place once per status interval; treasury and the status view read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


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
