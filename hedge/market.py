"""Book tops per venue and symbol, refreshed with one GetTickers() per venue per tick.

Screening uses floats (cheap); booked money uses Decimal elsewhere. Tops are updated in place so
a tick allocates nothing that grows.

A top changes through one path, `Market.on_top` (a book event: a venue-symbol's best bid and ask as of a
time), whatever read it: today each polled ticker; a venue's book stream, once read, each of its frames. A
change marks its symbol in `changed`, which the spread rule takes as it scans (hedge/spread.py): the work
of a turn follows what changed, not the number of symbols.

A book's age is judged when it is used, against the runtime clock (`clock`), not against the time the
turn began: a turn that waited (an order's settle window, a rate-limit wait, a slow venue) would otherwise
value positions and price orders at books older than max_age_ms. A venue read more than max_age_ms before
the moment one of its books is asked for is read again first (once: a venue whose answer is stale or fails
is not asked again until another max_age_ms has passed).

A book's freshness is proven, not assumed. A ticker with the venue's own timestamp (FMZ Ticker.Time) is as old
as that stamp. A ticker without one (Bybit V5 and CoinEx REST tickers through ccxt) is fresh only while it
changes: a cached, frozen REST answer repeats itself with no stamp to show it. A genuinely quiet market also
repeats its top, so an unchanged untimed book counts as stale only when it has not changed for max_age_ms and
the other venues' mids for the coin moved by more than MOVED_BPS plus the book's own spread since it was
first seen (arbitrage would have moved a live top that far), or when it has not changed for
UNCHANGED_LIMIT_MS at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from statistics import median
from typing import Any

from hedge import store_keys
from hedge.sizing import ContractSpec

Levels = list[tuple[float, float]]  # (price, base quantity), best first

# An untimed book unchanged while the other venues' mids moved more than this (plus its own spread) is frozen:
# 20 bps is far above the few-bps cross-venue basis drift of liquid USDT perps over seconds, and a quiet
# venue's top within its spread of the others' move may legitimately stay put.
MOVED_BPS = 20.0
# An untimed book unchanged (bid, ask, last and 24 h volume) for this long is stale whatever the others do:
# any trade changes last or volume, and two minutes without one on a perp we trade is not a live feed.
UNCHANGED_LIMIT_MS = 120_000

VENUE_BY_EXCHANGE_NAME = {
    "Futures_Binance": "binance",
    "Futures_Bybit": "bybit",
    "Futures_OKX": "okx",
    "Futures_OKCoin": "okx",
    "Futures_CoinEx": "coinex",
    "Futures_BitMEX": "bitmex",
}


def venue_key(exchange_name: str) -> str | None:
    return VENUE_BY_EXCHANGE_NAME.get(exchange_name)


def fmz_pair(symbol: str) -> str:
    """'BTC_USDT.swap' or 'BTC_USDT' -> 'BTC_USDT'."""
    return symbol.split(".", 1)[0]


def swap_symbol(pair: str) -> str:
    return pair + ".swap"


class Top:
    """Best bid/ask of one venue-symbol, as floats, with the venue's timestamp (ms). A top read without a
    venue timestamp (`untimed`) has time_ms = when it was last read, and remembers when its answer was first
    seen unchanged (`since_ms`), the answer (`answer`) and the other venues' median mid then
    (`others_ref`)."""

    __slots__ = ("bid", "ask", "time_ms", "untimed", "since_ms", "answer", "others_ref")

    def __init__(self) -> None:
        self.bid = 0.0
        self.ask = 0.0
        self.time_ms = 0
        self.untimed = False
        self.since_ms = 0
        self.answer: tuple[Any, ...] = ()
        self.others_ref = 0.0  # 0.0: not measured yet

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) * 0.5


@dataclass
class Venue:
    """One bound exchange object and what we learned about it at start."""

    key: str
    index: int
    exchange: Any
    specs: dict[str, ContractSpec]


def bound_venue(venue_or_none: Callable[[str], Venue | None], key: str) -> Venue:
    """The bound venue of `key` through a lookup that may find none; KeyError names the key."""
    venue = venue_or_none(key)
    if venue is None:
        raise KeyError(key)
    return venue


class Market:
    def __init__(self, venues: list[Venue], symbols: tuple[str, ...], max_age_ms: int,
                 clock: Callable[[], int] | None = None) -> None:
        self.venues = venues
        self.symbols = symbols
        self.max_age_ms = max_age_ms
        self._wanted = frozenset(symbols)
        self.tops: dict[str, dict[str, Top]] = {v.key: {s: Top() for s in symbols} for v in venues}
        self.failed: dict[str, int] = {v.key: 0 for v in venues}  # consecutive failed refreshes
        self.per_symbol: dict[str, bool] = {v.key: False for v in venues}
        self._tickers_seen: dict[str, bool] = {v.key: False for v in venues}
        self._now_ms = 0
        self._clock = clock  # the runtime's ms clock (Unix/UnixNano); None: only the callers' now_ms
        self._read_ms: dict[str, int] = {v.key: 0 for v in venues}  # when each venue was last asked
        self._pair_of: dict[str, str] = {}  # ticker Symbol -> wanted pair, "" when not wanted
        # the symbols whose top changed on some venue (bid, ask or time) since the spread rule last scanned
        # them: it takes each symbol out as it scans it (hedge/spread.py), an unchanged symbol costs nothing
        self.changed: set[str] = set(symbols)
        # per venue, the untimed tops whose answer changed and whose others' mid is not measured yet
        self._unmeasured: dict[str, set[str]] = {v.key: set() for v in venues}

    def refresh(self, now_ms: int) -> None:
        """Update every venue's tops. A ticker without a timestamp is stamped with now_ms."""
        self._now_ms = now_ms
        for venue in self.venues:
            self._refresh_venue(venue, now_ms)
        for venue in self.venues:
            self._measure_from_now(venue.key, now_ms)

    def _measure_from_now(self, venue: str, now_ms: int) -> None:
        """Untimed tops whose answer changed measure the others' move from the others' mids now: after every
        venue of the refresh was read, so a venue read later in the same refresh counts at its new price."""
        unmeasured = self._unmeasured[venue]
        if not unmeasured:
            return
        tops = self.tops[venue]
        for symbol in list(unmeasured):
            top = tops[symbol]
            if top.untimed and not top.others_ref:
                top.others_ref = self._others_mid(venue, symbol, now_ms)
            if top.others_ref or not top.untimed:
                unmeasured.discard(symbol)  # measured (a top read timed again is measured when it changes)

    def _refresh_venue(self, venue: Venue, now_ms: int) -> None:
        self._read_ms[venue.key] = now_ms
        if self.per_symbol[venue.key]:
            ok = self._refresh_each(venue)
        else:
            tickers = venue.exchange.GetTickers()
            if tickers is not None:
                self._tickers_seen[venue.key] = True
                self._apply_all(venue, tickers)
                ok = True
            elif not self._tickers_seen[venue.key] and self._refresh_each(venue):
                # GetTickers is not available on every venue: fall back to one GetTicker per symbol.
                self.per_symbol[venue.key] = True
                ok = True
            else:
                ok = False
        self.failed[venue.key] = 0 if ok else self.failed[venue.key] + 1

    def _used_at(self, venue: str, now_ms: int) -> int:
        """The moment a book of venue is used: the runtime clock when it is later than the caller's now_ms.
        A venue last read more than max_age_ms before then is read again first (after a wait in the turn)."""
        if self._clock is None:
            return now_ms
        now = self._clock()
        if now < now_ms:
            now = now_ms
        read = self._read_ms[venue]
        if read and now - read > self.max_age_ms:
            self._reread(venue, now)
        return now

    def _reread(self, venue: str, now: int) -> None:
        self._now_ms = now  # stamps tickers without a time of their own
        self._refresh_venue(next(v for v in self.venues if v.key == venue), now)
        self._measure_from_now(venue, now)

    def _apply_all(self, venue: Venue, tickers: list[Any]) -> None:
        # Hot path (every tick, every listed instrument): symbol names cached, an unwanted one costs a lookup,
        # a timed ticker is `on_top` inlined (a call per ticker was a third of a 100-symbol refresh).
        key = venue.key
        tops = self.tops[key]
        changed = self.changed
        pair_of = self._pair_of
        now_ms = self._now_ms
        for ticker in tickers:
            name = ticker["Symbol"]
            pair = pair_of.get(name)
            if pair is None:
                pair = fmz_pair(name)
                pair = pair_of[name] = pair if pair in self._wanted else ""
            if not pair:
                continue
            stamp = ticker["Time"]
            if stamp:
                top = tops[pair]
                bid, ask, time_ms = float(ticker["Buy"]), float(ticker["Sell"]), int(stamp)
                if bid != top.bid or ask != top.ask or time_ms != top.time_ms:
                    top.bid = bid
                    top.ask = ask
                    top.time_ms = time_ms
                    changed.add(pair)
                top.untimed = False
            else:
                self._apply(key, pair, ticker, now_ms)

    def _refresh_each(self, venue: Venue) -> bool:
        ok = False
        for symbol in venue.specs:
            ticker = venue.exchange.GetTicker(swap_symbol(symbol))
            if ticker is not None:
                self._apply(venue.key, symbol, ticker, self._now_ms)
                ok = True
        return ok

    def on_top(self, venue: str, symbol: str, bid: float, ask: float, time_ms: int) -> None:
        """A book event: the venue-symbol's best bid and ask as of the venue's own time_ms (ms). The one path
        a top changes by, whatever read it: a polled ticker (`refresh`) or, once a venue's book stream is
        read, each of its frames. A change marks the symbol for the spread rule's next scan (`changed`)."""
        top = self.tops[venue][symbol]
        if bid != top.bid or ask != top.ask or time_ms != top.time_ms:
            top.bid = bid
            top.ask = ask
            top.time_ms = time_ms
            self.changed.add(symbol)
        top.untimed = False

    def _apply(self, venue: str, symbol: str, ticker: Any, now_ms: int) -> None:
        """Update a top from an FMZ ticker. An untimed answer is as of now_ms; one that changed is first seen
        now, and the others' mids it is measured from are taken once every venue was read
        (`_measure_from_now`)."""
        stamp = int(ticker.get("Time") or 0)
        bid, ask = float(ticker["Buy"]), float(ticker["Sell"])
        if stamp:
            self.on_top(venue, symbol, bid, ask, stamp)
            return
        top = self.tops[venue][symbol]
        if bid != top.bid or ask != top.ask or now_ms != top.time_ms:
            top.bid = bid
            top.ask = ask
            top.time_ms = now_ms
            self.changed.add(symbol)
        top.untimed = True
        answer = (ticker["Buy"], ticker["Sell"], ticker.get("Last"), ticker.get("Volume"))
        if answer != top.answer:
            top.answer = answer
            top.since_ms = now_ms
            top.others_ref = 0.0
        if not top.others_ref:
            self._unmeasured[venue].add(symbol)

    def fresh_top(self, venue: str, symbol: str, now_ms: int) -> Top | None:
        """The venue's top of book, or None when it is empty, crossed or older than max_age_ms at the moment
        it is used (`_used_at`: re-read first when the turn waited past max_age_ms since it was read)."""
        # Hot path (each venue-symbol, several times a turn): _used_at and a timed book's _proven_ms inline.
        top = self.tops[venue][symbol]
        if self._clock is not None:
            now = self._clock()
            if now < now_ms:
                now = now_ms
            read = self._read_ms[venue]
            if read and now - read > self.max_age_ms:
                self._reread(venue, now)
            now_ms = now
        bid = top.bid
        if bid <= 0.0 or top.ask < bid:
            return None
        proven = self._proven_ms(venue, symbol, top, now_ms) if top.untimed else top.time_ms
        return None if now_ms - proven > self.max_age_ms else top

    def _proven_ms(self, venue: str, symbol: str, top: Top, now_ms: int) -> int:
        """The latest moment the book is known to be current: the venue's stamp; for an untimed book the last
        read, unless it is frozen (see the module doc), then the moment its answer was first seen."""
        if not top.untimed:
            return top.time_ms
        unchanged = now_ms - top.since_ms
        if unchanged <= self.max_age_ms:
            return top.time_ms
        if unchanged > max(UNCHANGED_LIMIT_MS, self.max_age_ms):
            return top.since_ms
        others = self._others_mid(venue, symbol, now_ms)
        if not top.others_ref:
            top.others_ref = others  # no other venue had been read when it was first seen: measure from here
        if others:
            moved_bps = abs(others / top.others_ref - 1.0) * 10_000.0
            spread_bps = (top.ask - top.bid) / top.mid * 10_000.0
            if moved_bps > MOVED_BPS + spread_bps:
                return top.since_ms
        return top.time_ms

    def _others_mid(self, venue: str, symbol: str, now_ms: int) -> float:
        """Median mid of `symbol` on the other venues read within max_age_ms (raw tops: judging them by this
        same rule could loop back to `venue`); 0.0 when none."""
        mids = [t.mid for key, tops in self.tops.items() if key != venue
                for t in (tops.get(symbol),)
                if t is not None and t.bid > 0.0 and now_ms - t.time_ms <= self.max_age_ms]
        return median(mids) if mids else 0.0

    def fresh_mid(self, venue: str, symbol: str, now_ms: int) -> float | None:
        """Mid of the venue's book when it is fresh (at most max_age_ms old), else None."""
        top = self.fresh_top(venue, symbol, now_ms)
        return top.mid if top is not None else None

    def age_ms(self, venue: str, symbol: str, now_ms: int) -> int | None:
        """How old the venue's book is (ms, by the venue's own stamp, or since an untimed book was proven
        current); None when it was never read."""
        top = self.tops[venue][symbol]
        now_ms = self._used_at(venue, now_ms)
        return now_ms - self._proven_ms(venue, symbol, top, now_ms) if top.bid > 0.0 else None

    def mids_elsewhere(self, symbol: str, now_ms: int, venue: str) -> list[float]:
        """The fresh mids of `symbol` on every venue but `venue` (what the coin trades at now elsewhere)."""
        out = []
        for other in self.tops:
            if other != venue and symbol in self.tops[other]:
                mid = self.fresh_mid(other, symbol, now_ms)
                if mid is not None:
                    out.append(mid)
        return out

    def depth(self, venue: Venue, symbol: str) -> tuple[Levels, Levels] | None:
        """(asks, bids) as (price, base quantity) lists, best first; None when unavailable."""
        depth = venue.exchange.GetDepth(swap_symbol(symbol))
        if depth is None:
            return None
        ct_val = float(venue.specs[symbol].ct_val)
        asks = [(float(level["Price"]), float(level["Amount"]) * ct_val) for level in depth["Asks"]]
        bids = [(float(level["Price"]), float(level["Amount"]) * ct_val) for level in depth["Bids"]]
        return asks, bids


