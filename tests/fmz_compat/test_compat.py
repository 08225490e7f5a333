"""API behaviours that public FMZ Python strategies rely on, run through the runner.

Modelled on (not copied from) three public strategies, see docs/runtime.md:
a two-exchange hedge (fmzquant/strategies "Python 双平台对冲策略.py"), a perpetual-swap grid
(fmzquant/strategies "简易等差合约网格.md") and a multi-symbol ticker table
(fmzquant/strategies "Python版多品种追涨杀跌策略教学.md").
"""

import json
import sqlite3
import textwrap

from fmz_compat.__main__ import config_from_args
from fmz_compat.api import parse_status
from fmz_compat.runner import run
from fmz_compat.store import RobotStore


def _rows(result, sql="SELECT LogType, Extra FROM log ORDER BY Id"):
    db = sqlite3.connect(result.db_path)
    rows = db.execute(sql).fetchall()
    db.close()
    return rows


def test_hedge_style_loop_commands_globals_and_empty_order_lists(run_source):
    source = textwrap.dedent('''
        """
        Strategy description in a docstring: not a backtest header.
        """
        import time

        def cancel_all():
            for e in exchanges:
                while True:
                    n = 0
                    for order in _C(e.GetOrders):   # [] must come back at once, not be retried
                        e.CancelOrder(order.Id)
                        n += 1
                    if n == 0:
                        break

        def main():
            global MinSpreadA
            SetErrorFilter("canceled")
            LogReset()
            LogProfitReset()
            cancel_all()
            Log("Switch", exchanges[0].GetLabel(), "To", exchanges[0].IO("websocket"))
            for _ in range(3):
                Sleep(LoopInterval)
                cmd = GetCommand()
                if cmd:
                    arr = cmd.split(':')
                    if arr[0] == 'A->B':
                        MinSpreadA = float(arr[1])
                        Log("CMD", cmd, MinSpreadA)
            LogStatus('`' + json.dumps({'type': 'table', 'title': 'run', 'cols': ['spread'],
                                        'rows': [[MinSpreadA]]}) + '`')
    ''')
    result, _ = run_source(
        source, args=(("MinSpreadA", 0.51), ("LoopInterval", 200)), commands=("A->B:0.75",)
    )
    assert result.exit_code == 0
    assert (5, "Switch Futures_Binance To True") in _rows(result)
    assert (5, "CMD A->B:0.75 0.75") in _rows(result)
    store = RobotStore(result.db_path)
    assert parse_status(store.status())[0]["tables"][0]["rows"] == [[0.75]]
    store.close()


def test_grid_style_header_args_persistent_g_and_profit_curve(tmp_path, fake_world_factory):
    path = tmp_path / "grid.py"
    path.write_text(
        textwrap.dedent("""\
        '''backtest
        start: 2024-03-01 00:00:00
        end: 2024-03-01 01:00:00
        period: 1m
        exchanges: [{"eid":"Futures_Binance","currency":"BTC_USDT","balance":2500}]
        args: [["H",30],["n1",0.001],["grid",300]]
        '''
        def main():
            if _G('buyp'):
                Log('restored', _G('buyp'))
            else:
                ticker = exchange.GetTicker()
                _G('buyp', ticker["Last"] - grid)
                Log('initialised', type(H).__name__, type(n1).__name__, M)
            while True:
                account = exchange.GetAccount()
                LogProfit(account["Balance"])
                Sleep(20 * 60 * 1000)
    """)
    )
    config, source = config_from_args(
        ["backtest", str(path), "--arg", "M=20", "--quiet", "--out", str(tmp_path / "runs")]
    )
    result = run(config, world_factory=fake_world_factory, out=lambda line: None, source=source)
    assert result.exit_code == 0 and result.ended_by == "backtest window ended"
    assert _rows(result)[0] == (5, "initialised int float 20")
    assert [p for _, p in RobotStore(result.db_path).profits()] == [2500.0, 2500.0, 2500.0]
    run_json = json.loads((result.robot_dir / "run.json").read_text())
    assert run_json["window"] == {"start_ms": 1_709_251_200_000, "end_ms": 1_709_254_800_000}
    assert run_json["config"]["bindings"][0]["balance"] == 2500


def test_multi_exchange_ticker_table_in_tabs(run_source):
    source = textwrap.dedent("""
        def main():
            rows = []
            for i in range(len(exchanges)):
                ticker = _C(exchanges[i].GetTicker)
                rows.append([exchanges[i].GetName(), json.dumps(ticker)])
            acc = {"type": "table", "title": "account", "cols": ["info"], "rows": [["-"]]}
            tick = {"type": "table", "title": "ticker", "cols": ["name", "ticker"], "rows": rows}
            LogStatus(_D(), "\\n`" + json.dumps([acc, tick]) + "`")
    """)
    result, _ = run_source(source, venues=("Futures_Binance", "Futures_Bybit", "Futures_OKX"))
    store = RobotStore(result.db_path)
    blocks = parse_status(store.status())
    store.close()
    assert blocks[0]["kind"] == "text" and blocks[0]["text"].endswith("\n")  # the _D() stamp line
    assert [t["title"] for t in blocks[1]["tables"]] == ["account", "ticker"]
    assert [r[0] for r in blocks[1]["tables"][1]["rows"]] == [
        "Futures_Binance",
        "Futures_Bybit",
        "Futures_OKX",
    ]
    page = result.report_path.read_text()
    assert "<h3>account</h3>" in page and "<h3>ticker</h3>" in page


def test_loop_without_sleep_progresses_with_latency(run_source):
    source = "def main():\n    while True:\n        exchange.GetPositions()\n"
    result, _ = run_source(source, hours=0.01, latency_ms=50)
    assert result.ended_by == "backtest window ended"


def test_to_struct_converts_nested_dicts_in_order_and_leaves_its_argument_alone():
    from fmz_compat.core import Struct, to_struct

    given = {"b": 1, "a": {"y": [{"k": 2}, 3], "x": ({"t": 4},)}, "c": "s"}
    kept = repr(given)
    out = to_struct(given)
    assert repr(given) == kept and type(given["a"]) is dict  # the argument is not changed
    assert list(out) == ["b", "a", "c"] and list(out.a) == ["y", "x"]
    assert isinstance(out, Struct) and isinstance(out.a, Struct) and isinstance(out.a.y[0], Struct)
    assert isinstance(out.a.x, tuple) and isinstance(out.a.x[0], Struct)
    assert out == given and out.a.y[0].k == 2 and out.a.x[0].t == 4 and out.a.y[1] == 3
