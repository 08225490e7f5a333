"""Money from outside the fund and moves between its venues on the simulator, through the venues' own
history endpoints, and the strategy's unit NAV through both."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.runner import RunConfig, run
from fmz_compat.sim import create_world
from fmz_compat.store import RobotStore
from hedge.accounting import STATE_KEY
from hedge.transfers import read_funding_balance, read_history
from hedge.wallets import withdraw

T0 = 1_704_067_200_000  # 2024-01-01 UTC
HOUR = 3_600_000
VENUES = ("binance", "okx", "bybit")


def _world():
    cfg = SimConfig(
        seed=3,
        start_ms=T0,
        bindings=tuple(ExchangeBinding(f"Futures_{n}") for n in ("Binance", "OKX", "Bybit")),
    )
    clock = BacktestClock(T0 * 10**6, (T0 + 10 * 86_400_000) * 10**6)
    return create_world(cfg, clock, MemoryLog()), clock


def test_outside_deposit_lands_in_the_funding_wallet_at_its_time_and_shows_in_that_venue_history():
    world, clock = _world()
    tx = world.deposit_external("okx", 1234.5, at_ms=T0 + HOUR)
    okx = world.exchanges[1]
    assert read_funding_balance(okx, "okx") == 0 and read_history(okx, "okx") == []
    clock.sleep(HOUR)
    assert read_funding_balance(okx, "okx") == Decimal("1234.5")
    (record,) = read_history(okx, "okx")
    assert (record.kind, record.id, record.amount, record.state) == ("deposit", tx, Decimal("1234.5"), "done")
    assert record.time_ms == T0 + HOUR and record.address == "sim-okx-1-trc20"
    assert okx.GetAccount().Equity == pytest.approx(10_000.0)  # the futures wallet is untouched
    for venue, ex in zip(VENUES, world.exchanges, strict=True):
        if venue != "okx":
            assert read_history(ex, venue) == [] and read_funding_balance(ex, venue) == 0


def test_outside_withdrawal_takes_the_funding_wallet_then_the_futures_wallet_and_is_refused_beyond():
    world, clock = _world()
    binance = world.exchanges[0]
    binance.IO("api", "POST", "/sapi/v1/asset/transfer", "asset=USDT&amount=300&type=UMFUTURE_MAIN")
    world.withdraw_external("binance", 500)
    assert read_funding_balance(binance, "binance") == 0
    assert binance.GetAccount().Equity == pytest.approx(9_500.0)
    (record,) = read_history(binance, "binance")
    assert (record.kind, record.amount, record.fee, record.address) == (
        "withdrawal",
        Decimal(500),
        Decimal(0),
        f"external-{record.id}",
    )
    world.withdraw_external("binance", 50_000, at_ms=T0 + HOUR)
    clock.sleep(HOUR)
    assert (
        binance.GetAccount().Equity == pytest.approx(9_500.0) and len(read_history(binance, "binance")) == 1
    )
    assert "refused" in world.log.rows[-1]["message"]
    with pytest.raises(ValueError, match="positive"):
        world.deposit_external("okx", 0)
    with pytest.raises(ValueError, match="unknown venue"):
        world.deposit_external("kraken", 10)


@pytest.mark.parametrize(
    "src, dst, withdraw",
    [
        (
            0,
            1,
            ("POST", "/sapi/v1/capital/withdraw/apply", "coin=USDT&amount=1000&network=ERC20&address={addr}"),
        ),
        (1, 2, ("POST", "/api/v5/asset/withdrawal", "ccy=USDT&amt=1000&chain=USDT-ERC20&toAddr={addr}")),
        (2, 0, ("POST", "/v5/asset/withdraw/create", "coin=USDT&amount=1000&chain=ERC20&address={addr}")),
    ],
)
def test_a_move_between_own_venues_shows_as_withdrawal_then_credited_deposit_with_the_same_tx(
    src, dst, withdraw
):
    world, clock = _world()
    source, target = world.exchanges[src], world.exchanges[dst]
    source.IO("api", "POST", "/sim/transfer", "asset=USDT&amount=1000&to=funding")
    addr = target.IO("api", "GET", "/sim/deposit_address", "coin=USDT&network=ERC20").address
    method, path, params = withdraw
    assert source.IO("api", method, path, params.format(addr=addr)) is not None
    (out,) = read_history(source, VENUES[src])
    assert (out.kind, out.amount, out.fee, out.address, out.state) == (
        "withdrawal",
        Decimal(995),
        Decimal(5),
        addr,
        "pending",
    )
    assert read_history(target, VENUES[dst]) == []
    clock.sleep(300_000)
    (done,) = read_history(source, VENUES[src])
    (arrived,) = read_history(target, VENUES[dst])
    assert done.state == "done" and (arrived.tx_id, arrived.amount) == (out.tx_id, Decimal(995))
    assert read_funding_balance(target, VENUES[dst]) == Decimal(995)


STRATEGY = (Path(__file__).resolve().parents[2] / "data" / "hooked_strategy.py").read_text(encoding="utf-8")
PARAMS = {
    "symbols": ["BTC_USDT"],
    "loop_interval_ms": 60_000,
    "status_interval_s": 60,
    "max_book_age_ms": 90_000,
    "cooldown_s": 60,
}


def _run(tmp_path, hours, hook):
    strategy = tmp_path / "s.py"
    strategy.write_text(STRATEGY)
    config = RunConfig(
        mode="backtest",
        strategy_path=strategy,
        bindings=(ExchangeBinding("Futures_Binance"), ExchangeBinding("Futures_OKX")),
        start_ms=T0,
        end_ms=T0 + hours * HOUR,
        symbols=("BTC_USDT",),
        params_json=json.dumps(PARAMS),
        out_root=tmp_path / "runs",
        quiet=True,
    )

    def with_hook(runtime):
        build = runtime.build_globals
        runtime.build_globals = lambda sources=None: {**build(sources), "HOOK": hook}

    lines = []
    result = run(config, out=lines.append, on_runtime=with_hook)
    assert result.exit_code == 0, lines
    store = RobotStore(result.db_path)
    state = json.loads(store.kv_get(STATE_KEY))
    store.close()
    return state


def _largest_step(navs):
    return max(abs(b - a) for a, b in zip(navs, navs[1:], strict=False))


@pytest.mark.slow
def test_outside_deposit_and_withdrawal_mint_and_burn_shares_at_that_moment_without_any_command(tmp_path):
    navs = []  # (sim ms, unit NAV, shares) at every loop turn
    done = set()

    def hook(app, exchanges):
        world = exchanges[0]._world
        navs.append((app.now_ms, app.accounting.unit_nav, app.accounting.shares))
        if app.now_ms >= T0 + 2 * HOUR and "deposit" not in done:
            done.add("deposit")
            world.deposit_external("okx", 5000.0, at_ms=T0 + 3 * HOUR)
        if app.now_ms >= T0 + 5 * HOUR and "withdraw" not in done:
            done.add("withdraw")
            world.withdraw_external("binance", 3000.0)

    state = _run(tmp_path, 14, hook)
    flows = state["flows"]
    assert [(f["id"].split(":")[:2], Decimal(f["amount"]), f["source"]) for f in flows] == [
        (["okx", "deposit"], Decimal(5000), "history:okx"),
        (["binance", "withdrawal"], Decimal(-3000), "history:binance"),
    ]
    deposit, withdrawal = flows
    assert T0 + 3 * HOUR <= deposit["t"] <= T0 + 3 * HOUR + 120_000  # booked at the next look
    assert withdrawal["t"] >= T0 + 11 * HOUR  # after the transit timeout (it might have been ours)
    for flow in flows:
        assert abs(Decimal(flow["shares"]) - Decimal(flow["amount"]) / Decimal(flow["nav"])) < Decimal("1e-6")
    shares = [s for _, _, s in navs]
    assert shares[0] == Decimal(20_000) and Decimal(state["contributions"]) == Decimal(22_000)
    assert _largest_step([n for _, n, _ in navs]) < Decimal("0.0005")  # 25 % / 15 % jumps without the fix


def test_a_move_between_own_venues_keeps_unit_nav_continuous_through_the_transit(tmp_path):
    navs = []
    in_transit = []
    done = set()

    def hook(app, exchanges):
        navs.append(app.accounting.unit_nav)
        in_transit.append(app.fund.in_transit())
        binance, okx = exchanges
        if app.now_ms >= T0 + 2 * HOUR and "out" not in done:
            done.add("out")
            binance.IO("api", "POST", "/sapi/v1/asset/transfer", "asset=USDT&amount=4000&type=UMFUTURE_MAIN")
            addr = okx.IO("api", "GET", "/api/v5/asset/deposit-address", "ccy=USDT").data[1].addr  # ERC20
            assert binance.IO(
                "api",
                "POST",
                "/sapi/v1/capital/withdraw/apply",
                f"coin=USDT&amount=4000&network=ERC20&address={addr}",
            ).id
        if app.now_ms >= T0 + 4 * HOUR and "in" not in done:
            done.add("in")
            okx.IO("api", "POST", "/api/v5/asset/transfer", "ccy=USDT&amt=3995&from=6&to=18")

    state = _run(tmp_path, 6, hook)
    assert state["flows"] == [] and Decimal(state["contributions"]) == Decimal(20_000)
    assert (
        Decimal(4000) in in_transit and Decimal(3995) in in_transit
    )  # in the air, then in OKX's funding wallet
    assert in_transit[-1] == 0
    assert _largest_step(navs) < Decimal("0.0005")  # a 20 % dip without counting the transit


def _old_rows(world, account: int, count: int, start_ms: int, step_ms: int) -> None:
    """`count` credited deposits to `account`, one every `step_ms` from `start_ms` (a long history)."""
    for i in range(count):
        world.deposits.append({"id": f"old{account}-{i}", "from": None, "to": account, "asset": "USDT",
                               "amount": 10.0 + i, "network": "TRC20", "address": f"sim-x-{account}-trc20",
                               "time": start_ms + i * step_ms})


@pytest.mark.slow
@pytest.mark.parametrize(("venue", "default_days"), [("binance", 90), ("bybit", 30), ("okx", None)])
def test_each_simulated_history_answers_only_the_venues_own_window_and_read_history_pages_past_it(
        venue, default_days):
    # Binance deposit-history "startTime default: 90 days from current timestamp ... time between startTime
    # and endTime must be less than 90 days" (developers.binance.com/docs/wallet/capital/deposite-history);
    # Bybit query-record "endTime - startTime should be less than 30 days. Queries for the last 30 days by
    # default", limit [1, 50] with a cursor; OKX deposit-history: the newest 100 records, `after` for older
    world, clock = _world()
    index = VENUES.index(venue)
    clock.sleep(9 * 86_400_000)
    now = T0 + 9 * 86_400_000
    _old_rows(world, index, 240, now - 120 * 86_400_000, 12 * HOUR)  # 120 days of rows, two a day
    ex = world.exchanges[index]
    default = read_history(ex, venue)
    if default_days is None:
        assert len(default) == 100
        assert min(r.time_ms for r in default) == now - 120 * 86_400_000 + 140 * 12 * HOUR
    else:
        assert min(r.time_ms for r in default) >= now - default_days * 86_400_000
        assert len(default) == (default_days * 2 if venue == "binance" else 50)  # Bybit: one page of 50
    paged = read_history(ex, venue, "USDT", now - 121 * 86_400_000, now)
    assert sorted(r.id for r in paged) == sorted(f"old{index}-{i}" for i in range(240))


def test_a_span_longer_than_the_venue_allows_is_refused_not_silently_cut():
    world, _ = _world()
    binance, bybit = world.exchanges[0], world.exchanges[2]
    assert binance.IO("api", "GET", "/sapi/v1/capital/deposit/hisrec",
                      f"coin=USDT&startTime={T0}&endTime={T0 + 90 * 86_400_000}") is None
    assert bybit.IO("api", "GET", "/v5/asset/deposit/query-record",
                    f"coin=USDT&startTime={T0}&endTime={T0 + 30 * 86_400_000}") is None
    assert binance.IO("api", "GET", "/sapi/v1/capital/deposit/hisrec",
                      f"coin=USDT&startTime={T0}&endTime={T0 + 89 * 86_400_000}") == []


def test_history_down_fails_the_histories_only_and_a_lost_withdrawal_answer_still_withdraws():
    world, clock = _world()
    okx = world.exchanges[1]
    world.deposit_external("okx", 500.0)
    world.inject("okx", "history_down", T0 + HOUR)
    assert read_history(okx, "okx") is None and read_funding_balance(okx, "okx") == 500
    world.inject("okx", "withdraw_answer_lost", T0 + HOUR)
    address = world.deposit_address(world.accounts[0], "TRC20")
    answer = withdraw(okx, "okx", amount=Decimal(300), network="TRC20", address=address, memo="",
                      client_id="c1", now_ms=T0)
    assert answer.done is None  # no answer: unknown, as FMZ gives a timeout
    assert [w["amount"] for w in world.withdrawals] == [300.0] and read_funding_balance(okx, "okx") == 200
    clock.sleep(HOUR)
    (out,) = [r for r in read_history(okx, "okx") if r.kind == "withdrawal"]
    assert out.amount == Decimal(299) and out.state == "done"
