"""LiveExchange market data from websocket books: served while in sync and fresh, REST otherwise
(Bybit V5 payloads; the feed's thread is not started, frames are applied directly)."""

from __future__ import annotations

import json
import re
import time

import pytest
from venue_payloads import BYBIT_INSTRUMENTS, bybit_ok, make

from fmz_compat.core import LOG_TYPE_LOG
from fmz_compat.ws.feed import BookFeed, FeedNote
from fmz_compat.ws.venues import BybitBooks

API = "https://api.bybit.com/v5"
REST_TICKER = {"symbol": "BTCUSDT", "lastPrice": "95000.10", "indexPrice": "95010.00",
               "markPrice": "95000.00", "prevPrice24h": "94900.10", "price24hPcnt": "0.001",
               "highPrice24h": "95500.00",
               "lowPrice24h": "94000.00", "prevPrice1h": "94990.00", "openInterest": "55000.123",
               "openInterestValue": "5224994110.00", "turnover24h": "11728395000.0",
               "volume24h": "123456.789",
               "fundingRate": "0.0001", "nextFundingTime": "1732521600000", "predictedDeliveryPrice": "",
               "basisRate": "", "deliveryFeeRate": "", "deliveryTime": "0", "ask1Size": "0.8",
               "bid1Price": "94000.00", "ask1Price": "94000.10", "bid1Size": "1.5", "basis": ""}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture
def streamed(http):
    http.get(re.compile(rf"{API}/market/instruments-info\?category=linear"), json=BYBIT_INSTRUMENTS)
    ex, log = make("bybit", "BTC_USDT")
    feed = BookFeed(BybitBooks(), "ws://127.0.0.1:9/")  # never started: frames applied by the test
    feed.connected = True
    ex.books = feed
    return ex, log, feed


def test_watch_books_subscribes_by_fmz_symbol(streamed):
    ex, _, feed = streamed
    ex.watch_books(["BTC_USDT"])
    assert feed.subscribed() == ["BTCUSDT"]


def _snapshot(feed: BookFeed, venue_ms: int) -> None:
    feed.subscribe(["BTCUSDT"])
    feed.protocol.on_frame(json.dumps({
        "topic": "orderbook.50.BTCUSDT", "type": "snapshot", "ts": venue_ms, "cts": venue_ms,
        "data": {"s": "BTCUSDT", "u": 7, "seq": 70,
                 "b": [["95000.00", "1.500"], ["94999.90", "0.200"]],
                 "a": [["95000.10", "0.800"], ["95000.50", "3.000"]]}}), _now_ms())


def test_fresh_streamed_book_serves_ticker_depth_and_tickers_without_rest(streamed, http):
    ex, _, feed = streamed
    ex.watch_books(["BTC_USDT"])
    venue_ms = _now_ms() - 50
    _snapshot(feed, venue_ms)
    calls = len(http.calls)
    ticker = ex.GetTicker("BTC_USDT.swap")
    assert (ticker.Buy, ticker.Sell, ticker.Time) == (95000.0, 95000.1, venue_ms)
    assert ticker.Info["source"] == "ws" and 0 <= ticker.Info["ageMs"] < 2000
    depth = ex.GetDepth("BTC_USDT.swap")
    assert [(a.Price, a.Amount) for a in depth.Asks] == [(95000.1, 0.8), (95000.5, 3.0)]
    assert [(b.Price, b.Amount) for b in depth.Bids] == [(95000.0, 1.5), (94999.9, 0.2)]
    assert depth.Time == venue_ms and depth.Info["symbol"] == "BTCUSDT"
    (t,) = ex.GetTickers()
    assert (t.Symbol, t.Buy, t.Sell) == ("BTC_USDT.swap", 95000.0, 95000.1)
    assert len(http.calls) == calls  # no REST request
    assert ex.book_reads == {"ws": 3, "rest": 0}


def test_clock_offset_moves_book_time_onto_the_local_clock(streamed):
    ex, _, feed = streamed
    ex.time_offset_ms = 250  # the venue's clock runs 250 ms ahead of ours
    venue_ms = _now_ms() + 200
    _snapshot(feed, venue_ms)
    assert ex.GetTicker("BTC_USDT.swap").Time == venue_ms - 250


