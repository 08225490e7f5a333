"""The FMZ exchange object (`exchange`, `exchanges[i]`) as every backend shows it: the simulator
(`fmz_compat.sim.exchange`), real venues through ccxt (`fmz_compat.live`) and the venue server's client
(`fmz_compat.remote`) build on `FmzExchangeObject` and the argument parsing here, so the FMZ-side
behaviour is written once and no backend imports another.

FMZ semantics throughout: failures return None and write an error row (GetLastError), "nothing there"
is [], every struct is a `Struct` with an attribute-accessible `Info`.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import parse_qsl

from fmz_compat.core import Struct

DIRECTIONS = ("buy", "sell", "closebuy", "closesell")


class CallFailed(Exception):
    """A call failed with this error line (already venue/FMZ formatted); the exchange object logs it
    and returns None."""


class AsyncResult:
    """What `exchange.Go` returns: `wait()` gives (value, True) once, then (None, False).

    `last_outcome_unknown`: that call's own verdict (fmz_compat's extension, as on the exchange object: True
    unknown, False answered, None not told), read right after the call on the thread that made it, so a
    call running on another thread meanwhile cannot change it; None until wait() has given the value.
    `synchronous`: the call ran before Go returned (the simulator, the venue server's client)."""

    synchronous = True

    def __init__(self, value: Any, last_outcome_unknown: bool | None = None) -> None:
        self._value = value
        self._taken = False
        self.last_outcome_unknown = last_outcome_unknown

    def wait(self, timeout: float | None = None) -> tuple[Any, bool]:
        del timeout
        if self._taken:
            return None, False
        self._taken = True
        return self._value, True


class PendingCall(AsyncResult):
    """`exchange.Go` on a live exchange: the call runs on the Go pool's thread; wait(timeout ms) gives
    (value, True) once it has finished (None or a negative timeout: until it has), (None, False) when the
    timeout passes first (wait again later) or the value was taken. An exception the call raised is raised
    by wait()."""

    synchronous = False

    def __init__(self, future: Future[tuple[Any, bool | None]]) -> None:
        super().__init__(None)
        self._future = future

    def wait(self, timeout: float | None = None) -> tuple[Any, bool]:
        if self._taken:
            return None, False
        try:
            value, verdict = self._future.result(None if not timeout or timeout < 0 else timeout / 1000)
        except FutureTimeout:
            return None, False
        self._taken = True
        self.last_outcome_unknown = verdict
        return value, True


GO_THREADS = 8  # exchange.Go's pool on live exchanges: calls on different venues run side by side
_go_pool: ThreadPoolExecutor | None = None
_go_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _go_pool
    with _go_pool_lock:
        if _go_pool is None:
            _go_pool = ThreadPoolExecutor(GO_THREADS, thread_name_prefix="exchange.Go")
        return _go_pool


class FmzExchangeObject:
    """The FMZ-side state every exchange object keeps the same way, whatever backs it (the simulator
    in sim/exchange.py, ccxt in live.py, the venue server in remote.py): name, label, pair, contract
    type, direction, last raw answer, Go().

    Subclasses set _name, _label, _currency, _contract, _direction and _raw, and provide
    `_fail(method, message)` and `GetPositions`.
    """

    _name: str
    _label: str
    _currency: str
    _contract: str
    _direction: str
    _raw: Any

    def _fail(self, method: str, message: str) -> None:
        raise NotImplementedError

    def _split_symbol(self, symbol: str | None, futures: bool = True) -> tuple[str, str]:
        """(pair, contract type) named by a symbol argument as FMZ reads it: '' is the current pair and
        contract, "BTC_USDT.swap" both, "BTC_USDT" that pair on the current contract (swap when none is set).
        Whether the contract is one the backend has is the backend's to say."""
        if symbol is None or symbol == "":
            if futures and not self._contract:
                raise CallFailed("contract type is not set: call SetContractType(\"swap\") first or pass a "
                                 "full symbol such as \"BTC_USDT.swap\"")
            pair, ct = self._currency, self._contract
        elif not isinstance(symbol, str):
            raise CallFailed(f"invalid symbol {symbol!r}")
        else:
            pair, _, ct = symbol.partition(".")
            pair = pair.upper()
            if futures and not ct:
                ct = self._contract or "swap"
        base, sep, quote = pair.partition("_")
        if not sep or not base or not quote:
            raise CallFailed(f"invalid symbol {symbol!r}: use BASE_QUOTE such as BTC_USDT")
        return pair, ct

    def _classic_direction(self, method: str) -> str:
        """The futures order side `Buy`/`Sell` send under the direction SetDirection chose: Buy opens a long
        or closes a short, Sell the reverse; any other pairing is FMZ's error."""
        allowed = ("buy", "closesell") if method == "Buy" else ("sell", "closebuy")
        if self._direction not in allowed:
            raise CallFailed(f"direction is {self._direction}, invalid order type {method}")
        return self._direction

    def GetPositions(self, symbol: str = "") -> list[Struct] | None:
        raise NotImplementedError

    def _classic(self, method: str, price: float, amount: float, args: tuple[Any, ...]) -> str | None:
        """Buy/Sell: an order on the current pair in the direction set by SetDirection."""
        raise NotImplementedError

    def Buy(self, price: float, amount: float, *args: Any) -> str | None:
        return self._classic("Buy", price, amount, args)

    def Sell(self, price: float, amount: float, *args: Any) -> str | None:
        return self._classic("Sell", price, amount, args)

    # --- identity -----------------------------------------------------------------------------
    def GetName(self) -> str:
        return self._name

    def GetLabel(self) -> str:
        return self._label

    def GetCurrency(self) -> str:
        return self._currency

    def GetBaseCurrency(self) -> str:
        return self._currency.split("_")[0]

    def GetQuoteCurrency(self) -> str:
        return self._currency.split("_")[1]

    def SetCurrency(self, currency: str) -> None:
        if not isinstance(currency, str) or currency.count("_") != 1:
            self._fail("SetCurrency", f"invalid currency {currency!r}: use BASE_QUOTE such as ETH_USDT")
            return None
        self._currency = currency.upper()
        return None

    def GetContractType(self) -> str:
        return self._contract

    def SetDirection(self, direction: str) -> None:
        if direction not in DIRECTIONS:
            self._fail("SetDirection", f"invalid direction {direction!r}: use buy, sell, closebuy, closesell")
            return None
        self._direction = direction
        return None

    def GetDirection(self) -> str:
        return self._direction

    def GetRawJSON(self) -> str:
        if isinstance(self._raw, str):
            return self._raw
        try:
            return json.dumps(self._raw)
        except (TypeError, ValueError):
            return ""

    def GetPosition(self, symbol: str = "") -> list[Struct] | None:
        return self.GetPositions(symbol)

    # exchange.Go runs the call on a thread of its pool (True: live exchanges, where calls wait on the
    # network; each object's calls still run one at a time, under its own lock) or at once, before Go returns
    # (False: the simulator and the venue server's client, whose runs must replay exactly)
    go_concurrent = False

    def Go(self, method: str, *args: Any) -> AsyncResult:
        fn = getattr(self, method, None)
        if fn is None or method.startswith("_") or not callable(fn):
            self._fail("Go", f"unknown method {method!r}")
            return AsyncResult(None)
        listener = getattr(self, "go_listener", None)  # the runtime's EventLoop queue (paper, live)
        if self.go_concurrent:
            def run() -> tuple[Any, bool | None]:
                value = fn(*args)
                return value, getattr(self, "last_outcome_unknown", None)  # this thread's verdict

            future = _pool().submit(run)
            if listener is not None:
                future.add_done_callback(lambda _done: listener(self, method))
            return PendingCall(future)
        result = AsyncResult(fn(*args), getattr(self, "last_outcome_unknown", None))
        if listener is not None:
            listener(self, method)
        return result


class Records(list):
    """GetRecords result: a list of Record structs with flat column views (.Close, ...).

    The columns are numpy float64 arrays when numpy is installed (TA-Lib refuses lists), plain lists
    otherwise, as FMZ's MyList gives them."""

    def _col(self, name: str) -> Any:
        values = [r[name] for r in self]
        numpy = _numpy()
        return values if numpy is None else numpy.array(values, dtype="float64")

    @property
    def Time(self) -> list[float]:
        return self._col("Time")

    @property
    def Open(self) -> list[float]:
        return self._col("Open")

    @property
    def High(self) -> list[float]:
        return self._col("High")

    @property
    def Low(self) -> list[float]:
        return self._col("Low")

    @property
    def Close(self) -> list[float]:
        return self._col("Close")

    @property
    def Volume(self) -> list[float]:
        return self._col("Volume")


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def parse_side(side: Any) -> tuple[str, dict[str, Any]]:
    """CreateOrder's side argument: "buy" or "buy;{json options}" / "buy;k=v&..." -> (side, options)."""
    if not isinstance(side, str):
        raise CallFailed(f"invalid side {side!r}")
    raw, _, extra = side.partition(";")
    opts: dict[str, Any] = {}
    extra = extra.strip()
    if extra.startswith("{"):
        try:
            parsed = json.loads(extra)
        except ValueError:
            raise CallFailed(f"invalid order options {extra!r}: not JSON") from None
        if isinstance(parsed, dict):
            opts.update(parsed)
    elif extra:
        opts.update(dict(parse_qsl(extra)))
    return raw.strip().lower(), opts


def records_args(args: tuple[Any, ...], kwargs: dict[str, Any], default_period: int) -> tuple[str, int, int]:
    """GetRecords' arguments as FMZ takes them: ([symbol,] [period s,] [limit]) or keywords."""
    symbol, period, limit = "", default_period, 0
    rest = list(args)
    if rest and not (isinstance(rest[0], int | float) and not isinstance(rest[0], bool)):
        symbol = rest.pop(0) or ""
    if rest:
        period = int(rest.pop(0) or default_period)
    if rest:
        limit = int(rest.pop(0) or 0)
    return (kwargs.get("symbol", symbol), int(kwargs.get("period", period)), int(kwargs.get("limit", limit)))
