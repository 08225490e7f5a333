"""OKX orders over its private websocket, against a real websocket server on loopback: the login is signed,
orders and cancels carry REST's arguments, a refusal is a definite rejection, a lost answer is an unknown
outcome (the order stays in flight), and a socket that is not logged in sends by REST instead."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time

import pytest
from venue_payloads import SECRETS, okx_ok
from ws_server import FakeVenueWs, wait_for

from fmz_compat.ws.orders import OkxOrders, OrderSocket, OrderSocketConfig

API = "https://www.okx.com/api/v5"
FAST = OrderSocketConfig(reply_timeout_s=0.5, login_timeout_s=2.0, backoff_initial_s=0.05, backoff_max_s=0.2,
                         connect_timeout_s=2.0, poll_s=0.02)
NOW_MS = 1_732_500_000_123


def _ack(message: dict, order_id: str = "1994836237478043648") -> str:
    rows = [{"clOrdId": message["args"][0].get("clOrdId", ""), "ordId": order_id, "tag": "",
             "ts": "1732500000130", "sCode": "0", "sMsg": ""}]
    return json.dumps({"id": message["id"], "op": message["op"], "code": "0", "msg": "", "data": rows,
                       "inTime": "1732500000125000", "outTime": "1732500000129000"})


def _refusal(message: dict, code: str, text: str) -> str:
    rows = [{"clOrdId": message["args"][0].get("clOrdId", ""), "ordId": "", "tag": "", "ts": "1732500000130",
             "sCode": code, "sMsg": text}]
    return json.dumps({"id": message["id"], "op": message["op"], "code": "1", "msg": "", "data": rows,
                       "inTime": "1732500000125000", "outTime": "1732500000129000"})


class OkxStandIn:
    """Answers the login, then each order op with `answer(message)` (None: stay silent)."""

    def __init__(self, answer=_ack, login_code: str = "0") -> None:
        self.answer = answer
        self.login_code = login_code

    def __call__(self, text: str) -> list[str | bytes]:
        if text == "ping":
            return ["pong"]
        message = json.loads(text)
        if message.get("op") == "login":
            if self.login_code != "0":
                return [json.dumps({"event": "error", "code": self.login_code, "msg": "Login failed.",
                                    "connId": "a4d3ae55"})]
            return [json.dumps({"event": "login", "code": "0", "msg": "", "connId": "a4d3ae55"})]
        reply = self.answer(message)
        return [reply] if reply else []


def _sent(server: FakeVenueWs, op: str) -> list[dict]:
    return [json.loads(t) for t in server.received if t != "ping" and json.loads(t).get("op") == op]


@pytest.fixture
def socket_on():
    sockets = []

    def attach(ex, server: FakeVenueWs, config: OrderSocketConfig = FAST, protocol=None) -> OrderSocket:
        """`ex` sends over a socket to `server` (OKX's protocol unless given another), stopped at teardown."""
        creds = SECRETS["okx"]
        protocol = protocol or OkxOrders(creds.api_key, creds.secret, creds.password)
        sock = OrderSocket(protocol, server.url, now_ms=lambda: NOW_MS, config=config)
        ex.order_socket = sock
        sockets.append(sock)
        sock.start()
        return sock

    yield attach
    for sock in sockets:
        sock.stop()


def test_login_is_signed_and_an_order_goes_over_the_socket_with_rests_arguments(okx, http, socket_on):
    ex, log = okx
    with FakeVenueWs(OkxStandIn()) as server:
        assert socket_on(ex, server).wait_ready(5)
        oid = ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 3)
        (login,) = _sent(server, "login")
        creds = SECRETS["okx"]
        args = login["args"][0]
        expected = base64.b64encode(hmac.new(creds.secret.encode(), b"1732500000GET/users/self/verify",
                                             hashlib.sha256).digest()).decode()
        assert args == {"apiKey": creds.api_key, "passphrase": creds.password, "timestamp": "1732500000",
                        "sign": expected}
        (order,) = _sent(server, "order")
    assert oid == "BTC_USDT.swap,1994836237478043648"
    sent = order["args"][0]
    assert sent["instId"] == "BTC-USDT-SWAP" and sent["sz"] == "3" and sent["px"] == "95000"
    assert sent["side"] == "buy" and sent["ordType"] == "limit" and sent["tdMode"] == "cross"
    assert sent["clOrdId"] == "fmzc0x1" and "tag" not in sent
    assert not any("batch-orders" in c.request.url for c in http.calls)  # nothing by REST
    assert ex.order_routes == {"ws": 1, "rest": 0} and ex.in_flight == {}
    assert not any(creds.secret in line or creds.password in line for line in map(str, log.rows))


