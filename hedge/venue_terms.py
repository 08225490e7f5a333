"""Each bound venue's terms for this account: its mechanics (margin tiers, funding intervals) and taker fee,
with what the exchange object says of this account read at start over the tables and PARAMS fees, and the
leverage set there at start."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from hedge.config import HedgeConfig
from hedge.market import Venue, swap_symbol
from hedge.venues import get as venue_mechanics
from hedge.venues.base import Venue as VenueMechanics
from hedge.venues.live import read_live


class VenueTerms:
    def __init__(self, cfg: HedgeConfig, event: Callable[[str, str], None]) -> None:
        self.cfg = cfg
        self.event = event
        # taker fee in bps as a float, for the spread's edge (hedge/opportunity.py)
        self.taker: dict[str, float] = {v: float(cfg.fee(v).taker_bps) for v in cfg.fees}
        self._live_taker: dict[str, Decimal] = {}  # this account's taker fee where the venue said it
        self._mechanics: dict[str, VenueMechanics] = {}  # tables plus this account's data (start())

    def set_up(self, venue: Venue) -> None:
        """At start: the configured leverage on each symbol, then this account's own data."""
        self._set_leverage(venue)
        self._read_live(venue)

    def mechanics(self, key: str) -> VenueMechanics:
        """The venue's mechanics: the tables, with this account's own data over them where read at start."""
        found = self._mechanics.get(key)
        return found if found is not None else venue_mechanics(key)

    def taker_bps(self, key: str) -> Decimal:
        """Taker fee in bps: this account's as the venue said at start, else PARAMS fees."""
        return self._live_taker.get(key, self.cfg.fee(key).taker_bps)

    def _read_live(self, venue: Venue) -> None:
        """The account's own tiers, funding intervals and fee rates where the exchange object gives them
        (fmz_compat's live objects; FMZ's do not): they replace the tables and PARAMS fees, said once."""
        data = read_live(venue.key, venue.exchange, sorted(venue.specs))
        self._mechanics[venue.key] = data.venue
        if data.tiers_from:
            self.event(f"{venue.key}: margin tiers from the venue for {', '.join(data.tiers_from)} "
                       "(liquidation prices use this account's tiers)", "info")
        if data.intervals:
            hours = ", ".join(f"{s} {h} h" for s, h in sorted(data.intervals.items()))
            self.event(f"{venue.key}: funding intervals from the venue: {hours}", "info")
        if data.taker_bps is not None:
            configured = self.cfg.fee(venue.key).taker_bps
            if abs(data.taker_bps - configured) > Decimal("0.05"):
                self.event(f"{venue.key}: this account's taker fee is {data.taker_bps:.2f} bps, PARAMS fees "
                           f"say {configured}: the edge uses the account's (set fees.{venue.key} to match)",
                           "warn")
            self._live_taker[venue.key] = data.taker_bps
            self.taker[venue.key] = float(data.taker_bps)

    def _set_leverage(self, venue: Venue) -> None:
        setter = getattr(venue.exchange, "SetMarginLevel", None)
        if setter is None:
            return
        level = self.cfg.leverage_for(venue.key)
        for symbol in venue.specs:
            if setter(swap_symbol(symbol), level) is None:
                self.event(f"{venue.key}: SetMarginLevel({symbol}, {level}) failed; "
                           "margin checks still apply", "warn")
