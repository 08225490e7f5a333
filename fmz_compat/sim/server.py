"""The simulated venues as a server: one SimWorld, one set of accounts, many node processes.

`python -m fmz_compat venue-server --port P --speed X ...` runs the simulator in its own process
and serves every venue account over HTTP on loopback (JSON bodies). Simulated time runs at
`speed` x wall time from the server's start, or with `--lockstep` moves only when every node waits
(fmz_compat/sim/lockstep.py); the server is the only clock: each node follows it (fmz_compat.remote).
Every node gets its own FMZ-side exchange state (currency, contract type, direction, precision) over
the shared accounts, and its own order/error log rows back with each answer. Rows the venues write
themselves (a liquidation, a refused outside withdrawal) go to every node.

Endpoints (docs/simulator.md, "Venue server"):
  GET  /time                     simulated now, window, speed (lockstep: the nodes' waits, the hold)
  POST /session                  a node (header X-Node) announces itself; returns the bindings
  POST /x/<index>/<Method>       one FMZ exchange call, body {"args": [...]}
  POST /sleep                    lockstep: {"until_ms"}: the node waits; {"done": false} = ask again
  POST /leave                    lockstep: the node no longer holds time back
  POST /admin/hold               lockstep: {"until_ms": T or null}: stop time at the first quiet instant >= T
  POST /admin/inject             {"venue", "fault", "until_ms", "from_ms"?} (SimWorld.inject)
  POST /admin/clear_faults       {"venue"?}
  POST /admin/latency            {"node", "venue", "ms"}: round-trip ms of one node-venue link
  POST /admin/deposit_external   {"venue", "amount", "at_ms"?, "asset"?, "network"?} (and withdraw_external)
  GET  /admin/stats              world.stats() + exposure per coin now + positions + requests per node
  GET  /admin/log?since=N        the venues' own log rows
  POST /admin/shutdown           stop serving (in-flight calls finish; later ones end the nodes' runs)
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fmz_compat.core import LOG_TYPE_ERROR, SimConfig
from fmz_compat.run_stats import utc_text
from fmz_compat.sim.exchange import Exchange
from fmz_compat.sim.lockstep import CALL, SLEEP, LockstepClock
from fmz_compat.sim.world import SimWorld, venue_key
from fmz_compat.venue_protocol import NODE_HEADER, NODE_NAME

ANY_NODE = "*"
# FMZ exchange methods a node may call remotely; everything else of the object is node-local
REMOTE_METHODS = frozenset({
    "GetTicker", "GetTickers", "GetDepth", "GetTrades", "GetRecords", "GetMarkets", "GetFundings",
    "GetAccount", "GetAssets", "GetPositions", "GetOrders", "GetOrder", "GetHistoryOrders",
    "CreateOrder", "Buy", "Sell", "CancelOrder", "ModifyOrder", "SetMarginLevel", "SetContractType",
    "SetCurrency", "SetDirection", "SetPrecision", "SetRate", "GetRate", "SetMaxBarLen", "GetPeriod",
    "IO", "GetMinStock", "GetMinPrice", "GetFee", "SetData", "GetData", "GetUSDCNY",
    "CreateConditionOrder", "ModifyConditionOrder", "CancelConditionOrder", "GetConditionOrder",
    "GetConditionOrders", "GetHistoryConditionOrders",
})
EVENT_BACKLOG = 10_000
EXPOSURE_BACKLOG = 200_000
_LINK_DOWN = 'Get "{url}": dial tcp: connect: connection refused'  # as the simulator's "down"
TICK_WALL_S = 0.02  # the world is advanced at least this often, calls or not
BEHIND_WALL_S = 0.5  # one advance of the world taking this long means the simulator cannot keep up
SLEEP_POLL_S = 1.0  # lockstep: a node's /sleep is answered after at most this long (it asks again)


class ScaledClock:
    """Simulated time = start + speed x wall time elapsed since the clock was made, capped at the end.

    A request pins the time it read for its own thread (`pinned`), so one call sees one instant."""

    is_virtual = True

    def __init__(self, start_ms: int, end_ms: int | None, speed: float,
                 wall: Callable[[], float] = time.monotonic, *, running: bool = True) -> None:
        if not speed > 0:
            raise ValueError(f"speed {speed} must be a positive factor such as 1, 60 or 1000")
        self.start_ns = start_ms * 1_000_000
        self.end_ns = end_ms * 1_000_000 if end_ms is not None else None
        self.speed = float(speed)
        self._wall = wall
        self._wall0: float | None = wall() if running else None
        self._local = threading.local()

    def run(self) -> None:
        """Let simulated time start moving now (a clock made with running=False holds at the start)."""
        if self._wall0 is None:
            self._wall0 = self._wall()

    @property
    def running(self) -> bool:
        return self._wall0 is not None

    def live_ns(self) -> int:
        if self._wall0 is None:
            return self.start_ns
        now = self.start_ns + int((self._wall() - self._wall0) * self.speed * 1e9)
        return min(now, self.end_ns) if self.end_ns is not None else now

    def now_ns(self) -> int:
        pinned = getattr(self._local, "ns", None)
        return pinned if pinned is not None else self.live_ns()

    def ended(self) -> bool:
        return self.end_ns is not None and self.now_ns() >= self.end_ns

    def check(self) -> None:
        if self.ended():
            raise EOFError("venue server window ended")

    def sleep(self, ms: float) -> None:
        if ms > 0:
            time.sleep(ms / 1000.0 / self.speed)

    @contextmanager
    def pinned(self, ns: int) -> Iterator[None]:
        self._local.ns = ns
        try:
            yield
        finally:
            self._local.ns = None


@dataclass(frozen=True)
class ServerConfig:
    sim: SimConfig
    end_ms: int | None  # None: runs until shut down
    speed: float = 1.0
    latency: tuple[tuple[str, str, int], ...] = ()  # (node or "*", venue, round-trip simulated ms)
    linger_s: float | None = None  # after the window ends, shut down this many wall seconds later
    wait_nodes: int = 0  # simulated time holds at the start until this many distinct nodes said hello
    funding_hours: tuple[tuple[str, str, int], ...] = ()
    lockstep: bool = False  # time moves only when every node waits (speed unused)
    lockstep_drop_s: float = 10.0  # lockstep: a node running this long without a request is dropped


def parse_latency(text: str, venues: set[str]) -> tuple[tuple[str, str, int], ...]:
    """`tokyo=binance:5,tokyo=okx:80,*=bybit:40` -> ((node, venue, ms), ...); ValueError names the fix."""
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        node, sep, rest = item.partition("=")
        venue, sep2, ms = rest.partition(":")
        node, venue = node.strip(), venue.strip().lower()
        if not sep or not sep2 or not (node == ANY_NODE or NODE_NAME.match(node)):
            raise ValueError(f"--latency item {item!r} must be NODE=VENUE:MS such as tokyo=binance:5")
        if venue not in venues:
            raise ValueError(f"--latency item {item!r}: venue {venue!r} is not served; use one of "
                             f"{', '.join(sorted(venues))}")
        try:
            value = int(ms)
        except ValueError:
            value = -1
        if value < 0:
            raise ValueError(f"--latency item {item!r}: MS must be a whole number of milliseconds >= 0")
        out.append((node, venue, value))
    return tuple(out)


class _ServerLog:
    """World.log outside any request: the venues' own rows, numbered, echoed, sent to every node."""

    def __init__(self, clock: ScaledClock, echo: Callable[[str], None] | None) -> None:
        self.clock = clock
        self.echo = echo
        self.rows: deque[dict[str, Any]] = deque(maxlen=EVENT_BACKLOG)
        self.seq = 0

    def log(self, log_type: int, message: str, *, exchange_index: int | None = None,
            order_id: str = "", price: float = 0.0, amount: float = 0.0) -> None:
        self.seq += 1
        row = {"seq": self.seq, "type": log_type, "message": message, "exchange_index": exchange_index,
               "order_id": order_id, "price": price, "amount": amount,
               "time_ms": self.clock.now_ns() // 1_000_000}
        self.rows.append(row)
        if self.echo is not None:
            self.echo(f"venue-server: {message}")

    def error(self, message: str, *, exchange_index: int | None = None) -> None:
        self.log(LOG_TYPE_ERROR, message, exchange_index=exchange_index)

    def since(self, seq: int) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["seq"] > seq]


