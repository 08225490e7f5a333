"""The trader: the one path from a decision to the venues and the book.

It reserves the rate budget on both venues, sends the two legs through the executor (hedge/execution.py),
books the fills (volume, fees and slippage into the accounting; pairs, results and loose legs through the
book) and paces what follows (a symbol's cool-down, a refusing close's back-off, a skip said once). Every
close of pairs goes through `close_group` (the spread close and the stops alike): chunked to at most
max_close_usdt per leg, each chunk reserved, sent and booked the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Protocol

from hedge.cluster import Unit
from hedge.decimals import to_decimal as _dec
from hedge.execution import DIRECTION, Leg, LegOutcomeUnknown, PairFill
from hedge.intents import ClosePairs, OpenPair
from hedge.market import Levels, bound_venue
from hedge.opportunity import depth_share_cap
from hedge.outage import MonitoredExchange
from hedge.ratelimit import Cost
from hedge.risk import band_price
from hedge.sizing import (
    ContractSpec,
    ceil_to_step,
    common_base_step,
    floor_to_step,
    leg_problem,
    max_order_base,
    min_tradable_qty,
)
from hedge.venues.base import Side

if TYPE_CHECKING:
    from hedge.accounting import Accounting
    from hedge.book import Book, LedgerView
    from hedge.cluster.base import Coordinator
    from hedge.config import HedgeConfig
    from hedge.execution import Executor
    from hedge.ledger import HedgePair
    from hedge.market import Market, Venue
    from hedge.ratelimit import RateBudget

Books = tuple[tuple[Levels, Levels], tuple[Levels, Levels]]  # (asks, bids): buying venue, selling venue
CLOSE_BACKOFF_MAX_S = 3_600


class TraderRisk(Protocol):
    """What the trader asks of the stops (hedge/risk.py): the price a leg is expected at, a leg left without
    its hedge, a traded leg noted in the risk view, and whether a venue-symbol holds a loose leg."""

    def reference(self, venue: str, symbol: str, bid: bool) -> Decimal: ...
    def add_loose_leg(self, venue: str, symbol: str, signed: Decimal, price: Decimal, pair_id: int,
                      why: str, *, unit: Unit) -> None: ...
    def note_leg(self, venue: str, symbol: str, side: Side, qty: Decimal, price: Decimal) -> None: ...
    def has_loose_leg(self, venue: str, symbol: str) -> bool: ...


class Trader:
    """cfg, now_ms, market and accounting are read at each use (tests replace the config, the market is bound
    and the accounting loaded at start); wait sleeps inside the turn and moves the turn's clock (App._wait);
    venues: the bound venues (App's list, filled at start); close_waits: the re-hedger's hold on a spread
    close; close_lead: the venue whose leg a spread close sends first, alone (the re-hedger's
    `close_lead`)."""

    def __init__(self, *, cfg: Callable[[], HedgeConfig], now_ms: Callable[[], int],
                 wait: Callable[[float], None], venues: list[Venue], market: Callable[[], Market | None],
                 budget: RateBudget, executor: Executor, coordinator: Coordinator, book: Book,
                 risk: TraderRisk, accounting: Callable[[], Accounting],
                 event: Callable[..., None], stop_openings: Callable[..., None],
                 measure_exposure: Callable[[], None], close_waits: Callable[[str, str, str], bool],
                 close_lead: Callable[[str, str, Collection[HedgePair]], str | None]) -> None:
        self._cfg = cfg
        self._now_ms = now_ms
        self._wait = wait
        self.venues = venues
        self._market = market
        self.budget = budget
        self.executor = executor
        self.coordinator = coordinator
        self.book = book
        self.risk = risk
        self._accounting = accounting
        self.event = event
        self.stop_openings = stop_openings
        self.measure_exposure = measure_exposure
        self._close_waits = close_waits
        self._close_lead = close_lead
        self.cooldown_until: dict[str, int] = {s: 0 for s in cfg().symbols}  # symbol -> no try before (ms)
        self.last_skip: dict[str, str] = {}  # symbol -> the kind of the last skip said
        self.pairs_opened = 0  # by this process
        # (symbol, long venue, short venue) -> (failed close attempts in a row, next attempt ms)
        self._close_backoff: dict[tuple[str, str, str], tuple[int, int]] = {}

    @property
    def cfg(self) -> HedgeConfig:
        return self._cfg()

    @property
    def now_ms(self) -> int:
        return self._now_ms()

    @property
    def market(self) -> Market:
        market = self._market()
        assert market is not None
        return market

    @property
    def ledger(self) -> LedgerView:
        return self.book.ledger

    def cancel_all_orders(self) -> None:
        """Every resting order on every venue (the gate's action when it halts)."""
        for venue in self.venues:
            for order in venue.exchange.GetOrders() or []:
                if not venue.exchange.CancelOrder(order["Id"]):
                    self.event(f"{venue.key}: cancel of resting order {order['Id']} failed", "error")

    def venue_or_none(self, key: str) -> Venue | None:
        """The bound venue of a key (the one lookup: risk, recovery and reconcile are given this one)."""
        return next((v for v in self.venues if v.key == key), None)

    def venue(self, key: str) -> Venue:
        return bound_venue(self.venue_or_none, key)

    # --- market readings ---
    def top_mid(self, key: str, symbol: str) -> Decimal | None:
        """Mid price of a symbol on one venue, when its top is fresh."""
        top = self.market.fresh_top(key, symbol, self.now_ms)
        return _dec(top.mid) if top is not None else None

    def mid(self, symbol: str) -> Decimal | None:
        """Mid price of a symbol on the first venue with a fresh top."""
        market = self.market
        for venue in self.venues:
            if symbol in venue.specs:
                top = market.fresh_top(venue.key, symbol, self.now_ms)
                if top is not None:
                    return _dec(top.mid)
        return None

    def books(self, symbol: str, buy: Venue, sell: Venue, *, closing: bool = False) -> Books | None:
        """(asks, bids) of the buying and the selling venue; None (skip, said once) when either is
        unreadable or empty on the side the order takes."""
        buy_book = self.market.depth(buy, symbol)
        sell_book = self.market.depth(sell, symbol)
        if buy_book is None or sell_book is None or not buy_book[0] or not sell_book[1]:
            what = "closing" if closing else "opening"
            self.skip(symbol, f"{buy.key}->{sell.key}: order book unreadable or empty; {what} waits "
                              "for depth")
            return None
        return buy_book, sell_book

    def depth_room(self, symbol: str, books: Books, *specs: ContractSpec) -> Decimal:
        """The largest equal base quantity that takes at most max_depth_share of the depth quoted within
        max_slippage_bps of the top, on the buying venue's asks and on the selling venue's bids."""
        cap = depth_share_cap(books[0][0], books[1][1], float(self.cfg.max_slippage_bps),
                              float(self.cfg.max_depth_share))
        room = floor_to_step(Decimal(repr(cap)), common_base_step(*specs))
        return room if room > 0 else Decimal(0)

    def skip(self, symbol: str, reason: str) -> None:
        """Log why an opening was skipped or a close waits, once per kind of reason in a row (no flood)."""
        kind = reason.split(" ", 2)[:2]
        if self.last_skip.get(symbol) != " ".join(kind):
            self.last_skip[symbol] = " ".join(kind)
            self.event(f"skip {symbol}: {reason}", "warn")

    def cooling(self, symbol: str) -> bool:
        """The symbol's cool-down after an attempt has not run out."""
        return self.now_ms < self.cooldown_until[symbol]

    def cool_down(self, symbol: str) -> None:
        self.cooldown_until[symbol] = self.now_ms + self.cfg.cooldown_s * 1000

    # --- sending ---
    def reserve(self, keys: tuple[str, str], priority: bool) -> bool:
        """Reserve one order on each venue before either leg is sent; sleep if the budget asks for it.
        False (nothing reserved) when an opening would wait longer than rate_limits.max_wait_ms."""
        cost = Cost(orders=1, weight=1)
        waits: list[int] = []
        for index, key in enumerate(keys):
            wait = self.budget.reserve(key, cost, priority=priority)
            if wait is None:
                for earlier in keys[:index]:
                    self.budget.release(earlier, cost)
                return False
            waits.append(wait)
        for key in keys:
            exchange = self.venue(key).exchange
            if isinstance(exchange, MonitoredExchange):
                exchange.prepaid_orders += 1
        if max(waits) > 0:
            self._wait(max(waits))
        return True

    def execute(self, symbol: str, legs: tuple[Leg, Leg], tag: str, undo_closes: bool = True,
                lead: int | None = None) -> PairFill | None:
        try:
            with self.coordinator.acting(Unit.of(symbol, legs[0].venue.key, legs[1].venue.key)):
                fill = self.executor.execute_pair(symbol, legs, tag, undo_closes, lead)
        except LegOutcomeUnknown as exc:
            self.stop_openings(str(exc), {(leg.venue.key, symbol) for leg in legs})
            return None
        finally:
            for leg in legs:  # a reservation not used by this execution does not carry over
                if isinstance(leg.venue.exchange, MonitoredExchange):
                    leg.venue.exchange.prepaid_orders = 0
        return fill

    def book_legs(self, fill: PairFill, reference: tuple[Decimal, Decimal]) -> None:
        """Volume, fees and slippage per leg; reference = top-of-book price each leg was decided at."""
        accounting = self._accounting()
        for leg, ref in zip(fill.fills, reference, strict=True):
            notional = abs(leg.cost) + abs(leg.undo_cost)
            buying = leg.side in ("buy", "closesell")  # closesell closes a short: a buy
            slip = (leg.avg_price - ref) if buying else (ref - leg.avg_price)
            accounting.record_fill(leg.venue, notional, leg.fees,
                                   slip * leg.forward if leg.forward else Decimal(0), self.now_ms)

    # --- opening ---
    def open(self, intent: OpenPair) -> None:
        """Open the intent's pair; in a cluster first the shared budget check (Redis), which also reserves the
        pair id, and the unit's opening released after."""
        opp = intent.opp
        if intent.request is None:
            self._open(intent)
            return
        pair_id, problem = self.coordinator.reserve_open(intent.request)
        if problem:
            self.skip(opp.symbol, f"{opp.buy_venue}->{opp.sell_venue}: {problem}")
            return
        self.book.use_pair_id(pair_id)
        try:
            self._open(intent)
        finally:
            self.coordinator.release_open(intent.request.unit)

    def _open(self, intent: OpenPair) -> None:
        opp, buy, sell, qty = intent.opp, intent.buy, intent.sell, intent.qty
        symbol = opp.symbol
        if not self.reserve((buy.key, sell.key), priority=False):
            self.skip(symbol, f"{opp.buy_venue}->{opp.sell_venue}: rate budget exhausted for more "
                              f"than {self.cfg.rate_limits.max_wait_ms} ms; opening skipped")
            return
        # spent even if no pair is booked: a tag names one execution (Risk times its unhedged leg by it)
        pair_id = self.book.take_pair_id()
        tag = f"open#{pair_id}"
        self.event(f"OPEN {tag} {symbol} {qty}{intent.note}: buy {opp.buy_venue} ~{intent.exec_buy:.6g} / "
                   f"sell {opp.sell_venue} ~{intent.exec_sell:.6g}; edge {intent.edge:.2f} bps net of fees "
                   f"(spread {opp.spread_bps:.2f} bps, funding carry {opp.funding_carry_bps:+.2f} bps)")
        legs = (Leg(buy, "buy", qty, _dec(intent.exec_buy)), Leg(sell, "sell", qty, _dec(intent.exec_sell)))
        fill = self.execute(symbol, legs, tag)
        if fill is None:
            return
        self.book_legs(fill, (_dec(opp.buy_price), _dec(opp.sell_price)))
        pair = None
        # the pair is what both legs hold on their common step; anything above it that an undo could not
        # take back is a loose leg (a multiple of that venue's step), closed reduce-only later
        paired = floor_to_step(fill.qty, common_base_step(buy.specs[symbol], sell.specs[symbol]))
        if paired > 0:
            pair = self.book.record_open(
                pair_id=pair_id, symbol=symbol, long_venue=buy.key, short_venue=sell.key, qty=paired,
                long_price=fill.fills[0].avg_price, short_price=fill.fills[1].avg_price, fees=fill.fees,
                client_ids=tuple(fill.fills[0].client_ids + fill.fills[1].client_ids), now_ms=self.now_ms,
                order_ids=tuple(fill.fills[0].order_ids + fill.fills[1].order_ids))
            self.book.book_result(fill.residual_pnl)
        else:
            self.book.book_result(fill.residual_pnl - fill.fees, fill.fees)
        for leg, leg_fill in zip(legs, fill.fills, strict=True):
            excess = leg_fill.filled - paired
            if excess > 0:
                self.risk.add_loose_leg(leg.venue.key, symbol, DIRECTION[leg.side] * excess,
                                        leg_fill.avg_price or leg.ref_price, pair.id if pair else 0,
                                        f"{tag}: the undo of {excess} on {leg.venue.key} did not go through",
                                        unit=Unit.of(symbol, buy.key, sell.key))
        self.book.clear_orders(tag)
        self.book.save()
        if pair is None:
            return
        if not self.coordinator.holds(Unit.of(symbol, buy.key, sell.key)):
            self.event(f"{tag} {symbol} filled but not booked: this node lost the lease meanwhile (fenced "
                       "out); the unit's new owner settles the journaled orders with the venues", "error")
            return
        self.risk.note_leg(buy.key, symbol, Side.LONG, fill.fills[0].filled, pair.long_price)
        self.risk.note_leg(sell.key, symbol, Side.SHORT, fill.fills[1].filled, pair.short_price)
        self.pairs_opened += 1
        self.last_skip.pop(symbol, None)
        self.event(f"OPENED pair #{pair.id} {symbol} {pair.qty}: long {buy.key} {pair.long_price}, short "
                   f"{sell.key} {pair.short_price}; entry spread {pair.entry_spread_bps} bps")
        self.measure_exposure()

    # --- closing ---
    def close(self, intent: ClosePairs) -> None:
        """Close the intent's pairs unless a venue keeps refusing (back-off) or a loose leg of the symbol
        waits on one of its venues; a failed attempt backs off cool-down x 2^n, up to an hour. A venue that
        has not proved it trades (`close_lead`) gets its leg first, alone, and the other venue's leg goes
        only for what it closed: refused there, nothing else is sent (sent together, the other leg would be
        closed and bought back by the undo at every try). The pairs keep that venue in the ledger
        (HedgePair.lead), so a restart sends its leg first too."""
        symbol, long_key, short_key = intent.symbol, intent.long_venue, intent.short_venue
        failures, retry_ms = self._close_backoff.get((symbol, long_key, short_key), (0, 0))
        held = self.book.held_pairs()  # a close of them waits for its booking (a price): not closed twice
        pairs = [pair for pair in intent.pairs if pair.id not in held]
        if not pairs or self.now_ms < retry_ms or self._close_would_strip(symbol, long_key, short_key):
            return
        lead = self._close_lead(long_key, short_key, pairs)
        if lead is not None and any(pair.lead != lead for pair in pairs):
            self.book.lead_pairs([pair.id for pair in pairs], lead)
            self.book.save()
        closed = self._close_group(symbol, self.venue(long_key), self.venue(short_key), pairs, lead)
        if closed:
            self._close_backoff.pop((symbol, long_key, short_key), None)
        else:
            # A venue that keeps refusing must not multiply orders: wait cool-down x 2^n, up to 1 h.
            wait_s = min(self.cfg.cooldown_s * 2 ** failures, CLOSE_BACKOFF_MAX_S)
            key = (symbol, long_key, short_key)
            self._close_backoff[key] = (failures + 1, self.now_ms + wait_s * 1000)
            self.event(f"close of {symbol} {long_key}/{short_key} did not complete "
                       f"(attempt {failures + 1}); next try in {wait_s} s", "warn")

    def _close_would_strip(self, symbol: str, long_venue: str, short_venue: str) -> bool:
        """A spread close waits while one of its venues holds a loose leg of the symbol (an earlier close
        left that leg undone there, closed reduce-only first): each further close would take the other
        venue's hedge and leave more unhedged where nothing fills. Stops are not held back by this (they
        reduce a threatened leg)."""
        return (any(self.risk.has_loose_leg(key, symbol) for key in (long_venue, short_venue))
                or self._close_waits(symbol, long_venue, short_venue))

    def _close_group(self, symbol: str, long_venue: Venue, short_venue: Venue,
                     group: list[HedgePair], lead: str | None = None) -> bool:
        """Close the group's pairs, at most max_depth_share of the books at a time. False when the attempt
        failed (the caller backs off); True when the quantity tried was closed, or nothing was tried because
        the books were unreadable or too thin (tried again next tick)."""
        total = sum((p.qty for p in group), Decimal(0))
        qty = self._close_qty(symbol, long_venue, short_venue, total)
        if qty <= 0:
            return True
        return self.close_group(symbol, long_venue, short_venue, group, qty=qty, lead=lead) == qty

    def close_group(self, symbol: str, long_venue: Venue, short_venue: Venue, group: list[HedgePair],
                    qty: Decimal | None = None, tag: str = "close",
                    band_bps: Decimal | None = None, undo: bool = True, lead: str | None = None) -> Decimal:
        """Close `qty` (default: all) of the group's pairs, oldest first, with reduce-only close sides on
        both legs; band_bps sends them as IOC limits banded around the book. The quantity goes out in
        executions of at most max_close_usdt per leg, one after the other, so that an execution whose
        second leg is in doubt leaves at most that much unhedged. Returns the quantity of pairs closed;
        a part closed on one leg only (undo=False, as stops do, or an undo that failed) is booked closed and
        its other leg kept as a loose leg (risk.py), closed reduce-only at the next turns. lead: the venue
        whose leg each execution sends first, alone, the other leg only for what it closed (the spread close
        of a venue that has not proved it trades; stops send both)."""
        held = self.book.held_pairs()  # a close of them waits for its booking: never closed twice
        group = [p for p in group if p.id not in held]
        total = sum((p.qty for p in group), Decimal(0))
        closed = Decimal(0)
        legs = ((long_venue.key, symbol), (short_venue.key, symbol))
        for chunk in self._chunks(symbol, long_venue, short_venue, total if qty is None else min(qty, total)):
            pairs = [self.ledger.pairs[p.id] for p in group if p.id in self.ledger.pairs]
            if not pairs:
                break
            loose = [self.ledger.loose_positions().get(key) for key in legs]
            done = self._close_chunk(symbol, long_venue, short_venue, pairs, chunk, tag, band_bps, total,
                                     undo, lead)
            closed += done
            # a leg that closed less than the other (refused, in doubt) left the chunk's rest unhedged: no
            # further chunk, or every chunk would strip the other leg too
            if done < chunk or [self.ledger.loose_positions().get(key) for key in legs] != loose:
                break
        return closed

    def _chunks(self, symbol: str, long_venue: Venue, short_venue: Venue, qty: Decimal) -> list[Decimal]:
        """qty split into equal executions of at most max_close_usdt per leg, and of at most the smaller
        maximum order size of the two venues (ContractSpec.max_qty: a larger order is refused, issue #17), on
        the legs' common step (the last one takes the rest)."""
        price = self.mid(symbol)
        specs = (long_venue.specs[symbol], short_venue.specs[symbol])
        step = common_base_step(*specs)
        most = max_order_base(*specs)
        most = floor_to_step(most, step) if most is not None else None
        if qty <= 0:
            return []
        if price is None or price <= 0:
            if most is None or most <= 0 or qty <= most:
                return [qty]
            count = int((qty / most).to_integral_value(ROUND_CEILING))
        else:
            count = int((qty * price / self.cfg.close_chunk_usdt).to_integral_value(ROUND_CEILING))
            if most is not None and most > 0:
                count = max(count, int((qty / most).to_integral_value(ROUND_CEILING)))
        size = floor_to_step(qty / max(count, 1), step)
        if count <= 1 or size <= 0:
            return [qty]
        last = qty - size * (count - 1)
        if most is None or last <= most:
            return [size] * (count - 1) + [last]
        # the last would be above the maximum order size: count equal parts, those first one step larger
        steps = int((qty / step).to_integral_value(ROUND_FLOOR))
        small, larger = divmod(steps, count)
        parts = [(small + 1) * step] * larger + [small * step] * (count - larger)
        parts[-1] += qty - steps * step  # off the common step (a loose leg's rest): the last one takes it
        return [part for part in parts if part > 0]

    def _close_chunk(self, symbol: str, long_venue: Venue, short_venue: Venue, group: list[HedgePair],
                     qty: Decimal, tag: str, band_bps: Decimal | None, total: Decimal, undo: bool,
                     lead: str | None = None) -> Decimal:
        """One execution of close_group; returns the quantity of pairs it closed."""
        # a stale book is no reference for a band or a booking: the fresh valuation risk uses is
        long_ref = self.risk.reference(long_venue.key, symbol, bid=True)
        short_ref = self.risk.reference(short_venue.key, symbol, bid=False)
        long_limit = short_limit = None
        if band_bps is not None and long_ref > 0 and short_ref > 0:
            long_limit = band_price(long_ref, False, band_bps, long_venue.specs[symbol].tick)
            short_limit = band_price(short_ref, True, band_bps, short_venue.specs[symbol].tick)
        legs = (Leg(long_venue, "closebuy", qty, long_ref, long_limit),
                Leg(short_venue, "closesell", qty, short_ref, short_limit))
        fill_tag = f"{tag}#" + "+".join(str(p.id) for p in group)
        if not self.reserve((long_venue.key, short_venue.key), priority=True):
            return Decimal(0)
        first = None if lead is None else 0 if lead == long_venue.key else 1
        fill = self.execute(symbol, legs, fill_tag, undo_closes=undo, lead=first)
        self.cool_down(symbol)
        if fill is None:
            return Decimal(0)
        self.book_legs(fill, (long_ref, short_ref))
        long_fill, short_fill = fill.fills
        # Pairs are closed up to the common step above the larger fill; what a leg has not closed of that
        # is a loose leg on its venue (a multiple of the venue's own step), closed reduce-only later.
        step = common_base_step(long_venue.specs[symbol], short_venue.specs[symbol])
        done = min(ceil_to_step(max(long_fill.filled, short_fill.filled), step), qty)
        if done <= 0:
            self.book.clear_orders(fill_tag)
            self.book.save()
            return Decimal(0)
        exits = []
        for venue, leg_fill, ref, sign in ((long_venue, long_fill, long_ref, 1), (short_venue, short_fill,
                                                                                  short_ref, -1)):
            loose = done - leg_fill.filled
            price = leg_fill.avg_price or ref
            if loose > 0:
                estimate = self.top_mid(venue.key, symbol) or ref
                price = (leg_fill.filled * price + loose * estimate) / done
                self.risk.add_loose_leg(venue.key, symbol, sign * loose, estimate, group[0].id,
                                        f"{fill_tag}: {venue.key} closed {leg_fill.filled} of {done}",
                                        unit=Unit.of(symbol, long_venue.key, short_venue.key))
            exits.append(price)
        long_exit, short_exit = exits
        pnl = Decimal(0)
        left = done
        for pair in sorted(group, key=lambda p: p.id):  # oldest first when only part was closed
            part = min(pair.qty, left)
            if part <= 0:
                break
            pnl += self.book.record_close(pair.id, qty=part, long_exit=long_exit, short_exit=short_exit,
                                          fees=fill.fees * part / done)
            left -= part
        self.book.book_result(fill.residual_pnl)
        self.book.clear_orders(fill_tag)
        self.book.save()
        self.risk.note_leg(long_venue.key, symbol, Side.SHORT, long_fill.filled, long_exit)
        self.risk.note_leg(short_venue.key, symbol, Side.LONG, short_fill.filled, short_exit)
        ids = ", ".join(f"#{p.id}" for p in group)
        spreads = ", ".join(str(p.entry_spread_bps) for p in group)
        plural = "s" if len(group) > 1 else ""
        what = "CLOSED" if tag == "close" else f"{tag.upper()} CLOSED"
        part_of = f" of {total}" if done < total else ""
        self.event(f"{what} pair{plural} {ids} {symbol} {done}{part_of} (long {long_venue.key} "
                   f"{long_exit:.10g}, short {short_venue.key} {short_exit:.10g}); entry spread {spreads} "
                   f"bps; pnl {pnl:+.2f} USDT after fees")
        self.measure_exposure()
        return done

    def _close_qty(self, symbol: str, long_venue: Venue, short_venue: Venue, total: Decimal) -> Decimal:
        """What one close may take: the whole group, or max_depth_share of the depth within max_slippage_bps
        (buying back on the short venue's asks, selling on the long venue's bids). A remainder below a
        venue's minimum could never be closed on its own, so at least that much is left; 0 = wait."""
        books = self.books(symbol, short_venue, long_venue, closing=True)
        if books is None:
            return Decimal(0)
        specs = (long_venue.specs[symbol], short_venue.specs[symbol])
        room = self.depth_room(symbol, books, *specs)
        if room >= total:
            return total
        price = _dec(books[0][0][0][0])
        qty = min(room, total - min_tradable_qty(price, *specs))
        problem = next((p for p in (leg_problem(qty, price, spec) for spec in specs) if p), None)
        if problem:
            self.skip(symbol, f"{long_venue.key}/{short_venue.key} close waits: max_depth_share "
                              f"{self.cfg.max_depth_share} of the book allows {room} of {total} ({problem})")
            return Decimal(0)
        return qty
