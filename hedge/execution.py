"""Placing the two legs of a hedge pair so that net exposure ends at zero.

Policy (single-leg handling):
1. Read both venues' positions first (side by side: hedge/calls.py, exchange.Go); if either is unreadable,
   send nothing.
2. Journal both legs (and check each may be sent: cluster fencing; if one may not, neither is), then send
   both as market orders (price -1), equal base quantity, at once (exchange.Go: where the runtime runs Go
   concurrently, the second leg does not wait for the first one's answer).
3. Resolve each order (GetOrder; cancel any remainder), then measure what really filled from the
   position change: venue positions are the truth, also when CreateOrder returned None.
4. If the fills differ, top up the lagging venue once, as an IOC limit order banded `band_bps` around
   the leg's expected price (so a runaway book is not chased); if an opening still differs, bring both
   legs down to the largest quantity both venues can hold exactly (undoing the excess on the over-filled
   leg). A stop's close is not undone (that would reopen the threatened leg). What an undo could not
   remove, or a stop's lagging leg still holds, is returned unbalanced: the caller keeps it as a loose
   leg and closes it reduce-only.
5. If a position cannot be read afterwards, the outcome is unknown: raise LegOutcomeUnknown and
   never re-send; the app stops opening until positions and ledger agree again.

Every order is journaled (hedge/orders.py, persisted by the `journal` callback) with its client order
id before CreateOrder is called, and each of its events is written to the order log (exchange.Log).
An order whose CreateOrder call gave no answer is looked up by client id (GetOrders, then
GetHistoryOrders) and is only considered absent when lookups spread over the venue's settle window all
answered without it (hedge/orders.py, `absence_proved`): the executor waits that window out before it
tops a leg up, so an order that reaches the matching engine late is measured, not doubled. One turn waits
on settle windows for at most `max_turn_wait_ms` in all (outage.max_turn_wait_ms; `begin_turn`): an order
still unproved then raises LegOutcomeUnknown, as a dark venue does, and stays journaled IN_FLIGHT for
recovery (hedge/recovery.py) to settle at later turns; nothing is sent on a venue-symbol where an
order is in doubt (`in_doubt`) until then. The client id
rides in CreateOrder's options under each venue's own parameter name (`order_options`); as no FMZ source
proves a docker passes it on, an order listed without any client id of ours is taken for the lost one when
it alone matches its direction, amount and send time (`_unclaimed_match`), and several such orders leave it
unsettled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from hedge import calls
from hedge.book import pairs_named
from hedge.decimals import to_decimal
from hedge.liquidations import is_liquidation
from hedge.market import Venue, fmz_pair, swap_symbol
from hedge.order_history import finished_since
from hedge.orders import (
    OPEN_OUTCOME,
    OrderEvent,
    OrderRecord,
    OrderStatus,
    absence_proved,
    count_miss,
    next_lookup_ms,
    order_fill,
)
from hedge.sizing import common_base_step, floor_to_step, order_parts

# Effect of each CreateOrder side on the signed position, and the side that undoes it.
DIRECTION = {"buy": 1, "sell": -1, "closebuy": -1, "closesell": 1}
UNDO = {"buy": "closebuy", "closebuy": "buy", "sell": "closesell", "closesell": "sell"}
ORDER_STATE_PENDING, ORDER_STATE_CLOSED, ORDER_STATE_CANCELED = 0, 1, 2
LOG_TYPE_BUY, LOG_TYPE_SELL, LOG_TYPE_CANCEL = 0, 1, 2
BUYING = ("buy", "closesell")
CLOSING = ("closebuy", "closesell")
PD_LONG, PD_SHORT, PD_LONG_YD = 0, 1, 2
POSITION_READ_ATTEMPTS = 3
RETRY_SLEEP_MS = 200
DEFAULT_SETTLE_MS = 10_000  # outage.order_settle_s: how long a timed-out order may take to appear
ABSENCE_WAITS = 8  # lookups settle() makes at most (ABSENCE_LOOKUPS suffice when the clock moves)
# Where each venue's raw order (FMZ's Order.Info) carries the client order id; FMZ's Order struct has none.
CLIENT_ID_FIELDS = {"binance": "clientOrderId", "bybit": "orderLinkId", "okx": "clOrdId",
                    "coinex": "client_id", "bitmex": "clOrdID"}


# FMZ passes the options after ';' in CreateOrder's side to the venue's order API as that venue's own
# parameters ("the specific parameters supported depend on the exchange API", fmz.com/syntax-guide/fun/
# trade/exchange.createorder), so each is spelled as the venue's order endpoint names it (docs/live.md,
# "Order options on FMZ"): the client order id, what makes a limit order immediate-or-cancel, and the
# reduce-only flag a close side carries (so a close never opens the other way, whatever the docker sets;
# CoinEx has none on its order endpoint).
ORDER_OPTIONS: dict[str, tuple[str, dict[str, str], dict[str, Any]]] = {
    "binance": ("newClientOrderId", {"timeInForce": "IOC"}, {"reduceOnly": True}),   # POST /fapi/v1/order
    "bybit": ("orderLinkId", {"timeInForce": "IOC"}, {"reduceOnly": True}),          # POST /v5/order/create
    "okx": ("clOrdId", {"ordType": "ioc"}, {"reduceOnly": True}),                   # POST /api/v5/trade/order
    "coinex": ("client_id", {"type": "ioc"}, {}),                                   # POST /v2/futures/order
    "bitmex": ("clOrdID", {"timeInForce": "ImmediateOrCancel"}, {"execInst": "ReduceOnly"}),  # /api/v1/order
}
# an order proved absent (lookups over one settle window) may still reach the venue this many settle windows
# after its send (a request queued in the venue's gateway); one without our client id is matched over them
LATE_LANDING_SETTLES = 6
# a venue's order times are its own clock: a landing is after a positions read of ours only by this much more
# (exchanges refuse signed calls whose clock is 5 s off: binance's default recvWindow)
READ_MARGIN_MS = 5_000
OWN_ID_PREFIX = "hg"  # every client id the strategy makes starts so (ledger.next_client_id, cluster prefixes)
ORDER_TYPE_BUY, ORDER_TYPE_SELL = 0, 1


def client_id_of(venue_key: str, order: dict[str, Any]) -> str:
    """The client order id in a venue's raw order, "" when it carries none."""
    info = order.get("Info") or {}
    value = info.get(CLIENT_ID_FIELDS[venue_key]) if isinstance(info, dict) else None
    return str(value) if value else ""


