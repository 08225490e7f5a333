"""tools.record: the recorder loop, the REST source (fake client and real ccxt over `responses`), the CLI."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import ccxt
import pytest
import responses

from fmz_compat.core import BacktestClock, MemoryLog, SimConfig
from fmz_compat.sim.replay import ReplayWorld, replay_bindings
from fmz_compat.sim.replay_format import RecordingHeader, RecordingWriter, iter_events, read_header
from tools.record import Event, RestSource, WsSource, build_public_client, main, record

T0 = 1_719_792_000_000


def _captures() -> Path:
    """../shared/data/cryptofeed_raw_ws seen from the checkout (main or a worktree), else /work/shared."""
    for parent in Path(__file__).resolve().parents:
        found = parent / "shared" / "data" / "cryptofeed_raw_ws"
        if found.is_dir():
            return found
    return Path("/work/shared/data/cryptofeed_raw_ws")


CAPTURES = _captures()


class FakeSource:
    """A venue that quotes a fixed book moving one tick a second and prints one trade a second."""

    def __init__(self, venue: str, base: float) -> None:
        self.venue, self.base, self.stopped = venue, base, False

    def poll(self, now_ms: int) -> list[Event]:
        px = self.base + (now_ms - T0) // 1000 * 0.1
        return [
            Event(
                "book",
                self.venue,
                "BTC_USDT",
                now_ms,
                {
                    "ts": now_ms - 7,
                    "b": [[px, 1.0], [px - 0.1, 2.0]],
                    "a": [[px + 0.1, 1.5], [px + 0.2, 2.5]],
                },
            ),
            Event(
                "trade",
                self.venue,
                "BTC_USDT",
                now_ms,
                {"ts": now_ms - 3, "p": px, "q": 0.01, "side": "sell"},
            ),
        ]

    def stop(self) -> None:
        self.stopped = True


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def now_ms(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def test_record_loop_writes_a_recording_that_replays_as_recorded(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    header = RecordingHeader(
        ("binance", "okx"),
        ("BTC_USDT",),
        T0,
        T0 + 60_000,
        "test",
        markets={"binance": ("BTC_USDT",), "okx": ("BTC_USDT",)},
    )
    sources = [FakeSource("binance", 60_000.0), FakeSource("okx", 60_010.0)]
    clock = FakeClock()
    counts = record(
        sources,
        RecordingWriter(path, header),
        T0 + 60_000,
        poll_ms=1000,
        now_ms=clock.now_ms,
        sleep=clock.sleep,
    )
    assert counts == {"book": 122, "trade": 122, "funding": 0, "gap": 0}
    assert all(s.stopped for s in sources)
    events = list(iter_events(path))
    assert events[-1] == {"t": "end", "end_ms": T0 + 60_000, "counts": counts}
    rts = [e["rt"] for e in events[:-1]]
    assert rts == sorted(rts)
    assert read_header(path) == header

    world = ReplayWorld(
        SimConfig(seed=1, start_ms=T0, bindings=replay_bindings(header), symbols=()),
        clock := BacktestClock(T0 * 10**6, (T0 + 60_000) * 10**6),
        MemoryLog(),
        path,
    )
    clock.advance(30_500 * 10**6)
    ticker = world.exchanges[1].GetTicker("BTC_USDT.swap")
    assert (ticker.Buy, ticker.Sell, ticker.Time) == (60_013.0, 60_013.1, T0 + 30_000 - 7)
    assert world.exchanges[0].GetTrades("BTC_USDT.swap")[-1].Price == 60_003.0


class FakeClient:
    """The few ccxt calls RestSource makes, with an OKX-like contract size and one network failure."""

    def __init__(self) -> None:
        self.fail_next = 0
        self.calls: list[str] = []

    def load_markets(self):
        return {
            "BTC/USDT:USDT": {
                "id": "BTC-USDT-SWAP",
                "contractSize": 0.01,
                "precision": {"price": 0.1, "amount": 0.1},
                "limits": {"amount": {"min": 0.1}, "cost": {"min": None}},
            }
        }

    def fetch_order_book(self, symbol, limit):
        self.calls.append("book")
        if self.fail_next:
            self.fail_next -= 1
            raise ccxt.NetworkError("okx GET https://www.okx.com/api/v5/market/books timed out")
        return {"bids": [[60_000.0, 150.0]], "asks": [[60_000.1, 20.0]], "timestamp": T0}

    def fetch_trades(self, symbol, since=None, limit=None):
        return [
            {"id": "1", "timestamp": T0 - 10, "price": 60_000.0, "amount": 3.0, "side": "buy"},
            {"id": "2", "timestamp": T0 - 5, "price": 60_000.1, "amount": 1.0, "side": "sell"},
        ]

    def fetch_funding_rate(self, symbol):
        self.calls.append("funding")
        return {
            "fundingRate": 0.0001,
            "fundingTimestamp": T0 + 3_600_000,
            "interval": "8h",
            "markPrice": 60_000.05,
            "timestamp": T0,
        }


def test_rest_source_converts_contracts_dedups_trades_polls_funding_and_marks_failures_as_gaps():
    client = FakeClient()
    src = RestSource("okx", ("BTC_USDT",), client, depth=5, funding_every_ms=60_000)
    src.start()
    first = src.poll(T0)
    kinds = [e.kind for e in first]
    assert kinds == ["book", "trade", "trade", "funding"]
    assert first[0].fields["b"] == [[60_000.0, 1.5]]  # 150 contracts x 0.01 BTC
    assert first[1].fields["q"] == 0.03
    assert first[3].fields == {
        "ts": T0,
        "rate": 0.0001,
        "next_ms": T0 + 3_600_000,
        "interval_ms": 28_800_000,
        "mark": 60_000.05,
    }
    assert [e.kind for e in src.poll(T0 + 1000)] == [
        "book"
    ]  # same trades again: not rewritten; no funding yet
    client.fail_next = 2
    gap = src.poll(T0 + 2000)
    assert [(e.kind, e.fields.get("reason", "")[:12]) for e in gap] == [("gap", "NetworkError")]
    assert src.poll(T0 + 3000) == []  # still failing: one gap line for the whole outage
    assert [e.kind for e in src.poll(T0 + 61_000)] == ["book", "funding"]


def test_rest_source_refuses_a_symbol_the_venue_does_not_list():
    client = FakeClient()
    src = RestSource("okx", ("DOGE_USDT",), client, depth=5)
    with pytest.raises(Exception, match="okx does not list DOGE_USDT"):
        src.start()


@responses.activate
def test_rest_source_with_ccxt_binanceusdm_against_binance_payloads():
    """The real ccxt client over HTTP mocked with Binance's own payloads (exchangeInfo from the capture)."""
    with gzip.open(CAPTURES / "BINANCE_FUTURES.jsonl.gz", "rt") as fh:
        info = next(json.loads(line)["data"] for line in fh if "exchangeInfo" in line)
    responses.get(re.compile(r"https://fapi\.binance\.com/fapi/v1/exchangeInfo.*"), body=info)
    responses.get(
        re.compile(r"https://dapi\.binance\.com/dapi/v1/exchangeInfo.*"),
        json={"timezone": "UTC", "serverTime": 1, "symbols": []},
    )
    responses.get(
        re.compile(r"https://fapi\.binance\.com/fapi/v1/depth.*"),
        json={
            "lastUpdateId": 1,
            "E": T0,
            "T": T0 - 2,
            "bids": [["7.6110", "6"], ["7.6080", "161"]],
            "asks": [["7.6120", "297"], ["7.6150", "1563"]],
        },
    )
    responses.get(
        re.compile(r"https://fapi\.binance\.com/fapi/v1/aggTrades.*"),
        json=[{"a": 5, "p": "7.6110", "q": "2", "f": 9, "l": 9, "T": T0 - 50, "m": True}],
    )
    responses.get(
        re.compile(r"https://fapi\.binance\.com/fapi/v1/premiumIndex.*"),
        json={
            "symbol": "SUSHIUSDT",
            "markPrice": "7.61150000",
            "indexPrice": "7.6",
            "lastFundingRate": "0.00010000",
            "interestRate": "0.0001",
            "nextFundingTime": T0 + 1_000_000,
            "time": T0,
        },
    )
    src = RestSource("binance", ("SUSHI_USDT",), build_public_client("binance"), depth=20)
    src.start()
    events = src.poll(T0)
    book, trade, funding = events
    assert book.fields["b"] == [[7.611, 6.0], [7.608, 161.0]] and book.fields["ts"] == T0 - 2
    assert (trade.fields["p"], trade.fields["q"], trade.fields["side"]) == (7.611, 2.0, "sell")
    assert (funding.fields["rate"], funding.fields["next_ms"], funding.fields["mark"]) == (
        0.0001,
        T0 + 1_000_000,
        7.6115,
    )


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--venues", "binance", "--symbols", "BTC_USDT", "--hours", "1"], "--out"),
        (
            ["--out", "{tmp}/r.gz", "--venues", "binance,kraken", "--symbols", "BTC_USDT", "--hours", "1"],
            "unknown kraken",
        ),
        (["--out", "{tmp}/r.gz", "--venues", "binance", "--symbols", "BTCUSDT", "--hours", "1"], "BASE_USDT"),
        (
            ["--out", "{tmp}/r.gz", "--venues", "binance", "--symbols", "BTC_USDT"],
            "--hours must be a positive",
        ),
        (
            ["--out", "{tmp}/r.gz", "--venues", "binance", "--symbols", "BTC_USDT", "--hours", "0"],
            "--hours must",
        ),
        (["--out", "{tmp}/r.gz", "--symbols", "BTC_USDT", "--hours", "1"], "--venues is empty"),
        (
            [
                "--out",
                "{tmp}/r.gz",
                "--venues",
                "okx",
                "--symbols",
                "BTC_USDT",
                "--hours",
                "1",
                "--depth",
                "0",
            ],
            "--depth",
        ),
        (
            ["--out", "{tmp}/nope/r.gz", "--venues", "okx", "--symbols", "BTC_USDT", "--hours", "1"],
            "does not exist",
        ),
        (["--out", "{tmp}/r.gz", "--from-capture", "{tmp}/missing"], "not a folder"),
        (
            ["--out", "{tmp}/r.gz", "--from-capture", "{tmp}", "--hours", "1"],
            "--hours and --symbols are for recording",
        ),
        (
            ["--out", "{tmp}/r.gz", "--venues", "okx", "--symbols", "BTC_USDT", "--hours", "1", "--no-align"],
            "go with --from-capture",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_write_nothing(tmp_path, capsys, argv, expected):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "r.gz").exists()


