"""Opt-in checks of the live venue layer against the venues' testnets (not part of the test suite).

    python -m tools.testnet_check --keys testnet-keys.json [--venues binance,okx] [--symbol BTC_USDT]

Runs, per venue with testnet keys, the same checks the offline tests make with mocked payloads:
markets, account mode, balance, book (REST and websocket), positions, funding, one post-only
limit buy far below the market placed, read back and canceled, an IOC limit buy far below the market
(nothing fills, the venue cancels the rest), the smallest market buy closed again by a reduce-only
market sell (flat afterwards), a post-only order whose answer is dropped on purpose and found again by
its client id (`resolve_in_flight`), and an oversize order that must be a definite rejection.
Venues without keys (or without a testnet: CoinEx) are skipped with a line saying so; with no keys at
all it exits 0 after the skip lines. Exit 1 when a check failed, 2 for bad arguments or an unreadable
keys file. Keys: a 0600 JSON file or FMZC_<VENUE>_* variables, as for `python -m fmz_compat live`;
they never reach the output.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fmz_compat.core import VENUE_NAMES, ExchangeBinding, MemoryLog
from fmz_compat.keys import Credentials, KeysError, load_keys_env, load_keys_file

NO_TESTNET = {"coinex"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tools.testnet_check", description=__doc__.split("\n")[0])
    p.add_argument("--keys", type=Path,
                   help="testnet keys file (JSON, mode 0600); default: env FMZC_<VENUE>_*")
    p.add_argument("--venues", default=",".join(VENUE_NAMES), help="comma list (default: all five)")
    p.add_argument("--symbol", default="BTC_USDT", help="pair to check (default BTC_USDT)")
    p.add_argument("--ws-wait-s", type=float, default=15.0, help="how long to wait for a websocket book")
    return p.parse_args(argv)


class Report:
    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.failed = 0

    def check(self, venue: str, name: str, ok: bool, detail: str) -> bool:
        self.failed += not ok
        self.out(f"{venue:8s} {'PASS' if ok else 'FAIL'} {name}: {detail}")
        return ok


def check_venue(venue: str, creds: Credentials, symbol: str, report: Report, ws_wait_s: float) -> None:
    from fmz_compat.live import LiveExchange, build_book_feed, build_client, ccxt

    log = MemoryLog()
    client = build_client(venue, creds, testnet=True)
    ex = LiveExchange(client, venue, ExchangeBinding(eid=VENUE_NAMES[venue], currency=symbol), log,
                      secrets=creds.secrets())
    swap = f"{symbol}.swap"

    def last_error() -> str:
        return ex.redact(log.last_error)

    try:
        client.load_markets()
    except ccxt.BaseError as e:
        report.check(venue, "markets", False, ex.redact(f"{type(e).__name__}: {e}"))
        return
    markets = ex.GetMarkets() or {}
    if not report.check(venue, "markets", swap in markets, f"{len(markets)} swaps listed, {swap} "
                        f"{'present' if swap in markets else 'missing'}"):
        return
    market = markets[swap]
    try:
        ex.check_account_mode()
        report.check(venue, "account mode", True, "supported")
    except Exception as e:  # noqa: BLE001 - report whatever the mode check says
        report.check(venue, "account mode", False, ex.redact(str(e)))
    offset = ex.sync_clock()
    report.check(venue, "clock", offset is None or abs(offset) < 5000,
                 "no time endpoint" if offset is None
                 else f"offset {offset:+d} ms, round trip {ex.clock_rtt_ms} ms")
    account = ex.GetAccount()
    report.check(venue, "balance", account is not None,
                 f"equity {account.Equity} USDT" if account is not None else last_error())
    depth = ex.GetDepth(swap)
    has_book = depth is not None and bool(depth.Bids) and bool(depth.Asks)
    report.check(venue, "book (REST)", has_book,
                 f"bid {depth.Bids[0].Price} ask {depth.Asks[0].Price}" if has_book else last_error())
    positions = ex.GetPositions(swap)
    report.check(venue, "positions", positions is not None,
                 f"{len(positions)} open" if positions is not None else last_error())
    fundings = ex.GetFundings(swap)
    report.check(venue, "funding", bool(fundings),
                 f"rate {fundings[0].Rate}, interval {fundings[0].Interval} ms" if fundings else last_error())
    if has_book:
        _order_round_trip(ex, venue, swap, market, depth.Bids[0].Price, report, last_error)
        order_steps(ex, venue, swap, market, depth.Bids[0].Price, report, last_error)
    _oversize(ex, venue, swap, market, report, last_error)
    if has_book:
        _websocket_orders(ex, venue, creds, swap, market, depth.Bids[0].Price, report, last_error, ws_wait_s)
    _websocket_book(ex, venue, swap, report, ws_wait_s, build_book_feed)


def _websocket_orders(ex: Any, venue: str, creds: Credentials, swap: str, market: Any, bid: float,
                      report: Report, last_error: Callable[[], str], wait_s: float) -> None:
    """Binance, Bybit, OKX: the same order round trip over the venue's order websocket."""
    from fmz_compat.live import make_order_socket

    socket = make_order_socket(venue, creds, testnet=True, now_ms=ex.venue_now_ms)
    if socket is None:
        return
    ex.order_socket = socket
    socket.start()
    try:
        ready = socket.wait_ready(wait_s)
        notes = "; ".join(n.text for n in socket.notes)
        if not report.check(venue, "order websocket ready", ready,
                            "ready" if ready else f"not ready within {wait_s:.0f} s {notes}"):
            return
        before = dict(ex.order_routes)
        _order_round_trip(ex, venue, swap, market, bid, report, last_error, " (websocket)")
        report.check(venue, "orders went by websocket", ex.order_routes["ws"] > before["ws"],
                     f"routes {ex.order_routes}, reply p50 {socket.stats()['reply_ms_p50']} ms")
    finally:
        ex.order_socket = None
        socket.stop()


