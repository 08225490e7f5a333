"""The live adapter fed the venues' answers as ccxt recorded them, not as we transcribed the venues' docs.

Payloads: ccxt_recorded.py, each one `httpResponse` of ccxt/ccxt ts/src/test/static/response/<venue>.json
(binance.json @05776890, bybit.json @04890d69, okx.json @02140ad0), named by method key and description in
each test. Request shapes: ccxt/ccxt ts/src/test/static/request/okx.json @02140ad0. Error codes: ccxt 4.5.83's
own exception maps (ccxt/ccxt ts/src/binance.ts "-2013": OrderNotFound "Order does not exist";
ts/src/okx.ts "51603": OrderNotFound "Order does not exist"). Bybit's lookups are list queries
(bybit-exchange.github.io/docs/v5/order/open-order, order-list): an unknown orderLinkId is an empty list.

What the strategy rests on: FMZ's order Status (pending / closed / canceled), DealAmount and Amount in the
venue's contracts, AvgPrice, Type (buy/sell), Offset (open/close), the client id in Info, and, after a lost
answer, found-with-its-fill versus absent (None), never an error read as either.
"""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses
from ccxt_recorded import (
    BINANCE_SWAP_ACCOUNT,
    BINANCE_SWAP_NEW,
    BINANCE_SWAP_OPEN,
    BINANCE_UM_FILLED,
    BYBIT_CREATE_ACK,
    BYBIT_HISTORY_FILLED,
    BYBIT_REALTIME_NEW,
    BYBIT_UNIFIED_WALLET,
    OKX_CREATE_ACK,
    OKX_HISTORY_FILLED,
    OKX_PENDING_LIVE,
)
from venue_payloads import BINANCE_EXCHANGE_INFO, BYBIT_API, OKX_INSTRUMENTS, bybit_ok, make

from fmz_compat.core import (
    ORDER_OFFSET_CLOSE,
    ORDER_OFFSET_OPEN,
    ORDER_STATE_CLOSED,
    ORDER_STATE_PENDING,
    ORDER_TYPE_BUY,
    ORDER_TYPE_SELL,
)
from hedge.execution import Executor, client_id_of

FAPI = "https://fapi.binance.com/fapi/v1"
OKX = "https://www.okx.com/api/v5"
# ccxt's map: Binance -2013 is OrderNotFound (ccxt/ccxt ts/src/binance.ts exceptions, "Order does not exist")
BINANCE_NOT_FOUND = {"code": -2013, "msg": "Order does not exist."}
# ccxt's map: OKX 51603 is OrderNotFound (ccxt/ccxt ts/src/okx.ts exceptions, "Order does not exist")
OKX_NOT_FOUND = {"code": "51603", "data": [], "msg": "Order does not exist"}


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


@pytest.fixture
def binance2(http):
    """Binance with BTCUSDT and LTCUSDT listed (LTCUSDT: the symbol of ccxt's recorded open order)."""
    http.get(f"{FAPI}/exchangeInfo", json=_binance_info_with_ltc())
    return make("binance", "BTC_USDT")


def _binance_info_with_ltc() -> dict:
    info = copy.deepcopy(BINANCE_EXCHANGE_INFO)
    ltc = dict(copy.deepcopy(info["symbols"][0]), symbol="LTCUSDT", pair="LTCUSDT", baseAsset="LTC")
    ltc["filters"][0] = {"filterType": "PRICE_FILTER", "minPrice": "3.61", "maxPrice": "100000",
                         "tickSize": "0.01"}
    ltc["filters"][-2] = {"filterType": "MIN_NOTIONAL", "notional": "5"}
    info["symbols"].append(ltc)
    return info


def _okx_swap(inst_id: str, ct_val: str, lot: str, tick: str) -> dict:
    base = inst_id.split("-")[0]
    return dict(OKX_INSTRUMENTS["data"][0], instId=inst_id, ctVal=ct_val, ctValCcy=base, lotSz=lot, minSz=lot,
                tickSz=tick, instFamily=f"{base}-USDT", uly=f"{base}-USDT")


