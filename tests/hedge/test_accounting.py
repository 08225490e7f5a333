import json
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hedge import store_keys
from hedge.accounting import (
    DAY_MS,
    DAYS_KEY,
    HOUR_MS,
    HOURLY_KEPT_DAYS,
    NAV_PLACES,
    STATE_KEY,
    Accounting,
    FlowRejected,
    Observation,
    parse_flow_command,
)

D = Decimal
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC


class MemG:
    """FMZ's _G over a dict (values are JSON strings, as the strategy stores them)."""

    def __init__(self) -> None:
        self.data: dict[str, object] = {}

    def __call__(self, key, *value):
        if not value:
            return self.data.get(key)
        if value[0] is None:
            self.data.pop(key, None)
        else:
            self.data[key] = json.loads(json.dumps(value[0]))
        return None


def _obs(t, equity):
    return Observation(t, D(equity))


money = st.decimals(min_value=D("1"), max_value=D("100000"), places=2)
growth = st.decimals(min_value=D("0.9"), max_value=D("1.1"), places=4)
step = st.tuples(growth, st.lists(st.tuples(st.booleans(), money), max_size=3))


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(start=st.decimals(min_value=D("100"), max_value=D("1000000"), places=2),
       steps=st.lists(step, min_size=1, max_size=25))
@example(start=D("100001.14"),  # true NAV 0.8813680846245: a tie at the 12th place, rounded half-even
         steps=[(D("0.9000"), []), (D("0.9265"), []), (D("1.0299"), []), (D("1.0263"), [(False, D("1.00"))])])
def test_deposits_and_withdrawals_leave_unit_nav_exactly_as_without_them(start, steps):
    """Equity moves by the same returns with and without flows; unit NAV agrees to the last digit."""
    with_flows, without = Accounting(MemG()), Accounting(MemG())
    t = T0
    with_flows.observe(_obs(t, start))
    without.observe(_obs(t, start))
    with localcontext() as ctx:
        ctx.prec = 400  # the test world itself is exact
        ctx.rounding = ROUND_HALF_EVEN  # ccxt (imported by other tests) sets the thread's default to HALF_UP
        equity_with, equity_without = start, start
        for g, flows in steps:
            t += 3_600_000
            equity_with *= g
            equity_without *= g
            for is_deposit, amount in flows:
                # a withdrawal of half the equity or more becomes a deposit: the fund stays alive
                signed = -amount if not is_deposit and amount < equity_with / 2 else amount
                equity_with += signed
                with_flows.declare_flow(signed)
            with_flows.observe(_obs(t, equity_with))
            without.observe(_obs(t, equity_without))
            assert with_flows.unit_nav == without.unit_nav
            assert with_flows.unit_nav == (equity_without / start).quantize(NAV_PLACES)
    booked = sum((f.amount for f in with_flows.flows), D(0))
    assert with_flows.contributions == start + booked
    assert with_flows.max_drawdown == without.max_drawdown


@settings(max_examples=100, deadline=None)
@given(start=st.decimals(min_value=D("1000"), max_value=D("100000"), places=2),
       events=st.lists(st.tuples(st.sampled_from(["cost", "deposit", "withdraw"]),
                                 st.decimals(min_value=D("0.01"), max_value=D("50"), places=2)),
                       max_size=30))
def test_flat_market_without_trades_keeps_unit_nav_at_one_minus_costs(start, events):
    acc = Accounting(MemG())
    acc.observe(_obs(T0, start))
    equity, expected, t = start, Fraction(1), T0
    for kind, amount in events:
        t += 60_000
        if kind == "cost":  # a fee or a transfer fee: the only thing that moves a flat book
            expected -= Fraction(amount) / acc.share_count
            equity -= amount
        else:
            signed = amount * 20 if kind == "deposit" else -amount
            equity += signed
            acc.declare_flow(signed)
        acc.observe(_obs(t, equity))
        assert acc.unit_nav == D(round(expected * 10**12)).scaleb(-12)  # half-even, exactly
    assert acc.unit_nav <= 1


