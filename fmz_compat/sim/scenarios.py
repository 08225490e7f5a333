"""Chaos scenarios for the simulator: market crashes and pumps, venue outages, faults, process kills.

A `ChaosSchedule` is generated from a seed (`generate`) and applied to a world before the run
(`ChaosSchedule.apply`): price moves become fair-price paths with per-venue basis shocks
(`CoinPath.shape`), faults become scheduled windows (`SimWorld.schedule`). Process kills are part of
the schedule but carried out by the caller (tools/chaos.py), which owns the strategy process.

Where the move sizes come from (docs/simulator.md, "Scenarios"): the four historical events are
outside our data (../shared/data covers 2023-01..2024-07); their shapes follow public daily price
history of BTC, rounded. The pump and the scale of the largest 8h moves come from the data.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from fmz_compat.sim import params as P

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
DAY_MS = 86_400_000


@dataclass(frozen=True)
class MoveShape:
    """A price move: the fair price multiplier at hours from its start, linear in log between knots."""

    name: str
    knots: tuple[tuple[float, float], ...]  # (hours from start, price / price at start)
    vol_mult: float  # the random part of each step is scaled by this during the move
    stress: tuple[float, float, float]  # venue basis shocks: start, peak, end (hours from start)
    basis_pct: float  # largest per-venue basis shock at the peak, % of the fair price
    source: str

    @property
    def hours(self) -> float:
        return self.knots[-1][0]


SHAPES: dict[str, MoveShape] = {s.name: s for s in (
    MoveShape("crash_2020_03_12", ((0, 1.0), (6, 0.93), (11, 0.86), (14, 0.70), (17, 0.73), (22, 0.62),
                                   (24, 0.60), (30, 0.66), (36, 0.65)),
              vol_mult=3.0, stress=(10, 22, 30), basis_pct=4.0,
              source="BTC 2020-03-12: about 7,900 -> 4,800 USD (-40 %) within the UTC day, two legs, "
                     "partial rebound on the 13th; perp venues several % apart at the low (public price "
                     "history, rounded)"),
    MoveShape("crash_2021_05_19", ((0, 1.0), (4, 0.95), (6, 0.90), (8, 0.70), (10, 0.78), (16, 0.86),
                                   (24, 0.86)),
              vol_mult=3.0, stress=(5, 8, 14), basis_pct=3.0,
              source="BTC 2021-05-19: about 43,000 -> 30,000 USD intraday (-30 %), most of it in two "
                     "hours, back to about 37,000 by the close (public price history, rounded)"),
    MoveShape("luna_week_2022_05", ((0, 1.0), (24, 0.93), (72, 0.85), (96, 0.80), (120, 0.72),
                                    (144, 0.67), (156, 0.72), (168, 0.74)),
              vol_mult=2.0, stress=(90, 144, 160), basis_pct=2.0,
              source="BTC 2022-05-05..12 (LUNA/UST collapse): about 39,700 -> 26,700 USD (-33 %) over "
                     "a week, rebound to about 29,000 (public price history, rounded)"),
    MoveShape("ftx_week_2022_11", ((0, 1.0), (48, 0.97), (60, 0.88), (72, 0.85), (80, 0.75), (96, 0.78),
                                   (120, 0.77), (168, 0.79)),
              vol_mult=2.0, stress=(56, 80, 100), basis_pct=2.0,
              source="BTC 2022-11-06..13 (FTX): about 21,300 -> 15,700 USD (-26 %), most of it on the "
                     "8th and 9th (public price history, rounded)"),
    MoveShape("pump_2023_03_13", ((0, 1.0), (6, 1.05), (10, 1.15), (14, 1.20), (24, 1.17)),
              vol_mult=2.5, stress=(6, 12, 18), basis_pct=1.5,
              source="largest 24h rises in ../shared/data (Binance 8h closes): BTC +18 % to "
                     "2023-03-13 08:00 UTC, ETH +21 % to 2024-05-21; largest 8h bar open->low there: "
                     "BTC -12 % (2023-08-17), ETH -15 % (2024-03-05)"),
)}

# log-move multiplier per coin: ETH fell more than BTC in each of these events, alts more still
COIN_SCALE = {"BTC": 1.0, "ETH": 1.25}
ALT_SCALE = 1.5

# fault kind -> (windows per venue per day, shortest, longest) in ms; durations log-uniform
FAULT_RATES: dict[str, tuple[float, int, int]] = {
    "down": (0.25, 2 * MINUTE_MS, 4 * HOUR_MS),
    "refuse_orders": (1.0, MINUTE_MS, 10 * MINUTE_MS),
    "timeout_after_accept": (1.0, 30_000, 5 * MINUTE_MS),
    "partial_fill": (1.0, 5 * MINUTE_MS, 30 * MINUTE_MS),
    "rate_limit": (2.0, 10_000, 2 * MINUTE_MS),
    "stale_market": (1.0, 30_000, 10 * MINUTE_MS),
}
# issue #17's fault kinds, drawn from their own stream (a seed's earlier schedule is kept as it was)
HARSH_FAULT_RATES: dict[str, tuple[float, int, int]] = {
    "timeout_lands_late": (1.0, 30_000, 5 * MINUTE_MS),
    "purge_orders": (0.5, 10 * MINUTE_MS, 2 * HOUR_MS),
    "history_down": (1.0, 2 * MINUTE_MS, 30 * MINUTE_MS),  # deposit/withdrawal histories answer HTTP 503
}
# the venues' wallets refusing or losing answers while the treasury moves margin (issue #17 sequence 3 (b)),
# from a stream of their own: a withdrawal carried out whose answer is lost, and withdrawals refused
WALLET_FAULT_RATES: dict[str, tuple[float, int, int]] = {
    "withdraw_answer_lost": (1.0, 30 * MINUTE_MS, 4 * HOUR_MS),
    "withdrawals_suspended": (0.3, 10 * MINUTE_MS, 2 * HOUR_MS),
}
# venues refusing orders with a definite answer (margin insufficient: the runtime tells the outcome, nothing
# lands later), as refuse_orders' windows are drawn, from a stream of their own (issue #17: the refusal a
# loose leg is re-hedged at once after, hedge/rehedge.py Rehedger.refused_close, reached in the chaos run)
DEFINITE_REFUSAL_RATE: tuple[float, int, int] = (1.0, MINUTE_MS, 10 * MINUTE_MS)
# refusals aimed where stops, loose-leg closes and re-hedges are sent (issue #17: drawn at random times, six
# 2-day runs met a refusal on orders once, never on a close or a stop), from a stream of their own: inside
# every move's stress AIMED_PER_MOVE refuse_definite windows (AIMED_MS long), each on a venue of its own draw;
# and with every outage ("down"), a refuse_definite and a timeout_lands_late window on other venues than the
# one down, each starting within AIMED_OUTAGE_LEAD_MS of the outage's start (where the loose leg of an
# execution the outage split is cut, and a leg held on the venue that is out is re-hedged elsewhere); and with
# every ADL a refuse_definite window on each other venue, starting up to AIMED_ADL_LEAD_MS before it (the
# hedges of the legs the ADL took are loose there and closed at once: chaos seed 1, 2 days, sent 13 loose
# closes, default, and 35, tight, within a second of the move's ADL, and no refusal met any of them)
AIMED_PER_MOVE = 3
AIMED_MS = (2 * MINUTE_MS, 15 * MINUTE_MS)
AIMED_OUTAGE_LEAD_MS = 5 * MINUTE_MS
AIMED_OUTAGE_KINDS = ("refuse_definite", "timeout_lands_late")
AIMED_ADL_LEAD_MS = MINUTE_MS
# the FMZ docker forwarding no client order id for a while (windows per venue per day, shortest, longest),
# from a stream of its own; inside each, answers lost after the venue accepted (CLIENT_ID_TIMEOUT_MS), so an
# order lands without our client id and only its shape finds it (hedge.execution Executor._unclaimed_match)
DROPS_CLIENT_ID_RATE: tuple[float, int, int] = (0.3, 10 * MINUTE_MS, 2 * HOUR_MS)
CLIENT_ID_TIMEOUT_MS = (MINUTE_MS, 10 * MINUTE_MS)
ADL_PER_DAY = 0.2  # per run, on a random venue, besides the one at every move's extreme
ADL_FRACTION = (0.3, 1.0)
# inside every move's stress window, on a random venue each: a frozen book while the price runs, and
# timeouts whose orders land late
MOVE_STALE_MS = (2 * MINUTE_MS, 20 * MINUTE_MS)
MOVE_LATE_MS = (5 * MINUTE_MS, 30 * MINUTE_MS)
MOVE_FAULTS = {"stale_market": MOVE_STALE_MS, "timeout_lands_late": MOVE_LATE_MS}
KILLS_PER_DAY = 1.0
KILL_DOWNTIME_MS = (5_000, 5 * MINUTE_MS)
QUIET_START_MS = 10 * MINUTE_MS  # no fault in the first minutes (the strategy starts)
QUIET_END_MS = 2 * HOUR_MS  # nothing in the last hours: the end-of-run checks see the recovered state


@dataclass(frozen=True)
class Move:
    shape: str
    start_ms: int
    basis_pct: tuple[tuple[str, float], ...]  # venue -> shock at the peak, % of fair (signed)

    @property
    def end_ms(self) -> int:
        return self.start_ms + int(SHAPES[self.shape].hours * HOUR_MS)


@dataclass(frozen=True)
class FaultWindow:
    venue: str
    fault: str
    from_ms: int
    until_ms: int
    reason: str = ""


@dataclass(frozen=True)
class Kill:
    at_ms: int
    mode: str  # "call": at the next API call; "order": at the next order call (mid-execution)
    downtime_ms: int


@dataclass(frozen=True)
class Adl:
    venue: str
    at_ms: int
    fraction: float
    reason: str = ""


@dataclass(frozen=True)
class ChaosSchedule:
    seed: int
    start_ms: int
    end_ms: int
    venues: tuple[str, ...]
    moves: tuple[Move, ...] = ()
    faults: tuple[FaultWindow, ...] = ()
    kills: tuple[Kill, ...] = field(default=())
    adls: tuple[Adl, ...] = ()

    def apply(self, world: Any) -> None:
        """Shape the world's prices, schedule the faults and the ADL events (call before the run starts)."""
        for move in self.moves:
            apply_move(world, move)
        for f in self.faults:
            world.schedule(f.venue, f.fault, f.from_ms, f.until_ms)
        for a in self.adls:
            world.schedule_adl(a.venue, a.at_ms, a.fraction)

    def down_windows(self) -> list[tuple[str, int, int]]:
        return [(f.venue, f.from_ms, f.until_ms) for f in self.faults if f.fault == "down"]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for f in self.faults:
            counts[f.fault] = counts.get(f.fault, 0) + 1
        return {"moves": [m.shape for m in self.moves], "faults": counts, "kills": len(self.kills),
                "adls": len(self.adls)}


