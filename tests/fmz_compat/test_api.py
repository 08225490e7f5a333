import datetime as dt
import hashlib
import hmac
import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmz_compat.api import _N, Runtime, _Cross, parse_markers, parse_status
from fmz_compat.store import RobotStore
from fmz_compat.ta import TA

START_NS = 1_704_067_200_000 * 1_000_000


@pytest.fixture
def runtime(tmp_path, clock):
    store = RobotStore(tmp_path / "7.db3")
    rt = Runtime(clock=clock, store=store, robot_id=7)
    yield rt
    store.close()


@pytest.fixture
def g(runtime):
    return runtime.build_globals()


def test_constants_and_literals_are_injected(g):
    assert g["ORDER_STATE_CANCELED"] == 2 and g["PD_SHORT"] == 1 and g["PERIOD_H1"] == 3600
    assert g["true"] is True and g["false"] is False and g["null"] is None
    assert g["json"] is json and hasattr(g["time"], "time") and g["math"].sqrt(4) == 2
    assert g["exchange"] is None and g["exchanges"] == []


def test_log_joins_args_and_parses_colour_and_push(g, runtime):
    g["Log"]("price", 1.5, {"a": 1}, "#FF0000@")
    row = runtime.store.logs()[0]
    assert row["Extra"] == 'price 1.5 {"a": 1}'
    assert row["Color"] == "#ff0000" and row["Push"] == 1 and row["LogType"] == 5


def test_log_tolerates_figure_objects(g, runtime):
    class Figure:
        def savefig(self, *a):
            pass

    g["Log"]("chart", Figure())
    assert runtime.store.logs()[0]["Extra"] == "chart [figure]"


def test_parse_markers_private_and_plain():
    assert parse_markers("hi &") == ("hi", "", False, True)
    assert parse_markers("no markers # here") == ("no markers # here", "", False, False)


def test_log_status_wraps_dict_tables_and_lists_of_tables(g, runtime):
    table = {"type": "table", "title": "T", "cols": ["a"], "rows": [[1]]}
    g["LogStatus"]("head", table, [table, table])
    text = runtime.store.status()
    blocks = parse_status(text)
    assert blocks[0] == {"kind": "text", "text": "head "}
    assert blocks[1]["tables"] == [table]
    assert blocks[2]["tables"] == [table, table]  # whitespace-only text between is dropped
    g["LogStatus"]("`" + json.dumps(table) + "`")
    assert parse_status(runtime.store.status()) == [{"kind": "tables", "tables": [table]}]


def test_log_profit_rows_and_chart_only_marker(g, runtime):
    g["LogProfit"](10.5, "first")
    g["LogProfit"](11, "quiet&")
    assert [p for _, p in runtime.store.profits()] == [10.5, 11.0]
    assert [r["Extra"] for r in runtime.store.logs()] == ["10.5 first"]
    g["LogProfitReset"](1)
    assert [p for _, p in runtime.store.profits()] == [11.0]


def test_log_reset_keeps_newest_and_leaves_profit(g, runtime):
    for i in range(5):
        g["Log"](i)
    g["LogProfit"](1)
    g["LogReset"](2)
    assert [r["Extra"] for r in runtime.store.logs()] == ["1", "4"]
    assert len(runtime.store.profits()) == 1
    g["LogVacuum"]()


def test_chart_add_replace_update_reset(g, runtime):
    chart = g["Chart"]([{"title": {"text": "A"}, "series": [{"name": "x"}]}, {"series": [{"name": "y"}]}])
    chart.add(0, [1, 1.0])
    chart.add(0, [2, 2.0])
    chart.add(0, [3, 3.0], -1)
    chart.add(1, [2, 5.0])
    assert runtime.store.chart_points() == {0: [[1, 1.0], [3, 3.0]], 1: [[2, 5.0]]}
    chart.update({"series": [{"name": "z"}]})
    assert runtime.store.chart_config() == {"series": [{"name": "z"}]}
    chart.reset(1)
    assert runtime.store.chart_points() == {0: [[3, 3.0]], 1: [[2, 5.0]]}
    chart.reset()
    assert runtime.store.chart_points() == {}
    kline = g["KLineChart"]({"overlay": True})
    kline.begin({"Close": 1})
    kline.plot(1, "x")
    kline.close()


