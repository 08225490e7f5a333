"""A venue's finished orders from a given time on, read a page at a time.

FMZ's `GetHistoryOrders(symbol, since, limit)` answers one page (fmzquant/skills fmz.pyi: "since: Start
timestamp (milliseconds), defaults to most recent. limit: Maximum number to return"). Without `since` the
venues list only their newest rows (Binance /fapi/v1/allOrders 500, OKX orders-history 100, Bybit
/v5/order/history 50 as asked, CoinEx finished-order 100): after a busy spell an order of ours, or the venue's
own liquidation order, is past that page and would read as absent. So a lookup here asks from the earliest
time it looks for and pages forward, the venue's largest page at a time, while a page comes back full. A
walk that cannot reach the present proves no order absent (finished_since answers None); a liquidation or
ADL lookup (evidence_since) then reads the newest page too, where a recent one is, and counts what it shows.
Where the exchange object looks an order up by client id itself (fmz_compat's live objects), that answer
still comes first (hedge/execution.py).
"""

from __future__ import annotations

from typing import Any

PAGE_ROWS = 50  # asked a page of a venue not named below: within every venue's most (Bybit's allows 50)
# the most rows one page lists, per venue: fmz_compat/sim/exchange.py HISTORY_PAGE cites each venue's docs and
# fmz_compat/live.py _HISTORY_PAGE asks the same (tests/hedge/test_order_history.py holds the three equal)
VENUE_PAGE_ROWS: dict[str, int] = {"binance": 1000, "okx": 100, "bybit": 50, "coinex": 100, "bitmex": 500}
MAX_PAGES = 40  # pages a walk from the start time reads; one needing more has no answer (None), not "absent"


def finished_since(exchange: Any, symbol: str, since_ms: int, venue: str = "") -> list[dict[str, Any]] | None:
    """Every finished order the venue lists in `symbol` created at `since_ms` or later, oldest first; [] where
    the exchange object has no GetHistoryOrders, None when a read failed or the pages did not end. since_ms 0
    (no time to start from): the venue's newest page, as FMZ answers it. At most MAX_PAGES requests."""
    reader = getattr(exchange, "GetHistoryOrders", None)
    if reader is None:
        return []
    if since_ms <= 0:
        return _newest(reader, symbol)
    walked = _walk(reader, symbol, since_ms, VENUE_PAGE_ROWS.get(venue, PAGE_ROWS))
    return walked[0] if walked[1] else None


def evidence_since(exchange: Any, symbol: str, since_ms: int, venue: str = "") -> list[dict[str, Any]] | None:
    """What the venue shows of its finished orders in `symbol` created at `since_ms` or later, oldest first:
    every one when the walk reaches the present (as finished_since), else the rows it read and the newest
    page's (where a recent liquidation or ADL order is). Evidence for what it shows; absence in an unended
    walk proves nothing. None when nothing could be read. At most MAX_PAGES + 1 requests."""
    reader = getattr(exchange, "GetHistoryOrders", None)
    if reader is None:
        return []
    if since_ms <= 0:
        return _newest(reader, symbol)
    rows, ended = _walk(reader, symbol, since_ms, VENUE_PAGE_ROWS.get(venue, PAGE_ROWS))
    if ended:
        return rows
    newest = _newest(reader, symbol)
    if newest is None:
        return rows or None
    seen = {_row_key(order) for order in rows}
    later = [order for order in newest
             if _row_key(order) not in seen and int(order.get("Time") or 0) >= since_ms]
    return sorted([*rows, *later], key=lambda order: int(order.get("Time") or 0))


def _newest(reader: Any, symbol: str) -> list[dict[str, Any]] | None:
    newest = reader(symbol)
    return None if newest is None else list(newest)


def _walk(reader: Any, symbol: str, since_ms: int, page_rows: int) -> tuple[list[dict[str, Any]], bool]:
    """Pages forward from since_ms: the rows read, oldest first, and whether the last page reached the present
    (was not full). A failed read, or a full page that moves the start time no further, ends it unreached."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    cursor = since_ms
    for _ in range(MAX_PAGES):
        page = reader(symbol, cursor, page_rows)
        if page is None:
            return rows, False
        fresh = [order for order in page if _row_key(order) not in seen]
        rows.extend(fresh)
        seen.update(_row_key(order) for order in fresh)
        if len(page) < page_rows:
            return rows, True
        last = max(int(order.get("Time") or 0) for order in page)
        if not fresh or last <= cursor:
            return rows, False
        cursor = last  # the next page starts at the last row's time (its rows repeat, and are skipped)
    return rows, False


def _row_key(order: dict[str, Any]) -> str:
    return f"{order.get('Id')}@{order.get('Time')}"
