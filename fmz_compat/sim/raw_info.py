"""Each simulated venue's raw payloads (FMZ's `Info`) for orders, positions and accounts.

A strategy that reads `Info` meets what it meets live: each venue's own field names, value types and units,
from the venues' documented responses as ccxt recorded them (ccxt/ccxt,
ts/src/test/static/response/<venue>.json) and as ccxt 4.5.83's parsers read them (parse_order /
parse_position / fetch_balance):

- Binance USDⓈ-M: order (GET /fapi/v1/order), position (GET /fapi/v3/positionRisk), account
  (GET /fapi/v3/account).
- Bybit V5 linear: order (GET /v5/order/realtime|history item), position (GET /v5/position/list item), account
  (GET /v5/account/wallet-balance, unified account, whole response).
- OKX V5 swap: order (GET /api/v5/trade/order item), position (GET /api/v5/account/positions item), account
  (GET /api/v5/account/balance, whole response).
- CoinEx futures v2: order (GET /futures/order-status; the pending/finished lists carry no `status`), position
  (GET /futures/pending-position item, which has no mark price), account (GET /assets/futures/balance).
- BitMEX: order (GET /order item), position (GET /position item), account (GET /user/margin?currency=all);
  amounts of the settle currency in its smallest unit (USDt: 1e-6 USDT, XBt: 1e-8 XBT), as BitMEX sends them.

Orders carry the client id where each venue does (clientOrderId, orderLinkId, clOrdId, client_id, clOrdID),
and the venue's own order closing a liquidated position is marked as the venue marks it (Binance USD-M
clientOrderId autoclose-..., OKX category full_liquidation, Bybit createType CreateByLiq).
Liquidation/bankruptcy prices and maintenance figures are left out: the simulator does not publish its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from fmz_compat.core import ORDER_STATE_CLOSED, ORDER_STATE_PENDING
from fmz_compat.sim.params import ContractSpec

CLIENT_ID_FIELD = {
    "binance": "clientOrderId",
    "bybit": "orderLinkId",
    "okx": "clOrdId",
    "coinex": "client_id",
    "bitmex": "clOrdID",
}
_BITMEX_UNIT = {"USDT": 10**6, "XBT": 10**8, "BTC": 10**8}  # USDt, XBt
_BITMEX_CCY = {"USDT": "USDt", "XBT": "XBt", "BTC": "XBt"}


@dataclass(frozen=True)
class OrderView:
    """What a raw order needs from the simulator (quantities in contracts, prices in quote)."""

    n: int
    client_id: str
    side: str  # buy | sell
    price: float  # <= 0 for market
    amount: float
    filled: float
    avg_price: float
    cost: float  # quote value filled (linear: price x base)
    fee: float  # charged > 0, rebate < 0 (settle currency)
    tif: str  # GTC | IOC | FOK
    post_only: bool
    reduce_only: bool
    status: int  # FMZ ORDER_STATE_*
    time_ms: int
    leverage: int
    isolated: bool
    liquidation: bool = False  # the venue's own order closing a liquidated position
    adl: bool = False  # the venue's own ADL order (OKX category adl, Bybit CreateByAdl_PassThrough)


class PositionView(NamedTuple):  # one per position per GetPositions: a tuple is built several times faster
    qty: float  # signed contracts
    entry: float
    mark: float
    last: float
    upnl: float
    margin: float  # margin the position holds (isolated margin, or notional / leverage on cross)
    leverage: int
    isolated: bool
    time_ms: int


@dataclass(frozen=True)
class AssetView:
    asset: str
    wallet: float
    equity: float
    available: float
    upnl: float
    position_margin: float
    order_margin: float
    time_ms: int


def num(x: float, places: int | None = None) -> str:
    """A decimal string as venues send numbers: never exponent notation."""
    if places is not None:
        return f"{x:.{places}f}"
    text = _NUM_TEXT.get(x)
    if text is None:  # every GetAccount / GetPositions writes each figure this way: a balance repeats
        if len(_NUM_TEXT) >= 4096:
            _NUM_TEXT.clear()
        text = _NUM_TEXT[x] = _plain(x) if x else "0"
    return text


def _plain(x: float) -> str:
    """format(Decimal(repr(round(x, 10))).normalize(), "f"): the shortest repr with its trailing zeros (and a
    bare point) dropped; through Decimal only when the repr has an exponent (or is inf / nan)."""
    text = repr(round(float(x), 10))
    if "e" in text or "n" in text:
        return format(Decimal(text).normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


_NUM_TEXT: dict[float, str] = {}  # num() without places, by value (equal values give equal text)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _base(spec: ContractSpec, contracts: float) -> float:
    """Quantity in the units the venue counts orders in for linear swaps (base coin), from contracts."""
    return contracts if spec.inverse else contracts * spec.ct_val


def _qty_places(spec: ContractSpec) -> int:
    key = (spec.amount_step, spec.ct_val, spec.inverse)
    places = _QTY_PLACES.get(key)
    if places is None:
        places = _QTY_PLACES[key] = _count_qty_places(spec)
    return places


_QTY_PLACES: dict[tuple[float, float, bool], int] = {}  # by (amount_step, ct_val, inverse)


def _count_qty_places(spec: ContractSpec) -> int:
    return max(
        0,
        -Decimal(repr(spec.amount_step * (1 if spec.inverse else spec.ct_val)))
        .normalize()
        .as_tuple()
        .exponent,
    )


# --- orders ----------------------------------------------------------------------------------------
def order_info(venue: str, o: OrderView, spec: ContractSpec, *, queried: bool = True) -> dict[str, Any]:
    """The venue's raw order; `queried` False for list answers that omit fields (CoinEx status)."""
    return _ORDER_BUILDERS[venue](o, spec, queried)


