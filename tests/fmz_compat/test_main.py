import pytest

from fmz_compat.__main__ import config_from_args, main
from fmz_compat.header import parse_time_ms
from fmz_compat.runner import UsageError

HEADER = '''"""backtest
start: 2024-02-01 00:00:00
end: 2024-02-02 00:00:00
period: 1h
exchanges: [{"eid":"Futures_Bybit","currency":"ETH_USDT","balance":5000,"stocks":0,"fee":[0.02,0.055]}]
args: [["Interval", 500], ["Mode", "fast"]]
"""
def main():
    pass
'''


@pytest.fixture
def strategy(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("def main():\n    pass\n")
    return path


def _one_line_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--venues", "binance,kraken"], "unknown venue kraken"),
        (["--start", "yesterday"], "cannot read time 'yesterday'"),
        (["--duration", "6x"], "cannot read duration '6x'"),
        (["--duration", "-1d"], "duration '-1d' must be positive"),  # was argparse's "expected one argument"
        (["--end", "2023-01-01"], "end must be after its start"),
        (["--end", "2024-01-02", "--duration", "1d"], "not both"),
        (["--seed", "abc"], "invalid int value"),
        (["--balance", "-5"], "must be a positive USDT amount"),
        (["--stocks", "-1"], "must be zero or a positive coin amount"),
        (["--symbols", "btc-usdt"], "use FMZ pairs"),
        (["--params", "{oops"], "--params is not valid JSON"),
        (["--params", "missing.json"], "neither JSON nor an existing file"),
        (["--arg", "1x=3"], "must be NAME=VALUE"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_flags_print_one_line_and_exit_2(capsys, strategy, extra, expected):
    assert expected in _one_line_error(capsys, ["backtest", str(strategy), *extra])


def test_missing_file_and_unknown_command(capsys, tmp_path):
    assert "not found" in _one_line_error(capsys, ["backtest", str(tmp_path / "nope.py")])
    assert "invalid choice" in _one_line_error(capsys, ["replay", "x.py"])
    assert "(see: python -m fmz_compat --help)" in _one_line_error(capsys, [])
    assert "(see: python -m fmz_compat backtest --help)" in _one_line_error(capsys, ["backtest"])


def test_python2_file_is_refused_in_one_line(capsys, tmp_path):
    path = tmp_path / "old.py"
    path.write_text('def main():\n    print "hello"\n')
    assert "Python 2 strategy" in _one_line_error(capsys, ["backtest", str(path)])


def test_syntax_error_names_the_line(capsys, tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("def main(:\n    pass\n")
    assert "line 1" in _one_line_error(capsys, ["backtest", str(path)])


def test_bad_header_is_a_usage_error(capsys, tmp_path):
    path = tmp_path / "h.py"
    path.write_text('"""backtest\nexchanges: [{"currency": "BTC_USDT"}]\n"""\n')
    assert 'needs an "eid"' in _one_line_error(capsys, ["backtest", str(path)])


def test_defaults_are_seven_days_from_2024_and_three_venues(strategy):
    config, _ = config_from_args(["backtest", str(strategy)])
    assert config.start_ms == parse_time_ms("2024-01-01")
    assert config.end_ms - config.start_ms == 7 * 86_400_000
    assert [b.eid for b in config.bindings] == ["Futures_Binance", "Futures_Bybit", "Futures_OKX"]
    assert all(b.currency == "BTC_USDT" for b in config.bindings)
    assert config.seed == 1 and config.params_json is None


def test_header_supplies_window_exchanges_and_args(tmp_path):
    path = tmp_path / "h.py"
    path.write_text(HEADER)
    config, _ = config_from_args(["backtest", str(path), "--arg", "Interval=250", "--arg", "Name=abc"])
    assert config.start_ms == parse_time_ms("2024-02-01") and config.end_ms == parse_time_ms("2024-02-02")
    assert config.bindings[0].eid == "Futures_Bybit" and config.bindings[0].balance == 5000
    assert dict(config.args) == {"Interval": 250, "Mode": "fast", "Name": "abc"}


def test_flags_override_header(tmp_path):
    path = tmp_path / "h.py"
    path.write_text(HEADER)
    config, _ = config_from_args(
        ["backtest", str(path), "--venues", "okx", "--duration", "6h", "--balance", "7"]
    )
    assert [b.eid for b in config.bindings] == ["Futures_OKX"] and config.bindings[0].balance == 7
    assert config.end_ms - config.start_ms == 6 * 3_600_000
    assert config.start_ms == parse_time_ms("2024-02-01")  # the header's start, the flag's length


def test_epoch_seconds_and_params_beside_the_file(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("def main():\n    pass\n")
    (tmp_path / "params.json").write_text('{"a": 1}')
    config, _ = config_from_args(["backtest", str(path), "--start", "1704067200", "--end", "1704070800"])
    assert config.end_ms - config.start_ms == 3_600_000
    assert config.params_json == '{"a": 1}' and "params.json" in config.params_origin
    config, _ = config_from_args(["backtest", str(path), "--params", '{"b": 2}'])
    assert config.params_json == '{"b": 2}'


def test_venues_take_a_pair_after_a_colon_for_coin_margined_runs(strategy):
    # FMZ's backtest settings pick each exchange's pair (a strategy without a header, such as the public
    # turtle on a coin-margined account, docs/runtime.md): venue:PAIR does it from the command line
    argv = ["backtest", str(strategy), "--venues", "binance:btc_usd,okx", "--stocks", "1"]
    config, _ = config_from_args(argv)
    assert [(b.eid, b.currency, b.stocks) for b in config.bindings] == [
        ("Futures_Binance", "BTC_USD", 1.0), ("Futures_OKX", "BTC_USDT", 1.0)]
    with pytest.raises(UsageError, match="BTCUSD: the pair"):
        config_from_args(["backtest", str(strategy), "--venues", "binance:BTCUSD"])


def test_venues_accept_fmz_exchange_ids_for_spot(strategy):
    config, _ = config_from_args(["backtest", str(strategy), "--venues", "Binance,Futures_OKX,bybit"])
    assert [b.eid for b in config.bindings] == ["Binance", "Futures_OKX", "Futures_Bybit"]
    config, _ = config_from_args(["backtest", str(strategy), "--venues", "Binance", "--stocks", "0.5"])
    assert config.bindings[0].stocks == 0.5
