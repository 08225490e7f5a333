"""Per-venue websocket book protocols: what to send, and how each frame changes the books.

Pure parsing, no I/O: `on_frame(frame, received_ms)` applies one raw frame (text, or bytes for
CoinEx's gzip frames) and returns what the transport must do next (`Resync`) or report (`Notice`).
The same code runs live (fmz_compat.ws.feed) and in the tests against real captured frames.

Gap detection, per venue:
- Binance USDⓈ-M: diff stream U/u/pu ids against a REST snapshot's lastUpdateId.
- Bybit V5: the delta update id `u` must follow the previous one by exactly 1.
- OKX V5: prevSeqId must be the previous seqId (when sent), and the CRC32 checksum must match.
- CoinEx v2: the CRC32 checksum of the whole book must match.
- BitMEX: no sequence ids; an update or delete of an unknown level id, or an insert of a known
  one, means a message was lost.
Any gap drops the book (it is not served) until the venue sends a fresh snapshot.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fmz_compat.ws.book import Book, BookView, coinex_checksum, okx_checksum


@dataclass(frozen=True)
class Resync:
    """The book of `market_id` cannot be trusted: fetch a snapshot (Binance) or resubscribe."""

    market_id: str
    reason: str
    gap: bool = True  # False for the first snapshot of a new subscription


@dataclass(frozen=True)
class Notice:
    """Something the venue said that a human should see (a refused subscription...)."""

    text: str


Event = Resync | Notice


@dataclass
class SymbolState:
    book: Book
    synced: bool = False
    seq: int | None = None
    gaps: int = 0
    pending: list[dict[str, Any]] = field(default_factory=list)  # Binance: diffs before the snapshot
    snapshot_asked: bool = False
    snapshot_id: int = 0  # Binance: lastUpdateId of the REST snapshot in use
    ids: dict[Any, tuple[str, float]] = field(default_factory=dict)  # BitMEX: level id -> (side, price)


class BookProtocol:
    """Base: the books of one venue connection, keyed by the venue's market id (BTCUSDT...)."""

    venue = ""
    url = ""
    testnet_url = ""
    ping_text: str | None = None
    # Every venue answers our ping with a frame: a quiet connection still proves it is alive, and the
    # transport's silence limit (15 s) only trips on a dead one.
    ping_interval_s = 5.0
    snapshot_by_rest = False  # True: resync by a REST snapshot, not by resubscribing
    # (limit, window s, burst) of subscribe-type requests per connection the venue allows; None: unpaced
    request_budget: tuple[int, float, int] | None = None
    keep_text = False
    max_levels = 0

    def __init__(self) -> None:
        self.states: dict[str, SymbolState] = {}

    # --- subscriptions ------------------------------------------------------------------------
    def add(self, market_ids: Iterable[str]) -> list[str]:
        """Track new market ids; returns the ones that were not tracked yet."""
        new = [m for m in market_ids if m not in self.states]
        for m in new:
            self.states[m] = SymbolState(Book(keep_text=self.keep_text, max_levels=self.max_levels))
        return new

    def subscribe_frames(self, market_ids: list[str]) -> list[str]:
        raise NotImplementedError

    def unsubscribe_frames(self, market_ids: list[str]) -> list[str]:
        raise NotImplementedError

    def resync_frames(self, market_id: str) -> list[str]:
        return self.unsubscribe_frames([market_id]) + self.subscribe_frames([market_id])

    def ping_frame(self) -> str | None:
        return self.ping_text

    def reset(self) -> None:
        """The connection dropped: every book is unknown until its next snapshot."""
        for state in self.states.values():
            self._drop(state)

    # --- reading ------------------------------------------------------------------------------
    def view(self, market_id: str, depth: int) -> BookView | None:
        state = self.states.get(market_id)
        if state is None or not state.synced:
            return None
        return state.book.view(depth)

    # --- parsing ------------------------------------------------------------------------------
    def on_frame(self, frame: str | bytes, received_ms: int) -> list[Event]:
        text = frame.decode() if isinstance(frame, bytes) else frame
        if text in ("pong", "ping"):
            return []
        return self.on_message(json.loads(text), received_ms)

    def on_message(self, message: Any, received_ms: int) -> list[Event]:
        raise NotImplementedError

    def apply_snapshot(self, market_id: str, payload: Any, received_ms: int) -> list[Event]:
        raise NotImplementedError(f"{self.venue} resyncs by resubscribing")

    # --- helpers ------------------------------------------------------------------------------
    def _drop(self, state: SymbolState) -> None:
        state.synced = False
        state.seq = None
        state.book.clear()
        state.ids.clear()
        state.pending.clear()
        state.snapshot_asked = False

    def _gap(self, market_id: str, state: SymbolState, reason: str) -> Resync:
        self._drop(state)
        state.gaps += 1
        return Resync(market_id, reason)

    def _snapshot(self, state: SymbolState, asks: list[list[str]], bids: list[list[str]],
                  venue_ms: int, received_ms: int) -> None:
        book = state.book
        book.clear()
        book.apply(book.asks, asks)
        book.apply(book.bids, bids)
        book.venue_ms, book.received_ms = venue_ms, received_ms
        state.synced = True

    @staticmethod
    def _update(book: Book, asks: list[list[str]], bids: list[list[str]], venue_ms: int,
                received_ms: int) -> None:
        book.apply(book.asks, asks)
        book.apply(book.bids, bids)
        book.venue_ms, book.received_ms = venue_ms, received_ms


