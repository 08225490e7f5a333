"""The strategy's accounting, charts and summary end to end on the simulator, and report.html in a
real browser (headless Chromium)."""

import json
import time
from decimal import Decimal
from pathlib import Path

import pytest

from fmz_compat.core import ExchangeBinding
from fmz_compat.runner import RunConfig, run
from fmz_compat.store import RobotStore
from hedge.accounting import STATE_KEY

T0 = 1_704_067_200_000  # 2024-01-01 UTC
DAY_MS = 86_400_000
CHEAP = {"symbols": ["BTC_USDT"], "loop_interval_ms": 60_000, "status_interval_s": 600,
         "max_book_age_ms": 90_000, "cooldown_s": 60}
STRATEGY = (Path(__file__).resolve().parents[1] / "data" / "hooked_strategy.py").read_text(encoding="utf-8")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _run(tmp_path: Path, days: int, hook, params=None):
    strategy = tmp_path / "s.py"
    strategy.write_text(STRATEGY)
    config = RunConfig(
        mode="backtest", strategy_path=strategy,
        bindings=(ExchangeBinding("Futures_Binance"), ExchangeBinding("Futures_OKX")),
        start_ms=T0, end_ms=T0 + days * DAY_MS, symbols=("BTC_USDT",),
        params_json=json.dumps(params or CHEAP), out_root=tmp_path / "runs", quiet=True)

    def with_hook(runtime):  # the test's hook joins the strategy's globals (run.json stays plain JSON)
        build = runtime.build_globals
        runtime.build_globals = lambda sources=None: {
            **build(sources), "HOOK": lambda app, ex: hook(app, ex, runtime)}

    lines = []
    result = run(config, out=lines.append, on_runtime=with_hook)
    assert result.exit_code == 0, lines
    return result, "\n".join(lines)


@pytest.mark.slow
def test_deposit_and_withdrawal_commands_mint_and_burn_shares_without_moving_unit_nav(tmp_path):
    navs = []  # (sim ms, unit NAV, shares) at every tick
    done = set()

    def hook(app, exchanges, runtime):
        acc = app.accounting
        navs.append((app.now_ms, acc.unit_nav, acc.shares))
        if app.now_ms >= T0 + DAY_MS // 2 and "deposit" not in done:
            done.add("deposit")
            exchanges[0]._acc.balances["USDT"] += 5000.0  # money arrives from outside the fund
            runtime.send_command("deposit:5000")
        if app.now_ms >= T0 + DAY_MS and "withdraw" not in done:
            done.add("withdraw")
            exchanges[1]._acc.balances["USDT"] -= 3000.0  # money leaves the fund
            runtime.send_command("withdraw:3000")

    result, summary = _run(tmp_path, 2, hook)
    store = RobotStore(result.db_path)
    state = json.loads(store.kv_get(STATE_KEY))
    store.close()
    flows = state["flows"]
    assert [Decimal(f["amount"]) for f in flows] == [Decimal(5000), Decimal(-3000)]
    shares = [s for _, _, s in navs]
    assert shares[0] == Decimal(20_000) and shares[-1] != shares[0]
    for flow in flows:  # across each booking unit NAV moves by market noise only, not by 25 % / 12 %
        before = [n for t, n, _ in navs if t < flow["t"]][-1]
        after = [n for t, n, _ in navs if t > flow["t"]][0]
        assert abs(after - before) < Decimal("0.0005"), (flow, before, after)
        assert abs(Decimal(flow["shares"]) - Decimal(flow["amount"]) / Decimal(flow["nav"])) < Decimal("1e-6")
    assert Decimal(state["contributions"]) == Decimal(22_000)
    final_nav = navs[-1][1]
    assert Decimal("0.99") < final_nav < Decimal("1.01")
    assert "strategy: summary: unit NAV" in summary and "rebates (est.)" in summary


