"""Real price levels for the simulator: the market a strategy sees sits where the real one was on the
window's date, not at one synthetic level whatever the window.

Two sources, both real data:
  * BTC and ETH, 2023-01-01 -> 2024-07-01: 8-hour bars of Binance's BTCUSDT/ETHUSDT perpetuals
    (data/btc_eth_8h_bars.csv, written by `python -m fmz_compat.sim.calibrate bars` from
    ../shared/data/xex_8h_perps_2023_2024/all_exchanges.csv, MIT, see data/LICENSE.btc_eth_8h_bars;
    times converted from Europe/London to UTC, each bar stamped at its close). Inside that range the fair
    price is a Brownian bridge from close to close (market.CoinPath.follow): it is at the real close at
    every close time, and its variance between two closes is the one the real bar's high-low range
    measures (Parkinson), so the realised volatility at any scale is the real one, not added to it.
  * MONTH_END_CLOSES: month-end daily closes (Yahoo Finance, USD, from the public repository
    ANDREWLWZ/Cryptocurrency-Dashboard at commit 921285e, files BTC-USD.csv ... ADA-USD.csv: the last
    daily close of each full month) for BTC, ETH, XRP, BNB (2018-04 -> 2023-03) and ADA
    (2022-04 -> 2023-03). Elsewhere inside that range the start level is interpolated between the two
    month-ends around the window's start; the path is the simulator's own from there.
Any other coin or date keeps the simulator's synthetic level (params.symbol_params); `describe` says
which source each coin of a run got.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA_8H = Path(__file__).resolve().parent / "data" / "btc_eth_8h_bars.csv"
EIGHT_HOURS_MS = 8 * 3_600_000

MONTH_END_CLOSES: dict[str, dict[str, float]] = {
    "BTC": {
        "2018-04": 9240.5, "2018-05": 7494.2, "2018-06": 6404.0, "2018-07": 7780.4,
        "2018-08": 7037.6, "2018-09": 6625.6, "2018-10": 6317.6, "2018-11": 4017.3,
        "2018-12": 3742.7, "2019-01": 3457.8, "2019-02": 3854.8, "2019-03": 4105.4,
        "2019-04": 5350.7, "2019-05": 8574.5, "2019-06": 10817, "2019-07": 10086,
        "2019-08": 9630.7, "2019-09": 8293.9, "2019-10": 9199.6, "2019-11": 7569.6,
        "2019-12": 7193.6, "2020-01": 9350.5, "2020-02": 8599.5, "2020-03": 6438.6,
        "2020-04": 8658.6, "2020-05": 9461.1, "2020-06": 9138.0, "2020-07": 11323,
        "2020-08": 11681, "2020-09": 10784, "2020-10": 13781, "2020-11": 19626,
        "2020-12": 29002, "2021-01": 33114, "2021-02": 45138, "2021-03": 58919,
        "2021-04": 57750, "2021-05": 37333, "2021-06": 35041, "2021-07": 41626,
        "2021-08": 47167, "2021-09": 43791, "2021-10": 61319, "2021-11": 57005,
        "2021-12": 46306, "2022-01": 38483, "2022-02": 43193, "2022-03": 45539,
        "2022-04": 37715, "2022-05": 31792, "2022-06": 19785, "2022-07": 23337,
        "2022-08": 20050, "2022-09": 19432, "2022-10": 20496, "2022-11": 17169,
        "2022-12": 16547, "2023-01": 23139, "2023-02": 23147, "2023-03": 28478,
    },
    "ETH": {
        "2018-04": 669.9, "2018-05": 577.6, "2018-06": 455.2, "2018-07": 433.9,
        "2018-08": 283.0, "2018-09": 232.8, "2018-10": 197.4, "2018-11": 113.2,
        "2018-12": 133.4, "2019-01": 107.1, "2019-02": 136.7, "2019-03": 141.5,
        "2019-04": 162.2, "2019-05": 268.1, "2019-06": 290.7, "2019-07": 218.7,
        "2019-08": 172.5, "2019-09": 179.9, "2019-10": 184.0, "2019-11": 152.5,
        "2019-12": 129.6, "2020-01": 180.2, "2020-02": 219.8, "2020-03": 133.6,
        "2020-04": 207.6, "2020-05": 231.0, "2020-06": 226.3, "2020-07": 345.6,
        "2020-08": 435.1, "2020-09": 359.9, "2020-10": 386.6, "2020-11": 614.8,
        "2020-12": 737.8, "2021-01": 1315.0, "2021-02": 1416.0, "2021-03": 1918.4,
        "2021-04": 2773.2, "2021-05": 2714.9, "2021-06": 2274.5, "2021-07": 2536.2,
        "2021-08": 3433.7, "2021-09": 3001.7, "2021-10": 4288.1, "2021-11": 4631.5,
        "2021-12": 3682.6, "2022-01": 2688.3, "2022-02": 2919.2, "2022-03": 3281.6,
        "2022-04": 2730.2, "2022-05": 1942.3, "2022-06": 1067.3, "2022-07": 1681.5,
        "2022-08": 1553.7, "2022-09": 1328.0, "2022-10": 1572.7, "2022-11": 1295.7,
        "2022-12": 1196.8, "2023-01": 1586.5, "2023-02": 1605.9, "2023-03": 1822.0,
    },
    "XRP": {
        "2018-04": 0.837938, "2018-05": 0.612622, "2018-06": 0.466245, "2018-07": 0.435225,
        "2018-08": 0.335332, "2018-09": 0.581572, "2018-10": 0.448382, "2018-11": 0.362455,
        "2018-12": 0.352706, "2019-01": 0.310036, "2019-02": 0.315078, "2019-03": 0.309229,
        "2019-04": 0.309476, "2019-05": 0.438574, "2019-06": 0.396411, "2019-07": 0.320909,
        "2019-08": 0.259204, "2019-09": 0.255933, "2019-10": 0.296358, "2019-11": 0.226474,
        "2019-12": 0.192894, "2020-01": 0.239233, "2020-02": 0.231193, "2020-03": 0.174563,
        "2020-04": 0.212761, "2020-05": 0.202906, "2020-06": 0.17587, "2020-07": 0.258904,
        "2020-08": 0.281766, "2020-09": 0.241784, "2020-10": 0.239744, "2020-11": 0.664337,
        "2020-12": 0.219846, "2021-01": 0.492314, "2021-02": 0.414953, "2021-03": 0.573869,
        "2021-04": 1.59167, "2021-05": 1.04658, "2021-06": 0.706374, "2021-07": 0.747786,
        "2021-08": 1.18759, "2021-09": 0.952636, "2021-10": 1.11325, "2021-11": 0.998754,
        "2021-12": 0.831163, "2022-01": 0.619149, "2022-02": 0.782044, "2022-03": 0.814564,
        "2022-04": 0.587091, "2022-05": 0.421867, "2022-06": 0.331448, "2022-07": 0.380458,
        "2022-08": 0.32787, "2022-09": 0.479774, "2022-10": 0.465915, "2022-11": 0.408743,
        "2022-12": 0.339929, "2023-01": 0.406389, "2023-02": 0.37715, "2023-03": 0.538492,
    },
    "BNB": {
        "2018-04": 14.31, "2018-05": 14.19, "2018-06": 14.66, "2018-07": 13.78,
        "2018-08": 11.01, "2018-09": 10.02, "2018-10": 9.36496, "2018-11": 5.07857,
        "2018-12": 6.16473, "2019-01": 6.26844, "2019-02": 10.37, "2019-03": 17.4,
        "2019-04": 22.13, "2019-05": 32.75, "2019-06": 32.44, "2019-07": 27.64,
        "2019-08": 21.27, "2019-09": 15.86, "2019-10": 20, "2019-11": 15.72,
        "2019-12": 13.73, "2020-01": 18.21, "2020-02": 19.58, "2020-03": 12.58,
        "2020-04": 17.03, "2020-05": 17.04, "2020-06": 15.41, "2020-07": 20.67,
        "2020-08": 23.19, "2020-09": 29.29, "2020-10": 28.43, "2020-11": 31.39,
        "2020-12": 37.38, "2021-01": 44.28, "2021-02": 209.6, "2021-03": 302.1,
        "2021-04": 624.1, "2021-05": 354.3, "2021-06": 303.3, "2021-07": 333.5,
        "2021-08": 464.4, "2021-09": 387.1, "2021-10": 524.4, "2021-11": 622.7,
        "2021-12": 511.7, "2022-01": 375.3, "2022-02": 395.6, "2022-03": 428.9,
        "2022-04": 377.8, "2022-05": 320.5, "2022-06": 219.3, "2022-07": 283.6,
        "2022-08": 279.2, "2022-09": 284.2, "2022-10": 326.4, "2022-11": 300.8,
        "2022-12": 246.3, "2023-01": 312.4, "2023-02": 301.5, "2023-03": 317.0,
    },
    "ADA": {
        "2022-04": 0.75666, "2022-05": 0.625254, "2022-06": 0.458849, "2022-07": 0.51702,
        "2022-08": 0.446665, "2022-09": 0.434414, "2022-10": 0.406336, "2022-11": 0.318883,
        "2022-12": 0.246466, "2023-01": 0.390926, "2023-02": 0.352454, "2023-03": 0.398923,
    },
}


@dataclass(frozen=True)
class PriceLevel:
    """Where a coin's fair price starts, and the real closes it follows (step-free: epoch ms)."""

    price: float
    source: str
    # (epoch ms, close, variance of the log price per 8 hours until that close) after the start, while covered
    anchors: tuple[tuple[int, float, float], ...] = ()


