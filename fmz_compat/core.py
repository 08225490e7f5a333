"""Contracts shared by every part of the runtime: structs, constants, clocks, the log sink.

Everything else in fmz_compat (the API globals, the exchange objects, the simulator, the
store) builds on these few names, so they stay small and stable.
"""

from __future__ import annotations

import os
import sys
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Struct(dict):
    """A dict whose keys are also attributes, as FMZ returns every result object."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


def truthy(value: Any) -> bool:
    """A flag given as an option (CreateOrder's reduceOnly/postOnly, Dial's reconnect): a string is true
    when it says so (true, 1, yes; FMZ passes query-string options as text), anything else by bool()."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


_NESTED = (dict, list, tuple)


def to_struct(value: Any) -> Any:
    """Convert nested dicts (inside dicts, lists and tuples) to Struct, recursively."""
    # a scalar is kept as it is, without a call of its own (a venue's info is mostly scalars): the dict is
    # copied whole, then its nested values replaced in place (same keys, same order)
    if isinstance(value, dict):
        out = Struct(value)
        for k, v in value.items():
            if isinstance(v, _NESTED):
                out[k] = to_struct(v)
        return out
    if isinstance(value, list):
        return [to_struct(v) if isinstance(v, _NESTED) else v for v in value]
    if isinstance(value, tuple):
        return tuple(to_struct(v) for v in value)
    return value


# --- FMZ constants (numeric values are part of the contract: strategies compare literals) ---
ORDER_STATE_PENDING = 0
ORDER_STATE_CLOSED = 1
ORDER_STATE_CANCELED = 2
ORDER_STATE_UNKNOWN = 3
ORDER_TYPE_BUY = 0
ORDER_TYPE_SELL = 1
ORDER_OFFSET_OPEN = 0
ORDER_OFFSET_CLOSE = 1
ORDER_CONDITION_TYPE_OCO = 0
ORDER_CONDITION_TYPE_TP = 1
ORDER_CONDITION_TYPE_SL = 2
ORDER_CONDITION_TYPE_GENERIC = 3
PD_LONG = 0
PD_SHORT = 1
PD_LONG_YD = 2
PD_SHORT_YD = 3
LOG_TYPE_BUY = 0
LOG_TYPE_SELL = 1
LOG_TYPE_CANCEL = 2
LOG_TYPE_ERROR = 3
LOG_TYPE_PROFIT = 4
LOG_TYPE_LOG = 5
LOG_TYPE_RESTART = 6
PERIOD_M1 = 60
PERIOD_M3 = 180
PERIOD_M5 = 300
PERIOD_M15 = 900
PERIOD_M30 = 1800
PERIOD_H1 = 3600
PERIOD_H2 = 7200
PERIOD_H4 = 14400
PERIOD_H6 = 21600
PERIOD_H12 = 43200
PERIOD_D1 = 86400
PERIOD_D3 = 259200
PERIOD_W1 = 604800

CONSTANTS: dict[str, int] = {
    name: value for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, int) and not name.startswith("_")
}


# --- Clocks: every timestamp in a run comes from one of these, never from the wall clock ---
class Clock(Protocol):
    is_virtual: bool

    def now_ns(self) -> int: ...

    def sleep(self, ms: float) -> None: ...

    def check(self) -> None:
        """Raise EOFError when a backtest window is over (called by every API call)."""


class BacktestClock:
    """Virtual time: Sleep advances it; the first call at or past `end_ns` raises EOFError."""

    is_virtual = True

    def __init__(self, start_ns: int, end_ns: int) -> None:
        if end_ns <= start_ns:
            raise ValueError("backtest end must be after its start")
        self.start_ns = start_ns
        self.end_ns = end_ns
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def check(self) -> None:
        if self._now_ns >= self.end_ns:
            raise EOFError("backtest window ended")

    def sleep(self, ms: float) -> None:
        self.check()
        self._now_ns += max(0, int(ms * 1_000_000))
        self.check()

    def advance(self, ns: int) -> None:
        """Let simulated latency pass without the strategy calling Sleep."""
        self._now_ns += max(0, ns)


class RealClock:
    """Wall time, for paper and live runs."""

    is_virtual = False

    def now_ns(self) -> int:
        return _time.time_ns()

    def check(self) -> None:
        return None

    def sleep(self, ms: float) -> None:
        if ms > 0:
            _time.sleep(ms / 1000.0)

    def advance(self, ns: int) -> None:
        if ns > 0:
            _time.sleep(ns / 1e9)