def _remaining(o: OrderView) -> float:
    return 0.0 if o.status != ORDER_STATE_PENDING else max(0.0, o.amount - o.filled)


def _binance_order(o: OrderView, spec: ContractSpec, _queried: bool) -> dict[str, Any]:
    px, qp = spec.price_precision, _qty_places(spec)
    market = o.price <= 0
    if o.status == ORDER_STATE_PENDING:
        status = "PARTIALLY_FILLED" if o.filled else "NEW"
    elif o.status == ORDER_STATE_CLOSED:
        status = "FILLED"
    else:  # an IOC/FOK or market remainder expires; a resting order is canceled
        status = "EXPIRED" if market or o.tif in ("IOC", "FOK") else "CANCELED"
    kind = "MARKET" if market else "LIMIT"
    return {
        "orderId": o.n,
        "symbol": spec.native,
        "status": status,
        "clientOrderId": "autoclose-sim" if o.liquidation else o.client_id,
        "price": num(0.0 if market else o.price, px),
        "avgPrice": num(o.avg_price, px),
        "origQty": num(_base(spec, o.amount), qp),
        "executedQty": num(_base(spec, o.filled), qp),
        "cumQty": num(_base(spec, o.filled), qp),
        "cumQuote": num(o.cost),
        "timeInForce": "GTX" if o.post_only else o.tif,
        "type": kind,
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": o.side.upper(),
        "positionSide": "BOTH",
        "stopPrice": num(0.0, px),
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": kind,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "time": o.time_ms,
        "updateTime": o.time_ms,
    }


def _bybit_order(o: OrderView, spec: ContractSpec, _queried: bool) -> dict[str, Any]:
    market = o.price <= 0
    if o.status == ORDER_STATE_PENDING:
        status = "PartiallyFilled" if o.filled else "New"
    elif o.status == ORDER_STATE_CLOSED:
        status = "Filled"
    else:
        status = "PartiallyFilledCanceled" if o.filled else "Cancelled"
    qp = _qty_places(spec)
    remaining = _base(spec, _remaining(o))
    return {
        "orderId": str(o.n),
        "orderLinkId": o.client_id,
        "blockTradeId": "",
        "symbol": spec.native,
        "price": num(0.0 if market else o.price),
        "qty": num(_base(spec, o.amount), qp),
        "side": "Buy" if o.side == "buy" else "Sell",
        "isLeverage": "",
        "positionIdx": 0,
        "orderStatus": status,
        "createType": ("CreateByLiq" if o.liquidation else "CreateByAdl_PassThrough" if o.adl
                       else "CreateByUser"),
        "cancelType": "UNKNOWN" if status in ("New", "PartiallyFilled", "Filled") else "CancelByUser",
        "rejectReason": "EC_NoError",
        "avgPrice": num(o.avg_price) if o.filled else "",
        "leavesQty": num(remaining, qp),
        "leavesValue": num(remaining * max(o.price, 0.0)),
        "cumExecQty": num(_base(spec, o.filled), qp),
        "cumExecValue": num(o.cost),
        "cumExecFee": num(o.fee),
        "cumFeeDetail": {_settle(spec): num(o.fee)} if o.filled else {},
        "extraFees": "",
        "slippageTolerance": "0",
        "slippageToleranceType": "UNKNOWN",
        "timeInForce": "PostOnly" if o.post_only else o.tif,
        "orderType": "Market" if market else "Limit",
        "stopOrderType": "",
        "orderIv": "",
        "marketUnit": "",
        "triggerPrice": "",
        "takeProfit": "",
        "stopLoss": "",
        "tpslMode": "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": "",
        "lastPriceOnCreated": "",
        "reduceOnly": o.reduce_only,
        "closeOnTrigger": False,
        "placeType": "",
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "createdTime": str(o.time_ms),
        "updatedTime": str(o.time_ms),
    }


