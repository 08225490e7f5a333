"""Venue behaviour the chaos run combines with its moves (issue #17): orders that land after their request
timed out, auto-deleveraging of a hedge leg, canceled orders the venue purges from its lookups."""

import math

from fmz_compat.core import ORDER_STATE_CLOSED, BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world
from fmz_compat.sim.world import LATE_LANDING_MS

START_MS = 1_719_792_000_000  # 2024-07-01 00:00 UTC
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def make(eids=("Futures_Binance", "Futures_OKX"), *, hours=48, balance=10_000.0, seed=7):
    bindings = tuple(ExchangeBinding(e, "BTC_USDT", balance) for e in eids)
    cfg = SimConfig(seed=seed, start_ms=START_MS, bindings=bindings, symbols=("BTC_USDT",))
    clock = BacktestClock(START_MS * 1_000_000, (START_MS + hours * HOUR_MS) * 1_000_000)
    log = MemoryLog()
    return create_world(cfg, clock, log), clock, log


def _with_client_id(orders, client_id, field):
    return [o for o in orders or [] if o.Info[field] == client_id]


def test_a_timed_out_order_lands_seconds_later_after_every_lookup_said_absent():
    """timeout_lands_late: CreateOrder times out before the order reaches the venue, so the open orders, the
    order history and the position all say "absent" for a while; then the order lands and fills. (The old
    simulator only knew timeout_after_accept, where the order is on the venue before the call returns.)"""
    world, clock, log = make(("Futures_Binance",))
    ex = world.exchanges[0]
    world.inject("binance", "timeout_lands_late", until_ms=START_MS + 60_000)
    oid = ex.CreateOrder("BTC_USDT.swap", 'buy;{"newClientOrderId": "late-1"}', -1, 0.01)
    assert oid is None
    assert "context deadline exceeded" in log.rows[-1]["message"]
    for _ in range(2):  # looked up right away and a second later: nothing anywhere
        assert _with_client_id(ex.GetOrders("BTC_USDT.swap"), "late-1", "clientOrderId") == []
        assert _with_client_id(ex.GetHistoryOrders("BTC_USDT.swap"), "late-1", "clientOrderId") == []
        assert ex.GetPositions("BTC_USDT.swap") == []
        clock.sleep(1_000)
    clock.sleep(LATE_LANDING_MS[1])
    landed = _with_client_id(ex.GetHistoryOrders("BTC_USDT.swap"), "late-1", "clientOrderId")
    assert len(landed) == 1 and landed[0].Status == ORDER_STATE_CLOSED
    assert landed[0].Time - START_MS >= LATE_LANDING_MS[0]
    assert [p.Amount for p in ex.GetPositions("BTC_USDT.swap")] == [0.01]


def test_auto_deleveraging_closes_part_of_the_winning_leg_and_leaves_the_losing_one():
    """After a 5 % rise the Binance long wins and the OKX short loses. ADL on both venues at once: the venue
    closes half of the profitable long at the mark (an order with Binance's "adl_autoclose" client id, a log
    row); the losing short is not a candidate and stays whole."""
    world, clock, log = make()
    bn, okx = world.exchanges
    assert bn.CreateOrder("BTC_USDT.swap", "buy", -1, 0.1)
    assert okx.CreateOrder("BTC_USDT.swap", "sell", -1, 10)  # 10 contracts of 0.01 BTC
    coin = world.coins["BTC"]
    coin.shape([(1, 0.0), (60, math.log(1.05))], [], {})
    world.schedule_adl("binance", START_MS + 120_000, fraction=0.5)
    world.schedule_adl("okx", START_MS + 120_000, fraction=0.5)
    clock.sleep(119_000)
    assert bn.GetPositions("BTC_USDT.swap")[0].Amount == 0.1
    clock.sleep(2_000)
    assert bn.GetPositions("BTC_USDT.swap")[0].Amount == 0.05
    assert okx.GetPositions("BTC_USDT.swap")[0].Amount == 10
    adl = _with_client_id(bn.GetHistoryOrders("BTC_USDT.swap"), "adl_autoclose", "clientOrderId")
    assert len(adl) == 1 and adl[0].DealAmount == 0.05
    assert any("auto-deleveraged" in r["message"] for r in log.rows)


def _resting_buy(ex, client_id):
    ticker = ex.GetTicker("BTC_USDT.swap")
    price = round(ticker.Buy * 0.9, 1)
    oid = ex.CreateOrder("BTC_USDT.swap", f'buy;{{"newClientOrderId": "{client_id}"}}', price, 0.01)
    assert oid and ex.CancelOrder(oid)
    return oid


def test_binance_purges_canceled_unfilled_orders_after_three_days_other_venues_keep_them():
    """Binance USDS-M "Query Order": an order CANCELED with no filled trade and created more than 3 days ago
    is not found. OKX keeps it (no purge_orders fault)."""
    world, clock, _log = make(hours=24 * 4)
    bn, okx = world.exchanges
    bn_id = _resting_buy(bn, "old-1")
    okx_order = okx.CreateOrder("BTC_USDT.swap", 'buy;{"clOrdId": "old-2"}',
                                round(okx.GetTicker("BTC_USDT.swap").Buy * 0.9, 1), 1)
    assert okx.CancelOrder(okx_order)
    clock.sleep(3 * DAY_MS - 60_000)
    assert bn.GetOrder(bn_id) is not None
    clock.sleep(3 * 60_000)
    assert bn.GetOrder(bn_id) is None
    assert _with_client_id(bn.GetHistoryOrders("BTC_USDT.swap"), "old-1", "clientOrderId") == []
    assert okx.GetOrder(okx_order) is not None


def test_the_purge_orders_fault_drops_canceled_unfilled_orders_within_minutes():
    world, clock, _log = make(("Futures_OKX",))
    okx = world.exchanges[0]
    world.inject("okx", "purge_orders", until_ms=START_MS + HOUR_MS)
    ticker = okx.GetTicker("BTC_USDT.swap")
    oid = okx.CreateOrder("BTC_USDT.swap", 'buy;{"clOrdId": "gone-1"}', round(ticker.Buy * 0.9, 1), 1)
    filled = okx.CreateOrder("BTC_USDT.swap", 'buy;{"clOrdId": "kept-1"}', -1, 1)
    assert oid and okx.CancelOrder(oid) and filled
    clock.sleep(3 * 60_000)
    assert okx.GetOrder(oid) is None
    assert okx.GetOrder(filled) is not None  # filled orders stay
