"""tools.liqcalc: the calculator's figures, JSON output and one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools import liqcalc

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = liqcalc.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_module_runs_from_the_repo_root_and_prints_only_json():
    # Bybit help "Liquidation Price (USDT Contract)": long 1 BTC @ 20,000, 50x -> IM 400, MM 100, LP 19,700.
    proc = subprocess.run(
        [sys.executable, "-m", "tools.liqcalc", "--venue", "bybit", "--symbol", "BTCUSDT", "--side", "long",
         "--entry", "20000", "--qty", "1", "--leverage", "50", "--json"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "liquidation_price": "19700.0", "bankruptcy_price": "19600.0",
        "initial_margin": "400.00000000", "maintenance_margin": "100.00000000",
    }


def test_binance_faq_cross_example_through_the_cli(capsys):
    # Binance FAQ b3c689c1f50a44cabb3a84e663b81d93: BTCUSDT LP 26,316.89 (tiers pinned as in the FAQ).
    code, out, _ = run(capsys, "--venue", "binance", "--symbol", "BTCUSDT", "--side", "long",
                       "--entry", "32481.98", "--qty", "109.488", "--leverage", "20", "--mode", "cross",
                       "--wallet", "1535443.01", "--mmr", "0.025", "--maint-amount", "16300",
                       "--other", "ETHUSDT:long:3683.979:1456.84:1335.18:0.10:135365", "--json")
    assert code == 0
    assert json.loads(out)["liquidation_price"] == "26316.89"


def test_bitmex_cross_example_and_human_output(capsys):
    # bitmex.com/app/isolatedMarginExamples: liquidation 510, bankruptcy 500.
    code, out, _ = run(capsys, "--venue", "bitmex", "--symbol", "ETHUSDT", "--side", "long",
                       "--entry", "1000", "--qty", "20", "--leverage", "50", "--mode", "cross",
                       "--wallet", "10000")
    assert code == 0
    lines = dict(line.rsplit(None, 1) for line in out.splitlines())
    assert lines["liquidation price"] == "510.00"
    assert lines["bankruptcy price"] == "500.00"
    assert lines["initial margin"] == "400.000000"


def test_symbol_may_be_spelled_the_fmz_way(capsys):
    code, out, _ = run(capsys, "--venue", "bybit", "--symbol", "BTC_USDT", "--side", "long",
                       "--entry", "20000", "--qty", "1", "--leverage", "50", "--json")
    assert code == 0 and json.loads(out)["liquidation_price"] == "19700.0"


def test_margin_overrides_the_leverage_margin(capsys):
    code, out, _ = run(capsys, "--venue", "bybit", "--symbol", "BTCUSDT", "--side", "short",
                       "--entry", "20000", "--qty", "2", "--leverage", "50", "--margin", "1000", "--json")
    assert code == 0
    assert json.loads(out)["liquidation_price"] == "20400.0"  # 20000 + (1000 - 200)/2


@pytest.mark.parametrize("args, fragment", [
    (["--venue", "kraken"], "unknown venue 'kraken'"),
    (["--symbol", "DOGEUSDT"], "DOGEUSDT is unknown on binance"),
    (["--qty", "-1"], "--qty must be greater than 0"),
    (["--entry", "abc"], "--entry: 'abc' is not a number"),
    (["--side", "up"], "'up' is not a side"),
    (["--leverage", "1"], "liquidation price is not above zero"),
    (["--mode", "cross"], "--mode cross needs --wallet"),
    (["--maint-amount", "50"], "add --mmr RATE"),
    (["--other", "ETHUSDT:long:1:2000:2100"], "apply to --mode cross only"),
    (["--mode", "cross", "--wallet", "0", "--leverage", "10", "--side", "short",
      "--other", "ETHUSDT:long:100:2000:1000"], "below maintenance at any price"),
    (["--mode", "cross", "--wallet", "100", "--other", "ETHUSDT:long:1:2000"], "expected SYMBOL:SIDE"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--margin", "1e400"], "--margin: 1e400 is out of range"),
    (["--leverage", "1e-30"], "--leverage: 1e-30 is out of range"),
    (["--mmr", "2"], "maintenance margin rate 2 must be below 1"),
    (["--margin", "100"], "is not below the entry price 30000: the position is at or below maintenance"),
    (["--mode", "cross", "--wallet", "0", "--side", "short"], "not above the entry price 30000: the account"),
])
def test_impossible_input_gets_one_line_and_exit_2(capsys, args, fragment):
    base = {"--venue": "binance", "--symbol": "BTCUSDT", "--side": "long", "--entry": "30000", "--qty": "1",
            "--leverage": "10"}
    argv: list[str] = []
    for key, value in base.items():
        if key not in args:
            argv += [key, value]
    code, out, err = run(capsys, *argv, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err


def test_missing_margin_and_leverage_is_named(capsys):
    code, _, err = run(capsys, "--venue", "okx", "--symbol", "BTCUSDT", "--side", "long", "--entry", "1",
                       "--qty", "1")
    assert code == 2 and "give --leverage L or --margin USDT" in err
