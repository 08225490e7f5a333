"""Leases, fencing tokens, shared ledger writes and reservations against a real redis-server."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hedge.cluster import OpenRequest, Unit
from hedge.cluster.redis import RedisCoordinator, RedisRateBudget, preferred_node
from hedge.config import ClusterConfig
from hedge.ledger import EXECUTION, Ledger, LooseLeg
from hedge.orders import OrderRecord

D = Decimal
BTC = Unit.of("BTC_USDT", "okx", "binance")
VENUES = ["binance", "okx"]


class Host:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lost: list[str] = []
        self.back = 0
        self.remote: list[tuple[str, str, str]] = []

    def event(self, text: str, level: str = "info") -> None:
        self.events.append((level, text))

    def coordination_lost(self, reason: str) -> None:
        self.lost.append(reason)

    def coordination_back(self) -> None:
        self.back += 1

    def remote_order_log(self, node, venue, log_type, price, amount, text) -> None:
        self.remote.append((node, venue, text))

    def remote_event(self, node, level, text) -> None:
        self.remote.append((node, level, text))


class Node:
    """One coordinator with its own runtime clock, ledger and _G."""

    def __init__(self, url: str, name: str, *, region: str = "", weight: int = 1, ttl_s: int = 10,
                 symbols: tuple[str, ...] = ("BTC_USDT",), venues: list[str] = VENUES) -> None:
        self.now = 1_000_000  # the loop turn's runtime time (App.now_ms)
        self.later = 0  # how far the runtime clock has moved on since the turn began
        self.store: dict[str, str] = {}
        self.host = Host()
        cfg = ClusterConfig(redis_url=url, node=name, region=region, node_weight=weight, lease_ttl_s=ttl_s,
                            venue_regions={"binance": "tokyo", "okx": "hongkong", "bybit": "singapore"})
        self.c = RedisCoordinator(cfg, lambda: self.now, clock=lambda: self.now + self.later)
        self.c.attach(self.host)
        self.c.store = self._g
        self.ledger = self.c.start(self.now, Ledger(), venues, symbols)

    def _g(self, key, *value):
        if value:
            self.store[key] = value[0]
            return None
        return self.store.get(key)

    def sync(self, now: int | None = None) -> list[Unit]:
        if now is not None:
            self.now = now
        return self.c.sync(self.now)

    def save(self) -> None:
        self.c.save(self.ledger, self._g)


def _open(node: Node, pair_id: int, qty: str = "0.01") -> None:
    node.ledger.next_id = pair_id
    node.ledger.record_open(symbol="BTC_USDT", long_venue="binance", short_venue="okx", qty=D(qty),
                            long_price=D(50_000), short_price=D(50_030), fees=D(0), client_ids=(),
                            now_ms=node.now)


def _journal(node: Node, cid: str) -> bool:
    """Journal an order of unit BTC as the executor does (inside the unit and its venue-symbol's execution
    lock); whether the send check then lets it go out."""
    record = OrderRecord(cid, "open#1", "binance", "BTC_USDT", "buy", D("0.01"))
    with node.c.acting(BTC), node.c.exclusive([("binance", "BTC_USDT")]) as free:
        assert free
        node.ledger.journal(record)
        node.save()
        return node.c.may_send(record)


def test_one_owner_per_unit_and_a_new_token_after_the_lease_lapses_on_the_runtime_clock(redis_url):
    a, b = Node(redis_url, "a"), Node(redis_url, "b")
    a.sync()
    b.sync()
    owners = [n for n in (a, b) if BTC in n.c.held]
    assert len(owners) == 1  # the preferred one took it; the other did not
    owner, other = owners[0], b if owners[0] is a else a
    first = owner.c.held[BTC][0]
    owner.sync(owner.now + 5_000)  # renewal keeps the token
    assert owner.c.held[BTC][0] == first
    # the owner stops (dies); the other's runtime clock passes the TTL: it adopts with a newer token
    other.sync(owner.now + 9_000)
    assert BTC not in other.c.held
    adopted = other.sync(owner.now + 10_001)
    assert adopted == [BTC] and other.c.held[BTC][0] > first
    assert not other.c.may_act(BTC)  # adopted, not reconciled yet
    other.c.reconciled(set())
    assert other.c.may_act(BTC)


def test_a_stale_owner_can_neither_book_nor_send(redis_url):
    a = Node(redis_url, "a")
    a.sync()
    assert BTC in a.c.held
    a.c.reconciled(set())
    b = Node(redis_url, "b", weight=5)  # better placed: it takes over once a's lease lapses
    b.now = a.now + 11_000
    b.sync()
    b.sync()
    assert BTC in b.c.held
    # a does not know yet (it was paused): its writes carry the old token and are refused atomically
    _open(a, 7)
    a.save()
    assert "7" not in a.c.r.hgetall(a.c.k_pairs)
    assert any("refused" in text for level, text in a.host.events if level == "error")
    assert not _journal(a, "hgx1")
    assert "hgx1" not in a.c.r.hgetall(a.c.k_orders)
    # the new owner writes fine
    b.c.reconciled(set())
    _open(b, 8)
    b.save()
    assert "8" in b.c.r.hgetall(b.c.k_pairs)


def test_send_check_needs_a_third_of_the_lease_left(redis_url):
    a = Node(redis_url, "a", ttl_s=9)
    a.sync()
    a.now += 6_500  # 2.5 s left of 9 s: under a third
    assert not _journal(a, "hgx2")
    a.sync()  # renewed
    assert _journal(a, "hgx3")


def test_the_lease_check_reads_the_runtime_clock_at_the_moment_of_the_check(redis_url):
    """The loop turn began with the whole lease left, then the runtime clock moved on inside the turn (a
    rate-limit wait, slow venue calls): what counts is the lease left at the moment of the check."""
    a = Node(redis_url, "a", ttl_s=9)
    a.sync()
    a.c.reconciled(set())
    assert a.c.may_act(BTC) and a.c.may_protect(BTC) and a.c.leads("treasury")
    a.later = 6_500  # same turn, 6.5 s later on the runtime clock: 2.5 s of 9 left, under a third
    assert not a.c.may_act(BTC) and not a.c.may_protect(BTC) and not a.c.leads("treasury")
    assert not _journal(a, "hgx5")
    assert "hgx5" not in a.c.r.hgetall(a.c.k_orders)
    pair_id, problem = a.c.reserve_open(_request(BTC, "binance", "okx", "0.001"))
    assert pair_id is None and problem
    a.now, a.later = a.now + 6_500, 0  # the next turn renews the lease
    a.sync()
    a.c.reconciled(set())
    assert a.c.may_act(BTC) and _journal(a, "hgx6")


def test_the_shared_ledger_reaches_every_node_and_journaled_orders_follow_the_unit(redis_url):
    a, b = Node(redis_url, "a", weight=5), Node(redis_url, "b")
    a.sync()
    b.sync()
    a.c.reconciled(set())
    _open(a, 3)
    a.save()
    _journal(a, "hga1")
    b.sync()
    assert set(b.ledger.pairs) == {3}
    assert b.ledger.orders == {}  # not b's unit: shown as busy instead
    assert b.c.busy_keys() == {("binance", "BTC_USDT")}
    # a dies with the order journaled; b adopts the unit and gets the order to settle
    adopted = b.sync(a.now + 10_001)
    assert adopted == [BTC] and set(b.ledger.orders) == {"hga1"}
    b.ledger.clear_orders()
    b.save()
    assert b.c.r.hgetall(b.c.k_orders) == {}


def test_loose_legs_are_shared_and_written_under_the_lease_of_their_unit(redis_url):
    a, b = Node(redis_url, "a", weight=5), Node(redis_url, "b")
    a.sync()
    b.sync()
    a.c.reconciled(set())
    leg = LooseLeg("okx", "BTC_USDT", D("-0.003"), D(50_000), 1, BTC.key, EXECUTION)
    a.ledger.add_loose(leg)
    a.save()
    b.sync()
    assert b.ledger.loose == {leg.key: leg}  # every node's reconciliation counts it
    b.ledger.set_loose(leg, D(0))  # not b's unit: its write is refused, the shared leg stays
    b.save()
    assert b.c.r.hlen(b.c.k_loose) == 1
    b.sync()
    assert b.ledger.loose == {leg.key: leg}
    # a dies; b adopts the unit after the TTL, and with it the leg: now b may close it
    assert b.sync(a.now + 10_001) == [BTC]
    b.c.reconciled(set())
    b.ledger.set_loose(b.ledger.loose[leg.key], D(0))
    b.save()
    assert b.c.r.hlen(b.c.k_loose) == 0


def _request(unit: Unit, buy: str, sell: str, qty: str, *, available: str = "1000",
             max_symbol: str = "10000") -> OpenRequest:
    price = D(50_000)
    need = {v: D(qty) * price / 5 for v in (buy, sell)}
    return OpenRequest(unit=unit, buy_venue=buy, sell_venue=sell, qty=D(qty), price=price,
                       max_symbol_notional=D(max_symbol), margin_need=need,
                       margin_available={v: D(available) for v in (buy, sell)}, equity=D(30_000),
                       gross=D(0), max_effective_leverage=D(3))


def test_reservations_never_over_commit_a_venue_or_cross_a_leg(redis_url):
    venues = ["binance", "bybit", "okx"]
    a = Node(redis_url, "a", venues=venues)
    b = Node(redis_url, "b", venues=venues)
    ab, ao = Unit.of("BTC_USDT", "binance", "bybit"), Unit.of("BTC_USDT", "binance", "okx")
    for node, unit in ((a, ab), (b, ao)):  # give each node one unit sharing binance
        node.c.held[unit] = (int(node.c.r.incr(node.c.k_fence)), node.now + 10_000)
        node.c.r.hset(node.c._lease_key(unit), mapping={"node": node.c.node, "token": node.c.held[unit][0],
                                                        "expires": node.now + 10_000})
    # 0.06 BTC at 50k / 5x = 600 margin per venue; binance has 1000 available: only one fits
    first, problem = a.c.reserve_open(_request(ab, "binance", "bybit", "0.06"))
    assert first and problem is None
    second, problem = b.c.reserve_open(_request(ao, "binance", "okx", "0.06"))
    assert second is None and "binance margin reserved by other nodes" in problem
    # selling on binance while another node's in-flight opening buys there would net the legs
    _, problem = b.c.reserve_open(_request(ao, "okx", "binance", "0.001"))
    assert "net against" in problem
    # the symbol limit counts the other node's in-flight quantity
    _, problem = b.c.reserve_open(_request(ao, "binance", "okx", "0.01", available="5000", max_symbol="3400"))
    assert "max_position_usdt" in problem
    a.c.release_open(ab)
    pair_id, problem = b.c.reserve_open(_request(ao, "binance", "okx", "0.06"))
    assert problem is None and pair_id == first + 1  # pair ids are unique over the cluster


def test_preferred_node_by_region_then_weight_and_standby_nodes_wait():
    regions = {"binance": "tokyo", "okx": "hongkong", "bybit": "singapore"}
    nodes = {"t": {"region": "tokyo", "weight": 1}, "h": {"region": "hongkong", "weight": 1},
             "s": {"region": "singapore", "weight": 0}}
    assert preferred_node(Unit.of("BTC_USDT", "binance", "bybit"), nodes, regions) == "t"
    assert preferred_node(Unit.of("BTC_USDT", "okx", "bybit"), nodes, regions) == "h"  # s is standby
    nodes["h"]["weight"] = 0
    nodes["t"]["weight"] = 0
    assert preferred_node(Unit.of("BTC_USDT", "okx", "bybit"), nodes, regions) == "s"  # all standby: nearest
    nodes = {"x": {"region": "", "weight": 3}, "y": {"region": "", "weight": 1}}
    assert preferred_node(Unit.of("BTC_USDT", "okx", "bybit"), nodes, regions) == "x"


@dataclass(frozen=True)
class Rate:
    orders: int
    window_s: int
    weight_per_min: int


@dataclass(frozen=True)
class Cost:
    orders: int = 0
    weight: int = 0


@dataclass(frozen=True)
class RateCfg:
    max_wait_ms: int = 300
    close_reserve_pct: int = 20

    def venue(self, key: str) -> Rate:
        return Rate(10, 1, 6000)  # 10 orders a second, 6000 weight a minute


def test_rate_budget_is_one_pair_of_buckets_for_the_account(redis_url, redis_server):
    now = [0]
    a = RedisRateBudget(redis_server.client(), "xvh", RateCfg(), lambda: now[0])
    b = RedisRateBudget(redis_server.client(), "xvh", RateCfg(), lambda: now[0])
    two = Cost(orders=2, weight=2)
    # openings may use 80 % of the order bucket (20 % is kept for closes): 4 of them at 2 orders
    assert [a.reserve("binance", two), b.reserve("binance", two), a.reserve("binance", two),
            b.reserve("binance", two)] == [0, 0, 0, 0]
    assert a.reserve("binance", two) == 200  # both nodes drew from one bucket: wait for 2 more tokens
    assert b.reserve("binance", Cost(orders=4)) is None and b.refused == 1  # would wait 600 ms > 300
    assert b.reserve("binance", Cost(orders=4), priority=True) == 300  # a close is never refused
    now[0] = 10_000
    a.release("binance", two)
    assert b.reserve("binance", Cost(orders=8)) == 0  # refilled
    for _ in range(50):
        a.spend("okx", Cost(weight=100))  # market data: counted locally, written at the next reserve
    # 1000 weight left, 1200 kept for closes: an opening of weight 2000 would wait 22 s; refused
    assert a.reserve("okx", Cost(orders=1, weight=2000)) is None
    assert float(redis_server.client().hget("xvh:rate:okx", "wl")) == 6000 - 5000


def test_rate_budget_stamped_by_a_later_clock_refills_from_now_on(redis_url, redis_server):
    """Issue #22: a run starting earlier in simulated time than the state it finds (or a node whose clock
    jumped back) skipped every opening with "rate budget exhausted": the buckets refilled only once the
    clock passed the stored stamp. A stamp more than one refill period ahead restarts the refill now."""
    now = [10 * 86_400_000]
    later = RedisRateBudget(redis_server.client(), "xvh", RateCfg(), lambda: now[0])
    while later.reserve("binance", Cost(orders=2)) is not None:  # drain it down to the closes' share
        pass
    now[0] = 0  # a new run, days earlier
    earlier = RedisRateBudget(redis_server.client(), "xvh", RateCfg(), lambda: now[0])
    assert earlier.reserve("binance", Cost(orders=2)) is None  # the level it found is honoured...
    now[0] = 1_000
    assert earlier.reserve("binance", Cost(orders=2)) == 0  # ...and refills one second later
    now[0] = 1_000 - 500  # a clock half a second behind (skew between nodes): no reset, nothing refilled
    assert earlier.reserve("binance", Cost(orders=8)) == 200  # 8 left, 2 kept for closes: wait for 2


@pytest.mark.slow
def test_rate_budget_falls_back_to_the_local_one_while_redis_is_away(redis_url, redis_server):
    class Local:
        def __init__(self):
            self.calls = []

        def reserve(self, venue, cost, *, priority=False):
            self.calls.append(("reserve", venue))
            return 7

        def spend(self, venue, cost):
            self.calls.append(("spend", venue))

    local = Local()
    budget = RedisRateBudget(redis_server.client(), "xvh", RateCfg(), lambda: 0, fallback=local)
    redis_server.stop()
    try:
        budget.spend("okx", Cost(weight=1))
        assert budget.reserve("okx", Cost(orders=1)) == 7
    finally:
        redis_server.start()
    assert local.calls == [("spend", "okx"), ("reserve", "okx")]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 6_000), st.booleans()), min_size=5, max_size=40))
def test_interleaved_nodes_never_write_with_a_superseded_token(redis_url, redis_server, steps):
    """Random pauses and syncs of three nodes on one clock: every accepted write was made by the holder
    of the newest token, and tokens only grow."""
    redis_server.client().flushall()
    nodes = [Node(redis_url, name, ttl_s=5) for name in "abc"]
    clock = 1_000_000
    seen_tokens: list[int] = []
    for index, advance, write in steps:
        clock += advance
        node = nodes[index]
        node.sync(clock)
        if write:
            node.c.reconciled(set())
            _open(node, int(node.c.r.incr("test:ids")))
            before = set(node.c.r.hgetall(node.c.k_pairs))
            node.save()
            after = set(node.c.r.hgetall(node.c.k_pairs))
            lease = node.c.r.hgetall(node.c._lease_key(BTC))
            if after != before:  # accepted: this node holds the newest token right now
                assert lease["node"] == node.c.node and int(lease["token"]) == node.c.held[BTC][0]
            node.ledger.pairs.clear()
            node.c._pull(node.ledger)
        token = int(node.c.r.hget(node.c._lease_key(BTC), "token") or 0)  # 0: released, free
        if token:
            assert not seen_tokens or token >= seen_tokens[-1]
            seen_tokens.append(token)


def test_unreachable_redis_is_reported_once_and_recovery_after(redis_url, redis_server):
    a = Node(redis_url, "a")
    a.sync()
    redis_server.stop()
    try:
        assert a.sync(a.now + 1000) == []
        a.sync(a.now + 1000)
        assert len(a.host.lost) == 1 and "redis unreachable" in a.host.lost[0]
        assert not a.c.may_act(BTC)
    finally:
        redis_server.start()
    a.sync(a.now + 1000)
    assert a.host.back == 1
    assert BTC in a.c.held  # renewed with the same token: nobody else took it


def test_start_refuses_with_one_line_when_redis_is_down():
    cfg = ClusterConfig(redis_url="redis://user:secret@127.0.0.1:1/0", node="n1")
    coordinator = RedisCoordinator(cfg, lambda: 0)
    coordinator.attach(Host())
    with pytest.raises(RuntimeError) as info:
        coordinator.start(0, Ledger(), VENUES, ("BTC_USDT",))
    assert "unreachable at start" in str(info.value) and "secret" not in str(info.value)
    assert "redis://user:***@127.0.0.1:1/0" in str(info.value)


def test_one_node_runs_the_treasury_and_another_takes_it_when_it_dies(redis_url):
    a, b = Node(redis_url, "a", weight=3), Node(redis_url, "b")
    for node in (a, b, a, b):
        node.sync()
    assert a.c.leads("treasury") and not b.c.leads("treasury")
    b.sync(a.now + 10_001)  # a stopped renewing: its lease lapsed on the runtime clock
    b.sync(b.now + 1)
    assert b.c.leads("treasury")


def test_a_node_lost_is_a_critical_event_and_a_clean_exit_is_not(redis_url):
    """Issue #22: a node lost goes to the operator (critical events are pushed: hedge/app.py)."""
    a, b, c = Node(redis_url, "a"), Node(redis_url, "b"), Node(redis_url, "c")
    for node in (a, b, c, a, b, c):
        node.sync()
    c.c.close()  # c leaves cleanly: its heartbeat is deleted, its leases handed back
    b.sync(b.now + 1)
    assert not [e for e in b.host.events if "lost" in e[1]]
    b.sync(a.now + 10_001)  # a stopped renewing: its heartbeat lapsed
    lost = [e for e in b.host.events if " lost " in e[1]]
    assert lost == [("critical",
                     "cluster: node a lost (no heartbeat for 10 s); the live nodes adopt its units")]
    b.sync(b.now + 1)
    assert len([e for e in b.host.events if " lost " in e[1]]) == 1  # said once