class BinanceBooks(BookProtocol):
    """Binance USDⓈ-M `<symbol>@depth@100ms` diffs on a REST `/fapi/v1/depth` snapshot."""

    venue = "binance"
    # Binance routes USDⓈ-M streams by kind since 2026-03-06 (legacy /stream retired 2026-04-23): depth and
    # bookTicker on /public, klines, mark price, aggTrade on /market, user data on /private. The testnet
    # still answers the old path.
    url = "wss://fstream.binance.com/public/stream"
    testnet_url = "wss://stream.binancefuture.com/stream"
    snapshot_by_rest = True
    max_levels = 1000
    snapshot_limit = 1000

    def __init__(self) -> None:
        super().__init__()
        self._ids = 0

    def _frame(self, method: str, market_ids: list[str]) -> list[str]:
        self._ids += 1
        params = [f"{m.lower()}@depth@100ms" for m in market_ids]
        return [json.dumps({"method": method, "params": params, "id": self._ids})]

    def subscribe_frames(self, market_ids: list[str]) -> list[str]:
        return self._frame("SUBSCRIBE", market_ids) if market_ids else []

    def unsubscribe_frames(self, market_ids: list[str]) -> list[str]:
        return self._frame("UNSUBSCRIBE", market_ids) if market_ids else []

    def resync_frames(self, market_id: str) -> list[str]:
        return []  # the stream goes on; only the snapshot is fetched again

    def ping_frame(self) -> str:
        # Binance's own pings are control frames recv() never returns; a quiet symbol sends nothing
        # for minutes. LIST_SUBSCRIPTIONS is answered with a frame.
        self._ids += 1
        return json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": self._ids})

    def on_message(self, message: Any, received_ms: int) -> list[Event]:
        if "error" in message and message.get("error"):
            return [Notice(f"binance refused a request: {message['error']}")]
        data = message.get("data", message)
        if not isinstance(data, dict) or data.get("e") != "depthUpdate":
            return []
        state = self.states.get(data["s"])
        if state is None:
            return []
        data["_received_ms"] = received_ms
        if state.seq is None and not state.synced:
            state.pending.append(data)
            if not state.snapshot_asked:
                state.snapshot_asked = True
                return [Resync(data["s"], "first snapshot", gap=False)]
            return []
        return self._diff(data["s"], state, data)

    def _diff(self, market_id: str, state: SymbolState, d: dict[str, Any]) -> list[Event]:
        first, last = int(d["U"]), int(d["u"])
        if state.seq is None:  # waiting for the diff that straddles the snapshot's lastUpdateId
            if last < state.snapshot_id:
                return []
            if first > state.snapshot_id:
                return [self._gap(market_id, state, f"snapshot {state.snapshot_id} older than diff {first}")]
        elif int(d["pu"]) != state.seq:
            return [self._gap(market_id, state, f"diff pu {d['pu']} does not follow u {state.seq}")]
        self._update(state.book, d["a"], d["b"], int(d["E"]), int(d["_received_ms"]))
        state.seq = last
        return []

    def _gap(self, market_id: str, state: SymbolState, reason: str) -> Resync:
        resync = super()._gap(market_id, state, reason)
        state.snapshot_asked = True  # the transport fetches a snapshot for every Resync
        return resync

    def snapshot_failed(self, market_id: str) -> None:
        """The snapshot could not be fetched: the next diff asks again."""
        self.states[market_id].snapshot_asked = False

    def apply_snapshot(self, market_id: str, payload: Any, received_ms: int) -> list[Event]:
        """Apply a `/fapi/v1/depth` answer, then the diffs buffered since the subscription."""
        state = self.states[market_id]
        pending = list(state.pending)
        self._snapshot(state, payload["asks"], payload["bids"], int(payload.get("E") or payload.get("T")
                                                                     or received_ms), received_ms)
        state.snapshot_id = int(payload["lastUpdateId"])
        state.seq = None
        state.pending.clear()
        events: list[Event] = []
        for d in pending:
            events.extend(self._diff(market_id, state, d))
            if not state.synced:
                break
        return events


