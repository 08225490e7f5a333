"""LiveExchange on OKX V5 swap through ccxt: amounts are contracts (ctVal 0.01 BTC), REST mocked."""

from __future__ import annotations

import json
import re

import pytest
import requests
from venue_payloads import SECRETS, okx_ok, okx_order

from fmz_compat.core import ORDER_STATE_CANCELED, ORDER_STATE_PENDING, PD_SHORT
from fmz_compat.live import AccountModeError

API = "https://www.okx.com/api/v5"
ORDER_ACK = okx_ok([{"clOrdId": "fmzc0x1", "ordId": "1994836237478043648", "tag": "", "ts": "1732500000123",
                     "sCode": "0", "sMsg": "Order placed"}])


def _body(http) -> dict:
    body = json.loads(http.calls[-1].request.body)
    return body[0] if isinstance(body, list) else body


def test_order_amount_is_sent_in_contracts_with_client_id_and_no_broker_tag(okx, http):
    ex, _ = okx
    http.post(f"{API}/trade/batch-orders", json=ORDER_ACK)
    oid = ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 3)
    assert oid == "BTC_USDT.swap,1994836237478043648"
    sent = _body(http)
    assert sent["instId"] == "BTC-USDT-SWAP" and sent["sz"] == "3" and sent["px"] == "95000"
    assert sent["side"] == "buy" and sent["ordType"] == "limit" and sent["tdMode"] == "cross"
    assert sent["clOrdId"] == "fmzc0x1" and "tag" not in sent
    headers = http.calls[-1].request.headers
    assert headers["OK-ACCESS-KEY"] == SECRETS["okx"].api_key
    assert headers["OK-ACCESS-PASSPHRASE"] == SECRETS["okx"].password


def test_close_side_is_reduce_only_and_market_order_has_no_price(okx, http):
    ex, _ = okx
    http.post(f"{API}/trade/batch-orders", json=ORDER_ACK)
    assert ex.CreateOrder("BTC_USDT.swap", "closesell", -1, 2) is not None
    sent = _body(http)
    assert sent["side"] == "buy" and sent["ordType"] == "market" and sent["reduceOnly"] is True
    assert "px" not in sent


def test_partial_fill_then_cancel(okx, http):
    ex, _ = okx
    http.get(re.compile(f"{API}/trade/order"), json=okx_ok([okx_order("partially_filled", fill="1",
                                                                       avg="94990.1")]))
    order = ex.GetOrder("BTC_USDT.swap,1994836237478043648")
    assert order.Status == ORDER_STATE_PENDING and order.Amount == 3 and order.DealAmount == 1
    assert order.AvgPrice == 94990.1 and order.Info.ordId == "1994836237478043648"
    http.post(f"{API}/trade/cancel-order", json=okx_ok([{"clOrdId": "", "ordId": "1994836237478043648",
                                                         "sCode": "0", "sMsg": "", "ts": "1732500000999"}]))
    assert ex.CancelOrder("BTC_USDT.swap,1994836237478043648") is True
    assert _body(http) == {"instId": "BTC-USDT-SWAP", "ordId": "1994836237478043648"}
    http.replace("GET", re.compile(f"{API}/trade/order"), json=okx_ok([okx_order("canceled", fill="1",
                                                                                  avg="94990.1")]))
    assert ex.GetOrder("BTC_USDT.swap,1994836237478043648").Status == ORDER_STATE_CANCELED