class FakeProClient:
    """ccxt.pro's watch calls: a book every 10 ms (the first call fails like a dropped socket), trades."""

    def __init__(self) -> None:
        self.book_calls = 0
        self.closed = False

    async def watch_order_book(self, symbol, limit=None):
        import asyncio

        self.book_calls += 1
        await asyncio.sleep(0.01)
        if self.book_calls == 1:
            raise ccxt.NetworkError("connection closed by the venue")
        levels = [[60_000.0 - i, 100.0] for i in range(30)]
        return {
            "bids": levels,
            "asks": [[60_001.0 + i, 50.0] for i in range(30)],
            "timestamp": T0 + self.book_calls,
        }

    async def watch_trades(self, symbol):
        import asyncio

        await asyncio.sleep(0.01)
        return [{"timestamp": T0, "price": 60_000.5, "amount": 2.0, "side": "buy"}]

    async def close(self):
        self.closed = True


def test_websocket_source_streams_books_and_trades_and_marks_a_dropped_watch_as_a_gap():
    import time

    rest = RestSource("okx", ("BTC_USDT",), FakeClient(), depth=5, funding_every_ms=60_000)
    rest.start()
    pro = FakeProClient()
    src = WsSource("okx", ("BTC_USDT",), pro, rest, depth=5, backoff_s=0.01)
    src.start()
    events: list[Event] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sum(e.kind == "book" for e in events) < 3:
        events.extend(src.poll(T0))
        time.sleep(0.02)
    src.stop()
    assert pro.closed and not src._thread.is_alive()
    kinds = [e.kind for e in events]
    assert (
        kinds.count("gap") == 1
        and "NetworkError" in next(e for e in events if e.kind == "gap").fields["reason"]
    )
    book = next(e for e in events if e.kind == "book")
    assert (
        book.fields["b"][0] == [60_000.0, 1.0] and len(book.fields["b"]) == 5
    )  # 100 contracts x 0.01, cut to depth
    assert any(e.kind == "trade" and e.fields["q"] == 0.02 for e in events)
    assert kinds.count("funding") == 1  # REST funding poll on the first poll


