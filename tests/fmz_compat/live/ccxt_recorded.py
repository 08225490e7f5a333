"""Venue answers recorded by ccxt, copied as test data (not code) from ccxt/ccxt (MIT).

Each constant is one `httpResponse` of ccxt's static response fixtures, repo ccxt/ccxt, path
ts/src/test/static/response/<venue>.json, at the commit named, under the method key and description named.
The values are as recorded (strings stay strings, ids keep their type); where a test needs our client id in
a row, it substitutes it with dict(..., field=ours) and says so. These are the venues' answers as ccxt met
them live, not our reading of the venues' docs (venue_payloads.py is that).
"""

from __future__ import annotations

from typing import Any

REPO = "ccxt/ccxt"
BINANCE_FILE = "ts/src/test/static/response/binance.json @05776890e288bf88d1aeba7b62da9e697d3e37f5"
BYBIT_FILE = "ts/src/test/static/response/bybit.json @04890d69ab3b30f431dc1da3534d1a3ed937b839"
OKX_FILE = "ts/src/test/static/response/okx.json @02140ad047b4047caf72b2e8a98f99e3297a5398"

# --- Binance USDⓈ-M -------------------------------------------------------------------------------------
# binance.json createOrders "create swap orders": POST /fapi/v1/batchOrders, httpResponse[0] (the USDⓈ-M
# order row POST /fapi/v1/order answers with), a limit sell of 0.2 BTC resting (NEW)
BINANCE_SWAP_NEW: dict[str, Any] = {
    "orderId": 4087922044, "symbol": "BTCUSDT", "status": "NEW",
    "clientOrderId": "x-xcKtGhcu04075babaeb34c55af79ba", "price": "110001.00", "avgPrice": "0.00",
    "origQty": "0.200", "executedQty": "0.000", "cumQty": "0.000", "cumQuote": "0.00000",
    "timeInForce": "GTC", "type": "LIMIT", "reduceOnly": False, "closePosition": False, "side": "SELL",
    "positionSide": "BOTH", "stopPrice": "0.00", "workingType": "CONTRACT_PRICE", "priceProtect": False,
    "origType": "LIMIT", "priceMatch": "NONE", "selfTradePreventionMode": "NONE", "goodTillDate": 0,
    "updateTime": 1739781831932}

# binance.json fetchOpenOrder "swap open order": GET /fapi/v1/openOrder, LTCUSDT, a post-only (GTX) buy
BINANCE_SWAP_OPEN: dict[str, Any] = {
    "orderId": "664082074", "symbol": "LTCUSDT", "status": "NEW",
    "clientOrderId": "x-xcKtGhcu68f8383451844295b3e8b9", "price": "50.00", "avgPrice": "0.00000",
    "origQty": "0.200", "executedQty": "0.000", "cumQuote": "0.00000", "timeInForce": "GTX", "type": "LIMIT",
    "reduceOnly": False, "closePosition": False, "side": "BUY", "positionSide": "BOTH", "stopPrice": "0.00",
    "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": "LIMIT", "priceMatch": "NONE",
    "selfTradePreventionMode": "NONE", "goodTillDate": "0", "time": "1707907323983",
    "updateTime": "1707907323991"}

# binance.json fetchOrders "fetch portfolio margin orders": the USDⓈ-M order row of the portfolio-margin
# API (GET /papi/v1/um/allOrders), BTCUSDT, a market buy FILLED: executedQty 0.010 at avgPrice 47279.4. The
# row has the fields of GET /fapi/v1/order's answer (orderId, status, clientOrderId, avgPrice, origQty,
# executedQty, cumQuote, side, reduceOnly, positionSide, time, updateTime); recorded in hedge mode
# (positionSide LONG), which our accounts are not in.
BINANCE_UM_FILLED: dict[str, Any] = {
    "orderId": "262065925771", "symbol": "BTCUSDT", "status": "FILLED",
    "clientOrderId": "x-xcKtGhcud2deca88ac9f4ccb9485a9", "price": "0", "avgPrice": "47279.40000",
    "origQty": "0.010", "executedQty": "0.010", "cumQuote": "472.79400", "timeInForce": "GTC",
    "type": "MARKET", "reduceOnly": False, "side": "BUY", "origType": "MARKET", "time": "1707550415587",
    "updateTime": "1707550415587", "positionSide": "LONG", "selfTradePreventionMode": "NONE",
    "goodTillDate": "0"}

