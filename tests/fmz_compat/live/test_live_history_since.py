"""GetHistoryOrders(symbol, since, limit) on the live venues: the OLDEST rows from `since` on, one page,
oldest first, as FMZ answers it and the simulator lists it (fmz_compat/sim/exchange.py), however busy the
account. hedge/order_history.py finished_since pages forward from there (an order whose answer was lost, the
venue's own liquidation or ADL order since a pair opened).

Each venue here is a small local fake of its list endpoint (a `responses` callback) that pages as the venue
documents it:
- OKX GET /api/v5/trade/orders-history: rows created from `begin` on, newest first, at most 100 a request,
  `after` = an ordId: the rows older than it (ccxt 4.5.83 okx.py fetch_closed_orders request fields; its
  docstring's www.okx.com/docs-v5/en/#order-book-trading-trade-get-order-history-last-7-days; okxr's
  rdrr.io/cran/okxr/man/get_trade_orders_history_7d.html: "covers about 7 days").
- Bybit GET /v5/order/history: the rows of a startTime-endTime window newest first, 1-50 a page, the older
  ones behind `nextPageCursor`; "startTime and endTime must be passed together", "If not passed, query the
  past 7 days data by default" (bybit-exchange/docs docs/v5/order/order-list.mdx @bd2a0c7a,
  bybit-exchange.github.io/docs/v5/order/order-list); taken as at most 7 days apart, as Bybit's time-range
  queries are (the stored order-list page names only the 7-day default), a wider one refused here with
  retCode 10001.
- Binance GET /fapi/v1/allOrders: from startTime forward, a window of 7 days at most, the recent 7 days by
  default (developers.binance.com/docs/zh-CN/derivatives/coin-margined-futures/trade/rest-api/All-Orders
  and .../derivatives/portfolio-margin/trade/Query-All-UM-Orders: "查询时间范围最大不得超过7天",
  "默认查询最近7天内的数据"; code -1127 as Binance's "More than %s hours between startTime and endTime").
- CoinEx GET /v2/futures/finished-order: market, market_type, side, page (default 1), limit (default 10),
  no time (docs.coinex.com/api/v2/futures/order/http/list-finished-order); newest first, has_next.
Rows: ccxt's recorded answers (ccxt_recorded.py: okx.json fetchClosedOrders "Swap closed orders", bybit.json
fetchClosedOrders "Fetch swap closed orders by the symbol", binance.json fetchOrders "fetch portfolio margin
orders") and the CoinEx row of test_live_coinex_bitmex.py, each copied with our ids, client ids and creation
times substituted (dict(..., field=ours)); instId BTC-USDT-SWAP for OKX's LTC row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import responses
from ccxt_recorded import BINANCE_UM_FILLED, BYBIT_HISTORY_FILLED, OKX_HISTORY_FILLED
from test_live_coinex_bitmex import COINEX_ORDER
from venue_payloads import BYBIT_API
from venue_payloads import COINEX_API as COINEX

from fmz_compat.live import LiveExchange
from fmz_compat.live_history import HISTORY_REQUESTS, WEEK_MS
from hedge.execution import client_id_of
from hedge.order_history import finished_since

SYMBOL = "BTC_USDT.swap"
NOW = 1758190052622  # the venue's clock in these tests: bybit.json's recorded answer "time"
MINUTE = 60_000
DAY = 24 * 3600 * 1000
Answer = tuple[int, dict[str, str], str]


def _at_venue_time(ex: LiveExchange) -> None:
    ex.time_offset_ms = NOW - ex.venue_now_ms() + ex.time_offset_ms  # venue_now_ms() reads NOW from here on


def _query(request: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}


def _json(body: Any, status: int = 200) -> Answer:
    return status, {}, json.dumps(body)


def _asked(http: responses.RequestsMock, path: str) -> list[dict[str, str]]:
    return [_query(c.request) for c in http.calls if path in c.request.url]


def _busy_stamps(since: int, before: int, after: int) -> list[int]:
    """`before` rows in the hour before since, `after` rows a minute apart from since on."""
    earlier = [since - 3_600_000 + i * MINUTE for i in range(before)]
    return earlier + [since + i * MINUTE for i in range(after)]


# --- OKX ----------------------------------------------------------------------------------------------------
OKX_ROW = dict(OKX_HISTORY_FILLED["data"][0], instId="BTC-USDT-SWAP")


def _okx_rows(stamps: list[int]) -> list[dict[str, Any]]:
    return [dict(OKX_ROW, ordId=str(672515387010932736 + i), clOrdId=f"hg{i}", cTime=str(t), uTime=str(t + 1))
            for i, t in enumerate(stamps)]


def _okx_venue(rows: list[dict[str, Any]]) -> Callable[[Any], Answer]:
    def answer(request: Any) -> Answer:
        q = _query(request)
        limit = int(q.get("limit", 100))
        if limit > 100:
            return _json({"code": "51000", "msg": "Parameter limit error", "data": []})
        listed = [r for r in rows if int(r["cTime"]) >= int(q.get("begin", 0))
                  and int(r["ordId"]) < int(q.get("after", 1 << 62))]
        listed.sort(key=lambda r: int(r["ordId"]), reverse=True)  # newest first
        return _json({"code": "0", "msg": "", "data": listed[:limit]})
    return answer


def _serve_okx(http: responses.RequestsMock, rows: list[dict[str, Any]]) -> None:
    http.add_callback(responses.GET, re.compile(r"https://www\.okx\.com/api/v5/trade/orders-history\?"),
                      callback=_okx_venue(rows))


def test_okx_busy_account_answers_the_oldest_rows_from_since(okx, http):
    """230 orders since `since` (and 5 before it): OKX's newest 50 from `begin` are the last 50; FMZ's answer
    is the first 50 from since, oldest first. The walk follows `after` back to since (100 a request)."""
    ex, _ = okx
    _at_venue_time(ex)
    since = NOW - DAY
    _serve_okx(http, _okx_rows(_busy_stamps(since, 5, 230)))
    page = ex.GetHistoryOrders(SYMBOL, since, 50)
    assert page is not None, "the walk failed"
    assert [client_id_of("okx", o) for o in page] == [f"hg{i}" for i in range(5, 55)]
    asked = _asked(http, "/orders-history")
    assert all(q["begin"] == str(since) and int(q["limit"]) <= 100 for q in asked)
    assert [q.get("after") for q in asked][1:] == [str(672515387010932736 + 235 - 100 * n) for n in (1, 2)]

    every = finished_since(ex, SYMBOL, since)  # the hedge's forward paging reads every one of them
    assert every is not None and [client_id_of("okx", o) for o in every] == [f"hg{i}" for i in range(5, 235)]


def test_okx_walk_that_does_not_reach_since_answers_none(okx, http):
    """More rows since `since` than HISTORY_REQUESTS requests of 100 reach: no answer (None and an error
    row), never the newest page read as if it were the oldest."""
    ex, log = okx
    _at_venue_time(ex)
    since = NOW - DAY
    _serve_okx(http, _okx_rows([since + i * 50 for i in range(100 * HISTORY_REQUESTS + 1)]))
    assert ex.GetHistoryOrders(SYMBOL, since, 50) is None
    assert len(_asked(http, "/orders-history")) == HISTORY_REQUESTS
    assert any("not reached" in row["message"] for row in log.rows)


# --- Bybit --------------------------------------------------------------------------------------------------
BYBIT_ROW = BYBIT_HISTORY_FILLED["result"]["list"][1]


def _bybit_rows(stamps: list[int]) -> list[dict[str, Any]]:
    return [dict(BYBIT_ROW, orderId=f"aee7453a-{i:04d}", orderLinkId=f"hg{i}", createdTime=str(t),
                 updatedTime=str(t + 4)) for i, t in enumerate(stamps)]


def _bybit_venue(rows: list[dict[str, Any]]) -> Callable[[Any], Answer]:
    def answer(request: Any) -> Answer:
        q = _query(request)
        if ("startTime" in q) != ("endTime" in q):
            return _json({"retCode": 10001, "retMsg": "startTime and endTime must be passed together",
                          "result": {}, "retExtInfo": {}, "time": NOW})
        start, end = int(q.get("startTime", NOW - WEEK_MS)), int(q.get("endTime", NOW))
        if end - start > WEEK_MS:
            return _json({"retCode": 10001, "retMsg": "The time range between startTime and endTime cannot "
                          "exceed 7 days", "result": {}, "retExtInfo": {}, "time": NOW})
        limit, offset = int(q.get("limit", 20)), int(q.get("cursor", "0"))
        listed = sorted((r for r in rows if start <= int(r["createdTime"]) <= end),
                        key=lambda r: int(r["createdTime"]), reverse=True)
        more = offset + limit < len(listed)
        return _json({"retCode": 0, "retMsg": "OK", "retExtInfo": {}, "time": NOW, "result": {
            "category": "linear", "nextPageCursor": str(offset + limit) if more else "",
            "list": listed[offset:offset + limit]}})
    return answer


def _serve_bybit(http: responses.RequestsMock, rows: list[dict[str, Any]]) -> None:
    http.add_callback(responses.GET, re.compile(rf"{BYBIT_API}/order/history"), callback=_bybit_venue(rows))


def test_bybit_busy_account_answers_the_oldest_rows_from_since_across_week_windows(bybit, http):
    """since is 9 days back: 20 orders in its first day, 120 in the last two days. Every request is a window
    of at most 7 days with both ends; the answer is the 20 of the first week then the oldest 30 of the
    second, and the hedge's forward paging reads all 140."""
    ex, _ = bybit
    _at_venue_time(ex)
    since = NOW - 9 * DAY
    stamps = [since + i * MINUTE for i in range(20)] + [NOW - 2 * DAY + i * MINUTE for i in range(120)]
    _serve_bybit(http, _bybit_rows([since - MINUTE, *stamps]))  # hg0 is older than since
    page = ex.GetHistoryOrders(SYMBOL, since, 50)
    assert page is not None, "the walk failed"
    assert [client_id_of("bybit", o) for o in page] == [f"hg{i}" for i in range(1, 51)]
    asked = _asked(http, "/order/history")
    assert all(0 <= int(q["endTime"]) - int(q["startTime"]) <= WEEK_MS for q in asked)
    assert int(asked[0]["startTime"]) == since and all(int(q["limit"]) <= 50 for q in asked)

    every = finished_since(ex, SYMBOL, since)
    assert every is not None
    assert [client_id_of("bybit", o) for o in every] == [f"hg{i}" for i in range(1, 141)]


