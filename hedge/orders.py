"""The life of one order: states, past-tense events and the one table of legal transitions.

An order is journaled (in the ledger, persisted with _G) before CreateOrder is called, with the
client order id it carries to the venue. Until a venue answer settles it, its status says what we
know: SUBMITTED (sent, no answer yet), IN_FLIGHT (the call failed or timed out: it may or may not
exist on the venue), UNKNOWN (a query could not settle it either). Such an order is never sent
again; it is found by client id (GetOrders / GetHistoryOrders) or proved absent first.

Proof of absence (`absence_proved`): a timed-out order can reach the matching engine seconds after the
call gave up, so one lookup that does not show it proves nothing. It is ABSENT only after
ABSENCE_LOOKUPS lookups answered without it, the k-th taken no earlier than k * settle / (ABSENCE_LOOKUPS
- 1) after it was sent: the last one a whole settle window (outage.order_settle_s) after the send. Until
then a lookup without it is NOT_SEEN and the order stays IN_FLIGHT. An order the venue acknowledged (it
has a venue id) and no longer shows by id or client id over the same lookups was purged: venues drop only
finished orders (Binance USD-M: canceled or expired without a fill after 3 days, any order after 90), so
it is settled CANCELED at the fill last read; recovery checks that against the venue position.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from hedge.decimals import to_decimal


class OrderStatus(StrEnum):
    INITIALIZED = "INITIALIZED"  # journaled, not yet sent
    SUBMITTED = "SUBMITTED"
    IN_FLIGHT = "IN_FLIGHT"      # sent, but the call gave no answer
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    UNKNOWN = "UNKNOWN"          # a query could not settle it yet
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    ABSENT = "ABSENT"            # never reached the venue (proved by queries)


class OrderEvent(StrEnum):
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    TIMED_OUT = "TIMED_OUT"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    QUERY_FAILED = "QUERY_FAILED"
    FOUND_ABSENT = "FOUND_ABSENT"
    NOT_SEEN = "NOT_SEEN"  # a lookup answered without it, before absence is proved


S, E = OrderStatus, OrderEvent
_SETTLING = {E.ACCEPTED: S.ACCEPTED, E.PARTIALLY_FILLED: S.PARTIALLY_FILLED, E.FILLED: S.FILLED,
             E.CANCELED: S.CANCELED, E.REJECTED: S.REJECTED}

TRANSITIONS: dict[tuple[OrderStatus, OrderEvent], OrderStatus] = {
    (S.INITIALIZED, E.SUBMITTED): S.SUBMITTED,
    (S.INITIALIZED, E.FOUND_ABSENT): S.ABSENT,  # killed before the call went out
    (S.INITIALIZED, E.QUERY_FAILED): S.UNKNOWN,
    **{(S.INITIALIZED, e): s for e, s in _SETTLING.items() if e is not E.REJECTED},
    (S.SUBMITTED, E.TIMED_OUT): S.IN_FLIGHT,
    **{(S.SUBMITTED, e): s for e, s in _SETTLING.items()},
    (S.IN_FLIGHT, E.QUERY_FAILED): S.UNKNOWN,
    (S.IN_FLIGHT, E.FOUND_ABSENT): S.ABSENT,
    **{(S.IN_FLIGHT, e): s for e, s in _SETTLING.items() if e is not E.REJECTED},
    (S.UNKNOWN, E.QUERY_FAILED): S.UNKNOWN,
    (S.UNKNOWN, E.FOUND_ABSENT): S.ABSENT,
    **{(S.UNKNOWN, e): s for e, s in _SETTLING.items() if e is not E.REJECTED},
    (S.ACCEPTED, E.PARTIALLY_FILLED): S.PARTIALLY_FILLED,
    (S.ACCEPTED, E.FILLED): S.FILLED,
    (S.ACCEPTED, E.CANCELED): S.CANCELED,
    (S.ACCEPTED, E.QUERY_FAILED): S.UNKNOWN,
    (S.PARTIALLY_FILLED, E.PARTIALLY_FILLED): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, E.FILLED): S.FILLED,
    (S.PARTIALLY_FILLED, E.CANCELED): S.CANCELED,
    (S.PARTIALLY_FILLED, E.QUERY_FAILED): S.UNKNOWN,
    # not shown by a lookup: may still land (or was purged); it is looked up again, never re-sent
    **{(s, E.NOT_SEEN): S.IN_FLIGHT
       for s in (S.INITIALIZED, S.IN_FLIGHT, S.UNKNOWN, S.ACCEPTED, S.PARTIALLY_FILLED)},
}
TERMINAL = frozenset({S.FILLED, S.CANCELED, S.REJECTED, S.ABSENT})
OPEN_OUTCOME = frozenset({S.INITIALIZED, S.SUBMITTED, S.IN_FLIGHT, S.UNKNOWN})  # may exist unseen
ABSENCE_LOOKUPS = 3  # lookups without the order, spread over the settle window, that prove it absent


def next_lookup_ms(record: OrderRecord, settle_ms: int) -> int:
    """Earliest time the next lookup without the order counts towards proving it absent."""
    return record.sent_ms + record.misses * settle_ms // (ABSENCE_LOOKUPS - 1)


def count_miss(record: OrderRecord, now_ms: int, settle_ms: int) -> OrderRecord:
    """A lookup at now_ms answered without the order: count it if it is due (spread over the window)."""
    return replace(record, misses=record.misses + (now_ms >= next_lookup_ms(record, settle_ms)))


def absence_proved(record: OrderRecord) -> bool:
    return record.misses >= ABSENCE_LOOKUPS


def order_fill(order: dict[str, Any], ct_val: Decimal) -> tuple[Decimal, Decimal]:
    """(base filled, average price) of an FMZ order struct whose amounts are in contracts of ct_val."""
    return to_decimal(order.get("DealAmount")) * ct_val, to_decimal(order.get("AvgPrice"))


class IllegalTransition(ValueError):
    """An event that cannot happen to an order in its current state."""


def next_status(status: OrderStatus, event: OrderEvent) -> OrderStatus:
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        raise IllegalTransition(f"order {status.value} cannot take event {event.value}") from None


@dataclass(frozen=True)
class OrderRecord:
    client_id: str
    tag: str          # the execution it belongs to, e.g. open#3
    venue: str
    symbol: str
    side: str         # buy | sell | closebuy | closesell
    qty: Decimal      # base units asked
    status: OrderStatus = OrderStatus.INITIALIZED
    order_id: str = ""
    filled: Decimal = Decimal(0)     # base units filled (from the venue's order, when known)
    avg_price: Decimal = Decimal(0)
    order_type: str = "market"       # market | IOC limit
    price: Decimal = Decimal(0)      # limit price (0 for market orders)
    sent_ms: int = 0                 # when the call went out (journal time until it answered)
    misses: int = 0                  # counted lookups that answered without it (see absence_proved)

    def apply(self, event: OrderEvent, **changes: Any) -> OrderRecord:
        return replace(self, status=next_status(self.status, event), **changes)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _RECORD_FIELDS}
        data["status"] = self.status.value
        for key in ("qty", "filled", "avg_price", "price"):
            data[key] = str(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderRecord:
        values = dict(data)
        values["status"] = OrderStatus(values["status"])
        for key in ("qty", "filled", "avg_price", "price"):
            if key in values:
                values[key] = Decimal(values[key])
        return cls(**values)


_RECORD_FIELDS = tuple(f.name for f in fields(OrderRecord))