def _okx_order(o: OrderView, spec: ContractSpec, _queried: bool) -> dict[str, Any]:
    market = o.price <= 0
    if o.status == ORDER_STATE_PENDING:
        state = "partially_filled" if o.filled else "live"
    else:
        state = "filled" if o.status == ORDER_STATE_CLOSED else "canceled"
    kind = (
        "market"
        if market
        else "post_only"
        if o.post_only
        else {"IOC": "ioc", "FOK": "fok"}.get(o.tif, "limit")
    )
    settle = _settle(spec)
    return {
        "instType": "SWAP" if spec.native.endswith("-SWAP") else "FUTURES",  # OKX names dated ones FUTURES
        "instId": spec.native,
        "tgtCcy": "",
        "ccy": "",
        "ordId": str(o.n),
        "clOrdId": o.client_id,
        "tag": "",
        "px": "" if market else num(o.price),
        "pxUsd": "",
        "pxVol": "",
        "pxType": "",
        "sz": num(o.amount),
        "pnl": "0",
        "ordType": kind,
        "side": o.side,
        "posSide": "net",
        "tdMode": "isolated" if o.isolated else "cross",
        "accFillSz": num(o.filled),
        "fillPx": num(o.avg_price) if o.filled else "",
        "tradeId": "",
        "fillSz": num(o.filled) if o.filled else "0",
        "fillTime": str(o.time_ms) if o.filled else "",
        "avgPx": num(o.avg_price) if o.filled else "",
        "state": state,
        "stpId": "",
        "stpMode": "cancel_maker",
        "lever": str(o.leverage),
        "attachAlgoClOrdId": "",
        "tpTriggerPx": "",
        "tpTriggerPxType": "",
        "tpOrdPx": "",
        "slTriggerPx": "",
        "slTriggerPxType": "",
        "slOrdPx": "",
        "attachAlgoOrds": [],
        "linkedAlgoOrd": {"algoId": ""},
        "feeCcy": settle,
        "fee": num(-o.fee),
        "rebateCcy": settle,
        "rebate": "0",
        "source": "",
        "category": "full_liquidation" if o.liquidation else "adl" if o.adl else "normal",
        "reduceOnly": "true" if o.reduce_only else "false",
        "isTpLimit": "false",
        "cancelSource": "",
        "cancelSourceReason": "",
        "quickMgnType": "",
        "algoClOrdId": "",
        "algoId": "",
        "uTime": str(o.time_ms),
        "cTime": str(o.time_ms),
    }


