"""A venue's own maintenance notices: announced windows keep new pairs off the venue ahead of time, and
an ongoing window takes its functions out (hedge/outage.py) before any call has to fail.

Read through FMZ's `exchange.IO("api", "GET", path, query)` from each venue's public status endpoint, at
start and every `outage.maintenance_poll_s` (every minute while a window is near or under way):

| venue | endpoint | what it gives |
|---|---|---|
| OKX | `GET /api/v5/system/status` | scheduled / ongoing / pre_open windows: begin, end (ms), serviceType |
| Bybit | `GET /v5/system/status` | windows: state, begin, end (ms), product, serviceTypes |
| CoinEx | `GET /v2/maintain/info` | windows: started_at, ended_at (ms), scope, protect period |
| Binance | none for USDⓈ-M futures (`/sapi/v1/system/status` is the wallet's) | nothing: calls tell |
| BitMEX | none public | nothing: calls tell |

Scope: a window that names derivatives (or does not say) takes every function out; OKX's WebSocket-only
service type takes market data only; CoinEx's spot-only windows are ignored (any other scope, FUTURES
included, counts), and its protect period after
a window (only maker-only limit orders accepted) takes orders out. A status that cannot be read or parsed
is neither "up" nor "down": it is said once and the watcher carries on with what it knew.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hedge.fmz import venue_io
from hedge.outage import ACCOUNT, FUNCTIONS, MARKET, ORDERS, VenueHealth

ALL = frozenset(FUNCTIONS)
ACTIVE_STATES = ("scheduled", "ongoing", "pre_open")  # OKX / Bybit states still to come or under way
COINEX_SPOT_SCOPES = frozenset({"SPOT"})  # the only CoinEx maintenance scope that leaves futures alone
NEAR_POLL_S = 60  # poll this often while a window is within the lead or under way
NO_ENDPOINT = {
    "binance": "Binance publishes no maintenance status for USDⓈ-M futures (its /sapi system status is "
               "the wallet's)",
    "bitmex": "BitMEX publishes no public maintenance status",
}


@dataclass(frozen=True)
class Window:
    """One maintenance window a venue announced."""

    venue: str
    ident: str
    title: str
    begin_ms: int
    end_ms: int | None  # expected end; None when the venue gives none
    functions: frozenset[str]
    state: str = "scheduled"  # the venue's word, or "ongoing" when it says so

    def under_way(self, now_ms: int) -> bool:
        if self.state in ("ongoing", "pre_open"):
            return True
        return self.begin_ms <= now_ms and (self.end_ms is None or now_ms < self.end_ms)

    def describe(self) -> str:
        end = _utc(self.end_ms) if self.end_ms else "open end"
        what = "all functions" if self.functions == ALL else "/".join(sorted(self.functions))
        return f"{self.venue} maintenance {_utc(self.begin_ms)} -> {end} ({what}): {self.title or self.ident}"


def _utc(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


def _ms(value: Any) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _rows(data: Any, *path: str) -> list[dict[str, Any]] | None:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return [row for row in data if isinstance(row, dict)] if isinstance(data, list) else None


def parse_okx(data: Any) -> list[Window] | None:
    """OKX `GET /api/v5/system/status`: {"code":"0","data":[{"title","state","begin","end","serviceType",
    ...}]}. serviceType "0" is WebSocket only (our market data); every other type touches trading."""
    if not isinstance(data, dict) or str(data.get("code", "")) != "0":
        return None
    rows = _rows(data, "data")
    if rows is None:
        return None
    windows = []
    for row in rows:
        begin = _ms(row.get("begin"))
        state = str(row.get("state", ""))
        if begin is None or state not in ACTIVE_STATES:
            continue
        functions = frozenset({MARKET}) if str(row.get("serviceType", "")) == "0" else ALL
        windows.append(Window("okx", f"{begin}:{row.get('title', '')}", str(row.get("title", "")), begin,
                              _ms(row.get("end")), functions, state))
    return windows


def parse_bybit(data: Any) -> list[Window] | None:
    """Bybit `GET /v5/system/status`: {"retCode":0,"result":{"list":[{"id","title","state","begin","end",
    "product","serviceTypes",...}]}}. Product 2 alone is spot; anything else, or none named, counts."""
    if not isinstance(data, dict) or data.get("retCode") not in (0, "0"):
        return None
    rows = _rows(data, "result", "list")
    if rows is None:
        return None
    windows = []
    for row in rows:
        begin = _ms(row.get("begin"))
        state = str(row.get("state", ""))
        if begin is None or state not in ACTIVE_STATES:
            continue
        products = {str(p) for p in row.get("product") or []}
        if products == {"2"}:
            continue  # spot only
        windows.append(Window("bybit", str(row.get("id") or begin), str(row.get("title", "")), begin,
                              _ms(row.get("end")), ALL, state))
    return windows


def parse_coinex(data: Any) -> list[Window] | None:
    """CoinEx `GET /v2/maintain/info`: {"code":0,"data":[{"started_at","ended_at","scope":[...],
    "protect_duration_start","protect_duration_end"}]}. Every scope counts but spot alone: the docs list
    PERPETUAL, SPOT and ALL_SITE, and v2 calls the futures market FUTURES, so that (or any scope not
    documented yet) is read as touching futures. The protect period after a window accepts only maker-only
    limit orders: orders out."""
    if not isinstance(data, dict) or data.get("code") not in (0, "0"):
        return None
    rows = _rows(data, "data")
    if rows is None:
        return None
    windows = []
    for row in rows:
        scope = {str(s).upper() for s in row.get("scope") or []}
        if scope and scope <= COINEX_SPOT_SCOPES:
            continue
        begin, end = _ms(row.get("started_at")), _ms(row.get("ended_at"))
        if begin is not None:
            windows.append(Window("coinex", f"{begin}", ",".join(sorted(scope)) or "maintenance", begin, end,
                                  ALL))
        protect_begin = _ms(row.get("protect_duration_start"))
        protect_end = _ms(row.get("protect_duration_end"))
        if protect_begin is not None and protect_end is not None:
            windows.append(Window("coinex", f"{protect_begin}:protect", "protect period (maker-only orders)",
                                  protect_begin, protect_end, frozenset({ORDERS})))
    return windows


ENDPOINTS: dict[str, tuple[str, Callable[[Any], list[Window] | None]]] = {
    "okx": ("/api/v5/system/status", parse_okx),
    "bybit": ("/v5/system/status", parse_bybit),
    "coinex": ("/v2/maintain/info", parse_coinex),
}


class MaintenanceWatcher:
    """Polls the bound venues' maintenance notices and applies them to VenueHealth and to openings."""

    def __init__(self, exchanges: dict[str, Any], health: VenueHealth, lead_s: int, poll_s: int,
                 now_ms: Callable[[], int], event: Callable[..., None]) -> None:
        self._exchanges = exchanges
        self._health = health
        self._lead_ms = lead_s * 1000
        self._poll_ms = poll_s * 1000
        self._now_ms = now_ms
        self._event = event
        self.windows: dict[str, list[Window]] = {}
        self._next_poll_ms = 0
        self._announced: set[tuple[str, str]] = set()
        self._unreadable: set[str] = set()
        self._held: set[str] = set()
        self._blocked_said: set[tuple[str, str]] = set()
        self.blocked: dict[str, str] = {}  # venue -> why no new pair opens there now

    def start(self) -> None:
        for venue in sorted(self._exchanges):
            if venue in NO_ENDPOINT:
                self._event(f"{venue}: {NO_ENDPOINT[venue]}; its outages are seen from its calls only")
        self.check()

    def check(self) -> None:
        """Once a turn: poll when due, then apply what is known at this moment."""
        now = self._now_ms()
        if now >= self._next_poll_ms:
            self._poll()
            near = any(w.begin_ms - self._lead_ms - self._poll_ms <= now
                       for windows in self.windows.values() for w in windows)
            self._next_poll_ms = now + (min(self._poll_ms, NEAR_POLL_S * 1000) if near else self._poll_ms)
        self._apply(now)

    def _poll(self) -> None:
        for venue, exchange in sorted(self._exchanges.items()):
            if venue not in ENDPOINTS:
                continue
            path, parse = ENDPOINTS[venue]
            windows = parse(_get(exchange, path))
            if windows is None:
                if venue not in self._unreadable:
                    self._unreadable.add(venue)
                    self._event(f"{venue}: maintenance status unreadable ({path}); carrying on with what its "
                                "calls show", "warn")
                continue
            self._unreadable.discard(venue)
            self.windows[venue] = windows
            for window in windows:
                if (venue, window.ident) not in self._announced:
                    self._announced.add((venue, window.ident))
                    self._event(f"announced: {window.describe()}", "warn")

    def _apply(self, now: int) -> None:
        self.blocked = {}
        for venue, windows in self.windows.items():
            current = [w for w in windows if w.under_way(now)]
            functions = frozenset().union(*(w.functions for w in current)) if current else frozenset()
            if functions:
                why = f"the venue's maintenance notice: {current[0].describe()}"
                self._health.hold(venue, functions, why)
                self._held.add(venue)
            elif venue in self._held:
                self._held.discard(venue)
                self._health.release(venue)
                self._event(f"{venue}: maintenance over by its notice; its functions come back at their next "
                            "good answer")
            soon = [w for w in windows if not w.under_way(now) and w.begin_ms - self._lead_ms <= now
                    and (w.end_ms is None or now < w.end_ms) and w.functions & {ORDERS, ACCOUNT}]
            if soon:
                begins = _utc(soon[0].begin_ms)
                self.blocked[venue] = f"{venue}: maintenance from {begins}: no new pairs there"
                if (venue, soon[0].ident) not in self._blocked_said:
                    self._blocked_said.add((venue, soon[0].ident))
                    self._event(f"{self.blocked[venue]} (outage.maintenance_lead_s "
                                f"{self._lead_ms // 1000} s before it)", "warn")


def _get(exchange: Any, path: str) -> Any:
    return venue_io(exchange, "GET", path)
