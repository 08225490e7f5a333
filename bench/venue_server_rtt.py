"""Round trip of one FMZ call from a node to the venue server on loopback: p50 / p99.

    .venv/bin/python bench/venue_server_rtt.py [--calls 2000] [--runs 3] [--symbols 20]

Starts `python -m fmz_compat venue-server` as its own process (3 venues, speed 1, no injected
latency) and times, from this process through fmz_compat.remote, GET /time (the HTTP floor) and
the calls a strategy tick makes: GetTicker, GetTickers, GetPositions, GetAccount and a small market
order (buy and sell in turn). Baseline, in the same process: the same calls on an in-process
simulator exchange object (no HTTP), so `x direct` is what the server adds. Medians over runs of the
per-run p50 / p99. Figures only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import ROOT, START_MS, bindings, median, percentile, symbols

from fmz_compat.core import BacktestClock, MemoryLog, SimConfig
from fmz_compat.remote import RemoteClock, connect, remote_world_factory
from fmz_compat.sim import create_world


def _calls(ex: Any) -> dict[str, Callable[[int], Any]]:
    return {
        "GetTicker": lambda i: ex.GetTicker("BTC_USDT.swap"),
        "GetTickers": lambda i: ex.GetTickers(),
        "GetPositions": lambda i: ex.GetPositions(),
        "GetAccount": lambda i: ex.GetAccount(),
        "CreateOrder": lambda i: ex.CreateOrder("BTC_USDT.swap", "buy" if i % 2 == 0 else "sell", -1, 0.001),
    }


def _time(fn: Callable[[int], Any], calls: int) -> tuple[float, float]:
    samples = []
    for i in range(calls):
        t0 = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t0) * 1e3)
    samples.sort()
    return percentile(samples, 0.5), percentile(samples, 0.99)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--symbols", type=int, default=20)
    a = ap.parse_args()
    syms = ",".join(symbols(a.symbols))
    command = [sys.executable, "-m", "fmz_compat", "venue-server", "--port", "0", "--speed", "1",
               "--symbols", syms, "--balance", "100000", "--quiet"]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split()[2]
        session = connect(url, "bench")
        remote = remote_world_factory(session, [0])(None, RemoteClock(session), MemoryLog()).exchanges[0]
        cfg = SimConfig(seed=1, start_ms=START_MS, bindings=bindings(3), symbols=tuple(symbols(a.symbols)))
        clock = BacktestClock(START_MS * 1_000_000, (START_MS + 86_400_000) * 1_000_000)
        direct = create_world(cfg, clock, MemoryLog()).exchanges[0]
        print(f"venue server {url}: 3 venues x {a.symbols} symbols, {a.calls} calls x {a.runs} runs")
        print(f"{'call':<14}{'p50 ms':>9}{'p99 ms':>9}{'direct p50':>12}{'x direct':>10}")
        rows: dict[str, list[tuple[float, float, float]]] = {}
        for _ in range(a.runs):
            floor = _time(lambda i: session.request("GET", "/time"), a.calls)
            rows.setdefault("GET /time", []).append((*floor, float("nan")))
            for (name, fn), direct_fn in zip(_calls(remote).items(), _calls(direct).values(), strict=True):
                p50, p99 = _time(fn, a.calls)
                base = _time(direct_fn, a.calls)[0]
                rows.setdefault(name, []).append((p50, p99, base))
        for name, runs in rows.items():
            p50, p99, base = (median([r[k] for r in runs]) for k in range(3))
            ratio = f"{p50 / base:9.1f}x" if base == base else f"{'-':>10}"
            direct_text = f"{base:12.3f}" if base == base else f"{'-':>12}"
            print(f"{name:<14}{p50:9.3f}{p99:9.3f}{direct_text}{ratio}")
        session.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
