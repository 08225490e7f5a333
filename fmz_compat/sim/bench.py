"""Simulator throughput: `python -m fmz_compat.sim.bench [--venues 5] [--symbols 20] [--minutes 60]`.

A loop that calls GetTickers() on every venue each `--poll-ms` of simulated time (what the hedger's
market refresh does) and prints venue-symbol updates per second and the per-tick latency of
advancing the world plus reading all tickers. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import time

from fmz_compat.core import VENUE_NAMES, BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world
from fmz_compat.sim.params import _ALT_PRICES

START_MS = 1_719_792_000_000


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        print(f"fmz_compat.sim.bench: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def run(venues: int, symbols: int, minutes: float, poll_ms: int, seed: int = 1) -> dict[str, float]:
    pairs = ("BTC_USDT", "ETH_USDT", *(f"{c}_USDT" for c in list(_ALT_PRICES)[: max(0, symbols - 2)]))
    pairs = pairs[:symbols]
    eids = list(VENUE_NAMES.values())[:venues]
    cfg = SimConfig(seed=seed, start_ms=START_MS, bindings=tuple(ExchangeBinding(e) for e in eids),
                    symbols=pairs)
    clock = BacktestClock(START_MS * 1_000_000, int((START_MS + minutes * 60_000) * 1_000_000))
    world = create_world(cfg, clock, MemoryLog())
    ticks: list[float] = []
    t_start = time.perf_counter()
    try:
        while True:
            t0 = time.perf_counter()
            for ex in world.exchanges:
                ex.GetTickers()
            ticks.append(time.perf_counter() - t0)
            clock.sleep(poll_ms)
    except EOFError:
        pass
    wall = time.perf_counter() - t_start
    ticks.sort()
    updates = world.k * len(pairs) * len(eids)
    return {
        "venues": len(eids), "symbols": len(pairs), "simulated_minutes": minutes, "wall_s": round(wall, 3),
        "venue_symbol_updates_per_s": round(updates / wall),
        "tick_p50_ms": round(ticks[len(ticks) // 2] * 1e3, 3),
        "tick_p99_ms": round(ticks[int(len(ticks) * 0.99)] * 1e3, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m fmz_compat.sim.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--venues", type=int, default=5, choices=range(1, 6), metavar="1..5")
    parser.add_argument("--symbols", type=int, default=20, choices=range(1, 51), metavar="1..50")
    parser.add_argument("--minutes", type=float, default=60.0, help="simulated minutes (default 60)")
    parser.add_argument("--poll-ms", type=int, default=1000, help="simulated ms between ticks (default 1000)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.poll_ms <= 0:
        parser.error("--minutes and --poll-ms must be positive")
    figures = run(args.venues, args.symbols, args.minutes, args.poll_ms)
    print("  ".join(f"{k} {v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
