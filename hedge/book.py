"""The book: the one writer of the ledger (pairs, loose legs, the order journal, the pair and order counters).

Every change goes through one of its imperative methods (`record_open`, `record_close`, `book_result`,
`add_loose`, `journal`, ...) and is persisted with `save()` through the coordinator (hedge/cluster: _G alone
for one node; _G and Redis, fenced by the unit's lease, for a cluster). The coordinator is the book's
store: it loads the ledger at start and, in a cluster, refreshes it from the shared state (`refresh`).

Everything else reads the ledger through `Book.ledger`, a read-only view: its mappings cannot be
assigned to and it has no command.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from hedge.ledger import HedgePair, Ledger, LooseKey, LooseLeg, PositionMismatch
from hedge.orders import OrderRecord

if TYPE_CHECKING:
    from hedge.cluster import Coordinator

CLOSE_TAG = re.compile(r"^(?:close|stop\d+)#(\d+(?:\+\d+)*)$")  # a pair close: close#1+2, stop2#7
VANISHED_TAG = re.compile(r"^recover#(\d+)$")  # closing the hedge of a vanished leg (Risk._close_vanished)


def pairs_named(tag: str) -> frozenset[int] | None:
    """The pair ids an execution's tag names (a close or stop of pairs, the hedge close of a vanished leg);
    None when it names none (a lone close stop1:binance, booked oldest first on its venue-symbol; a late
    order's close; a loose leg's)."""
    found = CLOSE_TAG.match(tag) or VANISHED_TAG.match(tag)
    return frozenset(int(i) for i in found.group(1).split("+")) if found else None


def client_id_stamp(now_ms: int) -> str:
    """The start's second in base 36: the stamp of this run's client ids (`Book.next_client_id`)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    number, out = now_ms // 1000, ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


class LedgerView:
    """The ledger, read-only."""

    __slots__ = ("_ledger",)

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @property
    def pairs(self) -> Mapping[int, HedgePair]:
        return MappingProxyType(self._ledger.pairs)

    @property
    def loose(self) -> Mapping[LooseKey, LooseLeg]:
        return MappingProxyType(self._ledger.loose)

    @property
    def orders(self) -> Mapping[str, OrderRecord]:
        return MappingProxyType(self._ledger.orders)

    @property
    def watch(self) -> Mapping[str, OrderRecord]:
        return MappingProxyType(self._ledger.watch)

    @property
    def pending(self) -> Mapping[str, OrderRecord]:
        return MappingProxyType(self._ledger.pending)

    @property
    def next_id(self) -> int:
        return self._ledger.next_id

    @property
    def order_seq(self) -> int:
        return self._ledger.order_seq

    @property
    def realized_pnl(self) -> Decimal:
        return self._ledger.realized_pnl

    @property
    def spread_captured(self) -> Decimal:
        return self._ledger.spread_captured

    @property
    def fees_paid(self) -> Decimal:
        return self._ledger.fees_paid

    @property
    def volume(self) -> Decimal:
        return self._ledger.volume

    @property
    def closed_pairs(self) -> int:
        return self._ledger.closed_pairs

    @property
    def funding_total(self) -> Decimal:
        return self._ledger.funding_total

    def loose_positions(self) -> dict[tuple[str, str], Decimal]:
        return self._ledger.loose_positions()

    def held_positions(self) -> dict[tuple[str, str], Decimal]:
        return self._ledger.held_positions()

    def expected_positions(self) -> dict[tuple[str, str], Decimal]:
        return self._ledger.expected_positions()

    def gross_notional(self, prices: dict[str, Decimal]) -> Decimal:
        return self._ledger.gross_notional(prices)

    def symbol_notional(self, symbol: str, price: Decimal) -> Decimal:
        return self._ledger.symbol_notional(symbol, price)

    def reconcile(self, venue_positions: dict[tuple[str, str], Decimal],
                  tolerance: dict[tuple[str, str], Decimal] | None = None) -> list[PositionMismatch]:
        return self._ledger.reconcile(venue_positions, tolerance)

    def to_json(self) -> str:
        return self._ledger.to_json()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LedgerView):
            return self._ledger == other._ledger
        return self._ledger == other

    __hash__ = None  # type: ignore[assignment]  # mutable underneath, like the Ledger