@pytest.mark.slow
def test_the_recorders_binance_client_streams_books_and_trades_on_binances_routed_urls():
    """Binance moved USDⓈ-M streams to routed URLs (announced 2026-03-06, legacy retired 2026-04-23:
    https://developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/Important-WebSocket-Change-Notice,
    read through ccxt/ccxt PR #28091 and ccxt/go-binance PR #809 on 2026-12-07): depth and trade on /public,
    aggTrade, mark price and klines on /market. The recorder takes books and trades from ccxt.pro; its client
    must keep ccxt.pro's routing, not a pinned legacy wss://fstream.binance.com/stream; and it must get a
    ccxt.pro client at all (it could not: `ccxt.pro` was read as an attribute, so every venue polled REST)."""
    import subprocess
    import sys

    # a fresh process, as `python -m tools.record` starts: nothing else has imported ccxt.pro yet
    probe = ("from tools.record import build_public_client\n"
             "pro = build_public_client('binance', pro=True)\n"
             "print(*(pro.get_ws_url('future', pro.get_future_ws_category(k)) for k in ('depth', 'trade', "
             "'aggTrade')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]
    assert done.stdout.split() == ["wss://fstream.binance.com/public/ws", "wss://fstream.binance.com/public/ws",
                                   "wss://fstream.binance.com/market/ws"]
