"""LiveExchange on Binance USD-M through ccxt, REST mocked with Binance's own payloads."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import requests
import responses
from venue_payloads import BINANCE_EXCHANGE_INFO, SECRETS, binance_order, make

from fmz_compat.core import (
    LOG_TYPE_BUY,
    LOG_TYPE_ERROR,
    ORDER_OFFSET_CLOSE,
    ORDER_STATE_CANCELED,
    ORDER_STATE_PENDING,
    ORDER_TYPE_SELL,
    PD_SHORT,
)

API = "https://fapi.binance.com/fapi"


def _sent(call: responses.Call) -> dict[str, str]:
    query = parse_qs(urlparse(call.request.url).query)
    if call.request.body:
        body = call.request.body
        query |= parse_qs(body if isinstance(body, str) else body.decode())
    return {k: v[0] for k, v in query.items()}


def test_limit_order_is_placed_with_a_client_id_and_logged(binance, http):
    ex, log = binance
    http.post(f"{API}/v1/order", json=binance_order())
    oid = ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01, "open long")
    assert oid == "BTC_USDT.swap,4079375543"
    sent = _sent(http.calls[-1])
    assert sent["symbol"] == "BTCUSDT" and sent["side"] == "BUY" and sent["type"] == "LIMIT"
    assert sent["quantity"] == "0.01" and sent["price"] == "95000"
    assert sent["newClientOrderId"] == "fmzc0x1"
    assert log.rows[-1]["type"] == LOG_TYPE_BUY and log.rows[-1]["order_id"] == oid
    assert log.rows[-1]["message"] == "open long"


def test_closebuy_is_a_reduce_only_sell_carrying_the_callers_client_id(binance, http):
    ex, _ = binance
    http.post(f"{API}/v1/order", json=binance_order(side="SELL", reduceOnly=True, clientOrderId="hedge-7"))
    side = 'closebuy;{"clientOrderId": "hedge-7", "postOnly": true}'
    oid = ex.CreateOrder("BTC_USDT.swap", side, 96000, 0.01)
    assert oid == "BTC_USDT.swap,4079375543"
    sent = _sent(http.calls[-1])
    assert sent["side"] == "SELL" and sent["reduceOnly"] == "true"
    assert sent["newClientOrderId"] == "hedge-7" and sent["timeInForce"] == "GTX"


def test_an_unrounded_price_and_amount_go_through_ccxt_rounded_and_cut(binance, http):
    """Without SetPrecision the raw float goes to ccxt, whose create_order sends price_to_precision (ROUND,
    to the nearest 0.1 tick) and amount_to_precision (TRUNCATE, to the 0.001 step): ccxt 4.5.83
    python/ccxt/base/exchange.py price_to_precision / amount_to_precision, binance.create_order_request."""
    ex, _ = binance
    http.post(f"{API}/v1/order", json=binance_order())
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000.2919, 0.0159)
    sent = _sent(http.calls[-1])
    assert (sent["price"], sent["quantity"]) == ("95000.3", "0.015")


def test_set_precision_cuts_price_and_amount_to_its_decimals_before_the_venue(binance, http):
    """FMZ's syntax guide, exchange.SetPrecision: after it "the system automatically ignores the part of the
    data beyond the precision" (youquant.com/syntax-guide/fun/trade/exchange.setprecision). Public
    strategies call it on live robots; the live object had no such method (AttributeError)."""
    ex, _ = binance
    http.post(f"{API}/v1/order", json=binance_order())
    ex.SetPrecision(0, 2)
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000.99, 0.0159)
    sent = _sent(http.calls[-1])
    assert (sent["price"], sent["quantity"]) == ("95000", "0.01")


def test_partial_fill_reads_back_as_pending_with_deal_amount(binance, http):
    ex, _ = binance
    http.get(f"{API}/v1/order", json=binance_order("PARTIALLY_FILLED", executed="0.004", avg="94999.90",
                                                   side="SELL", reduceOnly=True))
    order = ex.GetOrder("BTC_USDT.swap,4079375543")
    assert order.Status == ORDER_STATE_PENDING
    assert order.DealAmount == 0.004 and order.AvgPrice == 94999.9
    assert order.Type == ORDER_TYPE_SELL and order.Offset == ORDER_OFFSET_CLOSE
    assert order.Info.orderId == 4079375543


def test_cancel_returns_true_and_the_order_reads_canceled(binance, http):
    ex, _ = binance
    http.delete(f"{API}/v1/order", json=binance_order("CANCELED"))
    assert ex.CancelOrder("BTC_USDT.swap,4079375543") is True
    assert _sent(http.calls[-1])["orderId"] == "4079375543"
    partial = binance_order("PARTIALLY_FILLED", orderId=2, executedQty="0.002")
    http.get(f"{API}/v1/openOrders", json=[binance_order(orderId=1), partial])
    orders = ex.GetOrders("BTC_USDT.swap")
    assert [o.Id for o in orders] == ["BTC_USDT.swap,1", "BTC_USDT.swap,2"]
    http.get(f"{API}/v1/order", json=binance_order("CANCELED"))
    assert ex.GetOrder("BTC_USDT.swap,4079375543").Status == ORDER_STATE_CANCELED


def test_positions_and_account(binance, http):
    ex, _ = binance
    http.get(f"{API}/v1/leverageBracket", json=[{"symbol": "BTCUSDT", "notionalCoef": 1.0, "brackets": [
        {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
         "maintMarginRatio": 0.004, "cum": 0.0}]}])
    http.get(f"{API}/v3/positionRisk", json=[{
        "symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "-0.020", "entryPrice": "95100.0",
        "breakEvenPrice": "95062.0", "markPrice": "95000.00000000", "unRealizedProfit": "2.00000000",
        "liquidationPrice": "180000.0", "isolatedMargin": "0", "notional": "-1900.00000000",
        "marginAsset": "USDT", "isolatedWallet": "0", "initialMargin": "380.00000000",
        "maintMargin": "7.60000000", "positionInitialMargin": "380.00000000", "openOrderInitialMargin": "0",
        "adl": 1, "bidNotional": "0", "askNotional": "0", "updateTime": 1732500000000}])
    positions = ex.GetPositions()
    assert len(positions) == 1
    p = positions[0]
    assert (p.Symbol, p.Type, p.Amount, p.Price, p.Profit) == ("BTC_USDT.swap", PD_SHORT, 0.02, 95100.0, 2.0)
    http.get(f"{API}/v3/account", json={
        "totalInitialMargin": "380.0", "totalMaintMargin": "7.6", "totalWalletBalance": "10000.0",
        "totalUnrealizedProfit": "2.0", "totalMarginBalance": "10002.0",
        "totalPositionInitialMargin": "380.0",
        "totalOpenOrderInitialMargin": "0.0", "totalCrossWalletBalance": "10000.0",
        "totalCrossUnPnl": "2.0", "availableBalance": "9622.0", "maxWithdrawAmount": "9622.0",
        "assets": [{"asset": "USDT", "walletBalance": "10000.0", "unrealizedProfit": "2.0",
                    "marginBalance": "10002.0", "maintMargin": "7.6", "initialMargin": "380.0",
                    "positionInitialMargin": "380.0", "openOrderInitialMargin": "0.0",
                    "crossWalletBalance": "10000.0", "crossUnPnl": "2.0", "availableBalance": "9622.0",
                    "maxWithdrawAmount": "9622.0", "updateTime": 1732500000000}],
        "positions": []})
    account = ex.GetAccount()
    assert (account.Balance, account.Equity, account.UPnL) == (9622.0, 10002.0, 2.0)


def test_funding_and_leverage(binance, http):
    ex, _ = binance
    http.get(f"{API}/v1/premiumIndex", json={
        "symbol": "BTCUSDT", "markPrice": "95000.00", "indexPrice": "95010.00",
        "estimatedSettlePrice": "95005.0", "lastFundingRate": "0.00010000", "interestRate": "0.00010000",
        "nextFundingTime": 1732521600000, "time": 1732500000000})
    http.get(f"{API}/v1/fundingInfo", json=[  # only symbols off the default 8 h are listed
        {"symbol": "BTCUSDT", "adjustedFundingRateCap": "0.02000000",
         "adjustedFundingRateFloor": "-0.02000000", "fundingIntervalHours": 4, "disclaimer": False}])
    (funding,) = ex.GetFundings("BTC_USDT.swap")
    assert funding.Symbol == "BTC_USDT.swap" and funding.Rate == 0.0001 and funding.Time == 1732521600000
    assert funding.Interval == 4 * 3_600_000
    http.replace("GET", f"{API}/v1/fundingInfo", json=[])
    ex._binance_funding_read_ms = 0  # an hour later
    assert ex.GetFundings("BTC_USDT.swap")[0].Interval == 8 * 3_600_000
    http.post(f"{API}/v1/leverage", json={"leverage": 5, "maxNotionalValue": "80000000", "symbol": "BTCUSDT"})
    # already cross: Binance answers -4046, which is success here
    http.post(f"{API}/v1/marginType", status=400,
              json={"code": -4046, "msg": "No need to change margin type."})
    assert ex.SetMarginLevel("BTC_USDT.swap", 5) is True
    margin_call = next(c for c in http.calls if c.request.url.split("?")[0].endswith("/v1/marginType"))
    assert _sent(margin_call)["marginType"] == "CROSSED" and _sent(margin_call)["symbol"] == "BTCUSDT"
    assert _sent(http.calls[-1])["leverage"] == "5"


def test_insufficient_margin_is_a_definite_rejection_with_the_venues_message(binance, http):
    ex, log = binance
    http.post(f"{API}/v1/order", status=400, json={"code": -2019, "msg": "Margin is insufficient."})
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 1) is None
    assert ex.last_outcome_unknown is False and ex.in_flight == {}
    assert log.rows[-1]["type"] == LOG_TYPE_ERROR
    assert "rejected (InsufficientFunds)" in log.rows[-1]["message"]
    assert "Margin is insufficient." in log.last_error


def test_min_notional_is_a_definite_rejection(binance, http):
    ex, log = binance
    http.post(f"{API}/v1/order", status=400, json={
        "code": -4164,
        "msg": "Order's notional must be no smaller than 100 (unless you choose reduce only)."})
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.001) is None
    assert not ex.last_outcome_unknown and "notional must be no smaller than 100" in log.last_error


def test_timeouts_429_and_5xx_leave_the_order_in_flight(binance, http):
    ex, log = binance
    failures = [
        {"body": requests.exceptions.ReadTimeout("read timed out")},
        {"status": 429, "json": {"code": -1003, "msg": "Too many requests; current limit is 2400 "
                                                        "requests per minute."}},
        {"status": 503, "body": "<html>503 Service Temporarily Unavailable</html>"},
        {"status": 502, "body": "Bad Gateway"},
    ]
    for i, failure in enumerate(failures):
        http.replace(responses.POST, f"{API}/v1/order", **failure) if i else http.post(f"{API}/v1/order",
                                                                                       **failure)
        ex.backoff.succeeded()  # each failure on its own here; the back-off has its own tests
        assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) is None
        assert ex.last_outcome_unknown is True
        assert "outcome unknown" in log.last_error
        assert f"fmzc0x{i + 1}" in ex.in_flight
    assert ex.in_flight["fmzc0x1"].Side == "buy" and ex.in_flight["fmzc0x1"].Amount == 0.01
    http.get(f"{API}/v1/premiumIndex", json={"symbol": "BTCUSDT", "lastFundingRate": "0.0001",
                                             "nextFundingTime": 1, "time": 1, "markPrice": "1"})
    assert ex.GetFundings("BTC_USDT.swap") is not None
    assert ex.last_outcome_unknown is False  # reset by the next call


def test_secrets_never_reach_the_log_even_on_an_auth_error(binance, http):
    ex, log = binance
    creds = SECRETS["binance"]
    http.post(f"{API}/v1/order", status=401, json={
        "code": -2015, "msg": f"Invalid API-key, IP, or permissions for action, request ip: 1.2.3.4 "
                              f"key {creds.api_key}"})
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) is None
    text = json.dumps(log.rows)
    assert "Invalid API-key" in text
    for secret in creds.secrets():
        assert secret not in text
    assert "signature=" not in text or "signature=***" in text
    assert creds.api_key not in repr(creds) and creds.secret not in str(creds)


def test_raw_signed_rest_through_io(binance, http):
    ex, log = binance
    http.get(f"{API}/v1/positionSide/dual", json={"dualSidePosition": False})
    result = ex.IO("api", "GET", "/fapi/v1/positionSide/dual", "recvWindow=5000")
    assert result == {"dualSidePosition": False}
    request = http.calls[-1].request
    assert request.headers["X-MBX-APIKEY"] == SECRETS["binance"].api_key
    assert "signature=" in request.url and "recvWindow=5000" in request.url
    assert ex.IO("api", "GET", "/api/v3/account") is None
    assert "start it with /fapi/v3/, /fapi/v2/, /fapi/v1/, /sapi/v3/, /sapi/v1/" in log.last_error


def test_wallet_endpoints_go_signed_to_the_spot_api(binance, http):
    """The treasury's transfer and withdrawal (hedge/wallets.py) reach api.binance.com/sapi, signed."""
    ex, _ = binance
    http.post("https://api.binance.com/sapi/v1/capital/withdraw/apply",
              json={"id": "7213fea8e94b4a5593d507237e5a555b"})
    result = ex.IO("api", "POST", "/sapi/v1/capital/withdraw/apply",
                   "coin=USDT&network=TRX&address=TXour&amount=500.00&withdrawOrderId=tr1x1&walletType=0")
    assert result == {"id": "7213fea8e94b4a5593d507237e5a555b"}
    request = http.calls[-1].request
    sent = _sent(http.calls[-1])
    assert request.headers["X-MBX-APIKEY"] == SECRETS["binance"].api_key and "signature" in sent
    assert sent["address"] == "TXour" and sent["network"] == "TRX" and sent["withdrawOrderId"] == "tr1x1"
    http.post("https://api.binance.com/sapi/v3/asset/getUserAsset", json=[{"asset": "USDT", "free": "12.5"}])
    assert ex.IO("api", "POST", "/sapi/v3/asset/getUserAsset", "asset=USDT")[0]["free"] == "12.5"


