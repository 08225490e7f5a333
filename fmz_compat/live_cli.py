"""`python -m fmz_compat live FILE --keys KEYS [--testnet]`: the strategy on real venues.

The parser is built without importing ccxt (it is slow to import); the world factory imports it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fmz_compat.cli_args import add_strategy_arg_flags, resolve_params, strategy_args, templates
from fmz_compat.core import VENUE_NAMES, Clock, ExchangeBinding, LogSink, SimConfig
from fmz_compat.live_limits import okx_broker_tag_problem
from fmz_compat.runner import RunConfig, UsageError, read_strategy

_VENUE_BY_EID = {eid: venue for venue, eid in VENUE_NAMES.items()}
ORDER_SOCKET_LOGIN_WAIT_S = 5.0  # at start; orders go by REST until the socket is logged in


def add_live_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("live", help="run on real venues through ccxt (or their testnets with --testnet)")
    p.add_argument("file", type=Path, help="strategy .py file (exec'd as __main__)")
    p.add_argument("--keys", type=Path, help="keys file (JSON, mode 0600); default: env FMZC_<VENUE>_API_KEY "
                   "/ _SECRET / _PASSWORD")
    p.add_argument("--testnet", action="store_true", help="use the venues' testnets (sandbox mode)")
    p.add_argument("--venues", default="binance,okx",
                   help=f"comma list of {', '.join(VENUE_NAMES)} (default binance,okx)")
    p.add_argument("--currency", default="BTC_USDT", help="pair each exchange object starts on")
    p.add_argument("--okx-broker-tag", default="", help="OKX broker tag for orders (default none)")
    p.add_argument("--books", choices=("ws", "rest"), default="ws",
                   help="market data: websocket books with REST fallback (ws, default) or REST only")
    p.add_argument("--orders", choices=("ws", "rest"), default="ws",
                   help="orders, cancels and amends over the venue's websocket while it is ready, REST "
                        "otherwise (ws, default: Binance, Bybit, OKX), or REST only; CoinEx and BitMEX "
                        "always use REST")
    p.add_argument("--orders-url", action="append", default=[], metavar="VENUE=URL",
                   help="websocket URL for a venue's orders (a proxy or a local stand-in)")
    p.add_argument("--symbols", default="",
                   help="pairs whose books are streamed, comma list (default: the params' \"symbols\" "
                        "and --currency)")
    p.add_argument("--book-max-age-ms", type=int, default=2000,
                   help="a streamed book older than this is not served; REST answers instead (default 2000)")
    p.add_argument("--books-url", action="append", default=[], metavar="VENUE=URL",
                   help="websocket URL for a venue's books (a proxy or a local stand-in)")
    add_strategy_arg_flags(p, params_default=False)
    p.add_argument("--out", type=Path, default=Path("runs"), help="folder for robot folders (default runs/)")
    p.add_argument("--quiet", action="store_true", help="do not echo robot log lines")
    return p


def live_config(ns: argparse.Namespace) -> tuple[RunConfig, str]:
    source, _header = read_strategy(ns.file)
    params_json, origin = resolve_params(ns.params, ns.file)
    venues = [v.strip().lower() for v in ns.venues.split(",") if v.strip()]
    unknown = [v for v in venues if v not in VENUE_NAMES]
    if unknown or not venues:
        raise UsageError(f"--venues {ns.venues!r}: choose from {', '.join(VENUE_NAMES)}")
    bindings = tuple(ExchangeBinding(eid=VENUE_NAMES[v], currency=ns.currency.upper()) for v in venues)
    if "okx" in venues and okx_broker_tag_problem(ns.okx_broker_tag):
        raise UsageError(okx_broker_tag_problem(ns.okx_broker_tag))
    if ns.book_max_age_ms < 100:
        raise UsageError(f"--book-max-age-ms {ns.book_max_age_ms}: use 100 or more (milliseconds)")
    config = RunConfig(mode="live", strategy_path=ns.file, bindings=bindings, start_ms=0, end_ms=None,
                       symbols=(ns.currency.upper(),), params_json=params_json, params_origin=origin,
                       args=strategy_args(ns), templates=templates(ns)[0], out_root=ns.out, quiet=ns.quiet)
    return config, source


def main_live(ns: argparse.Namespace, *, linger: bool = True) -> int:
    """`python -m fmz_compat live ...` once parsed; with --dashboard the robot page is served while it
    runs (and, with `linger`, after it stops until Ctrl-C)."""
    from fmz_compat.runner import run

    config, source = live_config(ns)
    books = book_options(ns, config.params_json)
    order_urls = venue_urls("--orders-url", ns.orders_url)
    factory = live_world_factory(load_credentials(ns.keys), testnet=ns.testnet, broker_tag=ns.okx_broker_tag,
                                 books=books, ws_orders=ns.orders == "ws", order_socket_urls=order_urls)
    if getattr(ns, "dashboard", None) is not None:
        from fmz_compat.dashboard.cli import run_with_dashboard

        return run_with_dashboard(config, source, ns.dashboard, ns.dashboard_token, linger=linger,
                                  world_factory=factory)
    return run(config, source=source, world_factory=factory).exit_code


def book_options(ns: argparse.Namespace, params_json: str) -> dict[str, Any]:
    """The websocket book settings of a live run: which pairs to stream, where, how old is too old."""
    urls = venue_urls("--books-url", ns.books_url)
    if ns.symbols:
        pairs = [s.strip().upper() for s in ns.symbols.split(",") if s.strip()]
    else:
        pairs = _param_symbols(params_json)
    currency = ns.currency.upper()
    pairs = list(dict.fromkeys([*pairs, currency]))
    bad = [p for p in pairs if p.count("_") != 1 or not all(p.split("_"))]
    if bad:
        raise UsageError(f"--symbols: {', '.join(bad)} is not a pair: use BASE_QUOTE such as BTC_USDT")
    return {"enabled": ns.books == "ws", "pairs": pairs, "urls": urls, "max_age_ms": ns.book_max_age_ms}


def venue_urls(option: str, items: list[str]) -> dict[str, str]:
    """VENUE=wss://... options as venue -> URL; a malformed one is a UsageError naming the fix."""
    urls: dict[str, str] = {}
    for item in items:
        venue, sep, url = item.partition("=")
        if not sep or venue.strip().lower() not in VENUE_NAMES or not url.startswith(("ws://", "wss://")):
            raise UsageError(f"{option} {item!r}: use VENUE=wss://host/path with VENUE one of "
                             f"{', '.join(VENUE_NAMES)}")
        urls[venue.strip().lower()] = url
    return urls


