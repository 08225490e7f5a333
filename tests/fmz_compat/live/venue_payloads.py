"""Venue payloads in the venues' own REST formats (from their API docs) and a client factory."""

from __future__ import annotations

from fmz_compat.core import ExchangeBinding, MemoryLog
from fmz_compat.keys import Credentials
from fmz_compat.live import LiveExchange, build_client

SECRETS = {
    "binance": Credentials("bnKEY0123456789abcdef", "bnSECRETzyxwvutsrq9876543210"),
    "okx": Credentials("okKEY-1111-2222-3333", "OKSECRET4444555566667777", "okPassphrase!9"),
    "bybit": Credentials("bybKEY0000aaaa", "BYBSECRET1111bbbb2222cccc"),
    "coinex": Credentials("CXKEY99998888", "CXSECRET77776666555544443333"),
    "bitmex": Credentials("bmxKEYabcdefgh", "BMXSECRETqwertyuiopasdfghjkl"),
}

BINANCE_EXCHANGE_INFO = {
    "timezone": "UTC", "serverTime": 1732500000000, "futuresType": "U_MARGINED",
    "rateLimits": [], "exchangeFilters": [], "assets": [],
    "symbols": [{
        "symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000, "status": "TRADING", "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000", "baseAsset": "BTC", "quoteAsset": "USDT", "marginAsset": "USDT",
        "pricePrecision": 2, "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
        "underlyingType": "COIN", "underlyingSubType": ["PoW"], "settlePlan": 0, "triggerProtect": "0.0500",
        "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "556.80", "maxPrice": "4529764", "tickSize": "0.10"},
            {"filterType": "LOT_SIZE", "stepSize": "0.001", "maxQty": "1000", "minQty": "0.001"},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": "0.001", "maxQty": "120", "minQty": "0.001"},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"}],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                       "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }],
}


def binance_order(status: str = "NEW", executed: str = "0", avg: str = "0.00", **extra: object) -> dict:
    order = {
        "orderId": 4079375543, "symbol": "BTCUSDT", "status": status, "clientOrderId": "fmzc0x1",
        "price": "95000.00", "avgPrice": avg, "origQty": "0.010", "executedQty": executed,
        "cumQty": executed, "cumQuote": "0.00000", "timeInForce": "GTC", "type": "LIMIT",
        "reduceOnly": False, "closePosition": False, "side": "BUY", "positionSide": "BOTH",
        "stopPrice": "0.00", "workingType": "CONTRACT_PRICE", "priceProtect": False,
        "origType": "LIMIT", "priceMatch": "NONE", "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0, "updateTime": 1732500000123,
    }
    order.update(extra)
    return order


OKX_INSTRUMENTS = {"code": "0", "msg": "", "data": [{
    "alias": "", "baseCcy": "", "category": "1", "ctMult": "1", "ctType": "linear", "ctVal": "0.01",
    "ctValCcy": "BTC", "expTime": "", "instFamily": "BTC-USDT", "instId": "BTC-USDT-SWAP",
    "instType": "SWAP", "lever": "100", "listTime": "1573557408000", "lotSz": "0.01",
    "maxIcebergSz": "100000000",
    "maxLmtAmt": "20000000", "maxLmtSz": "100000000", "maxMktAmt": "", "maxMktSz": "12000",
    "maxStopSz": "12000", "maxTriggerSz": "100000000", "maxTwapSz": "100000000", "minSz": "0.01",
    "optType": "", "quoteCcy": "", "settleCcy": "USDT", "state": "live", "stk": "", "tickSz": "0.1",
    "uly": "BTC-USDT", "ruleType": "normal"}]}


def okx_order(state: str = "live", fill: str = "0", avg: str = "", **extra: object) -> dict:
    order = {
        "accFillSz": fill, "avgPx": avg, "cTime": "1732500000123", "category": "normal", "ccy": "",
        "clOrdId": "fmzc0x1", "fee": "0", "feeCcy": "USDT", "fillPx": "", "fillSz": "0", "fillTime": "",
        "instId": "BTC-USDT-SWAP", "instType": "SWAP", "lever": "5", "ordId": "1994836237478043648",
        "ordType": "limit", "pnl": "0", "posSide": "net", "px": "95000", "reduceOnly": "false",
        "side": "buy", "state": state, "sz": "3", "tag": "", "tdMode": "cross",
        "uTime": "1732500000456", "rebate": "0", "rebateCcy": "USDT", "source": "", "attachAlgoClOrdId": "",
    }
    order.update(extra)
    return order


def okx_ok(data: list) -> dict:
    return {"code": "0", "msg": "", "data": data}


def make(venue: str, currency: str) -> tuple[LiveExchange, MemoryLog]:
    creds = SECRETS[venue]
    client = build_client(venue, creds)
    client.enableRateLimit = False
    log = MemoryLog()
    ex = LiveExchange(client, venue, ExchangeBinding(eid=venue, currency=currency), log,
                      secrets=creds.secrets(), id_stamp="")  # ids fmzc0x1, fmzc0x2... as the payloads carry
    return ex, log