def test_symbols_names_and_markets(binance, http):
    ex, log = binance
    assert ex.GetName() == "Futures_Binance"
    assert ex.SetContractType("swap").InstrumentID == "BTCUSDT"
    markets = ex.GetMarkets()
    m = markets["BTC_USDT.swap"]
    assert (m.TickSize, m.AmountSize, m.MinQty, m.MinNotional, m.CtVal) == (0.1, 0.001, 0.001, 100.0, 1.0)
    assert m.PricePrecision == 1 and m.AmountPrecision == 3
    assert ex.CreateOrder("DOGE_USDT.swap", "buy", 1, 1) is None
    assert "not listed" in log.last_error
    assert ex.CreateOrder("BTC_USDT.swap", "short", 1, 1) is None
    assert "invalid side" in log.last_error


def test_in_flight_orders_resolve_by_client_id(binance, http):
    ex, log = binance
    http.post(f"{API}/v1/order", body=requests.exceptions.ReadTimeout("read timed out"))
    for side, price in (("buy", 95000), ("sell", 96000), ("sell", 97000)):
        ex.backoff.succeeded()  # three separate timeouts, not a streak the back-off would hold
        assert ex.CreateOrder("BTC_USDT.swap", side, price, 0.01) is None
    assert list(ex.in_flight) == ["fmzc0x1", "fmzc0x2", "fmzc0x3"]

    def answer(request):
        cid = parse_qs(urlparse(request.url).query)["origClientOrderId"][0]
        if cid == "fmzc0x1":  # it reached the venue and filled
            return 200, {}, json.dumps(binance_order("FILLED", executed="0.010", avg="95000.00"))
        if cid == "fmzc0x2":
            return 400, {}, json.dumps({"code": -2013, "msg": "Order does not exist."})
        raise requests.exceptions.ConnectTimeout("still down")

    http.add_callback(responses.GET, f"{API}/v1/order", callback=answer)
    resolved = ex.resolve_in_flight()
    assert resolved["fmzc0x1"].Id == "BTC_USDT.swap,4079375543" and resolved["fmzc0x1"].DealAmount == 0.01
    assert resolved["fmzc0x2"] is None
    assert "fmzc0x3" not in resolved and list(ex.in_flight) == ["fmzc0x3"]
    assert "fmzc0x3 still unknown" in log.last_error