def test_positions_in_contracts_balance_and_funding(okx, http):
    ex, _ = okx
    http.get(re.compile(f"{API}/account/positions"), json=okx_ok([{
        "adl": "1", "availPos": "", "avgPx": "95100", "cTime": "1732400000000", "ccy": "USDT",
        "deltaBS": "", "deltaPA": "", "gammaBS": "", "gammaPA": "", "imr": "380", "instId": "BTC-USDT-SWAP",
        "instType": "SWAP", "interest": "", "last": "95000", "lever": "5", "liab": "", "liabCcy": "",
        "liqPx": "180000", "markPx": "95000", "margin": "", "mgnMode": "cross", "mgnRatio": "120",
        "mmr": "7.6", "notionalUsd": "1900", "optVal": "", "pos": "-2", "posCcy": "", "posId": "1",
        "posSide": "net", "thetaBS": "", "thetaPA": "", "tradeId": "1", "uTime": "1732500000000",
        "upl": "2", "uplRatio": "0.005", "vegaBS": "", "vegaPA": "", "realizedPnl": "0", "fee": "0",
        "fundingFee": "0", "bePx": "95062"}]))
    (p,) = ex.GetPositions()
    assert (p.Symbol, p.Type, p.Amount, p.Price, p.Profit, p.MarginLevel) == (
        "BTC_USDT.swap", PD_SHORT, 2, 95100, 2, 5)
    http.get(re.compile(f"{API}/account/balance"), json=okx_ok([{
        "adjEq": "", "imr": "380", "isoEq": "0", "mgnRatio": "", "mmr": "7.6", "notionalUsd": "1900",
        "ordFroz": "0", "totalEq": "10002", "uTime": "1732500000000", "details": [{
            "availBal": "9622", "availEq": "9622", "cashBal": "10000", "ccy": "USDT", "crossLiab": "",
            "disEq": "10002", "eq": "10002", "eqUsd": "10002", "frozenBal": "380", "interest": "",
            "isoEq": "0", "isoLiab": "", "liab": "", "maxLoan": "", "mgnRatio": "", "notionalLever": "0.19",
            "ordFrozen": "0", "twap": "0", "uTime": "1732500000000", "upl": "2", "uplLiab": ""}]}]))
    account = ex.GetAccount()
    assert (account.Balance, account.FrozenBalance, account.Equity, account.UPnL) == (9622, 380, 10002, 2)
    http.get(re.compile(f"{API}/public/funding-rate"), json=okx_ok([{
        "fundingRate": "0.0001", "fundingTime": "1732521600000", "instId": "BTC-USDT-SWAP",
        "instType": "SWAP", "method": "current_period", "maxFundingRate": "0.0375",
        "minFundingRate": "-0.0375", "nextFundingRate": "", "nextFundingTime": "1732550400000",
        "premium": "0.0001", "settFundingRate": "0.0001", "settState": "settled", "ts": "1732500000000",
        "interestRate": "0.0001", "impactValue": "20000", "formulaType": "withRate"}]))
    (f,) = ex.GetFundings("BTC_USDT.swap")
    assert f.Rate == 0.0001 and f.Time == 1732521600000 and f.Interval == 8 * 3_600_000


def test_contract_value_and_lot_size_from_the_instrument(okx, http):
    ex, _ = okx
    m = ex.GetMarkets()["BTC_USDT.swap"]
    assert (m.Symbol, m.CtVal, m.AmountSize, m.MinQty, m.TickSize) == ("BTC-USDT-SWAP", 0.01, 0.01, 0.01, 0.1)


def test_insufficient_margin_and_min_size_are_rejections(okx, http):
    ex, log = okx
    http.post(f"{API}/trade/batch-orders", json={"code": "1", "msg": "All operations failed", "data": [{
        "clOrdId": "fmzc0x1", "ordId": "", "tag": "", "ts": "1732500000123", "sCode": "51008",
        "sMsg": "Order failed. Insufficient USDT margin in account"}]})
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 300) is None
    assert not ex.last_outcome_unknown and ex.in_flight == {}
    assert "rejected (InsufficientFunds)" in log.last_error and "Insufficient USDT margin" in log.last_error
    http.replace("POST", f"{API}/trade/batch-orders", json={"code": "1", "msg": "All operations failed",
                                                            "data": [{"clOrdId": "fmzc0x2", "ordId": "",
                                                                      "tag": "", "sCode": "51020",
                                                                      "sMsg": "Your order should meet or "
                                                                              "exceed the minimum order "
                                                                              "amount."}]})
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.05) is None
    assert not ex.last_outcome_unknown and "minimum order amount" in log.last_error
    calls = len(http.calls)
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.001) is None  # below lotSz: refused locally
    assert len(http.calls) == calls and "rejected (InvalidOrder)" in log.last_error


