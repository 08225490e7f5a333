"""A live venue's finished orders from a start time on: FMZ's GetHistoryOrders(symbol, since, limit).

FMZ answers one page, the oldest rows from `since` on (fmzquant/skills fmz.pyi "since: Start timestamp";
the simulator's fmz_compat/sim/exchange.py GetHistoryOrders), and hedge/order_history.py pages forward from
there. Not every venue lists forward from a start time:
- OKX GET /api/v5/trade/orders-history lists the NEWEST rows created from `begin` on (newest first, 100 a
  request at most), older ones behind the `after` cursor (the ordId of the page's last row), about the last
  7 days only (ccxt 4.5.83 okx.py fetch_closed_orders: begin/end/after/before, "default 100, max 100";
  www.okx.com/docs-v5/en/#order-book-trading-trade-get-order-history-last-7-days).
- Bybit GET /v5/order/history lists the newest rows of a startTime-endTime window (newest first, 50 a
  request at most), older ones behind `nextPageCursor`; startTime and endTime go together, at most 7 days
  apart (bybit-exchange.github.io/docs/v5/order/order-list).
- Binance GET /fapi/v1/allOrders lists forward from startTime, over 7 days at most, and keeps 90 days, as
  developers.binance.com states both for COIN-M's allOrders (docs/zh-CN/derivatives/coin-margined-futures/
  trade/rest-api/All-Orders) and the 7 days for portfolio margin's UM allOrders (docs/zh-CN/derivatives/
  portfolio-margin/trade/Query-All-UM-Orders: "查询时间范围最大不得超过7天"), the same USDⓈ-M order rows.
- CoinEx GET /v2/futures/finished-order takes no time at all, only page and limit, newest first
  (docs.coinex.com/api/v2/futures/order/http/list-finished-order).
So a start time is reached by walking: back along the cursor to the window's oldest row (OKX, Bybit, CoinEx),
forward window by window (Bybit, Binance). Each walk is bounded (HISTORY_REQUESTS); one that does not reach
the start time raises CallFailed, so GetHistoryOrders answers None (no proof), never a partial list that
would read as "absent".
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from fmz_compat.exchange import CallFailed

HISTORY_REQUESTS = 16  # requests one GetHistoryOrders(since) may send before it answers None
WEEK_MS = 7 * 24 * 3600 * 1000  # Bybit's and Binance's widest startTime-endTime window
BINANCE_KEPT_MS = 90 * 24 * 3600 * 1000  # Binance lists no order created longer ago
_WALK_ROWS = {"okx": 100, "bybit": 50, "coinex": 100}  # rows a request of the walk asks (each venue's most)

Rows = list[dict[str, Any]]


class _Budget:
    """The requests one walk may still send."""

    def __init__(self, venue: str, since: int) -> None:
        self.left = HISTORY_REQUESTS
        self._what = f"{venue} finished orders from {since}"

    def spend(self) -> None:
        if self.left <= 0:
            raise CallFailed(f"{self._what} not reached in {HISTORY_REQUESTS} requests (a busy account): "
                             "no answer rather than a partial list")
        self.left -= 1


def raw_rows_from(venue: str, client: Any, market: dict[str, Any], since: int, page: int,
                  now_ms: int) -> Rows:
    """The venue's raw rows created at `since` or later, enough of the oldest of them to fill `page`
    (more may come back; the caller parses, sorts and cuts). Raises CallFailed when the walk runs out."""
    budget = _Budget(venue, since)
    if venue == "okx":
        return _okx(client, market, since, budget)
    if venue == "bybit":
        return _by_windows(since, now_ms, page, budget,
                           lambda start, end: _bybit_window(client, market, start, end, budget))
    if venue == "binance":
        start = max(since, now_ms - BINANCE_KEPT_MS)
        return _by_windows(start, now_ms, page, budget,
                           lambda start, end: _binance_window(client, market, start, end, page, budget))
    if venue == "coinex":
        return _coinex(client, market, since, budget)
    raise CallFailed(f"no order history from a start time on {venue}")


def _by_windows(since: int, now_ms: int, page: int, budget: _Budget,
                read: Callable[[int, int], Rows]) -> Rows:
    """Windows of at most a week from `since` forward, until they hold a page of rows or reach now."""
    rows: Rows = []
    for start, end in _weeks(since, now_ms):
        rows.extend(read(start, end))
        if len(rows) >= page:
            break
    return rows


def _weeks(since: int, now_ms: int) -> Iterator[tuple[int, int]]:
    start = since
    while True:
        end = min(start + WEEK_MS - 1, max(now_ms, start))
        yield start, end
        if end >= now_ms:
            return
        start = end + 1


def _okx(client: Any, market: dict[str, Any], since: int, budget: _Budget) -> Rows:
    """Newest first from `begin`: follow `after` (older than that ordId) until a short page."""
    rows: Rows = []
    query = {"instType": "SWAP", "instId": market["id"], "limit": str(_WALK_ROWS["okx"]), "begin": str(since)}
    while True:
        budget.spend()
        answer = client.privateGetTradeOrdersHistory(query)
        data = [r for r in answer.get("data") or [] if isinstance(r, dict)]
        rows.extend(data)
        if len(data) < _WALK_ROWS["okx"] or _oldest_stamp(data, "cTime") < since:
            return rows
        query = dict(query, after=str(data[-1].get("ordId")))


def _bybit_window(client: Any, market: dict[str, Any], start: int, end: int, budget: _Budget) -> Rows:
    """One startTime-endTime window, newest first: follow nextPageCursor until a short page or none."""
    rows: Rows = []
    query: dict[str, Any] = {"category": "linear", "symbol": market["id"], "limit": _WALK_ROWS["bybit"],
                             "startTime": start, "endTime": end}
    while True:
        budget.spend()
        result = client.privateGetV5OrderHistory(query).get("result") or {}
        data = [r for r in result.get("list") or [] if isinstance(r, dict)]
        rows.extend(data)
        cursor = result.get("nextPageCursor")
        if len(data) < _WALK_ROWS["bybit"] or not cursor:
            return rows
        query = dict(query, cursor=cursor)


def _binance_window(client: Any, market: dict[str, Any], start: int, end: int, page: int,
                    budget: _Budget) -> Rows:
    """allOrders lists forward from startTime: one request holds the window's oldest `page` rows."""
    budget.spend()
    answer = client.fapiPrivateGetAllOrders({"symbol": market["id"], "startTime": start, "endTime": end,
                                             "limit": page})
    return [r for r in answer or [] if isinstance(r, dict)]


def _coinex(client: Any, market: dict[str, Any], since: int, budget: _Budget) -> Rows:
    """Pages newest first, no time: read on until a page reaches back past `since` or none is left."""
    rows: Rows = []
    for number in itertools.count(1):
        budget.spend()
        answer = client.v2PrivateGetFuturesFinishedOrder({
            "market": market["id"], "market_type": "FUTURES", "page": number, "limit": _WALK_ROWS["coinex"]})
        data = [r for r in answer.get("data") or [] if isinstance(r, dict)]
        rows.extend(data)
        stamps = [int(r.get("created_at") or 0) for r in data]
        newest_first = all(a >= b for a, b in zip(stamps, stamps[1:], strict=False))
        past_since = newest_first and bool(stamps) and stamps[-1] < since  # the pages after are older still
        if past_since or not (answer.get("pagination") or {}).get("has_next"):
            return rows
    return rows  # not reached: count() does not end


def _oldest_stamp(rows: Rows, field: str) -> int:
    return min((int(r.get(field) or 0) for r in rows), default=0)