class Book:
    def __init__(self, coordinator: Coordinator, store: Callable[..., Any]) -> None:
        self._coordinator = coordinator
        self._store = store
        self._ledger = Ledger()
        self._view = LedgerView(self._ledger)
        # tags of journaled reductions that filled and are not booked yet (Recovery: waiting for a price)
        self._unbooked: frozenset[str] = frozenset()

    @property
    def ledger(self) -> LedgerView:
        return self._view

    def _take(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._view = LedgerView(ledger)

    # --- storage (through the coordinator) ---
    def load(self) -> None:
        """The ledger saved in _G (empty: a fresh start)."""
        self._take(Ledger.load(self._store))

    def start(self, now_ms: int, venues: list[str], symbols: tuple[str, ...]) -> None:
        """Join the coordinator: a cluster's shared ledger replaces the local one. RuntimeError: cannot."""
        self._take(self._coordinator.start(now_ms, self._ledger, venues, symbols))

    def import_loose(self, legs: list[LooseLeg]) -> None:
        self._coordinator.import_loose(self._ledger, legs, self._store)

    def refresh(self) -> Any:
        """Refresh from the shared state (a cluster); returns the coordinator's mark for `stable`."""
        return self._coordinator.view(self._ledger)

    def order_in_doubt(self, venue: str, symbol: str) -> bool:
        """A journaled order on the venue-symbol is not settled yet (its outcome unknown, or an execution cut
        short by outage.max_turn_wait_ms), or settled with fills recovery has not booked (`hold_unbooked`)
        under a tag that names no pair (a late order's close, a lone close): nothing is sent there until
        recovery settles and books it. A waiting booking that names its pairs holds those pairs only
        (`held_pairs`): the other pairs there can still be stopped, closed and re-hedged (issue #17: a hold
        of the whole venue-symbol refused their stops for a whole price blackout)."""
        unbooked = self._unbooked
        return any((not record.terminal or (record.tag in unbooked and pairs_named(record.tag) is None))
                   and (record.venue, record.symbol) == (venue, symbol)
                   for record in self.ledger.orders.values())

    def held_pairs(self) -> frozenset[int]:
        """The pairs a journaled reduction waiting for its booking names (close#1+2, stop2#7, recover#3):
        their legs may be closed on the venues while the ledger still holds them, so nothing closes them
        again (a second close would flip the venue's position) until recovery books them."""
        return frozenset(i for tag in self._unbooked for i in pairs_named(tag) or ())

    @property
    def unbooked(self) -> frozenset[str]:
        return self._unbooked

    def hold_unbooked(self, tags: Collection[str]) -> None:
        """The journaled executions (by tag) whose fills recovery has not booked yet: the pairs they name are
        held (`held_pairs`), the venue-symbols of those naming none in doubt (`order_in_doubt`) until
        booked. Kept by this process only: recovery derives them from the journal again at every turn it
        runs (the first at start, before anything trades; in a cluster, from the shared journal when a unit
        is adopted, before anything acts on it: reconcile runs recovery first)."""
        self._unbooked = frozenset(tags)

    def save(self) -> None:
        """Persist in _G and, in a cluster, the changed pairs and journal entries in Redis (fenced)."""
        self._coordinator.save(self._ledger, self._store)

    def compact(self) -> None:
        """At a clean exit: _G holds the ledger as one document again, its journal's keys deleted (the same
        state the saves kept: nothing shared changes)."""
        self._ledger.compact(self._store)

    # --- positions reads (Executor.unread_since across a restart) ---
    def note_read(self, venue: str, symbol: str, ms: int) -> None:
        """This process read venue-symbol's positions at `ms`: kept in the ledger, saved with its next write
        (not a write by itself)."""
        self._ledger.reads[f"{venue}/{symbol}"] = ms

    def read_times(self) -> dict[tuple[str, str], int]:
        """(venue, symbol) -> when positions there were last read, as the loaded ledger says (a process that
        saved it, before a restart); a venue-symbol not in it: unknown."""
        found: dict[tuple[str, str], int] = {}
        for key, ms in self._ledger.reads.items():
            venue, _, symbol = key.partition("/")
            found[(venue, symbol)] = ms
        return found

    # --- the order journal ---
    def journal(self, record: OrderRecord) -> None:
        self._ledger.journal(record)

    def clear_orders(self, tag: str | None = None, client_ids: Collection[str] | None = None) -> None:
        self._ledger.clear_orders(tag, client_ids)

    def unwatch(self, client_id: str) -> None:
        """A watched order (proved absent, landed late) whose position is closed: no longer watched."""
        self._ledger.watch.pop(client_id, None)

    def next_client_id(self, stamp: str, prefix: str) -> str:
        return self._ledger.next_client_id(stamp, prefix)

    # --- pairs, loose legs and results ---
    def use_pair_id(self, pair_id: int | None) -> None:
        """The id a cluster reserved for the next opening (None: the local counter's)."""
        self._ledger.use_id(pair_id)

    def take_pair_id(self) -> int:
        """The id an opening names its execution by (its tag) and books its pair under."""
        return self._ledger.take_id()

    def record_open(self, *, symbol: str, long_venue: str, short_venue: str, qty: Decimal,
                    long_price: Decimal, short_price: Decimal, fees: Decimal,
                    client_ids: tuple[str, ...], now_ms: int, order_ids: tuple[str, ...] = (),
                    pair_id: int | None = None) -> HedgePair:
        return self._ledger.record_open(symbol=symbol, long_venue=long_venue, short_venue=short_venue,
                                        qty=qty, long_price=long_price, short_price=short_price, fees=fees,
                                        client_ids=client_ids, now_ms=now_ms, order_ids=order_ids,
                                        pair_id=pair_id)

    def record_close(self, pair_id: int, *, qty: Decimal, long_exit: Decimal, short_exit: Decimal,
                     fees: Decimal) -> Decimal:
        return self._ledger.record_close(pair_id, qty=qty, long_exit=long_exit, short_exit=short_exit,
                                         fees=fees)

    def record_funding(self, pair_id: int, amount: Decimal) -> None:
        self._ledger.record_funding(pair_id, amount)

    def drop_pairs(self) -> None:
        """Forget every pair and the journal (reconcile_policy adopt rebuilds them from the venues)."""
        self._ledger.drop_pairs()
        self._ledger.clear_orders()

    def book_result(self, pnl: Decimal, fees: Decimal | None = None) -> None:
        """A realized result outside a pair's close (a residual, a loose leg, a late fill), with its fees."""
        self._ledger.book_result(pnl, fees)

    def add_pending(self, record: OrderRecord) -> None:
        """A reduction's fill booked at its leg's entry price (`record.price`): its result waits for a price
        (the caller saves, with that booking)."""
        self._ledger.pending[record.client_id] = record

    def book_pending(self, client_id: str, pnl: Decimal) -> None:
        """A pending fill's result booked and the fill forgotten, in one save (so once, across a restart)."""
        self._ledger.book_pending(client_id, pnl)
        self.save()

    def add_loose(self, leg: LooseLeg) -> LooseLeg | None:
        return self._ledger.add_loose(leg)

    def set_loose(self, leg: LooseLeg, qty: Decimal) -> None:
        self._ledger.set_loose(leg, qty)

    def lead_pairs(self, pair_ids: Collection[int], venue: str) -> None:
        """A spread close of these pairs sends the leg on `venue` first, alone (HedgePair.lead; persisted
        with save())."""
        self._ledger.lead_pairs(pair_ids, venue)

    def time_loose(self, key: LooseKey, since_ms: int) -> None:
        """Since when a loose leg counts as unhedged (hedge/rehedge.py's timer; persisted with save())."""
        self._ledger.time_loose(key, since_ms)

    def pair_loose(self, leg: LooseLeg, *, venue: str, qty: Decimal, price: Decimal, fees: Decimal,
                   client_ids: tuple[str, ...], now_ms: int, order_ids: tuple[str, ...] = ()) -> HedgePair:
        """`qty` of a loose leg and a new opposite leg on `venue` become one hedge pair (a re-hedge)."""
        return self._ledger.pair_loose(leg, venue=venue, qty=qty, price=price, fees=fees,
                                       client_ids=client_ids, now_ms=now_ms, order_ids=order_ids)

    def net_pair_leg(self, pair_id: int, leg: LooseLeg, *, venue: str, qty: Decimal, price: Decimal,
                     fees: Decimal, client_ids: tuple[str, ...], now_ms: int,
                     order_ids: tuple[str, ...] = ()) -> HedgePair | None:
        """`qty` traded on `venue` against pair `pair_id`'s leg there hedges the loose leg with the pair's
        far leg (a re-hedge that nets; Ledger.net_pair_leg)."""
        return self._ledger.net_pair_leg(pair_id, leg, venue=venue, qty=qty, price=price, fees=fees,
                                         client_ids=client_ids, now_ms=now_ms, order_ids=order_ids)
