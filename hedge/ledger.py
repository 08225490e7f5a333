"""Hedge pairs, the unit of state: one long leg and one short leg of equal base quantity.

Beside the pairs, the ledger keeps the *loose legs*: base held on a venue beyond the pairs, on purpose
(the hedge of a leg closed alone while its venue was out) or by accident (an execution whose legs filled
unequally). They are part of the book of record like the pairs: persisted with them, shared with them in
a cluster (each under the unit of work it came from), and counted by reconciliation.

Only hedge.book.Book writes it (everyone else reads a read-only view); it is persisted with _G after every
change and reloaded at start. Venue positions are the truth: `reconcile` compares them with what the open
pairs and loose legs imply and names every difference.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, fields, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from hedge import store_keys
from hedge.orders import OrderRecord, OrderStatus

STORE_KEY = store_keys.LEDGER
# what changed since the whole document was written, one save a key: JOURNAL_PREFIX + 1, 2, ... (see _Journal)
JOURNAL_PREFIX = store_keys.LEDGER_JOURNAL_PREFIX
JOURNAL_SLOTS = 32  # entries after a whole document, at most (a load reads them all: ~20 us each)
# where loose legs were kept before they joined the ledger (hedge/risk.py, a list of
# [venue, symbol, qty, price, pair_id]); read once at start (App.start) and then deleted
LEGACY_LOOSE_KEY = store_keys.LEGACY_LOOSE_LEGS
OUTAGE = "outage"  # origin of a loose leg: the hedge of a leg closed alone while this venue was out
EXECUTION = "execution"  # origin: an execution whose legs filled unequally (or an undo refused)
LEGACY = "earlier version"  # origin: read from LEGACY_LOOSE_KEY (either of the above)
WATCHED_ORDERS = 200  # timed-out orders proved absent, kept to explain one that lands later
LooseKey = tuple[str, str, str]  # (venue, symbol, unit key)
_DECIMALS = ("qty", "long_price", "short_price", "entry_spread_bps", "fees", "funding")


@dataclass(frozen=True)
class HedgePair:
    id: int
    symbol: str
    long_venue: str
    short_venue: str
    qty: Decimal               # base units on each leg
    long_price: Decimal        # average entry prices
    short_price: Decimal
    entry_spread_bps: Decimal  # (short - long) / long at the fills
    fees: Decimal              # USDT paid so far (estimated from the configured taker rates)
    funding: Decimal           # USDT received (+) or paid (-) so far
    client_ids: tuple[str, ...]
    opened_ms: int
    order_ids: tuple[str, ...] = ()
    # a venue of the pair that had not proved it trades when the pair was formed (a re-hedge's old venue) or
    # when its spread close came due: the spread close sends the leg there first, alone (hedge/trader.py,
    # Trader.close); "" none. Kept across restarts; written only when set (older ledgers load as "")
    lead: str = ""

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _PAIR_FIELDS}
        for key in _DECIMALS:
            data[key] = str(data[key])
        data["client_ids"] = list(self.client_ids)
        data["order_ids"] = list(self.order_ids)
        if not self.lead:
            del data["lead"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HedgePair:
        values = dict(data)
        for key in _DECIMALS:
            values[key] = Decimal(values[key])
        values["client_ids"] = tuple(values.get("client_ids", ()))
        values["order_ids"] = tuple(values.get("order_ids", ()))
        return cls(**values)


_PAIR_FIELDS = tuple(f.name for f in fields(HedgePair))


@dataclass(frozen=True)
class LooseLeg:
    """Base held on a venue beyond the ledger's pairs, closed reduce-only as soon as the venue can trade.

    unit: the key of the unit of work it came from (hedge.cluster.Unit.key, "BTC_USDT:binance:okx"): in a
    cluster the unit's owner closes it, and its writes are fenced by that unit's lease."""

    venue: str
    symbol: str
    qty: Decimal  # signed base quantity held there beyond the pairs
    price: Decimal  # the price it was booked out of its pair at (an estimate: the mid then)
    pair_id: int  # the pair it came from (0: an opening that was never booked as a pair)
    unit: str
    origin: str = EXECUTION  # OUTAGE | EXECUTION
    since_ms: int = 0  # since when it counts as unhedged, for its re-hedge (hedge/rehedge.py); 0: not yet

    @property
    def key(self) -> LooseKey:
        return (self.venue, self.symbol, self.unit)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"venue": self.venue, "symbol": self.symbol, "qty": str(self.qty),
                                "price": str(self.price), "pair_id": self.pair_id, "unit": self.unit,
                                "origin": self.origin}
        if self.since_ms:
            data["since_ms"] = self.since_ms
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LooseLeg:
        return cls(str(data["venue"]), str(data["symbol"]), Decimal(data["qty"]), Decimal(data["price"]),
                   int(data.get("pair_id", 0)), str(data.get("unit", "")), str(data.get("origin", EXECUTION)),
                   int(data.get("since_ms", 0)))


@dataclass(frozen=True)
class PositionMismatch:
    venue: str
    symbol: str
    expected: Decimal  # signed base quantity the ledger implies
    found: Decimal     # signed base quantity on the venue

    def describe(self) -> str:
        return (f"position mismatch on {self.venue} {self.symbol}: ledger expects {self.expected:+f}, "
                f"venue holds {self.found:+f} (base units)")


@dataclass
class Ledger:
    pairs: dict[int, HedgePair] = field(default_factory=dict)
    next_id: int = 1
    realized_pnl: Decimal = Decimal(0)  # USDT, after fees, of closed quantity
    spread_captured: Decimal = Decimal(0)  # USDT, price moves of closed quantity before fees and funding
    fees_paid: Decimal = Decimal(0)
    volume: Decimal = Decimal(0)        # USDT notional traded, all legs
    closed_pairs: int = 0
    funding_total: Decimal = Decimal(0)  # USDT booked on all pairs, open and closed (estimated)
    # Orders of executions not booked yet, by client id. Journaled before each CreateOrder and
    # cleared in the same save that books the execution, so at start any entry is unfinished work.
    orders: dict[str, OrderRecord] = field(default_factory=dict)
    order_seq: int = 0
    # legs held beyond the pairs, per (venue, symbol, unit): see LooseLeg
    loose: dict[LooseKey, LooseLeg] = field(default_factory=dict)
    # Timed-out orders proved absent and booked as such, newest WATCHED_ORDERS kept: one that reaches the
    # venue later anyway still explains the position it made (reconcile closes it: hedge/recovery.py,
    # LateOrders.close_late_fills).
    watch: dict[str, OrderRecord] = field(default_factory=dict)
    # Reductions' fills booked at their leg's entry price (no average price reported, no fresh price known:
    # never at 0), each with `price` = that entry price: their result is booked once a price is known
    # (Risk.price_pending), dropped in the same save (so once, across a restart). In a cluster they are
    # shared beside the journal under their order's unit (hedge/cluster/redis.py): its owner prices them
    pending: dict[str, OrderRecord] = field(default_factory=dict)
    # "venue/symbol" -> when this process last read its positions (ms; Executor.unread_since), saved only
    # with a save that writes anyway: whatever a saved ledger books from a read is saved with that read's
    # time or a later one, so after a restart a landing later than it (READ_MARGIN_MS aside) is in no count
    # the ledger holds. Absent (a ledger saved before they were kept): unknown, as if read just before the
    # kill
    reads: dict[str, int] = field(default_factory=dict, compare=False)
    # JSON of the pairs, orders and loose legs as last saved: they are frozen, so one that is still the same
    # object is not serialised again (a save after an order serialises only what changed)
    _memo: _JsonMemo = field(default_factory=lambda: _JsonMemo(), init=False, repr=False, compare=False)
    # what this ledger last wrote to the store, for the next save to append only what changed since
    _journal: _Journal = field(default_factory=lambda: _Journal(), init=False, repr=False, compare=False)

    def journal(self, record: OrderRecord) -> None:
        self.orders[record.client_id] = record

    def clear_orders(self, tag: str | None = None, client_ids: Collection[str] | None = None) -> None:
        """Forget journaled orders of one execution (all when tag is None; of the tag, only client_ids when
        given: another execution of the same tag may be in doubt elsewhere) once it is booked; a timed-out
        one proved absent (looked up, never seen) goes on the watch list, unless recovery already found it
        landed late and counted its fill (LateOrders.count_late_fills)."""
        kept = {cid: r for cid, r in self.orders.items()
                if tag is not None and (r.tag != tag or (client_ids is not None and cid not in client_ids))}
        for cid, record in self.orders.items():
            unseen = record.status is OrderStatus.ABSENT and record.misses and not record.filled
            if cid not in kept and unseen:
                self.watch[cid] = record
        for cid in list(self.watch)[:-WATCHED_ORDERS]:
            del self.watch[cid]
        self.orders = kept

    def next_client_id(self, stamp: str, prefix: str = "hg") -> str:
        """Alphanumeric (every venue accepts it); unique across restarts: seq persists, stamp = start;
        across the nodes of a cluster: prefix names the node."""
        self.order_seq += 1
        return f"{prefix}{stamp}n{self.order_seq}"

    # --- commands ---
    def record_open(self, *, symbol: str, long_venue: str, short_venue: str, qty: Decimal,
                    long_price: Decimal, short_price: Decimal, fees: Decimal,
                    client_ids: tuple[str, ...], now_ms: int, order_ids: tuple[str, ...] = (),
                    pair_id: int | None = None) -> HedgePair:
        """pair_id: the id its opening took (`take_id`); None: the next one."""
        spread = ((short_price - long_price) / long_price * 10_000).quantize(Decimal("0.01"),
                                                                             rounding=ROUND_HALF_EVEN)
        pair = HedgePair(pair_id or self.next_id, symbol, long_venue, short_venue, qty, long_price,
                         short_price, spread, fees, Decimal(0), client_ids, now_ms, order_ids)
        self.pairs[pair.id] = pair
        self.next_id = max(self.next_id, pair.id + 1)
        self.fees_paid += fees
        self.volume += qty * (long_price + short_price)
        return pair

    def record_close(self, pair_id: int, *, qty: Decimal, long_exit: Decimal, short_exit: Decimal,
                     fees: Decimal) -> Decimal:
        """Book the close of `qty` of a pair; returns the realized PnL of that quantity (USDT)."""
        pair = self.pairs[pair_id]
        if qty <= 0 or qty > pair.qty:
            raise ValueError(f"close quantity {qty} outside (0, {pair.qty}] for pair {pair_id}")
        share = qty / pair.qty
        entry_fees = pair.fees * share
        gross = (long_exit - pair.long_price) * qty + (pair.short_price - short_exit) * qty
        pnl = gross - entry_fees - fees + pair.funding * share
        remaining = pair.qty - qty
        if remaining == 0:
            del self.pairs[pair_id]
            self.closed_pairs += 1
        else:
            self.pairs[pair_id] = replace(pair, qty=remaining, fees=pair.fees - entry_fees,
                                          funding=pair.funding - pair.funding * share)
        self.realized_pnl += pnl
        self.spread_captured += gross
        self.fees_paid += fees
        self.volume += qty * (long_exit + short_exit)
        return pnl

    def use_id(self, pair_id: int | None) -> None:
        """The id a cluster reserved for the next pair (None: keep the local counter)."""
        self.next_id = pair_id or self.next_id

    def take_id(self) -> int:
        """The next pair id, spent now: an opening's tag names it, so it names that one execution whether or
        not it books a pair (one in doubt traded back by recovery leaves its id unused, as a cluster's
        reservation does)."""
        self.next_id += 1
        return self.next_id - 1

    def drop_pairs(self) -> None:
        self.pairs = {}

    def book_result(self, pnl: Decimal, fees: Decimal | None = None) -> None:
        """A realized result outside a pair's close (a residual, a loose leg, a late fill), with its fees."""
        self.realized_pnl += pnl
        if fees is not None:
            self.fees_paid += fees

    def book_pending(self, client_id: str, pnl: Decimal) -> None:
        """A pending fill's result, now that a price is known: booked and the fill forgotten (one save)."""
        if self.pending.pop(client_id, None) is not None:
            self.realized_pnl += pnl

    def take_shared(self, *, pairs: dict[int, HedgePair] | None = None,
                    orders: dict[str, OrderRecord] | None = None,
                    loose: dict[LooseKey, LooseLeg] | None = None,
                    pending: dict[str, OrderRecord] | None = None) -> None:
        """A cluster's shared state replaces these parts (hedge/cluster/redis.py loads it); the pair counter
        moves past every shared pair."""
        if pairs is not None:
            self.pairs = pairs
        if orders is not None:
            self.orders = orders
        if loose is not None:
            self.loose = loose
        if pending is not None:
            self.pending = pending
        if pairs:
            self.next_id = max(self.next_id, max(pairs) + 1)

    def record_funding(self, pair_id: int, amount: Decimal) -> None:
        """Book a funding payment on one pair (USDT; + received, - paid)."""
        pair = self.pairs[pair_id]
        self.pairs[pair_id] = replace(pair, funding=pair.funding + amount)
        self.funding_total += amount

    def add_loose(self, leg: LooseLeg) -> LooseLeg | None:
        """Add `leg` to what is already loose on its venue, symbol and unit (one average price for the
        whole quantity); returns what is loose there now (None: the two cancelled out)."""
        held = self.loose.get(leg.key)
        if held is None:
            self.loose[leg.key] = leg
            return leg
        total = held.qty + leg.qty
        if total == 0:
            del self.loose[leg.key]
            return None
        average = (held.price * abs(held.qty) + leg.price * abs(leg.qty)) / abs(total)
        self.loose[leg.key] = replace(held, qty=total, price=average)
        return self.loose[leg.key]

    def pair_loose(self, leg: LooseLeg, *, venue: str, qty: Decimal, price: Decimal, fees: Decimal,
                   client_ids: tuple[str, ...], now_ms: int, order_ids: tuple[str, ...] = ()) -> HedgePair:
        """`qty` (> 0, at most the leg's size) of a loose leg becomes a hedge pair with a new leg of the
        opposite side just traded on `venue` at `price` (a re-hedge, hedge/rehedge.py): the loose part keeps
        the price it was booked at as its entry, the new leg its fill. The loose leg keeps the rest. Volume
        counts the new leg only (the loose leg's trade was counted when it was booked out of its pair). The
        loose leg's venue is the pair's lead: its spread close sends the leg there first."""
        if qty <= 0 or qty > abs(leg.qty) or venue == leg.venue:
            raise ValueError(f"cannot pair {qty} of the loose leg {leg.venue} {leg.symbol} {leg.qty:+f} "
                             f"on {venue}")
        long_leg = leg.qty > 0
        self.set_loose(leg, leg.qty - qty if long_leg else leg.qty + qty)
        pair = self.record_open(symbol=leg.symbol, long_venue=leg.venue if long_leg else venue,
                                short_venue=venue if long_leg else leg.venue, qty=qty,
                                long_price=leg.price if long_leg else price,
                                short_price=price if long_leg else leg.price, fees=fees,
                                client_ids=client_ids, now_ms=now_ms, order_ids=order_ids)
        pair = self.pairs[pair.id] = replace(pair, lead=leg.venue)  # its venue is out: its leg closes first
        self.volume -= qty * leg.price
        return pair

    def net_pair_leg(self, pair_id: int, leg: LooseLeg, *, venue: str, qty: Decimal, price: Decimal,
                     fees: Decimal, client_ids: tuple[str, ...], now_ms: int,
                     order_ids: tuple[str, ...] = ()) -> HedgePair | None:
        """A loose leg's hedge traded `qty` on `venue`, where pair `pair_id` holds a leg of the loose leg's
        own side (a re-hedge that nets, hedge/rehedge.py): that much of the pair's leg on `venue` is closed
        at `price`, and the pair's leg on its far venue stays, hedged by `qty` of the loose leg instead: a new
        pair of the two (entries: the pair's entry price there and the loose leg's booked price; lead: the
        loose leg's venue), returned. Far leg on the loose leg's own venue: the two are one position there
        and cancel (None, no new pair; the pair's result there is taken at the loose leg's booked price).
        Volume counts the trade on `venue` only."""
        pair = self.pairs[pair_id]
        long_leg = leg.qty > 0
        on_long = pair.long_venue == venue
        far = pair.short_venue if on_long else pair.long_venue
        if (venue not in (pair.long_venue, pair.short_venue) or on_long != long_leg or venue == leg.venue
                or leg.symbol != pair.symbol or not 0 < qty <= min(pair.qty, abs(leg.qty))):
            raise ValueError(f"cannot net {qty} of pair #{pair_id} on {venue} with the loose leg {leg.venue} "
                             f"{leg.symbol} {leg.qty:+f}")
        far_price = pair.short_price if on_long else pair.long_price
        far_exit = leg.price if far == leg.venue else far_price  # the far leg is not traded
        self.record_close(pair_id, qty=qty, long_exit=price if on_long else far_exit,
                          short_exit=far_exit if on_long else price, fees=fees)
        self.volume -= qty * far_exit
        self.set_loose(leg, leg.qty - qty if long_leg else leg.qty + qty)
        if far == leg.venue:
            return None
        new = self.record_open(symbol=leg.symbol, long_venue=leg.venue if long_leg else far,
                               short_venue=far if long_leg else leg.venue, qty=qty,
                               long_price=leg.price if long_leg else far_price,
                               short_price=far_price if long_leg else leg.price, fees=Decimal(0),
                               client_ids=client_ids, now_ms=now_ms, order_ids=order_ids)
        self.volume -= qty * (leg.price + far_price)
        new = self.pairs[new.id] = replace(new, lead=leg.venue)  # its venue is out: its leg closes first
        return new

    def lead_pairs(self, pair_ids: Collection[int], venue: str) -> None:
        """A spread close of these pairs sends the leg on `venue` first, alone (HedgePair.lead)."""
        for pair_id in pair_ids:
            pair = self.pairs.get(pair_id)
            if pair is not None and venue in (pair.long_venue, pair.short_venue):
                self.pairs[pair_id] = replace(pair, lead=venue)

    def set_loose(self, leg: LooseLeg, qty: Decimal) -> None:
        """What is left of a loose leg after part of it was closed (0: gone)."""
        if qty == 0:
            self.loose.pop(leg.key, None)
        else:
            self.loose[leg.key] = replace(leg, qty=qty)

    def time_loose(self, key: LooseKey, since_ms: int) -> None:
        """Since when the loose leg `key` counts as unhedged (its re-hedge's timer, kept across restarts)."""
        leg = self.loose.get(key)
        if leg is not None:
            self.loose[key] = replace(leg, since_ms=since_ms)

    # --- queries ---
    def loose_positions(self) -> dict[tuple[str, str], Decimal]:
        """Signed base quantity per (venue, symbol) the loose legs hold (every unit's, summed)."""
        held: dict[tuple[str, str], Decimal] = {}
        for leg in self.loose.values():
            key = (leg.venue, leg.symbol)
            held[key] = held.get(key, Decimal(0)) + leg.qty
        return {key: qty for key, qty in held.items() if qty != 0}

    def held_positions(self) -> dict[tuple[str, str], Decimal]:
        """What the venues should hold: the pairs' legs plus the loose legs."""
        held = self.expected_positions()
        for key, qty in self.loose_positions().items():
            held[key] = held.get(key, Decimal(0)) + qty
        return held

    def expected_positions(self) -> dict[tuple[str, str], Decimal]:
        """Signed base quantity per (venue, symbol) the open pairs imply."""
        expected: dict[tuple[str, str], Decimal] = {}
        for pair in self.pairs.values():
            long_key = (pair.long_venue, pair.symbol)
            short_key = (pair.short_venue, pair.symbol)
            expected[long_key] = expected.get(long_key, Decimal(0)) + pair.qty
            expected[short_key] = expected.get(short_key, Decimal(0)) - pair.qty
        return expected

    def gross_notional(self, prices: dict[str, Decimal]) -> Decimal:
        return sum((2 * p.qty * prices.get(p.symbol, p.long_price) for p in self.pairs.values()), Decimal(0))

    def symbol_notional(self, symbol: str, price: Decimal) -> Decimal:
        """Per-leg notional held in a symbol (each pair counted once)."""
        return sum((p.qty for p in self.pairs.values() if p.symbol == symbol), Decimal(0)) * price

    def reconcile(self, venue_positions: dict[tuple[str, str], Decimal],
                  tolerance: dict[tuple[str, str], Decimal] | None = None) -> list[PositionMismatch]:
        """Every (venue, symbol) whose venue position differs from the ledger beyond tolerance."""
        expected = self.expected_positions()
        mismatches = []
        for key in sorted(set(expected) | set(venue_positions)):
            want = expected.get(key, Decimal(0))
            found = venue_positions.get(key, Decimal(0))
            if abs(want - found) > (tolerance or {}).get(key, Decimal(0)):
                mismatches.append(PositionMismatch(key[0], key[1], want, found))
        return mismatches

    # --- persistence ---
    def to_json(self) -> str:
        """The whole ledger as one JSON document: exactly `json.dumps(<the document>, sort_keys=True)`, built
        from each record's kept text (hedge.ledger._JsonMemo) and the few figures around them."""
        return self._document("")

    def _document(self, journal: str) -> str:
        """The whole document; `journal` (not ""): the token the journal's entries after it carry."""
        of = self._memo.start()
        loose = ", ".join([of(leg) for leg in self.loose.values()])
        orders = ", ".join([of(r) for r in self.orders.values()])
        pairs = ", ".join([of(p) for p in self.pairs.values()])
        watch = ", ".join([of(r) for r in self.watch.values()])
        token = f'"journal": "{journal}", ' if journal else ""
        # only when some are: the documents saved before it existed (and golden runs) keep their bytes
        held = ", ".join([of(r) for r in self.pending.values()])
        pending = f'"pending": [{held}], ' if self.pending else ""
        reads = f'"reads": {json.dumps(self.reads, sort_keys=True)}, ' if self.reads else ""
        return _DOCUMENT % (self.closed_pairs, self.fees_paid, self.funding_total, token, loose, self.next_id,
                            self.order_seq, orders, pairs, pending + reads, self.realized_pnl,
                            self.spread_captured, self.volume, watch)

    @classmethod
    def from_json(cls, text: str) -> Ledger:
        return cls._of(json.loads(text))

    @classmethod
    def _of(cls, data: dict[str, Any]) -> Ledger:
        pairs = [HedgePair.from_json(p) for p in data["pairs"]]
        loose = [LooseLeg.from_json(item) for item in data.get("loose", [])]
        return cls(pairs={p.id: p for p in pairs}, next_id=int(data["next_id"]),
                   realized_pnl=Decimal(data["realized_pnl"]), fees_paid=Decimal(data["fees_paid"]),
                   volume=Decimal(data["volume"]), closed_pairs=int(data["closed_pairs"]),
                   funding_total=Decimal(data.get("funding_total", "0")),
                   spread_captured=Decimal(data.get("spread_captured", "0")),
                   orders={r["client_id"]: OrderRecord.from_json(r) for r in data.get("orders", [])},
                   order_seq=int(data.get("order_seq", 0)), loose={leg.key: leg for leg in loose},
                   watch={r["client_id"]: OrderRecord.from_json(r) for r in data.get("watch", [])},
                   pending={r["client_id"]: OrderRecord.from_json(r) for r in data.get("pending", [])},
                   reads={str(key): int(ms) for key, ms in data.get("reads", {}).items()})

    def save(self, store: Any) -> None:
        """store is FMZ's _G. One write, committed before it returns (a kill after it loses nothing): what
        changed since this ledger's last save, in the journal's next key, or now and then (the first save,
        every JOURNAL_SLOTS, records reordered, most records new) the whole document under STORE_KEY."""
        journal = self._journal
        if journal.token and journal.written < JOURNAL_SLOTS:
            entry = journal.entry(self)
            if entry == "":
                return  # nothing changed: the store holds this already
            if entry is not None:
                store(f"{JOURNAL_PREFIX}{journal.written + 1}", entry)
                journal.wrote(self)
                return
        token = secrets.token_hex(8)  # never one an earlier document's stale entries carry
        store(STORE_KEY, self._document(token))
        journal.began(token, self)

    def compact(self, store: Any) -> None:
        """What this ledger last saved (not what it holds now: a cluster's refresh is not saved) as the whole
        document under STORE_KEY with no journal after it, as saved before the journal existed; then the
        journal's keys this ledger wrote or read are deleted: a clean exit leaves one key. Nothing when this
        ledger neither saved nor was loaded."""
        journal, self._journal = self._journal, _Journal()
        if not journal.token:
            return
        store(STORE_KEY, journal.kept()._document(""))
        for slot in range(1, journal.high + 1):
            store(f"{JOURNAL_PREFIX}{slot}", None)

    @classmethod
    def load(cls, store: Any) -> Ledger:
        """The whole document, then the journal's entries that follow it (a document saved before the
        journal existed has none)."""
        text = store(STORE_KEY)
        if not text:
            return cls()
        data = json.loads(text)
        ledger = cls._of(data)
        token = data.get("journal")
        if token:
            read = 0
            while True:  # however many a version with more JOURNAL_SLOTS wrote
                raw = store(f"{JOURNAL_PREFIX}{read + 1}")
                entry = json.loads(raw) if raw else None
                if not entry or entry.get("journal") != token or entry.get("n") != read + 1:
                    break  # never written after this document, or left by an earlier one
                ledger._replay(entry)
                read += 1
            ledger._journal.resumed(token, read, ledger)
        return ledger

    def _replay(self, entry: dict[str, Any]) -> None:
        (self.next_id, realized, spread, fees, volume, self.closed_pairs, funding,
         self.order_seq) = entry["figures"]
        self.realized_pnl, self.spread_captured, self.fees_paid, self.volume, self.funding_total = (
            Decimal(realized), Decimal(spread), Decimal(fees), Decimal(volume), Decimal(funding))
        self.reads.update({str(key): int(ms) for key, ms in entry.get("reads", {}).items()})
        for name, parse, key_of in _RECORDS:
            records: dict[Any, Any] = getattr(self, name)
            for gone in entry.get(f"{name}_gone", ()):
                records.pop(tuple(gone) if isinstance(gone, list) else gone, None)
            for data in entry.get(name, ()):
                record = parse(data)
                records[key_of(record)] = record

    def _figures(self) -> tuple[Any, ...]:
        return (self.next_id, str(self.realized_pnl), str(self.spread_captured), str(self.fees_paid),
                str(self.volume), self.closed_pairs, str(self.funding_total), self.order_seq)

    @staticmethod
    def legacy_loose(store: Any) -> list[tuple[str, str, Decimal, Decimal, int]]:
        """Loose legs saved by a version that kept them outside the ledger (LEGACY_LOOSE_KEY): (venue,
        symbol, signed qty, price, pair id) each. The caller gives them a unit and deletes the key."""
        text = store(LEGACY_LOOSE_KEY)
        if not text:
            return []
        return [(str(venue), str(symbol), Decimal(qty), Decimal(price), int(pair_id))
                for venue, symbol, qty, price, pair_id in json.loads(text)]