def apply_move(world: Any, move: Move) -> None:
    shape = SHAPES[move.shape]
    step = world.step_ms

    def k_of(hours: float) -> int:
        return (move.start_ms + int(hours * HOUR_MS) - world.start_ms) // step

    basis = dict(move.basis_pct)
    for base, coin in world.coins.items():
        scale = COIN_SCALE.get(base, ALT_SCALE)
        fair = _dedupe([(k_of(h), scale * math.log(m)) for h, m in shape.knots])
        vol = [(k_of(0), k_of(shape.hours), shape.vol_mult)]
        s0, peak, s1 = shape.stress
        shocks = {q.market: _dedupe([(k_of(s0), 0.0), (k_of(peak), basis[q.market.split(":")[0]] / 100.0),
                                     (k_of(s1), 0.0)])
                  for q in coin.quotes if q.market.split(":")[0] in basis}
        coin.shape(fair, vol, shocks)


def _dedupe(knots: list[tuple[int, float]]) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    for k, v in knots:
        if not out or k > out[-1][0]:
            out.append((k, v))
    return out


def generate(seed: int, start_ms: int, days: float, venues: tuple[str, ...]) -> ChaosSchedule:
    """A seeded schedule: moves (about one per 10 days, at least one that fits), faults per venue at
    FAULT_RATES (at least one window of each kind), one outage during each move's stress, kills."""
    if days <= 0:
        raise ValueError(f"days {days} must be > 0")
    for v in venues:
        if v not in P.VENUES:
            raise ValueError(f"unknown venue {v!r}; use one of {', '.join(P.VENUES)}")
    rng = random.Random(P.stable_int(seed, "chaos-schedule"))
    end_ms = start_ms + int(days * DAY_MS)
    lo, hi = start_ms + QUIET_START_MS, end_ms - QUIET_END_MS
    if hi - lo < HOUR_MS:
        raise ValueError(f"days {days} is too short for a chaos run: use at least 0.25 (6 hours)")

    moves = _place_moves(rng, lo, hi, days, venues)
    faults: list[FaultWindow] = []
    for fault, rate in FAULT_RATES.items():
        faults += _rate_windows(rng, fault, rate, lo, hi, days, venues)
    kills = [Kill(rng.randrange(lo, hi), rng.choice(("call", "order")), _log_uniform(rng, *KILL_DOWNTIME_MS))
             for _ in range(max(1, _poisson(rng, KILLS_PER_DAY * days)))]
    for move in moves:  # the worst moment: a venue goes down and the process dies during the stress
        shape = SHAPES[move.shape]
        s0, peak, _s1 = shape.stress
        at = move.start_ms + int(rng.uniform(s0, peak) * HOUR_MS)
        until = min(at + _log_uniform(rng, 10 * MINUTE_MS, 2 * HOUR_MS), hi)
        if until > at:
            faults.append(FaultWindow(rng.choice(venues), "down", at, until, reason=move.shape))
        kill_at = move.start_ms + int(rng.uniform(s0, peak) * HOUR_MS)
        if kill_at < hi:
            kills.append(Kill(kill_at, "order", _log_uniform(rng, *KILL_DOWNTIME_MS)))
    extra, adls = _harsh(seed, lo, hi, days, venues, moves)
    faults += extra + _client_id_drops(seed, lo, hi, days, venues)
    faults += _wallet_faults(seed, lo, hi, days, venues)
    faults += _rate_windows(random.Random(P.stable_int(seed, "chaos-schedule", "refuse-definite")),
                            "refuse_definite", DEFINITE_REFUSAL_RATE, lo, hi, days, venues)
    faults += _aimed(seed, lo, hi, venues, moves, faults, adls)
    faults.sort(key=lambda f: (f.from_ms, f.venue, f.fault))
    kills.sort(key=lambda k: k.at_ms)
    return ChaosSchedule(seed, start_ms, end_ms, tuple(venues), tuple(moves), tuple(faults), tuple(kills),
                         tuple(adls))


