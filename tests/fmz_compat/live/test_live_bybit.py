"""LiveExchange on Bybit V5 linear (classic account) through ccxt, REST mocked with Bybit's payloads."""

from __future__ import annotations

import json
import re

import pytest
import requests
from venue_payloads import BYBIT_API as API
from venue_payloads import CLASSIC_INFO, bybit_ok

from fmz_compat.core import ORDER_STATE_PENDING, PD_LONG
from fmz_compat.live import AccountModeError

ORDER = {"orderId": "fd4300ae-7847-404e-b947-b46980a4d140", "orderLinkId": "fmzc0x1", "blockTradeId": "",
         "symbol": "BTCUSDT", "price": "95000.00", "qty": "0.010", "side": "Buy", "isLeverage": "",
         "positionIdx": 0, "orderStatus": "PartiallyFilled", "cancelType": "UNKNOWN",
         "rejectReason": "EC_NoError",
         "avgPrice": "94999.9", "leavesQty": "0.006", "leavesValue": "570", "cumExecQty": "0.004",
         "cumExecValue": "379.9996", "cumExecFee": "0.0759", "timeInForce": "GTC", "orderType": "Limit",
         "stopOrderType": "", "orderIv": "", "triggerPrice": "0.00", "takeProfit": "0.00", "stopLoss": "0.00",
         "tpTriggerBy": "", "slTriggerBy": "", "triggerDirection": 0, "triggerBy": "",
         "lastPriceOnCreated": "",
         "reduceOnly": False, "closeOnTrigger": False, "smpType": "None", "smpGroup": 0, "smpOrderId": "",
         "tpslMode": "", "tpLimitPrice": "", "slLimitPrice": "", "placeType": "",
         "createdTime": "1732500000123", "updatedTime": "1732500000456"}


def test_order_partial_fill_and_cancel(bybit, http):
    ex, _ = bybit
    http.post(f"{API}/order/create", json=bybit_ok({"orderId": ORDER["orderId"], "orderLinkId": "fmzc0x1"}))
    oid = ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01)
    assert oid == f"BTC_USDT.swap,{ORDER['orderId']}"
    sent = json.loads(http.calls[-1].request.body)
    assert sent["category"] == "linear" and sent["symbol"] == "BTCUSDT" and sent["qty"] == "0.01"
    assert sent["side"] == "Buy" and sent["orderLinkId"] == "fmzc0x1"
    http.get(re.compile(rf"{API}/order/realtime"), json=bybit_ok({"category": "linear", "nextPageCursor": "",
                                                                   "list": [ORDER]}))
    (order,) = ex.GetOrders("BTC_USDT.swap")
    assert order.Status == ORDER_STATE_PENDING and order.DealAmount == 0.004 and order.AvgPrice == 94999.9
    http.post(f"{API}/order/cancel", json=bybit_ok({"orderId": ORDER["orderId"], "orderLinkId": "fmzc0x1"}))
    assert ex.CancelOrder(oid) is True
    assert json.loads(http.calls[-1].request.body)["orderId"] == ORDER["orderId"]


