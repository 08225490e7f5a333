"""The hedge's CreateOrder options in each venue's own parameter names reach the venue as FMZ passes them.

FMZ's syntax guide (exchange.CreateOrder, https://www.fmz.com/syntax-guide/fun/trade/exchange.createorder):
options ride on the side as 'side;{JSON}' and "are used to pass exchange-specific parameters (such as order
type, time-in-force rules, etc.); the specific parameters supported depend on the exchange API". The hedge
therefore spells them as each venue does (hedge.execution.order_options, docs/live.md "Order options on
FMZ"); the live adapter, standing in for FMZ here, must send the order those names ask for. Request shapes:
ccxt/ccxt ts/src/test/static/request/okx.json @02140ad0 (createOrder bodies with ordType and clOrdId),
request/coinex.json @01e403dc createOrder (type, client_id), BitMEX Order.new (timeInForce
ImmediateOrCancel, clOrdID; response fixture bitmex.json @055794d8).
"""

from __future__ import annotations

import json

from test_live_coinex_bitmex import BITMEX_ORDER, COINEX_ORDER, _bitmex_body
from venue_payloads import BITMEX_API as BITMEX
from venue_payloads import COINEX_API as COINEX
from venue_payloads import okx_ok

from hedge.execution import order_options

OKX = "https://www.okx.com/api/v5"


def test_okx_ioc_asked_with_ord_type_is_sent_as_an_ioc_with_our_cl_ord_id(okx, http):
    """Old adapter read only timeInForce: an ordType ioc top-up went to OKX as ordType limit (resting)."""
    ex, _ = okx
    http.post(f"{OKX}/trade/batch-orders", json=okx_ok([{"clOrdId": "hgt1n1", "ordId": "7", "tag": "",
                                                         "ts": "1732500000123", "sCode": "0", "sMsg": ""}]))
    assert ex.CreateOrder("BTC_USDT.swap", "buy;" + order_options("okx", "hgt1n1", ioc=True), 95000, 3)
    sent = json.loads(http.calls[-1].request.body)[0]
    assert (sent["ordType"], sent["clOrdId"], sent["px"]) == ("ioc", "hgt1n1", "95000")


def test_coinex_ioc_asked_with_type_is_sent_as_an_ioc_with_our_client_id(coinex, http):
    ex, _ = coinex
    answer = dict(COINEX_ORDER, type="ioc", client_id="hgt1n1")
    http.post(f"{COINEX}/futures/order", json={"code": 0, "data": answer, "message": "OK"})
    assert ex.CreateOrder("BTC_USDT.swap", "buy;" + order_options("coinex", "hgt1n1", ioc=True), 95000, 0.01)
    sent = json.loads(http.calls[-1].request.body)
    assert (sent["type"], sent["client_id"], sent["side"]) == ("ioc", "hgt1n1", "buy")


def test_bitmex_ioc_in_its_own_words_is_sent_as_immediate_or_cancel_with_our_cl_ord_id(bitmex, http):
    ex, _ = bitmex
    http.post(f"{BITMEX}/order", json=dict(BITMEX_ORDER, timeInForce="ImmediateOrCancel", clOrdID="hgt1n1"))
    side = "sell;" + order_options("bitmex", "hgt1n1", ioc=True)
    assert ex.CreateOrder("BTC_USDT.swap", side, 95000.5, 2000)
    sent = _bitmex_body(http.calls[-1].request)
    assert (sent["timeInForce"], sent["clOrdID"], sent["ordType"]) == ("ImmediateOrCancel", "hgt1n1", "Limit")
