"""Price paths: a common fair price per coin on a fixed time grid, and one quote per venue market.

The fair price is a log random walk with Markov-switching volatility regimes and Poisson jumps.
Each venue market (perp, spot or inverse on one venue) adds a basis to it: a static offset, a slow
and a fast Ornstein-Uhlenbeck component (exact discretisation) and rare dislocations that decay.
Every series draws from its own RNG stream, keyed by (seed, coin) or (seed, coin, market), and is
stepped on every grid point, so the path does not depend on who reads it or how often.
"""

from __future__ import annotations

import bisect
import math
import random
from array import array

from fmz_compat.sim import params as P

EIGHT_HOURS_S = 28_800.0
INDEX_LEVEL = 1.0 + P.INDEX_OFFSET_BPS * 1e-4  # the spot index / fair price (its sources' noise averages out)
MARK_SPOT, MARK_MEDIAN, MARK_BASIS_MA, MARK_PREMIUM_MA, MARK_FUNDING_BASIS = range(5)
_MARK_KINDS = {"median": MARK_MEDIAN, "basis_ma": MARK_BASIS_MA, "premium_ma": MARK_PREMIUM_MA,
               "funding_basis": MARK_FUNDING_BASIS}


def slow_every(step_s: float) -> int:
    """How many grid steps between moves of the slow basis part (about one minute)."""
    return max(1, int(60.0 // step_s)) if step_s < 60.0 else 1


class Quote:
    """One instrument's price on one venue market: venue price, mark price, and chunk extremes."""

    __slots__ = (
        "market", "pair", "spec_tick", "prec", "half_spread_frac", "depth_base", "rng",
        "offset", "slow", "fast", "disloc", "a_slow", "s_slow", "a_fast", "s_fast",
        "p_disloc", "disloc_size", "a_disloc", "a_mark", "gauss", "next_disloc", "level", "salt",
        "ticks_per_unit", "volume_24h",
        "price", "mark", "hi", "lo", "mhi", "mlo", "net_base", "book", "bars",
        "bar_open", "bar_hi", "bar_lo", "bar_start_k", "funding", "hour_hi", "hour_lo",
        "hour_open", "hours", "day_hi", "day_lo", "day_open", "tk_hi", "tk_lo",
        "base_level", "shock_knots", "level_slope",
        "mark_kind", "ma_buf", "ma_i", "ma_sum", "ma_every",
    )

    def __init__(self, market: str, pair: str, sp: P.SymbolParams, offset_bps: float,
                 seed: int, step_s: float, fair: float, tick: float | None = None) -> None:
        self.market = market
        self.pair = pair
        tick = sp.tick if tick is None else tick
        self.spec_tick = tick
        self.prec = max(0, -int(math.floor(math.log10(tick) + 1e-9)))
        # ticks are powers of ten <= 1, so prices are integers of ticks divided by ticks_per_unit
        self.ticks_per_unit = round(1.0 / tick)
        if abs(self.ticks_per_unit * tick - 1.0) > 1e-9:
            raise ValueError(f"{pair}: tick {tick} must be a power of ten <= 1")
        self.half_spread_frac = sp.spread_bps * 1e-4 / 2.0
        self.depth_base = sp.depth_usdt / sp.start_price
        self.volume_24h = round(self.depth_base * 400, 3)  # synthetic, constant
        self.rng = random.Random(P.stable_int(seed, sp.base, market, pair, "basis"))
        self.offset = offset_bps * 1e-4
        # the slow part moves once a minute (it has a half-life of days): one draw less per step
        slow_dt = step_s * slow_every(step_s)
        self.a_slow = math.exp(-slow_dt * math.log(2) / P.SLOW_HALF_LIFE_S)
        self.s_slow = sp.slow_basis_bps * 1e-4 * math.sqrt(1 - self.a_slow ** 2)
        self.a_fast = math.exp(-step_s * math.log(2) / P.FAST_HALF_LIFE_S)
        self.s_fast = sp.fast_basis_bps * 1e-4 * math.sqrt(1 - self.a_fast ** 2)
        self.a_disloc = math.exp(-step_s * math.log(2) / P.DISLOCATION_HALF_LIFE_S)
        self.p_disloc = sp.dislocation_per_day * step_s / 86_400.0
        self.disloc_size = sp.dislocation_bps * 1e-4
        # start the OU parts in their stationary distribution
        self.slow = self.rng.gauss(0.0, sp.slow_basis_bps * 1e-4)
        self.fast = self.rng.gauss(0.0, sp.fast_basis_bps * 1e-4)
        self.disloc = 0.0
        self.gauss = self.rng.gauss
        self.salt = P.stable_int(seed, market, pair, "book") & 0xFFFFFFFF  # depth jitter per instrument
        self.level = 1.0 + self.offset
        self.base_level = self.level
        self.shock_knots: list[tuple[int, float]] = []  # scenario basis shock: (step, fraction of fair)
        self.level_slope = 0.0
        self.next_disloc = self.draw_next_dislocation(0)
        self.price = fair * (1.0 + self.offset + self.slow + self.fast)
        self.mark = self.price
        self.hi = self.lo = self.mhi = self.mlo = self.price
        self.net_base = 0.0  # signed position in base units held by all accounts (exposure stats)
        self.book = None     # (k, bids, asks) cache of the generated depth at step k
        # finished 1-minute bars, flat (open, high, low, close) x n: bar i starts at step i * minute_k
        self.bars = array("d")
        self.bar_open = self.bar_hi = self.bar_lo = self.price
        self.bar_start_k = 0
        # 24h ticker statistics: whole hours (<= 24) + bars of the current hour + the live bar
        self.hour_open = self.day_open = self.price
        self.hour_hi, self.hour_lo = -math.inf, math.inf
        self.day_hi, self.day_lo = -math.inf, math.inf
        self.hours: list[tuple[float, float, float]] = []  # (open, high, low) per whole hour
        self.tk_hi = self.tk_lo = self.price
        self.funding = None  # FundingState for perps
        self._init_mark(P.MARK_RULES[market.split(":")[0]], ":spot" in market, step_s, fair * INDEX_LEVEL)

    def _init_mark(self, rule: P.MarkRule, spot: bool, step_s: float, index: float) -> None:
        """The mark's moving-average buffer, filled with today's basis so the average is defined at once."""
        self.mark_kind = MARK_SPOT if spot else _MARK_KINDS[rule.kind]
        self.ma_every = max(1, round(rule.sample_s / step_s))
        window_s = rule.window_s or 8 * 3600.0  # the funding interval; the real one is set with the funding
        self.ma_buf = None
        self.ma_i = 0
        self.ma_sum = 0.0
        if self.mark_kind in (MARK_MEDIAN, MARK_BASIS_MA, MARK_PREMIUM_MA):
            self.resize_average(max(1, round(window_s / (self.ma_every * step_s))), index)
        self.mark = self.price
        self.mark = self.step_mark(index, 1)

    def resize_average(self, samples: int, index: float) -> None:
        """A moving average of `samples` samples, all equal to the current basis sample."""
        first = self._basis_sample(self.price, index)
        self.ma_buf = array("d", [first]) * samples
        self.ma_i = 0
        self.ma_sum = first * samples

    def _basis_sample(self, price: float, index: float) -> float:
        if self.mark_kind == MARK_PREMIUM_MA:  # CoinEx: the premium outside the (depth-weighted) spread
            hs = price * self.half_spread_frac
            return (max(0.0, price - hs - index) - max(0.0, index - price - hs)) / index
        return price - index  # mid - index: the simulated book is centred on the venue price

    def step_mark(self, index: float, k: int) -> float:
        """The venue's mark price at step k from the coin's spot index (params.MARK_RULES), sampling the
        basis average when due. Spot markets have no mark: their price."""
        kind = self.mark_kind
        p = self.price
        if kind == MARK_SPOT:
            return p
        buf = self.ma_buf
        if buf is not None:
            if k % self.ma_every == 0:
                x = p - index if kind != MARK_PREMIUM_MA else self._basis_sample(p, index)
                i = self.ma_i
                self.ma_sum += x - buf[i]
                buf[i] = x
                i += 1
                self.ma_i = 0 if i == len(buf) else i
            ma = self.ma_sum / len(buf)
            if kind == MARK_BASIS_MA:
                return index + ma
            if kind == MARK_PREMIUM_MA:
                return index * (1.0 + ma)
        f = self.funding
        if f is None:
            p1 = index
        elif kind == MARK_FUNDING_BASIS:
            return index * (1.0 + f.rate * (f.next_k - k) / f.interval_k)
        else:
            p1 = index * (1.0 + f.prev_rate * (f.next_k - k) / f.interval_k)
        if kind == MARK_FUNDING_BASIS:
            return p1
        p2 = index + ma
        if p1 > p2:
            p1, p2 = p2, p1
        return p1 if p < p1 else (p2 if p > p2 else p)

    def draw_next_dislocation(self, k: int) -> int:
        """Step of the next dislocation: geometric waiting time (one draw per event, not per step)."""
        if self.p_disloc <= 0.0:
            return -1
        u = self.rng.random()
        return k + 1 + int(math.log(1.0 - u) / math.log(1.0 - self.p_disloc))

    def reset_price_extremes(self) -> None:
        self.hi = self.lo = self.price

    def reset_mark_extremes(self) -> None:
        self.mhi = self.mlo = self.mark

    def best_bid_ask(self, price: float | None = None) -> tuple[float, float]:
        """Best bid and ask around the venue price (at least one tick apart), on the tick grid."""
        pt = (self.price if price is None else price) * self.ticks_per_unit
        half = pt * self.half_spread_frac
        if half < 0.5:
            half = 0.5
        bid = math.floor(pt - half + 1e-9)
        ask = math.ceil(pt + half - 1e-9)
        if ask <= bid:
            ask = bid + 1
        return bid / self.ticks_per_unit, ask / self.ticks_per_unit

    def on_tick(self, x: float) -> float:
        """x rounded to the tick grid (int / int division gives the nearest float to the decimal)."""
        return int(x * self.ticks_per_unit + 0.5) / self.ticks_per_unit


class CoinPath:
    """The fair price of one coin and the venue quotes that ride on it, stepped together."""

    def __init__(self, sp: P.SymbolParams, seed: int, step_ms: int) -> None:
        self.sp = sp
        self.step_s = step_ms / 1000.0
        self.slow_every = slow_every(self.step_s)  # steps between moves of the quotes' slow basis part
        self.rng = random.Random(P.stable_int(seed, sp.base, "fair"))
        jump_var_8h = sp.jump_per_day / 3.0 * sp.jump_std ** 2
        diff_var_8h = max(sp.vol_8h ** 2 - jump_var_8h, 0.3 * sp.vol_8h ** 2)
        mean_m2 = sum(w * m * m for w, m in zip(P.REGIME_WEIGHTS, P.REGIME_MULTS, strict=True))
        base_sigma = math.sqrt(diff_var_8h * self.step_s / EIGHT_HOURS_S / mean_m2)
        self.sigmas = tuple(base_sigma * m for m in P.REGIME_MULTS)
        self.p_switch = self.step_s / P.REGIME_STAY_S
        self.p_jump = sp.jump_per_day * self.step_s / 86_400.0
        self.regime = 1
        self.fair = sp.start_price
        self.index = self.fair * INDEX_LEVEL  # the venues' spot index (params.INDEX_OFFSET_BPS)
        self.k = 0
        self.quotes: list[Quote] = []
        self.exposure_on = False
        self.max_abs_exposure = 0.0
        self.max_exposure_k = 0
        # scenario shaping (fmz_compat/sim/scenarios.py); none by default, and then the path is untouched
        self.fair_segments: list[tuple[int, int, float]] = []  # (from step, to step, log drift per step)
        self.vol_windows: list[tuple[int, int, float]] = []  # (from step, to step, volatility multiplier)
        self.next_shape_k = -1  # next step at which the shaping state changes
        self.shaping = False
        self.drift = 0.0
        self.vol_mult = 1.0
        # real closes the fair price is pinned to: (step, log price, variance of the log price per 8 h)
        self.anchors: list[tuple[int, float, float]] = []
        self.bridge_k = -1  # the step of the anchor the current segment ends at (-1: no anchor ahead)
        self.bridge_log = 0.0
        self.bridge_sigma = 0.0  # per-step std of the diffusion in the current segment
        self.bridge_jump_std = 0.0

    def follow(self, anchors: list[tuple[int, float, float]]) -> None:
        """Pin the fair price to real closes: (step, log price, variance per 8 h) anchors
        (fmz_compat.sim.history). Between two anchors the path is a Brownian bridge: at each step the
        remaining distance to the next anchor is spread over the steps left, and the random part is
        scaled so that the price lands on the anchor exactly. Its variance per 8 h is the anchor's (the
        real bar's, measured from its range): jumps keep their rate and take at most half of it, the
        diffusion the rest, and the regime switching stays off (the real bars carry the regimes). So the
        realised volatility at any scale is the real bar's, not the simulator's on top of the real
        close-to-close move."""
        self.anchors = sorted(anchors)
        self._shape_state(self.k + 1)

    def add_quote(self, q: Quote) -> None:
        self.quotes.append(q)

    def shape(self, fair_knots: list[tuple[int, float]], vol_windows: list[tuple[int, int, float]],
              shocks: dict[str, list[tuple[int, float]]]) -> None:
        """Add a scenario: the fair price's log multiplier moves linearly between `fair_knots`
        (step, log multiplier relative to the path; starts and ends at 0 change from where it was),
        the random part of each step is scaled inside `vol_windows`, and each market in `shocks` trades
        at fair x (1 + offset + basis + shock), the shock linear between its knots (0 outside).
        Every knot must lie in the future; scenarios of one coin must not overlap."""
        for knots in (fair_knots, *shocks.values()):
            if any(k <= self.k for k, _ in knots) or [k for k, _ in knots] != sorted({k for k, _ in knots}):
                raise ValueError("scenario knots must be strictly increasing steps after the current one")
        segments = [(k0, k1, (v1 - v0) / (k1 - k0))
                    for (k0, v0), (k1, v1) in zip(fair_knots, fair_knots[1:], strict=False)]
        if segments and any(s0 < segments[-1][1] and segments[0][0] < s1 for s0, s1, _ in self.fair_segments):
            raise ValueError("scenarios on the same coin overlap; schedule them apart")
        self.fair_segments = sorted([*self.fair_segments, *segments])
        self.vol_windows = sorted([*self.vol_windows, *vol_windows])
        for q in self.quotes:
            if q.market in shocks:
                q.shock_knots = _join(q.shock_knots, shocks[q.market])
        self._shape_state(self.k + 1)

    def _shape_state(self, k: int, fair: float | None = None) -> None:
        """The shaping state from step k on (k is the next step to be taken), and the next change."""
        bounds: list[int] = []
        self.drift = 0.0
        for k0, k1, drift in self.fair_segments:
            if k0 < k <= k1:
                self.drift = drift
            bounds += [k0 + 1, k1 + 1]
        i = bisect.bisect_left(self.anchors, (k, -math.inf, -math.inf))
        self.bridge_k = -1
        if i < len(self.anchors):  # real closes to follow (follow()): a bridge to the next one
            self.bridge_k, self.bridge_log, var_8h = self.anchors[i]
            per_step = self.step_s / EIGHT_HOURS_S
            jump_var = self.sp.jump_per_day / 3.0 * self.sp.jump_std ** 2
            jump_share = min(jump_var, 0.5 * var_8h)
            self.bridge_jump_std = self.sp.jump_std * math.sqrt(jump_share / jump_var) if jump_var else 0.0
            self.bridge_sigma = math.sqrt((var_8h - jump_share) * per_step)
            bounds.append(self.bridge_k + 1)
        self.vol_mult = 1.0
        for k0, k1, mult in self.vol_windows:
            if k0 < k <= k1:
                self.vol_mult = mult
            bounds += [k0 + 1, k1 + 1]
        any_slope = False
        for q in self.quotes:
            if q.shock_knots:
                q.level_slope = _slope(q.shock_knots, k)
                q.level = q.base_level + _value(q.shock_knots, k - 1)
                any_slope = any_slope or q.level_slope != 0.0
                bounds += [kk + 1 for kk, _ in q.shock_knots]
        later = [b for b in bounds if b > k]
        self.next_shape_k = min(later) if later else -1
        self.shaping = self.drift != 0.0 or self.vol_mult != 1.0 or any_slope

    def refresh_exposure_flag(self) -> None:
        self.exposure_on = any(q.net_base != 0.0 for q in self.quotes)

    def advance(self, k_target: int) -> None:  # noqa: C901  (the per-step price loop: a call per step costs)
        """Step the fair price and every quote from self.k to k_target (inclusive of the end)."""
        n = k_target - self.k
        if n <= 0:
            return
        rng = self.rng
        rand = rng.random
        gauss = rng.gauss
        exp = math.exp
        sigmas = self.sigmas
        p_switch = self.p_switch
        p_jump = self.p_jump
        jump_std = self.sp.jump_std
        regime = self.regime
        fair = self.fair
        quotes = self.quotes
        track = self.exposure_on
        max_abs = self.max_abs_exposure
        max_k = self.max_exposure_k
        k = self.k
        weights = P.REGIME_WEIGHTS
        every = self.slow_every
        shaping = self.shaping
        bridge_k, bridge_log = self.bridge_k, self.bridge_log
        bridge_sigma, bridge_jump_std = self.bridge_sigma, self.bridge_jump_std
        log_fair = math.log(fair)
        sqrt = math.sqrt
        for _ in range(n):
            k += 1
            if k == self.next_shape_k:
                self._shape_state(k, fair)
                shaping = self.shaping
                bridge_k, bridge_log = self.bridge_k, self.bridge_log
                bridge_sigma, bridge_jump_std = self.bridge_sigma, self.bridge_jump_std
                log_fair = math.log(fair)
            if bridge_k >= k:  # pinned to a real close at step bridge_k (follow)
                x = gauss(0.0, bridge_sigma)
                if rand() < p_jump:
                    x += gauss(0.0, bridge_jump_std)
                if shaping:
                    x = x * self.vol_mult + self.drift
                    for q in quotes:
                        if q.level_slope:
                            q.level += q.level_slope
                left = bridge_k - k + 1
                log_fair += (bridge_log - log_fair) / left + x * sqrt(1.0 - 1.0 / left)
                fair = exp(log_fair)
            else:
                if rand() < p_switch:
                    u = rand()
                    regime = 0 if u < weights[0] else (1 if u < weights[0] + weights[1] else 2)
                x = gauss(0.0, sigmas[regime])
                if rand() < p_jump:
                    x += gauss(0.0, jump_std)
                if shaping:
                    x = x * self.vol_mult + self.drift
                    for q in quotes:
                        if q.level_slope:
                            q.level += q.level_slope
                fair *= exp(x)
            index = fair * INDEX_LEVEL
            net = 0.0
            move_slow = k % every == 0
            for q in quotes:
                g = q.gauss
                if move_slow:
                    q.slow = q.slow * q.a_slow + q.s_slow * g(0.0, 1.0)
                fast = q.fast * q.a_fast + q.s_fast * g(0.0, 1.0)
                q.fast = fast
                d = q.disloc
                if d:
                    d *= q.a_disloc
                    if -1e-7 < d < 1e-7:
                        d = 0.0
                if k == q.next_disloc:
                    u = q.rng.random()
                    d += q.disloc_size * (0.5 + u) * (1.0 if q.rng.random() < 0.5 else -1.0)
                    q.next_disloc = q.draw_next_dislocation(k)
                q.disloc = d
                p = fair * (q.level + q.slow + fast + d)
                q.price = p
                if p > q.hi:
                    q.hi = p
                elif p < q.lo:
                    q.lo = p
                m = q.step_mark(index, k)
                q.mark = m
                if m > q.mhi:
                    q.mhi = m
                elif m < q.mlo:
                    q.mlo = m
                if track:
                    net += q.net_base * p
            if track and abs(net) > abs(max_abs):
                max_abs = net
                max_k = k
        self.k = k
        self.regime = regime
        self.fair = fair
        self.index = fair * INDEX_LEVEL
        self.max_abs_exposure = max_abs
        self.max_exposure_k = max_k

    def close_bars(self, minute_k: int) -> None:
        """Fold the chunk extremes into 1-minute bars, hourly extremes and the 24h ticker stats."""
        minute_done = minute_k and self.k % minute_k == 0
        hour_done = minute_done and self.k % (60 * minute_k) == 0
        for q in self.quotes:
            if q.hi > q.bar_hi:
                q.bar_hi = q.hi
            if q.lo < q.bar_lo:
                q.bar_lo = q.lo
            if minute_done:
                q.bars.extend((q.bar_open, q.bar_hi, q.bar_lo, q.price))
                if q.bar_hi > q.hour_hi:
                    q.hour_hi = q.bar_hi
                if q.bar_lo < q.hour_lo:
                    q.hour_lo = q.bar_lo
                if hour_done:
                    q.hours.append((q.hour_open, q.hour_hi, q.hour_lo))
                    if len(q.hours) > 48:
                        del q.hours[:-24]
                    day = q.hours[-24:]
                    q.day_hi = max(h[1] for h in day)
                    q.day_lo = min(h[2] for h in day)
                    q.day_open = day[0][0]
                    q.hour_open = q.price
                    q.hour_hi, q.hour_lo = -math.inf, math.inf
                q.bar_open = q.bar_hi = q.bar_lo = q.price
                q.bar_start_k = self.k
            q.tk_hi = max(q.day_hi, q.hour_hi, q.bar_hi)
            q.tk_lo = min(q.day_lo, q.hour_lo, q.bar_lo)


def _join(old: list[tuple[int, float]], new: list[tuple[int, float]]) -> list[tuple[int, float]]:
    if old and new and new[0][0] <= old[-1][0] and old[0][0] <= new[-1][0]:
        raise ValueError("scenarios on the same coin or market overlap; schedule them apart")
    return sorted([*old, *new])


def _slope(knots: list[tuple[int, float]], k: int) -> float:
    """Per-step change of a piecewise-linear series at step k (the step from k-1 to k)."""
    for (k0, v0), (k1, v1) in zip(knots, knots[1:], strict=False):
        if k0 < k <= k1:
            return (v1 - v0) / (k1 - k0)
    return 0.0


def _value(knots: list[tuple[int, float]], k: int) -> float:
    """The piecewise-linear series at step k (0 before the first and after the last knot)."""
    for (k0, v0), (k1, v1) in zip(knots, knots[1:], strict=False):
        if k0 <= k <= k1:
            return v0 + (v1 - v0) * (k - k0) / (k1 - k0)
    return 0.0


class FundingState:
    """Funding of one perp quote: the rate of the next settlement and when it happens.

    `rate` is what the next settlement pays. Venues publish a predicted rate that converges to it
    over the interval (it is an average of the premium); `predicted(k)` moves linearly from the
    previous settlement's rate to `rate`, deterministically (no extra draws).
    """

    __slots__ = ("rng", "interval_k", "next_k", "rate", "idio", "mean", "idio_std", "idio_ar",
                 "cap", "scale", "common", "interval_ms", "prev_rate")

    def __init__(self, venue: P.VenueSpec, sp: P.SymbolParams, common: CommonFunding, seed: int,
                 market: str, pair: str, start_ms: int, step_ms: int, hours: int) -> None:
        self.rng = random.Random(P.stable_int(seed, sp.base, market, pair, "funding"))
        self.interval_ms = hours * 3_600_000
        self.interval_k = self.interval_ms // step_ms
        offset_ms = (venue.funding_offset_h % hours) * 3_600_000
        first_ms = ((start_ms - offset_ms) // self.interval_ms + 1) * self.interval_ms + offset_ms
        self.next_k = (first_ms - start_ms) // step_ms
        self.scale = hours / 8.0
        self.mean = venue.funding_mean_bps * 1e-4 * sp.funding_mult
        self.idio_std = venue.funding_idio_bps * 1e-4 * sp.funding_mult
        self.idio_ar = venue.funding_idio_ar
        self.cap = venue.funding_cap
        self.common = common
        self.idio = self.rng.gauss(0.0, self.idio_std)
        self.rate = 0.0
        self._set_rate(start_ms)
        self.prev_rate = max(-self.cap, min(self.cap, self.mean * self.scale))

    def predicted(self, k: int) -> float:
        left = (self.next_k - k) / self.interval_k
        left = 0.0 if left < 0.0 else (1.0 if left > 1.0 else left)
        return self.rate + (self.prev_rate - self.rate) * left

    def _set_rate(self, at_ms: int) -> None:
        r = (self.mean + self.common.value_at(at_ms) + self.idio) * self.scale
        self.rate = max(-self.cap, min(self.cap, r))

    def roll(self, settled_ms: int) -> None:
        """After a settlement: draw the rate of the next one."""
        a = self.idio_ar ** self.scale
        self.idio = self.idio * a + self.idio_std * math.sqrt(1 - a * a) * self.rng.gauss(0.0, 1.0)
        self.next_k += self.interval_k
        self.prev_rate = self.rate
        self._set_rate(settled_ms)


class CommonFunding:
    """The part of funding all venues share for one coin: AR(1) on the 8-hour grid."""

    def __init__(self, sp: P.SymbolParams, seed: int) -> None:
        self.rng = random.Random(P.stable_int(seed, sp.base, "funding-common"))
        self.std = sp.funding_common_bps * 1e-4 * sp.funding_mult
        self.values = [self.rng.gauss(0.0, self.std)]
        self.origin_8h: int | None = None

    def value_at(self, at_ms: int) -> float:
        idx8 = at_ms // 28_800_000
        if self.origin_8h is None:
            self.origin_8h = idx8
        i = max(0, idx8 - self.origin_8h)
        a = P.FUNDING_COMMON_AR
        s = self.std * math.sqrt(1 - a * a)
        while len(self.values) <= i:
            self.values.append(self.values[-1] * a + s * self.rng.gauss(0.0, 1.0))
        return self.values[i]
