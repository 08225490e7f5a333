"""The simulator's FMZ exchange object (`exchange`, `exchanges[i]`) on top of a simulated venue account.

FMZ semantics throughout (fmz_compat/exchange.py): failures return None and write an error row
(GetLastError), "nothing there" is [], every struct is a `Struct` with an attribute-accessible `Info`.
Each call first checks the clock (EOFError at the end of a backtest window), lets the configured
latency pass on a virtual clock and advances the simulated world to the current time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fmz_compat.core import (
    LOG_TYPE_BUY,
    LOG_TYPE_CANCEL,
    LOG_TYPE_SELL,
    ORDER_OFFSET_CLOSE,
    ORDER_OFFSET_OPEN,
    ORDER_STATE_PENDING,
    ORDER_TYPE_BUY,
    ORDER_TYPE_SELL,
    PD_LONG,
    PD_SHORT,
    ExchangeBinding,
    Struct,
    to_struct,
    truthy,
)
from fmz_compat.exchange import (
    DIRECTIONS,
    CallFailed,
    FmzExchangeObject,
    Records,
    parse_side,
    records_args,
)
from fmz_compat.sim import delivery, raw_info
from fmz_compat.sim.account import DEFAULT_LEVERAGE, Account, Order, VenueError
from fmz_compat.sim.api_endpoints import dispatch
from fmz_compat.sim.bars import BarSeries
from fmz_compat.sim.params import known_coins
from fmz_compat.sim.world import SimWorld, build_book

SUPPORTED_CONTRACTS = ("swap", *delivery.ALIASES)  # dated ones on the venues that list them (sim/delivery.py)
_MODE_SWITCHES = {"cross", "dual", "simulate", "unified", "trade_margin", "trade_super_margin",
                  "trade_normal", "mbase", "base", "websocket", "status", "rest", "signHost"}
_TIMEOUT_MESSAGE = ("Post \"{url}\": context deadline exceeded "
                    "(Client.Timeout exceeded while awaiting headers)")
_DOWN_MESSAGE = "Get \"{url}\": dial tcp: connect: connection refused"
_REFUSED = {
    "binance": '{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}',
    "bybit": '{"retCode":10016,"retMsg":"Service is busy, please try again later."}',
    "okx": '{"code":"50001","msg":"Service temporarily unavailable. Please try again later"}',
    "coinex": '{"code":3008,"message":"Service busy, please try again later"}',
    "bitmex": '{"error":{"message":"The system is currently overloaded. Please try again later.",'
              '"name":"HTTPError"}}',
}
# refuse_definite: each venue's answer refusing an order for want of margin, a definite rejection in ccxt
# 4.5.83's exception maps (python/ccxt/<venue>.py "exceptions"): Binance linear -2019 InsufficientFunds,
# Bybit 110007 InsufficientFunds, OKX 51008 InsufficientFunds, CoinEx 3109 InsufficientFunds, BitMEX broad
# "Account has insufficient Available Balance" InsufficientFunds; fmz_compat/live.py logs such an answer as
# "rejected (<ccxt class>): <venue's answer>" and says last_outcome_unknown False
_REFUSED_DEFINITE = {
    "binance": '{"code":-2019,"msg":"Margin is insufficient."}',
    "bybit": '{"retCode":110007,"retMsg":"ab not enough for new order","result":{},"retExtInfo":{}}',
    "okx": '{"code":"1","data":[{"clOrdId":"","ordId":"","sCode":"51008","sMsg":"Order failed. Insufficient '
           'USDT margin in account","tag":""}],"msg":"All operations failed"}',
    "coinex": '{"code":3109,"data":{},"message":"balance not enough"}',
    "bitmex": '{"error":{"message":"Account has insufficient Available Balance, 1000 XBt required",'
              '"name":"ValidationError"}}',
}
# An order above the venue's maximum order size (world.set_max_qty; GetMarkets' MaxQty): each venue's answer
# and the class ccxt 4.5.83 maps its code to (python/ccxt/<venue>.py "exceptions"), a definite rejection
# fmz_compat/live.py logs as "rejected (<class>): <answer>". Binance USDⓈ-M -4005 "Quantity greater than max
# quantity." (QTY_GREATER_THAN_MAX_QTY; ccxt BadRequest), above LOT_SIZE / MARKET_LOT_SIZE maxQty; OKX 51202
# "Market order amount exceeds the maximum amount." (ccxt InvalidOrder), above maxMktSz; Bybit 10001, V5's
# parameter error (ccxt BadRequest), with the message of ccxt's recorded 130006 answer "The number of
# contracts exceeds maximum limit allowed: too large"; CoinEx and BitMEX: no recorded answer at hand, a
# plain message (ccxt BadRequest) that names no venue code.
_TOO_LARGE = {
    "binance": ("BadRequest", '{"code":-4005,"msg":"Quantity greater than max quantity."}'),
    "okx": ("InvalidOrder", '{"code":"1","data":[{"clOrdId":"","ordId":"","sCode":"51202","sMsg":"Market '
                            'order amount exceeds the maximum amount.","tag":""}],"msg":"All operations '
                            'failed"}'),
    "bybit": ("BadRequest", '{"retCode":10001,"retMsg":"The number of contracts exceeds maximum limit '
                            'allowed: too large","result":{},"retExtInfo":{}}'),
    "coinex": ("BadRequest", "order amount above the market's maximum order size"),
    "bitmex": ("BadRequest", "order quantity above the instrument's maximum order size"),
}
_RATE_LIMITED = {  # HTTP 429 and each venue's own body (FMZ logs both and returns None)
    "binance": '429 Too Many Requests: {"code":-1003,"msg":"Too many requests; current limit of IP is 2400 '
               'requests per minute. Please use the websocket for live updates to avoid polling the API."}',
    "bybit": '429 Too Many Requests: {"retCode":10006,"retMsg":"Too many visits!"}',
    "okx": '429 Too Many Requests: {"msg":"Too Many Requests","code":"50011"}',
    "coinex": '429 Too Many Requests: {"code":4213,"message":"Rate limit triggered. Please try again '
              'later."}',
    "bitmex": '429 Too Many Requests: {"error":{"message":"Rate limit exceeded, retry in 1 seconds.",'
              '"name":"RateLimitError"}}',
}
# Finished orders one GetHistoryOrders call answers, per venue: (rows without a limit, the most a limit asks).
# Without a start time each venue lists only its newest rows, so a busy account pushes older orders off the
# page; fmz_compat/live.py asks the venues for the same pages (tests/fmz_compat/sim/test_history_pages.py).
# Binance GET /fapi/v1/allOrders: "limit Default 500; max 1000", "Otherwise most recent orders are returned"
# (developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/All-Orders).
# OKX GET /api/v5/trade/orders-history: 100 a request, at most and by default, as live.py and ccxt 4.5.83 ask
# it (OKX's own page is not in the stored docs; rdrr.io/cran/okxr: "covers about 7 days").
# Bybit GET /v5/order/history: "Limit for data size per page. [1, 50]. Default: 20"
# (bybit-exchange.github.io/docs/v5/order/order-list); live asks 50.
# CoinEx GET /v2/futures/finished-order: "limit ... Default is 10"
# (docs.coinex.com/api/v2/futures/order/http/list-finished-order); live asks 100.
# BitMEX GET /order: live asks 100 (at most 500).
HISTORY_PAGE: dict[str, tuple[int, int]] = {
    "binance": (500, 1000), "okx": (100, 100), "bybit": (50, 50), "coinex": (100, 100), "bitmex": (100, 500),
}
_HOSTS = {"binance": "https://fapi.binance.com", "bybit": "https://api.bybit.com",
          "okx": "https://www.okx.com", "coinex": "https://api.coinex.com",
          "bitmex": "https://www.bitmex.com"}


class _Unlisted(CallFailed):
    """A pair the simulated venue does not list. FMZ's calls on a pair the venue does not have return
    None (fmzquant/backtest_python fmz.py: SetCurrency only splits BASE_QUOTE, GetTicker returns None
    when the call fails); the line saying why is written once per exchange object and pair."""

    def __init__(self, pair: str, exchange_name: str) -> None:
        self.pair = pair
        base = pair.split("_")[0]
        if base in known_coins():
            why = (f"symbol {pair} is not listed on the simulated {exchange_name}: pass --symbols {pair} "
                   "(pairs the strategy names in a string are listed by themselves)")
        else:
            why = (f"{pair} is not a market on the simulated {exchange_name}: the simulator knows no coin "
                   f"{base}, so calls on {pair} return None, as FMZ's do for a pair the venue does not "
                   f"list (said once); --symbols {pair} trades an invented {base} market")
        super().__init__(why)


class _Rejected(CallFailed):
    """The venue answered, refusing the call: nothing of it can land later (the refuse_definite fault, an
    order above the maximum order size); `ccxt_class` is what ccxt maps the venue's answer to."""

    def __init__(self, message: str, ccxt_class: str = "InsufficientFunds") -> None:
        super().__init__(message)
        self.ccxt_class = ccxt_class


