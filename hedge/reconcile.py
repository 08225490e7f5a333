"""Reconciliation: venue positions are the truth, the ledger is compared with them.

At start, every status interval, and every 30 s while openings are stopped, `Reconciler.reconcile` reads
every venue's positions (after recovery settled any unfinished execution, hedge/recovery.py) and compares
them with the ledger's pairs and loose legs. A difference that a late order of ours explains is closed
(App's late-order part), one the venue made itself (its own liquidation or ADL order in its history) is
hedged and booked (Risk._vanished), and anything else is named and stops openings: reconcile holds the
trading gate at REDUCING until the positions agree again (or, with reconcile_policy adopt, the ledger is
rebuilt from the venues). Between reconciles a cheap positions read every position_check_s brings the
next one forward when a venue moved a leg by itself.

The Reconciler owns that hold's reason and its suspect venue-symbols, and when reconcile runs next.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from hedge.decimals import to_decimal as _dec
from hedge.gate import RECONCILE
from hedge.liquidations import ORDER_TYPE_BUY, ORDER_TYPE_SELL, is_liquidation, reported_price
from hedge.market import bound_venue, fmz_pair, swap_symbol
from hedge.order_history import evidence_since
from hedge.orders import order_fill
from hedge.state import TradingState

if TYPE_CHECKING:
    from hedge.book import Book, LedgerView
    from hedge.cluster.base import Coordinator
    from hedge.config import HedgeConfig
    from hedge.execution import Executor
    from hedge.gate import TradingGate
    from hedge.ledger import PositionMismatch
    from hedge.market import Venue
    from hedge.outage import VenueHealth

RECONCILE_RETRY_MS = 30_000
IN_FLIGHT_RETRY_MS = 5_000  # an order whose outcome is unknown is asked about again this soon

Positions = dict[tuple[str, str], Decimal]  # signed base position per (venue, symbol)


class Exposure:
    """The net base exposure per symbol (the signed positions summed over the venues) as last read, and the
    largest seen: the status view and the exit summary show both, the fund observer reads the last."""

    def __init__(self, symbols: tuple[str, ...]) -> None:
        self.last: dict[str, Decimal] = {s: Decimal(0) for s in symbols}
        self.max: dict[str, Decimal] = {s: Decimal(0) for s in symbols}

    def record(self, positions: Positions) -> None:
        for symbol in self.last:
            net = sum((q for (_, s), q in positions.items() if s == symbol), Decimal(0))
            self.last[symbol] = net
            if abs(net) > self.max[symbol]:
                self.max[symbol] = abs(net)


class Reconciler:
    """cfg: the strategy's config; now_ms: the turn's clock; book: the ledger's writer (read through
    book.ledger, which start replaces); venues: the bound venues (App's list, filled at start) and
    venue_or_none their lookup; gate: the trading gate reconcile holds; recover: settle the journal
    (Recovery.recover_orders; False while it cannot); young_landed: a late order of ours proved absent lately
    shows a fill (LateOrders.young_landed); close_late_fills: close what late orders of ours added
    (True when something was closed); book_landed_late_closes: book the closes of late orders that landed
    after their lookups proved them absent; vanished: hedge and book a leg the venue took (Risk._vanished);
    close_blind_late_fills: close, reduce-only, a late order's fill on a venue whose positions cannot be read;
    measured: a fresh reading of every venue's positions (exposure and its guard); log: the runtime's log
    (the differences named, in red); event: a graded event."""

    def __init__(self, *, cfg: HedgeConfig, now_ms: Callable[[], int], book: Book, executor: Executor,
                 coordinator: Coordinator, health: VenueHealth, venues: list[Venue],
                 venue_or_none: Callable[[str], Venue | None], gate: TradingGate, recover: Callable[[], bool],
                 young_landed: Callable[[], bool],
                 close_late_fills: Callable[[list[PositionMismatch]], bool],
                 book_landed_late_closes: Callable[[], None], vanished: Callable[..., None],
                 close_blind_late_fills: Callable[[], bool],
                 measured: Callable[[Positions], None], log: Callable[..., None],
                 event: Callable[..., None]) -> None:
        self.cfg = cfg
        self._now_ms = now_ms
        self.book = book
        self.executor = executor
        self.coordinator = coordinator
        self.health = health
        self.venues = venues
        self._venue_or_none = venue_or_none
        self.gate = gate
        self.recover = recover
        self.young_landed = young_landed
        self.close_late_fills = close_late_fills
        self.book_landed_late_closes = book_landed_late_closes
        self.vanished = vanished
        self.close_blind_late_fills = close_blind_late_fills
        self.measured = measured
        self.log = log
        self.event = event
        self.openings_stopped: str | None = None  # why, until venue positions and the ledger agree
        self.suspect: set[tuple[str, str]] = set()  # (venue, symbol) whose position is in doubt
        self.next_ms = 0  # when reconcile runs next
        self._next_check_ms = 0  # the next positions read between reconciles (positions_moved)

    @property
    def now_ms(self) -> int:
        return self._now_ms()

    @property
    def ledger(self) -> LedgerView:
        return self.book.ledger

    def _venue(self, key: str) -> Venue:
        return bound_venue(self._venue_or_none, key)

    def due(self) -> bool:
        return self.now_ms >= self.next_ms

    def bring_forward(self) -> None:
        """Reconcile at this turn (or, from within reconcile, at the next one)."""
        self.next_ms = self.now_ms

    def check_positions(self) -> None:
        """Each turn between reconciles: a young late order of ours that now shows a fill (young_landed),
        or, every position_check_s, a venue that moved a leg by itself (positions_moved), brings the next
        reconcile forward to this turn."""
        if not self.due() and self.ledger.watch and self.young_landed():
            self.bring_forward()  # close it this turn, not at the next periodic reconcile
        if self._next_check_ms <= self.now_ms < self.next_ms:
            self._next_check_ms = self.now_ms + self.cfg.position_check_s * 1000
            if self.positions_moved():
                self.bring_forward()  # an ADL is hedged now, not at the next status interval

    def stop_openings(self, reason: str, suspect: set[tuple[str, str]] | None = None) -> None:
        """Stop openings until venue positions and the ledger agree: reconcile holds the gate at REDUCING
        (lifted by itself once reconciled); pairs touching a suspect venue-symbol are not closed by the
        spread rule either."""
        said = reason == self.openings_stopped  # the same cause each retry (a booking waiting): said once
        self.openings_stopped = reason
        self.suspect |= suspect or set()
        # an execution in doubt is settled as soon as a query can (its exposure is held meanwhile)
        retry = IN_FLIGHT_RETRY_MS if self.ledger.orders else RECONCILE_RETRY_MS
        self.next_ms = self.now_ms + retry
        if not self.gate.hold(RECONCILE, TradingState.REDUCING, "reconcile: " + reason) and not said:
            self.event("openings stopped: " + reason, "critical")

    def resume_openings(self) -> None:
        """Positions reconciled: reconcile lifts its hold (a person's or another source's stays)."""
        self.event(f"positions reconciled; openings resume (was: {self.openings_stopped})")
        self.openings_stopped = None
        self.suspect = set()
        self.gate.release(RECONCILE, "positions reconciled")

    def venue_positions(self, assume: frozenset[str] = frozenset()) -> Positions | None:
        """Signed base position per (venue, symbol); None when a venue did not answer. Venues in `assume`,
        and venues this node does not bind (a cluster's other nodes trade them), are not asked: they count
        with what the ledger's pairs and loose legs say they hold."""
        positions: Positions = {}
        if assume or self.coordinator.shared:  # one node binds every venue of its ledger (start checks it)
            bound = {v.key for v in self.venues}
            positions.update({k: q for k, q in self.ledger.held_positions().items()
                              if (k[0] in assume or k[0] not in bound) and q != 0})
        for venue in self.venues:
            if venue.key in assume:
                continue
            found = self._held_on(venue)
            if found is None:
                return None
            positions.update({(venue.key, symbol): qty for symbol, qty in found.items() if qty != 0})
        return positions

    def _held_on(self, venue: Venue) -> dict[str, Decimal] | None:
        """Signed position per symbol of venue's from one GetPositions() for all of them, as FMZ documents it
        without a symbol: every position in the range of the current pair and contract type, here the USDT
        perpetuals (https://www.fmz.com/syntax-guide/fun/futures/exchange.getpositions). None: it failed,
        and every symbol of the venue is unreadable. No read per symbol after a failure: each would be
        another failed call counted by health (a venue declared out sooner) and 50 requests while it is in
        trouble; every runtime here answers the call (sim, live, remote), as Risk and positions_moved need."""
        found = self.executor.positions(venue)
        if found is None:
            return None
        return {symbol: found.get(symbol, Decimal(0)) for symbol in venue.specs}

    def reconcile(self) -> None:
        """Compare venue positions with the ledger: at start, every status interval, and every 30 s
        while openings are stopped."""
        self.next_ms = self.now_ms + self.cfg.status_interval_s * 1000
        self._next_check_ms = self.now_ms + self.cfg.position_check_s * 1000
        if self.ledger.orders and not self.recover():
            self.next_ms = self.now_ms + IN_FLIGHT_RETRY_MS
            return
        positions = self._read_positions()
        if positions is None:
            return
        tolerance = {(v.key, s): spec.base_step / 2 for v in self.venues for s, spec in v.specs.items()}
        paired = dict(positions)  # what the pairs must explain: the venue minus every node's loose legs
        for key, qty in self.ledger.loose_positions().items():
            paired[key] = paired.get(key, Decimal(0)) - qty
        busy = self.coordinator.busy_keys()  # another node's execution is moving these right now
        mismatches = [m for m in self.ledger.reconcile(paired, tolerance)
                      if (m.venue, m.symbol) not in busy]
        if mismatches and self._closed_what_explains(mismatches):
            self.next_ms = self.now_ms  # read the venues again at the next turn
            return
        if mismatches and self.cfg.reconcile_policy == "adopt":
            self._adopt(paired)
            mismatches = self.ledger.reconcile(paired, tolerance)
        self.coordinator.reconciled({(m.venue, m.symbol) for m in mismatches})
        if mismatches:
            self._name(mismatches)
            self.next_ms = self.now_ms + RECONCILE_RETRY_MS
        elif self.openings_stopped is not None or self.gate.held(RECONCILE):
            self.resume_openings()
        self.measured(positions)

    def _read_positions(self) -> dict[tuple[str, str], Decimal] | None:
        """The venue positions on a coherent reading of the ledger (the landed late closes booked first);
        None = again later (next_ms set)."""
        # A venue that is out (or back but not yet recovered) is reconciled when it can be: until then
        # its legs count as held, and pairs elsewhere carry on.
        out = frozenset(v.key for v in self.venues
                        if not self.health.can_trade(v.key) or v.key in self.health.recovered)
        if self.ledger.watch:
            self.book_landed_late_closes()  # before the positions: a close the venue lists is in them
        mark = self.book.refresh()
        positions = self.venue_positions(out)
        if self.ledger.watch and (positions is None or out) and self.close_blind_late_fills():
            self.next_ms = self.now_ms  # a late fill closed blind: read the venues again next turn
            return None
        if positions is None:
            if self.openings_stopped is None:
                self.stop_openings("positions unreadable on some venue; will retry")
            self.next_ms = self.now_ms + RECONCILE_RETRY_MS
            return None
        if not self.coordinator.stable(mark):
            # another node booked or journaled while the venues were read (or Redis is away): again soon
            self.next_ms = self.now_ms + 5 * self.cfg.loop_interval_ms
            return None
        return positions

    def _closed_what_explains(self, mismatches: list[PositionMismatch]) -> bool:
        """A late order of ours, or the venue's own liquidation or ADL, explains a difference and was closed
        or hedged: the venues are read again at the next turn."""
        if self.ledger.watch and self.close_late_fills(mismatches):
            return True
        return self._close_deleveraged(mismatches)

    def _name(self, mismatches: list[PositionMismatch]) -> None:
        """Log each difference and stop openings on them (once while the same venue-symbols differ)."""
        keys = {(m.venue, m.symbol) for m in mismatches}
        if keys != self.suspect or self.openings_stopped is None:
            for mismatch in mismatches:
                self.log(mismatch.describe(), "#ff0000")
            self.suspect = set()
            self.stop_openings(f"{len(mismatches)} venue position(s) differ from the ledger; close "
                               "them by hand or clear the ledger (_G key hedge_ledger_v1) to start from "
                               "flat", keys)

    def positions_moved(self) -> bool:
        """One GetPositions per venue (every position_check_s between reconciles): True when a venue that
        trades holds other than the ledger on a venue-symbol that no execution is moving and reconcile has
        not named yet. The venue changed our leg by itself: auto-deleveraging of a winning leg (seen only at
        a positions read; FMZ gives no private stream), a liquidation, an order of ours landing late, a hand
        trade. Reconcile then books and hedges it (or names it), instead of up to status_interval_s later."""
        held = self.ledger.held_positions()
        moving = ({(record.venue, record.symbol) for record in self.ledger.orders.values()}
                  | self.coordinator.busy_keys() | self.suspect)
        for venue in self.venues:
            if not self.health.can_trade(venue.key) or venue.key in self.health.recovered:
                continue  # recovered first by Risk.recover; an out venue's legs count as held
            found = self.executor.positions(venue)
            if found is None:
                continue  # counted by health; reconcile reads it again
            for symbol, spec in venue.specs.items():
                key = (venue.key, symbol)
                differs = abs(found.get(symbol, Decimal(0)) - held.get(key, Decimal(0))) > spec.base_step / 2
                if differs and key not in moving:
                    return True
        return False

    def _close_deleveraged(self, mismatches: list[PositionMismatch]) -> bool:
        """A venue that can trade holds less of a pairs' leg than the ledger (same side), and its order
        history shows its own liquidation or ADL order on that side: the leg was cut by the venue while it
        answered (ADL takes the winning leg of a hedge). Close the same quantity on the hedging legs and book
        the pairs at the price the venue reports (Risk._vanished), as after an outage. Without the venue's
        order as evidence the difference is only named. True when something was booked."""
        closed = False
        for mismatch in mismatches:
            expected, found = mismatch.expected, mismatch.found
            key = mismatch.venue
            if expected * found < 0 or abs(found) >= abs(expected) or not self.health.can_trade(key):
                continue
            if key in self.health.recovered or self._venue_or_none(key) is None:
                continue  # an outage's legs are recovered by Risk.recover first
            missing = abs(expected) - abs(found)
            price = self._deleveraged_at(key, mismatch.symbol, expected > 0, missing)
            if price is None:
                continue
            held = self.ledger.held_positions().get((key, mismatch.symbol), Decimal(0))
            self.vanished(key, mismatch.symbol, missing, found, closed_by=(
                price, f"the price {key} reports for its own liquidation/ADL order, found by reconcile"))
            closed = closed or self.ledger.held_positions().get((key, mismatch.symbol), Decimal(0)) != held
        return closed

    def _deleveraged_at(self, key: str, symbol: str, long_leg: bool, missing: Decimal) -> Decimal | None:
        """Price of the venue's own liquidation/ADL orders closing that side since its oldest pair there
        opened, when together they cover `missing` (else no evidence: the difference is only named)."""
        venue = self._venue(key)
        since = min((p.opened_ms for p in self.ledger.pairs.values()
                     if p.symbol == symbol and key in (p.long_venue, p.short_venue)), default=0)
        orders = evidence_since(venue.exchange, swap_symbol(symbol), since, key)  # every page, and the newest
        closing_type = ORDER_TYPE_SELL if long_leg else ORDER_TYPE_BUY
        recent = [o for o in orders or [] if (o.get("Time") or 0) >= since and o.get("Type") == closing_type
                  and is_liquidation(key, o)]
        ct_val = venue.specs[symbol].ct_val
        covered = sum((order_fill(o, ct_val)[0] for o in recent), Decimal(0))
        if covered < missing:
            return None
        return reported_price(key, recent, long_leg, missing, ct_val)

    def _adopt(self, positions: dict[tuple[str, str], Decimal]) -> None:
        """reconcile_policy adopt: venue positions become the ledger. Per symbol, longs and shorts on
        different venues are paired in equal quantities; whatever cannot be paired is left to halt."""
        before = len(self.ledger.pairs)
        self.book.drop_pairs()
        for symbol in self.cfg.symbols:
            longs = [(k[0], q) for k, q in sorted(positions.items()) if k[1] == symbol and q > 0]
            shorts = [(k[0], -q) for k, q in sorted(positions.items()) if k[1] == symbol and q < 0]
            while longs and shorts:
                (long_key, long_qty), (short_key, short_qty) = longs[0], shorts[0]
                qty = min(long_qty, short_qty)
                self.book.record_open(
                    symbol=symbol, long_venue=long_key, short_venue=short_key, qty=qty,
                    long_price=self._position_price(long_key, symbol),
                    short_price=self._position_price(short_key, symbol), fees=Decimal(0),
                    client_ids=(), now_ms=self.now_ms)
                longs[0] = (long_key, long_qty - qty)
                shorts[0] = (short_key, short_qty - qty)
                longs = [item for item in longs if item[1] > 0]
                shorts = [item for item in shorts if item[1] > 0]
        self.book.save()
        self.event(f"reconcile_policy adopt: ledger rebuilt from venue positions ({before} -> "
                   f"{len(self.ledger.pairs)} open pairs)")

    def _position_price(self, key: str, symbol: str) -> Decimal:
        """Entry price the venue reports for a position (1 when it reports none, to keep spreads finite)."""
        for position in self._venue(key).exchange.GetPositions(swap_symbol(symbol)) or []:
            if fmz_pair(position["Symbol"]) == symbol and position.get("Price"):
                return _dec(position["Price"])
        return Decimal(1)
