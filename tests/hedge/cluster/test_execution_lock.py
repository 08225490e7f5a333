"""Two nodes trading the same venue-symbol through different units at the same moment (a real redis-server).

Tokyo owns SOL binance/okx and Singapore SOL bybit/okx: both trade SOL on the one okx account. The executor
measures what a leg filled by the change of the venue's position, so without the execution lock a node
executing between another node's send and settle would count that node's fill as its own. Here Singapore's
whole loop turn runs inside Tokyo's execution (right after Tokyo's okx leg is sent, before it is settled),
on one runtime clock: deterministic interleaving, no threads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from hedge.app import App
from hedge.cluster import Unit
from hedge.cluster.redis import RedisCoordinator
from hedge.config import ClusterConfig, parse_params
from hedge.fmz import Api
from hedge.ledger import Ledger
from hedge.orders import OrderRecord

SYMBOL = "SOL_USDT"
REGIONS = {"binance": "tokyo", "bybit": "singapore", "okx": "hongkong"}
CHEAP, RICH = (150.00, 150.01), (150.30, 150.31)  # okx is rich: both units sell there
LOOP_MS = 1_000


class Clock:
    """One runtime clock for every node; the fake venues' book times follow it."""

    def __init__(self, exchanges: list[Any]) -> None:
        self.now_ns = 1_700_000_000_000 * 1_000_000
        self.exchanges = exchanges
        self.sleep(0)

    def sleep(self, ms: float) -> None:
        self.now_ns += int(ms * 1_000_000)
        for ex in self.exchanges:
            ex.time_ms = self.now_ns // 1_000_000


class Store(dict):
    def __call__(self, key: str, *value: Any) -> Any:
        if not value:
            return self.get(key)
        self[key] = value[0]
        return None


