"""A node's side of the shared simulated venues (fmz_compat/sim/server.py).

`connect(url, node)` opens a session with a venue server; `RemoteClock` follows the server's
simulated time (a `--lockstep` server's time moves only when every node waits: Sleep asks it to);
`RemoteExchange` is the FMZ exchange object whose calls run on the server, with the
simulator's FMZ semantics: a failure is None plus an error row (the server's own message), a call
that gets no answer in time is None with a Go-style "context deadline exceeded" row and its outcome
unknown (`last_outcome_unknown` True; otherwise it is the simulated exchange's own verdict, as
in-process: False only for a definite refusal, None after every other answer), an answer from a
server whose window has ended raises EOFError
(the run ends as a backtest does).

`python -m fmz_compat backtest|paper STRATEGY --venue-server URL --node NAME` wires it in.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from fmz_compat.core import (
    ExchangeBinding,
    LogSink,
    Struct,
    to_struct,
)
from fmz_compat.exchange import FmzExchangeObject, Records
from fmz_compat.venue_protocol import NODE_HEADER, NODE_NAME

DEFAULT_TIMEOUT_S = 10.0  # wall seconds a call may take before its outcome counts as unknown
MIN_TIMEOUT_S = 1.0  # SetTimeout never goes below this many wall seconds
GONE_AFTER_S = 5.0  # wall seconds of refused connections after which the server counts as gone
LOCKSTEP_TIMEOUT_S = 300.0  # lockstep: a call may wait out other nodes' turns; only a hung server times out
_TIMEOUT_MESSAGE = 'Post "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
_REFUSED_MESSAGE = 'Post "{url}": dial tcp {host}: connect: connection refused'
_BROKEN_MESSAGE = 'Post "{url}": {reason}'
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class _NoAnswer(Exception):
    """A call got no answer: `unknown` says whether the server may have acted on it."""

    def __init__(self, message: str, *, unknown: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.unknown = unknown
        self.status = status  # the HTTP status of a server error answer; None when nothing answered


def parse_server_url(url: str) -> tuple[str, int]:
    """(host, port) of http://127.0.0.1:PORT; ValueError with the fix for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK or parts.port is None:
        raise ValueError(f"--venue-server {url!r}: use the URL the venue server printed, such as "
                         "http://127.0.0.1:8700 (loopback only)")
    return parts.hostname, parts.port


