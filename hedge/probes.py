"""What feeds venue health each turn besides the calls the strategy makes anyway: a venue answering with
only stale books counts towards a market-data outage, and an out function is asked again every 10 s with a
cheap call, so its recovery is seen even when nothing else would call it."""

from __future__ import annotations

from collections.abc import Callable

from hedge.market import Market, Venue
from hedge.outage import ACCOUNT, MARKET, ORDERS, VenueHealth

PROBE_INTERVAL_MS = 10_000


class OutageProbes:
    def __init__(self, *, venues: list[Venue], market: Callable[[], Market | None], health: VenueHealth,
                 now_ms: Callable[[], int], venue_or_none: Callable[[str], Venue | None]) -> None:
        self.venues = venues  # filled at start
        self._market = market  # bound at start
        self.health = health
        self._now_ms = now_ms
        self._venue_or_none = venue_or_none
        self._next_probe_ms: dict[tuple[str, str], int] = {}

    def note_books(self) -> None:
        """A venue answering with only stale books counts towards a market-data outage."""
        market = self._market()
        assert market is not None
        failed, fresh_top, note = market.failed, market.fresh_top, self.health.note_books
        now_ms = self._now_ms()
        for venue in self.venues:  # every venue, every turn: a loop, not any() over a generator
            key = venue.key
            if failed[key]:
                continue  # the failed call itself was recorded
            fresh = False
            for symbol in venue.specs:
                if fresh_top(key, symbol, now_ms) is not None:
                    fresh = True
                    break
            note(key, fresh)

    def probe(self) -> None:
        """An out function is asked again every 10 s with a cheap call, so its recovery is seen even
        when nothing else would call it (market data is asked every tick anyway)."""
        for (key, function) in list(self.health.out_since):
            now_ms = self._now_ms()
            if function == MARKET or now_ms < self._next_probe_ms.get((key, function), 0):
                continue
            self._next_probe_ms[(key, function)] = now_ms + PROBE_INTERVAL_MS
            venue = self._venue_or_none(key)
            if venue is None:
                continue
            if function == ORDERS:
                venue.exchange.GetOrders()
            elif function == ACCOUNT:
                venue.exchange.GetAccount()