# --- Bybit V5 linear --------------------------------------------------------------------------------------
# bybit.json fetchOpenOrder "Fetch an open swap order by its ID and symbol": GET /v5/order/realtime, the
# whole answer (retCode recorded as the string "0"), a resting limit buy of 0.001 BTC
BYBIT_REALTIME_NEW: dict[str, Any] = {
    "retCode": "0", "retMsg": "OK", "result": {
        "nextPageCursor": "3606515b-e4d7-4ea4-b096-bb247d0661ae%3A1758189775648%2C3606515b-e4d7-4ea4-b096-"
                          "bb247d0661ae%3A1758189775648",
        "category": "linear", "list": [{
            "symbol": "BTCUSDT", "orderType": "Limit", "orderLinkId": "", "slLimitPrice": "0",
            "orderId": "3606515b-e4d7-4ea4-b096-bb247d0661ae", "cancelType": "UNKNOWN", "avgPrice": "",
            "stopOrderType": "", "lastPriceOnCreated": "160995.3", "orderStatus": "New",
            "createType": "CreateByUser", "takeProfit": "", "cumExecValue": "0", "tpslMode": "",
            "smpType": "None", "triggerDirection": "0", "blockTradeId": "", "cumFeeDetail": {},
            "isLeverage": "", "rejectReason": "EC_NoError", "price": "102000", "orderIv": "",
            "createdTime": "1758189775648", "tpTriggerBy": "", "positionIdx": "0", "timeInForce": "GTC",
            "leavesValue": "102", "updatedTime": "1758189775651", "side": "Buy", "smpGroup": "0",
            "triggerPrice": "", "tpLimitPrice": "0", "cumExecFee": "0", "leavesQty": "0.001",
            "slTriggerBy": "", "closeOnTrigger": False, "placeType": "", "cumExecQty": "0",
            "reduceOnly": False, "qty": "0.001", "stopLoss": "", "marketUnit": "", "smpOrderId": "",
            "triggerBy": ""}]},
    "retExtInfo": {}, "time": "1758189797405"}

# bybit.json fetchClosedOrders "Fetch swap closed orders by the symbol": GET /v5/order/history, the whole
# answer: a reduce-only market sell (a close) and a market buy, both Filled, 0.001 BTC each, newest first
BYBIT_HISTORY_FILLED: dict[str, Any] = {
    "retCode": "0", "retMsg": "OK", "result": {
        "nextPageCursor": "f5f2d355-9a11-4af3-9b83-aa1d6ab6ddfe%3A1757837618905%2Caee7453a-a100-465f-857a-"
                          "3db780e9329a%3A1757837580469",
        "category": "linear", "list": [
            {"symbol": "BTCUSDT", "orderType": "Market", "orderLinkId": "", "slLimitPrice": "0",
             "orderId": "f5f2d355-9a11-4af3-9b83-aa1d6ab6ddfe", "cancelType": "UNKNOWN",
             "avgPrice": "122529.9", "stopOrderType": "", "lastPriceOnCreated": "123747.9",
             "orderStatus": "Filled", "createType": "CreateByUser", "takeProfit": "",
             "cumExecValue": "122.5299", "tpslMode": "", "smpType": "None", "triggerDirection": "0",
             "blockTradeId": "", "cumFeeDetail": {"USDT": "0.06739145"}, "rejectReason": "EC_NoError",
             "isLeverage": "", "price": "120518", "orderIv": "", "createdTime": "1757837618905",
             "tpTriggerBy": "", "positionIdx": "0", "timeInForce": "IOC", "leavesValue": "0",
             "updatedTime": "1757837618909", "side": "Sell", "smpGroup": "0", "triggerPrice": "",
             "tpLimitPrice": "0", "cumExecFee": "0.06739145", "slTriggerBy": "", "leavesQty": "0",
             "closeOnTrigger": False, "slippageToleranceType": "UNKNOWN", "placeType": "",
             "cumExecQty": "0.001", "reduceOnly": True, "qty": "0.001", "stopLoss": "", "smpOrderId": "",
             "slippageTolerance": "0", "triggerBy": "", "extraFees": ""},
            {"symbol": "BTCUSDT", "orderType": "Market", "orderLinkId": "", "slLimitPrice": "0",
             "orderId": "aee7453a-a100-465f-857a-3db780e9329a", "cancelType": "UNKNOWN", "avgPrice": "123498",
             "stopOrderType": "", "lastPriceOnCreated": "122392", "orderStatus": "Filled",
             "createType": "CreateByUser", "takeProfit": "", "cumExecValue": "123.498", "tpslMode": "",
             "smpType": "None", "triggerDirection": "0", "blockTradeId": "",
             "cumFeeDetail": {"USDT": "0.0679239"}, "rejectReason": "EC_NoError", "isLeverage": "",
             "price": "123615.9", "orderIv": "", "createdTime": "1757837580469", "tpTriggerBy": "",
             "positionIdx": "0", "timeInForce": "IOC", "leavesValue": "0", "updatedTime": "1757837580473",
             "side": "Buy", "smpGroup": "0", "triggerPrice": "", "tpLimitPrice": "0",
             "cumExecFee": "0.0679239", "slTriggerBy": "", "leavesQty": "0", "closeOnTrigger": False,
             "slippageToleranceType": "UNKNOWN", "placeType": "", "cumExecQty": "0.001", "reduceOnly": False,
             "qty": "0.001", "stopLoss": "", "smpOrderId": "", "slippageTolerance": "0", "triggerBy": "",
             "extraFees": ""}]},
    "retExtInfo": {}, "time": "1758190052622"}

