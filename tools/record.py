"""Record books, trades and funding from real venues (public data, no keys) for `--replay`.

    python -m tools.record --venues binance,okx,bybit --symbols BTC_USDT,ETH_USDT --hours 2 --out rec.jsonl.gz
    python -m tools.record --from-capture ../shared/data/cryptofeed_raw_ws --out capture.jsonl.gz

Books and trades come over websockets through ccxt.pro where the venue has them (REST polling with
`--rest`, or for a venue whose websocket cannot start); funding (rate, next settlement, interval,
mark price) is polled over REST every `--funding-every` seconds. A feed that fails is written as a
`gap` line and retried with backoff; a replay shows the silence as stale books. The format:
docs/replay.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import queue
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol

from fmz_compat.sim.replay_format import VENUES, Instrument, RecordingError, RecordingHeader, RecordingWriter

EXIT_USAGE = 2
_PAIR = re.compile(r"^[A-Z0-9]+_USDT$")
_INTERVAL_UNITS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
DEFAULT_INTERVAL_MS = 28_800_000


class UsageError(Exception):
    """Bad arguments: one line, exit code 2."""


@dataclass
class Event:
    """One recorded line before it is written: kind book|trade|funding|gap and its fields."""

    kind: str
    venue: str
    symbol: str | None
    rt: int
    fields: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """Something that yields recorded events for one venue when asked."""

    venue: str

    def start(self) -> None: ...

    def poll(self, now_ms: int) -> list[Event]: ...

    def stop(self) -> None: ...


# --- ccxt plumbing ----------------------------------------------------------------------------------
def unified_symbol(pair: str) -> str:
    base, quote = pair.split("_")
    return f"{base}/{quote}:{quote}"


def _interval_ms(value: Any) -> int:
    if isinstance(value, str) and value[:-1].isdigit() and value[-1] in _INTERVAL_UNITS:
        return int(value[:-1]) * _INTERVAL_UNITS[value[-1]]
    return DEFAULT_INTERVAL_MS


def _contract_size(market: dict[str, Any]) -> float:
    return float(market.get("contractSize") or 1.0)


def book_event(
    venue: str, pair: str, market: dict[str, Any], book: dict[str, Any], rt: int, depth: int
) -> Event:
    """A ccxt order book (amounts in contracts on derivatives) as a book line in base units."""
    ct = _contract_size(market)
    bids = [[float(p), float(a) * ct] for p, a, *_ in book.get("bids", [])[:depth]]
    asks = [[float(p), float(a) * ct] for p, a, *_ in book.get("asks", [])[:depth]]
    return Event("book", venue, pair, rt, {"ts": int(book.get("timestamp") or rt), "b": bids, "a": asks})


def trade_event(
    venue: str, pair: str, market: dict[str, Any], trade: dict[str, Any], rt: int
) -> Event | None:
    if trade.get("side") not in ("buy", "sell") or trade.get("price") is None or trade.get("amount") is None:
        return None
    return Event(
        "trade",
        venue,
        pair,
        rt,
        {
            "ts": int(trade.get("timestamp") or rt),
            "p": float(trade["price"]),
            "q": float(trade["amount"]) * _contract_size(market),
            "side": trade["side"],
        },
    )


def funding_event(venue: str, pair: str, info: dict[str, Any], rt: int) -> Event | None:
    rate = info.get("fundingRate")
    next_ms = info.get("fundingTimestamp") or info.get("nextFundingTimestamp")
    if rate is None or not next_ms:
        return None
    mark = info.get("markPrice")
    return Event(
        "funding",
        venue,
        pair,
        rt,
        {
            "ts": int(info.get("timestamp") or rt),
            "rate": float(rate),
            "next_ms": int(next_ms),
            "interval_ms": _interval_ms(info.get("interval")),
            "mark": float(mark) if mark else None,
        },
    )


def instrument_of(market: dict[str, Any], tick_size_mode: bool = True) -> Instrument:
    """Contract facts from a ccxt market. In ccxt's TICK_SIZE precision mode a precision is the step
    itself (0.1, 100); in DECIMAL_PLACES mode it is a number of decimals."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}

    def step(value: Any, fallback: float) -> float:
        if value is None:
            return fallback
        return float(value) if tick_size_mode else 10.0 ** -int(value)

    return Instrument(
        str(market.get("id", "")),
        step(precision.get("price"), 0.01),
        step(precision.get("amount"), 1.0),
        _contract_size(market),
        float((limits.get("amount") or {}).get("min") or 0.0),
        float((limits.get("cost") or {}).get("min") or 0.0),
    )