def test_close_is_reduce_only_and_a_cancel_goes_over_the_socket(okx, socket_on):
    ex, log = okx
    with FakeVenueWs(OkxStandIn()) as server:
        assert socket_on(ex, server).wait_ready(5)
        assert ex.CreateOrder("BTC_USDT.swap", "closesell", -1, 2) is not None
        assert ex.CancelOrder("BTC_USDT.swap,1994836237478043648", "stale quote") is True
        (order,) = _sent(server, "order")
        (cancel,) = _sent(server, "cancel-order")
    assert order["args"][0]["side"] == "buy" and order["args"][0]["ordType"] == "market"
    assert order["args"][0]["reduceOnly"] is True and "px" not in order["args"][0]
    assert cancel["args"] == [{"instId": "BTC-USDT-SWAP", "ordId": "1994836237478043648"}]
    assert log.rows[-1]["message"] == "stale quote"  # the robot log's cancel line keeps the caller's words


def test_a_refusal_is_a_definite_rejection_with_the_venues_words(okx, socket_on):
    ex, log = okx
    with FakeVenueWs(OkxStandIn(lambda m: _refusal(m, "51008", "Order failed. Insufficient USDT margin"))) \
            as server:
        assert socket_on(ex, server).wait_ready(5)
        assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 3) is None
    assert ex.last_outcome_unknown is False and ex.in_flight == {}
    (line,) = [r for r in map(str, log.rows) if "CreateOrder" in r]
    assert "rejected (InsufficientFunds)" in line and "Insufficient USDT margin" in line


def test_an_unanswered_order_is_an_unknown_outcome_and_stays_in_flight(okx, http, socket_on):
    ex, log = okx
    with FakeVenueWs(OkxStandIn(lambda m: None)) as server:
        assert socket_on(ex, server).wait_ready(5)
        assert ex.CreateOrder("BTC_USDT.swap", "sell", 95000, 1) is None
    assert ex.last_outcome_unknown is True and list(ex.in_flight) == ["fmzc0x1"]
    assert any("outcome unknown (RequestTimeout)" in r and "no answer within 0.5 s" in r
               for r in map(str, log.rows))
    assert not any("batch-orders" in c.request.url for c in http.calls)  # never sent twice


def test_a_connection_lost_while_waiting_is_unknown_at_once_then_the_socket_logs_in_again(okx, socket_on):
    ex, _ = okx
    slow = OrderSocketConfig(**{**FAST.__dict__, "reply_timeout_s": 30.0})
    stand_in = OkxStandIn(lambda m: None)
    with FakeVenueWs(stand_in) as server:
        sock = socket_on(ex, server, slow)
        assert sock.wait_ready(5)
        threading.Timer(0.3, server.drop_clients).start()
        assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 1) is None
        assert ex.last_outcome_unknown is True and "fmzc0x1" in ex.in_flight
        wait_for(lambda: server.connections >= 2 and sock.ready)
        stand_in.answer = _ack
        assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 1) == "BTC_USDT.swap,1994836237478043648"


def test_a_socket_that_is_not_logged_in_sends_by_rest_and_says_why(okx, http, socket_on):
    ex, log = okx
    http.post(f"{API}/trade/batch-orders", json=okx_ok([{"clOrdId": "fmzc0x1", "ordId": "77", "tag": "",
                                                        "ts": "1732500000123", "sCode": "0", "sMsg": ""}]))
    with FakeVenueWs(OkxStandIn(login_code="60009")) as server:
        sock = socket_on(ex, server)
        wait_for(lambda: any(n.level == "error" for n in sock.notes))
        assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 3) == "BTC_USDT.swap,77"
    assert ex.order_routes == {"ws": 0, "rest": 1}
    assert any(re.search(r"websocket login refused \(60009 Login failed\.\); orders by REST", r)
               for r in map(str, log.rows))


