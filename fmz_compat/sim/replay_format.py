"""The recording format replayed by `python -m fmz_compat backtest FILE --replay RECORDING`.

A recording is gzip-compressed JSON Lines, one object per line, in the order the recorder received
the data (local receive time `rt` never decreases). See docs/replay.md for every field.

    {"t": "header", "format": "xvenue-hedge-recording", "version": 1, "venues": [...],
     "symbols": [...], "start_ms": ..., "end_ms": ..., "source": "...", "depth": 20,
     "instruments": {venue: {pair: {...}}}, "notes": [...], "time_shift_ms": {venue: ms}}
    {"t": "book", "v": "binance", "s": "BTC_USDT", "ts": venue ms, "rt": receive ms,
     "b": [[price, base qty], ...], "a": [[price, base qty], ...]}
    {"t": "trade", "v", "s", "ts", "rt", "p": price, "q": base qty, "side": "buy" | "sell"}
    {"t": "funding", "v", "s", "ts", "rt", "rate": r, "next_ms": ms, "interval_ms": ms, "mark": m?}
    {"t": "gap", "v", "s"?, "rt", "reason": "..."}
    {"t": "end", "end_ms": ms, "counts": {"book": n, "trade": n, "funding": n, "gap": n}}
"""

from __future__ import annotations

import gzip
import json
import math
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

FORMAT = "xvenue-hedge-recording"
VERSION = 1
VENUES = ("binance", "bybit", "okx", "coinex", "bitmex")
EVENT_TYPES = ("book", "trade", "funding", "gap")
_PAIR = re.compile(r"^[A-Z0-9]+_USDT$")


class RecordingError(ValueError):
    """A recording that cannot be read or replayed; the message is one line naming the fix."""


@dataclass(frozen=True)
class Instrument:
    """Contract facts of one venue-symbol as the venue published them while recording."""

    native: str
    tick: float
    step: float  # order amount step, in contracts
    ct_val: float = 1.0  # base units per contract
    min_qty: float = 0.0  # in contracts
    min_notional: float = 0.0  # USDT

    def to_json(self) -> dict[str, Any]:
        return {
            "native": self.native,
            "tick": self.tick,
            "step": self.step,
            "ct_val": self.ct_val,
            "min_qty": self.min_qty,
            "min_notional": self.min_notional,
        }


@dataclass(frozen=True)
class RecordingHeader:
    venues: tuple[str, ...]
    symbols: tuple[str, ...]
    start_ms: int
    end_ms: int
    source: str
    depth: int = 20
    instruments: dict[str, dict[str, Instrument]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    time_shift_ms: dict[str, int] = field(default_factory=dict)
    markets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # venue -> recorded pairs

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "t": "header",
            "format": FORMAT,
            "version": VERSION,
            "venues": list(self.venues),
            "symbols": list(self.symbols),
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "source": self.source,
            "depth": self.depth,
            "markets": {v: list(p) for v, p in self.markets.items()},
            "instruments": {v: {p: i.to_json() for p, i in m.items()} for v, m in self.instruments.items()},
        }
        if self.notes:
            data["notes"] = list(self.notes)
        if self.time_shift_ms:
            data["time_shift_ms"] = dict(self.time_shift_ms)
        return data

    def pairs_on(self, venue: str) -> tuple[str, ...]:
        return self.markets.get(venue, self.symbols)


def validate_venues_symbols(
    venues: list[str] | tuple[str, ...], symbols: list[str] | tuple[str, ...], what: str = ""
) -> None:
    for v in venues:
        if v not in VENUES:
            raise RecordingError(f"{what}unknown venue {v!r}: use some of {', '.join(VENUES)}")
    for s in symbols:
        if not isinstance(s, str) or not _PAIR.match(s):
            raise RecordingError(
                f"{what}symbol {s!r} is not a USDT perpetual written BASE_USDT (e.g. BTC_USDT)"
            )