def build_public_client(venue: str, pro: bool = False) -> Any:
    """A keyless ccxt (or ccxt.pro) client in swap mode, configured as the live runtime does."""
    import importlib

    import ccxt

    from fmz_compat.live import VENUES as PROFILES

    profile = PROFILES[venue]
    # `import ccxt` does not import ccxt.pro: without this the attribute is missing and every venue fell
    # back to REST polling
    module = importlib.import_module("ccxt.pro") if pro else ccxt
    return getattr(module, profile.ccxt_id)({"enableRateLimit": True, "options": dict(profile.options)})


# --- sources ------------------------------------------------------------------------------------------
class RestSource:
    """REST polling: the book and new trades of every symbol each poll, funding every `funding_every_ms`."""

    def __init__(
        self, venue: str, pairs: tuple[str, ...], client: Any, depth: int, funding_every_ms: int = 60_000
    ) -> None:
        self.venue = venue
        self.pairs = pairs
        self.client = client
        self.depth = depth
        self.funding_every_ms = funding_every_ms
        self.markets: dict[str, dict[str, Any]] = {}
        self._last_trade_ms: dict[str, int] = {}
        self._seen: dict[str, set[str]] = {}
        self._next_funding_poll = 0
        self._failing = False

    def start(self) -> None:
        markets = self.client.load_markets()
        for pair in self.pairs:
            market = markets.get(unified_symbol(pair))
            if market is None:
                raise UsageError(
                    f"{self.venue} does not list {pair} as a USDT perpetual "
                    f"({unified_symbol(pair)}): drop it from --symbols or --venues"
                )
            self.markets[pair] = market

    def poll(self, now_ms: int) -> list[Event]:
        out: list[Event] = []
        try:
            for pair in self.pairs:
                self._poll_pair(pair, now_ms, out)
            if now_ms >= self._next_funding_poll:
                self._next_funding_poll = now_ms + self.funding_every_ms
                self._poll_funding(now_ms, out)
            self._failing = False
        except Exception as exc:  # a network or venue error: recorded as a gap, retried next poll
            if not self._failing:
                out.append(Event("gap", self.venue, None, now_ms, {"reason": _reason(exc)}))
            self._failing = True
        return out

    def _poll_pair(self, pair: str, now_ms: int, out: list[Event]) -> None:
        """One pair's book and its trades not seen before."""
        symbol, market = unified_symbol(pair), self.markets[pair]
        book = self.client.fetch_order_book(symbol, self.depth)
        out.append(book_event(self.venue, pair, market, book, now_ms, self.depth))
        since = self._last_trade_ms.get(pair)
        seen = self._seen.setdefault(pair, set())
        for trade in self.client.fetch_trades(symbol, since=since, limit=100):
            key = str(trade.get("id") or (trade.get("timestamp"), trade.get("price"), trade.get("amount")))
            if key in seen:
                continue
            seen.add(key)
            event = trade_event(self.venue, pair, market, trade, now_ms)
            if event is not None:
                out.append(event)
                self._last_trade_ms[pair] = max(self._last_trade_ms.get(pair, 0), event.fields["ts"])
        if len(seen) > 5000:
            seen.clear()

    def _poll_funding(self, now_ms: int, out: list[Event]) -> None:
        for pair in self.pairs:
            event = funding_event(
                self.venue, pair, self.client.fetch_funding_rate(unified_symbol(pair)), now_ms
            )
            if event is not None:
                out.append(event)

    def stop(self) -> None:
        return None