def test_ed25519_keys_sign_binance_orders(tmp_path, http):
    import base64
    from urllib.parse import unquote

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from venue_payloads import BINANCE_EXCHANGE_INFO

    from fmz_compat.core import ExchangeBinding, MemoryLog
    from fmz_compat.keys import load_keys_file
    from fmz_compat.live import LiveExchange, build_client

    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    path = tmp_path / "keys.json"
    messy_pem = pem.replace("\n", "\r\n") + "\n"  # Windows line ends: too long for ccxt unless cleaned
    path.write_text(json.dumps({"binance": {"apiKey": "edKEY123", "ed25519": messy_pem}}))
    path.chmod(0o600)
    creds = load_keys_file(path)["binance"]
    http.get(f"{API}/v1/exchangeInfo", json=BINANCE_EXCHANGE_INFO)
    http.post(f"{API}/v1/order", json=binance_order())
    ex = LiveExchange(build_client("binance", creds), "binance", ExchangeBinding(eid="Futures_Binance"),
                      MemoryLog(), secrets=creds.secrets())
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) == "BTC_USDT.swap,4079375543"
    request = http.calls[-1].request
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    signed = f"{urlparse(request.url).query}&{body}".strip("&")
    payload, _, signature = signed.rpartition("&signature=")
    private.public_key().verify(base64.b64decode(unquote(signature)), payload.encode())  # raises if wrong