@pytest.fixture
def okx3(http):
    """OKX with BTC-, LTC- and ADA-USDT-SWAP listed (the instruments of ccxt's recorded swap orders)."""
    data = [OKX_INSTRUMENTS["data"][0], _okx_swap("LTC-USDT-SWAP", "1", "1", "0.01"),
            _okx_swap("ADA-USDT-SWAP", "100", "1", "0.0001")]
    http.get(re.compile(r"https://www\.okx\.com/api/v5/public/instruments\?instType=SWAP"),
             json={"code": "0", "msg": "", "data": data})
    return make("okx", "BTC_USDT")


# --- Binance USDⓈ-M ---------------------------------------------------------------------------------------
def test_binance_recorded_order_answer_reads_as_a_resting_sell_with_its_client_id(binance2, http):
    """binance.json createOrders "create swap orders" (the USDⓈ-M order row, orderId a number): the id
    CreateOrder returns, and GetOrder on the same row: pending, 0.2 of 0.2 open, nothing filled, a sell that
    opens, its client id carried back."""
    ex, _ = binance2
    http.post(f"{FAPI}/order", json=BINANCE_SWAP_NEW)
    oid = ex.CreateOrder("BTC_USDT.swap", "sell", 110001, 0.2)
    assert oid == "BTC_USDT.swap,4087922044"
    http.get(re.compile(rf"{FAPI}/order\?"), json=BINANCE_SWAP_NEW)
    order = ex.GetOrder(oid)
    assert (order.Status, order.Amount, order.DealAmount, order.AvgPrice, order.Price) == (
        ORDER_STATE_PENDING, 0.2, 0, 0, 110001)
    assert (order.Type, order.Offset) == (ORDER_TYPE_SELL, ORDER_OFFSET_OPEN)
    assert order.ClientOrderId == "x-xcKtGhcu04075babaeb34c55af79ba"
    assert client_id_of("binance", order) == "x-xcKtGhcu04075babaeb34c55af79ba"


def test_binance_recorded_open_order_of_another_swap(binance2, http):
    """binance.json fetchOpenOrder "swap open order" (LTCUSDT, orderId a string, post-only GTX) as the one row
    of GET /fapi/v1/openOrders: GetOrders lists it under LTC_USDT.swap, a pending buy of 0.2 at 50."""
    ex, _ = binance2
    http.get(re.compile(rf"{FAPI}/openOrders"), json=[BINANCE_SWAP_OPEN])
    (order,) = ex.GetOrders("LTC_USDT.swap")
    assert order.Id == "LTC_USDT.swap,664082074" and order.Symbol == "LTC_USDT.swap"
    assert (order.Status, order.Type, order.Amount, order.Price, order.DealAmount) == (
        ORDER_STATE_PENDING, ORDER_TYPE_BUY, 0.2, 50, 0)
    assert client_id_of("binance", order) == "x-xcKtGhcu68f8383451844295b3e8b9"
    assert _query(http.calls[-1].request.url)["symbol"] == "LTCUSDT"


