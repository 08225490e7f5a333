"""Fakes of FMZ exchange objects and globals, enough to drive hedge/ without the simulator."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest


class KillSwitch(BaseException):
    """Stands for the process dying mid-call (not an Exception: nothing in the strategy catches it)."""

NAMES = {"binance": "Futures_Binance", "bybit": "Futures_Bybit", "okx": "Futures_OKX",
         "coinex": "Futures_CoinEx", "bitmex": "Futures_BitMEX"}
# The field each venue's raw order names the client order id in (ccxt's recorded responses,
# ts/src/test/static/response/<venue>.json in ccxt/ccxt): the fake answers as the venue would.
RAW_CLIENT_ID = {"binance": "clientOrderId", "bybit": "orderLinkId", "okx": "clOrdId",
                 "coinex": "client_id", "bitmex": "clOrdID"}
# The request parameter each venue's order endpoint takes the client id in, which FMZ passes on from the
# options after ';' in CreateOrder's side as the venue's own parameter (fmz.com/syntax-guide/fun/trade/
# exchange.createorder; request bodies: ccxt/ccxt ts/src/test/static/request/<venue>.json, e.g. okx.json
# createOrder bodies carry "clOrdId"). Binance's request names it newClientOrderId, its answer clientOrderId.
REQUEST_CLIENT_ID = {"binance": "newClientOrderId", "bybit": "orderLinkId", "okx": "clOrdId",
                     "coinex": "client_id", "bitmex": "clOrdID"}


class FakeExchange:
    """One venue with one or more symbols. Market orders fill at the top of book.

    Behaviour switches (consumed per order): `reject` (CreateOrder returns None, nothing happens),
    `lost_ack` (CreateOrder returns None but the order fills), `fill_ratio` (fraction filled, rounded
    down to the lot), `positions_down` (GetPositions returns None), `lands_late_ms` (CreateOrder
    returns None at once; the order reaches the matching engine that many ms later on the exchange's clock,
    invisible to every query until then: a timeout whose order lands after lookups said absent).
    `tells_outcome` True: the runtime says a None from CreateOrder was a definite refusal
    (`last_outcome_unknown` False, as fmz_compat/live.py sets it for ccxt's rejections); FMZ says nothing.
    `enforces_lot` True: an amount that is not a multiple of the lot is refused (`refused`), as the
    simulator's venues refuse it.
    `forwards_client_id` False: the order carries no client id of ours (a docker that does not pass the
    option on; Binance then makes one up), so a lost answer cannot be found by client id. Options under
    another name than the venue's own request parameter are never read as its client id.
    """

    def __init__(self, venue: str, *, ct_val: float = 1.0, lot: float = 0.001, min_qty: float = 0.001,
                 min_notional: float = 5.0, balance: float = 10_000.0,
                 books: dict[str, tuple[float, float]] | None = None) -> None:
        self.venue = venue
        self.ct_val = ct_val
        self.lot = lot
        self.min_qty = min_qty
        self.min_notional = min_notional
        self.balance = balance
        self.books = dict(books or {"BTC_USDT": (50_000.0, 50_001.0)})
        self.time_ms = 0
        self.contracts: dict[str, Decimal] = {}  # signed contracts per pair
        self.orders: dict[str, dict[str, Any]] = {}
        self.sent: list[tuple[str, str, float]] = []
        self.reject: list[bool] = []
        self.lost_ack: list[bool] = []
        self.fill_ratio: list[float] = []
        self.positions_down = False
        self.history_page = 0  # GetHistoryOrders rows a page, as the venues list them (0: every order)
        self.crash_on_send: list[bool] = []  # True: CreateOrder raises KillSwitch before reaching the venue
        self.order_log: list[str] = []
        self.depth_size = 1_000.0  # contracts per level
        self.funding_rate = 0.0001
        self.closes_fill_fully = False  # True: fill_ratio applies to opening orders only
        self.ticker_calls = 0
        self.funding_time_ms = 0  # next settlement; 0 = unknown
        self.lands_late_ms: list[int] = []
        self._landing: list[tuple[int, str, str, float, float, str]] = []  # (due, symbol, side, ...)
        self.forwards_client_id = True
        self.tells_outcome = False
        self.options_seen: list[dict[str, Any]] = []
        self.enforces_lot = False  # True: an amount off the lot is refused, as fmz_compat/sim/account.py does
        self.refused: list[float] = []

    # --- market ---
    def GetName(self) -> str:
        return NAMES[self.venue]

    def GetMarkets(self) -> dict[str, Any] | None:
        if self.positions_down:  # the venue is down: markets unreadable too
            return None
        return {f"{pair}.swap": {"Symbol": pair.lower(), "CtVal": self.ct_val, "AmountSize": self.lot,
                                 "MinQty": self.min_qty, "MinNotional": self.min_notional}
                for pair in self.books}

    def GetTickers(self) -> list[dict[str, Any]]:
        return [{"Symbol": f"{pair}.swap", "Buy": bid, "Sell": ask, "Last": bid, "Time": self.time_ms}
                for pair, (bid, ask) in self.books.items()]

    def GetTicker(self, symbol: str) -> dict[str, Any] | None:
        self.ticker_calls += 1
        bid, ask = self.books[symbol.split(".")[0]]
        return {"Symbol": symbol, "Buy": bid, "Sell": ask, "Last": bid, "Time": self.time_ms}

    def GetDepth(self, symbol: str) -> dict[str, Any]:
        bid, ask = self.books[symbol.split(".")[0]]
        tick = (ask - bid) or 0.1
        return {"Asks": [{"Price": ask + i * tick, "Amount": self.depth_size} for i in range(5)],
                "Bids": [{"Price": bid - i * tick, "Amount": self.depth_size} for i in range(5)],
                "Time": self.time_ms}

    def GetFundings(self) -> list[dict[str, Any]]:
        return [{"Symbol": f"{pair}.swap", "Rate": self.funding_rate, "Time": self.funding_time_ms,
                 "Interval": 28_800_000} for pair in self.books]

    # --- account ---
    def GetAccount(self) -> dict[str, Any]:
        return {"Balance": self.balance, "FrozenBalance": 0.0, "Equity": self.balance, "UPnL": 0.0}

    def GetPositions(self, symbol: str = "") -> list[dict[str, Any]] | None:
        self._land_due()
        if self.positions_down:
            return None
        out = []
        for pair, contracts in self.contracts.items():
            if contracts != 0 and (not symbol or symbol.split(".")[0] in (pair, "USDT")):
                out.append({"Symbol": f"{pair}.swap", "Amount": float(abs(contracts)),
                            "Type": 0 if contracts > 0 else 1, "Price": self.books[pair][0]})
        return out

    def SetMarginLevel(self, *_args: Any) -> bool:
        return True

    # --- trading ---
    def CreateOrder(self, symbol: str, side: str, price: float, amount: float, *_log: Any) -> str | None:
        if self.tells_outcome:
            self.last_outcome_unknown = False
        side, _, options = side.partition(";")
        parsed = json.loads(options) if options else {}
        self.options_seen.append(parsed)
        client_id = str(parsed.get(REQUEST_CLIENT_ID[self.venue], "")) if self.forwards_client_id else ""
        if not client_id and self.venue == "binance":
            client_id = f"web_{len(self.orders) + len(self._landing) + 1}"  # Binance makes one up
        self.sent.append((symbol, side, amount))
        if self.crash_on_send and self.crash_on_send.pop(0):
            raise KillSwitch(f"process killed while sending {side} on {self.venue}")
        if self.reject and self.reject.pop(0):
            return None
        if self.enforces_lot and Decimal(repr(amount)) % Decimal(repr(self.lot)):
            self.refused.append(amount)  # "amount ... is not a multiple of the amount step ..."
            return None
        if self.lands_late_ms and (delay := self.lands_late_ms.pop(0)):
            self._landing.append((self.time_ms + delay, symbol, side, price, amount, client_id))
            return None
        return self._match(symbol, side, amount, client_id)

    def _land_due(self) -> None:
        due = [item for item in self._landing if item[0] <= self.time_ms]
        self._landing = [item for item in self._landing if item[0] > self.time_ms]
        for _, symbol, side, _price, amount, client_id in due:
            self._match(symbol, side, amount, client_id)

    def _match(self, symbol: str, side: str, amount: float, client_id: str) -> str | None:
        pair = symbol.split(".")[0]
        ratio = 1.0
        if self.fill_ratio and not (self.closes_fill_fully and side in ("closebuy", "closesell")):
            ratio = self.fill_ratio.pop(0)
        lot = Decimal(repr(self.lot))
        wanted = Decimal(repr(amount))
        filled = (wanted * Decimal(repr(ratio)) / lot).to_integral_value(rounding="ROUND_FLOOR") * lot
        sign = 1 if side in ("buy", "closesell") else -1
        self.contracts[pair] = self.contracts.get(pair, Decimal(0)) + sign * filled
        bid, ask = self.books[pair]
        order_id = f"{pair},{len(self.orders) + 1}"
        self.orders[order_id] = {"Id": order_id, "Status": 1 if filled == wanted else 2,
                                 "Type": 0 if sign > 0 else 1, "Time": self.time_ms,
                                 "Amount": amount, "DealAmount": float(filled),
                                 "AvgPrice": (ask if sign > 0 else bid) if filled else 0.0,
                                 "Info": {RAW_CLIENT_ID[self.venue]: client_id}}
        if self.lost_ack and self.lost_ack.pop(0):
            return None
        return order_id

    def GetOrder(self, order_id: str) -> dict[str, Any] | None:
        self._land_due()
        return self.orders.get(order_id)

    def CancelOrder(self, order_id: str) -> bool:
        return True

    def GetOrders(self, symbol: str = "") -> list[dict[str, Any]]:
        self._land_due()
        return []

    def GetHistoryOrders(self, symbol: str = "", since: int = 0, limit: int = 0
                         ) -> list[dict[str, Any]] | None:
        """FMZ's signature, oldest first: without since the newest page (history_page rows; every order
        when 0), with since the rows from then on, at most a page (or limit)."""
        self._land_due()
        if self.positions_down:
            return None
        page = min(limit or self.history_page, self.history_page or limit)
        if since:
            later = [o for o in self.orders.values() if (o.get("Time") or 0) >= since]
            return later[:page] if page else later
        orders = list(self.orders.values())
        return orders[-page:] if page else orders

    def Log(self, log_type: int, price: float, amount: float, *args: Any) -> None:
        self.order_log.append(" ".join(str(a) for a in args))

    # --- helpers for tests ---
    def base_position(self, pair: str = "BTC_USDT") -> Decimal:
        self._land_due()
        return self.contracts.get(pair, Decimal(0)) * Decimal(repr(self.ct_val))


class FakeStore:
    """FMZ _G: persistent JSON key-value store."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def __call__(self, *args: Any) -> Any:
        if len(args) == 1:
            return self.data.get(args[0])
        key, value = args
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value
        return None


