"""Convert cryptofeed's raw websocket captures (../shared/data/cryptofeed_raw_ws) into a recording.

Each venue's capture is replayed through that venue's own book protocol (Binance futures depth
snapshot + diff stream with U/u/pu sequencing, Bybit v5 orderbook snapshot/delta, BitMEX
orderBookL2 partial/insert/update/delete) and the top levels are written after every message, with
trades and the funding the capture carries. Only USDT-quoted perpetuals are kept; what is skipped
is said in the header's notes. The captures come from different days: by default each venue's
timeline is shifted to start at the same instant (the earliest capture's start), recorded in the
header's `time_shift_ms`; cross-venue spreads in such a file are not real market spreads.
"""

from __future__ import annotations

import gzip
import heapq
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fmz_compat.sim.replay_format import Instrument, RecordingHeader, RecordingWriter

CAPTURE_FILES = {
    "binance": "BINANCE_FUTURES.jsonl.gz",
    "bybit": "BYBIT.jsonl.gz",
    "okx": "OKX.jsonl.gz",
    "bitmex": ("BITMEX.0.gz", "BITMEX.ws.1.0.gz"),
}
ACKNOWLEDGMENT = (
    "captures from github.com/bmoscon/cryptofeed sample_data; this product includes software "
    "developed by Bryant Moscon (http://www.bryantmoscon.com/)"
)


class CaptureError(ValueError):
    """A capture folder or file that cannot be converted (one line naming the fix)."""


@dataclass
class Converted:
    """What one venue's capture gave: events (rt, seq, kind, payload), instruments, notes."""

    venue: str
    events: list[tuple[int, int, str, dict[str, Any]]] = field(default_factory=list)
    instruments: dict[str, Instrument] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, rt: int, kind: str, **payload: Any) -> None:
        self.events.append((rt, len(self.events), kind, payload))


class Book:
    """A full order book (price -> base size) with a top-N view."""

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def set(self, side: dict[float, float], price: float, size: float) -> None:
        if size > 0:
            side[price] = size
        else:
            side.pop(price, None)

    def top(self, depth: int) -> tuple[list[list[float]], list[list[float]]]:
        bids = heapq.nlargest(depth, self.bids.items())
        asks = heapq.nsmallest(depth, self.asks.items())
        return [[p, s] for p, s in bids], [[p, s] for p, s in asks]


def _pair(native: str) -> str | None:
    return f"{native[:-4]}_USDT" if native.endswith("USDT") and len(native) > 4 else None


def _ms(seconds: float) -> int:
    return int(round(float(seconds) * 1000))


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


# --- Binance USD-M futures ------------------------------------------------------------------------
@dataclass
class _BinanceState:
    """The books and depth-stream sequencing of one Binance capture."""

    out: Converted
    depth: int
    books: dict[str, Book] = field(default_factory=dict)
    snapshot_id: dict[str, int] = field(default_factory=dict)
    last_u: dict[str, int] = field(default_factory=dict)
    pending: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)

    def diff(self, pair: str, d: dict[str, Any], rt: int) -> None:
        _binance_diff(
            self.out, pair, self.books[pair], d, rt, self.snapshot_id, self.last_u, self.broken, self.depth
        )


def convert_binance(path: Path, depth: int) -> Converted:
    out = Converted("binance")
    state = _BinanceState(out, depth)
    for obj in _lines(path):
        t = obj.get("t")
        if t == "http":
            _binance_http(state, obj)
        elif t == "recv":
            _binance_recv(state, obj)
    out.notes.append("binance: no mark price or funding stream in the capture (no funding settles)")
    return out


def _binance_http(state: _BinanceState, obj: dict[str, Any]) -> None:
    url = obj["url"]
    if "exchangeInfo" in url:
        _binance_instruments(json.loads(obj["data"]), state.out)
    elif "/depth?" in url:
        native = re.search(r"symbol=([A-Z0-9]+)", url).group(1)  # type: ignore[union-attr]
        pair = _pair(native)
        if pair is not None:
            _binance_snapshot(state, pair, obj)


