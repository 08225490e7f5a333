"""Reaction latency of a live node: from a book frame read off the socket to both legs' orders written.

    .venv/bin/python bench/reaction_latency.py [--seconds 60] [--warmup 40] [--runs 3] [--symbols 50]
                                               [--updates-per-s 100] [--move-every-ms 500] [--hold-ms 2000]
                                               [--loop-ms 1000] [--listed 60]

A server process runs the five stand-in venues of bench/_live_venues.py on loopback (real HTTP and
websocket, each venue's own formats), streaming `--symbols` books per venue at `--updates-per-s` book
updates per second in all (5 x 50 at 100/s: each book once every 2.5 s). Every `--move-every-ms` it moves
one venue-symbol's whole book up or down by `--move-bps` (the diff pushed at once) and moves it back after
`--hold-ms`: a cross-venue spread the strategy trades. Every order is refused by the venue with its
documented insufficient-margin answer (so positions never move and each decision is timed alike).

For each run a fresh node process runs the real strategy.py in `python -m fmz_compat live`'s world
(LiveExchange objects, ccxt clients on the stand-ins without ccxt's own request spacing, websocket book
feeds, orders by REST) until
`--warmup` + `--seconds` after its start is logged; decisions on frames read in the last `--seconds` count
(the start, binding 50 symbols on 5 venues, takes about a minute and is not counted). Stamps, all
`time.perf_counter_ns()` in the node:
- frame read: where the book feed reads the frame off the socket (BookFeed, passed to its `on_top`);
- order written: when an order request's bytes are written to its HTTP connection (http.client's send).
A decision is the order requests of one coin within 100 ms of each other (one per leg); it is timed from
the newest frame that moved that coin's top (on any venue) before its first leg (a later decision on the
same frame, or one more than --hold-ms + --loop-ms + 1 s after it, when the move was undone, reacts to no
frame: counted, not timed). Printed: p50 / p99 of frame -> first leg written and frame ->
both legs written, how much of it the strategy thread spent blocked on HTTP answers (the loopback venues'
reads and the first leg's answer), and the rest (in process, or asleep between loop turns); the same for
the frames read while no turn (App.tick) ran, whose orders the event's reaction sent (not a turn) without
a wait (App._wait: the request budget's wait before an order, a settle wait); turn durations; counts.
Medians over `--runs`. Figures only, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import ROOT, median, percentile, stop_server, strategy_params, symbols

from fmz_compat.core import VENUE_NAMES

ORDER_PATHS = {
    "/fapi/v1/order": "binance",
    "/v5/order/create": "bybit",
    "/api/v5/trade/order": "okx",
    "/api/v5/trade/batch-orders": "okx",
    "/v2/futures/order": "coinex",
    "/api/v1/order": "bitmex",
}
_SYMBOL = re.compile(rb'(?:symbol=|"symbol":\s*"|"instId":\s*"|"market":\s*")([A-Za-z0-9-]+)')
LEG_GAP_NS = 100_000_000  # order requests of one coin this close together are one decision's legs


def coin_of(market_id: str) -> str:
    """BTCUSDT, BTC-USDT-SWAP, XBTUSDT -> BTC."""
    coin = market_id.split("-")[0]
    coin = coin[:-4] if coin.endswith("USDT") else coin
    return "BTC" if coin == "XBT" else coin


# --- the server ---------------------------------------------------------------------------------
def _serve(ns: argparse.Namespace) -> None:
    from _live_venues import serve

    from fmz_compat.sim.params import _ALT_PRICES

    prices = {"BTC": 95000.0, "ETH": 3400.0, **_ALT_PRICES}
    traded = [(s.split("_")[0], prices[s.split("_")[0]]) for s in symbols(ns.symbols)]
    interval_ms = int(len(VENUE_NAMES) * ns.symbols * 1000 / ns.updates_per_s)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        venues = await serve(
            traded, ns.listed, interval_ms, lambda ports: print(json.dumps(ports), flush=True)
        )
        mover = asyncio.ensure_future(_move(venues, [coin for coin, _ in traded], ns))
        await stop.wait()
        mover.cancel()
        moved = {v.venue: v.orders for v in venues.values()}
        print(f"order requests answered (refused): {moved}", file=sys.stderr)
        for v in venues.values():
            if v.unknown:
                print(f"{v.venue}: unknown paths {v.unknown}", file=sys.stderr)

    asyncio.run(main())


async def _move(venues: dict[str, Any], coins: list[str], ns: argparse.Namespace) -> None:
    """Every move_every_ms one venue-symbol not moved now is moved by move_bps (up or down), then back
    after hold_ms."""
    rng = random.Random(7)
    busy: set[str] = set()

    async def back(venue: Any, coin: str) -> None:
        await asyncio.sleep(ns.hold_ms / 1000)
        await venue.move(coin, 1.0)
        busy.discard(coin)

    while True:
        await asyncio.sleep(ns.move_every_ms / 1000)
        free = [c for c in coins if c not in busy]
        if not free:
            continue
        coin, venue = rng.choice(free), rng.choice(list(venues.values()))
        busy.add(coin)
        await venue.move(coin, 1.0 + rng.choice((1, -1)) * ns.move_bps / 10_000)
        asyncio.ensure_future(back(venue, coin))


# --- the node -----------------------------------------------------------------------------------
class Stamps:
    """What the node's threads stamp: top-moving frames, order writes, the strategy thread's HTTP waits."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.venue_of_port = {port: venue for venue, port in ports.items()}
        self.lock = threading.Lock()
        self.moves: dict[str, list[int]] = {}  # coin -> read stamps of frames that moved its top
        self.orders: list[tuple[int, str, str]] = []  # (written ns, venue, coin)
        self.waits: list[tuple[int, int]] = []  # strategy thread blocked on an HTTP answer: (from, to) ns
        self.requests: list[tuple[int, str]] = []  # strategy thread's HTTP requests: (written ns, path)
        self.wakes: dict[str, list[int]] = {}  # coin -> when EventLoop handed the strategy its Book event
        self.ticks: list[tuple[int, int]] = []  # the strategy's turns (App.tick): (from, to) ns
        self.sleeps: list[tuple[int, int]] = []  # the strategy's waits inside a turn or reaction (App._wait)
        self.stores: list[
            tuple[int, int]
        ] = []  # the strategy thread in the robot store (_G, Log): (from, to)
        self._seen: set[tuple[str, str]] = set()
        self._pending: dict[int, tuple[int, str, bytes]] = {}
        self.main = threading.get_ident()

    def top(self, venue: str, market_id: str, read_ns: int) -> None:
        coin = coin_of(market_id)
        if (venue, coin) not in self._seen:  # the first top of a book (its snapshot) moves nothing
            self._seen.add((venue, coin))
            return
        with self.lock:
            self.moves.setdefault(coin, []).append(read_ns)

    def sent(self, conn: Any, data: Any) -> None:
        stamp = time.perf_counter_ns()
        raw = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else b""
        key = id(conn)
        if raw.startswith((b"GET ", b"POST ", b"PUT ", b"DELETE ")):
            path = raw.split(b" ", 2)[1].split(b"?")[0].decode()
            if threading.get_ident() == self.main:
                self.requests.append((stamp, path))
            venue = self.venue_of_port.get(getattr(conn, "port", 0))
            if raw.startswith(b"POST ") and ORDER_PATHS.get(path) == venue and venue:
                self._pending[key] = (stamp, venue, b"")
        pending = self._pending.get(key)
        if pending is None:
            return
        stamp0, venue, seen = pending
        seen += raw
        found = _SYMBOL.search(seen)
        if found:
            del self._pending[key]
            with self.lock:
                self.orders.append((stamp0, venue, coin_of(found.group(1).decode())))
        else:
            self._pending[key] = (stamp0, venue, seen)

    def woke(self, event: Any) -> None:
        if event is not None and event["Event"] == "Book":
            self.wakes.setdefault(coin_of(event["Symbol"].split("_")[0]), []).append(time.perf_counter_ns())

    def waited(self, start_ns: int, end_ns: int) -> None:
        if threading.get_ident() == self.main:
            self.waits.append((start_ns, end_ns))


