"""The websocket book transport against a real websocket server on loopback: subscribe, resync after
a gap, reconnect with backoff after a drop or silence, Binance snapshots over REST."""

from __future__ import annotations

import json
import time

from ws_server import FakeVenueWs, wait_for

from fmz_compat.ws.feed import BookFeed, FeedConfig
from fmz_compat.ws.venues import BinanceBooks, BybitBooks, OkxBooks

FAST = FeedConfig(stale_after_s=5.0, backoff_initial_s=0.05, backoff_max_s=0.2, connect_timeout_s=2.0,
                  poll_s=0.02)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def bybit_book(kind: str, u: int, bid: str, ask: str, symbol: str = "BTCUSDT") -> str:
    data = {"s": symbol, "b": [[bid, "1.5"]], "a": [[ask, "2.0"]], "u": u, "seq": u * 10}
    return json.dumps({"topic": f"orderbook.50.{symbol}", "type": kind, "ts": _now_ms(), "cts": _now_ms(),
                       "data": data})


def _subscribed(server: FakeVenueWs) -> list[str]:
    return [topic for frame in server.received if json.loads(frame).get("op") == "subscribe"
            for topic in json.loads(frame)["args"]]


def test_subscribes_resyncs_after_a_gap_and_reconnects_after_a_drop():
    def answer(text: str) -> list[str | bytes]:  # the venue sends a snapshot for every subscription
        message = json.loads(text)
        if message.get("op") == "subscribe":
            return [bybit_book("snapshot", 100, "95000.0", "95000.5")]
        return []

    with FakeVenueWs(answer) as server:
        feed = BookFeed(BybitBooks(), server.url, config=FAST)
        feed.subscribe(["BTCUSDT"])
        feed.start()
        try:
            view = wait_for(lambda: feed.view("BTCUSDT", 5))
            assert view.bids == [(95000.0, 1.5)] and view.asks == [(95000.5, 2.0)]
            assert _subscribed(server) == ["orderbook.50.BTCUSDT"]

            server.push(bybit_book("delta", 101, "95000.1", "95000.6"))
            wait_for(lambda: (feed.view("BTCUSDT", 1) or view).bids[0][0] == 95000.1)

            server.push(bybit_book("delta", 105, "95000.2", "95000.7"))  # 102..104 lost
            wait_for(lambda: len(_subscribed(server)) == 2)  # unsubscribed and subscribed again
            assert any(json.loads(f).get("op") == "unsubscribe" for f in server.received)
            wait_for(lambda: feed.view("BTCUSDT", 1))
            assert feed.gaps == 1

            server.drop_clients()
            wait_for(lambda: server.connections == 2 and len(_subscribed(server)) == 3)
            wait_for(lambda: feed.view("BTCUSDT", 1))
            assert feed.stats()["connects"] == 2 and feed.stats()["in_sync"] == 1
            texts = [n.text for n in feed.notes]
            assert any("gap (update id 105 after 101)" in t for t in texts)
            assert any("connection lost" in t for t in texts) and any("reconnected" in t for t in texts)
        finally:
            feed.stop()


def test_frames_read_off_the_socket_are_counted_in_stats():
    with FakeVenueWs(lambda text: [bybit_book("snapshot", 1, "10.0", "10.1")]
                     if '"subscribe"' in text else []) as server:
        feed = BookFeed(BybitBooks(), server.url, config=FAST)
        feed.protocol.ping_interval_s = 3600  # no pongs among the frames
        feed.subscribe(["BTCUSDT"])
        feed.start()
        try:
            wait_for(lambda: feed.view("BTCUSDT", 1))
            server.push(bybit_book("delta", 2, "10.1", "10.2"))
            server.push(bybit_book("delta", 3, "10.2", "10.3"))
            wait_for(lambda: feed.stats()["frames"] == 3)
        finally:
            feed.stop()


def test_a_book_subscribed_while_connected_is_sent_at_once():
    with FakeVenueWs() as server:
        feed = BookFeed(BybitBooks(), server.url, config=FAST)
        feed.start()
        try:
            wait_for(lambda: feed.connected)
            feed.subscribe(["ETHUSDT"])
            feed.subscribe(["ETHUSDT"])  # twice: one subscription
            wait_for(lambda: _subscribed(server) == ["orderbook.50.ETHUSDT"])
            assert feed.view("ETHUSDT", 1) is None  # no snapshot yet: nothing served
        finally:
            feed.stop()


