"""The transport of websocket books: one background thread and connection per venue.

websocket-client carries the frames; `fmz_compat.ws.venues` parses them. The thread reconnects with
exponential backoff (with jitter), treats a connection that went silent as dead, pings where the
venue wants it, resyncs a book after a gap (Binance: REST snapshot; others: resubscribe) and keeps
every book it cannot vouch for out of `view()`, so the exchange object falls back to REST.

Nothing here writes the robot log: the log store belongs to the strategy thread. Messages wait in
`notes` until the exchange object drains them.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import websocket

from fmz_compat.ws.book import BookView
from fmz_compat.ws.venues import BookProtocol, Notice, Resync


@dataclass(frozen=True)
class FeedConfig:
    stale_after_s: float = 15.0  # no frame at all for this long: the connection is dead, reconnect
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    connect_timeout_s: float = 10.0
    poll_s: float = 0.2  # recv timeout: how often queued subscriptions and pings are sent


@dataclass(frozen=True)
class FeedNote:
    level: str  # "info" | "warn" | "error"
    text: str


SnapshotFetcher = Callable[[str], Any]


class RequestPacer:
    """Subscribe-type requests on one connection: never more than `limit` in any `window_s` (a sliding
    log: the venue's hard limit), and at most `burst` at once, refilled evenly over the window, so a storm
    of resyncs cannot spend the hour's budget in seconds and leave the books unserved for the rest of it."""

    def __init__(self, limit: int, window_s: float, burst: int, clock: Callable[[], float]) -> None:
        self.limit, self.window_s, self.burst, self._clock = limit, window_s, burst, clock
        self._sent: deque[float] = deque()
        self._tokens = float(burst)
        self._refilled = clock()

    def allow(self, count: int) -> bool:
        """True (and counted) when `count` more requests may go now."""
        now = self._clock()
        while self._sent and now - self._sent[0] >= self.window_s:
            self._sent.popleft()
        self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.limit / self.window_s)
        self._refilled = now
        if len(self._sent) + count > self.limit or self._tokens < count:
            return False
        self._tokens -= count
        self._sent.extend([now] * count)
        return True

    def used(self) -> int:
        return len(self._sent)


def reconnect_forever(stop: threading.Event, connect: Callable[[], Any], session: Callable[[Any], bool],
                      cannot_connect: Callable[[Exception, float], None], config: FeedConfig | Any) -> None:
    """Connect and run `session(ws)` until it ends, again and again until `stop` is set, waiting an
    exponential backoff with jitter in between (back to its start after a session that returned True)."""
    backoff = config.backoff_initial_s
    while not stop.is_set():
        try:
            ws = connect()
        except Exception as e:  # noqa: BLE001 - every failure to connect is retried the same way
            cannot_connect(e, backoff)
        else:
            if session(ws):
                backoff = config.backoff_initial_s
        if not stop.is_set():
            stop.wait(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, config.backoff_max_s)