def _instrument(stamps: Stamps) -> None:
    from fmz_compat.net import EventQueue
    from hedge.app import App

    tick = App.tick

    def timed_tick(self: Any) -> None:
        start = time.perf_counter_ns()
        try:
            tick(self)
        finally:
            stamps.ticks.append((start, time.perf_counter_ns()))

    App.tick = timed_tick  # type: ignore[method-assign]
    wait = App._wait

    def timed_wait(self: Any, ms: float) -> None:  # the request budget's wait before an order, a settle wait
        start = time.perf_counter_ns()
        try:
            wait(self, ms)
        finally:
            stamps.sleeps.append((start, time.perf_counter_ns()))

    App._wait = timed_wait  # type: ignore[method-assign]
    from fmz_compat.store import RobotStore

    for name in ("kv_set", "append_log"):  # _G commits before returning; a Log row waits for the store's lock
        _time_store(RobotStore, name, stamps)

    send, begin, take = http.client.HTTPConnection.send, http.client.HTTPResponse.begin, EventQueue.take

    def stamped_take(self: Any, timeout_ms: float | None) -> Any:
        event = take(self, timeout_ms)
        stamps.woke(event)
        return event

    EventQueue.take = stamped_take  # type: ignore[method-assign]

    def stamped_send(self: Any, data: Any) -> None:
        stamps.sent(self, data)
        send(self, data)

    def timed_begin(self: Any) -> None:
        start = time.perf_counter_ns()
        try:
            begin(self)
        finally:
            stamps.waited(start, time.perf_counter_ns())

    http.client.HTTPConnection.send = stamped_send  # type: ignore[method-assign]
    http.client.HTTPResponse.begin = timed_begin  # type: ignore[method-assign]