def test_set_margin_level_refuses_when_an_isolated_position_blocks_cross_margin(binance, http):
    """-4048: the margin type cannot change while a position is held in the other mode. Nothing else is
    sent (no leverage change), and the log line names the fix."""
    ex, log = binance
    http.post(f"{API}/v1/marginType", status=400,
              json={"code": -4048, "msg": "Margin type cannot be changed if there exists position."})
    assert ex.SetMarginLevel("BTC_USDT.swap", 5) is None
    assert not any(c.request.url.split("?")[0].endswith("/v1/leverage") for c in http.calls)
    line = log.rows[-1]["message"]
    assert log.rows[-1]["type"] == LOG_TYPE_ERROR
    assert "cannot set cross margin on BTC/USDT:USDT" in line and "close it, or switch it" in line


def test_io_cross_false_asks_for_isolated_margin(binance, http):
    ex, _ = binance
    http.post(f"{API}/v1/marginType", json={"code": 200, "msg": "success"})
    http.post(f"{API}/v1/leverage", json={"leverage": 3, "maxNotionalValue": "80000000", "symbol": "BTCUSDT"})
    assert ex.IO("cross", False) is True
    assert ex.SetMarginLevel("BTC_USDT.swap", 3) is True
    margin_call = next(c for c in http.calls if c.request.url.split("?")[0].endswith("/v1/marginType"))
    assert _sent(margin_call)["marginType"] == "ISOLATED"