class VenueSession:
    """One node's connection to a venue server: HTTP keep-alive per thread, the simulated time."""

    def __init__(self, url: str, node: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 gone_after_s: float = GONE_AFTER_S) -> None:
        if not NODE_NAME.match(node or ""):
            raise ValueError(f"--node {node!r}: name the node with 1..64 letters, digits, '_', '.', '-' "
                             "(e.g. tokyo)")
        self.host, self.port = parse_server_url(url)
        self.url = f"http://{self.host}:{self.port}"
        self.node = node
        self.timeout_s = timeout_s
        self.gone_after_s = gone_after_s
        self._local = threading.local()
        self._conns: list[http.client.HTTPConnection] = []
        self._conns_lock = threading.Lock()
        self.info: dict[str, Any] = {}
        self.speed = 1.0
        self.lockstep = False  # the server's time moves only when every node waits (no extrapolation)
        self.start_ms = 0
        self.end_ms: int | None = None
        self.ended = ""  # why the run must end ("" while it goes on)
        self._anchor_ms = 0
        self._anchor_wall = time.monotonic()
        self._last_ns = 0
        self._running = False  # the server's clock holds until enough nodes connected (--wait-nodes)
        self._time_lock = threading.Lock()
        self._refused_since: float | None = None
        self.on_events: Callable[[list[dict[str, Any]]], None] | None = None

    # --- HTTP ---------------------------------------------------------------------------------
    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """One JSON request; _NoAnswer when no answer came or a 5xx did, ValueError for a 4xx answer."""
        data = json.dumps(body, default=_jsonable).encode() if body is not None else None
        headers = {NODE_HEADER: self.node, "Content-Type": "application/json"}
        conn = self._conn()
        if conn.timeout != self.timeout_s:  # SetTimeout since the connection was opened
            conn.timeout = self.timeout_s
            if conn.sock is not None:
                conn.sock.settimeout(self.timeout_s)
        sent = False  # until the request is out, a failure means the server did nothing
        try:
            if conn.sock is None:
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.request(method, path, body=data, headers=headers)
            sent = True
            response = conn.getresponse()
            payload = response.read()
        except TimeoutError:
            self._drop_conn()
            raise _NoAnswer(_TIMEOUT_MESSAGE.format(url=self.url + path), unknown=sent) from None
        except ConnectionRefusedError:
            self._drop_conn()
            self._note_refused()
            raise _NoAnswer(_REFUSED_MESSAGE.format(url=self.url + path, host=f"{self.host}:{self.port}"),
                            unknown=False) from None
        except (OSError, http.client.HTTPException) as exc:
            self._drop_conn()
            message = _BROKEN_MESSAGE.format(url=self.url + path, reason=str(exc) or type(exc).__name__)
            raise _NoAnswer(message, unknown=sent) from None
        self._refused_since = None
        return self._answer(response.status, payload)

    def _answer(self, status: int, payload: bytes) -> dict[str, Any]:
        """An answer's JSON; its clock, end of data and events noted. An HTTP error: ValueError for a 4xx (the
        server refused the request before any account saw it: a definite refusal), _NoAnswer with the
        outcome unknown for a 5xx (the server failed while serving it and may have acted, as ccxt 4.5.83's
        `Exchange.httpExceptions` reads 500..530: ExchangeNotAvailable / RequestTimeout, NetworkError)."""
        try:
            answer = json.loads(payload) if payload else {}
        except ValueError:
            answer = None  # a proxy's or a crash's page, not the server's JSON
        if not isinstance(answer, dict):
            answer = {"error": ""} if status != 200 else None
        if status >= 500 or answer is None:  # a 200 whose body is unreadable: acted on, answer lost
            reason = str((answer or {}).get("error") or "unreadable answer")
            raise _NoAnswer(f"HTTP {status}: {reason} (outcome unknown)", unknown=True, status=status)
        if status != 200:
            raise ValueError(str(answer.get("error") or f"HTTP {status}"))
        if "now_ms" in answer:
            self._anchor(int(answer["now_ms"]), bool(answer.get("running", True)))
        if answer.get("eof"):
            self.ended = str(answer["eof"])
        if answer.get("events") and self.on_events is not None:
            self.on_events(answer["events"])
        return answer

    def _note_refused(self) -> None:
        now = time.monotonic()
        if self._refused_since is None:
            self._refused_since = now
        elif now - self._refused_since >= self.gone_after_s:
            self.ended = f"venue server {self.url} is gone (connection refused for {self.gone_after_s:g} s)"

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()

    # --- session and time ---------------------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        """Announce the node (the server resets its FMZ-side state) and read the window and bindings."""
        try:
            info = self.request("POST", "/session", {})
        except _NoAnswer as exc:
            raise ValueError(f"venue server {self.url} does not answer ({exc}): start it with "
                             "python -m fmz_compat venue-server --port PORT") from None
        self.info = info
        self.speed = float(info["speed"])
        self.lockstep = info.get("lockstep") is not None
        if self.lockstep:
            self.timeout_s = max(self.timeout_s, LOCKSTEP_TIMEOUT_S)
        self.start_ms = int(info["start_ms"])
        self.end_ms = None if info.get("end_ms") is None else int(info["end_ms"])
        if info.get("ended"):
            self.ended = "venue server window ended"
        return info

    def _anchor(self, server_ms: int, running: bool) -> None:
        with self._time_lock:
            self._anchor_ms = server_ms
            self._anchor_wall = time.monotonic()
            self._running = running

    def now_ns(self) -> int:
        """The server's simulated time, extrapolated from the last answer at `speed`; never goes back."""
        with self._time_lock:
            ms = float(self._anchor_ms)
            if self._running and not self.lockstep:
                ms += (time.monotonic() - self._anchor_wall) * 1000.0 * self.speed
            if self.end_ms is not None and ms > self.end_ms:
                ms = self.end_ms
            ns = max(self._last_ns, int(ms * 1_000_000))
            self._last_ns = ns
            return ns

    def sync_time(self) -> None:
        try:
            self.request("GET", "/time")
        except (_NoAnswer, ValueError):
            pass  # keep extrapolating; a server refusing for gone_after_s ends the run

    def sleep_until(self, until_ms: int) -> None:
        """Lockstep: wait until the server's time reaches until_ms (it moves once every node waits)."""
        failing_since: float | None = None
        while not self.ended:
            try:
                answer = self.request("POST", "/sleep", {"until_ms": int(until_ms)})
            except _NoAnswer as exc:
                # a server refusing for gone_after_s ends the run (_note_refused); so does one answering only
                # errors that long (a timeout is not counted: in lockstep it may be other nodes' long turns)
                if exc.status is not None:
                    failing_since = failing_since or time.monotonic()
                    if time.monotonic() - failing_since >= self.gone_after_s:
                        self.ended = (f"venue server {self.url} answered /sleep with errors for "
                                      f"{self.gone_after_s:g} s (last: {exc})")
                        return
                time.sleep(0.05)
                continue
            if answer.get("done"):
                return

    def leave(self) -> None:
        """Lockstep: this node stops holding the server's time back (its run is over)."""
        if self.lockstep:
            try:
                self.request("POST", "/leave", {})
            except (_NoAnswer, ValueError):
                pass

    def call(self, index: int, method: str, args: tuple[Any, ...],
             kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"args": list(args)}
        if kwargs:
            body["kwargs"] = kwargs
        return self.request("POST", f"/x/{index}/{method}", body)

    def stats(self) -> dict[str, Any]:
        return self.request("GET", "/admin/stats")


