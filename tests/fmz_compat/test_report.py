import json

from fmz_compat.report import chart_figures, render_report
from fmz_compat.run_stats import annualized
from fmz_compat.store import RobotStore

RUN = {
    "robot_id": 3,
    "config": {
        "mode": "backtest",
        "strategy_path": "s.py",
        "seed": 1,
        "bindings": [{"eid": "Futures_Binance", "currency": "BTC_USDT"}],
    },
    "window": {"start_ms": 1_704_067_200_000, "end_ms": 1_704_067_200_000 + 10 * 86_400_000},
    "exit_code": 0,
    "ended_by": "backtest window ended",
    "stats": {
        "venues": {"Futures_Binance": {"trades": 2, "equity_start_usdt": 100.0, "equity_end_usdt": 110.0}},
        "totals": {"trades": 2, "equity_start_usdt": 100.0, "equity_end_usdt": 110.0},
        "max_abs_net_exposure_usdt": 0.0,
    },
}
T0 = 1_704_067_200_000


def _store(tmp_path):
    store = RobotStore(tmp_path / "3.db3")
    store.append_log(5, "<script>alert(1)</script>", T0, color="#ff0000")
    store.append_log(3, "GetTicker: timeout", T0 + 1000, eid=0)
    for i in range(3):
        store.append_profit(T0 + i * 60_000, float(i))
    store.set_chart_config([
        {"title": {"text": "Spread chart"}, "series": [{"name": "spread"}]},
        {"title": {"text": "Volume"}, "chart": {"type": "column"},
         "plotOptions": {"column": {"stacking": "normal"}},
         "series": [{"name": "a", "type": "column"}, {"name": "b", "type": "column"}]},
    ])
    for i in range(3):
        store.append_chart_point(0, T0 + i, [T0 + i, i * 2.0])
        store.append_chart_point(1, T0 + i, [T0 + i, 1.0])
        store.append_chart_point(2, T0 + i, [T0 + i, 2.0])
    summary = {"type": "table", "title": "Summary", "cols": ["item", "value"], "rows": [["unit NAV", "1.1"]]}
    table = {
        "type": "table",
        "title": "Positions",
        "cols": ["venue", "action"],
        "rows": [
            [{"body": "binance", "colspan": 1}, {"type": "button", "cmd": "close", "name": "Close all"}]
        ],
    }
    store.set_status("status line\n`" + json.dumps([summary, table]) + "`")
    return store


def test_report_shows_summary_charts_status_and_escaped_logs(tmp_path):
    store = _store(tmp_path)
    page = render_report(store, RUN, inline_js=False)
    figures = chart_figures(store)
    store.close()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert [f["title"]["text"] for f in figures] == ["Spread chart", "Volume", "Profit"]
    assert page.count("class='chart'") == 3
    assert [s.get("stack") for s in figures[1]["series"]] == ["total", "total"]  # stacked by venue
    assert "Positions" in page and "[Close all]" in page and "status line" in page
    assert page.index("<h3>Summary</h3>") < page.index("<h2>Charts</h2>")  # the strategy's summary on top
    assert "unit NAV (equity end / start)</th><td>1.100000" in page and "backtest window ended" in page
    assert "+365.00 %" in page  # 10 % in 10 days, annualized the simple way
    assert "color:#ff0000" in page and "class='err'" in page


def test_report_inlines_the_chart_library_and_loads_nothing_from_the_network(tmp_path):
    store = _store(tmp_path)
    page = render_report(store, RUN)
    store.close()
    assert "echarts" in page and len(page) > 500_000
    assert "<script src=" not in page and "<link" not in page


def test_annualized_is_simple_and_compounded_and_needs_a_day():
    simple, compound = annualized(1.01, 36.5)
    assert abs(simple - 0.10) < 1e-12 and abs(compound - (1.01 ** 10 - 1)) < 1e-12
    assert annualized(1.01, 0.5) is None and annualized(None, 10) is None


def test_the_cards_take_the_strategys_fund_accounting_over_the_equity_ratio(tmp_path):
    store = _store(tmp_path)
    page = render_report(store, RUN, inline_js=False)
    assert "<span>equity end / start</span><b>1.100000</b>" in page  # no accounting: venues' ratio
    with_accounting = json.loads(json.dumps(RUN))
    with_accounting["stats"]["accounting"] = {"unit_nav": "1.023456", "inception_ms": T0,
                                              "time_ms": T0 + 2 * 86_400_000, "profit_usdt": "2.35"}
    page = render_report(store, with_accounting, inline_js=False)
    store.close()
    # deposits would move the venues' ratio; the strategy's unit NAV and its own days decide
    assert "<span>unit NAV</span><b>1.023456</b>" in page and "<b class='pos'>+2.35</b>" in page
    assert "<b class='pos'>+428.07 %</b>" in page  # 2.3456 % x 365 / 2 days


