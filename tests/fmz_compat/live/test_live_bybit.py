"""LiveExchange on Bybit V5 linear (unified trading account) through ccxt, REST mocked with Bybit payloads."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from venue_payloads import BYBIT_API as API
from venue_payloads import UTA_INFO, bybit_ok

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
    # a unified account's wallet: accountType UNIFIED (ccxt's request fixture, request/bybit.json @00a587de
    # fetchBalance "fetch default balance"); the coin's availableToWithdraw is deprecated there (""), so
    # the free balance is the wallet less locked, position and order margin
    http.get(re.compile(rf"{API}/account/wallet-balance\?accountType=UNIFIED"), json=bybit_ok({"list": [{
        "accountType": "UNIFIED", "accountIMRate": "0.038", "accountMMRate": "0.0009",
        "totalEquity": "10002", "totalWalletBalance": "10000", "totalMarginBalance": "10002",
        "totalAvailableBalance": "9622.4", "totalPerpUPL": "2", "totalInitialMargin": "379.6",
        "totalMaintenanceMargin": "9.49", "accountLTV": "",
        "coin": [{"coin": "USDT", "equity": "10002", "usdValue": "10002", "walletBalance": "10000",
                  "free": "", "locked": "0", "borrowAmount": "0", "availableToBorrow": "",
                  "availableToWithdraw": "", "accruedInterest": "0", "totalOrderIM": "0",
                  "totalPositionIM": "379.6", "totalPositionMM": "9.49", "unrealisedPnl": "2",
                  "cumRealisedPnl": "-0.5", "bonus": "0", "marginCollateral": True,
                  "collateralSwitch": True, "spotHedgingQty": "0"}]}]}))
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


@pytest.mark.parametrize(("status", "kind"), [(1, "a classic account"), (2, "an unknown account type")])
def test_only_unified_accounts_are_served_and_the_refusal_says_what_to_change(bybit, http, status, kind):
    """Bybit: "classic account (now unavailable)"; unifiedMarginStatus 3/4 UTA 1.0, 5/6 UTA 2.0
    (https://bybit-exchange.github.io/docs/v5/acct-mode). The old check refused every unified account."""
    ex, _ = bybit
    http.replace("GET", f"{API}/account/info", json=bybit_ok({"unifiedMarginStatus": status,
                                                              "marginMode": "REGULAR_MARGIN"}))
    with pytest.raises(AccountModeError, match=f"{kind}.*upgrade to the unified trading account"):
        ex.check_account_mode()
    for unified in (3, 4, 5, 6):
        http.replace("GET", f"{API}/account/info", json=bybit_ok(dict(UTA_INFO["result"],
                                                                      unifiedMarginStatus=unified)))
        ex.check_account_mode()
    assert ex.client.options["enableUnifiedAccount"] is True


def test_portfolio_margin_is_refused_with_the_switch_to_make(bybit, http):
    ex, _ = bybit
    http.replace("GET", f"{API}/account/info", json=bybit_ok(dict(UTA_INFO["result"],
                                                                  marginMode="PORTFOLIO_MARGIN")))
    with pytest.raises(AccountModeError, match="portfolio margin.*setMarginMode=REGULAR_MARGIN"):
        ex.check_account_mode()


def _posts(http, path: str) -> list[dict]:
    return [json.loads(c.request.body) for c in http.calls
            if c.request.method == "POST" and c.request.url.endswith(path)]


def test_set_margin_level_on_a_unified_account(bybit, http):
    """A unified account: one-way mode per symbol (POST /v5/position/switch-mode mode 0, ccxt request fixture
    request/bybit.json @00a587de setPositionMode "Set position mode to one-way mode": {"mode":0,"symbol":
    "BTCUSDT","category":"linear"}; 110025 "Position mode is not modified" counts as done), the account-wide
    margin mode left alone when account info already says REGULAR_MARGIN (cross), then the leverage
    (setLeverage fixture: buyLeverage = sellLeverage). The classic per-symbol switch-isolated is never sent:
    Bybit answers it only for classic accounts."""
    ex, _ = bybit
    http.post(f"{API}/position/switch-mode", json={"retCode": 110025, "result": {}, "retExtInfo": {},
                                                   "retMsg": "Position mode is not modified", "time": 1})
    http.post(f"{API}/position/set-leverage", json=bybit_ok({}))
    assert ex.SetMarginLevel("BTC_USDT.swap", 5) is True
    assert _posts(http, "/position/switch-mode") == [{"mode": 0, "symbol": "BTCUSDT", "category": "linear"}]
    assert _posts(http, "/position/set-leverage") == [{"symbol": "BTCUSDT", "buyLeverage": "5",
                                                       "sellLeverage": "5", "category": "linear"}]
    assert not _posts(http, "/position/switch-isolated") and not _posts(http, "/account/set-margin-mode")


def test_isolated_margin_on_a_unified_account_is_switched_account_wide_once(bybit, http):
    """IO("cross", False) on a unified account: POST /v5/account/set-margin-mode setMarginMode ISOLATED_MARGIN
    (ccxt request fixture setMarginMode "set margin mode to isolated margin"), once, and the log says it is
    account-wide."""
    ex, log = bybit
    http.post(f"{API}/position/switch-mode", json=bybit_ok({}))
    http.post(f"{API}/account/set-margin-mode", json=bybit_ok({"reasons": []}))
    http.post(f"{API}/position/set-leverage", json=bybit_ok({}))
    ex.IO("cross", False)
    assert ex.SetMarginLevel("BTC_USDT.swap", 3) is True and ex.SetMarginLevel("BTC_USDT.swap", 4) is True
    assert _posts(http, "/account/set-margin-mode") == [{"setMarginMode": "ISOLATED_MARGIN"}]
    assert any("whole account" in str(row) for row in log.rows)


def test_a_hedge_mode_position_blocking_one_way_fails_with_one_line(bybit, http):
    ex, log = bybit
    refusal = "You have an existing position, so position mode cannot be switched"
    http.post(f"{API}/position/switch-mode", json={"retCode": 110024, "retMsg": refusal, "result": {},
                                                   "retExtInfo": {}, "time": 1732500000000})
    assert ex.SetMarginLevel("BTC_USDT.swap", 5) is None
    assert "one-way position mode" in log.last_error and "\n" not in log.last_error
    assert not _posts(http, "/position/set-leverage")


def test_leverage_already_set_is_success_not_a_failed_start(bybit, http):
    """Bybit answers 110043 "Set leverage not modified" when the symbol already has that leverage (ccxt
    4.5.83 bybit.py exceptions: '110043': BadRequest, "Set leverage not modified"; Bybit's v5 error codes,
    https://bybit-exchange.github.io/docs/v5/error). Every restart hits it, so it must read as done; any
    other refusal stays a failure."""
    ex, log = bybit
    http.post(f"{API}/position/switch-mode", json=bybit_ok({}))
    http.post(f"{API}/position/set-leverage", json={"retCode": 110043, "retMsg": "leverage not modified",
                                                    "result": {}, "retExtInfo": {}, "time": 1732500000000})
    assert ex.SetMarginLevel("BTC_USDT.swap", 5) is True and ex.leverage["BTC/USDT:USDT"] == 5
    http.replace("POST", f"{API}/position/set-leverage", json={
        "retCode": 110013, "retMsg": "Due to risk limit, cannot set leverage", "result": {}, "retExtInfo": {},
        "time": 1732500000000})
    assert ex.SetMarginLevel("BTC_USDT.swap", 50) is None and "110013" in log.last_error


def test_fees_and_risk_limits_of_a_unified_account(bybit, http):
    """The unified account's fee and risk-limit endpoints, as ccxt's request fixture records them
    (request/bybit.json @00a587de: fetchTradingFee "linear trading fee" GET
    /v5/account/fee-rate?symbol=BTCUSDT&category=linear; fetchLeverageTiers GET
    /v5/market/risk-limit?category=linear), with Bybit's documented
    answers (https://bybit-exchange.github.io/docs/v5/account/fee-rate, /docs/v5/market/risk-limit)."""
    ex, _ = bybit
    http.get(re.compile(rf"{API}/account/fee-rate"), json=bybit_ok({"category": "linear", "list": [
        {"symbol": "BTCUSDT", "takerFeeRate": "0.00055", "makerFeeRate": "0.0002"}]}))
    fees = ex.GetFees("BTC_USDT.swap")
    assert (fees.Maker, fees.Taker, fees.Source) == (0.0002, 0.00055, "account")
    query = parse_qs(urlparse(http.calls[-1].request.url).query)
    assert query == {"symbol": ["BTCUSDT"], "category": ["linear"]}
    http.get(re.compile(rf"{API}/market/risk-limit"), json=bybit_ok({"category": "linear", "list": [
        {"id": 1, "symbol": "BTCUSDT", "riskLimitValue": "2000000", "maintenanceMargin": "0.005",
         "initialMargin": "0.01", "isLowestRisk": 1, "maxLeverage": "100.00", "mmDeduction": ""},
        {"id": 2, "symbol": "BTCUSDT", "riskLimitValue": "2600000", "maintenanceMargin": "0.0055",
         "initialMargin": "0.0115", "isLowestRisk": 0, "maxLeverage": "86.95", "mmDeduction": "1000"}]}))
    tiers = ex.GetMarginTiers("BTC_USDT.swap")
    assert [(t.MinNotional, t.MaxNotional, t.MaintenanceMarginRate, t.Unit) for t in tiers] == [
        (0, 2000000, 0.005, "USDT"), (2000000, 2600000, 0.0055, "USDT")]
    assert urlparse(http.calls[-1].request.url).path == "/v5/market/risk-limit"
    assert parse_qs(urlparse(http.calls[-1].request.url).query)["category"] == ["linear"]
