"""tools.testnet_check without testnet keys (its checks against the testnets are opt-in, never here)."""

from __future__ import annotations

import itertools
import json
import re
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from tools.testnet_check import main

sys.path.insert(0, str(Path(__file__).parents[1] / "fmz_compat" / "live"))  # the live tests' payloads
from test_live_bybit import ORDER as BYBIT_ORDER  # noqa: E402
from venue_payloads import BYBIT_INSTRUMENTS, QUERY_API, SECRETS, UTA_INFO  # noqa: E402


@pytest.fixture
def no_env_keys(monkeypatch):
    for name in [n for n in __import__("os").environ if n.startswith("FMZC_")]:
        monkeypatch.delenv(name)


def test_without_keys_every_venue_is_skipped_and_the_exit_is_0(no_env_keys):
    lines: list[str] = []
    assert main([], out=lines.append) == 0
    assert lines[:5] == [
        'binance  skipped: no keys for binance (add a "binance" entry to the keys file or set '
        "FMZC_BINANCE_API_KEY and FMZC_BINANCE_SECRET)",
        'bybit    skipped: no keys for bybit (add a "bybit" entry to the keys file or set '
        "FMZC_BYBIT_API_KEY and FMZC_BYBIT_SECRET)",
        'okx      skipped: no keys for okx (add a "okx" entry to the keys file or set '
        "FMZC_OKX_API_KEY and FMZC_OKX_SECRET)",
        "coinex   skipped: coinex has no testnet",
        'bitmex   skipped: no keys for bitmex (add a "bitmex" entry to the keys file or set '
        "FMZC_BITMEX_API_KEY and FMZC_BITMEX_SECRET)",
    ]
    assert lines[-1] == "no check failed"


def test_a_keys_file_naming_other_venues_skips_the_rest(tmp_path, no_env_keys):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"okx": {"apiKey": "k", "secret": "s", "password": "p"}}))
    keys.chmod(0o600)
    lines: list[str] = []
    assert main(["--keys", str(keys), "--venues", "binance,coinex"], out=lines.append) == 0
    assert [line.split(":")[0] for line in lines[:2]] == ["binance  skipped", "coinex   skipped"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--venues", "kraken"], "--venues 'kraken': choose from binance"),
    (["--symbol", "BTCUSDT"], "--symbol 'BTCUSDT': use BASE_QUOTE"),
])
def test_bad_arguments_are_one_line_and_exit_2(argv, message, capsys, no_env_keys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_a_world_readable_keys_file_is_refused(tmp_path, capsys, no_env_keys):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"okx": {"apiKey": "k", "secret": "s"}}))
    keys.chmod(0o644)
    assert main(["--keys", str(keys)]) == 2
    assert "chmod 600" in capsys.readouterr().err


# --- the order steps against a Bybit testnet stand-in (REST mocked with Bybit's documented shapes) ------

TESTNET = "https://api-testnet.bybit.com/v5"
ASK = 95000.5


class BybitTestnetStandIn:
    """Orders and one position as Bybit's testnet keeps them: market orders fill at the ask, a reduce-only
    order without a position is refused (110017), an IOC limit below the market is cancelled unfilled, a
    post-only limit rests; orders are found by orderId or orderLinkId (GET /v5/order/realtime)."""

    def __init__(self, http: responses.RequestsMock) -> None:
        self.orders: dict[str, dict] = {}
        self.position = 0.0
        self.ids = itertools.count(1)
        http.get(re.compile(rf"{TESTNET}/market/instruments-info"), json=BYBIT_INSTRUMENTS)
        http.get(f"{TESTNET}/user/query-api", json=QUERY_API)
        http.get(f"{TESTNET}/account/info", json=UTA_INFO)
        http.add_callback(responses.POST, f"{TESTNET}/order/create", callback=self.create)
        http.add_callback(responses.POST, f"{TESTNET}/order/cancel", callback=self.cancel)
        lists = re.compile(rf"{TESTNET}/order/(realtime|history)")
        http.add_callback(responses.GET, lists, callback=self.find)
        http.add_callback(responses.GET, re.compile(rf"{TESTNET}/position/list"), callback=self.positions)

    @staticmethod
    def answer(result: dict, code: int = 0, message: str = "OK") -> tuple[int, dict, str]:
        return 200, {}, json.dumps({"retCode": code, "retMsg": message, "result": result, "retExtInfo": {},
                                    "time": 1732500000000})

    def create(self, request):
        body = json.loads(request.body)
        qty, side = float(body["qty"]), body["side"]
        signed = qty if side == "Buy" else -qty
        if body.get("reduceOnly") and (self.position == 0 or self.position * signed > 0):
            return self.answer({}, 110017, "Reduce-only rule not satisfied")
        order_id = f"tn-{next(self.ids)}"
        row = dict(BYBIT_ORDER, orderId=order_id, orderLinkId=body.get("orderLinkId", ""), side=side,
                   orderType=body["orderType"], qty=body["qty"], price=body.get("price", "0"),
                   timeInForce=body.get("timeInForce", "GTC"), reduceOnly=bool(body.get("reduceOnly")),
                   cumExecQty="0", leavesQty=body["qty"], avgPrice="", orderStatus="New")
        if body["orderType"] == "Market":
            row.update(orderStatus="Filled", cumExecQty=body["qty"], leavesQty="0", avgPrice=str(ASK))
            self.position += signed
        elif body.get("timeInForce") == "IOC":  # far below the market: nothing to match
            row.update(orderStatus="Cancelled")
        self.orders[order_id] = row
        return self.answer({"orderId": order_id, "orderLinkId": row["orderLinkId"]})

    def cancel(self, request):
        order = self.orders.get(json.loads(request.body).get("orderId"))
        if order is None or order["orderStatus"] != "New":
            return self.answer({}, 110001, "order not exists or too late to cancel")
        order["orderStatus"] = "Cancelled"
        return self.answer({"orderId": order["orderId"], "orderLinkId": order["orderLinkId"]})

    def find(self, request):
        q = {k: v[0] for k, v in parse_qs(urlparse(request.url).query).items()}
        rows = [o for o in self.orders.values() if q.get("orderId") in (None, o["orderId"])
                and q.get("orderLinkId") in (None, o["orderLinkId"])]
        return self.answer({"category": "linear", "nextPageCursor": "", "list": rows})

    def positions(self, request):
        size = abs(self.position)
        row = {"positionIdx": 0, "symbol": "BTCUSDT", "side": "" if not size else
               ("Buy" if self.position > 0 else "Sell"), "size": f"{size}", "avgPrice": f"{ASK}",
               "positionValue": f"{size * ASK}", "tradeMode": 0, "leverage": "5", "markPrice": f"{ASK}",
               "liqPrice": "", "positionIM": "0", "positionMM": "0", "unrealisedPnl": "0",
               "createdTime": "1732400000000", "updatedTime": "1732500000000", "seq": 1}
        return self.answer({"category": "linear", "nextPageCursor": "", "list": [row]})


