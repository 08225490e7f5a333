"""The request budget: token buckets on the runtime clock, and openings that wait for it or are skipped."""

import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from hedge.app import App
from hedge.config import RateConfig, VenueRate, parse_params
from hedge.fmz import Api
from hedge.ratelimit import Cost, TokenBuckets

ORDER = Cost(orders=1)


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


def _buckets(orders=4, window_s=2, weight=1000, max_wait_ms=1000, reserve_pct=0):
    from types import MappingProxyType

    cfg = RateConfig(venues=MappingProxyType({"okx": VenueRate(orders, window_s, weight)}),
                     max_wait_ms=max_wait_ms, close_reserve_pct=reserve_pct)
    clock = Clock()
    return TokenBuckets(cfg, clock), clock


def test_a_burst_is_granted_then_queued_then_refused():
    budget, clock = _buckets(orders=4, window_s=2, max_wait_ms=1000)  # one order per 500 ms after the burst
    assert [budget.reserve("okx", ORDER) for _ in range(4)] == [0, 0, 0, 0]
    assert budget.reserve("okx", ORDER) == 500
    assert budget.reserve("okx", ORDER) == 1000
    assert budget.reserve("okx", ORDER) is None  # would wait 1500 ms > max_wait_ms: nothing taken
    assert budget.refused == 1
    clock.ms += 1500
    assert budget.reserve("okx", ORDER) == 0  # 3 tokens back: the queued ones were paid for, the refused not


def test_closes_may_use_the_reserved_share_and_never_get_refused():
    budget, clock = _buckets(orders=10, window_s=10, max_wait_ms=500, reserve_pct=20)
    assert [budget.reserve("okx", ORDER) for _ in range(8)] == [0] * 8
    assert budget.reserve("okx", ORDER) is None  # the last 20 % are kept for closes and stops
    assert budget.reserve("okx", ORDER, priority=True) == 0
    assert budget.reserve("okx", ORDER, priority=True) == 0
    assert budget.reserve("okx", ORDER, priority=True) == 500  # bounded wait, then it goes out anyway


def test_release_gives_back_what_a_refused_pair_had_reserved():
    budget, _ = _buckets(orders=2, window_s=10, max_wait_ms=0)
    assert budget.reserve("okx", ORDER) == 0
    budget.release("okx", ORDER)
    assert [budget.reserve("okx", ORDER) for _ in range(2)] == [0, 0]


def test_requests_made_anyway_eat_into_the_weight_budget():
    budget, _ = _buckets(weight=60, max_wait_ms=1000)
    for _ in range(60):
        budget.spend("okx", Cost(weight=1))
    assert budget.reserve("okx", Cost(orders=1, weight=1)) == 1000  # one weight a second refills


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.booleans()), min_size=1, max_size=80))
def test_orders_sent_never_outrun_the_bucket(steps):
    """Whatever the timing of requests, orders sent (at reserve time + wait) within any window of T ms
    number at most capacity + T x rate: the token bucket's promise."""
    budget, clock = _buckets(orders=5, window_s=1, max_wait_ms=2000)
    sent: list[int] = []
    for gap, priority in steps:
        clock.ms += gap
        wait = budget.reserve("okx", ORDER, priority=priority)
        if wait is not None:
            sent.append(clock.ms + wait)
    sent.sort()
    for i, start in enumerate(sent):
        for j in range(i, len(sent)):
            span = sent[j] - start
            # priority orders may go out after the bound without their tokens: allow those beyond it
            assert j - i + 1 <= 5 + span * 5 / 1000 + sum(1 for g, p in steps if p), (sent, i, j)


