"""A loose leg stuck on a venue that is out is re-hedged on a venue that trades in a cluster too (issue #17,
sequence 7; hedge/rehedge.py; single-node scenarios in tests/hedge/test_rehedge.py). Two App nodes on one
simulated set of accounts (binance, bybit, okx), coordinated through a real redis-server, in one process on
one runtime clock (deterministic turns; the helpers are tests/hedge/cluster/test_cluster_risk.py's).

The new pair's id is reserved through the coordinator and its unit's lease is held before the order goes
out, so exactly one node re-hedges a leg."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedge.cluster import Unit
from hedge.execution import LATE_LANDING_SETTLES
from tests.hedge.cluster.test_cluster_risk import LOOP_MS, SYMBOL, Node, World, _book_matches_venues, _settled

D = Decimal
LOT = D("0.001")  # BTC's amount step on binance, okx and bybit
# the stop's refused okx close is proved absent inside its execution, so the loose leg exists at once
PATIENT = {"outage": {"max_turn_wait_ms": 600_000}}


def _loose_short_on_okx(world: World, a: Node, qty: Decimal) -> int:
    """a books long binance / short okx; okx refuses every order for 15 minutes; a stop's close (never
    undone) fills on binance and okx's short stays a loose leg of unit binance/okx."""
    pair_id = a.book_pair("binance", "okx", qty)
    world.sim.inject("okx", "refuse_orders", world.now() + 900_000)
    trader = a.app.trader
    closed = trader.close_group(SYMBOL, trader.venue("binance"), trader.venue("okx"),
                                [a.app.ledger.pairs[pair_id]], tag="stop1", undo=False)
    assert closed == qty and a.app.ledger.pairs == {}
    unit = Unit.of(SYMBOL, "binance", "okx")
    assert a.app.ledger.loose[("okx", SYMBOL, unit.key)].qty == -qty
    return pair_id


def _tick_all(nodes: list[Node]) -> None:
    """One turn of every live node; a node whose order hook raised Killed is dead from then on."""
    for node in nodes:
        try:
            node.tick()
        except Killed:
            node.alive = False


def _net(world: World) -> Decimal:
    return sum(world.positions().values(), D(0))


def test_two_nodes_one_rehedges_a_loose_leg_on_a_third_venue_after_max_unhedged_s(redis_url):
    """(1) Before: 'a cluster does not re-hedge loose legs yet' and okx's short stayed unhedged for the
    whole refusal window. Now the node holding the units re-hedges it on bybit once it has been held
    outage.max_unhedged_s (60 s): one order, one pair long bybit / short okx in the shared book, which both
    nodes read alike."""
    world = World("binance", "bybit", "okx")
    a = Node(world, "a", world.venues, redis_url, weight=2, **PATIENT)  # the preferred owner of every unit
    b = Node(world, "b", world.venues, redis_url, **PATIENT)
    nodes = [a, b]
    _settled(world, nodes)
    qty = D("0.01")  # ~620 USDT: under the net exposure guard
    closed_id = _loose_short_on_okx(world, a, qty)
    loose_ms = world.now()
    bybit_before = len(world.orders("bybit"))
    rehedged_ms = None
    while world.now() < loose_ms + 300_000 and rehedged_ms is None:
        for node in nodes:
            node.tick()
        if not a.app.ledger.loose:
            rehedged_ms = world.now()
        world.clock.sleep(LOOP_MS)
    assert rehedged_ms is not None, [line for line in a.logs if "re-hedge" in line][-3:]
    assert 60_000 <= rehedged_ms - loose_ms <= (60 + 10 + 15) * 1000
    # each node's own lines (another node's critical events show as "[node a] critical: ...")
    own = [(node.name, line) for node in nodes for line in node.logs if line.startswith("REHEDGED BTC_USDT")]
    assert [name for name, _ in own] == ["a"], own
    bybit = world.orders("bybit")[bybit_before:]
    assert len(bybit) == 1  # exactly one re-hedge order
    assert abs(_net(world)) <= LOT
    assert world.positions() == {("bybit", SYMBOL): qty, ("okx", SYMBOL): -qty}
    for _ in range(2):
        for node in nodes:
            node.tick()
        world.clock.sleep(LOOP_MS)
    for node in nodes:
        node.app.book.refresh()
        (pair,) = node.app.ledger.pairs.values()
        assert (pair.long_venue, pair.short_venue, pair.qty) == ("bybit", "okx", qty), node.name
        assert pair.id > closed_id  # reserved in the cluster, never an id used before
        assert node.app.ledger.loose == {}, node.name
        _book_matches_venues(world, node)
        assert "fenced out" not in node.text() and "Traceback" not in node.text()
    assert a.app.ledger.pairs == b.app.ledger.pairs