BYBIT_INSTRUMENTS = {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "nextPageCursor": "",
                                                             "list": [{
    "symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": "BTC",
    "quoteCoin": "USDT", "launchTime": "1585526400000", "deliveryTime": "0", "deliveryFeeRate": "",
    "priceScale": "2",
    "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
    "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
    "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": "0.001", "qtyStep": "0.001",
                      "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "119.000",
                      "minNotionalValue": "5"},
    "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": "USDT", "copyTrading": "both",
    "upperFundingRate": "0.00375", "lowerFundingRate": "-0.00375"}]},
    "retExtInfo": {}, "time": 1732500000000}


def bybit_ok(result: dict) -> dict:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 1732500000000}


COINEX_SPOT_MARKETS = {"code": 0, "data": [], "message": "OK"}
COINEX_FUTURES_MARKETS = {"code": 0, "message": "OK", "data": [{
    "market": "BTCUSDT", "contract_type": "linear", "maker_fee_rate": "0.0003", "taker_fee_rate": "0.0005",
    "min_amount": "0.0001", "base_ccy": "BTC", "quote_ccy": "USDT", "base_ccy_precision": 8,
    "quote_ccy_precision": 2, "tick_size": "0.1",
    "leverage": ["1", "2", "3", "5", "8", "10", "15", "20", "30", "50", "100"],
    "open_interest_volume": "2221.5937", "is_market_available": True, "is_copy_trading_available": True}]}

BITMEX_INSTRUMENTS = [{
    "symbol": "XBTUSDT", "rootSymbol": "XBT", "state": "Open", "typ": "FFWCSX",
    "listing": "2021-11-10T04:00:00.000Z", "front": "2021-11-10T04:00:00.000Z", "expiry": None,
    "settle": None, "listedSettle": None, "positionCurrency": "", "underlying": "XBT",
    "quoteCurrency": "USDT", "underlyingSymbol": "XBTT=", "reference": "BMEX", "referenceSymbol": ".BXBTT",
    "maxOrderQty": 1000000000, "maxPrice": 10000000, "lotSize": 1000, "tickSize": 0.5, "multiplier": 1,
    "settlCurrency": "USDt", "underlyingToPositionMultiplier": 1000000, "underlyingToSettleMultiplier": None,
    "quoteToSettleMultiplier": 1000000, "isQuanto": False, "isInverse": False, "initMargin": 0.01,
    "maintMargin": 0.005, "riskLimit": 1000000000000, "riskStep": 1000000000000, "taxed": True,
    "deleverage": True, "makerFee": -0.0001, "takerFee": 0.0005, "settlementFee": 0,
    "fundingBaseSymbol": ".XBTBON8H", "fundingQuoteSymbol": ".USDTBON8H",
    "fundingPremiumSymbol": ".XBTUSDTPI8H",
    "fundingTimestamp": "2024-11-25T04:00:00.000Z", "fundingInterval": "2000-01-01T08:00:00.000Z",
    "fundingRate": 0.0001, "indicativeFundingRate": 0.0001, "prevClosePrice": 94900, "limitDownPrice": None,
    "limitUpPrice": None, "volume": 1000, "totalVolume": 1000000, "openInterest": 5000000,
    "openValue": 475000000000, "fairMethod": "FundingRate", "fairBasisRate": 0.1095, "fairBasis": 1.5,
    "fairPrice": 95000, "markMethod": "FairPrice", "markPrice": 95000, "indicativeSettlePrice": 94998.5,
    "lastPrice": 95000.5, "bidPrice": 95000, "midPrice": 95000.25, "askPrice": 95000.5,
    "timestamp": "2024-11-25T01:00:00.000Z"}]


BYBIT_API = "https://api.bybit.com/v5"
COINEX_API = "https://api.coinex.com/v2"
BITMEX_API = "https://www.bitmex.com/api/v1"
# GET /v5/account/info of a unified trading account 2.0 in cross margin (Bybit's example shape; every
# account is unified now: https://bybit-exchange.github.io/docs/v5/acct-mode)
UTA_INFO = bybit_ok({"unifiedMarginStatus": 5, "marginMode": "REGULAR_MARGIN", "isMasterTrader": False,
                         "spotHedgingStatus": "OFF", "updatedTime": "1732500000000",
                         "dcpStatus": "OFF", "timeWindow": 10, "smpGroup": 0})
QUERY_API = bybit_ok({"id": "13770661", "note": "fmzc", "apiKey": "bybKEY0000aaaa", "readOnly": 0,
                      "secret": "", "permissions": {"ContractTrade": ["Order", "Position"]}, "ips": ["*"],
                      "type": 1, "deadlineDay": 66, "expiredAt": "2027-01-01T00:00:00Z",
                      "createdAt": "2026-01-01T00:00:00Z", "unified": 0, "uta": 1, "userID": 24600000,
                      "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0})
