"""LiveExchange on CoinEx futures (v2) and BitMEX linear USDT through ccxt, REST mocked."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import requests
from venue_payloads import BITMEX_API as BITMEX
from venue_payloads import BITMEX_INSTRUMENTS, SECRETS
from venue_payloads import COINEX_API as COINEX

from fmz_compat.core import ORDER_STATE_CLOSED, ORDER_STATE_PENDING, PD_SHORT

COINEX_ORDER = {"order_id": 13400, "market": "BTCUSDT", "market_type": "FUTURES", "side": "buy",
                "type": "limit", "amount": "0.01", "price": "95000", "unfilled_amount": "0.006",
                "filled_amount": "0.004", "filled_value": "379.9996", "client_id": "fmzc0x1", "fee": "0.19",
                "fee_ccy": "USDT", "maker_fee_rate": "0", "taker_fee_rate": "0.0005",
                "last_filled_amount": "0.004", "last_filled_price": "94999.9", "realized_pnl": "0",
                "created_at": 1732500000123, "updated_at": 1732500000456}
BITMEX_ORDER = {"orderID": "3c0b4b5e-4c1b-4c8e-9b1e-8d7f0c1a2b3c", "clOrdID": "fmzc0x1", "clOrdLinkID": "",
                "account": 1, "symbol": "XBTUSDT", "side": "Sell", "orderQty": 2000, "price": 95000.5,
                "displayQty": None, "stopPx": None, "pegOffsetValue": None, "pegPriceType": "",
                "currency": "USDT", "settlCurrency": "USDt", "ordType": "Limit",
                "timeInForce": "GoodTillCancel",
                "execInst": "", "contingencyType": "", "ordStatus": "New", "triggered": "",
                "workingIndicator": True, "ordRejReason": "", "leavesQty": 2000, "cumQty": 0, "avgPx": None,
                "text": "Submitted via API.", "transactTime": "2024-11-25T01:00:00.123Z",
                "timestamp": "2024-11-25T01:00:00.123Z"}


# a CoinEx pending-position row in CoinEx's documented shape (docs.coinex.com/api/v2/futures/position/http/
# list-pending-position): short 0.02 BTC
COINEX_SHORT = {
    "position_id": 246830219, "market": "BTCUSDT", "market_type": "FUTURES", "side": "short",
    "margin_mode": "cross", "open_interest": "0.02", "close_avbl": "0.02", "ath_position_amount": "0.02",
    "unrealized_pnl": "2", "realized_pnl": "-0.5", "avg_entry_price": "95100",
    "cml_position_value": "1902",
    "max_position_value": "1902", "take_profit_price": "0", "stop_loss_price": "0",
    "take_profit_type": "latest_price", "stop_loss_type": "latest_price", "leverage": "5",
    "margin_avbl": "380.4", "ath_margin_size": "380.4", "position_margin_rate": "0.2",
    "maintenance_margin_rate": "0.005", "maintenance_margin_value": "9.5", "liq_price": "180000",
    "bkr_price": "190000", "adl_level": 1, "settle_price": "95100", "settle_value": "1902",
    "first_filled_price": "95100", "latest_filled_price": "95100",
    "created_at": 1732400000000, "updated_at": 1732500000000}


def _coinex_positions(*rows: dict) -> dict:
    return {"code": 0, "message": "OK", "data": list(rows), "pagination": {"has_next": False}}


def test_coinex_order_partial_fill_cancel_and_position(coinex, http):
    ex, _ = coinex
    http.post(f"{COINEX}/futures/order", json={"code": 0, "data": dict(COINEX_ORDER, filled_amount="0",
                                                                         unfilled_amount="0.01"),
                                               "message": "OK"})
    oid = ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01)
    assert oid == "BTC_USDT.swap,13400"
    sent = json.loads(http.calls[-1].request.body)
    assert sent["market"] == "BTCUSDT" and sent["side"] == "buy" and sent["amount"] == "0.01"
    assert sent["client_id"] == "fmzc0x1" and sent["market_type"] == "FUTURES"
    assert http.calls[-1].request.headers["X-COINEX-KEY"] == SECRETS["coinex"].api_key
    partial = dict(COINEX_ORDER, status="part_filled")
    http.get(re.compile(rf"{COINEX}/futures/order-status"), json={"code": 0, "data": partial,
                                                                   "message": "OK"})
    order = ex.GetOrder(oid)
    assert order.Status == ORDER_STATE_PENDING and order.DealAmount == 0.004 and order.Amount == 0.01
    http.post(f"{COINEX}/futures/cancel-order", json={"code": 0, "data": COINEX_ORDER, "message": "OK"})
    assert ex.CancelOrder(oid) is True
    http.get(re.compile(rf"{COINEX}/futures/pending-position"), json=_coinex_positions(COINEX_SHORT))
    (p,) = ex.GetPositions()
    assert (p.Symbol, p.Type, p.Amount, p.Price, p.Profit) == ("BTC_USDT.swap", PD_SHORT, 0.02, 95100, 2)


def test_coinex_rejection_and_busy(coinex, http):
    ex, log = coinex
    http.post(f"{COINEX}/futures/order", json={"code": 3109, "data": {}, "message": "balance not enough"})
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 10) is None
    assert not ex.last_outcome_unknown and "rejected (InsufficientFunds)" in log.last_error
    assert "balance not enough" in log.last_error
    http.replace("POST", f"{COINEX}/futures/order", json={"code": 3008, "data": {},
                                                          "message": "Service busy, please try again later"})
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) is None
    assert ex.last_outcome_unknown and "fmzc0x2" in ex.in_flight


def test_bitmex_amounts_are_contracts_of_a_millionth_btc(bitmex, http):
    ex, _ = bitmex
    m = ex.GetMarkets()["BTC_USDT.swap"]
    assert (m.Symbol, m.CtVal, m.AmountSize, m.TickSize) == ("XBTUSDT", 1e-06, 1000.0, 0.5)
    http.post(f"{BITMEX}/order", json=BITMEX_ORDER)
    oid = ex.CreateOrder("BTC_USDT.swap", "sell", 95000.5, 2000)
    assert oid == f"BTC_USDT.swap,{BITMEX_ORDER['orderID']}"
    request = http.calls[-1].request
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    sent = json.loads(body) if body.startswith("{") else {k: v[0] for k, v in parse_qs(body).items()}
    assert sent["symbol"] == "XBTUSDT" and sent["side"] == "Sell" and float(sent["orderQty"]) == 2000
    assert sent["clOrdID"] == "fmzc0x1" and request.headers["api-key"] == SECRETS["bitmex"].api_key
    filled = dict(BITMEX_ORDER, ordStatus="Filled", leavesQty=0, cumQty=2000, avgPx=95000.5)
    http.get(re.compile(rf"{BITMEX}/order\?"), json=[filled])
    order = ex.GetOrder(oid)
    assert order.Status == ORDER_STATE_CLOSED and order.DealAmount == 2000
    assert json.loads(parse_qs(unquote(urlparse(http.calls[-1].request.url).query))["filter"][0]) == {
        "orderID": BITMEX_ORDER["orderID"]}


def test_bitmex_insufficient_balance_and_overload(bitmex, http):
    ex, log = bitmex
    http.post(f"{BITMEX}/order", status=400, json={"error": {
        "message": "Account has insufficient Available Balance, 190001000 USDt required",
        "name": "ValidationError"}})
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 2000) is None
    assert not ex.last_outcome_unknown and "rejected (InsufficientFunds)" in log.last_error
    http.replace("POST", f"{BITMEX}/order", status=503, json={"error": {
        "message": "The system is currently overloaded. Please try again later.", "name": "HTTPError"}})
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 2000) is None
    assert ex.last_outcome_unknown and "overloaded" in log.last_error
    http.replace("POST", f"{BITMEX}/order", body=requests.exceptions.ConnectionError("reset by peer"))
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 2000) is None
    assert ex.last_outcome_unknown and set(ex.in_flight) == {"fmzc0x2", "fmzc0x3"}


def test_bitmex_funding_rate_and_its_interval_written_as_a_date(bitmex, http):
    ex, _ = bitmex
    http.get(re.compile(rf"{BITMEX}/instrument/activeAndIndices"), json=BITMEX_INSTRUMENTS)
    (f,) = ex.GetFundings("BTC_USDT.swap")
    # "fundingInterval": "2000-01-01T08:00:00.000Z" is BitMEX's way of writing 8 hours
    assert f.Symbol == "BTC_USDT.swap" and f.Rate == 0.0001 and f.Interval == 8 * 3_600_000


def test_bitmex_set_margin_level_keeps_cross_margin_and_never_sends_an_isolating_leverage(bitmex, http):
    """On BitMEX POST /position/leverage with a number selects isolated margin at that leverage: the
    adapter sends POST /position/isolate enabled=false (cross) and keeps the leverage as the strategy's own
    margin check."""
    ex, _ = bitmex
    http.post(f"{BITMEX}/position/isolate", json={"account": 1, "symbol": "XBTUSDT", "crossMargin": True,
                                                  "leverage": 100, "currentQty": 0})
    assert ex.SetMarginLevel("BTC_USDT.swap", 10) is True
    paths = [urlparse(c.request.url).path for c in http.calls if c.request.method == "POST"]
    assert paths == ["/api/v1/position/isolate"]
    body = http.calls[-1].request.body
    body = body.decode() if isinstance(body, bytes) else body
    sent = json.loads(body) if body.startswith("{") else {k: v[0] for k, v in parse_qs(body).items()}
    assert str(sent["enabled"]).lower() == "false" and sent["symbol"] == "XBTUSDT"
    assert ex.leverage["BTC/USDT:USDT"] == 10


def _bitmex_body(request) -> dict:
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    return json.loads(body) if body.startswith("{") else {k: v[0] for k, v in parse_qs(body).items()}


@pytest.mark.parametrize(("ours", "bitmex_spelling"), [
    ("IOC", "ImmediateOrCancel"), ("FOK", "FillOrKill"), ("GTC", "GoodTillCancel")])
def test_bitmex_time_in_force_is_spelled_the_way_bitmex_reads_it(bitmex, http, ours, bitmex_spelling):
    """BitMEX's own orders carry "timeInForce": "ImmediateOrCancel" (ccxt's recorded BitMEX answer,
    ccxt/ccxt ts/src/test/static/response/bitmex.json @055794d8, fetchOrder "Swap market order"; BitMEX API
    explorer Order.new https://www.bitmex.com/api/explorer/#!/Order/Order_new lists Day, GoodTillCancel,
    ImmediateOrCancel, FillOrKill). ccxt 4.5.83's create_order passes timeInForce through unmapped (its
    request fixture, request/bitmex.json @0c9ef48a "spot limit buy with PO and GTC", sends "GTC"), so
    banded IOC closes and top-ups were refused by BitMEX while the other leg filled."""
    ex, _ = bitmex
    http.post(f"{BITMEX}/order", json=dict(BITMEX_ORDER, timeInForce=bitmex_spelling, execInst="ReduceOnly"))
    oid = ex.CreateOrder("BTC_USDT.swap", f'closebuy;{{"timeInForce": "{ours}"}}', 95000.5, 2000)
    assert oid == f"BTC_USDT.swap,{BITMEX_ORDER['orderID']}"
    sent = _bitmex_body(http.calls[-1].request)
    assert sent["timeInForce"] == bitmex_spelling and sent["ordType"] == "Limit"
    assert sent["execInst"] == "ReduceOnly"


def test_coinex_close_goes_to_close_position_without_a_side(coinex, http):
    """CoinEx has no reduce-only flag on POST /v2/futures/order; a close is POST /v2/futures/close-position
    (market, market_type, type, price, amount, client_id: docs.coinex.com/api/v2/futures/position/http/
    close-position; "amount: null to close all positions"), as ccxt's request fixture records it
    (request/coinex.json @01e403dc createOrder "Swap reduceOnly order": close-position, no side). Our
    IOC close keeps its amount (never the whole position) and our client id."""
    ex, _ = coinex
    http.get(re.compile(rf"{COINEX}/futures/pending-position"),
             json=_coinex_positions(dict(COINEX_SHORT, side="long")))
    http.post(f"{COINEX}/futures/close-position",
              json={"code": 0, "data": dict(COINEX_ORDER, side="sell", type="ioc"), "message": "OK"})
    oid = ex.CreateOrder("BTC_USDT.swap", 'closebuy;{"timeInForce": "IOC"}', 94000, 0.004)
    assert oid == "BTC_USDT.swap,13400"
    sent = json.loads(http.calls[-1].request.body)
    assert "side" not in sent and sent["type"] == "ioc" and sent["amount"] == "0.004"
    assert (sent["market"], sent["market_type"], sent["client_id"]) == ("BTCUSDT", "FUTURES", "fmzc0x1")


def test_coinex_close_of_a_long_is_refused_while_the_market_holds_a_short(coinex, http):
    """POST /v2/futures/close-position takes no side: it closes whatever position the market holds
    (docs.coinex.com/api/v2/futures/position/http/close-position; ccxt 4.5.83 coinex drops the side of a
    reduceOnly order, request fixture "Swap reduceOnly order"). A closebuy (a sell that may only reduce a
    long) sent while the account is short would buy the short back: the opposite of the order, which
    Binance, OKX and Bybit refuse as reduce-only. It is refused before sending, in one line."""
    ex, log = coinex
    http.get(re.compile(rf"{COINEX}/futures/pending-position"), json=_coinex_positions(COINEX_SHORT))
    http.post(f"{COINEX}/futures/close-position",
              json={"code": 0, "data": dict(COINEX_ORDER, side="buy", type="ioc"), "message": "OK"})
    assert ex.CreateOrder("BTC_USDT.swap", 'closebuy;{"timeInForce": "IOC"}', 94000, 0.004) is None
    assert not any("close-position" in c.request.url for c in http.calls), "the short was bought back"
    assert not ex.last_outcome_unknown and ex.in_flight == {}
    assert "holds short 0.02" in log.last_error
    assert ex.CreateOrder("BTC_USDT.swap", 'closesell;{"timeInForce": "IOC"}', 96000, 0.004) is not None
    assert json.loads(http.calls[-1].request.body)["amount"] == "0.004"
