"""Five fake venues on loopback for bench/live_rss.py: real HTTP and websocket, each venue's own formats.

One aiohttp app per venue (its own port) answers the REST calls a live node makes (markets, account
mode, leverage, balance, positions, open orders, funding, tickers, depth) and streams order books
over websocket (snapshot, then an update every `interval_ms` per symbol with the venue's sequence
ids and checksums). Payload shapes follow the venues' API docs, the same shapes tests/fmz_compat/live
uses. Paths it does not know are answered 404 in the venue's error shape and counted in `unknown`.

Orders (bench/reaction_latency.py): each venue's order endpoint answers every order with the venue's
documented insufficient-margin refusal, so positions never move and every decision is timed the same way.
`move()` shifts one venue-symbol's whole book by a factor (every level removed, 25 new a side) and pushes
the diff at once, opening a cross-venue spread the strategy can trade; `move(coin, 1.0)` puts it back.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from fmz_compat.ws.book import Book, coinex_checksum, okx_checksum

Json = Any


def _ms() -> int:
    return time.time_ns() // 1_000_000


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SymbolBook:
    """25 levels a side around a price; each step changes a few sizes (same prices, so ids stay)."""

    def __init__(self, price: float, tick: float, rng: random.Random) -> None:
        self.rng = rng
        self.tick = tick
        self.digits = max(0, -int(f"{tick:e}".split("e")[1]))
        self.base = round(price / tick) * tick
        self.bids, self.asks = self._levels_at(self.base)
        self.update_id = 1000
        self.seq = 5000

    def _levels_at(self, mid: float) -> tuple[dict[float, int], dict[float, int]]:
        tick, rng = self.tick, self.rng
        bids = {round(mid - (i + 1) * tick, self.digits): rng.randint(1, 500) for i in range(25)}
        asks = {round(mid + i * tick, self.digits): rng.randint(1, 500) for i in range(25)}
        return bids, asks

    def shift(self, factor: float) -> tuple[list[list[str]], list[list[str]]]:
        """The whole book moved to `factor` x its starting mid: every old level removed (size "0"), 25 new
        a side; returns the changed (asks, bids) as a diff, ids advanced as for a step."""
        self.update_id += 1
        self.seq += 3
        old_bids, old_asks = self.bids, self.asks
        self.bids, self.asks = self._levels_at(round(self.base * factor / self.tick) * self.tick)
        changed = []
        for old, new in ((old_asks, self.asks), (old_bids, self.bids)):
            rows = [[self.text(p), "0"] for p in old if p not in new]
            rows += [[self.text(p), str(size)] for p, size in new.items()]
            changed.append(rows)
        return changed[0], changed[1]

    def text(self, price: float) -> str:
        return f"{price:.{self.digits}f}"

    def step(self) -> tuple[list[list[str]], list[list[str]]]:
        self.update_id += 1
        self.seq += 3
        changed_bids, changed_asks = [], []
        for side, changed in ((self.bids, changed_bids), (self.asks, changed_asks)):
            for price in self.rng.sample(list(side), 2):
                side[price] = self.rng.randint(1, 500)
                changed.append([self.text(price), str(side[price])])
        return changed_asks, changed_bids

    def levels(self) -> tuple[list[list[str]], list[list[str]]]:
        asks = [[self.text(p), str(s)] for p, s in sorted(self.asks.items())]
        bids = [[self.text(p), str(s)] for p, s in sorted(self.bids.items(), reverse=True)]
        return asks, bids

    def best(self) -> tuple[float, float]:
        return max(self.bids), min(self.asks)


class FakeVenue:
    """Base: markets, books and the websocket loop; subclasses give the formats."""

    venue = ""

    def __init__(self, traded: list[tuple[str, float]], listed: int, interval_ms: int, seed: int) -> None:
        rng = random.Random(seed)
        fillers = [(f"Z{i:03d}", 1.0 + i / 10) for i in range(max(0, listed - len(traded)))]
        self.coins = traded + fillers
        self.books = {coin: SymbolBook(price, _tick(price), rng) for coin, price in traded}
        self.interval_ms = interval_ms
        self.unknown: dict[str, int] = {}
        self.requests = 0
        self.orders = 0  # order requests answered (each refused, see the module doc)
        self.sessions: list[tuple[web.WebSocketResponse, list[str]]] = []  # streaming clients

    # --- HTTP ---------------------------------------------------------------------------------
    def routes(self) -> dict[tuple[str, str], Callable[[web.Request], Json]]:
        raise NotImplementedError

    def not_found(self, path: str) -> tuple[int, Json]:
        return 404, {"error": f"unknown path {path}"}

    # (method, path) of the venue's order placement, and its refusal for want of margin: subclasses
    order_routes: tuple[tuple[str, str], ...] = ()

    def refuse_order(self) -> tuple[int, Json]:
        raise NotImplementedError

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/ws") or request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.websocket(request)
        self.requests += 1
        if (request.method, request.path) in self.order_routes:
            self.orders += 1
            if request.can_read_body:
                await request.read()
            status, body = self.refuse_order()
            return web.json_response(body, status=status)
        handler = self.routes().get((request.method, request.path))
        if handler is None:
            key = f"{request.method} {request.path}"
            self.unknown[key] = self.unknown.get(key, 0) + 1
            status, body = self.not_found(request.path)
            return web.json_response(body, status=status)
        if request.method != "GET" and request.can_read_body:
            await request.read()
        return web.json_response(handler(request))

    # --- websocket ----------------------------------------------------------------------------
    def market_id(self, coin: str) -> str:
        return f"{coin}USDT"

    def coin_of(self, market_id: str) -> str | None:
        for coin in self.books:
            if self.market_id(coin) == market_id:
                return coin
        return None

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        subscribed: list[str] = []
        pusher = asyncio.ensure_future(self._push(ws, subscribed))
        self.sessions.append((ws, subscribed))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if msg.data == "ping":
                    await ws.send_str("pong")
                    continue
                for reply in self.on_client(json.loads(msg.data), subscribed):
                    await self._send(ws, reply)
        finally:
            pusher.cancel()
            self.sessions.remove((ws, subscribed))
        return ws

    async def _send(self, ws: web.WebSocketResponse, frame: Json) -> None:
        if isinstance(frame, bytes):
            await ws.send_bytes(frame)
        else:
            await ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))

    async def _push(self, ws: web.WebSocketResponse, subscribed: list[str]) -> None:
        """Every subscribed book's update once every interval_ms, spread evenly over it (not in bursts), on
        a schedule of its own (a late send does not push the later ones back: the rate is the one asked)."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not ws.closed:
            coins = list(subscribed)
            if not coins:
                due = loop.time() + self.interval_ms / 1000
                await asyncio.sleep(self.interval_ms / 1000)
                continue
            for coin in coins:
                due += self.interval_ms / 1000 / len(coins)
                await asyncio.sleep(max(0.0, due - loop.time()))
                if coin in subscribed:
                    for frame in self.update_frames(coin):
                        await self._send(ws, frame)

    async def move(self, coin: str, factor: float) -> None:
        """Shift coin's book to factor x its starting mid and push the diff to every client at once."""
        frames = self.move_frames(coin, factor)
        for ws, subscribed in list(self.sessions):
            if coin in subscribed and not ws.closed:
                for frame in frames:
                    await self._send(ws, frame)

    def move_frames(self, coin: str, factor: float) -> list[Json]:
        return self.diff_frames(coin, *self.books[coin].shift(factor))

    def diff_frames(self, coin: str, asks: list[list[str]], bids: list[list[str]]) -> list[Json]:
        raise NotImplementedError

    def on_client(self, message: Json, subscribed: list[str]) -> list[Json]:
        raise NotImplementedError

    def update_frames(self, coin: str) -> list[Json]:
        return self.diff_frames(coin, *self.books[coin].step())