@dataclass
class _CallLog:
    """World.log during one node's call: the rows go back to that node only."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def log(self, log_type: int, message: str, *, exchange_index: int | None = None,
            order_id: str = "", price: float = 0.0, amount: float = 0.0) -> None:
        self.rows.append({"type": log_type, "message": message, "order_id": order_id,
                          "price": price, "amount": amount, "error": False})

    def error(self, message: str, *, exchange_index: int | None = None) -> None:
        self.rows.append({"type": LOG_TYPE_ERROR, "message": message, "order_id": "", "price": 0.0,
                          "amount": 0.0, "error": True})


class VenueServer:
    """The simulator behind an HTTP server on 127.0.0.1. `start()`, then `wait()` or `stop()`."""

    def __init__(self, cfg: ServerConfig, port: int = 0, *, echo: Callable[[str], None] | None = None,
                 warn: Callable[[str], None] | None = None, behind_wall_s: float = BEHIND_WALL_S) -> None:
        self._behind_wall_s = behind_wall_s
        self._warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))

        self.cfg = cfg
        self.clock: ScaledClock | LockstepClock
        if cfg.lockstep:
            self.clock = LockstepClock(cfg.sim.start_ms, cfg.end_ms, running=cfg.wait_nodes <= 0,
                                       drop_after_s=cfg.lockstep_drop_s, on_event=self._clock_event)
        else:
            self.clock = ScaledClock(cfg.sim.start_ms, cfg.end_ms, cfg.speed, running=cfg.wait_nodes <= 0)
        self._log = _ServerLog(self.clock, echo)
        hours = {(venue, pair): h for venue, pair, h in cfg.funding_hours}
        self.world = SimWorld(cfg.sim, self.clock, self._log, Exchange, funding_hours=hours)
        self._exchange_cls = Exchange
        self.lock = self.world.lock
        self._latency = {(node, venue): ms for node, venue, ms in cfg.latency}
        self._objects: dict[tuple[str, int], Any] = {}
        self._event_seq: dict[str, int] = {}
        self.requests: dict[str, int] = {}
        self._nodes_seen: set[str] = set()
        self._links_down: dict[tuple[str, str], tuple[int, int]] = {}  # (node, venue) -> (from, until)
        self._last_net: dict[str, float] = {}
        self.exposure_history: deque[dict[str, Any]] = deque(maxlen=EXPOSURE_BACKLOG)
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._window_ended = False
        self._httpd = _HTTPServer(("127.0.0.1", port), _Handler)
        self._httpd.venue_server = self
        self._threads: list[threading.Thread] = []

    @property
    def lockstep(self) -> LockstepClock | None:
        return self.clock if isinstance(self.clock, LockstepClock) else None

    def _clock_event(self, text: str) -> None:
        with self.lock:
            self._log.log(5, text)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        for name, target in (("venue-server-http", lambda: self._httpd.serve_forever(poll_interval=0.05)),
                             ("venue-server-tick", self._tick)):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def stop(self) -> None:
        """Stop serving: calls after this end the nodes' runs (EOF); idempotent."""
        if self._stopping.is_set():
            self._stopped.wait()
            return
        self._stopping.set()
        if self.lockstep is not None:
            self.lockstep.stop()  # nodes waiting on it are answered (the server is going)
        self._httpd.shutdown()
        self._httpd.server_close()
        deadline = time.monotonic() + 2.0
        while self._httpd.busy and time.monotonic() < deadline:  # let calls in progress answer
            time.sleep(0.005)
        self._httpd.drop_connections()  # idle keep-alive connections: the nodes see the server gone
        with self.lock:
            self.world.advance(self.clock.now_ns())
        self._stopped.set()

    def _tick(self) -> None:
        ended_at: float | None = None
        warned = False
        while not self._stopping.wait(TICK_WALL_S):
            if self.lockstep is not None:
                self.lockstep.reap()  # a node that hung (running, silent) no longer holds time back
            with self.lock:
                sim_before = self.world.now_ms()
                wall_before = time.monotonic()
                self.world.advance(self.clock.now_ns())
                self._note_exposure(self.world.now_ms())  # liquidations move positions too
                ended = self.clock.ended()
                busy_s = time.monotonic() - wall_before
                stepped_s = (self.world.now_ms() - sim_before) / 1000.0
            if busy_s > self._behind_wall_s and not warned and self.lockstep is None:
                warned = True
                self._warn(f"venue-server falls behind: {stepped_s:,.0f} simulated s took {busy_s:.2f} s "
                           f"to simulate (about {stepped_s / busy_s:,.0f}x), --speed is {self.cfg.speed:g}: "
                           "lower --speed or serve fewer --venues/--symbols")
            if ended and not self._window_ended:
                self._window_ended = True
                ended_at = time.monotonic()
                self._log.log(5, "venue server window ended")
            if ended_at is not None and self.cfg.linger_s is not None and \
                    time.monotonic() - ended_at >= self.cfg.linger_s:
                threading.Thread(target=self.stop, daemon=True).start()
                return

    # --- answers ------------------------------------------------------------------------------
    def time_info(self) -> dict[str, Any]:
        lockstep = self.lockstep
        return {"now_ms": self.clock.now_ns() // 1_000_000, "start_ms": self.cfg.sim.start_ms,
                "end_ms": self.cfg.end_ms, "speed": 0.0 if lockstep else self.cfg.speed,
                "ended": self.clock.ended(), "running": self.clock.running,
                "stopping": self._stopping.is_set(), "lockstep": lockstep.state() if lockstep else None}

    def session(self, node: str) -> dict[str, Any]:
        """A node (re)starts: its FMZ-side exchange state is reset; it gets the bindings and window."""
        with self.lock:
            for key in [k for k in self._objects if k[0] == node]:
                del self._objects[key]
            self._event_seq[node] = self._log.seq
            self._nodes_seen.add(node)
            if self.lockstep is not None:
                self.lockstep.join(node)  # time waits for it from now on
            if not self.clock.running and len(self._nodes_seen) >= self.cfg.wait_nodes:
                self.clock.run()
                self._log.log(5, f"simulated time started: {len(self._nodes_seen)} node(s) connected")
        pairs = zip(self.cfg.sim.bindings, self.world.accounts, strict=True)
        bindings = [{"index": i, "eid": b.eid, "currency": b.currency, "label": b.label,
                     "balance": b.balance, "stocks": b.stocks, "venue": acc.venue}
                    for i, (b, acc) in enumerate(pairs)]
        return {**self.time_info(), "seed": self.cfg.sim.seed, "symbols": list(self.cfg.sim.symbols),
                "step_ms": self.cfg.sim.step_ms, "bindings": bindings}

    def link_latency_ms(self, node: str, index: int) -> int:
        venue = self.world.accounts[index].venue
        return self._latency.get((node, venue), self._latency.get((ANY_NODE, venue), 0))

    def set_latency(self, node: str, venue: str, ms: int) -> None:
        self._latency[(node, venue)] = ms

    def cut_link(self, node: str, venue: str, fault: str, until_ms: int, from_ms: int | None = None) -> None:
        """Only `node` loses `venue` (fault "down": its calls there are refused) from `from_ms` (default
        now) until `until_ms`, simulated ms; the venue and the other nodes carry on."""
        if fault != "down":
            raise ValueError(f"fault {fault!r} on one node's link: only \"down\" is per node; "
                             "drop \"node\" to inject it on the venue for every node")
        if not NODE_NAME.match(node):
            raise ValueError(f"node {node!r}: use 1..64 letters, digits, '_', '.', '-'")
        venue = venue_key(venue)
        with self.lock:
            now_ms = self.clock.now_ns() // 1_000_000
            start = now_ms if from_ms is None else max(from_ms, now_ms)
            if until_ms <= start:
                raise ValueError(f"link {node}-{venue} down: until_ms {until_ms} must be after {start}")
            self._links_down[(node, venue)] = (start, until_ms)

    def _link_down(self, node: str, venue: str, now_ms: int) -> bool:
        window = self._links_down.get((node, venue))
        return window is not None and window[0] <= now_ms < window[1]

    def call(self, node: str, index: int, method: str, args: list[Any],
             kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        """One FMZ exchange call of `node` on account `index`, with the link's latency around it
        (half on the way to the venue, half on the way back)."""
        if self.lockstep is not None:
            return self._lockstep_call(self.lockstep, node, index, method, args, kwargs or {})
        one_way = self.link_latency_ms(node, index) / 2.0
        self._sleep_sim_ms(one_way)  # the request travels to the venue
        answer = self._execute(node, index, method, args, kwargs or {})
        if one_way > 0:  # the answer travels back: the node reads the time it arrives
            self._sleep_sim_ms(one_way)
            answer["now_ms"] = self.clock.now_ns() // 1_000_000
        return answer

    def _lockstep_call(self, clock: LockstepClock, node: str, index: int, method: str, args: list[Any],
                       kwargs: dict[str, Any]) -> dict[str, Any]:
        """The latency is simulated waiting: the node waits out half before the venue acts and the rest
        before its answer (other nodes run meanwhile); without latency the call takes no simulated time."""
        latency = self.link_latency_ms(node, index)
        clock.touch(node)
        if latency > 0:
            clock.wait(node, clock.now_ns() // 1_000_000 + latency // 2, CALL)
        answer = self._execute(node, index, method, args, kwargs)
        if latency > 0:
            clock.wait(node, clock.now_ns() // 1_000_000 + latency - latency // 2, CALL)
            answer["now_ms"] = clock.now_ns() // 1_000_000
        return answer

    def node_sleep(self, node: str, until_ms: int) -> dict[str, Any]:
        """Lockstep: `node` sleeps until simulated until_ms. Answered when it may run again ("done") or
        after SLEEP_POLL_S of wall time (not done: it asks again)."""
        clock = self.lockstep
        if clock is None:
            raise ValueError("/sleep is for a venue server started with --lockstep")
        if not NODE_NAME.match(node):
            raise ValueError(f"{NODE_HEADER} {node!r}: a node sleeps under its name")
        done = clock.wait(node, until_ms, SLEEP, hold_s=SLEEP_POLL_S)
        answer: dict[str, Any] = {"done": done, "now_ms": clock.now_ns() // 1_000_000,
                                  "running": clock.running}
        if self._stopping.is_set():
            answer.update(done=True, eof="venue server shut down")
        elif clock.ended():
            answer.update(done=True, eof="venue server window ended")
        return answer

    def node_leave(self, node: str, why: str) -> None:
        if self.lockstep is not None:
            self.lockstep.leave(node, why)

    def _sleep_sim_ms(self, ms: float) -> None:
        if ms > 0:
            time.sleep(ms / 1000.0 / self.cfg.speed)

    def _execute(self, node: str, index: int, method: str, args: list[Any],
                 kwargs: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.requests[node] = self.requests.get(node, 0) + 1
            now_ns = self.clock.now_ns()
            if self._stopping.is_set():
                return {"eof": "venue server shut down", "now_ms": now_ns // 1_000_000}
            if self.clock.ended():
                return {"eof": "venue server window ended", "now_ms": now_ns // 1_000_000}
            self.world.advance(now_ns)
            ex = self._object(node, index)
            if self._links_down and self._link_down(node, ex._venue, now_ns // 1_000_000):
                message = f"{ex.GetLabel()} {method}: {_LINK_DOWN.format(url=ex.GetBase())}"
                return {"result": None, "rows": [{"type": LOG_TYPE_ERROR, "message": message, "error": True}],
                        "events": [], "now_ms": now_ns // 1_000_000, "running": self.clock.running,
                        "raw": "", "state": {"currency": ex._currency, "contract": ex._contract,
                                             "direction": ex._direction}}
            capture = _CallLog()
            self.world.log = capture
            verdict: bool | None = None  # the simulated exchange's last_outcome_unknown for this call
            try:
                with self.clock.pinned(now_ns):
                    result = getattr(ex, method)(*args, **kwargs)
                verdict = getattr(ex, "last_outcome_unknown", None)
            except EOFError:
                return {"eof": "venue server window ended", "now_ms": now_ns // 1_000_000}
            except TypeError as exc:  # wrong number of arguments: what Python says is the fix
                capture.error(f"{ex.GetLabel()} {method}: {exc}")
                result = None
            finally:
                self.world.log = self._log
            self._note_exposure(now_ns // 1_000_000)
            events = self._log.since(self._event_seq.get(node, 0))
            if events:
                self._event_seq[node] = events[-1]["seq"]
            return {"result": result, "rows": capture.rows, "events": events, "now_ms": now_ns // 1_000_000,
                    "running": self.clock.running, "outcome_unknown": verdict,
                    "raw": ex._raw, "state": {"currency": ex._currency, "contract": ex._contract,
                                              "direction": ex._direction}}

    def _object(self, node: str, index: int) -> Any:
        ex = self._objects.get((node, index))
        if ex is None:
            ex = self._exchange_cls(self.world, self.world.accounts[index], self.cfg.sim.bindings[index])
            self._objects[(node, index)] = ex
        return ex

    def _net_base(self) -> dict[str, float]:
        coins = self.world.coins.items()
        return {base: round(sum(q.net_base for q in coin.quotes), 10) for base, coin in coins}

    def _note_exposure(self, time_ms: int) -> None:
        """Append (time, coin, net base, net USDT) whenever a coin's net position over all venues changed."""
        for base, net in self._net_base().items():
            if net != self._last_net.get(base, 0.0):
                self._last_net[base] = net
                price = self.world.usdt_price(base)
                self.exposure_history.append({"time_ms": time_ms, "coin": base, "base": net,
                                              "usdt": round(net * price, 6)})

    def exposure(self, since_ms: int = 0) -> list[dict[str, Any]]:
        """Every change of a coin's net position (summed over venues) at or after `since_ms`. The time
        between a change away from zero and the next one back tells a hedge in flight (one leg sent,
        the other on its way) from a lasting imbalance."""
        with self.lock:
            return [row for row in self.exposure_history if row["time_ms"] >= since_ms]

    def stats(self) -> dict[str, Any]:
        """world.stats(), plus net exposure per coin now (USDT), every open position and requests per node."""
        with self.lock:
            self.world.advance(self.clock.now_ns())
            out = self.world.stats()
            exposure = {}
            for base, coin in self.world.coins.items():
                net_base = sum(q.net_base for q in coin.quotes)
                net_usdt = sum(q.net_base * q.price for q in coin.quotes)
                exposure[base] = {"base": round(net_base, 10), "usdt": round(net_usdt, 6)}
            positions: dict[str, list[dict[str, Any]]] = {}
            for acc, ex in zip(self.world.accounts, self.world.exchanges, strict=True):
                rows = []
                for pos in acc.positions.values():
                    if pos.qty == 0.0:
                        continue
                    spec = acc.contract(pos.pair)
                    rows.append({"symbol": pos.pair, "contracts": pos.qty,
                                 "base": round(pos.qty * spec.ct_val, 12) if not spec.inverse else None,
                                 "entry": pos.entry, "leverage": pos.leverage, "isolated": pos.isolated})
                positions[ex.GetLabel()] = rows
            out.update(exposure=exposure, positions=positions, requests=dict(self.requests),
                       faults={v: {f: list(w[0]) for f, w in fs.items() if w}  # the current or next window
                               for v, fs in self.world.faults.items()},
                       links_down=[{"node": n, "venue": v, "from_ms": w[0], "until_ms": w[1]}
                                   for (n, v), w in self._links_down.items()],
                       **self.time_info())
            return out

    def admin(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """The test hooks: faults, latency, outside money. ValueError/KeyError -> HTTP 400."""
        w = self.world
        if action == "hold":
            if self.lockstep is None:
                raise ValueError("hold is for a venue server started with --lockstep")
            until = body.get("until_ms")
            self.lockstep.hold(None if until is None else int(until))
            return {"ok": True}
        if action == "inject" and body.get("node") is not None:
            self.cut_link(str(body["node"]), str(body["venue"]), str(body["fault"]), int(body["until_ms"]),
                          None if body.get("from_ms") is None else int(body["from_ms"]))
            return {"ok": True}
        if action == "inject":
            w.inject(str(body["venue"]), str(body["fault"]), int(body["until_ms"]),
                     None if body.get("from_ms") is None else int(body["from_ms"]))
            return {"ok": True}
        if action == "clear_faults":
            w.clear_faults(body.get("venue"))
            with self.lock:
                self._links_down = {k: v for k, v in self._links_down.items()
                                    if body.get("venue") is not None and k[1] != venue_key(body["venue"])}
            return {"ok": True}
        if action == "latency":
            node, venue, ms = str(body["node"]), str(body["venue"]).lower(), int(body["ms"])
            parse_latency(f"{node}={venue}:{ms}", {a.venue for a in w.accounts})
            self.set_latency(node, venue, ms)
            return {"ok": True}
        if action in ("deposit_external", "withdraw_external"):
            venue = body["venue"]
            hook = w.deposit_external if action == "deposit_external" else w.withdraw_external
            tx = hook(venue if isinstance(venue, int) else str(venue), float(body["amount"]),
                      None if body.get("at_ms") is None else int(body["at_ms"]),
                      str(body.get("asset", "USDT")), str(body.get("network", "TRC20")))
            return {"ok": True, "tx": tx}
        raise KeyError(action)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    venue_server: VenueServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()
        self.nodes: dict[socket.socket, str] = {}  # connection -> the node that talks on it
        self.busy = 0
        self.guard = threading.Lock()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.guard:
            self.connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.guard:
                self.connections.discard(request)
                node = self.nodes.pop(request, None)
                gone = node is not None and node not in self.nodes.values()
            if gone:  # its last connection: the node process ended (or died)
                self.venue_server.node_leave(node, "connection closed")

    def note_node(self, request: Any, node: str) -> None:
        with self.guard:
            self.nodes[request] = node

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the node gave up on this call (its timeout) or went away: nothing to report
        super().handle_error(request, client_address)

    @contextmanager
    def working(self) -> Iterator[None]:
        with self.guard:
            self.busy += 1
        try:
            yield
        finally:
            with self.guard:
                self.busy -= 1

    def drop_connections(self) -> None:
        with self.guard:
            for conn in list(self.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a node reuses its connection
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return None

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, default=str).encode()
        head = (f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        self.wfile.write(head + body)  # one write: no Nagle/delayed-ACK stall on loopback
        self.close_connection = False

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        data = json.loads(self.rfile.read(length))
        if not isinstance(data, dict):
            raise ValueError("the request body must be a JSON object")
        return data

    def _node(self) -> str:
        node = self.headers.get(NODE_HEADER, "") or "-"
        if node != "-" and not NODE_NAME.match(node):
            raise ValueError(f"{NODE_HEADER} {node!r}: use 1..64 letters, digits, '_', '.', '-'")
        return node

    def do_GET(self) -> None:
        with self.server.working():
            self._get()

    def do_POST(self) -> None:
        with self.server.working():
            self._post()

    def _get(self) -> None:
        vs = self.server.venue_server
        parts = urlsplit(self.path)
        try:
            if parts.path == "/time":
                self._send(200, vs.time_info())
            elif parts.path == "/admin/stats":
                self._send(200, vs.stats())
            elif parts.path == "/admin/exposure":
                since = int((parse_qs(parts.query).get("since_ms") or ["0"])[0])
                self._send(200, {"changes": vs.exposure(since)})
            elif parts.path == "/admin/log":
                since = int((parse_qs(parts.query).get("since") or ["0"])[0])
                with vs.lock:
                    self._send(200, {"rows": vs._log.since(since)})
            else:
                self._send(404, {"error": f"no GET {parts.path}: see fmz_compat/sim/server.py"})
        except (ValueError, KeyError) as exc:
            self._send(400, {"error": str(exc)})

    def _post(self) -> None:
        vs = self.server.venue_server
        path = urlsplit(self.path).path
        try:
            body = self._body()
            node = self._node()
            if node != "-" and (path.startswith("/x/") or path in ("/session", "/sleep")):
                self.server.note_node(self.request, node)
            if path.startswith("/x/"):
                self._exchange_call(vs, node, path, body)
            elif path == "/session":
                self._send(200, vs.session(node))
            elif path == "/sleep":
                self._send(200, vs.node_sleep(node, int(body["until_ms"])))
            elif path == "/leave":
                vs.node_leave(node, "left")
                self._send(200, {"ok": True})
            elif path == "/admin/shutdown":
                self._send(200, {"ok": True})
                threading.Thread(target=vs.stop, daemon=True).start()
            elif path.startswith("/admin/"):
                self._send(200, vs.admin(path.removeprefix("/admin/"), body))
            else:
                self._send(404, {"error": f"no POST {path}: see fmz_compat/sim/server.py"})
        except KeyError as exc:
            self._send(400, {"error": f"missing or unknown {exc}"})
        except ValueError as exc:
            self._send(400, {"error": str(exc)})

    def _exchange_call(self, vs: VenueServer, node: str, path: str, body: dict[str, Any]) -> None:
        _, _, index_text, method = path.split("/", 3) if path.count("/") == 3 else ("", "", "", "")
        if not index_text.isdigit() or int(index_text) >= len(vs.world.accounts):
            raise ValueError(f"exchange index {index_text!r} out of range 0..{len(vs.world.accounts) - 1}")
        if method not in REMOTE_METHODS:
            raise ValueError(f"method {method!r} is not served; one of {', '.join(sorted(REMOTE_METHODS))}")
        args, kwargs = body.get("args", []), body.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ValueError("args must be a JSON list and kwargs a JSON object")
        try:
            answer = vs.call(node, int(index_text), method, args, kwargs)
        except Exception as exc:  # noqa: BLE001 - the account was asked and may have acted: never a 4xx
            # (a node reads a 4xx as a definite refusal, a 5xx as an unknown outcome: fmz_compat/remote.py)
            reason = f"{type(exc).__name__}: {exc}"
            self._send(500, {"error": f"{method} failed while the venue served it ({reason})"})
            return
        self._send(200, answer)


def launch(*args: str, cwd: Any = None, timeout_s: float = 60.0) -> tuple[Any, str]:
    """Start `python -m fmz_compat venue-server --port 0 ARGS...` as its own process; returns
    (Popen, URL) once it printed its ready line. Its stdout and stderr are drained into
    `proc.output` (the newest 2000 lines), so a chatty server never blocks on a full pipe. The caller
    stops it (VenueAdmin.shutdown or SIGTERM) and waits for it."""
    import subprocess

    command = [sys.executable, "-m", "fmz_compat", "venue-server", "--port", "0", *args]
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: deque[str] = deque(maxlen=2000)
    proc.output = output  # type: ignore[attr-defined]
    ready = threading.Event()

    def drain() -> None:
        for line in proc.stdout:
            output.append(line.rstrip("\n"))
            if line.startswith("venue-server ready "):
                ready.set()
        ready.set()

    drainer = threading.Thread(target=drain, name="venue-server-output", daemon=True)
    drainer.start()
    proc.output_drained = drainer  # type: ignore[attr-defined]  # join it after wait() for the last lines
    ready.wait(timeout_s)
    line = next((x for x in output if x.startswith("venue-server ready ")), "")
    if not line:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"venue-server did not start: {' | '.join(output) or 'no output'}")
    return proc, line.split()[2]


def serve(cfg: ServerConfig, port: int, *, out: Callable[[str], None] = print, quiet: bool = False,
          stats_out: Any = None) -> int:
    """The venue-server command: serve until shut down (admin call, SIGTERM, Ctrl-C, or linger)."""
    import signal

    server = VenueServer(cfg, port, echo=None if quiet else out)
    # installed before the ready line, so a SIGTERM sent as soon as it is read still stops cleanly
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: threading.Thread(
        target=server.stop, daemon=True).start())
    server.start()
    venues = ",".join(a.venue for a in server.world.accounts)
    end = utc_text(cfg.end_ms) if cfg.end_ms is not None else "until stopped"
    waiting = f" (time starts when {cfg.wait_nodes} node(s) connect)" if cfg.wait_nodes > 0 else ""
    pace = "lockstep" if cfg.lockstep else f"speed {cfg.speed:g}"
    out(f"venue-server ready {server.url} {pace} window {utc_text(cfg.sim.start_ms)} -> {end} "
        f"venues {venues} symbols {','.join(cfg.sim.symbols)} seed {cfg.sim.seed}{waiting}")
    from fmz_compat.sim.params import invented_note

    for line in invented_note(cfg.sim.symbols):
        out(line)
    sys.stdout.flush()
    try:
        while not server.wait(0.2):
            pass
    except KeyboardInterrupt:
        server.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    stats = server.stats()
    if stats_out is not None:
        stats_out.write_text(json.dumps(stats, indent=2, default=str), encoding="utf-8")
    totals = stats["totals"]
    out(f"venue-server stopped at {utc_text(stats['now_ms'])}: trades {totals['trades']} "
        f"volume {totals['volume_usdt']:,.2f} USDT "
        f"max |net exposure| held {stats['net_exposure']['held']['usdt']:,.2f} USDT")
    return 0