def order_options(venue_key: str, client_id: str, ioc: bool, close: bool = False) -> str:
    """The options CreateOrder's side carries after ';' on venue_key: its client id, IOC for a limit, and
    reduce-only for a close side."""
    id_field, ioc_fields, reduce_fields = ORDER_OPTIONS[venue_key]
    options = {id_field: client_id, **(ioc_fields if ioc else {}), **(reduce_fields if close else {})}
    return json.dumps(options, separators=(",", ":"))


def signed_positions(venue: Venue, positions: list[dict[str, Any]]) -> dict[str, Decimal]:
    """Signed base quantity per symbol of ours (venue.specs) in one GetPositions answer."""
    held: dict[str, Decimal] = {}
    for pos in positions:
        symbol = fmz_pair(pos["Symbol"])
        spec = venue.specs.get(symbol)
        if spec is None:
            continue
        # Venues hold whole lots; snap away float noise (0.8699999999 contracts -> 0.87).
        lots = (to_decimal(pos["Amount"]) / spec.lot).to_integral_value(ROUND_HALF_EVEN)
        amount = lots * spec.lot * spec.ct_val
        held[symbol] = held.get(symbol, Decimal(0)) + (amount if pos["Type"] in (PD_LONG, PD_LONG_YD)
                                                       else -amount)
    return held


class LegOutcomeUnknown(RuntimeError):
    """A leg was sent but its effect cannot be proved; nothing may be re-sent until it is."""


@dataclass(frozen=True)
class Leg:
    venue: Venue
    side: str      # buy | sell | closebuy | closesell
    base: Decimal  # intended base quantity (> 0)
    ref_price: Decimal  # expected fill price, used when the venue reports no average
    limit: Decimal | None = None  # send as an IOC limit at this price instead of a market order


@dataclass
class LegFill:
    venue: str
    side: str
    filled: Decimal = Decimal(0)     # net base quantity moved in the leg's direction
    cost: Decimal = Decimal(0)       # signed quote amount of forward fills (for the average price)
    forward: Decimal = Decimal(0)    # base filled in the leg's direction
    undone: Decimal = Decimal(0)     # base moved back (undo orders)
    undo_cost: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    order_ids: list[str] = field(default_factory=list)   # venue order ids
    client_ids: list[str] = field(default_factory=list)  # our tags, carried in the order log line

    @property
    def avg_price(self) -> Decimal:
        return self.cost / self.forward if self.forward else Decimal(0)


@dataclass(frozen=True)
class PairFill:
    symbol: str
    qty: Decimal                    # equal base quantity held/closed on both legs
    fills: tuple[LegFill, LegFill]
    residual_pnl: Decimal           # result of undo orders (USDT, before fees)
    balanced: bool                  # False when the legs could not be equalized

    @property
    def fees(self) -> Decimal:
        return self.fills[0].fees + self.fills[1].fees