def _coinex_order(o: OrderView, spec: ContractSpec, queried: bool) -> dict[str, Any]:
    market = o.price <= 0
    kind = (
        "market"
        if market
        else "maker_only"
        if o.post_only
        else {"IOC": "ioc", "FOK": "fok"}.get(o.tif, "limit")
    )
    qp = _qty_places(spec)
    info: dict[str, Any] = {
        "order_id": o.n,
        "market": spec.native,
        "market_type": "FUTURES",
        "side": o.side,
        "type": kind,
        "amount": num(_base(spec, o.amount), qp),
        "price": num(0.0 if market else o.price),
        "client_id": o.client_id,
        "created_at": o.time_ms,
        "updated_at": o.time_ms,
        "unfilled_amount": num(_base(spec, _remaining(o)), qp),
        "filled_amount": num(_base(spec, o.filled), qp),
        "filled_value": num(o.cost),
        "last_filled_amount": num(_base(spec, o.filled), qp),
        "last_filled_price": num(o.avg_price),
        "fee": num(o.fee),
        "fee_ccy": _settle(spec),
        "maker_fee_rate": "0",
        "taker_fee_rate": "0",
        "realized_pnl": "0",
    }
    if queried:  # GET /futures/order-status; the pending and finished lists have no status field
        if o.status == ORDER_STATE_PENDING:
            info["status"] = "part_filled" if o.filled else "open"
        elif o.status == ORDER_STATE_CLOSED:
            info["status"] = "filled"
        else:
            info["status"] = "part_canceled" if o.filled else "canceled"
    return info


def _bitmex_order(o: OrderView, spec: ContractSpec, _queried: bool) -> dict[str, Any]:
    market = o.price <= 0
    if o.status == ORDER_STATE_PENDING:
        status = "PartiallyFilled" if o.filled else "New"
    else:
        status = "Filled" if o.status == ORDER_STATE_CLOSED else "Canceled"
    inst = [
        *(["ParticipateDoNotInitiate"] if o.post_only else []),
        *(["ReduceOnly"] if o.reduce_only else []),
    ]
    settle = _settle(spec)
    return {
        "orderID": str(o.n),
        "clOrdID": o.client_id,
        "clOrdLinkID": "",
        "account": 0,
        "symbol": spec.native,
        "side": "Buy" if o.side == "buy" else "Sell",
        "orderQty": _int(o.amount),
        "price": (o.avg_price or None) if market else o.price,
        "displayQty": None,
        "stopPx": None,
        "pegOffsetValue": None,
        "pegPriceType": "",
        "currency": _quote(spec),
        "settlCurrency": _BITMEX_CCY.get(settle, settle),
        "ordType": "Market" if market else "Limit",
        "timeInForce": {"IOC": "ImmediateOrCancel", "FOK": "FillOrKill"}.get(o.tif, "GoodTillCancel"),
        "execInst": ",".join(inst),
        "contingencyType": "",
        "ordStatus": status,
        "triggered": "",
        "workingIndicator": o.status == ORDER_STATE_PENDING,
        "ordRejReason": "",
        "leavesQty": _int(_remaining(o)),
        "cumQty": _int(o.filled),
        "avgPx": o.avg_price or None,
        "text": "",
        "transactTime": _iso(o.time_ms),
        "timestamp": _iso(o.time_ms),
    }


_ORDER_BUILDERS = {
    "binance": _binance_order,
    "bybit": _bybit_order,
    "okx": _okx_order,
    "coinex": _coinex_order,
    "bitmex": _bitmex_order,
}


# --- positions -------------------------------------------------------------------------------------
def position_info(venue: str, p: PositionView, spec: ContractSpec) -> dict[str, Any]:
    return _POSITION_BUILDERS[venue](p, spec)


def _notional(p: PositionView, spec: ContractSpec, price: float) -> float:
    return abs(p.qty) * spec.ct_val / price if spec.inverse else abs(p.qty) * spec.ct_val * price


def _binance_position(p: PositionView, spec: ContractSpec) -> dict[str, Any]:
    sign = 1 if p.qty > 0 else -1
    iso = num(p.margin) if p.isolated else "0"
    return {
        "symbol": spec.native,
        "positionSide": "BOTH",
        "positionAmt": num(_base(spec, p.qty), _qty_places(spec)),
        "entryPrice": num(p.entry),
        "markPrice": num(p.mark),
        "unRealizedProfit": num(p.upnl),
        "isolatedMargin": iso,
        "notional": num(sign * _notional(p, spec, p.mark)),
        "marginAsset": _settle(spec),
        "isolatedWallet": iso,
        "initialMargin": num(p.margin),
        "positionInitialMargin": num(p.margin),
        "openOrderInitialMargin": "0",
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": p.time_ms,
    }


