"""Issue #22, the smaller items a new user met: each with the behaviour the user now sees."""

from __future__ import annotations

import json
import textwrap
import urllib.request

import fmz_compat.runner as runner_module
from fmz_compat.__main__ import main
from fmz_compat.dashboard.server import DashboardConfig, DashboardServer
from fmz_compat.sim.params import invented_note

QUIET = textwrap.dedent("""
    def main():
        while True:
            Sleep(60_000)
""")


def test_an_unknown_coin_is_said_to_run_on_an_invented_market(tmp_path, capsys):
    assert invented_note(["BTC_USDT", "SOL_USDT"]) == []  # calibrated, or a known start price
    strategy = tmp_path / "s.py"
    strategy.write_text(QUIET)
    assert main(["backtest", str(strategy), "--duration", "1h", "--symbols", "FOO_USDT,BTC_USDT", "--quiet",
                 "--out", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    note = next(line for line in out.splitlines() if line.startswith("note    FOO_USDT"))
    assert "no real market known for this coin; the simulator invents one" in note and "BTC" not in note


def test_the_page_of_a_run_in_progress_names_the_robot_and_its_venues(tmp_path, monkeypatch):
    """The page of a folder whose robot still runs (no run.json yet) showed 'Robot 1' and venues as #0."""
    strategy = tmp_path / "s.py"
    strategy.write_text(QUIET)
    seen: dict = {}

    def looking(config, source, g, runtime, result=None):  # the page, opened while the robot runs
        server = DashboardServer(DashboardConfig(port=0), out=lambda line: None)
        server.open_folder(tmp_path / "runs" / "1")
        server.start()
        try:
            with urllib.request.urlopen(server.url + "api/state", timeout=10) as answer:
                seen.update(json.loads(answer.read()))
        finally:
            server.stop()
        return 0, "looked"

    monkeypatch.setattr(runner_module, "_run_entry_points", looking)
    assert main(["paper", str(strategy), "--venues", "okx,bybit", "--out", str(tmp_path / "runs"),
                 "--quiet"]) == 0
    assert seen["state"] == "running" and seen["robot_id"] == 1
    assert seen["strategy"] == "s.py" and seen["mode"] == "paper"
    assert seen["venues"] == ["Futures_OKX", "Futures_Bybit"]