class FakeRuntime:
    """The globals strategy.py would receive, with a virtual clock moved by Sleep."""

    def __init__(self, exchanges: list[FakeExchange]) -> None:
        self.exchanges = exchanges
        self.now_ns = 1_700_000_000_000 * 1_000_000
        self.logs: list[str] = []
        self.status: list[str] = []
        self.profits: list[float] = []
        self.store = FakeStore()
        self.commands: list[str] = []  # GetCommand answers, oldest first

    def GetCommand(self) -> str | None:
        return self.commands.pop(0) if self.commands else None

    def Log(self, *args: Any) -> None:
        self.logs.append(" ".join(str(a) for a in args))

    def LogStatus(self, *args: Any) -> None:
        self.status.append(" ".join(str(a) for a in args))

    def LogProfit(self, profit: float, *_args: Any) -> None:
        self.profits.append(profit)

    def Sleep(self, ms: float) -> None:
        self.now_ns += int(ms * 1_000_000)
        for ex in self.exchanges:
            ex.time_ms = self.now_ns // 1_000_000

    def UnixNano(self) -> int:
        return self.now_ns

    def globals(self) -> dict[str, Any]:
        for ex in self.exchanges:
            ex.time_ms = self.now_ns // 1_000_000
        return {"Log": self.Log, "LogStatus": self.LogStatus, "LogProfit": self.LogProfit,
                "Sleep": self.Sleep, "UnixNano": self.UnixNano, "_G": self.store,
                "GetCommand": self.GetCommand, "IsVirtual": lambda: True, "exchanges": self.exchanges}