def test_a_silent_connection_is_dropped_and_the_book_withheld():
    with FakeVenueWs(lambda text: [bybit_book("snapshot", 1, "10.0", "10.1")]
                     if '"subscribe"' in text else []) as server:
        config = FeedConfig(stale_after_s=0.3, backoff_initial_s=0.05, backoff_max_s=0.1, poll_s=0.02)
        feed = BookFeed(BybitBooks(), server.url, config=config)
        feed.protocol.ping_interval_s = 3600  # no pings: the server never answers anyway
        feed.subscribe(["BTCUSDT"])
        feed.start()
        try:
            wait_for(lambda: feed.view("BTCUSDT", 1))
            wait_for(lambda: server.connections >= 2)  # silence for 0.3 s: reconnected
            assert any("no frame for" in n.text for n in feed.notes)
        finally:
            feed.stop()


def test_cannot_connect_backs_off_and_says_so_once():
    feed = BookFeed(BybitBooks(), "ws://127.0.0.1:9/", config=FAST)  # port 9: nothing listens
    feed.start()
    try:
        wait_for(lambda: feed.failures >= 3)
        assert feed.view("BTCUSDT", 1) is None
        warnings = [n.text for n in feed.notes if "cannot connect" in n.text]
        assert len(warnings) == 1 and "REST meanwhile" in warnings[0]
    finally:
        feed.stop()


def test_binance_first_diff_fetches_a_rest_snapshot_and_pings_are_venue_specific():
    snapshots: list[str] = []

    def snapshot(market_id: str) -> dict:
        snapshots.append(market_id)
        return {"lastUpdateId": 1005, "E": _now_ms(), "T": _now_ms(), "bids": [["95000.00", "3"]],
                "asks": [["95001.00", "4"]]}

    with FakeVenueWs() as server:
        feed = BookFeed(BinanceBooks(), server.url, snapshot=snapshot, config=FAST)
        feed.subscribe(["BTCUSDT"])
        feed.start()
        try:
            wait_for(lambda: server.received)
            assert json.loads(server.received[0])["params"] == ["btcusdt@depth@100ms"]
            diff = {"e": "depthUpdate", "E": _now_ms(), "T": _now_ms(), "s": "BTCUSDT", "U": 1000, "u": 1010,
                    "pu": 990, "b": [["95000.50", "1"]], "a": []}
            server.push(json.dumps({"stream": "btcusdt@depth@100ms", "data": diff}))
            view = wait_for(lambda: feed.view("BTCUSDT", 5))
            assert snapshots == ["BTCUSDT"]
            assert view.bids == [(95000.5, 1.0), (95000.0, 3.0)] and view.asks == [(95001.0, 4.0)]
        finally:
            feed.stop()
    assert OkxBooks().ping_frame() == "ping"
    assert json.loads(BinanceBooks().ping_frame())["method"] == "LIST_SUBSCRIPTIONS"


def test_pings_keep_a_quiet_connection_alive():
    """A venue that pushes nothing (a quiet book) but answers pings: no reconnect."""
    def answer(text: str) -> list[str | bytes]:
        if json.loads(text).get("op") == "ping":
            return [json.dumps({"success": True, "ret_msg": "pong", "op": "ping"})]
        return [bybit_book("snapshot", 1, "10.0", "10.1")]

    with FakeVenueWs(answer) as server:
        books = BybitBooks()
        books.ping_interval_s = 0.1
        # stale after 1 s, not less: a loaded machine (parallel test workers) can keep the feed's thread off
        # the CPU for a few hundred ms, which is not what this test is about
        feed = BookFeed(books, server.url, config=FeedConfig(stale_after_s=1.0, backoff_initial_s=0.05,
                                                             poll_s=0.02))
        feed.subscribe(["BTCUSDT"])
        feed.start()
        try:
            wait_for(lambda: feed.view("BTCUSDT", 1))
            wait_for(lambda: sum('"ping"' in f for f in server.received) >= 30)  # ~3 s: three stale windows
            assert server.connections == 1 and feed.stats()["connects"] == 1
        finally:
            feed.stop()