def test_binance_lost_answer_filled_reads_filled_and_order_does_not_exist_reads_absent(binance2, http):
    """Two orders whose answers were lost. The venue has the first: binance.json fetchOrders "fetch
    portfolio margin orders" (the UM order row, FILLED, executedQty 0.010 at avgPrice 47279.40000), with our
    client id in place of ccxt's; of the second it answers -2013 "Order does not exist". The first reads
    filled with 0.01 at 47279.4 (a leg that traded), the second absent (None: never placed), not an error."""
    ex, _ = binance2
    http.post(f"{FAPI}/order", body=requests.exceptions.ReadTimeout("read timed out"))
    for side in ("buy", "buy"):
        ex.backoff.succeeded()
        assert ex.CreateOrder("BTC_USDT.swap", side, -1, 0.01) is None and ex.last_outcome_unknown
    assert list(ex.in_flight) == ["fmzc0x1", "fmzc0x2"]

    def answer(request):
        q = _query(request.url)
        assert "orderId" not in q and q["symbol"] == "BTCUSDT"
        if q["origClientOrderId"] == "fmzc0x1":
            return 200, {}, json.dumps(dict(BINANCE_UM_FILLED, clientOrderId="fmzc0x1"))
        return 400, {}, json.dumps(BINANCE_NOT_FOUND)

    http.add_callback(responses.GET, re.compile(rf"{FAPI}/order\?"), callback=answer)
    resolved = ex.resolve_in_flight()
    found = resolved["fmzc0x1"]
    assert found is not None and found.Id == "BTC_USDT.swap,262065925771"
    assert (found.Status, found.DealAmount, found.AvgPrice, found.Type) == (
        ORDER_STATE_CLOSED, 0.01, 47279.4, ORDER_TYPE_BUY)
    assert found.Price == -1 and found.ClientOrderId == "fmzc0x1"
    assert resolved["fmzc0x2"] is None and ex.in_flight == {}


def test_binance_the_hedge_reads_the_recorded_fill_from_the_history_and_an_unknown_id_as_absent(binance2,
                                                                                                  http):
    """The strategy's own lookup (hedge Executor.find: GetOrder by venue id, GetOrderByClientId, then
    GetOrders and GetHistoryOrders by client id; Binance answers -2013 by client id here, so the lists
    decide). Open orders: none; all orders: binance.json fetchOrders "fetch portfolio margin orders" (FILLED
    0.010) with our client id. Found with its fill. An order known by venue id that Binance answers -2013
    for, and that no list shows, is absent (False), not a failed query (None)."""
    ex, _ = binance2
    http.get(re.compile(rf"{FAPI}/openOrders"), json=[])
    http.get(re.compile(rf"{FAPI}/allOrders"), json=[dict(BINANCE_UM_FILLED, clientOrderId="hgc1a2bn7")])
    http.get(re.compile(rf"{FAPI}/order\?"), status=400, json=BINANCE_NOT_FOUND)
    executor = Executor(sleep=lambda ms: None, taker_bps=lambda venue: Decimal(5), event=lambda *a, **k: None)
    venue = SimpleNamespace(key="binance", exchange=ex)
    found = executor.find(venue, SimpleNamespace(order_id=None, symbol="BTC_USDT", client_id="hgc1a2bn7",
                                                 sent_ms=None))
    assert found not in (None, False)
    assert (found["Status"], found["DealAmount"], found["AvgPrice"]) == (ORDER_STATE_CLOSED, 0.01, 47279.4)
    gone = SimpleNamespace(order_id="BTC_USDT.swap,99", symbol="BTC_USDT", client_id="hgc1a2bn8",
                           sent_ms=None)
    assert executor.find(venue, gone) is False
    assert ex.last_outcome_unknown is False


# --- OKX swap: contracts ----------------------------------------------------------------------------------
def test_okx_recorded_create_answer_and_the_request_ccxt_recorded(okx3, http):
    """okx.json createOrder "type2 & type3 together" (the BTC/USDT:USDT market buy): the id is the answer's
    ordId. The body is request/okx.json createOrder "Swap market buy with posSide = long" (POST
    /api/v5/trade/batch-orders, [{"instId": "LTC-USDT-SWAP", "side": "buy", "ordType": "market", "sz": "1",
    "tdMode": "cross", ...}]) less its posSide and with our clOrdId: sz is the amount in contracts, as
    given."""
    ex, _ = okx3
    http.post(f"{OKX}/trade/batch-orders", json=OKX_CREATE_ACK)
    assert ex.CreateOrder("LTC_USDT.swap", "buy", -1, 1) == "LTC_USDT.swap,2896576259728695296"
    (sent,) = json.loads(http.calls[-1].request.body)
    assert sent == {"instId": "LTC-USDT-SWAP", "side": "buy", "ordType": "market", "sz": "1",
                    "tdMode": "cross", "clOrdId": "fmzc0x1"}