def _burst(fake_exchange, fake_runtime, max_wait_ms):
    """Three openings in three ticks, okx allowing 2 orders per 10 s.
    Returns ms each tick took, okx orders, pairs, log lines."""
    binance = fake_exchange("binance", books={"BTC_USDT": (50_000.0, 50_000.5)})
    okx = fake_exchange("okx", books={"BTC_USDT": (50_100.0, 50_100.5)})
    runtime = fake_runtime([binance, okx])
    params = {"symbols": ["BTC_USDT"], "order_notional_usdt": 1000, "max_position_usdt": 5000,
              "open_threshold_bps": 3, "close_threshold_bps": 0, "cooldown_s": 0, "status_interval_s": 5,
              "rate_limits": {"okx": {"orders": 2, "window_s": 10}, "max_wait_ms": max_wait_ms,
                              "close_reserve_pct": 0}}
    app = App(Api.from_globals(runtime.globals()), parse_params(json.dumps(params)))
    assert app.start()
    took = []
    for _ in range(3):
        before = runtime.now_ns
        app.tick()
        took.append((runtime.now_ns - before) // 1_000_000)
        runtime.Sleep(1)
    assert Decimal(okx.base_position()) == -sum(p.qty for p in app.ledger.pairs.values())
    return took, len(okx.sent), len(app.ledger.pairs), runtime.logs


def test_an_opening_burst_queues_for_the_budget(fake_exchange, fake_runtime):
    took, okx_orders, pairs, logs = _burst(fake_exchange, fake_runtime, max_wait_ms=6000)
    assert okx_orders == 3 and pairs == 3
    assert took[:2] == [0, 0] and 4_900 <= took[2] <= 5_100  # the third waited for okx (one order per 5 s)


def test_an_opening_that_would_wait_too_long_is_skipped_with_a_warning(fake_exchange, fake_runtime):
    took, okx_orders, pairs, logs = _burst(fake_exchange, fake_runtime, max_wait_ms=4000)
    assert okx_orders == 2 and pairs == 2 and took[2] < 100
    assert any("rate budget exhausted" in line for line in logs)


def _adapter_budget(view, **kw):
    from hedge.ratelimit import AdapterAwareBudget

    buckets, clock = _buckets(**kw)
    budget = AdapterAwareBudget(buckets, buckets._cfg)
    budget.watch("okx", lambda: view)
    return budget


def test_openings_wait_while_the_venue_itself_says_its_budget_is_nearly_spent():
    """Bybit or BitMEX said in their headers that 1 of 100 requests is left: the local buckets are full, the
    venue is not; an opening is refused, a close still goes."""
    view = {"venue_remaining": 1, "venue_limit": 100, "backoff_ms": 0}
    budget = _adapter_budget(view, reserve_pct=20)
    assert budget.reserve("okx", ORDER) is None and budget.refused_by_venue == 1
    assert budget.reserve("okx", ORDER, priority=True) == 0
    view["venue_remaining"] = 60
    assert budget.reserve("okx", ORDER) == 0


def test_a_hold_after_failures_delays_closes_and_refuses_openings_beyond_the_bound():
    view = {"venue_remaining": None, "venue_limit": None, "backoff_ms": 5000}
    budget = _adapter_budget(view, max_wait_ms=1000)
    assert budget.reserve("okx", ORDER) is None
    assert budget.reserve("okx", ORDER, priority=True) == 1000  # waits the bound, then goes
    view["backoff_ms"] = 300
    assert budget.reserve("okx", ORDER) == 300


def test_venues_without_an_adapter_view_use_the_inner_budget_alone():
    from hedge.ratelimit import AdapterAwareBudget

    buckets, _ = _buckets(orders=1)
    budget = AdapterAwareBudget(buckets, buckets._cfg)
    budget.watch("okx", None)
    assert budget.reserve("okx", ORDER) == 0
    assert budget.levels("okx")[0] == 0  # the inner buckets' own figures pass through


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 700), st.sampled_from(["spend", "weigh", "reserve"])), min_size=1,
                max_size=120))
def test_a_charger_leaves_every_level_bit_for_bit_where_spend_leaves_it(steps):
    """`TokenBuckets.charger` (every venue call's charge, hedge/outage.py) is `spend` bound to one venue and
    cost: the same refills and subtractions whatever the timing, with reservations in between."""
    by_spend, clock_a = _buckets(orders=7, window_s=3, weight=1200)
    by_charge, clock_b = _buckets(orders=7, window_s=3, weight=1200)
    charge_order, charge_weight = by_charge.charger("okx", Cost(1, 5)), by_charge.charger("okx", Cost(0, 1))
    for gap, what in steps:
        clock_a.ms += gap
        clock_b.ms += gap
        if what == "reserve":
            assert by_spend.reserve("okx", ORDER) == by_charge.reserve("okx", ORDER)
        elif what == "spend":
            by_spend.spend("okx", Cost(1, 5))
            charge_order()
        else:
            by_spend.spend("okx", Cost(0, 1))
            charge_weight()
        assert by_spend.levels("okx") == by_charge.levels("okx")


def test_an_adapter_aware_budget_charges_its_inner_budget_and_a_budget_without_a_charger_its_spend():
    from hedge.ratelimit import AdapterAwareBudget, charger

    buckets, _clock = _buckets(weight=100)
    charger(AdapterAwareBudget(buckets, RateConfig()), "okx", Cost(0, 5))()
    assert buckets.levels("okx") == (4.0, 95.0)

    class Spent:
        def __init__(self) -> None:
            self.calls: list[tuple[str, Cost]] = []

        def spend(self, venue: str, cost: Cost) -> None:
            self.calls.append((venue, cost))

    plain = Spent()
    charge = charger(AdapterAwareBudget(plain, RateConfig()), "bybit", Cost(0, 2))  # type: ignore[arg-type]
    charge()
    charge()
    assert plain.calls == [("bybit", Cost(0, 2))] * 2