def test_a_deposit_mints_shares_at_the_moment_nav_and_a_withdrawal_burns_them():
    acc = Accounting(MemG())
    acc.observe(_obs(T0, "10000"))
    acc.observe(_obs(T0 + HOUR_MS, "11000"))  # +10 %
    assert acc.unit_nav == D("1.1")
    acc.declare_flow(D("5500"))
    [flow] = acc.observe(_obs(T0 + 2 * HOUR_MS, "16500"))
    assert (flow.unit_nav, flow.shares, acc.shares) == (D("1.1"), D("5000"), D("15000"))
    assert acc.unit_nav == D("1.1") and acc.profit == D("1000")
    acc.declare_flow(D("-3300"))
    [flow] = acc.observe(_obs(T0 + 3 * HOUR_MS, "13200"))
    assert flow.shares == D("-3000") and acc.shares == D("12000") and acc.unit_nav == D("1.1")
    assert acc.contributions == D("12200") and acc.profit == D("1000")


def test_a_flow_id_seen_before_is_not_booked_twice():
    acc = Accounting(MemG())
    acc.observe(_obs(T0, "1000"))
    assert acc.declare_flow(D("100"), "history:binance", "binance-dep-1")
    assert not acc.declare_flow(D("100"), "history:binance", "binance-dep-1")
    acc.observe(_obs(T0 + 60_000, "1100"))
    assert not acc.declare_flow(D("100"), "history:binance", "binance-dep-1")
    assert len(acc.flows) == 1 and acc.shares == D("1100")


def test_a_declared_withdrawal_that_never_left_the_venues_is_refused_and_dropped():
    acc = Accounting(MemG())
    acc.observe(_obs(T0, "1000"))
    acc.declare_flow(D("-5000"))
    with pytest.raises(FlowRejected, match="do not show in the equity"):
        acc.observe(_obs(T0 + 60_000, "900"))
    acc.drop_pending()
    assert acc.observe(_obs(T0 + 120_000, "900")) == [] and acc.unit_nav == D("0.9")


def test_window_returns_are_annualized_simply_and_compounded():
    acc = Accounting(MemG())
    for hour in range(0, 30 * 24 + 1):
        nav = D(1) + D("0.01") * hour / (30 * 24)
        acc.observe(_obs(T0 + hour * HOUR_MS, nav * 1000))
    found = acc.window(30)
    assert found is not None and found.total == D("0.01")
    assert abs(found.simple_annual - D("0.01") * 365 / 30) < D("1e-26")
    assert abs(found.compound_annual - (D("1.01") ** (D(365) / 30) - 1)) < D("1e-26")
    assert acc.window(90) is None
    last = acc.live.time_ms
    assert acc.window(30, last - 30 * 60_000).total == D("0.01")  # half an hour short of 30 days counts
    assert acc.nav_at(T0 - 2 * HOUR_MS) is None
    inception = acc.since_inception()
    assert inception is not None and inception.days == 30 and inception.simple_annual == found.simple_annual


def test_max_drawdown_is_the_deepest_fall_from_a_peak():
    acc = Accounting(MemG())
    for i, equity in enumerate(["100", "120", "90", "130", "117"]):
        acc.observe(_obs(T0 + i * HOUR_MS, equity))
    assert acc.max_drawdown == D("0.25") and acc.max_drawdown_ms == T0 + 2 * HOUR_MS
    assert acc.peak_nav == D("1.3")


def test_rebates_accrue_per_share_and_volume_is_kept_per_venue_and_day():
    acc = Accounting(MemG(), {"binance": D("1"), "okx": D("0.5")})
    acc.observe(_obs(T0, "10000"))
    acc.record_fill("binance", D("-20000"), D("3.4"), D("0.5"), T0 + 1000)
    acc.record_fill("okx", D("20000"), D("4"), D("0"), T0 + 1000)
    acc.record_fill("okx", D("10000"), D("2"), D("0"), T0 + DAY_MS + 1000)
    assert acc.rebates == D("2") + D("1") + D("0.5") and acc.rebates_per_share == D("3.5") / 10_000
    assert acc.volume == {"binance": D("20000"), "okx": D("30000")}
    assert acc.fees == {"binance": D("3.4"), "okx": D("6")} and acc.slippage == D("0.5")
    assert acc.today_volume(T0) == {"binance": D("20000"), "okx": D("20000")}
    acc.observe(_obs(T0 + DAY_MS + 2000, "10000"))  # the first day closes with its volume
    assert acc.days[-1].volume == {"binance": D("20000"), "okx": D("20000")}
    assert acc.today_volume(T0 + DAY_MS) == {"okx": D("10000")}