def test_okx_recorded_pending_order_is_counted_in_contracts(okx3, http):
    """okx.json fetchOpenOrders "fetch swap limit open order with take profit and stop loss": a live
    post-only buy, sz 50 contracts of ADA-USDT-SWAP at 0.2. GetOrders reads Amount 50 (contracts, FMZ's unit;
    ctVal 100 ADA makes it 5000 ADA), pending, nothing filled, its client id carried back."""
    ex, _ = okx3
    http.get(re.compile(rf"{OKX}/trade/orders-pending"), json=OKX_PENDING_LIVE)
    (order,) = ex.GetOrders("ADA_USDT.swap")
    assert order.Id == "ADA_USDT.swap,645348448086081536"
    assert (order.Status, order.Type, order.Amount, order.Price, order.DealAmount, order.Offset) == (
        ORDER_STATE_PENDING, ORDER_TYPE_BUY, 50, 0.2, 0, ORDER_OFFSET_OPEN)
    assert client_id_of("okx", order) == "e847386590ce4dBC28d905b5946bad5a"
    q = _query(http.calls[-1].request.url)
    assert q["instId"] == "ADA-USDT-SWAP"


def test_okx_lost_answer_filled_reads_its_contracts_and_51603_reads_absent(okx3, http):
    """Two LTC-USDT-SWAP orders whose answers were lost, looked up by clOrdId (GET /api/v5/trade/order
    answers the same order row as orders-history). The first: okx.json fetchClosedOrders "Swap closed
    orders" (filled, accFillSz 1 at avgPx 68.24) with our clOrdId. The second: 51603 "Order does not exist".
    First: closed, DealAmount 1 contract at 68.24; second: None (never placed)."""
    ex, _ = okx3
    http.post(f"{OKX}/trade/batch-orders", body=requests.exceptions.ReadTimeout("read timed out"))
    for _n in range(2):
        ex.backoff.succeeded()
        assert ex.CreateOrder("LTC_USDT.swap", "buy", -1, 1) is None and ex.last_outcome_unknown
    row = OKX_HISTORY_FILLED["data"][0]

    def answer(request):
        q = _query(request.url)
        assert q["instId"] == "LTC-USDT-SWAP" and "ordId" not in q
        if q["clOrdId"] == "fmzc0x1":
            return 200, {}, json.dumps(dict(OKX_HISTORY_FILLED, data=[dict(row, clOrdId="fmzc0x1")]))
        return 200, {}, json.dumps(OKX_NOT_FOUND)

    http.add_callback(responses.GET, re.compile(rf"{OKX}/trade/order\?"), callback=answer)
    resolved = ex.resolve_in_flight()
    found = resolved["fmzc0x1"]
    assert found is not None and found.Id == "LTC_USDT.swap,672515387010932736"
    assert (found.Status, found.Amount, found.DealAmount, found.AvgPrice, found.Type) == (
        ORDER_STATE_CLOSED, 1, 1, 68.24, ORDER_TYPE_BUY)
    assert resolved["fmzc0x2"] is None and ex.in_flight == {}