def test_bybit_walk_that_does_not_reach_since_answers_none(bybit, http):
    ex, log = bybit
    _at_venue_time(ex)
    since = NOW - DAY
    _serve_bybit(http, _bybit_rows([since + i * 20 for i in range(50 * HISTORY_REQUESTS + 1)]))
    assert ex.GetHistoryOrders(SYMBOL, since, 50) is None
    assert len(_asked(http, "/order/history")) == HISTORY_REQUESTS
    assert any("not reached" in row["message"] for row in log.rows)


# --- CoinEx -------------------------------------------------------------------------------------------------
def _coinex_rows(stamps: list[int]) -> list[dict[str, Any]]:
    return [dict(COINEX_ORDER, order_id=13400 + i, client_id=f"hg{i}", unfilled_amount="0",
                 filled_amount="0.01", created_at=t, updated_at=t + 1) for i, t in enumerate(stamps)]


def _coinex_venue(rows: list[dict[str, Any]]) -> Callable[[Any], Answer]:
    def answer(request: Any) -> Answer:
        q = _query(request)
        page, limit = int(q.get("page", 1)), int(q.get("limit", 10))
        listed = sorted(rows, key=lambda r: r["created_at"], reverse=True)
        chunk = listed[(page - 1) * limit:page * limit]
        return _json({"code": 0, "message": "OK", "data": chunk,
                      "pagination": {"has_next": page * limit < len(listed)}})
    return answer