def test_rate_limit_server_error_and_timeout_are_outcome_unknown(okx, http):
    ex, log = okx
    url = f"{API}/trade/batch-orders"
    http.post(url, status=429, json={"code": "50011", "msg": "Too Many Requests"})
    for n, failure in enumerate([{}, {"status": 503, "body": "Service Unavailable"},
                                 {"body": requests.exceptions.ConnectTimeout("connect timeout")}], start=1):
        if failure:
            http.replace("POST", url, **failure)
        ex.backoff.succeeded()  # each failure on its own here; the back-off has its own tests
        assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 1) is None
        assert ex.last_outcome_unknown and "outcome unknown" in log.last_error
        assert f"fmzc0x{n}" in ex.in_flight


def test_secrets_stay_out_of_log_on_auth_error(okx, http):
    ex, log = okx
    creds = SECRETS["okx"]
    http.get(re.compile(f"{API}/account/balance"), status=401, json={
        "code": "50113", "msg": f"Invalid Sign {creds.api_key} {creds.password}"})
    assert ex.GetAccount() is None
    text = json.dumps(log.rows)
    assert "Invalid Sign" in text
    assert all(secret not in text for secret in creds.secrets())


def test_account_mode_check_names_what_to_change(okx, http):
    ex, _ = okx
    config = {"acctLv": "3", "posMode": "net_mode", "uid": "1", "level": "Lv1", "autoLoan": False}
    http.get(f"{API}/account/config", json=okx_ok([config]))
    try:
        ex.check_account_mode()
        raise AssertionError("multi-currency margin must be refused")
    except AccountModeError as e:
        assert "multi-currency margin" in str(e) and "single-currency margin" in str(e)
    hedge_mode = dict(config, acctLv="2", posMode="long_short_mode")
    http.replace("GET", f"{API}/account/config", json=okx_ok([hedge_mode]))
    try:
        ex.check_account_mode()
        raise AssertionError("hedge position mode must be refused")
    except AccountModeError as e:
        assert "one-way" in str(e)
    http.replace("GET", f"{API}/account/config", json=okx_ok([dict(config, acctLv="2")]))
    ex.check_account_mode()


def test_raw_rest_and_broker_tag(okx, http):
    ex, _ = okx
    http.get(re.compile(f"{API}/account/config"), json=okx_ok([{"acctLv": "2"}]))
    assert ex.IO("api", "GET", "/api/v5/account/config")["data"][0]["acctLv"] == "2"
    assert "OK-ACCESS-SIGN" in http.calls[-1].request.headers


def test_modify_order_is_an_amend_order_in_contracts(okx, http):
    ex, _ = okx
    http.post(f"{API}/trade/amend-order", json={"code": "0", "msg": "", "data": [
        {"clOrdId": "", "ordId": "680800019749904384", "reqId": "", "sCode": "0", "sMsg": ""}]})
    oid = ex.ModifyOrder("BTC_USDT.swap,680800019749904384", "sell", 96000, 3)
    assert oid == "BTC_USDT.swap,680800019749904384"
    sent = json.loads(http.calls[-1].request.body)
    assert sent["instId"] == "BTC-USDT-SWAP" and sent["ordId"] == "680800019749904384"
    assert sent["newPx"] == "96000" and sent["newSz"] == "3"


CCXT_OKX_BROKER_ID = "6b9ad766b55dBCDE"  # ccxt 4.5.83 okx.py: what its signer puts in clOrdId and tag


def test_raw_order_without_cl_ord_id_carries_our_id_not_ccxts_broker_id(okx, http):
    """ccxt's okx.sign sets clOrdId = its broker id + 16 hex and tag = its broker id on a POST
    /api/v5/trade/order (or batch-orders, order-algo) without clOrdId, falling back to its default id even
    with options brokerId None (ccxt 4.5.83 okx.py sign). In 4.5.83's Python the dict body was copied just
    before, so only list bodies carry it; either way an order without clOrdId cannot be found after a lost
    answer. A raw IO("api") order now carries our client id (ccxt then adds nothing) and no foreign tag."""
    ex, _ = okx
    http.post(f"{API}/trade/order", json=okx_ok([{"clOrdId": "x", "ordId": "1", "tag": "", "ts": "1",
                                                  "sCode": "0", "sMsg": ""}]))
    body = '{"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1"}'
    assert ex.IO("api", "POST", "/api/v5/trade/order", "", body) is not None
    sent = _body(http)
    assert sent["clOrdId"].startswith("fmzc0x") and CCXT_OKX_BROKER_ID not in json.dumps(sent)
    assert "tag" not in sent
    own = '{"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1", ' \
          '"clOrdId": "mine42"}'
    ex.IO("api", "POST", "/api/v5/trade/order", "", own)
    assert _body(http)["clOrdId"] == "mine42" and "tag" not in _body(http)