class Interleaved:
    """A node's handle on a shared venue account: `hook` runs once, right after the node's next sell order
    there was sent (its position then already moved, its settle not done yet)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.hook: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def CreateOrder(self, symbol: str, side: str, *args: Any) -> Any:
        result = self._inner.CreateOrder(symbol, side, *args)
        if self.hook is not None and side.startswith("sell"):
            hook, self.hook = self.hook, None
            hook()
        return result


class Node:
    def __init__(self, name: str, exchanges: tuple[Any, ...], clock: Clock, redis_url: str) -> None:
        self.name = name
        self.logs: list[str] = []
        params = {"symbols": [SYMBOL], "loop_interval_ms": LOOP_MS, "status_interval_s": 60, "cooldown_s": 5,
                  "order_notional_usdt": 1000, "max_position_usdt": 2000, "max_effective_leverage": 20,
                  "cluster": {"redis_url": redis_url, "node": name, "region": name, "venue_regions": REGIONS,
                              "lease_ttl_s": 10, "namespace": "lock"}}
        api = Api(log=lambda *a: self.logs.append(" ".join(str(x) for x in a)), log_status=lambda *a: None,
                  log_profit=lambda *a: None, sleep=clock.sleep, unix_nano=lambda: clock.now_ns,
                  store=Store(), exchanges=exchanges, is_virtual=lambda: True)
        self.app = App(api, parse_params(json.dumps(params)))
        assert self.app.start()

    def said(self, text: str) -> list[str]:
        return [line for line in self.logs if text in line]


def _venues(fake_exchange: type) -> dict[str, Any]:
    return {"binance": fake_exchange("binance", books={SYMBOL: CHEAP}, balance=100_000.0),
            "bybit": fake_exchange("bybit", books={SYMBOL: CHEAP}, balance=100_000.0),
            "okx": fake_exchange("okx", books={SYMBOL: RICH}, balance=100_000.0)}


def _positions(venues: dict[str, Any]) -> dict[tuple[str, str], Decimal]:
    return {(key, SYMBOL): ex.base_position(SYMBOL) for key, ex in venues.items() if ex.base_position(SYMBOL)}


def test_a_close_and_an_opening_on_the_same_venue_at_once_each_book_only_their_own_fill(redis_url,
                                                                                          fake_exchange):
    venues = _venues(fake_exchange)
    for ex in venues.values():
        ex.books[SYMBOL] = CHEAP
    clock = Clock(list(venues.values()))
    tokyo_okx = Interleaved(venues["okx"])
    tokyo = Node("tokyo", (venues["binance"], venues["bybit"], tokyo_okx), clock, redis_url)
    singapore = Node("singapore", (venues["binance"], venues["bybit"], venues["okx"]), clock, redis_url)

    def turns(count: int) -> None:
        for _ in range(count):
            for node in (tokyo, singapore):
                node.app.tick()
            clock.sleep(LOOP_MS)

    turns(3)  # no edge: the nodes take their units (Tokyo binance/okx, Singapore bybit/okx)
    venues["binance"].books[SYMBOL] = (150.20, 150.21)
    venues["okx"].books[SYMBOL] = RICH
    turns(1)  # bybit cheap, okx rich: Singapore opens pair #1 long bybit / short okx
    assert [(p.id, p.long_venue, p.short_venue) for p in singapore.app.ledger.pairs.values()] == [
        (1, "bybit", "okx")]
    # now binance is cheap and okx above it (Tokyo opens binance/okx), and bybit's mid is above okx's
    # (Singapore closes pair #1: it buys back on okx). Singapore's turn runs inside Tokyo's opening,
    # between Tokyo's okx sell and its settle.
    venues["binance"].books[SYMBOL] = CHEAP
    venues["bybit"].books[SYMBOL] = (150.29, 150.33)
    tokyo_okx.hook = singapore.app.tick
    turns(12)

    assert tokyo_okx.hook is None  # the interleaving happened
    for node in (tokyo, singapore):
        assert not node.said("undoing") and not node.said("topping up") and not node.said("UNBALANCED")
        node.app.reconciler.reconcile()
        assert node.app.reconciler.openings_stopped is None, node.name
    # Tokyo's pairs hold what its own orders filled, and the shared ledger is exactly what the venues hold
    pairs = list(tokyo.app.ledger.pairs.values())
    assert pairs and all((p.long_venue, p.short_venue, p.qty) == ("binance", "okx", Decimal("6.666"))
                         for p in pairs)
    assert tokyo.app.ledger.expected_positions() == _positions(venues)
    # because Singapore found okx SOL locked by Tokyo's execution, waited, sent nothing, and closed later
    assert singapore.said("close#1: nothing sent: SOL_USDT on bybit/okx is being traded by another node")
    assert singapore.said("node tokyo is trading okx SOL_USDT (waited 2000 ms)")
    assert singapore.said("CLOSED pair #1 ")


def _node_coordinator(redis_url: str, name: str, now: list[int]) -> RedisCoordinator:
    cfg = ClusterConfig(redis_url=redis_url, node=name, region=name, venue_regions=REGIONS, lease_ttl_s=10,
                        namespace="lock")
    coordinator = RedisCoordinator(cfg, lambda: now[0])

    class Host:
        def event(self, text: str, level: str = "info") -> None: ...
        def coordination_lost(self, reason: str) -> None: ...
        def coordination_back(self) -> None: ...
        def remote_order_log(self, *args: Any) -> None: ...
        def remote_event(self, *args: Any) -> None: ...

    coordinator.attach(Host())
    coordinator.start(now[0], Ledger(), ["binance", "bybit"], (SYMBOL,))
    return coordinator


def test_a_recovery_trades_back_only_its_own_fills_where_another_node_has_fills_not_booked_yet(
        redis_url, fake_exchange):
    venues = _venues(fake_exchange)
    venues["okx"].books[SYMBOL] = CHEAP
    clock = Clock(list(venues.values()))
    tokyo = Node("tokyo", (venues["binance"], venues["okx"]), clock, redis_url)
    tokyo.app.tick()  # leases and the first reconcile, before the books show an edge
    # Tokyo dies between the legs of an opening: its binance leg filled, its okx leg never sent
    venues["okx"].books[SYMBOL] = RICH
    venues["okx"].crash_on_send.append(True)
    with pytest.raises(BaseException, match="killed"):  # the process is gone: no onexit
        tokyo.app.tick()
    bought = venues["binance"].base_position(SYMBOL)
    assert bought > 0 and not venues["okx"].base_position(SYMBOL)
    # meanwhile Singapore's execution on SOL binance/bybit has filled on binance and is not booked yet
    now = [clock.now_ns // 1_000_000]
    singapore = _node_coordinator(redis_url, "singapore", now)
    singapore.sync(now[0])
    venues["binance"].CreateOrder(f"{SYMBOL}.swap", 'buy;{"clientOrderId":"hgsg1"}', -1, 2.0)
    record = OrderRecord("hgsg1", "open#9", "binance", SYMBOL, "buy", Decimal(2))
    ledger = Ledger()
    with singapore.acting(Unit.of(SYMBOL, "binance", "bybit")), \
            singapore.exclusive([("binance", SYMBOL), ("bybit", SYMBOL)]):
        ledger.journal(record)
        singapore.save(ledger, Store())
    # Tokyo restarts (the edge is gone) and settles its unfinished execution: it sells back what its own leg
    # bought, and Singapore's 2 SOL stay (they are Singapore's to book)
    venues["okx"].books[SYMBOL] = CHEAP
    restarted = Node("tokyo", (venues["binance"], venues["okx"]), clock, redis_url)
    # the unit is adopted at its first turn, whose lookups of the never-sent okx order stop at
    # outage.max_turn_wait_ms: later turns prove it absent over the settle window (10 s)
    for _ in range(12):
        restarted.app.tick()
        if restarted.said("unfinished execution settled"):
            break
        clock.sleep(LOOP_MS)
    assert restarted.said("unfinished execution settled")
    assert venues["binance"].base_position(SYMBOL) == Decimal(2)
    assert not venues["okx"].base_position(SYMBOL)