class Killed(BaseException):
    """The node's process ends here (nothing after the send runs: no booking, no lock released)."""


def test_the_rehedging_node_dies_right_after_sending_and_the_adopter_never_sends_a_second(redis_url):
    """(2) Adversarial: a dies right after its re-hedge order left (no booking, its execution lock never
    released), and the order is still in flight: it reaches bybit 50 s later, after b has taken the units
    over (a's leases lapse after 30 s) and its recovery found the order absent. b never sends a second
    re-hedge while the first may still land (LATE_LANDING_SETTLES settle windows after its send): bybit
    never holds more than the one hedge, and in the end b's book equals the venues, net exposure within one
    lot, the loose leg hedged."""
    world = World("binance", "bybit", "okx")
    a = Node(world, "a", world.venues, redis_url, weight=2, **PATIENT)
    b = Node(world, "b", world.venues, redis_url, **PATIENT)
    nodes = [a, b]
    _settled(world, nodes)
    qty = D("0.01")
    closed_id = _loose_short_on_okx(world, a, qty)
    loose_ms = world.now()
    sends: list[tuple[int, str, str, str]] = []  # (ms, node, venue, client id) of every order sent
    in_flight: list[tuple[int, Any, Any, Any, tuple[Any, ...]]] = []  # (lands at, create, symbol, side, args)

    def watch(venue: str) -> None:
        create = world.exchange(venue).CreateOrder

        def watched(symbol, side, *args):
            node = next(n for n in nodes if str(args[-1]).startswith(n.app.coordinator.client_prefix))
            sends.append((world.now(), node.name, venue, str(args[-1])))
            if node is a and venue != "okx":  # its re-hedge: a dies as it leaves; it lands 50 s later
                in_flight.append((world.now() + 50_000, create, symbol, side, args))
                a.app.coordinator._release_locks = lambda *_: None  # a dead process releases nothing
                raise Killed
            return create(symbol, side, *args)

        world.exchange(venue).CreateOrder = watched

    for venue in world.venues:
        watch(venue)
    worst = D(0)
    landed_ms = loose_ms + 600_000
    while world.now() < loose_ms + 600_000:
        _tick_all(nodes)
        if in_flight and world.now() >= in_flight[0][0]:
            _, create, symbol, side, args = in_flight.pop()
            assert create(symbol, side, *args)  # a's order reaches its venue
            landed_ms = world.now()
        positions = world.positions()
        hedges = positions.get(("bybit", SYMBOL), D(0)) + positions.get(("binance", SYMBOL), D(0))
        worst = max(worst, hedges)  # longs against okx's loose short
        world.clock.sleep(LOOP_MS)
    rehedges = {line.split("client_id=")[1].split()[0] for line in (r["message"] for r in world.sim.log.rows)
                if "tag=rehedge#okx" in line}
    sent = [(ms, name, venue) for ms, name, venue, cid in sends if cid in rehedges]
    assert not a.alive and sent[0][1:] == ("a", "bybit")
    assert sent[0][0] - loose_ms >= 60_000  # a sent after max_unhedged_s
    assert worst <= qty, sends  # never a second hedge beside the first (on bybit or binance)
    settle_ms = b.app.cfg.outage.order_settle_s * 1000
    for ms, name, _ in sent[1:]:  # b, and no second re-hedge while a's order could still land (it has
        # landed once it reached bybit: b books the late landing, trades it back, and may hedge again)
        assert name == "b" and (ms - sent[0][0] >= LATE_LANDING_SETTLES * settle_ms or ms > landed_ms), sent
    b.app.book.refresh()
    assert not b.app.ledger.orders, b.app.ledger.orders
    assert abs(_net(world)) <= LOT, world.positions()
    assert all(pair.id > closed_id for pair in b.app.ledger.pairs.values())  # ids reserved in the cluster
    _book_matches_venues(world, b)
    assert "Traceback" not in b.text()
    assert b.app.reconciler.openings_stopped is None, b.logs[-20:]


