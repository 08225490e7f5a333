"""A strategy that switches, at run time, to a pair of a coin the simulator does not know, through
`python -m fmz_compat backtest FILE`.

What FMZ does (its sources, not ours): the syntax guide's `exchange.SetCurrency` (fmz.com/syntax-guide,
mirrored in fmzquant/skills fmz/references/api.en.md) switches the pair, in a backtest too, keeping the
quote currency; FMZ's local backtester (fmzquant/backtest_python fmz.py) only splits BASE_QUOTE in
SetCurrency and returns None from GetTicker & co when the call fails. So the switch is taken, and every
call on a pair the venue does not have returns None; the simulator says why in one line, once.
"""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

from fmz_compat.__main__ import main
from fmz_compat.core import LOG_TYPE_ERROR

SWITCHES_TO_AN_UNKNOWN_COIN = """
    def main():
        exchange.SetContractType("swap")
        coin = "X" + "YZ"  # built at run time: no string of the strategy names the pair
        exchange.SetCurrency(coin + "_USDT")
        Log("currency", exchange.GetCurrency())
        Log("tickers", [exchange.GetTicker() for _ in range(3)])
        Log("order", exchange.Buy(-1, 1), "records", exchange.GetRecords())
        Log("last error names it", coin + "_USDT" in GetLastError())
        exchange.SetCurrency("BTC_USDT")
        Log("back on BTC", exchange.GetTicker().Last > 0)
"""


def _run(tmp_path: Path, source: str, *extra: str) -> tuple[int, list[tuple[int, str]]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    strategy = tmp_path / "s.py"
    strategy.write_text(textwrap.dedent(source))
    out = tmp_path / "runs"
    code = main(["backtest", str(strategy), "--duration", "1h", "--venues", "binance", "--out", str(out),
                 "--quiet", *extra])
    robot = sorted(out.iterdir(), key=lambda p: int(p.name))[-1]
    db = sqlite3.connect(robot / f"{robot.name}.db3")
    rows = db.execute("SELECT LogType, Extra FROM log ORDER BY Id").fetchall()
    db.close()
    return code, rows


def test_a_pair_of_an_unknown_coin_built_at_run_time_returns_none_with_one_clear_line(tmp_path):
    code, rows = _run(tmp_path, SWITCHES_TO_AN_UNKNOWN_COIN)
    lines = [text for _type, text in rows]
    assert code == 0
    assert "currency XYZ_USDT" in lines  # the switch is taken, as FMZ's SetCurrency
    assert "tickers [null, null, null]" in lines  # Log writes a list as JSON
    assert "order None records None" in lines
    errors = [text for log_type, text in rows if log_type == LOG_TYPE_ERROR]
    assert errors == ["Futures_Binance GetTicker: XYZ_USDT is not a market on the simulated Futures_Binance: "
                      "the simulator knows no coin XYZ, so calls on XYZ_USDT return None, as FMZ's do for a "
                      "pair the venue does not list (said once); --symbols XYZ_USDT trades an invented XYZ "
                      "market"]
    assert "last error names it True" in lines
    assert "back on BTC True" in lines


SWITCHES_TO_A_KNOWN_COIN_LATER = """
    def main():
        exchange.SetContractType("swap")
        Sleep(9 * 3600 * 1000)  # past the 08:00 funding settlement
        coin = "SO" + "L"  # SOL: a coin the simulator knows, named in no string, so not listed at the start
        exchange.SetCurrency(coin + "_USDT")
        t = exchange.GetTicker()
        bars = exchange.GetRecords(PERIOD_H1)
        funding = exchange.GetFundings(coin + "_USDT.swap")
        Log("sol", t.Last, t.Buy, t.Sell, [b.Close for b in bars[-4:]], funding[0].Rate if funding else None)
        Log("order", exchange.Buy(-1, 1) is not None)
"""


def test_a_known_coin_asked_for_at_run_time_is_listed_with_the_market_it_would_have_had(tmp_path):
    # FMZ's backtester loads a pair's data when a call first asks for it (syntax guide, exchange.GetTickers:
    # after market calls it returns "all trading pairs that have been requested"). Listed on request after
    # 9 simulated hours, SOL's ticker, hour bars and funding rate are those of a run that lists it from the
    # start with --symbols.
    code, rows = _run(tmp_path / "asked", SWITCHES_TO_A_KNOWN_COIN_LATER, "--duration", "10h")
    asked = [text for _type, text in rows]
    code_listed, rows = _run(tmp_path / "listed", SWITCHES_TO_A_KNOWN_COIN_LATER, "--duration", "10h",
                             "--symbols", "BTC_USDT,SOL_USDT")
    listed = [text for _type, text in rows]
    assert code == code_listed == 0
    sol = [line for line in asked if line.startswith("sol ")]
    assert len(sol) == 1 and "None" not in sol[0]
    assert sol == [line for line in listed if line.startswith("sol ")]
    assert "order True" in asked
    assert not [t for t, _text in rows if t == LOG_TYPE_ERROR]
