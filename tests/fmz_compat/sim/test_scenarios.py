"""Scenario faults: the 429 answer, scheduled fault windows, crash/pump shapes with per-venue basis
shocks, and the seeded chaos schedule; the default price path is untouched by all of it."""

import hashlib
import math

import pytest

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world
from fmz_compat.sim.scenarios import (
    FAULT_RATES,
    HARSH_FAULT_RATES,
    HOUR_MS,
    QUIET_END_MS,
    QUIET_START_MS,
    SHAPES,
    WALLET_FAULT_RATES,
    Move,
    apply_move,
    generate,
)
from fmz_compat.sim.world import FAULTS

START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
VENUES = ("Futures_Binance", "Futures_OKX", "Futures_Bybit")


def make(seed=3, hours=48, eids=VENUES):
    cfg = SimConfig(seed=seed, start_ms=START_MS, bindings=tuple(ExchangeBinding(e) for e in eids))
    clock = BacktestClock(START_MS * 1_000_000, (START_MS + hours * HOUR_MS) * 1_000_000)
    log = MemoryLog()
    return create_world(cfg, clock, log), clock, log


def at(world, hours):
    world.advance((START_MS + int(hours * HOUR_MS)) * 1_000_000)
    return {(q.market, q.pair): q.price for q in world.quotes.values()}


@pytest.mark.slow
def test_the_default_price_path_is_the_one_from_before_scenarios_existed():
    world, _, _ = make(hours=72)
    path = [tuple(round(p, 8) for p in at(world, h).values()) for h in range(1, 50)]
    # recorded from the simulator before scenario shaping and fault schedules were added
    assert hashlib.sha256(repr(path).encode()).hexdigest() == (
        "618fba05ebad0d0336a897fb4abdb03769e6adb110e392ba027b682987fed56a")


def test_rate_limit_answers_429_and_nothing_reaches_the_venue():
    world, clock, log = make()
    binance = world.exchanges[0]
    world.inject("binance", "rate_limit", START_MS + 30_000)
    assert binance.GetTicker("BTC_USDT.swap") is None
    assert "429 Too Many Requests" in log.last_error and "-1003" in log.last_error
    assert binance.CreateOrder("BTC_USDT.swap", "buy", -1, 0.01) is None
    assert world.exchanges[1].GetTicker("BTC_USDT.swap") is not None  # other venues answer
    clock.sleep(30_000)
    assert binance.GetOrders("BTC_USDT.swap") == [] and binance.GetPositions("BTC_USDT.swap") == []
    assert binance.GetTicker("BTC_USDT.swap") is not None


def test_scheduled_windows_add_up_merge_and_inject_replaces_them():
    world, clock, _ = make()
    okx = world.exchanges[1]
    world.schedule("okx", "down", START_MS + 60_000, START_MS + 120_000)
    world.schedule("okx", "down", START_MS + 300_000, START_MS + 360_000)
    world.schedule("okx", "down", START_MS + 330_000, START_MS + 420_000)  # overlaps: merged
    seen = []
    for second in range(0, 480, 30):
        clock.sleep(30_000 if second else 0)
        seen.append(okx.GetTicker("BTC_USDT.swap") is None)
    down_at = [s for s, down in zip(range(0, 480, 30), seen, strict=True) if down]
    assert down_at == [60, 90, 300, 330, 360, 390]
    world.schedule("okx", "down", START_MS + 600_000, START_MS + 660_000)
    world.inject("okx", "down", START_MS + 500_000)  # replaces every window of that fault
    assert okx.GetTicker("BTC_USDT.swap") is None
    clock.sleep(120_000)
    assert okx.GetTicker("BTC_USDT.swap") is not None
    with pytest.raises(ValueError, match="unknown fault"):
        world.schedule("okx", "meteor", START_MS + 700_000, START_MS + 800_000)


def test_each_scheduled_stale_window_freezes_the_book_at_its_own_start():
    world, clock, _ = make()
    binance = world.exchanges[0]
    world.schedule("binance", "stale_market", START_MS + 60_000, START_MS + 120_000)
    world.schedule("binance", "stale_market", START_MS + 600_000, START_MS + 700_000)
    clock.sleep(90_000)
    assert binance.GetTicker("BTC_USDT.swap").Time == START_MS + 60_000
    clock.sleep(60_000)
    assert binance.GetTicker("BTC_USDT.swap").Time == START_MS + 150_000
    clock.sleep(500_000)
    assert binance.GetTicker("BTC_USDT.swap").Time == START_MS + 600_000