def _time_store(cls: Any, name: str, stamps: Stamps) -> None:
    call = getattr(cls, name)

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter_ns()
        try:
            return call(self, *args, **kwargs)
        finally:
            if threading.get_ident() == stamps.main:
                stamps.stores.append((start, time.perf_counter_ns()))

    setattr(cls, name, timed)


def _blocked_ns(waits: list[tuple[int, int]], start: int, end: int) -> int:
    return sum(max(0, min(b, end) - max(a, start)) for a, b in waits)


def decisions(stamps: Stamps, after_ns: int, within_ns: int) -> list[dict[str, Any]]:
    """Each decision after after_ns: its legs' write stamps, timed from the frame that moved its coin. One
    whose newest such frame is older than within_ns (the move was undone by then: it reacts to no frame,
    e.g. to a REST top the stand-in serves while a venue's stream resyncs) or was timed already (a retry)
    is counted, not timed."""
    legs: dict[str, list[list[int]]] = {}
    for stamp, _venue, coin in sorted(stamps.orders):
        groups = legs.setdefault(coin, [])
        if groups and stamp - groups[-1][-1] <= LEG_GAP_NS:
            groups[-1].append(stamp)
        else:
            groups.append([stamp])
    out = []
    for coin, groups in legs.items():
        used: set[int] = set()
        for group in groups:
            frames = [f for f in stamps.moves.get(coin, []) if f <= group[0]]
            if not frames or frames[-1] < after_ns:
                continue
            frame = frames[-1]
            if frame in used or group[0] - frame > within_ns:
                out.append({"retry": True, "legs": len(group)})
                continue
            used.add(frame)
            both = group[1] if len(group) > 1 else None
            end = both or group[0]
            requests = sum(1 for s, _ in stamps.requests if frame <= s <= end)
            woke = next((w for w in stamps.wakes.get(coin, []) if frame <= w <= group[0]), None)
            out.append(
                {
                    "first_ms": (group[0] - frame) / 1e6,
                    "both_ms": (both - frame) / 1e6 if both else None,
                    "blocked_ms": _blocked_ns(stamps.waits, frame, end) / 1e6,
                    "requests": requests,
                    "legs": len(group),
                    "retry": False,
                    "woke_ms": (woke - frame) / 1e6 if woke is not None else None,
                    "in_tick": any(a <= frame <= b for a, b in stamps.ticks),  # read while a turn ran
                    "by_tick": any(a <= group[0] <= b for a, b in stamps.ticks),  # sent by a turn
                    "slept_ms": _blocked_ns(stamps.sleeps, frame, end) / 1e6,
                    "store_ms": _blocked_ns(stamps.stores, frame, end) / 1e6,
                }
            )
    return out