def test_okx_recorded_history_row_is_found_by_the_hedge(okx3, http):
    """okx.json fetchClosedOrders "Swap closed orders" as GET /api/v5/trade/orders-history answers it (no
    pending orders): GetHistoryOrders reads it closed with 1 contract filled; the hedge's lookup by client
    id (its clOrdId as recorded) finds it."""
    ex, _ = okx3
    http.get(re.compile(rf"{OKX}/trade/orders-pending"), json={"code": "0", "data": [], "msg": ""})
    http.get(re.compile(rf"{OKX}/trade/orders-history"), json=OKX_HISTORY_FILLED)
    (order,) = ex.GetHistoryOrders("LTC_USDT.swap")
    assert (order.Status, order.DealAmount, order.AvgPrice, order.Type, order.Offset) == (
        ORDER_STATE_CLOSED, 1, 68.24, ORDER_TYPE_BUY, ORDER_OFFSET_OPEN)
    # GET /api/v5/trade/order?clOrdId= (OKX "Get order details") answers the same order row
    http.get(re.compile(rf"{OKX}/trade/order\?"), json=OKX_HISTORY_FILLED)
    executor = Executor(sleep=lambda ms: None, taker_bps=lambda venue: Decimal(5), event=lambda *a, **k: None)
    record = SimpleNamespace(order_id=None, symbol="LTC_USDT", client_id="e847386590ce4dBC2f7dbb9924c2b77c",
                             sent_ms=None)
    found = executor.find(SimpleNamespace(key="okx", exchange=ex), record)
    assert found not in (None, False) and found["DealAmount"] == 1


# --- Bybit V5 linear --------------------------------------------------------------------------------------
def test_bybit_recorded_create_answer_with_ret_code_as_recorded(bybit, http):
    """bybit.json createOrder "create spot order": {"retCode": "0", "result": {"orderId", "orderLinkId"}}
    (Bybit's create answer carries nothing else, whatever the category): the id CreateOrder returns."""
    ex, _ = bybit
    http.post(f"{BYBIT_API}/order/create", json=BYBIT_CREATE_ACK)
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.001) == "BTC_USDT.swap,1609920528435648000"
    assert ex.last_outcome_unknown is False


def test_bybit_recorded_realtime_order_is_pending(bybit, http):
    """bybit.json fetchOpenOrder "Fetch an open swap order by its ID and symbol" (GET /v5/order/realtime,
    New, 0.001 at 102000, avgPrice ""): GetOrders and GetOrder read it pending, nothing filled."""
    ex, _ = bybit
    http.get(re.compile(rf"{BYBIT_API}/order/realtime"), json=BYBIT_REALTIME_NEW)
    (order,) = ex.GetOrders("BTC_USDT.swap")
    assert order.Id == "BTC_USDT.swap,3606515b-e4d7-4ea4-b096-bb247d0661ae"
    assert (order.Status, order.Type, order.Amount, order.Price, order.DealAmount, order.AvgPrice) == (
        ORDER_STATE_PENDING, ORDER_TYPE_BUY, 0.001, 102000, 0, 0)
    same = ex.GetOrder(order.Id)
    assert (same.Status, same.DealAmount) == (ORDER_STATE_PENDING, 0)
    assert _query(http.calls[-1].request.url)["orderId"] == "3606515b-e4d7-4ea4-b096-bb247d0661ae"


def test_bybit_recorded_history_reads_a_filled_open_and_a_filled_close(bybit, http):
    """bybit.json fetchClosedOrders "Fetch swap closed orders by the symbol" (GET /v5/order/history, newest
    first): GetHistoryOrders oldest first, the market buy (open) 0.001 at 123498, then the reduce-only
    market sell (a close) 0.001 at 122529.9, both closed."""
    ex, _ = bybit
    http.get(re.compile(rf"{BYBIT_API}/order/history"), json=BYBIT_HISTORY_FILLED)
    bought, sold = ex.GetHistoryOrders("BTC_USDT.swap")
    assert (bought.Status, bought.Type, bought.Offset, bought.DealAmount, bought.AvgPrice) == (
        ORDER_STATE_CLOSED, ORDER_TYPE_BUY, ORDER_OFFSET_OPEN, 0.001, 123498)
    assert (sold.Status, sold.Type, sold.Offset, sold.DealAmount, sold.AvgPrice) == (
        ORDER_STATE_CLOSED, ORDER_TYPE_SELL, ORDER_OFFSET_CLOSE, 0.001, 122529.9)