def test_a_profit_valued_before_the_end_says_when_beside_the_later_equity_end():
    """Two-day run of strategy.py, seed 1: the summary said "equity 30,000.00 -> 30,024.17" and "profit, after
    fees and funding +23.84" with nothing to tie them: the profit is the strategy's valuation at its last
    status (23:59:00), the equity end the simulator's at 23:59:59."""
    from fmz_compat.run_stats import summary_figures, summary_lines

    end = T0 + 2 * 86_400_000
    stats = {"window": {"start_ms": T0, "end_ms": end - 1000, "step_ms": 1000},
             "totals": {"trades": 70, "equity_start_usdt": 30_000.0, "equity_end_usdt": 30_024.165741},
             "accounting": {"unit_nav": "1.000794798035", "inception_ms": T0, "time_ms": end - 60_000,
                            "profit_usdt": "23.843941052703"}}
    lines = summary_lines(summary_figures(stats, {"start_ms": T0, "end_ms": end}))
    assert lines[1].startswith("equity 30,000.00 -> 30,024.17 USDT")
    assert lines[2].startswith("profit, after fees and funding +23.84 USDT (the strategy's valuation at its "
                               "last status, 2024-01-02 23:59:00 UTC; equity end is later)   annualized")
    stats["accounting"]["time_ms"] = end - 1000  # valued at the last step: nothing to explain
    assert "+23.84 USDT   annualized" in summary_lines(summary_figures(stats))[2]
    stats["accounting"]["time_ms"] = end - 60_000
    stats["totals"]["equity_end_usdt"] = 30_023.84  # the same figure: nothing to explain either
    assert "+23.84 USDT   annualized" in summary_lines(summary_figures(stats))[2]


def test_the_by_venue_table_names_its_columns_and_rounds_to_cents(tmp_path):
    """It showed the raw keys in alphabetical order (equity_end_usdt before equity_start_usdt) and
    9831.409247: named columns in the summary's order, USDT to two decimals."""
    run = json.loads(json.dumps(RUN))
    run["stats"]["venues"]["Futures_Binance"].update(
        {"volume_usdt": 43458.5558, "fees_usdt": 7.387954, "realized_pnl_usdt": 26.9865,
         "equity_end_usdt": 9831.409247, "liquidations": 0})
    store = _store(tmp_path)
    page = render_report(store, run, inline_js=False)
    store.close()
    table = page[page.index("<h3>By venue</h3>"):]
    table = table[:table.index("</table>")]
    heads = [h.split("</th>")[0] for h in table.split("<th>")[1:]]
    assert heads[:9] == ["venue", "trades", "volume (USDT)", "trading PnL before fees (USDT)", "fees (USDT)",
                         "equity start (USDT)", "equity end (USDT)", "liquidations", "Futures_Binance"]
    assert ">43,458.56<" in table and ">9,831.41<" in table and ">100.00<" in table


def test_the_equity_change_names_what_is_still_held_when_the_figures_above_do_not_add_up():
    """An FMZ EMA strategy (one Binance swap, a long still open at the end) printed "after fees -6.86" and
    "equity 10,000.00 -> 10,007.95" with nothing to say where +14.81 came from: the open long at its mark."""
    from fmz_compat.run_stats import summary_figures, summary_lines

    stats = {"totals": {"trades": 5, "volume_usdt": 3064.17, "fees_usdt": 0.52, "funding_usdt": 0.0,
                        "realized_pnl_usdt": -6.34, "equity_start_usdt": 10_000.0,
                        "equity_end_usdt": 10_007.95}}
    window = {"start_ms": T0, "end_ms": T0 + 86_400_000}
    line = summary_lines(summary_figures(stats, window))[1]
    assert line.startswith("equity 10,000.00 -> 10,007.95 USDT (+14.81 unrealized: positions still open, "
                           "coins held, transfers in flight)   unit NAV 1.000795")
    stats["totals"]["equity_end_usdt"] = 10_000.0 - 6.86  # all closed: the figures above add up, no note
    line = summary_lines(summary_figures(stats, window))[1]
    assert line.startswith("equity 10,000.00 -> 9,993.14 USDT   unit")