def _binance_snapshot(state: _BinanceState, pair: str, obj: dict[str, Any]) -> None:
    snap = json.loads(obj["data"])
    book = state.books.setdefault(pair, Book())
    book.clear()
    for p, s in snap["bids"]:
        book.set(book.bids, float(p), float(s))
    for p, s in snap["asks"]:
        book.set(book.asks, float(p), float(s))
    state.snapshot_id[pair] = int(snap["lastUpdateId"])
    rt = _ms(obj["ts"])
    state.out.add(rt, "book", s=pair, ts=int(snap.get("T") or rt), book=book.top(state.depth))
    for rt_p, diff in state.pending.pop(pair, []):
        state.diff(pair, diff, max(rt_p, rt))


def _binance_recv(state: _BinanceState, obj: dict[str, Any]) -> None:
    msg = json.loads(obj["data"])
    data = msg.get("data") or {}
    rt = _ms(obj["ts"])
    pair = _pair(str(data.get("s", "")))
    if pair is None:
        return
    event = data.get("e")
    if event == "depthUpdate":
        if pair not in state.snapshot_id:
            state.pending.setdefault(pair, []).append((rt, data))
        else:
            state.diff(pair, data, rt)
    elif event == "aggTrade":
        state.out.add(
            rt,
            "trade",
            s=pair,
            ts=int(data["T"]),
            p=float(data["p"]),
            q=float(data["q"]),
            side="sell" if data["m"] else "buy",
        )  # m: the buyer was the maker


def _binance_diff(
    out: Converted,
    pair: str,
    book: Book,
    d: dict[str, Any],
    rt: int,
    snapshot_id: dict[str, int],
    last_u: dict[str, int],
    broken: set[str],
    depth: int,
) -> None:
    if pair in broken:
        return
    first, final, prev = int(d["U"]), int(d["u"]), int(d.get("pu", -1))
    if final < snapshot_id[pair]:
        return  # older than the snapshot
    if pair in last_u:
        if prev != last_u[pair]:
            broken.add(pair)
            out.add(
                rt, "gap", s=pair, reason=f"depth stream sequence break (pu {prev} != last u {last_u[pair]})"
            )
            return
    elif not first <= snapshot_id[pair] <= final:
        broken.add(pair)
        out.add(rt, "gap", s=pair, reason="first depth update does not straddle the snapshot")
        return
    last_u[pair] = final
    for p, s in d["b"]:
        book.set(book.bids, float(p), float(s))
    for p, s in d["a"]:
        book.set(book.asks, float(p), float(s))
    out.add(rt, "book", s=pair, ts=int(d.get("T") or d.get("E") or rt), book=book.top(depth))


def _binance_instruments(info: dict[str, Any], out: Converted) -> None:
    for sym in info.get("symbols", []):
        pair = _pair(sym.get("symbol", ""))
        if pair is None or sym.get("contractType") != "PERPETUAL":
            continue
        filters = {f["filterType"]: f for f in sym.get("filters", [])}
        try:
            out.instruments[pair] = Instrument(
                sym["symbol"],
                float(filters["PRICE_FILTER"]["tickSize"]),
                float(filters["LOT_SIZE"]["stepSize"]),
                1.0,
                float(filters["LOT_SIZE"]["minQty"]),
                float(filters.get("MIN_NOTIONAL", {}).get("notional", 0) or 0),
            )
        except (KeyError, ValueError):
            continue


# --- Bybit v5 linear ------------------------------------------------------------------------------
@dataclass
class _BybitState:
    """The linear connections, books, ticker state and funding intervals of one Bybit capture."""

    out: Converted
    depth: int
    linear: set[str] = field(default_factory=set)
    books: dict[str, Book] = field(default_factory=dict)
    tickers: dict[str, dict[str, Any]] = field(default_factory=dict)
    intervals: dict[str, int] = field(default_factory=dict)


