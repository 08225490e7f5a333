"""tools/chaos.py: a short chaos run of strategy.py meets issue #5's criteria; a strategy that leaves a
leg unhedged fails them; bad arguments get one line and exit 2."""

import json
import sqlite3
from decimal import Decimal

import pytest

from tools import chaos

ONE_LEGGED = '''
def main():
    if not _G("bought"):
        exchanges[0].CreateOrder("BTC_USDT.swap", "buy", -1, 0.01)
        _G("bought", 1)
    while True:
        Sleep(5000)
'''


def _log(db) -> list[str]:
    with sqlite3.connect(db) as con:
        return [row[0] for row in con.execute("SELECT Extra FROM log ORDER BY Id")]


@pytest.mark.slow
def test_a_short_chaos_run_of_the_strategy_meets_the_criteria(tmp_path, own_hedge_modules):
    code = chaos.main(["--days", "1.5", "--seed", "3", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "seed-3.json").read_text())
    assert result["failures"] == [] and code == 0
    harsh = {"timeout_lands_late", "purge_orders", "stale_market", "history_down"}  # issue #17's kinds
    assert harsh <= set(result["schedule"]["faults"])
    assert result["schedule"]["adls"] == 1  # at the crash's low (on okx, whose short is not in profit there)
    assert result["liquidations"] == 0 and result["orphaned_orders"] == []
    assert result["mismatches_after_recovery"] == [] and result["mismatch_checks"] >= 1
    assert result["above_one_lot_s"]["otherwise"] == 0
    assert [m["shape"] for m in result["moves"]] == ["crash_2021_05_19"]
    # the treasury moved margin (8 moves of TRC20) and unit NAV did not move with them; the drawdown the
    # strategy shows is the simulator's own
    nav = result["nav_on_transfers"]
    assert nav["internal_withdrawals"] >= 3 and nav["max_nav_error"] == 0
    assert all(t["status"] == "DONE" and t["measurements"] >= 2 for t in nav["transfers"])
    assert abs(nav["max_drawdown_pct"] - nav["sim_max_drawdown_pct"]) < 0.01
    assert result["outage_exposure"]["within_bound"]
    # killed and restarted, once in the middle of an execution (an order journaled, not booked)
    assert result["lives"] == len(result["kills"]) + 1 >= 3
    assert any(k["journaled_orders"] for k in result["kills"])
    log = _log(tmp_path / "seed-3" / "3.db3")
    assert sum(line.startswith("started: venues") for line in log) == result["lives"]
    assert any("429 Too Many Requests" in line for line in log)
    assert any(line.startswith("recover:") for line in log)  # the restarted strategy settled it
    table = (tmp_path / "chaos.md").read_text()
    assert "python -m tools.chaos --days 1.5 --seed 3" in table
    assert "| 3 | 0 |" in table and "| pass |" in table


def test_a_strategy_that_leaves_one_leg_unhedged_fails_the_run(tmp_path):
    strategy = tmp_path / "one_leg.py"
    strategy.write_text(ONE_LEGGED)
    out = tmp_path / "out"
    code = chaos.main(["--days", "0.25", "--seeds", "1-2", "--jobs", "2", "--symbols", "BTC_USDT",
                       "--strategy", str(strategy), "--out", str(out)])
    summary = json.loads((out / "chaos.json").read_text())
    assert code == 1 and summary["failed_seeds"] == [1, 2]
    for result in summary["results"]:
        assert result["above_one_lot_s"]["otherwise"] > 0 and result["max_abs_net_exposure_lots"] == 10
        assert any("above one lot" in f for f in result["failures"])
        assert any(m["venue"] == "binance" and m["venue_holds"] == "0.01"
                   for m in result["mismatches_after_recovery"])
    assert (out / "chaos.md").read_text().count("FAIL") == 2


