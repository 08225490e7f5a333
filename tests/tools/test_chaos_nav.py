"""tools/chaos_nav.py: the chaos run's measure of how far an internal transfer moved unit NAV. Money is moved
on the simulator through its venue endpoints; what a strategy counted is given to the real Accounting, and the
watch says how far the unit NAV it reports is from the one every move counted exactly once would give."""

from decimal import Decimal
from types import SimpleNamespace

import pytest

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world
from hedge.accounting import Accounting, Observation
from hedge.accounts import AccountView
from tools.chaos_nav import NavWatch

T0 = 1_704_067_200_000
VENUES = ("binance", "okx")


class Store(dict):
    def __call__(self, key, *value):
        if not value:
            return self.get(key)
        self[key] = value[0]
        return None


def _setup():
    cfg = SimConfig(seed=1, start_ms=T0, symbols=("BTC_USDT",),
                    bindings=tuple(ExchangeBinding(f"Futures_{n}", balance=10_000)
                                   for n in ("Binance", "OKX")))
    clock = BacktestClock(T0 * 10**6, (T0 + 86_400_000) * 10**6)
    world = create_world(cfg, clock, MemoryLog())
    app = SimpleNamespace(accounts={}, accounting=Accounting(Store()), treasury=None)
    watch = NavWatch(world)
    return world, clock, app, watch


def _read_accounts(world, app, watch, *venues):
    for venue in venues:
        exchange = world.exchanges[VENUES.index(venue)]
        app.accounts[venue] = AccountView(equity=Decimal(str(exchange.GetAccount().Equity)), ok=True)
        watch.account_read(venue)


def _measure(world, app, watch, off_futures: float) -> float:
    """The strategy measures: its futures readings plus what it counts off them; returns the watch's error."""
    equity = sum((v.equity for v in app.accounts.values()), Decimal(0)) + Decimal(str(off_futures))
    app.accounting.observe(Observation(world.now_ms(), equity))
    watch.observed(app)
    return watch.points[-1].error


def _move_to_funding_and_withdraw(world, amount=1000):
    binance = world.exchanges[0]
    binance.IO("api", "POST", "/sim/transfer", f"asset=USDT&amount={amount}&to=funding")
    address = world.deposit_address(world.accounts[1], "TRC20")
    params = f"coin=USDT&amount={amount}&network=TRC20&address={address}"
    assert binance.IO("api", "POST", "/sim/withdraw", params)


def test_a_transfer_counted_once_moves_unit_nav_by_nothing_and_its_network_fee_is_a_cost_not_a_move():
    world, clock, app, watch = _setup()
    _read_accounts(world, app, watch, *VENUES)
    assert _measure(world, app, watch, 0) == 0 and app.accounting.unit_nav == 1
    _move_to_funding_and_withdraw(world)
    _read_accounts(world, app, watch, *VENUES)
    assert _measure(world, app, watch, 999) == pytest.approx(0, abs=1e-12)  # in transit at what arrives
    assert app.accounting.unit_nav == Decimal("0.99995")  # the 1 USDT TRC20 fee, over 20,000 shares
    clock.sleep(120_000)
    _read_accounts(world, app, watch, *VENUES)
    assert world.accounts[1].funding_wallet["USDT"] == 999  # credited on okx's funding wallet
    assert _measure(world, app, watch, 999) == pytest.approx(0, abs=1e-12)
    summary = watch.summary(None)
    assert summary["max_nav_error"] == 0 and summary["internal_withdrawals"] == 1
    assert summary["network_fees_usdt"] == 1 and summary["network_fees_nav"] == pytest.approx(0.00005)


def test_money_in_transit_left_out_shows_as_the_move_it_made():
    """Issue #17 sequence 3 (a): a move the strategy does not count in transit takes unit NAV down by it."""
    world, _, app, watch = _setup()
    _read_accounts(world, app, watch, *VENUES)
    _measure(world, app, watch, 0)
    _move_to_funding_and_withdraw(world)
    _read_accounts(world, app, watch, *VENUES)
    assert _measure(world, app, watch, 0) == pytest.approx(-999 / 20_000)
    assert watch.summary(None)["max_nav_error"] == pytest.approx(999 / 20_000)


def test_money_moved_to_funding_after_the_account_reading_and_counted_there_too_is_a_double_count():
    world, _, app, watch = _setup()
    _read_accounts(world, app, watch, *VENUES)
    _measure(world, app, watch, 0)
    world.exchanges[0].IO("api", "POST", "/sim/transfer", "asset=USDT&amount=1000&to=funding")
    # binance's account reading still holds the 1,000 USDT now in its funding wallet
    assert _measure(world, app, watch, 1000) == pytest.approx(1000 / 20_000)
    _read_accounts(world, app, watch, "binance")
    assert _measure(world, app, watch, 1000) == pytest.approx(0, abs=1e-12)


def test_a_move_booked_as_an_outside_deposit_shows_through_the_shares_it_minted():
    """Issue #17 sequence 3: the arriving deposit taken for a cash flow mints shares. No outside flow happens
    in a chaos run, so the true unit NAV is the one over the shares without it."""
    world, clock, app, watch = _setup()
    _read_accounts(world, app, watch, *VENUES)
    _measure(world, app, watch, 0)
    _move_to_funding_and_withdraw(world, amount=5000)
    clock.sleep(120_000)
    app.accounting.declare_flow(Decimal(4999), "deposit", "okx:simtx000001")
    _read_accounts(world, app, watch, *VENUES)
    error = _measure(world, app, watch, 4999)  # counted in okx's funding wallet, and booked as a deposit
    assert app.accounting.unit_nav == Decimal("0.75")  # 15,000 USDT "before the deposit" over 20,000 shares
    assert error == pytest.approx(0.75 - 19_999 / 20_000)
    assert watch.points[-1].shares == 20_000


def test_the_drawdown_the_strategy_shows_is_compared_with_the_simulators_own_unit_nav():
    world, _, app, watch = _setup()
    _read_accounts(world, app, watch, *VENUES)
    _measure(world, app, watch, 0)
    _move_to_funding_and_withdraw(world)
    _read_accounts(world, app, watch, *VENUES)
    _measure(world, app, watch, 0)  # the move left out: a drawdown of 5 % the fund never had
    summary = watch.summary(float(app.accounting.max_drawdown))
    assert summary["max_drawdown_pct"] == summary["max_drawdown_pct_measured"] == 5.0
    assert summary["sim_max_drawdown_pct"] == 0.005  # the fee
