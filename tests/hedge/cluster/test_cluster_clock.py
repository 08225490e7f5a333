"""Live runs keep leases, execution locks, reservations and the rate budget on Redis' own clock (issue #17:
expiries compared each node's own clock, so nodes whose clocks differ by ~10 s could both hold a unit).

Each node here is a live node: its runtime clock is the wall clock plus a skew of its own, and the
coordinator is made the way the App makes it on a runtime that is not virtual. Against a real
redis-server (conftest.py). The simulated mode (runtime clock in the scripts) is what the other tests of
this folder run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hedge.app import App
from hedge.cluster import OpenRequest, Unit, make_coordinator
from hedge.cluster.redis import RedisCoordinator, RedisRateBudget
from hedge.config import ClusterConfig, parse_params
from hedge.fmz import Api
from hedge.ledger import Ledger
from hedge.orders import OrderRecord
from hedge.ratelimit import Cost

D = Decimal
BTC = Unit.of("BTC_USDT", "binance", "okx")
SKEW_MS = 10_000  # the review's figure: two hosts 10 s apart
REGIONS = {"binance": "tokyo", "okx": "hongkong", "bybit": "singapore"}


class Host:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def event(self, text: str, level: str = "info") -> None:
        self.events.append((level, text))

    def coordination_lost(self, reason: str) -> None:
        raise AssertionError(f"redis lost: {reason}")

    def coordination_back(self) -> None:
        return None

    def remote_order_log(self, *_args) -> None:
        return None

    def remote_event(self, *_args) -> None:
        return None


class LiveNode:
    """A node of a live run whose host clock is `skew_ms` off the wall clock."""

    def __init__(self, url: str, name: str, skew_ms: int, *, weight: int = 1, ttl_s: int = 10,
                 region: str = "", venues: tuple[str, ...] = ("binance", "okx")) -> None:
        self.skew_ms = skew_ms
        self.store: dict[str, str] = {}
        cfg = ClusterConfig(redis_url=url, node=name, region=region, node_weight=weight, lease_ttl_s=ttl_s,
                            venue_regions=REGIONS, namespace="clock")
        self.c = make_coordinator(cfg, self.now, self.now, None, virtual_clock=False)
        assert isinstance(self.c, RedisCoordinator) and self.c.server_clock
        self.c.attach(Host())
        self.c.store = self._g
        self.ledger = self.c.start(self.now(), Ledger(), list(venues), ("BTC_USDT",))

    def now(self) -> int:
        return time.time_ns() // 1_000_000 + self.skew_ms

    def _g(self, key, *value):
        if value:
            self.store[key] = value[0]
            return None
        return self.store.get(key)

    def sync(self) -> None:
        self.c.sync(self.now())
        self.c.reconciled(set())  # adopted units are acted on at once here (nothing to reconcile)


def _believe_they_hold(nodes: list[LiveNode], unit: Unit) -> list[str]:
    """Nodes that would act on `unit` now, each by its own clock (a stop goes out on may_protect)."""
    return [n.c.node for n in nodes if n.c.may_protect(unit) or n.c.may_act(unit)]


def _lease_holder(node: LiveNode, unit: Unit) -> str | None:
    return node.c.r.hget(node.c._lease_key(unit), "node")


@pytest.mark.parametrize("skews", [(0, SKEW_MS), (-SKEW_MS, 0)], ids=["taker-ahead", "holder-behind"])
def test_nodes_whose_clocks_differ_by_10_s_never_both_hold_a_unit(redis_url, skews):
    """The holder a takes the unit; b, better placed (weight 2) and 10 s ahead of a, asks for it at once.
    On the nodes' own clocks b found a's lease (stamped on a's clock, 10 s TTL) already expired and took it
    while a still had nearly the whole TTL by its own clock: both acted on the unit. On Redis' clock b gets
    it only when a hands it over (or its lease lapses)."""
    a = LiveNode(redis_url, "a", skews[0])
    a.sync()
    assert _believe_they_hold([a], BTC) == ["a"]
    b = LiveNode(redis_url, "b", skews[1], weight=2)
    b.sync()
    assert _believe_they_hold([a, b], BTC) == ["a"] and _lease_holder(a, BTC) == "a"
    a.sync()  # a sees b alive and better placed: hands the unit over (nothing of it in flight)
    assert _believe_they_hold([a, b], BTC) == [] and _lease_holder(a, BTC) is None
    b.sync()
    assert _believe_they_hold([a, b], BTC) == ["b"] and _lease_holder(a, BTC) == "b"
    for _ in range(3):  # both keep renewing: the unit stays b's, a never takes it back
        a.sync()
        b.sync()
        assert _believe_they_hold([a, b], BTC) == ["b"]


def test_nodes_whose_clocks_differ_by_10_s_never_both_hold_an_execution_lock(redis_url):
    """a is trading okx BTC (its execution lock, 10 s TTL); b, 10 s ahead, wants to trade okx BTC for
    another unit. On the nodes' own clocks b found a's lock expired and took it: both sent orders on one
    venue-symbol and each counted the other's fills as its own."""
    a = LiveNode(redis_url, "a", 0)
    b = LiveNode(redis_url, "b", SKEW_MS, venues=("bybit", "okx"))
    record = OrderRecord("hgclk1", "open#1", "okx", "BTC_USDT", "sell", D("0.01"))
    with a.c.exclusive([("okx", "BTC_USDT")]) as free:
        assert free and a.c.may_send(record)
        with b.c.exclusive([("okx", "BTC_USDT"), ("bybit", "BTC_USDT")]) as other:
            assert not other
        assert a.c.may_send(record)
        assert a.c.r.hget(a.c._lock_key(("okx", "BTC_USDT")), "node") == "a"
        assert a.c.r.exists(a.c._lock_key(("bybit", "BTC_USDT"))) == 0  # all or none
    with b.c.exclusive([("okx", "BTC_USDT")]) as other:
        assert other  # released by a


def test_a_dead_holders_lease_and_lock_lapse_after_the_ttl_on_redis_time(redis_url):
    """Redis' clock does not stop leases from lapsing: a (1 s TTL) dies holding its unit and the okx lock;
    b, 10 s ahead, gets neither at once and both one TTL later."""
    a = LiveNode(redis_url, "a", 0, ttl_s=1)
    a.sync()
    dying = a.c.exclusive([("okx", "BTC_USDT")])
    assert dying.__enter__()  # a dies inside: never released, never renewed
    b = LiveNode(redis_url, "b", SKEW_MS, ttl_s=1)
    b.sync()
    assert BTC not in b.c.held
    with b.c.exclusive([("okx", "BTC_USDT")]) as free:
        assert not free
    time.sleep(1.05)
    assert not a.c.may_protect(BTC)  # a's own view lapsed too
    b.sync()
    assert _believe_they_hold([a, b], BTC) == ["b"]
    with b.c.exclusive([("okx", "BTC_USDT")]) as free:
        assert free


def _request(unit: Unit, buy: str, sell: str, qty: str) -> OpenRequest:
    price = D(50_000)
    need = {v: D(qty) * price / 5 for v in (buy, sell)}
    return OpenRequest(unit=unit, buy_venue=buy, sell_venue=sell, qty=D(qty), price=price,
                       max_symbol_notional=D(10_000), margin_need=need,
                       margin_available={v: D(1000) for v in (buy, sell)}, equity=D(30_000), gross=D(0),
                       max_effective_leverage=D(3))


def test_a_node_10_s_ahead_counts_another_nodes_in_flight_opening(redis_url):
    """Reservations lapse after one TTL: stamped on the reserving node's clock, a node 10 s ahead saw
    them lapsed at once and reserved the same binance margin again."""
    venues = ("binance", "bybit", "okx")
    a = LiveNode(redis_url, "a", 0, region="singapore", venues=venues)  # bybit's region: binance/bybit
    b = LiveNode(redis_url, "b", SKEW_MS, region="hongkong", venues=venues)  # okx's: binance/okx
    for node in (a, b, a, b):  # a took every unit before b joined, then hands binance/okx over to b
        node.sync()
    ab, ao = Unit.of("BTC_USDT", "binance", "bybit"), Unit.of("BTC_USDT", "binance", "okx")
    assert a.c.may_act(ab) and b.c.may_act(ao)
    first, problem = a.c.reserve_open(_request(ab, "binance", "bybit", "0.06"))  # 600 of binance's 1000
    assert first and problem is None
    second, problem = b.c.reserve_open(_request(ao, "binance", "okx", "0.06"))
    assert second is None and "binance margin reserved by other nodes" in problem


@dataclass(frozen=True)
class Rate:
    orders: int
    window_s: int
    weight_per_min: int


@dataclass(frozen=True)
class RateCfg:
    max_wait_ms: int = 300
    close_reserve_pct: int = 20

    def venue(self, key: str) -> Rate:
        return Rate(10, 1, 6000)  # 10 orders a second


def test_the_shared_rate_budget_refills_on_redis_time(redis_url, redis_server):
    """A node 10 s ahead refilled the account's whole order bucket the moment after another node drained
    it (10 s of refill by its clock), and then the node behind got nothing for 10 s: on Redis' clock
    neither happens."""
    wall = lambda: time.time_ns() // 1_000_000  # noqa: E731
    a = RedisRateBudget(redis_server.client(), "clock", RateCfg(), wall, server_clock=True)
    b = RedisRateBudget(redis_server.client(), "clock", RateCfg(), lambda: wall() + SKEW_MS,
                        server_clock=True)
    while a.reserve("binance", Cost(orders=2)) is not None:  # drain it down to the closes' share
        pass
    assert b.reserve("binance", Cost(orders=4)) is None  # not refilled by b's clock
    time.sleep(0.6)  # 6 orders refilled on Redis' clock
    assert a.reserve("binance", Cost(orders=2)) == 0  # a is not stuck behind a stamp from b's clock


@pytest.mark.parametrize(("is_virtual", "server_clock"), [(True, False), (False, True), (None, True)])
def test_the_runtime_decides_the_clock_a_live_run_or_one_that_does_not_say_uses_redis_time(is_virtual,
                                                                                         server_clock):
    """FMZ's IsVirtual() (true in a backtest, the simulator and lockstep runs) keeps the runtime clock, so
    simulated time stays deterministic; live, or a runtime that does not say, uses Redis' clock."""
    g = {"Log": print, "LogStatus": print, "LogProfit": print, "Sleep": lambda _ms: None,
         "UnixNano": lambda: 0, "_G": lambda *_a: None, "exchanges": []}
    if is_virtual is not None:
        g["IsVirtual"] = lambda: is_virtual
    params = {"cluster": {"redis_url": "redis://127.0.0.1:1/0", "node": "n"}}
    app = App(Api.from_globals(g), parse_params(json.dumps(params)))  # connects only at start()
    assert app.coordinator.server_clock is server_clock


OKX_BTC = ("okx", "BTC_USDT")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(skews=st.lists(st.integers(-3_600_000, 3_600_000), min_size=3, max_size=3),
       weights=st.lists(st.integers(0, 2), min_size=3, max_size=3),
       steps=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["sync", "lock", "unlock", "die"])),
                      min_size=5, max_size=30))
