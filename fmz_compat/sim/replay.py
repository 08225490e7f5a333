"""Replay a recording (see replay_format.py) through the simulator's venues.

The books, trades and funding come from the recording instead of the synthetic price model; the
accounts (matching against the recorded depth, margin, fees, funding settlement, liquidation),
transfers, faults and the FMZ exchange object stay the simulator's. Time is the recorder's receive
time: an event is visible once the virtual clock has reached its `rt`. A venue whose data stops
(a gap in the recording) keeps its last book with its old venue timestamp: tickers and depth go
stale and a strategy's freshness checks see it, as they would live.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from fmz_compat.core import LOG_TYPE_LOG, VENUE_NAMES, Clock, ExchangeBinding, LogSink, SimConfig, Struct
from fmz_compat.exchange import CallFailed, FmzExchangeObject
from fmz_compat.sim import params as P
from fmz_compat.sim.account import Account, VenueError
from fmz_compat.sim.exchange import Exchange
from fmz_compat.sim.replay_format import RecordingHeader, iter_events, read_header
from fmz_compat.sim.world import SimWorld, venue_of

MINUTE_MS = 60_000
MARK_SMOOTHING_MS = P.MARK_SMOOTHING_S * 1000.0
RECENT_TRADES = 50


class ReplayFunding:
    """The funding of one perp as last recorded: the rate the next settlement pays, and when."""

    __slots__ = ("rate", "next_ms", "interval_ms", "ts")

    def __init__(self, rate: float, next_ms: int, interval_ms: int, ts: int) -> None:
        self.rate = rate
        self.next_ms = next_ms
        self.interval_ms = interval_ms
        self.ts = ts


class ReplayQuote:
    """One venue-symbol driven by recorded books and trades, with the attributes the simulator's
    accounts, bars and exchange objects read from a generated quote."""

    __slots__ = (
        "market",
        "pair",
        "spec_tick",
        "prec",
        "bids",
        "asks",
        "bid",
        "ask",
        "book_ts",
        "version",
        "price",
        "mark",
        "mark_ms",
        "recorded_mark",
        "hi",
        "lo",
        "mhi",
        "mlo",
        "net_base",
        "book",
        "bars",
        "bar_open",
        "bar_hi",
        "bar_lo",
        "bar_start_k",
        "funding",
        "depth_base",
        "volume",
        "first_price",
        "range_hi",
        "range_lo",
        "trades",
        "last_trade",
    )

    def __init__(self, market: str, pair: str, tick: float, prec: int) -> None:
        self.market = market
        self.pair = pair
        self.spec_tick = tick
        self.prec = prec
        self.bids: list = []
        self.asks: list = []
        self.bid = self.ask = 0.0
        self.book_ts = 0
        self.version = 0  # recorded books applied so far (0 = no book yet)
        self.price = 0.0  # mid of the recorded best bid/ask
        self.mark = 0.0
        self.mark_ms = 0
        self.recorded_mark = False  # the recording carries the venue's mark price
        self.hi = self.lo = 0.0  # this chunk: highest trade/best bid, lowest trade/best ask (fills)
        self.mhi = self.mlo = 0.0  # this minute's mark extremes (liquidation)
        self.net_base = 0.0
        self.book: tuple[int, list, list] | None = None  # our fills deplete a copy until the next book
        self.bars = array("d")
        self.bar_open = self.bar_hi = self.bar_lo = 0.0
        self.bar_start_k = 0
        self.funding: ReplayFunding | None = None
        self.depth_base = 0.0
        self.volume = 0.0
        self.first_price = 0.0
        self.range_hi, self.range_lo = -math.inf, math.inf
        self.trades: deque = deque(maxlen=RECENT_TRADES)  # (ts, price, qty, side, n)
        self.last_trade = 0.0

    def best_bid_ask(self, price: float | None = None) -> tuple[float, float]:
        if not self.version:
            raise VenueError(f"no book recorded yet for {self.pair} on {self.market}")
        return self.bid, self.ask

    def on_tick(self, x: float) -> float:
        return round(x, self.prec)

    def on_book(self, bids: list, asks: list, ts: int, rt: int) -> None:
        self.bids, self.asks = bids, asks
        self.version += 1
        self.book_ts = ts
        if not bids or not asks:  # a one-sided book: keep the last mid, no crossing information
            return
        bid, ask = bids[0][0], asks[0][0]
        self.bid, self.ask = bid, ask
        mid = (bid + ask) * 0.5
        self.price = mid
        self.depth_base = bids[0][1] + asks[0][1]
        if self.version == 1 or not self.first_price:
            self._first_book(bid, ask, mid, rt)
        if bid > self.hi:
            self.hi = bid
        if ask < self.lo:
            self.lo = ask
        if mid > self.bar_hi:
            self.bar_hi = mid
        if mid < self.bar_lo:
            self.bar_lo = mid
        if mid > self.range_hi:
            self.range_hi = mid
        if mid < self.range_lo:
            self.range_lo = mid
        if not self.recorded_mark:
            self._smooth_mark(mid, rt)

    def _first_book(self, bid: float, ask: float, mid: float, rt: int) -> None:
        """The first two-sided book starts the price, its ranges and bar (and the mark, unless recorded)."""
        self.first_price = mid
        self.hi, self.lo = bid, ask
        self.bar_open = self.bar_hi = self.bar_lo = mid
        if not self.recorded_mark:
            self.mark = self.mhi = self.mlo = mid
            self.mark_ms = rt

    def _smooth_mark(self, mid: float, rt: int) -> None:
        """Without a recorded mark: the mark follows the mid, smoothed over MARK_SMOOTHING_MS, and its
        extremes (_mark_extremes inlined: one call per book, as before the split)."""
        dt = rt - self.mark_ms
        if dt > 0:
            self.mark += (1.0 - math.exp(-dt / MARK_SMOOTHING_MS)) * (mid - self.mark)
            self.mark_ms = rt
        m = self.mark
        if m > self.mhi:
            self.mhi = m
        if m < self.mlo:
            self.mlo = m

    def on_trade(self, price: float, qty: float, side: str, ts: int, n: int) -> None:
        self.trades.append((ts, price, qty, side, n))
        self.last_trade = price
        self.volume += qty
        if price > self.hi:
            self.hi = price
        if price < self.lo:
            self.lo = price
        if self.first_price:
            if price > self.bar_hi:
                self.bar_hi = price
            if price < self.bar_lo:
                self.bar_lo = price

    def on_mark(self, mark: float) -> None:
        if not self.recorded_mark:
            self.mhi = self.mlo = mark
        self.recorded_mark = True
        self.mark = mark
        self._mark_extremes()

    def _mark_extremes(self) -> None:
        m = self.mark
        if m > self.mhi:
            self.mhi = m
        if m < self.mlo:
            self.mlo = m

    def reset_price_extremes(self) -> None:
        self.hi, self.lo = self.bid, self.ask

    def reset_mark_extremes(self) -> None:
        self.mhi = self.mlo = self.mark

    def close_minute(self, k: int) -> None:
        if not self.first_price:
            self.bar_start_k = k
            return
        self.bars.extend((self.bar_open, self.bar_hi, self.bar_lo, self.price))
        self.bar_open = self.bar_hi = self.bar_lo = self.price
        self.bar_start_k = k


class ReplayCoin:
    """The quotes of one coin across venues: USDT valuation and the net-exposure figure."""

    def __init__(self) -> None:
        self.quotes: list[ReplayQuote] = []
        self.exposure_on = False
        self.max_abs_exposure = 0.0
        self.max_exposure_k = 0

    @property
    def fair(self) -> float:
        for q in self.quotes:
            if q.price:
                return q.price
        return 0.0

    def refresh_exposure_flag(self) -> None:
        self.exposure_on = any(q.net_base != 0.0 for q in self.quotes)

    def sample_exposure(self, k: int) -> None:
        net = 0.0
        for q in self.quotes:
            if q.net_base:
                net += q.net_base * q.price
        if abs(net) > abs(self.max_abs_exposure):
            self.max_abs_exposure = net
            self.max_exposure_k = k


class ReplayWorld(SimWorld):
    """A SimWorld whose markets come from a recording. Build it with `replay_world_factory(path)`."""

    dated_contracts = False  # a recording holds the markets it recorded: no dated contracts are listed

    def __init__(
        self, cfg: SimConfig, clock: Clock, log: LogSink, path: Path, header: RecordingHeader | None = None
    ) -> None:
        self.path = Path(path)
        self.header = header or read_header(self.path)
        self._events: Iterator[dict[str, Any]] = iter_events(self.path)
        self._next: dict[str, Any] | None = None
        self.applied = dict.fromkeys(("book", "trade", "funding", "gap"), 0)
        self.recording_end_ms = self.header.end_ms
        self._funded_quotes: list[ReplayQuote] = []
        self._trade_n = 0
        self._gap_logged: set[tuple[str, str]] = set()
        super().__init__(replace(cfg, step_ms=1), clock, log, ReplayExchange)
        self._next = next(self._events, None)
        self._apply_until(self.start_ms, warmup=True)  # books as they stand when the window opens

    # --- construction -------------------------------------------------------------------------
    def list_pair(self, pair: str) -> bool:
        return False  # a recording holds the markets it recorded, no others

    def _build_markets(self, cfg: SimConfig, funding_hours: dict[tuple[str, str], int]) -> None:
        header = self.header
        where = f"recording {self.path}"
        bound: list[str] = []
        for b in cfg.bindings:
            venue, futures = venue_of(b.eid)
            base, quote = b.currency.upper().split("_")
            if not futures or quote != "USDT":
                raise ValueError(
                    f"{b.eid} {b.currency}: a replay has USDT perpetuals only; bind "
                    f"{VENUE_NAMES.get(venue, 'Futures_...')} with a X_USDT pair"
                )
            if venue not in header.venues:
                raise ValueError(
                    f"{where} has no {venue} data (it has {', '.join(header.venues)}): "
                    "bind only recorded venues"
                )
            if b.currency.upper() not in header.pairs_on(venue):
                raise ValueError(
                    f"{where} has no {b.currency.upper()} on {venue} (it has "
                    f"{', '.join(header.pairs_on(venue))}): bind a recorded pair"
                )
            bound.append(venue)
        for pair in cfg.symbols:
            if not any(pair in header.pairs_on(v) for v in bound):
                listed = "; ".join(f"{v}: {', '.join(header.pairs_on(v))}" for v in dict.fromkeys(bound))
                raise ValueError(
                    f"symbol {pair} is not in {where} ({listed}): remove it from the "
                    'parameter\'s "symbols" / --symbols, or record it'
                )
        for venue in dict.fromkeys(bound):
            for pair in header.pairs_on(venue):
                spec = self._contract(venue, pair)
                q = ReplayQuote(venue, pair, spec.tick, spec.price_precision)
                coin = self.coins.setdefault(P.symbol_params(pair).base, ReplayCoin())  # type: ignore[arg-type]
                coin.quotes.append(q)  # type: ignore[union-attr]
                self.quotes[(venue, pair)] = q  # type: ignore[assignment]

    def _contract(self, venue: str, pair: str) -> P.ContractSpec:
        inst = self.header.instruments.get(venue, {}).get(pair)
        if inst is None:
            return P.contract_spec(venue, pair, True)
        return P.ContractSpec(
            pair, inst.native, inst.ct_val, inst.tick, inst.step, inst.min_qty or inst.step, inst.min_notional
        )

    def _new_exchange(self, acc: Account, binding: ExchangeBinding) -> FmzExchangeObject:
        for market, pair in self.quotes:
            if market == acc.venue:
                acc.use_contract(self._contract(acc.venue, pair))
        return super()._new_exchange(acc, binding)

    # --- time ---------------------------------------------------------------------------------
    def advance(self, now_ns: int) -> None:
        target = now_ns // 1_000_000 - self.start_ms
        while self.k < target:
            nxt = min(target, (self.k // MINUTE_MS + 1) * MINUTE_MS)
            for q in self._funded_quotes:
                f_k = q.funding.next_ms - self.start_ms  # type: ignore[union-attr]
                if self.k < f_k < nxt:
                    nxt = f_k
            for from_k, _venue in self._pending_stale:
                if self.k < from_k < nxt:
                    nxt = from_k
            self._apply_until(self.start_ms + nxt)
            self.k = nxt
            self._after_chunk()
            if self._pending_stale:
                for item in [p for p in self._pending_stale if p[0] <= self.k]:
                    self._pending_stale.remove(item)
                    self._freeze(item[1])

    def _apply_until(self, limit_ms: int, warmup: bool = False) -> None:
        ev = self._next
        quotes = self.quotes
        while ev is not None:
            t = ev.get("t")
            if t == "end":
                self.recording_end_ms = int(ev.get("end_ms", self.recording_end_ms))
                ev = None
                break
            rt = ev["rt"]
            if rt > limit_ms:
                break
            q = quotes.get((ev.get("v"), ev.get("s")))
            if t == "gap":
                self._on_gap(ev, warmup)
            elif q is None:  # a book, trade or funding of a market not replayed
                pass
            elif t == "book":
                q.on_book(ev["b"], ev["a"], ev.get("ts") or rt, rt)
                self.applied["book"] += 1
            elif t == "trade":
                self._trade_n += 1
                q.on_trade(ev["p"], ev["q"], ev["side"], ev.get("ts") or rt, self._trade_n)
                self.applied["trade"] += 1
            elif t == "funding":
                self._on_funding(q, ev, rt)  # type: ignore[arg-type]
            ev = next(self._events, None)
        self._next = ev

    def _on_gap(self, ev: dict[str, Any], warmup: bool) -> None:
        self.applied["gap"] += 1
        if not warmup and ev.get("v") in {a.venue for a in self.accounts}:
            self.log.log(
                LOG_TYPE_LOG,
                f"replay: the recording has a gap on {ev.get('v')}"
                f"{' ' + ev['s'] if ev.get('s') else ''} ({ev.get('reason', '')}); its "
                "books go stale until data resumes",
            )

    def _on_funding(self, q: ReplayQuote, ev: dict[str, Any], rt: int) -> None:
        self.applied["funding"] += 1
        if ev.get("mark"):
            q.on_mark(float(ev["mark"]))
        next_ms, interval = int(ev["next_ms"]), int(ev["interval_ms"])
        if interval <= 0 or next_ms <= rt - 1000:  # a stale schedule: keep the rate, not the time
            if q.funding is not None:
                q.funding.rate = float(ev["rate"])
            return
        if q.funding is None:
            q.funding = ReplayFunding(float(ev["rate"]), next_ms, interval, ev.get("ts") or rt)
            self._funded_quotes.append(q)
        else:
            f = q.funding
            f.rate, f.next_ms, f.interval_ms, f.ts = float(ev["rate"]), next_ms, interval, ev.get("ts") or rt

    def _after_chunk(self) -> None:
        self._sweep_open_orders()
        now = self.now_ms()
        self._settle_funding_due(now)
        for coin in self.coins.values():
            if coin.exposure_on:
                coin.sample_exposure(self.k)  # type: ignore[attr-defined]
        for acc in self.accounts:  # after every chunk, at the chunk's most adverse marks
            if acc.positions:
                acc.check_liquidation()
        for q in self.quotes.values():
            q.reset_mark_extremes()
        if self.k % MINUTE_MS == 0:
            for q in self.quotes.values():
                q.close_minute(self.k)  # type: ignore[attr-defined]
        while self.transfers and self.transfers[0].arrive_ms <= now:
            self._deliver(heapq.heappop(self.transfers))
        for q in self.quotes.values():
            q.reset_price_extremes()

    def _sweep_open_orders(self) -> None:
        """Resting orders meet the chunk's books."""
        for acc in self.accounts:
            if acc.open:
                for pair in {o.pair for o in acc.open.values()}:
                    q = acc.quote(pair)
                    if q is not None and q.version:
                        acc.sweep(q)

    def _settle_funding_due(self, now: int) -> None:
        for q in self._funded_quotes:
            f = q.funding
            if f.next_ms <= now:  # type: ignore[union-attr]
                # on time when the schedule was known before this chunk; a schedule first recorded
                # inside the chunk settles at its end rather than not at all
                for acc in self.accounts:
                    if acc.positions:
                        acc.settle_funding(q, f.rate)  # type: ignore[arg-type, union-attr]
                while f.next_ms <= now:  # type: ignore[union-attr]
                    f.next_ms += f.interval_ms  # type: ignore[union-attr]

    # --- market data --------------------------------------------------------------------------
    def book(self, q: Any) -> tuple[list[list[float]], list[list[float]]]:
        """The recorded depth, as a copy our own fills deplete until the next recorded book."""
        if not q.version:
            raise VenueError(f"no book recorded yet for {q.pair} on {q.market}")
        cached = q.book
        if cached is not None and cached[0] == q.version:
            return cached[1], cached[2]
        bids = [[p, s] for p, s in q.bids]
        asks = [[p, s] for p, s in q.asks]
        q.book = (q.version, bids, asks)
        self._books_built += 1
        return bids, asks

    def _freeze(self, venue: str) -> None:
        for (market, pair), q in self.quotes.items():
            if market == venue:
                snap = (
                    q.bid,
                    q.ask,
                    q.book_ts,
                    [list(x) for x in q.bids],
                    [list(x) for x in q.asks],  # type: ignore[attr-defined]
                    q.price,
                    q.mark,
                )
                self._frozen_quotes[(market, pair)] = snap  # type: ignore[assignment]

    def frozen(self, venue: str, q: ReplayQuote) -> tuple | None:
        if not self.stale_possible or not self.fault_active(venue, "stale_market"):
            return None
        return self._frozen_quotes.get((q.market, q.pair))  # type: ignore[return-value]

    # --- summary ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out["replay"] = {
            "file": str(self.path),
            "source": self.header.source,
            "recording_window": {"start_ms": self.header.start_ms, "end_ms": self.recording_end_ms},
            "events_applied": dict(self.applied),
            "notes": list(self.header.notes),
        }
        return out