def test_order_steps_one_line_each_against_a_bybit_testnet_stand_in():
    """IOC, reduce-only market close and the lookup by client id after a lost answer (the request shapes are
    those of ccxt's recorded Bybit fixtures, request/bybit.json @00a587de; rows in Bybit's documented
    order shape)."""
    from fmz_compat.core import ExchangeBinding, MemoryLog
    from fmz_compat.live import LiveExchange, build_client
    from tools.testnet_check import Report, order_steps

    lines: list[str] = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        venue = BybitTestnetStandIn(http)
        client = build_client("bybit", SECRETS["bybit"], testnet=True)
        client.enableRateLimit = False
        log = MemoryLog()
        ex = LiveExchange(client, "bybit", ExchangeBinding(eid="bybit", currency="BTC_USDT"), log,
                          secrets=SECRETS["bybit"].secrets())
        ex.check_account_mode()
        market = ex.GetMarkets()["BTC_USDT.swap"]
        report = Report(lines.append)
        order_steps(ex, "bybit", "BTC_USDT.swap", market, 95000.0, report, lambda: log.last_error)
        sent = [json.loads(c.request.body) for c in http.calls if c.request.url.endswith("/order/create")]
        lookups = [c.request.url for c in http.calls if "orderLinkId=tnc" in c.request.url]
    assert [line.split(":")[0] for line in lines] == [
        "bybit    PASS IOC order", "bybit    PASS IOC order canceled unfilled",
        "bybit    PASS position before close", "bybit    PASS market buy to close",
        "bybit    PASS reduce-only market close", "bybit    PASS flat again after the close",
        "bybit    PASS lost answer kept in flight", "bybit    PASS lookup by client id",
        "bybit    PASS unknown client id reads never placed", "bybit    PASS cancel the found order"], lines
    ioc, opening, close, lost = sent
    assert ioc["timeInForce"] == "IOC" and ioc["orderType"] == "Limit"
    assert opening["orderType"] == "Market" and not opening.get("reduceOnly")
    assert close["orderType"] == "Market" and close["reduceOnly"] is True and close["side"] == "Sell"
    assert lost["timeInForce"] == "PostOnly" and lost["orderLinkId"].startswith("tnc")
    assert venue.position == 0 and lookups
    assert all(o["orderStatus"] != "New" for o in venue.orders.values())  # nothing left resting


def test_a_failing_step_says_fail_and_what_to_do_by_hand():
    """A venue that refuses the reduce-only close (here: the stand-in holds no position after a market buy
    it never fills) reports FAIL with the order to close by hand."""
    from fmz_compat.core import ExchangeBinding, MemoryLog
    from fmz_compat.live import LiveExchange, build_client
    from tools.testnet_check import Report, _reduce_only_close

    lines: list[str] = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        venue = BybitTestnetStandIn(http)
        client = build_client("bybit", SECRETS["bybit"], testnet=True)
        client.enableRateLimit = False
        log = MemoryLog()
        ex = LiveExchange(client, "bybit", ExchangeBinding(eid="bybit", currency="BTC_USDT"), log)
        ex.check_account_mode()
        market = ex.GetMarkets()["BTC_USDT.swap"]
        real_create = venue.create

        def no_fill(request):  # market orders accepted but never filled
            body = json.loads(request.body)
            if body["orderType"] == "Market" and not body.get("reduceOnly"):
                return venue.answer({"orderId": "tn-x", "orderLinkId": body.get("orderLinkId", "")})
            return real_create(request)

        http.remove(responses.POST, f"{TESTNET}/order/create")
        http.add_callback(responses.POST, f"{TESTNET}/order/create", callback=no_fill)
        report = Report(lines.append)
        _reduce_only_close(ex, "bybit", "BTC_USDT.swap", market, 95000.0, report, lambda: log.last_error)
    assert lines[2].startswith("bybit    FAIL reduce-only market close:") and "BY HAND" in lines[2]
    assert report.failed == 1
