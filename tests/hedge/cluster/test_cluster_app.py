"""Three App nodes on one simulated set of accounts, coordinated through a real redis-server.

In one process (one runtime clock, deterministic turns): the nodes split the symbol x venue pairs, a node
is killed between the two legs of an execution and restarted later, Redis is stopped for a simulated
minute. The multi-process version with the venue server is test_three_nodes.py.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world
from hedge.app import App
from hedge.config import parse_params
from hedge.fmz import Api
from hedge.state import TradingState

START_MS = 1_719_792_000_000
SYMBOLS = ("BTC_USDT", "ETH_USDT")
VENUES = ("binance", "bybit", "okx")
EIDS = {"binance": "Futures_Binance", "bybit": "Futures_Bybit", "okx": "Futures_OKX"}
REGIONS = {"binance": "tokyo", "bybit": "singapore", "okx": "hongkong"}
LOOP_MS = 5_000
TTL_S = 30


class Killed(BaseException):
    """The node process dies (nothing in the strategy catches it)."""


class NodeExchange:
    """A node's view of one shared venue account: its own order log, and a kill switch on CreateOrder."""

    def __init__(self, inner: Any, node: NodeRun) -> None:
        self._inner = inner
        self._node = node

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def Log(self, log_type: int, price: float, amount: float, *args: Any) -> None:
        self._node.order_log.append(" ".join(str(a) for a in args))

    def CreateOrder(self, *args: Any) -> Any:
        if self._node.kill_after_sends is not None:
            if self._node.kill_after_sends == 0:
                raise Killed()
            self._node.kill_after_sends -= 1
        return self._inner.CreateOrder(*args)


class Store(dict):
    def __call__(self, key, *value):
        if not value:
            return self.get(key)
        self[key] = value[0]
        return None


class NodeRun:
    def __init__(self, name: str, region: str, world: Any, clock: BacktestClock, redis_url: str) -> None:
        self.name = name
        self.region = region
        self.world, self.clock, self.redis_url = world, clock, redis_url
        self.store = Store()
        self.logs: list[str] = []
        self.order_log: list[str] = []
        self.kill_after_sends: int | None = None
        self.app: App | None = None

    def start(self) -> None:
        params = {"symbols": list(SYMBOLS), "loop_interval_ms": LOOP_MS, "status_interval_s": 60,
                  "cooldown_s": 30, "close_threshold_bps": 1, "order_notional_usdt": 1000,
                  "max_position_usdt": 3000,
                  "cluster": {"redis_url": self.redis_url, "node": self.name, "region": self.region,
                              "venue_regions": REGIONS, "lease_ttl_s": TTL_S, "namespace": "t3"}}
        exchanges = tuple(NodeExchange(ex, self) for ex in self.world.exchanges)
        api = Api(log=lambda *a: self.logs.append(" ".join(str(x) for x in a)), log_status=lambda *a: None,
                  log_profit=lambda *a: None, sleep=self.clock.sleep, unix_nano=self.clock.now_ns,
                  store=self.store, exchanges=exchanges, is_virtual=lambda: True)
        self.kill_after_sends = None
        self.app = App(api, parse_params(json.dumps(params)))
        assert self.app.start()

    def tick(self) -> None:
        if self.app is None:
            return
        try:
            self.app.tick()
        except Killed:
            self.app = None  # dead: no onexit, leases left to lapse


def _positions(world: Any) -> dict[tuple[str, str], Decimal]:
    """Signed base quantity per (venue, symbol) on the simulated venues (the truth)."""
    out: dict[tuple[str, str], Decimal] = {}
    for key, ex in zip(VENUES, world.exchanges, strict=True):
        for pos in ex.GetPositions() or []:
            symbol = pos["Symbol"].split(".")[0]
            sign = 1 if pos["Type"] == 0 else -1
            ct = Decimal(repr(float(ex.GetMarkets()[f"{symbol}.swap"]["CtVal"])))
            out[(key, symbol)] = sign * Decimal(repr(float(pos["Amount"]))) * ct
    return out