def test_bybit_lost_answer_found_in_the_recorded_history_and_an_empty_list_reads_absent(bybit, http):
    """Two lost answers. realtime lists neither (Bybit answers an unknown orderLinkId with an empty list);
    the history (bybit.json fetchClosedOrders "Fetch swap closed orders by the symbol") has the first, the
    filled buy, with our orderLinkId. First: closed, 0.001 at 123498; second: None (never placed)."""
    ex, _ = bybit
    http.post(f"{BYBIT_API}/order/create", body=requests.exceptions.ReadTimeout("read timed out"))
    for _n in range(2):
        ex.backoff.succeeded()
        assert ex.CreateOrder("BTC_USDT.swap", "buy", -1, 0.001) is None and ex.last_outcome_unknown
    sell, buy = BYBIT_HISTORY_FILLED["result"]["list"]
    empty = bybit_ok({"category": "linear", "nextPageCursor": "", "list": []})

    def history(request):
        q = _query(request.url)
        rows = [dict(buy, orderLinkId="fmzc0x1")] if q.get("orderLinkId") == "fmzc0x1" else []
        return 200, {}, json.dumps(dict(BYBIT_HISTORY_FILLED, result=dict(BYBIT_HISTORY_FILLED["result"],
                                                                           list=rows)))

    http.get(re.compile(rf"{BYBIT_API}/order/realtime"), json=empty)
    http.add_callback(responses.GET, re.compile(rf"{BYBIT_API}/order/history"), callback=history)
    resolved = ex.resolve_in_flight()
    found = resolved["fmzc0x1"]
    assert found is not None and found.Id == f"BTC_USDT.swap,{buy['orderId']}"
    assert (found.Status, found.DealAmount, found.AvgPrice, found.Type) == (
        ORDER_STATE_CLOSED, 0.001, 123498, ORDER_TYPE_BUY)
    assert resolved["fmzc0x2"] is None and ex.in_flight == {}


# --- balances: Equity = wallet + unrealised PnL, checked against the venue's own equity field --------------
def test_binance_recorded_swap_account_equity(binance2, http):
    """binance.json fetchBalance "Linear swap balance" (GET /fapi/v3/account answer): Equity is USDT
    walletBalance + unrealizedProfit, which the venue states as marginBalance (31.022612)."""
    ex, _ = binance2
    http.get(re.compile(r"https://fapi\.binance\.com/fapi/v[23]/account"), json=BINANCE_SWAP_ACCOUNT)
    account = ex.GetAccount()
    usdt = BINANCE_SWAP_ACCOUNT["assets"][0]
    assert account.Equity == pytest.approx(float(usdt["marginBalance"])) == pytest.approx(31.022612)
    assert (account.Balance, account.UPnL) == (31.022612, 0)


def test_bybit_recorded_unified_wallet_equity(bybit, http):
    """bybit.json fetchBalance "balance after availableToWithdraw update" (unified wallet, USDT row):
    Equity is walletBalance + unrealisedPnl = 3322.25896609 - 17.9613, the venue's own USDT "equity"
    (3304.29766609); UPnL is the row's unrealisedPnl."""
    ex, _ = bybit
    http.get(re.compile(rf"{BYBIT_API}/account/wallet-balance"), json=BYBIT_UNIFIED_WALLET)
    account = ex.GetAccount()
    usdt = BYBIT_UNIFIED_WALLET["result"]["list"][0]["coin"][0]
    assert account.Equity == pytest.approx(float(usdt["equity"])) == pytest.approx(3304.29766609)
    assert account.UPnL == pytest.approx(-17.9613)


