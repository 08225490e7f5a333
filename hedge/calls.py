"""Venue calls started together: FMZ's `exchange.Go(method, *args)` runs a call concurrently and its handle's
`wait()` gives `(value, ok)` (fmz.com/syntax-guide, exchange.Go), so the calls of one step on different venues
(both legs' position reads, both legs' orders) wait on the network side by side, not one after another.

Where the runtime runs Go synchronously (fmz_compat's simulator and venue server: backtests replay exactly)
the calls run in the order they are started, as plain calls would; an exchange object whose class has no
Go is called directly. The handles here carry the call's own outcome verdict (`last_outcome_unknown`, as
fmz_compat's exchange objects give it; None where the runtime tells nothing), read once wait() returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol


class Handle(Protocol):
    def wait(self, timeout: float | None = None) -> tuple[Any, bool]: ...


class Ready:
    """The handle of a call already made: wait() -> (value, True) once, then (None, False)."""

    synchronous = True

    def __init__(self, value: Any, last_outcome_unknown: bool | None) -> None:
        self._value = value
        self._taken = False
        self.last_outcome_unknown = last_outcome_unknown

    def wait(self, timeout: float | None = None) -> tuple[Any, bool]:
        del timeout
        if self._taken:
            return None, False
        self._taken = True
        return self._value, True


def go_of(exchange: Any) -> Any:
    """The object's own Go, None when its class has none: a stand-in that hands unknown names to another
    object (a test's or a fault injector's `__getattr__`) would have that object's Go run that object's
    calls, not the stand-in's."""
    return exchange.Go if callable(getattr(type(exchange), "Go", None)) else None


def start(exchange: Any, method: str, *args: Any) -> Handle:
    """exchange.Go(method, *args) where the object has it (`go_of`), else the call itself, made now."""
    go = go_of(exchange)
    if go is None:
        value = getattr(exchange, method)(*args)
        return Ready(value, getattr(exchange, "last_outcome_unknown", None))
    handle: Handle = go(method, *args)
    return handle


def each(starts: Sequence[Callable[[], Handle]], answered: Callable[[int, Any, bool | None], bool]) -> bool:
    """Start each call and hand each answer, in order, to answered(index, value, verdict); False from it
    stops: what is left is not handed (and, where the runtime runs Go synchronously, not started). Calls a
    runtime runs concurrently are all started before any is waited for, and each is waited for (its answer
    judged, fmz_compat's verdict read) even after a stop; a synchronous runtime's call (the handle's
    `synchronous`: fmz_compat's simulator) is answered before the next starts, so a backtest makes the
    same calls in the same order, with the same log rows, as plain calls one after the other."""
    pending: list[tuple[int, Handle]] = []
    for index, start_call in enumerate(starts):
        handle = start_call()
        if not getattr(handle, "synchronous", False):
            pending.append((index, handle))
        elif not answered(index, *finish(handle)):
            return False
    going = True
    for index, handle in pending:
        value, verdict = finish(handle)
        going = going and answered(index, value, verdict)
    return going


def finish(handle: Handle) -> tuple[Any, bool | None]:
    """(the call's value, its outcome verdict) once it has finished: True unknown, False the venue answered
    (a refusal is definite), None not told. A handle that gives nothing (its value taken, or a runtime's
    wait that gave up) reads as a failed call whose outcome is unknown: None, True."""
    value, ok = handle.wait()
    if not ok:
        return None, True
    return value, getattr(handle, "last_outcome_unknown", None)
