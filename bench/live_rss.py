"""Peak RSS of a live node: strategy.py on 5 venues x 20 symbols, against fake venues on loopback.

    .venv/bin/python bench/live_rss.py [--seconds 180] [--symbols 20] [--listed 300] [--interval-ms 100]

A server process runs five fake venues (bench/_live_venues.py: real HTTP and websocket on 127.0.0.1,
each venue's own payload formats, `--listed` swaps listed per venue, books updated every
`--interval-ms` per symbol). Then, for each way of loading ccxt, a fresh node process runs the real
strategy.py through `python -m fmz_compat live`'s world (LiveExchange objects, ccxt clients pointed at
the fake venues, websocket book feeds) for `--seconds`, the strategy's loop every `--loop-ms`, and
reports its peak RSS (VmHWM) and what it did. Nothing leaves the machine. Figures only.

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
from pathlib import Path
from typing import Any

from _common import ROOT, strategy_params, symbols

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
    from fmz_compat.live_cli import live_config, live_world_factory
    from fmz_compat.runner import run

    ports = json.loads(ns.ports)
    venues = list(VENUE_NAMES)
    syms = symbols(ns.symbols)
    params = json.loads(
        strategy_params(
            syms, len(venues), open_threshold_bps=1000, loop_interval_ms=ns.loop_ms, status_interval_s=30
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
        cli = argparse.Namespace(
            file=ROOT / "strategy.py",
            params=str(params_path),
            arg=[],
            venues=",".join(venues),
            currency="BTC_USDT",
            out=Path(tmp) / "runs",
            quiet=False,
            book_max_age_ms=2000,
        )
        config, source = live_config(cli)
        books = {
            "enabled": True,
            "pairs": list(syms),
            "max_age_ms": 2000,
            "urls": {v: f"ws://127.0.0.1:{ports[v]}/ws" for v in venues},
        }
        factory = live_world_factory(creds, client_factory=client_factory, books=books)
        started = time.monotonic()
        samples: list[float] = []

        def sample() -> None:
            while time.monotonic() - started < ns.seconds:
                samples.append(_rss_mb())
                time.sleep(5)
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
                "book_reads": {k: v.get("book_reads") for k, v in stats.items()},
                "books": {k: v.get("books") for k, v in stats.items()},
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--listed", type=int, default=300, help="swaps each fake venue lists")
    parser.add_argument("--interval-ms", type=int, default=100, help="book update interval per symbol")
    parser.add_argument("--loop-ms", type=int, default=500, help="the strategy's loop_interval_ms")
    parser.add_argument("--modes", default="lean,full")
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
            f"book update every {ns.interval_ms} ms per symbol; strategy loop {ns.loop_ms} ms; "
            f"{ns.seconds:.0f} s per node"
        )
        for mode in ns.modes.split(","):
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
                    "--loop-ms",
                    str(ns.loop_ms),
                    *common,
                ],
                capture_output=True,
                text=True,
            )
            if out.returncode != 0 or not out.stdout.strip():
                print(f"{mode}: node failed (exit {out.returncode})\n{out.stderr[-3000:]}")
                continue
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            verdict = "within" if figures["peak_rss_mb"] <= BUDGET_MB else "OVER"
            print(
                f"{mode:5s} ccxt: peak RSS {figures['peak_rss_mb']:.1f} MB ({verdict} {BUDGET_MB} MB); "
                f"RSS sampled every 5 s: max {figures['rss_max_sampled_mb']} MB, "
                f"end {figures['rss_end_mb']} MB; "
                f"{figures['ccxt_exchange_modules']} ccxt exchange modules; run {figures['seconds']} s, "
                f"exit {figures['exit']} ({figures['ended_by']})"
            )
            reads = next(iter(figures["book_reads"].values()), None) or {}
            print(f"      strategy loop turns: {sum(reads.values()) // max(ns.symbols, 1)} "
                  f"(GetTickers answers per venue; the start takes part of the run)")
            for venue, reads in figures["book_reads"].items():
                print(f"    {venue}: book reads {reads}, feed {figures['books'][venue]}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            _, err = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            _, err = server.communicate()
        if err:
            print(err.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
