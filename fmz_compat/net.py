"""FMZ's network globals for paper and live runs: HttpQuery (requests), Dial (websocket-client, sqlite3)
and the event queue EventLoop reads (Go tasks, Dial messages). Backtest behaviour lives in api.py.

Shapes follow FMZ's syntax guide and the official Python stub (fmzquant/skills fmz.pyi):
  HttpQuery(url) / HttpQuery(url, {method, body, headers, cookie, timeout ms, charset, debug, format})
  / HttpQuery(url, postData, cookies, headers) -> body text, or {StatusCode, Header, Body} with debug;
  None on failure (an error line in the log).
  Dial("wss://host/path|compress=gzip_raw&mode=recv&reconnect=true&interval=1000&payload=...", timeout)
  or Dial(url, {compress, mode, reconnect, interval, payload, headers}) -> a connection with
  read(ms) (None or 0: block; > 0: wait that long; -1: do not wait; < -1: drop the backlog, newest),
  write(data) -> bytes written (0 when broken), close(); "" from read() once the peer has gone.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import os
import sqlite3
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fmz_compat.core import Struct, to_struct, truthy

DEFAULT_HTTP_TIMEOUT_MS = 300_000  # FMZ's documented default
DEFAULT_DIAL_TIMEOUT_S = 30.0
DEFAULT_RECONNECT_INTERVAL_MS = 1000


def redact(url: str) -> str:
    """A URL without its query string and Dial options: what may appear in a log line."""
    return str(url).split("?", 1)[0].split("|", 1)[0]


# --- events (EventLoop) ---
class EventQueue:
    """Events EventLoop returns, in order: {Seq, Event, ThreadId, Index, Nano, Deleted}.

    "Book" (fmz_compat's own kind, live): a streamed book's top moved, with Symbol, Buy, Sell and Time (the
    venue's ms on the local clock). Posted only once EventLoop has been called (`listening`: as FMZ buffers
    events only from the first EventLoop call), and at most one a book waits: a newer top updates the
    waiting event in place (its Seq and place in the queue kept), so the queue never holds a stale top and
    stays bounded by the number of books while the strategy is busy."""

    def __init__(self, now_ns: Callable[[], int]) -> None:
        self._now_ns = now_ns
        self._events: deque[Struct] = deque()
        self._ready = threading.Condition()
        self._seq = itertools.count(1)
        self._books: dict[tuple[int, str], Struct] = {}  # Book events not taken yet, by (Index, Symbol)
        self.listening = False

    def post(self, event: str, index: int = 0) -> None:
        with self._ready:
            self._events.append(Struct({"Seq": next(self._seq), "Event": event, "ThreadId": 0,
                                        "Index": index, "Nano": self._now_ns(), "Deleted": 0}))
            self._ready.notify_all()

    def post_book(self, index: int, symbol: str, bid: float, ask: float, time_ms: int) -> None:
        """Exchange `index`'s `symbol` top is now bid / ask as of time_ms (any thread)."""
        if not self.listening:
            return
        with self._ready:
            waiting = self._books.get((index, symbol))
            if waiting is not None:
                waiting.update(Buy=bid, Sell=ask, Time=time_ms, Nano=self._now_ns())
                return
            event = Struct({"Seq": next(self._seq), "Event": "Book", "ThreadId": 0, "Index": index,
                            "Nano": self._now_ns(), "Deleted": 0, "Symbol": symbol, "Buy": bid, "Sell": ask,
                            "Time": time_ms})
            self._books[(index, symbol)] = event
            self._events.append(event)
            self._ready.notify_all()

    def take(self, timeout_ms: float | None) -> Struct | None:
        """The next event; None after `timeout_ms` (None or 0: wait for one; < 0: do not wait)."""
        deadline = None if not timeout_ms else time.monotonic() + max(0.0, timeout_ms) / 1000
        with self._ready:
            while not self._events:
                if timeout_ms is not None and timeout_ms < 0:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._ready.wait(remaining if remaining is not None else 1.0)
            event = self._events.popleft()
            if event["Event"] == "Book":
                del self._books[(event["Index"], event["Symbol"])]
            return event

    def pending(self) -> int:
        with self._ready:
            return len(self._events)


# --- HttpQuery ---
def http_options(args: tuple[Any, ...]) -> dict[str, Any]:
    """FMZ's two call forms -> one options dict: (options) or (postData, cookies, headers)."""
    if args and isinstance(args[0], dict):
        return dict(args[0])
    options: dict[str, Any] = {}
    post, cookies, headers = (list(args) + [None, None, None])[:3]
    if post not in (None, ""):
        options.update(method="POST", body=post)
    if cookies:
        options["cookie"] = cookies
    if headers:
        options["headers"] = headers
    return options


def _headers(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    found = {}
    for line in str(value or "").splitlines():  # FMZ's string form: "Name: value" lines
        name, sep, rest = line.partition(":")
        if sep and name.strip():
            found[name.strip()] = rest.strip()
    return found


def http_query(url: str, options: dict[str, Any]) -> Any:
    """One real request with FMZ's options; raises requests' exceptions for the caller to log."""
    import requests

    headers = _headers(options.get("headers"))
    if options.get("cookie"):
        headers["Cookie"] = str(options["cookie"])
    if options.get("close"):
        headers["Connection"] = "close"
    body = options.get("body")
    method = str(options.get("method") or ("POST" if body not in (None, "") else "GET")).upper()
    timeout_s = float(options.get("timeout") or DEFAULT_HTTP_TIMEOUT_MS) / 1000
    proxies = {"http": options["proxy"], "https": options["proxy"]} if options.get("proxy") else None
    response = requests.request(method, url, data=body if body not in (None, "") else None,
                                headers=headers, timeout=timeout_s, proxies=proxies)
    payload = response.content
    fmt = str(options.get("format") or "").lower()
    if fmt == "base64":
        text: Any = base64.b64encode(payload).decode("ascii")
    elif fmt == "hex":
        text = payload.hex()
    else:
        text = payload.decode(str(options.get("charset") or response.encoding or "utf-8"), errors="replace")
    if options.get("debug"):
        header: dict[str, list[str]] = {}
        for name, value in response.headers.items():  # FMZ: each name -> a list of values
            header.setdefault(name, []).append(value)
        return Struct({"StatusCode": response.status_code, "Header": header, "Body": text})
    return text


class Ready:
    """A Go-style handle whose value is already there: wait() -> (value, True) once, then (None, False)."""

    def __init__(self, value: Any) -> None:
        self._value = value
        self._taken = False

    def wait(self, timeout: float | None = None) -> tuple[Any, bool]:
        if self._taken:
            return None, False
        self._taken = True
        return self._value, True


class AsyncCall:
    """HttpQuery_Go's handle: the request runs in a thread; wait(ms) -> (value, ok) like exchange.Go."""

    def __init__(self, fn: Callable[[], Any], on_done: Callable[[], None] | None = None) -> None:
        self._value: Any = None
        self._done = threading.Event()
        self._taken = False

        def run() -> None:
            try:
                self._value = fn()
            finally:
                self._done.set()
                if on_done is not None:
                    on_done()

        threading.Thread(target=run, name="HttpQuery_Go", daemon=True).start()

    def wait(self, timeout: float | None = None) -> tuple[Any, bool]:
        if self._taken:
            return None, False
        if not self._done.wait(None if not timeout or timeout < 0 else timeout / 1000):
            return None, False
        self._taken = True
        return self._value, True


# --- Dial ---
def parse_dial(address: str, second: Any = None) -> tuple[str, dict[str, Any], float]:
    """(url, options, connect timeout s) from Dial's arguments. `payload=` takes the rest of the
    option string (it is usually JSON, and last, in FMZ's examples)."""
    url, _, raw = str(address).partition("|")
    options: dict[str, Any] = {}
    if raw:
        head, sep, payload = raw.partition("payload=")
        options.update(dict(parse_qsl(head.rstrip("&"), keep_blank_values=True)))
        if sep:
            options["payload"] = payload
    timeout_s = DEFAULT_DIAL_TIMEOUT_S
    if isinstance(second, dict):
        options.update(second)
    elif isinstance(second, (int, float)) and not isinstance(second, bool) and second > 0:
        # FMZ's guide reads the number as seconds, its TypeScript stub as ms: small numbers are seconds
        timeout_s = float(second) if second <= 300 else float(second) / 1000
    return url, options, timeout_s


def _decompress(data: bytes, method: str) -> bytes:
    if method == "gzip":
        return gzip.decompress(data)
    if method in ("gzip_raw", "deflate"):
        return zlib.decompress(data, -zlib.MAX_WBITS)
    return data


def _compress(data: bytes, method: str) -> bytes:
    if method == "gzip":
        return gzip.compress(data)
    if method in ("gzip_raw", "deflate"):
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return packer.compress(data) + packer.flush()
    return data


class WebSocketConnection:
    """A Dial()ed websocket: a reader thread fills a queue; reconnects (and re-sends the payload)
    when `reconnect` is set; each message posts a "Dial" event for EventLoop."""

    def __init__(self, url: str, options: dict[str, Any], timeout_s: float,
                 on_message: Callable[[], None] | None = None) -> None:
        self.url = url
        self.compress = str(options.get("compress") or "").lower()
        self.mode = str(options.get("mode") or "dual").lower()
        self.reconnect = truthy(options.get("reconnect", False))
        self.interval_s = float(options.get("interval") or DEFAULT_RECONNECT_INTERVAL_MS) / 1000
        self.payload = options.get("payload")
        self.headers = _headers(options.get("headers"))
        self.timeout_s = timeout_s
        self._on_message = on_message
        self._messages: deque[Any] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._gone = False
        self._ws: Any = None
        self._lock = threading.Lock()
        self._connect()
        self._thread = threading.Thread(target=self._read_loop, name="Dial", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        import websocket

        ws = websocket.create_connection(self.url, timeout=self.timeout_s,
                                         header=[f"{k}: {v}" for k, v in self.headers.items()])
        ws.settimeout(None)
        with self._lock:
            self._ws = ws
        if self.payload:
            self._send(str(self.payload))

    def _read_loop(self) -> None:
        import websocket

        while not self._closed:
            try:
                opcode, data = self._ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    raise websocket.WebSocketConnectionClosedException("closed by the peer")
                self._received(opcode, data)
            except Exception:
                if self._closed:
                    return
                if not self.reconnect or not self._reconnected():
                    with self._ready:
                        self._gone = True
                        self._ready.notify_all()
                    return

    def _reconnected(self) -> bool:
        while not self._closed:
            time.sleep(self.interval_s)
            try:
                self._connect()
                return True
            except Exception:
                continue
        return False

    def _received(self, opcode: int, data: bytes) -> None:
        import websocket

        if opcode not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            return
        if self.compress and self.mode in ("recv", "dual") and opcode == websocket.ABNF.OPCODE_BINARY:
            try:
                data = _decompress(data, self.compress)
            except (OSError, zlib.error):
                pass
        try:
            message: Any = data.decode("utf-8")
        except UnicodeDecodeError:
            message = data
        with self._ready:
            self._messages.append(message)
            self._ready.notify_all()
        if self._on_message is not None:
            self._on_message()

    def read(self, timeout: float | None = None) -> Any:
        with self._ready:
            if timeout is not None and timeout < -1:
                if not self._messages:
                    return "" if self._gone else None
                newest = self._messages[-1]
                self._messages.clear()
                return newest
            deadline = None if not timeout or timeout < 0 else time.monotonic() + timeout / 1000
            while not self._messages:
                if self._gone or self._closed:
                    return ""
                if timeout is not None and timeout < 0:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._ready.wait(remaining if remaining is not None else 1.0)
            return self._messages.popleft()

    def _send(self, data: Any) -> int:
        raw = data if isinstance(data, bytes) else str(data).encode("utf-8")
        packed = self.compress and self.mode in ("send", "dual")
        frame = _compress(raw, self.compress) if packed else raw
        with self._lock:
            if packed or isinstance(data, bytes):
                self._ws.send_binary(frame)
            else:
                self._ws.send(frame.decode("utf-8"))
        return len(raw)

    def write(self, data: Any) -> int:
        if self._closed or self._gone:
            return 0
        try:
            return self._send(data)
        except Exception:
            return 0

    def close(self) -> None:
        self._closed = True
        with self._lock:
            try:
                self._ws.close()
            except Exception:
                pass
        with self._ready:
            self._ready.notify_all()

    def fd(self) -> int:
        sock = getattr(self._ws, "sock", None)
        return sock.fileno() if sock is not None else -1


class SqliteConnection:
    """Dial("sqlite3://file.db"): exec(sql, *binds) -> {columns, values}."""

    def __init__(self, path: str) -> None:
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False)

    def exec(self, sql: str, *binds: Any) -> Struct:
        cursor = self._db.execute(sql, binds)
        self._db.commit()
        columns = [c[0] for c in cursor.description or ()]
        return to_struct({"columns": columns, "values": [list(row) for row in cursor.fetchall()]})

    def close(self) -> None:
        self._db.close()


def dial(address: str, second: Any, on_message: Callable[[], None] | None) -> Any:
    """A connection for Dial's arguments; raises ValueError for a scheme fmz_compat cannot dial."""
    url, options, timeout_s = parse_dial(address, second)
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("ws", "wss"):
        return WebSocketConnection(url, options, timeout_s, on_message)
    if scheme in ("sqlite3", "sqlite"):
        path = url.split("://", 1)[1]
        if path.startswith("/") and not os.path.isdir(os.path.dirname(path) or "/"):
            path = path.lstrip("/")  # sqlite3:///strategy.db: a file beside the robot, not in /
        return SqliteConnection(path)
    raise ValueError(f"Dial: {scheme or 'this'}:// is not supported by fmz_compat (ws://, wss://, sqlite3://)")
