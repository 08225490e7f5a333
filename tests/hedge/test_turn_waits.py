"""A turn that waits (an order's settle window) neither uses the books it read before the wait nor, since
outage.max_turn_wait_ms, waits past that bound."""

from decimal import Decimal

from hedge.orders import OrderEvent, OrderRecord
from tests.hedge.test_scenarios import SYMBOL, Sim, _book_pair

D = Decimal
PARAMS = ('{"symbols": ["BTC_USDT"], "order_notional_usdt": 1000, "max_position_usdt": 30000, '
          '"open_threshold_bps": 900, "close_threshold_bps": -900, "status_interval_s": 60, '
          '"leverage": {"binance": 10, "okx": 10}}')


def _timed_out(sim, venue_key: str, client_id: str) -> OrderRecord:
    """An order whose CreateOrder gave no answer (on FMZ a refusal looks so): absent only once lookups over
    the settle window (10 s) all answer without it."""
    record = OrderRecord(client_id, "close#9", venue_key, SYMBOL, "closebuy", D("0.01"), sent_ms=sim.now_ms())
    return record.apply(OrderEvent.SUBMITTED).apply(OrderEvent.TIMED_OUT, sent_ms=sim.now_ms())


def test_a_turn_that_spends_30_s_in_settle_waits_values_a_venue_at_a_book_read_after_them():
    """The turn reads the books, then waits out three timed-out orders' settle windows (30 s) while BTC rises
    5 %, then values okx's short. Before, okx was marked at the book read 30 s earlier (judged fresh against
    the turn's start); now the book is too old when used, so okx is read again and marked at the new price."""
    sim = Sim("Futures_Binance", "Futures_OKX", hours=2)
    app = sim.app(params=PARAMS)
    assert app.start()
    _book_pair(app, sim, "0.02")
    app.refresh_accounts()
    app.tick()
    sim.clock.sleep(1000)
    coin = sim.world.coins["BTC"]
    old_mid = D(repr(app.market.tops["okx"][SYMBOL].mid))
    check = app.risk.check
    waited = []

    def settle_waits_then_check(full: bool) -> None:
        started = sim.now_ms()
        coin.fair *= 1.05
        for n in range(3):
            app.executor.settle(app.venues[0], _timed_out(sim, "binance", f"hgwait{n}"))
        waited.append(sim.now_ms() - started)
        check(full)

    app.risk.check = settle_waits_then_check
    app.tick()
    assert waited and waited[0] >= 30_000
    mark = app.risk.views["okx"].positions[0].mark
    new_mid = D(repr(app.market.tops["okx"][SYMBOL].mid))
    assert mark > old_mid * D("1.04")  # not the book read at the turn's start, 30 s before
    assert mark == new_mid  # okx's book was read again after the waits and valued at