# OKX allows 480 subscribe/unsubscribe/login requests per hour on one connection (OKX v5 docs, WebSocket
# "Connect" limits, as quoted by NautilusTrader's OKX_WS_SUBSCRIPTION_QUOTA,
# https://nautilustrader.io/docs/core-nightly/nautilus_okx/websocket/client/static.OKX_WS_SUBSCRIPTION_QUOTA.html);
# every resync is an unsubscribe plus a subscribe.
OKX_REQUESTS_PER_HOUR = 480


def test_the_pacer_never_exceeds_the_hourly_limit_and_spreads_a_storm():
    from fmz_compat.ws.feed import RequestPacer

    now = [0.0]
    pacer = RequestPacer(OKX_REQUESTS_PER_HOUR, 3600.0, 24, lambda: now[0])
    sent: list[float] = []
    while now[0] < 3 * 3600:  # a resync asked every 0.5 s for three hours
        if pacer.allow(2):
            sent.extend([now[0], now[0]])
        now[0] += 0.5
    for i, t in enumerate(sent):  # any hour-long window holds at most 480
        assert sum(1 for u in sent[i:i + OKX_REQUESTS_PER_HOUR + 1] if u - t < 3600) <= OKX_REQUESTS_PER_HOUR
    assert sum(1 for t in sent if t < 60) <= 24 + 2 * OKX_REQUESTS_PER_HOUR * 60 // 3600  # no burst of all
    assert len(sent) >= 3 * OKX_REQUESTS_PER_HOUR - 24  # and the budget is used, not wasted


def test_a_storm_of_okx_gaps_is_paced_not_answered_with_a_resubscription_each():
    """A venue whose every snapshot fails its checksum: each gap used to send an unsubscribe and a subscribe
    at once, hundreds a second, past OKX's 480 an hour (OKX then refuses them and closes the connection)."""
    def snapshot(text: str) -> list[str | bytes]:
        message = json.loads(text)
        if message.get("op") != "subscribe":
            return []
        book = {"asks": [["95000.5", "2", "0", "1"]], "bids": [["95000.0", "1", "0", "1"]],
                "ts": str(_now_ms()), "checksum": 12345, "seqId": 1, "prevSeqId": -1}
        return [json.dumps({"arg": {"channel": "books", "instId": "BTC-USDT-SWAP"}, "action": "snapshot",
                            "data": [book]})]

    with FakeVenueWs(snapshot) as server:
        feed = BookFeed(OkxBooks(), server.url, config=FAST)
        feed.subscribe(["BTC-USDT-SWAP"])
        feed.start()
        try:
            wait_for(lambda: feed.gaps >= 5)
            time.sleep(1.5)
            requests = [f for f in server.received if json.loads(f).get("op") in ("subscribe", "unsubscribe")]
            assert len(requests) <= 24 + 1  # the burst, then 480/h: one more every 7.5 s
            assert any("subscriptions paced" in n.text for n in feed.notes)
            assert feed.view("BTC-USDT-SWAP", 1) is None  # withheld: REST answers meanwhile
        finally:
            feed.stop()


def _bybit_delta(u: int, bids: list[list[str]], asks: list[list[str]]) -> str:
    data = {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": u * 10}
    return json.dumps({"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1_700_000_000_123,
                       "cts": _now_ms(), "data": data})


def test_on_top_is_told_each_change_of_a_best_bid_or_ask_with_the_frames_read_stamp():
    told: list[tuple[str, float, float, int, int]] = []
    with FakeVenueWs(lambda text: [bybit_book("snapshot", 1, "10.0", "10.1")]
                     if '"subscribe"' in text else []) as server:
        feed = BookFeed(BybitBooks(), server.url, config=FAST)
        feed.protocol.ping_interval_s = 3600
        feed.on_top = lambda *args: told.append(args)
        feed.subscribe(["BTCUSDT"])
        before_ns = time.perf_counter_ns()
        feed.start()
        try:
            wait_for(lambda: told)
            assert told[0][:3] == ("BTCUSDT", 10.0, 10.1) and told[0][4] >= before_ns
            server.push(_bybit_delta(2, [["10.0", "7"]], []))  # a size at the best bid: the top stays
            server.push(_bybit_delta(3, [], [["10.05", "1"]]))  # a better ask
            wait_for(lambda: feed.stats()["frames"] == 3)
            wait_for(lambda: len(told) == 2)
            assert told[1][:4] == ("BTCUSDT", 10.0, 10.05, 1_700_000_000_123)
            assert told[1][4] > told[0][4] and len(told) == 2
        finally:
            feed.stop()
