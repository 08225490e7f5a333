"""The replay world: recorded books, trades and funding drive the simulator's venues."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim.replay import ReplayWorld, replay_bindings
from fmz_compat.sim.replay_format import (
    RecordingError,
    RecordingHeader,
    RecordingWriter,
    iter_events,
    read_header,
)
from fmz_compat.sim.replay_synth import Gap, write_synthetic
from hedge.market import Market, Venue, load_specs

T0 = 1_719_792_000_000


def _world(
    path: Path,
    seconds_after_start: float = 0.0,
    symbols: tuple[str, ...] = (),
    bindings: tuple[ExchangeBinding, ...] | None = None,
) -> tuple[ReplayWorld, BacktestClock]:
    header = read_header(path)
    cfg = SimConfig(
        seed=1,
        start_ms=header.start_ms,
        symbols=symbols,
        bindings=bindings or replay_bindings(header, balance=100_000.0),
    )
    clock = BacktestClock(header.start_ms * 10**6, header.end_ms * 10**6)
    clock.advance(int(seconds_after_start * 1e9))
    return ReplayWorld(cfg, clock, MemoryLog(), path), clock


def _at(clock: BacktestClock, offset_ms: int) -> None:
    """Move the virtual clock to `offset_ms` after the window start."""
    clock.advance(clock.start_ns + offset_ms * 10**6 - clock.now_ns())


def _handmade(path: Path, events: list[tuple], seconds: int = 600, venues=("binance", "okx")) -> None:
    """A recording from literal events: ("book", venue, rt_offset_ms, bid, ask),
    ("trade", venue, rt, p, q, side) or ("funding", venue, rt, rate, next_offset_ms, mark)."""
    header = RecordingHeader(
        venues, ("BTC_USDT",), T0, T0 + seconds * 1000, "handmade", markets={v: ("BTC_USDT",) for v in venues}
    )
    with RecordingWriter(path, header) as w:
        for ev in events:
            kind, venue, off = ev[0], ev[1], ev[2]
            if kind == "book":
                bid, ask = ev[3], ev[4]
                w.book(
                    venue,
                    "BTC_USDT",
                    T0 + off - 5,
                    T0 + off,
                    [[bid, 1.0], [bid - 1, 2.0], [bid - 2, 3.0]],
                    [[ask, 1.0], [ask + 1, 2.0], [ask + 2, 3.0]],
                )
            elif kind == "trade":
                w.trade(venue, "BTC_USDT", T0 + off, T0 + off, ev[3], ev[4], ev[5])
            elif kind == "funding":
                w.funding(venue, "BTC_USDT", T0 + off, T0 + off, ev[3], T0 + ev[4], 28_800_000, ev[5])


def test_round_trip_books_trades_funding_as_recorded(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    write_synthetic(
        path, venues=("binance", "okx"), symbols=("BTC_USDT", "ETH_USDT"), seconds=120, start_ms=T0
    )
    recorded = [e for e in iter_events(path) if e["t"] == "book" and e["rt"] <= T0 + 60_000]
    last = {(e["v"], e["s"]): e for e in recorded}
    world, clock = _world(path)
    _at(clock, 60_000)
    binance, okx = world.exchanges
    for ex, venue in ((binance, "binance"), (okx, "okx")):
        for pair in ("BTC_USDT", "ETH_USDT"):
            book = last[(venue, pair)]
            ticker = ex.GetTicker(pair + ".swap")
            assert (ticker.Buy, ticker.Sell) == (book["b"][0][0], book["a"][0][0])
            assert ticker.Time == book["ts"]
            depth = ex.GetDepth(pair + ".swap")
            ct = ex.GetMarkets()[pair + ".swap"].CtVal
            assert [lv.Price for lv in depth.Asks] == [p for p, _q in book["a"]]
            assert [lv.Amount for lv in depth.Asks] == pytest.approx([q / ct for _p, q in book["a"]])
            assert depth.Time == book["ts"]
    trades = binance.GetTrades("BTC_USDT.swap")
    recorded_trades = [
        e
        for e in iter_events(path)
        if e["t"] == "trade" and e["v"] == "binance" and e["s"] == "BTC_USDT" and e["rt"] <= T0 + 60_000
    ]
    assert [(t.Price, t.Amount) for t in trades] == [
        (e["p"], e["q"]) for e in recorded_trades[-len(trades) :]
    ]
    fundings = {f.Symbol: f for f in okx.GetFundings()}
    assert fundings["BTC_USDT.swap"].Rate == 0.0001 and fundings["BTC_USDT.swap"].Interval == 28_800_000
    stats = world.stats()
    assert stats["replay"]["events_applied"]["book"] == len(recorded)


def test_market_order_walks_the_recorded_depth_and_our_fill_depletes_it(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    _handmade(
        path,
        [
            ("book", "binance", 0, 60_000.0, 60_001.0),
            ("book", "okx", 0, 60_010.0, 60_011.0),
            ("book", "binance", 30_000, 60_000.0, 60_001.0),
        ],
    )
    world, clock = _world(path, 1)
    binance = world.exchanges[0]
    binance.SetContractType("swap")
    oid = binance.CreateOrder("BTC_USDT.swap", "buy", -1, 2.5)
    order = binance.GetOrder(oid)
    assert order.Status == 1
    assert order.AvgPrice == pytest.approx((60_001.0 * 1 + 60_002.0 * 1.5) / 2.5)
    depth = binance.GetDepth("BTC_USDT.swap")
    assert [(lv.Price, lv.Amount) for lv in depth.Asks] == [(60_002.0, 0.5), (60_003.0, 3.0)]
    _at(clock, 31_000)  # the next recorded book replaces the depleted copy
    assert binance.GetDepth("BTC_USDT.swap").Asks[0].Amount == 1.0


def test_resting_order_fills_only_when_a_trade_or_the_book_goes_through_its_price(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    _handmade(
        path,
        [
            ("book", "binance", 0, 60_000.0, 60_001.0),
            ("book", "okx", 0, 60_000.0, 60_001.0),
            ("trade", "binance", 10_000, 59_990.0, 0.1, "sell"),  # at our price: no fill
            ("trade", "binance", 20_000, 59_989.9, 0.1, "sell"),  # through it: fill
            ("book", "okx", 25_000, 59_980.0, 59_985.0),
        ],
    )  # the ask drops through okx's bid
    world, clock = _world(path, 1)
    binance, okx = world.exchanges
    buy = binance.CreateOrder("BTC_USDT.swap", "buy", 59_990.0, 0.1)
    okx_buy = okx.CreateOrder("BTC_USDT.swap", "buy", 59_990.0, 1)
    _at(clock, 15_000)
    assert binance.GetOrder(buy).Status == 0
    _at(clock, 21_000)
    filled = binance.GetOrder(buy)
    assert (filled.Status, filled.DealAmount, filled.AvgPrice) == (1, 0.1, 59_990.0)
    assert okx.GetOrder(okx_buy).Status == 0
    _at(clock, 26_000)
    assert okx.GetOrder(okx_buy).Status == 1


def test_funding_settles_at_the_recorded_time_with_the_recorded_rate_and_mark(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    _handmade(
        path,
        [
            ("book", "binance", 0, 60_000.0, 60_001.0),
            ("book", "okx", 0, 60_000.0, 60_001.0),
            ("funding", "binance", 100, 0.0003, 120_000, 60_100.0),
            ("funding", "binance", 60_000, 0.0005, 120_000, 60_200.0),
        ],
    )
    world, clock = _world(path, 1)
    binance = world.exchanges[0]
    binance.CreateOrder("BTC_USDT.swap", "buy", -1, 1.0)
    _at(clock, 119_000)
    binance.GetAccount()  # the world moves on API calls
    assert world.accounts[0].funding_usdt == 0.0
    _at(clock, 121_000)
    binance.GetAccount()
    assert world.accounts[0].funding_usdt == pytest.approx(-1.0 * 60_200.0 * 0.0005)
    assert binance.GetFundings("BTC_USDT.swap")[0].Time == T0 + 120_000 + 28_800_000


def test_a_gap_in_the_recording_is_a_stale_book_for_the_strategy(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    write_synthetic(
        path,
        venues=("binance", "okx"),
        seconds=120,
        start_ms=T0,
        gaps=(Gap("okx", T0 + 40_000, T0 + 80_000),),
    )
    world, clock = _world(path)
    venues = []
    for i, ex in enumerate(world.exchanges):
        venues.append(Venue(("binance", "okx")[i], i, ex, load_specs(ex, ("BTC_USDT",))))
    market = Market(venues, ("BTC_USDT",), max_age_ms=3000)

    def fresh(at_s: int) -> dict[str, bool]:
        _at(clock, at_s * 1000)
        now = clock.now_ns() // 10**6
        market.refresh(now)
        return {v: market.fresh_top(v, "BTC_USDT", now) is not None for v in ("binance", "okx")}

    assert fresh(30) == {"binance": True, "okx": True}
    assert fresh(60) == {"binance": True, "okx": False}
    assert fresh(90) == {"binance": True, "okx": True}
    assert any("gap on okx" in r["message"] for r in world.log.rows)


def test_bad_configurations_are_one_line_errors(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    write_synthetic(path, venues=("binance",), seconds=10, start_ms=T0)
    with pytest.raises(ValueError, match=r"symbol ETH_USDT is not in recording .*binance: BTC_USDT"):
        _world(path, symbols=("ETH_USDT",))
    with pytest.raises(ValueError, match="has no okx data"):
        _world(path, bindings=(ExchangeBinding("Futures_OKX"),))
    with pytest.raises(ValueError, match="USDT perpetuals only"):
        _world(path, bindings=(ExchangeBinding("Binance"),))
    plain = tmp_path / "plain.jsonl"
    plain.write_text("{}\n")
    with pytest.raises(RecordingError, match="not gzip-compressed"):
        read_header(plain)
    other = tmp_path / "other.jsonl.gz"
    with gzip.open(other, "wt") as fh:
        fh.write(json.dumps({"t": "header", "format": "something-else"}) + "\n")
    with pytest.raises(RecordingError, match="not a xvenue-hedge-recording header"):
        read_header(other)
    with pytest.raises(RecordingError, match="not found"):
        read_header(tmp_path / "missing.jsonl.gz")


def test_a_truncated_recording_replays_what_is_there(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    write_synthetic(path, venues=("binance",), seconds=30, start_ms=T0)
    raw = path.read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(raw[: len(raw) * 2 // 3])
    world, clock = _world(cut)
    _at(clock, 29_000)
    assert world.exchanges[0].GetTicker("BTC_USDT.swap") is not None
    assert 0 < world.stats()["replay"]["events_applied"]["book"] < 60


def test_a_schedule_first_recorded_just_before_its_settlement_still_settles(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    _handmade(
        path,
        [
            ("book", "binance", 0, 60_000.0, 60_001.0),
            ("book", "okx", 0, 60_000.0, 60_001.0),
            ("funding", "binance", 119_800, 0.0002, 119_900, 60_000.0),
        ],
    )
    world, clock = _world(path, 1)
    binance = world.exchanges[0]
    binance.CreateOrder("BTC_USDT.swap", "sell", -1, 1.0)
    _at(clock, 125_000)  # one API call covers the record and the settlement
    binance.GetAccount()
    assert world.accounts[0].funding_usdt == pytest.approx(1.0 * 60_000.0 * 0.0002)


def test_stale_market_fault_freezes_the_recorded_book(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    write_synthetic(path, venues=("binance", "okx"), seconds=60, start_ms=T0)
    world, clock = _world(path, 10)
    okx = world.exchanges[1]
    frozen = okx.GetTicker("BTC_USDT.swap")
    world.inject("okx", "stale_market", until_ms=T0 + 40_000)
    _at(clock, 30_000)
    assert okx.GetTicker("BTC_USDT.swap").Time == frozen.Time
    assert okx.GetDepth("BTC_USDT.swap").Time == frozen.Time
    _at(clock, 45_000)
    assert okx.GetTicker("BTC_USDT.swap").Time > T0 + 44_000


def test_a_recording_stopped_early_gets_its_real_end_in_the_header(tmp_path):
    path = tmp_path / "rec.jsonl.gz"
    header = RecordingHeader(("binance",), ("BTC_USDT",), T0, T0 + 3_600_000, "planned an hour")
    writer = RecordingWriter(path, header)
    assert writer.part.exists() and not path.exists()  # in progress: only the .part file
    writer.book("binance", "BTC_USDT", T0 + 5, T0 + 10, [[1.0, 1.0]], [[1.1, 1.0]])
    writer.close(T0 + 60_000)  # Ctrl-C after a minute
    assert not writer.part.exists()
    assert read_header(path).end_ms == T0 + 60_000
    assert [e["t"] for e in iter_events(path)] == ["book", "end"]


def test_tickers_between_two_books_are_fresh_copies_and_follow_each_book_trade_and_mark(tmp_path):
    """GetTickers keeps a ticker built from the same recorded inputs (books, trades, funding mark): each call
    still hands out new objects (a strategy writing into one changes nothing later), and a new book, a trade
    or a recorded mark shows at once."""
    path = tmp_path / "rec.jsonl.gz"
    _handmade(path, [("book", "binance", 1_000, 100.0, 101.0), ("trade", "binance", 2_000, 100.8, 3.0, "buy"),
                     ("funding", "binance", 3_000, 0.0001, 28_800_000, 100.7),
                     ("book", "binance", 4_000, 102.0, 103.0)])
    world, clock = _world(path)
    binance = world.exchanges[0]
    _at(clock, 1_500)
    first = binance.GetTickers()[0]
    assert (first.Buy, first.Sell, first.Last, first.Volume) == (100.0, 101.0, 100.5, 0.0)
    first.Buy, first.Info.bidPrice = -1.0, -1.0  # the strategy scribbles on its copy
    again = binance.GetTickers()[0]
    assert again is not first and again.Info is not first.Info
    assert (again.Buy, again.Info.bidPrice, again.Time) == (100.0, 100.0, T0 + 995)
    _at(clock, 2_500)
    traded = binance.GetTickers()[0]
    assert (traded.Last, traded.Volume, traded.Buy) == (100.8, 3.0, 100.0)
    _at(clock, 3_500)
    assert binance.GetTickers()[0].Info.markPrice == 100.7
    _at(clock, 4_500)
    booked = binance.GetTickers()[0]
    assert (booked.Buy, booked.Sell, booked.Time, booked.High) == (102.0, 103.0, T0 + 3_995, 102.5)
