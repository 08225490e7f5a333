"""Both legs of a pair at once (hedge/calls.py): the two venues' positions are read side by side and both
orders are sent before either answers (exchange.Go), on the simulator with its Go made concurrent as a live
exchange's is. Every safety property of the sequential path holds: a leg refused or timing out while the
other fills ends as it did (undone, or found by client id, never re-sent), and both orders are journaled
before either is sent, so a kill between the sends leaves both to recovery."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from hedge.ledger import Ledger
from tests.hedge.test_scenarios import SYMBOL, Sim, _client_ids_unique, _net, _open_legs, patient

D = Decimal


def _side_by_side(sim: Sim, method: str, calls: int) -> list[bool]:
    """The first `calls` calls of `method` on the two venues each wait (up to 5 s) until the other venue's has
    started: True per call that found the other running, False when it gave up waiting (sequential). The
    simulator is then entered one call at a time (one lock), as its single-threaded world wants."""
    barrier = threading.Barrier(2)
    lock = threading.Lock()
    met: list[bool] = []
    for exchange in sim.world.exchanges:
        exchange.go_concurrent = True  # as fmz_compat.live's exchange objects
        original = getattr(exchange, method)

        def call(*args, _original=original):
            if len(met) < calls:
                try:
                    barrier.wait(timeout=5)
                    met.append(True)
                except threading.BrokenBarrierError:
                    met.append(False)
            with lock:
                return _original(*args)

        setattr(exchange, method, call)
    return met


@pytest.mark.parametrize("fault", [None, "refuse_orders", "refuse_definite", "timeout_after_accept"])
def test_both_orders_are_sent_before_either_answers_and_each_outcome_is_handled_as_before(fault):
    sim = Sim("Futures_Binance", "Futures_OKX")
    app = sim.app(params=patient())
    assert app.start()
    if fault:
        sim.world.inject("okx", fault, sim.now_ms() + 60_000)
    met = _side_by_side(sim, "CreateOrder", 2)
    fill = app.executor.execute_pair(SYMBOL, _open_legs(app), "open#1")
    assert met == [True, True]  # each leg's order was on its way while the other's was
    assert fill.balanced and _net(app) == 0
    if fault in ("refuse_orders", "refuse_definite"):  # okx refused its leg while binance's filled: undone
        assert fill.qty == 0 and app.executor.orders_sent == 4  # both legs, one top-up (refused), one undo
        assert len(sim.orders(0)) == 2 and sim.orders(1) == []
        assert app.health.rejects_since(0) == 2  # both refusals judged from their own calls' answers
        okx_orders = [r.status.value for r in app.ledger.orders.values() if r.venue == "okx"]
        # a definite refusal (the Go call's own verdict False) is not waited for; the other is proved absent
        assert okx_orders == 2 * ["REJECTED" if fault == "refuse_definite" else "ABSENT"]
    else:  # a timed-out leg that filled is found by its client id, never re-sent
        assert fill.qty == D("0.02") and app.executor.orders_sent == 2
        assert len(sim.orders(0)) == 1 and len(sim.orders(1)) == 1
        okx_order = app.ledger.orders[fill.fills[1].client_ids[0]]
        assert okx_order.status.value == "FILLED"
        assert ("okx" in app.health.cooling) is (fault == "timeout_after_accept")  # a timed-out order call
    _client_ids_unique(sim, 0, 1)


def test_both_venues_positions_are_read_side_by_side_before_the_orders():
    sim = Sim("Futures_Binance", "Futures_OKX")
    app = sim.app()
    assert app.start()
    met = _side_by_side(sim, "GetPositions", 2)
    fill = app.executor.execute_pair(SYMBOL, _open_legs(app), "open#1")
    assert met == [True, True]
    assert fill.balanced and fill.qty == D("0.02") and _net(app) == 0


def test_killed_between_the_two_sends_leaves_both_orders_journaled_and_restarts_flat():
    sim = Sim("Futures_Binance", "Futures_OKX")
    app = sim.app()
    assert app.start()
    binance = sim.world.exchanges[0]
    journaled: list[int] = []

    def sent_then_killed(*args, _original=binance.CreateOrder):
        _original(*args)  # binance's leg reached the venue, okx's was not sent yet
        journaled.append(len(Ledger.load(sim.store).orders))
        raise SystemExit("killed")

    binance.CreateOrder = sent_then_killed
    with pytest.raises(SystemExit):
        app.executor.execute_pair(SYMBOL, _open_legs(app), "open#1")
    del binance.CreateOrder
    assert journaled == [2]  # both legs were journaled before the first was sent
    assert _net(app) == D("0.02") and sim.orders(1) == []

    again = sim.app()
    assert again.start()
    assert _net(again) == 0 and again.reconciler.openings_stopped is None
    assert Ledger.load(sim.store).orders == {}
    assert len(sim.orders(0)) == 2 and sim.orders(1) == []  # binance's buy and its undo; okx never sent
    _client_ids_unique(sim, 0)