# bybit.json createOrder "create spot order": POST /v5/order/create, the whole answer (Bybit answers every
# category's create with orderId and orderLinkId only)
BYBIT_CREATE_ACK: dict[str, Any] = {
    "retCode": "0", "retMsg": "OK",
    "result": {"orderId": "1609920528435648000", "orderLinkId": "1609920528444036608"},
    "retExtInfo": {}, "time": "1706653482432"}

# --- OKX V5 swap (amounts in contracts) -----------------------------------------------------------------
# okx.json createOrder "type2 & type3 together" (the first, a BTC/USDT:USDT market buy): POST
# /api/v5/trade/batch-orders, the whole answer
OKX_CREATE_ACK: dict[str, Any] = {
    "code": "0", "data": [{"clOrdId": "6b9ad766b55dBCDE63969a1144bfb943", "ordId": "2896576259728695296",
                           "sCode": "0", "sMsg": "Order placed", "tag": "6b9ad766b55dBCDE",
                           "ts": "1758827099512"}],
    "inTime": "1758827099511856", "msg": "", "outTime": "1758827099513562"}

# okx.json fetchOpenOrders "fetch swap limit open order with take profit and stop loss": GET
# /api/v5/trade/orders-pending, the whole answer: a live post-only buy of 50 contracts of ADA-USDT-SWAP
# (recorded in long/short position mode: posSide long)
OKX_PENDING_LIVE: dict[str, Any] = {
    "code": "0", "data": [{
        "accFillSz": "0", "algoClOrdId": "", "algoId": "", "attachAlgoClOrdId": "", "attachAlgoOrds": [],
        "avgPx": "", "cTime": "1700135060018", "cancelSource": "", "cancelSourceReason": "",
        "category": "normal", "ccy": "", "clOrdId": "e847386590ce4dBC28d905b5946bad5a", "fee": "0",
        "feeCcy": "USDT", "fillPx": "", "fillSz": "0", "fillTime": "", "instId": "ADA-USDT-SWAP",
        "instType": "SWAP", "lever": "3", "ordId": "645348448086081536", "ordType": "post_only", "pnl": "0",
        "posSide": "long", "px": "0.2", "pxType": "", "pxUsd": "", "pxVol": "", "quickMgnType": "",
        "rebate": "0", "rebateCcy": "USDT", "reduceOnly": "false", "side": "buy", "slOrdPx": "",
        "slTriggerPx": "", "slTriggerPxType": "", "source": "", "state": "live", "stpId": "", "stpMode": "",
        "sz": "50", "tag": "e847386590ce4dBC", "tdMode": "cross", "tgtCcy": "", "tpOrdPx": "",
        "tpTriggerPx": "", "tpTriggerPxType": "", "tradeId": "", "uTime": "1700135060018"}],
    "msg": ""}

