"""The FMZ runtime globals: what a strategy file sees when it is exec'd as `__main__`.

`Runtime` owns the clock, the robot store, the exchange objects and the command queue. It is also
the LogSink the exchange objects write through, so every log row of a run lands in one table.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import hmac
import json
import math
import os
import platform
import re
import sys
import time
import types
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from fmz_compat import core
from fmz_compat.core import (
    LOG_TYPE_BUY,
    LOG_TYPE_CANCEL,
    LOG_TYPE_ERROR,
    LOG_TYPE_LOG,
    LOG_TYPE_PROFIT,
    LOG_TYPE_SELL,
    Clock,
    Struct,
    to_struct,
)
from fmz_compat.net import AsyncCall, EventQueue, Ready, dial, http_options, http_query, redact
from fmz_compat.store import RobotStore
from fmz_compat.ta import TA

VERSION = "3.7 (fmz_compat)"
DEFAULT_RETRY_DELAY_MS = 3000
_COLOR_SUFFIX = re.compile(r"#([0-9a-fA-F]{6})$")
_LOG_TYPE_NAMES = {LOG_TYPE_BUY: "buy", LOG_TYPE_SELL: "sell", LOG_TYPE_CANCEL: "cancel",
                   LOG_TYPE_ERROR: "error", LOG_TYPE_PROFIT: "profit", LOG_TYPE_LOG: "info", 6: "restart"}


def parse_markers(text: str) -> tuple[str, str, bool, bool]:
    """Split FMZ's suffix markers off a log line: returns (text, colour, push, private).

    FMZ order is colour then push (`"msg #ff0000@"`); a trailing `&` marks a private line.
    """
    private = push = False
    text = text.rstrip()
    if text.endswith("&"):
        private, text = True, text[:-1].rstrip()
    if text.endswith("@"):
        push, text = True, text[:-1].rstrip()
    color = ""
    match = _COLOR_SUFFIX.search(text)
    if match:
        color, text = "#" + match.group(1).lower(), text[:match.start()].rstrip()
    return text, color, push, private


def join_args(args: Sequence[Any]) -> str:
    """FMZ's JoinArgs: str() of each argument, space separated; figures become a placeholder."""
    parts = []
    for arg in args:
        if hasattr(arg, "savefig") and not isinstance(arg, (str, bytes)):
            parts.append("[figure]")
        elif isinstance(arg, (dict, list)):
            parts.append(json.dumps(arg, ensure_ascii=False, default=str))
        else:
            parts.append(str(arg))
    return " ".join(parts)


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "table"


def status_text(args: Sequence[Any]) -> str:
    """LogStatus arguments -> the stored status text (dict tables and lists of tables backticked)."""
    parts = []
    for arg in args:
        if _is_table(arg) or (isinstance(arg, list) and arg and all(_is_table(t) for t in arg)):
            parts.append("`" + json.dumps(arg, ensure_ascii=False, default=str) + "`")
        else:
            parts.append(join_args([arg]))
    return " ".join(parts)


def parse_status(text: str) -> list[dict[str, Any]]:
    """Split a status text into blocks: {"kind": "text", "text"} or {"kind": "tables", "tables": [...]}."""
    blocks: list[dict[str, Any]] = []
    pieces = text.split("`")
    for i, piece in enumerate(pieces):
        if i % 2 == 1:
            try:
                data = json.loads(piece)
            except ValueError:
                data = None
            if _is_table(data):
                blocks.append({"kind": "tables", "tables": [data]})
                continue
            if isinstance(data, list) and data and all(_is_table(t) for t in data):
                blocks.append({"kind": "tables", "tables": data})
                continue
            piece = "`" + piece + "`"
        if piece.strip():
            blocks.append({"kind": "text", "text": piece})
    return blocks