@pytest.fixture(scope="module")
def ninety_days(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("ninety")
    result, summary = _run(tmp_path, 90, lambda app, ex, runtime: None)
    return result, summary


@pytest.mark.slow
def test_ninety_days_keep_the_charts_light_and_the_summary_complete(ninety_days):
    result, summary = ninety_days
    store = RobotStore(result.db_path)
    config, points = store.chart_config(), store.chart_points()
    profits = store.profits()
    status = store.status()
    store.close()
    titles = [c["title"]["text"] for c in config]
    assert titles[0] == "Unit NAV" and len(titles) == 6
    assert any("Daily volume" in t for t in titles) and any("leverage" in t for t in titles)
    nav_points = points[0]
    assert 90 * 24 - 2 <= len(nav_points) <= 90 * 24 + 1  # hourly: a year stays ~9k points a series
    volume_points = points[3]
    assert 89 <= len(volume_points) <= 91 and sum(p[1] for p in volume_points) > 0
    assert profits and "annualized return, 30 days" in status and "rebates (est., USDT)" in status
    for figure in ("unit NAV", "annualized", "profit", "rebates (est.)", "volume", "fees", "funding"):
        assert figure in summary


@pytest.mark.browser
@pytest.mark.slow
def test_ninety_day_report_opens_in_headless_chromium_with_every_chart_drawn(ninety_days, tmp_path):
    from playwright.sync_api import sync_playwright  # the test extra pins it; Chromium is Debian's
    result, _ = ninety_days
    page_html = result.report_path.read_text()
    assert "<script src=" not in page_html  # offline: the chart library is inlined
    shot = tmp_path / "report.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(result.report_path.resolve().as_uri())
        page.wait_for_selector("body[data-charts-drawn]")
        drawn = int(page.get_attribute("body", "data-charts-drawn"))
        canvases = page.locator(".chart canvas").count()
        series = page.evaluate("""() => Array.from(document.querySelectorAll('.chart')).map(el => {
            const chart = echarts.getInstanceByDom(el);
            return chart.getOption().series.map(s => (s.data || []).length); })""")
        titles = page.evaluate("""() => Array.from(document.querySelectorAll('.chart')).map(el =>
            echarts.getInstanceByDom(el).getOption().title[0].text)""")
        page.screenshot(path=str(shot), full_page=False)
        browser.close()
    assert errors == []
    assert drawn == 7 and canvases >= 7  # six strategy charts and the LogProfit curve
    assert titles[:1] == ["Unit NAV"] and titles[-1] == "Profit"
    assert all(counts and all(n > 0 for n in counts) for counts in series), series
    assert shot.stat().st_size > 50_000  # a blank page compresses to a few KB


class RecordingChart:
    """FMZ's chart handle: add appends, add(..., -1) replaces the newest point, reset clears."""

    def __init__(self):
        self.series = {}
        self.resets = 0

    def add(self, series, point, index=None):
        points = self.series.setdefault(series, [])
        if index == -1 and points:
            points[-1] = point
        else:
            points.append(point)

    def reset(self, remain=0):
        self.series = {}
        self.resets += 1


@pytest.mark.slow
def test_a_year_of_chart_points_stays_light_and_ordered():
    from hedge.accounting import Accounting, Observation
    from hedge.report import Charts

    store = {}

    def g(key, *value):
        if value:
            store.pop(key, None) if value[0] is None else store.__setitem__(key, value[0])
            return None
        return store.get(key)

    acc = Accounting(g, {"binance": Decimal(1)})
    charts = Charts(["binance", "okx"], ["BTC_USDT"])
    chart = RecordingChart()
    assert len(charts.config()) == 6
    for step in range(365 * 24 * 2):  # a look every 30 minutes for a year
        now = T0 + step * 1_800_000
        if step % 48 == 0:
            acc.record_fill("binance", Decimal(1000), Decimal("0.2"), Decimal(0), now)
        acc.observe(Observation(now, Decimal(10_000) + Decimal(step) / 100, {"BTC_USDT": Decimal(1)},
                                {"binance": Decimal(50)}, {"binance": Decimal("0.3")}))
        charts.update(chart, acc)
    nav = chart.series[charts.nav]
    assert len(nav) < 92 * 24 + 365 + 8 * 24  # hourly for the last quarter, daily before (+ a week)
    assert [p[0] for p in nav] == sorted(p[0] for p in nav)
    assert nav[-1][1] == float(acc.unit_nav)
    assert 30 <= chart.resets <= 40  # the start, then weekly after the first 97 days
    volume = chart.series[charts.volume]
    assert 364 <= len(volume) <= 366 and {p[1] for p in volume} == {1000.0}
    simple, compound = chart.series[charts.ret][-1][1], chart.series[charts.ret + 1][-1][1]
    assert 0 < simple < compound  # a rising NAV: compounding adds
    assert chart.series[charts.leverage][-1][1] == 0.3 and chart.series[charts.margin + 1][-1][1] == 0


def test_a_restarted_robot_keeps_its_accounting_and_redraws_its_charts(fake_exchange, fake_runtime):
    from hedge.app import App
    from hedge.config import parse_params
    from hedge.fmz import Api

    params = ('{"symbols": ["BTC_USDT"], "order_notional_usdt": 1000, "max_position_usdt": 2000, '
              '"open_threshold_bps": 3, "close_threshold_bps": 0, "cooldown_s": 10, "status_interval_s": 5, '
              '"fees": {"binance": {"taker_bps": 2}, "okx": {"taker_bps": 2}}}')
    binance = fake_exchange("binance", books={"BTC_USDT": (50_000.0, 50_000.5)})
    okx = fake_exchange("okx", ct_val=0.01, lot=0.1, min_qty=0.1, books={"BTC_USDT": (50_100.0, 50_100.5)})
    runtime = fake_runtime([binance, okx])
    commands = ["", "", "deposit:1000"]

    def api_for():
        chart = RecordingChart()
        ns = dict(runtime.globals(), Chart=lambda cfg: chart,
                  GetCommand=lambda: commands.pop(0) if commands else "")
        return Api.from_globals(ns), chart

    api, _ = api_for()
    app = App(api, parse_params(params))
    assert app.start()
    for _ in range(4):
        app.tick()
        runtime.Sleep(3000)
    binance.balance += 1000.0  # the declared deposit lands
    for _ in range(6):
        app.tick()
        runtime.Sleep(3000)
    before = app.accounting
    assert [f.amount for f in before.flows] == [Decimal(1000)] and sum(before.volume.values()) > 0
    assert before.rebates > 0 and app.ledger.pairs

    api, chart = api_for()  # restart: a new App over the same _G store
    again = App(api, parse_params(params))
    assert again.start()
    acc = again.accounting
    assert (acc.shares, acc.flows, acc.volume, acc.rebates, acc.contributions) == \
        (before.shares, before.flows, before.volume, before.rebates, before.contributions)
    assert chart.resets == 1 and chart.series[0][-1][1] == float(acc.unit_nav)


def test_commands_are_dispatched_by_name_and_bad_ones_say_how_to_fix_them(fake_exchange, fake_runtime):
    from hedge.app import App
    from hedge.config import parse_params
    from hedge.fmz import Api

    binance = fake_exchange("binance")
    okx = fake_exchange("okx", ct_val=0.01, lot=0.1, min_qty=0.1)
    runtime = fake_runtime([binance, okx])
    commands = ["hello", "deposit:abc", "withdraw:250"]
    api = Api.from_globals(dict(runtime.globals(), GetCommand=lambda: commands.pop(0) if commands else ""))
    app = App(api, parse_params('{"symbols": ["BTC_USDT"], "status_interval_s": 5}'))
    assert app.start()
    binance.balance -= 250.0  # the money leaves, then the user declares it (as docs/accounting.md says)
    for _ in range(4):
        app.tick()
        runtime.Sleep(1000)
    logs = [str(line) for line in runtime.logs]
    assert any("unknown command 'hello'; known: deposit, state, treasury, withdraw" in line for line in logs)
    assert any("command 'deposit:abc': the amount must be a positive number of USDT" in line for line in logs)
    [flow] = app.accounting.flows
    assert (flow.amount, flow.unit_nav, flow.shares) == (Decimal(-250), Decimal(1), Decimal(-250))
    assert app.accounting.unit_nav == 1 and app.accounting.shares == Decimal(19_750)


def test_flows_found_in_a_transfer_history_are_booked_once(fake_exchange, fake_runtime):
    from hedge.app import App
    from hedge.config import parse_params
    from hedge.fmz import Api

    binance = fake_exchange("binance")
    okx = fake_exchange("okx", ct_val=0.01, lot=0.1, min_qty=0.1)
    runtime = fake_runtime([binance, okx])
    cfg = parse_params('{"symbols": ["BTC_USDT"], "status_interval_s": 5}')
    app = App(Api.from_globals(runtime.globals()), cfg)
    history = []
    app.flow_sources.append(lambda: list(history))  # a venue's deposit history, re-read every time
    assert app.start()
    for deposit in (1000.0, 500.0):
        binance.balance += deposit
        history.append((f"binance-dep-{len(history) + 1}", Decimal(repr(deposit)), "history:binance"))
        for _ in range(3):
            app.tick()
            runtime.Sleep(3000)
    booked = [(f.id, f.amount, f.source) for f in app.accounting.flows]
    assert booked == [("binance-dep-1", Decimal(1000), "history:binance"),
                      ("binance-dep-2", Decimal(500), "history:binance")]
    assert app.accounting.unit_nav == 1 and app.accounting.shares == Decimal(21_500)


def test_a_declared_flow_that_never_happened_is_dropped_with_a_red_line(fake_exchange, fake_runtime):
    from hedge.app import App
    from hedge.config import parse_params
    from hedge.fmz import Api

    binance, okx = fake_exchange("binance"), fake_exchange("okx", ct_val=0.01, lot=0.1, min_qty=0.1)
    runtime = fake_runtime([binance, okx])
    commands = ["withdraw:15000"]  # typed, but nothing left the venues
    api = Api.from_globals(dict(runtime.globals(), GetCommand=lambda: commands.pop(0) if commands else ""))
    app = App(api, parse_params('{"symbols": ["BTC_USDT"], "status_interval_s": 5}'))
    assert app.start()
    app.tick()
    assert app.accounting.flows == [] and app.accounting.pending == []
    assert app.accounting.live.time_ms == app.now_ms and app.accounting.unit_nav == 1
    assert any("do not show in the equity" in str(line) for line in runtime.logs)


@pytest.mark.slow
def test_accounts_tab_shows_margin_leverage_distance_to_liquidation_and_next_funding(tmp_path):
    """While a pair is open, each venue's row agrees with an independent reading of the venue: margin used
    and leverage from GetPositions, the nearest cross liquidation price from the venue mechanics (the slow
    per-position formula, not the one-pass evaluation the app uses), the next settlement from GetFundings."""
    from hedge.market import fmz_pair, venue_key
    from hedge.venues import get as mechanics
    from hedge.venues.base import Account, Position, Side

    seen = []

    def hook(app, exchanges, runtime):
        if seen or not app.ledger.pairs:
            return
        app.refresh_accounts()
        app.refresh_funding()
        table = app.report.accounts_table(app.status.view())
        for exchange, row in zip(exchanges, table["rows"], strict=True):
            key = venue_key(exchange.GetName())
            venue = next(v for v in app.venues if v.key == key)
            account, raw = exchange.GetAccount(), exchange.GetPositions()
            equity = Decimal(repr(account["Equity"]))
            upnl = Decimal(repr(account["UPnL"]))
            positions = []
            for item in raw:
                symbol = fmz_pair(item["Symbol"])
                top = app.market.tops[key][symbol]
                mark = Decimal(repr((top.bid + top.ask) * 0.5))
                qty = Decimal(repr(float(item["Amount"]))) * venue.specs[symbol].ct_val
                side = Side.LONG if item["Type"] == 0 else Side.SHORT
                positions.append(Position(symbol.replace("_", ""), side, qty, Decimal(repr(item["Price"])),
                                          mark_price=mark))
            cross = Account(wallet_balance=equity - upnl, positions=tuple(positions))
            distances = [abs(p.mark - mechanics(key).liquidation_price(p, cross)) / p.mark * 100
                         for p in positions]
            notional = sum((p.qty * p.mark for p in positions), Decimal(0))
            margin = sum((Decimal(repr(float(i["Margin"]))) for i in raw), Decimal(0))
            fundings = [f for f in exchange.GetFundings() if fmz_pair(f["Symbol"]) in app.cfg.symbols]
            seen.append((row, table["cols"], min(distances), notional / equity, margin, equity,
                         min(f["Time"] for f in fundings), app.now_ms))

    _run(tmp_path, 1, hook, {**CHEAP, "open_threshold_bps": 0.5, "close_threshold_bps": -50})
    assert len(seen) == 2  # both venues held a leg of the first pair
    for row, cols, distance, leverage, margin, equity, next_ms, now_ms in seen:
        cell = dict(zip(cols, row, strict=True))
        assert Decimal(cell["equity"]) == round(equity, 2)
        assert Decimal(cell["margin used"]) == round(margin, 2) and margin > 0
        assert abs(Decimal(cell["effective leverage"].rstrip("x")) - leverage) <= Decimal("0.005")
        shown = Decimal(cell["distance to liquidation"].split(" %")[0])
        assert distance > 0 and abs(shown - distance) <= Decimal("0.005"), (cell, distance)
        when = cell["next funding"].split(" BTC_USDT ")[0]
        assert next_ms > now_ms and when == time.strftime("%m-%d %H:%M:%S", time.gmtime(next_ms // 1000))