def test_a_node_that_binds_fewer_venues_owns_only_units_it_can_trade():
    regions = {"binance": "tokyo", "okx": "hongkong", "bybit": "singapore"}
    both = Unit.of("BTC_USDT", "binance", "okx")
    nodes = {"t": {"region": "tokyo", "weight": 5, "units": [Unit.of("BTC_USDT", "binance", "bybit").key]},
             "h": {"region": "hongkong", "weight": 1, "units": [both.key]}}
    assert preferred_node(both, nodes, regions) == "h"  # t outranks h but does not bind okx


def test_the_coordinator_writes_counted_requests_once_a_turn(redis_url):
    a = Node(redis_url, "a")
    budget = a.c.rate_budget(RateCfg(), local=None)
    budget.spend("binance", Cost(weight=40))
    budget.spend("binance", Cost(weight=60))
    assert a.c.r.hget("xvh:rate:binance", "wl") is None  # nothing written per request
    a.sync()
    assert float(a.c.r.hget("xvh:rate:binance", "wl")) == 6000 - 100


SOL_OKX, SOL_BINANCE, SOL_BYBIT = ("okx", "SOL_USDT"), ("binance", "SOL_USDT"), ("bybit", "SOL_USDT")


def test_execution_locks_are_taken_all_or_none_and_a_dead_holders_lapse_after_the_ttl(redis_url):
    a, b, c = Node(redis_url, "a"), Node(redis_url, "b"), Node(redis_url, "c")
    held_by_a = a.c.exclusive([SOL_OKX, SOL_BINANCE])
    assert held_by_a.__enter__()  # and node a dies inside: never released
    with b.c.exclusive([SOL_BYBIT, SOL_OKX]) as free:
        assert not free  # okx is a's: b takes none of them...
    with c.c.exclusive([SOL_BYBIT]) as free:
        assert free  # ...so bybit stayed free
    assert "cluster: node a is trading okx SOL_USDT (waited 0 ms)" in [t for _, t in b.host.events]
    b.now += 10_000 - 1
    with b.c.exclusive([SOL_OKX]) as free:
        assert not free
    b.now += 1  # one lease TTL after a took it, on the runtime clock
    with b.c.exclusive([SOL_BYBIT, SOL_OKX]) as free:
        assert free
        held_by_a.__exit__(None, None, None)  # a's late release is fenced: b's locks stay
        with c.c.exclusive([SOL_OKX]) as other:
            assert not other
    with c.c.exclusive([SOL_OKX]) as other:
        assert other  # released by b


def test_no_order_is_sent_outside_its_venue_symbols_execution_lock_and_sending_renews_it(redis_url):
    a, b = Node(redis_url, "a"), Node(redis_url, "b")
    a.sync()
    record = OrderRecord("hgl1", "open#1", "okx", "SOL_USDT", "sell", D("1"))
    with a.c.exclusive([SOL_OKX]) as free:
        assert free and a.c.may_send(record)
        with a.c.exclusive([SOL_OKX, SOL_BINANCE]) as nested:  # already held: nothing more to take
            assert nested and a.c.may_send(record)
        a.now += 6_000  # a long execution: under half of the 10 s TTL left, sending renews it
        assert a.c.may_send(record)
        b.now = a.now + 9_000  # 15 s after a took it, 9 s after the renewal: still a's
        with b.c.exclusive([SOL_OKX]) as other:
            assert not other
        b.now = a.now + 10_000  # a stalled for a whole TTL: the lock lapsed and b took it
        with b.c.exclusive([SOL_OKX]) as other:
            assert other
            a.now = b.now
            assert not a.c.may_send(record)
    assert not a.c.may_send(record)
    assert any("not sent: this node does not hold its execution lock" in t for _, t in a.host.events)