def convert_bybit(path: Path, depth: int) -> Converted:
    out = Converted("bybit")
    state = _BybitState(out, depth)
    for obj in _lines(path):
        t = obj.get("t")
        if t == "connect" and "/linear" in str(obj.get("addr", "")):
            state.linear.add(obj["conn"])
        elif t == "http" and "category=linear" in obj["url"]:
            _bybit_instruments(state, json.loads(obj["data"])["result"]["list"])
        elif t == "recv" and obj.get("conn") in state.linear:
            _bybit_recv(state, obj)
    out.notes.append("bybit: spot streams in the capture skipped (USDT perpetuals only)")
    return out


def _bybit_instruments(state: _BybitState, listing: list[dict[str, Any]]) -> None:
    for inst in listing:
        pair = _pair(inst["symbol"])
        if pair is None or inst.get("contractType") != "LinearPerpetual":
            continue
        lot = inst["lotSizeFilter"]
        state.out.instruments[pair] = Instrument(
            inst["symbol"],
            float(inst["priceFilter"]["tickSize"]),
            float(lot["qtyStep"]),
            1.0,
            float(lot["minOrderQty"]),
            float(lot.get("minNotionalValue") or 0),
        )
        state.intervals[pair] = int(inst.get("fundingInterval") or 480) * 60_000


def _bybit_recv(state: _BybitState, obj: dict[str, Any]) -> None:
    msg = json.loads(obj["data"])
    topic = str(msg.get("topic", ""))
    rt = _ms(obj["ts"])
    if topic.startswith("orderbook."):
        _bybit_book(state, msg, topic, rt)
    elif topic.startswith("publicTrade."):
        _bybit_trades(state, msg, rt)
    elif topic.startswith("tickers."):
        _bybit_ticker(state, msg, rt)


def _bybit_book(state: _BybitState, msg: dict[str, Any], topic: str, rt: int) -> None:
    pair = _pair(topic.rsplit(".", 1)[1])
    if pair is None:
        return
    book = state.books.setdefault(pair, Book())
    data = msg["data"]
    if msg.get("type") == "snapshot":
        book.clear()
    for p, s in data.get("b", []):
        book.set(book.bids, float(p), float(s))
    for p, s in data.get("a", []):
        book.set(book.asks, float(p), float(s))
    state.out.add(
        rt, "book", s=pair, ts=int(msg.get("cts") or msg.get("ts") or rt), book=book.top(state.depth)
    )


def _bybit_trades(state: _BybitState, msg: dict[str, Any], rt: int) -> None:
    for tr in msg["data"]:
        pair = _pair(tr["s"])
        if pair is not None:
            state.out.add(
                rt,
                "trade",
                s=pair,
                ts=int(tr["T"]),
                p=float(tr["p"]),
                q=float(tr["v"]),
                side=tr["S"].lower(),
            )


def _bybit_ticker(state: _BybitState, msg: dict[str, Any], rt: int) -> None:
    data = msg["data"]
    pair = _pair(str(data.get("symbol", "")))
    if pair is None:
        return
    ticker = state.tickers.setdefault(pair, {})
    if msg.get("type") == "snapshot":
        ticker.clear()
    ticker.update({k: v for k, v in data.items() if v not in (None, "")})
    if {"fundingRate", "nextFundingTime"} <= ticker.keys():
        state.out.add(
            rt,
            "funding",
            s=pair,
            ts=int(msg.get("ts") or rt),
            rate=float(ticker["fundingRate"]),
            next_ms=int(ticker["nextFundingTime"]),
            interval_ms=state.intervals.get(pair, 28_800_000),
            mark=float(ticker["markPrice"]) if ticker.get("markPrice") else None,
        )