class RemoteClock:
    """The runtime clock of a node: the venue server's simulated time.

    Sleep(ms) sleeps ms/speed of wall time and then reads the server's time (lockstep: it waits until
    the server's time is ms later, which happens once every node waits); Unix, _D and the
    strategy's time.time() read the same time. EOFError once the server's window has ended or the
    server is gone."""

    is_virtual = True  # simulated time: the strategy's `import time` follows it, as in a backtest

    def __init__(self, session: VenueSession) -> None:
        self.session = session

    def now_ns(self) -> int:
        return self.session.now_ns()

    def check(self) -> None:
        s = self.session
        if s.ended:
            raise EOFError(s.ended)
        if s.end_ms is not None and s.now_ns() >= s.end_ms * 1_000_000:
            raise EOFError("venue server window ended")

    def sleep(self, ms: float) -> None:
        self.check()
        if self.session.lockstep:
            self.session.sleep_until(self.session.now_ns() // 1_000_000 + max(0, int(ms)))
        else:
            if ms > 0:
                time.sleep(ms / 1000.0 / self.session.speed)
            self.session.sync_time()
        self.check()


class RemoteExchange(FmzExchangeObject):
    """An FMZ exchange object whose account lives on the venue server (binding `index` there)."""

    def __init__(self, session: VenueSession, index: int, binding: ExchangeBinding, log: LogSink,
                 local_index: int, clock: RemoteClock) -> None:
        self._session = session
        self._remote_index = index
        self._index = local_index
        self._log = log
        self._clock = clock
        self._binding = binding
        self._name = binding.eid
        self._label = binding.label or binding.eid
        self._currency = binding.currency.upper()
        self._contract = ""
        self._direction = "buy"
        self._raw: Any = ""
        self.last_outcome_unknown: bool | None = None

    # --- plumbing -----------------------------------------------------------------------------
    def _fail(self, method: str, message: str) -> None:
        self._log.error(f"{self._label} {method}: {message}", exchange_index=self._index)
        return None

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self._clock.check()
        self.last_outcome_unknown = None
        try:
            answer = self._session.call(self._remote_index, method, args, kwargs)
        except _NoAnswer as exc:
            self.last_outcome_unknown = exc.unknown
            return self._fail(method, str(exc))
        except ValueError as exc:
            self.last_outcome_unknown = False
            return self._fail(method, str(exc))
        if answer.get("eof"):
            raise EOFError(answer["eof"])
        for row in answer.get("rows", ()):
            if row.get("error"):
                self._log.error(row["message"], exchange_index=self._index)
            else:
                self._log.log(int(row["type"]), row["message"], exchange_index=self._index,
                              order_id=row.get("order_id", ""), price=float(row.get("price") or 0.0),
                              amount=float(row.get("amount") or 0.0))
        # the simulated exchange's own verdict, as the in-process runtime gives it: False only for a
        # definite refusal (refuse_definite), None (says nothing: may have landed) for every other answer
        self.last_outcome_unknown = answer.get("outcome_unknown")
        errors = [r["message"] for r in answer.get("rows", ()) if r.get("error")]
        if any("context deadline exceeded" in m for m in errors):
            self.last_outcome_unknown = True  # the venue timed out: it may have acted
        state = answer.get("state") or {}
        self._currency = state.get("currency", self._currency)
        self._contract = state.get("contract", self._contract)
        self._direction = state.get("direction", self._direction)
        self._raw = answer.get("raw", "")
        return answer.get("result")

    def _struct(self, method: str, *args: Any) -> Any:
        return to_struct(self._call(method, *args))

    # --- node-local ---------------------------------------------------------------------------
    def Log(self, log_type: int, price: float, amount: float, *args: Any) -> None:
        """A log row that looks like an order (chart marker); no order is sent."""
        self._log.log(int(log_type), " ".join(str(a) for a in args), exchange_index=self._index,
                      price=float(price), amount=float(amount))

    # --- on the server ------------------------------------------------------------------------
    def SetCurrency(self, currency: str) -> None:
        self._call("SetCurrency", currency)

    def SetDirection(self, direction: str) -> None:
        self._call("SetDirection", direction)

    def SetContractType(self, contract_type: str) -> Struct | None:
        return self._struct("SetContractType", contract_type)

    def SetMarginLevel(self, *args: Any) -> bool | None:
        return self._call("SetMarginLevel", *args)

    def SetPrecision(self, price_precision: int, amount_precision: int) -> None:
        self._call("SetPrecision", price_precision, amount_precision)

    def SetRate(self, rate: float = 1.0) -> float:
        return self._call("SetRate", rate)

    def GetRate(self) -> float:
        return self._call("GetRate")

    def SetMaxBarLen(self, n: int) -> None:
        self._call("SetMaxBarLen", n)

    def GetPeriod(self) -> int:
        return self._call("GetPeriod")

    def GetUSDCNY(self) -> float:
        return self._call("GetUSDCNY")

    def SetProxy(self, proxy: str) -> None:
        return None

    def SetTimeout(self, ms: int) -> None:
        """Simulated ms a call may take before its outcome is unknown, for this node's calls; never
        under MIN_TIMEOUT_S of wall time (at speed 1000 a 3 s timeout would be 3 ms: the machine's
        own scheduling, not the venue, would time calls out). Lockstep: calls keep LOCKSTEP_TIMEOUT_S (a
        call may wait while other nodes run)."""
        if self._session.lockstep:
            return None
        if isinstance(ms, int | float) and not isinstance(ms, bool) and ms > 0:
            self._session.timeout_s = max(MIN_TIMEOUT_S, ms / 1000.0 / self._session.speed)
        return None

    def GetTicker(self, symbol: str = "") -> Struct | None:
        return self._struct("GetTicker", symbol)

    def GetTickers(self) -> list[Struct] | None:
        return self._struct("GetTickers")

    def GetDepth(self, symbol: str = "") -> Struct | None:
        return self._struct("GetDepth", symbol)

    def GetTrades(self, symbol: str = "") -> list[Struct] | None:
        return self._struct("GetTrades", symbol)

    def GetRecords(self, *args: Any, **kwargs: Any) -> Records | None:
        bars = self._call("GetRecords", *args, **kwargs)
        return None if bars is None else Records(to_struct(bars))

    def GetMarkets(self) -> dict[str, Struct] | None:
        return self._struct("GetMarkets")

    def GetFundings(self, symbol: str = "") -> list[Struct] | None:
        return self._struct("GetFundings", symbol)

    def GetAccount(self) -> Struct | None:
        return self._struct("GetAccount")

    def GetAssets(self) -> list[Struct] | None:
        return self._struct("GetAssets")

    def GetPositions(self, symbol: str = "") -> list[Struct] | None:
        return self._struct("GetPositions", symbol)

    def GetOrders(self, symbol: str = "") -> list[Struct] | None:
        return self._struct("GetOrders", symbol)

    def GetOrder(self, order_id: Any) -> Struct | None:
        return self._struct("GetOrder", order_id)

    def GetHistoryOrders(self, *args: Any) -> list[Struct] | None:
        return self._struct("GetHistoryOrders", *args)

    def CreateOrder(self, symbol: str, side: str, price: float, amount: float, *args: Any) -> str | None:
        return self._call("CreateOrder", symbol, side, price, amount, *args)

    def Buy(self, price: float, amount: float, *args: Any) -> str | None:
        return self._call("Buy", price, amount, *args)

    def Sell(self, price: float, amount: float, *args: Any) -> str | None:
        return self._call("Sell", price, amount, *args)

    def CancelOrder(self, order_id: Any, *args: Any) -> bool:
        return bool(self._call("CancelOrder", order_id, *args))

    def ModifyOrder(self, order_id: Any, side: str, price: float, amount: float, *args: Any) -> str | None:
        return self._call("ModifyOrder", order_id, side, price, amount, *args)

    def IO(self, key: str, *args: Any) -> Any:
        return self._struct("IO", key, *args)

    def GetMinStock(self) -> float | None:
        return self._call("GetMinStock")

    def GetMinPrice(self) -> float | None:
        return self._call("GetMinPrice")

    def GetFee(self) -> Struct | None:
        return self._struct("GetFee")

    def SetData(self, name: str, data: Any) -> None:
        self._call("SetData", name, data)

    def GetData(self, key: str, timeout: int = 60_000) -> Struct | None:
        return self._struct("GetData", key, timeout)

    def CreateConditionOrder(self, *args: Any) -> None:
        return self._call("CreateConditionOrder", *args)

    def ModifyConditionOrder(self, *args: Any) -> None:
        return self._call("ModifyConditionOrder", *args)

    def CancelConditionOrder(self, *args: Any) -> None:
        return self._call("CancelConditionOrder", *args)

    def GetConditionOrder(self, *args: Any) -> None:
        return self._call("GetConditionOrder", *args)

    def GetConditionOrders(self, *args: Any) -> None:
        return self._call("GetConditionOrders", *args)

    def GetHistoryConditionOrders(self, *args: Any) -> None:
        return self._call("GetHistoryConditionOrders", *args)


def _jsonable(value: Any) -> Any:
    """What JSON cannot carry as is: a Decimal as its float (prices and amounts, as the simulator
    reads them), anything else as its text (extra order arguments only reach the log message)."""
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


class RemoteWorld:
    """What runner.run drives for a node: the exchange objects over a venue server's accounts."""

    def __init__(self, session: VenueSession, exchanges: list[RemoteExchange]) -> None:
        self.session = session
        self.exchanges = exchanges

    def stats(self) -> dict[str, Any]:
        """The venue server's figures (all nodes, the shared accounts); {} when it is gone."""
        try:
            stats = self.session.stats()
        except (_NoAnswer, ValueError):
            return {"venue_server": self.session.url, "node": self.session.node, "error": "no answer"}
        return {**stats, "venue_server": self.session.url, "node": self.session.node,
                "scope": "the venue server's shared accounts (every node)"}

    def close(self) -> None:
        self.session.leave()
        self.session.close()


def connect(url: str, node: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
            gone_after_s: float = GONE_AFTER_S) -> VenueSession:
    """A session with a running venue server (hello done); ValueError names the fix."""
    session = VenueSession(url, node, timeout_s=timeout_s, gone_after_s=gone_after_s)
    session.hello()
    return session


def server_bindings(session: VenueSession) -> list[tuple[int, ExchangeBinding]]:
    """(server index, binding) of every account the server serves, in its order."""
    return [(int(b["index"]), ExchangeBinding(eid=b["eid"], currency=b["currency"],
                                              balance=float(b["balance"]), stocks=float(b["stocks"]),
                                              label=b.get("label") or ""))
            for b in session.info["bindings"]]


def remote_world_factory(session: VenueSession, indexes: list[int]) -> Callable[..., RemoteWorld]:
    """A runner WorldFactory for a node: exchanges[i] is the server's account indexes[i]."""
    bindings = dict(server_bindings(session))

    def factory(sim: Any, clock: Any, log: LogSink) -> RemoteWorld:
        del sim
        if not isinstance(getattr(clock, "inner", clock), RemoteClock):  # the runner wraps it
            raise ValueError("a node runs on the venue server's clock (RemoteClock)")

        def replay(events: list[dict[str, Any]]) -> None:
            for row in events:
                log.log(int(row["type"]), str(row["message"]),
                        exchange_index=indexes.index(row["exchange_index"])
                        if row.get("exchange_index") in indexes else None)

        session.on_events = replay
        exchanges = [RemoteExchange(session, index, bindings[index], log, local, clock)
                     for local, index in enumerate(indexes)]
        return RemoteWorld(session, exchanges)

    return factory




class VenueAdmin:
    """The test hooks of a venue server over HTTP: faults, link latency, outside money, stats, stop.

    Times are simulated ms (`now_ms()` reads the server's). Errors the server names (an unknown
    fault, a bad venue) raise ValueError with its line."""

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._session = VenueSession(url, "admin", timeout_s=timeout_s)
        self.url = self._session.url

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._session.request("POST", path, body)
        except _NoAnswer as exc:
            raise ConnectionError(str(exc)) from None

    def now_ms(self) -> int:
        return int(self._session.request("GET", "/time")["now_ms"])

    def lockstep(self) -> dict[str, Any]:
        """A lockstep server's clock: members (node -> wake_ms, kind), left (node -> at_ms, why),
        hold_ms, held. ValueError on a real-time server."""
        state = self._session.request("GET", "/time").get("lockstep")
        if state is None:
            raise ValueError(f"venue server {self.url} runs in real time (start it with --lockstep)")
        return dict(state)

    def hold(self, until_ms: int | None) -> None:
        """Lockstep: stop time at the first instant >= until_ms at which every node is in Sleep (no node
        between two calls of an execution); None lets it run on."""
        self._post("/admin/hold", {"until_ms": until_ms})

    def wait_held(self, nodes: tuple[str, ...] = (), timeout_s: float = 300.0) -> int:
        """Wait (wall time) until a hold has stopped time with every one of `nodes` among the waiting
        nodes; the simulated time it stopped at. TimeoutError after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:
            answer = self._session.request("GET", "/time")
            state = answer.get("lockstep") or {}
            if state.get("held") and all(n in state.get("members", {}) for n in nodes):
                return int(answer["now_ms"])
            if time.monotonic() > deadline:
                raise TimeoutError(f"venue server {self.url}: no hold reached in {timeout_s:g} s ({state})")
            time.sleep(0.01)

    def inject(self, venue: str, fault: str, until_ms: int, from_ms: int | None = None,
               node: str | None = None) -> None:
        """`world.inject` for every node, or (node=..., fault "down") only that node's link to venue."""
        body: dict[str, Any] = {"venue": venue, "fault": fault, "until_ms": until_ms, "from_ms": from_ms}
        if node is not None:
            body["node"] = node
        self._post("/admin/inject", body)

    def clear_faults(self, venue: str | None = None) -> None:
        self._post("/admin/clear_faults", {"venue": venue} if venue else {})

    def set_latency(self, node: str, venue: str, ms: int) -> None:
        self._post("/admin/latency", {"node": node, "venue": venue, "ms": ms})

    def deposit_external(self, venue: str, amount: float, at_ms: int | None = None) -> str:
        body = {"venue": venue, "amount": amount, "at_ms": at_ms}
        return str(self._post("/admin/deposit_external", body)["tx"])

    def withdraw_external(self, venue: str, amount: float, at_ms: int | None = None) -> str:
        body = {"venue": venue, "amount": amount, "at_ms": at_ms}
        return str(self._post("/admin/withdraw_external", body)["tx"])

    def stats(self) -> dict[str, Any]:
        return self._session.request("GET", "/admin/stats")

    def exposure(self, since_ms: int = 0) -> list[dict[str, Any]]:
        """Every change of a coin's net position over all venues: {time_ms, coin, base, usdt}."""
        return list(self._session.request("GET", f"/admin/exposure?since_ms={int(since_ms)}")["changes"])

    def log(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self._session.request("GET", f"/admin/log?since={int(since)}")["rows"])

    def shutdown(self) -> None:
        self._post("/admin/shutdown", {})
        self._session.close()

    def close(self) -> None:
        self._session.close()