@pytest.fixture
def fake_exchange() -> type[FakeExchange]:
    return FakeExchange


@pytest.fixture
def fake_runtime() -> type[FakeRuntime]:
    return FakeRuntime


@pytest.fixture
def fake_store() -> FakeStore:
    return FakeStore()


class SimRobot:
    """The simulator with hedge.App on top: a virtual clock, _G over a dict, logs kept as lines."""

    start_ms = 1_719_792_000_000

    def __init__(self, *names: str, hours: int = 6, symbols: tuple[str, ...] = ("BTC_USDT",),
                 seed: int = 7) -> None:
        from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
        from fmz_compat.sim import create_world

        cfg = SimConfig(seed=seed, start_ms=self.start_ms, bindings=tuple(ExchangeBinding(n) for n in names),
                        symbols=symbols)
        self.symbols = symbols
        self.clock = BacktestClock(self.start_ms * 1_000_000, (self.start_ms + hours * 3_600_000) * 1_000_000)
        self.world = create_world(cfg, self.clock, MemoryLog())
        self.store = FakeStore()
        self.logs: list[str] = []
        self.commands: list[str] = []

    def app(self, params: str) -> Any:
        from hedge.app import App
        from hedge.config import parse_params
        from hedge.fmz import Api

        api = Api(log=lambda *a: self.logs.append(" ".join(str(x) for x in a)), log_status=lambda *a: None,
                  log_profit=lambda *a: None, sleep=self.clock.sleep, unix_nano=self.clock.now_ns,
                  store=self.store, exchanges=tuple(self.world.exchanges), log_reset=lambda *_: None,
                  get_command=lambda: self.commands.pop(0) if self.commands else None)
        return App(api, parse_params(params))

    def now_ms(self) -> int:
        return self.clock.now_ns() // 1_000_000

    def orders(self, index: int, symbol: str = "BTC_USDT") -> list:
        """Every order the venue has seen (open and finished)."""
        ex = self.world.exchanges[index]
        return list(ex.GetOrders(symbol + ".swap") or []) + list(ex.GetHistoryOrders(symbol + ".swap") or [])


@pytest.fixture
def sim_robot() -> type[SimRobot]:
    return SimRobot