def test_old_or_unsynced_book_falls_back_to_rest(streamed, http):
    ex, _, feed = streamed
    tickers = bybit_ok({"category": "linear", "list": [REST_TICKER]})
    http.get(re.compile(rf"{API}/market/tickers"), json=tickers)
    _snapshot(feed, _now_ms() - 5000)  # in sync but 5 s old (quiet, or the venue's clock is off)
    ticker = ex.GetTicker("BTC_USDT.swap")
    assert (ticker.Buy, ticker.Sell) == (94000.0, 94000.1)
    (t,) = ex.GetTickers()  # streamed symbol not servable: one REST request fills it in
    assert (t.Symbol, t.Buy) == ("BTC_USDT.swap", 94000.0)
    feed.connected = False  # the socket is down: not even a fresh book is served
    _snapshot(feed, _now_ms())
    assert ex.GetTicker("BTC_USDT.swap").Buy == 94000.0
    assert ex.book_reads == {"ws": 0, "rest": 3}


def test_rest_depth_is_stamped_and_marked(streamed, http):
    ex, _, feed = streamed
    http.get(re.compile(rf"{API}/market/orderbook"), json=bybit_ok({
        "s": "BTCUSDT", "a": [["95000.10", "0.8"]], "b": [["95000.00", "1.5"]], "ts": 1732500000000,
        "u": 18521288, "seq": 7961638724, "cts": 1732499999990}))
    depth = ex.GetDepth("BTC_USDT.swap", 1)
    assert depth.Time == 1732500000000 and depth.Info["source"] == "rest"
    assert feed.subscribed() == ["BTCUSDT"]  # the first read subscribed it


def test_feed_notes_reach_the_robot_log_from_the_strategy_thread(streamed):
    ex, log, feed = streamed
    feed.notes.append(FeedNote("warn", "bybit books: BTCUSDT gap (update id 9 after 7); resyncing"))
    _snapshot(feed, _now_ms())
    ex.GetTicker("BTC_USDT.swap")
    rows = [r for r in log.rows if r["type"] == LOG_TYPE_LOG]
    expected = "Futures_Bybit warn: bybit books: BTCUSDT gap (update id 9 after 7); resyncing"
    assert rows[-1]["message"] == expected
    assert not feed.notes


def test_binance_tickers_fall_back_to_one_book_ticker_request(binance, http):
    from fmz_compat.ws.venues import BinanceBooks

    ex, _ = binance
    feed = BookFeed(BinanceBooks(), "ws://127.0.0.1:9/")
    feed.connected = False  # the socket is down
    ex.books = feed
    ex.watch_books(["BTC_USDT"])
    http.get("https://fapi.binance.com/fapi/v1/ticker/bookTicker", json=[
        {"symbol": "BTCUSDT", "bidPrice": "95000.00", "bidQty": "1.500", "askPrice": "95000.10",
         "askQty": "0.800", "time": 1732500000000, "lastUpdateId": 1027024}])
    (t,) = ex.GetTickers()
    assert (t.Symbol, t.Buy, t.Sell, t.Time) == ("BTC_USDT.swap", 95000.0, 95000.1, 1732500000000)
    assert ex.book_reads == {"ws": 0, "rest": 1}


def test_a_streamed_book_with_an_empty_side_is_not_a_top_rest_answers(streamed, http):
    ex, _, feed = streamed
    tickers = bybit_ok({"category": "linear", "list": [REST_TICKER]})
    http.get(re.compile(rf"{API}/market/tickers"), json=tickers)
    ex.watch_books(["BTC_USDT"])
    _snapshot(feed, _now_ms())
    feed.protocol.on_frame(json.dumps({  # every ask deleted; the new ones come in a later frame
        "topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": _now_ms(), "cts": _now_ms(),
        "data": {"s": "BTCUSDT", "u": 8, "seq": 80, "b": [], "a": [["95000.10", "0"], ["95000.50", "0"]]}}),
        _now_ms())
    (t,) = ex.GetTickers()
    assert (t.Buy, t.Sell) == (94000.0, 94000.1)  # REST's top, never a ticker without a Sell
    assert ex.GetTicker("BTC_USDT.swap").Sell == 94000.1
    assert ex.book_reads == {"ws": 0, "rest": 2}


def test_a_streamed_top_that_moves_reaches_the_book_listener_on_the_local_clock(streamed):
    ex, _, feed = streamed
    told = []
    ex.book_listener = lambda *args: told.append(args)
    ex.time_offset_ms = 250  # the venue's clock runs 250 ms ahead of ours
    ex.watch_books(["BTC_USDT"])
    assert feed.on_top is not None  # the exchange listens to its feed
    feed.on_top("BTCUSDT", 95000.0, 95000.1, 1_700_000_000_250, 0)
    feed.on_top("ETHUSDT", 3400.0, 3400.1, 1_700_000_000_250, 0)  # not a streamed symbol of ours
    assert told == [(ex, "BTC_USDT.swap", 95000.0, 95000.1, 1_700_000_000_000)]