def _order_round_trip(ex: Any, venue: str, swap: str, market: Any, bid: float, report: Report,
                      last_error: Callable[[], str], how: str = "") -> None:
    tick = float(market.TickSize or 0.01)
    step = float(market.AmountSize or market.MinQty or 1)
    price = math.floor(bid * 0.5 / tick) * tick  # far below the market: it cannot fill
    amount = max(float(market.MinQty or step), step)
    min_notional = float(market.MinNotional or 0)
    ct_val = float(market.CtVal or 1)
    while amount * price * ct_val < min_notional:
        amount += step
    order_id = ex.CreateOrder(swap, 'buy;{"postOnly": true}', round(price, 12), round(amount, 12))
    if not report.check(venue, "place limit order" + how, order_id is not None,
                        f"{order_id} buy {amount} @ {price}" if order_id else last_error()):
        return
    order = ex.GetOrder(order_id)
    report.check(venue, "read order" + how, order is not None and order.Status == 0,
                 f"status {order.Status}, client id {order.ClientOrderId}" if order is not None
                 else last_error())
    canceled = ex.CancelOrder(order_id)
    report.check(venue, "cancel order" + how, canceled, "canceled" if canceled else
                 f"{last_error()} - CANCEL {order_id} BY HAND")
    if canceled:
        after = ex.GetOrder(order_id)
        report.check(venue, "order canceled" + how, after is not None and after.Status == 2,
                     f"status {after.Status}" if after is not None else last_error())


def _smallest(market: Any, price: float) -> float:
    """The smallest amount the market takes at `price` (lot size, minimum quantity and notional)."""
    step = float(market.AmountSize or market.MinQty or 1)
    amount = max(float(market.MinQty or step), step)
    while amount * price * float(market.CtVal or 1) < float(market.MinNotional or 0):
        amount += step
    return round(amount, 12)