class BybitBooks(BookProtocol):
    """Bybit V5 linear `orderbook.50.<symbol>`: snapshot then deltas with consecutive `u`."""

    venue = "bybit"
    url = "wss://stream.bybit.com/v5/public/linear"
    testnet_url = "wss://stream-testnet.bybit.com/v5/public/linear"
    depth = 50

    def ping_frame(self) -> str:
        return '{"op":"ping"}'

    def _frames(self, op: str, market_ids: list[str]) -> list[str]:
        topics = [f"orderbook.{self.depth}.{m}" for m in market_ids]
        return [json.dumps({"op": op, "args": topics[i:i + 10]}) for i in range(0, len(topics), 10)]

    def subscribe_frames(self, market_ids: list[str]) -> list[str]:
        return self._frames("subscribe", market_ids)

    def unsubscribe_frames(self, market_ids: list[str]) -> list[str]:
        return self._frames("unsubscribe", market_ids)

    def on_message(self, message: Any, received_ms: int) -> list[Event]:
        topic = message.get("topic") or ""
        if not topic.startswith("orderbook."):
            if message.get("success") is False:
                return [Notice(f"bybit refused {message.get('op')}: {message.get('ret_msg')}")]
            return []
        data = message["data"]
        market_id = data["s"]
        state = self.states.get(market_id)
        if state is None:
            return []
        update_id, venue_ms = int(data["u"]), int(message.get("ts") or received_ms)
        if message.get("type") == "snapshot":
            self._snapshot(state, data["a"], data["b"], venue_ms, received_ms)
            state.seq = update_id
            return []
        if not state.synced:
            return []
        if state.seq is not None and update_id != state.seq + 1:
            return [self._gap(market_id, state, f"update id {update_id} after {state.seq}")]
        self._update(state.book, data["a"], data["b"], venue_ms, received_ms)
        state.seq = update_id
        return []