class RecordingWriter:
    """Writes a recording: the header first, events as they come, an `end` line at close.

    While open the data goes to `<path>.part` (a process killed mid-recording leaves that file, which
    replays up to where it stops); `close()` moves it to `path`, rewriting the header's `end_ms` when
    the recording ended at another time than planned."""

    def __init__(self, path: Path, header: RecordingHeader) -> None:
        validate_venues_symbols(header.venues, header.symbols)
        self.path = Path(path)
        self.part = self.path.with_name(self.path.name + ".part")
        self.header = header
        self.counts = dict.fromkeys(EVENT_TYPES, 0)
        self.last_rt = header.start_ms
        self._fh: IO[str] = gzip.open(self.part, "wt", encoding="utf-8", compresslevel=6)
        self._line(header.to_json())

    def _line(self, obj: dict[str, Any]) -> None:
        self._fh.write(json.dumps(obj, separators=(",", ":")))
        self._fh.write("\n")

    def book(self, venue: str, symbol: str, ts: int, rt: int, bids: list, asks: list) -> None:
        depth = self.header.depth
        self._event(
            {
                "t": "book",
                "v": venue,
                "s": symbol,
                "ts": int(ts),
                "rt": int(rt),
                "b": [[float(p), float(q)] for p, q in bids[:depth]],
                "a": [[float(p), float(q)] for p, q in asks[:depth]],
            }
        )

    def trade(self, venue: str, symbol: str, ts: int, rt: int, price: float, qty: float, side: str) -> None:
        if side not in ("buy", "sell"):
            raise ValueError(f"trade side {side!r} must be buy or sell (the taker's side)")
        self._event(
            {
                "t": "trade",
                "v": venue,
                "s": symbol,
                "ts": int(ts),
                "rt": int(rt),
                "p": float(price),
                "q": float(qty),
                "side": side,
            }
        )

    def funding(
        self,
        venue: str,
        symbol: str,
        ts: int,
        rt: int,
        rate: float,
        next_ms: int,
        interval_ms: int,
        mark: float | None = None,
    ) -> None:
        obj: dict[str, Any] = {
            "t": "funding",
            "v": venue,
            "s": symbol,
            "ts": int(ts),
            "rt": int(rt),
            "rate": float(rate),
            "next_ms": int(next_ms),
            "interval_ms": int(interval_ms),
        }
        if mark is not None:
            obj["mark"] = float(mark)
        self._event(obj)

    def gap(self, venue: str, rt: int, reason: str, symbol: str | None = None) -> None:
        obj: dict[str, Any] = {"t": "gap", "v": venue, "rt": int(rt), "reason": reason}
        if symbol:
            obj["s"] = symbol
        self._event(obj)

    def _event(self, obj: dict[str, Any]) -> None:
        # receive time never goes backwards in a file: replay order is file order
        if obj["rt"] < self.last_rt:
            obj["rt"] = self.last_rt
        self.last_rt = obj["rt"]
        self.counts[obj["t"]] += 1
        self._line(obj)

    def close(self, end_ms: int | None = None) -> None:
        if self._fh.closed:
            return
        end = max(self.last_rt, int(end_ms) if end_ms is not None else self.header.end_ms)
        self._line({"t": "end", "end_ms": end, "counts": self.counts})
        self._fh.close()
        if end == self.header.end_ms:
            self.part.replace(self.path)
            return
        self.header = replace(self.header, end_ms=end)
        with gzip.open(self.part, "rt", encoding="utf-8") as src, \
                gzip.open(self.path, "wt", encoding="utf-8", compresslevel=6) as dst:
            src.readline()
            dst.write(json.dumps(self.header.to_json(), separators=(",", ":")) + "\n")
            shutil.copyfileobj(src, dst, 1 << 20)
        self.part.unlink()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_text(path: Path) -> IO[str]:
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"recording {path} not found: pass the file written by python -m tools.record")
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic != b"\x1f\x8b":
        raise RecordingError(
            f"recording {path} is not gzip-compressed JSON Lines: write it with python -m tools.record"
        )
    return gzip.open(path, "rt", encoding="utf-8")


def _parse_header(obj: Any, path: Path) -> RecordingHeader:
    if not isinstance(obj, dict) or obj.get("t") != "header" or obj.get("format") != FORMAT:
        raise RecordingError(
            f"{path}: the first line is not a {FORMAT} header: write the file with python -m tools.record"
        )
    if obj.get("version") != VERSION:
        raise RecordingError(
            f"{path}: recording format version {obj.get('version')!r} is not supported "
            f"(this runtime reads version {VERSION}): record it again"
        )
    try:
        venues = tuple(obj["venues"])
        symbols = tuple(obj["symbols"])
        start_ms, end_ms = int(obj["start_ms"]), int(obj["end_ms"])
    except (KeyError, TypeError, ValueError):
        raise RecordingError(
            f"{path}: the header lacks venues, symbols, start_ms or end_ms: record it again"
        ) from None
    validate_venues_symbols(venues, symbols, f"{path}: ")
    instruments: dict[str, dict[str, Instrument]] = {}
    for venue, table in (obj.get("instruments") or {}).items():
        for pair, spec in table.items():
            try:
                inst = Instrument(
                    str(spec["native"]),
                    float(spec["tick"]),
                    float(spec["step"]),
                    float(spec.get("ct_val", 1.0)),
                    float(spec.get("min_qty", 0.0)),
                    float(spec.get("min_notional", 0.0)),
                )
            except (KeyError, TypeError, ValueError):
                raise RecordingError(
                    f"{path}: instrument {venue} {pair} needs native, tick and step"
                ) from None
            if not all(math.isfinite(x) and x > 0 for x in (inst.tick, inst.step, inst.ct_val)):
                raise RecordingError(
                    f"{path}: instrument {venue} {pair} has a non-positive tick, step or ct_val"
                )
            instruments.setdefault(venue, {})[pair] = inst
    markets = {v: tuple(p) for v, p in (obj.get("markets") or {}).items()}
    return RecordingHeader(
        venues,
        symbols,
        start_ms,
        end_ms,
        str(obj.get("source", "")),
        int(obj.get("depth", 20)),
        instruments,
        tuple(obj.get("notes") or ()),
        {k: int(v) for k, v in (obj.get("time_shift_ms") or {}).items()},
        markets,
    )


def read_header(path: Path) -> RecordingHeader:
    """The header of a recording; RecordingError (one line) for anything that is not one."""
    try:
        with _open_text(path) as fh:
            first = fh.readline()
    except (OSError, EOFError) as exc:
        raise RecordingError(f"recording {path} cannot be read ({exc}): record it again") from None
    try:
        obj = json.loads(first)
    except ValueError:
        raise RecordingError(
            f"{path}: the first line is not JSON: write the file with python -m tools.record"
        ) from None
    return _parse_header(obj, Path(path))


def iter_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every event line after the header, in file order (the `end` line included)."""
    path = Path(path)
    try:
        with _open_text(path) as fh:
            fh.readline()
            for n, line in enumerate(fh, start=2):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    raise RecordingError(
                        f"{path}: line {n} is not JSON (a truncated recording?): cut the "
                        "file before that line or record it again"
                    ) from None
    except EOFError:  # a recorder killed mid-write leaves a truncated gzip stream: replay what is there
        return