@pytest.mark.slow
def test_three_nodes_share_the_accounts_survive_a_kill_mid_hedge_and_a_redis_outage(redis_url, redis_server):
    clock = BacktestClock(START_MS * 1_000_000, (START_MS + 30 * 3_600_000) * 1_000_000)
    bindings = tuple(ExchangeBinding(EIDS[v]) for v in VENUES)
    world = create_world(SimConfig(seed=1, start_ms=START_MS, symbols=SYMBOLS, bindings=bindings), clock,
                         MemoryLog())
    nodes = [NodeRun(n, r, world, clock, redis_url)
             for n, r in (("tokyo", "tokyo"), ("singapore", "singapore"), ("hongkong", "hongkong"))]
    for node in nodes:
        node.start()
    now = lambda: clock.now_ns() // 1_000_000  # noqa: E731
    lot = Decimal("0.001")
    script = _Script(nodes[0], now, redis_server)
    max_idle_net: dict[str, Decimal] = dict.fromkeys(SYMBOLS, Decimal(0))
    rounds = 0
    while now() < START_MS + 24 * 3_600_000 and (script.opened_after_outage < 0 or sum(
            n.app.trader.pairs_opened for n in nodes) <= script.opened_after_outage):
        rounds += 1
        for node in nodes:
            node.tick()
        script.step(nodes, now() - START_MS)
        _sample_idle_net(nodes, script.victim, world, max_idle_net)
        clock.sleep(LOOP_MS)
    for _ in range(2):  # the peers read the last orders from the stream
        for node in nodes:
            node.tick()
        clock.sleep(LOOP_MS)

    victim, killed_at = script.victim, script.killed_at
    restart_at, outage_at = script.restart_at, script.outage_at
    opened_at_outage, opened_after_outage = script.opened_at_outage, script.opened_after_outage
    apps = [n.app for n in nodes]
    assert all(apps) and killed_at and restart_at and outage_at
    # the three nodes split the units (region first) and every unit is held by exactly one node
    held = [set(app.coordinator.held) for app in apps]
    assert sum(len(h) for h in held) == len(SYMBOLS) * 3 == len(set().union(*held))
    # the dead node's units were adopted within the lease TTL (plus the turn that noticed)
    adoptions = [(unit, ms) for node in nodes if node is not victim
                 for unit, ms in node.app.coordinator.adoptions if killed_at <= ms < restart_at]
    assert adoptions and all(ms - killed_at <= TTL_S * 1000 + 2 * LOOP_MS for _, ms in adoptions)
    # the half-done execution was settled by the adopter: no double hedge, the book is the ledger
    assert any("unfinished execution settled" in line for n in nodes if n is not victim for line in n.logs)
    assert all(v <= lot for v in max_idle_net.values()), max_idle_net
    ledger = apps[1].ledger
    apps[1].reconciler.reconcile()
    expected = ledger.expected_positions()
    found = _positions(world)
    for key in set(expected) | set(found):
        assert abs(expected.get(key, Decimal(0)) - found.get(key, Decimal(0))) <= lot, key
    assert all(app.reconciler.openings_stopped is None for app in apps)
    # Redis away for a simulated minute: everybody REDUCING, no pair opened, ACTIVE again after
    assert opened_after_outage == opened_at_outage >= 0
    assert sum(app.trader.pairs_opened for app in apps) > opened_after_outage  # normal service after
    assert all(app.state is TradingState.ACTIVE for app in apps)
    for node in nodes:
        text = "\n".join(node.logs)
        assert "ACTIVE -> REDUCING: redis unreachable" in text
        assert "REDUCING -> ACTIVE: redis reachable" in text
    # every node's order log shows the other nodes' orders
    for node in nodes:
        others = {line.split("]")[0] for line in node.order_log if line.startswith("[node ")}
        assert others == {f"[node {n.name}" for n in nodes if n is not node}, (node.name, others)


class _Script:
    """The scenario's faults, one after the other as simulated time goes: once a node has opened a pair
    after the first hour, the busiest node dies after its next first leg; it restarts an hour after it
    died, Redis goes away half an hour after that, and comes back a simulated minute later."""

    def __init__(self, victim: NodeRun, now: Any, redis_server: Any) -> None:
        self.victim = victim
        self.now = now
        self.redis_server = redis_server
        self.killed_at: int | None = None
        self.restart_at: int | None = None
        self.outage_at: int | None = None
        self.opened_at_outage = self.opened_after_outage = -1

    def step(self, nodes: list[NodeRun], elapsed: int) -> None:
        now = self.now
        busiest = max(nodes, key=lambda n: n.app.trader.pairs_opened if n.app else -1)
        if self.killed_at is None and elapsed > 3_600_000 and self.victim.kill_after_sends is None \
                and busiest.app.trader.pairs_opened:
            self.victim = busiest
            self.victim.kill_after_sends = 1  # dies after its next first leg, before the second
        if self.killed_at is None and self.victim.app is None:
            self.killed_at = now()
        if self.killed_at and self.restart_at is None and now() > self.killed_at + 3_600_000:
            self.victim.start()
            self.restart_at = now()
        if self.restart_at and self.outage_at is None and now() > self.restart_at + 1_800_000:
            self.redis_server.stop()
            self.outage_at = now()
        if self.outage_at and self.redis_server.proc is None:
            self._during_outage(nodes)

    def _during_outage(self, nodes: list[NodeRun]) -> None:
        if self.opened_at_outage < 0:
            self.opened_at_outage = sum(n.app.trader.pairs_opened for n in nodes)
        if self.now() > self.outage_at + 60_000:
            self.opened_after_outage = sum(n.app.trader.pairs_opened for n in nodes)
            self.redis_server.start()


def _sample_idle_net(nodes: list[NodeRun], victim: NodeRun, world: Any,
                     max_idle_net: dict[str, Decimal]) -> None:
    """Between turns nobody is executing: every coin's net position must be flat within one lot."""
    in_flight = any(n.app is not None and n.app.ledger.orders for n in nodes) or victim.app is None
    if not in_flight:
        for symbol in SYMBOLS:
            net = sum((q for (v, s), q in _positions(world).items() if s == symbol), Decimal(0))
            max_idle_net[symbol] = max(max_idle_net[symbol], abs(net))


def test_a_cluster_node_shares_the_request_budget_through_redis(redis_url, redis_server):
    clock = BacktestClock(START_MS * 1_000_000, (START_MS + 3_600_000) * 1_000_000)
    bindings = tuple(ExchangeBinding(EIDS[v]) for v in VENUES)
    world = create_world(SimConfig(seed=1, start_ms=START_MS, symbols=SYMBOLS, bindings=bindings), clock,
                         MemoryLog())
    node = NodeRun("tokyo", "tokyo", world, clock, redis_url)
    node.start()
    for _ in range(3):
        node.tick()
        clock.sleep(LOOP_MS)
    client = redis_server.client()
    # every venue call of the node was counted in the shared buckets (written once a turn)
    for venue in VENUES:
        assert float(client.hget(f"t3:rate:{venue}", "wl")) < float(
            node.app.cfg.rate_limits.venue(venue).weight_per_min)