def _serve_coinex(http: responses.RequestsMock, rows: list[dict[str, Any]]) -> None:
    http.add_callback(responses.GET, re.compile(rf"{COINEX}/futures/finished-order"),
                      callback=_coinex_venue(rows))


def test_coinex_busy_account_answers_the_oldest_rows_from_since(coinex, http):
    """CoinEx takes no start time: 250 orders since `since` (30 before it) fill pages newest first; the answer
    is the oldest 50 from since, read on page 3 of 100."""
    ex, _ = coinex
    _at_venue_time(ex)
    since = NOW - DAY
    _serve_coinex(http, _coinex_rows(_busy_stamps(since, 30, 250)))
    page = ex.GetHistoryOrders(SYMBOL, since, 50)
    assert page is not None, "the walk failed"
    assert [client_id_of("coinex", o) for o in page] == [f"hg{i}" for i in range(30, 80)]
    assert [q["page"] for q in _asked(http, "/finished-order")] == ["1", "2", "3"]


def test_coinex_walk_that_does_not_reach_since_answers_none(coinex, http):
    ex, log = coinex
    _at_venue_time(ex)
    since = NOW - DAY
    _serve_coinex(http, _coinex_rows([since + i * 20 for i in range(100 * HISTORY_REQUESTS + 1)]))
    assert ex.GetHistoryOrders(SYMBOL, since, 50) is None
    assert len(_asked(http, "/finished-order")) == HISTORY_REQUESTS
    assert any("not reached" in row["message"] for row in log.rows)