def _node(ns: argparse.Namespace) -> None:
    from fmz_compat.keys import Credentials
    from fmz_compat.live import build_client
    from fmz_compat.live_cli import add_live_parser, live_config, live_world_factory
    from fmz_compat.runner import run

    ports = json.loads(ns.ports)
    stamps = Stamps(ports)
    _instrument(stamps)
    venues = list(VENUE_NAMES)
    syms = symbols(ns.symbols)
    params = json.loads(
        strategy_params(
            syms,
            len(venues),
            open_threshold_bps=ns.open_bps,
            loop_interval_ms=ns.loop_ms,
            status_interval_s=ns.status_s,
            cooldown_s=5,
            max_book_age_ms=ns.book_age_ms,
            guards={"max_rejects": 0},
            outage={"max_errors": 1000, "refusal_cooldown_s": 0},
        )
    )
    creds = {v: Credentials(f"{v}KEY0000", f"{v}SECRET0000", "pass" if v == "okx" else "") for v in venues}

    def client_factory(venue: str, credentials: Any, *, testnet: bool = False, broker_tag: str = "") -> Any:
        client = build_client(venue, credentials, broker_tag=broker_tag)
        client.urls["api"] = _rehost(client.urls["api"], f"http://127.0.0.1:{ports[venue]}")
        # ccxt's own request spacing (BitMEX: 100 ms x each endpoint's cost) is for the real venues; against
        # the stand-ins it only stretches the start and every reconcile (a position read per symbol): off.
        # The strategy's own request budget (hedge/ratelimit.py) still applies.
        client.enableRateLimit = False
        if venue == "binance":  # ccxt picks Binance's USDⓈ-M error codes by the URL's host (fapi.binance.com)
            by_url = client.get_exceptions_by_url
            client.get_exceptions_by_url = lambda url, kind: by_url(
                re.sub(r"^http://127\.0\.0\.1:\d+", "https://fapi.binance.com", url or ""), kind
            )
        return client

    with tempfile.TemporaryDirectory() as tmp:
        params_path = Path(tmp) / "params.json"
        params_path.write_text(json.dumps(params))
        sub = argparse.ArgumentParser().add_subparsers()
        cli = add_live_parser(sub).parse_args(
            [
                str(ROOT / "strategy.py"),
                "--params",
                str(params_path),
                "--venues",
                ",".join(venues),
                "--currency",
                "BTC_USDT",
                "--out",
                ns.out or str(Path(tmp) / "runs"),
                "--book-max-age-ms",
                str(ns.book_age_ms),
            ]
        )
        config, source = live_config(cli)
        books = {
            "enabled": True,
            "pairs": list(syms),
            "max_age_ms": ns.book_age_ms,
            "urls": {v: f"ws://127.0.0.1:{ports[v]}/ws" for v in venues},
        }
        live_factory = live_world_factory(creds, client_factory=client_factory, books=books)

        def factory(*args: Any) -> Any:
            world = live_factory(*args)
            for ex, venue in zip(world.exchanges, venues, strict=True):
                if ex.books is not None:
                    _listen(ex.books, venue, stamps)
            return world

        started = time.monotonic()
        warm: list[int] = []
        running = threading.Event()

        def out(line: str) -> None:
            if "started: venues" in line:  # the strategy's start is done (its 50 x 5 set-up takes a while)
                running.set()
            print(line, file=sys.stderr)

        def stop_later() -> None:
            running.wait(ns.start_timeout)
            time.sleep(ns.warmup)
            warm.append(time.perf_counter_ns())
            time.sleep(ns.seconds)
            signal.raise_signal(signal.SIGTERM)

        threading.Thread(target=stop_later, daemon=True).start()
        result = run(config, world_factory=factory, source=source, out=out)
    found = decisions(stamps, warm[0] if warm else 0, (ns.hold_ms + ns.loop_ms + 1000) * 1_000_000)
    print(
        json.dumps(
            {
                "exit": result.exit_code,
                "ended_by": result.ended_by,
                "seconds": round(time.monotonic() - started, 1),
                "decisions": found,
                "moves": sum(len(v) for v in stamps.moves.values()),
                "orders": len(stamps.orders),
                "ticks_ms": sorted(round((b - a) / 1e6, 1) for a, b in stamps.ticks if a >= (warm or [0])[0]),
            }
        )
    )


def _listen(feed: Any, venue: str, stamps: Stamps) -> None:
    """Stamp every frame that moves a top, then pass it on to whatever listened before."""
    before = feed.on_top

    def on_top(market_id: str, bid: float, ask: float, venue_ms: int, read_ns: int) -> None:
        stamps.top(venue, market_id, read_ns)
        if before is not None:
            before(market_id, bid, ask, venue_ms, read_ns)

    feed.on_top = on_top


def _rehost(value: Any, base: str) -> Any:
    if isinstance(value, dict):
        return {k: _rehost(v, base) for k, v in value.items()}
    if isinstance(value, str):
        return re.sub(r"^https?://[^/]+", base, value)
    return value