# Long 0.1 BTC on binance, short 10 contracts (0.1 BTC) on okx, a ticker read every second; WATCH: any
# difference the venues made (an ADL) is closed on the larger leg at once.
HEDGED = '''
def main():
    if not _G("opened"):
        exchanges[0].CreateOrder("BTC_USDT.swap", "buy", -1, 0.1)
        exchanges[1].CreateOrder("BTC_USDT.swap", "sell", -1, 10)
        _G("opened", 1)
    Sleep(300)  # looks 0.3 s into every simulated second: the ADL (on the second) is seen 0.3 s later
    while True:
        Sleep(1000)
        exchanges[0].GetTicker("BTC_USDT.swap")
        if not WATCH:
            continue
        held = []
        for ex, size in ((exchanges[0], 1), (exchanges[1], 0.01)):
            rows = ex.GetPositions("BTC_USDT.swap") or []
            held.append(sum(p.Amount * size * (1 if p.Type == 0 else -1) for p in rows))
        net = round(held[0] + held[1], 6)
        if net > 0:
            exchanges[0].CreateOrder("BTC_USDT.swap", "closebuy", -1, net)
        elif net < 0:
            exchanges[1].CreateOrder("BTC_USDT.swap", "closesell", -1, round(-net / 0.01, 1))
'''


@pytest.mark.parametrize("watch", [True, False])
def test_an_adl_counts_as_a_venue_event_only_for_as_long_as_the_strategy_needs_to_see_it(tmp_path, watch,
                                                                                         own_hedge_modules):
    """Issue #17: an ADL is seen only at a positions read, so the exposure it leaves is the venue's doing
    until the strategy can have read and hedged it: `adl_bound_ms` (position_check_s + a loop turn + a turn's
    longest waits), counted as `adl`. A strategy that hedges it within a second has no `otherwise` time; one
    that never looks has the bound as `adl` and everything after it as `otherwise` (a failure)."""
    from fmz_compat.sim.world import FAULTS

    strategy = tmp_path / "hedged.py"
    strategy.write_text(f"WATCH = {watch}\n" + HEDGED)
    params = chaos.chaos_params(None)
    opts = chaos.ChaosOptions(seed=2, days=0.25, venues=("binance", "okx"), symbols=("BTC_USDT",),
                              out=tmp_path, params_json=params, strategy=strategy,
                              start_ms=chaos._parse_start("2024-01-01"), without=frozenset({*FAULTS, "adl"}))
    run = chaos.ChaosRun(opts)
    run.kills = []
    adl_ms = opts.start_ms + 3_600_000
    for venue in ("binance", "okx"):  # ADL takes whichever leg is in profit then
        run.world.schedule_adl(venue, adl_ms, 0.5)
    result = run.run()
    bound_s = chaos.adl_bound_ms(params) / 1000
    assert bound_s == 5 + 2 + 2 + 2  # position_check_s, loop_interval_ms, max_turn_wait_ms, max_wait_ms
    [adl] = result["adls"]
    assert adl["at_ms"] == adl_ms and adl["closed"] == 0.05  # half of either leg
    above = result["above_one_lot_s"]
    if watch:
        assert above["adl"] == adl["within_one_lot_after_s"] == 0.3 and above["otherwise"] == 0
    else:
        assert above["adl"] == bound_s and adl["within_one_lot_after_s"] is None
        assert above["otherwise"] == pytest.approx(opts.days * 86_400 - 3_600 - bound_s)


