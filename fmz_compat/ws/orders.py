"""Orders over a venue's websocket: one connection per account kept by a daemon thread.

OKX (`/ws/v5/private`: order, cancel-order, amend-order), Bybit (`/v5/trade`: order.create, order.cancel,
order.amend) and Binance USDⓈ-M (`/ws-fapi/v1`: order.place, order.cancel) take orders on a websocket
with the same arguments as REST, answered on the same connection and matched by the request's id. The
strategy thread calls `request()`, which sends at once and waits for the answer; the reader thread logs
in (OKX, Bybit; Binance signs every request instead), pings, reconnects with backoff, and hands each
answer to its waiting request. A venue's protocol object knows its frames; `OrderSocket` is the transport.

The outcome of a request is one of three, as with ccxt's taxonomy:
- `NotSent`: the socket was not ready, nothing left; the caller sends it by REST instead.
- `ReplyLost`: it was sent but no answer came (timeout, connection lost): outcome unknown.
- the venue's answer (accepted or refused), for the caller to read with the protocol's
  `accepted()` / `refusal()`.

Nothing here writes the robot log (the strategy thread owns it) and nothing secret is ever put in
`notes`: login frames are built and sent here, never shown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import websocket

from fmz_compat.ws.feed import FeedNote, reconnect_forever

OKX_PRIVATE_URL = "wss://ws.okx.com:8443/ws/v5/private"
OKX_DEMO_PRIVATE_URL = "wss://wspap.okx.com:8443/ws/v5/private"  # OKX's demo trading (--testnet)
BYBIT_TRADE_URL = "wss://stream.bybit.com/v5/trade"
BYBIT_TESTNET_TRADE_URL = "wss://stream-testnet.bybit.com/v5/trade"
BINANCE_WS_API_URL = "wss://ws-fapi.binance.com/ws-fapi/v1"
BINANCE_TESTNET_WS_API_URL = "wss://testnet.binancefuture.com/ws-fapi/v1"


_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_REQUEST_NUMBERS = itertools.count(1)  # one sequence per process: two sockets on one account never collide


def _base36(value: int) -> str:
    digits = ""
    while True:
        value, digit = divmod(value, 36)
        digits = _ID_ALPHABET[digit] + digits
        if not value:
            return digits


def request_id_prefix(node: str = "", started_ms: int | None = None, pid: int | None = None) -> str:
    """What makes this process's request ids unique among every node on the account: the node's name
    (its first 8 letters and digits; the host name by default), the process id and the start stamp in ms,
    in base 36. Bybit refuses a reqId another connection of the account used (20006 "reqId is duplicated");
    ids stay letters and digits, at most 32 with the counter, which OKX's `id` and Bybit's reqId accept."""
    tag = re.sub(r"[^A-Za-z0-9]", "", node or socket.gethostname())[:8] or "n"
    started = time.time_ns() // 1_000_000 if started_ms is None else started_ms
    return f"{tag}{_base36(os.getpid() if pid is None else pid)}x{_base36(started)}x"


@dataclass(frozen=True)
class OrderSocketConfig:
    reply_timeout_s: float = 5.0  # sent and unanswered this long: outcome unknown
    login_timeout_s: float = 10.0
    ping_after_s: float = 20.0  # OKX and Bybit drop a connection silent for 30 s; ping before that
    dead_after_s: float = 10.0  # no frame this long after a ping: the connection is dead
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    connect_timeout_s: float = 10.0
    poll_s: float = 0.2


class NotSent(Exception):
    """The request never left this process: sending it another way is safe."""


class ReplyLost(Exception):
    """The request was sent and no answer came: the venue may or may not have acted on it."""


class LoginRefused(Exception):
    pass


class OrderProtocol(Protocol):
    venue: str
    ops: dict[str, str]  # "place" / "cancel" / "amend" -> the venue's operation

    def login_frame(self, now_ms: int) -> str | None:
        """The frame that logs in, or None when requests are signed one by one (ready once connected)."""

    def login_answer(self, message: dict[str, Any]) -> bool:
        """True when `message` accepts the login; raises LoginRefused when it refuses it; False otherwise."""

    def request_frame(self, request_id: str, op: str, args: dict[str, Any], now_ms: int) -> str: ...

    def answer_id(self, message: dict[str, Any]) -> str: ...

    def ping_frame(self) -> str | None:
        """A text ping, or None for a websocket ping frame."""

    def accepted(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """The answer's order row when the venue accepted the request, else None."""

    def refusal(self, message: dict[str, Any]) -> tuple[str, str]:
        """(the venue's error code, its message) of a refused request."""

    def order_id(self, row: dict[str, Any]) -> str: ...