def _bybit_position(p: PositionView, spec: ContractSpec) -> dict[str, Any]:
    return {
        "positionIdx": 0,
        "riskId": 1,
        "symbol": spec.native,
        "side": "Buy" if p.qty > 0 else "Sell",
        "size": num(_base(spec, abs(p.qty)), _qty_places(spec)),
        "avgPrice": num(p.entry),
        "positionValue": num(_notional(p, spec, p.entry)),
        "tradeMode": 1 if p.isolated else 0,
        "autoAddMargin": 0,
        "positionStatus": "Normal",
        "leverage": str(p.leverage),
        "markPrice": num(p.mark),
        "positionIM": num(p.margin),
        "positionBalance": num(p.margin) if p.isolated else "0",
        "takeProfit": "",
        "stopLoss": "",
        "trailingStop": "0",
        "sessionAvgPrice": "",
        "unrealisedPnl": num(p.upnl),
        "curRealisedPnl": "0",
        "cumRealisedPnl": "0",
        "adlRankIndicator": 2,
        "isReduceOnly": False,
        "createdTime": str(p.time_ms),
        "updatedTime": str(p.time_ms),
    }


def _okx_position(p: PositionView, spec: ContractSpec) -> dict[str, Any]:
    return {
        "instType": "SWAP" if spec.native.endswith("-SWAP") else "FUTURES",  # OKX names dated ones FUTURES
        "instId": spec.native,
        "mgnMode": "isolated" if p.isolated else "cross",
        "posId": "",
        "posSide": "net",
        "pos": num(p.qty),
        "baseBal": "",
        "quoteBal": "",
        "posCcy": "",
        "ccy": _settle(spec),
        "availPos": num(abs(p.qty)) if p.isolated else "",
        "avgPx": num(p.entry),
        "markPx": num(p.mark),
        "last": num(p.last),
        "upl": num(p.upnl),
        "uplLastPx": num(p.upnl),
        "uplRatio": num(p.upnl / p.margin) if p.margin else "0",
        "lever": str(p.leverage),
        "imr": "" if p.isolated else num(p.margin),
        "margin": num(p.margin) if p.isolated else "",
        "liab": "",
        "liabCcy": "",
        "interest": "",
        "tradeId": "",
        "notionalUsd": num(_notional(p, spec, p.mark)),
        "optVal": "",
        "adl": "1",
        "realizedPnl": "0",
        "pnl": "0",
        "fee": "0",
        "fundingFee": "0",
        "liqPenalty": "0",
        "cTime": str(p.time_ms),
        "uTime": str(p.time_ms),
    }


def _coinex_position(p: PositionView, spec: ContractSpec) -> dict[str, Any]:
    qp = _qty_places(spec)
    size = num(_base(spec, abs(p.qty)), qp)
    value = num(_notional(p, spec, p.entry))
    return {
        "position_id": 0,
        "market": spec.native,
        "market_type": "FUTURES",
        "side": "long" if p.qty > 0 else "short",
        "margin_mode": "isolated" if p.isolated else "cross",
        "open_interest": size,
        "close_avbl": size,
        "ath_position_amount": size,
        "unrealized_pnl": num(p.upnl),
        "realized_pnl": "0",
        "avg_entry_price": num(p.entry),
        "cml_position_value": value,
        "max_position_value": value,
        "take_profit_price": "0",
        "stop_loss_price": "0",
        "take_profit_type": "",
        "stop_loss_type": "",
        "leverage": str(p.leverage),
        "margin_avbl": num(p.margin),
        "ath_margin_size": num(p.margin),
        "adl_level": 1,
        "settle_price": num(p.entry),
        "settle_value": value,
        "created_at": p.time_ms,
        "updated_at": p.time_ms,
    }


def _bitmex_position(p: PositionView, spec: ContractSpec) -> dict[str, Any]:
    settle = _settle(spec)
    unit = _BITMEX_UNIT.get(settle, 10**6)
    base = p.qty * spec.ct_val / p.mark if spec.inverse else p.qty * spec.ct_val
    quote = base * p.mark
    return {
        "account": 0,
        "symbol": spec.native,
        "currency": _BITMEX_CCY.get(settle, settle),
        "underlying": "XBT" if spec.pair.startswith("BTC") else spec.pair.split("_")[0],
        "quoteCurrency": _quote(spec),
        "leverage": p.leverage,
        "crossMargin": not p.isolated,
        "initMarginReq": 1 / p.leverage,
        "currentQty": _int(p.qty),
        "isOpen": True,
        "markPrice": p.mark,
        "homeNotional": base,
        "foreignNotional": -quote,
        "posMargin": _int(p.margin * unit),
        "realisedPnl": 0,
        "unrealisedPnl": _int(p.upnl * unit),
        "unrealisedPnlPcnt": p.upnl / abs(quote) if quote else 0,
        "avgCostPrice": p.entry,
        "avgEntryPrice": p.entry,
        "lastPrice": p.last,
        "timestamp": _iso(p.time_ms),
    }


