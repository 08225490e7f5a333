"""Recorded book updates per second through a replay (`backtest --replay`).

    .venv/bin/python bench/replay_throughput.py [--venues 5] [--symbols 20] [--minutes 10] [--rate 2]
                                                [--depth 20] [--flat] [--loop-ms 1000] [--runs 3]

Writes one synthetic recording (venues x symbols, `--rate` book updates per venue-symbol per second,
20 levels a side, a trade every third update) and replays it three ways, in the same process:

* baseline: only reading it (gunzip + one json.loads per line), the floor any replay pays;
* world: the replay world applying every line, with GetTickers() on every venue each simulated second;
* strategy: `strategy.py` through `fmz_compat.runner.run` (a real robot) polling every second (`--loop-ms`: a
  shorter loop than the update period leaves most symbols' books unchanged at a turn).

Book updates/s = recorded book lines / wall seconds. Medians of --runs; nothing is asserted.

`--recording FILE` replays that recording instead of a synthetic one (the venues and symbols are its own)
and `--params FILE` gives the strategy parameter: the same-data comparison with Nautilus Trader
(../shared/bench/nautilus/README.md) in figures of this project alone, e.g.

    .venv/bin/python bench/replay_throughput.py --recording /tmp/perf/data/k5_100000.jsonl.gz \
        --params ../shared/bench/nautilus/params/project_k5.json --runs 3
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from _common import ROOT, START_MS, median, strategy_params, symbols, timed_run

from fmz_compat.core import BacktestClock, MemoryLog, SimConfig
from fmz_compat.runner import RunConfig
from fmz_compat.sim.replay import ReplayWorld, replay_bindings
from fmz_compat.sim.replay_format import iter_events, read_header
from fmz_compat.sim.replay_synth import write_synthetic

VENUES = ("binance", "bybit", "okx", "coinex", "bitmex")


def read_only(path: Path) -> float:
    started = time.perf_counter()
    for _event in iter_events(path):
        pass
    return time.perf_counter() - started


def world_only(path: Path) -> float:
    header = read_header(path)
    cfg = SimConfig(
        seed=1, start_ms=header.start_ms, bindings=replay_bindings(header, balance=100_000.0), symbols=()
    )
    clock = BacktestClock(header.start_ms * 1_000_000, header.end_ms * 1_000_000)
    started = time.perf_counter()
    world = ReplayWorld(cfg, clock, MemoryLog(), path, header)
    try:
        while True:
            for exchange in world.exchanges:
                exchange.GetTickers()
            clock.sleep(1000)
    except EOFError:
        pass
    finally:
        world.close()
    return time.perf_counter() - started


def strategy_loop(path: Path, params_json: str, out_root: Path) -> tuple[float, int]:
    header = read_header(path)
    config = RunConfig(
        mode="backtest",
        strategy_path=ROOT / "strategy.py",
        bindings=replay_bindings(header, balance=100_000.0),
        start_ms=header.start_ms,
        end_ms=header.end_ms,
        seed=1,
        symbols=(),
        params_json=params_json,
        out_root=out_root,
        quiet=True,
        replay=path,
    )
    return timed_run(config)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venues", type=int, default=5, choices=range(2, 6))
    parser.add_argument("--symbols", type=int, default=20, choices=range(1, 51))
    parser.add_argument("--minutes", type=float, default=10.0, help="recorded minutes (default 10)")
    parser.add_argument(
        "--rate",
        type=int,
        default=2,
        choices=(1, 2, 4, 5, 10),
        help="book updates per venue-symbol per second (default 2)",
    )
    parser.add_argument("--depth", type=int, default=20, help="levels a side in the synthetic recording")
    parser.add_argument("--flat", action="store_true", help="no basis between the synthetic venues (the "
                        "default has okx +12 bps, bybit -8 bps: openings)")
    parser.add_argument("--loop-ms", type=int, default=1000, help="the strategy's loop_interval_ms when "
                        "--params is not given: against --rate, how many symbols' books change per turn")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--recording", type=Path, help="replay this recording (default: a synthetic one)")
    parser.add_argument("--params", type=Path, help="strategy parameter file (default: params.json, the "
                        "recording's symbols, a 1 s loop)")
    ns = parser.parse_args()
    venues, syms = VENUES[: ns.venues], symbols(ns.symbols)
    with tempfile.TemporaryDirectory() as tmp:
        if ns.recording is not None:
            path = ns.recording
            header = read_header(path)
            syms, minutes = tuple(header.symbols), (header.end_ms - header.start_ms) / 60_000
            books = sum(1 for e in iter_events(path) if e.get("t") == "book")
            print(f"recording: {path} ({', '.join(header.venues)}; {', '.join(syms)}), {minutes:,.0f} min, "
                  f"{books:,} book lines, {path.stat().st_size / 1e6:.1f} MB gzip")
            n_venues = len(header.venues)
        else:
            path, minutes, n_venues = Path(tmp) / "bench.jsonl.gz", ns.minutes, ns.venues
            started = time.perf_counter()
            write_synthetic(
                path,
                venues=venues,
                symbols=syms,
                start_ms=START_MS,
                seconds=int(ns.minutes * 60),
                updates_per_s=ns.rate,
                depth=ns.depth,
                basis_bps=None if ns.flat else {"okx": 12.0, "bybit": -8.0},
            )
            written = time.perf_counter() - started
            books = sum(1 for e in iter_events(path) if e.get("t") == "book")
            size_mb = path.stat().st_size / 1e6
            print(
                f"recording: {ns.venues} venues x {ns.symbols} symbols x {ns.minutes:g} min at {ns.rate}/s = "
                f"{books:,} book lines, {size_mb:.1f} MB gzip, written in {written:.1f} s "
                f"({books / written:,.0f} books/s)"
            )
        if ns.params is not None:
            params_json = ns.params.read_text()
        else:
            params_json = strategy_params(syms, n_venues, loop_interval_ms=ns.loop_ms, status_interval_s=300)
        base, world, strat, cpu, trades = [], [], [], [], 0
        for i in range(ns.runs):
            base.append(read_only(path))
            world.append(world_only(path))
            started_cpu = time.process_time()
            wall, trades = strategy_loop(path, params_json, Path(tmp) / f"runs{i}")
            cpu.append(time.process_time() - started_cpu)
            strat.append(wall)
        b, w, s = median(base), median(world), median(strat)
        print(f"baseline  read + parse only      {books / b:>12,.0f} book updates/s  ({b:.2f} s)")
        print(
            f"world     replay + GetTickers/s  {books / w:>12,.0f} book updates/s  ({w:.2f} s, "
            f"{w / b:.2f}x baseline)"
        )
        print(
            f"strategy  strategy.py            {books / s:>12,.0f} book updates/s  ({s:.2f} s, "
            f"{s / b:.2f}x baseline, {trades} fills)"
        )
        c = median(cpu)
        print(f"          its CPU time           {books / c:>12,.0f} book updates/s  ({c:.2f} s of CPU: the "
              "figure to compare on a busy machine)")
        print(
            f"replay speed: {minutes * 60 / s:,.0f}x real time through the strategy (median of {ns.runs}); "
            f"peak RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
