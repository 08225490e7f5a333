"""Trading states switched by guards, buttons and PARAMS (fake venues: every figure is set by the test)."""

import json
from decimal import Decimal

from hedge.app import App
from hedge.config import parse_params
from hedge.fmz import Api
from hedge.state import TradingState

D = Decimal
BASE = {"symbols": ["BTC_USDT"], "order_notional_usdt": 1000, "max_position_usdt": 2000,
        "open_threshold_bps": 3, "close_threshold_bps": 0, "cooldown_s": 10, "status_interval_s": 5,
        "fees": {"binance": {"taker_bps": 2}, "okx": {"taker_bps": 2}}}


def _world(fake_exchange, fake_runtime, **params):
    binance = fake_exchange("binance", books={"BTC_USDT": (50_000.0, 50_000.5)})
    okx = fake_exchange("okx", ct_val=0.01, lot=0.1, min_qty=0.1, books={"BTC_USDT": (50_000.0, 50_000.5)})
    runtime = fake_runtime([binance, okx])
    app = App(Api.from_globals(runtime.globals()), parse_params(json.dumps({**BASE, **params})))
    assert app.start()
    return binance, okx, runtime, app


def _run(app, runtime, ticks, ms=500):
    for _ in range(ticks):
        app.tick()
        runtime.Sleep(ms)


def _switches(runtime) -> list[str]:
    return [line for line in runtime.logs if line.startswith("trading state ")]


def test_net_exposure_above_the_limit_switches_to_reducing_and_back_once_flat(fake_exchange, fake_runtime):
    binance, okx, runtime, app = _world(fake_exchange, fake_runtime)
    binance.contracts["BTC_USDT"] = D("0.05")  # 2 500 USDT bought by hand on the account
    _run(app, runtime, 12)
    assert app.state is TradingState.REDUCING
    assert "guard net_exposure: net exposure of BTC_USDT is 2500" in app.state_reason
    okx.books["BTC_USDT"] = (50_100.0, 50_100.5)  # an edge: nothing opens while REDUCING
    _run(app, runtime, 4)
    assert okx.sent == [] and binance.sent == []
    binance.contracts["BTC_USDT"] = D("0")
    _run(app, runtime, 70)  # the reconcile retry (30 s)
    assert app.state is TradingState.ACTIVE and app.reconciler.openings_stopped is None
    assert len(app.ledger.pairs) == 1  # and openings resumed
    assert [line.split(":")[0] for line in _switches(runtime)] == [
        "trading state ACTIVE -> REDUCING", "trading state stays REDUCING, now because",
        "trading state REDUCING -> ACTIVE"]


def test_drawdown_switches_to_reducing_and_only_a_command_resumes(fake_exchange, fake_runtime):
    binance, okx, runtime, app = _world(fake_exchange, fake_runtime, guards={"max_drawdown_pct": 10})
    _run(app, runtime, 12)
    binance.balance = 7_000.0  # unit NAV 1 -> 0.85
    _run(app, runtime, 12)
    assert app.state is TradingState.REDUCING and "guard drawdown" in app.state_reason
    binance.balance = 10_000.0
    _run(app, runtime, 12)
    assert app.state is TradingState.REDUCING  # a drawdown is for a person to look at
    runtime.commands.append("state:ACTIVE")
    _run(app, runtime, 2)
    assert app.state is TradingState.ACTIVE


def test_repeated_rejects_switch_to_reducing(fake_exchange, fake_runtime):
    # each refusal proved absent inside its turn and topped up (outage.max_turn_wait_ms at its maximum): under
    # the default bound the first refusal is in doubt and recovery's halt stops openings before the guard;
    # the order-timeout cool-down is off too (it would keep openings off okx after the first refusal)
    binance, okx, runtime, app = _world(fake_exchange, fake_runtime, cooldown_s=1,
                                        guards={"max_rejects": 4, "reject_window_s": 60},
                                        outage={"max_turn_wait_ms": 600_000, "timeout_cooldown_s": 0})
    okx.books["BTC_USDT"] = (50_100.0, 50_100.5)
    okx.reject = [True] * 100
    _run(app, runtime, 12, ms=1000)
    assert app.state is TradingState.REDUCING and "guard rejects" in app.state_reason
    assert app.ledger.pairs == {} and binance.base_position() == 0  # every attempt unwound
    okx.reject = []
    _run(app, runtime, 70, ms=1000)  # the window empties: back to ACTIVE, and the pair opens
    assert app.state is TradingState.ACTIVE and app.ledger.pairs


