"""The venue server with node clients in this process: one set of accounts, one clock, many nodes."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from fmz_compat.core import LOG_TYPE_BUY, LOG_TYPE_ERROR, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.remote import RemoteClock, RemoteExchange, VenueAdmin, connect, remote_world_factory
from fmz_compat.sim.server import ScaledClock, ServerConfig, VenueServer, parse_latency

START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
FROZEN = 1e-9  # a speed at which simulated time does not move during a test
BINDINGS = (ExchangeBinding("Futures_Binance"), ExchangeBinding("Futures_OKX"))


def _server(speed: float = FROZEN, end_ms: int | None = None,
            latency: tuple[tuple[str, str, int], ...] = (), lockstep: bool = False) -> VenueServer:
    cfg = ServerConfig(SimConfig(seed=3, start_ms=START_MS, bindings=BINDINGS), end_ms=end_ms, speed=speed,
                       latency=latency, lockstep=lockstep)
    server = VenueServer(cfg)
    server.start()
    return server


class Node:
    """One node as a strategy process sees it: its clock, its log, its exchange objects."""

    def __init__(self, server: VenueServer, name: str, **session_kwargs: Any) -> None:
        self.session = connect(server.url, name, **session_kwargs)
        self.clock = RemoteClock(self.session)
        self.log = MemoryLog()
        self.world = remote_world_factory(self.session, [0, 1])(None, self.clock, self.log)
        self.binance: RemoteExchange = self.world.exchanges[0]
        self.okx: RemoteExchange = self.world.exchanges[1]

    def errors(self) -> list[str]:
        return [r["message"] for r in self.log.rows if r["type"] == LOG_TYPE_ERROR]


@pytest.fixture
def frozen() -> Iterator[VenueServer]:
    server = _server()
    yield server
    server.stop()


def _post(server: VenueServer, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _get(server: VenueServer, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(server.url + path, timeout=10) as response:
        return json.loads(response.read())


def test_two_nodes_see_the_same_book_the_same_account_and_each_others_orders(frozen):
    tokyo, dublin = Node(frozen, "tokyo"), Node(frozen, "dublin")
    assert tokyo.binance.GetDepth("BTC_USDT.swap") == dublin.binance.GetDepth("BTC_USDT.swap")
    assert tokyo.okx.GetTicker("ETH_USDT.swap") == dublin.okx.GetTicker("ETH_USDT.swap")
    assert tokyo.binance.GetAccount() == dublin.binance.GetAccount()

    order_id = tokyo.binance.CreateOrder("BTC_USDT.swap", 'buy;{"newClientOrderId":"t-1"}', -1, 0.01, "open")
    assert order_id == "BTC_USDT.swap,1"
    [position] = dublin.binance.GetPositions("BTC_USDT.swap")
    assert position.Amount == 0.01 and position.Type == 0
    seen = dublin.binance.GetOrder(order_id)
    assert seen.Status == 1 and seen.Info.clientOrderId == "t-1"
    assert tokyo.binance.GetAccount() == dublin.binance.GetAccount()
    assert dublin.okx.GetPositions() == []
    # the order row is in the log of the node that sent it, not the other's
    assert [(r["type"], r["order_id"], r["message"]) for r in tokyo.log.rows] == [
        (LOG_TYPE_BUY, "BTC_USDT.swap,1", "open")]
    assert dublin.log.rows == []
    stats = frozen.stats()
    assert stats["positions"]["Futures_Binance"][0]["base"] == 0.01
    assert stats["exposure"]["BTC"]["base"] == 0.01
    assert stats["requests"]["tokyo"] >= 4 and stats["requests"]["dublin"] >= 6


def test_each_node_keeps_its_own_fmz_state_over_the_shared_account(frozen):
    tokyo, dublin = Node(frozen, "tokyo"), Node(frozen, "dublin")
    tokyo.binance.SetCurrency("ETH_USDT")
    assert tokyo.binance.SetContractType("swap").InstrumentID == "ETHUSDT"
    assert (tokyo.binance.GetCurrency(), tokyo.binance.GetContractType()) == ("ETH_USDT", "swap")
    assert (dublin.binance.GetCurrency(), dublin.binance.GetContractType()) == ("BTC_USDT", "")
    assert dublin.binance.SetMarginLevel("ETH_USDT.swap", 7) is True  # leverage is the account's
    tokyo.binance.SetDirection("sell")
    assert tokyo.binance.Sell(-1, 0.05) == "ETH_USDT.swap,1"
    assert dublin.binance.Sell(-1, 0.05) is None  # its contract type is not set: the venue's own answer
    assert "contract type is not set" in dublin.errors()[-1]
    assert tokyo.binance.GetPositions()[0].MarginLevel == 7
    # a restarted node starts from a clean FMZ-side state
    again = Node(frozen, "tokyo")
    assert again.binance.GetContractType() == "" and again.binance.Sell(-1, 0.05) is None


def test_failures_are_none_with_the_venue_message_and_order_args_travel(frozen):
    node = Node(frozen, "tokyo")
    assert node.binance.GetTicker("NOPE_USDT.swap") is None
    assert node.errors() == ["Futures_Binance GetTicker: NOPE_USDT is not a market on the simulated "
                             "Futures_Binance: the simulator knows no coin NOPE, so calls on NOPE_USDT "
                             "return None, as FMZ's do for a pair the venue does not list (said once); "
                             "--symbols NOPE_USDT trades an invented NOPE market"]
    assert node.binance.CreateOrder("BTC_USDT.swap", "buy", -1, 1000.0) is None  # margin
    assert '"code":-2019' in node.errors()[-1]
    assert node.binance.GetOrder("BTC_USDT.swap,99") is None
    assert node.binance.CancelOrder("BTC_USDT.swap,99") is False
    assert node.binance.GetRecords("BTC_USDT.swap", 60, 5).Close[-1] > 0
    assert node.binance.GetMarkets()["BTC_USDT.swap"].CtVal == 1
    assert node.okx.GetFundings("BTC_USDT.swap")[0].Interval == 8 * 3_600_000
    address = node.okx.IO("api", "GET", "/api/v5/asset/deposit-address", "ccy=USDT")
    assert address.data[0].addr.startswith("sim-okx-1-")
    assert json.loads(node.okx.GetRawJSON())["data"][0]["addr"] == address.data[0].addr  # raw answer too
    node.binance.Log(LOG_TYPE_BUY, 100.0, 1.0, "marker only")  # node-local: no order anywhere
    assert frozen.stats()["totals"]["trades"] == 0


def test_the_node_clock_follows_the_server():
    server = _server(speed=10.0)
    try:
        node = Node(server, "tokyo")
        before = node.clock.now_ns()
        node.clock.sleep(500)  # 50 ms of wall time, then the server's time is read
        after = node.clock.now_ns()
        assert before + 500_000_000 <= after <= server.clock.now_ns()  # it never runs ahead of the server
        assert node.binance.GetTicker("BTC_USDT.swap").Time <= node.clock.now_ns() // 1_000_000
    finally:
        server.stop()


def test_the_server_window_end_ends_the_nodes_run():
    server = _server(speed=2000.0, end_ms=START_MS + 60_000)  # one simulated minute in 30 ms of wall time
    try:
        node = Node(server, "tokyo")
        with pytest.raises(EOFError, match="window ended"):
            for _ in range(10_000):
                node.binance.GetTicker("BTC_USDT.swap")
                node.clock.sleep(1000)
        assert node.clock.now_ns() == (START_MS + 60_000) * 1_000_000
        with pytest.raises(EOFError):
            node.binance.GetAccount()
        assert server.stats()["window"]["end_ms"] == START_MS + 60_000
    finally:
        server.stop()


def test_latency_of_a_node_venue_link_delays_its_calls_in_simulated_time():
    server = _server(speed=100.0, latency=parse_latency("tokyo=okx:4000", {"binance", "okx"}))
    try:
        node = Node(server, "tokyo")
        before_ms = server.clock.now_ns() // 1_000_000
        order_id = node.okx.CreateOrder("BTC_USDT.swap", "buy", -1, 1)
        placed = node.okx.GetOrder(order_id)
        assert placed.Time >= before_ms + 2000 - 1000  # half the round trip before the venue saw it
        assert node.clock.now_ns() // 1_000_000 >= before_ms + 2 * 4000  # two okx round trips
        assert server.link_latency_ms("tokyo", 0) == 0  # tokyo-binance: no latency injected
        # set live through the admin endpoint: the other node's link
        assert _post(server, "/admin/latency", {"node": "dublin", "venue": "binance", "ms": 3000})[0] == 200
        assert server.link_latency_ms("dublin", 0) == 3000 and server.link_latency_ms("tokyo", 0) == 0
        assert _post(server, "/admin/latency", {"node": "dublin", "venue": "kraken", "ms": 3})[0] == 400
    finally:
        server.stop()


def test_faults_injected_through_the_admin_endpoint_apply_to_every_node(frozen):
    tokyo, dublin = Node(frozen, "tokyo"), Node(frozen, "dublin")
    until = START_MS + 3_600_000
    down = {"venue": "okx", "fault": "down", "until_ms": until}
    assert _post(frozen, "/admin/inject", down) == (200, {"ok": True})
    assert tokyo.okx.GetTicker("BTC_USDT.swap") is None and dublin.okx.GetAccount() is None
    assert "connection refused" in tokyo.errors()[-1]
    assert tokyo.binance.GetTicker("BTC_USDT.swap") is not None
    _post(frozen, "/admin/clear_faults", {"venue": "okx"})
    assert tokyo.okx.GetTicker("BTC_USDT.swap") is not None

    _post(frozen, "/admin/inject", {"venue": "binance", "fault": "timeout_after_accept", "until_ms": until})
    assert tokyo.binance.CreateOrder("BTC_USDT.swap", 'buy;{"newClientOrderId":"t-9"}', -1, 0.01) is None
    assert tokyo.binance.last_outcome_unknown and "context deadline exceeded" in tokyo.errors()[-1]
    [placed] = dublin.binance.GetHistoryOrders("BTC_USDT.swap")  # the other node finds it by client id
    assert placed.Info.clientOrderId == "t-9" and placed.Status == 1
    _post(frozen, "/admin/inject", {"venue": "binance", "fault": "refuse_orders", "until_ms": until})
    # -1001 is not a refusal: ccxt 4.5.83 maps it to OperationFailed (python/ccxt/binance.py "exceptions"),
    # an unknown outcome in fmz_compat.live; the in-process simulator says nothing (None), and so does remote
    assert dublin.binance.CreateOrder("BTC_USDT.swap", "sell", -1, 0.01) is None
    assert dublin.binance.last_outcome_unknown is None and "-1001" in dublin.errors()[-1]
    _post(frozen, "/admin/clear_faults", {"venue": "binance"})
    _post(frozen, "/admin/inject", {"venue": "binance", "fault": "refuse_definite", "until_ms": until})
    assert dublin.binance.CreateOrder("BTC_USDT.swap", "sell", -1, 0.01) is None
    assert dublin.binance.last_outcome_unknown is False and "-2019" in dublin.errors()[-1]
    assert dublin.binance.GetTicker("BTC_USDT.swap") is not None  # an answer says nothing, as in-process
    assert dublin.binance.last_outcome_unknown is None
    _post(frozen, "/admin/clear_faults", {"venue": "binance"})
    _post(frozen, "/admin/inject", {"venue": "binance", "fault": "refuse_orders", "until_ms": until})

    cut = {"node": "tokyo", "venue": "Futures_OKX", "fault": "down", "until_ms": until}
    assert _post(frozen, "/admin/inject", cut) == (200, {"ok": True})  # only tokyo loses okx
    assert tokyo.okx.GetPositions() is None and "connection refused" in tokyo.errors()[-1]
    assert dublin.okx.GetPositions() == [] and tokyo.binance.GetPositions() is not None
    assert _get(frozen, "/admin/stats")["links_down"] == [{"node": "tokyo", "venue": "okx",
                                                          "from_ms": START_MS, "until_ms": until}]
    status, answer = _post(frozen, "/admin/inject", {**cut, "fault": "refuse_orders"})
    assert status == 400 and "only \"down\" is per node" in answer["error"]
    _post(frozen, "/admin/clear_faults", {"venue": "okx"})
    assert tokyo.okx.GetPositions() == []

    status, answer = _post(frozen, "/admin/inject", {"venue": "okx", "fault": "melt", "until_ms": until})
    assert status == 400 and "unknown fault 'melt'" in answer["error"]
    assert _post(frozen, "/admin/inject", {"venue": "okx"})[0] == 400
    assert _get(frozen, "/admin/stats")["faults"]["binance"]["refuse_orders"][1] == until


def test_the_venues_own_rows_reach_every_node(frozen):
    tokyo, dublin = Node(frozen, "tokyo"), Node(frozen, "dublin")
    status, answer = _post(frozen, "/admin/withdraw_external", {"venue": "okx", "amount": 1e9})
    assert status == 200 and answer["tx"]
    tokyo.okx.GetAccount()
    dublin.binance.GetAccount()
    for node in (tokyo, dublin):
        assert any("external withdrawal of 1e+09 USDT refused" in r["message"] for r in node.log.rows)
    assert _get(frozen, "/admin/log?since=0")["rows"][0]["type"] == LOG_TYPE_ERROR


def test_bad_requests_get_one_line_answers(frozen):
    status, answer = _post(frozen, "/x/0/Explode", {"args": []})
    assert status == 400 and "method 'Explode' is not served" in answer["error"]
    assert _post(frozen, "/x/9/GetTicker", {"args": []})[0] == 400
    assert _post(frozen, "/x/0/GetTicker", {"args": "BTC"})[0] == 400
    status, answer = _post(frozen, "/x/0/GetTicker", {"args": ["BTC_USDT.swap", 1, 2]})
    assert status == 200 and answer["result"] is None
    assert "GetTicker() takes" in answer["rows"][0]["message"]
    with pytest.raises(ValueError, match="--node"):
        connect(frozen.url, "bad name!")
    with pytest.raises(ValueError, match="loopback only"):
        connect("http://example.com:80", "tokyo")


def test_the_server_stops_cleanly_and_its_nodes_runs_end():
    server = _server(speed=1000.0)
    node = Node(server, "tokyo", gone_after_s=0.2)
    assert node.binance.GetTicker("BTC_USDT.swap") is not None
    assert _post(server, "/admin/shutdown", {}) == (200, {"ok": True})
    assert server.wait(5)
    assert node.binance.GetTicker("BTC_USDT.swap") is None  # no answer: FMZ's None and an error row
    with pytest.raises(EOFError, match="is gone"):
        for _ in range(100):
            node.clock.sleep(10_000)
    server.stop()  # idempotent


def test_scaled_clock_runs_at_speed_and_stops_at_the_end():
    wall = [100.0]
    clock = ScaledClock(START_MS, START_MS + 10_000, 1000.0, wall=lambda: wall[0])
    assert clock.now_ns() == START_MS * 1_000_000
    wall[0] += 0.004
    assert clock.now_ns() // 1_000_000 == START_MS + 4000
    with clock.pinned(123):
        assert clock.now_ns() == 123
    wall[0] += 1.0
    assert clock.now_ns() // 1_000_000 == START_MS + 10_000 and clock.ended()
    with pytest.raises(EOFError):
        clock.check()
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(START_MS, None, 0)


@pytest.mark.parametrize("text, message", [
    ("tokyo=binance", "NODE=VENUE:MS"),
    ("tokyo=kraken:5", "venue 'kraken' is not served"),
    ("tokyo=okx:-1", "whole number"),
    ("to kyo=okx:1", "NODE=VENUE:MS"),
])
def test_latency_spec_errors_name_the_fix(text, message):
    with pytest.raises(ValueError, match=message):
        parse_latency(text, {"binance", "okx"})


def test_latency_spec_wildcard_node(frozen):
    assert parse_latency("*=okx:50, tokyo=binance:5", {"binance", "okx"}) == (("*", "okx", 50),
                                                                              ("tokyo", "binance", 5))
    frozen.set_latency("*", "okx", 7)
    frozen.set_latency("tokyo", "okx", 1)
    assert frozen.link_latency_ms("anyone", 1) == 7 and frozen.link_latency_ms("anyone", 0) == 0
    assert frozen.link_latency_ms("tokyo", 1) == 1


def test_the_admin_client_drives_the_test_hooks(frozen):
    admin = VenueAdmin(frozen.url)
    node = Node(frozen, "tokyo")
    assert admin.now_ms() == START_MS
    admin.inject("okx", "refuse_orders", until_ms=START_MS + 60_000)
    admin.inject("binance", "down", until_ms=START_MS + 60_000, node="tokyo")
    assert node.okx.CreateOrder("BTC_USDT.swap", "buy", -1, 1) is None
    assert node.binance.GetAccount() is None
    admin.clear_faults()
    assert node.binance.GetAccount() is not None and node.okx.CreateOrder("BTC_USDT.swap", "buy", -1, 1)
    with pytest.raises(ValueError, match="unknown fault"):
        admin.inject("okx", "melt", until_ms=START_MS + 60_000)
    admin.set_latency("tokyo", "okx", 40)
    assert frozen.link_latency_ms("tokyo", 1) == 40
    assert admin.deposit_external("okx", 500.0).startswith("simtx")
    assert admin.stats()["positions"]["Futures_OKX"][0]["contracts"] == 1
    assert admin.log() == []
    assert node.binance.CreateOrder("BTC_USDT.swap", "sell", -1, 0.01)  # okx long 1 x 0.01 BTC: now flat
    assert [(c["coin"], c["base"]) for c in admin.exposure()] == [("BTC", 0.01), ("BTC", 0.0)]
    assert admin.exposure(since_ms=START_MS + 1) == []
    admin.shutdown()
    assert frozen.wait(5)


def test_a_server_that_cannot_keep_up_with_its_speed_says_so_once():
    cfg = ServerConfig(SimConfig(seed=3, start_ms=START_MS, bindings=BINDINGS), end_ms=START_MS + 3_600_000,
                       speed=1e7)
    warnings: list[str] = []
    server = VenueServer(cfg, warn=warnings.append, behind_wall_s=0.001)
    server.start()
    try:
        for _ in range(500):  # the first advance (the whole simulated hour) takes longer than 1 ms
            if warnings:
                break
            time.sleep(0.01)
        assert warnings[0].startswith("venue-server falls behind: ") and "lower --speed" in warnings[0]
        time.sleep(0.1)
        assert len(warnings) == 1
    finally:
        server.stop()


def test_a_call_without_an_answer_in_time_is_none_with_its_outcome_unknown():
    server = _server(speed=1.0, latency=parse_latency("tokyo=binance:400", {"binance", "okx"}))
    try:
        tokyo = Node(server, "tokyo", timeout_s=0.05)  # the answer needs 400 ms: the node gives up at 50
        dublin = Node(server, "dublin")
        assert tokyo.binance.CreateOrder("BTC_USDT.swap", 'buy;{"newClientOrderId":"t-5"}', -1, 0.01) is None
        assert tokyo.binance.last_outcome_unknown
        assert tokyo.errors()[-1].startswith('Futures_Binance CreateOrder: Post "http://127.0.0.1:')
        assert "context deadline exceeded" in tokyo.errors()[-1]
        for _ in range(100):  # the order reaches the venue 200 ms after it was sent
            placed = dublin.binance.GetHistoryOrders("BTC_USDT.swap")
            if placed:
                break
            time.sleep(0.01)
        assert placed[0].Info.clientOrderId == "t-5"
        tokyo.binance.SetTimeout(3000)  # 3 simulated s = 3 s of wall at speed 1
        assert tokyo.session.timeout_s == 3.0
    finally:
        server.stop()


def test_decimal_prices_and_amounts_travel_as_numbers(frozen):
    node = Node(frozen, "tokyo")
    order_id = node.binance.CreateOrder("BTC_USDT.swap", "buy", Decimal(-1), Decimal("0.002"), Decimal("1.5"))
    assert node.binance.GetOrder(order_id).Amount == 0.002
    assert node.log.rows[-1]["message"] == "1.5"


def test_a_lockstep_server_moves_time_by_the_nodes_sleeps_and_link_latencies_only():
    server = _server(latency=parse_latency("tokyo=okx:4000", {"binance", "okx"}), lockstep=True)
    try:
        node = Node(server, "tokyo")
        at = lambda: node.clock.now_ns() // 1_000_000 - START_MS  # noqa: E731
        assert node.binance.GetTicker("BTC_USDT.swap") is not None and at() == 0  # no latency: no time
        order_id = node.okx.CreateOrder("BTC_USDT.swap", "buy", -1, 1)
        assert at() == 4000  # half the round trip there, half back: exactly, however busy the machine
        assert node.okx.GetOrder(order_id) is not None and at() == 8000
        node.clock.sleep(1500)
        assert at() == 9500 == server.clock.now_ns() // 1_000_000 - START_MS
        node.world.close()  # the run is over: the node leaves the clock
        left = VenueAdmin(server.url).lockstep()["left"]
        assert left == {"tokyo": {"at_ms": START_MS + 9500, "why": "left"}}
    finally:
        server.stop()


def _sleeper(node: Node, ms: int, laps: int) -> threading.Thread:
    def run() -> None:
        try:
            for _ in range(laps):
                node.binance.GetTicker("BTC_USDT.swap")
                node.clock.sleep(ms)
        except EOFError:
            pass
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_on_a_lockstep_server_a_node_whose_connection_closes_no_longer_holds_time_back():
    server = _server(lockstep=True)
    try:
        tokyo, dublin = Node(server, "tokyo"), Node(server, "dublin")
        sleeping = _sleeper(tokyo, 1000, 3)  # it waits for dublin, which runs (makes calls, never sleeps)
        assert dublin.binance.GetTicker("BTC_USDT.swap") is not None
        dublin.session.close()  # the process died: its connection closed without a word
        sleeping.join(30)
        assert not sleeping.is_alive()
        assert tokyo.clock.now_ns() // 1_000_000 == START_MS + 3000
        assert VenueAdmin(server.url).lockstep()["left"]["dublin"] == {"at_ms": START_MS,
                                                                       "why": "connection closed"}
    finally:
        server.stop()


def test_a_lockstep_hold_stops_time_where_every_node_sleeps_until_it_is_lifted():
    server = _server(end_ms=START_MS + 20_000, lockstep=True)
    admin = VenueAdmin(server.url)
    try:
        admin.hold(START_MS + 5500)
        node = Node(server, "tokyo")
        running = _sleeper(node, 1000, 100)
        assert admin.wait_held(("tokyo",)) == START_MS + 5500  # asleep from 5000 to 6000
        assert admin.lockstep()["members"] == {"tokyo": {"wake_ms": START_MS + 6000, "kind": "sleep"}}
        admin.hold(None)
        running.join(30)
        assert not running.is_alive() and admin.now_ms() == START_MS + 20_000  # the window's end
    finally:
        server.stop()


def test_lockstep_hooks_on_a_real_time_server_say_so(frozen):
    admin = VenueAdmin(frozen.url)
    with pytest.raises(ValueError, match="real time"):
        admin.lockstep()
    with pytest.raises(ValueError, match="--lockstep"):
        admin.hold(START_MS)
    assert _post(frozen, "/sleep", {"until_ms": START_MS})[0] == 400


def test_dated_contracts_through_the_venue_server(frozen):
    # a quarter position (sim/delivery.py) opened by one node is the accounts' and seen by the other; the
    # contract type is each node's own state, as the pair is
    tokyo, dublin = Node(frozen, "tokyo"), Node(frozen, "dublin")
    assert tokyo.okx.SetContractType("quarter").InstrumentID == "BTC-USDT-240329"
    assert tokyo.okx.CreateOrder("", "buy", -1, 2) is not None
    assert dublin.okx.GetContractType() == ""
    seen = dublin.okx.GetPositions("USDT.futures")
    assert [(p.Symbol, p.ContractType, p.Amount) for p in seen] == [("BTC_USDT.quarter", "quarter", 2)]
    assert dublin.okx.GetPositions("USDT.swap") == []
