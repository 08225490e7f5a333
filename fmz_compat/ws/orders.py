"""Orders over OKX's private websocket: one logged-in connection kept by a daemon thread.

OKX takes `order`, `cancel-order` and `amend-order` on `/ws/v5/private` with the same arguments as
REST, answered on the same connection and matched by the request's `id`. The strategy thread calls
`request()`, which sends at once and waits for the answer; the reader thread logs in, answers pings,
reconnects with backoff, and hands each answer to its waiting request.

The outcome of a request is one of three, as with ccxt's taxonomy:
- `NotSent`: the socket was not logged in, nothing left; the caller sends it by REST instead.
- `ReplyLost`: it was sent but no answer came (timeout, connection lost): outcome unknown.
- the venue's answer (accepted or rejected), for the caller to read.

Nothing here writes the robot log (the strategy thread owns it) and nothing secret is ever put in
`notes`: the login frame is built and sent here, never shown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websocket

from fmz_compat.ws.feed import FeedNote

OKX_PRIVATE_URL = "wss://ws.okx.com:8443/ws/v5/private"
OKX_DEMO_PRIVATE_URL = "wss://wspap.okx.com:8443/ws/v5/private"  # OKX's demo trading (--testnet)


@dataclass(frozen=True)
class OrderSocketConfig:
    reply_timeout_s: float = 5.0  # sent and unanswered this long: outcome unknown
    login_timeout_s: float = 10.0
    ping_after_s: float = 20.0  # OKX drops a connection silent for 30 s; "ping" before that
    dead_after_s: float = 10.0  # no frame this long after a ping: the connection is dead
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    connect_timeout_s: float = 10.0
    poll_s: float = 0.2


class NotSent(Exception):
    """The request never left this process: sending it another way is safe."""


class ReplyLost(Exception):
    """The request was sent and no answer came: the venue may or may not have acted on it."""


@dataclass
class _Waiting:
    done: threading.Event = field(default_factory=threading.Event)
    reply: dict[str, Any] | None = None
    lost: str = ""


class OkxOrderSocket:
    """OKX's private websocket for placing, cancelling and amending orders."""

    venue = "okx"

    def __init__(self, url: str, api_key: str, secret: str, passphrase: str, *,
                 now_ms: Callable[[], int] | None = None, config: OrderSocketConfig | None = None,
                 connect: Callable[..., Any] | None = None) -> None:
        self.url = url
        self.config = config or OrderSocketConfig()
        self._key, self._secret, self._passphrase = api_key, secret, passphrase
        self._now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self._connect = connect or websocket.create_connection
        self._lock = threading.Lock()
        self._waiting: dict[str, _Waiting] = {}
        self._ids = itertools.count(1)
        self._ws: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.notes: deque[FeedNote] = deque(maxlen=200)
        self.ready = False  # connected and logged in
        self.connects = 0
        self.failures = 0
        self.sent = 0
        self.answered = 0
        self.lost = 0
        self.reply_ms: deque[float] = deque(maxlen=1000)  # send-to-answer times, for stats

    # --- control (any thread) -----------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="orders-okx", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.close()
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        if self._thread is not None:
            self._thread.join(timeout_s)

    def wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.ready and time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.01)
        return self.ready

    def stats(self) -> dict[str, Any]:
        times = sorted(self.reply_ms)
        p50 = times[len(times) // 2] if times else None
        return {"ready": self.ready, "connects": self.connects, "sent": self.sent, "answered": self.answered,
                "lost": self.lost, "reply_ms_p50": None if p50 is None else round(p50, 1)}

    def request(self, op: str, args: list[dict[str, Any]], timeout_s: float | None = None) -> dict[str, Any]:
        """Send `op` with `args` and return OKX's answer; NotSent or ReplyLost otherwise."""
        waiting = _Waiting()
        with self._lock:
            ws = self._ws
            if not self.ready or ws is None:
                raise NotSent("the order websocket is not logged in")
            request_id = f"fmzc{next(self._ids)}"
            self._waiting[request_id] = waiting
        frame = json.dumps({"id": request_id, "op": op, "args": args}, separators=(",", ":"))
        started = time.perf_counter()
        try:
            ws.send(frame)
        except Exception as e:  # noqa: BLE001 - part of the frame may have left: unknown, not "not sent"
            self._forget(request_id)
            self.lost += 1
            raise ReplyLost(f"connection failed while sending ({type(e).__name__})") from None
        self.sent += 1
        timeout = self.config.reply_timeout_s if timeout_s is None else timeout_s
        answered = waiting.done.wait(timeout)
        self._forget(request_id)
        if not answered or waiting.reply is None:
            self.lost += 1
            raise ReplyLost(waiting.lost or f"no answer within {timeout:g} s")
        self.answered += 1
        self.reply_ms.append((time.perf_counter() - started) * 1000)
        return waiting.reply

    def _forget(self, request_id: str) -> None:
        with self._lock:
            self._waiting.pop(request_id, None)

    # --- the thread ---------------------------------------------------------------------------
    def _note(self, level: str, text: str) -> None:
        self.notes.append(FeedNote(level, text))

    def _login_frame(self) -> str:
        timestamp = str(self._now_ms() // 1000)
        digest = hmac.new(self._secret.encode(), f"{timestamp}GET/users/self/verify".encode(), hashlib.sha256)
        sign = base64.b64encode(digest.digest()).decode()
        return json.dumps({"op": "login", "args": [{"apiKey": self._key, "passphrase": self._passphrase,
                                                   "timestamp": timestamp, "sign": sign}]})

    def _run(self) -> None:
        backoff = self.config.backoff_initial_s
        while not self._stop.is_set():
            try:
                ws = self._connect(self.url, timeout=self.config.connect_timeout_s)
            except Exception as e:  # noqa: BLE001 - every failure to connect is retried the same way
                self.failures += 1
                if self.failures in (1, 5) or self.failures % 20 == 0:
                    self._note("warn", f"okx orders: cannot connect ({type(e).__name__}); retry "
                                       f"{self.failures} in {backoff:.1f}s, orders by REST meanwhile")
            else:
                self.connects += 1
                logged_in = self._serve(ws)
                self._drop(ws, "the order websocket closed before OKX answered")
                if logged_in:
                    self.failures = 0
                    backoff = self.config.backoff_initial_s
                else:
                    self.failures += 1
            if not self._stop.is_set():
                self._stop.wait(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, self.config.backoff_max_s)

    def _drop(self, ws: Any, why: str) -> None:
        with self._lock:
            self.ready = False
            self._ws = None
            waiting, self._waiting = self._waiting, {}
        for w in waiting.values():
            w.lost = why
            w.done.set()
        try:
            ws.close()
        except Exception:  # noqa: BLE001 - the socket is being dropped anyway
            pass

    def _serve(self, ws: Any) -> bool:
        """Log in and carry answers until the connection fails; True when the login was accepted."""
        ws.settimeout(self.config.poll_s)
        logged_in = False
        try:
            ws.send(self._login_frame())
            login_deadline = time.monotonic() + self.config.login_timeout_s
            last_frame = last_ping = time.monotonic()
            while not self._stop.is_set():
                try:
                    frame = ws.recv()
                except websocket.WebSocketTimeoutException:
                    frame = None
                now = time.monotonic()
                if frame:
                    last_frame = now
                    if frame != "pong":
                        logged_in = self._on_frame(ws, json.loads(frame), logged_in)
                elif frame is not None and not ws.connected:
                    raise ConnectionError("closed by the venue")
                if not logged_in and now > login_deadline:
                    raise TimeoutError(f"no login answer in {self.config.login_timeout_s:g}s")
                quiet = self.config.ping_after_s
                if now - last_frame >= quiet and now - last_ping >= quiet:
                    ws.send("ping")
                    last_ping = now
                if now - last_frame > self.config.ping_after_s + self.config.dead_after_s:
                    raise TimeoutError(f"no frame for {now - last_frame:.0f}s")
        except _LoginRefused as e:
            self._note("error", f"okx orders: websocket login refused ({e}); orders by REST meanwhile")
        except (websocket.WebSocketException, OSError, TimeoutError, ConnectionError) as e:
            self._note("warn", f"okx orders: connection lost ({type(e).__name__}: {e}); orders by REST "
                               f"until reconnected")
        except (ValueError, KeyError, TypeError, IndexError) as e:
            self._note("error", f"okx orders: unreadable frame ({type(e).__name__}); reconnecting")
        return logged_in

    def _on_frame(self, ws: Any, message: dict[str, Any], logged_in: bool) -> bool:
        event = message.get("event")
        if event == "login":
            if str(message.get("code", "0")) != "0":
                raise _LoginRefused(f"{message.get('code')} {message.get('msg', '')}".strip())
            with self._lock:
                self._ws, self.ready = ws, True
            if self.connects > 1:
                self._note("info", f"okx orders: websocket logged in again (connection {self.connects})")
            return True
        request_id = message.get("id")
        if event == "error" and not request_id:
            request_id = _id_in_illegal_request(str(message.get("msg", "")))
            if not request_id and not logged_in:
                raise _LoginRefused(f"{message.get('code')} {message.get('msg', '')}".strip())
        if event == "notice":
            self._note("warn", f"okx orders: {message.get('msg', 'notice')} ({message.get('code')})")
        if request_id:
            with self._lock:
                waiting = self._waiting.get(str(request_id))
            if waiting is not None:
                waiting.reply = message
                waiting.done.set()
        elif event == "error":
            self._note("warn", f"okx orders: error {message.get('code')} {message.get('msg', '')}")
        return logged_in


class _LoginRefused(Exception):
    pass


def _id_in_illegal_request(msg: str) -> str:
    """OKX answers a malformed request with `Illegal request: {the request}` and no id of its own."""
    _, sep, rest = msg.partition("Illegal request: ")
    if not sep:
        return ""
    try:
        return str(json.loads(rest).get("id") or "")
    except (ValueError, AttributeError):
        return ""