@pytest.mark.slow
def test_a_shape_moves_the_fair_price_by_exactly_its_knots_when_volatility_is_unscaled():
    plain, _, _ = make()
    shaped, _, _ = make()
    hour = HOUR_MS // shaped.step_ms
    shaped.coins["BTC"].shape([(hour, 0.0), (4 * hour, math.log(0.6)), (6 * hour, math.log(0.7))], [], {})
    # linear in log between knots: half way from 1 h to 4 h the multiplier is sqrt(0.6)
    for hours, ratio in ((0.5, 1.0), (1, 1.0), (2.5, 0.6 ** 0.5), (4, 0.6), (6, 0.7), (20, 0.7)):
        at(plain, hours)
        at(shaped, hours)
        assert shaped.coins["BTC"].fair / plain.coins["BTC"].fair == pytest.approx(ratio, rel=1e-9)
        assert shaped.coins["ETH"].fair == plain.coins["ETH"].fair  # another coin is untouched


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_historical_shape_reaches_its_extreme_and_venues_diverge_by_percents(name):
    shape = SHAPES[name]
    world, _, _ = make(hours=int(shape.hours) + 4)
    move = Move(name, START_MS + HOUR_MS, (("binance", shape.basis_pct), ("okx", -shape.basis_pct),
                                           ("bybit", 0.0)))
    apply_move(world, move)
    start = at(world, 1)[("bybit", "BTC_USDT")]
    hour, extreme = min(shape.knots, key=lambda k: -abs(math.log(k[1])))
    checks = {1 + hour: "extreme", 1 + shape.stress[1]: "peak"}
    for when in sorted(checks):
        prices = at(world, when)
        if checks[when] == "extreme":
            # the random part is scaled by vol_mult: allow 4 of the scaled 8h standard deviations
            move = math.log(prices[("bybit", "BTC_USDT")] / start)
            assert abs(move - math.log(extreme)) < 4 * 0.0135 * shape.vol_mult * math.sqrt(hour / 8)
        else:
            gap = prices[("binance", "BTC_USDT")] / prices[("okx", "BTC_USDT")] - 1
            b = shape.basis_pct / 100
            assert gap == pytest.approx((1 + b) / (1 - b) - 1, abs=0.002)
    after = at(world, 1 + shape.hours + 1)
    assert abs(after[("binance", "BTC_USDT")] / after[("okx", "BTC_USDT")] - 1) < 0.003  # shock gone


def test_eth_moves_more_than_btc_and_overlapping_moves_are_refused():
    world, _, _ = make(hours=40)
    apply_move(world, Move("crash_2021_05_19", START_MS + HOUR_MS, (("binance", 0.0),)))
    eth, btc = world.coins["ETH"].fair_segments, world.coins["BTC"].fair_segments
    assert eth[2][2] == pytest.approx(1.25 * btc[2][2])
    with pytest.raises(ValueError, match="overlap"):
        apply_move(world, Move("pump_2023_03_13", START_MS + 2 * HOUR_MS, (("binance", 1.0),)))


def test_the_schedule_is_seeded_complete_and_leaves_quiet_edges():
    venues = ("binance", "bybit", "okx")
    a = generate(11, START_MS, 30, venues)
    assert a == generate(11, START_MS, 30, venues) and a != generate(12, START_MS, 30, venues)
    kinds = {*FAULT_RATES, *HARSH_FAULT_RATES, *WALLET_FAULT_RATES, "drops_client_id", "refuse_definite"}
    assert {f.fault for f in a.faults} == kinds <= set(FAULTS)  # withdrawals_stuck: treasury tests only
    drops = [f for f in a.faults if f.fault == "drops_client_id"]
    assert 0 < len(drops) <= 3 * 30  # modest: about 0.3 a day per venue
    for drop in drops:  # answers lost inside every window, so an order lands without our client id
        inside = [f for f in a.faults if f.fault == "timeout_after_accept" and f.reason == "drops_client_id"
                  and f.venue == drop.venue and drop.from_ms <= f.from_ms < f.until_ms <= drop.until_ms]
        assert inside
    lo, hi = START_MS + QUIET_START_MS, a.end_ms - QUIET_END_MS
    assert all(lo <= f.from_ms < f.until_ms <= hi for f in a.faults)
    assert len(a.moves) == 3
    spans = sorted((m.start_ms, m.end_ms) for m in a.moves)
    assert all(e0 <= s1 for (_, e0), (s1, _) in zip(spans, spans[1:], strict=False))
    for move in a.moves:  # an outage and a kill during each move's stress
        s0, _, s1 = SHAPES[move.shape].stress
        lo, hi = move.start_ms + s0 * HOUR_MS, move.start_ms + s1 * HOUR_MS
        assert any(f.fault == "down" and lo <= f.from_ms <= hi and f.reason == move.shape for f in a.faults)
        assert any(lo <= k.at_ms <= hi and k.mode == "order" for k in a.kills)
        # issue #17: a frozen book and late-landing timeouts while the price runs, ADL at the extreme
        for fault in ("stale_market", "timeout_lands_late"):
            assert any(f.fault == fault and lo <= f.from_ms <= hi and f.reason == move.shape
                       for f in a.faults)
        extreme_h = max(SHAPES[move.shape].knots, key=lambda knot: abs(math.log(knot[1])))[0]
        assert any(x.at_ms == move.start_ms + extreme_h * HOUR_MS and x.reason == move.shape for x in a.adls)
    assert len(a.kills) >= 30 and [k.at_ms for k in a.kills] == sorted(k.at_ms for k in a.kills)
    short = generate(11, START_MS, 1.5, venues)  # a short run still gets one move and every fault
    assert len(short.moves) == 1 and {f.fault for f in short.faults} == kinds and short.kills


