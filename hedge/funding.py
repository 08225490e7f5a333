"""Funding: the venues' current rates and next settlements, read once per status interval, and each passed
settlement booked per pair as an estimate (the venue's own figure shows in equity, the truth; this is for
per-pair attribution)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from hedge.book import Book
from hedge.decimals import to_decimal as _dec
from hedge.ledger import HedgePair
from hedge.market import Venue, fmz_pair


class Funding:
    """venues: the bound venues (App's list, filled at start); mid: a symbol's mid at a fresh book;
    owns_pair: this node books the pair (a cluster: the unit's lease); book: the ledger's writer."""

    def __init__(self, venues: list[Venue], symbols: tuple[str, ...], now_ms: Callable[[], int],
                 mid: Callable[[str], Decimal | None], owns_pair: Callable[[HedgePair], bool],
                 book: Book) -> None:
        self.venues = venues
        self.symbols = symbols
        self.now_ms = now_ms
        self.mid = mid
        self.owns_pair = owns_pair
        self.book = book
        self.rates: dict[str, dict[str, float]] = {}  # symbol -> venue -> rate
        self._next: dict[tuple[str, str], tuple[int, Decimal]] = {}  # (venue, symbol) -> settlement ms, rate

    def next_settlement(self, venue_key: str) -> tuple[str, int, Decimal] | None:
        """The venue's nearest known settlement among our symbols: symbol, time ms, rate."""
        found = [(ms, symbol, rate) for (key, symbol), (ms, rate) in self._next.items() if key == venue_key]
        if not found:
            return None
        ms, symbol, rate = min(found)
        return symbol, ms, rate

    def refresh(self) -> None:
        """Book settlements that passed since the last look, then read the next rates."""
        self._book_passed()
        for venue in self.venues:
            getter = getattr(venue.exchange, "GetFundings", None)
            fundings = getter() if getter is not None else None
            for item in fundings or []:
                symbol = fmz_pair(item["Symbol"])
                if symbol in self.symbols:
                    rate = float(item.get("Rate") or 0.0)
                    self.rates.setdefault(symbol, {})[venue.key] = rate
                    if item.get("Time"):
                        self._next[(venue.key, symbol)] = (int(item["Time"]), _dec(rate))

    def _book_passed(self) -> None:
        """Estimated funding per pair at each passed settlement: longs pay rate x notional, shorts get it,
        at the last rate read before the settlement and the current mid."""
        booked = False
        now_ms = self.now_ms()
        for (venue, symbol), (settle_ms, rate) in list(self._next.items()):
            if now_ms < settle_ms:
                continue
            del self._next[(venue, symbol)]
            price = self.mid(symbol)
            if price is None or rate == 0:
                continue
            for pair in list(self.book.ledger.pairs.values()):
                if pair.symbol != symbol or pair.opened_ms > settle_ms:
                    continue  # opened after this settlement (we look once per status interval)
                if not self.owns_pair(pair):
                    continue  # its owner books it
                if pair.long_venue == venue:
                    self.book.record_funding(pair.id, -rate * pair.qty * price)
                    booked = True
                elif pair.short_venue == venue:
                    self.book.record_funding(pair.id, rate * pair.qty * price)
                    booked = True
        if booked:
            self.book.save()