def test_modify_order_amends_in_place_with_put_and_keeps_the_id(binance, http):
    ex, log = binance
    http.put(f"{API}/v1/order", json=binance_order(price="94500.00", origQty="0.020"))
    oid = ex.ModifyOrder("BTC_USDT.swap,4079375543", "buy", 94500, 0.02)
    assert oid == "BTC_USDT.swap,4079375543"
    sent = _sent(http.calls[-1])
    assert http.calls[-1].request.method == "PUT"
    assert sent["orderId"] == "4079375543" and sent["price"] == "94500" and sent["quantity"] == "0.02"
    assert sent["side"] == "BUY" and log.rows[-1]["message"] == "modify"


def test_get_trades_and_get_records_in_fmz_shape(binance, http):
    import re

    ex, _ = binance
    # GET /fapi/v1/aggTrades: a = id, p = price, q = quantity, T = time, m = buyer is maker (a sell)
    http.get(re.compile(rf"{API}/v1/aggTrades.*"), json=[
        {"a": 26129, "p": "95000.10", "q": "0.004", "f": 27781, "l": 27781, "T": 1732500000100, "m": True},
        {"a": 26130, "p": "95000.20", "q": "0.010", "f": 27782, "l": 27783, "T": 1732500000200, "m": False}])
    trades = ex.GetTrades("BTC_USDT.swap")
    assert [(t.Id, t.Time, t.Price, t.Amount, t.Type) for t in trades] == [
        ("26129", 1732500000100, 95000.1, 0.004, ORDER_TYPE_SELL),
        ("26130", 1732500000200, 95000.2, 0.01, 0)]
    # GET /fapi/v1/klines: open time, open, high, low, close, volume, close time, ...
    http.get(re.compile(rf"{API}/v1/klines.*"), json=[
        [1732496400000, "94800.0", "95100.0", "94700.0", "95000.0", "1234.5", 1732499999999, "0", 1, "0", "0",
         "0"],
        [1732500000000, "95000.0", "95050.0", "94990.0", "95010.0", "12.5", 1732503599999, "0", 1, "0", "0",
         "0"]])
    records = ex.GetRecords("BTC_USDT.swap", 3600, 2)
    query = _sent(http.calls[-1])
    assert query["interval"] == "1h" and query["limit"] == "2" and query["symbol"] == "BTCUSDT"
    assert list(records.Close) == [95000.0, 95010.0] and records[0].Time == 1732496400000  # numpy, as FMZ
    assert records[1].Volume == 12.5
    assert ex.GetRecords("BTC_USDT.swap", 100) is None  # no such k-line period: None and a log line