class BookFeed:
    """Websocket books of one venue, kept by a daemon thread; `view()` is safe from any thread."""

    def __init__(self, protocol: BookProtocol, url: str, *, snapshot: SnapshotFetcher | None = None,
                 config: FeedConfig | None = None, connect: Callable[..., Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.protocol = protocol
        self.url = url
        self.config = config or FeedConfig()
        self._snapshot = snapshot
        self._connect = connect or websocket.create_connection
        self._clock = clock
        self._lock = threading.Lock()
        self._outbox: deque[str] = deque()
        self._resyncs: dict[str, None] = {}  # books waiting to be resubscribed, oldest first, each once
        self._pacer = self._new_pacer()
        self._held_noted = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.notes: deque[FeedNote] = deque(maxlen=200)
        self.connected = False
        self.connects = 0
        self.gaps = 0
        self.last_frame_ms = 0
        self.frames = 0  # frames read off the socket, every connection, for rate figures
        self.failures = 0  # consecutive failed connection attempts
        # called on the feed's thread, after a frame, for each book whose best bid or ask it changed:
        # (market id, best bid, best ask, the venue's time ms, time.perf_counter_ns() when the frame was read)
        self.on_top: Callable[[str, float, float, int, int], None] | None = None
        self._tops: dict[str, tuple[float, float]] = {}  # what on_top was last told, per market id

    # --- control (any thread) -----------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"books-{self.protocol.venue}",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def subscribe(self, market_ids: list[str]) -> None:
        """Stream these books too (cheap when already streamed)."""
        with self._lock:
            new = self.protocol.add(market_ids)
            if new and self.connected:
                self._outbox.extend(self.protocol.subscribe_frames(new))

    def subscribed(self) -> list[str]:
        with self._lock:
            return list(self.protocol.states)

    def view(self, market_id: str, depth: int) -> BookView | None:
        """The book's top `depth` levels when it is in sync on a live connection, else None."""
        with self._lock:
            if not self.connected:
                return None
            return self.protocol.view(market_id, depth)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            states = self.protocol.states.values()
            return {"connected": self.connected, "connects": self.connects, "gaps": self.gaps,
                    "books": len(self.protocol.states), "in_sync": sum(s.synced for s in states),
                    "last_frame_ms": self.last_frame_ms, "frames": self.frames}

    # --- the thread ---------------------------------------------------------------------------
    def _new_pacer(self) -> RequestPacer | None:
        budget = self.protocol.request_budget
        if budget is None:
            return None
        limit, window_s, burst = budget
        return RequestPacer(limit, window_s, burst, self._clock)

    def _note(self, level: str, text: str) -> None:
        self.notes.append(FeedNote(level, text))

    def _run(self) -> None:
        reconnect_forever(self._stop, lambda: self._connect(self.url, timeout=self.config.connect_timeout_s),
                          self._session, self._cannot_connect, self.config)

    def _cannot_connect(self, error: Exception, backoff: float) -> None:
        self.failures += 1
        if self.failures in (1, 5) or self.failures % 20 == 0:
            self._note("warn", f"{self.protocol.venue} books: cannot connect ({type(error).__name__}: "
                               f"{error}); retry {self.failures} in {backoff:.1f}s, REST meanwhile")

    def _session(self, ws: Any) -> bool:
        self.failures = 0
        self.connects += 1
        healthy = self._serve(ws)
        try:
            ws.close()
        except Exception:  # noqa: BLE001 - the socket is being dropped anyway
            pass
        with self._lock:
            self.connected = False
            self.protocol.reset()
            self._tops.clear()
        return healthy

    def _serve(self, ws: Any) -> bool:
        """Run one connection until it fails; True when it carried books (resets the backoff)."""
        venue = self.protocol.venue
        ws.settimeout(self.config.poll_s)
        with self._lock:
            self._outbox.clear()
            self._resyncs.clear()  # the new subscriptions bring fresh snapshots
            self._pacer = self._new_pacer()  # the venue counts per connection
            self._outbox.extend(self.protocol.subscribe_frames(list(self.protocol.states)))
            self.connected = True
        if self.connects > 1:
            self._note("info", f"{venue} books: reconnected (connection {self.connects})")
        now = time.monotonic()
        last_frame = last_ping = now
        carried = False
        try:
            while not self._stop.is_set():
                self._flush(ws)
                try:
                    frame = ws.recv()
                except websocket.WebSocketTimeoutException:
                    frame = None
                now = time.monotonic()
                if frame:
                    last_frame = now
                    carried = True
                    self._read(ws, frame)
                elif frame is not None and not ws.connected:
                    raise ConnectionError("closed by the venue")
                if now - last_frame > self.config.stale_after_s:
                    raise TimeoutError(f"no frame for {self.config.stale_after_s:.0f}s")
                due = now - last_ping >= self.protocol.ping_interval_s
                ping = self.protocol.ping_frame() if due else None
                if ping:
                    ws.send(ping)
                    last_ping = now
        except (websocket.WebSocketException, OSError, TimeoutError, ConnectionError) as e:
            self._note("warn", f"{venue} books: connection lost ({type(e).__name__}: {e}); "
                               f"REST until reconnected")
        except (ValueError, KeyError, TypeError, IndexError) as e:
            self._note("error", f"{venue} books: unreadable frame ({type(e).__name__}: {e}); reconnecting")
        return carried

    def _read(self, ws: Any, frame: Any) -> None:
        """One frame off the socket: applied, its top changes told, its resyncs and notices handled."""
        read_ns = time.perf_counter_ns()
        received_ms = time.time_ns() // 1_000_000
        self.last_frame_ms = received_ms
        self.frames += 1
        with self._lock:
            events = self.protocol.on_frame(frame, received_ms)
            tops = self._changed_tops(received_ms) if self.on_top is not None else None
        if tops:
            self._tell_tops(tops, read_ns)
        self._handle(ws, events)

    def _changed_tops(self, received_ms: int) -> list[tuple[str, float, float, int]]:
        """Books in sync that a frame received at received_ms touched and whose best bid or ask moved (a frame
        stamps what it applies with its receipt time: books touched in the same ms are looked at too)."""
        changed = []
        tops = self._tops
        for market_id, state in self.protocol.states.items():
            book = state.book
            if book.received_ms != received_ms or not state.synced or not book.asks or not book.bids:
                continue
            top = (max(book.bids), min(book.asks))
            if tops.get(market_id) != top:
                tops[market_id] = top
                changed.append((market_id, top[0], top[1], book.venue_ms))
        return changed

    def _tell_tops(self, tops: list[tuple[str, float, float, int]], read_ns: int) -> None:
        listener = self.on_top
        if listener is None:
            return
        for market_id, bid, ask, venue_ms in tops:
            try:
                listener(market_id, bid, ask, venue_ms, read_ns)
            except Exception as e:  # noqa: BLE001 - a listener's fault must not drop the connection
                self._note("error", f"{self.protocol.venue} books: top listener failed ({type(e).__name__}: "
                                    f"{e})")

    def _flush(self, ws: Any) -> None:
        """Send queued subscriptions, then queued resyncs, as far as the venue's request budget allows."""
        while True:
            with self._lock:
                if not self._outbox:
                    break
                if not self._may_send(1):
                    return
                frame = self._outbox.popleft()
            ws.send(frame)
        while True:
            with self._lock:
                if not self._resyncs:
                    return
                market_id = next(iter(self._resyncs))
                frames = self.protocol.resync_frames(market_id)
                if not self._may_send(len(frames)):
                    return
                del self._resyncs[market_id]
            for frame in frames:
                ws.send(frame)

    def _may_send(self, count: int) -> bool:
        if self._pacer is None or self._pacer.allow(count):
            self._held_noted = False
            return True
        if not self._held_noted:
            self._held_noted = True
            limit, window_s, _ = self.protocol.request_budget or (0, 0.0, 0)
            self._note("warn", f"{self.protocol.venue} books: subscriptions paced ({self._pacer.used()} of "
                               f"{limit} an {window_s / 3600:g} h on this connection sent); resyncs wait, "
                               f"REST meanwhile")
        return False

    def _handle(self, ws: Any, events: list[Resync | Notice]) -> None:
        for event in events:
            if isinstance(event, Notice):
                self._note("warn", event.text)
                continue
            if event.gap:
                self.gaps += 1
                self._note("warn", f"{self.protocol.venue} books: {event.market_id} gap ({event.reason}); "
                                   f"resyncing, REST meanwhile")
            if self.protocol.snapshot_by_rest:
                self._fetch_snapshot(event.market_id)
            else:
                with self._lock:
                    self._resyncs[event.market_id] = None  # sent by _flush, paced; a second gap waits too

    def _fetch_snapshot(self, market_id: str) -> None:
        if self._snapshot is None:
            raise RuntimeError(f"{self.protocol.venue} books need a REST snapshot fetcher")
        try:
            payload = self._snapshot(market_id)
        except Exception as e:  # noqa: BLE001 - the next diff asks again
            with self._lock:
                self.protocol.snapshot_failed(market_id)  # type: ignore[attr-defined]
            self._note("warn", f"{self.protocol.venue} books: {market_id} snapshot failed "
                               f"({type(e).__name__}); retrying on the next update")
            return
        received_ms = time.time_ns() // 1_000_000
        with self._lock:
            events = self.protocol.apply_snapshot(market_id, payload, received_ms)
        for event in events:  # a snapshot older than the stream: fetch once more, on the next diff
            if isinstance(event, Resync):
                self.gaps += 1
                self._note("warn", f"{self.protocol.venue} books: {market_id} {event.reason}; refetching")
                with self._lock:
                    self.protocol.snapshot_failed(market_id)  # type: ignore[attr-defined]
