"""FMZ's `TA` indicator library in pure Python (no numpy, no TA-Lib).

Every function takes records (list of Record structs) or a flat list of numbers and returns lists
the same length as the input; values before the indicator has enough data are None, as FMZ's are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Series = list[float | None]


def _values(data: Sequence[Any], attr: str = "Close") -> list[float]:
    if len(data) == 0:  # a numpy column (records.Close) has no truth value
        return []
    first = data[0]
    if isinstance(first, dict):
        return [float(r[attr]) for r in data]
    return [float(v) for v in data]


def _sma(values: Sequence[float | None], n: int) -> Series:
    out: Series = [None] * len(values)
    window: list[float] = []
    for i, v in enumerate(values):
        if v is None:
            window.clear()
            continue
        window.append(v)
        if len(window) > n:
            window.pop(0)
        if len(window) == n:
            out[i] = sum(window) / n
    return out


def _ema(values: Sequence[float | None], n: int) -> Series:
    out: Series = [None] * len(values)
    k = 2.0 / (n + 1)
    prev: float | None = None
    seen: list[float] = []
    for i, v in enumerate(values):
        if v is None:
            continue
        if prev is None:
            seen.append(v)
            if len(seen) == n:
                prev = sum(seen) / n
                out[i] = prev
            continue
        prev = v * k + prev * (1 - k)
        out[i] = prev
    return out


class TA:
    """Namespace object injected as the global `TA`."""

    @staticmethod
    def MA(data: Sequence[Any], period: int = 9) -> Series:
        return _sma(_values(data), period)

    SMA = MA

    @staticmethod
    def EMA(data: Sequence[Any], period: int = 9) -> Series:
        return _ema(_values(data), period)

    @staticmethod
    def MACD(data: Sequence[Any], fast: int = 12, slow: int = 26, signal: int = 9) -> list[Series]:
        closes = _values(data)
        fast_ema, slow_ema = _ema(closes, fast), _ema(closes, slow)
        dif: Series = [f - s if f is not None and s is not None else None
                       for f, s in zip(fast_ema, slow_ema, strict=True)]
        dea = _ema(dif, signal)
        hist: Series = [(d - e) * 2 if d is not None and e is not None else None
                        for d, e in zip(dif, dea, strict=True)]
        return [dif, dea, hist]

    @staticmethod
    def BOLL(data: Sequence[Any], period: int = 20, multiplier: float = 2) -> list[Series]:
        closes = _values(data)
        mid = _sma(closes, period)
        up: Series = [None] * len(closes)
        low: Series = [None] * len(closes)
        for i, m in enumerate(mid):
            if m is None:
                continue
            window = closes[i - period + 1:i + 1]
            sd = (sum((c - m) ** 2 for c in window) / period) ** 0.5
            up[i], low[i] = m + multiplier * sd, m - multiplier * sd
        return [up, mid, low]

    @staticmethod
    def KDJ(records: Sequence[Any], n: int = 9, k_period: int = 3, d_period: int = 3) -> list[Series]:
        highs, lows, closes = _values(records, "High"), _values(records, "Low"), _values(records, "Close")
        size = len(closes)
        ks: Series = [None] * size
        ds: Series = [None] * size
        js: Series = [None] * size
        k_prev, d_prev = 50.0, 50.0
        for i in range(size):
            if i < n - 1:
                continue
            hh, ll = max(highs[i - n + 1:i + 1]), min(lows[i - n + 1:i + 1])
            rsv = 100.0 * (closes[i] - ll) / (hh - ll) if hh != ll else 50.0
            k_prev = (k_prev * (k_period - 1) + rsv) / k_period
            d_prev = (d_prev * (d_period - 1) + k_prev) / d_period
            ks[i], ds[i], js[i] = k_prev, d_prev, 3 * k_prev - 2 * d_prev
        return [ks, ds, js]

    @staticmethod
    def RSI(data: Sequence[Any], period: int = 14) -> Series:
        closes = _values(data)
        out: Series = [None] * len(closes)
        if len(closes) <= period:
            return out
        gains = [max(closes[i] - closes[i - 1], 0.0) for i in range(1, len(closes))]
        losses = [max(closes[i - 1] - closes[i], 0.0) for i in range(1, len(closes))]
        avg_gain, avg_loss = sum(gains[:period]) / period, sum(losses[:period]) / period
        for i in range(period, len(closes)):
            if i > period:
                avg_gain = (avg_gain * (period - 1) + gains[i - 1]) / period
                avg_loss = (avg_loss * (period - 1) + losses[i - 1]) / period
            out[i] = 100.0 if avg_loss == 0 else 100.0 - 100.0 / (1 + avg_gain / avg_loss)
        return out

    @staticmethod
    def ATR(records: Sequence[Any], period: int = 14) -> Series:
        highs, lows, closes = _values(records, "High"), _values(records, "Low"), _values(records, "Close")
        out: Series = [None] * len(closes)
        trs = [highs[0] - lows[0]] if closes else []
        for i in range(1, len(closes)):
            trs.append(max(highs[i] - lows[i], abs(highs[i] - closes[i - 1]), abs(lows[i] - closes[i - 1])))
        atr: float | None = None
        for i, tr in enumerate(trs):
            if i == period - 1:
                atr = sum(trs[:period]) / period
            elif atr is not None:
                atr = (atr * (period - 1) + tr) / period
            out[i] = atr
        return out

    # FMZ syntax guide, TA.Highest / TA.Lowest: the extreme "in the last certain period, excluding the
    # current Bar" (the last element); period 0: every bar passed in (but the current one)
    @staticmethod
    def Highest(data: Sequence[Any], period: int = 0, attr: str = "High") -> float:
        values = _values(data, attr) if data and isinstance(data[0], dict) else _values(data)
        window = values[-period - 1:-1] if period > 0 else values[:-1]
        return max(window) if window else 0.0

    @staticmethod
    def Lowest(data: Sequence[Any], period: int = 0, attr: str = "Low") -> float:
        values = _values(data, attr) if data and isinstance(data[0], dict) else _values(data)
        window = values[-period - 1:-1] if period > 0 else values[:-1]
        return min(window) if window else 0.0