def test_a_silent_connection_is_pinged(okx, socket_on):
    ex, _ = okx
    quick = OrderSocketConfig(**{**FAST.__dict__, "ping_after_s": 0.2})
    with FakeVenueWs(OkxStandIn()) as server:
        assert socket_on(ex, server, quick).wait_ready(5)
        wait_for(lambda: "ping" in server.received)
        assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 3) is not None


def test_modify_amends_in_place_over_the_socket(okx, socket_on):
    ex, _ = okx
    with FakeVenueWs(OkxStandIn()) as server:
        assert socket_on(ex, server).wait_ready(5)
        oid = ex.ModifyOrder("BTC_USDT.swap,1994836237478043648", "sell", 95100, 2)
        (amend,) = _sent(server, "amend-order")
    assert oid == "BTC_USDT.swap,1994836237478043648"
    sent = amend["args"][0]
    assert sent["instId"] == "BTC-USDT-SWAP" and sent["ordId"] == "1994836237478043648"
    assert sent["newSz"] == "2" and sent["newPx"] == "95100"


def test_the_opt_in_testnet_check_runs_the_order_round_trip_over_the_socket(okx, http, monkeypatch):
    """tools.testnet_check's OKX websocket checks, against the stand-in instead of OKX's demo venue."""
    from venue_payloads import okx_order

    import fmz_compat.ws.orders
    from tools.testnet_check import Report, _websocket_orders

    ex, log = okx
    order_url = re.compile(f"{API}/trade/order")
    http.get(order_url, json=okx_ok([okx_order("live")]))
    http.get(order_url, json=okx_ok([okx_order("canceled")]))
    lines: list[str] = []
    with FakeVenueWs(OkxStandIn()) as server:
        monkeypatch.setattr(fmz_compat.ws.orders, "OKX_DEMO_PRIVATE_URL", server.url)
        market = ex.GetMarkets()["BTC_USDT.swap"]
        report = Report(lines.append)
        _websocket_orders(ex, "okx", SECRETS["okx"], "BTC_USDT.swap", market, 95000.0, report,
                          lambda: log.last_error, 5.0)
        (order,) = _sent(server, "order")
    assert report.failed == 0, lines
    assert [line.split(":")[0] for line in lines] == [
        "okx      PASS order websocket ready", "okx      PASS place limit order (websocket)",
        "okx      PASS read order (websocket)", "okx      PASS cancel order (websocket)",
        "okx      PASS order canceled (websocket)", "okx      PASS orders went by websocket"]
    assert order["args"][0]["ordType"] == "post_only" and order["args"][0]["px"] == "47500"
    assert ex.order_socket is None  # the check leaves the object as it found it


# --- Bybit V5 /v5/trade -----------------------------------------------------------------------------

BYBIT_ORDER_ID = "fd4300ae-7847-404e-b947-b46980a4d140"
CONN = "cpv85t788smd5eps8ncg-2tcj"


class BybitStandIn:
    """Bybit's trade websocket: `auth`, then order.create / order.cancel / order.amend answered by
    `answer(message)` (None: stay silent); `{"op": "ping"}` answered with a pong."""

    def __init__(self, answer=None) -> None:
        self.answer = answer or self.ack

    @staticmethod
    def ack(message: dict) -> str:
        link = message["args"][0].get("orderLinkId", "")
        return json.dumps({"reqId": message["reqId"], "retCode": 0, "retMsg": "OK", "op": message["op"],
                           "data": {"orderId": BYBIT_ORDER_ID, "orderLinkId": link}, "retExtInfo": {},
                           "header": {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "9",
                                      "X-Bapi-Limit-Reset-Timestamp": "1732500000130",
                                      "Traceid": "77a8b3a6c1e5", "Timenow": "1732500000130"},
                           "connId": "cpv85t788smd5eps8ncg-2tcj"})

    def __call__(self, text: str) -> list[str | bytes]:
        message = json.loads(text)
        if message.get("op") == "auth":
            return [json.dumps({"retCode": 0, "retMsg": "OK", "op": "auth", "connId": CONN})]
        if message.get("op") == "ping":
            return [json.dumps({"op": "pong", "args": ["1732500000130"], "connId": CONN})]
        reply = self.answer(message)
        return [reply] if reply else []