def test_clock_drift_switches_to_reducing_while_a_venue_runs_ahead(fake_exchange, fake_runtime):
    binance, okx, runtime, app = _world(fake_exchange, fake_runtime)
    original = binance.GetTickers

    def ahead():
        return [{**t, "Time": t["Time"] + 9_000} for t in original()]

    binance.GetTickers = ahead
    _run(app, runtime, 12)
    assert app.state is TradingState.ACTIVE  # two checks (5 s apart): not yet a steady offset
    _run(app, runtime, 10)
    assert app.state is TradingState.REDUCING and "binance timestamps are at least 9" in app.state_reason
    binance.GetTickers = original
    _run(app, runtime, 12)
    assert app.state is TradingState.ACTIVE


def test_state_buttons_are_on_the_status_and_switch_the_state(fake_exchange, fake_runtime):
    binance, okx, runtime, app = _world(fake_exchange, fake_runtime)
    _run(app, runtime, 1)
    status = runtime.status[-1]
    tables = json.loads(status[status.index("`") + 1:status.rindex("`")])
    risk = next(t for t in tables if t["title"] == "Risk")
    assert [b["cmd"] for b in risk["rows"][0][2]] == ["state:ACTIVE", "state:REDUCING", "state:HALTED"]
    runtime.commands.append("state:HALTED")
    okx.books["BTC_USDT"] = (50_100.0, 50_100.5)
    _run(app, runtime, 12)
    assert app.state is TradingState.HALTED and okx.sent == []
    assert "HALTED: command state:HALTED #ff0000" in runtime.status[-1]


def test_trading_state_from_params_holds_from_the_start(fake_exchange, fake_runtime):
    binance, okx, runtime, app = _world(fake_exchange, fake_runtime, trading_state="reducing")
    assert app.state is TradingState.REDUCING
    okx.books["BTC_USDT"] = (50_100.0, 50_100.5)
    _run(app, runtime, 12)
    assert okx.sent == [] and app.state is TradingState.REDUCING
    assert any("PARAMS trading_state" in line for line in _switches(runtime))


def test_a_reconcile_stop_survives_a_restart_and_clears_itself(fake_exchange, fake_runtime):
    binance, okx, runtime, app = _world(fake_exchange, fake_runtime, guards={"max_net_exposure_usdt": 0})
    binance.contracts["BTC_USDT"] = D("0.005")
    _run(app, runtime, 12)
    assert app.state is TradingState.REDUCING and app.state_reason.startswith("reconcile:")
    binance.contracts["BTC_USDT"] = D("0")
    restarted = App(Api.from_globals(runtime.globals()), parse_params(json.dumps(
        {**BASE, "guards": {"max_net_exposure_usdt": 0}})))
    assert restarted.start()
    assert restarted.state is TradingState.ACTIVE  # reconciled at start


def test_halt_halts_cancels_resting_orders_and_only_a_person_resumes(fake_exchange, fake_runtime):
    """Issue #19: App.halt means HALTED (before the gate it only stopped openings)."""
    binance, okx, runtime, app = _world(fake_exchange, fake_runtime)
    cancelled: list[str] = []
    okx.GetOrders = lambda symbol="": [{"Id": "resting-1"}]
    okx.CancelOrder = lambda order_id: cancelled.append(order_id) or True
    app.halt("operator: venue announced a listing change")
    assert app.state is TradingState.HALTED and cancelled == ["resting-1"]
    okx.books["BTC_USDT"] = (50_100.0, 50_100.5)  # an edge
    _run(app, runtime, 12)
    assert okx.sent == [] and binance.sent == [] and app.state is TradingState.HALTED
    runtime.commands.append("state:ACTIVE")
    _run(app, runtime, 2)
    assert app.state is TradingState.ACTIVE and len(app.ledger.pairs) == 1
    assert _switches(runtime)[-2:] == [
        "trading state ACTIVE -> HALTED: operator: venue announced a listing change #ff0000@",
        "trading state HALTED -> ACTIVE: command state:ACTIVE #ff0000@"]


