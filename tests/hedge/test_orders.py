from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge.orders import (
    OPEN_OUTCOME,
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    OrderEvent,
    OrderRecord,
    OrderStatus,
    absence_proved,
    count_miss,
    next_status,
)

events = st.lists(st.sampled_from(list(OrderEvent)), max_size=12)


@given(events)
def test_any_event_sequence_follows_the_table_and_terminal_states_absorb(sequence):
    status = OrderStatus.INITIALIZED
    for event in sequence:
        if status in TERMINAL:
            with pytest.raises(IllegalTransition):
                next_status(status, event)
            continue
        if (status, event) in TRANSITIONS:
            status = next_status(status, event)
        else:
            with pytest.raises(IllegalTransition, match=f"{status.value} cannot take event {event.value}"):
                next_status(status, event)
    assert status in OrderStatus


def test_the_table_never_leaves_a_terminal_state_and_every_state_is_reachable():
    assert not [key for key in TRANSITIONS if key[0] in TERMINAL]
    reachable = {OrderStatus.INITIALIZED} | set(TRANSITIONS.values())
    assert reachable == set(OrderStatus)


def test_an_order_without_an_answer_can_only_settle_by_a_query():
    # once sent, an order we did not hear back from is never treated as rejected (it may exist)
    for status in (OrderStatus.IN_FLIGHT, OrderStatus.UNKNOWN):
        with pytest.raises(IllegalTransition):
            next_status(status, OrderEvent.REJECTED)
        assert next_status(status, OrderEvent.FOUND_ABSENT) is OrderStatus.ABSENT
        assert next_status(status, OrderEvent.FILLED) is OrderStatus.FILLED
    assert OrderStatus.IN_FLIGHT in OPEN_OUTCOME and OrderStatus.ACCEPTED not in OPEN_OUTCOME


def test_record_round_trips_through_json_and_applies_events():
    record = OrderRecord("hgabc1", "open#1", "okx", "BTC_USDT", "sell", Decimal("0.02"))
    record = record.apply(OrderEvent.SUBMITTED).apply(OrderEvent.TIMED_OUT)
    assert record.status is OrderStatus.IN_FLIGHT and not record.terminal
    filled = record.apply(OrderEvent.FILLED, filled=Decimal("0.02"), avg_price=Decimal("50000"))
    assert filled.terminal
    assert OrderRecord.from_json(filled.to_json()) == filled


@given(st.lists(st.integers(min_value=0, max_value=30_000), min_size=1, max_size=12),
       st.integers(min_value=10_000, max_value=60_000))
def test_absence_needs_three_lookups_spread_over_the_settle_window(offsets, settle_ms):
    """Whatever the lookup times, an order is proved absent only by a lookup a whole settle window after the
    send, after lookups at >= 0 and >= half the window; and it is proved as soon as such lookups happened."""
    sent = 1_000
    record = OrderRecord("hg1", "open#1", "okx", "BTC_USDT", "sell", Decimal(1), status=OrderStatus.IN_FLIGHT,
                         sent_ms=sent)
    due = [sent, sent + settle_ms // 2, sent + settle_ms]  # the greedy schedule of counted lookups
    for now in sorted(sent + offset for offset in offsets):
        record = count_miss(record, now, settle_ms)
        if due and now >= due[0]:
            due.pop(0)
        assert absence_proved(record) == (not due)
        if absence_proved(record):
            assert now >= sent + settle_ms
            break