class RunStopped(BaseException):
    """What every API call raises once the run is over and the strategy caught the first notice
    (EOFError at the end of a backtest, the stop on SIGTERM/Ctrl-C) and carried on. A BaseException,
    so `except Exception` lets it through; a bare `except:` that swallows it is left at its next line
    (see StopAwareClock). `reason` says why the run is over."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _leave_handler(frame: Any, event: str, arg: Any) -> Any:
    """Trace function armed once a stop has been swallowed: a line that runs inside an `except`
    handler of RunStopped, in code that is not this package's, raises it again from there, which a
    handler cannot catch (it is already handling). The trace is dropped when it raises."""
    if event == "line" and not frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        handled = sys.exc_info()[1]
        if isinstance(handled, RunStopped):
            raise RunStopped(handled.reason)
    return _leave_handler


def _arm_leave_handler() -> None:
    frame = sys._getframe(2)
    while frame is not None:
        frame.f_trace = _leave_handler
        frame.f_trace_lines = True
        frame = frame.f_back
    sys.settrace(_leave_handler)


def disarm_leave_handler() -> None:
    sys.settrace(None)


class StopAwareClock:
    """Wraps a run's clock so that the end of the run cannot be swallowed by the strategy.

    The first notice is what FMZ gives: EOFError from the call after the backtest window ends (or the
    stop raised by SIGTERM/Ctrl-C). Every later call raises RunStopped, and a bare `except:` around it
    is left at its next line; `swallowed` counts the calls made after the first notice."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        # read at every API call and UnixNano(): the inner clock's own method, with no call of ours around it
        self.now_ns: Callable[[], int] = inner.now_ns
        self.stop_reason = ""
        self.swallowed = 0
        self.escalate = True  # off while onexit() runs: it may use the API after a stop, as on FMZ

    def for_onexit(self) -> None:
        """onexit() runs with the API as FMZ gives it after a stop: usable after SIGTERM/Ctrl-C, and
        raising EOFError (not RunStopped) on each call once a backtest window has ended."""
        self.escalate = False
        if self.stop_reason == "stopped":
            self.stop_reason = ""

    @property
    def is_virtual(self) -> bool:
        return bool(self.inner.is_virtual)

    def request_stop(self, reason: str) -> None:
        if not self.stop_reason:
            self.stop_reason = reason

    def _raise_if_over(self) -> None:
        if self.stop_reason and self.escalate:
            self.swallowed += 1
            _arm_leave_handler()
            raise RunStopped(self.stop_reason)

    def check(self) -> None:
        if self.stop_reason and self.escalate:  # every API call passes here: no call unless it raises
            self._raise_if_over()
        try:
            self.inner.check()
        except EOFError as exc:
            self.request_stop(str(exc) or "backtest window ended")
            raise

    def sleep(self, ms: float) -> None:
        self._raise_if_over()
        try:
            self.inner.sleep(ms)
        except EOFError as exc:
            self.request_stop(str(exc) or "backtest window ended")
            raise

    def advance(self, ns: int) -> None:
        if hasattr(self.inner, "advance"):
            self.inner.advance(ns)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


# --- The log sink: what exchange objects and the simulator write through ---
class LogSink(Protocol):
    def log(
        self,
        log_type: int,
        message: str,
        *,
        exchange_index: int | None = None,
        order_id: str = "",
        price: float = 0.0,
        amount: float = 0.0,
    ) -> None:
        """Write one robot log row (FMZ `log` table)."""

    def error(self, message: str, *, exchange_index: int | None = None) -> None:
        """Write an error row and remember it for GetLastError()."""


@dataclass
class MemoryLog:
    """A LogSink that keeps rows in memory: for tests and for tools that run without a robot."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    last_error: str = ""

    def log(self, log_type: int, message: str, *, exchange_index: int | None = None,
            order_id: str = "", price: float = 0.0, amount: float = 0.0) -> None:
        self.rows.append({"type": log_type, "message": message, "exchange_index": exchange_index,
                          "order_id": order_id, "price": price, "amount": amount})

    def error(self, message: str, *, exchange_index: int | None = None) -> None:
        self.last_error = message
        self.log(LOG_TYPE_ERROR, message, exchange_index=exchange_index)


# --- What a run binds: FMZ's backtest header `exchanges: [...]` in dataclass form ---
VENUE_NAMES: dict[str, str] = {
    "binance": "Futures_Binance",
    "bybit": "Futures_Bybit",
    "okx": "Futures_OKX",
    "coinex": "Futures_CoinEx",
    "bitmex": "Futures_BitMEX",
}


@dataclass(frozen=True)
class ExchangeBinding:
    """One exchange object a run binds. `eid` is FMZ's name (Futures_Binance, Binance, ...)."""

    eid: str
    currency: str = "BTC_USDT"
    balance: float = 10_000.0
    stocks: float = 0.0
    fee: tuple[float, float] | None = None  # (maker %, taker %) as FMZ writes it; None = venue default
    label: str = ""


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulator needs to build a deterministic world."""

    seed: int
    start_ms: int
    bindings: tuple[ExchangeBinding, ...]
    symbols: tuple[str, ...] = ("BTC_USDT", "ETH_USDT")  # FMZ pairs the markets generate
    step_ms: int = 1000  # grid of the price path; the path does not depend on how often it is read
    latency_ms: int = 0  # per-call latency advanced on a virtual clock
    dated_prices: bool = False  # real price levels at the window's date (fmz_compat.sim.history)