# okx.json fetchClosedOrders "Swap closed orders": GET /api/v5/trade/orders-history, the whole answer: a
# market buy of 1 contract of LTC-USDT-SWAP, filled (accFillSz 1 at avgPx 68.24)
OKX_HISTORY_FILLED: dict[str, Any] = {
    "code": "0", "data": [{
        "accFillSz": "1", "algoClOrdId": "", "algoId": "", "attachAlgoClOrdId": "", "attachAlgoOrds": [],
        "avgPx": "68.24", "cTime": "1706612162995", "cancelSource": "", "cancelSourceReason": "",
        "category": "normal", "ccy": "", "clOrdId": "e847386590ce4dBC2f7dbb9924c2b77c", "fee": "-0.00003412",
        "feeCcy": "USDT", "fillPx": "68.24", "fillSz": "1", "fillTime": "1706612162995",
        "instId": "LTC-USDT-SWAP", "instType": "SWAP", "lever": "3.0", "ordId": "672515387010932736",
        "ordType": "market", "pnl": "0", "posSide": "long", "px": "", "pxType": "", "pxUsd": "", "pxVol": "",
        "quickMgnType": "", "rebate": "0", "rebateCcy": "USDT", "reduceOnly": "false", "side": "buy",
        "slOrdPx": "", "slTriggerPx": "", "slTriggerPxType": "", "source": "", "state": "filled",
        "stpId": "", "stpMode": "", "sz": "1", "tag": "e847386590ce4dBC", "tdMode": "cross", "tgtCcy": "",
        "tpOrdPx": "", "tpTriggerPx": "", "tpTriggerPxType": "", "tradeId": "38002016",
        "uTime": "1706612162996"}],
    "msg": ""}

# --- balances (FMZ's Equity is wallet + unrealised PnL, read from these raw fields by fmz_compat.live) -----
# binance.json fetchBalance "Linear swap balance" (input type swap): the USDⓈ-M account answer, whole
BINANCE_SWAP_ACCOUNT: dict[str, Any] = {
    "feeTier": "0", "canTrade": True, "canDeposit": True, "canWithdraw": True, "tradeGroupId": "-1",
    "updateTime": "0", "multiAssetsMargin": False, "totalInitialMargin": "0.00000000",
    "totalMaintMargin": "0.00000000", "totalWalletBalance": "31.02261200",
    "totalUnrealizedProfit": "0.00000000",
    "totalMarginBalance": "31.02261200", "totalPositionInitialMargin": "0.00000000",
    "totalOpenOrderInitialMargin": "0.00000000", "totalCrossWalletBalance": "31.02261200",
    "totalCrossUnPnl": "0.00000000", "availableBalance": "31.02261200", "maxWithdrawAmount": "31.02261200",
    "assets": [{"asset": "USDT", "walletBalance": "31.02261200", "unrealizedProfit": "0.00000000",
                "marginBalance": "31.02261200", "maintMargin": "0.00000000", "initialMargin": "0.00000000",
                "positionInitialMargin": "0.00000000", "openOrderInitialMargin": "0.00000000",
                "maxWithdrawAmount": "31.02261200", "crossWalletBalance": "31.02261200",
                "crossUnPnl": "0.00000000", "availableBalance": "31.02261200", "marginAvailable": True,
                "updateTime": "1701270042059"}],
    "positions": []}

# bybit.json fetchBalance "balance after availableToWithdraw update": GET /v5/account/wallet-balance of a
# unified account; the account row as recorded, its coin list cut to the USDT row (six other coins dropped)
BYBIT_UNIFIED_WALLET: dict[str, Any] = {
    "retCode": "0", "retMsg": "OK", "result": {"list": [{
        "totalEquity": "92255.96988644", "accountIMRate": "0.0006", "totalMarginBalance": "90042.2788482",
        "totalInitialMargin": "54.3100333", "accountType": "UNIFIED",
        "totalAvailableBalance": "89987.9688149",
        "accountMMRate": "0", "totalPerpUPL": "-21.66812467", "totalWalletBalance": "90060.46626531",
        "accountLTV": "0", "totalMaintenanceMargin": "7.38826721",
        "coin": [{"availableToBorrow": "", "bonus": "0", "accruedInterest": "0", "availableToWithdraw": "",
                  "totalOrderIM": "0", "equity": "3304.29766609", "totalPositionMM": "7.00285644",
                  "usdValue": "3304.05314806", "unrealisedPnl": "-17.9613", "collateralSwitch": True,
                  "spotHedgingQty": "0", "borrowAmount": "0.000000000000000000",
                  "totalPositionIM": "50.61831144", "walletBalance": "3322.25896609",
                  "cumRealisedPnl": "-10225.43901403", "locked": "42", "marginCollateral": True,
                  "coin": "USDT"}]}]},
    "retExtInfo": {}, "time": "1736866023302"}