def test_live_nodes_with_any_clock_offsets_never_both_hold_a_unit_or_a_lock(redis_url, redis_server, skews,
                                                                         weights, steps):
    """Three live nodes up to an hour apart, random weights (hand-overs), syncs, executions and deaths in
    any order: at every step at most one node would act on the unit and at most one holds okx BTC's
    execution lock, each judged by its own clock."""
    redis_server.client().flushall()
    nodes = [LiveNode(redis_url, name, skew, weight=weight)
             for name, skew, weight in zip("abc", skews, weights, strict=True)]
    dead: set[int] = set()
    executions: dict[int, Any] = {}
    for index, action in steps:
        if index in dead:
            continue
        node = nodes[index]
        if action == "sync":
            node.sync()
        elif action == "lock" and index not in executions:
            execution = node.c.exclusive([OKX_BTC])
            if execution.__enter__():
                executions[index] = execution
        elif action == "unlock" and index in executions:
            executions.pop(index).__exit__(None, None, None)
        elif action == "die":
            dead.add(index)  # never syncs nor releases again: its lease and lock run out by themselves
        assert len(_believe_they_hold(nodes, BTC)) <= 1
        lockers = [n.c.node for i, n in enumerate(nodes) if i in executions and n.c._lock_held(OKX_BTC)]
        assert len(lockers) <= 1
