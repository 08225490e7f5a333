"""tools.record --from-capture on the real cryptofeed raw captures, and a replay of the result."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from fmz_compat.__main__ import main as fmz_main
from fmz_compat.sim.replay_format import iter_events, read_header
from fmz_compat.store import RobotStore
from tools.record import main
from tools.record_capture import convert_folder

ROOT = Path(__file__).resolve().parents[2]


def _captures() -> Path:
    """../shared/data/cryptofeed_raw_ws seen from the checkout (main or a worktree), else /work/shared."""
    for parent in Path(__file__).resolve().parents:
        found = parent / "shared" / "data" / "cryptofeed_raw_ws"
        if found.is_dir():
            return found
    return Path("/work/shared/data/cryptofeed_raw_ws")


CAPTURES = _captures()


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("capture") / "capture.jsonl.gz"
    header = convert_folder(CAPTURES, out, depth=20, max_seconds=12)
    return out, header, list(iter_events(out))


def test_header_lists_what_the_captures_hold_and_what_was_skipped(converted):
    path, header, _events = converted
    assert read_header(path) == header
    assert header.venues == ("binance", "bybit", "bitmex")
    assert header.markets["binance"] == ("AKRO_USDT", "CTK_USDT", "KEEP_USDT", "SUSHI_USDT")
    assert header.markets["bybit"] == ("BTC_USDT", "DOGE_USDT", "ETH_USDT", "SOL_USDT")
    assert "SOL_USDT" in header.markets["bitmex"]
    assert set(header.time_shift_ms) == {"bybit", "bitmex"}  # aligned to binance, the earliest capture
    notes = " ".join(header.notes)
    assert "okx: no USDT-margined perpetual" in notes and "not real market spreads" in notes
    assert "Bryant Moscon" in notes  # the capture licence's acknowledgment travels with the data
    assert header.end_ms - header.start_ms <= 12_001
    btc = header.instruments["bybit"]["BTC_USDT"]
    assert (btc.tick, btc.step, btc.min_notional) == (0.1, 0.001, 5.0)
    sol = header.instruments["bitmex"]["SOL_USDT"]
    assert sol.tick == 0.001 and 0.3 < sol.ct_val < 0.34  # quanto: 1000 sat x XBT 32,185


def test_books_are_sorted_uncrossed_and_in_receive_order(converted):
    _path, header, events = converted
    books = [e for e in events if e["t"] == "book"]
    assert {e["v"] for e in books} == set(header.venues)
    assert [e["rt"] for e in events[:-1]] == sorted(e["rt"] for e in events[:-1])
    for e in books:
        bids, asks = [p for p, _ in e["b"]], [p for p, _ in e["a"]]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        assert bids[0] < asks[0], e
        assert all(q > 0 for _, q in e["b"] + e["a"])
        assert e["s"] in header.markets[e["v"]]
    assert not [e for e in events if e["t"] == "gap"]  # Binance's U/u/pu sequence held throughout


def test_binance_starts_from_the_rest_snapshot_then_follows_the_diffs(converted):
    _path, header, events = converted
    with gzip.open(CAPTURES / "BINANCE_FUTURES.jsonl.gz", "rt") as fh:
        snap = next(json.loads(json.loads(line)["data"]) for line in fh if "depth?symbol=SUSHIUSDT" in line)
    sushi = [e for e in events if e["t"] == "book" and e["v"] == "binance" and e["s"] == "SUSHI_USDT"]
    assert sushi[0]["b"] == [[float(p), float(q)] for p, q in snap["bids"][:20]]
    assert sushi[0]["a"] == [[float(p), float(q)] for p, q in snap["asks"][:20]]
    assert len(sushi) > 20 and sushi[-1]["b"] != sushi[0]["b"]


def test_bybit_funding_carries_rate_next_time_interval_and_mark(converted):
    _path, header, events = converted
    funding = [e for e in events if e["t"] == "funding" and e["v"] == "bybit" and e["s"] == "BTC_USDT"]
    assert funding
    last = funding[-1]
    assert last["interval_ms"] == 28_800_000 and last["mark"] > 60_000
    assert last["next_ms"] > last["rt"] and (last["next_ms"] - header.time_shift_ms["bybit"]) % 3_600_000 == 0


def test_cli_converts_and_prints_the_notes(tmp_path, capsys):
    out = tmp_path / "c.jsonl.gz"
    assert (
        main(["--from-capture", str(CAPTURES), "--out", str(out), "--max-seconds", "3", "--venues", "bybit"])
        == 0
    )
    text = capsys.readouterr().out
    assert f"wrote {out}: bybit; 4 symbols" in text
    assert read_header(out).venues == ("bybit",)


def test_strategy_replayed_on_the_converted_capture_declines_without_errors(converted, tmp_path, capsys):
    """SOL_USDT is on Bybit (2026, ~77 USDT) and BitMEX (2021, ~27 USDT): the shifted books make a fake
    180 % 'spread' whose legs cannot be sized equally (0.1 SOL vs 0.3218 SOL lots): nothing may trade."""
    path, _header, _events = converted
    shutil.copy(ROOT / "strategy.py", tmp_path / "strategy.py")
    runs = tmp_path / "runs"
    code = fmz_main(
        [
            "backtest",
            str(tmp_path / "strategy.py"),
            "--replay",
            str(path),
            "--out",
            str(runs),
            "--quiet",
            "--params",
            json.dumps({"symbols": ["SOL_USDT"]}),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and f"replay of {path}" in text
    run = json.loads((runs / "1" / "run.json").read_text())
    assert run["stats"]["totals"]["trades"] == 0
    assert run["stats"]["replay"]["events_applied"]["book"] > 100
    store = RobotStore(runs / "1" / "1.db3")
    rows = store.logs(limit=1000)
    store.close()
    assert any("started: venues binance, bybit, bitmex; symbols SOL_USDT" in str(r["Extra"]) for r in rows)
    assert not [r for r in rows if r["LogType"] == 3]  # no failed API call: the replayed venues answered