def order_steps(ex: Any, venue: str, swap: str, market: Any, bid: float, report: Report,
                last_error: Callable[[], str]) -> None:
    """IOC, a reduce-only market close, and a lookup by client id after a lost answer: one line each."""
    _ioc(ex, venue, swap, market, bid, report, last_error)
    _reduce_only_close(ex, venue, swap, market, bid, report, last_error)
    _lost_answer(ex, venue, swap, market, bid, report, last_error)


def _ioc(ex: Any, venue: str, swap: str, market: Any, bid: float, report: Report,
         last_error: Callable[[], str]) -> None:
    tick = float(market.TickSize or 0.01)
    price = round(math.floor(bid * 0.5 / tick) * tick, 12)
    order_id = ex.CreateOrder(swap, 'buy;{"timeInForce": "IOC"}', price, _smallest(market, price))
    if not report.check(venue, "IOC order", order_id is not None,
                        f"{order_id} @ {price}" if order_id else last_error()):
        return
    order = ex.GetOrder(order_id)
    done = order is not None and order.Status == 2 and not order.DealAmount
    report.check(venue, "IOC order canceled unfilled", done,
                 f"status {order.Status}, filled {order.DealAmount}" if order is not None else last_error())
    if order is not None and order.Status == 0:
        ex.CancelOrder(order_id)


def _position(ex: Any, swap: str) -> float | None:
    positions = ex.GetPositions(swap)
    if positions is None:
        return None
    return sum(p.Amount if p.Type == 0 else -p.Amount for p in positions)


def _reduce_only_close(ex: Any, venue: str, swap: str, market: Any, bid: float, report: Report,
                       last_error: Callable[[], str]) -> None:
    before = _position(ex, swap)
    if not report.check(venue, "position before close", before is not None,
                        f"{before} contracts" if before is not None else last_error()):
        return
    amount = _smallest(market, bid)
    opened = ex.CreateOrder(swap, "buy", -1, amount)
    if not report.check(venue, "market buy to close", opened is not None,
                        f"{opened} {amount}" if opened else last_error()):
        return
    closed = ex.CreateOrder(swap, "closebuy", -1, amount)
    report.check(venue, "reduce-only market close", closed is not None,
                 f"{closed} {amount}" if closed else f"{last_error()} - CLOSE {amount} {swap} BY HAND")
    after = _position(ex, swap)
    report.check(venue, "flat again after the close", after is not None and abs(after - before) < 1e-12,
                 f"{after} contracts (before {before})" if after is not None else last_error())


def _lost_answer(ex: Any, venue: str, swap: str, market: Any, bid: float, report: Report,
                 last_error: Callable[[], str]) -> None:
    """The venue takes the order but its answer is dropped here (as a timeout would): the order must be
    found by its client id, and a client id never sent must read as never placed."""
    from fmz_compat.live import ccxt

    tick = float(market.TickSize or 0.01)
    price = round(math.floor(bid * 0.5 / tick) * tick, 12)
    client_id = f"tnc{int(time.time() * 1000) % 10**10}"
    placed: dict[str, Any] = {}
    real_create = ex.client.create_order

    def create_then_lose_the_answer(*args: Any, **kwargs: Any) -> Any:
        placed.update(real_create(*args, **kwargs))
        raise ccxt.RequestTimeout("answer dropped on purpose by testnet_check")

    ex.client.create_order = create_then_lose_the_answer
    try:
        lost = ex.CreateOrder(swap, f'buy;{{"postOnly": true, "clientOrderId": "{client_id}"}}', price,
                              _smallest(market, price))
    finally:
        ex.client.create_order = real_create
    if not report.check(venue, "lost answer kept in flight", lost is None and client_id in ex.in_flight,
                        f"{client_id} in flight, venue id {placed.get('id')}" if client_id in ex.in_flight
                        else last_error()):
        return
    ex.in_flight[f"{client_id}x"] = ex.in_flight[client_id]  # an id that never reached the venue
    resolved = ex.resolve_in_flight()
    found = resolved.get(client_id)
    same = found is not None and found.Id.endswith(f",{placed.get('id')}")
    report.check(venue, "lookup by client id", same,
                 f"{found.Id} status {found.Status}" if found is not None else
                 f"{last_error() or 'not found'} - CANCEL {client_id} BY HAND")
    report.check(venue, "unknown client id reads never placed", f"{client_id}x" in resolved
                 and resolved[f"{client_id}x"] is None, str(resolved.get(f"{client_id}x", last_error())))
    if found is not None:
        canceled = ex.CancelOrder(found.Id)
        report.check(venue, "cancel the found order", canceled, "canceled" if canceled else
                     f"{last_error()} - CANCEL {found.Id} BY HAND")