class OkxBooks(BookProtocol):
    """OKX V5 `books` (400 levels): snapshot then updates, seqId chain and CRC32 checksum."""

    venue = "okx"
    url = "wss://ws.okx.com:8443/ws/v5/public"
    testnet_url = "wss://wspap.okx.com:8443/ws/v5/public"
    ping_text = "ping"
    keep_text = True
    # OKX: 480 subscribe/unsubscribe/login requests per hour per connection; a resync spends two
    request_budget = (480, 3600.0, 24)

    def _frames(self, op: str, market_ids: list[str]) -> list[str]:
        args = [{"channel": "books", "instId": m} for m in market_ids]
        return [json.dumps({"op": op, "args": args[i:i + 20]}) for i in range(0, len(args), 20)]

    def subscribe_frames(self, market_ids: list[str]) -> list[str]:
        return self._frames("subscribe", market_ids)

    def unsubscribe_frames(self, market_ids: list[str]) -> list[str]:
        return self._frames("unsubscribe", market_ids)

    def on_message(self, message: Any, received_ms: int) -> list[Event]:
        if message.get("event") == "error":
            return [Notice(f"okx refused a request: {message.get('code')} {message.get('msg')}")]
        arg = message.get("arg") or {}
        if arg.get("channel") != "books" or "action" not in message:
            return []
        market_id = arg["instId"]
        state = self.states.get(market_id)
        if state is None:
            return []
        events: list[Event] = []
        for data in message.get("data") or []:
            venue_ms = int(data.get("ts") or received_ms)
            if message["action"] == "snapshot":
                self._snapshot(state, data["asks"], data["bids"], venue_ms, received_ms)
            elif not state.synced:
                continue
            else:
                prev = data.get("prevSeqId")
                if prev is not None and state.seq is not None and int(prev) != state.seq:
                    return [self._gap(market_id, state, f"prevSeqId {prev} does not follow {state.seq}")]
                self._update(state.book, data["asks"], data["bids"], venue_ms, received_ms)
            if data.get("seqId") is not None:
                state.seq = int(data["seqId"])
            if "checksum" in data and okx_checksum(state.book) != int(data["checksum"]):
                return [self._gap(market_id, state, f"checksum mismatch at {venue_ms}")]
        return events


class CoinexBooks(BookProtocol):
    """CoinEx v2 futures `depth.subscribe` (50 levels, gzip frames), CRC32 checksum of the book."""

    venue = "coinex"
    url = "wss://socket.coinex.com/v2/futures"
    testnet_url = ""  # CoinEx has no futures testnet
    keep_text = True
    depth = 50

    def __init__(self) -> None:
        super().__init__()
        self._ids = 0

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def ping_frame(self) -> str:
        return json.dumps({"method": "server.ping", "params": {}, "id": self._next_id()})

    def subscribe_frames(self, market_ids: list[str]) -> list[str]:
        # A depth.subscribe replaces the connection's depth subscriptions: always send them all.
        markets = [[m, self.depth, "0", False] for m in self.states]
        return [json.dumps({"method": "depth.subscribe", "params": {"market_list": markets},
                            "id": self._next_id()})] if market_ids else []

    def unsubscribe_frames(self, market_ids: list[str]) -> list[str]:
        return [json.dumps({"method": "depth.unsubscribe", "params": {"market_list": market_ids},
                            "id": self._next_id()})]

    def on_frame(self, frame: str | bytes, received_ms: int) -> list[Event]:
        if isinstance(frame, bytes):
            frame = _gunzip(frame)
        return super().on_frame(frame, received_ms)

    def on_message(self, message: Any, received_ms: int) -> list[Event]:
        if message.get("method") != "depth.update":
            code = message.get("code")
            if code not in (None, 0):
                return [Notice(f"coinex refused a request: {code} {message.get('message')}")]
            return []
        data = message["data"]
        market_id = data["market"]
        state = self.states.get(market_id)
        if state is None:
            return []
        depth = data["depth"]
        venue_ms = int(depth.get("updated_at") or received_ms)
        if data.get("is_full"):
            self._snapshot(state, depth.get("asks") or [], depth.get("bids") or [], venue_ms, received_ms)
        elif not state.synced:
            return []
        else:
            self._update(state.book, depth.get("asks") or [], depth.get("bids") or [], venue_ms, received_ms)
        checksum = depth.get("checksum")
        # CoinEx's docs call it a signed 32-bit integer but publish it unsigned: read both the same way
        if checksum not in (None, "") and coinex_checksum(state.book) != int(checksum) & 0xFFFFFFFF:
            return [self._gap(market_id, state, f"checksum mismatch at {venue_ms}")]
        return []