@dataclass
class _Waiting:
    done: threading.Event = field(default_factory=threading.Event)
    reply: dict[str, Any] | None = None
    lost: str = ""


def _hmac(secret: str, payload: str) -> bytes:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()


class OkxOrders:
    venue = "okx"
    ops = {"place": "order", "cancel": "cancel-order", "amend": "amend-order"}

    def __init__(self, api_key: str, secret: str, passphrase: str) -> None:
        self._key, self._secret, self._passphrase = api_key, secret, passphrase

    def login_frame(self, now_ms: int) -> str | None:
        timestamp = str(now_ms // 1000)
        sign = base64.b64encode(_hmac(self._secret, f"{timestamp}GET/users/self/verify")).decode()
        return json.dumps({"op": "login", "args": [{"apiKey": self._key, "passphrase": self._passphrase,
                                                   "timestamp": timestamp, "sign": sign}]})

    def login_answer(self, message: dict[str, Any]) -> bool:
        event = message.get("event")
        if event == "login" and str(message.get("code", "0")) == "0":
            return True
        if event in ("login", "error") and not self.answer_id(message):
            raise LoginRefused(f"{message.get('code')} {message.get('msg', '')}".strip())
        return False

    def request_frame(self, request_id: str, op: str, args: dict[str, Any], now_ms: int) -> str:
        return json.dumps({"id": request_id, "op": op, "args": [args]}, separators=(",", ":"))

    def answer_id(self, message: dict[str, Any]) -> str:
        if message.get("id"):
            return str(message["id"])
        if message.get("event") == "error":  # "Illegal request: {the request}" carries no id of its own
            _, sep, rest = str(message.get("msg", "")).partition("Illegal request: ")
            try:
                return str(json.loads(rest).get("id") or "") if sep else ""
            except (ValueError, AttributeError):
                return ""
        return ""

    def ping_frame(self) -> str | None:
        return "ping"

    def accepted(self, message: dict[str, Any]) -> dict[str, Any] | None:
        row = _first_row(message.get("data"))
        return row if str(message.get("code")) == "0" and str(row.get("sCode", "0")) == "0" else None

    def refusal(self, message: dict[str, Any]) -> tuple[str, str]:
        row = _first_row(message.get("data"))
        return (str(row.get("sCode") or message.get("code") or ""),
                str(row.get("sMsg") or message.get("msg") or "refused"))

    def order_id(self, row: dict[str, Any]) -> str:
        return str(row.get("ordId") or "")


class BybitOrders:
    venue = "bybit"
    ops = {"place": "order.create", "cancel": "order.cancel", "amend": "order.amend"}
    recv_window_ms = 5000

    def __init__(self, api_key: str, secret: str) -> None:
        self._key, self._secret = api_key, secret

    def login_frame(self, now_ms: int) -> str | None:
        expires = str(now_ms + 10_000)
        sign = _hmac(self._secret, f"GET/realtime{expires}").hex()
        return json.dumps({"op": "auth", "args": [self._key, expires, sign]})

    def login_answer(self, message: dict[str, Any]) -> bool:
        if message.get("op") != "auth":
            return False
        if message.get("retCode", 0) == 0 and message.get("success", True) is not False:
            return True
        raise LoginRefused(f"{message.get('retCode')} {message.get('retMsg', '')}".strip())

    def request_frame(self, request_id: str, op: str, args: dict[str, Any], now_ms: int) -> str:
        header = {"X-BAPI-TIMESTAMP": str(now_ms), "X-BAPI-RECV-WINDOW": str(self.recv_window_ms)}
        return json.dumps({"reqId": request_id, "header": header, "op": op, "args": [args]},
                          separators=(",", ":"))

    def answer_id(self, message: dict[str, Any]) -> str:
        return str(message.get("reqId") or "")

    def ping_frame(self) -> str | None:
        return json.dumps({"op": "ping"})

    def accepted(self, message: dict[str, Any]) -> dict[str, Any] | None:
        data = message.get("data")
        return data if message.get("retCode") == 0 and isinstance(data, dict) else None

    def refusal(self, message: dict[str, Any]) -> tuple[str, str]:
        return str(message.get("retCode", "")), str(message.get("retMsg") or "refused")

    def order_id(self, row: dict[str, Any]) -> str:
        return str(row.get("orderId") or "")


class BinanceOrders:
    """Binance USDⓈ-M's websocket API: no login; the caller signs every request's params."""

    venue = "binance"
    ops = {"place": "order.place", "cancel": "order.cancel", "amend": "order.modify"}

    def login_frame(self, now_ms: int) -> str | None:
        return None

    def login_answer(self, message: dict[str, Any]) -> bool:
        return False

    def request_frame(self, request_id: str, op: str, args: dict[str, Any], now_ms: int) -> str:
        return json.dumps({"id": request_id, "method": op, "params": args}, separators=(",", ":"))

    def answer_id(self, message: dict[str, Any]) -> str:
        return str(message.get("id") or "")

    def ping_frame(self) -> str | None:
        return None  # a websocket ping frame; Binance also pings us every 3 minutes

    def accepted(self, message: dict[str, Any]) -> dict[str, Any] | None:
        result = message.get("result")
        return result if message.get("status") == 200 and isinstance(result, dict) else None

    def refusal(self, message: dict[str, Any]) -> tuple[str, str]:
        error = message.get("error") if isinstance(message.get("error"), dict) else {}
        return str(error.get("code", message.get("status", ""))), str(error.get("msg") or "refused")

    def order_id(self, row: dict[str, Any]) -> str:
        return str(row.get("orderId") or "")


def _first_row(rows: Any) -> dict[str, Any]:
    return rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else {}


class OrderSocket:
    """A venue's order websocket for one account; `protocol` knows the venue's frames."""

    def __init__(self, protocol: OrderProtocol, url: str, *, now_ms: Callable[[], int] | None = None,
                 config: OrderSocketConfig | None = None, connect: Callable[..., Any] | None = None,
                 id_prefix: str = "") -> None:
        self.protocol = protocol
        self.id_prefix = id_prefix or request_id_prefix()
        self.venue = protocol.venue
        self.url = url
        self.config = config or OrderSocketConfig()
        self._now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self._connect = connect or websocket.create_connection
        self._lock = threading.Lock()
        self._waiting: dict[str, _Waiting] = {}
        self._ws: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.notes: deque[FeedNote] = deque(maxlen=200)
        self.ready = False  # connected and logged in (Binance: connected)
        self.connects = 0
        self.failures = 0
        self.sent = 0
        self.answered = 0
        self.lost = 0
        self.reply_ms: deque[float] = deque(maxlen=1000)  # send-to-answer times, for stats

    # --- control (any thread) -----------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"orders-{self.venue}", daemon=True)
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

    def request(self, action: str, args: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        """Send `action` ("place", "cancel", "amend") with the venue's `args` and return its answer;
        NotSent or ReplyLost otherwise."""
        waiting = _Waiting()
        with self._lock:
            ws = self._ws
            if not self.ready or ws is None:
                raise NotSent(f"the {self.venue} order websocket is not ready")
            request_id = f"{self.id_prefix}{_base36(next(_REQUEST_NUMBERS))}"
            self._waiting[request_id] = waiting
        frame = self.protocol.request_frame(request_id, self.protocol.ops[action], args, self._now_ms())
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

    def _run(self) -> None:
        reconnect_forever(self._stop, lambda: self._connect(self.url, timeout=self.config.connect_timeout_s),
                          self._session, self._cannot_connect, self.config)

    def _cannot_connect(self, error: Exception, backoff: float) -> None:
        self.failures += 1
        if self.failures in (1, 5) or self.failures % 20 == 0:
            self._note("warn", f"{self.venue} orders: cannot connect ({type(error).__name__}); retry "
                               f"{self.failures} in {backoff:.1f}s, orders by REST meanwhile")

    def _session(self, ws: Any) -> bool:
        self.connects += 1
        ready = self._serve(ws)
        self._drop(ws, f"the {self.venue} order websocket closed before the venue answered")
        self.failures = 0 if ready else self.failures + 1
        return ready

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

    def _become_ready(self, ws: Any) -> None:
        with self._lock:
            self._ws, self.ready = ws, True
        if self.connects > 1:
            self._note("info", f"{self.venue} orders: websocket ready again (connection {self.connects})")

    def _serve(self, ws: Any) -> bool:
        """Log in and carry answers until the connection fails; True when it became ready."""
        ws.settimeout(self.config.poll_s)
        venue = self.venue
        ready = False
        try:
            ready = self._log_in(ws)
            login_deadline = time.monotonic() + self.config.login_timeout_s
            last_frame = last_ping = time.monotonic()
            while not self._stop.is_set():
                opcode, data = self._receive(ws)
                now = time.monotonic()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    raise ConnectionError("closed by the venue")
                if opcode is not None:
                    last_frame = now
                    if opcode == websocket.ABNF.OPCODE_TEXT:
                        ready = self._on_text(ws, data.decode() if isinstance(data, bytes) else data, ready)
                if not ready and now > login_deadline:
                    raise TimeoutError(f"no login answer in {self.config.login_timeout_s:g}s")
                last_ping = self._keep_alive(ws, now, last_frame, last_ping)
        except LoginRefused as e:
            self._note("error", f"{venue} orders: websocket login refused ({e}); orders by REST meanwhile")
        except (websocket.WebSocketException, OSError, TimeoutError, ConnectionError) as e:
            self._note("warn", f"{venue} orders: connection lost ({type(e).__name__}: {e}); orders by REST "
                               f"until reconnected")
        except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as e:
            self._note("error", f"{venue} orders: unreadable frame ({type(e).__name__}); reconnecting")
        return ready

    def _log_in(self, ws: Any) -> bool:
        """Send the login frame; a venue without one is ready at once (True)."""
        login = self.protocol.login_frame(self._now_ms())
        if login is None:
            self._become_ready(ws)
            return True
        ws.send(login)
        return False

    @staticmethod
    def _receive(ws: Any) -> tuple[Any, Any]:
        """(opcode, data) of the next frame; (None, b"") when none came within the poll."""
        try:
            return ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            return None, b""

    def _keep_alive(self, ws: Any, now: float, last_frame: float, last_ping: float) -> float:
        """Ping a quiet connection (the venue's ping frame, else a websocket ping); TimeoutError for one
        dead past the limit. -> when the last ping went."""
        quiet = self.config.ping_after_s
        if now - last_frame >= quiet and now - last_ping >= quiet:
            ping = self.protocol.ping_frame()
            if ping is None:
                ws.ping()
            else:
                ws.send(ping)
            last_ping = now
        if now - last_frame > quiet + self.config.dead_after_s:
            raise TimeoutError(f"no frame for {now - last_frame:.0f}s")
        return last_ping

    def _on_text(self, ws: Any, text: str, ready: bool) -> bool:
        if text == "pong":
            return ready
        message = json.loads(text)
        if not isinstance(message, dict):
            return ready
        if not ready:
            if self.protocol.login_answer(message):
                self._become_ready(ws)
                return True
            return False
        request_id = self.protocol.answer_id(message)
        if request_id:
            with self._lock:
                waiting = self._waiting.get(request_id)
            if waiting is not None:
                waiting.reply = message
                waiting.done.set()
        elif message.get("event") in ("notice", "error"):
            self._note("warn", f"{self.venue} orders: {message.get('event')} {message.get('code')} "
                               f"{message.get('msg', '')}".strip())
        return ready


def order_socket(venue: str, api_key: str, secret: str, passphrase: str = "", *, testnet: bool = False,
                 url: str = "", now_ms: Callable[[], int] | None = None,
                 config: OrderSocketConfig | None = None, node: str = "") -> OrderSocket | None:
    """The order websocket (not started) of `venue` for these keys; None where orders go by REST only."""
    protocol: OrderProtocol
    if venue == "okx":
        protocol, default = OkxOrders(api_key, secret, passphrase), (OKX_DEMO_PRIVATE_URL if testnet
                                                                     else OKX_PRIVATE_URL)
    elif venue == "bybit":
        protocol, default = BybitOrders(api_key, secret), (BYBIT_TESTNET_TRADE_URL if testnet
                                                           else BYBIT_TRADE_URL)
    elif venue == "binance":
        protocol, default = BinanceOrders(), (BINANCE_TESTNET_WS_API_URL if testnet else BINANCE_WS_API_URL)
    else:
        return None
    return OrderSocket(protocol, url or default, now_ms=now_ms, config=config,
                       id_prefix=request_id_prefix(node))