def test_sleep_unix_and_unixnano_follow_the_runtime_clock(g):
    assert g["UnixNano"]() == START_NS and g["Unix"]() == START_NS // 10**9
    g["Sleep"](1500.5)
    assert g["UnixNano"]() == START_NS + 1_500_500_000
    assert g["IsVirtual"]() is True


def test_sleep_past_the_window_raises_eof(g):
    with pytest.raises(EOFError):
        g["Sleep"](86_400_001)


def test_global_kv_semantics(g, runtime):
    assert g["_G"]() == 7
    g["_G"]("Key", {"n": 1})
    assert g["_G"]("KEY").n == 1
    g["_G"]("key", None)
    assert g["_G"]("key") is None
    g["_G"]("a", 1)
    g["_G"]("b", [1, 2])
    g["_G"](None)
    assert runtime.store.kv_items() == {}
    with pytest.raises(TypeError, match="must be JSON data"):
        g["_G"]("d", Decimal("1.5"))


def test_d_formats_seconds_in_host_local_time(g):
    expected = dt.datetime.fromtimestamp(1_700_000_000).strftime("%Y-%m-%d %H:%M:%S")
    assert g["_D"](1_700_000_000) == expected
    assert g["_D"](1_700_000_000_000) == expected  # JavaScript-style ms tolerated
    assert g["_D"](None, "%Y") == dt.datetime.fromtimestamp(START_NS / 1e9).strftime("%Y")


def test_n_truncates_and_accepts_negative_digits():
    assert _N(1.23456789) == 1.2345
    assert _N(-1.99999, 2) == -1.99
    assert _N(1300, -3) == 1000
    assert _N(0.1 + 0.2, 1) == 0.3


@given(st.decimals(min_value=-10**6, max_value=10**6, places=6, allow_nan=False), st.integers(0, 6))
def test_n_never_rounds_away_from_zero(value, digits):
    result = Decimal(repr(_N(float(value), digits)))
    exact = Decimal(repr(float(value)))
    assert abs(result) <= abs(exact)
    assert abs(exact - result) < Decimal(1).scaleb(-digits)


def test_c_retries_until_truthy_sleeping_three_seconds(g):
    answers = iter([None, False, 0, {"ok": 1}])
    start = g["UnixNano"]()
    assert g["_C"](lambda: next(answers)) == {"ok": 1}
    assert g["UnixNano"]() - start == 3 * 3_000_000_000
    g["_CDelay"](100)
    answers = iter([None, []])
    assert g["_C"](lambda: next(answers)) == []  # an empty list is an answer, not a failure
    assert g["UnixNano"]() - start == 9_100_000_000


def test_cross_counts_bars_since_the_last_cross():
    assert _Cross([1, 2, 3, 4], [2, 2.5, 2.5, 2.5]) == 2
    assert _Cross([3, 2, 1], [2, 2.5, 2.5]) == -2
    assert _Cross([None, 3], [1, 2]) == 1
    with pytest.raises(ValueError):
        _Cross([1], [1, 2])


def test_get_last_error_returns_the_error_once(g, runtime):
    runtime.error("GetTicker: timeout", exchange_index=0)
    assert g["GetLastError"]() == "GetTicker: timeout"
    assert g["GetLastError"]() == ""
    assert runtime.store.logs()[0]["LogType"] == 3


def test_error_filter_hides_matching_errors_and_empty_pattern_resets(g, runtime):
    g["SetErrorFilter"]("timeout|502")
    runtime.error("GetTicker: timeout")
    runtime.error("GetDepth: 502 Bad Gateway")
    assert runtime.store.count_logs() == 0
    g["SetErrorFilter"]("")
    runtime.error("GetTicker: timeout")
    assert runtime.store.count_logs() == 1


def test_enable_log_false_suppresses_order_rows_only(g, runtime):
    g["EnableLog"](False)
    runtime.log(0, "buy", exchange_index=0)
    g["Log"]("still logged")
    assert [r["Extra"] for r in runtime.store.logs()] == ["still logged"]


