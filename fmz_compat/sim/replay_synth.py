"""Small synthetic recordings in the replay format, for tests, benches and trying the replay.

Each venue quotes a seeded random walk with its own basis (in bps) around a common price; book
levels are one tick apart; a trade prints every few updates; funding is published once a minute.
`basis_from_ms` starts the bases at that time (flat before). `gaps` silences one venue for a
while (no lines at all, plus a `gap` marker), as a dropped websocket would.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

from fmz_compat.sim import params as P
from fmz_compat.sim.replay_format import Instrument, RecordingHeader, RecordingWriter

EIGHT_HOURS_MS = 28_800_000


@dataclass(frozen=True)
class Gap:
    venue: str
    from_ms: int
    until_ms: int


def write_synthetic(
    path: Path,
    *,
    venues: tuple[str, ...] = ("binance", "okx"),
    symbols: tuple[str, ...] = ("BTC_USDT",),
    start_ms: int = 1_719_792_000_000,
    seconds: int = 600,
    updates_per_s: int = 2,
    seed: int = 1,
    depth: int = 20,
    basis_bps: dict[str, float] | None = None,
    vol_bps_per_s: float = 1.0,
    funding_rate: float = 0.0001,
    gaps: tuple[Gap, ...] = (),
    latency_ms: int = 20,
    basis_from_ms: int | None = None,
) -> RecordingHeader:
    """Write a recording of `seconds` seconds and return its header."""
    rng = random.Random(seed)
    basis = basis_bps or {}
    instruments = {v: {s: _instrument(v, s) for s in symbols} for v in venues}
    end_ms = start_ms + seconds * 1000
    header = RecordingHeader(
        venues,
        symbols,
        start_ms,
        end_ms,
        f"synthetic (seed {seed})",
        depth,
        instruments,
        markets={v: symbols for v in venues},
    )
    price = {s: P.symbol_params(s).start_price for s in symbols}
    step_ms = 1000 // updates_per_s
    sigma = vol_bps_per_s * 1e-4 * math.sqrt(step_ms / 1000)
    next_funding = (start_ms // EIGHT_HOURS_MS + 1) * EIGHT_HOURS_MS
    with RecordingWriter(path, header) as w:
        silenced: set[str] = set()
        for i, t in enumerate(range(start_ms, end_ms, step_ms)):
            for s in symbols:
                price[s] *= math.exp(rng.gauss(0.0, sigma))
            for v in venues:
                in_gap = any(g.venue == v and g.from_ms <= t < g.until_ms for g in gaps)
                if in_gap:
                    if v not in silenced:
                        silenced.add(v)
                        w.gap(v, t, "websocket disconnected (synthetic)")
                    continue
                silenced.discard(v)
                for s in symbols:
                    tick = instruments[v][s].tick
                    bps = basis.get(v, 0.0) if basis_from_ms is None or t >= basis_from_ms else 0.0
                    mid = price[s] * (1 + bps * 1e-4)
                    bid = math.floor(mid / tick) * tick
                    ask = bid + tick
                    size = 50_000.0 / price[s]
                    bids = [[round(bid - j * tick, 8), round(size * (1 + j), 6)] for j in range(depth)]
                    asks = [[round(ask + j * tick, 8), round(size * (1 + j), 6)] for j in range(depth)]
                    ts = t - latency_ms
                    w.book(v, s, ts, t, bids, asks)
                    if i % 3 == 0:
                        side = "buy" if rng.random() < 0.5 else "sell"
                        price_hit = asks[0][0] if side == "buy" else bids[0][0]
                        w.trade(v, s, ts, t, price_hit, round(size / 100, 6), side)
                    if t % 60_000 < step_ms:
                        w.funding(v, s, ts, t, funding_rate, next_funding, EIGHT_HOURS_MS)
        w.close(end_ms)
    return header


def _instrument(venue: str, pair: str) -> Instrument:
    spec = P.contract_spec(venue, pair, True)
    return Instrument(spec.native, spec.tick, spec.amount_step, spec.ct_val, spec.min_qty, spec.min_notional)