def load_specs(exchange: Any, symbols: tuple[str, ...]) -> dict[str, ContractSpec] | None:
    """Contract specs from GetMarkets(); None when the call failed."""
    markets = exchange.GetMarkets()
    if markets is None:
        return None
    specs: dict[str, ContractSpec] = {}
    for name, market in markets.items():
        if not name.endswith(".swap"):
            continue
        pair = fmz_pair(name)
        if pair in symbols:
            specs[pair] = ContractSpec(
                ct_val=_dec(market.get("CtVal", 1)) or Decimal(1),
                lot=_dec(market.get("AmountSize", 0)) or _dec(market.get("MinQty", 1)) or Decimal(1),
                min_qty=_dec(market.get("MinQty", 0)),
                min_notional=_dec(market.get("MinNotional", 0)),
                tick=_dec(market.get("TickSize", 0)),
                max_qty=_dec(market.get("MaxQty", 0)),
            )
    return specs


SPECS_KEY = store_keys.CONTRACT_SPECS


def save_specs(store: Any, venue: str, specs: dict[str, ContractSpec]) -> None:
    """Keep a venue's contract specs in _G, for a start while its GetMarkets is failing: a row per pair in
    ContractSpec's field order (a row saved before max_qty was kept has five figures: it loads with none)."""
    saved = _saved(store)
    saved[venue] = {pair: [str(s.ct_val), str(s.lot), str(s.min_qty), str(s.min_notional), str(s.tick),
                           str(s.max_qty)] for pair, s in specs.items()}
    store(SPECS_KEY, json.dumps(saved))


def saved_specs(store: Any, venue: str) -> dict[str, ContractSpec] | None:
    rows = _saved(store).get(venue)
    if not rows:
        return None
    try:
        return {pair: ContractSpec(*(Decimal(v) for v in row)) for pair, row in rows.items()}
    except (ArithmeticError, TypeError, ValueError):
        return None


def _saved(store: Any) -> dict[str, Any]:
    try:
        saved = json.loads(store(SPECS_KEY) or "{}")
    except ValueError:
        return {}
    return saved if isinstance(saved, dict) else {}


def _dec(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    # repr of float gives the shortest exact-looking decimal (0.01, not 0.01000000000000000020816...)
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
