"""What a live exchange object knows about its account's request budget, the venue's clock and
failing REST calls: counted requests and the venue's own rate-limit headers, a clock offset
measured against the venue's server time, and the back-off after consecutive network failures; and
the OKX broker tag's format, checked before a client is built (without importing ccxt).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The venue headers that report the account's rate-limit usage: (used or remaining, limit, reset)
_BINANCE_WEIGHT_LIMIT_1M = 2400  # REQUEST_WEIGHT per minute per IP in /fapi/v1/exchangeInfo
_OKX_TAG = re.compile(r"[A-Za-z0-9]{1,16}")  # an OKX order tag (the broker tag)


def okx_broker_tag_problem(tag: str) -> str:
    """One line naming the fix when OKX would refuse `tag` as an order tag (at most 16 letters and digits,
    OKX POST /api/v5/trade/order `tag`); "" when it is fine or empty."""
    if not tag or _OKX_TAG.fullmatch(tag):
        return ""
    return (f"--okx-broker-tag {tag!r}: OKX takes at most 16 letters and digits (A-Z, a-z, 0-9); fix it or "
            "leave it out")


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class VenueUsage:
    """The account's usage as the venue last reported it in response headers."""

    remaining: int | None = None
    limit: int | None = None
    window: str = ""
    reset_ms: int | None = None
    seen_ms: int = 0


class RequestMeter:
    """Counts the HTTP requests a ccxt client sends (wrapping its `fetch`) and reads the venue's
    rate-limit headers from each answer."""

    def __init__(self, client: Any, venue: str, now_ms: Callable[[], int] = wall_ms) -> None:
        self.venue = venue
        self.now_ms = now_ms
        self.sent: deque[int] = deque()
        self.total = 0
        self.usage = VenueUsage()
        self._client = client
        self._fetch = client.fetch
        client.fetch = self._counted

    def _counted(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        now = self.now_ms()
        self.sent.append(now)
        self.total += 1
        while self.sent and self.sent[0] < now - 60_000:
            self.sent.popleft()
        try:
            return self._fetch(url, method, headers, body)
        finally:
            self._read_headers(self._client.last_response_headers or {})

    def _read_headers(self, headers: Any) -> None:
        h = {str(k).lower(): v for k, v in dict(headers).items()}
        usage = None
        if self.venue == "binance" and "x-mbx-used-weight-1m" in h:
            used = int(h["x-mbx-used-weight-1m"])
            usage = VenueUsage(_BINANCE_WEIGHT_LIMIT_1M - used, _BINANCE_WEIGHT_LIMIT_1M, "1m weight")
        elif self.venue == "bybit" and "x-bapi-limit-status" in h:
            usage = VenueUsage(int(h["x-bapi-limit-status"]), _int(h.get("x-bapi-limit")), "endpoint 1s",
                               _int(h.get("x-bapi-limit-reset-timestamp")))
        elif self.venue == "bitmex" and "x-ratelimit-remaining" in h:
            reset = _int(h.get("x-ratelimit-reset"))
            usage = VenueUsage(int(h["x-ratelimit-remaining"]), _int(h.get("x-ratelimit-limit")), "1m",
                               reset * 1000 if reset else None)
        if usage is not None:
            usage.seen_ms = self.now_ms()
            self.usage = usage

    def count(self, window_ms: int) -> int:
        since = self.now_ms() - window_ms
        return sum(1 for t in self.sent if t >= since)


class Backoff:
    """Consecutive network failures: the second one opens a window (0.5 s doubling, at most 8 s) in
    which calls are not sent; a rate-limit answer opens it at once (the venue's Retry-After, or 1 s
    doubling up to 60 s). Any answer from the venue closes it."""

    def __init__(self, now_ms: Callable[[], int] = wall_ms) -> None:
        self.now_ms = now_ms
        self.failures = 0
        self.until_ms = 0
        self.last_error = ""

    def failed(self, error: str, *, rate_limited: bool = False, retry_after_s: float | None = None) -> None:
        self.failures += 1
        self.last_error = error
        if rate_limited:
            wait = retry_after_s * 1000 if retry_after_s else min(1000 * 2 ** (self.failures - 1), 60_000)
        elif self.failures >= 2:
            wait = min(500 * 2 ** (self.failures - 2), 8000)
        else:
            return
        self.until_ms = max(self.until_ms, self.now_ms() + int(wait))

    def succeeded(self) -> None:
        self.failures = 0
        self.until_ms = 0

    def blocked_ms(self) -> int:
        return max(0, self.until_ms - self.now_ms())


def measure_clock(fetch_time: Callable[[], Any], now_ms: Callable[[], int] = wall_ms) -> tuple[int, int]:
    """(venue clock minus ours in ms, round trip in ms) from one server-time request, taking the
    venue's stamp as the middle of the round trip."""
    before = now_ms()
    server = int(fetch_time())
    after = now_ms()
    return server - (before + after) // 2, after - before


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None