def _harsh(seed: int, lo: int, hi: int, days: float, venues: tuple[str, ...],
           moves: list[Move]) -> tuple[list[FaultWindow], list[Adl]]:
    """Issue #17's faults from their own stream: late-landing timeouts and purged orders at their rates,
    ADL now and then; and inside every move's stress a frozen book, late-landing timeouts and an ADL of the
    winning side at the move's extreme, each on a venue of its own draw."""
    rng = random.Random(P.stable_int(seed, "chaos-schedule", "issue-17"))
    faults: list[FaultWindow] = []
    for fault, rate in HARSH_FAULT_RATES.items():
        faults += _rate_windows(rng, fault, rate, lo, hi, days, venues)
    adls = [Adl(rng.choice(venues), rng.randrange(lo, hi), round(rng.uniform(*ADL_FRACTION), 3))
            for _ in range(_poisson(rng, ADL_PER_DAY * days))]
    for move in moves:
        s0, peak, _s1 = SHAPES[move.shape].stress
        for fault, (shortest, longest) in MOVE_FAULTS.items():
            at = move.start_ms + int(rng.uniform(s0, peak) * HOUR_MS)
            until = min(at + _log_uniform(rng, shortest, longest), hi)
            if until > at:
                faults.append(FaultWindow(rng.choice(venues), fault, at, until, reason=move.shape))
        extreme_h = max(SHAPES[move.shape].knots, key=lambda knot: abs(math.log(knot[1])))[0]
        at = move.start_ms + int(extreme_h * HOUR_MS)
        if at < hi:
            adls.append(Adl(rng.choice(venues), at, round(rng.uniform(*ADL_FRACTION), 3), reason=move.shape))
    adls.sort(key=lambda a: a.at_ms)
    return faults, adls


