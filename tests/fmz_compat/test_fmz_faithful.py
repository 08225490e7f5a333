"""Issue #20: other people's FMZ strategies run unchanged. Each test is a whole run through
`python -m fmz_compat backtest FILE` (fmz_compat.__main__.main) on the real simulator."""

from __future__ import annotations

import json
import os
import sqlite3
import textwrap
from pathlib import Path

import pytest

from fmz_compat.__main__ import main


def _write(tmp_path: Path, source: str, name: str = "s.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _run(tmp_path: Path, strategy: Path, *extra: str) -> tuple[int, list[str], dict]:
    """Exit code, the robot's log lines (oldest first) and its run.json."""
    out = tmp_path / "runs"
    code = main(["backtest", str(strategy), "--duration", "1h", "--venues", "binance", "--out", str(out),
                 "--quiet", *extra])
    robot_dir = sorted(out.iterdir(), key=lambda p: int(p.name))[-1]
    db = sqlite3.connect(robot_dir / f"{robot_dir.name}.db3")
    logs = [row[0] for row in db.execute("SELECT Extra FROM log ORDER BY Id")]
    db.close()
    return code, logs, json.loads((robot_dir / "run.json").read_text())


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


ECHO_ARGS = """
    def main():
        Log("args", Interval, Mode, Name, Flag)
"""


@pytest.mark.parametrize("document", [
    {"Interval": 250, "Mode": 2, "Name": "grid", "Flag": True},
    [["Interval", 250], ["Mode", 2], ["Name", "grid"], ["Flag", True]],  # FMZ's args table
    {"name": "robot", "args": [["Interval", 250], ["Mode", 2], ["Name", "grid"], ["Flag", True]]},
    {"args": json.dumps([["Interval", 250], ["Mode", 2], ["Name", "grid"], ["Flag", True]])},
])
def test_args_file_makes_each_argument_a_global(tmp_path, document):
    strategy = _write(tmp_path, ECHO_ARGS)
    args = tmp_path / "args.json"
    args.write_text(json.dumps(document))
    code, logs, run_json = _run(tmp_path, strategy, "--args", str(args))
    assert code == 0
    assert "args 250 2 grid True" in logs


def test_arg_flag_overrides_the_args_file_which_overrides_the_header(tmp_path):
    strategy = _write(tmp_path, '''\
        """backtest
        args: [["Interval", 1], ["Mode", 1], ["Name", "header"], ["Flag", false]]
        """
        def main():
            Log("args", Interval, Mode, Name, Flag)
        ''')
    args = tmp_path / "args.json"
    args.write_text('{"Mode": 7, "Name": "file"}')
    code, logs, _ = _run(tmp_path, strategy, "--args", str(args), "--arg", "Name=flag")
    assert code == 0 and "args 1 7 flag False" in logs


@pytest.mark.parametrize("content, expected", [
    ("{oops", "is not valid JSON"),
    ('[["Interval", 1, 2]]', "expected [\"Name\", value]"),
    ('{"bad name": 1}', "is not a Python identifier"),
    ('"text"', "expected a JSON object"),
])
def test_bad_args_file_is_one_line(capsys, tmp_path, content, expected):
    strategy = _write(tmp_path, ECHO_ARGS)
    args = tmp_path / "args.json"
    args.write_text(content)
    assert expected in _one_line_error(capsys, ["backtest", str(strategy), "--args", str(args)])
    assert "file not found" in _one_line_error(capsys, ["backtest", str(strategy), "--args",
                                                        str(tmp_path / "none.json")])


def test_help_tells_args_from_params(capsys):
    with pytest.raises(SystemExit):
        main(["backtest", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--params PARAMS this project's PARAMS global" in text
    assert "--args FILE FMZ strategy arguments, each its own global" in text


# --- item 3: Python 2 and missing modules: one line, never a traceback ---

@pytest.mark.parametrize("first_line", ["#!python2", "#!/usr/bin/python2.7", "#!/usr/bin/env python2"])
def test_python2_shebang_is_honoured_even_when_the_file_compiles_under_3(capsys, tmp_path, first_line):
    # FMZ's syntax guide: the first line picks the interpreter (#!python2 / #!python3). This file
    # compiles under Python 3 but would divide differently (3 / 2 == 1 under Python 2).
    strategy = _write(tmp_path, f"{first_line}\ndef main():\n    Log(3 / 2)\n")
    line = _one_line_error(capsys, ["backtest", str(strategy), "--out", str(tmp_path / "runs")])
    assert "is a Python 2 strategy (line 1: #!" in line and "port it" in line
    assert not (tmp_path / "runs").exists()  # refused before a robot is made


def test_python3_shebang_runs(tmp_path):
    strategy = _write(tmp_path, "#!python3\ndef main():\n    Log('half', 3 / 2)\n")
    code, logs, _ = _run(tmp_path, strategy)
    assert code == 0 and "half 1.5" in logs


@pytest.mark.parametrize("statement", ["import urllib2", "from urlparse import urljoin",
                                       "import Queue, json", "import cPickle as pickle"])
def test_python2_only_module_gets_the_python2_line(capsys, tmp_path, statement):
    strategy = _write(tmp_path, f"import json\n{statement}\ndef main():\n    pass\n")
    line = _one_line_error(capsys, ["backtest", str(strategy)])
    assert "is a Python 2 strategy (line 2: import " in line


def test_python2_module_imported_inside_a_function_gets_the_same_line(capsys, tmp_path):
    strategy = _write(tmp_path, "def main():\n    import urllib2\n    urllib2.urlopen('x')\n")
    assert "is a Python 2 strategy (line 2: import urllib2)" in _one_line_error(capsys, ["backtest",
                                                                                         str(strategy)])


def test_missing_module_names_it_and_the_install_command(capsys, tmp_path):
    strategy = _write(tmp_path, "import json\nimport sklearn_not_here\ndef main():\n    pass\n")
    line = _one_line_error(capsys, ["backtest", str(strategy)])
    assert "imports sklearn_not_here (line 2), which is not installed" in line
    assert "-m pip install sklearn-not-here" in line


def test_guarded_import_and_local_module_are_left_to_the_strategy(tmp_path):
    (tmp_path / "helper_mod.py").write_text("VALUE = 42\n")
    strategy = _write(tmp_path, """
        try:
            import urllib2
        except ImportError:
            import urllib.request as urllib2
        import helper_mod
        def main():
            Log("ok", helper_mod.VALUE, urllib2.__name__)
        """)
    code, logs, _ = _run(tmp_path, strategy)
    assert code == 0 and "ok 42 urllib.request" in logs


def test_dynamic_import_of_a_missing_module_ends_the_run_with_one_line(capsys, tmp_path):
    strategy = _write(tmp_path, "def main():\n    __import__('absent_pkg_xyz')\n")
    code, logs, run_json = _run(tmp_path, strategy)
    assert code == 2 and run_json["ended_by"] == "module absent_pkg_xyz not installed"
    assert any("imports absent_pkg_xyz, which is not installed" in line for line in logs)
    assert not any("Traceback" in line for line in logs)
    printed = capsys.readouterr().out
    assert "imports absent_pkg_xyz, which is not installed" in printed


# --- item 5: semantics as FMZ's backtester has them ---

def test_get_trades_ids_are_numbers(tmp_path):
    # FMZ's backtester (fmzquant/backtest_python fmz.py, struct _TRADE) declares Trade.Id c_ulonglong
    strategy = _write(tmp_path, """
        def main():
            exchange.SetContractType("swap")
            trades = exchange.GetTrades()
            Log("trade id", type(trades[0].Id).__name__, trades[1].Id - trades[0].Id)
        """)
    code, logs, _ = _run(tmp_path, strategy)
    assert code == 0 and "trade id int 1" in logs


def test_io_currency_to_a_pair_not_declared_works(tmp_path):
    strategy = _write(tmp_path, """
        def main():
            exchange.SetContractType("swap")
            exchange.IO("currency", "XRP_USDT")
            ticker = exchange.GetTicker()
            Log("pair", exchange.GetCurrency(), ticker is not None and ticker.Last > 0)
        """)
    code, logs, run_json = _run(tmp_path, strategy)
    assert code == 0 and "pair XRP_USDT True" in logs
    assert "XRP_USDT" in run_json["config"]["symbols"]


def test_pair_named_only_in_an_argument_is_listed(tmp_path):
    strategy = _write(tmp_path, """
        def main():
            exchange.SetContractType("swap")
            for pair in Coins.split(","):
                exchange.SetCurrency(pair)
                Log("listed", pair, exchange.GetTicker() is not None)
        """)
    code, logs, _ = _run(tmp_path, strategy, "--arg", "Coins=SOL_USDT,DOGE_USDT")
    assert code == 0 and "listed SOL_USDT True" in logs and "listed DOGE_USDT True" in logs


def test_header_period_sets_the_default_get_records_period(tmp_path):
    strategy = _write(tmp_path, '''\
        """backtest
        start: 2024-03-01 00:00:00
        end: 2024-03-02 00:00:00
        period: 15m
        """
        def main():
            exchange.SetContractType("swap")
            Sleep(6 * 3600 * 1000)
            r = exchange.GetRecords()
            Log("bar ms", r[-1].Time - r[-2].Time, exchange.GetPeriod())
        ''')
    code, logs, _ = _run(tmp_path, strategy, "--duration", "1d")
    assert code == 0 and "bar ms 900000 900" in logs


def test_datetime_now_and_utcnow_follow_the_backtest_clock(tmp_path):
    strategy = _write(tmp_path, '''\
        import datetime
        from datetime import datetime as dt, date
        import time
        def main():
            Sleep(1800 * 1000)
            Log("utc", datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
                dt.utcnow().strftime("%Y-%m-%d %H:%M"), date.today().year, datetime.datetime.now().year,
                time.strftime("%Y"), int(dt.now().timestamp()) == int(time.time()) == Unix())
            real = dt.__mro__[1]  # the real datetime.datetime, as a library would hand one back
            Log("types", isinstance(real(2020, 1, 1), dt), isinstance(real(2020, 1, 1), datetime.datetime),
                isinstance(dt.now(), date), issubclass(real, datetime.datetime))
        ''')
    code, logs, _ = _run(tmp_path, strategy, "--start", "2021-03-04 05:00:00")
    assert code == 0 and "utc 2021-03-04 05:30 2021-03-04 05:30 2021 2021 2021 True" in logs
    assert "types True True True True" in logs


def test_get_command_moves_virtual_time_with_latency(tmp_path):
    strategy = _write(tmp_path, """
        def main():
            n = 0
            while True:
                GetCommand()
                n += 1
                _G("polls", n)
                if n > 100000:
                    Log("virtual time stood still")
                    return
        """)
    code, logs, run_json = _run(tmp_path, strategy, "--duration", "1m", "--latency", "100")
    assert code == 0 and "virtual time stood still" not in logs
    assert run_json["ended_by"] == "backtest window ended"


def test_strategy_exception_deriving_from_base_exception_ends_with_traceback_and_report(tmp_path):
    strategy = _write(tmp_path, """
        class Halt(BaseException):
            pass
        def main():
            Log("before")
            raise Halt("risk limit")
        """)
    code, logs, run_json = _run(tmp_path, strategy)
    assert code == 1 and run_json["ended_by"] == "uncaught exception"
    assert any("Halt: risk limit" in line for line in logs)
    assert (tmp_path / "runs" / "1" / "report.html").is_file()


@pytest.mark.parametrize("handler", ["except:\n                    pass",
                                     "except Exception as e:\n                    Log('error', e)",
                                     "except BaseException:\n                    continue"])
def test_bare_except_swallowing_the_end_still_ends_the_run(tmp_path, handler):
    strategy = _write(tmp_path, f"""
        def main():
            exchange.SetContractType("swap")
            n = 0
            while True:
                n += 1
                if n > 5000:  # the old runtime spun here forever
                    Log("spun")
                    return
                try:
                    exchange.GetTicker()
                    Sleep(60 * 1000)
                {handler}
        def onexit():
            Log("onexit ran")
        """)
    code, logs, run_json = _run(tmp_path, strategy)
    assert code == 0
    assert run_json["ended_by"].startswith("backtest window ended (the strategy caught the stop and went on")
    assert logs[-1] == "onexit ran" and any(line.startswith("robot stopping: backtest window ended")
                                            for line in logs)
    assert (tmp_path / "runs" / "1" / "report.html").is_file()


def test_exchange_id_the_simulator_lacks_is_named(capsys, tmp_path):
    strategy = _write(tmp_path, '''\
        """backtest
        exchanges: [{"eid":"Futures_CTP","currency":"FUTURES"}]
        """
        def main():
            pass
        ''')
    line = _one_line_error(capsys, ["backtest", str(strategy), "--out", str(tmp_path / "runs")])
    assert "exchange 'Futures_CTP' is not simulated" in line


# --- item 2: the scientific stack of FMZ's hosts ---

def test_talib_is_injected_and_records_columns_are_numpy_float_arrays(tmp_path):
    strategy = _write(tmp_path, """
        import numpy as np
        import pandas as pd
        def main():
            exchange.SetContractType("swap")
            r = exchange.GetRecords(PERIOD_M15)
            close = r.Close
            sma = talib.SMA(close, 20)  # talib refuses lists: it needs a float64 array
            frame = pd.DataFrame(r)
            Log("stack", type(close).__name__, close.dtype, len(sma) == len(r), np.isnan(sma[0]),
                abs(sma[-1] - frame["Close"][-20:].mean()) < 1e-6, r.Time.dtype,
                TA.MA(r.Close, 5)[-1] is not None)
        """)
    code, logs, _ = _run(tmp_path, strategy)
    assert code == 0 and "stack ndarray float64 True True True float64 True" in logs


def test_a_strategy_that_never_names_talib_runs_without_importing_it(tmp_path):
    """TA-Lib brings numpy and pandas (~60 MB, ~1 s): our strategy.py never uses it, so it is not imported."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    script = textwrap.dedent(f"""
        import sys
        from fmz_compat.__main__ import main
        code = main(["backtest", {str(root / "strategy.py")!r}, "--duration", "1h", "--seed", "7",
                     "--venues", "binance,okx", "--quiet", "--out", {str(tmp_path / "runs")!r}])
        print("exit", code, sorted(m for m in ("talib", "numpy", "pandas") if m in sys.modules))
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=120)
    assert "exit 0 []" in done.stdout.splitlines(), done.stdout + done.stderr


def test_a_strategy_reaching_talib_without_naming_it_is_told_in_one_line(tmp_path):
    strategy = _write(tmp_path, """
        def main():
            getattr(globals()["ta" + "lib"], "SMA")
        """)
    code, logs, _ = _run(tmp_path, strategy)
    assert code == 1
    assert any("talib.SMA: talib is loaded only for a strategy or template whose source names it" in line
               and "add `import talib` to the strategy" in line for line in logs), logs


def test_a_template_naming_talib_gets_the_real_module(tmp_path):
    template = _write(tmp_path, """
        def Sma(records, period):
            return talib.SMA(records.Close, period)
        ext.Sma = Sma
        """, "ta_lib_template.py")
    strategy = _write(tmp_path, """
        def main():
            exchange.SetContractType("swap")
            r = exchange.GetRecords(PERIOD_M15)
            sma = ext.Sma(r, 3)
            Log("sma", abs(sma[-1] - sum(r.Close[-3:]) / 3) < 1e-9, len(sma) == len(r))
        """)
    code, logs, _ = _run(tmp_path, strategy, "--template", str(template))
    assert code == 0 and "sma True True" in logs, logs


def test_without_talib_its_first_use_names_the_install(monkeypatch):
    import builtins

    from fmz_compat import api

    real_import = builtins.__import__

    def no_talib(name, *args, **kwargs):
        if name == "talib":
            raise ImportError("No module named 'talib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_talib)
    missing = api._talib()
    with pytest.raises(ImportError, match=r"talib.SMA: TA-Lib is not installed: .* -m pip install ta-lib"):
        missing.SMA([1.0, 2.0], 2)


# --- item 4: template libraries ---

TEMPLATE = '''\
"""backtest
args: [["SlipTicks", 2]]
"""
calls = []


def Buy(amount):
    exchange.SetContractType("swap")
    exchange.SetDirection("buy")
    ticker = _C(exchange.GetTicker)
    calls.append(amount)
    return exchange.Buy(ticker.Sell + SlipTicks * 0.1, amount, "by template")


def Count():
    return len(calls)


def init():
    Log("template init", SlipTicks)


ext.Buy = Buy
ext.Count = Count
'''


def test_template_exports_functions_on_ext(tmp_path):
    template = _write(tmp_path, TEMPLATE, "trade_lib.py")
    strategy = _write(tmp_path, """
        Log("module code sees", callable(ext.Buy))
        def init():
            Log("strategy init")
        def main():
            order_id = ext.Buy(0.01)
            Log("bought", order_id is not None, ext.Count())
        """)
    code, logs, run_json = _run(tmp_path, strategy, "--template", str(template), "--arg", "SlipTicks=5")
    assert code == 0
    assert logs.index("module code sees True") < logs.index("template init 5") < logs.index("strategy init")
    assert "bought True 1" in logs and any("by template" in line for line in logs)
    assert run_json["config"]["templates"] == [str(template)]


def test_template_header_args_are_defaults_and_bad_template_is_one_line(capsys, tmp_path):
    template = _write(tmp_path, TEMPLATE, "trade_lib.py")
    strategy = _write(tmp_path, "def main():\n    Log('slip', SlipTicks)\n")
    code, logs, _ = _run(tmp_path, strategy, "--template", str(template))
    assert code == 0 and "slip 2" in logs
    capsys.readouterr()
    py2 = _write(tmp_path, "#!python2\next.X = 1\n", "old_lib.py")
    assert "old_lib.py is a Python 2 strategy" in _one_line_error(
        capsys, ["backtest", str(strategy), "--template", str(py2)])
    assert "not found" in _one_line_error(capsys, ["backtest", str(strategy), "--template",
                                                   str(tmp_path / "none.py")])


# --- item 8: KLineChart draws on the robot page ---

def test_kline_chart_draws_candles_plots_and_signals_on_the_robot_page(tmp_path):
    import urllib.request

    from fmz_compat.dashboard.server import DashboardConfig, DashboardServer

    # the calls of FMZ's KLineChart example (syntax guide: begin / plot / hline / plotshape / signal / close)
    strategy = _write(tmp_path, """
        def main():
            exchange.SetContractType("swap")
            c = KLineChart({"overlay": True})
            r = exchange.GetRecords(PERIOD_M5)[-30:]
            ma = TA.MA(r, 5)
            for i, bar in enumerate(r):
                c.begin(bar)
                c.plot(ma[i], "ma5")
                c.plot(bar.Close - bar.Open, "body", overlay=False)
                c.hline(bar.Close, "last", overlay=False)
                c.plotshape(bar.Close > bar.Open, style="triangleup", location="belowbar")
                if i == 20:
                    c.signal("buy", bar.Close, 1)
                c.close()
            c.begin(r[-1])
            c.close()  # the forming bar again: replaced, not appended
        """)
    code, _logs, _ = _run(tmp_path, strategy)
    assert code == 0
    server = DashboardServer(DashboardConfig(port=0), out=lambda line: None)
    server.open_folder(tmp_path / "runs" / "1")
    server.start()
    try:
        with urllib.request.urlopen(server.url.rstrip("/") + "/api/charts", timeout=10) as response:
            figure = json.loads(response.read())["figures"][0]
    finally:
        server.stop()
    by_name = {s["name"]: s for s in figure["series"]}
    candles = figure["series"][0]
    assert candles["type"] == "candlestick" and len(candles["data"]) == 30
    assert len({row[0] for row in candles["data"]}) == 30
    ma5 = by_name["ma5"]["data"]  # plot(None) draws nothing on that bar, as FMZ's
    assert by_name["ma5"]["xAxisIndex"] == 0 and 20 <= len(ma5) < 30 and all(y is not None for _x, y in ma5)
    assert ma5[-1][0] == candles["data"][-2][0]  # the re-closed last bar replaced its point, plots and all
    assert by_name["body"]["xAxisIndex"] == 1 and len(figure["grid"]) == 2
    assert by_name["body"]["markLine"]["data"][0]["name"] == "last"
    assert [p["value"] for p in candles["markPoint"]["data"]] == ["long 1"]
    assert by_name["shapes"]["type"] == "scatter" and by_name["shapes"]["data"]


# --- item 6: prices at the window's date ---

FOLLOW = """
    def main():
        exchange.SetContractType("swap")
        while True:
            t = exchange.GetTicker()
            Log("px", Unix() * 1000, t.Last)
            Sleep(8 * 3600 * 1000)
"""


def _closes(coin: str) -> dict[int, float]:
    from fmz_compat.sim.history import DATA_8H

    lines = DATA_8H.read_text().splitlines()[1:]
    column = {"BTC": 3, "ETH": 6}[coin]  # time,BTC_high,BTC_low,BTC_close,ETH_high,ETH_low,ETH_close
    return {int(row.split(",")[0]): float(row.split(",")[column]) for row in lines}


@pytest.mark.slow
def test_btc_follows_the_real_8_hour_closes_inside_the_data(tmp_path):
    # the closes come from ../shared/data/xex_8h_perps_2023_2024 (Binance BTCUSDT perpetual), a source
    # we did not write; 2024-03-01 00:00 UTC is one of its close times
    strategy = _write(tmp_path, FOLLOW)
    code, logs, run_json = _run(tmp_path, strategy, "--start", "2024-03-01 00:00:00", "--duration", "4d")
    assert code == 0
    real = _closes("BTC")
    rows = [line.split() for line in logs if line.startswith("px")]
    seen = [(int(float(ms)), float(px)) for _tag, ms, px in rows]
    assert len(seen) == 12
    assert abs(seen[0][1] / real[seen[0][0]] - 1) < 0.005  # the start level is the real close
    worst = max(abs(px / real[ms] - 1) for ms, px in seen)
    assert worst < 0.003, worst  # at the real close at every close, up to the venue's basis
    assert real[seen[-1][0]] / real[seen[0][0]] - 1 > 0.05  # BTC rose >5% those days: the path moved with it


def test_window_before_the_8_hour_data_starts_at_the_month_end_level_and_says_so(tmp_path, capsys):
    strategy = _write(tmp_path, "def main():\n    exchange.SetContractType('swap')\n"
                                "    Log('px', exchange.GetTicker().Last)\n")
    code, logs, _ = _run(tmp_path, strategy, "--start", "2019-07-01")
    price = float(next(line for line in logs if line.startswith("px")).split()[1])
    assert code == 0 and 10_000 < price < 11_600  # month-end closes 10,817 (June) and 10,086 (July) 2019
    printed = capsys.readouterr().out
    assert "prices  BTC: starts at 10,817 from month-end closes" in printed
    code, logs, _ = _run(tmp_path, strategy, "--start", "2019-07-01", "--synthetic-prices")
    assert float(next(line for line in logs if line.startswith("px")).split()[1]) > 40_000


def test_spot_header_exchange_without_stocks_gets_fmzs_three_coins(tmp_path):
    # fmzquant/backtest_python fmz.py parseTask: "Stocks": e.get('stocks', 3.0)
    strategy = _write(tmp_path, '''\
        """backtest
        start: 2024-01-01 00:00:00
        end: 2024-01-01 01:00:00
        exchanges: [{"eid":"Binance","currency":"BTC_USDT"},{"eid":"OKX","currency":"ETH_USDT","stocks":0.5}]
        """
        def main():
            Log("stocks", exchanges[0].GetAccount().Stocks, exchanges[1].GetAccount().Stocks)
        ''')
    out = tmp_path / "runs"
    assert main(["backtest", str(strategy), "--out", str(out), "--quiet"]) == 0
    db = sqlite3.connect(out / "1" / "1.db3")
    assert ("stocks 3.0 0.5",) in db.execute("SELECT Extra FROM log").fetchall()
    db.close()


def test_sigterm_swallowed_by_bare_except_in_paper_still_stops_and_onexit_can_use_the_api(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    strategy = _write(tmp_path, """
        def main():
            Log("started")
            while True:
                try:
                    exchange.GetTicker()
                    Sleep(100)
                except:
                    pass
        def onexit():
            Log("onexit account", exchange.GetAccount() is not None)
        """)
    out = tmp_path / "runs"
    argv = [sys.executable, "-m", "fmz_compat", "paper", str(strategy), "--venues", "Binance",
            "--out", str(out), "--quiet"]
    proc = subprocess.Popen(argv, env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            db_path = out / "1" / "1.db3"
            if db_path.is_file():
                db = sqlite3.connect(db_path)
                try:
                    if db.execute("SELECT 1 FROM log WHERE Extra = 'started'").fetchall():
                        break
                except sqlite3.OperationalError:
                    pass
                finally:
                    db.close()
            time.sleep(0.2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    run_json = json.loads((out / "1" / "run.json").read_text())
    assert run_json["ended_by"].startswith("stopped (the strategy caught the stop and went on")
    db = sqlite3.connect(out / "1" / "1.db3")
    logs = [row[0] for row in db.execute("SELECT Extra FROM log ORDER BY Id")]
    db.close()
    assert logs[-1] == "onexit account True"


def test_a_computed_pair_of_a_known_coin_is_listed_when_asked(tmp_path):
    # FMZ's backtester loads a requested pair's data (syntax guide, exchange.GetTickers); the pair gets the
    # market --symbols would have given it (tests/fmz_compat/test_runtime_pairs.py checks it hours in)
    strategy = _write(tmp_path, """
        def main():
            exchange.SetContractType("swap")
            exchange.IO("currency", "ADA" + "_" + "USDT")
            Log("ticker", exchange.GetTicker().Last)
        """)
    code, asked, _ = _run(tmp_path, strategy)
    code_listed, listed, _ = _run(tmp_path, strategy, "--symbols", "BTC_USDT,ADA_USDT")
    assert code == code_listed == 0
    assert [line for line in asked if line.startswith("ticker")] == [
        line for line in listed if line.startswith("ticker")]
    assert not any("ADA_USDT" in line and "listed" in line for line in asked)


def test_pairs_built_from_coin_names_are_listed(tmp_path):
    strategy = _write(tmp_path, """
        def main():
            exchange.SetContractType("swap")
            for coin in ["SOL", "DOGE"] + Extra.split(","):
                exchange.IO("currency", coin + "_USDT")
                Log("listed", coin, exchange.GetTicker() is not None)
        """)
    code, logs, _ = _run(tmp_path, strategy, "--arg", "Extra=LINK")
    assert code == 0
    assert {"listed SOL True", "listed DOGE True", "listed LINK True"} <= set(logs)
