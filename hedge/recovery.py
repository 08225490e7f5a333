"""Recovery: finishing executions the ledger did not book (a restart, an outcome that was unknown).

Every order an execution sends is journaled in the ledger before it goes out (hedge/execution.py). What is
still journaled when a turn begins belongs to an execution that did not finish: `Recovery.recover_orders`
settles each order by client id with its venue, then trades back what an opening filled (the book returns
to the ledger's hedged state) and books what a reduction (a close, a stop, a loose leg's close, the hedge
of a vanished leg, a late order's close) took, never undoing it; a loose leg's hedge on another venue
(hedge/rehedge.py) is booked with its leg as a pair. Nothing is re-sent that a query has not
proved absent. Reconcile (hedge/reconcile.py) calls it first while the journal holds orders.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from hedge.book import CLOSE_TAG, VANISHED_TAG
from hedge.cluster import Unit
from hedge.execution import CLOSING, DIRECTION, LATE_LANDING_SETTLES, UNDO, LegOutcomeUnknown
from hedge.market import bound_venue
from hedge.orders import OrderStatus
from hedge.outage import ACCOUNT
from hedge.rehedge import REHEDGE_TAG
from hedge.risk import OPENING_TAG, RECOVERY_TAG, average_fill, opening_unit
from hedge.sizing import ceil_to_step, common_base_step, floor_to_step

if TYPE_CHECKING:
    from hedge.book import Book, LedgerView
    from hedge.cluster.base import Coordinator
    from hedge.execution import Executor
    from hedge.ledger import HedgePair, PositionMismatch
    from hedge.market import Venue
    from hedge.orders import OrderRecord
    from hedge.outage import VenueHealth
    from hedge.reconcile import Positions

LOOSE_TAG = ":pending"  # a loose leg's close: stop1:pending, loose:pending
CLOSE_ALONE_TAG = re.compile(r"^stop\d+:(?!pending$)\w+$")  # a stop's leg closed alone: stop1:binance
LATE_TAG = "late:"  # + client id: the reduce-only close of a watched order that reached its venue late
# a watched order (proved absent) is looked up every turn for this many settle windows after the proof,
# so one landing just after recovery is closed at once; older ones only at reconcile (rate budget)
WATCH_YOUNG_SETTLES = 2


class LooseLegs(Protocol):
    """What recovery asks of the stops (hedge/risk.py): a leg left without its hedge, the unplanned result,
    and the price a venue reports for its own liquidation/ADL order."""

    unplanned_pnl: Decimal

    def add_loose_leg(self, venue: str, symbol: str, signed: Decimal, price: Decimal, pair_id: int, why: str,
                      *, unit: Unit) -> None: ...
    def _reported_liquidation(self, venue_key: str, symbol: str, long_leg: bool, base: Decimal
                              ) -> Decimal | None: ...
    def book_lone_fill(self, tag: str, venue: str, symbol: str, signed: Decimal, price: Decimal, unit: Unit,
                       since_ms: int) -> None: ...
    def mark(self, venue: str, symbol: str) -> Decimal | None: ...


class LateRisk(Protocol):
    """What the late orders ask of the stops: a loose leg a late close took, a pair's leg it took (the pair
    booked closed, its hedge leg loose), and the unplanned result."""

    unplanned_pnl: Decimal

    def absorb_late_close(self, venue_key: str, symbol: str, signed: Decimal, price: Decimal, why: str
                          ) -> Decimal: ...
    def book_late_pair_close(self, venue_key: str, symbol: str, signed: Decimal, price: Decimal,
                             fees: Decimal, why: str) -> Decimal: ...
    def mark(self, venue: str, symbol: str) -> Decimal | None: ...


class Recovery:
    """book: the ledger's writer (read through book.ledger, which start replaces); venues: the bound venues
    (App's list, filled at start) and venue_or_none their lookup; positions: the venue positions, the venues
    named counted as the ledger holds them (App.venue_positions); stop_openings: reconcile's hold; top_mid:
    a venue-symbol's mid at a fresh book; count_late_fills and complete_late: the late orders' part (App);
    complete_rehedge: books a loose leg's re-hedge (Rehedger.complete)."""

    def __init__(self, *, book: Book, executor: Executor, coordinator: Coordinator, health: VenueHealth,
                 venues: list[Venue], venue_or_none: Callable[[str], Venue | None],
                 positions: Callable[[frozenset[str]], Positions | None],
                 stop_openings: Callable[..., None], event: Callable[..., None],
                 top_mid: Callable[[str, str], Decimal | None], taker_bps: Callable[[str], Decimal],
                 risk: LooseLegs, count_late_fills: Callable[[], None],
                 complete_late: Callable[[str, list[OrderRecord]], bool],
                 complete_rehedge: Callable[[str, list[OrderRecord]], None] | None = None) -> None:
        self.book = book
        self.executor = executor
        self.coordinator = coordinator
        self.health = health
        self.venues = venues
        self._venue_or_none = venue_or_none
        self.venue_positions = positions
        self.stop_openings = stop_openings  # (reason, suspect venue-symbols): reconcile holds the gate
        self.event = event
        self.top_mid = top_mid
        self.taker_bps = taker_bps
        self.risk = risk
        self.count_late_fills = count_late_fills
        self.complete_late = complete_late
        self.complete_rehedge = complete_rehedge
        self._unpriced: set[tuple[str, str, str]] = set()  # (tag, venue, symbol): a booking waits for a price
        self._unexplained_said: set[str] = set()  # differences the journal does not explain, said once

    @property
    def ledger(self) -> LedgerView:
        return self.book.ledger

    def _venue(self, key: str) -> Venue:
        return bound_venue(self._venue_or_none, key)

    def holds_back(self, key: str) -> bool:
        """A venue back from an outage is recovered (Risk.recover) once no execution in doubt touches it: on
        the venue itself, or on the hedging venue-symbol of one of its pairs (unbooked fills there would read
        as part of what vanished or of what is to be closed). One in doubt elsewhere does not hold the hedge
        of a vanished leg open for as long as that other venue cannot be asked."""
        in_doubt = {(record.venue, record.symbol) for record in self.ledger.orders.values()}
        if any(venue == key for venue, _ in in_doubt):
            return True
        return any((pair.short_venue if pair.long_venue == key else pair.long_venue, pair.symbol) in in_doubt
                   for pair in self.ledger.pairs.values() if key in (pair.long_venue, pair.short_venue))

    def recover_orders(self) -> bool:
        """Finish executions the ledger did not book (a restart, or an outcome that was unknown).

        Each journaled order is settled by client id; if the venue positions then differ from the
        ledger by exactly what those orders filled, an opening's fills are traded back, so the book returns
        to the ledger's hedged state. A reduction (a close, a stop, a loose
        leg's close) is never undone, that would re-open the threatened leg: a close is completed, booked
        for what its legs closed, the lagging leg's rest a loose leg closed reduce-only at the next turns
        (`_complete_close`); a loose leg's close is booked (`_book_loose_fills`). Nothing is re-sent that a
        query has not proved absent. False (openings stay stopped) while an order cannot be settled, the
        positions cannot be read coherently, or the difference has another cause. A reduction's fill that
        has neither an average price reported nor a fresh price is not booked (never at 0): its records stay
        journaled (a restart finds them), its venue-symbols in doubt (Book.hold_unbooked: nothing is sent
        there, no stop closes the pairs it touches), and it is booked at a later turn, cleared in the same
        save.
        """
        self.book.hold_unbooked(self._unbooked_reductions())
        if not self._settle_journal():
            return False
        self.count_late_fills()
        explained, units = self._explained()
        positions = self._positions_for(explained)
        if positions is None:  # openings stay stopped: the journal's venue-symbols hold unbooked fills
            self.stop_openings("an unfinished execution is settled but not booked: the venue positions it is "
                               "booked on cannot be read coherently yet; again at the next turn")
            return False
        if self._unexplained(positions, explained):
            return True  # reconcile names the difference and stops openings
        tag = self._recovery_tag()
        opened, unpriced = self._book_reductions()
        self.book.hold_unbooked(unpriced)
        try:
            for (venue_key_, symbol), amount in sorted(opened.items()):
                if amount != 0 and not self._trade_back(tag, venue_key_, symbol, amount, positions,
                                                        units.get((venue_key_, symbol))):
                    return False  # another node trading there, or not all taken: again at a later turn
        except LegOutcomeUnknown as exc:
            self.stop_openings(str(exc))
            return False
        if unpriced:  # booked at a later turn, from the journal (kept across a restart, cleared when booked)
            for done in sorted({r.tag for r in self.ledger.orders.values()} - unpriced):
                self.book.clear_orders(done)
            self.book.save()
            self.stop_openings(f"{', '.join(sorted(unpriced))}: filled, not booked yet: no average price "
                               "reported and no fresh price known; again at the next turn")
            return False
        self.book.clear_orders()
        self.book.save()
        self.event(f"{tag}: unfinished execution settled; book back to the ledger's hedged state")
        return True

    def _unbooked_reductions(self) -> set[str]:
        """The journal's reductions whose orders all settled and filled something (a process that died before
        booking them, or a booking waiting for a price): nothing else is sent on their venue-symbols until
        they are booked (Book.hold_unbooked). One with an order still in doubt is held by that order."""
        by_tag: dict[str, list[OrderRecord]] = {}
        for record in self.ledger.orders.values():
            if not record.tag.startswith((OPENING_TAG, RECOVERY_TAG)):
                by_tag.setdefault(record.tag, []).append(record)
        return {tag for tag, records in by_tag.items()
                if all(r.terminal for r in records) and any(r.filled for r in records)}

    def _recovery_tag(self) -> str:
        """recover: + the journal's executions' tags; an earlier attempt's own recover: tags are not joined
        in again (each retry refused would double the tag: 2 MB after 17 retries, then out of memory)."""
        tags = {r.tag for r in self.ledger.orders.values()}
        plain = sorted(t for t in tags if not t.startswith(RECOVERY_TAG))
        return RECOVERY_TAG + "+".join(plain) if plain or not tags else min(tags, key=lambda t: (len(t), t))

    def _settle_journal(self) -> bool:
        """Settle each journaled order by client id; False (openings stopped) while one cannot be."""
        for record in list(self.ledger.orders.values()):
            if not record.terminal:
                venue = self._venue_or_none(record.venue)
                if venue is None:
                    self.stop_openings(f"order {record.client_id} on {record.venue}, which is no longer "
                                       "bound, is unsettled; bind it again", {(record.venue, record.symbol)})
                    return False
                record = self.executor.settle(venue, record)
                if not record.terminal:
                    self.stop_openings(f"order {record.client_id} on {record.venue} {record.symbol} is "
                                       f"{record.status.value}: not re-sending until a query settles it",
                                       {(record.venue, record.symbol)})
                    return False
        return True

    def _explained(self) -> tuple[dict[tuple[str, str], Decimal], dict[tuple[str, str], Unit | None]]:
        """What the journaled orders moved per venue-symbol (the difference from the ledger they explain),
        and the unit of each venue-symbol's first order."""
        explained: dict[tuple[str, str], Decimal] = {}
        units: dict[tuple[str, str], Unit | None] = {}
        for record in self.ledger.orders.values():
            key = (record.venue, record.symbol)
            explained[key] = explained.get(key, Decimal(0)) + DIRECTION[record.side] * record.filled
            if record.tag.startswith(LATE_TAG):  # what it was sent to close is on the venue, not the ledger
                explained[key] -= DIRECTION[record.side] * record.qty
            gone = self._vanished_leg(record)
            if gone is not None:  # what it closed on the hedge had vanished on the pair's other venue
                explained[gone] = explained.get(gone, Decimal(0)) - DIRECTION[record.side] * record.filled
            units.setdefault(key, self.coordinator.unit_of_order(record.client_id))
        return explained, units

    def _positions_for(self, explained: dict[tuple[str, str], Decimal]
                       ) -> dict[tuple[str, str], Decimal] | None:
        """The venue positions, on a coherent reading of the shared ledger; None = again at the next turn."""
        # A venue that is out and that no journaled order (nor the gone leg one closed) touches counts with
        # what the ledger says it holds, as in reconcile: else one venue down for hours would hold every
        # reconcile (and the hedge of an ADL on a venue that answers) behind this settlement.
        touched = {key[0] for key in explained}
        out = frozenset(v.key for v in self.venues if v.key not in touched
                        and (not self.health.can_trade(v.key) or v.key in self.health.recovered))
        mark = self.book.refresh() if self.coordinator.shared else None
        positions = self.venue_positions(out)
        if positions is None:
            # Issue #17: a venue on which every journaled order filled nothing (refused, proved absent) holds
            # no unbooked fill: it counts with what the ledger holds there, so an opening whose other leg
            # filled is traded back now instead of staying unhedged for as long as that venue's positions
            # read fails. One landing late after all is on the watch list once the journal is cleared.
            moved = {r.venue for r in self.ledger.orders.values() if r.filled}
            moved |= {key[0] for key, qty in explained.items() if qty}
            idle = frozenset(v.key for v in self.venues if v.key not in moved) - out
            if not idle:
                return None
            positions = self.venue_positions(out | idle)
            if positions is None:
                return None
            self.event(f"recover: {', '.join(sorted(idle))} positions unreadable; the journal filled nothing "
                       "there: counted as the ledger holds them", "warn")
        if self.coordinator.shared and not self.coordinator.stable(mark):
            return None  # another node wrote meanwhile: settle on a coherent reading next turn
        return positions

    def _unexplained(self, positions: dict[tuple[str, str], Decimal],
                     explained: dict[tuple[str, str], Decimal]) -> bool:
        """True when the journal does not explain a venue's difference from the ledger: named, the journal's
        loose-leg closes and settled reductions booked (one waiting for a price is kept:
        `_book_settled_reductions`), the rest of the journal cleared (reconcile takes it from there)."""
        expected = self.ledger.held_positions()  # the pairs and the loose legs
        tolerance = {(v.key, s): spec.base_step / 2 for v in self.venues for s, spec in v.specs.items()}
        keys = set(expected) | set(positions) | set(explained)
        keys -= self.coordinator.busy_keys()
        zero = Decimal(0)
        differs = {key for key in keys if abs(positions.get(key, zero) - expected.get(key, zero)
                                              - explained.get(key, zero)) > tolerance.get(key, zero)}
        for key in keys:
            found, want = positions.get(key, Decimal(0)), expected.get(key, Decimal(0))
            if key in differs:
                text = (f"unfinished execution does not explain {key[0]} {key[1]}: ledger {want:+f}, "
                        f"venue {found:+f}, journaled fills {explained.get(key, Decimal(0)):+f}")
                if text not in self._unexplained_said:  # said once: a reduction kept waits here each turn
                    self._unexplained_said.add(text)
                    self.event(text, "error")
                self._book_explained_loose_closes(differs)
                kept = self._book_settled_reductions()
                for tag in sorted({r.tag for r in self.ledger.orders.values()} - kept):
                    self.book.clear_orders(tag)
                self.book.hold_unbooked(kept)
                self.book.save()
                return True
        return False

    def _book_settled_reductions(self) -> set[str]:
        """Before the journal is dropped over a difference it does not explain: a settled reduction (a close
        or stop, a stop's lone close, a vanished leg's hedge close, a late order's close) is booked by what
        its orders' records say they filled, never dropped: dropped, the ledger kept pairs the venues no
        longer held and a stop closed them again (review of 20cfc03: a close waiting for a price, then any
        difference). One still waiting for a price stays journaled, its venue-symbols held
        (Book.hold_unbooked); returns those tags. Loose legs' closes are booked as before
        (`_book_explained_loose_closes`); a re-hedge is dropped as before."""
        kept: set[str] = set()
        for tag in sorted(self._unbooked_reductions()):
            if tag.endswith(LOOSE_TAG) or tag.startswith(REHEDGE_TAG):
                continue
            records = [r for r in self.ledger.orders.values() if r.tag == tag]
            if self._complete_reduction(tag, records):
                self.book.clear_orders(tag)
            else:
                kept.add(tag)
        return kept

    def _book_reductions(self) -> tuple[dict[tuple[str, str], Decimal], set[str]]:
        """Book the journal's reductions (never undone) and return what its openings filled per
        venue-symbol (the only fills traded back), and the tags of the reductions not booked yet for want
        of a price (they stay journaled: booked at a later turn, or after a restart, from the same records;
        booked and cleared in one save, so never twice)."""
        by_tag: dict[str, list[OrderRecord]] = {}
        for record in self.ledger.orders.values():
            by_tag.setdefault(record.tag, []).append(record)
        opened: dict[tuple[str, str], Decimal] = {}  # what openings filled: the only fills traded back
        unpriced: set[str] = set()
        for exec_tag, records in sorted(by_tag.items()):
            if exec_tag.startswith((OPENING_TAG, RECOVERY_TAG)):  # net of what a turn before traded back
                for record in records:
                    key = (record.venue, record.symbol)
                    opened[key] = opened.get(key, Decimal(0)) + DIRECTION[record.side] * record.filled
            elif not self._complete_reduction(exec_tag, records):
                unpriced.add(exec_tag)
            else:  # booked and forgotten in one save: a later turn (another node busy) must not count it
                self.book.clear_orders(exec_tag)
                self.book.save()
        return opened, unpriced

    def _trade_back(self, tag: str, venue_key: str, symbol: str, amount: Decimal,
                    positions: dict[tuple[str, str], Decimal], unit: Unit | None) -> bool:
        """Trade an opening's unbooked fill back (`_undo_opening`), unless its venue refused a trade-back of
        it: then none is sent again (each would be one more journaled record, refused while the venue
        refuses, and the fill unhedged all the while, issue #17) and the fill is booked as what it did
        there (`_book_refused`). False: not all taken, again at a later turn."""
        if not self._refused_back(venue_key, symbol):
            if self._undo_opening(tag, venue_key, symbol, amount, positions, unit):
                return True
            if not self._refused_back(venue_key, symbol):
                return False
        return self._book_refused(tag, venue_key, symbol, amount, unit)

    def _refused_back(self, venue_key: str, symbol: str) -> bool:
        """A trade-back (or cut) of an opening there settled filling nothing after the venue was asked: it
        answered refusing, or lookups over the settle window proved it absent (one may still land: once
        booked, it is on the watch list, and a landing is booked off the leg it took)."""
        return any(r.tag.startswith(RECOVERY_TAG) and (r.venue, r.symbol) == (venue_key, symbol)
                   and r.terminal and not r.filled
                   and (r.status is OrderStatus.REJECTED or (r.status is OrderStatus.ABSENT and r.misses > 0))
                   for r in self.ledger.orders.values())

    def _book_refused(self, tag: str, venue_key: str, symbol: str, amount: Decimal, unit: Unit | None
                      ) -> bool:
        """Book an opening's fill that its venue refused to trade back as what it did there
        (Risk.book_lone_fill: the opposite pair legs it closed, the rest a loose leg closed reduce-only when
        the venue takes orders and hedged on a venue that trades after outage.max_unhedged_s), and forget
        the records of that venue-symbol's opening and trade-backs in the same write (the trade-backs proved
        absent go on the watch list). At the average price the venue reports for the fills, else a fresh
        price (its own book, its mark, the other venues' mids: Risk.mark), never 0 (PnL and NAV): False,
        nothing booked, while none is known (again at a later turn)."""
        journal = self.ledger.orders.values()
        records = [r for r in journal if (r.venue, r.symbol) == (venue_key, symbol)
                   and r.tag.startswith((OPENING_TAG, RECOVERY_TAG))]
        opening = [r for r in journal if r.tag.startswith(OPENING_TAG) and r.symbol == symbol]
        price = (average_fill(records, amount) or self.top_mid(venue_key, symbol)
                 or self.risk.mark(venue_key, symbol))
        if not price:
            if (tag, venue_key, symbol) not in self._unpriced:  # said once
                self._unpriced.add((tag, venue_key, symbol))
                self.event(f"{tag}: {venue_key} refused the trade-back of {amount:+f} {symbol}; not booked "
                           "yet: no average price reported and no fresh price known (again at the next turn)",
                           "error")
            return False
        since = min((r.sent_ms for r in opening if r.sent_ms), default=0)  # 0: timed from now
        self.risk.book_lone_fill(tag, venue_key, symbol, amount, price,
                                 unit or opening_unit(opening or records, symbol), since)
        for record_tag in sorted({r.tag for r in records}):
            self.book.clear_orders(record_tag, {r.client_id for r in records if r.tag == record_tag})
        self.book.save()
        self.event(f"{tag}: {venue_key} refused the trade-back of {amount:+f} {symbol} (an opening never "
                   "booked): not sent again; booked as what it did there (loose legs closed where they are "
                   "held, hedged on a venue that trades after outage.max_unhedged_s)", "critical")
        return True

    def _undo_opening(self, tag: str, venue_key: str, symbol: str, amount: Decimal,
                      positions: dict[tuple[str, str], Decimal], unit: Unit | None) -> bool:
        """Trade back what an unbooked opening filled: to the ledger's position there (reduce first; an
        opening order only for a leg of another pair the venue nets against it). False: another node is
        trading there now, or the venue did not take all of it (refused, a thin book): the journal stays,
        recovery's own orders net with the opening, and the rest is traded back at a later turn."""
        found = positions.get((venue_key, symbol), Decimal(0))
        self.event(f"{tag}: trading back {amount:+f} {symbol} on {venue_key} (filled by an opening that was "
                   "never booked)", "warn")
        # back by what those orders filled: another node's unbooked fills there (busy) stay
        with self.coordinator.acting(unit):
            fills = self.executor.move_position(self._venue(venue_key), symbol, found, found - amount, tag)
        moved = sum((fill.filled for fill in fills), Decimal(0))
        if fills and moved < abs(amount):
            self.stop_openings(f"{tag}: traded back {moved} of {abs(amount)} {symbol} on {venue_key}; the "
                               "rest again shortly (the journal keeps it)", {(venue_key, symbol)})
        return bool(fills) and moved >= abs(amount)

    def _complete_reduction(self, tag: str, records: list[OrderRecord]) -> bool:
        """Book an unbooked reduction instead of undoing it. False: nothing booked, a fill of it has no price
        yet (`_exit_prices`): again at a later turn."""
        match = CLOSE_TAG.match(tag)
        group = [self.ledger.pairs[int(i)] for i in match.group(1).split("+")
                 if int(i) in self.ledger.pairs] if match else []
        if group:
            return self._complete_close(tag, records, group)
        if tag.endswith(LOOSE_TAG):
            self._book_loose_fills(tag, records)
        elif CLOSE_ALONE_TAG.match(tag):
            return self._complete_alone(tag, records)
        elif (vanished := VANISHED_TAG.match(tag)) and int(vanished.group(1)) in self.ledger.pairs:
            return self._complete_vanished(tag, records, self.ledger.pairs[int(vanished.group(1))])
        elif tag.startswith(LATE_TAG):
            return self.complete_late(tag, records)
        elif tag.startswith(REHEDGE_TAG) and self.complete_rehedge is not None:
            self.complete_rehedge(tag, records)  # a loose leg's hedge on another venue (hedge/rehedge.py)
        elif any(r.filled for r in records):
            self.event(f"recover: {tag} reduced positions and was never booked; not undone (that would "
                       "re-open them): reconcile names any difference", "error")
        return True

    def _exit_prices(self, tag: str, records: list[OrderRecord]) -> dict[str, Decimal] | None:
        """The price each filled record of a reduction is booked at, by client id: the average the venue
        reports for it, else a fresh price of its venue-symbol (its book, its mark, the other venues' mids:
        Risk.mark), never 0 (a 0 books the whole exit value as a loss or gain: realized PnL and unit NAV).
        None while one has neither (said once): nothing of the reduction is booked, its records stay
        journaled and it is booked at a later turn."""
        prices: dict[str, Decimal] = {}
        for record in records:
            if record.filled:
                price = record.avg_price or self.top_mid(record.venue, record.symbol) or self.risk.mark(
                    record.venue, record.symbol)
                if not price:
                    if (tag, record.venue, record.symbol) not in self._unpriced:  # said once
                        self._unpriced.add((tag, record.venue, record.symbol))
                        self.event(f"recover {tag}: {record.venue} {record.symbol} filled {record.filled}, "
                                   "not booked yet: no average price reported and no fresh price known "
                                   "(again at the next turn)", "error")
                    return None
                prices[record.client_id] = price
        return prices

    def _complete_close(self, tag: str, records: list[OrderRecord], group: list[HedgePair]) -> bool:
        """A close (or stop) whose legs were not booked: the pairs are closed by what the leading leg closed;
        what the lagging leg has not closed of that is a loose leg there, closed reduce-only next. False:
        a fill has no price yet (`_exit_prices`), nothing booked."""
        first = group[0]
        symbol, long_key, short_key = first.symbol, first.long_venue, first.short_venue
        prices = self._exit_prices(tag, [r for r in records if r.venue in (long_key, short_key)
                                         and r.symbol == symbol])
        if prices is None:
            return False
        closed = {long_key: Decimal(0), short_key: Decimal(0)}
        cost = dict(closed)
        fees = Decimal(0)
        for record in records:
            if record.venue not in closed or record.symbol != symbol or not record.filled:
                continue
            toward = -1 if record.venue == long_key else 1  # closing moves a long down, a short up
            price = prices[record.client_id]
            moved = DIRECTION[record.side] * record.filled * toward  # negative for an undo
            closed[record.venue] += moved
            cost[record.venue] += moved * price
            fees += record.filled * price * self.taker_bps(record.venue) / 10_000
        long_venue, short_venue = self._venue(long_key), self._venue(short_key)
        step = common_base_step(long_venue.specs[symbol], short_venue.specs[symbol])
        total = sum((p.qty for p in group), Decimal(0))
        done = min(ceil_to_step(max(closed.values()), step), total)
        if done <= 0:
            return True
        exits = []
        for key, sign, entry in ((long_key, 1, first.long_price), (short_key, -1, first.short_price)):
            filled = max(closed[key], Decimal(0))
            estimate = self.top_mid(key, symbol) or entry
            price = cost[key] / filled if filled else estimate
            loose = done - filled
            if loose > 0:
                price = (filled * price + loose * estimate) / done
                self.risk.add_loose_leg(key, symbol, sign * loose, estimate, first.id,
                                        f"recover {tag}: completing the close, {key} closed {filled} of "
                                        f"{done}",
                                        unit=Unit.of(symbol, long_key, short_key))
            exits.append(price)
        pnl, left = Decimal(0), done
        for pair in sorted(group, key=lambda p: p.id):
            part = min(pair.qty, left)
            if part <= 0:
                break
            pnl += self.book.record_close(pair.id, qty=part, long_exit=exits[0], short_exit=exits[1],
                                          fees=fees * part / done)
            left -= part
        self.event(f"recover {tag}: close completed, not undone: pairs "
                   f"{', '.join(f'#{p.id}' for p in group)} {symbol} {done} booked (long {long_key} "
                   f"{exits[0]:.10g}, short {short_key} {exits[1]:.10g}); pnl {pnl:+.2f} USDT", "warn")
        return True

    def _complete_alone(self, tag: str, records: list[OrderRecord]) -> bool:
        """A stop that closed the threatened leg alone (its hedge's venue could not trade) and was not
        booked: book it as the stop would have, the pairs closed oldest first and each hedge leg a loose leg
        on its venue, closed reduce-only when that venue can trade (at once: never held unhedged for want
        of a price). A fill with neither an average price reported nor a fresh price is booked at its leg's
        entry price, never at 0, its result pending (Book.add_pending, Risk.price_pending), as
        Risk._close_alone_locked does."""
        for record in records:
            if not record.filled or record.side not in CLOSING:
                continue
            long_leg, symbol = record.side == "closebuy", record.symbol
            sign = 1 if long_leg else -1
            exit_price = (record.avg_price or self.top_mid(record.venue, symbol)
                          or self.risk.mark(record.venue, symbol))
            left, entries = record.filled, Decimal(0)
            held = self.book.held_pairs()  # closed by another execution waiting for its booking: not this
            for pair in sorted((p for p in self.ledger.pairs.values() if p.symbol == symbol
                                and p.id not in held
                                and (p.long_venue if long_leg else p.short_venue) == record.venue),
                               key=lambda p: p.id):
                part = min(pair.qty, left)
                if part <= 0:
                    break
                other = pair.short_venue if long_leg else pair.long_venue
                own = exit_price or (pair.long_price if long_leg else pair.short_price)
                estimate = self.top_mid(other, symbol) or (pair.short_price if long_leg else pair.long_price)
                long_exit, short_exit = (own, estimate) if long_leg else (estimate, own)
                self.book.record_close(pair.id, qty=part, long_exit=long_exit, short_exit=short_exit,
                                       fees=part * own * self.taker_bps(record.venue) / 10_000)
                self.risk.add_loose_leg(other, symbol, -sign * part, estimate, pair.id,
                                        f"recover {tag}: the stop closed {record.venue}'s leg alone, booked",
                                        unit=Unit.of_pair(pair))
                left -= part
                entries += part * own
            booked = record.filled - left
            if not exit_price and booked > 0:
                self.book.add_pending(replace(record, filled=booked, price=entries / booked))
                self.event(f"recover {tag}: {record.venue} {symbol} filled {booked}, no average price "
                           "reported and no fresh price known: booked at its entry price, its result once a "
                           "price is known", "error")
        return True

    def _vanished_leg(self, record: OrderRecord) -> tuple[str, str] | None:
        """(venue, symbol) of the gone leg whose hedge `record` closed (tag recover#<pair id>), else None."""
        match = VANISHED_TAG.match(record.tag)
        pair = self.ledger.pairs.get(int(match.group(1))) if match else None
        if pair is None or record.venue not in (pair.long_venue, pair.short_venue):
            return None
        return (pair.short_venue if record.venue == pair.long_venue else pair.long_venue), pair.symbol

    def _complete_vanished(self, tag: str, records: list[OrderRecord], pair: HedgePair) -> bool:
        """Risk._close_vanished closed the hedge of a pair whose other leg had vanished, and the process died
        before booking it: book the pair closed for what those orders closed, the gone leg at the price its
        venue reports for its liquidation/ADL order, else at its entry price (no result, as _vanished).
        False: a fill has no price yet (`_exit_prices`), nothing booked."""
        hedge = [r for r in records if r.side in CLOSING and r.filled and r.symbol == pair.symbol
                 and r.venue in (pair.long_venue, pair.short_venue)]
        closed = sum((r.filled for r in hedge), Decimal(0))
        part = min(closed, pair.qty)
        if part <= 0:
            return True
        prices = self._exit_prices(tag, hedge)
        if prices is None:
            return False
        long_hedge = hedge[0].venue == pair.long_venue
        exit_price = sum((r.filled * prices[r.client_id] for r in hedge), Decimal(0)) / closed
        fees = closed * exit_price * self.taker_bps(hedge[0].venue) / 10_000
        gone_key = pair.short_venue if long_hedge else pair.long_venue
        liq = self.risk._reported_liquidation(gone_key, pair.symbol, not long_hedge, part)
        gone_at = liq if liq is not None else (pair.short_price if long_hedge else pair.long_price)
        long_exit, short_exit = (exit_price, gone_at) if long_hedge else (gone_at, exit_price)
        pnl = self.book.record_close(pair.id, qty=part, long_exit=long_exit, short_exit=short_exit,
                                     fees=fees)
        self.risk.unplanned_pnl += pnl
        self.event(f"recover {tag}: the hedge of pair #{pair.id}'s vanished {gone_key} leg was closed, not "
                   f"booked: {pair.symbol} {part} booked ({hedge[0].venue} at {exit_price:.10g}, {gone_key} "
                   f"gone at {'its entry price, UNKNOWN' if liq is None else f'{liq:.2f}'}); pnl {pnl:+.2f} "
                   "USDT, not undone", "warn")
        return True

    def _book_explained_loose_closes(self, differs: set[tuple[str, str]]) -> None:
        """Before the journal is dropped over a difference it does not explain: a loose leg's close whose
        fills are on a position the journal does explain is booked off its loose leg (else the leg stays
        overstated by fills the venue made, and what it no longer holds is later called liquidated)."""
        by_tag: dict[str, list[OrderRecord]] = {}
        for record in self.ledger.orders.values():
            if record.tag.endswith(LOOSE_TAG) and (record.venue, record.symbol) not in differs:
                by_tag.setdefault(record.tag, []).append(record)
        for tag, records in sorted(by_tag.items()):
            self._book_loose_fills(tag, records)

    def _book_loose_fills(self, tag: str, records: list[OrderRecord]) -> None:
        """A loose leg's reduce-only close that was not booked: take it off the loose legs it reduced."""
        for record in records:
            signed = DIRECTION[record.side] * record.filled
            for leg in [leg for leg in self.ledger.loose.values()
                        if (leg.venue, leg.symbol) == (record.venue, record.symbol) and leg.qty * signed < 0]:
                if signed == 0:
                    break
                part = -leg.qty if abs(leg.qty) <= abs(signed) else signed
                price = record.avg_price or leg.price
                fees = abs(part) * price * self.taker_bps(record.venue) / 10_000
                pnl = -part * (price - leg.price) - fees
                self.book.set_loose(leg, leg.qty + part)
                self.book.book_result(pnl, fees)
                self.risk.unplanned_pnl += pnl
                signed -= part
                self.event(f"recover {tag}: loose leg {leg.symbol} on {leg.venue} closed {part:+f} at "
                           f"{price}, booked, not undone: unplanned {pnl:+.2f} USDT", "warn")


class LateOrders:
    """Orders of ours that reached their venue late: timed out, proved absent by the settle window's lookups,
    then placed after all (the journal keeps them on a watch list, hedge/ledger.py). Reconcile asks it to
    close what one added (`close_late_fills`), recovery to count one in its execution (`count_late_fills`)
    and to book the close of one whose outcome was unknown (`complete_late`); each turn `young_landed` looks
    up the ones proved absent lately, so one landing is closed at once.

    book: the ledger's writer; venue_or_none: a bound venue by key; now_ms: the turn's clock; stop_openings:
    reconcile's hold; risk: the stops (a late close that took a pair's leg: the pair closed, its hedge loose);
    top_mid: a venue-symbol's mid at a fresh book; taker_bps: a venue's taker fee; net_rehedge: books a loose
    leg's re-hedge that closed pair legs it netted with, landed late (Rehedger.net_late_close)."""

    def __init__(self, *, book: Book, executor: Executor, coordinator: Coordinator, health: VenueHealth,
                 venue_or_none: Callable[[str], Venue | None], now_ms: Callable[[], int],
                 stop_openings: Callable[..., None], event: Callable[..., None], risk: LateRisk,
                 top_mid: Callable[[str, str], Decimal | None], taker_bps: Callable[[str], Decimal],
                 net_rehedge: Callable[[OrderRecord, Decimal, Decimal], Decimal] | None = None) -> None:
        self.book = book
        self.net_rehedge = net_rehedge
        self.executor = executor
        self.coordinator = coordinator
        self.health = health
        self._venue_or_none = venue_or_none
        self._now_ms = now_ms
        self.stop_openings = stop_openings
        self.event = event
        self.risk = risk
        self.top_mid = top_mid
        self.taker_bps = taker_bps
        self._watch_landed: set[str] = set()  # young watched orders seen landed: reconcile brought forward
        self._blind_refused: set[str] = set()  # late orders not closed blind (again): left to reconcile
        self._unpriced: set[str] = set()  # late closes filled, waiting for a price to be booked (said once)

    @property
    def now_ms(self) -> int:
        return self._now_ms()

    @property
    def ledger(self) -> LedgerView:
        return self.book.ledger

    def young_landed(self) -> bool:
        """Watched orders proved absent less than WATCH_YOUNG_SETTLES settle windows ago are looked up every
        turn (one list query per venue and symbol), older ones only at reconcile: True when one of them now
        shows a fill it has not yet triggered a reconcile for (reconcile closes and books it, once)."""
        young: dict[tuple[str, str], dict[str, OrderRecord]] = {}
        for cid, record in self.ledger.watch.items():
            settle_ms = self.executor.settle_ms(record.venue)
            proved_ms = record.sent_ms + settle_ms  # the last lookup of the settle window proved it absent
            if self.now_ms < proved_ms + WATCH_YOUNG_SETTLES * settle_ms and cid not in self._watch_landed:
                young.setdefault((record.venue, record.symbol), {})[cid] = record
        landed = False
        for (key, symbol), records in sorted(young.items()):
            venue = self._venue_or_none(key)
            if venue is None or not self.health.can_send(key):
                continue
            for cid, (filled, _price) in self.executor.late_fills(venue, symbol, records).items():
                if filled:
                    self._watch_landed.add(cid)
                    landed = True
        return landed

    def close_late_fills(self, mismatches: list[PositionMismatch]) -> bool:
        """A venue position differs from the ledger, and one of our own timed-out orders, proved absent,
        shows there after all (it reached the matching engine late). An opening that added to a leg: close
        what it added, reduce-only and never across zero, and book the round trip. A close that took part
        of a pair's leg: book the pairs closed at its price, their hedge legs loose legs closed reduce-only
        (Risk.book_late_pair_close). True when something was closed."""
        closed = False
        for mismatch in mismatches:
            outcome = self._close_mismatch(mismatch)
            if outcome is None:
                return True  # a close whose outcome is unknown: openings stopped, recovery settles it
            closed = closed or outcome
        return closed

    def _close_mismatch(self, mismatch: PositionMismatch) -> bool | None:
        """Close what the late orders watched on the mismatch's venue-symbol explain of its excess. True when
        something was closed; None when a close's outcome is unknown (openings are stopped)."""
        excess = mismatch.found - mismatch.expected
        venue = self._venue_or_none(mismatch.venue)
        if venue is None or not self.health.can_trade(venue.key):
            return False
        watched = {cid: r for cid, r in self.ledger.watch.items()
                   if (r.venue, r.symbol) == (mismatch.venue, mismatch.symbol)}
        shown = self.executor.late_fills(venue, mismatch.symbol, watched) if watched else {}
        held_back, pending = self._late_closes_in_horizon(venue.key, watched, shown)
        if pending >= abs(excess):
            return False  # closes proved absent may still reach the venue and take it all: never sent twice
        excess -= pending if excess > 0 else -pending
        closed = False
        for cid, record in watched.items():
            late = shown.get(cid)
            if self._late_left_alone(cid, record, held_back) or late is None or not late[0]:
                continue
            signed = DIRECTION[record.side] * late[0]
            if signed * excess <= 0:
                continue  # not a difference it explains
            amount = min(abs(signed), abs(excess))
            if record.side in CLOSING:  # a late close took a pair's leg: the pair closed, its hedge loose
                done = self._hedge_late_close(venue, record, amount, signed, late[1])
            else:
                sent = self._close_late_addition(venue, cid, record, amount, late[1])
                if sent is None:
                    return None
                amount, done = sent
            if not done:
                continue  # again next time
            if done >= amount:  # a part closed (a thin book): the rest at the next reading, same order
                self.book.unwatch(cid)
                self.book.save()
            closed, excess = True, excess - (done if signed > 0 else -done)
        return closed

    def close_blind_late_fills(self) -> bool:
        """Issue #17: a watched opening order that the venue's order lookups show filled (it landed late)
        while that venue's positions cannot be read. Reconcile waits for every position read before it closes
        one (`close_late_fills`), and recovery may have traded the other leg back already (a venue whose
        journaled orders filled nothing counts as the ledger holds it): the fill would stay unbooked and
        unhedged for the whole failed read. Closed here as the order lookups measure it, once, reduce-only
        (closebuy / closesell cannot open or flip), and booked as a late round trip, so ledger and venue agree
        when the positions read again. Only where the ledger holds nothing there or a leg of the fill's sign
        (the venue then holds at least the fill beyond the ledger), and no close of a late order there may
        still land, and only a landing this process can have counted in no position it read: its last read of
        that venue-symbol's positions more than READ_MARGIN_MS before the landing by the venue's clock
        (Executor.unread_since; a fill that landed inside another order's settle window was measured as that
        order's fill by the position change, and closing it again would unhedge the pair). True when something
        was closed or a close is in doubt. A watched close that landed there meanwhile is booked from the
        lookups too (`_book_blind_closes`). Never in a cluster (as `_book_blind_closes`): unread_since knows
        this node's reads only, and another node's read (its execution on that venue-symbol measuring a fill
        by the position change) may have counted the landing; reconcile closes it against the positions once
        they read (`close_late_fills`)."""
        if self.coordinator.shared:
            self._blind_in_cluster()
            return False
        closed = self._book_blind_closes()
        keys = sorted({(r.venue, r.symbol) for r in self.ledger.watch.values()
                       if not r.tag.startswith(LATE_TAG) and r.side not in CLOSING})
        for key, symbol in keys:
            venue = self._unreadable(key, symbol)
            if venue is None:
                continue
            watched = {cid: r for cid, r in self.ledger.watch.items() if (r.venue, r.symbol) == (key, symbol)}
            landings = self.executor.late_landings(venue, symbol, watched)
            shown = {cid: (filled, price) for cid, (filled, price, _ms) in landings.items()}
            held_back, pending = self._late_closes_in_horizon(key, watched, shown)
            if pending:
                continue  # a close proved absent may still land and take it: never sent twice
            for cid, record in sorted(watched.items()):
                late = shown.get(cid)
                if (self._late_left_alone(cid, record, held_back) or record.side in CLOSING or late is None
                        or not late[0] or cid in self._blind_refused):
                    continue
                if not self.executor.unread_since(key, symbol, landings[cid][2]):
                    self._read_after_landing(venue.key, cid, record, late[0])
                    continue
                outcome = self._close_blind(venue, cid, record, DIRECTION[record.side] * late[0], late[1])
                if outcome is None:
                    return True
                closed = closed or outcome
        return closed

    def _blind_in_cluster(self) -> None:
        """Said once per watched opening: in a cluster its landing is not closed blind."""
        for cid, record in sorted(self.ledger.watch.items()):
            if (cid not in self._blind_refused and not record.tag.startswith(LATE_TAG)
                    and record.side not in CLOSING and self._unreadable(record.venue, record.symbol)):
                self._blind_refused.add(cid)
                self.event(f"{LATE_TAG}{cid}: {record.venue} {record.symbol} positions unreadable: a landing "
                           "of this watched order is not closed blind in a cluster (another node's positions "
                           "read may have counted it); reconcile closes what the positions show once they "
                           "read", "warn")

    def _read_after_landing(self, key: str, cid: str, record: OrderRecord, filled: Decimal) -> None:
        """A late order's fill that a positions read of ours may hold (read after it landed, or its landing
        time unknown) is not closed blind: said once, left to reconcile, which closes what the read
        positions show beyond the ledger."""
        self._blind_refused.add(cid)
        self.event(f"{LATE_TAG}{cid}: {DIRECTION[record.side] * filled:+f} {record.symbol} reached {key} "
                   "late, before a positions read of ours that may have counted it (as another order's fill):"
                   " not closed blind; reconcile closes what the positions show once they read", "warn")

    def _unreadable(self, key: str, symbol: str) -> Venue | None:
        """The venue, when it takes orders but its positions in symbol cannot be read now; else None (read:
        reconcile closes a late fill against the position once every venue reads)."""
        venue = self._venue_or_none(key)
        if venue is None or not self.health.can_send(key):
            return None
        if not self.health.is_out(key, ACCOUNT) and self.executor.position(venue, symbol) is not None:
            return None
        return venue

    def _book_blind_closes(self) -> bool:
        """Issue #17: a watched close of ours (a stop's close or top-up, proved absent) that the venue's
        order lookups show landed while its positions cannot be read is booked as `close_late_fills` books
        it (this node's loose leg there first, the rest the close of the pairs' legs it was, their hedge
        legs loose), by what the venue's own record of the order says it filled, and leaves the watch list
        at once: no later look (reconcile's, Risk's) books it again. Only where this process alone could
        have counted that landing (no cluster) and read the venue-symbol's positions last before it landed
        by the venue's clock (Executor.unread_since): a position change measured as another order's fill,
        or laid on a pair as vanished, needs a read after the landing. True when something was booked."""
        if self.coordinator.shared:
            return False
        keys = sorted({(r.venue, r.symbol) for r in self.ledger.watch.values()
                       if not r.tag.startswith(LATE_TAG) and r.side in CLOSING})
        booked = False
        for key, symbol in keys:
            doubted = any((r.venue, r.symbol) == (key, symbol) for r in self.ledger.orders.values())
            venue = None if doubted else self._unreadable(key, symbol)
            if venue is None:
                continue
            watched = {cid: r for cid, r in self.ledger.watch.items() if (r.venue, r.symbol) == (key, symbol)
                       and not r.tag.startswith(LATE_TAG) and r.side in CLOSING}
            for cid, (filled, price, landed_ms) in sorted(self.executor.late_landings(venue, symbol,
                                                                                      watched).items()):
                if not filled or not price or not self.executor.unread_since(key, symbol, landed_ms):
                    continue
                record = watched[cid]
                self._hedge_late_close(venue, record, filled, DIRECTION[record.side] * filled, price)
                self.book.unwatch(cid)
                self.book.save()
                booked = True
        return booked

    def _close_blind(self, venue: Venue, cid: str, record: OrderRecord, signed: Decimal, entry: Decimal
                     ) -> bool | None:
        """One reduce-only close of what the late order filled on a venue that cannot be read; None when its
        outcome is unknown (openings stopped, journaled: recovery settles and books it, `complete_late`)."""
        symbol = record.symbol
        held = self.ledger.held_positions().get((venue.key, symbol), Decimal(0))
        if held * signed < 0:
            self.event(f"{LATE_TAG}{cid}: {signed:+f} {symbol} reached {venue.key} late, its positions are "
                       f"unreadable and the ledger holds {held:+f} there: closed once they read", "warn")
            self._blind_refused.add(cid)  # said once; reconcile closes it against the read position
            return False
        amount = floor_to_step(abs(signed), venue.specs[symbol].base_step)
        if not amount:
            return False
        side = "closebuy" if signed > 0 else "closesell"
        tag = LATE_TAG + cid
        try:
            with self.coordinator.acting(self.coordinator.unit_of_order(cid)):
                fill = self.executor.close_reduce_only(venue, symbol, side, amount, tag)
        except LegOutcomeUnknown as exc:
            self.stop_openings(str(exc), {(venue.key, symbol)})
            return None
        exit_price = self._fresh(venue.key, symbol, fill.avg_price) if fill.filled else Decimal(0)
        if fill.filled and not exit_price:
            self._defer_blind(venue.key, cid, tag, fill.filled, amount)
        else:
            self.book.clear_orders(tag)
        if exit_price:
            fees = fill.fees or fill.filled * exit_price * self.taker_bps(venue.key) / 10_000
            self._book_late(record, venue.key, fill.filled, exit_price, entry, fees)
            self.book.unwatch(cid)  # once: a reduce-only close sized from the lookups is never sent twice
            if fill.filled < amount:
                self.event(f"{LATE_TAG}{cid}: closed {fill.filled} of {amount} {symbol} on {venue.key} "
                           "blind; the rest is named by reconcile once the positions read", "error")
        elif not fill.filled and fill.client_ids:  # refused or nothing taken: it holds less than shown
            self._blind_refused.add(cid)
            self.event(f"{LATE_TAG}{cid}: a reduce-only close of {amount} {symbol} on {venue.key} filled "
                       "nothing: not sent again blind, closed once the positions read", "error")
        self.book.save()
        return bool(fill.filled)

    def _defer_blind(self, key: str, cid: str, tag: str, filled: Decimal, amount: Decimal) -> None:
        """A blind close filled with no average price reported and no fresh price known: not booked now
        (never at 0). Its record stays journaled (kept across a restart): recovery books it once the
        positions read and a price is known (`complete_late`, which clears it in the same save: once), and
        holds reconcile, so nothing closes the late order again meanwhile (nor here: `_blind_refused`). The
        late order stays watched for its own fill price, and leaves the watch list when its close is booked
        (all of it) or now (a part: as when booked at once, it is never closed blind twice)."""
        self._blind_refused.add(cid)
        self.book.hold_unbooked(self.book.unbooked | {tag})
        if filled < amount:
            self.book.unwatch(cid)
        self._wait_price(tag, key, filled)

    def _late_left_alone(self, cid: str, record: OrderRecord, held_back: set[str]) -> bool:
        """A watched order whose fills are not closed here: its close landed or may still land, or it is a
        late order's own close (booked against it by book_landed_late_closes)."""
        if cid in held_back:
            return True  # its close landed or may still land: never closed twice
        return record.tag.startswith(LATE_TAG) and record.tag[len(LATE_TAG):] in self.ledger.watch

    def _hedge_late_close(self, venue: Venue, record: OrderRecord, amount: Decimal, signed: Decimal,
                          price: Decimal) -> Decimal:
        """A late close took `amount` of a pair's leg: absorbed by this node's loose leg there (the close it
        was sent for), then, a loose leg's re-hedge that nets, booked as one (`net_rehedge`: the pair's far
        leg hedges the loose leg), the rest booked as the close of the pairs' legs it was (a stop's top-up,
        a stop re-fired while its first close was on its way: `book_late_pair_close`, the hedge legs loose),
        never as a vanished leg. Returns the base the held position moved."""
        key = (venue.key, record.symbol)
        held = self.ledger.held_positions().get(key, Decimal(0))
        why = f"our order {record.client_id} ({record.tag}) that reached {venue.key} late"
        moved = amount if signed > 0 else -amount
        loose = self.risk.absorb_late_close(venue.key, record.symbol, moved, price, why)
        if amount > loose and self.net_rehedge is not None and record.tag.startswith(REHEDGE_TAG):
            loose += self.net_rehedge(record, amount - loose, price)
        if amount > loose:
            rest = amount - loose
            fees = rest * price * self.taker_bps(venue.key) / 10_000
            self.risk.book_late_pair_close(venue.key, record.symbol, rest if signed > 0 else -rest, price,
                                           fees, why)
        return abs(held - self.ledger.held_positions().get(key, Decimal(0)))

    def _close_late_addition(self, venue: Venue, cid: str, record: OrderRecord, amount: Decimal,
                             entry: Decimal) -> tuple[Decimal, Decimal] | None:
        """A late opening added `amount`: close its whole amount steps. Returns (the amount sent, the base
        closed); None when the close's outcome is unknown (openings stopped)."""
        # The difference may be off this venue's grid (a vanished leg's hedge closed on a finer
        # grid elsewhere): only whole amount steps are sent, the rest is dust, named by reconcile.
        step = venue.specs[record.symbol].base_step
        amount, dust = floor_to_step(amount, step), amount - floor_to_step(amount, step)
        if dust:
            self.event(f"{LATE_TAG}{cid}: {dust} {record.symbol} of what it added on {venue.key} "
                       f"is below the amount step {step} there: dust, not sent", "error")
        if not amount:
            self.book.unwatch(cid)
            self.book.save()
            return amount, Decimal(0)
        try:
            return amount, self._close_late_fill(venue, record, amount, entry)
        except LegOutcomeUnknown as exc:  # the close is journaled: recovery settles and books it
            self.stop_openings(str(exc), {(venue.key, record.symbol)})
            return None

    def book_landed_late_closes(self) -> None:
        """A `late:` close proved absent that its venue lists after all (it landed late, as the late order
        it closes did) is booked against that order as recovery books one it settled (`complete_late`), and
        leaves the watch list; the late order too once the close took all it was sent for. Before, both
        stayed watched, and the late order later explained another excess of its sign there, closed and
        booked under its id while the order that made it stayed watched (chaos default seed 10). Only while
        the late order is watched: a close landing after another close took its excess over-closed a pair's
        leg, which `close_late_fills` hedges. Read before the positions, so a close listed is in the
        position read after."""
        closes: dict[tuple[str, str], dict[str, OrderRecord]] = {}
        for cid, record in self.ledger.watch.items():
            if record.tag.startswith(LATE_TAG) and record.tag[len(LATE_TAG):] in self.ledger.watch:
                closes.setdefault((record.venue, record.symbol), {})[cid] = record
        for (key, symbol), records in sorted(closes.items()):
            venue = self._venue_or_none(key)
            if venue is None or not self.health.can_trade(key):
                continue
            shown = self.executor.late_fills(venue, symbol, records)
            landed = sorted((records[cid].sent_ms, cid) for cid, (filled, _price) in shown.items() if filled)
            for _sent_ms, cid in landed:
                record = records[cid]
                if record.tag[len(LATE_TAG):] not in self.ledger.watch:
                    continue  # an earlier close took all of it: this one over-closed (close_late_fills)
                filled, price = shown[cid]
                if self.complete_late(record.tag, [replace(record, filled=filled, avg_price=price)]):
                    self.book.unwatch(cid)  # else still watched: booked from its venue record later
            if landed:
                self.book.save()

    def _late_closes_in_horizon(self, venue_key: str, watched: dict[str, OrderRecord],
                                shown: dict[str, tuple[Decimal, Decimal]]) -> tuple[set[str], Decimal]:
        """The closes of late orders sent there less than LATE_LANDING_SETTLES settle windows ago (each may
        land as its original did): the late orders they were sent for (not closed again meanwhile), and the
        base those not yet seen landed may still take off the position (a difference beyond it is closed)."""
        horizon = LATE_LANDING_SETTLES * self.executor.settle_ms(venue_key)
        young = {cid: r for cid, r in watched.items()
                 if r.tag.startswith(LATE_TAG) and self.now_ms < r.sent_ms + horizon}
        pending = sum((r.qty for cid, r in young.items() if not shown.get(cid, (Decimal(0),))[0]), Decimal(0))
        return {r.tag[len(LATE_TAG):] for r in young.values()}, pending

    def _close_late_fill(self, venue: Venue, record: OrderRecord, amount: Decimal, entry: Decimal) -> Decimal:
        """Close `amount` of what the late order added, reduce-only; returns the base closed (and booked).
        A close whose outcome is unknown stays journaled (LegOutcomeUnknown): recovery books it
        (`complete_late`)."""
        symbol, sign = record.symbol, DIRECTION[record.side]
        current = self.executor.position(venue, symbol)
        if current is None or current * sign <= 0:
            return Decimal(0)
        amount = min(amount, abs(current))  # reduce-only: never across zero
        tag = LATE_TAG + record.client_id
        with self.coordinator.acting(self.coordinator.unit_of_order(record.client_id)):
            fills = self.executor.move_position(venue, symbol, current, current - sign * amount, tag)
        self.book.clear_orders(tag)
        moved = sum((f.filled for f in fills), Decimal(0))
        if moved:
            self._book_late(record, venue.key, moved, fills[0].avg_price, entry,
                            sum((f.fees for f in fills), Decimal(0)))
        self.book.save()
        return moved

    def complete_late(self, tag: str, records: list[OrderRecord]) -> bool:
        """The close of a late order whose outcome was unknown, settled by recovery: booked as
        `_close_late_fill` books it, and the late order leaves the watch list once the close took all it was
        sent for (else the rest is closed at the next reading, as after a partial close). At the average
        price the venue reports for the close, else a fresh price (`_fresh`), never 0: False, nothing
        booked, while a fill has neither (again at a later turn; the caller keeps the record)."""
        late = self.ledger.watch.get(tag[len(LATE_TAG):])
        prices = {r.client_id: self._fresh(r.venue, r.symbol, r.avg_price) for r in records if r.filled}
        unpriced = [r for r in records if r.filled and not prices[r.client_id]]
        if unpriced:
            self._wait_price(tag, unpriced[0].venue, unpriced[0].filled)
            return False
        for record in records:
            venue = self._venue_or_none(record.venue)
            if not record.filled or venue is None:
                continue
            if late is None:  # no longer watched (the oldest are dropped): what it closed is still booked
                late = replace(record, side=UNDO[record.side], client_id=tag[len(LATE_TAG):])
            entry = self.executor.late_fills(venue, record.symbol, {late.client_id: late}).get(
                late.client_id, (Decimal(0), Decimal(0)))[1]
            price = prices[record.client_id]
            fees = record.filled * price * self.taker_bps(record.venue) / 10_000
            self._book_late(late, record.venue, record.filled, price, entry, fees)
            if record.filled >= record.qty:
                self.book.unwatch(late.client_id)
        return True

    def _fresh(self, venue_key: str, symbol: str, reported: Decimal) -> Decimal:
        """The price a late order's close is booked at: the average the venue reports, else a fresh price
        (its book, its mark, the other venues' mids: Risk.mark); 0 when neither is known (then nothing is
        booked: a 0 books the whole exit value as a result, realized PnL and unit NAV)."""
        return reported or self.top_mid(venue_key, symbol) or self.risk.mark(venue_key, symbol) or Decimal(0)

    def _wait_price(self, tag: str, venue_key: str, filled: Decimal) -> None:
        """Said once: a late order's close filled and is not booked yet for want of a price."""
        if tag not in self._unpriced:
            self._unpriced.add(tag)
            self.event(f"{tag}: its close filled {filled} on {venue_key}, not booked yet: no average price "
                       "reported and no fresh price known; booked from its order record at a later turn",
                       "error")

    def _book_late(self, late: OrderRecord, venue_key: str, moved: Decimal, exit_price: Decimal,
                   entry: Decimal, close_fees: Decimal) -> None:
        """Book the round trip of `moved` base a late order added and its reduce-only close took back."""
        sign = DIRECTION[late.side]
        exit_price = exit_price or entry
        entry = entry or exit_price
        fees = close_fees + moved * entry * self.taker_bps(venue_key) / 10_000
        pnl = sign * moved * (exit_price - entry) - fees
        self.book.book_result(pnl, fees)
        self.risk.unplanned_pnl += pnl
        self.event(f"{LATE_TAG}{late.client_id}: order {late.client_id} ({late.tag}, proved absent after a "
                   f"timeout) reached {venue_key} late: {sign * moved:+f} {late.symbol} at {entry} closed "
                   f"reduce-only at {exit_price}: unplanned {pnl:+.2f} USDT", "critical")

    def count_late_fills(self) -> None:
        """A journaled order proved absent that the venue lists after all (it reached the matching engine
        late) filled what the list says: recovery counts it like any other fill, so its opening is traded
        back whole, and it leaves the journal unwatched (Ledger.clear_orders): reconcile never closes it
        again. Read before the positions, so a fill the list shows is in the position read after it."""
        absent: dict[tuple[str, str], dict[str, OrderRecord]] = {}
        for cid, record in self.ledger.orders.items():
            if record.status is OrderStatus.ABSENT and record.misses:
                absent.setdefault((record.venue, record.symbol), {})[cid] = record
        for (key, symbol), records in sorted(absent.items()):
            venue = self._venue_or_none(key)
            if venue is None:
                continue
            for cid, (filled, price) in sorted(self.executor.late_fills(venue, symbol, records).items()):
                record = records[cid]
                if filled > record.filled:
                    self.book.journal(replace(record, filled=filled, avg_price=price))
                    self.book.save()
                    self.event(f"recover: order {cid} ({record.tag}), proved absent, reached {key} late and "
                               f"filled {filled} {symbol}: counted with its execution", "warn")