def _aimed(seed: int, lo: int, hi: int, venues: tuple[str, ...], moves: list[Move], faults: list[FaultWindow],
           adls: list[Adl]) -> list[FaultWindow]:
    """Refusals aimed at the orders that matter most, from a stream of their own (a seed's other draws are
    unchanged): AIMED_PER_MOVE refuse_definite windows inside every move's stress (its stops and the closes
    and re-hedges after them), and with every outage a window of each AIMED_OUTAGE_KINDS on another venue,
    starting within AIMED_OUTAGE_LEAD_MS of the outage's start; with every ADL a refuse_definite window on
    each other venue, in force from up to AIMED_ADL_LEAD_MS before it (the loose hedges of the legs it took).
    Reason "aimed:<move>", "aimed:down:<venue that is down>" or "aimed:adl:<venue of the ADL>"."""
    rng = random.Random(P.stable_int(seed, "chaos-schedule", "aimed"))
    aimed: list[FaultWindow] = []

    def add(venue: str, fault: str, at: int, reason: str) -> None:
        until = min(at + _log_uniform(rng, *AIMED_MS), hi)
        if until > at:
            aimed.append(FaultWindow(venue, fault, at, until, reason=reason))

    for move in moves:
        s0, _peak, s1 = SHAPES[move.shape].stress
        for _ in range(AIMED_PER_MOVE):
            at = move.start_ms + int(rng.uniform(s0, s1) * HOUR_MS)
            add(rng.choice(venues), "refuse_definite", at, f"aimed:{move.shape}")
    others_of = {v: [o for o in venues if o != v] for v in venues}
    for down in sorted((f for f in faults if f.fault == "down"), key=lambda f: (f.from_ms, f.venue)):
        others = others_of[down.venue]
        for fault in AIMED_OUTAGE_KINDS:
            at = down.from_ms + rng.randrange(min(AIMED_OUTAGE_LEAD_MS, down.until_ms - down.from_ms) + 1)
            if others:
                add(rng.choice(others), fault, at, f"aimed:down:{down.venue}")
    for adl in adls:
        for venue in others_of[adl.venue]:
            add(venue, "refuse_definite", max(lo, adl.at_ms - rng.randrange(AIMED_ADL_LEAD_MS + 1)),
                f"aimed:adl:{adl.venue}")
    return aimed


