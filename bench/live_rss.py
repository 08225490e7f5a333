"""Peak RSS and CPU of a live node: strategy.py on 5 venues x 20 symbols, against fake venues on loopback.

    .venv/bin/python bench/live_rss.py [--seconds 180] [--symbols 20] [--listed 300] [--interval-ms 100]
                                       [--modes lean,full] [--runs 1] [--warmup 30] [--status-s 60]

A server process runs five fake venues (bench/_live_venues.py: real HTTP and websocket on 127.0.0.1,
each venue's own payload formats, `--listed` swaps listed per venue, books updated every
`--interval-ms` per symbol). Then, for each way of loading ccxt, a fresh node process runs the real
strategy.py through `python -m fmz_compat live`'s world (LiveExchange objects, ccxt clients pointed at
the fake venues, websocket book feeds) for `--seconds`, the strategy's loop every `--loop-ms`, and
reports its peak RSS (VmHWM) and what it did. Nothing leaves the machine. Figures only.

CPU: the node's own user+sys time (os.times(), every thread of the process) per wall second, and the
book frames its feeds read off the sockets per second, both over the run after `--warmup` seconds (start,
market loading and subscriptions excluded) and over the whole run. The machine may be shared: the node's
CPU time is the comparable figure, not wall time. With `--runs N`, medians over N fresh nodes per mode.
Each fake venue sends every streamed symbol's update every `--interval-ms`: 5 venues x 20 symbols at
1000 ms is about 100 updates/s in all.

- lean: fmz_compat.ccxt_lean (only the five venue classes), what `live` uses
- full: `import ccxt` first (every exchange module), for comparison
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import ROOT, median, stop_server, strategy_params, symbols

from fmz_compat.core import VENUE_NAMES

BUDGET_MB = 128


def _serve(ns: argparse.Namespace) -> None:
    from _live_venues import serve

    from fmz_compat.sim.params import _ALT_PRICES

    prices = {"BTC": 95000.0, "ETH": 3400.0, **_ALT_PRICES}
    traded = [(s.split("_")[0], prices[s.split("_")[0]]) for s in symbols(ns.symbols)]

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        venues = await serve(
            traded, ns.listed, ns.interval_ms, lambda ports: print(json.dumps(ports), flush=True)
        )
        await stop.wait()
        for v in venues.values():
            if v.unknown:
                print(f"{v.venue}: unknown paths {v.unknown}", file=sys.stderr)
        print(f"requests served: { {v.venue: v.requests for v in venues.values()} }", file=sys.stderr)

    asyncio.run(main())


def _peak_rss_mb() -> float:
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) / 1024  # type: ignore[union-attr]


def _rss_mb() -> float:
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024  # type: ignore[union-attr]


@dataclass(frozen=True)
class Mark:
    """The node at one moment: monotonic wall seconds, CPU seconds used so far, book frames read so far."""

    wall_s: float
    cpu_s: float
    frames: int


def _mark(feeds: list[Any]) -> Mark:
    times = os.times()
    return Mark(time.monotonic(), times.user + times.system, sum(feed.frames for feed in feeds))


def per_wall_second(start: Mark, end: Mark) -> dict[str, float]:
    """CPU seconds per wall second (fraction of one core) and book frames per second between two marks."""
    wall = end.wall_s - start.wall_s
    if wall <= 0:
        raise ValueError("the end mark must come after the start mark")
    return {"cpu_core": (end.cpu_s - start.cpu_s) / wall, "frames_per_s": (end.frames - start.frames) / wall}


def _rehost(value: Any, base: str) -> Any:
    if isinstance(value, dict):
        return {k: _rehost(v, base) for k, v in value.items()}
    if isinstance(value, str):
        return re.sub(r"^https?://[^/]+", base, value)
    return value


def _node(ns: argparse.Namespace) -> None:
    if ns.ccxt == "full":
        import ccxt  # noqa: F401  - every exchange module, before fmz_compat.live picks its loader

    from fmz_compat.keys import Credentials
    from fmz_compat.live import build_client
    from fmz_compat.live_cli import add_live_parser, live_config, live_world_factory
    from fmz_compat.runner import run

    ports = json.loads(ns.ports)
    venues = list(VENUE_NAMES)
    syms = symbols(ns.symbols)
    params = json.loads(
        strategy_params(
            syms,
            len(venues),
            open_threshold_bps=1000,
            loop_interval_ms=ns.loop_ms,
            status_interval_s=ns.status_s,
        )
    )
    creds = {v: Credentials(f"{v}KEY0000", f"{v}SECRET0000", "pass" if v == "okx" else "") for v in venues}

    def client_factory(venue: str, credentials: Any, *, testnet: bool = False, broker_tag: str = "") -> Any:
        client = build_client(venue, credentials, broker_tag=broker_tag)
        client.urls["api"] = _rehost(client.urls["api"], f"http://127.0.0.1:{ports[venue]}")
        return client

    with tempfile.TemporaryDirectory() as tmp:
        params_path = Path(tmp) / "params.json"
        params_path.write_text(json.dumps(params))
        sub = argparse.ArgumentParser().add_subparsers()
        cli = add_live_parser(sub).parse_args(
            [str(ROOT / "strategy.py"), "--params", str(params_path), "--venues", ",".join(venues),
             "--currency", "BTC_USDT", "--out", str(Path(tmp) / "runs"), "--book-max-age-ms", "2000"]
        )
        config, source = live_config(cli)
        books = {
            "enabled": True,
            "pairs": list(syms),
            "max_age_ms": 2000,
            "urls": {v: f"ws://127.0.0.1:{ports[v]}/ws" for v in venues},
        }
        feeds: list[Any] = []
        live_factory = live_world_factory(creds, client_factory=client_factory, books=books)

        def factory(*args: Any) -> Any:
            world = live_factory(*args)
            feeds.extend(ex.books for ex in world.exchanges if ex.books is not None)
            return world

        started = time.monotonic()
        first = _mark(feeds)
        samples: list[float] = []
        marks: list[Mark] = []

        def sample() -> None:
            while time.monotonic() - started < ns.seconds:
                samples.append(_rss_mb())
                if not marks and time.monotonic() - started >= ns.warmup:
                    marks.append(_mark(feeds))
                time.sleep(min(1.0, max(0.0, started + ns.seconds - time.monotonic())))
            marks.append(_mark(feeds))
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=sample, daemon=True).start()
        result = run(
            config, world_factory=factory, source=source, out=lambda line: print(line, file=sys.stderr)
        )
        elapsed = time.monotonic() - started
    ccxt_modules = sum(
        1
        for m in sys.modules
        if m.startswith("ccxt.")
        and m.count(".") == 1
        and not m.startswith(("ccxt.base", "ccxt.abstract", "ccxt.static"))
    )
    stats = result.stats.get("venues", {})
    print(
        json.dumps(
            {
                "ccxt": ns.ccxt,
                "exit": result.exit_code,
                "ended_by": result.ended_by,
                "seconds": round(elapsed, 1),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
                "rss_max_sampled_mb": round(max(samples), 1) if samples else None,
                "rss_end_mb": round(samples[-1], 1) if samples else None,
                "ccxt_exchange_modules": ccxt_modules,
                "whole_run": per_wall_second(first, marks[-1]) if marks else None,
                "steady": per_wall_second(marks[0], marks[-1]) if len(marks) == 2 else None,
                "steady_s": round(marks[-1].wall_s - marks[0].wall_s, 1) if len(marks) == 2 else None,
                "book_reads": {k: v.get("book_reads") for k, v in stats.items()},
                "books": {k: v.get("books") for k, v in stats.items()},
            }
        )
    )


def _run_node(me: list[str], ns: argparse.Namespace, ports: str, mode: str, common: list[str]) -> Any:
    out = subprocess.run(
        [
            *me,
            "--node",
            "--ports",
            ports,
            "--ccxt",
            mode,
            "--seconds",
            str(ns.seconds),
            "--warmup",
            str(ns.warmup),
            "--loop-ms",
            str(ns.loop_ms),
            "--status-s",
            str(ns.status_s),
            *common,
        ],
        capture_output=True,
        text=True,
    )
    if ns.node_log:
        with open(ns.node_log, "a") as log:
            log.write(out.stderr)
    if out.returncode != 0 or not out.stdout.strip():
        print(f"{mode}: node failed (exit {out.returncode})\n{out.stderr[-3000:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _print_run(mode: str, figures: Any, symbol_count: int) -> None:
    verdict = "within" if figures["peak_rss_mb"] <= BUDGET_MB else "OVER"
    print(
        f"{mode:5s} ccxt: peak RSS {figures['peak_rss_mb']:.1f} MB ({verdict} {BUDGET_MB} MB); "
        f"RSS sampled every 1 s: max {figures['rss_max_sampled_mb']} MB, "
        f"end {figures['rss_end_mb']} MB; "
        f"{figures['ccxt_exchange_modules']} ccxt exchange modules; run {figures['seconds']} s, "
        f"exit {figures['exit']} ({figures['ended_by']})"
    )
    steady, whole = figures["steady"], figures["whole_run"]
    if steady:
        print(
            f"      CPU after warm-up ({figures['steady_s']} s): {steady['cpu_core']:.4f} core, "
            f"{steady['frames_per_s']:.1f} book frames/s read; whole run: {whole['cpu_core']:.4f} core, "
            f"{whole['frames_per_s']:.1f} frames/s"
        )
    reads = next(iter(figures["book_reads"].values()), None) or {}
    print(
        f"      strategy loop turns: {sum(reads.values()) // max(symbol_count, 1)} "
        f"(GetTickers answers per venue; the start takes part of the run)"
    )
    for venue, reads in figures["book_reads"].items():
        print(f"    {venue}: book reads {reads}, feed {figures['books'][venue]}")


def _print_medians(mode: str, runs: list[Any]) -> None:
    steady = [r["steady"] for r in runs if r["steady"]]
    if not steady:
        return
    each = ", ".join(f"{s['cpu_core']:.4f}" for s in steady)
    print(
        f"{mode:5s} ccxt, median of {len(runs)} runs: CPU after warm-up "
        f"{median([s['cpu_core'] for s in steady]):.4f} core "
        f"(runs: {each}), "
        f"{median([s['frames_per_s'] for s in steady]):.1f} book frames/s read, "
        f"peak RSS {median([r['peak_rss_mb'] for r in runs]):.1f} MB "
        f"(max {max(r['peak_rss_mb'] for r in runs):.1f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--listed", type=int, default=300, help="swaps each fake venue lists")
    parser.add_argument("--interval-ms", type=int, default=100, help="book update interval per symbol")
    parser.add_argument("--loop-ms", type=int, default=500, help="the strategy's loop_interval_ms")
    parser.add_argument("--status-s", type=int, default=60, help="status_interval_s (reconciles)")
    parser.add_argument("--modes", default="lean,full")
    parser.add_argument("--runs", type=int, default=1, help="fresh nodes per mode; medians printed")
    parser.add_argument("--warmup", type=float, default=30, help="seconds left out of the CPU figure")
    parser.add_argument("--node-log", help="append each node's robot log (its stderr) to this file")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--node", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--ccxt", default="lean", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.serve:
        _serve(ns)
        return 0
    if ns.node:
        _node(ns)
        return 0

    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--symbols", str(ns.symbols), "--listed", str(ns.listed), "--interval-ms", str(ns.interval_ms)]
    server = subprocess.Popen([*me, "--serve", *common], stdout=subprocess.PIPE, text=True)
    try:
        ports = server.stdout.readline().strip()  # type: ignore[union-attr]
        print(f"fake venues on loopback: {ports}")
        print(
            f"{ns.symbols} symbols streamed, {ns.listed} listed per venue, "
            f"book update every {ns.interval_ms} ms per symbol; strategy loop {ns.loop_ms} ms, "
            f"status/reconcile every {ns.status_s} s; "
            f"{ns.seconds:.0f} s per node, CPU counted after {ns.warmup:.0f} s; {ns.runs} run(s) per mode"
        )
        for mode in ns.modes.split(","):
            runs = []
            for _ in range(ns.runs):
                figures = _run_node(me, ns, ports, mode, common)
                if figures is not None:
                    _print_run(mode, figures, ns.symbols)
                    runs.append(figures)
            if ns.runs > 1:
                _print_medians(mode, runs)
    finally:
        stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
