import json
import sqlite3
import sys
import textwrap

import pytest

from fmz_compat.runner import UsageError, looks_like_python2


def _logs(result):
    db = sqlite3.connect(result.db_path)
    rows = [r[0] for r in db.execute("SELECT Extra FROM log ORDER BY Id")]
    db.close()
    return rows


def test_entry_points_run_in_fmz_order_and_main_return_runs_onexit(run_source):
    result, _ = run_source(
        textwrap.dedent("""
        Log("module")
        def init():
            Log("init")
        def main():
            Log("main", exchange.GetName(), len(exchanges))
        def onexit():
            Log("onexit")
    """)
    )
    assert result.exit_code == 0 and result.ended_by == "main() returned"
    assert _logs(result) == [
        "module",
        "init",
        "main Futures_Binance 2",
        "robot stopping: main() returned",
        "onexit",
    ]


def test_eof_from_the_window_end_is_a_clean_exit(run_source):
    result, lines = run_source(
        textwrap.dedent("""
        def main():
            while True:
                exchange.GetTicker()
                Sleep(60_000)
        def onexit():
            Log("bye")
    """),
        hours=1,
    )
    assert result.exit_code == 0 and result.ended_by == "backtest window ended"
    assert _logs(result)[-1] == "bye"
    assert any("robot 1 backtest" in line for line in lines)


def test_uncaught_exception_logs_traceback_and_exits_1(run_source):
    result, _ = run_source("def main():\n    raise ValueError('boom')\n")
    assert result.exit_code == 1
    last = _logs(result)[-1]
    assert last.startswith("Traceback") and "ValueError: boom" in last and "runner.py" not in last


def test_exit_at_import_stops_cleanly(run_source):
    result, _ = run_source("Log('x')\nexit()\ndef main():\n    Log('never')\n")
    assert result.exit_code == 0 and "never" not in _logs(result)


def test_keyboard_interrupt_runs_onexit(run_source):
    result, _ = run_source(
        textwrap.dedent("""
        def main():
            raise KeyboardInterrupt
        def onexit():
            Log("cleanup")
    """)
    )
    assert result.ended_by == "stopped" and _logs(result)[-1] == "cleanup"


def test_params_and_args_become_globals(run_source):
    result, _ = run_source(
        "def main():\n    Log(type(PARAMS).__name__, json.loads(PARAMS)['x'], Interval + 1)\n",
        params='{"x": 5}',
        args=(("Interval", 499),),
    )
    assert _logs(result)[0] == "str 5 500"


def test_robot_folder_holds_db_run_json_and_report(run_source):
    result, lines = run_source(
        textwrap.dedent("""
        def main():
            c = Chart({"title": {"text": "Spread"}, "series": [{"name": "s"}]})
            while True:
                t = exchange.GetTicker()
                exchange.Buy(t.Sell, 1, "open")
                c.add(0, [t.Time, t.Last])
                LogProfit(t.Last - 100)
                LogStatus({"type": "table", "title": "Book", "cols": ["bid"], "rows": [[t.Buy]]})
                Sleep(600_000)
    """),
        hours=1,
    )
    assert result.exit_code == 0
    run_json = json.loads((result.robot_dir / "run.json").read_text())
    assert run_json["stats"]["venues"]["Futures_Binance"]["trades"] == 6
    assert run_json["config"]["seed"] == 1 and run_json["exit_code"] == 0
    page = result.report_path.read_text()
    assert "id='chart-0'" in page and "Spread" in page and "Book" in page and "echarts" in page
    summary = "\n".join(lines)
    assert "trades 6" in summary and "unit NAV 1.000300" in summary and str(result.db_path) in summary
    assert "max |net exposure| held 12.50 USDT (BTC 2024-01-01 00:00:00 UTC)" in summary


def test_each_run_gets_a_new_robot_id(run_source):
    first, _ = run_source("def main():\n    Log(_G())\n")
    second, _ = run_source("def main():\n    Log(_G())\n")
    assert (first.robot_id, second.robot_id) == (1, 2)
    assert _logs(second)[0] == "2"


def test_same_seed_gives_the_same_log(run_source):
    source = "def main():\n    while True:\n        Log(exchange.GetTicker().Last)\n        Sleep(300_000)\n"
    a, _ = run_source(source, seed=3)
    b, _ = run_source(source, seed=3)
    c, _ = run_source(source, seed=4)
    assert _logs(a) == _logs(b) != _logs(c)


