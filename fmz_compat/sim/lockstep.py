"""The venue server's lockstep clock: simulated time moves only when every live node waits.

With `venue-server --lockstep` a node's `Sleep(ms)` says "nothing more from me until now + ms", and the
latency of a node-venue link is a wait of the same kind inside the call (half before the venue acts,
half before the answer). Time then jumps to the earliest wake among the nodes, releases the nodes due,
and holds while any node runs (computes, or makes calls without latency). So what a node does in
simulated time does not depend on how fast the machine runs it: a loaded machine runs the same day,
only slower. Nodes released at the same instant run side by side.

A node joins when it says hello (`/session`) or waits, and leaves when it says so (`/leave`), when its
last connection closes (the process died), or when it ran for `drop_after_s` wall seconds without a
request (hung): then time moves on without it, and it joins again with its next wait (a restarted node
says hello again). Before `run()` (the server's `--wait-nodes`) time holds at the start.

`hold(T)` (tests): time stops at the first instant at or after T at which every node is in Sleep (none
between two calls of an execution), until the hold is moved or lifted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

SLEEP, CALL = "sleep", "call"  # what a waiting node waits in


@dataclass
class _Member:
    wake_ms: int | None = None  # None: running
    kind: str = SLEEP
    seen: float = 0.0  # wall time of its last request (or of its release)


class LockstepClock:
    is_virtual = True
    speed = 0.0  # no wall-time rate: simulated time moves with the nodes

    def __init__(self, start_ms: int, end_ms: int | None, *, running: bool = True, drop_after_s: float = 10.0,
                 wall: Callable[[], float] = time.monotonic,
                 on_event: Callable[[str], None] | None = None) -> None:
        self.start_ns = start_ms * 1_000_000
        self.end_ns = end_ms * 1_000_000 if end_ms is not None else None
        self._now_ms = start_ms
        self._end_ms = end_ms
        self._started = running
        self._drop_after_s = drop_after_s
        self._wall = wall
        self._on_event = on_event or (lambda _text: None)
        self._cond = threading.Condition()
        self._members: dict[str, _Member] = {}
        self._left: dict[str, dict[str, Any]] = {}
        self._hold_ms: int | None = None
        self._stopping = False
        self._local = threading.local()

    # --- the clock interface of the server (ScaledClock's) ---------------------------------------
    def run(self) -> None:
        with self._cond:
            self._started = True
            self._advance()

    @property
    def running(self) -> bool:
        return self._started

    def live_ns(self) -> int:
        return self._now_ms * 1_000_000

    def now_ns(self) -> int:
        pinned = getattr(self._local, "ns", None)
        return pinned if pinned is not None else self.live_ns()

    def ended(self) -> bool:
        return self._end_ms is not None and self._now_ms >= self._end_ms

    def check(self) -> None:
        if self.ended():
            raise EOFError("venue server window ended")

    def sleep(self, ms: float) -> None:
        return None  # the server itself never waits on this clock

    @contextmanager
    def pinned(self, ns: int) -> Iterator[None]:
        self._local.ns = ns
        try:
            yield
        finally:
            self._local.ns = None

    # --- the nodes --------------------------------------------------------------------------------
    def join(self, node: str) -> None:
        """`node` (re)starts: it runs from now on, and time waits for it."""
        with self._cond:
            member = self._join(node)
            member.wake_ms, member.seen = None, self._wall()

    def _join(self, node: str) -> _Member:
        member = self._members.get(node)
        if member is None:
            member = self._members[node] = _Member(seen=self._wall())
            self._left.pop(node, None)
        return member

    def leave(self, node: str, why: str) -> None:
        """`node` no longer holds time back (it said so, its connection closed, or it hung)."""
        with self._cond:
            if self._members.pop(node, None) is None:
                return
            self._left[node] = {"at_ms": self._now_ms, "why": why}
            self._advance()
        self._on_event(f"node {node} left the lockstep clock ({why})")  # outside: it may take other locks

    def touch(self, node: str) -> None:
        """A request of `node` (it is alive)."""
        with self._cond:
            member = self._members.get(node)
            if member is not None:
                member.seen = self._wall()

    def wait(self, node: str, until_ms: int, kind: str = SLEEP, hold_s: float | None = None) -> bool:
        """`node` waits until simulated `until_ms`. True once it may run again (its time came, the window
        ended, or the server stops); False when `hold_s` wall seconds passed first (it still waits: ask
        again with the same `until_ms`)."""
        deadline = None if hold_s is None else self._wall() + hold_s
        with self._cond:
            member = self._join(node)
            member.seen = self._wall()
            if until_ms > self._now_ms and not self.ended():
                member.wake_ms, member.kind = until_ms, kind
                self._advance()
            while member.wake_ms is not None and not self._stopping and self._members.get(node) is member:
                remaining = None if deadline is None else deadline - self._wall()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(0.05 if remaining is None else min(remaining, 0.05))
            member.seen = self._wall()
            return True

    def reap(self) -> None:
        """Drop every node that has run for drop_after_s wall seconds without a request."""
        with self._cond:
            now = self._wall()
            hung = [name for name, m in self._members.items()
                    if m.wake_ms is None and now - m.seen > self._drop_after_s]
        for name in hung:
            self.leave(name, f"no request for {self._drop_after_s:g} wall seconds while running")

    def hold(self, until_ms: int | None) -> None:
        """Stop time at the first instant >= until_ms at which every node is in Sleep; None lifts it."""
        with self._cond:
            self._hold_ms = until_ms
            self._advance()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def state(self) -> dict[str, Any]:
        with self._cond:
            members = {name: {"wake_ms": m.wake_ms, "kind": m.kind} for name, m in self._members.items()}
            return {"members": members, "left": dict(self._left), "hold_ms": self._hold_ms,
                    "held": self._held()}

    # --- moving time ------------------------------------------------------------------------------
    def _quiet(self) -> bool:
        return all(m.wake_ms is not None and m.kind == SLEEP for m in self._members.values())

    def _held(self) -> bool:
        return self._hold_ms is not None and self._now_ms >= self._hold_ms and self._quiet()

    def _advance(self) -> None:
        """With the condition held: move to the earliest wake (not past a hold or the end) once no node
        runs, and release the nodes due."""
        while self._started and self._members and all(m.wake_ms is not None for m in self._members.values()):
            if self._held():
                return
            target = min(m.wake_ms for m in self._members.values() if m.wake_ms is not None)
            if self._hold_ms is not None and self._now_ms < self._hold_ms:
                target = min(target, self._hold_ms)
            if self._end_ms is not None:
                target = min(target, self._end_ms)
            self._now_ms = max(self._now_ms, target)
            due = [m for m in self._members.values()
                   if m.wake_ms is not None and (m.wake_ms <= self._now_ms or self.ended())]
            for member in due:
                member.wake_ms = None
                member.seen = self._wall()
            if due:
                self._cond.notify_all()
                return
