"""The FMZ API as the strategy sees it, gathered from the globals FMZ injects into `__main__`.

Modules imported by the strategy file do not see FMZ's globals, so strategy.py builds one Api from
its own globals() and hands it down. Nothing here reads the wall clock: time is UnixNano(), waiting
is Sleep().
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

REQUIRED = ("Log", "LogStatus", "LogProfit", "Sleep", "UnixNano", "_G", "exchanges")


class ApiMissing(RuntimeError):
    """A global the strategy needs was not injected by the runtime."""


def _noop(*_args: Any, **_kwargs: Any) -> None:
    return None


class _NoChart:
    def add(self, *_args: Any) -> None:
        return None

    def update(self, *_args: Any) -> None:
        return None

    def reset(self, *_args: Any) -> None:
        return None


@dataclass(frozen=True)
class Api:
    log: Callable[..., Any]
    log_status: Callable[..., Any]
    log_profit: Callable[..., Any]
    sleep: Callable[[float], Any]
    unix_nano: Callable[[], int]
    store: Callable[..., Any]  # _G
    exchanges: tuple[Any, ...]
    chart: Callable[[Any], Any] = lambda _cfg: _NoChart()
    get_command: Callable[[], Any] = _noop
    log_reset: Callable[..., Any] = _noop
    # the runtime runs simulated time (FMZ's IsVirtual(): a backtest); a runtime that does not say is live
    is_virtual: Callable[[], bool] = lambda: False
    # FMZ's EventLoop(timeout ms): the next event (a Go task done, a Dial message; fmz_compat live also a
    # "Book" event when a streamed book's top moves), None after the timeout. None: the runtime has none
    event_loop: Callable[[float], Any] | None = None

    @classmethod
    def from_globals(cls, ns: Mapping[str, Any]) -> Api:
        missing = [name for name in REQUIRED if name not in ns]
        if missing:
            raise ApiMissing(f"FMZ globals missing: {', '.join(missing)}; run this file on FMZ or through "
                             "`python -m fmz_compat backtest strategy.py`")
        return cls(
            log=ns["Log"], log_status=ns["LogStatus"], log_profit=ns["LogProfit"], sleep=ns["Sleep"],
            unix_nano=ns["UnixNano"], store=ns["_G"], exchanges=tuple(ns["exchanges"]),
            chart=ns.get("Chart") or (lambda _cfg: _NoChart()),
            get_command=ns.get("GetCommand") or _noop,
            log_reset=ns.get("LogReset") or _noop,
            is_virtual=ns.get("IsVirtual") or (lambda: False),
            event_loop=ns.get("EventLoop"),
        )

    def now_ms(self) -> int:
        return int(self.unix_nano()) // 1_000_000


def venue_io(exchange: Any, method: str, path: str, query: str = "", body: str | None = None) -> Any:
    """One raw venue request through FMZ's `exchange.IO("api", ...)`; None when the exchange has no IO or
    the venue call fails (a failed read or request, never a crash). EOFError passes through: it is how a
    backtest tells the strategy its window has ended, and swallowing it would run the strategy on."""
    io = getattr(exchange, "IO", None)
    if io is None:
        return None
    try:
        if body is None:
            return io("api", method, path, query)
        return io("api", method, path, query, body)
    except EOFError:
        raise
    except Exception:  # noqa: BLE001 - a venue error is a failed call, never a crash
        return None