def test_python2_heuristics():
    assert looks_like_python2('print "hello"\n')
    assert looks_like_python2("try:\n    pass\nexcept Exception, e:\n    pass\n")
    assert not looks_like_python2("print('hello')\n")


def test_unknown_exchange_is_a_usage_error_and_leaves_no_robot_folder(run_source, tmp_path):
    with pytest.raises(UsageError, match="'Binance' is not simulated"):
        run_source("def main():\n    pass\n", venues=("Binance",))
    assert not any((tmp_path / "runs").iterdir())


def test_paper_mode_uses_wall_time_and_ctrl_c_is_a_normal_stop(tmp_path, fake_world_factory):
    from fmz_compat.core import ExchangeBinding
    from fmz_compat.runner import RunConfig, run

    path = tmp_path / "p.py"
    path.write_text(
        textwrap.dedent("""
        def main():
            Log(IsVirtual(), Unix() > 1_700_000_000)
            Sleep(5)
            raise KeyboardInterrupt
        def onexit():
            Log("bye")
    """)
    )
    config = RunConfig(
        mode="paper",
        strategy_path=path,
        bindings=(ExchangeBinding(eid="Futures_Binance"),),
        start_ms=0,
        end_ms=None,
        out_root=tmp_path / "runs",
        quiet=True,
    )
    result = run(config, world_factory=fake_world_factory, out=lambda line: None)
    assert (result.exit_code, result.ended_by) == (0, "stopped")
    assert _logs(result) == ["False True", "robot stopping: stopped", "bye"]
    assert result.window["end_ms"] >= result.window["start_ms"] > 1_700_000_000_000


def test_time_module_follows_the_virtual_clock_in_a_backtest(run_source):
    import time as real_time

    result, _ = run_source(
        textwrap.dedent("""
        import time
        from time import time as now
        def main():
            t0 = time.time()
            time.sleep(90)
            Log(int(t0), int(now() - t0), time.time_ns() == UnixNano())
    """)
    )
    assert _logs(result)[0] == "1704067200 90 True"
    assert __import__("sys").modules["time"] is real_time


def test_progress_bar_follows_simulated_time_in_deciles_off_a_terminal():
    import io

    from fmz_compat.core import BacktestClock
    from fmz_compat.progress import ProgressBar

    start_ms, end_ms = 1_704_067_200_000, 1_704_067_200_000 + 100_000
    clock = BacktestClock(start_ms * 1_000_000, end_ms * 1_000_000)
    out = io.StringIO()
    bar = ProgressBar(clock, start_ms, end_ms, stream=out)
    for _ in range(3):
        clock.sleep(26_000)
        bar.draw()
        bar.draw()  # the same decile is not printed twice
    clock.advance(22_000 * 1_000_000)  # to the window's end
    bar.draw(final=True)
    lines = out.getvalue().splitlines()
    assert [line.split("]")[1].split("%")[0].strip() for line in lines] == ["26.0", "52.0", "78.0", "100.0"]
    assert lines[-1].startswith("[" + "#" * ProgressBar.WIDTH + "]") and "\r" not in out.getvalue()


def test_pairs_listed_in_the_parameter_are_simulated(tmp_path):
    from fmz_compat.__main__ import main

    strategy = tmp_path / "s.py"
    strategy.write_text(textwrap.dedent("""
        def main():
            ticker = exchange.GetTicker("SOL_USDT.swap")
            Log("SOL listed:", ticker is not None and ticker.Last > 0)
    """), encoding="utf-8")
    code = main(["backtest", str(strategy), "--params", '{"symbols": ["BTC_USDT", "SOL_USDT"]}',
                 "--duration", "1h", "--venues", "binance,okx", "--out", str(tmp_path / "runs"), "--quiet"])
    assert code == 0
    db = sqlite3.connect(next((tmp_path / "runs").glob("*/*.db3")))
    assert ("SOL listed: True",) in db.execute("SELECT Extra FROM log").fetchall()
    db.close()


def test_the_summary_names_a_python_the_user_can_type(tmp_path, monkeypatch):
    """tools/demo.sh runs .venv/bin/python; the summary said `page  python -m fmz_compat dashboard runs/1`,
    and a fresh Debian has no `python` command (and a python on PATH may lack the packages)."""
    from fmz_compat.runner import python_command

    venv_python = tmp_path / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(venv_python))
    monkeypatch.chdir(tmp_path)
    assert python_command() == ".venv/bin/python"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert python_command() == str(venv_python)  # elsewhere, and no `python` on PATH: the full path
    monkeypatch.setenv("PATH", str(venv_python.parent))
    assert python_command() == "python"  # the `python` on PATH is this one