# The saved document, its keys in sorted order and json.dumps' separators (the text it gave, byte for
# byte): counts as integers, money as the Decimal's str (digits, ".", "-", "E": nothing JSON escapes),
# records as their kept JSON text; the journal's token and the read times, when there are, in their sorted
# places
_DOCUMENT = ('{"closed_pairs": %d, "fees_paid": "%s", "funding_total": "%s", %s"loose": [%s], '
             '"next_id": %d, "order_seq": %d, "orders": [%s], "pairs": [%s], %s"realized_pnl": "%s", '
             '"spread_captured": "%s", "volume": "%s", "watch": [%s]}')
# the ledger's record mappings: attribute, parse of one saved record, its key in the mapping
_RECORDS: tuple[tuple[str, Callable[[dict[str, Any]], Any], Callable[[Any], Any]], ...] = (
    ("pairs", HedgePair.from_json, lambda p: p.id),
    ("orders", OrderRecord.from_json, lambda r: r.client_id),
    ("loose", LooseLeg.from_json, lambda leg: leg.key),
    ("watch", OrderRecord.from_json, lambda r: r.client_id),
    ("pending", OrderRecord.from_json, lambda r: r.client_id),
)
_ABSENT = object()


class _Journal:
    """What a ledger last wrote to the store, so that a save writes only what changed since (issue #21).

    The store holds the whole document under STORE_KEY with a random `journal` token in it, then one entry
    per save after it under JOURNAL_PREFIX + 1, 2, ...: the figures, the records put (new or changed, by
    identity: records are frozen) and the keys of those gone, each carrying the token and its number. A
    load reads the document, then the entries while they carry its token and the next number: a key left
    over from an earlier document (another token) or never written ends it. Each save is one _G write, so
    the store always holds one consistent ledger. An entry keeps the mappings' order: a record put that was
    there stays in its place, a new one goes at the end; a save whose records moved otherwise (a cluster's
    refresh) writes the whole document."""

    __slots__ = ("token", "written", "high", "saved", "figures", "reads")

    def __init__(self) -> None:
        self.token = ""  # "": nothing written by this ledger yet
        self.written = 0  # entries after the document
        self.high = 0  # the highest entry key this ledger wrote or read
        self.saved: tuple[dict[Any, Any], ...] = ()  # the record mappings as last written (copies)
        self.figures: tuple[Any, ...] = ()
        self.reads: dict[str, int] = {}  # the read times as last written

    def began(self, token: str, ledger: Ledger) -> None:
        self.token, self.written = token, 0
        self._took(ledger)

    def resumed(self, token: str, read: int, ledger: Ledger) -> None:
        self.token, self.written, self.high = token, read, read
        self._took(ledger)

    def wrote(self, ledger: Ledger) -> None:
        self.written += 1
        self.high = max(self.high, self.written)
        self._took(ledger)

    def _took(self, ledger: Ledger) -> None:
        self.saved = tuple(dict(getattr(ledger, name)) for name, _parse, _key in _RECORDS)
        self.figures = ledger._figures()
        self.reads = dict(ledger.reads)

    def kept(self) -> Ledger:
        """The ledger as the store holds it (what a load gives)."""
        pairs, orders, loose, watch, pending = (dict(records) for records in self.saved)
        next_id, realized, spread, fees, volume, closed, funding, order_seq = self.figures
        return Ledger(pairs=pairs, next_id=next_id, realized_pnl=Decimal(realized),
                      spread_captured=Decimal(spread), fees_paid=Decimal(fees), volume=Decimal(volume),
                      closed_pairs=closed, funding_total=Decimal(funding), orders=orders, order_seq=order_seq,
                      loose=loose, watch=watch, pending=pending, reads=dict(self.reads))

    def entry(self, ledger: Ledger) -> str | None:
        """The next entry's text; "": nothing changed; None: write the whole document."""
        entry: dict[str, Any] = {}
        changed, total = 0, 0
        for (name, _parse, _key), saved in zip(_RECORDS, self.saved, strict=True):
            records: dict[Any, Any] = getattr(ledger, name)
            found = _changes(saved, records)
            if found is None:
                return None
            put, gone = found
            if put:
                entry[name] = [record.to_json() for record in put]
            if gone:
                entry[f"{name}_gone"] = gone
            changed += len(put)
            total += len(records)
        figures = ledger._figures()
        if not entry and figures == self.figures:
            return ""
        if changed > 8 and 2 * changed > total:
            return None  # most of it: the document is as short
        reads = {key: ms for key, ms in ledger.reads.items() if self.reads.get(key) != ms}
        if reads:  # never a reason to write by itself: only what is saved anyway needs its reads' times
            entry["reads"] = reads
        entry.update(journal=self.token, n=self.written + 1, figures=figures)
        return json.dumps(entry)


