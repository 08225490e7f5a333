"""A venue's finished orders from a given time on, read a page at a time.

FMZ's `GetHistoryOrders(symbol, since, limit)` answers one page (fmzquant/skills fmz.pyi: "since: Start
timestamp (milliseconds), defaults to most recent. limit: Maximum number to return"). Without `since` the
venues list only their newest rows (Binance /fapi/v1/allOrders 500, OKX orders-history 100, Bybit
/v5/order/history 50 as asked, CoinEx finished-order 100): after a busy spell an order of ours, or the venue's
own liquidation order, is past that page and would read as absent. So a lookup here asks from the earliest
time it looks for and pages forward while a page comes back full. Where the exchange object looks an order up
by client id itself (fmz_compat's live objects), that answer still comes first (hedge/execution.py).
"""

from __future__ import annotations

from typing import Any

PAGE_ROWS = 50  # asked a page: within every venue's most (Bybit's /v5/order/history allows 50)
MAX_PAGES = 40  # 2,000 rows from the start time; a lookup needing more has no answer (None), never "absent"


def finished_since(exchange: Any, symbol: str, since_ms: int) -> list[dict[str, Any]] | None:
    """Every finished order the venue lists in `symbol` created at `since_ms` or later, oldest first; [] where
    the exchange object has no GetHistoryOrders, None when a read failed or the pages did not end. since_ms 0
    (no time to start from): the venue's newest page, as FMZ answers it."""
    reader = getattr(exchange, "GetHistoryOrders", None)
    if reader is None:
        return []
    if since_ms <= 0:
        newest = reader(symbol)
        return None if newest is None else list(newest)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    cursor = since_ms
    for _ in range(MAX_PAGES):
        page = reader(symbol, cursor, PAGE_ROWS)
        if page is None:
            return None
        fresh = [order for order in page if _row_key(order) not in seen]
        rows.extend(fresh)
        seen.update(_row_key(order) for order in fresh)
        if len(page) < PAGE_ROWS:
            return rows
        last = max(int(order.get("Time") or 0) for order in page)
        if not fresh or last <= cursor:
            return None  # a full page that moves the start time no further: the rest cannot be reached
        cursor = last  # the next page starts at the last row's time (its rows repeat, and are skipped)
    return None


def _row_key(order: dict[str, Any]) -> str:
    return f"{order.get('Id')}@{order.get('Time')}"
