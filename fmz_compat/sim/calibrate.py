"""Derive the simulator's default market parameters from the real data in ../shared/data.

Run: `python -m fmz_compat.sim.calibrate [DATA_DIR]`. Prints the figures docs/simulator.md quotes;
`params.py` holds the rounded results, so a run never needs the data files.
"""

from __future__ import annotations

import csv
import math
import statistics
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
UTC = ZoneInfo("UTC")
DEFAULT_DATA = Path("/work/shared/data/xex_8h_perps_2023_2024/all_exchanges.csv")


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


def main(argv: list[str]) -> int:
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