def parkinson_variance(high: float, low: float) -> float:
    """The variance of the log price over a bar, estimated from its range (Parkinson 1980):
    ln(high / low)^2 / (4 ln 2)."""
    return math.log(high / low) ** 2 / (4.0 * math.log(2.0))


@cache
def _eight_hour_bars() -> dict[str, tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]]:
    """Per coin: close times (UTC ms), closes, and each bar's variance per 8 hours (from its range)."""
    times: list[int] = []
    closes: dict[str, list[float]] = {"BTC": [], "ETH": []}
    variances: dict[str, list[float]] = {"BTC": [], "ETH": []}
    with DATA_8H.open(encoding="utf-8") as f:
        next(f)
        for line in f:
            ms, *fields = line.strip().split(",")
            times.append(int(ms))
            for i, coin in enumerate(("BTC", "ETH")):
                high, low, close = map(float, fields[3 * i:3 * i + 3])
                closes[coin].append(close)
                variances[coin].append(parkinson_variance(high, low))
    return {coin: (tuple(times), tuple(closes[coin]), tuple(variances[coin])) for coin in closes}


def _interpolated(times: tuple[int, ...], values: tuple[float, ...], ms: int) -> float:
    i = bisect.bisect_left(times, ms)
    if i < len(times) and times[i] == ms:
        return values[i]
    t0, t1, v0, v1 = times[i - 1], times[i], values[i - 1], values[i]
    return math.exp(math.log(v0) + (math.log(v1) - math.log(v0)) * (ms - t0) / (t1 - t0))