# --- the driver ---------------------------------------------------------------------------------
def summary(found: list[dict[str, Any]]) -> dict[str, float]:
    found = [d for d in found if not d["retry"]]
    both = sorted(d["both_ms"] for d in found if d["both_ms"] is not None)
    first = sorted(d["first_ms"] for d in found)
    in_process = sorted(d["both_ms"] - d["blocked_ms"] for d in found if d["both_ms"] is not None)
    blocked = sorted(d["blocked_ms"] for d in found if d["both_ms"] is not None)
    requests = sorted(d["requests"] for d in found if d["both_ms"] is not None)
    woke = sorted(d["woke_ms"] for d in found if d.get("woke_ms") is not None)
    idle = sorted(
        d["both_ms"]
        for d in found
        if d["both_ms"] is not None
        and not d.get("in_tick", True)
        and not d.get("slept_ms", 1)
        and not d.get("by_tick", True)
    )
    by_tick = sum(1 for d in found if d.get("by_tick"))
    slept = sum(1 for d in found if d.get("slept_ms"))
    store = sorted(d["store_ms"] for d in found if d["both_ms"] is not None and "store_ms" in d)
    if not both:
        return {}
    if idle:
        wake = {
            "idle_n": len(idle),
            "idle_p50": percentile(idle, 0.5),
            "idle_p99": percentile(idle, 0.99),
            "slept_n": slept,
            "by_tick_n": by_tick,
        }
    else:
        wake = {}
    if woke:
        wake.update(woke_n=len(woke), woke_p50=percentile(woke, 0.5), woke_p99=percentile(woke, 0.99))
    if store:
        wake.update(store_p50=percentile(store, 0.5), store_p99=percentile(store, 0.99))
    return {
        **wake,
        "n": len(both),
        "first_p50": percentile(first, 0.5),
        "first_p99": percentile(first, 0.99),
        "both_p50": percentile(both, 0.5),
        "both_p99": percentile(both, 0.99),
        "blocked_p50": percentile(blocked, 0.5),
        "in_process_p50": percentile(in_process, 0.5),
        "in_process_p99": percentile(in_process, 0.99),
        "requests_p50": percentile(requests, 0.5),
    }


def _print(label: str, s: dict[str, float]) -> None:
    print(
        f"{label}: {s['n']:.0f} decisions; frame -> first leg written p50 {s['first_p50']:.3f} ms, "
        f"p99 {s['first_p99']:.3f} ms; frame -> both legs written p50 {s['both_p50']:.3f} ms, "
        f"p99 {s['both_p99']:.3f} ms; of which blocked on HTTP answers p50 {s['blocked_p50']:.3f} ms "
        f"({s['requests_p50']:.0f} requests), the rest (in process, or asleep) p50 {s['in_process_p50']:.3f} "
        f"ms, p99 {s['in_process_p99']:.3f} ms"
    )
    if "woke_n" in s:
        print(
            f"  {s['woke_n']:.0f} of them on a Book event: frame read -> strategy woken p50 "
            f"{s['woke_p50']:.3f} ms, p99 {s['woke_p99']:.3f} ms"
        )
    if "store_p50" in s:
        print(
            f"  of frame -> both legs, in the robot store (_G commits, Log rows): p50 {s['store_p50']:.3f} "
            f"ms, p99 {s['store_p99']:.3f} ms"
        )
    if "idle_n" in s:
        print(
            f"  {s['idle_n']:.0f} of them on a frame read while no turn (App.tick) ran and without a wait "
            f"({s['slept_n']:.0f} waited on the request budget or a settle), sent on the event (not a turn: "
            f"{s['by_tick_n']:.0f} were sent by one): both legs p50 "
            f"{s['idle_p50']:.3f} ms, p99 {s['idle_p99']:.3f} ms"
        )