def _tick(price: float) -> float:
    return 10.0 ** (len(str(int(price))) - 6) if price >= 1 else 10.0 ** (int(f"{price:e}".split("e")[1]) - 4)


# --- Binance USDⓈ-M ---------------------------------------------------------------------------
class Binance(FakeVenue):
    venue = "binance"

    def routes(self) -> dict[tuple[str, str], Callable[[web.Request], Json]]:
        return {
            ("GET", "/fapi/v1/exchangeInfo"): self.exchange_info,
            ("GET", "/fapi/v1/positionSide/dual"): lambda r: {"dualSidePosition": False},
            ("POST", "/fapi/v1/leverage"): lambda r: {
                "leverage": int(r.query.get("leverage", 5)),
                "maxNotionalValue": "1000000",
                "symbol": r.query.get("symbol"),
            },
            ("GET", "/fapi/v1/depth"): self.depth,
            ("GET", "/fapi/v1/ticker/bookTicker"): self.book_tickers,
            ("GET", "/fapi/v1/premiumIndex"): self.premium_index,
            ("GET", "/fapi/v1/fundingInfo"): lambda r: [
                {
                    "symbol": self.market_id(c),
                    "adjustedFundingRateCap": "0.02",
                    "adjustedFundingRateFloor": "-0.02",
                    "fundingIntervalHours": 8,
                    "disclaimer": False,
                }
                for c in self.books
            ],
            ("GET", "/fapi/v2/account"): self.account,
            ("GET", "/fapi/v3/account"): self.account,
            ("GET", "/fapi/v2/balance"): lambda r: [],
            ("GET", "/fapi/v2/positionRisk"): lambda r: [],
            ("GET", "/fapi/v3/positionRisk"): lambda r: [],
            ("GET", "/fapi/v1/openOrders"): lambda r: [],
            ("GET", "/fapi/v1/time"): lambda r: {"serverTime": _ms()},
            ("GET", "/fapi/v1/leverageBracket"): self.brackets,
            ("POST", "/sapi/v1/asset/get-funding-asset"): lambda r: [],
            ("POST", "/sapi/v3/asset/getUserAsset"): lambda r: [],
            ("GET", "/sapi/v1/capital/deposit/hisrec"): lambda r: [],
            ("GET", "/sapi/v1/capital/withdraw/history"): lambda r: [],
        }

    def brackets(self, request: web.Request) -> Json:
        tiers = [
            {
                "bracket": 1,
                "initialLeverage": 75,
                "notionalCap": 10000,
                "notionalFloor": 0,
                "maintMarginRatio": 0.0065,
                "cum": 0.0,
            }
        ]
        return [{"symbol": self.market_id(c), "notionalCoef": 1.0, "brackets": tiers} for c, _ in self.coins]

    def exchange_info(self, request: web.Request) -> Json:
        symbols = []
        for coin, price in self.coins:
            tick = _tick(price)
            symbols.append(
                {
                    "symbol": self.market_id(coin),
                    "pair": self.market_id(coin),
                    "contractType": "PERPETUAL",
                    "deliveryDate": 4133404800000,
                    "onboardDate": 1569398400000,
                    "status": "TRADING",
                    "maintMarginPercent": "2.5000",
                    "requiredMarginPercent": "5.0000",
                    "baseAsset": coin,
                    "quoteAsset": "USDT",
                    "marginAsset": "USDT",
                    "pricePrecision": 6,
                    "quantityPrecision": 3,
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                    "underlyingType": "COIN",
                    "underlyingSubType": ["Layer-1"],
                    "settlePlan": 0,
                    "triggerProtect": "0.0500",
                    "liquidationFee": "0.012500",
                    "marketTakeBound": "0.05",
                    "maxMoveOrderLimit": 10000,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": f"{tick}",
                            "maxPrice": "4529764",
                            "tickSize": f"{tick}",
                        },
                        {"filterType": "LOT_SIZE", "stepSize": "0.001", "maxQty": "1000", "minQty": "0.001"},
                        {
                            "filterType": "MARKET_LOT_SIZE",
                            "stepSize": "0.001",
                            "maxQty": "120",
                            "minQty": "0.001",
                        },
                        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                        {"filterType": "MIN_NOTIONAL", "notional": "5"},
                        {
                            "filterType": "PERCENT_PRICE",
                            "multiplierUp": "1.0500",
                            "multiplierDown": "0.9500",
                            "multiplierDecimal": "4",
                        },
                    ],
                    "orderTypes": ["LIMIT", "MARKET"],
                    "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": _ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [],
            "exchangeFilters": [],
            "assets": [],
            "symbols": symbols,
        }

    def depth(self, request: web.Request) -> Json:
        coin = self.coin_of(request.query["symbol"])
        book = self.books[coin]  # type: ignore[index]
        asks, bids = book.levels()
        return {"lastUpdateId": book.update_id, "E": _ms(), "T": _ms(), "bids": bids, "asks": asks}

    def book_tickers(self, request: web.Request) -> Json:
        out = []
        for coin, book in self.books.items():
            bid, ask = book.best()
            out.append(
                {
                    "symbol": self.market_id(coin),
                    "bidPrice": book.text(bid),
                    "bidQty": "1",
                    "askPrice": book.text(ask),
                    "askQty": "1",
                    "time": _ms(),
                    "lastUpdateId": book.update_id,
                }
            )
        return out

    def premium_index(self, request: web.Request) -> Json:
        rows = [
            {
                "symbol": self.market_id(c),
                "markPrice": str(p),
                "indexPrice": str(p),
                "estimatedSettlePrice": str(p),
                "lastFundingRate": "0.00010000",
                "interestRate": "0.00010000",
                "nextFundingTime": (_ms() // 28_800_000 + 1) * 28_800_000,
                "time": _ms(),
            }
            for c, p in self.coins
        ]
        symbol = request.query.get("symbol")
        return next(r for r in rows if r["symbol"] == symbol) if symbol else rows

    def account(self, request: web.Request) -> Json:
        asset = {
            "asset": "USDT",
            "walletBalance": "100000.00000000",
            "unrealizedProfit": "0.00000000",
            "marginBalance": "100000.00000000",
            "maintMargin": "0",
            "initialMargin": "0",
            "positionInitialMargin": "0",
            "openOrderInitialMargin": "0",
            "crossWalletBalance": "100000",
            "crossUnPnl": "0",
            "availableBalance": "100000",
            "maxWithdrawAmount": "100000",
            "marginAvailable": True,
            "updateTime": _ms(),
        }
        return {
            "feeTier": 0,
            "canTrade": True,
            "canDeposit": True,
            "canWithdraw": True,
            "updateTime": 0,
            "multiAssetsMargin": False,
            "totalInitialMargin": "0",
            "totalMaintMargin": "0",
            "totalWalletBalance": "100000",
            "totalUnrealizedProfit": "0",
            "totalMarginBalance": "100000",
            "totalPositionInitialMargin": "0",
            "totalOpenOrderInitialMargin": "0",
            "totalCrossWalletBalance": "100000",
            "totalCrossUnPnl": "0",
            "availableBalance": "100000",
            "maxWithdrawAmount": "100000",
            "assets": [asset],
            "positions": [],
        }

    def on_client(self, message: Json, subscribed: list[str]) -> list[Json]:
        if message.get("method") == "SUBSCRIBE":
            for stream in message["params"]:
                coin = self.coin_of(stream.split("@")[0].upper())
                if coin and coin not in subscribed:
                    subscribed.append(coin)
        return [{"result": None, "id": message.get("id")}]

    # POST /fapi/v1/order; -2019 "Margin is insufficient." (developers.binance.com/docs/derivatives/
    # usds-margined-futures/error-code; ccxt binance.py exceptions: '-2019': InsufficientFunds), HTTP 400
    order_routes = (("POST", "/fapi/v1/order"),)

    def refuse_order(self) -> tuple[int, Json]:
        return 400, {"code": -2019, "msg": "Margin is insufficient."}

    def diff_frames(self, coin: str, asks: list[list[str]], bids: list[list[str]]) -> list[Json]:
        book = self.books[coin]
        previous = book.update_id - 1
        data = {
            "e": "depthUpdate",
            "E": _ms(),
            "T": _ms(),
            "s": self.market_id(coin),
            "U": previous + 1,
            "u": book.update_id,
            "pu": previous,
            "b": bids,
            "a": asks,
        }
        return [{"stream": f"{self.market_id(coin).lower()}@depth@100ms", "data": data}]


# --- Bybit V5 linear ----------------------------------------------------------------------------
class Bybit(FakeVenue):
    venue = "bybit"

    def ok(self, result: Json) -> Json:
        return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": _ms()}

    def not_found(self, path: str) -> tuple[int, Json]:
        return 404, {"retCode": 10001, "retMsg": f"unknown path {path}", "result": {}, "time": _ms()}

    def routes(self) -> dict[tuple[str, str], Callable[[web.Request], Json]]:
        return {
            ("GET", "/v5/market/instruments-info"): self.instruments,
            ("GET", "/v5/user/query-api"): lambda r: self.ok(
                {"id": "1", "readOnly": 0, "unified": 0, "uta": 1, "permissions": {}, "ips": ["*"], "type": 1}
            ),
            ("GET", "/v5/account/info"): lambda r: self.ok(
                {"unifiedMarginStatus": 5, "marginMode": "REGULAR_MARGIN"}  # UTA 2.0: Bybit has no other
            ),
            ("POST", "/v5/position/switch-mode"): lambda r: self.ok({}),
            ("POST", "/v5/position/set-leverage"): lambda r: self.ok({}),
            ("GET", "/v5/market/tickers"): self.tickers,
            ("GET", "/v5/market/orderbook"): self.orderbook,
            ("GET", "/v5/account/wallet-balance"): self.wallet,
            ("GET", "/v5/asset/transfer/query-account-coins-balance"): lambda r: self.ok(
                {
                    "accountType": "FUND",
                    "memberId": "1",
                    "balance": [{"coin": "USDT", "walletBalance": "0", "transferBalance": "0", "bonus": "0"}],
                }
            ),
            ("GET", "/v5/asset/deposit/query-record"): lambda r: self.ok({"rows": [], "nextPageCursor": ""}),
            ("GET", "/v5/asset/withdraw/query-record"): lambda r: self.ok({"rows": [], "nextPageCursor": ""}),
            ("GET", "/v5/position/list"): lambda r: self.ok(
                {"category": "linear", "list": [], "nextPageCursor": ""}
            ),
            ("GET", "/v5/order/realtime"): lambda r: self.ok(
                {"category": "linear", "list": [], "nextPageCursor": ""}
            ),
            ("GET", "/v5/market/time"): lambda r: self.ok(
                {"timeSecond": str(_ms() // 1000), "timeNano": str(time.time_ns())}
            ),
        }

    def instruments(self, request: web.Request) -> Json:
        rows = []
        for coin, price in self.coins:
            tick = _tick(price)
            rows.append(
                {
                    "symbol": self.market_id(coin),
                    "contractType": "LinearPerpetual",
                    "status": "Trading",
                    "baseCoin": coin,
                    "quoteCoin": "USDT",
                    "launchTime": "1585526400000",
                    "deliveryTime": "0",
                    "deliveryFeeRate": "",
                    "priceScale": "6",
                    "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
                    "priceFilter": {"minPrice": f"{tick}", "maxPrice": "1999999.80", "tickSize": f"{tick}"},
                    "lotSizeFilter": {
                        "maxOrderQty": "1190.000",
                        "minOrderQty": "0.001",
                        "qtyStep": "0.001",
                        "postOnlyMaxOrderQty": "1190.000",
                        "maxMktOrderQty": "119.000",
                        "minNotionalValue": "5",
                    },
                    "unifiedMarginTrade": True,
                    "fundingInterval": 480,
                    "settleCoin": "USDT",
                    "copyTrading": "both",
                    "upperFundingRate": "0.00375",
                    "lowerFundingRate": "-0.00375",
                }
            )
        return self.ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    def tickers(self, request: web.Request) -> Json:
        rows = []
        for coin, price in self.coins:
            book = self.books.get(coin)
            bid, ask = book.best() if book else (price, price * 1.0001)
            rows.append(
                {
                    "symbol": self.market_id(coin),
                    "lastPrice": str(price),
                    "indexPrice": str(price),
                    "markPrice": str(price),
                    "prevPrice24h": str(price),
                    "price24hPcnt": "0",
                    "highPrice24h": str(price),
                    "lowPrice24h": str(price),
                    "prevPrice1h": str(price),
                    "openInterest": "1000",
                    "openInterestValue": "1000",
                    "turnover24h": "1000",
                    "volume24h": "1000",
                    "fundingRate": "0.0001",
                    "nextFundingTime": str((_ms() // 28_800_000 + 1) * 28_800_000),
                    "predictedDeliveryPrice": "",
                    "basisRate": "",
                    "deliveryFeeRate": "",
                    "deliveryTime": "0",
                    "ask1Size": "1",
                    "bid1Price": str(bid),
                    "ask1Price": str(ask),
                    "bid1Size": "1",
                    "basis": "",
                }
            )
        symbol = request.query.get("symbol")
        rows = [r for r in rows if r["symbol"] == symbol] if symbol else rows
        return self.ok({"category": "linear", "list": rows})

    def orderbook(self, request: web.Request) -> Json:
        book = self.books[self.coin_of(request.query["symbol"])]  # type: ignore[index]
        asks, bids = book.levels()
        return self.ok(
            {
                "s": request.query["symbol"],
                "a": asks,
                "b": bids,
                "ts": _ms(),
                "u": book.update_id,
                "seq": book.seq,
                "cts": _ms(),
            }
        )

    def wallet(self, request: web.Request) -> Json:
        coin = {
            "coin": "USDT",
            "equity": "100000",
            "usdValue": "100000",
            "walletBalance": "100000",
            "free": "100000",
            "locked": "0",
            "availableToWithdraw": "100000",
            "borrowAmount": "",
            "accruedInterest": "",
            "totalOrderIM": "0",
            "totalPositionIM": "0",
            "totalPositionMM": "0",
            "unrealisedPnl": "0",
            "cumRealisedPnl": "0",
            "bonus": "0",
        }
        return self.ok(
            {
                "list": [
                    {
                        "accountType": "UNIFIED",
                        "accountIMRate": "0",
                        "accountMMRate": "0",
                        "totalEquity": "100000",
                        "totalWalletBalance": "100000",
                        "totalMarginBalance": "100000",
                        "totalAvailableBalance": "100000",
                        "totalPerpUPL": "0",
                        "totalInitialMargin": "0",
                        "totalMaintenanceMargin": "0",
                        "coin": [coin],
                    }
                ]
            }
        )

    def on_client(self, message: Json, subscribed: list[str]) -> list[Json]:
        replies: list[Json] = [{"success": True, "ret_msg": "", "op": message.get("op"), "conn_id": "x"}]
        if message.get("op") == "subscribe":
            for topic in message["args"]:
                coin = self.coin_of(topic.split(".")[-1])
                if coin:
                    if coin not in subscribed:
                        subscribed.append(coin)
                    replies.append(self.snapshot(coin))
        elif message.get("op") == "unsubscribe":
            for topic in message["args"]:
                coin = self.coin_of(topic.split(".")[-1])
                if coin in subscribed:
                    subscribed.remove(coin)
        return replies

    def snapshot(self, coin: str) -> Json:
        book = self.books[coin]
        asks, bids = book.levels()
        return {
            "topic": f"orderbook.50.{self.market_id(coin)}",
            "type": "snapshot",
            "ts": _ms(),
            "cts": _ms(),
            "data": {"s": self.market_id(coin), "b": bids, "a": asks, "u": book.update_id, "seq": book.seq},
        }

    # POST /v5/order/create; retCode 110007 "ab not enough for new order" (bybit-exchange.github.io/docs/v5/
    # error; ccxt bybit.py exceptions: '110007': InsufficientFunds, its comment carries this body), HTTP 200
    order_routes = (("POST", "/v5/order/create"),)

    def refuse_order(self) -> tuple[int, Json]:
        return 200, {"retCode": 110007, "retMsg": "ab not enough for new order", "result": {},
                     "retExtInfo": {}, "time": _ms()}

    def diff_frames(self, coin: str, asks: list[list[str]], bids: list[list[str]]) -> list[Json]:
        book = self.books[coin]
        return [
            {
                "topic": f"orderbook.50.{self.market_id(coin)}",
                "type": "delta",
                "ts": _ms(),
                "cts": _ms(),
                "data": {
                    "s": self.market_id(coin),
                    "b": bids,
                    "a": asks,
                    "u": book.update_id,
                    "seq": book.seq,
                },
            }
        ]


# --- OKX V5 swap ----------------------------------------------------------------------------------
class Okx(FakeVenue):
    venue = "okx"

    def market_id(self, coin: str) -> str:
        return f"{coin}-USDT-SWAP"

    def ok(self, data: list[Json]) -> Json:
        return {"code": "0", "msg": "", "data": data}

    def not_found(self, path: str) -> tuple[int, Json]:
        return 404, {"code": "50000", "msg": f"unknown path {path}", "data": []}

    def routes(self) -> dict[tuple[str, str], Callable[[web.Request], Json]]:
        return {
            ("GET", "/api/v5/public/instruments"): self.instruments,
            ("GET", "/api/v5/account/config"): lambda r: self.ok(
                [{"acctLv": "2", "posMode": "net_mode", "uid": "1", "level": "Lv1"}]
            ),
            ("POST", "/api/v5/account/set-leverage"): lambda r: self.ok(
                [{"lever": "5", "mgnMode": "cross", "instId": "", "posSide": ""}]
            ),
            ("GET", "/api/v5/market/tickers"): self.tickers,
            ("GET", "/api/v5/market/ticker"): self.tickers,
            ("GET", "/api/v5/market/books"): self.books_rest,
            ("GET", "/api/v5/account/balance"): self.balance,
            ("GET", "/api/v5/account/positions"): lambda r: self.ok([]),
            ("GET", "/api/v5/trade/orders-pending"): lambda r: self.ok([]),
            ("GET", "/api/v5/public/funding-rate"): self.funding,
            ("GET", "/api/v5/public/time"): lambda r: self.ok([{"ts": str(_ms())}]),
            ("GET", "/api/v5/asset/balances"): lambda r: self.ok(
                [{"availBal": "0", "bal": "0", "ccy": "USDT", "frozenBal": "0"}]
            ),
            ("GET", "/api/v5/asset/deposit-history"): lambda r: self.ok([]),
            ("GET", "/api/v5/asset/withdrawal-history"): lambda r: self.ok([]),
        }

    def instruments(self, request: web.Request) -> Json:
        rows = [
            {
                "alias": "",
                "baseCcy": "",
                "category": "1",
                "ctMult": "1",
                "ctType": "linear",
                "ctVal": "0.01",
                "ctValCcy": coin,
                "expTime": "",
                "instFamily": f"{coin}-USDT",
                "instId": self.market_id(coin),
                "instType": "SWAP",
                "lever": "100",
                "listTime": "1573557408000",
                "lotSz": "1",
                "maxIcebergSz": "100000000",
                "maxLmtAmt": "20000000",
                "maxLmtSz": "100000000",
                "maxMktAmt": "",
                "maxMktSz": "12000",
                "maxStopSz": "12000",
                "maxTriggerSz": "100000000",
                "maxTwapSz": "100000000",
                "minSz": "1",
                "optType": "",
                "quoteCcy": "",
                "settleCcy": "USDT",
                "state": "live",
                "stk": "",
                "tickSz": f"{_tick(price)}",
                "uly": f"{coin}-USDT",
                "ruleType": "normal",
            }
            for coin, price in self.coins
        ]
        return self.ok(rows)

    def tickers(self, request: web.Request) -> Json:
        rows = []
        for coin, price in self.coins:
            book = self.books.get(coin)
            bid, ask = book.best() if book else (price, price * 1.0001)
            rows.append(
                {
                    "instType": "SWAP",
                    "instId": self.market_id(coin),
                    "last": str(price),
                    "lastSz": "1",
                    "askPx": str(ask),
                    "askSz": "10",
                    "bidPx": str(bid),
                    "bidSz": "10",
                    "open24h": str(price),
                    "high24h": str(price),
                    "low24h": str(price),
                    "volCcy24h": "1000",
                    "vol24h": "100000",
                    "ts": str(_ms()),
                    "sodUtc0": str(price),
                    "sodUtc8": str(price),
                }
            )
        inst = request.query.get("instId")
        return self.ok([r for r in rows if r["instId"] == inst] if inst else rows)

    def books_rest(self, request: web.Request) -> Json:
        book = self.books[self.coin_of(request.query["instId"])]  # type: ignore[index]
        asks, bids = book.levels()
        return self.ok(
            [
                {
                    "asks": [a + ["0", "1"] for a in asks],
                    "bids": [b + ["0", "1"] for b in bids],
                    "ts": str(_ms()),
                }
            ]
        )

    def balance(self, request: web.Request) -> Json:
        return self.ok(
            [
                {
                    "adjEq": "",
                    "imr": "",
                    "isoEq": "0",
                    "mgnRatio": "",
                    "mmr": "",
                    "notionalUsd": "",
                    "ordFroz": "",
                    "totalEq": "100000",
                    "uTime": str(_ms()),
                    "details": [
                        {
                            "availBal": "100000",
                            "availEq": "100000",
                            "cashBal": "100000",
                            "ccy": "USDT",
                            "disEq": "100000",
                            "eq": "100000",
                            "eqUsd": "100000",
                            "frozenBal": "0",
                            "ordFrozen": "0",
                            "upl": "0",
                            "uTime": str(_ms()),
                        }
                    ],
                }
            ]
        )

    def funding(self, request: web.Request) -> Json:
        inst = request.query.get("instId", "")
        next_ms = (_ms() // 28_800_000 + 1) * 28_800_000
        rows = [
            {
                "instType": "SWAP",
                "instId": self.market_id(c),
                "fundingRate": "0.0001",
                "nextFundingRate": "",
                "fundingTime": str(next_ms),
                "nextFundingTime": str(next_ms + 28_800_000),
                "method": "current_period",
                "maxFundingRate": "0.0075",
                "minFundingRate": "-0.0075",
                "settState": "settled",
                "settFundingRate": "0.0001",
                "ts": str(_ms()),
            }
            for c, _ in self.coins
            if inst in ("", "ANY", self.market_id(c))
        ]
        return self.ok(rows)

    def on_client(self, message: Json, subscribed: list[str]) -> list[Json]:
        replies: list[Json] = []
        for arg in message.get("args") or []:
            replies.append({"event": message.get("op"), "arg": arg, "connId": "x"})
            coin = self.coin_of(arg.get("instId", ""))
            if coin is None:
                continue
            if message.get("op") == "subscribe":
                if coin not in subscribed:
                    subscribed.append(coin)
                replies.append(self.frame(coin, "snapshot", *self.books[coin].levels()))
            elif coin in subscribed:
                subscribed.remove(coin)
        return replies

    def frame(self, coin: str, action: str, asks: list[list[str]], bids: list[list[str]]) -> Json:
        book = self.books[coin]
        mirror = Book(keep_text=True)
        all_asks, all_bids = book.levels()
        mirror.apply(mirror.asks, all_asks)
        mirror.apply(mirror.bids, all_bids)
        data = {
            "asks": [a + ["0", "1"] for a in asks],
            "bids": [b + ["0", "1"] for b in bids],
            "ts": str(_ms()),
            "checksum": okx_checksum(mirror),
            "seqId": book.seq,
            "prevSeqId": -1 if action == "snapshot" else book.seq - 3,
        }
        return {"arg": {"channel": "books", "instId": self.market_id(coin)}, "action": action, "data": [data]}

    # POST /api/v5/trade/order, or /api/v5/trade/batch-orders (ccxt okx.py's createOrder default,
    # options['createOrder'] = 'privatePostTradeBatchOrders'); code "1" with the row's sCode 51008 "Order
    # failed. Insufficient USDT margin in account" (okx.com/docs-v5/en/#order-book-trading-trade-post-place-
    # order, error code 51008; ccxt okx.py exceptions: '51008': InsufficientFunds), HTTP 200
    order_routes = (("POST", "/api/v5/trade/order"), ("POST", "/api/v5/trade/batch-orders"))

    def refuse_order(self) -> tuple[int, Json]:
        row = {"clOrdId": "", "ordId": "", "tag": "", "ts": str(_ms()), "sCode": "51008",
               "sMsg": "Order failed. Insufficient USDT margin in account"}
        return 200, {"code": "1", "msg": "All operations failed", "data": [row], "inTime": "", "outTime": ""}

    def diff_frames(self, coin: str, asks: list[list[str]], bids: list[list[str]]) -> list[Json]:
        return [self.frame(coin, "update", asks, bids)]


# --- CoinEx v2 futures ----------------------------------------------------------------------------
class Coinex(FakeVenue):
    venue = "coinex"

    def ok(self, data: Json) -> Json:
        return {"code": 0, "data": data, "message": "OK"}

    def not_found(self, path: str) -> tuple[int, Json]:
        return 404, {"code": 3008, "data": {}, "message": f"unknown path {path}"}

    def routes(self) -> dict[tuple[str, str], Callable[[web.Request], Json]]:
        return {
            ("GET", "/v2/spot/market"): lambda r: self.ok([]),
            ("GET", "/v2/futures/market"): self.markets,
            ("POST", "/v2/futures/adjust-position-leverage"): lambda r: self.ok(
                {"margin_mode": "cross", "leverage": 5}
            ),
            ("GET", "/v2/futures/ticker"): self.tickers,
            ("GET", "/v2/futures/depth"): self.depth_rest,
            ("GET", "/v2/assets/futures/balance"): lambda r: self.ok(
                [
                    {
                        "ccy": "USDT",
                        "available": "100000",
                        "frozen": "0",
                        "margin": "0",
                        "transferrable": "100000",
                        "unrealized_pnl": "0",
                        "equity": "100000",
                    }
                ]
            ),
            ("GET", "/v2/futures/pending-position"): lambda r: self.ok([]),
            ("GET", "/v2/futures/pending-order"): lambda r: {
                "code": 0,
                "data": [],
                "message": "OK",
                "pagination": {"has_next": False},
            },
            ("GET", "/v2/futures/funding-rate"): self.funding,
            ("GET", "/v2/time"): lambda r: self.ok({"timestamp": _ms()}),
        }

    def markets(self, request: web.Request) -> Json:
        return self.ok(
            [
                {
                    "market": self.market_id(coin),
                    "contract_type": "linear",
                    "maker_fee_rate": "0.0003",
                    "taker_fee_rate": "0.0005",
                    "min_amount": "0.0001",
                    "base_ccy": coin,
                    "quote_ccy": "USDT",
                    "base_ccy_precision": 8,
                    "quote_ccy_precision": 6,
                    "tick_size": f"{_tick(price)}",
                    "leverage": ["1", "2", "3", "5", "8", "10", "15", "20", "30", "50", "100"],
                    "open_interest_volume": "1000",
                    "is_market_available": True,
                    "is_copy_trading_available": True,
                }
                for coin, price in self.coins
            ]
        )

    def tickers(self, request: web.Request) -> Json:
        return self.ok(
            [
                {
                    "market": self.market_id(c),
                    "last": str(p),
                    "open": str(p),
                    "close": str(p),
                    "high": str(p),
                    "low": str(p),
                    "volume": "1000",
                    "value": "1000",
                    "volume_sell": "1",
                    "volume_buy": "1",
                    "index_price": str(p),
                    "mark_price": str(p),
                    "period": 86400,
                }
                for c, p in self.coins
            ]
        )

    def depth_rest(self, request: web.Request) -> Json:
        book = self.books[self.coin_of(request.query["market"])]  # type: ignore[index]
        asks, bids = book.levels()
        return self.ok(
            {
                "market": request.query["market"],
                "is_full": True,
                "depth": {"asks": asks, "bids": bids, "last": "1", "updated_at": _ms(), "checksum": 0},
            }
        )

    def funding(self, request: web.Request) -> Json:
        next_ms = (_ms() // 28_800_000 + 1) * 28_800_000
        return self.ok(
            [
                {
                    "market": self.market_id(c),
                    "mark_price": str(p),
                    "latest_funding_rate": "0.0001",
                    "next_funding_rate": "0.0001",
                    "max_funding_rate": "0.00375",
                    "min_funding_rate": "-0.00375",
                    "latest_funding_time": next_ms - 28_800_000,
                    "next_funding_time": next_ms,
                }
                for c, p in self.coins
            ]
        )

    def on_client(self, message: Json, subscribed: list[str]) -> list[Json]:
        replies: list[Json] = [
            gzip.compress(json.dumps({"id": message.get("id"), "code": 0, "message": "OK"}).encode())
        ]
        if message.get("method") == "depth.subscribe":
            subscribed.clear()
            for market, *_ in message["params"]["market_list"]:
                coin = self.coin_of(market)
                if coin:
                    subscribed.append(coin)
                    replies.append(self.frame(coin, True, *self.books[coin].levels()))
        return replies

    def frame(self, coin: str, full: bool, asks: list[list[str]], bids: list[list[str]]) -> bytes:
        mirror = Book(keep_text=True)
        all_asks, all_bids = self.books[coin].levels()
        mirror.apply(mirror.asks, all_asks)
        mirror.apply(mirror.bids, all_bids)
        message = {
            "method": "depth.update",
            "id": None,
            "data": {
                "market": self.market_id(coin),
                "is_full": full,
                "depth": {
                    "asks": asks,
                    "bids": bids,
                    "last": "1",
                    "updated_at": _ms(),
                    "checksum": coinex_checksum(mirror),
                },
            },
        }
        return gzip.compress(json.dumps(message).encode())

    # POST /v2/futures/order; code 3109 "balance not enough" (docs.coinex.com/api/v2/error; ccxt coinex.py
    # exceptions: '3109': InsufficientFunds, its comment carries this body), HTTP 200
    order_routes = (("POST", "/v2/futures/order"),)

    def refuse_order(self) -> tuple[int, Json]:
        return 200, {"code": 3109, "data": {}, "message": "balance not enough"}

    def diff_frames(self, coin: str, asks: list[list[str]], bids: list[list[str]]) -> list[Json]:
        return [self.frame(coin, False, asks, bids)]


# --- BitMEX linear USDT ---------------------------------------------------------------------------
class Bitmex(FakeVenue):
    venue = "bitmex"

    def market_id(self, coin: str) -> str:
        return f"{'XBT' if coin == 'BTC' else coin}USDT"

    def routes(self) -> dict[tuple[str, str], Callable[[web.Request], Json]]:
        return {
            ("GET", "/api/v1/instrument/activeAndIndices"): self.instruments,
            ("GET", "/api/v1/instrument/active"): self.instruments,
            ("GET", "/api/v1/instrument"): self.instruments,
            ("POST", "/api/v1/position/leverage"): lambda r: {},
            ("GET", "/api/v1/orderBook/L2"): self.depth_rest,
            ("GET", "/api/v1/user/margin"): lambda r: [
                {
                    "account": 1,
                    "currency": "USDt",
                    "walletBalance": 100000000000,
                    "marginBalance": 100000000000,
                    "availableMargin": 100000000000,
                    "unrealisedPnl": 0,
                    "realisedPnl": 0,
                    "timestamp": "2024-11-25T01:00:00.000Z",
                }
            ],
            ("GET", "/api/v1/position"): lambda r: [],
            ("GET", "/api/v1/order"): lambda r: [],
        }

    def instruments(self, request: web.Request) -> Json:
        rows = []
        for coin, price in self.coins:
            rows.append(
                {
                    "symbol": self.market_id(coin),
                    "rootSymbol": coin,
                    "state": "Open",
                    "typ": "FFWCSX",
                    "listing": "2021-11-10T04:00:00.000Z",
                    "front": "2021-11-10T04:00:00.000Z",
                    "expiry": None,
                    "settle": None,
                    "positionCurrency": "",
                    "underlying": coin,
                    "quoteCurrency": "USDT",
                    "underlyingSymbol": f"{coin}T=",
                    "reference": "BMEX",
                    "referenceSymbol": f".B{coin}T",
                    "maxOrderQty": 1000000000,
                    "maxPrice": 10000000,
                    "lotSize": 1000,
                    "tickSize": _tick(price),
                    "multiplier": 1,
                    "settlCurrency": "USDt",
                    "underlyingToPositionMultiplier": 1000000,
                    "underlyingToSettleMultiplier": None,
                    "quoteToSettleMultiplier": 1000000,
                    "isQuanto": False,
                    "isInverse": False,
                    "initMargin": 0.01,
                    "maintMargin": 0.005,
                    "riskLimit": 1000000000000,
                    "riskStep": 1000000000000,
                    "taxed": True,
                    "deleverage": True,
                    "makerFee": -0.0001,
                    "takerFee": 0.0005,
                    "settlementFee": 0,
                    "fundingTimestamp": "2024-11-25T04:00:00.000Z",
                    "fundingInterval": "2000-01-01T08:00:00.000Z",
                    "fundingRate": 0.0001,
                    "indicativeFundingRate": 0.0001,
                    "prevClosePrice": price,
                    "volume": 1000,
                    "totalVolume": 1000000,
                    "openInterest": 5000000,
                    "markPrice": price,
                    "lastPrice": price,
                    "bidPrice": price,
                    "midPrice": price,
                    "askPrice": price,
                    "timestamp": "2024-11-25T01:00:00.000Z",
                }
            )
        return rows

    def depth_rest(self, request: web.Request) -> Json:
        coin = self.coin_of(request.query["symbol"])
        return self.rows(coin, with_price=True)  # type: ignore[arg-type]

    def level_id(self, coin: str, price: float) -> int:
        return int(round(price / self.books[coin].tick)) + 10**9 * (1 + list(self.books).index(coin))

    def rows(
        self, coin: str, *, with_price: bool, only: list[list[str]] | None = None, side: str = ""
    ) -> list[Json]:
        book = self.books[coin]
        out = []
        sides = [("Sell", book.asks), ("Buy", book.bids)] if only is None else [(side, None)]
        for name, levels in sides:
            items = (
                [(p, s) for p, s in levels.items()]
                if levels is not None
                else [(float(p), int(s)) for p, s in only or []]
            )
            for price, size in items:
                row = {
                    "symbol": self.market_id(coin),
                    "id": self.level_id(coin, price),
                    "side": name,
                    "size": size * 1000,
                    "timestamp": _iso_now(),
                }
                if with_price:
                    row["price"] = price
                out.append(row)
        return out

    def on_client(self, message: Json, subscribed: list[str]) -> list[Json]:
        replies: list[Json] = []
        for arg in message.get("args") or []:
            replies.append({"success": True, message.get("op", "subscribe"): arg})
            coin = self.coin_of(arg.split(":")[-1])
            if coin and message.get("op") == "subscribe":
                if coin not in subscribed:
                    subscribed.append(coin)
                replies.append(
                    {
                        "table": "orderBookL2_25",
                        "action": "partial",
                        "keys": ["symbol", "id", "side"],
                        "filter": {"symbol": self.market_id(coin)},
                        "data": self.rows(coin, with_price=True),
                    }
                )
            elif coin in subscribed:
                subscribed.remove(coin)
        return replies

    # POST /api/v1/order; HTTP 400 {"error": {"message": "Account has insufficient Available Balance, ...",
    # "name": "ValidationError"}} (bitmex.com/api/explorer error format; ccxt bitmex.py exceptions broad:
    # 'Account has insufficient Available Balance': InsufficientFunds)
    order_routes = (("POST", "/api/v1/order"),)

    def refuse_order(self) -> tuple[int, Json]:
        return 400, {"error": {"message": "Account has insufficient Available Balance, 114 USDt required",
                               "name": "ValidationError"}}

    def diff_frames(self, coin: str, asks: list[list[str]], bids: list[list[str]]) -> list[Json]:
        data = self.rows(coin, with_price=True, only=asks, side="Sell") + self.rows(
            coin, with_price=True, only=bids, side="Buy"
        )
        return [{"table": "orderBookL2_25", "action": "update", "data": data}]

    def move_frames(self, coin: str, factor: float) -> list[Json]:
        """BitMEX has no level removal by size 0: the old levels are deleted by id, the new ones inserted."""
        asks, bids = self.books[coin].shift(factor)
        frames = []
        for action, gone in (("delete", True), ("insert", False)):
            rows = []
            for side, changed in (("Sell", asks), ("Buy", bids)):
                picked = [row for row in changed if (row[1] == "0") == gone]
                rows += self.rows(coin, with_price=not gone, only=picked, side=side)
            frames.append({"table": "orderBookL2_25", "action": action, "data": rows})
        return frames


VENUES: dict[str, type[FakeVenue]] = {
    "binance": Binance,
    "bybit": Bybit,
    "okx": Okx,
    "coinex": Coinex,
    "bitmex": Bitmex,
}


async def serve(
    traded: list[tuple[str, float]], listed: int, interval_ms: int, ready: Callable[[dict[str, int]], None]
) -> dict[str, FakeVenue]:
    """Start every fake venue on a free loopback port; `ready` gets {venue: port}."""
    venues: dict[str, FakeVenue] = {}
    ports: dict[str, int] = {}
    for seed, (name, cls) in enumerate(VENUES.items()):
        venue = cls(traded, listed, interval_ms, seed)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", venue.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports[name] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        venues[name] = venue
    ready(ports)
    return venues