def _bybit():
    from fmz_compat.ws.orders import BybitOrders

    return BybitOrders(SECRETS["bybit"].api_key, SECRETS["bybit"].secret)


def test_bybit_auth_is_signed_and_orders_go_over_the_trade_socket_with_rests_body(bybit, http, socket_on):
    ex, _ = bybit
    with FakeVenueWs(BybitStandIn()) as server:
        sock = socket_on(ex, server, protocol=_bybit())
        assert sock.wait_ready(5)
        oid = ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01)
        assert ex.CancelOrder(oid) is True
        received = [json.loads(t) for t in server.received]
    auth, order, cancel = received
    creds = SECRETS["bybit"]
    expires = str(NOW_MS + 10_000)
    signature = hmac.new(creds.secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()
    assert auth == {"op": "auth", "args": [creds.api_key, expires, signature]}
    assert oid == f"BTC_USDT.swap,{BYBIT_ORDER_ID}"
    assert order["op"] == "order.create" and order["header"] == {"X-BAPI-TIMESTAMP": str(NOW_MS),
                                                                 "X-BAPI-RECV-WINDOW": "5000"}
    sent = order["args"][0]
    assert sent["category"] == "linear" and sent["symbol"] == "BTCUSDT" and sent["qty"] == "0.01"
    assert sent["side"] == "Buy" and sent["orderType"] == "Limit" and sent["orderLinkId"] == "fmzc0x1"
    assert cancel["op"] == "order.cancel"
    assert cancel["args"] == [{"category": "linear", "symbol": "BTCUSDT", "orderId": BYBIT_ORDER_ID}]
    assert not any("/order/" in c.request.url for c in http.calls)
    assert ex.order_routes == {"ws": 1, "rest": 0}


def test_bybit_refusal_is_the_same_ccxt_error_as_by_rest(bybit, socket_on):
    ex, log = bybit

    def refuse(message: dict) -> str:
        return json.dumps({"reqId": message["reqId"], "retCode": 110007,
                           "retMsg": "ab not enough for new order", "op": "order.create", "data": {},
                           "retExtInfo": {}, "header": {}, "connId": CONN})

    with FakeVenueWs(BybitStandIn(refuse)) as server:
        sock = socket_on(ex, server, protocol=_bybit())
        assert sock.wait_ready(5)
        assert ex.CreateOrder("BTC_USDT.swap", "sell", 95000, 0.01) is None
    assert ex.last_outcome_unknown is False and ex.in_flight == {}
    assert "rejected (InsufficientFunds): ab not enough for new order (code 110007)" in log.last_error


@pytest.mark.parametrize(("code", "text"), [
    # https://bybit-exchange.github.io/docs/v5/error, WS OE general codes: 10016 "internal server error;
    # Service is restarting", 10019 "ws trade service is restarting, do not accept new request"
    (10016, "Internal server error."),
    (10019, "ws trade service is restarting, do not accept new request"),  # not in ccxt's map
    (110072, "OrderLinkedID is duplicate"),  # ccxt/bybit.py: InvalidOrder; an order with our id exists
])
def test_bybit_server_error_over_the_socket_is_an_unknown_outcome(bybit, socket_on, code, text):
    """ccxt 4.5.83 maps Bybit 10016 to a bare ExchangeError and has no 10019: neither proves the order was
    not placed. Old adapter: "rejected", the strategy took the order as never sent (a leg held twice)."""
    ex, log = bybit

    def fail(message: dict) -> str:
        return json.dumps({"reqId": message["reqId"], "retCode": code, "retMsg": text, "op": "order.create",
                           "data": {}, "retExtInfo": {}, "header": {}, "connId": CONN})

    with FakeVenueWs(BybitStandIn(fail)) as server:
        sock = socket_on(ex, server, protocol=_bybit())
        assert sock.wait_ready(5)
        assert ex.CreateOrder("BTC_USDT.swap", "sell", 95000, 0.01) is None
    assert ex.last_outcome_unknown is True and list(ex.in_flight) == ["fmzc0x1"]
    assert "outcome unknown" in log.last_error and f"(code {code})" in log.last_error


# --- Binance USDⓈ-M ws-fapi -------------------------------------------------------------------------

def _binance_result(params: dict, status: str = "NEW") -> dict:
    return {"orderId": 4079375543, "symbol": params["symbol"], "status": status,
            "clientOrderId": params.get("newClientOrderId", "fmzc0x1"),
            "price": str(params.get("price", "0")),
            "avgPrice": "0.00", "origQty": str(params.get("quantity", "0.010")), "executedQty": "0",
            "cumQty": "0", "cumQuote": "0", "timeInForce": "GTC", "type": "LIMIT", "reduceOnly": False,
            "closePosition": False, "side": params.get("side", "BUY"), "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": "LIMIT", "priceMatch": "NONE",
            "selfTradePreventionMode": "NONE", "goodTillDate": 0, "updateTime": 1732500000123}


RATE_LIMITS = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400,
                "count": 3},
               {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200, "count": 1}]