# --- GetOrders() without a symbol: every USDT swap of the account, as the simulator answers it -----------
def test_binance_get_orders_without_a_symbol_lists_every_swap(binance2, http):
    """FMZ's GetOrders() on a futures object lists the open orders of every symbol (the simulator:
    fmz_compat/sim/exchange.py _pairs_for, all pairs of the quote); hedge/trader.py cancel_all_orders (the
    gate's halt) and hedge/probes.py (the orders probe) call it so. ccxt 4.5.83's binance.fetchOpenOrders
    raises its "fetching open orders without specifying a symbol" ExchangeError before sending unless
    options["fetchOpenOrders"]["warnWithoutSymbol"] is False: GetOrders() read None on Binance, the halt
    cancelled nothing there and the probe never answered. Binance USDⓈ-M GET /fapi/v1/openOrders takes
    symbol as optional (all symbols without it). Rows: binance.json fetchOpenOrder "swap open order"
    (LTCUSDT) and createOrders "create swap orders" (BTCUSDT)."""
    ex, log = binance2
    http.get(re.compile(rf"{FAPI}/openOrders"), json=[BINANCE_SWAP_OPEN, BINANCE_SWAP_NEW])
    orders = ex.GetOrders()
    assert orders is not None, log.last_error
    assert [o.Id for o in orders] == ["LTC_USDT.swap,664082074", "BTC_USDT.swap,4087922044"]
    assert [o.Status for o in orders] == [ORDER_STATE_PENDING, ORDER_STATE_PENDING]
    assert "symbol" not in _query(http.calls[-1].request.url)


def test_binance_get_orders_without_a_symbol_leaves_out_a_dated_future(http):
    """FMZ: "For futures exchange objects, if the symbol parameter is not passed, the default is to request
    the uncompleted order data of all varieties in the dimension range of the current trading pair and
    contract code" (fmz.com/syntax-guide/fun/trade/exchange.getorders): the current pair BTC_USDT with
    contract swap is every USDT perpetual, not a quarterly future. Binance GET /fapi/v1/openOrders without
    symbol lists every USD-M order, quarterlies too (exchangeInfo contractType CURRENT_QUARTER, symbol
    BTCUSDT_250328: ccxt's BTC/USDT:USDT-250328, swap False), as 60e0744 found for GetPositions(). Old code
    listed a resting order there as "BTC/USDT:USDT-250328,...", which the gate's halt (hedge/trader.py
    cancel_all_orders) then tried to cancel: an "invalid symbol" error and a failed-cancel event at every
    halt for an order that is not the strategy's. Rows:
    binance.json fetchOpenOrder "swap open order" (LTCUSDT), createOrders "create swap orders" (BTCUSDT),
    and that row under the quarterly's symbol."""
    info = _binance_info_with_ltc()
    dated = dict(copy.deepcopy(info["symbols"][0]), symbol="BTCUSDT_250328", contractType="CURRENT_QUARTER",
                 deliveryDate=1743148800000)
    info["symbols"].append(dated)
    http.get(f"{FAPI}/exchangeInfo", json=info)
    ex, log = make("binance", "BTC_USDT")
    quarterly_order = dict(BINANCE_SWAP_NEW, symbol="BTCUSDT_250328", orderId=4087922045)
    http.get(re.compile(rf"{FAPI}/openOrders"), json=[BINANCE_SWAP_OPEN, quarterly_order, BINANCE_SWAP_NEW])
    orders = ex.GetOrders()
    assert orders is not None, log.last_error
    assert "BTC/USDT:USDT-250328" in ex._client.markets  # the quarterly is a market ccxt knows
    assert [o.Id for o in orders] == ["LTC_USDT.swap,664082074", "BTC_USDT.swap,4087922044"]


def test_okx_get_orders_without_a_symbol_asks_for_swaps_only(okx3, http):
    """OKX GET /api/v5/trade/orders-pending without instType answers every instrument type's pending orders
    (spot and margin too, which this futures object neither lists nor can cancel: their ids are not swaps);
    without a symbol GetOrders asks instType=SWAP. Row: okx.json fetchOpenOrders "fetch swap limit open
    order with take profit and stop loss" (ADA-USDT-SWAP, 50 contracts)."""
    ex, _ = okx3
    http.get(re.compile(rf"{OKX}/trade/orders-pending"), json=OKX_PENDING_LIVE)
    (order,) = ex.GetOrders()
    assert order.Id == "ADA_USDT.swap,645348448086081536" and order.Amount == 50
    assert _query(http.calls[-1].request.url).get("instType") == "SWAP"
