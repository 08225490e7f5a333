import json

from fmz_compat.report import render_report, svg_lines
from fmz_compat.store import RobotStore

RUN = {
    "robot_id": 3,
    "config": {
        "mode": "backtest",
        "strategy_path": "s.py",
        "seed": 1,
        "bindings": [{"eid": "Futures_Binance", "currency": "BTC_USDT"}],
    },
    "window": {"start_ms": 1_704_067_200_000, "end_ms": 1_704_070_800_000},
    "exit_code": 0,
    "ended_by": "backtest window ended",
    "stats": {
        "venues": {"Futures_Binance": {"trades": 2, "equity_start_usdt": 100.0, "equity_end_usdt": 110.0}},
        "totals": {"trades": 2, "equity_start_usdt": 100.0, "equity_end_usdt": 110.0},
        "max_abs_net_exposure_usdt": 0.0,
    },
}


def test_report_is_self_contained_and_shows_every_part(tmp_path):
    store = RobotStore(tmp_path / "3.db3")
    store.append_log(5, "<script>alert(1)</script>", 1_704_067_200_000, color="#ff0000")
    store.append_log(3, "GetTicker: timeout", 1_704_067_201_000, eid=0)
    for i in range(3):
        store.append_profit(1_704_067_200_000 + i * 60_000, float(i))
        store.append_chart_point(0, 1_704_067_200_000 + i, [1_704_067_200_000 + i, i * 2.0])
    store.set_chart_config({"title": {"text": "Spread chart"}, "series": [{"name": "spread"}]})
    table = {
        "type": "table",
        "title": "Positions",
        "cols": ["venue", "action"],
        "rows": [
            [{"body": "binance", "colspan": 1}, {"type": "button", "cmd": "close", "name": "Close all"}]
        ],
    }
    store.set_status("status line\n`" + json.dumps([table]) + "`")
    page = render_report(store, RUN)
    store.close()
    assert (
        "<script" not in page
        and "&lt;script&gt;" in page
        and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    assert page.count("<polyline") == 2  # the profit curve and the chart series
    assert "Spread chart" in page and "spread" in page
    assert "Positions" in page and "[Close all]" in page and "status line" in page
    assert "unit NAV</th><td>1.100000" in page and "backtest window ended" in page
    assert "color:#ff0000" in page and "class='err'" in page


def test_svg_lines_handles_empty_and_flat_series():
    assert "no points" in svg_lines([("x", [])])
    flat = svg_lines([("x", [(0, 1.0), (1, 1.0)])])
    assert "<polyline" in flat and "nan" not in flat