def binance_venue(answer=None):
    def ack(message: dict) -> str:
        return json.dumps({"id": message["id"], "status": 200, "result": _binance_result(message["params"]),
                           "rateLimits": RATE_LIMITS})

    answer = answer or ack

    def on_text(text: str) -> list[str | bytes]:
        reply = answer(json.loads(text))
        return [reply] if reply else []
    return on_text


def _binance():
    from fmz_compat.ws.orders import BinanceOrders

    return BinanceOrders()


def _binance_signature_ok(params: dict) -> bool:
    rest = {k: v for k, v in params.items() if k != "signature"}
    query = "&".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in rest.items())
    expected = hmac.new(SECRETS["binance"].secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return list(rest) == sorted(rest) and params["signature"] == expected


def test_binance_orders_go_over_ws_fapi_signed_like_rest(binance, http, socket_on):
    ex, _ = binance
    with FakeVenueWs(binance_venue()) as server:
        sock = socket_on(ex, server, protocol=_binance())
        assert sock.wait_ready(5)
        oid = ex.CreateOrder("BTC_USDT.swap", "closebuy", 95000, 0.01)
        assert ex.CancelOrder(oid) is True
        order, cancel = (json.loads(t) for t in server.received)
    assert oid == "BTC_USDT.swap,4079375543"
    assert order["method"] == "order.place" and cancel["method"] == "order.cancel"
    params = order["params"]
    assert params["symbol"] == "BTCUSDT" and params["side"] == "SELL" and params["type"] == "LIMIT"
    assert params["quantity"] == "0.01" and params["price"] == "95000" and params["reduceOnly"] == "true"
    assert params["newClientOrderId"] == "fmzc0x1" and params["apiKey"] == SECRETS["binance"].api_key
    assert _binance_signature_ok(params)
    assert cancel["params"]["orderId"] == 4079375543 and _binance_signature_ok(cancel["params"])
    assert not any("/v1/order" in c.request.url for c in http.calls)


def test_binance_refusal_is_definite_and_a_silent_connection_is_kept_by_websocket_pings(binance, socket_on):
    ex, log = binance

    def refuse(message: dict) -> str:
        return json.dumps({"id": message["id"], "status": 400, "error": {"code": -2019,
                                                                         "msg": "Margin is insufficient."},
                           "rateLimits": RATE_LIMITS})

    quick = OrderSocketConfig(**{**FAST.__dict__, "ping_after_s": 0.1, "dead_after_s": 0.5})
    with FakeVenueWs(binance_venue(refuse)) as server:
        sock = socket_on(ex, server, quick, protocol=_binance())
        assert sock.wait_ready(5)
        time.sleep(1.5)  # fifteen ping intervals with nothing else on the line
        assert server.connections == 1 and sock.ready
        assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) is None
    assert ex.last_outcome_unknown is False and ex.in_flight == {}
    assert "rejected (InsufficientFunds): Margin is insufficient. (code -2019)" in log.last_error


