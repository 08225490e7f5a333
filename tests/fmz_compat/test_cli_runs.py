"""Whole runs through `python -m fmz_compat` on the real simulator (fmz_compat.sim)."""

import json
import sqlite3
import textwrap

import pytest

from fmz_compat.__main__ import main

STRATEGY = textwrap.dedent("""
    def main():
        for e in exchanges:
            e.SetContractType("swap")
        n = 0
        while True:
            for i, e in enumerate(exchanges):
                t = _C(e.GetTicker)
                e.SetDirection("buy" if n % 2 == 0 else "closebuy")
                if n % 2 == 0:
                    e.Buy(-1, 0.01, "leg", i)
                else:
                    e.Sell(-1, 0.01, "leg", i)
            LogProfit(sum(_C(e.GetAccount).Equity for e in exchanges))
            n += 1
            Sleep(15 * 60 * 1000)
""")


@pytest.fixture
def strategy(tmp_path):
    path = tmp_path / "s.py"
    path.write_text(STRATEGY)
    return path


def _run(capsys, strategy, out, seed):
    argv = [
        "backtest",
        str(strategy),
        "--duration",
        "2h",
        "--seed",
        str(seed),
        "--venues",
        "binance,bybit",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    robot_dir = sorted(out.iterdir(), key=lambda p: int(p.name))[-1]
    run_json = json.loads((robot_dir / "run.json").read_text())
    db = sqlite3.connect(robot_dir / f"{robot_dir.name}.db3")
    logs = db.execute(
        "SELECT LogType, Eid, OrderId, Price, Amount, Extra, Date FROM log ORDER BY Id"
    ).fetchall()
    db.close()
    return printed, run_json, logs


def test_same_seed_same_run_different_seed_different_equity(capsys, strategy, tmp_path):
    printed, first, logs_a = _run(capsys, strategy, tmp_path / "a", seed=7)
    _, second, logs_b = _run(capsys, strategy, tmp_path / "b", seed=7)
    _, other, logs_c = _run(capsys, strategy, tmp_path / "c", seed=8)
    assert first["stats"] == second["stats"] and logs_a == logs_b
    assert first["stats"]["totals"]["trades"] == 16
    assert first["stats"]["totals"]["equity_end_usdt"] != other["stats"]["totals"]["equity_end_usdt"]
    assert [r[5] for r in logs_a if r[0] == 4] != [r[5] for r in logs_c if r[0] == 4]  # LogProfit rows
    assert "seed 7" in printed and "trades 16" in printed and "unit NAV" in printed
    assert "report.html" in printed and ".db3" in printed


def test_sigterm_runs_onexit(capsys, tmp_path):
    path = tmp_path / "t.py"
    path.write_text(
        textwrap.dedent("""
        import os, signal
        def main():
            Sleep(1000)
            os.kill(os.getpid(), signal.SIGTERM)
            Sleep(1000)
            Log("not reached")
        def onexit():
            Log("onexit after SIGTERM")
    """)
    )
    assert main(["backtest", str(path), "--duration", "1h", "--out", str(tmp_path / "r"), "--quiet"]) == 130
    db = sqlite3.connect(tmp_path / "r" / "1" / "1.db3")
    rows = [r[0] for r in db.execute("SELECT Extra FROM log ORDER BY Id")]
    assert rows[-2:] == ["robot stopping: stopped", "onexit after SIGTERM"] and "not reached" not in rows
    assert "stopped (exit 130)" in capsys.readouterr().out