def test_a_persons_resume_does_not_lift_a_reconcile_stop(fake_exchange, fake_runtime):
    """Each source lifts only its own hold: state:ACTIVE while positions differ from the ledger leaves the
    gate at REDUCING (before the gate the state read ACTIVE while openings stayed stopped)."""
    binance, okx, runtime, app = _world(fake_exchange, fake_runtime, guards={"max_net_exposure_usdt": 0})
    binance.contracts["BTC_USDT"] = D("0.005")
    _run(app, runtime, 12)
    runtime.commands.append("state:ACTIVE")
    okx.books["BTC_USDT"] = (50_100.0, 50_100.5)
    _run(app, runtime, 4)
    assert app.state is TradingState.REDUCING and app.state_reason.startswith("reconcile: 1 venue position")
    assert okx.sent == [] and binance.sent == []
    binance.contracts["BTC_USDT"] = D("0")
    _run(app, runtime, 70)  # the reconcile retry (30 s)
    assert app.state is TradingState.ACTIVE and len(app.ledger.pairs) == 1


def test_a_guard_clearing_never_lifts_a_persons_state(fake_exchange, fake_runtime):
    binance, okx, runtime, app = _world(fake_exchange, fake_runtime)
    runtime.commands.append("state:REDUCING")
    _run(app, runtime, 2)
    binance.contracts["BTC_USDT"] = D("0.05")  # 2 500 USDT bought by hand: reconcile and the exposure guard
    _run(app, runtime, 12)
    assert app.gate.held("guard:net_exposure") is not None
    binance.contracts["BTC_USDT"] = D("0")
    _run(app, runtime, 70)
    assert app.gate.held("guard:net_exposure") is None and app.gate.held("reconcile") is None
    assert app.state is TradingState.REDUCING and app.state_reason == "command state:REDUCING"


def test_a_cluster_hold_saved_before_a_restart_is_lifted_once_the_coordinator_answers(fake_exchange,
                                                                                        fake_runtime):
    binance, okx, runtime, _app = _world(fake_exchange, fake_runtime)
    saved = {"state": "REDUCING", "reason": "redis unreachable (ConnectionError)", "source": "cluster"}
    runtime.store("hedge_state_v1", json.dumps(saved))
    restarted = App(Api.from_globals(runtime.globals()), parse_params(json.dumps(BASE)))
    assert restarted.start()
    assert restarted.state is TradingState.ACTIVE
    assert _switches(runtime)[-1] == "trading state REDUCING -> ACTIVE: redis reachable again #ff0000@"


def test_a_guard_hold_saved_before_a_restart_is_lifted_when_the_restart_turns_that_guard_off(fake_exchange,
                                                                                            fake_runtime):
    """Attack on 41a8d7a: a guard's hold survives a restart and only the guard lifts it (a person's resume
    does not), so a guard the person turned off for the restart (guards.max_rejects 0: the venue refused for
    a reason they fixed) held the robot at REDUCING for good."""
    binance, okx, runtime, _app = _world(fake_exchange, fake_runtime)
    saved = {"state": "REDUCING", "reason": "guard rejects: 5 orders refused in the last 600 s (guards."
             "max_rejects 5)", "source": "guard:rejects"}
    runtime.store("hedge_state_v1", json.dumps(saved))
    restarted = App(Api.from_globals(runtime.globals()),
                    parse_params(json.dumps({**BASE, "guards": {"max_rejects": 0}})))
    assert restarted.start()
    runtime.commands.append("state:ACTIVE")
    _run(restarted, runtime, 12)
    assert restarted.state is TradingState.ACTIVE
    assert _switches(runtime)[-1].startswith("trading state REDUCING -> ACTIVE: guard rejects cleared: ")
