"""Derive the simulator's default market parameters from the real data in ../shared/data.

Run: `python -m fmz_compat.sim.calibrate [all_exchanges.csv]` (8-hour prices and funding) and
`python -m fmz_compat.sim.calibrate books [BYBIT.jsonl.gz]` (order books of the Bybit capture). Prints the
figures docs/simulator.md quotes; `params.py` holds the rounded results, so a run never needs the data.
`python -m fmz_compat.sim.calibrate bars [all_exchanges.csv] > fmz_compat/sim/data/btc_eth_8h_bars.csv`
writes the Binance perpetual 8-hour bars (high, low, close per close time in UTC) the simulator follows;
`python -m fmz_compat.sim.calibrate realvol [--start 2023-03-01] [--days 30] [--coin BTC] [--seed 1]` measures
the simulated path on those dates against them (realised volatility at 1 minute, 1 hour, 8 hours).
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import statistics
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
UTC = ZoneInfo("UTC")
DEFAULT_DATA = Path("/work/shared/data/xex_8h_perps_2023_2024/all_exchanges.csv")
DEFAULT_BOOKS = Path("/work/shared/data/cryptofeed_raw_ws/BYBIT.jsonl.gz")


def book_figures(path: Path) -> dict[str, dict[str, float]]:
    """Per symbol, over every update of a Bybit orderbook.200 stream (snapshot + deltas): the median quoted
    spread (bps), best-level size and depth within 5 / 10 bps of the mid (USDT, the thinner side)."""
    books: dict[str, dict[str, dict[float, float]]] = {}
    samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    with gzip.open(path, "rt") as f:
        for line in f:
            record = json.loads(line)
            if record.get("t") != "recv":
                continue
            message = json.loads(record["data"])
            topic = message.get("topic", "")
            if not topic.startswith("orderbook."):
                continue
            symbol = topic.rsplit(".", 1)[1]
            if message.get("type") == "snapshot":
                books[symbol] = {"b": {}, "a": {}}
            book = books.get(symbol)
            if book is None:
                continue
            _apply_levels(book, message["data"])
            if book["b"] and book["a"]:
                _sample_book(book, samples[symbol])
    return {symbol: {k: statistics.median(v) for k, v in s.items()} | {"updates": len(s["spread_bps"])}
            for symbol, s in samples.items()}


def _apply_levels(book: dict[str, dict[float, float]], data: dict[str, Any]) -> None:
    """A snapshot's or delta's levels into the book (size 0 removes the level)."""
    for side in ("b", "a"):
        for price, size in data[side]:
            if float(size) == 0:
                book[side].pop(float(price), None)
            else:
                book[side][float(price)] = float(size)


def _sample_book(book: dict[str, dict[float, float]], s: dict[str, list[float]]) -> None:
    """One two-sided book's spread, best-level size and depth within 5 / 10 bps into the samples."""
    bid, ask = max(book["b"]), min(book["a"])
    mid = (bid + ask) / 2
    s["spread_bps"].append((ask - bid) / mid * 1e4)
    s["top_usdt"].append(min(book["b"][bid] * bid, book["a"][ask] * ask))
    for band in (5, 10):
        bids = sum(p * q for p, q in book["b"].items() if (mid - p) / mid * 1e4 <= band)
        asks = sum(p * q for p, q in book["a"].items() if (p - mid) / mid * 1e4 <= band)
        s[f"within_{band}bps_usdt"].append(min(bids, asks))


