"""Request budget, clock sync and back-off of a live exchange object (Binance USDⓈ-M payloads, REST
mocked)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import requests

from fmz_compat.live_limits import Backoff, measure_clock

API = "https://fapi.binance.com/fapi"


class FakeClock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


def test_backoff_opens_on_the_second_network_failure_and_doubles_up_to_8_s():
    clock = FakeClock()
    backoff = Backoff(clock)
    backoff.failed("RequestTimeout")
    assert backoff.blocked_ms() == 0  # one timeout: the next call goes out
    waits = []
    for _ in range(7):
        backoff.failed("RequestTimeout")
        waits.append(backoff.blocked_ms())
        clock.ms += backoff.blocked_ms()
    assert waits == [500, 1000, 2000, 4000, 8000, 8000, 8000]
    backoff.succeeded()
    assert backoff.blocked_ms() == 0 and backoff.failures == 0


def test_rate_limit_backs_off_at_once_for_the_venues_retry_after():
    clock = FakeClock()
    backoff = Backoff(clock)
    backoff.failed("RateLimitExceeded", rate_limited=True, retry_after_s=3)
    assert backoff.blocked_ms() == 3000
    clock.ms += 3000
    backoff.failed("RateLimitExceeded", rate_limited=True)
    assert backoff.blocked_ms() == 2000  # no Retry-After: 1 s doubling


def test_clock_offset_takes_the_middle_of_the_round_trip():
    stamps = iter([1000, 1040])
    offset, rtt = measure_clock(lambda: 6020, lambda: next(stamps))
    assert (offset, rtt) == (5000, 40)


def test_calls_after_two_timeouts_are_not_sent_until_the_back_off_ends(binance, http):
    ex, log = binance
    http.post(f"{API}/v1/order", body=requests.exceptions.ReadTimeout("read timed out"))
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) is None
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) is None
    sent = len(http.calls)
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) is None
    assert len(http.calls) == sent  # held back: nothing reached the venue
    assert not ex.last_outcome_unknown and list(ex.in_flight) == ["fmzc0x1", "fmzc0x2"]
    assert "not sent: backing off" in log.last_error and "after 2 network failures" in log.last_error
    assert ex.rate_budget()["backoff_ms"] > 0
    ex.backoff.until_ms = 0  # the window passed
    http.get(f"{API}/v1/premiumIndex", json={"symbol": "BTCUSDT", "lastFundingRate": "0.0001",
                                             "nextFundingTime": 1, "time": 1, "markPrice": "1"})
    assert ex.GetFundings("BTC_USDT.swap") is not None
    assert ex.backoff.failures == 0


def test_429_with_retry_after_holds_calls_for_that_long(binance, http):
    ex, log = binance
    http.post(f"{API}/v1/order", status=429, headers={"Retry-After": "7"},
              json={"code": -1003, "msg": "Too many requests; current limit is 2400 requests per minute."})
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) is None
    assert ex.last_outcome_unknown
    assert 6000 < ex.rate_budget()["backoff_ms"] <= 7000


def test_rate_budget_counts_requests_and_reads_the_venues_weight_header(binance, http):
    ex, _ = binance
    http.get(f"{API}/v1/premiumIndex", headers={"X-MBX-USED-WEIGHT-1M": "120"},
             json={"symbol": "BTCUSDT", "lastFundingRate": "0.0001", "nextFundingTime": 1, "time": 1,
                   "markPrice": "1"})
    http.get(f"{API}/v1/fundingInfo", json=[])
    for _ in range(3):
        ex.GetFundings("BTC_USDT.swap")
    budget = ex.rate_budget()
    # loading markets, three reads, one funding-interval list (kept for an hour)
    assert budget["requests_1s"] == budget["requests_60s"] == 5
    venue = (budget["venue_remaining"], budget["venue_limit"], budget["venue_window"])
    assert venue == (2280, 2400, "1m weight")
    assert budget["min_interval_ms"] == 50.0 and budget["backoff_ms"] == 0


def test_sync_clock_measures_the_offset_and_signs_with_the_venues_time(binance, http):
    ex, _ = binance
    ahead_ms = 5000
    http.get(f"{API}/v1/time", json={"serverTime": time.time_ns() // 1_000_000 + ahead_ms})
    offset = ex.sync_clock()
    assert abs(offset - ahead_ms) <= ex.clock_rtt_ms + 5 and ex.time_offset_ms == offset
    http.get(f"{API}/v2/account", json={"assets": [], "positions": []})
    ex.GetAccount()
    signed = next(c.request.url for c in http.calls if "timestamp=" in c.request.url)
    stamp = int(parse_qs(urlparse(signed).query)["timestamp"][0])
    assert abs(stamp - (time.time_ns() // 1_000_000 + ahead_ms)) < 1000  # the venue's clock, not ours