def _param_symbols(params_json: str) -> list[str]:
    try:
        symbols = json.loads(params_json or "{}").get("symbols")
    except (ValueError, AttributeError):
        return []
    return [str(s).upper() for s in symbols] if isinstance(symbols, list) else []


def load_credentials(keys_path: Path | None) -> dict[str, Any]:
    from fmz_compat.keys import KeysError, load_keys_env, load_keys_file

    try:
        return load_keys_file(keys_path) if keys_path is not None else load_keys_env()
    except KeysError as e:
        raise UsageError(str(e)) from None


class LiveWorld:
    """What runner.run drives: one LiveExchange per binding, no simulator behind them."""

    def __init__(self, exchanges: list[Any]) -> None:
        self.exchanges = exchanges

    def stats(self) -> dict[str, Any]:
        venues = {}
        for ex in self.exchanges:
            entry: dict[str, Any] = {"orders_in_flight": len(ex.in_flight), "book_reads": dict(ex.book_reads),
                                     "clock_offset_ms": ex.time_offset_ms, "rate_budget": ex.rate_budget()}
            if ex.books is not None:
                entry["books"] = ex.books.stats()
            if ex.order_socket is not None:
                entry["order_socket"] = ex.order_socket.stats()
            entry["order_routes"] = dict(ex.order_routes)
            venues[ex.GetLabel()] = entry
        return {"venues": venues}

    def close(self) -> None:
        for ex in self.exchanges:
            if ex.books is not None:
                ex.books.stop()
            if ex.order_socket is not None:
                ex.order_socket.stop()


