"""Issue #22: one run, one value and one name per figure, wherever it is shown.

A fixed run (strategy.py, seed 1, two simulated days) is read back from the four places a user reads it:
the run summary (stdout), report.html, the robot page (the strategy's Summary status table, as the
dashboard's /api/status serves it) and the fee statement (tools.settle). Before, one run said "realized
PnL 18.68" in report.html, "trading PnL before costs 18.68" in the summary and "realized +10.43" in the
strategy's line; annualized a one-day run in the summary while the strategy said "under a day"; and showed
4.79 USDT of net exposure (one leg filled, the other not yet) where the strategy measured 0.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from contextlib import redirect_stdout
from decimal import Decimal
from pathlib import Path

import pytest

from fmz_compat.__main__ import config_from_args
from fmz_compat.dashboard.reader import RobotReader
from fmz_compat.run_stats import summary_figures
from fmz_compat.runner import run
from hedge import figures
from tools import settle

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fixed_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    config, source = config_from_args(["backtest", str(ROOT / "strategy.py"), "--duration", "2d",
                                       "--seed", "1", "--quiet", "--out", str(out)])
    lines: list[str] = []
    result = run(config, source=source, out=lines.append)
    assert result.exit_code == 0
    summary = "\n".join(lines)
    page = html.unescape(result.report_path.read_text(encoding="utf-8"))
    blocks = RobotReader(result.db_path).status()["blocks"]
    tables = [t for b in blocks if b.get("kind") == "tables" for t in b["tables"]]
    table = next(t for t in tables if t["title"] == "Summary")
    robot_page = {str(row[0]): str(row[1]) for row in table["rows"]}
    return result, summary, page, robot_page


def _row(page: str, label: str) -> str:
    """The value beside `label` in report.html's run table."""
    found = re.search(re.escape(f"<th>{label}</th><td>") + r"([^<]*)</td>", page)
    assert found, label
    return found.group(1).strip()


@pytest.mark.slow
def test_every_place_shows_the_same_value_under_the_same_name(fixed_run):
    result, summary, page, robot_page = fixed_run
    f = summary_figures(result.stats, result.window)
    label = figures.LABELS
    assert f["trades"] > 0 and f["unit_nav_source"] == "the strategy's fund accounting"

    before = figures.usdt(f["pnl_before_fees_usdt"], signed=True)
    after = figures.usdt(f["pnl_after_fees_usdt"], signed=True)
    fees = figures.usdt(f["fees_usdt"])
    # trading PnL before fees: the venues' realized PnL = the strategy's spread captured, one name
    assert f"trading PnL before fees {before}" in summary
    assert _row(page, label["pnl_before_fees"]) == before
    assert robot_page[label["pnl_before_fees"]] == before
    # after fees: before - fees, everywhere, under one name
    assert f["pnl_after_fees_usdt"] == pytest.approx(f["pnl_before_fees_usdt"] - f["fees_usdt"])
    assert f"after fees {after}" in summary and _row(page, label["pnl_after_fees"]) == after
    assert robot_page[label["pnl_after_fees"]] == after
    assert robot_page[label["fees"]] == fees == _row(page, label["fees"])

    # unit NAV and the annualized return: the strategy's accounting, one rounding
    nav = f"{Decimal(f['unit_nav']):.6f}"
    assert robot_page["unit NAV"] == nav and f"unit NAV {nav}" in summary
    assert f"<span>unit NAV</span><b>{nav}</b>" in page
    annual = figures.annualized_text(f["annualized"])
    assert f["annualized"] is not None and f["days"] >= 1
    assert robot_page["annualized return, since inception"] == annual
    assert f"annualized return {annual}" in summary and _row(page, label["annualized"]) == annual
    assert figures.pct(f["annualized"][1]) in page  # the compounded card
    profit = figures.usdt(f["profit_usdt"], signed=True)
    assert robot_page["absolute profit (USDT)"] == profit and f"{profit} USDT" in summary

    # max net exposure: what was held (the strategy measures 0 between executions) apart from the
    # instants between two legs
    held = figures.usdt(f["max_abs_net_exposure_usdt"])
    assert held == "0.00" and f"max |net exposure| held {held} USDT" in summary
    assert _row(page, label["exposure_held"]).startswith(held)
    assert all(Decimal(v.split(" / ")[1]) == 0 for k, v in robot_page.items() if k.startswith("net exposure"))

    # the fee statement reads the same accounting: its period ends on the same unit NAV
    day = dt.datetime.fromtimestamp(result.window["start_ms"] // 1000, dt.UTC).date()
    out = io.StringIO()
    with redirect_stdout(out):
        assert settle.main([str(result.robot_dir), "--from", str(day),
                            "--to", str(day + dt.timedelta(days=1)), "--period", "month"]) == 0
    statement_row = next(line for line in out.getvalue().splitlines() if line.startswith(f"| {day}"))
    assert statement_row.split(" | ")[2] == f"{Decimal(f['unit_nav']):.6f}"


def test_a_run_under_a_day_is_never_annualized_anywhere():
    stats = {"totals": {"equity_start_usdt": 100.0, "equity_end_usdt": 101.0},
             "accounting": {"unit_nav": "1.01", "inception_ms": 0, "time_ms": 86_400_000 - 60_000,
                            "profit_usdt": "1"}}
    # the window is a whole day, but the strategy's history is a minute short: its days decide
    f = summary_figures(stats, {"start_ms": 0, "end_ms": 86_400_000})
    assert f["annualized"] is None and figures.annualized_text(None) == "n/a (under a day)"


def test_exposure_between_two_legs_is_reported_apart_from_exposure_held():
    track = figures.ExposureTrack()
    track.change("BTC", 1_000, 0.1, 60_000.0)   # first leg
    track.change("BTC", 1_500, 0.0, 60_010.0)   # second leg half a simulated second later (--speed 100)
    track.change("ETH", 2_000, -1.0, 3_000.0)  # a leg left alone for a minute
    track.change("ETH", 62_000, 0.0, 3_030.0)
    out = track.summary(70_000, {"BTC": 60_000.0, "ETH": 3_000.0})
    assert out["between_legs"]["usdt"] == pytest.approx(0.1 * 60_010) and out["between_legs"]["count"] == 1
    assert out["held"] == {"usdt": pytest.approx(3_030.0), "coin": "ETH", "time_ms": 2_000}
    track.change("BTC", 80_000, 0.05, 60_000.0)  # still open at the end: held once it lasts IN_FLIGHT_MS
    assert track.summary(80_000 + figures.IN_FLIGHT_MS, {"BTC": 61_000.0})["held"]["usdt"] == 3_050.0