def _oversize(ex: Any, venue: str, swap: str, market: Any, report: Report,
              last_error: Callable[[], str]) -> None:
    huge = float(market.MaxQty or 1e6) * 100
    order_id = ex.CreateOrder(swap, 'buy;{"postOnly": true}', 1, huge)
    definite = order_id is None and not ex.last_outcome_unknown and "rejected (" in last_error()
    report.check(venue, "oversize order rejected", definite,
                 last_error() if order_id is None else f"PLACED {order_id} - CANCEL IT BY HAND")
    if order_id is not None:
        ex.CancelOrder(order_id)


def _websocket_book(ex: Any, venue: str, swap: str, report: Report, wait_s: float,
                    build_book_feed: Callable[..., Any]) -> None:
    feed = build_book_feed(venue, ex.client, testnet=True)
    ex.books = feed
    ex.watch_books([swap])
    feed.start()
    try:
        deadline = time.monotonic() + wait_s
        ticker = None
        while time.monotonic() < deadline:
            ticker = ex.GetTicker(swap)
            if ticker is not None and ticker.Info.get("source") == "ws":
                break
            time.sleep(0.5)
        ok = ticker is not None and ticker.Info.get("source") == "ws"
        notes = "; ".join(n.text for n in feed.notes)
        report.check(venue, "book (websocket)", ok, f"bid {ticker.Buy} ask {ticker.Sell}, age "
                     f"{ticker.Info.get('ageMs')} ms" if ok else f"no in-sync book in {wait_s:.0f} s {notes}")
    finally:
        feed.stop()


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    ns = parse_args(argv)
    venues = [v.strip().lower() for v in ns.venues.split(",") if v.strip()]
    unknown = [v for v in venues if v not in VENUE_NAMES]
    if unknown or not venues:
        print(f"testnet_check: --venues {ns.venues!r}: choose from {', '.join(VENUE_NAMES)}", file=sys.stderr)
        return 2
    symbol = ns.symbol.upper()
    if symbol.count("_") != 1 or not all(symbol.split("_")):
        print(f"testnet_check: --symbol {ns.symbol!r}: use BASE_QUOTE such as BTC_USDT", file=sys.stderr)
        return 2
    try:
        keys = load_keys_file(ns.keys) if ns.keys is not None else load_keys_env()
    except KeysError as e:
        print(f"testnet_check: {e}", file=sys.stderr)
        return 2
    report = Report(out)
    for venue in venues:
        if venue in NO_TESTNET:
            out(f"{venue:8s} skipped: {venue} has no testnet")
        elif venue not in keys:
            out(f"{venue:8s} skipped: no keys for {venue} (add a \"{venue}\" entry to the keys file or set "
                f"FMZC_{venue.upper()}_API_KEY and FMZC_{venue.upper()}_SECRET)")
        else:
            check_venue(venue, keys[venue], symbol, report, ns.ws_wait_s)
    out(f"{report.failed} check(s) failed" if report.failed else "no check failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