def test_bybit_and_binance_amend_in_place_over_their_sockets(bybit, binance, socket_on):
    ex, _ = bybit
    with FakeVenueWs(BybitStandIn()) as server:
        sock = socket_on(ex, server, protocol=_bybit())
        assert sock.wait_ready(5)
        oid = ex.ModifyOrder(f"BTC_USDT.swap,{BYBIT_ORDER_ID}", "buy", 94900, 0.02)
        (_, amend) = (json.loads(t) for t in server.received)
    assert oid == f"BTC_USDT.swap,{BYBIT_ORDER_ID}" and amend["op"] == "order.amend"
    sent = amend["args"][0]
    assert (sent["category"], sent["symbol"], sent["orderId"]) == ("linear", "BTCUSDT", BYBIT_ORDER_ID)
    assert sent["qty"] == "0.02" and sent["price"] == "94900"

    ex, _ = binance
    with FakeVenueWs(binance_venue()) as server:
        sock = socket_on(ex, server, protocol=_binance())
        assert sock.wait_ready(5)
        oid = ex.ModifyOrder("BTC_USDT.swap,4079375543", "sell", 95100, 0.02)
        (modify,) = (json.loads(t) for t in server.received)
    assert oid == "BTC_USDT.swap,4079375543" and modify["method"] == "order.modify"
    params = modify["params"]
    assert str(params["orderId"]) == "4079375543" and params["side"] == "SELL"
    assert params["quantity"] == "0.02" and params["price"] == "95100" and _binance_signature_ok(params)


class BybitRequestIdGuard(BybitStandIn):
    """Bybit's trade socket refuses a reqId the account already used on any connection: 20006 "reqId is
    duplicated" (Bybit v5 error codes, WS OE general codes, https://bybit-exchange.github.io/docs/v5/error)."""

    def __init__(self) -> None:
        super().__init__(self.answer_once)
        self.seen: set[str] = set()

    def answer_once(self, message: dict) -> str:
        if message["reqId"] in self.seen:
            return json.dumps({"reqId": message["reqId"], "retCode": 20006, "retMsg": "reqId is duplicated",
                               "op": message["op"], "data": {}, "retExtInfo": {}, "header": {},
                               "connId": CONN})
        self.seen.add(message["reqId"])
        return self.ack(message)


def test_bybit_request_ids_are_unique_across_sockets_nodes_and_restarts(bybit, socket_on):
    """Two order sockets of one account (two nodes, or a restart) used to number requests fmzc1, fmzc2...
    each, so the second one's orders were refused as duplicates."""
    from fmz_compat.live import LiveExchange

    first, _ = bybit
    second = LiveExchange(first.client, "bybit", first._binding, first._log, 1)
    with FakeVenueWs(BybitRequestIdGuard()) as server:
        for ex in (first, second):
            assert socket_on(ex, server, protocol=_bybit()).wait_ready(5)
        assert first.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) is not None
        assert second.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) is not None, first._log.last_error
    from fmz_compat.ws.orders import request_id_prefix

    prefixes = {request_id_prefix("tokyo-1", 1_765_000_000_000, 4242),
                request_id_prefix("tokyo-1", 1_765_000_000_001, 4242),  # the same node restarted
                request_id_prefix("london-2", 1_765_000_000_000, 4242),
                request_id_prefix("tokyo-1", 1_765_000_000_000, 4243)}
    assert len(prefixes) == 4
    for prefix in prefixes:  # OKX's id and Bybit's reqId: letters and digits, at most 32 with the counter
        assert re.fullmatch(r"[A-Za-z0-9]+", prefix) and len(prefix) + 6 <= 32