class Executor:
    def __init__(self, *, sleep: Callable[[float], Any], taker_bps: Callable[[str], Decimal],
                 event: Callable[..., None], journal: Callable[[OrderRecord], None] | None = None,
                 new_client_id: Callable[[], str] | None = None, band_bps: Decimal = Decimal(5),
                 may_send: Callable[[OrderRecord], bool] | None = None,
                 logged: Callable[[str, int, float, float, str], None] | None = None,
                 exclusive: Callable[[list[tuple[str, str]]], AbstractContextManager[bool]] | None = None,
                 now_ms: Callable[[], int] | None = None, settle_ms: Callable[[str], int] | None = None,
                 in_doubt: Callable[[str, str], bool] | None = None, max_turn_wait_ms: int | None = None,
                 held_pairs: Callable[[], Collection[int]] | None = None) -> None:
        self._sleep_call = sleep
        self._slept_ms = 0  # the clock when none is given: the executor's own waits
        self._now_ms = now_ms or (lambda: self._slept_ms)
        self._settle_ms = settle_ms or (lambda _venue: DEFAULT_SETTLE_MS)
        self._taker_bps = taker_bps
        self._event = event
        self._journal = journal or (lambda record: None)
        self._seq = 0
        self._new_client_id = new_client_id or self._next_client_id
        self.orders_sent = 0
        self._band = band_bps / 10_000
        # cluster seam: the fencing check between journal and send, and every order-log row for peers
        self._may_send = may_send
        self._logged = logged
        # cluster seam: (venue, symbol) execution locks held from the first position read to the last settle
        self._exclusive = exclusive or (lambda _keys: nullcontext(True))
        # a journaled order on (venue, symbol) not settled yet: nothing is sent there (its fill could land
        # in another execution's measurement, or double a leg)
        self._in_doubt = in_doubt or (lambda _venue, _symbol: False)
        # pairs whose close filled and waits for its booking (Book.held_pairs): no execution closes them again
        self._held_pairs = held_pairs or frozenset
        self.max_turn_wait_ms = max_turn_wait_ms  # None: settle waits each window out
        self._turn_waited_ms = 0
        self._bounded = True
        # when this process last read each venue-symbol's positions (a fill measured or a difference booked
        # from a position needs a read): a landing after it is in no position this process counted
        self._started_ms = self._now_ms()
        self._read_ms: dict[tuple[str, str], int] = {}
        # when the process before a restart last read them, as its saved ledger says (`restore_reads`); a
        # venue-symbol not in it: unknown, taken as read when this process started (just before the kill)
        self._prior_read_ms: dict[tuple[str, str], int] = {}
        # told each read (venue, symbol, ms): the ledger keeps them (Book.note_read; not in a cluster)
        self.on_read: Callable[[str, str, int], None] | None = None
        self._unreadable: set[tuple[str, str]] = set()  # venue-symbols whose last positions read failed
        # when a closing order on each venue-symbol was last refused by a definite answer (REJECTED: it
        # cannot land later): a loose leg there is re-hedged without waiting for its venue (Rehedger)
        self._close_refused_ms: dict[tuple[str, str], int] = {}

    def settle_ms(self, venue_key: str) -> int:
        """How long after its send a timed-out order on that venue may still appear (order_settle_s)."""
        return self._settle_ms(venue_key)

    def begin_turn(self, bounded: bool = True) -> None:
        """A new turn of the loop: its settle waits start from nothing, up to max_turn_wait_ms in all.
        bounded=False: wait every window out (a start's recovery, before anything else runs)."""
        self._turn_waited_ms = 0
        self._bounded = bounded

    def _settle_wait_allowed(self, wait_ms: int) -> int:
        """How much of a settle wait this turn may still spend (all of it when unbounded)."""
        if self.max_turn_wait_ms is None or not self._bounded:
            return wait_ms
        return max(0, min(wait_ms, self.max_turn_wait_ms - self._turn_waited_ms))

    def _sleep(self, ms: float) -> None:
        self._slept_ms += int(ms)
        self._sleep_call(ms)

    def _next_client_id(self) -> str:
        self._seq += 1
        return f"hg{self._seq}"

    # --- queries ---
    def position(self, venue: Venue, symbol: str) -> Decimal | None:
        """Signed base quantity held on venue in symbol; None when the venue did not answer."""
        return self._position_read(venue, symbol, venue.exchange.GetPositions(swap_symbol(symbol)))

    def _position_read(self, venue: Venue, symbol: str, positions: list[dict[str, Any]] | None
                       ) -> Decimal | None:
        """position() from a GetPositions(symbol) answer."""
        if positions is None:
            self._unreadable.add((venue.key, symbol))
            return None
        self._unreadable.discard((venue.key, symbol))
        self._note_read(venue, (symbol,), self._now_ms())
        return signed_positions(venue, positions).get(symbol, Decimal(0))

    def positions(self, venue: Venue) -> dict[str, Decimal] | None:
        """Signed base quantity per symbol of ours held on venue, from one GetPositions call for all its
        symbols; None when the venue did not answer."""
        positions = venue.exchange.GetPositions()
        now = self._now_ms()
        if positions is None:
            self._unreadable.update((venue.key, symbol) for symbol in venue.specs)
            return None
        self._unreadable.difference_update((venue.key, symbol) for symbol in venue.specs)
        self._note_read(venue, venue.specs, now)
        return signed_positions(venue, positions)

    def _note_read(self, venue: Venue, symbols: Iterable[str], now: int) -> None:
        for symbol in symbols:
            self._read_ms[(venue.key, symbol)] = now
            if self.on_read is not None:
                self.on_read(venue.key, symbol, now)

    def restore_reads(self, reads: Mapping[tuple[str, str], int]) -> None:
        """When the process before a restart last read each venue-symbol's positions (its saved ledger's
        read times: whatever it saved was counted from reads no later than these)."""
        self._prior_read_ms = dict(reads)

    def unreadable(self, venue_key: str, symbol: str) -> bool:
        """The last read of venue-symbol's positions by this process failed (none since answered)."""
        return (venue_key, symbol) in self._unreadable

    def read_since(self, venue_key: str, symbol: str, ms: int) -> bool:
        """This process has read venue-symbol's positions at or after `ms`."""
        return self._read_ms.get((venue_key, symbol), -1) >= ms

    def close_refused_ms(self, venue_key: str, symbol: str) -> int | None:
        """When this process last sent a closing order on venue-symbol that the venue definitely refused
        (the runtime said so: it cannot land later); None: never."""
        return self._close_refused_ms.get((venue_key, symbol))

    def unread_since(self, venue_key: str, symbol: str, landed_ms: int) -> bool:
        """True when this process has read venue-symbol's positions (or started) only more than
        READ_MARGIN_MS before landed_ms, an order's landing time by the venue's clock: no fill this process
        measured by a position change (its own or another order's settle window), and no difference it
        booked from a position read, can hold that landing. False when landed_ms is unknown (0)."""
        key = (venue_key, symbol)
        last = max(self._prior_read_ms.get(key, self._started_ms), self._read_ms.get(key, 0))
        return bool(landed_ms) and last + READ_MARGIN_MS < landed_ms

    def _position_or_unknown(self, venue: Venue, symbol: str) -> Decimal:
        for attempt in range(POSITION_READ_ATTEMPTS):
            found = self.position(venue, symbol)
            if found is not None:
                return found
            if attempt + 1 < POSITION_READ_ATTEMPTS:
                self._sleep(RETRY_SLEEP_MS)
        raise LegOutcomeUnknown(f"{venue.key} {symbol}: position unreadable after sending an order; "
                                "not re-sending until positions can be read and reconciled")

    # --- commands ---
    def execute_pair(self, symbol: str, legs: tuple[Leg, Leg], tag: str, undo_closes: bool = True,
                     lead: int | None = None) -> PairFill | None:
        """Trade both legs; None when nothing was sent (positions unreadable beforehand, or another node of
        a cluster trading one of the venue-symbols now: its fills would be measured as ours).
        undo_closes=False: a close whose legs differ is not undone (a stop: re-opening the threatened leg
        is worse than the hedging leg's rest staying open, which the caller closes as a loose leg).
        Also None when an order on one of the venue-symbols is in doubt (recovery settles it first).
        lead: the index of the leg sent first, alone, and settled before the other is sent, for what it
        filled only (a close on a venue that has not proved it trades: refused there, nothing else goes);
        None: both back to back."""
        if self._doubted(tag, symbol, [leg.venue for leg in legs]):
            return None
        with self._exclusive([(leg.venue.key, symbol) for leg in legs]) as free:
            if free:
                return self._execute_pair(symbol, legs, tag, undo_closes, lead)
        self._busy(tag, symbol, "/".join(leg.venue.key for leg in legs))
        return None

    def _doubted(self, tag: str, symbol: str, venues: list[Venue]) -> bool:
        held = sorted((pairs_named(tag) or frozenset()) & set(self._held_pairs()))
        if held:
            self._event(f"{tag}: nothing sent: a close of pair{'s' if len(held) > 1 else ''} "
                        f"{', '.join(f'#{i}' for i in held)} filled and is not booked yet (recovery)", "warn")
            return True
        doubted = [venue.key for venue in venues if self._in_doubt(venue.key, symbol)]
        if doubted:
            self._event(f"{tag}: nothing sent: an order on {'/'.join(doubted)} {symbol} is in doubt (not "
                        "proved absent yet); recovery settles it first", "warn")
        return bool(doubted)

    def _busy(self, tag: str, symbol: str, venues: str) -> None:
        self._event(f"{tag}: nothing sent: {symbol} on {venues} is being traded by another node (tried "
                    "again later)", "warn")

    def _execute_pair(self, symbol: str, legs: tuple[Leg, Leg], tag: str, undo_closes: bool,
                      lead: int | None = None) -> PairFill | None:
        before = self._positions_before(legs, symbol, tag)
        if before is None:
            return None
        fills = (LegFill(legs[0].venue.key, legs[0].side), LegFill(legs[1].venue.key, legs[1].side))
        if lead is None:
            self._send_both(legs, fills, symbol, tag, before)
        elif not self._lead_first(symbol, legs, tag, fills, before, lead):
            return PairFill(symbol, Decimal(0), fills, Decimal(0), True)
        if fills[0].filled != fills[1].filled:
            self._top_up(legs, fills, symbol, tag)
        residual = Decimal(0)
        closing = all(leg.side in CLOSING for leg in legs)
        if fills[0].filled != fills[1].filled and (undo_closes or not closing):
            residual = self._undo_excess(legs, fills, symbol, tag)
        balanced = fills[0].filled == fills[1].filled
        if not balanced:
            what = "closed" if closing else "holds"
            self._event(f"{tag}: LEGS UNBALANCED {fills[0].venue} {what} {fills[0].filled} vs "
                        f"{fills[1].venue} {fills[1].filled} {symbol}", "warn")
        return PairFill(symbol, min(fills[0].filled, fills[1].filled), fills, residual, balanced)

    def _positions_before(self, legs: tuple[Leg, Leg], symbol: str, tag: str) -> list[Decimal] | None:
        """Each leg's venue position before the orders, both venues read at once (exchange.Go); None
        (nothing sent) when one is unreadable."""
        before: list[Decimal] = []

        def read(leg: Leg) -> Callable[[], calls.Handle]:
            return lambda: calls.start(leg.venue.exchange, "GetPositions", swap_symbol(symbol))

        def answered(index: int, positions: Any, _verdict: bool | None) -> bool:
            pos = self._position_read(legs[index].venue, symbol, positions)
            if pos is None:
                self._event(f"{tag}: {legs[index].venue.key} positions unreadable, nothing sent", "warn")
                return False
            before.append(pos)
            return True

        return before if calls.each([read(leg) for leg in legs], answered) else None

    def _send_both(self, legs: tuple[Leg, Leg], fills: tuple[LegFill, LegFill], symbol: str, tag: str,
                   before: list[Decimal]) -> None:
        """Send both legs at once (exchange.Go), then settle each; a leg whose outcome is unknown is raised
        once both are settled (journaled): recovery books them. Both orders are journaled and fenced before
        either is sent: a kill between the sends leaves both journaled (recovery looks them up by client id),
        and when one may not be sent (fenced out) neither is."""
        records = [self._journaled(leg, leg.side, leg.base, symbol, tag, leg.limit) for leg in legs]
        if any(record.status is OrderStatus.ABSENT for record in records):
            sent = [record if record.status is OrderStatus.ABSENT else self._unsent(leg, record)
                    for leg, record in zip(legs, records, strict=True)]
        else:
            sent = list(records)

            def place(index: int) -> Callable[[], calls.Handle]:
                return lambda: self._place(legs[index], records[index], legs[index].limit)

            def answered(index: int, order_id: Any, unknown: bool | None) -> bool:
                sent[index] = self._answered(legs[index], records[index], order_id, unknown)
                return True

            calls.each([place(0), place(1)], answered)
        unknown: LegOutcomeUnknown | None = None
        for leg, fill, order, pos0 in zip(legs, fills, sent, before, strict=True):
            try:  # every leg is settled (journaled) before an unknown one is raised: recovery books them
                self._settle(leg, fill, order, symbol, pos0, leg.side)
            except LegOutcomeUnknown as exc:
                unknown = unknown or exc
        if unknown is not None:
            raise unknown

    def _top_up(self, legs: tuple[Leg, Leg], fills: tuple[LegFill, LegFill], symbol: str, tag: str) -> None:
        """The leg that filled less is topped up once, banded, by whole amount steps of its venue."""
        lag = 0 if fills[0].filled < fills[1].filled else 1
        over = 1 - lag
        lag_step = legs[lag].venue.specs[symbol].base_step
        top_up = floor_to_step(fills[over].filled - fills[lag].filled, lag_step)
        if top_up > 0:
            self._event(f"{tag}: {fills[lag].venue} filled {fills[lag].filled} vs {fills[over].filled}"
                        f" on {fills[over].venue}; topping up {top_up} once", "warn")
            self._trade(legs[lag], fills[lag], legs[lag].side, top_up, symbol, tag,
                        limit=self._banded(legs[lag], symbol))

    def _undo_excess(self, legs: tuple[Leg, Leg], fills: tuple[LegFill, LegFill], symbol: str, tag: str
                     ) -> Decimal:
        """Trade back what each leg filled beyond the other (on their common step); returns what undoing
        cost or gained."""
        residual = Decimal(0)
        step = common_base_step(*(leg.venue.specs[symbol] for leg in legs))
        keep = floor_to_step(min(fills[0].filled, fills[1].filled), step)
        for leg, fill in zip(legs, fills, strict=True):
            excess = fill.filled - keep
            if excess > 0:
                self._event(f"{tag}: undoing {excess} on {fill.venue} to match the other leg at {keep}",
                            "warn")
                self._trade(leg, fill, UNDO[leg.side], excess, symbol, tag)
        for leg, fill in zip(legs, fills, strict=True):
            if fill.undone:
                direction = DIRECTION[leg.side]
                # undo at p2 of a leg entered at p1: long gains p2 - p1, short gains p1 - p2
                residual += direction * (fill.undo_cost - fill.avg_price * fill.undone)
        return residual

    def _lead_first(self, symbol: str, legs: tuple[Leg, Leg], tag: str, fills: tuple[LegFill, LegFill],
                    before: list[Decimal], lead: int) -> bool:
        """The lead leg alone, settled; then the other for what it filled (on its venue's step). False: the
        lead filled nothing and the other was not sent. An unknown outcome of the lead leg raises before the
        other is sent (recovery books what it did)."""
        first, other = legs[lead], legs[1 - lead]
        self._settle(first, fills[lead], self._send(first, first.side, first.base, symbol, tag, first.limit),
                     symbol, before[lead], first.side)
        filled = fills[lead].filled
        if filled <= 0:
            self._event(f"{tag}: {first.venue.key} filled nothing of its leg, sent first alone; "
                        f"{other.venue.key}'s leg not sent", "warn")
            return False
        base = min(other.base, floor_to_step(filled, other.venue.specs[symbol].base_step))
        if base > 0:
            order = self._send(other, other.side, base, symbol, tag, other.limit)
            self._settle(other, fills[1 - lead], order, symbol, before[1 - lead], other.side)
        return True

    def _banded(self, leg: Leg, symbol: str) -> Decimal | None:
        """Worst acceptable price for a retried leg: expected price moved by the band, on the tick grid."""
        if leg.ref_price <= 0:
            return None
        tick = leg.venue.specs[symbol].tick
        if leg.side in BUYING:
            price = leg.ref_price * (1 + self._band)
            return (price / tick).to_integral_value(ROUND_FLOOR) * tick if tick else price
        price = leg.ref_price * (1 - self._band)
        return (price / tick).to_integral_value(ROUND_CEILING) * tick if tick else price

    def _trade(self, leg: Leg, fill: LegFill, side: str, base: Decimal, symbol: str, tag: str,
               limit: Decimal | None = None) -> None:
        before = self._position_or_unknown(leg.venue, symbol)
        record = self._send(leg, side, base, symbol, tag, limit)
        self._settle(leg, fill, record, symbol, before, side)

    def _send(self, leg: Leg, side: str, base: Decimal, symbol: str, tag: str,
              limit: Decimal | None = None) -> OrderRecord:
        record = self._journaled(leg, side, base, symbol, tag, limit)
        if record.status is OrderStatus.ABSENT:
            return record
        return self._answered(leg, record, *calls.finish(self._place(leg, record, limit)))

    def _journaled(self, leg: Leg, side: str, base: Decimal, symbol: str, tag: str,
                   limit: Decimal | None) -> OrderRecord:
        """An order journaled before its call (a restart finds it by client id), and fenced: ABSENT when this
        node may not send it (it lost the unit's lease)."""
        record = OrderRecord(self._new_client_id(), tag, leg.venue.key, symbol, side, base,
                             order_type="market" if limit is None else "IOC limit", price=limit or Decimal(0),
                             sent_ms=self._now_ms())
        self._journal(record)  # persisted before the call: a restart finds it by client id
        if self._may_send is not None and not self._may_send(record):
            record = record.apply(OrderEvent.FOUND_ABSENT)  # never sent: this node lost the unit's lease
            self._event(f"{tag}: {leg.venue.key} {side} {base} {symbol} not sent: this node no longer holds "
                        "the lease (fenced out)", "error")
            self._record(leg.venue, record, "fenced")
        return record

    def _unsent(self, leg: Leg, record: OrderRecord) -> OrderRecord:
        """A journaled order not sent because the other leg of its pair may not be (fenced out)."""
        record = record.apply(OrderEvent.FOUND_ABSENT)
        self._event(f"{record.tag}: {leg.venue.key} {record.side} {record.qty} {record.symbol} not sent: the "
                    "other leg may not be sent (fenced out)", "error")
        self._record(leg.venue, record, "fenced")
        return record

    def _place(self, leg: Leg, record: OrderRecord, limit: Decimal | None) -> calls.Handle:
        """The journaled order's CreateOrder, started (exchange.Go: it runs while the caller goes on)."""
        contracts = record.qty / leg.venue.specs[record.symbol].ct_val
        side = record.side
        option = order_options(leg.venue.key, record.client_id, ioc=limit is not None, close=side in CLOSING)
        self.orders_sent += 1
        return calls.start(leg.venue.exchange, "CreateOrder", swap_symbol(record.symbol), f"{side};{option}",
                           -1 if limit is None else float(limit), float(contracts), record.client_id)

    def _answered(self, leg: Leg, record: OrderRecord, order_id: Any, unknown: bool | None) -> OrderRecord:
        """The journaled order once its CreateOrder answered (the venue's order id or None, and the call's
        verdict): accepted, definitely refused, or timed out (its outcome unknown: looked up by client id,
        never re-sent)."""
        record = record.apply(OrderEvent.SUBMITTED)
        if order_id is None and unknown is False:
            record = record.apply(OrderEvent.REJECTED)  # a runtime that tells: the venue answered, refusing
            if record.side in CLOSING:
                self._close_refused_ms[(leg.venue.key, record.symbol)] = self._now_ms()
        elif order_id is None:  # refused or lost: only queries over the settle window can tell
            record = record.apply(OrderEvent.TIMED_OUT, sent_ms=self._now_ms())
        else:
            record = record.apply(OrderEvent.ACCEPTED, order_id=str(order_id))
        self._record(leg.venue, record, "create")
        return record

    def _record(self, venue: Venue, record: OrderRecord, action: str) -> None:
        self._journal(record)
        log = getattr(venue.exchange, "Log", None)
        if log is None:
            return
        kind = LOG_TYPE_BUY if record.side in BUYING else LOG_TYPE_SELL
        if action == "cancel":
            kind = LOG_TYPE_CANCEL
        line = order_log_line(record, action)
        price = float(record.avg_price) if record.avg_price else -1
        log(kind, price, float(record.qty), line)
        if self._logged is not None:
            self._logged(venue.key, kind, price, float(record.qty), line)

    def find(self, venue: Venue, record: OrderRecord) -> dict[str, Any] | None | Literal[False]:
        """The venue's order carrying record's client id; False when both queries answered without it,
        None when a query failed. Where the exchange object looks an order up by client id itself
        (fmz_compat's live objects: `GetOrderByClientId`, the venue's own query, e.g. Bybit
        /v5/order/history?orderLinkId=) that answer comes first: a list holds only its newest rows (Bybit's
        history 50), and an order pushed past them would read as absent."""
        exchange = venue.exchange
        symbol = swap_symbol(record.symbol)
        if record.order_id:
            order: dict[str, Any] | None = exchange.GetOrder(record.order_id)
            if order is not None:
                return order
            # unreadable by id: a failed call, or an order the venue purged; the lists below tell which
        direct = getattr(exchange, "GetOrderByClientId", None)
        if direct is not None:
            found = direct(symbol, record.client_id, record.sent_ms or None)
            if found is None:
                return None  # the lookup failed: no proof either way
            if found is not False:
                match: dict[str, Any] = found
                return match
            # the venue has no order with this id: the lists may still hold it without our id (a docker that
            # dropped the option), matched by shape below
        listed = self._listed(venue, symbol, self._lists_from(venue.key, [record]))
        if listed is None:
            return None
        for order in listed:
            if client_id_of(venue.key, order) == record.client_id:
                return order
        return self._unclaimed_match(venue, record, listed)

    def _unclaimed_match(self, venue: Venue, record: OrderRecord, listed: list[dict[str, Any]]
                         ) -> dict[str, Any] | None | Literal[False]:
        """No listed order carries record's client id: the venue may have placed it without (an FMZ
        docker that does not pass the option on). The one order of record's direction and amount, created
        within a settle window of the send, that carries no client id of ours, is it; None when several
        could be (not settled: nothing is re-sent), False when none. Only for an order without a venue id."""
        candidates = self._unclaimed_candidates(venue, record, listed, 1, set())
        if candidates is None:
            return False
        if len(candidates) > 1:
            self._event(f"{record.tag}: {venue.key} shows {len(candidates)} orders without our client id "
                        f"that could be {record.client_id}; not settled, nothing re-sent", "warn")
            return None
        return candidates[0] if candidates else False

    @staticmethod
    def _listed(venue: Venue, symbol: str, since_ms: int) -> list[dict[str, Any]] | None:
        """The venue's open orders in symbol and its finished ones created from since_ms on, every page
        (FMZ form; hedge/order_history.py); None when a query failed."""
        open_orders = venue.exchange.GetOrders(symbol)
        history = finished_since(venue.exchange, symbol, since_ms, venue.key)
        if open_orders is None or history is None:
            return None
        return [*open_orders, *history]

    def _lists_from(self, venue_key: str, records: Iterable[OrderRecord]) -> int:
        """Where a lookup of records reads the finished orders from: a settle window before the earliest
        send (an order is created after its send; _unclaimed_candidates looks that far back); 0, the
        newest page only, when one has no send time."""
        sent = [record.sent_ms for record in records]
        if not sent or not all(sent):
            return 0
        return max(1, min(sent) - self._settle_ms(venue_key))

    def late_fills(self, venue: Venue, symbol: str, records: Mapping[str, OrderRecord]
                   ) -> dict[str, tuple[Decimal, Decimal]]:
        """(base filled, average price) per client id of orders once proved absent that the venue shows after
        all (`late_landings`)."""
        return {cid: (filled, price) for cid, (filled, price, _ms) in
                self.late_landings(venue, symbol, records).items()}

    def late_landings(self, venue: Venue, symbol: str, records: Mapping[str, OrderRecord]
                      ) -> dict[str, tuple[Decimal, Decimal, int]]:
        """(base filled, average price) per client id of orders once proved absent that the venue's lists
        (read once) show after all; the ones still not shown (or all, when a query failed) are left out. An
        order that reached the venue without its client id (dropped on the way) is recognised as
        `_unclaimed_match` does, but over LATE_LANDING_SETTLES settle windows after the send: it landed
        after the lookups that proved it absent. One the lists do not show is asked of the venue by its
        client id where the exchange object can (`GetOrderByClientId`): a list holds only its newest rows.
        The third figure: when the venue created the order (its "Time", 0 when it gives none)."""
        listed = self._listed(venue, swap_symbol(symbol), self._lists_from(venue.key, records.values())) or []
        ct_val = venue.specs[symbol].ct_val
        out: dict[str, tuple[Decimal, Decimal, int]] = {}
        for order in listed:
            client_id = client_id_of(venue.key, order)
            if client_id in records:
                out[client_id] = _landing(order, ct_val)
        for client_id, order in self._asked_by_client_id(venue, symbol, records, set(out)).items():
            out[client_id] = _landing(order, ct_val)
        claimed: set[str] = set()
        for client_id, record in sorted(records.items()):
            if client_id in out:
                continue
            match = self._unclaimed_late(venue, record, listed, claimed)
            if match is not None:
                claimed.add(str(match.get("Id")))
                out[client_id] = _landing(match, ct_val)
        return out

    @staticmethod
    def _asked_by_client_id(venue: Venue, symbol: str, records: Mapping[str, OrderRecord], shown: set[str]
                            ) -> dict[str, dict[str, Any]]:
        """The orders of `records` not in `shown` that the venue answers when asked by client id (nothing
        where the exchange object has no such lookup, or it failed or found none)."""
        direct = getattr(venue.exchange, "GetOrderByClientId", None)
        if direct is None:
            return {}
        found: dict[str, dict[str, Any]] = {}
        for client_id, record in sorted(records.items()):
            if client_id not in shown:
                order = direct(swap_symbol(symbol), client_id, record.sent_ms or None)
                if order:
                    found[client_id] = order
        return found

    def _unclaimed_late(self, venue: Venue, record: OrderRecord, listed: list[dict[str, Any]],
                        claimed: set[str]) -> dict[str, Any] | None:
        """The one listed order without a client id of ours, of record's direction and amount, created from
        a settle window before its send to LATE_LANDING_SETTLES after it, that no other record claimed;
        None when none or several could be (then the difference stays named, nothing is guessed)."""
        candidates = self._unclaimed_candidates(venue, record, listed, LATE_LANDING_SETTLES, claimed)
        return candidates[0] if candidates is not None and len(candidates) == 1 else None

    def _unclaimed_candidates(self, venue: Venue, record: OrderRecord, listed: list[dict[str, Any]],
                              settles_after: int, claimed: set[str]) -> list[dict[str, Any]] | None:
        """Listed orders without a client id of ours, of record's direction and amount, created from a
        settle window before its send to `settles_after` windows after it, whose Id is not in claimed and
        that are not the venue's own liquidation, ADL or settlement close (hedge/liquidations.py);
        None when record cannot be matched so (it has a venue id, no send time, or an unknown symbol)."""
        if record.order_id or not record.sent_ms or record.symbol not in venue.specs:
            return None
        kind = ORDER_TYPE_BUY if record.side in BUYING else ORDER_TYPE_SELL
        contracts = record.qty / venue.specs[record.symbol].ct_val
        window = self._settle_ms(venue.key)
        earliest, latest = record.sent_ms - window, record.sent_ms + settles_after * window
        return [order for order in listed
                if not client_id_of(venue.key, order).startswith(OWN_ID_PREFIX)
                and not is_liquidation(venue.key, order)  # the venue's own forced close is never ours
                and str(order.get("Id")) not in claimed
                and order.get("Type") == kind
                and to_decimal(order.get("Amount")) == contracts
                and earliest <= int(order.get("Time") or 0) <= latest]

    def resolve(self, venue: Venue, record: OrderRecord) -> OrderRecord:
        """Settle an order from venue queries: cancel any remainder, then read its final state."""
        order = self.find(venue, record)
        if order is not None and order is not False and order["Status"] == ORDER_STATE_PENDING:
            if order.get("DealAmount"):
                record = record.apply(OrderEvent.PARTIALLY_FILLED)
            venue.exchange.CancelOrder(order["Id"])
            record = replace(record, order_id=str(order["Id"]))
            order = self.find(venue, record)
        if order is None:
            record = record.apply(OrderEvent.QUERY_FAILED)
            self._record(venue, record, "unknown")
            return record
        if order is False:
            return self._not_seen(venue, record)
        ct_val = venue.specs[record.symbol].ct_val
        filled, avg = order_fill(order, ct_val)
        changes = {"order_id": str(order["Id"]), "filled": filled, "avg_price": avg}
        status = order["Status"]
        if status == ORDER_STATE_PENDING:  # the cancel did not take: still live, not settled
            record = record.apply(OrderEvent.QUERY_FAILED, **changes)
        elif status == ORDER_STATE_CLOSED or (filled and filled >= record.qty):
            record = record.apply(OrderEvent.FILLED, **changes)
        elif status == ORDER_STATE_CANCELED:
            if filled and record.status is not OrderStatus.PARTIALLY_FILLED:
                record = record.apply(OrderEvent.PARTIALLY_FILLED, **changes)
            record = record.apply(OrderEvent.CANCELED, **changes)
        else:
            record = record.apply(OrderEvent.QUERY_FAILED, **changes)
        self._record(venue, record, "cancel" if record.status is OrderStatus.CANCELED else "settle")
        return record

    def _not_seen(self, venue: Venue, record: OrderRecord) -> OrderRecord:
        """A lookup answered without the order: absent (or, acknowledged before, purged) only once the
        lookups spread over the settle window all did; until then IN_FLIGHT, looked up again."""
        record = count_miss(record, self._now_ms(), self._settle_ms(venue.key))
        if not absence_proved(record):
            record = record.apply(OrderEvent.NOT_SEEN)
            self._record(venue, record, "not_seen")
        elif record.order_id:  # the venue had it and dropped it: only finished orders are purged
            record = record.apply(OrderEvent.CANCELED)
            self._record(venue, record, "purged")
        else:
            record = record.apply(OrderEvent.FOUND_ABSENT)
            self._record(venue, record, "absent")
        return record

    def settle(self, venue: Venue, record: OrderRecord) -> OrderRecord:
        """resolve, and while lookups answer without the order, look again at the spread times until
        absence is proved (at most one settle window after the send), or until this turn has waited
        max_turn_wait_ms on settle windows: then the order is returned IN_FLIGHT, looked up again at a later
        turn (recovery). Nothing is sent meanwhile."""
        record = self.resolve(venue, record)
        for _ in range(ABSENCE_WAITS):
            if record.status is not OrderStatus.IN_FLIGHT:
                break
            wait = next_lookup_ms(record, self._settle_ms(venue.key)) - self._now_ms()
            if wait > 0:
                allowed = self._settle_wait_allowed(wait)
                if allowed <= 0:
                    break  # the turn's bound is spent: in doubt until a later turn's lookups settle it
                self._sleep(allowed)
                self._turn_waited_ms += allowed
            record = self.resolve(venue, record)
        return record

    def _settle(self, leg: Leg, fill: LegFill, record: OrderRecord, symbol: str, before: Decimal,
                side: str) -> None:
        """Finish one order and book what the position change proves was filled."""
        fill.client_ids.append(record.client_id)
        if record.order_id:
            fill.order_ids.append(record.order_id)
        if record.status in (OrderStatus.ABSENT, OrderStatus.REJECTED):  # fenced out or refused: never placed
            return
        record = self.settle(leg.venue, record)
        if record.order_id and record.order_id not in fill.order_ids:
            fill.order_ids.append(record.order_id)
        avg_price = record.avg_price
        after = self._position_or_unknown(leg.venue, symbol)
        moved = (after - before) * DIRECTION[side]  # base moved in `side`'s direction
        if moved < 0:
            raise LegOutcomeUnknown(f"{leg.venue.key} {symbol}: position moved against the order "
                                    f"({before:+f} -> {after:+f}); someone else is trading this account")
        if record.status in OPEN_OUTCOME and moved == 0:
            raise LegOutcomeUnknown(f"{leg.venue.key} {symbol}: order {record.client_id} could not be found "
                                    "or proved absent; not re-sending until a query settles it")
        if moved == 0:
            return
        price = avg_price or leg.ref_price
        fill.fees += moved * price * self._taker_bps(leg.venue.key) / 10_000
        if side == leg.side:
            fill.filled += moved
            fill.forward += moved
            fill.cost += moved * price
        else:
            fill.filled -= moved
            fill.undone += moved
            fill.undo_cost += moved * price

    def move_position(self, venue: Venue, symbol: str, current: Decimal, target: Decimal, tag: str,
                      limit: Decimal | None = None) -> list[LegFill]:
        """Trade venue's position in symbol from current to target: reduce first, then open the rest.
        limit: send the reducing order as an IOC limit at this price. Returns what each order filled ([]:
        nothing sent, also when another node of a cluster is trading the venue-symbol now, or an order there
        is in doubt)."""
        if self._doubted(tag, symbol, [venue]):
            return []
        with self._exclusive([(venue.key, symbol)]) as free:
            if free:
                return self._move_position(venue, symbol, current, target, tag, limit)
        self._busy(tag, symbol, venue.key)
        return []

    def close_reduce_only(self, venue: Venue, symbol: str, side: str, base: Decimal, tag: str) -> LegFill:
        """One reduce-only close (closebuy / closesell) where the venue's positions cannot be read (issue
        #17): sent with the venue's reduce-only flag, settled by client id, and measured by what the order
        lookups say it filled, not by a position change. A reduce-only order cannot open or flip a position:
        it closes at most what is held, or is refused. Nothing sent (an empty fill) when an order there is
        in doubt or another node trades the venue-symbol; LegOutcomeUnknown while the order is not settled
        (it stays journaled: recovery settles it)."""
        fill = LegFill(venue.key, side)
        if side not in CLOSING or self._doubted(tag, symbol, [venue]):
            return fill
        with self._exclusive([(venue.key, symbol)]) as free:
            if not free:
                self._busy(tag, symbol, venue.key)
                return fill
            record = self._send(Leg(venue, side, base, Decimal(0)), side, base, symbol, tag)
            fill.client_ids.append(record.client_id)
            if record.status in (OrderStatus.ABSENT, OrderStatus.REJECTED):
                return fill
            record = self.settle(venue, record)
        if not record.terminal:
            raise LegOutcomeUnknown(f"{venue.key} {symbol}: reduce-only close {record.client_id} is "
                                    f"{record.status.value}; not re-sending until a query settles it")
        if record.order_id:
            fill.order_ids.append(record.order_id)
        price = record.avg_price
        fill.filled = fill.forward = record.filled
        fill.cost = record.filled * price
        fill.fees = record.filled * price * self._taker_bps(venue.key) / 10_000
        return fill

    def _move_position(self, venue: Venue, symbol: str, current: Decimal, target: Decimal, tag: str,
                       limit: Decimal | None) -> list[LegFill]:
        move = target - current
        fills: list[LegFill] = []
        if move == 0:
            return fills
        reducing = min(abs(move), abs(current)) if current * move < 0 else Decimal(0)
        close_side, open_side = ("closesell", "buy") if move > 0 else ("closebuy", "sell")
        for side, base, price in ((close_side, reducing, limit), (open_side, abs(move) - reducing, None)):
            if base > 0:
                leg = Leg(venue, side, base, Decimal(0))
                fill = LegFill(venue.key, side)
                # above the venue's maximum order size (ContractSpec.max_qty) in parts of at most it, one
                # after the other while each fills whole (a larger order is refused: issue #17)
                for part in order_parts(base, venue.specs[symbol]):
                    done = fill.filled
                    self._trade(leg, fill, side, part, symbol, tag, limit=price)
                    if fill.filled - done < part:
                        break
                fills.append(fill)
        return fills


def _landing(order: dict[str, Any], ct_val: Decimal) -> tuple[Decimal, Decimal, int]:
    """(base filled, average price, the venue's creation time or 0) of an FMZ order struct."""
    filled, price = order_fill(order, ct_val)
    return filled, price, int(order.get("Time") or 0)


def order_log_line(record: OrderRecord, action: str) -> str:
    """One order-log row: every field a user needs to trace an order across venue and ledger."""
    return (f"order {action} {record.status.value} client_id={record.client_id} venue={record.venue} "
            f"symbol={record.symbol} side={record.side} type={record.order_type.replace(' ', '_')} "
            f"price={record.price or -1} "
            f"qty={record.qty} filled={record.filled} avg_price={record.avg_price} "
            f"order_id={record.order_id or '-'} tag={record.tag}")