def test_answers_that_say_the_execution_status_is_unknown_leave_the_order_in_flight(binance, http):
    """Issue #17 seq 2: Binance answers some order calls with a code whose meaning is 'execution status
    unknown' (ccxt's own map in binance.py: -1006 "An unexpected response was received from the message bus.
    Execution status unknown." and -1000 / -1001 as OperationFailed, not a NetworkError). The order may well
    be on the book: it is in flight (the strategy proves it absent over the settle window), never a definite
    refusal. Old code: last_outcome_unknown False, so hedge's executor took it as REJECTED at once and topped
    the leg up; when it had filled, the leg was held twice and, never looked up, it was not even on the
    watch list that closes late orders."""
    ex, log = binance
    answers = [(500, -1006, "An unexpected response was received from the message bus. "
                            "Execution status unknown."),
               (500, -1000, "An unknown error occured while processing the request."),
               (400, -1001, "Internal error; unable to process your request. Please try again.")]
    for i, (status, code, msg) in enumerate(answers):
        if i:
            http.replace(responses.POST, f"{API}/v1/order", status=status, json={"code": code, "msg": msg})
        else:
            http.post(f"{API}/v1/order", status=status, json={"code": code, "msg": msg})
        ex.backoff.succeeded()
        assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) is None
        assert ex.last_outcome_unknown is True and "outcome unknown" in log.last_error
        assert f"fmzc0x{i + 1}" in ex.in_flight


