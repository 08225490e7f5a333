"""One L2 order book per venue symbol, kept from a websocket feed.

Levels are keyed by float price. Venues that publish a checksum over their own text (OKX, CoinEx)
need the price and size exactly as sent, so those books keep the text beside the number.
"""

from __future__ import annotations

import heapq
import zlib
from dataclasses import dataclass

Level = tuple[float, float]  # (price, size in the venue's order unit: contracts)


@dataclass(frozen=True)
class BookView:
    """A consistent copy of a book's top levels, as the exchange object hands it out."""

    asks: list[Level]  # best (lowest) first
    bids: list[Level]  # best (highest) first
    venue_ms: int  # the venue's timestamp of the newest update applied
    received_ms: int  # local wall-clock time that update arrived


class Book:
    """Price levels of one symbol. `keep_text` keeps the venue's strings for checksums."""

    __slots__ = ("asks", "bids", "keep_text", "venue_ms", "received_ms", "max_levels")

    def __init__(self, *, keep_text: bool = False, max_levels: int = 0) -> None:
        self.keep_text = keep_text
        self.max_levels = max_levels  # 0: keep every level the venue sends
        self.asks: dict[float, object] = {}
        self.bids: dict[float, object] = {}
        self.venue_ms = 0
        self.received_ms = 0

    def clear(self) -> None:
        self.asks.clear()
        self.bids.clear()

    def apply(self, side: dict[float, object], rows: list[list[str]]) -> None:
        """Set or (size 0) remove levels from rows of [price text, size text, ...]."""
        for row in rows:
            price_text, size_text = row[0], row[1]
            price = float(price_text)
            if float(size_text) == 0.0:
                side.pop(price, None)
            else:
                side[price] = (price_text, size_text) if self.keep_text else float(size_text)
        if self.max_levels and len(side) > 2 * self.max_levels:
            self._trim(side)

    def _trim(self, side: dict[float, object]) -> None:
        keep = (heapq.nsmallest if side is self.asks else heapq.nlargest)(self.max_levels, side)
        for price in set(side).difference(keep):
            del side[price]

    def size(self, value: object) -> float:
        return float(value[1]) if self.keep_text else value  # type: ignore[index,return-value]

    def top(self, depth: int) -> tuple[list[Level], list[Level]]:
        asks = [(p, self.size(self.asks[p])) for p in heapq.nsmallest(depth, self.asks)]
        bids = [(p, self.size(self.bids[p])) for p in heapq.nlargest(depth, self.bids)]
        return asks, bids

    def best(self) -> tuple[Level | None, Level | None]:
        ask = min(self.asks) if self.asks else None
        bid = max(self.bids) if self.bids else None
        return ((ask, self.size(self.asks[ask])) if ask is not None else None,
                (bid, self.size(self.bids[bid])) if bid is not None else None)

    def crossed(self) -> bool:
        return bool(self.asks and self.bids and min(self.asks) <= max(self.bids))

    def view(self, depth: int) -> BookView:
        asks, bids = self.top(depth)
        return BookView(asks, bids, self.venue_ms, self.received_ms)

    def text_levels(self, side: dict[float, object], depth: int, *,
                    descending: bool) -> list[tuple[str, str]]:
        prices = (heapq.nlargest if descending else heapq.nsmallest)(depth, side)
        return [side[p] for p in prices]  # type: ignore[misc]


def signed_crc32(text: str) -> int:
    """CRC32 as the signed 32-bit integer OKX and CoinEx publish."""
    value = zlib.crc32(text.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def okx_checksum(book: Book) -> int:
    """OKX: the top 25 bids and asks interleaved, bid:size:ask:size..., as the venue wrote them."""
    bids = book.text_levels(book.bids, 25, descending=True)
    asks = book.text_levels(book.asks, 25, descending=False)
    parts: list[str] = []
    for i in range(max(len(bids), len(asks))):
        if i < len(bids):
            parts.extend(bids[i])
        if i < len(asks):
            parts.extend(asks[i])
    return signed_crc32(":".join(parts))


def coinex_checksum(book: Book) -> int:
    """CoinEx: every bid (best first) then every ask, price:amount joined by ':', as the unsigned CRC32
    CoinEx publishes (its doc example carries 2578768879, above the signed range)."""
    bids = book.text_levels(book.bids, len(book.bids), descending=True)
    asks = book.text_levels(book.asks, len(book.asks), descending=False)
    return zlib.crc32(":".join(f"{p}:{s}" for p, s in bids + asks).encode())