def live_world_factory(credentials: dict[str, Any], *, testnet: bool = False, broker_tag: str = "",
                       client_factory: Any = None, books: dict[str, Any] | None = None,
                       ws_orders: bool = False, order_socket_urls: dict[str, str] | None = None) -> Any:
    """A runner WorldFactory: loads markets and checks the account mode of every venue at start.

    Raises ValueError (runner turns it into one line, exit 2) for missing keys, an unsupported
    account mode, or a venue that cannot be reached."""
    from fmz_compat.live import AccountModeError, LiveExchange, build_client, ccxt

    make_client = client_factory or build_client
    order_socket_urls = order_socket_urls or {}

    def factory(sim: SimConfig, clock: Clock, log: LogSink) -> LiveWorld:
        del clock
        venues = _live_venues(sim, credentials)
        exchanges = []
        for index, (binding, venue) in enumerate(zip(sim.bindings, venues, strict=True)):
            creds = credentials[venue]
            client = make_client(venue, creds, testnet=testnet, broker_tag=broker_tag)
            ex = LiveExchange(client, venue, binding, log, index, secrets=creds.secrets(),
                              broker_tag=broker_tag)
            try:
                client.load_markets()
                ex.check_account_mode()
            except AccountModeError as e:
                raise ValueError(str(e)) from None
            except ccxt.BaseError as e:
                raise ValueError(ex.redact(f"{binding.eid}: cannot start: {type(e).__name__}: {e}")) from None
            _sync_clock(ex, log)
            if ws_orders:
                _start_order_socket(ex, venue, creds, testnet, order_socket_urls.get(venue, ""), log)
            exchanges.append(ex)
        if books and books.get("enabled"):
            _start_books(exchanges, venues, testnet, books)
        return LiveWorld(exchanges)

    return factory


def _live_venues(sim: SimConfig, credentials: dict[str, Any]) -> list[str]:
    """The venue of every binding; every refusal that needs no network comes first (ValueError)."""
    venues = []
    for binding in sim.bindings:
        venue = _VENUE_BY_EID.get(binding.eid)
        if venue is None:
            raise ValueError(f"{binding.eid} is not a live venue: use one of {', '.join(VENUE_NAMES)}")
        if venue not in credentials:
            raise ValueError(f"no keys for {venue}: add a \"{venue}\" entry to the keys file or set "
                             f"FMZC_{venue.upper()}_API_KEY and FMZC_{venue.upper()}_SECRET")
        venues.append(venue)
    return venues


def _start_order_socket(ex: Any, venue: str, creds: Any, testnet: bool, url: str, log: LogSink) -> None:
    """The venue's order websocket, when it has one, started; orders go by REST until it has logged in."""
    from fmz_compat.core import LOG_TYPE_LOG
    from fmz_compat.live import make_order_socket

    socket = make_order_socket(venue, creds, testnet=testnet, url=url, now_ms=ex.venue_now_ms)
    if socket is not None:
        ex.order_socket = socket
        socket.start()
        if not socket.wait_ready(ORDER_SOCKET_LOGIN_WAIT_S):
            log.log(LOG_TYPE_LOG, f"{ex.GetName()} orders: the websocket is not ready yet; "
                                  f"orders go by REST until it is")


def _start_books(exchanges: list[Any], venues: list[str], testnet: bool, books: dict[str, Any]) -> None:
    """One websocket book feed per exchange object, streaming the pairs each venue lists."""
    from fmz_compat.live import build_book_feed

    for ex, venue in zip(exchanges, venues, strict=True):
        listed = ex.GetMarkets() or {}
        pairs = [p for p in books["pairs"] if f"{p}.swap" in listed]
        feed = build_book_feed(venue, ex.client, testnet=testnet, url=books["urls"].get(venue, ""))
        ex.books, ex.book_max_age_ms = feed, books["max_age_ms"]
        ex.watch_books(pairs)
        feed.start()


def _sync_clock(ex: Any, log: LogSink) -> None:
    """Measure the venue's clock once at start; a failure only costs the adjustment, not the run."""
    from fmz_compat.core import LOG_TYPE_LOG
    from fmz_compat.live import ccxt

    try:
        offset = ex.sync_clock()
    except (ccxt.BaseError, TypeError, ValueError) as e:
        log.log(LOG_TYPE_LOG, ex.redact(f"{ex.GetName()} clock: could not read the venue's time "
                                        f"({type(e).__name__}); signing with the local clock"))
        return
    if offset is not None and abs(offset) >= 1000:
        log.log(LOG_TYPE_LOG, f"{ex.GetName()} clock: the venue's clock is {offset:+d} ms from ours "
                              f"(round trip {ex.clock_rtt_ms} ms); requests are signed and books timed "
                              f"with it")