@pytest.mark.parametrize("tag", ["has space", "under_score", "x" * 17, "dash-ed"])
def test_broker_tag_is_checked_before_anything_is_sent(tag):
    """OKX's order `tag`: at most 16 case-sensitive letters and digits (OKX v5 "Place order"; the stored
    docs corpus did not return that page, ccxt's own broker id is 16 such characters). A bad tag is one line
    naming the fix at start, not a refusal of every order."""
    from fmz_compat.live import build_client
    from fmz_compat.live_limits import okx_broker_tag_problem

    with pytest.raises(ValueError, match="at most 16 letters and digits") as e:
        build_client("okx", SECRETS["okx"], broker_tag=tag)
    assert "\n" not in str(e.value) and okx_broker_tag_problem(tag) == str(e.value)
    assert okx_broker_tag_problem("fmzHedge2026") == "" and okx_broker_tag_problem("") == ""


def test_a_valid_broker_tag_goes_on_raw_orders_too(http):
    from venue_payloads import OKX_INSTRUMENTS

    from fmz_compat.core import ExchangeBinding, MemoryLog
    from fmz_compat.live import LiveExchange, build_client

    instruments = re.compile(r"https://www\.okx\.com/api/v5/public/instruments\?instType=SWAP")
    http.get(instruments, json=OKX_INSTRUMENTS)
    client = build_client("okx", SECRETS["okx"], broker_tag="fmzHedge2026")
    client.enableRateLimit = False
    ex = LiveExchange(client, "okx", ExchangeBinding(eid="okx", currency="BTC_USDT"), MemoryLog(),
                      broker_tag="fmzHedge2026")
    http.post(f"{API}/trade/order", json=okx_ok([{"clOrdId": "x", "ordId": "1", "tag": "fmzHedge2026",
                                                  "ts": "1", "sCode": "0", "sMsg": ""}]))
    ex.IO("api", "POST", "/api/v5/trade/order", "", '{"instId": "BTC-USDT-SWAP", "tdMode": "cross", '
          '"side": "buy", "ordType": "market", "sz": "1"}')
    assert _body(http)["tag"] == "fmzHedge2026" and re.fullmatch(r"fmzc0s[0-9a-z]+x1", _body(http)["clOrdId"])


def test_raw_batch_orders_are_sent_as_the_array_each_with_our_client_id(okx, http):
    """OKX POST /api/v5/trade/batch-orders takes a JSON array (ccxt's request fixture okx.json @02140ad0,
    createOrder "Swap market buy with posSide = long": `[{"instId": ..., "clOrdId": "6b9ad766b55dBCDE...",
    "tag": "6b9ad766b55dBCDE"}]`). A raw array body used to be dropped (an empty order went out); sent
    as is, ccxt 4.5.83's signer writes its broker id into every entry without clOrdId, so each gets ours."""
    ex, _ = okx
    http.post(f"{API}/trade/batch-orders", json=okx_ok([{"clOrdId": "a", "ordId": "1", "tag": "", "ts": "1",
                                                         "sCode": "0", "sMsg": ""}]))
    body = json.dumps([{"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "market",
                        "sz": "1"},
                       {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "sell", "ordType": "market",
                        "sz": "1", "clOrdId": "mine7"}])
    assert ex.IO("api", "POST", "/api/v5/trade/batch-orders", "", body) is not None
    sent = json.loads(http.calls[-1].request.body)
    assert isinstance(sent, list) and [e["side"] for e in sent] == ["buy", "sell"]
    assert sent[0]["clOrdId"].startswith("fmzc0x") and sent[1]["clOrdId"] == "mine7"
    assert CCXT_OKX_BROKER_ID not in json.dumps(sent) and all("tag" not in e for e in sent)