@pytest.mark.parametrize(("args", "message"), [
    (["--days", "0"], "--days 0: use 0.25..366"),
    (["--venues", "binance"], "--venues 'binance': name two or more distinct venues"),
    (["--venues", "binance,kraken"], "name two or more distinct venues"),
    (["--seeds", "5-1"], "--seeds '5-1': write a range like 1-20"),
    (["--symbols", "BTCUSD"], "'BTCUSD' is not a USDT perp pair"),
    (["--params", '{"open_threshold_bps": "x"}'], "strategy parameter: "),
    (["--step-ms", "7"], "--step-ms 7: must divide one minute"),
    (["--profile", "loose"], "--profile 'loose': use one of default, tight"),
    (["--without", "adl,meteor"], "--without 'adl,meteor': meteor is not a fault kind"),
    (["--profile", "tight", "--params", "{}"], "use it or --params, not both"),
])
def test_bad_arguments_get_one_line_and_exit_2(tmp_path, capsys, args, message):
    assert chaos.main([*args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("chaos: ") and "\n" not in err
    assert not (tmp_path / "chaos.json").exists()


def test_the_tight_profile_keeps_a_full_book_just_outside_the_first_stop_level():
    """Issue #17: the default profile keeps a full venue about 50 % from liquidation, outside the 40 % first
    stop level (33 firings in 600 seed-days). The tight profile's first level is 15 %, and a full book (two
    symbols at max_position_usdt on 10,000 USDT) is about 19 % from liquidation: within 1.25 x the first
    level, where the strategy stops adding."""
    from hedge.config import parse_params

    default, tight = (parse_params(chaos.chaos_params(None, p)) for p in ("default", "tight"))
    assert default.stops.levels[0].distance_pct == 40
    levels = [float(lv.distance_pct) for lv in tight.stops.levels]
    assert levels == [15, 10, 6] and tight.stops.levels[-1].emergency
    leverage = 2 * float(tight.max_position_usdt) / 10_000  # a full book's notional / equity
    full_distance_pct = 100 / leverage - 0.5  # 1 / effective leverage less about 0.5 % maintenance
    assert levels[0] < full_distance_pct < levels[0] * 1.25 + 1
    assert float(tight.max_effective_leverage) >= leverage < float(tight.stops.max_effective_leverage)


def test_a_kill_loses_what_the_store_had_not_committed_and_never_a_G_entry(tmp_path):
    """The chaos run's kill now behaves like SIGKILL on the robot store: the next life reopens the file, and
    the log rows written since the last commit are gone (before, the same connection carried them over)."""
    from fmz_compat.store import RobotStore

    path = tmp_path / "1.db3"
    store = RobotStore(path, flush_interval_s=3600)
    store.append_log(5, "committed", 1)
    store.flush()
    store.append_log(5, "in the open transaction", 2)
    store.kv_set("journal", {"order": 1})  # commits itself, and with it the row before
    store.append_log(5, "lost", 3)
    assert store.abandon() == 1
    again = RobotStore(path)
    assert [r["Extra"] for r in again.logs(newest_first=False)] == ["committed", "in the open transaction"]
    assert again.kv_get("journal") == {"order": 1}
    again.close()


T0 = 1_704_067_200_000  # 2024-01-01, the chaos run's default start


def _run(tmp_path, venues=("binance", "okx")):
    opts = chaos.ChaosOptions(seed=1, days=0.25, venues=venues, symbols=("BTC_USDT",), out=tmp_path,
                              params_json=chaos.chaos_params(None, "default", venues),
                              strategy=chaos.ROOT / "strategy.py", start_ms=T0)
    return chaos.ChaosRun(opts)


def test_exposure_left_by_a_late_landing_order_counts_from_the_first_positions_read_there(tmp_path):
    """Issue #17's rule for the checker: a venue that lands an order after its call timed out makes exposure
    no strategy could have known of; it is a venue event ("late_landing") until the strategy's next positions
    call on that venue answers, and from then on it counts like any other ("otherwise")."""
    run = _run(tmp_path)
    world, clock = run.world, run.clock
    binance = world.exchanges[0]
    world.inject("binance", "timeout_lands_late", until_ms=T0 + 60_000)
    assert binance.CreateOrder("BTC_USDT.swap", "buy", -1, 0.01) is None  # timed out; lands 2..30 s later
    clock.sleep(31_000)
    world.exchanges[1].GetAccount()  # any call: the venue side moves on, the order has landed
    assert [e["venue"] for e in world.late_landings] == ["binance"] and run.exposure.above
    clock.sleep(10_000)
    world.exchanges[1].GetPositions()  # another venue's positions: binance's landing is still unseen
    late = run.exposure.ms_by_cause["late_landing"]
    assert late >= 10_000 and run.exposure.ms_by_cause["otherwise"] == 0
    mortal = chaos._Mortal(binance, run, "binance")
    assert mortal.GetPositions()  # the strategy could see it from here
    clock.sleep(10_000)
    world.exchanges[1].GetAccount()
    assert run.exposure.ms_by_cause["late_landing"] == late
    assert run.exposure.ms_by_cause["otherwise"] == 10_000


def test_a_late_landing_never_read_counts_as_seen_one_status_interval_after_it_landed(tmp_path):
    """A strategy that does not read positions there could all the same have: the parameter's
    status_interval_s (60 s) is how often the strategy reads every venue's positions."""
    run = _run(tmp_path)
    world, clock = run.world, run.clock
    world.inject("binance", "timeout_lands_late", until_ms=T0 + 60_000)
    assert world.exchanges[0].CreateOrder("BTC_USDT.swap", "buy", -1, 0.01) is None
    clock.sleep(31_000)
    world.exchanges[1].GetAccount()
    (landing,) = world.late_landings
    while world.now_ms() < landing["at_ms"] + 90_000:  # a turn a second, none reading binance's positions
        clock.sleep(1000)
        world.exchanges[1].GetAccount()
    assert 60_000 <= run.exposure.ms_by_cause["late_landing"] <= 61_000
    assert run.exposure.ms_by_cause["otherwise"] == 90_000 - run.exposure.ms_by_cause["late_landing"]


def test_exposure_an_order_of_ours_queued_at_the_venue_would_cover_counts_as_in_flight_and_no_more(tmp_path):
    """Chaos default seed 10 (2 days): a reduce-only `late:` close timed out, its lookups proved it absent,
    and it reached bybit 4 s later; the strategy rightly sent no second close, and the checker counted the 4 s
    as "otherwise" (10-28 s a seed in 10 of 40 runs). The order existed at the venue's door: the time counts
    as `in_flight` while orders of ours queued to land (`world.queued_orders`) would bring each coin above one
    lot within one lot. Not kinder: an order that would add to the exposure, or too little queued, leaves it
    "otherwise"."""
    run = _run(tmp_path)
    world, clock = run.world, run.clock
    binance = world.exchanges[0]
    reader = chaos._Mortal(binance, run, "binance")  # the strategy's reads: a landing is seen at once
    delays = [40_000, 20_000, 20_000]  # the queued orders' landing delays, in the order sent
    world._late_rng.randrange = lambda *_bounds: delays.pop(0)
    assert binance.CreateOrder("BTC_USDT.swap", "buy", -1, 0.01)  # +0.01 BTC, nothing hedges it
    world.inject("binance", "timeout_lands_late", until_ms=T0 + 600_000)
    start = world.now_ms()
    assert binance.CreateOrder("BTC_USDT.swap", "buy", -1, 0.01) is None  # adds, lands at +40 s
    assert binance.CreateOrder("BTC_USDT.swap", "closebuy", -1, 0.005) is None  # half of it, lands at +20 s

    def until(at_ms: int) -> None:
        while world.now_ms() < start + at_ms:
            clock.sleep(1000)
            reader.GetPositions()  # a read a second: the venues move on, the checker samples
    until(10_000)
    assert run.exposure.ms_by_cause["otherwise"] == 10_000 and run.exposure.ms_by_cause["in_flight"] == 0
    assert binance.CreateOrder("BTC_USDT.swap", "closebuy", -1, 0.005) is None  # the rest, lands at +30 s
    assert [(o["side"], o["base"], o["due_ms"] - start) for o in world.queued_orders] == [
        ("buy", 0.01, 40_000), ("sell", 0.005, 20_000), ("sell", 0.005, 30_000)]
    until(35_000)
    assert not run.exposure.above and len(world.queued_orders) == 1  # both closes landed
    assert run.exposure.ms_by_cause["in_flight"] == 20_000
    until(50_000)  # the buy landed at +40 s: 0.01 again, and nothing of ours queued to cover it
    assert not world.queued_orders and run.exposure.above
    assert run.exposure.ms_by_cause["otherwise"] == 20_000 and run.exposure.ms_by_cause["in_flight"] == 20_000


def test_exposure_while_a_venue_is_out_is_measured_against_the_unhedged_policy_bound():
    lots = {"BTC": 0.001}
    exposure = chaos.Exposure(lots, lambda base: 50_000.0, {"BTC": 0.0}, size_bound_usdt=5000.0)

    def down(now_ms: int) -> str:
        return "venue_down"
    exposure.update("BTC", 0.05, 1_000, down)      # 2,500 USDT unhedged
    exposure.update("BTC", 0.15, 41_000, down)     # 7,500 USDT: above max_unhedged_usdt
    exposure.update("BTC", 0.05, 53_000, down)     # cut back below it 12 s later
    exposure.update("BTC", 0.0, 81_000, down)      # hedged again: 80 s in all
    exposure.update("BTC", 0.05, 200_000, down)    # a second, shorter stretch
    exposure.update("BTC", 0.0, 230_000, down)
    assert (exposure.down_longest_ms, exposure.down_over_size_ms) == (80_000, 12_000)
    assert exposure.down_max_usdt == 7_500 and exposure.down_worst == {"from_ms": 1_000, "until_ms": 81_000}


def test_a_refused_close_leaves_its_leg_on_the_venue_that_is_out_shown_apart_from_the_policy_bound():
    """Chaos seed 7 (issue #17): bybit refused a close's leg while binance's leg closed, so bybit alone held
    1.09 ETH for the 212 s it kept refusing, and the run failed the outage.max_unhedged_s bound. That bound
    is for a leg the venues that trade hold (an opening's filled leg whose hedge is on the venue that died:
    Risk.bound_unhedged cuts it reduce-only); what the venue that is out holds itself no order reaches until
    it answers (reliability.md: "closed when its venue trades"). It is measured apart, and shown."""
    lots = {"BTC": 0.001}
    exposure = chaos.Exposure(lots, lambda base: 50_000.0, {"BTC": 0.0}, size_bound_usdt=5000.0,
                              out_since=lambda now_ms: {"okx": 5_000} if 5_000 <= now_ms < 400_000 else {})

    def down(now_ms: int) -> str:
        return "venue_down" if 5_000 <= now_ms < 400_000 else "otherwise"
    exposure.update("BTC", 0.0, 1_000, down, {"okx": 0.05, "binance": -0.05})    # one pair, hedged
    exposure.update("BTC", 0.05, 10_000, down, {"okx": 0.05, "binance": 0.0})    # okx refused the close
    exposure.update("BTC", 0.0, 130_000, down, {"okx": 0.0, "binance": 0.0})     # okx's leg closed at last
    assert (exposure.down_longest_ms, exposure.held.longest_ms) == (0, 120_000)
    assert exposure.held.max_usdt == 2_500 and exposure.held.worst == {"from_ms": 10_000, "until_ms": 130_000}

    exposure.update("BTC", 0.05, 150_000, down, {"okx": 0.0, "binance": 0.05})   # an opening: okx's leg died
    exposure.update("BTC", 0.0, 250_000, down, {"okx": 0.0, "binance": 0.0})     # cut after 100 s
    assert exposure.down_longest_ms == 100_000 and exposure.down_max_usdt == pytest.approx(2_500)
    # net short 0.03 with okx long: okx holds none of it, binance all
    exposure.update("BTC", -0.03, 260_000, down, {"okx": 0.02, "binance": -0.05})
    exposure.update("BTC", 0.0, 390_000, down, {"okx": 0.0, "binance": 0.0})
    assert exposure.down_longest_ms == 130_000 and exposure.held.longest_ms == 120_000


def test_what_an_adl_on_the_venue_that_is_out_left_is_shown_apart_from_the_policy_bound():
    """Chaos seed 15 (2 days, issue #17): okx was down 1,420 s; 1,052 s in, it auto-deleveraged 0.194 BTC and
    3.88 ETH of our shorts there. The longs on binance were unhedged for the 368 s until okx answered, and
    the strategy, unable to read okx's positions, could not know: it closed them 6 s after okx answered. The
    policy cuts a leg the strategy knows to be unhedged; this one the run held to the 60 s bound and failed.
    What an ADL left that the strategy cannot have seen yet is measured apart, as the venue's doing."""
    lots = {"BTC": 0.001}
    exposure = chaos.Exposure(lots, lambda base: 50_000.0, {"BTC": 0.0}, size_bound_usdt=5000.0,
                              out_since=lambda now_ms: {"okx": 0} if now_ms <= 400_000 else {},
                              adl_left=lambda base, now_ms: 0.15 if 100_000 < now_ms <= 411_000 else 0.0)

    def cause(now_ms: int) -> str:
        return "venue_down" if now_ms <= 400_000 else "adl"
    exposure.update("BTC", 0.0, 1_000, cause, {"okx": -0.2, "binance": 0.2})
    exposure.update("BTC", 0.15, 100_000, cause, {"okx": -0.05, "binance": 0.2})  # okx's ADL, unseen
    exposure.sample(400_000, cause)  # okx answers again
    exposure.update("BTC", 0.0, 406_000, cause, {"okx": -0.05, "binance": 0.05})  # seen and hedged
    assert exposure.down_longest_ms == 0 and exposure.held.longest_ms == 0
    assert exposure.adl_unseen.longest_ms == 300_000 and exposure.adl_unseen.max_usdt == 7_500

    # an opening's leg left unhedged beside it is still held to the bound
    exposure = chaos.Exposure(lots, lambda base: 50_000.0, {"BTC": 0.0}, size_bound_usdt=5000.0,
                              out_since=lambda now_ms: {"okx": 0},
                              adl_left=lambda base, now_ms: 0.15 if now_ms > 100_000 else 0.0)
    exposure.update("BTC", 0.15, 100_000, cause, {"okx": -0.05, "binance": 0.2})
    exposure.update("BTC", 0.2, 150_000, cause, {"okx": -0.05, "binance": 0.25})  # + 0.05 unhedged
    exposure.update("BTC", 0.15, 250_000, cause, {"okx": -0.05, "binance": 0.2})
    assert exposure.down_longest_ms == 100_000 and exposure.down_max_usdt == pytest.approx(2_500)


# Long 0.1 BTC on binance, short 10 contracts (0.1 BTC) on okx; a turn a second reads both venues' positions
# and closes on binance what okx's short no longer covers (nothing while okx does not answer).
ADL_WHILE_DOWN = '''
def main():
    if not _G("opened"):
        exchanges[0].CreateOrder("BTC_USDT.swap", "buy", -1, 0.1)
        exchanges[1].CreateOrder("BTC_USDT.swap", "sell", -1, 10)
        _G("opened", 1)
    while True:
        Sleep(1000)
        long_rows = exchanges[0].GetPositions("BTC_USDT.swap")
        short_rows = exchanges[1].GetPositions("BTC_USDT.swap")
        if long_rows is None or short_rows is None:
            continue
        net = round(sum(p.Amount for p in long_rows) - sum(p.Amount * 0.01 for p in short_rows), 6)
        if net > 0:
            exchanges[0].CreateOrder("BTC_USDT.swap", "closebuy", -1, net)
'''


def test_an_adl_on_a_venue_that_is_down_counts_from_when_it_answers_again(tmp_path, monkeypatch,
                                                                        own_hedge_modules):
    """Chaos seed 15: an ADL on okx while okx was down is the venue's doing until okx answers and the
    strategy's next positions read: the run passes, with the stretch in outage_exposure.adl_unseen."""
    from fmz_compat.sim import scenarios

    start = chaos._parse_start("2024-01-01")
    down = scenarios.FaultWindow("okx", "down", start + 3_000_000, start + 3_900_000)
    adl = scenarios.Adl("okx", start + 3_600_000, 0.5)

    def generate(seed: int, start_ms: int, days: float, venues: tuple[str, ...]) -> scenarios.ChaosSchedule:
        return scenarios.ChaosSchedule(seed, start_ms, start_ms + int(days * chaos.DAY_MS), venues,
                                       faults=(down,), adls=(adl,))
    monkeypatch.setattr(scenarios, "generate", generate)
    strategy = tmp_path / "adl_while_down.py"
    strategy.write_text(ADL_WHILE_DOWN)
    opts = chaos.ChaosOptions(seed=1, days=0.25, venues=("binance", "okx"), symbols=("BTC_USDT",),
                              out=tmp_path, params_json=chaos.chaos_params(None), strategy=strategy,
                              start_ms=start)
    run = chaos.ChaosRun(opts)
    run.kills = []
    result = run.run()
    outage = result["outage_exposure"]
    assert outage["longest_s"] == 0 and outage["within_bound"]
    assert 299 <= outage["adl_unseen"]["longest_s"] <= 300 and outage["adl_unseen"]["max_usdt"] > 1_000
    [seen] = result["adls"]  # BTC is 0.3 % lower an hour in (seed 1): okx's short is in profit
    assert seen["venue"] == "okx" and seen["net_change"] == 0.05  # half of okx's short: net long 0.05
    assert seen["until_ms"] == down.until_ms + chaos.adl_bound_ms(opts.params_json)
    assert result["above_one_lot_s"]["otherwise"] == 0 and result["above_one_lot_s"]["adl"] <= 2


def test_exposure_held_before_a_venue_went_out_counts_against_the_bound_from_its_outage_start():
    lots = {"BTC": 0.001}
    exposure = chaos.Exposure(lots, lambda base: 50_000.0, {"BTC": 0.0}, size_bound_usdt=5000.0,
                              out_since=lambda now_ms: {"okx": 50_000} if now_ms >= 50_000 else {})

    def cause(now_ms: int) -> str:
        return "venue_down" if now_ms >= 50_000 else "in_flight"
    exposure.update("BTC", 0.05, 20_000, cause, {"binance": 0.05})
    exposure.update("BTC", 0.0, 60_000, cause, {"binance": 0.0})
    assert exposure.down_longest_ms == 10_000  # not the 40 s since it was taken
    assert exposure.down_worst == {"from_ms": 50_000, "until_ms": 60_000}

def test_the_chaos_run_checks_the_outage_bound_from_the_parameter(tmp_path):
    run = _run(tmp_path)
    assert (run.bound_s, run.bound_usdt) == (60.0, 5000.0)  # outage.max_unhedged_s / _usdt defaults
    run.exposure.down_longest_ms, run.exposure.down_max_usdt = 70_000, 4_000.0
    assert run._outage_figures()["within_bound"]  # 60 s + the 10 s the acting turn gets
    run.exposure.down_longest_ms = 70_001
    assert not run._outage_figures()["within_bound"]


def test_exposure_held_on_the_venue_that_is_out_counts_against_max_unhedged_s(tmp_path):
    """A loose leg on a venue that is out is hedged on a venue that trades after max_unhedged_s
    (hedge/rehedge.py): held there longer than the bound and its slack fails the run, whatever its size.
    Before, it was shown apart and never held to the bound (chaos seed 7, 2 days: 212 s passed)."""
    run = _run(tmp_path)
    run.exposure.held.longest_ms, run.exposure.held.max_usdt = 70_000, 50_000.0
    assert run._outage_figures()["within_bound"]  # 60 s + the 10 s the acting turn gets; no size bound
    run.exposure.held.longest_ms = 70_001
    figures = run._outage_figures()
    assert not figures["within_bound"] and figures["held_on_out_venue"]["longest_s"] == 70.001


def test_chaos_runs_move_margin_automatically_between_the_simulated_venues_deposit_addresses(tmp_path):
    """The parameter of every chaos profile turns the treasury to auto with each automated venue's simulated
    deposit address (params.json leaves it at notify: no run moved money, so none could show a move of unit
    NAV); coinex is not automated by the treasury and is left out of the whitelist."""
    from hedge.config import parse_params

    venues = ("binance", "coinex", "okx", "bybit")
    run = _run(tmp_path, venues)
    for profile in ("default", "tight"):
        cfg = parse_params(chaos.chaos_params(None, profile, venues)).treasury
        assert cfg.mode == "auto"
        assert {(e.venue, e.address) for e in cfg.whitelist} == {
            (a.venue, run.world.deposit_address(a, "TRC20"))
            for a in run.world.accounts if a.venue != "coinex"}
        first_stop = parse_params(chaos.chaos_params(None, profile)).stops.levels[0].distance_pct
        assert first_stop < cfg.trigger_distance_pct < cfg.target_distance_pct
    only_one = parse_params(chaos.chaos_params(None, "default", ("binance", "coinex"))).treasury
    assert only_one.mode == "off"


def test_exposure_an_order_of_ours_proved_absent_that_may_still_land_and_would_cover_is_in_flight(tmp_path):
    """Chaos tight seed 1, 30 days (issue #17): a loose close journaled at a kill was proved absent after the
    restart; the strategy cannot tell a lost order from one landing late, and holds back what it could take
    from the leg for LATE_LANDING_SETTLES settle windows after its send (hedge/risk.py `_closes_landing`).
    While such a watched order of ours would bring each coin within one lot, the time counts as `in_flight`;
    once its window is over, or when the exposure is beyond what it would take, "otherwise"."""
    from hedge.ledger import Ledger
    from hedge.orders import OrderRecord, OrderStatus

    run = _run(tmp_path)
    world, clock = run.world, run.clock
    binance = world.exchanges[0]
    assert binance.CreateOrder("BTC_USDT.swap", "buy", -1, 0.01)  # +0.01 BTC, nothing hedges it
    start = world.now_ms()

    def watch(qty: str) -> None:
        ledger = Ledger.load(run.runtime._G)
        record = OrderRecord(f"c{qty}", "loose:pending", "binance", "BTC_USDT", "closebuy", Decimal(qty),
                             OrderStatus.ABSENT, sent_ms=world.now_ms())
        ledger.watch[record.client_id] = record
        ledger.save(run.runtime._G)

    def until(at_ms: int) -> None:
        while world.now_ms() < start + at_ms:
            clock.sleep(1000)
            world.exchanges[1].GetAccount()  # the venues move on, the checker samples
    until(5_000)
    watch("0.005")  # would take half: not a cover
    until(15_000)
    assert run.exposure.ms_by_cause["otherwise"] == 15_000 and run.exposure.ms_by_cause["in_flight"] == 0
    watch("0.0095")  # with the first, 0.0145 >= 0.01 - one lot
    until(45_000)
    assert run.exposure.ms_by_cause["in_flight"] == 30_000  # from its send on
    until(100_000)  # the 0.0095's window ends 60 s after its send (+15 s): uncovered from +75 s on
    assert run.exposure.ms_by_cause["in_flight"] == 60_000
    assert run.exposure.ms_by_cause["otherwise"] == 40_000 and run.exposure.above
