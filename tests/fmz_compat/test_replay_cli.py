"""`python -m fmz_compat backtest FILE --replay RECORDING` end to end with strategy.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fmz_compat.__main__ import main
from fmz_compat.sim.replay_synth import Gap, write_synthetic
from fmz_compat.store import RobotStore

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_719_792_000_000


@pytest.fixture
def strategy(tmp_path):
    """strategy.py with the hedge package beside it (the runner puts the file's folder on sys.path)."""
    shutil.copy(ROOT / "strategy.py", tmp_path / "strategy.py")
    return tmp_path / "strategy.py"


PARAMS = {
    "symbols": ["BTC_USDT"],
    "order_notional_usdt": 1000,
    "max_position_usdt": 2000,
    "open_threshold_bps": 3,
    "close_threshold_bps": 0,
    "cooldown_s": 30,
    "max_book_age_ms": 3000,
}


def _one_line_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_replay_backtest_trades_on_a_recorded_spread_and_says_it_was_a_replay(tmp_path, strategy, capsys):
    rec = tmp_path / "rec.jsonl.gz"
    # the spread opens at 30 s while okx's feed is silent from 20 s to 150 s
    write_synthetic(
        rec,
        venues=("binance", "okx"),
        symbols=("BTC_USDT",),
        seconds=300,
        start_ms=T0,
        basis_bps={"okx": 20.0},
        basis_from_ms=T0 + 30_000,
        gaps=(Gap("okx", T0 + 20_000, T0 + 150_000),),
    )
    out = tmp_path / "runs"
    code = main(
        [
            "backtest",
            str(strategy),
            "--replay",
            str(rec),
            "--params",
            json.dumps(PARAMS),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert f"replay of {rec}" in text and "1 gaps replayed" in text
    assert "window 2024-07-01 00:00:00 UTC -> 2024-07-01 00:05:00 UTC" in text
    run = json.loads((out / "1" / "run.json").read_text())
    assert run["config"]["replay"] == str(rec)
    assert run["stats"]["replay"]["events_applied"]["book"] > 0
    assert run["stats"]["totals"]["trades"] >= 2
    assert run["stats"]["max_abs_net_exposure_usdt"] < 10  # both legs of every pair filled
    store = RobotStore(out / "1" / "1.db3")
    opened = [r for r in store.logs(limit=1000) if str(r["Extra"]).startswith("OPENED pair")]
    # nothing opens while okx's books are stale (the recording's gap), then it does
    assert opened and min(r["Date"] for r in opened) >= T0 + 150_000
    store.close()


def test_a_params_symbol_not_in_the_recording_is_one_line(tmp_path, strategy, capsys):
    rec = tmp_path / "rec.jsonl.gz"
    write_synthetic(rec, venues=("binance", "okx"), symbols=("BTC_USDT",), seconds=30, start_ms=T0)
    err = _one_line_error(
        capsys,
        [
            "backtest",
            str(strategy),
            "--replay",
            str(rec),
            "--out",
            str(tmp_path / "r"),
            "--params",
            json.dumps({"symbols": ["BTC_USDT", "ETH_USDT"]}),
        ],
    )
    assert "symbol ETH_USDT is not in recording" in err and "binance: BTC_USDT" in err


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--start", "2024-06-30"], "is not inside the recording"),
        (["--duration", "1h"], "is not inside the recording"),
        (["--venues", "bybit"], "bybit not in the recording (it has binance, okx)"),
        (["--stocks", "1"], "USDT perpetuals only"),
        (["--venue-server", "http://127.0.0.1:9", "--node", "tokyo"], "drop --venue-server/--node"),
    ],
)
def test_bad_replay_flags_are_one_line(tmp_path, strategy, capsys, extra, expected):
    rec = tmp_path / "rec.jsonl.gz"
    write_synthetic(rec, venues=("binance", "okx"), symbols=("BTC_USDT",), seconds=30, start_ms=T0)
    err = _one_line_error(capsys, ["backtest", str(strategy), "--replay", str(rec), *extra])
    assert expected in err


def test_a_file_that_is_not_a_recording_is_one_line(tmp_path, strategy, capsys):
    bogus = tmp_path / "bogus.jsonl.gz"
    bogus.write_text("not gzip")
    assert "not gzip-compressed" in _one_line_error(
        capsys, ["backtest", str(strategy), "--replay", str(bogus)]
    )
    assert "not found" in _one_line_error(
        capsys, ["backtest", str(strategy), "--replay", str(tmp_path / "x")]
    )