class ChartHandle:
    """What Chart() returns: add / update / reset, persisted in the robot store."""

    def __init__(self, runtime: Runtime, config: Any) -> None:
        self._runtime = runtime
        self.update(config)

    def add(self, series: int, point: Any, index: int | None = None) -> None:
        store, now_ms = self._runtime.store, self._runtime.now_ms()
        time_ms = _point_time(point, now_ms)
        if index == -1:
            store.replace_last_chart_point(series, time_ms, point)
        else:
            store.append_chart_point(series, time_ms, point)

    def update(self, config: Any) -> None:
        self._runtime.store.set_chart_config(_plain(config))

    def reset(self, remain: int = 0) -> None:
        self._runtime.store.reset_chart(remain)

    def __getattr__(self, name: str) -> Callable[..., None]:
        # Highcharts-era helpers (del, destroy, ...) some strategies call: accepted, ignored.
        return lambda *args, **kwargs: None


def _point_time(point: Any, default_ms: int) -> int:
    if isinstance(point, (list, tuple)) and point and isinstance(point[0], (int, float)):
        return int(point[0])
    if isinstance(point, dict) and isinstance(point.get("x"), (int, float)):
        return int(point["x"])
    return default_ms


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class KLineChartHandle:
    """KLineChart(options): Pine-style drawing, stored as FMZ stores it: the chart config carries
    `__isCandle`, and each closed bar is one point of series 0, {timestamp, open, high, low, close,
    volume, runtime: {plots, signals}}, replaced while the bar is still forming (same Time).
    fmz_compat.charts draws it (candles, overlay and pane plots, hlines, shapes, signals)."""

    def __init__(self, runtime: Runtime, options: Any = None) -> None:
        self._runtime = runtime
        self.options = dict(options) if isinstance(options, dict) else {}
        self.options["__isCandle"] = True
        self._overlay = bool(self.options.get("overlay", False))
        self._bar: Any = None
        self._last_time = 0
        self._plots: list[dict[str, Any]] = []
        self._signals: list[dict[str, Any]] = []
        self._titles: set[str] = set()
        runtime.store.set_chart_config(_plain(self.options))

    # --- per bar ---
    def begin(self, bar: Any) -> None:
        self._bar = bar

    def close(self, bar: Any = None) -> None:
        if bar is not None:
            self._bar = bar
        if self._stale():
            return
        bar = self._bar
        point: dict[str, Any] = {"timestamp": self._bar_time(), "open": bar.get("Open"),
                                 "high": bar.get("High"), "low": bar.get("Low"), "close": bar.get("Close"),
                                 "volume": bar.get("Volume", 0)}
        runtime = {kind: items for kind, items in (("plots", self._plots), ("signals", self._signals))
                   if items}
        if runtime:
            point["runtime"] = runtime
        point = _plain(point)
        store = self._runtime.store
        if point["timestamp"] == self._last_time:
            store.replace_last_chart_point(0, point["timestamp"], point)
        else:
            store.append_chart_point(0, point["timestamp"], point)
        self._last_time = point["timestamp"]
        self._plots, self._signals, self._titles = [], [], set()

    def reset(self, remain: int = 0) -> None:
        self._runtime.store.reset_chart(remain)
        self._last_time = 0

    # --- drawing calls, each recorded on the current bar ---
    def plot(self, series: Any = None, title: str | None = None, color: str | None = None,
             linewidth: float = 1, style: str = "line", overlay: bool | None = None,
             **more: Any) -> int | None:
        if series is None:
            return None
        return self._add({"type": style, "series": series, "title": title, "color": color,
                          "lineWidth": linewidth, "overlay": overlay, **_pine_extras(more)})

    def hline(self, price: float, title: str | None = None, color: str | None = None,
              linestyle: str = "dashed", linewidth: float | None = None, overlay: bool | None = None,
              **more: Any) -> int | None:
        return self._add({"type": "hline", "price": price, "title": title, "color": color,
                          "lineStyle": linestyle, "lineWidth": linewidth, "overlay": overlay})

    def plotshape(self, series: Any, title: str | None = None, style: str | None = None,
                  location: str = "abovebar", color: str | None = None, text: str | None = None,
                  overlay: bool | None = None, **more: Any) -> int | None:
        if series is None:
            return None
        return self._add({"type": "shape", "style": style, "series": series, "title": title,
                          "location": location, "color": color, "text": text, "overlay": overlay})

    def plotchar(self, series: Any, title: str | None = None, char: str | None = None,
                 location: str = "abovebar", color: str | None = None, text: str | None = None,
                 overlay: bool | None = None, **more: Any) -> int | None:
        if series is None or char is None:
            return None
        return self._add({"type": "shape", "style": "char", "char": char, "series": series, "title": title,
                          "location": location, "color": color, "text": text, "overlay": overlay})

    def plotarrow(self, series: Any, title: str | None = None, colorup: str = "#00ff00",
                  colordown: str = "#ff0000", overlay: bool | None = None, **more: Any) -> int | None:
        return self._add({"type": "shape", "style": "arrow", "series": series, "title": title,
                          "colorup": colorup, "colordown": colordown, "overlay": overlay})

    def plotcandle(self, open: float, high: float, low: float, close: float, title: str | None = None,
                   color: str | None = None, overlay: bool | None = None, **more: Any) -> int | None:
        return self._add({"type": "candle", "open": open, "high": high, "low": low, "close": close,
                          "price": high, "title": title, "color": color, "overlay": overlay})

    def barcolor(self, color: str, title: str | None = None, **more: Any) -> int | None:
        return self._add({"type": "barcolor", "color": color, "title": title})

    def bgcolor(self, color: str, title: str | None = None, overlay: bool | None = None,
                **more: Any) -> int | None:
        return self._add({"type": "bgcolor", "color": color, "title": title, "overlay": overlay})

    def fill(self, plot1: int, plot2: int, color: str | None = None, **more: Any) -> None:
        if self._stale() or not (0 <= plot1 < len(self._plots) and 0 <= plot2 < len(self._plots)):
            return
        self._plots[plot1].setdefault("fill", []).append(
            {"value": self._plots[plot2].get("series"), "color": color})

    def signal(self, direction: str, price: float, qty: float, id: str | None = None) -> None:
        if self._stale():
            return
        side = str(direction).lower()
        task: dict[str, Any] = {"id": id or direction, "avgPrice": price, "qty": qty}
        if side in ("buy", "long"):
            task["direction"] = "long"
        elif side in ("sell", "short"):
            task["direction"] = "short"
        elif side in ("closesell", "closeshort", "closebuy", "closelong"):
            task.update(direction="close", closeDirection="short" if side in ("closesell", "closeshort")
                        else "long")
        else:
            return
        self._signals.append(task)

    def _bar_time(self) -> int:
        """The bar's Time; a bar without one (a hand-made dict) is stamped with the runtime clock."""
        time_ms = self._bar.get("Time") if isinstance(self._bar, dict) else None
        return int(time_ms) if isinstance(time_ms, (int, float)) else self._runtime.now_ms()

    def _stale(self) -> bool:
        return not isinstance(self._bar, dict) or self._bar_time() < self._last_time

    def _add(self, shape: dict[str, Any]) -> int | None:
        if self._stale():
            return None
        shape = {k: v for k, v in shape.items() if v is not None}
        shape.setdefault("overlay", self._overlay)
        if shape["type"] not in ("shape", "bgcolor", "barcolor"):
            title = shape.get("title") or ""
            if not title or title in self._titles:  # FMZ names untitled and repeated plots by position
                shape["title"] = f"<{title or 'plot'}_{len(self._plots)}>"
            self._titles.add(shape["title"])
        self._plots.append(shape)
        return len(self._plots) - 1

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def _pine_extras(more: dict[str, Any]) -> dict[str, Any]:
    keep = {"histbase": "histbase", "offset": "offset", "join": "join", "display": "display"}
    return {ours: more[theirs] for theirs, ours in keep.items() if theirs in more}