class ReplayExchange(Exchange):
    """The simulator's FMZ exchange object with market data read from the recording."""

    _world: ReplayWorld

    def __init__(self, world: ReplayWorld, account: Account, binding: ExchangeBinding) -> None:
        super().__init__(world, account, binding)
        self._kept_tickers: dict[str, tuple[tuple[Any, ...], Struct]] = {}  # pair -> (inputs, ticker)

    def _view(self, pair: str) -> tuple[ReplayQuote, float, float, int, list, list]:
        q: ReplayQuote = self._acc.quote(pair)  # type: ignore[assignment]
        if not q.version:
            raise CallFailed(f"no book recorded yet for {pair} on {self._venue} "
                             "at this time of the recording")
        snap = self._world.frozen(self._venue, q)
        if snap is not None:
            return q, snap[0], snap[1], snap[2], snap[3], snap[4]
        return q, q.bid, q.ask, q.book_ts, q.bids, q.asks

    def _ticker(self, pair: str) -> Struct:
        # Every GetTickers call asks for every listed pair, and a venue-symbol's ticker changes only with its
        # books, trades and mark: one built from the same inputs is copied (a fresh Struct per call, as FMZ
        # gives) instead of priced and rounded again.
        q, bid, ask, ts, _b, _a = self._view(pair)
        return self._kept_ticker(pair, q, bid, ask, ts)

    def _kept_ticker(self, pair: str, q: ReplayQuote, bid: float, ask: float, ts: int) -> Struct:
        inputs = (bid, ask, ts, q.version, q.last_trade, q.volume, q.mark, self._rate)
        kept = self._kept_tickers.get(pair)
        if kept is None or kept[0] != inputs:
            kept = self._kept_tickers[pair] = (inputs, self._new_ticker(pair, q, bid, ask, ts))
        ticker = Struct(kept[1])
        ticker["Info"] = Struct(ticker["Info"])
        return ticker

    def _all_tickers(self) -> list[Struct]:
        # Every venue, every strategy turn: the listing's quote is the account's (no quote() lookup per pair)
        # and a recording without stale-market faults has no frozen books to look for (`_view`'s answer).
        world, venue = self._world, self._venue
        out = []
        for pair, q, *_ in self._listing():
            if not q.version:
                continue
            snap = world.frozen(venue, q) if world.stale_possible else None
            if snap is None:
                out.append(self._kept_ticker(pair, q, q.bid, q.ask, q.book_ts))
            else:
                out.append(self._kept_ticker(pair, q, snap[0], snap[1], snap[2]))
        return out

    def _new_ticker(self, pair: str, q: ReplayQuote, bid: float, ask: float, ts: int) -> Struct:
        prec = q.prec
        last = q.last_trade or (bid + ask) * 0.5
        hi = q.range_hi if q.range_hi > -math.inf else last
        lo = q.range_lo if q.range_lo < math.inf else last
        r = self._rate
        bid, ask, last = round(bid * r, prec), round(ask * r, prec), round(last * r, prec)
        hi, lo, open_ = round(hi * r, prec), round(lo * r, prec), round(q.first_price * r, prec)
        native = self._acc.contract(pair).native
        info = Struct(
            {
                "symbol": native,
                "bidPrice": bid,
                "askPrice": ask,
                "lastPrice": last,
                "markPrice": round(q.mark, prec),
                "time": ts,
            }
        )
        return Struct(
            {
                "Symbol": self._fmz_symbol(pair),
                "High": hi,
                "Low": lo,
                "Sell": ask,
                "Buy": bid,
                "Last": last,
                "Open": open_,
                "Volume": round(q.volume, 8),
                "Time": ts,
                "OpenInterest": 0.0,
                "Info": info,
            }
        )

    def GetTickers(self) -> list[Struct] | None:
        return self._run("GetTickers", self._all_tickers)

    def GetDepth(self, symbol: str = "") -> Struct | None:
        def run() -> Struct:
            pair = self._symbol(symbol)[0]
            q, _bid, _ask, ts, bids, asks = self._view(pair)
            if self._world.frozen(self._venue, q) is None:
                bids, asks = self._world.book(q)
            spec = self._acc.contract(pair)
            prec = q.prec
            ct = spec.ct_val

            def levels(side: list) -> list[Struct]:
                return [
                    Struct({"Price": self._px(p, prec), "Amount": round(a / ct, 10)})
                    for p, a in side
                    if a > 0
                ]

            return Struct(
                {
                    "Asks": levels(asks),
                    "Bids": levels(bids),
                    "Time": ts,
                    "Info": Struct({"symbol": spec.native}),
                }
            )

        return self._run("GetDepth", run)

    def GetTrades(self, symbol: str = "") -> list[Struct] | None:
        def run() -> list[Struct]:
            pair = self._symbol(symbol)[0]
            q, *_ = self._view(pair)
            ct = self._acc.contract(pair).ct_val
            return [
                Struct(
                    {
                        "Id": str(n),
                        "Time": ts,
                        "Price": self._px(p, q.prec),
                        "Amount": round(a / ct, 10),
                        "Type": 0 if side == "buy" else 1,
                    }
                )
                for ts, p, a, side, n in q.trades
            ]

        return self._run("GetTrades", run)

    def GetFundings(self, symbol: str = "") -> list[Struct] | None:
        def run() -> list[Struct]:
            if symbol:
                pairs = [self._symbol(symbol)[0]]
            else:
                pairs = [pair for pair, *_ in self._listing()]
            out = []
            for pair in pairs:
                q: ReplayQuote = self._acc.quote(pair)  # type: ignore[assignment]
                f = q.funding
                if f is None:
                    continue
                out.append(
                    Struct(
                        {
                            "Symbol": self._fmz_symbol(pair),
                            "Rate": f.rate,
                            "Time": f.next_ms,
                            "Interval": f.interval_ms,
                            "Info": Struct(
                                {
                                    "symbol": self._acc.contract(pair).native,
                                    "fundingRate": str(f.rate),
                                    "nextFundingTime": f.next_ms,
                                }
                            ),
                        }
                    )
                )
            return out

        return self._run("GetFundings", run)


def replay_world_factory(path: Path) -> Callable[[SimConfig, Clock, LogSink], ReplayWorld]:
    header = read_header(path)

    def factory(cfg: SimConfig, clock: Clock, log: LogSink) -> ReplayWorld:
        return ReplayWorld(cfg, clock, log, path, header)

    return factory


def replay_bindings(
    header: RecordingHeader, venues: tuple[str, ...] | None = None, balance: float | None = None
) -> tuple[ExchangeBinding, ...]:
    """One Futures_* binding per recorded venue (or the chosen subset), on its first recorded pair."""
    chosen = venues or header.venues
    out = []
    for v in chosen:
        pairs = header.pairs_on(v)
        if not pairs:
            continue
        b = ExchangeBinding(VENUE_NAMES[v], pairs[0])
        out.append(replace(b, balance=balance) if balance is not None else b)
    return tuple(out)
