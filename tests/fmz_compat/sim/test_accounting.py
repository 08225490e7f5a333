"""Money conservation of a simulated account under random order sequences (property-based)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world

START_MS = 1_719_792_000_000
SYM = "BTC_USDT.swap"

action = st.one_of(
    st.tuples(st.just("market"), st.sampled_from(["buy", "sell", "closebuy", "closesell"]),
              st.integers(1, 30)),
    st.tuples(st.just("limit"), st.sampled_from(["buy", "sell"]), st.integers(1, 30)),
    st.tuples(st.just("sleep"), st.just(""), st.integers(1, 16 * 3600)),
    st.tuples(st.just("cancel"), st.just(""), st.integers(0, 5)),
    st.tuples(st.just("leverage"), st.just(""), st.integers(1, 50)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(eid=st.sampled_from(["Futures_Binance", "Futures_OKX", "Futures_BitMEX"]), cross=st.booleans(),
       actions=st.lists(action, min_size=1, max_size=25), seed=st.integers(0, 1000))
def test_equity_equals_deposits_plus_realized_minus_fees_plus_funding_plus_upnl(eid, cross, actions, seed):
    cfg = SimConfig(seed=seed, start_ms=START_MS, bindings=(ExchangeBinding(eid, balance=50_000.0),))
    clock = BacktestClock(START_MS * 10**6, (START_MS + 30 * 86_400_000) * 10**6)
    world = create_world(cfg, clock, MemoryLog())
    ex = world.exchanges[0]
    ex.IO("cross", cross)
    m = ex.GetMarkets()[SYM]
    unit = m.AmountSize * (1 if m.CtVal >= 0.01 else 100)  # about 0.001..0.01 BTC per unit
    for kind, side, n in actions:
        if kind == "market":
            ex.CreateOrder(SYM, side, -1, round(n * unit, 8))
        elif kind == "limit":
            t = ex.GetTicker(SYM)
            px = round(t.Buy - 5 * n * m.TickSize if side == "buy" else t.Sell + 5 * n * m.TickSize, 1)
            ex.CreateOrder(SYM, side, px, round(n * unit, 8))
        elif kind == "sleep":
            clock.sleep(n * 1000)
        elif kind == "cancel":
            orders = ex.GetOrders(SYM)
            if orders:
                ex.CancelOrder(orders[n % len(orders)].Id)
        else:
            ex.SetMarginLevel(SYM, n)
        acct = ex.GetAccount()
        s = world.stats()["venues"][eid]
        if s["liquidations"]:
            return  # penalties and the insurance floor break the simple identity
        expected = 50_000.0 + s["realized_pnl_usdt"] - s["fees_usdt"] + s["funding_usdt"] + acct.UPnL
        assert acct.Equity == pytest.approx(expected, abs=1e-4)
        assert s["equity_end_usdt"] == pytest.approx(acct.Equity, abs=1e-4)
        # the same equity from cash flows alone, independent of the position's entry bookkeeping
        orders = ex.GetOrders(SYM) + ex.GetHistoryOrders(SYM)
        fees = world.accounts[0].orders  # Binance's and BitMEX's raw orders carry no fee: the account's book
        cash = sum((-1 if o.Type == 0 else 1) * o.DealAmount * m.CtVal * o.AvgPrice
                   - fees[int(o.Id.split(",")[1])].fee for o in orders)
        held = sum((1 if p.Type == 0 else -1) * p.Amount * m.CtVal
                   * float(p.Info.get("markPrice") or p.Info.markPx) for p in ex.GetPositions(SYM))
        assert acct.Equity == pytest.approx(50_000.0 + cash + s["funding_usdt"] + held, abs=1e-3)
        for p in ex.GetPositions(SYM):
            assert p.Amount > 0 and p.Margin >= 0
        assert acct.Balance <= acct.Equity + 1e-6
