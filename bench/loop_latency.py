"""Latency of one strategy tick at 5 venues x 50 symbols, and the process's peak RSS.

    .venv/bin/python bench/loop_latency.py [--venues 5] [--symbols 50] [--ticks 3000] [--runs 3]

Builds a robot exactly as `python -m fmz_compat backtest` does (runtime globals, SQLite store,
simulator) and times each `hedge.App.tick()` with the strategy's loop interval of one simulated
second. A tick includes the simulator answering the strategy's calls (GetTickers per venue, depth and
orders when it trades). Baseline, in the same process: the same simulator answering only the
GetTickers calls, so `strategy share` is what hedge/ itself adds. Peak RSS is read from /proc
(VmHWM) before the baseline runs, and ccxt is checked not to be loaded. Figures only.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

from _common import ROOT, START_MS, bindings, median, percentile, strategy_params, symbols

from fmz_compat.api import Runtime
from fmz_compat.core import BacktestClock, SimConfig
from fmz_compat.runner import RunConfig, build_strategy_globals
from fmz_compat.sim import create_world
from fmz_compat.store import RobotStore
from hedge.app import App
from hedge.config import parse_params
from hedge.fmz import Api


def _world(venues: int, n_symbols: int, ticks: int, store_dir: Path):
    syms = symbols(n_symbols)
    end_ms = START_MS + (ticks + 5) * 1000 + 3_600_000  # slack: a tick may sleep (rate-budget waits)
    clock = BacktestClock(START_MS * 1_000_000, end_ms * 1_000_000)
    store = RobotStore(store_dir / "bench.db3")
    runtime = Runtime(clock=clock, store=store, robot_id=1)
    world = create_world(SimConfig(seed=1, start_ms=START_MS, bindings=bindings(venues), symbols=syms),
                         clock, runtime)
    runtime.exchanges.extend(world.exchanges)
    return syms, clock, store, runtime, world


def strategy_ticks(venues: int, n_symbols: int, ticks: int, store_dir: Path) -> list[float]:
    syms, clock, store, runtime, world = _world(venues, n_symbols, ticks, store_dir)
    params = strategy_params(syms, venues, status_interval_s=60)
    config = RunConfig(mode="backtest", strategy_path=ROOT / "strategy.py", bindings=bindings(venues),
                       start_ms=START_MS, end_ms=None, params_json=params)
    app = App(Api.from_globals(build_strategy_globals(runtime, config)), parse_params(params))
    if not app.start():
        raise SystemExit("the strategy refused to start; see the bench robot log")
    times = []
    try:
        for _ in range(ticks):
            started = time.perf_counter()
            app.tick()
            times.append(time.perf_counter() - started)
            clock.sleep(1000)
    finally:
        world.close()
        store.close()
    return times


def simulator_ticks(venues: int, n_symbols: int, ticks: int, store_dir: Path) -> list[float]:
    _syms, clock, store, _runtime, world = _world(venues, n_symbols, ticks, store_dir)
    times = []
    try:
        for _ in range(ticks):
            started = time.perf_counter()
            for exchange in world.exchanges:
                exchange.GetTickers()
            times.append(time.perf_counter() - started)
            clock.sleep(1000)
    finally:
        world.close()
        store.close()
    return times


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venues", type=int, default=5, choices=range(2, 6))
    parser.add_argument("--symbols", type=int, default=50, choices=range(1, 51))
    parser.add_argument("--ticks", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    p50s, p99s = [], []
    with tempfile.TemporaryDirectory() as tmp, redirect_stdout(io.StringIO()):
        for run_index in range(args.runs):
            folder = Path(tmp) / f"s{run_index}"
            folder.mkdir()
            times = sorted(strategy_ticks(args.venues, args.symbols, args.ticks, folder))
            p50s.append(percentile(times, 0.50))
            p99s.append(percentile(times, 0.99))
        rss = peak_rss_mb()
        ccxt_loaded = "ccxt" in sys.modules
        base50, base99 = [], []
        for run_index in range(args.runs):
            folder = Path(tmp) / f"b{run_index}"
            folder.mkdir()
            times = sorted(simulator_ticks(args.venues, args.symbols, args.ticks, folder))
            base50.append(percentile(times, 0.50))
            base99.append(percentile(times, 0.99))
    ms = 1e3

    def pair(p50: list[float], p99: list[float]) -> str:
        return f"p50 {median(p50) * ms:.3f} ms   p99 {median(p99) * ms:.3f} ms"

    print(f"{args.venues} venues x {args.symbols} symbols, {args.ticks} ticks per run, "
          f"median of {args.runs} runs")
    print(f"  strategy tick (hedge/ + simulator): {pair(p50s, p99s)}")
    print(f"  simulator GetTickers only         : {pair(base50, base99)}")
    print(f"  strategy share of the p50 tick    : {(median(p50s) - median(base50)) * ms:.3f} ms "
          f"(ratio tick/simulator-only {median(p50s) / median(base50):.2f})")
    print(f"  peak RSS {rss:.1f} MB   ccxt loaded: {'yes' if ccxt_loaded else 'no'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