class BitmexBooks(BookProtocol):
    """BitMEX `orderBookL2_25`: partial, then insert/update/delete of levels by id."""

    venue = "bitmex"
    url = "wss://ws.bitmex.com/realtime"
    testnet_url = "wss://ws.testnet.bitmex.com/realtime"
    ping_text = "ping"
    table = "orderBookL2_25"

    def _frames(self, op: str, market_ids: list[str]) -> list[str]:
        if not market_ids:
            return []
        return [json.dumps({"op": op, "args": [f"{self.table}:{m}" for m in market_ids]})]

    def subscribe_frames(self, market_ids: list[str]) -> list[str]:
        return self._frames("subscribe", market_ids)

    def unsubscribe_frames(self, market_ids: list[str]) -> list[str]:
        return self._frames("unsubscribe", market_ids)

    def on_message(self, message: Any, received_ms: int) -> list[Event]:
        if "error" in message:
            return [Notice(f"bitmex refused a request: {message['error']}")]
        if not str(message.get("table", "")).startswith("orderBookL2"):
            return []
        action = message.get("action")
        events: list[Event] = []
        for market_id, rows in _rows_by_symbol(message, action).items():
            state = self.states.get(market_id)
            if state is None:
                continue
            if action == "partial":
                self._drop(state)
                state.synced = True
            elif not state.synced:
                continue
            problem = self._apply_rows(state, action, rows)
            if problem:
                events.append(self._gap(market_id, state, problem))
                continue
            stamps = [_iso_ms(r["timestamp"]) for r in rows if r.get("timestamp")]
            state.book.venue_ms = max(stamps) if stamps else received_ms
            state.book.received_ms = received_ms
        return events

    @staticmethod
    def _apply_rows(state: SymbolState, action: str | None, rows: list[dict[str, Any]]) -> str:
        book, ids = state.book, state.ids
        for row in rows:
            level_id = row["id"]
            if action in ("partial", "insert"):
                if level_id in ids:
                    return f"insert of known level {level_id}"
                ids[level_id] = (row["side"], float(row["price"]))
            elif level_id not in ids:
                return f"{action} of unknown level {level_id}"
            side_name, price = ids[level_id]
            side = book.asks if side_name == "Sell" else book.bids
            if action == "delete":
                side.pop(price, None)
                del ids[level_id]
            else:
                side[price] = float(row["size"])
        return ""


PROTOCOLS: dict[str, type[BookProtocol]] = {
    "binance": BinanceBooks, "bybit": BybitBooks, "okx": OkxBooks, "coinex": CoinexBooks,
    "bitmex": BitmexBooks,
}


def _gunzip(data: bytes) -> str:
    try:
        return zlib.decompress(data, 47).decode()  # gzip or zlib header
    except zlib.error:
        return zlib.decompress(data, -15).decode()  # raw deflate


def _rows_by_symbol(message: dict[str, Any], action: Any) -> dict[str, list[dict[str, Any]]]:
    """A BitMEX orderBookL2 message's rows by symbol; a partial for a symbol with no rows (its book is
    empty) still names it in its filter."""
    rows_by_symbol: dict[str, list[dict[str, Any]]] = {}
    for row in message.get("data") or []:
        rows_by_symbol.setdefault(row["symbol"], []).append(row)
    if action == "partial":
        symbol = (message.get("filter") or {}).get("symbol")
        if symbol:
            rows_by_symbol.setdefault(symbol, [])
    return rows_by_symbol


def _iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