def test_a_dead_nodes_rehedge_settled_by_a_node_without_the_new_pairs_unit_is_never_doubled(redis_url):
    """(3) Three nodes: hongkong (okx's region, the highest weight) holds both units with okx and re-hedges
    okx's loose short on bybit, then dies as the order leaves (it fills). Its units go to different nodes:
    binance/okx (the leg's unit, where the order is journaled) to tokyo, bybit/okx (the new pair's) to
    singapore. tokyo settles the order but may not book the pair in a unit it does not hold: the fill is
    kept in the book as a loose leg of the unit it holds (never dropped, or tokyo would see okx's short as
    unhedged and hedge it a second time beside bybit's fill), and while bybit refuses orders (200 s) that
    leg, which offsets okx's, cannot be closed and okx's is not hedged again beside it. Never more than one
    hedge at a time; in the end every node's book equals the venues, net exposure within one lot."""
    world = World("binance", "bybit", "okx")
    hongkong = Node(world, "hongkong", world.venues, redis_url, weight=3, **PATIENT)
    tokyo = Node(world, "tokyo", world.venues, redis_url, **PATIENT)
    singapore = Node(world, "singapore", world.venues, redis_url, **PATIENT)
    nodes = [hongkong, tokyo, singapore]
    _settled(world, nodes)
    leg_unit, new_unit = Unit.of(SYMBOL, "binance", "okx"), Unit.of(SYMBOL, "bybit", "okx")
    assert {leg_unit, new_unit} <= set(hongkong.app.coordinator.held)
    qty = D("0.01")
    _loose_short_on_okx(world, hongkong, qty)
    loose_ms = world.now()
    sent: list[tuple[int, str, str]] = []

    def watch(venue: str) -> None:
        create = world.exchange(venue).CreateOrder

        def watched(symbol, side, *args):
            node = next(n for n in nodes if str(args[-1]).startswith(n.app.coordinator.client_prefix))
            answer = create(symbol, side, *args)
            if side.split(";")[0] in ("buy", "sell"):
                sent.append((world.now(), node.name, venue))
            if node is hongkong and venue != "okx":  # its re-hedge: it dies as the order leaves
                hongkong.app.coordinator._release_locks = lambda *_: None
                world.sim.inject("bybit", "refuse_orders", world.now() + 200_000)  # its fill stays a while
                raise Killed
            return answer

        world.exchange(venue).CreateOrder = watched

    for venue in world.venues:
        watch(venue)
    worst = D(0)
    while world.now() < loose_ms + 600_000:
        _tick_all(nodes)
        positions = world.positions()
        worst = max(worst, positions.get(("bybit", SYMBOL), D(0)) + positions.get(("binance", SYMBOL), D(0)))
        world.clock.sleep(LOOP_MS)
    assert not hongkong.alive and sent[0][1:] == ("hongkong", "bybit"), sent
    assert leg_unit in tokyo.app.coordinator.held and new_unit in singapore.app.coordinator.held
    assert worst <= qty, sent  # never a second hedge beside the first
    assert abs(_net(world)) <= LOT, world.positions()
    for node in (tokyo, singapore):
        node.app.book.refresh()
        assert not node.app.ledger.orders, node.name
        _book_matches_venues(world, node)
        assert "Traceback" not in node.text(), node.name