def test_positions_balance_and_funding(bybit, http):
    ex, _ = bybit
    http.get(re.compile(rf"{API}/position/list"), json=bybit_ok({"category": "linear", "nextPageCursor": "",
                                                                  "list": [{
        "positionIdx": 0, "riskId": 1, "riskLimitValue": "2000000", "symbol": "BTCUSDT", "side": "Buy",
        "size": "0.020", "avgPrice": "94900", "positionValue": "1898", "tradeMode": 0, "autoAddMargin": 0,
        "positionStatus": "Normal", "leverage": "5", "markPrice": "95000", "liqPrice": "76000",
        "bustPrice": "", "positionIM": "379.6", "positionMM": "9.49", "positionBalance": "379.6",
        "tpslMode": "Full", "takeProfit": "0.00", "stopLoss": "0.00", "trailingStop": "0.00",
        "unrealisedPnl": "2", "curRealisedPnl": "-0.5", "cumRealisedPnl": "-0.5", "adlRankIndicator": 2,
        "isReduceOnly": False, "mmrSysUpdatedTime": "", "leverageSysUpdatedTime": "",
        "createdTime": "1732400000000", "updatedTime": "1732500000000", "seq": 1}]}))
    (p,) = ex.GetPositions()
    assert (p.Symbol, p.Type, p.Amount, p.Price, p.Profit) == ("BTC_USDT.swap", PD_LONG, 0.02, 94900, 2)
    http.get(re.compile(rf"{API}/account/wallet-balance\?accountType=CONTRACT"), json=bybit_ok({"list": [{
        "accountType": "CONTRACT", "accountIMRate": "", "accountMMRate": "", "totalEquity": "",
        "totalWalletBalance": "", "totalMarginBalance": "", "totalAvailableBalance": "",
        "totalPerpUPL": "", "totalInitialMargin": "", "totalMaintenanceMargin": "", "accountLTV": "",
        "coin": [{"coin": "USDT", "equity": "10002", "usdValue": "10002", "walletBalance": "10000",
                  "free": "", "locked": "0", "borrowAmount": "", "availableToBorrow": "",
                  "availableToWithdraw": "9620.4", "accruedInterest": "", "totalOrderIM": "0",
                  "totalPositionIM": "379.6", "totalPositionMM": "9.49", "unrealisedPnl": "2",
                  "cumRealisedPnl": "-0.5", "bonus": "0", "marginCollateral": True,
                  "collateralSwitch": True}]}]}))
    account = ex.GetAccount()
    assert (account.Balance, account.Equity, account.UPnL) == (9620.4, 10002, 2)
    http.get(re.compile(rf"{API}/market/tickers"), json=bybit_ok({"category": "linear", "list": [{
        "symbol": "BTCUSDT", "lastPrice": "95000.10", "indexPrice": "95010.00", "markPrice": "95000.00",
        "prevPrice24h": "94900.10", "price24hPcnt": "0.001", "highPrice24h": "95500.00",
        "lowPrice24h": "94000.00", "prevPrice1h": "94990.00", "openInterest": "55000.123",
        "openInterestValue": "5224994110.00", "turnover24h": "11728395000.0", "volume24h": "123456.789",
        "fundingRate": "0.0001", "nextFundingTime": "1732521600000", "predictedDeliveryPrice": "",
        "basisRate": "", "deliveryFeeRate": "", "deliveryTime": "0", "ask1Size": "0.8",
        "bid1Price": "95000.00", "ask1Price": "95000.10", "bid1Size": "1.5", "basis": ""}]}))
    (f,) = ex.GetFundings("BTC_USDT.swap")
    assert f.Rate == 0.0001 and f.Time == 1732521600000
    assert f.Interval == 8 * 3_600_000  # the instrument's fundingInterval: 480 minutes


@pytest.mark.parametrize(("ret_code", "message", "error"), [
    (110007, "ab not enough for new order", "InsufficientFunds"),
    (10001, "The number of contracts exceeds minimum limit allowed", "BadRequest"),
])
def test_venue_rejections(bybit, http, ret_code, message, error):
    ex, log = bybit
    http.post(f"{API}/order/create", json={"retCode": ret_code, "retMsg": message, "result": {},
                                           "retExtInfo": {}, "time": 1732500000000})
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) is None
    assert not ex.last_outcome_unknown and ex.in_flight == {}
    assert f"rejected ({error})" in log.last_error and message in log.last_error


@pytest.mark.parametrize("failure", [
    {"json": {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": 1}},
    {"status": 502, "body": "<html>502 Bad Gateway</html>"},
    {"body": requests.exceptions.ReadTimeout("timed out")},
])
def test_rate_limit_5xx_and_timeout_are_outcome_unknown(bybit, http, failure):
    ex, log = bybit
    http.post(f"{API}/order/create", **failure)
    assert ex.CreateOrder("BTC_USDT.swap", "closesell", 95000, 0.01) is None
    assert ex.last_outcome_unknown and "outcome unknown" in log.last_error
    assert ex.in_flight["fmzc0x1"].Side == "closesell"


def test_unified_account_is_refused_with_what_to_change(bybit, http):
    ex, _ = bybit
    http.replace("GET", f"{API}/account/info", json=bybit_ok({"unifiedMarginStatus": 4,
                                                              "marginMode": "REGULAR_MARGIN"}))
    with pytest.raises(AccountModeError, match="unified trading account .*classic account"):
        ex.check_account_mode()
    http.replace("GET", f"{API}/account/info", json=CLASSIC_INFO)
    ex.check_account_mode()


def test_set_margin_level_puts_the_symbol_in_cross_margin_first(bybit, http):
    """Classic account: POST /v5/position/switch-isolated tradeMode 0 (cross) with the leverage; 110026
    (already cross) is success; then the leverage."""
    ex, _ = bybit
    http.post(f"{API}/position/switch-isolated", json={"retCode": 110026,
                                                       "retMsg": "Cross/isolated margin mode is not modified",
                                                       "result": {}, "retExtInfo": {}, "time": 1732500000000})
    http.post(f"{API}/position/set-leverage", json=bybit_ok({}))
    assert ex.SetMarginLevel("BTC_USDT.swap", 5) is True
    switch = next(c for c in http.calls if c.request.url.endswith("/position/switch-isolated"))
    sent = json.loads(switch.request.body)
    assert sent["tradeMode"] == 0 and sent["symbol"] == "BTCUSDT" and sent["buyLeverage"] == "5"
    assert json.loads(http.calls[-1].request.body)["buyLeverage"] == "5"