# --- OKX v5 ---------------------------------------------------------------------------------------
def convert_okx(path: Path, depth: int) -> Converted:
    """The OKX capture holds spot, a coin-margined swap and a dated future: nothing is USDT-perpetual."""
    out = Converted("okx")
    inst_ids: set[str] = set()
    for obj in _lines(path):
        if obj.get("t") == "header":
            for names in (obj.get("config") or {}).values():
                inst_ids.update(names)
        elif obj.get("t") == "recv":
            arg = json.loads(obj["data"]).get("arg") or {}
            if arg.get("instId"):
                inst_ids.add(arg["instId"])
    usdt_swaps = sorted(i for i in inst_ids if i.endswith("-USDT-SWAP"))
    if usdt_swaps:  # not in this capture: a newer one would need the books/trades/funding parser here
        out.notes.append(
            f"okx: USDT swaps {', '.join(usdt_swaps)} present but not converted (parser missing)"
        )
    else:
        out.notes.append(
            f"okx: no USDT-margined perpetual in the capture ({', '.join(sorted(inst_ids))}); skipped"
        )
    return out


# --- BitMEX ---------------------------------------------------------------------------------------
def convert_bitmex(rest_path: Path, ws_path: Path, depth: int) -> Converted:
    out = Converted("bitmex")
    base_per_contract: dict[str, float] = {}
    funding: list[tuple[int, str, dict[str, Any]]] = []
    with gzip.open(rest_path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if "instrument/active" not in line:
                continue
            head, body = line.split(": ", 1)
            rt = _ms(head.rsplit("-> ", 1)[1])
            _bitmex_instruments(out, json.loads(body), rt, base_per_contract, funding)
    quanto = {inst.native for inst in out.instruments.values() if inst.ct_val != 1.0}
    books: dict[str, Book] = {}
    first_rt = _bitmex_stream(out, ws_path, depth, base_per_contract, books)
    booked = sorted(books)
    quanto_booked = [p for p in booked if out.instruments[p].native in quanto]
    if quanto_booked:
        out.notes.append(
            f"bitmex: {', '.join(quanto_booked)} were quanto contracts settled in XBt; replayed as "
            "USDT-margined (prices and books as recorded, sizes in coins at the capture's XBT price)"
        )
    for rt, pair, inst in funding:
        if pair in books:
            _bitmex_funding(out, rt, pair, inst, first_rt)
    out.events.sort(key=lambda e: (e[0], e[1]))
    return out


def _bitmex_instruments(
    out: Converted,
    instruments: list[dict[str, Any]],
    rt: int,
    base_per_contract: dict[str, float],
    funding: list[tuple[int, str, dict[str, Any]]],
) -> None:
    """One instrument/active answer: the USDT perpetuals' instruments, base per contract and funding."""
    xbt = next((i["markPrice"] for i in instruments if i["symbol"] == "XBTUSD"), None)
    for inst in instruments:
        pair = _pair(inst["symbol"])
        if pair is None or inst.get("typ") != "FFWCSX" or inst.get("quoteCurrency") != "USDT":
            continue
        ct = _bitmex_base_per_contract(inst, xbt)
        if ct is None:
            continue
        base_per_contract[inst["symbol"]] = ct
        out.instruments[pair] = Instrument(
            inst["symbol"],
            float(inst["tickSize"]),
            float(inst["lotSize"]),
            ct,
            float(inst["lotSize"]),
            0.0,
        )
        if inst.get("fundingRate") is not None and inst.get("fundingTimestamp"):
            funding.append((rt, pair, inst))


def _bitmex_base_per_contract(inst: dict[str, Any], xbt: float | None) -> float | None:
    """Coins per contract; None for a quanto contract when the answer has no XBT price."""
    if inst.get("isQuanto"):
        if not xbt:
            return None
        # quanto: one contract is worth multiplier satoshi per USDT of price, i.e.
        # multiplier x 1e-8 x XBT price USDT per USDT of price = that many coins
        return float(inst["multiplier"] * 1e-8 * xbt)
    return 1.0 / float(inst.get("underlyingToPositionMultiplier") or 1.0)


def _bitmex_stream(
    out: Converted, ws_path: Path, depth: int, base_per_contract: dict[str, float], books: dict[str, Book]
) -> int | None:
    """Replay the websocket capture into `books` and `out`; returns the first message's time."""
    price_of: dict[int, float] = {}
    first_rt = None
    with gzip.open(ws_path, "rt", encoding="utf-8") as fh:
        for line in fh:
            head, sep, body = line.partition(": ")
            if not sep or not body.startswith("{"):
                continue
            try:
                rt = _ms(head)
            except ValueError:
                continue
            first_rt = rt if first_rt is None else first_rt
            msg = json.loads(body)
            table, action = msg.get("table"), msg.get("action")
            if table == "orderBookL2":
                _bitmex_book(out, msg, action, rt, depth, base_per_contract, books, price_of)
            elif table == "trade" and action in ("insert", "partial"):
                _bitmex_trades(out, msg, action, rt, base_per_contract)
    return first_rt


def _bitmex_book(
    out: Converted,
    msg: dict[str, Any],
    action: Any,
    rt: int,
    depth: int,
    base_per_contract: dict[str, float],
    books: dict[str, Book],
    price_of: dict[int, float],
) -> None:
    touched: set[str] = set()
    for row in msg.get("data", []):
        ct = base_per_contract.get(row.get("symbol", ""))
        if ct is None:
            continue
        pair = _pair(row["symbol"])
        book = books.setdefault(pair, Book())  # type: ignore[arg-type]
        if action == "partial" and pair not in touched:
            book.clear()
        side = book.bids if row["side"] == "Buy" else book.asks
        if "price" in row:
            price_of[row["id"]] = float(row["price"])
        price = price_of.get(row["id"])
        if price is None:
            continue
        book.set(side, price, 0.0 if action == "delete" else float(row.get("size", 0)) * ct)
        touched.add(pair)  # type: ignore[arg-type]
    for pair in touched:
        if books[pair].bids and books[pair].asks:
            out.add(rt, "book", s=pair, ts=rt, book=books[pair].top(depth))


def _bitmex_trades(
    out: Converted, msg: dict[str, Any], action: Any, rt: int, base_per_contract: dict[str, float]
) -> None:
    for tr in msg.get("data", []):
        ct = base_per_contract.get(tr.get("symbol", ""))
        if ct is None or action == "partial":
            continue
        ts = _iso_ms(tr["timestamp"])
        out.add(
            rt,
            "trade",
            s=_pair(tr["symbol"]),
            ts=ts,
            p=float(tr["price"]),
            q=float(tr["size"]) * ct,
            side=tr["side"].lower(),
        )


def _bitmex_funding(out: Converted, rt: int, pair: str, inst: dict[str, Any], first_rt: int | None) -> None:
    interval = _iso_ms(inst["fundingInterval"]) - _iso_ms("2000-01-01T00:00:00.000Z")
    out.add(
        max(rt, first_rt or rt),
        "funding",
        s=pair,
        ts=_iso_ms(inst["timestamp"]),
        rate=float(inst["fundingRate"]),
        next_ms=_iso_ms(inst["fundingTimestamp"]),
        interval_ms=interval,
        mark=float(inst["markPrice"]) if inst.get("markPrice") else None,
    )


def _iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


# --- the whole folder -----------------------------------------------------------------------------
def convert_folder(
    folder: Path,
    out_path: Path,
    *,
    depth: int = 20,
    align: bool = True,
    venues: tuple[str, ...] | None = None,
    max_seconds: float | None = None,
) -> RecordingHeader:
    """Convert the captures in `folder` into one recording at `out_path`; returns its header."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CaptureError(f"--from-capture {folder}: not a folder; pass ../shared/data/cryptofeed_raw_ws")
    chosen = venues or tuple(CAPTURE_FILES)
    results = [_convert_venue(folder, venue, depth) for venue in chosen]
    with_data = [r for r in results if any(e[2] == "book" for e in r.events)]
    if not with_data:
        raise CaptureError(f"{folder}: no USDT-perpetual book in the chosen captures; nothing to write")
    starts = {r.venue: min(e[0] for e in r.events if e[2] == "book") for r in with_data}
    origin = min(starts.values())
    shift = {v: (origin - s if align else 0) for v, s in starts.items()}
    limit = origin + int(max_seconds * 1000) if max_seconds else None
    merged = _merge(with_data, shift, limit)
    markets = {
        r.venue: tuple(sorted({e[4]["s"] for e in merged if e[2] == r.venue and e[3] == "book"}))
        for r in with_data
    }
    symbols = tuple(sorted({s for pairs in markets.values() for s in pairs}))
    notes = [n for r in results for n in r.notes]
    if align and any(shift.values()):
        notes.insert(
            0,
            "captures from different days were shifted to one start (time_shift_ms): cross-venue "
            "spreads in this file are not real market spreads",
        )
    notes.append(ACKNOWLEDGMENT)
    end_ms = max(e[0] for e in merged) + 1
    header = RecordingHeader(
        tuple(r.venue for r in with_data),
        symbols,
        origin,
        end_ms,
        f"cryptofeed raw websocket captures in {folder.name} ({', '.join(r.venue for r in with_data)})",
        depth,
        {r.venue: {p: i for p, i in r.instruments.items() if p in markets[r.venue]} for r in with_data},
        tuple(notes),
        {v: d for v, d in shift.items() if d},
        markets,
    )
    with RecordingWriter(out_path, header) as w:
        for rt, _seq, venue, kind, payload in merged:
            writer = _WRITERS.get(kind)
            if writer is not None:
                writer(w, venue, rt, shift[venue], payload)
        w.close(end_ms)
    return header


def _convert_venue(folder: Path, venue: str, depth: int) -> Converted:
    names = CAPTURE_FILES.get(venue)
    if names is None:
        raise CaptureError(
            f"no capture format for venue {venue!r}; captures exist for {', '.join(CAPTURE_FILES)}"
        )
    paths = [folder / n for n in ((names,) if isinstance(names, str) else names)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise CaptureError(f"capture file {missing[0]} not found: pass the cryptofeed_raw_ws folder")
    if venue == "binance":
        return convert_binance(paths[0], depth)
    if venue == "bybit":
        return convert_bybit(paths[0], depth)
    if venue == "okx":
        return convert_okx(paths[0], depth)
    return convert_bitmex(paths[0], paths[1], depth)


def _merge(
    with_data: list[Converted], shift: dict[str, int], limit: int | None
) -> list[tuple[int, int, str, str, dict[str, Any]]]:
    """Every venue's events on the shifted timeline up to `limit`, in (time, venue, seq) order."""
    merged: list[tuple[int, int, str, str, dict[str, Any]]] = []
    for r in with_data:
        d = shift[r.venue]
        for rt, seq, kind, payload in r.events:
            if limit is not None and rt + d > limit:
                continue
            merged.append((rt + d, seq, r.venue, kind, payload))
    merged.sort(key=lambda e: (e[0], e[2], e[1]))
    return merged


def _write_book(w: RecordingWriter, venue: str, rt: int, d: int, payload: dict[str, Any]) -> None:
    bids, asks = payload["book"]
    w.book(venue, payload["s"], payload["ts"] + d, rt, bids, asks)


def _write_trade(w: RecordingWriter, venue: str, rt: int, d: int, payload: dict[str, Any]) -> None:
    w.trade(venue, payload["s"], payload["ts"] + d, rt, payload["p"], payload["q"], payload["side"])


def _write_funding(w: RecordingWriter, venue: str, rt: int, d: int, payload: dict[str, Any]) -> None:
    w.funding(
        venue,
        payload["s"],
        payload["ts"] + d,
        rt,
        payload["rate"],
        payload["next_ms"] + d,
        payload["interval_ms"],
        payload.get("mark"),
    )


def _write_gap(w: RecordingWriter, venue: str, rt: int, d: int, payload: dict[str, Any]) -> None:
    w.gap(venue, rt, payload["reason"], payload.get("s"))


_WRITERS = {"book": _write_book, "trade": _write_trade, "funding": _write_funding, "gap": _write_gap}