def test_get_command_returns_queued_commands_then_empty_string(g, runtime):
    runtime.send_command("coverAll")
    runtime.send_command("setAmount:0.5")
    assert g["GetCommand"]() == "coverAll"
    assert g["GetCommand"]() == "setAmount:0.5"
    assert g["GetCommand"]() == ""


def test_encode_hashes_hmac_and_base64(g):
    assert g["Encode"]("sha256", "raw", "hex", "abc") == hashlib.sha256(b"abc").hexdigest()
    assert g["Encode"]("sha256", "raw", "base64", "msg", "raw", "key") == \
        __import__("base64").b64encode(hmac.new(b"key", b"msg", "sha256").digest()).decode()
    assert g["Encode"]("raw", "raw", "hex", "A") == "41"
    assert g["Encode"]("raw", "hex", "raw", "4142") == "AB"
    assert g["MD5"]("abc") == hashlib.md5(b"abc").hexdigest()


def test_misc_utilities(g, runtime):
    assert g["JSONParse"]('{"a": [1]}') == {"a": [1]}
    assert len(g["UUID"]()) == 36
    assert "/" in g["GetOS"]() and g["GetPid"]() > 0 and g["Version"]()
    # a backtest answers as FMZ's backtester (fmzquant/backtest_python fmz.py g_Mail, g_HttpQuery, g_Dial)
    assert g["Mail"]("smtp", "u", "p", "to", "t", "b") is True
    assert g["HttpQuery"]("https://example.com/x?apikey=SECRET") == "dummy"
    assert g["Dial"]("wss://example.com/ws?token=SECRET|reconnect=true") is None
    assert all("SECRET" not in r["Extra"] for r in runtime.store.logs())
    result = g["DBExec"]("SELECT 1 AS one")
    assert result.columns == ["one"] and result["values"] == [[1]]
    g["ext"].helper = lambda: 5
    assert g["ext"].helper() == 5
    assert g["EventLoop"](1000) is None


def test_ta_indicators_match_hand_computed_values():
    closes = [float(i) for i in range(1, 11)]
    assert TA.MA(closes, 3)[:3] == [None, None, 2.0]
    assert TA.EMA(closes, 3)[2] == 2.0 and TA.EMA(closes, 3)[3] == 3.0
    up, mid, low = TA.BOLL(closes, 5, 2)
    assert mid[4] == 3.0 and up[4] == pytest.approx(3 + 2 * 2 ** 0.5)
    assert TA.RSI(closes, 5)[5] == 100.0
    records = [{"High": c + 1, "Low": c - 1, "Close": c} for c in closes]
    assert TA.ATR(records, 3)[2] == 2.0
    # FMZ syntax guide, TA.Highest / TA.Lowest: "the maximum value of an attribute in the last certain
    # period, excluding the current Bar": the 3 bars before the last (closes 7, 8, 9)
    assert TA.Highest(records, 3, "High") == 10 and TA.Lowest(records, 3, "Low") == 6
    assert TA.Highest(closes, 3) == 9 and TA.Highest(records, 0, "High") == 10  # 0: every bar but the last
    dif, dea, hist = TA.MACD(closes, 2, 3, 2)
    assert dif[2] is not None and len(hist) == len(closes)
    k, d, j = TA.KDJ(records, 3, 3, 3)
    assert k[1] is None and k[2] is not None


def test_a_live_exchanges_moved_top_wakes_event_loop_with_a_book_event(tmp_path):
    from fmz_compat.core import RealClock

    store = RobotStore(tmp_path / "8.db3")
    rt = Runtime(clock=RealClock(), store=store, robot_id=8)
    first, second = object(), object()
    rt.exchanges.extend([first, second])
    try:
        g = rt.build_globals()
        assert g["EventLoop"](-1) is None  # the first call: from now on events are kept
        rt.book_moved(second, "ETH_USDT.swap", 3400.0, 3400.1, 1_700_000_000_000)
        event = g["EventLoop"](60_000)  # there already: no wait
        assert (event.Event, event.Index, event.Symbol, event.Buy, event.Sell, event.Time) == \
            ("Book", 1, "ETH_USDT.swap", 3400.0, 3400.1, 1_700_000_000_000)
    finally:
        store.close()