def _report_run(index: int, figures: dict[str, Any], each: bool) -> dict[str, float]:
    """One node's counts and figures printed; its summary ({} when it timed nothing)."""
    s = summary(figures["decisions"])
    one_leg = sum(1 for d in figures["decisions"] if d["legs"] < 2)
    retries = sum(1 for d in figures["decisions"] if d["retry"])
    print(
        f"run {index + 1}: {figures['moves']} top-moving frames read, {figures['orders']} order "
        f"requests, {len(figures['decisions'])} decisions ({one_leg} with one leg only, {retries} "
        f"reacting to no frame, not timed); exit {figures['exit']} ({figures['ended_by']})"
    )
    if s:
        _print(f"run {index + 1}", s)
        if each:
            both = sorted(d["both_ms"] for d in figures["decisions"] if d.get("both_ms") is not None)
            print("  both legs written, each (ms): " + " ".join(f"{v:.1f}" for v in both))
            ticks = figures.get("ticks_ms") or []
            if ticks:
                print(
                    f"  turns (App.tick) counted: {len(ticks)}, p50 {percentile(ticks, 0.5):.1f} ms, p99 "
                    f"{percentile(ticks, 0.99):.1f} ms, longest {ticks[-1]:.1f} ms"
                )
    return s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=60, help="seconds counted, after the start and warm-up"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=40,
        help="seconds after the strategy's start left out (its first reconcile, back-offs)",
    )
    parser.add_argument("--start-timeout", type=float, default=300, help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=3, help="fresh nodes; medians printed")
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--listed", type=int, default=60, help="swaps each stand-in venue lists")
    parser.add_argument("--updates-per-s", type=float, default=100, help="book updates per second in all")
    parser.add_argument("--move-every-ms", type=int, default=500)
    parser.add_argument("--move-bps", type=float, default=100)
    parser.add_argument("--hold-ms", type=int, default=2000)
    parser.add_argument("--loop-ms", type=int, default=1000, help="the strategy's loop_interval_ms")
    parser.add_argument("--open-bps", type=float, default=30, help="the strategy's open_threshold_bps")
    parser.add_argument("--book-age-ms", type=int, default=5000, help="max_book_age_ms (strategy and feed)")
    parser.add_argument("--node-log", help="append each node's robot log (its stderr) to this file")
    parser.add_argument("--out", help="keep each node's robot folder under this folder")
    parser.add_argument("--status-s", type=int, default=60, help="the strategy's status_interval_s")
    parser.add_argument("--each", action="store_true", help="print every decision's figure too")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--node", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.serve:
        _serve(ns)
        return 0
    if ns.node:
        _node(ns)
        return 0
    me = [sys.executable, str(Path(__file__).resolve())]
    shared = [
        "--symbols",
        str(ns.symbols),
        "--listed",
        str(ns.listed),
        "--updates-per-s",
        str(ns.updates_per_s),
        "--move-every-ms",
        str(ns.move_every_ms),
        "--move-bps",
        str(ns.move_bps),
        "--hold-ms",
        str(ns.hold_ms),
    ]
    server = subprocess.Popen([*me, "--serve", *shared], stdout=subprocess.PIPE, text=True)
    runs = []
    try:
        ports = server.stdout.readline().strip()  # type: ignore[union-attr]
        print(
            f"stand-in venues on loopback: {ports}; {ns.symbols} symbols x {len(VENUE_NAMES)} venues at "
            f"{ns.updates_per_s:g} book updates/s in all; a move of {ns.move_bps:g} bps every "
            f"{ns.move_every_ms} ms held {ns.hold_ms} ms; strategy loop {ns.loop_ms} ms; decisions counted "
            f"{ns.seconds:g} s per node, from {ns.warmup:g} s after its start; {ns.runs} run(s)"
        )
        for index in range(ns.runs):
            node = [
                *me,
                "--node",
                "--ports",
                ports,
                "--seconds",
                str(ns.seconds),
                "--warmup",
                str(ns.warmup),
                "--loop-ms",
                str(ns.loop_ms),
                "--status-s",
                str(ns.status_s),
                "--open-bps",
                str(ns.open_bps),
                "--book-age-ms",
                str(ns.book_age_ms),
                *shared,
                *(["--out", ns.out] if ns.out else []),
            ]
            out = subprocess.run(node, capture_output=True, text=True)
            if ns.node_log:
                with open(ns.node_log, "a") as log:
                    log.write(out.stderr)
            if out.returncode != 0 or not out.stdout.strip():
                print(f"run {index + 1}: node failed (exit {out.returncode})\n{out.stderr[-3000:]}")
                continue
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            s = _report_run(index, figures, ns.each)
            if s:
                runs.append(s)
        if len(runs) > 1:
            keys = [k for k in runs[0] if all(k in r for r in runs)]
            _print(f"median of {len(runs)} runs", {k: median([r[k] for r in runs]) for k in keys})
    finally:
        stop_server(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
