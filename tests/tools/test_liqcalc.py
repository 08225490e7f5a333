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
    (["--symbol", "DOGEUSD"], "unknown symbol 'DOGEUSD' on binance: not a USDT perpetual"),
    (["--qty", "-1"], "--qty must be greater than 0"),
    (["--entry", "abc"], "--entry: 'abc' is not a number"),
    (["--side", "up"], "'up' is not a side"),
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


def test_an_alt_with_published_brackets_is_computed_from_them(capsys):
    # Binance SOLUSDT bracket 1 (2024-10-24): notional <= 20,000 at 0.5 %, cum 0. Isolated long 10 @ 150, 5x:
    # margin 300; LP = (300 - 1,500) / (10 x 0.005 - 10) = 120.603 (tick 0.001).
    code, out, _ = run(capsys, "--venue", "binance", "--symbol", "SOL_USDT", "--side", "long",
                       "--entry", "150", "--qty", "10", "--leverage", "5", "--json")
    assert code == 0
    assert json.loads(out) == {"liquidation_price": "120.603", "bankruptcy_price": "120.000",
                               "initial_margin": "300.00000000", "maintenance_margin": "7.50000000"}


@pytest.mark.parametrize("venue", ["binance", "bybit", "okx", "coinex", "bitmex"])
def test_a_symbol_without_a_table_gets_the_conservative_estimate_and_says_so(capsys, venue):
    # PEPEUSDT has no table on any venue here: one tier at 3 % maintenance. Short 1,000,000 @ 0.00001, 5x:
    # margin 2; mark-valued venues: LP = (2 + 10) / (1e6 x (0.03 + 1)) = 0.0000116505; entry-valued (Bybit,
    # BitMEX): LP = 0.00001 + (2 - 0.3) / 1e6 = 0.0000117. OKX adds its 0.05 % taker clearance fee to the
    # rate.
    code, out, _ = run(capsys, "--venue", venue, "--symbol", "PEPEUSDT", "--side", "short",
                       "--entry", "0.00001", "--qty", "1000000", "--leverage", "5", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["tiers"] == "estimated"
    expected = {"binance": "0.00001165", "coinex": "0.00001165", "bybit": "0.00001170",
                "bitmex": "0.00001170", "okx": "0.00001164"}[venue]
    assert result["liquidation_price"] == expected
    assert result["maintenance_margin"].startswith("0.3")


def test_human_output_names_an_estimate(capsys):
    code, out, _ = run(capsys, "--venue", "coinex", "--symbol", "SOLUSDT", "--side", "long", "--entry", "150",
                       "--qty", "10", "--leverage", "5")
    assert code == 0 and "tiers               estimated" in out and "conservative estimate" in out


def test_cross_mode_needs_no_leverage(capsys):
    """Issue #22: in cross the liquidation price depends on the wallet, not on a leverage. Binance BTCUSDT
    long 0.5 @ 60,000, wallet 10,000, tier 1 (0.4 %, cum 0): LP = (10,000 - 30,000) / (0.5 x 0.004 - 0.5)
    = 40,160.64."""
    code, out, _ = run(capsys, "--venue", "binance", "--symbol", "BTCUSDT", "--side", "long", "--entry",
                       "60000", "--qty", "0.5", "--mode", "cross", "--wallet", "10000", "--json")
    assert code == 0
    found = json.loads(out)
    assert found["liquidation_price"] == "40160.64" and found["initial_margin"].startswith("n/a in cross")


def test_a_leverage_above_the_venues_maximum_is_refused_in_one_line(capsys):
    # Binance BTCUSDT bracket 1: at most 125x (the venue refuses more: "leverage not valid")
    for mode in (["--mode", "isolated"], ["--mode", "cross", "--wallet", "10000"]):
        code, out, err = run(capsys, "--venue", "binance", "--symbol", "BTCUSDT", "--side", "long", "--entry",
                             "60000", "--qty", "0.5", "--leverage", "200", *mode)
        assert code == 2 and out == "" and err.count("\n") == 1
        assert "--leverage 200: binance allows at most 125x for BTCUSDT at this size; lower --leverage" in err


def test_a_1x_long_is_answered_cannot_be_liquidated(capsys):
    code, out, err = run(capsys, "--venue", "binance", "--symbol", "BTCUSDT", "--side", "long", "--entry",
                         "60000", "--qty", "0.5", "--leverage", "1")
    assert code == 0 and err == ""
    assert "liquidation price   none: cannot be liquidated" in out and "initial margin      30000.00" in out


def test_human_output_says_how_far_from_the_entry_and_in_what_unit(capsys):
    """The four bare figures left a new user to work out the distance and the unit. Binance BTCUSDT long 0.5
    @ 60,000, 10x isolated, tier 1 (0.4 %, cum 0): LP = (3,000 - 30,000) / (0.5 x 0.004 - 0.5) = 54,216.87,
    a 9.64 % fall."""
    code, out, _ = run(capsys, "--venue", "binance", "--symbol", "BTCUSDT", "--side", "long", "--entry",
                       "60000", "--qty", "0.5", "--leverage", "10")
    assert code == 0 and "liquidation price   54216.87" in out
    assert out.splitlines()[-1] == ("(liquidated after a 9.64 % fall of the mark price from the entry 60000; "
                                    "isolated margin; prices and margins in USDT)")
    code, out, _ = run(capsys, "--venue", "binance", "--symbol", "BTCUSDT", "--side", "short", "--entry",
                       "60000", "--qty", "0.5", "--mode", "cross", "--wallet", "10000")
    assert code == 0 and "% rise of the mark price from the entry 60000; cross margin;" in out
