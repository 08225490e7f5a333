"""Intents: what a decision asks the trader (hedge/trader.py) to do, as frozen values.

The spread logic (hedge/spread.py) returns them; the trader executes them (reserve, chunk, send, book) and
paces what follows. A decision reads the venues only to decide (books, an account's margin); every order
is the trader's.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hedge.cluster import OpenRequest
    from hedge.ledger import HedgePair
    from hedge.market import Venue
    from hedge.opportunity import Opportunity


@dataclass(frozen=True)
class OpenPair:
    """Open one pair: buy `qty` on `buy`, sell it on `sell`, at the prices the books were walked to
    (exec_buy/exec_sell), the edge net of fees `edge`. request: a cluster's shared budget check (None for
    one node); note: said with the opening (sized down by max_depth_share)."""

    opp: Opportunity
    buy: Venue
    sell: Venue
    qty: Decimal
    edge: float
    exec_buy: float
    exec_sell: float
    note: str = ""
    request: OpenRequest | None = None


@dataclass(frozen=True)
class ClosePairs:
    """Close the pairs of one symbol on one venue pair (their spread has reverted), as one order per leg,
    at most max_depth_share of the books at a time."""

    symbol: str
    long_venue: str
    short_venue: str
    pairs: tuple[HedgePair, ...]
