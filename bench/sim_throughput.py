"""Simulated venue-symbol book updates per second through the full strategy loop.

    .venv/bin/python bench/sim_throughput.py [--venues 5] [--symbols 20] [--hours 2] [--runs 3]

Runs `strategy.py` through `fmz_compat.runner.run` (a real robot: store, globals, simulator) with the
strategy polling every simulated second, the simulator's price step. An update is one venue-symbol
book top moved by the simulator and read by the strategy, so updates = steps x venues x symbols.
Baseline, in the same process: the simulator alone serving GetTickers() every step with no strategy,
so the ratio shows what the strategy loop costs on top. Median of --runs runs; nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import ROOT, START_MS, bindings, median, strategy_params, symbols, timed_run

from fmz_compat.core import BacktestClock, MemoryLog, SimConfig
from fmz_compat.runner import RunConfig
from fmz_compat.sim import create_world

STEP_MS = 1000


def simulator_only(venues: int, n_symbols: int, hours: float) -> float:
    """Seconds of wall time for the simulator to serve every step's tickers to a do-nothing loop."""
    cfg = SimConfig(seed=1, start_ms=START_MS, bindings=bindings(venues), symbols=symbols(n_symbols))
    clock = BacktestClock(START_MS * 1_000_000, int((START_MS + hours * 3_600_000) * 1_000_000))
    world = create_world(cfg, clock, MemoryLog())
    started = time.perf_counter()
    try:
        while True:
            for exchange in world.exchanges:
                exchange.GetTickers()
            clock.sleep(STEP_MS)
    except EOFError:
        pass
    finally:
        world.close()
    return time.perf_counter() - started


def full_loop(venues: int, n_symbols: int, hours: float, out_root: Path) -> tuple[float, int]:
    syms = symbols(n_symbols)
    config = RunConfig(
        mode="backtest", strategy_path=ROOT / "strategy.py", bindings=bindings(venues),
        start_ms=START_MS, end_ms=START_MS + int(hours * 3_600_000), seed=1, symbols=syms,
        params_json=strategy_params(syms, venues, loop_interval_ms=STEP_MS, status_interval_s=300),
        out_root=out_root, quiet=True,
    )
    return timed_run(config)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venues", type=int, default=5, choices=range(2, 6))
    parser.add_argument("--symbols", type=int, default=20, choices=range(1, 51))
    parser.add_argument("--hours", type=float, default=2.0, help="simulated hours per run (default 2)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    steps = int(args.hours * 3_600_000 / STEP_MS)
    updates = steps * args.venues * args.symbols
    base, full, trades = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            base.append(simulator_only(args.venues, args.symbols, args.hours))
            wall, trades = full_loop(args.venues, args.symbols, args.hours, Path(tmp))
            full.append(wall)
    base_rate, full_rate = updates / median(base), updates / median(full)
    print(f"{args.venues} venues x {args.symbols} symbols, {args.hours:g} simulated h at {STEP_MS} ms "
          f"steps, median of {args.runs} runs")
    print(f"  full strategy loop : {full_rate:>10,.0f} venue-symbol updates/s  "
          f"({median(full):.2f} s wall, {trades} trades)")
    print(f"  simulator only     : {base_rate:>10,.0f} venue-symbol updates/s  ({median(base):.2f} s wall)")
    print(f"  ratio full/simulator-only throughput: {full_rate / base_rate:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