class Templates(types.SimpleNamespace):
    """The global `ext` that template libraries export into."""


class Runtime:
    """The FMZ runtime of one robot."""

    def __init__(self, *, clock: Clock, store: RobotStore, robot_id: int,
                 echo: Callable[[str], None] | None = None) -> None:
        self.clock = clock
        self.store = store
        self.robot_id = robot_id
        self.exchanges: list[Any] = []
        self.echo = echo
        self.commands: deque[str] = deque()
        self.last_error = ""
        self.retry_delay_ms = DEFAULT_RETRY_DELAY_MS
        self.order_log_enabled = True
        self.error_filters: list[re.Pattern[str]] = []
        self.params: dict[str, Any] = {}
        self.latency_ms = 0  # virtual time each call takes in a backtest (--latency)
        self.events = EventQueue(clock.now_ns)  # what EventLoop returns (paper and live)
        self.connections: list[Any] = []  # Dial()ed connections, closed at the end of the run
        self.on_push: Callable[[str], None] | None = None  # `Log("...@")` in paper/live: the notifier
        self._said_once: set[str] = set()

    # --- time ---
    def now_ms(self) -> int:
        return self.clock.now_ns() // 1_000_000

    # --- LogSink ---
    def log(self, log_type: int, message: str, *, exchange_index: int | None = None,
            order_id: str = "", price: float = 0.0, amount: float = 0.0) -> None:
        if log_type in (LOG_TYPE_BUY, LOG_TYPE_SELL, LOG_TYPE_CANCEL) and not self.order_log_enabled:
            return
        text, color, push, _private = parse_markers(str(message))
        self.store.append_log(log_type, text, self.now_ms(), eid=exchange_index, order_id=order_id,
                              price=price, amount=amount, color=color, push=push)
        if push and self.on_push is not None and not self.clock.is_virtual:
            self.on_push(text)
        if self.echo is not None:
            stamp = _dt.datetime.fromtimestamp(self.now_ms() / 1000, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
            where = f" [{exchange_index}]" if exchange_index is not None else ""
            self.echo(f"{stamp} {_LOG_TYPE_NAMES.get(log_type, log_type)}{where} {text}")

    def error(self, message: str, *, exchange_index: int | None = None) -> None:
        self.last_error = message
        if any(p.search(message) for p in self.error_filters):
            return
        self.log(LOG_TYPE_ERROR, message, exchange_index=exchange_index)

    # --- commands (dashboard buttons, tests) ---
    def send_command(self, command: str) -> None:
        self.commands.append(str(command))

    # --- the globals ---
    def build_globals(self, sources: Iterable[str] | None = None) -> dict[str, Any]:
        """The FMZ globals. `sources`: the strategy's and its templates' text; the real `talib` (numpy and
        pandas with it: ~60 MB, ~1 s) is imported here, before a backtest swaps in virtual time, only when
        one names it. None (no sources known) imports it as FMZ injects it."""
        rt = self
        g: dict[str, Any] = dict(core.CONSTANTS)
        g.update(
            true=True, false=False, null=None, json=json, time=time, math=math,
            exchanges=self.exchanges, exchange=self.exchanges[0] if self.exchanges else None,
            ext=Templates(), TA=TA,
            Log=self.Log, LogStatus=self.LogStatus, LogProfit=self.LogProfit,
            LogProfitReset=self.LogProfitReset, LogReset=self.LogReset, LogVacuum=self.LogVacuum,
            EnableLog=self.EnableLog, SetErrorFilter=self.SetErrorFilter,
            Chart=lambda config: ChartHandle(rt, config),
            KLineChart=lambda options=None: KLineChartHandle(rt, options),
            Sleep=self.Sleep, _G=self._G, _D=self._D, _N=_N, _C=self._C, _CDelay=self._CDelay,
            _Cross=_Cross, Unix=self.Unix, UnixNano=self.UnixNano, Version=lambda: VERSION,
            IsVirtual=lambda: bool(rt.clock.is_virtual), GetOS=_get_os, GetPid=os.getpid,
            GetLastError=self.GetLastError, MD5=lambda s: hashlib.md5(_bytes(s)).hexdigest(),
            UUID=lambda: str(uuid.uuid4()), JSONParse=json.loads, GetMeta=lambda: None,
            DBExec=lambda sql, *params: to_struct(rt.store.execute(sql, params)),
            Encode=Encode, Mail=self.Mail, Mail_Go=lambda *a: Ready(self.Mail(*a)),
            HttpQuery=self.HttpQuery, HttpQuery_Go=self.HttpQuery_Go, Dial=self.Dial,
            EventLoop=self.EventLoop,
            GetCommand=self.GetCommand, SetChannelData=lambda data: None,
            GetChannelData=lambda token=None: None, StrDecode=_str_decode, SysInfo=lambda attr=None: None,
        )
        wanted = sources is None or any(_NAMES_TALIB.search(text) for text in sources)
        g["talib"] = _talib() if wanted else TalibNotLoaded("talib")
        return g

    # --- logging ---
    def Log(self, *args: Any) -> None:
        self.log(LOG_TYPE_LOG, join_args(args))

    def LogStatus(self, *args: Any) -> None:
        self.store.set_status(status_text(args))

    def LogProfit(self, profit: float, *args: Any) -> None:
        text, _color, _push, chart_only = parse_markers(join_args(args))
        self.store.append_profit(self.now_ms(), float(profit), text)
        if not chart_only:
            self.log(LOG_TYPE_PROFIT, (f"{profit} {text}".strip()), price=float(profit))

    def LogProfitReset(self, remain: int = 0) -> None:
        self.store.reset_profit(remain)

    def LogReset(self, remain: int = 0) -> None:
        self.store.reset_log(remain)

    def LogVacuum(self) -> None:
        self.store.vacuum()

    def EnableLog(self, enabled: bool = True) -> None:
        self.order_log_enabled = bool(enabled)

    def SetErrorFilter(self, pattern: str) -> None:
        if not pattern:
            self.error_filters.clear()
        else:
            self.error_filters.append(re.compile(pattern))

    def GetLastError(self) -> str:
        error, self.last_error = self.last_error, ""
        return error

    # --- time ---
    def Sleep(self, ms: float) -> None:
        self.clock.sleep(float(ms))

    def Unix(self) -> int:
        return self.clock.now_ns() // 1_000_000_000

    def UnixNano(self) -> int:
        return self.clock.now_ns()

    def _D(self, timestamp: float | None = None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        seconds = self.clock.now_ns() / 1e9 if timestamp is None else float(timestamp)
        if seconds > 1e11:  # tolerate JavaScript-style milliseconds
            seconds /= 1000
        return _dt.datetime.fromtimestamp(seconds).strftime(fmt)

    # --- retry ---
    def _C(self, fn: Callable[..., Any], *args: Any) -> Any:
        while True:
            result = fn(*args)
            if not _is_failure(result):
                return result
            self.Sleep(self.retry_delay_ms)

    def _CDelay(self, ms: float) -> None:
        self.retry_delay_ms = float(ms)

    # --- _G ---
    def _G(self, *args: Any) -> Any:
        if not args:
            return self.robot_id
        key = args[0]
        if key is None:
            self.store.kv_clear()
            return None
        key = str(key).lower()
        if len(args) == 1:
            return to_struct(self.store.kv_get(key))
        if args[1] is None:
            self.store.kv_delete(key)
            return None
        try:
            self.store.kv_set(key, args[1])
        except (TypeError, ValueError) as exc:
            raise TypeError(f"_G({key!r}, ...): the value must be JSON data (dict, list, str, number, "
                            f"bool): {exc}") from None
        return None

    # --- commands / events / net stubs ---
    def GetCommand(self) -> str:
        """The next queued command, or '' when none (FMZ's own Python backtest returns '')."""
        self.clock.check()
        if self.latency_ms and self.clock.is_virtual:  # a loop that only polls commands must move time
            self.clock.advance(self.latency_ms * 1_000_000)
        return self.commands.popleft() if self.commands else ""

    def _once(self, key: str, log_type: int, message: str) -> None:
        if key not in self._said_once:
            self._said_once.add(key)
            self.log(log_type, message)

    def EventLoop(self, timeout_ms: float | None = None) -> Struct | None:
        """Paper/live: the next event of a finished Go() task, a Dial() message or (fmz_compat live) a
        streamed book's moved top ("Book", see fmz_compat.net.EventQueue), None after the timeout.
        Backtest: FMZ's backtester has no event loop ("sandbox not support EventLoop"); here the timeout
        passes on the virtual clock and None comes back, so a loop around it moves."""
        if self.clock.is_virtual:
            self._once("EventLoop", LOG_TYPE_ERROR, "EventLoop: not supported in a backtest (as FMZ's "
                       "backtester); it sleeps its timeout and returns None")
            self.Sleep(float(timeout_ms) if timeout_ms and timeout_ms > 0 else 1000)
            return None
        self.clock.check()
        self.events.listening = True
        return self.events.take(timeout_ms)

    def go_done(self, exchange: Any, method: str) -> None:
        """An exchange.Go() task finished: an event for EventLoop (paper and live)."""
        if not self.clock.is_virtual:
            index = next((i for i, e in enumerate(self.exchanges) if e is exchange), 0)
            self.events.post(f"Exchange_{method}", index)

    def book_moved(self, exchange: Any, symbol: str, bid: float, ask: float, time_ms: int) -> None:
        """A streamed book's top moved (an exchange's feed thread): a "Book" event for EventLoop (live)."""
        if not self.clock.is_virtual:
            index = next((i for i, e in enumerate(self.exchanges) if e is exchange), 0)
            self.events.post_book(index, symbol, bid, ask, time_ms)

    def Mail(self, *args: Any) -> bool:
        if self.clock.is_virtual:
            return True  # FMZ's backtester: Mail() succeeds and sends nothing
        self.log(LOG_TYPE_LOG, "Mail() is not sent by fmz_compat (no SMTP configured)")
        return False

    def HttpQuery(self, url: str = "", *args: Any) -> Any:
        """Paper/live: a real request (FMZ's options, see fmz_compat.net); None and an error line on
        failure. Backtest: "dummy", as FMZ's backtester answers every HttpQuery."""
        if self.clock.is_virtual:
            self._once("HttpQuery", LOG_TYPE_LOG, "HttpQuery: a backtest answers \"dummy\" (as FMZ's "
                       f"backtester) without a request: {redact(url)}")
            return "dummy"
        try:
            return to_struct(http_query(str(url), http_options(args)))
        except Exception as exc:  # requests' errors: FMZ logs them and returns None
            self.error(f"HttpQuery {redact(url)}: {type(exc).__name__}: {redact(str(exc))}")
            return None

    def HttpQuery_Go(self, url: str = "", *args: Any) -> Any:
        if self.clock.is_virtual:
            return Ready(self.HttpQuery(url, *args))
        return AsyncCall(lambda: self.HttpQuery(url, *args), lambda: self.events.post("HttpQuery"))

    def Dial(self, address: str = "", timeout: Any = None) -> Any:
        """Paper/live: a real connection (websocket, sqlite3), None and an error line when it fails.
        Backtest: None and an error line, as FMZ's backtester ("sandbox not support Dial")."""
        if self.clock.is_virtual:
            self.error(f"Dial: not supported in a backtest (as FMZ's backtester): {redact(address)}")
            return None
        index = len(self.connections)
        try:
            connection = dial(str(address), timeout, lambda: self.events.post("Dial", index))
        except Exception as exc:
            self.error(f"Dial {redact(address)}: {type(exc).__name__}: {redact(str(exc))}")
            return None
        self.connections.append(connection)
        return connection

    def close_connections(self) -> None:
        for connection in self.connections:
            try:
                connection.close()
            except Exception:
                pass
        self.connections.clear()


class MissingTalib(types.ModuleType):
    """FMZ injects `talib` always; without TA-Lib its first use fails, here in one line with the fix."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        from fmz_compat.source_check import install_command

        raise ImportError(f"talib.{name}: TA-Lib is not installed: {install_command('talib')}")


_NAMES_TALIB = re.compile(r"\btalib\b")


class TalibNotLoaded(types.ModuleType):
    """`talib` for a strategy whose source never names it (reached dynamically): the real module is not
    imported for every run, and importing it at first use would load pandas under the virtual clock."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(f"talib.{name}: talib is loaded only for a strategy or template whose source "
                          "names it, and this one reaches it dynamically: add `import talib` to the strategy")


def _talib() -> types.ModuleType:
    try:
        import talib  # type: ignore[import-not-found]
    except ImportError:
        return MissingTalib("talib")
    return talib


def _is_failure(result: Any) -> bool:
    """_C retries on None, False and numeric 0; an empty list is a valid answer ("nothing there")."""
    if result is None or result is False:
        return True
    return isinstance(result, (int, float)) and not isinstance(result, bool) and result == 0


def _get_os() -> str:
    machine = platform.machine().lower().replace("x86_64", "amd64").replace("aarch64", "arm64")
    return f"{sys.platform}/{machine}"


def _N(value: float, digits: int = 4) -> float:
    """Truncate toward zero to `digits` decimals; negative digits zero digits left of the point."""
    try:
        number = Decimal(repr(float(value)))
    except (InvalidOperation, ValueError, TypeError):
        return value
    if not number.is_finite():
        return float(number)
    quantum = Decimal(1).scaleb(-int(digits))
    return float((number / quantum).to_integral_value(rounding=ROUND_DOWN) * quantum)


def _Cross(a: Sequence[float | None], b: Sequence[float | None]) -> int:
    """Bars since the last cross: >0 a crossed above b, <0 a crossed below b, 0 none."""
    if len(a) != len(b):
        raise ValueError("_Cross: arrays must have the same length")
    count = 0
    for x, y in zip(reversed(a), reversed(b), strict=True):
        if x is None or y is None or (isinstance(x, float) and math.isnan(x)) \
                or (isinstance(y, float) and math.isnan(y)):
            break
        if x > y:
            if count < 0:
                break
            count += 1
        elif x < y:
            if count > 0:
                break
            count -= 1
        else:
            break
    return count


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def _decode_input(fmt: str, data: Any) -> bytes:
    fmt = (fmt or "raw").lower()
    if fmt == "hex":
        return binascii.unhexlify(str(data))
    if fmt == "base64":
        return base64.b64decode(str(data))
    return _bytes(data)


def _encode_output(fmt: str, data: bytes) -> str:
    fmt = (fmt or "raw").lower()
    if fmt == "hex":
        return data.hex()
    if fmt == "base64":
        return base64.b64encode(data).decode("ascii")
    return data.decode("utf-8", errors="replace")


_HASHES = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512",
           "sha224": "sha224"}


def Encode(algo: str, input_format: str, output_format: str, data: Any,
           key_format: str | None = None, key: Any = None) -> str:
    """FMZ Encode: raw/hex/base64 conversion, hashes, and HMAC when a key is given."""
    payload = _decode_input(input_format, data)
    name = str(algo).lower()
    if name in ("raw", "string"):
        digest = payload
    elif name in _HASHES:
        if key is not None:
            digest = hmac.new(_decode_input(key_format or "raw", key), payload, _HASHES[name]).digest()
        else:
            digest = hashlib.new(_HASHES[name], payload).digest()
    else:
        raise ValueError(f"Encode: unsupported algorithm {algo!r} (use raw, md5, sha1, sha256, sha512)")
    return _encode_output(output_format, digest)


def _str_decode(value: Any, encoding: str = "gbk") -> str:
    if isinstance(value, bytes):
        return value.decode(encoding, errors="replace")
    return str(value)
