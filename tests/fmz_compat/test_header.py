import pytest

from fmz_compat.core import ExchangeBinding
from fmz_compat.header import HeaderError, parse_duration_s, parse_header, parse_time_ms


def test_full_header_is_parsed():
    header = parse_header("""'''backtest
start: 2024-01-01 00:00:00
end: 2024-01-08 00:00:00
period: 15m
basePeriod: 1m
exchanges: [{"eid":"Futures_Binance","currency":"BTC_USDT","balance":10000,"stocks":0,"fee":[0.02,0.05]}, \
{"eid":"Futures_OKX","currency":"eth_usdt"}]
args: [["Interval", 500], ["UseMarket", true]]
mode: 1
'''
import json
""")
    assert header.start_ms == 1_704_067_200_000 and header.end_ms == 1_704_672_000_000
    assert header.period_s == 900 and header.base_period_s == 60
    assert header.exchanges == (
        ExchangeBinding(
            eid="Futures_Binance", currency="BTC_USDT", balance=10000, stocks=0, fee=(0.02, 0.05)
        ),
        ExchangeBinding(eid="Futures_OKX", currency="ETH_USDT"),
    )
    assert header.args == (("Interval", 500), ("UseMarket", True))
    assert header.extra == {"mode": "1"}


def test_no_header_and_non_backtest_docstring():
    assert parse_header("import json\n") is None
    assert parse_header('"""A strategy."""\n') is None
    assert parse_header("#!python3\n'''backtest\nperiod: 1h\n'''\n").period_s == 3600


@pytest.mark.parametrize(
    "body, message",
    [
        ("exchanges: [{]", "exchanges is not valid JSON"),
        ("exchanges: {}", "must be a JSON list"),
        ('exchanges: [{"eid": "X", "fee": [1]}]', "fee must be [maker%, taker%]"),
        ("args: [[1, 2]]", '["name", value] pairs'),
        ("start: soon", "cannot read time"),
        ("just words", "is not 'key: value'"),
    ],
)
def test_malformed_headers_name_the_problem(body, message):
    with pytest.raises(HeaderError, match=__import__("re").escape(message)):
        parse_header(f"'''backtest\n{body}\n'''\n")


def test_time_and_duration_formats():
    assert parse_time_ms("2024-01-01") == parse_time_ms("2024-01-01 00:00:00") == parse_time_ms("1704067200")
    assert parse_time_ms("1704067200000") == 1_704_067_200_000
    assert [parse_duration_s(d) for d in ("90s", "45m", "6h", "7d", "1w")] == [
        90,
        2700,
        21600,
        604800,
        604800,
    ]
    with pytest.raises(ValueError):
        parse_duration_s("0s")
