"""Cost of the wrapper every venue call goes through (hedge/outage.py MonitoredExchange).

    .venv/bin/python bench/outage_call.py [--calls 200000] [--runs 5]

One stand-in exchange whose GetTickers answers a constant list and whose GetOrder answers None (a failed
call). Timed, in the same process: the bare call (the baseline), the call through MonitoredExchange with the
one-node rate budget (hedge/ratelimit.py TokenBuckets behind AdapterAwareBudget, as App builds it) and a
clock that moves 1 ms every 5 calls. Prints ns per call (median of --runs) and the wrapper's cost over the
bare call; nothing is asserted. Times are this process's CPU time (the figure holds on a busy machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hedge.config import RateConfig  # noqa: E402
from hedge.outage import MonitoredExchange, VenueHealth  # noqa: E402
from hedge.ratelimit import AdapterAwareBudget, TokenBuckets  # noqa: E402

TICKERS = [{"Symbol": "BTC_USDT.swap", "Buy": 1.0, "Sell": 1.1, "Time": 1}]


class _Venue:
    def GetTickers(self) -> list:
        return TICKERS

    def GetOrder(self, _order_id: str) -> None:
        return None


def _timed(fn, calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - started) / calls * 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    ns = parser.parse_args()
    ticks = [0]

    def now_ms() -> int:
        ticks[0] += 1
        return ticks[0] // 5

    cfg = RateConfig()
    health = VenueHealth(3, now_ms, lambda *_a, **_k: None)
    budget = AdapterAwareBudget(TokenBuckets(cfg, now_ms), cfg)
    inner = _Venue()
    wrapped = MonitoredExchange(inner, "binance", health, budget)
    bare, good, bad = [], [], []
    for _ in range(ns.runs):
        bare.append(_timed(lambda: inner.GetTickers(), ns.calls))
        good.append(_timed(lambda: wrapped.GetTickers(), ns.calls))
        bad.append(_timed(lambda: wrapped.GetOrder("1"), ns.calls // 10))
    b, g, f = statistics.median(bare), statistics.median(good), statistics.median(bad)
    print(f"bare call                      {b:8.0f} ns/call")
    print(f"through MonitoredExchange      {g:8.0f} ns/call  (wrapper +{g - b:.0f} ns, "
          f"{g / b:.1f}x the bare call)")
    print(f"  a failing call (None)        {f:8.0f} ns/call")
    print(f"median of {ns.runs} runs of {ns.calls:,} calls")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