def _month_end_ms(month: str) -> int:
    year, mon = map(int, month.split("-"))
    first_next = _dt.datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=_dt.UTC)
    return int(first_next.timestamp() * 1000) - 1


def _from_month_ends(base: str, start_ms: int) -> PriceLevel | None:
    table = MONTH_END_CLOSES.get(base)
    if not table:
        return None
    months = sorted(table)
    times = tuple(_month_end_ms(m) for m in months)
    if not times[0] <= start_ms <= times[-1]:
        return None
    price = _interpolated(times, tuple(table[m] for m in months), start_ms)
    return PriceLevel(price, "month-end closes (Yahoo Finance, ANDREWLWZ/Cryptocurrency-Dashboard@921285e)")


def level_at(base: str, start_ms: int, end_ms: int) -> PriceLevel | None:
    """The real level of `base` at `start_ms` and the 8-hour closes to follow until `end_ms`, or None
    when no real data covers the date (the synthetic level stays)."""
    base = base.upper()
    series = _eight_hour_bars().get(base)
    if series is not None and series[0][0] <= start_ms < series[0][-1]:
        times, values, variances = series
        first = bisect.bisect_right(times, start_ms)
        last = bisect.bisect_left(times, end_ms) + 1
        anchors = tuple(zip(times[first:last], values[first:last], variances[first:last], strict=True))
        source = "Binance perpetual 8-hour bars (fmz_compat/sim/data, from xex_8h_perps_2023_2024)"
        return PriceLevel(_interpolated(times, values, start_ms), source, anchors)
    return _from_month_ends(base, start_ms)


def describe(levels: dict[str, PriceLevel | None]) -> list[str]:
    """One line per coin: which real source sets its price, or that it stays synthetic."""
    lines = []
    for base, level in sorted(levels.items()):
        if level is None:
            lines.append(f"prices  {base}: synthetic level (no real data for this date)")
        else:
            follows = f", following {len(level.anchors)} 8-hour closes" if level.anchors else ""
            lines.append(f"prices  {base}: starts at {level.price:,.6g} from {level.source}{follows}")
    return lines