class Exchange(FmzExchangeObject):
    """One FMZ exchange object. Built by `fmz_compat.sim.create_world`, one per binding.

    `last_outcome_unknown`, as on fmz_compat.live's object, tells a failed call's outcome: False after a
    definite refusal (the refuse_definite fault: the venue answered, nothing can land later), None after
    every other call (FMZ says nothing: a None may be a refusal or a lost answer)."""

    last_outcome_unknown: bool | None = None

    def __init__(self, world: SimWorld, account: Account, binding: ExchangeBinding) -> None:
        self._world = world
        self._acc = account
        self._binding = binding
        self._index = account.index
        self._venue = account.venue
        self._futures = account.futures
        self._name = binding.eid
        self._label = binding.label or binding.eid
        self._currency = binding.currency.upper()
        self._contract = ""
        self._direction = "buy"
        self._rate = 1.0
        self._price_precision: int | None = None
        self._amount_precision: int | None = None
        self._max_bar_len = 1000
        self.period_s = 3600
        self._raw = ""
        self._base_url = _HOSTS[self._venue]
        self._feeds: dict[str, Any] = {}
        self._bar_series: dict[tuple[str, int], BarSeries] = {}
        self._pairs_cache: list[tuple[str, Any, str, str]] | None = None
        self._pairs_listed = (0, 0)
        self._swap_pairs: set[str] = set()  # _pairs_for without a symbol on a perpetual, and its key
        self._swap_pairs_listed: tuple[str, int, int] = ("", -1, -1)
        self._unlisted_said: set[str] = set()  # pairs whose "not a market here" line is already in the log

    # --- plumbing -----------------------------------------------------------------------------
    def _enter(self, method: str, status_page: bool = False) -> None:
        world = self._world
        clock = world.clock
        clock.check()
        latency = world.cfg.latency_ms
        if latency and getattr(clock, "is_virtual", False) and hasattr(clock, "advance"):
            clock.advance(latency * 1_000_000)
        now_ns = clock.now_ns()
        # most calls land on the step the last one did: world.advance would find nothing to do
        if not world.steps_on_grid or (now_ns // 1_000_000 - world.start_ms) // world.step_ms > world.k:
            world.advance(now_ns)
        faults = world.faults
        if faults and not status_page and faults.get(self._venue):  # fault_active's own first test
            if world.fault_active(self._venue, "down"):
                raise CallFailed(_DOWN_MESSAGE.format(url=self._base_url))
            if world.fault_active(self._venue, "rate_limit"):
                raise CallFailed(_RATE_LIMITED[self._venue])

    def _fail(self, method: str, message: str) -> None:
        self._world.log.error(f"{self._label} {method}: {message}", exchange_index=self._index)
        return None

    def _run(self, method: str, fn: Callable[[], Any], status_page: bool = False) -> Any:
        with self._world.lock:  # FMZ serialises API calls; strategies may call from threads
            self.last_outcome_unknown = None
            try:
                self._enter(method, status_page)
                return fn()
            except _Rejected as e:
                self.last_outcome_unknown = False
                return self._fail(method, f"rejected ({e.ccxt_class}): {e}")
            except _Unlisted as e:
                if e.pair in self._unlisted_said:  # said once: later calls fail quietly (GetLastError has it)
                    self._world.log.last_error = f"{self._label} {method}: {e}"
                    return None
                self._unlisted_said.add(e.pair)
                return self._fail(method, str(e))
            except (CallFailed, VenueError) as e:
                return self._fail(method, str(e))

    def _raw_json(self, info: Any) -> None:
        self._raw = info  # serialised on demand by GetRawJSON

    def _symbol(self, symbol: str | None) -> tuple[str, str]:
        """(instrument key, contract type) for a symbol argument; '' means the current pair and contract. The
        key is the pair for a perpetual (and on spot), the pair and expiry for a dated contract (the one the
        contract type names now: sim/delivery.py)."""
        pair, ct = self._split_symbol(symbol, self._futures)
        if self._futures and ct != "swap":
            return self._dated(pair, ct), ct
        if self._acc.quote(pair) is None and not self._world.list_pair(pair):
            raise _Unlisted(pair, self._name)
        return pair, ct

    def _dated(self, pair: str, ct: str) -> str:
        if ct not in SUPPORTED_CONTRACTS:
            raise CallFailed(f"contract type {ct!r} is not simulated (swap; this_week, next_week, quarter, "
                             "next_quarter where the venue lists them)")
        if not self._world.dated_contracts:
            raise CallFailed(f"contract type {ct!r} is not in a replay (only \"swap\")")
        if self._acc.quote(pair) is None and not self._world.list_pair(pair):
            raise _Unlisted(pair, self._name)
        try:
            return self._world.dated_key(self._acc, pair, ct)
        except ValueError as e:
            raise CallFailed(str(e)) from None

    def _fmz_symbol(self, pair: str) -> str:
        if "@" in pair:  # a dated contract: its FMZ contract type now (its YYMMDD once delivered)
            plain = delivery.split_key(pair)[0]
            return f"{plain}.{delivery.alias_of(self._venue, pair, self._world.now_ms())}"
        return f"{pair}.swap" if self._futures else pair

    def _contract_type(self, pair: str) -> str:
        if not self._futures:
            return ""
        return self._fmz_symbol(pair).rpartition(".")[2] if "@" in pair else "swap"

    def _order_id(self, order: Order) -> str:
        return f"{self._fmz_symbol(order.pair)},{order.n}"

    @staticmethod
    def _parse_id(order_id: Any) -> int:
        if isinstance(order_id, bool):
            raise CallFailed(f"invalid order id {order_id!r}")
        if isinstance(order_id, int):
            return order_id
        if isinstance(order_id, float) and order_id.is_integer():
            return int(order_id)
        if isinstance(order_id, str):
            raw = order_id.rsplit(",", 1)[-1].strip()
            if raw.isdigit():
                return int(raw)
        raise CallFailed(f"invalid order id {order_id!r}")

    def _px(self, x: float, prec: int) -> float:
        return round(x * self._rate, prec)

    def SetContractType(self, contract_type: str) -> Struct | None:
        def run() -> Struct:
            if not self._futures:
                raise CallFailed("SetContractType is for futures exchanges")
            key = self._symbol(f"{self._currency}.{contract_type}")[0]
            self._contract = contract_type
            native = self._acc.contract(key).native
            return to_struct({"InstrumentID": native, "instrument": native})
        return self._run("SetContractType", run)

    def SetMarginLevel(self, *args: Any) -> bool | None:
        def run() -> bool:
            if len(args) == 1:
                pair = self._symbol("")[0] if self._contract not in ("", "swap") else self._currency
                level = args[0]
            elif len(args) == 2:
                pair = self._symbol(args[0])[0]
                level = args[1]
            else:
                raise CallFailed("SetMarginLevel(level) or SetMarginLevel(symbol, level)")
            if not self._futures:
                raise CallFailed("SetMarginLevel is for futures exchanges")
            if not isinstance(level, int | float) or level < 1 or level > self._acc.spec.max_leverage:
                raise CallFailed(f"leverage {level!r} out of range 1..{self._acc.spec.max_leverage}")
            self._acc.leverage[pair] = int(level)
            return True
        return self._run("SetMarginLevel", run)

    def SetPrecision(self, price_precision: int, amount_precision: int) -> None:
        self._price_precision = int(price_precision)
        self._amount_precision = int(amount_precision)

    def SetRate(self, rate: float = 1.0) -> float:
        old = self._rate
        self._rate = float(rate)
        return old

    def GetRate(self) -> float:
        return self._rate

    def GetUSDCNY(self) -> float:
        return 7.2

    def SetMaxBarLen(self, n: int) -> None:
        self._max_bar_len = max(1, int(n))

    def GetPeriod(self) -> int:
        return self.period_s

    def SetBase(self, url: str) -> str:
        old = self._base_url
        self._base_url = url
        return old

    def GetBase(self) -> str:
        return self._base_url

    def SetProxy(self, proxy: str) -> None:
        return None

    def SetTimeout(self, ms: int) -> None:
        return None

    # --- market data --------------------------------------------------------------------------
    def _ticker(self, pair: str) -> Struct:
        q = self._acc.quote(pair)
        w = self._world
        if w.stale_possible:
            price, k = w.market_view(self._venue, q)
        else:
            price, k = q.price, w.k
        bid, ask = q.best_bid_ask(price)
        prec = q.prec
        hi, lo, open_ = self._day_range(q, price)
        time_ms = None if self._venue in w.untimed_books else w.start_ms + k * w.step_ms
        last = q.on_tick(price)
        hi, lo, open_ = q.on_tick(hi), q.on_tick(lo), q.on_tick(open_)
        if self._rate != 1.0:
            r = self._rate
            bid, ask, last = round(bid * r, prec), round(ask * r, prec), round(last * r, prec)
            hi, lo, open_ = round(hi * r, prec), round(lo * r, prec), round(open_ * r, prec)
        native = self._acc.contract(pair).native
        info = Struct({"symbol": native, "bidPrice": bid, "askPrice": ask, "lastPrice": last,
                       "markPrice": q.on_tick(q.mark), "time": time_ms})
        return Struct({"Symbol": self._fmz_symbol(pair), "High": hi, "Low": lo, "Sell": ask, "Buy": bid,
                       "Last": last, "Open": open_, "Volume": q.volume_24h, "Time": time_ms,
                       "OpenInterest": 0.0, "Info": info})

    @staticmethod
    def _day_range(q: Any, price: float) -> tuple[float, float, float]:
        """About-24h high/low/open: up to 24 whole hours, the current hour and the live bar."""
        hi = q.tk_hi if q.tk_hi > q.hi else q.hi
        lo = q.tk_lo if q.tk_lo < q.lo else q.lo
        return hi, lo, q.day_open

    def GetTicker(self, symbol: str = "") -> Struct | None:
        def run() -> Struct:
            t = self._ticker(self._symbol(symbol)[0])
            self._raw_json(t.Info)
            return t
        return self._run("GetTicker", run)

    def GetTickers(self) -> list[Struct] | None:
        def run() -> list[Struct]:
            w = self._world
            if self._rate != 1.0:
                return [self._ticker(pair) for pair, *_ in self._listing()]
            if w.stale_possible or w.untimed_books:
                return self._tickers_full()
            # fast path for many symbols: the same fields as GetTicker, computed inline
            time_ms = w.start_ms + w.k * w.step_ms
            floor, ceil = math.floor, math.ceil
            out = []
            for _pair, q, native, fmz_symbol in self._listing():
                scale = q.ticks_per_unit
                pt = q.price * scale
                half = pt * q.half_spread_frac
                if half < 0.5:
                    half = 0.5
                bid = floor(pt - half + 1e-9)
                ask = ceil(pt + half - 1e-9)
                if ask <= bid:
                    ask = bid + 1
                hi = q.tk_hi if q.tk_hi > q.hi else q.hi
                lo = q.tk_lo if q.tk_lo < q.lo else q.lo
                out.append(Struct({
                    "Symbol": fmz_symbol, "High": int(hi * scale + 0.5) / scale,
                    "Low": int(lo * scale + 0.5) / scale, "Sell": ask / scale, "Buy": bid / scale,
                    "Last": int(pt + 0.5) / scale, "Open": int(q.day_open * scale + 0.5) / scale,
                    "Volume": q.volume_24h, "Time": time_ms, "OpenInterest": 0.0,
                    "Info": Struct({"symbol": native}),
                }))
            return out
        return self._run("GetTickers", run)

    def _tickers_full(self) -> list[Struct]:
        """GetTickers when a venue's books may be stale or carry no Time: `_ticker` of every listed pair (at
        rate 1), computed inline (a chaos run asks this three times a turn)."""
        w = self._world
        stale = w.stale_possible
        view = w.market_view
        frozen = w._frozen_quotes  # market_view answers (q.price, w.k) for a quote not in it
        venue = self._venue
        untimed = venue in w.untimed_books
        start_ms, step_ms, k_now = w.start_ms, w.step_ms, w.k
        floor, ceil = math.floor, math.ceil
        out = []
        for _pair, q, native, fmz_symbol in self._listing():
            if stale and (q.market, q.pair) in frozen:
                price, k = view(venue, q)
            else:
                price, k = q.price, k_now
            scale = q.ticks_per_unit
            pt = price * scale
            half = pt * q.half_spread_frac
            if half < 0.5:
                half = 0.5
            bid = floor(pt - half + 1e-9)
            ask = ceil(pt + half - 1e-9)
            if ask <= bid:
                ask = bid + 1
            bid, ask = bid / scale, ask / scale
            hi = q.tk_hi if q.tk_hi > q.hi else q.hi
            lo = q.tk_lo if q.tk_lo < q.lo else q.lo
            time_ms = None if untimed else start_ms + k * step_ms
            last = int(pt + 0.5) / scale
            mark = int(q.mark * scale + 0.5) / scale
            info = Struct({"symbol": native, "bidPrice": bid, "askPrice": ask,
                           "lastPrice": last, "markPrice": mark, "time": time_ms})
            out.append(Struct({"Symbol": fmz_symbol, "High": int(hi * scale + 0.5) / scale,
                               "Low": int(lo * scale + 0.5) / scale, "Sell": ask, "Buy": bid, "Last": last,
                               "Open": int(q.day_open * scale + 0.5) / scale, "Volume": q.volume_24h,
                               "Time": time_ms, "OpenInterest": 0.0, "Info": info}))
        return out

    def _listing(self) -> list[tuple[str, Any, str, str]]:
        """(pair, quote, native symbol, FMZ symbol) of every instrument this account can trade."""
        listed = (len(self._world.quotes), self._world.dated_changes)
        if self._pairs_cache is None or self._pairs_listed != listed:
            self._pairs_listed = listed  # a pair listed on request since (list_pair), a dated one, a delivery
            key = self._acc.market_key
            self._pairs_cache = [(pair, q, self._acc.contract(pair).native, self._fmz_symbol(pair))
                                 for (market, pair), q in self._world.quotes.items() if market == key(pair)]
        return self._pairs_cache

    def GetDepth(self, symbol: str = "") -> Struct | None:
        def run() -> Struct:
            pair = self._symbol(symbol)[0]
            q = self._acc.quote(pair)
            price, k = self._world.market_view(self._venue, q)
            if k == self._world.k:
                bids, asks = self._world.book(q)
            else:
                bids, asks = build_book(q, price, k)
            spec = self._acc.contract(pair)
            prec = q.prec

            def units(base: float, p: float) -> float:
                if spec.inverse:
                    return math.floor(base * p / spec.ct_val)
                return round(base / spec.ct_val, spec.amount_precision + 3)
            depth = Struct({
                "Asks": [Struct({"Price": self._px(p, prec), "Amount": units(a, p)})
                         for p, a in asks if a > 0],
                "Bids": [Struct({"Price": self._px(p, prec), "Amount": units(a, p)})
                         for p, a in bids if a > 0],
                "Time": None if self._venue in self._world.untimed_books
                else self._world.start_ms + k * self._world.step_ms,
                "Info": Struct({"symbol": spec.native}),
            })
            return depth
        return self._run("GetDepth", run)

    def GetTrades(self, symbol: str = "") -> list[Struct] | None:
        def run() -> list[Struct]:
            pair = self._symbol(symbol)[0]
            q = self._acc.quote(pair)
            price, k = self._world.market_view(self._venue, q)
            bid, ask = q.best_bid_ask(price)
            t0 = self._world.start_ms + k * self._world.step_ms
            out = []
            for i in range(3):
                side = (k + i) % 2
                out.append(Struct({"Id": k * 10 + i, "Time": t0 - (2 - i) * 100,
                                   "Price": self._px(ask if side == 0 else bid, q.prec),
                                   "Amount": round(q.depth_base * 0.01 * (1 + i), 6),
                                   "Type": ORDER_TYPE_BUY if side == 0 else ORDER_TYPE_SELL}))
            return out
        return self._run("GetTrades", run)

    def GetRecords(self, *args: Any, **kwargs: Any) -> list | None:
        def run() -> Records:
            symbol, period, limit = records_args(args, kwargs, self.period_s)
            if period < 60 or period % 60:
                raise CallFailed(f"period {period} s is not simulated: use a multiple of 60 s (PERIOD_M1..)")
            pair = self._symbol(symbol)[0]
            return self._records(pair, period, limit)
        return self._run("GetRecords", run)

    def _records(self, pair: str, period: int, limit: int) -> Records:
        q = self._acc.quote(pair)
        w = self._world
        series = self._bar_series.get((pair, period))
        if series is None:
            series = BarSeries(q, period, w.start_ms, w.step_ms, w.cfg.seed)
            self._bar_series[(pair, period)] = series
        cap = min(self._max_bar_len, limit) if limit else self._max_bar_len
        r, prec = self._rate, q.prec
        return Records(Struct({"Time": int(t), "Open": round(o * r, prec), "High": round(h * r, prec),
                               "Low": round(lo * r, prec), "Close": round(c * r, prec), "Volume": v,
                               "OpenInterest": 0.0})
                       for t, o, h, lo, c, v in series.bars(cap))

    def _max_qty(self, pair: str) -> float:
        """The most contracts one order may be here (world.set_max_qty; 1e9 when none is set)."""
        return self._world.max_qty.get((self._venue, pair), 1e9)

    def GetMarkets(self) -> dict[str, Struct] | None:
        def run() -> dict[str, Struct]:
            out = {}
            for market, pair in self._world.quotes:
                if market != self._acc.market_key(pair):
                    continue
                spec = self._acc.contract(pair)
                base, quote = delivery.split_key(pair)[0].split("_")
                out[self._fmz_symbol(pair)] = to_struct({
                    "Symbol": spec.native, "BaseAsset": base, "QuoteAsset": quote,
                    "TickSize": spec.tick, "AmountSize": spec.amount_step,
                    "PricePrecision": spec.price_precision, "AmountPrecision": spec.amount_precision,
                    "MinQty": spec.min_qty, "MaxQty": self._max_qty(pair),
                    "MinNotional": spec.min_notional_at(self._world.now_ms()), "MaxNotional": 1e12,
                    "CtVal": spec.ct_val if self._futures else 1.0,
                    "CtValCcy": quote if spec.inverse else base,
                    "Info": {"symbol": spec.native, "ctVal": spec.ct_val, "tickSz": spec.tick,
                             "lotSz": spec.amount_step, "inverse": spec.inverse},
                })
            return out
        return self._run("GetMarkets", run)

    def GetFundings(self, symbol: str = "") -> list[Struct] | None:
        def run() -> list[Struct]:
            if not self._futures:
                raise CallFailed("GetFundings is for futures exchanges")
            pairs = [self._symbol(symbol)[0]] if symbol else [
                pair for market, pair in self._world.quotes if market == self._acc.market_key(pair)]
            out = []
            for pair in pairs:
                q = self._acc.quote(pair)
                f = q.funding
                if f is None:  # a dated contract: no funding
                    continue
                next_ms = self._world.start_ms + f.next_k * self._world.step_ms
                rate = f.predicted(self._world.k)
                out.append(to_struct({
                    "Symbol": self._fmz_symbol(pair), "Rate": rate, "Time": next_ms,
                    "Interval": f.interval_ms,
                    "Info": {"symbol": self._acc.contract(pair).native, "fundingRate": str(rate),
                             "nextFundingTime": next_ms},
                }))
            return out
        return self._run("GetFundings", run)

    # --- trading ------------------------------------------------------------------------------
    def _truncate(self, x: float, digits: int | None) -> float:
        if digits is None or x is None or x <= 0:
            return x
        f = 10 ** digits
        return math.floor(x * f + 1e-9) / f

    def _to_pair_precision(self, pair: str, side: str, price: float, amount: float) -> tuple[float, float]:
        """Price and amount cut toward zero to the pair's tick and amount step, as FMZ's order entry does:
        its syntax guide (exchange.SetPrecision) says the digits beyond the precision are ignored, and that
        the backtest system handles precision by itself. An amount cut to nothing is refused here, an
        amount under the minimum by the venue's check. A spot market buy's amount is quote money, left as
        given (the account checks it)."""
        try:
            spec = self._acc.contract(pair)
        except VenueError:
            return price, amount  # not a market: the account refuses it with its own message
        if price > 0:
            price = _cut_to_step(price, spec.tick)
        if price <= 0 and side == "buy" and not self._futures:
            return price, amount
        cut = _cut_to_step(amount, spec.amount_step)
        if amount > 0 and cut <= 0:
            raise CallFailed(f"amount {amount} is below the amount step {spec.amount_step:g}")
        return price, cut

    def _refusal(self, pair: str, amount: float) -> None:
        """The venue refuses the order: a refusal fault, or an amount above its maximum order size."""
        if self._world.fault_active(self._venue, "refuse_orders"):
            raise CallFailed(_REFUSED[self._venue])
        if self._world.fault_active(self._venue, "refuse_definite"):
            raise _Rejected(_REFUSED_DEFINITE[self._venue])
        if amount > self._max_qty(pair):
            ccxt_class, answer = _TOO_LARGE[self._venue]
            raise _Rejected(answer, ccxt_class)

    def _place(self, method: str, pair: str, side: str, price: Any, amount: Any, opts: dict[str, Any],
               log_args: tuple[Any, ...], keep_post_only: bool = False) -> str:
        """Place an order for CreateOrder/Buy/Sell/ModifyOrder; side is buy|sell|closebuy|closesell, opts
        the options after ';' in the side, read as the venue reads its order parameters."""
        try:
            price = float(price)
            amount = float(amount)
        except (TypeError, ValueError):
            raise CallFailed(f"invalid price {price!r} or amount {amount!r}") from None
        if not math.isfinite(price) or not math.isfinite(amount):
            raise CallFailed(f"invalid price {price!r} or amount {amount!r}")
        if price > 0:
            price = self._truncate(price, self._price_precision) / self._rate
        amount = self._truncate(amount, self._amount_precision)
        price, amount = self._to_pair_precision(pair, side, price, amount)
        self._refusal(pair, amount)
        close = side in ("closebuy", "closesell")
        exec_side = {"buy": "buy", "sell": "sell", "closebuy": "sell", "closesell": "buy"}[side]
        if close and not self._futures:
            raise CallFailed(f"side {side} is for futures; spot sides are buy and sell")
        if self._world.fault_active(self._venue, "drops_client_id"):
            opts = {k: v for k, v in opts.items() if k != VENUE_ORDER_PARAMS[self._venue].client_id}
        read = read_order_options(self._venue, opts, limit=price > 0)
        tif, post_only = read.tif, read.post_only or keep_post_only
        reduce_only = read.reduce_only or close
        if self._world.fault_active(self._venue, "timeout_lands_late"):
            request = {"pair": pair, "side": exec_side, "price": price, "amount": amount,
                       "reduce_only": reduce_only, "close": close, "tif": tif, "post_only": post_only}
            self._world.land_later(self._acc, request, read.client_id)
            raise CallFailed(_TIMEOUT_MESSAGE.format(url=self._base_url + "/order"))
        order = self._acc.place(pair, exec_side, price, amount, reduce_only=reduce_only, close=close,
                                tif=tif, post_only=post_only)
        order.client_id = read.client_id
        oid = self._order_id(order)
        log_type = LOG_TYPE_BUY if exec_side == "buy" else LOG_TYPE_SELL
        message = " ".join(str(a) for a in log_args)
        self._world.log.log(log_type, message, exchange_index=self._index, order_id=oid,
                            price=-1.0 if price <= 0 else price * self._rate, amount=amount)
        if self._world.fault_active(self._venue, "timeout_after_accept"):
            raise CallFailed(_TIMEOUT_MESSAGE.format(url=self._base_url + "/order"))
        self._raw_json({"orderId": order.n, "symbol": self._acc.contract(pair).native, "status": "NEW"})
        return oid

    def CreateOrder(self, symbol: str, side: str, price: float, amount: float, *args: Any) -> str | None:
        def run() -> str:
            raw_side, opts = parse_side(side)
            valid = DIRECTIONS if self._futures else ("buy", "sell")
            if raw_side not in valid:
                raise CallFailed(f"invalid side {side!r}: use {', '.join(valid)}")
            pair = self._symbol(symbol)[0]
            return self._place("CreateOrder", pair, raw_side, price, amount, opts, args)
        return self._run("CreateOrder", run)

    def _classic(self, method: str, price: float, amount: float, args: tuple[Any, ...]) -> str | None:
        def run() -> str:
            pair = self._symbol("")[0]
            if not self._futures:
                return self._place(method, pair, method.lower(), price, amount, {}, args)
            return self._place(method, pair, self._classic_direction(method), price, amount, {}, args)
        return self._run(method, run)

    def CancelOrder(self, order_id: Any, *args: Any) -> bool:
        def run() -> bool:
            n = self._parse_id(order_id)
            if self._world.fault_active(self._venue, "refuse_orders"):
                raise CallFailed(_REFUSED[self._venue])
            order = self._acc.cancel(n)
            self._world.log.log(LOG_TYPE_CANCEL, " ".join(str(a) for a in args), exchange_index=self._index,
                                order_id=self._order_id(order), price=order.price, amount=order.amount)
            if self._world.fault_active(self._venue, "timeout_after_accept"):
                raise CallFailed(_TIMEOUT_MESSAGE.format(url=self._base_url + "/order"))
            return True
        result = self._run("CancelOrder", run)
        return bool(result)

    def ModifyOrder(self, order_id: Any, side: str, price: float, amount: float, *args: Any) -> str | None:
        """Cancel and replace (the simulator's venues do not amend in place); returns the new id."""
        def run() -> str:
            n = self._parse_id(order_id)
            old = self._acc.orders.get(n)
            if old is None or old.status != ORDER_STATE_PENDING:
                raise CallFailed(f"order {order_id} is not open")
            raw_side, opts = parse_side(side)
            self._acc.cancel(n)
            self._world.log.log(LOG_TYPE_CANCEL, "modify", exchange_index=self._index,
                                order_id=self._order_id(old), price=old.price, amount=old.amount)
            return self._place("ModifyOrder", old.pair, raw_side, price, amount, opts, args,
                               keep_post_only=old.post_only)
        return self._run("ModifyOrder", run)

    def _order_info(self, order: Order, spec: Any, queried: bool) -> dict[str, Any]:
        if not self._futures:  # spot: Binance's spot order fields whatever the venue (not venue-shaped yet)
            return {"orderId": order.n, "symbol": spec.native, "side": order.side.upper(),
                    "price": order.price, "origQty": order.amount, "executedQty": order.filled,
                    "timeInForce": "GTX" if order.post_only else order.tif, "reduceOnly": order.reduce_only,
                    "fee": order.fee, "updateTime": order.time_ms,
                    raw_info.CLIENT_ID_FIELD[self._venue]: order.client_id}
        leverage = self._acc.leverage.get(order.pair, DEFAULT_LEVERAGE)
        view = raw_info.OrderView(
            n=order.n, client_id=order.client_id, side=order.side, price=order.price, amount=order.amount,
            filled=order.filled, avg_price=order.avg_price,
            cost=order.cost if spec.inverse else order.cost * spec.ct_val, fee=order.fee, tif=order.tif,
            post_only=order.post_only, reduce_only=order.reduce_only, status=order.status,
            time_ms=order.time_ms, leverage=leverage, isolated=not self._acc.cross,
            liquidation=order.origin == "liquidation", adl=order.origin == "adl")
        return raw_info.order_info(self._venue, view, spec, queried=queried)

    def _order_struct(self, order: Order, queried: bool = False) -> Struct:
        spec = self._acc.contract(order.pair)
        prec = spec.price_precision
        return to_struct({
            "Id": self._order_id(order), "Symbol": self._fmz_symbol(order.pair),
            "Price": -1 if order.price <= 0 else self._px(order.price, prec),
            "Amount": order.amount, "DealAmount": round(order.filled, 10),
            "AvgPrice": self._px(order.avg_price, prec + 4), "Status": order.status,
            "Type": ORDER_TYPE_BUY if order.side == "buy" else ORDER_TYPE_SELL,
            "Offset": ORDER_OFFSET_CLOSE if order.reduce_only else ORDER_OFFSET_OPEN,
            "ContractType": self._contract_type(order.pair), "Time": order.time_ms, "Condition": None,
            "Info": self._order_info(order, spec, queried),
        })

    def GetOrder(self, order_id: Any) -> Struct | None:
        def run() -> Struct:
            n = self._parse_id(order_id)
            order = self._acc.orders.get(n)
            if order is None:
                raise CallFailed({"binance": '{"code":-2013,"msg":"Order does not exist."}',
                               "okx": '{"code":"51603","msg":"Order does not exist"}'}.get(
                                   self._venue, f'{{"error":"order {n} does not exist"}}'))
            return self._order_struct(order, queried=True)
        return self._run("GetOrder", run)

    def _pairs_for(self, symbol: str) -> set[str] | None:
        """Instrument keys a GetOrders/GetPositions argument selects; None = all in this account. FMZ ranges:
        "USDT.swap" the USDT perpetuals, "USDT.futures" the USDT dated contracts; none, the range of the
        current pair and contract type."""
        if symbol and symbol.upper() in ("USDT.SWAP", "USD.SWAP"):
            quote = symbol.split(".")[0].upper()
            return {p for m, p in self._world.quotes if p.endswith("_" + quote) and
                    m == self._acc.market_key(p)}
        if symbol and symbol.upper() in ("USDT.FUTURES", "USD.FUTURES"):
            return self._dated_keys(symbol.split(".")[0].upper())
        if symbol:
            return {self._symbol(symbol)[0]}
        if self._futures:
            quote = self._currency.split("_")[1]
            if self._contract not in ("", "swap"):
                return self._dated_keys(quote)
            # every GetPositions of a hedge asks this: kept until a pair is listed, a dated one listed or
            # delivered, or the currency changes (the callers only test membership)
            listed = (quote, len(self._world.quotes), self._world.dated_changes)
            if self._swap_pairs_listed != listed:
                self._swap_pairs_listed = listed
                self._swap_pairs = {p for m, p in self._world.quotes
                                    if p.endswith("_" + quote) and m == self._acc.market_key(p)}
            return self._swap_pairs
        return {self._currency}

    def _dated_keys(self, quote: str) -> set[str]:
        """The dated contracts settled in `quote` this account holds or has orders in (delivered ones too)."""
        acc = self._acc
        tag = f"_{quote}@"
        return {k for k in (*acc.positions, *(o.pair for o in acc.orders.values())) if tag in k}

    def GetOrders(self, symbol: str = "") -> list[Struct] | None:
        def run() -> list[Struct]:
            pairs = self._pairs_for(symbol)
            return [self._order_struct(o) for o in self._acc.open.values()
                    if pairs is None or o.pair in pairs]
        return self._run("GetOrders", run)

    def GetHistoryOrders(self, *args: Any) -> list[Struct] | None:
        """FMZ GetHistoryOrders([symbol,] [since ms,] [limit]): one page of finished orders, oldest first, as
        the venues answer: without since the newest rows, with since the rows created from then on; at most
        the venue's page (HISTORY_PAGE: `limit` when smaller than its most, else its default)."""
        def run() -> list[Struct]:
            rest = list(args)
            symbol = rest.pop(0) if rest and isinstance(rest[0], str) else ""
            since = int(rest.pop(0) or 0) if rest else 0
            limit = int(rest.pop(0) or 0) if rest else 0
            default, most = HISTORY_PAGE[self._venue]
            page = min(limit, most) if limit > 0 else default
            pairs = self._pairs_for(symbol)
            done = [o for o in self._acc.orders.values() if o.status != ORDER_STATE_PENDING
                    and (pairs is None or o.pair in pairs) and o.time_ms >= since]
            done = done[:page] if since > 0 else done[-page:]
            return [self._order_struct(o) for o in done]
        return self._run("GetHistoryOrders", run)

    def GetPositions(self, symbol: str = "") -> list[Struct] | None:
        def run() -> list[Struct]:
            if not self._futures:
                raise CallFailed("GetPositions is for futures exchanges")
            pairs = self._pairs_for(symbol)
            out = []
            for pos in self._acc.positions.values():
                if pos.qty == 0.0 or (pairs is not None and pos.pair not in pairs):
                    continue
                out.append(self._position_struct(pos))
            return out
        return self._run("GetPositions", run)

    def _position_info(self, pos: Any, spec: Any, q: Any, upnl: float,
                       margin: float | None = None) -> dict[str, Any]:
        if margin is None:
            margin = self._acc.used_margin(pos)
        view = raw_info.PositionView(pos.qty, pos.entry, q.mark, q.price, upnl, margin, pos.leverage,
                                     pos.isolated, self._world.now_ms())
        return raw_info.position_info(self._venue, view, spec)

    def _position_struct(self, pos: Any) -> Struct:
        acc = self._acc
        pair = pos.pair
        q = acc.quote(pair)
        spec = acc.contract(pair)
        frozen = (sum(o.remaining for o in acc.open.values() if o.pair == pair and o.reduce_only)
                  if acc.open else 0)
        upnl = acc.upnl(pos)
        margin = acc.used_margin(pos)
        # the fields are scalars but Info; a position's Info is flat (raw_info's builders give scalars only),
        # so Struct(info) is what to_struct(info) gave
        return Struct({
            "Symbol": self._fmz_symbol(pair), "MarginLevel": pos.leverage, "Amount": abs(pos.qty),
            "FrozenAmount": frozen, "Price": round(pos.entry, spec.price_precision + 4), "Profit": upnl,
            "Type": PD_LONG if pos.qty > 0 else PD_SHORT, "ContractType": self._contract_type(pair),
            "Margin": margin,
            "Info": Struct(self._position_info(pos, spec, q, upnl, margin)),
        })

    def _account_info(self) -> Any:
        acc = self._acc
        now = self._world.now_ms()
        assets = []
        for asset in sorted(acc.balances):
            held = [p for p in acc.positions.values() if p.qty != 0.0 and acc.settle_asset(p.pair) == asset]
            assets.append(raw_info.AssetView(
                asset=asset, wallet=acc.balances[asset], equity=acc.equity(asset),
                available=acc.available(asset),
                upnl=sum(acc.upnl(p) for p in held), position_margin=sum(acc.used_margin(p) for p in held),
                order_margin=sum(o.margin for o in acc.open.values() if acc.settle_asset(o.pair) == asset),
                time_ms=now))
        positions = [self._position_info(p, acc.contract(p.pair), acc.quote(p.pair), acc.upnl(p))
                     for p in acc.positions.values() if p.qty != 0.0] if self._venue == "binance" else []
        return raw_info.account_info(self._venue, assets, positions)

    def GetAccount(self) -> Struct | None:
        def run() -> Struct:
            acc = self._acc
            base, quote = self._currency.split("_")
            if not self._futures:
                info = {"balances": [{"asset": a, "free": acc.available(a), "locked": acc.frozen[a]}
                                     for a in sorted(acc.balances)]}
                return to_struct({"Balance": acc.available(quote), "FrozenBalance": acc.frozen[quote],
                                  "Stocks": acc.available(base), "FrozenStocks": acc.frozen[base],
                                  "Equity": acc.balances[quote] + acc.balances[base] * acc.quote(
                                      self._currency).price if acc.quote(self._currency) else 0.0,
                                  "UPnL": 0.0, "Info": info})
            settle = acc.settle_asset(self._currency)
            avail = acc.available(settle)
            equity = acc.equity(settle)
            upnl = sum(acc.upnl(p) for p in acc.positions.values()
                       if p.qty != 0.0 and acc.settle_asset(p.pair) == settle)
            frozen = max(0.0, equity - avail)  # position margin + margin held by open orders
            info = self._account_info()
            if settle == quote:
                return to_struct({"Balance": avail, "FrozenBalance": frozen, "Stocks": 0.0,
                                  "FrozenStocks": 0.0,
                                  "Equity": equity, "UPnL": upnl, "Info": info})
            return to_struct({"Balance": 0.0, "FrozenBalance": 0.0, "Stocks": avail, "FrozenStocks": frozen,
                              "Equity": equity, "UPnL": upnl, "Info": info})
        return self._run("GetAccount", run)

    def GetAssets(self) -> list[Struct] | None:
        def run() -> list[Struct]:
            acc = self._acc
            out = []
            for asset in sorted(acc.balances):
                amount = acc.available(asset)
                frozen = acc.balances[asset] - amount if not self._futures else max(
                    0.0, acc.equity(asset) - amount)
                if amount == 0.0 and frozen == 0.0:
                    continue
                out.append(Struct({"Currency": asset, "Amount": amount, "FrozenAmount": frozen}))
            return out
        return self._run("GetAssets", run)

    # --- condition orders: not simulated ------------------------------------------------------
    def _not_supported(self, method: str) -> None:
        def run() -> None:
            raise CallFailed("not supported by the simulator")
        return self._run(method, run)

    def CreateConditionOrder(self, *args: Any) -> None:
        return self._not_supported("CreateConditionOrder")

    def ModifyConditionOrder(self, *args: Any) -> None:
        return self._not_supported("ModifyConditionOrder")

    def CancelConditionOrder(self, *args: Any) -> None:
        return self._not_supported("CancelConditionOrder")

    def GetConditionOrder(self, *args: Any) -> None:
        return self._not_supported("GetConditionOrder")

    def GetConditionOrders(self, *args: Any) -> None:
        return self._not_supported("GetConditionOrders")

    def GetHistoryConditionOrders(self, *args: Any) -> None:
        return self._not_supported("GetHistoryConditionOrders")

    # --- legacy -------------------------------------------------------------------------------
    def GetMinStock(self) -> float:
        return self._acc.contract(self._currency).min_qty

    def GetMinPrice(self) -> float:
        return self._acc.contract(self._currency).tick

    def GetFee(self) -> Struct:
        return Struct({"Buy": self._acc.taker * 100, "Sell": self._acc.taker * 100,
                       "Maker": self._acc.maker * 100, "Taker": self._acc.taker * 100})

    # --- custom data feeds ---------------------------------------------------------------------
    def SetData(self, name: str, data: Any) -> None:
        """Register a custom feed; a list of [time_ms, value] rows is replayed by GetData."""
        self._feeds[str(name)] = data

    def GetData(self, key: str, timeout: int = 60_000) -> Struct | None:
        def run() -> Struct:
            if key not in self._feeds:
                raise CallFailed(f"no data named {key!r}: call SetData first")
            data = self._feeds[key]
            now_ms = self._world.now_ms()
            rows = data if isinstance(data, list) else None
            if rows and all(isinstance(r, list | tuple) and len(r) == 2 for r in rows):
                past = [r for r in rows if r[0] <= now_ms]
                if not past:
                    return Struct({"Time": now_ms, "Data": None})
                return to_struct({"Time": past[-1][0], "Data": past[-1][1]})
            return to_struct({"Time": now_ms, "Data": data})
        return self._run("GetData", run)

    # --- misc ---------------------------------------------------------------------------------
    def Log(self, log_type: int, price: float, amount: float, *args: Any) -> None:
        """A log row that looks like an order (chart marker); no order is sent."""
        self._world.log.log(int(log_type), " ".join(str(a) for a in args), exchange_index=self._index,
                            price=float(price), amount=float(amount))

    def IO(self, key: str, *args: Any) -> Any:
        if key == "currency":
            if not args:
                return None
            self.SetCurrency(args[0])
            return True
        if key == "api":
            from fmz_compat.sim.api_endpoints import STATUS_PATHS
            status_page = len(args) > 1 and str(args[1]).split("?", 1)[0] in STATUS_PATHS
            return self._run("IO", lambda: self._api(*args), status_page)
        if key == "cross":
            self._acc.cross = bool(args[0]) if args else True
            return True
        if key in _MODE_SWITCHES:
            if key in ("base", "mbase") and args:
                self._base_url = str(args[0])
            return True
        return None

    def _api(self, http_method: str = "GET", path: str = "", params: str = "", body: str = "") -> Any:
        args: dict[str, Any] = dict(parse_qsl(params or "", keep_blank_values=True))
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = dict(parse_qsl(body))
            if isinstance(parsed, dict):
                args.update(parsed)
        path = path.split("?", 1)
        if len(path) == 2:
            args.update(dict(parse_qsl(path[1])))
        result = dispatch(self._world, self._acc, http_method.upper(), path[0], args)
        self._raw_json(result)
        return to_struct(result)


@dataclass(frozen=True)
class VenueOrderParams:
    """The order parameters a simulated venue reads from CreateOrder's options, under its own names."""
    client_id: str
    tif: str                            # the field carrying the time in force
    tif_values: dict[str, str]          # its values -> GTC | IOC | FOK | POSTONLY ("" = the order type's own)
    reduce_only: str                    # the reduce-only field ("" when the order endpoint has none)
    refuses_unread: bool                # a parameter it does not read refuses the order (else it is ignored)

    def names(self) -> set[str]:
        return {n for n in (self.client_id, self.tif, self.reduce_only) if n}


# FMZ passes CreateOrder's options to the venue as the venue's own order parameters and names none itself
# (docs/runtime.md and docs/live.md "Order options on FMZ"), so each simulated venue reads them as its order
# endpoint does (docs/live.md "Per venue" order fields; ccxt 4.5.83 create_order_request: binance
# newClientOrderId, bybit orderLinkId, okx clOrdId, coinex client_id, bitmex clOrdID) and nothing else.
# Binance answers -1104 "Not all sent parameters were read" to a parameter its endpoint does not read; the
# others are taken to ignore one (not verified: the harsher choice, since the option's effect, a client id,
# IOC or reduce-only, is then silently missing).
VENUE_ORDER_PARAMS: dict[str, VenueOrderParams] = {
    "binance": VenueOrderParams("newClientOrderId", "timeInForce",
                                {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "GTX": "POSTONLY"},
                                "reduceOnly", refuses_unread=True),
    "bybit": VenueOrderParams("orderLinkId", "timeInForce",
                              {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "PostOnly": "POSTONLY"},
                              "reduceOnly", refuses_unread=False),
    "okx": VenueOrderParams("clOrdId", "ordType", {"limit": "GTC", "market": "", "ioc": "IOC", "fok": "FOK",
                                                   "post_only": "POSTONLY"},
                            "reduceOnly", refuses_unread=False),
    "coinex": VenueOrderParams("client_id", "type", {"limit": "GTC", "market": "", "ioc": "IOC", "fok": "FOK",
                                                     "maker_only": "POSTONLY"},
                               "", refuses_unread=False),
    "bitmex": VenueOrderParams("clOrdID", "timeInForce",
                               {"GoodTillCancel": "GTC", "ImmediateOrCancel": "IOC", "FillOrKill": "FOK"},
                               "execInst", refuses_unread=False),
}
_BINANCE_UNREAD = ('{{"code":-1104,"msg":"Not all sent parameters were read; read \'{read}\' parameter(s) '
                   'but was sent \'{sent}\'."}} (Binance reads newClientOrderId, timeInForce and reduceOnly '
                   'from CreateOrder\'s options; leave out {unread})')
_BITMEX_REDUCE, _BITMEX_POST = ("ReduceOnly", "Close"), "ParticipateDoNotInitiate"


@dataclass(frozen=True)
class OrderOptions:
    client_id: str
    tif: str            # GTC | IOC | FOK
    post_only: bool
    reduce_only: bool


def read_order_options(venue: str, opts: dict[str, Any], limit: bool) -> OrderOptions:
    """CreateOrder's options as the simulated venue reads them: its own names only (VENUE_ORDER_PARAMS)."""
    params = VENUE_ORDER_PARAMS[venue]
    unread = sorted(k for k in opts if k not in params.names())
    if unread and params.refuses_unread:
        read = 5 + (1 if limit else 0) + len(opts) - len(unread)  # symbol, side, type, quantity, timestamp
        raise CallFailed(_BINANCE_UNREAD.format(read=read, sent=read + len(unread), unread=", ".join(unread)))
    word = str(opts.get(params.tif, ""))
    if word and word not in params.tif_values:
        raise CallFailed(f"invalid {params.tif} {word!r} for {venue}: "
                         f"use one of {', '.join(params.tif_values)}")
    tif = params.tif_values.get(word, "") or "GTC"
    flags = str(opts.get(params.reduce_only, "")) if venue == "bitmex" else ""
    exec_inst = {part.strip() for part in flags.split(",") if part.strip()}
    reduce_only = (bool(exec_inst & set(_BITMEX_REDUCE)) if venue == "bitmex"
                   else bool(params.reduce_only) and truthy(opts.get(params.reduce_only)))
    post_only = tif == "POSTONLY" or _BITMEX_POST in exec_inst
    return OrderOptions(client_id=str(opts.get(params.client_id) or ""),
                        tif="GTC" if tif == "POSTONLY" else tif, post_only=post_only, reduce_only=reduce_only)




def _cut_to_step(x: float, step: float) -> float:
    """x cut toward zero to a multiple of step; a value within a millionth of a step under a multiple (float
    noise, e.g. 0.3 / 0.1 = 2.9999999999999996) counts as that multiple. Formatted as the account's
    rounding formats it, so a value already on the step comes back unchanged."""
    n = math.floor(abs(x) / step + 1e-6)
    return math.copysign(float(f"{n * step:.12g}"), x) if n else 0.0