_POSITION_BUILDERS = {
    "binance": _binance_position,
    "bybit": _bybit_position,
    "okx": _okx_position,
    "coinex": _coinex_position,
    "bitmex": _bitmex_position,
}


# --- accounts --------------------------------------------------------------------------------------
def account_info(venue: str, assets: list[AssetView], positions: list[dict[str, Any]]) -> Any:
    """The venue's whole balance answer (as ccxt keeps it in `info`); `positions` are Binance's raw rows."""
    return _ACCOUNT_BUILDERS[venue](assets, positions)


def _binance_account(assets: list[AssetView], positions: list[dict[str, Any]]) -> dict[str, Any]:
    usdt = next((a for a in assets if a.asset == "USDT"), None)
    rows = [
        {
            "asset": a.asset,
            "walletBalance": num(a.wallet),
            "unrealizedProfit": num(a.upnl),
            "marginBalance": num(a.equity),
            "initialMargin": num(a.position_margin + a.order_margin),
            "positionInitialMargin": num(a.position_margin),
            "openOrderInitialMargin": num(a.order_margin),
            "crossWalletBalance": num(a.wallet),
            "crossUnPnl": num(a.upnl),
            "availableBalance": num(a.available),
            "maxWithdrawAmount": num(max(0.0, min(a.available, a.wallet))),
            "updateTime": a.time_ms,
        }
        for a in assets
    ]
    total = {
        k: num(getattr(usdt, f)) if usdt else "0"
        for k, f in (
            ("totalWalletBalance", "wallet"),
            ("totalUnrealizedProfit", "upnl"),
            ("totalMarginBalance", "equity"),
            ("totalCrossWalletBalance", "wallet"),
            ("totalCrossUnPnl", "upnl"),
            ("availableBalance", "available"),
            ("totalPositionInitialMargin", "position_margin"),
            ("totalOpenOrderInitialMargin", "order_margin"),
        )
    }
    total["totalInitialMargin"] = num(usdt.position_margin + usdt.order_margin) if usdt else "0"
    total["maxWithdrawAmount"] = num(max(0.0, min(usdt.available, usdt.wallet))) if usdt else "0"
    rows_positions = [
        {
            k: row[k]
            for k in (
                "symbol",
                "positionSide",
                "positionAmt",
                "isolatedMargin",
                "notional",
                "isolatedWallet",
                "initialMargin",
                "updateTime",
            )
        }
        | {"unrealizedProfit": row["unRealizedProfit"]}
        for row in positions
    ]
    return {**total, "assets": rows, "positions": rows_positions}


def _bybit_account(assets: list[AssetView], _positions: list[dict[str, Any]]) -> dict[str, Any]:
    coins = [
        {
            "coin": a.asset,
            "equity": num(a.equity),
            "usdValue": num(a.equity) if a.asset == "USDT" else "",
            "walletBalance": num(a.wallet),
            "locked": "0",
            "borrowAmount": "0",
            "accruedInterest": "0",
            "availableToWithdraw": "",
            "totalOrderIM": num(a.order_margin),
            "totalPositionIM": num(a.position_margin),
            "unrealisedPnl": num(a.upnl),
            "cumRealisedPnl": "0",
            "bonus": "0",
                    }
        for a in assets
    ]
    usdt = next((a for a in assets if a.asset == "USDT"), None)
    wallet = usdt.wallet if usdt else 0.0
    im = (usdt.position_margin + usdt.order_margin) if usdt else 0.0
    account = {
        "accountType": "UNIFIED",
        "totalEquity": num(usdt.equity if usdt else 0.0),
        "totalWalletBalance": num(wallet),
        "totalMarginBalance": num(usdt.equity if usdt else 0.0),
        "totalAvailableBalance": num(usdt.available if usdt else 0.0),
        "totalPerpUPL": num(usdt.upnl if usdt else 0),
        "totalInitialMargin": num(im),
        "accountLTV": "",
        "coin": coins,
    }
    time_ms = max((a.time_ms for a in assets), default=0)
    return {"retCode": 0, "retMsg": "OK", "result": {"list": [account]}, "retExtInfo": {}, "time": time_ms}