def _client_id_drops(seed: int, lo: int, hi: int, days: float, venues: tuple[str, ...]) -> list[FaultWindow]:
    """drops_client_id windows at DROPS_CLIENT_ID_RATE (at least one per run), each with a
    timeout_after_accept window inside it on the same venue, from a stream of their own."""
    rng = random.Random(P.stable_int(seed, "chaos-schedule", "drops-client-id"))
    faults: list[FaultWindow] = []
    for window in _rate_windows(rng, "drops_client_id", DROPS_CLIENT_ID_RATE, lo, hi, days, venues):
        length = min(_log_uniform(rng, *CLIENT_ID_TIMEOUT_MS), window.until_ms - window.from_ms)
        at = rng.randrange(window.from_ms, window.until_ms - length + 1)
        faults += [window, FaultWindow(window.venue, "timeout_after_accept", at, at + length,
                                       reason="drops_client_id")]
    return faults


def _wallet_faults(seed: int, lo: int, hi: int, days: float, venues: tuple[str, ...]) -> list[FaultWindow]:
    """WALLET_FAULT_RATES windows (at least one of each kind per run), from a stream of their own."""
    rng = random.Random(P.stable_int(seed, "chaos-schedule", "wallets"))
    faults: list[FaultWindow] = []
    for fault, rate in WALLET_FAULT_RATES.items():
        faults += _rate_windows(rng, fault, rate, lo, hi, days, venues)
    return faults


def _place_moves(rng: random.Random, lo: int, hi: int, days: float, venues: tuple[str, ...]) -> list[Move]:
    wanted = max(1, round(days / 10))
    names = list(SHAPES)
    rng.shuffle(names)
    names.sort(key=lambda n: SHAPES[n].hours > (hi - lo) / HOUR_MS)  # ones that fit first, order kept
    taken: list[tuple[int, int]] = []
    moves: list[Move] = []
    gap = 6 * HOUR_MS
    for name in names:
        if len(moves) >= wanted:
            break
        length = int(SHAPES[name].hours * HOUR_MS)
        for _ in range(50):
            if hi - lo - length <= 0:
                break
            start = rng.randrange(lo, hi - length)
            if all(start + length + gap <= a or b + gap <= start for a, b in taken):
                taken.append((start, start + length))
                peak = SHAPES[name].basis_pct
                basis = tuple((v, round(rng.uniform(-peak, peak), 3)) for v in venues)
                moves.append(Move(name, start, basis))
                break
    moves.sort(key=lambda m: m.start_ms)
    return moves


def _rate_windows(rng: random.Random, fault: str, rate: tuple[float, int, int], lo: int, hi: int, days: float,
                  venues: tuple[str, ...]) -> list[FaultWindow]:
    """Windows of one fault at rate (per venue per day, shortest, longest), at least one drawn per run."""
    per_day, shortest, longest = rate
    drawn = [_window(rng, venue, fault, lo, hi, shortest, longest)
             for venue in venues for _ in range(_poisson(rng, per_day * days))]
    if not drawn:
        drawn.append(_window(rng, rng.choice(venues), fault, lo, hi, shortest, longest))
    return [w for w in drawn if w is not None]


def _window(rng: random.Random, venue: str, fault: str, lo: int, hi: int, shortest: int,
            longest: int) -> FaultWindow | None:
    length = _log_uniform(rng, shortest, longest)
    if hi - lo <= length:
        return None
    start = rng.randrange(lo, hi - length)
    return FaultWindow(venue, fault, start, start + length)


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method; means here are at most a few hundred, split to keep exp() from underflowing
    count = 0
    while mean > 30:
        count += _poisson(rng, 30)
        mean -= 30
    limit, product = math.exp(-mean), rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