def test_bad_schedule_input_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown venue 'kraken'"):
        generate(1, START_MS, 2, ("binance", "kraken"))
    with pytest.raises(ValueError, match="too short"):
        generate(1, START_MS, 0.05, ("binance", "okx"))


def test_applying_a_schedule_shapes_prices_and_schedules_its_faults():
    schedule = generate(4, START_MS, 1.5, ("binance", "bybit", "okx"))
    world, _, _ = make(hours=36)
    schedule.apply(world)
    (move,) = schedule.moves
    assert world.coins["BTC"].fair_segments and world.coins["BTC"].next_shape_k > 0
    first = schedule.faults[0]
    world.advance((first.from_ms + world.step_ms) * 1_000_000)  # the world moves on its 1 s grid
    assert world.fault_active(first.venue, first.fault)
    assert move.shape in SHAPES


def test_the_wallet_faults_come_from_a_stream_of_their_own(monkeypatch):
    """Issue #17 sequence 3 (b) in the chaos run: withdrawals whose answer is lost and withdrawals refused
    while the treasury moves margin, drawn apart so that a seed's other windows, moves and kills stay as
    they were."""
    from fmz_compat.sim import scenarios

    venues = ("binance", "bybit", "okx")
    full = generate(5, START_MS, 30, venues)
    monkeypatch.setattr(scenarios, "WALLET_FAULT_RATES", {})
    without = generate(5, START_MS, 30, venues)
    kept = [f for f in full.faults if f.fault not in WALLET_FAULT_RATES]
    assert kept == list(without.faults) and (full.moves, full.kills) == (without.moves, without.kills)
    lost = [f for f in full.faults if f.fault == "withdraw_answer_lost"]
    assert 30 <= len(lost) <= 150 and {f.venue for f in lost} == set(venues)  # about one a day per venue


def test_refusals_are_aimed_at_the_moves_stress_and_at_other_venues_during_outages(monkeypatch):
    """Issue #17: refuse_definite windows drawn at random times met a stop or a loose leg's close in none of
    six 2-day runs. Some are now aimed inside every move's stress and, with every outage, a refusal and a
    late-landing timeout on another venue start within minutes of it, and every other venue refuses from
    just before an ADL (the hedges of the legs it took are closed at once), from a stream of their own (a
    seed's other windows, moves and kills stay as they were)."""
    from fmz_compat.sim import scenarios

    venues = ("binance", "bybit", "okx")
    full = generate(5, START_MS, 30, venues)
    assert full == generate(5, START_MS, 30, venues)  # seeded
    aimed = [f for f in full.faults if f.reason.startswith("aimed:")]
    monkeypatch.setattr(scenarios, "_aimed", lambda *args: [])
    without = generate(5, START_MS, 30, venues)
    assert [f for f in full.faults if not f.reason.startswith("aimed:")] == list(without.faults)
    assert (full.moves, full.kills, full.adls) == (without.moves, without.kills, without.adls)
    lo, hi = START_MS + QUIET_START_MS, full.end_ms - QUIET_END_MS
    assert aimed and all(lo <= f.from_ms < f.until_ms <= hi for f in aimed)
    for move in full.moves:
        s0, _, s1 = SHAPES[move.shape].stress
        inside = [f for f in aimed if f.reason == f"aimed:{move.shape}" and f.fault == "refuse_definite"
                  and move.start_ms + s0 * HOUR_MS <= f.from_ms <= move.start_ms + s1 * HOUR_MS]
        assert len(inside) == scenarios.AIMED_PER_MOVE
    downs = [f for f in full.faults if f.fault == "down"]
    assert downs
    for down in downs:
        for fault in ("refuse_definite", "timeout_lands_late"):
            assert any(f.fault == fault and f.reason == f"aimed:down:{down.venue}" and f.venue != down.venue
                       and down.from_ms <= f.from_ms <= down.from_ms + scenarios.AIMED_OUTAGE_LEAD_MS
                       and f.from_ms <= down.until_ms for f in aimed), (down, fault)
    assert full.adls
    for adl in full.adls:  # the loose hedges of the legs an ADL takes: every other venue refuses at once
        refusing = {f.venue for f in aimed
                    if f.fault == "refuse_definite" and f.reason == f"aimed:adl:{adl.venue}"
                    and adl.at_ms - scenarios.AIMED_ADL_LEAD_MS <= f.from_ms <= adl.at_ms < f.until_ms}
        assert refusing == set(venues) - {adl.venue}, adl