def _okx_account(assets: list[AssetView], _positions: list[dict[str, Any]]) -> dict[str, Any]:
    details = [
        {
            "ccy": a.asset,
            "eq": num(a.equity),
            "cashBal": num(a.wallet),
            "availBal": num(a.available),
            "availEq": num(a.available),
            "frozenBal": num(max(0.0, a.equity - a.available)),
            "ordFrozen": num(a.order_margin),
            "upl": num(a.upnl),
            "isoEq": "0",
            "isoUpl": "0",
            "imr": num(a.position_margin),
            "disEq": num(a.equity) if a.asset == "USDT" else "",
            "eqUsd": num(a.equity) if a.asset == "USDT" else "",
            "liab": "",
            "interest": "",
            "maxLoan": "",
            "uTime": str(a.time_ms),
        }
        for a in assets
    ]
    usdt = next((a for a in assets if a.asset == "USDT"), None)
    time_ms = max((a.time_ms for a in assets), default=0)
    return {
        "code": "0",
        "msg": "",
        "data": [
            {
                "adjEq": "",
                "availEq": "",
                "borrowFroz": "",
                "details": details,
                "isoEq": "0",
                "notionalUsd": "",
                "ordFroz": "",
                "totalEq": num(usdt.equity) if usdt else "0",
                "upl": num(usdt.upnl) if usdt else "0",
                "uTime": str(time_ms),
            }
        ],
    }


def _coinex_account(assets: list[AssetView], _positions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "code": 0,
        "data": [
            {
                "ccy": a.asset,
                # CoinEx's own definitions: available = balance - frozen, balance excluding the position
                # margin; margin = initial margin + unrealized PNL (docs.coinex.com get-futures-balance)
                "available": num(a.wallet - a.position_margin - a.order_margin),
                "frozen": num(a.order_margin),
                "margin": num(a.position_margin + a.upnl),
                "transferrable": num(max(0.0, a.wallet - a.position_margin - a.order_margin)),
                "unrealized_pnl": num(a.upnl),
            }
            for a in assets
        ],
        "message": "OK",
    }


def _bitmex_account(assets: list[AssetView], _positions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for a in assets:
        unit = _BITMEX_UNIT.get(a.asset, 10**6)
        rows.append(
            {
                "account": 0,
                "currency": _BITMEX_CCY.get(a.asset, a.asset),
                "riskLimit": 1_000_000_000_000,
                "amount": _int(a.wallet * unit),
                "grossComm": 0,
                "grossOpenCost": 0,
                "grossOpenPremium": 0,
                "grossMarkValue": 0,
                "riskValue": 0,
                "initMargin": _int(a.order_margin * unit),
                "maintMargin": _int(a.position_margin * unit),
                "targetExcessMargin": 0,
                "realisedPnl": 0,
                "unrealisedPnl": _int(a.upnl * unit),
                "walletBalance": _int(a.wallet * unit),
                "marginBalance": _int(a.equity * unit),
                "marginLeverage": 0,
                "marginUsedPcnt": 0,
                "excessMargin": _int(a.available * unit),
                "availableMargin": _int(a.available * unit),
                "withdrawableMargin": _int(max(0.0, min(a.available, a.wallet)) * unit),
                "timestamp": _iso(a.time_ms),
            }
        )
    return rows


_ACCOUNT_BUILDERS = {
    "binance": _binance_account,
    "bybit": _bybit_account,
    "okx": _okx_account,
    "coinex": _coinex_account,
    "bitmex": _bitmex_account,
}


def _settle(spec: ContractSpec) -> str:
    base, quote = spec.pair.split("_")
    return base if quote == "USD" else quote


def _quote(spec: ContractSpec) -> str:
    return spec.pair.split("_")[1]


def _int(x: float) -> int:
    return int(round(x))