def test_state_survives_a_restart_and_history_is_thinned_to_daily_after_the_kept_days():
    store = MemG()
    acc = Accounting(store, {"binance": D("1")})
    days = HOURLY_KEPT_DAYS + 8
    for hour in range(days * 24):
        acc.observe(_obs(T0 + hour * HOUR_MS + 60_000, D(10_000) + hour))
        if hour == 5:
            acc.declare_flow(D("500"))
            acc.record_fill("binance", D("1000"), D("0.2"), D("0"), T0 + hour * HOUR_MS)
    assert len(acc.days) == days - 1
    assert acc.hours[0].time_ms // DAY_MS >= (acc.live.time_ms // DAY_MS) - HOURLY_KEPT_DAYS
    hour_keys = [k for k in store.data if k.startswith(store_keys.ACCOUNTING_HOURS_PREFIX)]
    assert len(hour_keys) <= HOURLY_KEPT_DAYS + 1 and DAYS_KEY in store.data and STATE_KEY in store.data
    assert len(json.dumps(store.data)) < 2_000_000  # a hundred days stay light
    history = acc.history()
    assert [p.time_ms for p in history] == sorted(p.time_ms for p in history)
    assert len(history) < days + HOURLY_KEPT_DAYS * 24 + 2

    again = Accounting.load(store, {"binance": D("1")})
    assert (again.shares, again.unit_nav, again.contributions, again.rebates) == \
        (acc.shares, acc.unit_nav, acc.contributions, acc.rebates)
    assert again.flows == acc.flows and again.max_drawdown == acc.max_drawdown
    assert [p.time_ms for p in again.history()] == [p.time_ms for p in history]
    assert again.window(30) == acc.window(30)


def test_legacy_nav_base_keeps_unit_nav_continuous():
    store = MemG()
    store("hedge_nav_base_v1", "20000")
    acc = Accounting.load(store)
    acc.observe(_obs(T0, "20400"))
    assert acc.unit_nav == D("1.02") and acc.profit == D("400")


@pytest.mark.parametrize(("command", "amount"), [("deposit:500", D("500")), ("withdraw: 12.5", D("-12.5")),
                                                  ("Deposit:1e3", D("1000")), ("close_all", None)])
def test_flow_commands_parse(command, amount):
    assert parse_flow_command(command) == amount


@pytest.mark.parametrize("command", ["deposit:", "withdraw:-5", "deposit:abc", "deposit:nan", "withdraw:0"])
def test_bad_flow_commands_say_how_to_fix_them(command):
    with pytest.raises(FlowRejected, match="positive number of USDT"):
        parse_flow_command(command)


def test_rebate_rates_default_to_one_bp_and_bad_ones_name_the_key():
    from hedge.config import ConfigError, parse_params

    assert parse_params(None).rebate_bps["okx"] == D(1)
    cfg = parse_params('{"rebate_bps": {"okx": 0.8, "bybit": 0}}')
    assert (cfg.rebate_bps["okx"], cfg.rebate_bps["bybit"], cfg.rebate_bps["binance"]) == (D("0.8"), 0, 1)
    for bad, key in (('{"rebate_bps": {"kraken": 1}}', "rebate_bps.kraken"),
                     ('{"rebate_bps": 1}', "rebate_bps"), ('{"rebate_bps": {"okx": -1}}', "rebate_bps.okx")):
        with pytest.raises(ConfigError, match=f"'{key}'"):
            parse_params(bad)


def test_figures_do_not_depend_on_the_threads_decimal_rounding():
    """ccxt sets the thread's default context to ROUND_HALF_UP; the accounting brings its own."""
    from decimal import ROUND_HALF_UP, getcontext

    tie = D("1" + "0" * 59 + "5")  # 61 digits ending in 5: 60-digit figures round it half-even
    context = getcontext()
    saved = context.rounding
    try:
        context.rounding = ROUND_HALF_UP
        acc = Accounting(MemG())
        acc.observe(_obs(T0, tie))
        assert acc.shares == D(10) ** 60
    finally:
        context.rounding = saved