def _changes(saved: dict[Any, Any], now: dict[Any, Any]) -> tuple[list[Any], list[Any]] | None:
    """(records put, keys gone) from `saved` to `now`; None when `now` is not `saved` less the keys gone,
    in the same order, with the new keys after them (what replaying the entry gives)."""
    put: list[Any] = []
    earlier = iter(saved)
    fresh = False
    for key, record in now.items():
        before = saved.get(key, _ABSENT)
        if before is _ABSENT:
            fresh = True
            put.append(record)
            continue
        if fresh:
            return None  # a kept record after a new one
        for passed in earlier:
            if passed == key:
                break
            if passed in now:
                return None  # moved after a record that was saved after it
        if before is not record:
            put.append(record)
    return put, [key for key in saved if key not in now]


class _JsonMemo:
    """The JSON text of frozen records (`json.dumps(record.to_json(), sort_keys=True)`), kept from one save to
    the next for the records still there (by identity: a changed record is a new object). Holding the record
    keeps its id from being reused."""

    __slots__ = ("_kept", "_next")

    def __init__(self) -> None:
        self._kept: dict[int, tuple[Any, str]] = {}
        self._next: dict[int, tuple[Any, str]] = {}

    def start(self) -> Callable[[Any], str]:
        """Begin one serialisation: returns the function giving a record's JSON text; what it was not asked
        for this time is dropped."""
        self._kept, self._next = self._next, {}
        return self._of

    def _of(self, record: Any) -> str:
        found = self._kept.get(id(record))
        if found is None or found[0] is not record:
            found = (record, json.dumps(record.to_json(), sort_keys=True))
        self._next[id(record)] = found
        return found[1]