def main_books(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_BOOKS
    if not path.exists():
        print(f"capture {path} not found; pass the path to BYBIT.jsonl.gz", file=sys.stderr)
        return 2
    for symbol, fig in sorted(book_figures(path).items()):
        print(f"{symbol} median spread {fig['spread_bps']:.2f} bps, best level {fig['top_usdt']:,.0f} USDT, "
              f"within 5 bps {fig['within_5bps_usdt']:,.0f}, within 10 bps {fig['within_10bps_usdt']:,.0f} "
              f"(thinner side; {fig['updates']:.0f} updates)")
    return 0


def _utc_hour(local: str) -> datetime | None:
    naive = datetime.strptime(local, "%Y-%m-%d %H:%M:%S")
    aware = naive.replace(tzinfo=LONDON)
    # Ambiguous/nonexistent local times (DST switches) are dropped, as SOURCE.md advises.
    if aware.replace(fold=1).utcoffset() != aware.utcoffset():
        return None
    utc = aware.astimezone(UTC)
    return utc if utc.hour in (0, 8, 16) and utc.minute == 0 else None


def _autocorr(xs: list[float]) -> float:
    m = statistics.fmean(xs)
    num = sum((a - m) * (b - m) for a, b in zip(xs, xs[1:], strict=False))
    den = sum((a - m) ** 2 for a in xs)
    return num / den if den else 0.0


def load(path: Path) -> dict[tuple[str, str], dict[datetime, tuple[float, float | None]]]:
    series: dict[tuple[str, str], dict[datetime, tuple[float, float | None]]] = defaultdict(dict)
    with path.open() as f:
        for row in csv.DictReader(f):
            if row["pair"] not in ("BTCUSDT", "ETHUSDT"):
                continue
            t = _utc_hour(row["time"])
            if t is None:
                continue
            rate = float(row["funding rate"]) if row["funding rate"] else None
            series[(row["exchange"], row["pair"])][t] = (float(row["close"]), rate)
    return series


def binance_bars(path: Path) -> list[tuple[int, dict[str, tuple[float, float, float]]]]:
    """Binance BTCUSDT/ETHUSDT perpetual 8-hour klines: (close time in UTC ms, {coin: (high, low, close)}),
    oldest first. A row's time is its kline's open in Europe/London time (SOURCE.md); it closes 8 h later."""
    rows: dict[int, dict[str, tuple[float, float, float]]] = defaultdict(dict)
    with path.open() as f:
        for row in csv.DictReader(f):
            if row["exchange"] != "binance" or row["pair"] not in ("BTCUSDT", "ETHUSDT"):
                continue
            t = _utc_hour(row["time"])
            if t is not None:
                close_ms = int(t.timestamp() * 1000) + 28_800_000
                rows[close_ms][row["pair"][:3]] = (float(row["high"]), float(row["low"]), float(row["close"]))
    return [(ms, coins) for ms, coins in sorted(rows.items()) if len(coins) == 2]


def main_bars(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_DATA
    if not path.exists():
        print(f"data file {path} not found; pass the path to all_exchanges.csv", file=sys.stderr)
        return 2
    print("close_time_utc_ms,BTC_high,BTC_low,BTC_close,ETH_high,ETH_low,ETH_close")
    for ms, coins in binance_bars(path):
        print(",".join([str(ms), *(f"{x:.10g}" for coin in ("BTC", "ETH") for x in coins[coin])]))
    return 0


def _annual(variance_per_s: float) -> float:
    return math.sqrt(variance_per_s * 365 * 86_400)


def _realised(prices: list[float], every: int, seconds: float) -> float:
    """Annualised realised volatility of the log returns between every `every`-th price, `seconds` apart."""
    rets = [math.log(b / a) for a, b in zip(prices[::every], prices[every::every], strict=False)]
    return _annual(sum(r * r for r in rets) / len(rets) / seconds)


def main_realvol(argv: list[str]) -> int:
    import argparse

    from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
    from fmz_compat.sim import create_world

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> None:  # one line, exit 2
            print(f"calibrate realvol: {message} (see --help)", file=sys.stderr)
            raise SystemExit(2)

    ap = _Parser(prog="python -m fmz_compat.sim.calibrate realvol")
    ap.add_argument("--start", default="2023-03-01", help="UTC date inside 2023-01-01..2024-06-30")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--coin", default="BTC", choices=("BTC", "ETH"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="all_exchanges.csv")
    ns = ap.parse_args(argv)
    if not ns.data.exists():
        print(f"data file {ns.data} not found; pass --data PATH to all_exchanges.csv", file=sys.stderr)
        return 2
    try:
        start_ms = int(datetime.fromisoformat(ns.start).replace(tzinfo=UTC).timestamp() * 1000)
    except ValueError:
        print(f"calibrate realvol: --start {ns.start!r} is not a date: use YYYY-MM-DD", file=sys.stderr)
        return 2
    end_ms = start_ms + ns.days * 86_400_000
    bars = [(ms, coins[ns.coin]) for ms, coins in binance_bars(ns.data)
            if start_ms + 28_800_000 <= ms <= end_ms]
    if len(bars) < 2:
        print(f"calibrate realvol: no 8-hour bars of {ns.coin} from {ns.start} over {ns.days} days: the data "
              "covers 2023-01-01..2024-07-01", file=sys.stderr)
        return 2
    pair = f"{ns.coin}_USDT"
    cfg = SimConfig(seed=ns.seed, start_ms=start_ms, symbols=(pair,), dated_prices=True,
                    bindings=(ExchangeBinding("Futures_Binance", pair),))
    clock = BacktestClock(start_ms * 1_000_000, (end_ms + 60_000) * 1_000_000)
    ex = create_world(cfg, clock, MemoryLog()).exchanges[0]
    first_ms = bars[0][0] - 28_800_000
    minutes: dict[int, float] = {}
    for minute in range((bars[-1][0] - start_ms) // 60_000 + 1):
        if minute:
            clock.sleep(60_000)
        minutes[start_ms + minute * 60_000] = ex.GetTicker(f"{pair}.swap").Last
    path = [minutes[ms] for ms in sorted(minutes) if ms >= first_ms]
    closes = [minutes[ms] for ms, _ in bars]
    real_closes = [c for _ms, (_h, _l, c) in bars]
    rng_var = statistics.fmean(math.log(h / lo) ** 2 / (4 * math.log(2)) for _ms, (h, lo, _c) in bars)
    in_bars = [path[i * 480:(i + 1) * 480 + 1] for i in range(len(bars))]  # the minute closes of each bar
    sim_rng = statistics.fmean(math.log(max(b) / min(b)) ** 2 / (4 * math.log(2)) for b in in_bars)
    print(f"{ns.coin} Binance perpetual, {len(bars)} 8-hour bars from {ns.start}, seed {ns.seed}: "
          "annualised volatility")
    print(f"  real      8h close-to-close {_realised(real_closes, 1, 28_800):.3f}  "
          f"8h range (Parkinson) {_annual(rng_var / 28_800):.3f}")
    print(f"  simulated 8h close-to-close {_realised(closes, 1, 28_800):.3f}  "
          f"8h range (Parkinson) {_annual(sim_rng / 28_800):.3f}  "
          f"1 min {_realised(path, 1, 60):.3f}  1 h {_realised(path, 60, 3600):.3f}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) > 1 and argv[1] == "books":
        return main_books(argv[2:])
    if len(argv) > 1 and argv[1] == "bars":
        return main_bars(argv[2:])
    if len(argv) > 1 and argv[1] == "realvol":
        return main_realvol(argv[2:])
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_DATA
    if not path.exists():
        print(f"data file {path} not found; pass the path to all_exchanges.csv", file=sys.stderr)
        return 2
    series = load(path)
    for pair in ("BTCUSDT", "ETHUSDT"):
        s = series[("binance", pair)]
        times = sorted(s)
        rets = [math.log(s[b][0] / s[a][0]) for a, b in zip(times, times[1:], strict=False)
                if (b - a).total_seconds() == 28800]
        vol8 = statistics.pstdev(rets)
        ann = vol8 * math.sqrt(3 * 365)
        # regimes: rolling 7-day (21-bar) vol quantiles
        roll = [statistics.pstdev(rets[i - 21:i]) for i in range(21, len(rets))]
        q = statistics.quantiles(roll, n=10)
        kurt = statistics.fmean([(r / vol8) ** 4 for r in rets])
        print(f"{pair} vol per 8h {vol8:.5f} annualised {ann:.3f}; rolling-7d vol p10 {q[0]:.5f} "
              f"p50 {q[4]:.5f} p90 {q[8]:.5f}; kurtosis {kurt:.1f}; n={len(rets)}")
        by, ok = series[("bybit", pair)], series[("okx", pair)]
        common = sorted(set(by) & set(ok))
        spread = [(by[t][0] / ok[t][0] - 1) * 1e4 for t in common]
        print(f"{pair} bybit-okx close spread bps: mean {statistics.fmean(spread):+.2f} std "
              f"{statistics.pstdev(spread):.2f} max|.| {max(abs(x) for x in spread):.1f} "
              f"lag1 autocorr {_autocorr(spread):.2f} n={len(spread)}")
        rates = {}
        for venue in ("binance", "bybit", "okx"):
            v = series[(venue, pair)]
            r = [v[t][1] for t in sorted(v) if v[t][1] is not None]
            rates[venue] = {t: v[t][1] for t in v if v[t][1] is not None}
            print(f"{pair} {venue} funding per 8h: mean {statistics.fmean(r) * 1e4:.3f} bps std "
                  f"{statistics.pstdev(r) * 1e4:.3f} bps lag1 autocorr {_autocorr(r):.2f} n={len(r)}")
        for a, b in (("binance", "bybit"), ("binance", "okx"), ("bybit", "okx")):
            ts = sorted(set(rates[a]) & set(rates[b]))
            d = [(rates[a][t] - rates[b][t]) * 1e4 for t in ts]
            print(f"{pair} funding diff {a}-{b}: mean {statistics.fmean(d):+.3f} bps std "
                  f"{statistics.pstdev(d):.3f} bps lag1 autocorr {_autocorr(d):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