# --- Binance ------------------------------------------------------------------------------------------------
def _binance_rows(stamps: list[int]) -> list[dict[str, Any]]:
    return [dict(BINANCE_UM_FILLED, orderId=str(262065925771 + i), clientOrderId=f"hg{i}",
                 positionSide="BOTH", time=str(t), updateTime=str(t)) for i, t in enumerate(stamps)]


def _binance_venue(rows: list[dict[str, Any]]) -> Callable[[Any], Answer]:
    def answer(request: Any) -> Answer:
        q = _query(request)
        limit = int(q.get("limit", 500))
        if "startTime" not in q:  # the most recent orders
            recent = sorted((r for r in rows if int(r["time"]) >= NOW - WEEK_MS),
                            key=lambda r: int(r["time"]))
            return _json(recent[-limit:])
        start = int(q["startTime"])
        end = int(q.get("endTime", start + WEEK_MS))
        if end - start > WEEK_MS:
            return _json({"code": -1127, "msg": "More than 168 hours between startTime and endTime."}, 400)
        listed = sorted((r for r in rows if start <= int(r["time"]) <= end), key=lambda r: int(r["time"]))
        return _json(listed[:limit])
    return answer


def test_binance_since_past_a_week_reads_on_to_the_next_window(binance, http):
    """since is 10 days back: 3 orders in its first day, 5 in the last day. allOrders answers one window of
    at most 7 days, so the rows of the last day come from the next window; all 8 are one page."""
    ex, _ = binance
    _at_venue_time(ex)
    since = NOW - 10 * DAY
    stamps = [since + i * MINUTE for i in range(3)] + [NOW - DAY + i * MINUTE for i in range(5)]
    http.add_callback(responses.GET, re.compile(r"https://fapi\.binance\.com/fapi/v1/allOrders"),
                      callback=_binance_venue(_binance_rows(stamps)))
    page = ex.GetHistoryOrders(SYMBOL, since)
    assert page is not None, "the read failed"
    assert [client_id_of("binance", o) for o in page] == [f"hg{i}" for i in range(8)]
    asked = _asked(http, "/allOrders")
    assert all(int(q["endTime"]) - int(q["startTime"]) <= WEEK_MS for q in asked)