def test_symbol_and_direction_errors_read_as_the_simulators(binance, http):
    """One parser of FMZ's symbol argument and of Buy/Sell under SetDirection serves both backends
    (fmz_compat.exchange.FmzExchangeObject): the same bad call gets the same line, and no request leaves."""
    ex, log = binance
    sent = len(http.calls)
    assert ex.CreateOrder("BTCUSDT", "buy", 95000, 0.01) is None
    assert log.last_error.endswith("invalid symbol 'BTCUSDT': use BASE_QUOTE such as BTC_USDT")
    assert ex.CreateOrder("BTC_.swap", "buy", 95000, 0.01) is None
    assert log.last_error.endswith("use BASE_QUOTE such as BTC_USDT")
    assert ex.CreateOrder("BTC_USDT.quarter", "buy", 95000, 0.01) is None
    assert log.last_error.endswith("contract type 'quarter' is not supported live (only \"swap\")")
    ex.SetDirection("sell")  # the direction is checked before the contract, as before the parser was shared
    assert ex.Buy(95000, 0.01) is None
    assert log.last_error.endswith("direction is sell, invalid order type Buy")
    ex.SetDirection("buy")
    assert ex.Buy(95000, 0.01) is None
    assert "contract type is not set: call SetContractType" in log.last_error
    ex.SetDirection("closesell")
    assert ex.Sell(95000, 0.01) is None
    assert log.last_error.endswith("direction is closesell, invalid order type Sell")
    assert len(http.calls) == sent


def _position_risk(symbol: str, amount: str, entry: str) -> dict[str, object]:
    """One GET /fapi/v3/positionRisk row, the shape of Binance's doc example (as in the test above)."""
    return {"symbol": symbol, "positionSide": "BOTH", "positionAmt": amount, "entryPrice": entry,
            "breakEvenPrice": entry, "markPrice": "95000.0", "unRealizedProfit": "0.0",
            "liquidationPrice": "0", "isolatedMargin": "0", "notional": str(float(amount) * 95000.0),
            "marginAsset": "USDT",
            "isolatedWallet": "0", "initialMargin": "100.0", "maintMargin": "1.0",
            "positionInitialMargin": "100.0", "openOrderInitialMargin": "0", "adl": 1, "bidNotional": "0",
            "askNotional": "0", "updateTime": 1732500000000}


def test_positions_without_symbol_leave_out_a_dated_future_of_the_same_coin(http):
    """USD-M lists quarterly futures beside the perpetual (exchangeInfo contractType CURRENT_QUARTER, symbol
    BTCUSDT_250328, a deliveryDate: Binance USDS-M "Exchange Information"); ccxt names that market
    BTC/USDT:USDT-250328, swap False. FMZ GetPositions() without symbol answers the current pair's
    dimension and contract type (fmz.com/syntax-guide/fun/futures/exchange.getpositions): swaps only."""
    (perp,) = BINANCE_EXCHANGE_INFO["symbols"]
    dated = dict(perp, symbol="BTCUSDT_250328", contractType="CURRENT_QUARTER", deliveryDate=1743148800000)
    http.get(f"{API}/v1/exchangeInfo", json=dict(BINANCE_EXCHANGE_INFO, symbols=[perp, dated]))
    ex, log = make("binance", "BTC_USDT")
    brackets = [{"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
                 "maintMarginRatio": 0.004, "cum": 0.0}]
    http.get(f"{API}/v1/leverageBracket", json=[{"symbol": s, "notionalCoef": 1.0, "brackets": brackets}
                                                for s in ("BTCUSDT", "BTCUSDT_250328")])
    http.get(f"{API}/v3/positionRisk", json=[_position_risk("BTCUSDT_250328", "0.500", "97000.0"),
                                             _position_risk("BTCUSDT", "-0.020", "95100.0")])
    positions = ex.GetPositions()
    assert positions is not None, log.rows
    assert [(p.Symbol, p.Type, p.Amount, p.Price) for p in positions] == [
        ("BTC_USDT.swap", PD_SHORT, 0.02, 95100.0)]
