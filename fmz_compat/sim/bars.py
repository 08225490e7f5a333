"""K-line bars for GetRecords: 1-minute bars folded into any period, plus synthetic history.

Finished bars are aggregated incrementally (each 1-minute bar is read once per period), so a
strategy calling GetRecords every tick stays cheap. Before the window starts there is no simulated
path; bars there are a synthetic backward random walk from the start price with the coin's
volatility (deterministic per seed, market, symbol and period; not consistent across periods).
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

from fmz_compat.sim.params import stable_int, symbol_params

if TYPE_CHECKING:
    from fmz_compat.sim.market import Quote

Bar = tuple[int, float, float, float, float, float]  # time ms, open, high, low, close, volume


def _volume(q: Quote, h: float, lo: float, c: float) -> float:
    return round(q.depth_base * 2 * (1 + (h - lo) / max(c, 1e-12) * 1000), 6)


class BarSeries:
    """The bars of one quote at one period."""

    def __init__(self, q: Quote, period_s: int, start_ms: int, step_ms: int, seed: int) -> None:
        self.q = q
        self.minute_k = 60_000 // step_ms
        self.period_ms = period_s * 1000
        self.start_ms = start_ms
        self.step_ms = step_ms
        self.seed = seed
        self.consumed = 0
        self.done: list[Bar] = []
        self.cur: list[float] | None = None
        self.history: list[Bar] = []  # synthetic, newest first

    def _fold(self, cur: list[float] | None, k0: int, o: float, h: float, lo: float, c: float,
              finished: bool) -> list[float]:
        t = self.start_ms + k0 * self.step_ms
        start = t - t % self.period_ms
        vol = _volume(self.q, h, lo, c)
        if cur is None or cur[0] != start:
            if cur is not None and finished:
                self.done.append(tuple(cur))  # type: ignore[arg-type]
            return [start, o, h, lo, c, vol]
        cur[2] = max(cur[2], h)
        cur[3] = min(cur[3], lo)
        cur[4] = c
        cur[5] += vol
        return cur

    def bars(self, count: int) -> list[Bar]:
        """The newest `count` bars, the last one still forming."""
        q = self.q
        b = q.bars
        n = len(b) // 4
        for i in range(self.consumed, n):
            j = 4 * i
            self.cur = self._fold(self.cur, i * self.minute_k, b[j], b[j + 1], b[j + 2], b[j + 3],
                                  finished=True)
        self.consumed = n
        if len(self.done) > 20_000:
            del self.done[:-10_000]
        live = None if self.cur is None else list(self.cur)
        live = self._fold(live, q.bar_start_k, q.bar_open, max(q.bar_hi, q.hi), min(q.bar_lo, q.lo), q.price,
                          finished=False)
        if live is not None and self.cur is not None and live[0] != self.cur[0]:
            real = [*self.done[-count:], tuple(self.cur), tuple(live)]
        else:
            real = [*self.done[-count:], tuple(live)]
        real = real[-count:]
        missing = count - len(real)
        if missing > 0:
            first_time = int(real[0][0])
            return self._synthetic(missing, first_time, real[0][1]) + real  # type: ignore[return-value]
        return real  # type: ignore[return-value]

    def _synthetic(self, n: int, first_time: int, anchor: float) -> list[Bar]:
        """n bars ending just before `first_time`, oldest first; generation is prefix-stable."""
        if len(self.history) < n:
            rng = random.Random(stable_int(self.seed, self.q.market, self.q.pair, self.period_ms, "history"))
            sp = symbol_params(self.q.pair)
            sigma = sp.vol_8h * math.sqrt(self.period_ms / 28_800_000)
            out: list[Bar] = []
            close = anchor
            t = first_time
            for _ in range(n):
                t -= self.period_ms
                o = close * math.exp(-rng.gauss(0.0, sigma))
                h = max(o, close) * math.exp(abs(rng.gauss(0.0, sigma * 0.4)))
                lo = min(o, close) * math.exp(-abs(rng.gauss(0.0, sigma * 0.4)))
                out.append((t, o, h, lo, close, _volume(self.q, h, lo, close)))
                close = o
            self.history = out
        return list(reversed(self.history[:n]))