class WsSource:
    """ccxt.pro websocket books and trades (a thread with its own event loop), REST funding polls."""

    def __init__(
        self,
        venue: str,
        pairs: tuple[str, ...],
        client: Any,
        rest: RestSource,
        depth: int,
        backoff_s: float = 1.0,
    ) -> None:
        self.venue = venue
        self.pairs = pairs
        self.client = client
        self.rest = rest
        self.depth = depth
        self.backoff_s = backoff_s  # first retry delay after a failed watch; doubles up to 30 s
        self.events: queue.Queue[Event] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        """Start the websocket thread (markets were loaded by the REST source)."""
        self._thread = threading.Thread(target=self._run, name=f"record-{self.venue}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        tasks = [
            asyncio.ensure_future(self._watch(pair, kind))
            for pair in self.pairs
            for kind in ("book", "trades")
        ]
        while not self._stop.is_set():
            await asyncio.sleep(0.2)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self.client.close()
        except Exception:
            pass

    async def _watch(self, pair: str, kind: str) -> None:
        symbol, market = unified_symbol(pair), self.rest.markets[pair]
        backoff = self.backoff_s
        while not self._stop.is_set():
            try:
                if kind == "book":
                    # no limit: each venue's ccxt.pro accepts only its own depths (bybit 1/50/200/1000,
                    # bitmex 10/25, ...); its default book is cut to --depth here
                    book = await self.client.watch_order_book(symbol)
                    self.events.put(book_event(self.venue, pair, market, book, _now_ms(), self.depth))
                else:
                    for trade in await self.client.watch_trades(symbol):
                        event = trade_event(self.venue, pair, market, trade, _now_ms())
                        if event is not None:
                            self.events.put(event)
                backoff = self.backoff_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.events.put(
                    Event("gap", self.venue, pair, _now_ms(), {"reason": f"{kind}: {_reason(exc)}"})
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    def poll(self, now_ms: int) -> list[Event]:
        out: list[Event] = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                break
        if now_ms >= self.rest._next_funding_poll:
            self.rest._next_funding_poll = now_ms + self.rest.funding_every_ms
            for pair in self.pairs:
                try:
                    event = funding_event(
                        self.venue, pair, self.rest.client.fetch_funding_rate(unified_symbol(pair)), now_ms
                    )
                except Exception as exc:
                    out.append(Event("gap", self.venue, pair, now_ms, {"reason": f"funding: {_reason(exc)}"}))
                    continue
                if event is not None:
                    out.append(event)
        out.sort(key=lambda e: e.rt)
        return out

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- the recorder loop --------------------------------------------------------------------------------
def write_event(writer: RecordingWriter, e: Event) -> None:
    f = e.fields
    if e.kind == "book":
        writer.book(e.venue, e.symbol, f["ts"], e.rt, f["b"], f["a"])  # type: ignore[arg-type]
    elif e.kind == "trade":
        writer.trade(e.venue, e.symbol, f["ts"], e.rt, f["p"], f["q"], f["side"])  # type: ignore[arg-type]
    elif e.kind == "funding":
        writer.funding(
            e.venue,
            e.symbol,
            f["ts"],
            e.rt,
            f["rate"],
            f["next_ms"],
            f["interval_ms"],  # type: ignore[arg-type]
            f.get("mark"),
        )
    elif e.kind == "gap":
        writer.gap(e.venue, e.rt, f["reason"], e.symbol)


def record(
    sources: Iterable[Source],
    writer: RecordingWriter,
    end_ms: int,
    *,
    poll_ms: int = 1000,
    now_ms: Callable[[], int] = _now_ms,
    sleep: Callable[[float], None] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, int]:
    """Poll every source until `end_ms` (or should_stop()), writing what they give; returns the counts."""
    sources = list(sources)
    try:
        while True:
            now = now_ms()
            batch: list[Event] = []
            for src in sources:
                batch.extend(src.poll(now))
            batch.sort(key=lambda e: e.rt)
            for e in batch:
                write_event(writer, e)
            if now >= end_ms or should_stop():
                break
            sleep(max(0.0, min(poll_ms, end_ms - now) / 1000.0))
    finally:
        for src in sources:
            src.stop()
        writer.close(min(now_ms(), end_ms))
    return dict(writer.counts)


# --- CLI ----------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see: python -m tools.record --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m tools.record", description="Record public market data for --replay.")
    p.add_argument("--out", type=Path, required=True, help="the recording to write (.jsonl.gz)")
    p.add_argument("--venues", help=f"comma list of {', '.join(VENUES)}")
    p.add_argument("--symbols", help="comma list of USDT perpetuals such as BTC_USDT,ETH_USDT")
    p.add_argument("--hours", type=float, help="how long to record")
    p.add_argument("--depth", type=int, default=20, help="book levels kept per side (default 20)")
    p.add_argument("--poll-ms", type=int, default=1000, help="REST poll / write interval (default 1000)")
    p.add_argument(
        "--funding-every",
        type=int,
        default=60,
        metavar="S",
        help="seconds between funding polls (default 60)",
    )
    p.add_argument("--rest", action="store_true", help="poll REST only (no websockets)")
    p.add_argument(
        "--from-capture",
        type=Path,
        metavar="DIR",
        help="convert cryptofeed raw captures (../shared/data/cryptofeed_raw_ws) instead of recording",
    )
    p.add_argument(
        "--no-align",
        action="store_true",
        help="with --from-capture: keep each capture's real time instead of a common start",
    )
    p.add_argument("--max-seconds", type=float, help="with --from-capture: keep only the first S seconds")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    return p


def _csv(text: str | None, what: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in (text or "").split(",") if x.strip())
    if not items:
        raise UsageError(f"--{what} is empty: pass a comma list")
    return items


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(build_parser().parse_args(sys.argv[1:] if argv is None else argv))
    except (UsageError, RecordingError) as exc:
        print(f"tools.record: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _main(ns: argparse.Namespace) -> int:
    _check_out(ns)
    if ns.from_capture is not None:
        return _convert(ns)
    venues, symbols = _live_args(ns)
    sources = build_sources(venues, symbols, ns.depth, ns.funding_every * 1000, websocket=not ns.rest)
    start = _now_ms()
    end = start + int(ns.hours * 3_600_000)
    instruments = {
        s.venue: {p: instrument_of(m, _tick_size_mode(s)) for p, m in _markets_of(s).items()} for s in sources
    }
    header = RecordingHeader(
        venues,
        symbols,
        start,
        end,
        f"tools.record {'rest' if ns.rest else 'websocket'} via ccxt",
        ns.depth,
        instruments,
        markets={v: symbols for v in venues},
    )
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(
        f"recording {', '.join(venues)} x {', '.join(symbols)} for {ns.hours:g} h into {ns.out} "
        "(Ctrl-C stops)"
    )
    for s in sources:
        if isinstance(s, WsSource):
            s.start()
    counts = record(
        sources, RecordingWriter(ns.out, header), end, poll_ms=ns.poll_ms, should_stop=stop.is_set
    )
    print(f"wrote {ns.out}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0


def _check_out(ns: argparse.Namespace) -> None:
    """The checks a capture conversion and a live recording share: --out and --depth."""
    if ns.out.exists() and not ns.force:
        raise UsageError(f"--out {ns.out} exists: choose another file or pass --force")
    if not ns.out.parent.is_dir():
        raise UsageError(f"--out {ns.out}: folder {ns.out.parent} does not exist")
    if not 1 <= ns.depth <= 1000:
        raise UsageError(f"--depth {ns.depth} must be between 1 and 1000")


def _live_args(ns: argparse.Namespace) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A live recording's arguments checked; returns (venues, symbols)."""
    if ns.no_align or ns.max_seconds is not None:
        raise UsageError("--no-align and --max-seconds go with --from-capture")
    venues = _csv(ns.venues, "venues")
    bad = [v for v in venues if v not in VENUES]
    if bad:
        raise UsageError(f"--venues: unknown {', '.join(bad)}; choose from {', '.join(VENUES)}")
    symbols = tuple(s.upper() for s in _csv(ns.symbols, "symbols"))
    bad = [s for s in symbols if not _PAIR.match(s)]
    if bad:
        raise UsageError(
            f"--symbols: {', '.join(bad)} is not a USDT perpetual written BASE_USDT (e.g. BTC_USDT)"
        )
    if ns.hours is None or not math.isfinite(ns.hours) or ns.hours <= 0 or ns.hours > 24 * 31:
        raise UsageError("--hours must be a positive number of hours up to 744 (31 days), e.g. --hours 2")
    if not 100 <= ns.poll_ms <= 60_000:
        raise UsageError(f"--poll-ms {ns.poll_ms} must be between 100 and 60000")
    if ns.funding_every < 1:
        raise UsageError(f"--funding-every {ns.funding_every} must be at least 1 second")
    return venues, symbols


def _tick_size_mode(source: Any) -> bool:
    client = source.client if isinstance(source, RestSource) else source.rest.client
    return getattr(client, "precisionMode", 4) == 4  # ccxt.TICK_SIZE


def _markets_of(source: Any) -> dict[str, dict[str, Any]]:
    return source.markets if isinstance(source, RestSource) else source.rest.markets


def build_sources(
    venues: tuple[str, ...],
    symbols: tuple[str, ...],
    depth: int,
    funding_every_ms: int,
    websocket: bool = True,
) -> list[Any]:
    """One source per venue; markets are loaded here so a bad symbol fails before anything is written."""
    out: list[Any] = []
    for venue in venues:
        rest = RestSource(venue, symbols, build_public_client(venue), depth, funding_every_ms)
        try:
            rest.start()
        except UsageError:
            raise
        except Exception as exc:
            raise UsageError(
                f"{venue}: cannot load its markets ({_reason(exc)}): check the network"
            ) from None
        pro = None
        if websocket:
            try:
                pro = build_public_client(venue, pro=True)
            except (AttributeError, ImportError):
                pro = None
        if pro is not None and pro.has.get("watchOrderBook") and pro.has.get("watchTrades"):
            out.append(WsSource(venue, symbols, pro, rest, depth))
        else:
            out.append(rest)
    return out


def _convert(ns: argparse.Namespace) -> int:
    from tools.record_capture import CaptureError, convert_folder

    if ns.hours is not None or ns.symbols:
        raise UsageError(
            "--hours and --symbols are for recording; --from-capture converts what the captures hold"
        )
    venues = _csv(ns.venues, "venues") if ns.venues else None
    if venues:
        bad = [v for v in venues if v not in VENUES]
        if bad:
            raise UsageError(f"--venues: unknown {', '.join(bad)}; choose from {', '.join(VENUES)}")
    if ns.max_seconds is not None and not ns.max_seconds > 0:
        raise UsageError(f"--max-seconds {ns.max_seconds:g} must be positive")
    try:
        header = convert_folder(
            ns.from_capture,
            ns.out,
            depth=ns.depth,
            align=not ns.no_align,
            venues=venues,
            max_seconds=ns.max_seconds,
        )
    except CaptureError as exc:
        raise UsageError(str(exc)) from None
    span = (header.end_ms - header.start_ms) / 1000
    print(f"wrote {ns.out}: {', '.join(header.venues)}; {len(header.symbols)} symbols; {span:.1f} s")
    for note in header.notes:
        print(f"note: {note}")
    if span > 86_400:
        print(
            f"note: the file spans {span / 86_400:,.0f} days of mostly silence (--no-align keeps the "
            "captures' real days); a replay steps through all of it: narrow it with --start/--end"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
