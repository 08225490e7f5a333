"""The chaos run: strategy.py on the simulator through crashes, outages, faults and process kills.

    python -m tools.chaos --days 30 --seed 7
    python -m tools.chaos --days 30 --seeds 1-20 --jobs 2 --out runs/chaos

Per seed, a schedule (fmz_compat/sim/scenarios.py) shapes the prices (historical crash and pump
shapes with per-venue basis shocks), schedules venue outages, order rejects, partial fills,
timeouts whose orders filled anyway, 429 answers and stale books, and kills the strategy process
at random moments (some at its next order call, i.e. mid-execution). A kill is a real restart: the
strategy's module state and Python objects are dropped, a new FMZ runtime is built over the same
robot store (SQLite: log, _G) and the same venues, and strategy.py is run again from the top; the
strategy has to reconcile. onexit() is not called for a kill (SIGKILL), only at the window's end.

The treasury moves margin between the venues automatically (chaos_treasury), so that every run has
internal transfers for the NAV measure below.

Measured, per seed (printed, and written as JSON and a markdown table row):
liquidations; max |net exposure| (USDT, and in lots: the coarsest amount step among the venues); time
above one lot, split by what was going on (a venue down or answering 429, a venue back less than --grace-s
ago, an order the venue landed after its call timed out and the strategy has not read positions there
since, an ADL of our leg within `adl_bound_ms`, the time the strategy needs to see it, an order of the
strategy in flight, i.e. journaled and not booked, or queued at the venue, or proved absent and watched
while it may still land, as far as such orders would cover the exposure, or otherwise); the longest
stretch above one lot while a venue was out, held on the venues that trade, against
outage.max_unhedged_s / _usdt, and held on the venue that is out itself against max_unhedged_s (the
strategy hedges it elsewhere by then); orphaned orders (open on a venue, unknown to the ledger's journal)
seen at each restart and at the end; ledger-vs-venue mismatches left after recovery (checked 10 minutes
after each restart and at the end, when no venue is down and no execution unfinished); stops fired per
level (from the strategy's risk engine, when it has one); how far unit NAV moved through internal transfers
(tools/chaos_nav.py); max drawdown, the strategy's and the simulator's; PnL and unit NAV.
`--markdown DIR ...` writes docs/reliability.md's table from runs' output folders (tools/chaos_table.py).

Exit status: 0 when every seed meets issues #5 and #17's "done when" (zero liquidations, orphaned orders
and mismatches left; |net exposure| above one lot only while a venue is down, an order landed late unseen,
an ADL is within its bound, or an order is in flight; unhedged exposure during outages within the policy's
bound; unit NAV unmoved by internal transfers; no crash), 1 when one does not, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_START = "2024-01-01"
DAY_MS = 86_400_000
CHECK_AFTER_RESTART_MS = 10 * 60_000
CHECK_RETRY_MS = 60_000
ORDER_KILL_FALLBACK_MS = 3_600_000  # an "order" kill with no order call within an hour dies at any call
# a venue down, answering 429, or refusing every order: its order service is out (the strategy's own
# outage detection takes the same view), so a leg that cannot be closed there is held for that reason
DOWN_FAULTS = ("down", "rate_limit", "refuse_orders", "refuse_definite")
BLIND_FAULTS = ("down", "rate_limit")  # every call there fails: positions there cannot be read

# The strategy parameter for chaos runs: params.json with positions large enough that a 30-40 % move
# liquidates an unprotected leg (up to 2 x 10,000 USDT of pairs on 10,000 USDT per venue, leverage 10:
# about 50 % from liquidation when full, outside the default stop levels), and a 2 s loop (one 30-day
# seed in about two minutes of CPU). --params replaces it.
CHAOS_PARAMS_OVERRIDES: dict[str, Any] = {
    "order_notional_usdt": 2500,
    "max_position_usdt": 10000,
    "leverage": {"binance": 10, "bybit": 10, "okx": 10, "coinex": 10, "bitmex": 10},
    "max_effective_leverage": 4,
    "loop_interval_ms": 2000,
    "log_keep_rows": 5_000_000,  # keep the whole run's log: the findings are read from it
}


# The "tight" profile (--profile tight): venues held just outside the first stop level, so that ordinary
# volatility reaches the stops and every move goes through them (the default profile keeps a full book
# about 50 % from liquidation, outside the 40 % level: 33 stop firings in 600 seed-days). Stop levels at
# 15 / 10 / 6 % of the price; the opening check keeps a venue at least 1.25 x 15 = 18.75 % away, and
# 25,000 USDT per symbol (two symbols) on 10,000 USDT at leverage 20 puts a full book about 19 % from
# liquidation: a 4 % adverse move fires the first level.
TIGHT_PARAMS_OVERRIDES: dict[str, Any] = {
    **CHAOS_PARAMS_OVERRIDES,
    "max_position_usdt": 25000,
    "leverage": {"binance": 20, "bybit": 20, "okx": 20, "coinex": 20, "bitmex": 20},
    "max_effective_leverage": 5,
    "stops": {"levels": [{"distance_pct": 15, "close_fraction": 0.25},
                         {"distance_pct": 10, "close_fraction": 0.5},
                         {"distance_pct": 6, "close_fraction": 1.0, "emergency": True}],
              "max_effective_leverage": 6},
}
PROFILES: dict[str, dict[str, Any]] = {"default": CHAOS_PARAMS_OVERRIDES, "tight": TIGHT_PARAMS_OVERRIDES}

# The treasury moves margin automatically in every chaos run (params.json leaves it at notify without a
# whitelist, and a run that never moves money cannot show that a move leaves unit NAV alone): the simulator's
# deposit address of every bound venue it automates, on TRC20, and thresholds just outside each profile's
# first stop level, so that the moves that push a venue past it are answered by a transfer (default: stops at
# 40 %, a full book about 50 % away; tight: 15 %, a full book about 19 % away).
TREASURY_THRESHOLDS: dict[str, dict[str, float]] = {
    "default": {"trigger_distance_pct": 45, "target_distance_pct": 55},
    "tight": {"trigger_distance_pct": 17, "target_distance_pct": 21},
}
TREASURY_NETWORK = "TRC20"
# the unhedged exposure while a venue is out is held to outage.max_unhedged_s / max_unhedged_usdt; the turn
# that acts on the bound (a loop interval, its settle waits, the order) gets this much on top
OUTAGE_BOUND_SLACK_S = 10.0


class UsageError(Exception):
    """Bad command-line input: one line, exit 2."""


class ProcessKilled(BaseException):
    """The strategy process dies (SIGKILL): nothing in the strategy can catch it, onexit() does not run."""


@dataclass(frozen=True)
class ChaosOptions:
    seed: int
    days: float
    venues: tuple[str, ...]
    symbols: tuple[str, ...]
    out: Path
    params_json: str
    strategy: Path
    start_ms: int
    balance: float = 10_000.0
    step_ms: int = 1000
    grace_s: int = 120
    without: frozenset[str] = frozenset()  # fault kinds (and "adl") left out of the schedule
    profile: str = "default"  # or "tight"; "params" when --params gave the parameter


@dataclass
class Stretch:
    """Stretches with more than one lot of one part of the net exposure while a venue is out: the longest
    (with when) and the largest in USDT."""

    episode: dict[str, Any] | None = None
    longest_ms: int = 0
    max_usdt: float = 0.0
    worst: dict[str, Any] | None = None

    def add(self, start_ms: int, last_ms: int, now_ms: int, usdt: float) -> None:
        """Held from last_ms (or start_ms, if later) to now_ms: goes on with the stretch ending at last_ms."""
        episode = self.episode
        if episode is None or episode["until_ms"] != last_ms:
            episode = self.episode = {"from_ms": start_ms, "until_ms": now_ms}
        episode["until_ms"] = now_ms
        if now_ms - episode["from_ms"] > self.longest_ms:
            self.longest_ms = now_ms - episode["from_ms"]
            self.worst = dict(episode)
        self.max_usdt = max(self.max_usdt, usdt)

    def figures(self) -> dict[str, Any]:
        return {"longest_s": self.longest_ms / 1000, "max_usdt": round(self.max_usdt, 2),
                "longest_at": self.worst}


@dataclass
class Exposure:
    """Time-weighted |net exposure| per coin against one lot, classified by what was going on.

    Net exposure changes only when a position does (a fill, a liquidation): it is tracked from the
    simulator's position events. `peak_lots` includes the moment between the two legs of one
    execution (no simulated time passes there); `max_lots`/`max_usdt` count what was held for some
    simulated time."""

    lots: dict[str, float]
    price: Callable[[str], float]
    nets: dict[str, float] = field(default_factory=dict)
    above: bool = False
    last_ms: int = 0
    peak_lots: float = 0.0
    max_lots: float = 0.0
    max_usdt: float = 0.0
    max_coin: str = ""
    ms_by_cause: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("venue_down", "recovering", "late_landing", "adl", "in_flight", "otherwise"), 0))
    otherwise_episodes: list[dict[str, Any]] = field(default_factory=list)
    size_bound_usdt: float = math.inf  # outage.max_unhedged_usdt
    # base -> venue -> signed position, and the venues out at a moment (venue -> since when): what a venue
    # that is out holds of the net exposure is no leg the strategy can cut (see _down)
    venue_nets: dict[str, dict[str, float]] = field(default_factory=dict)
    out_since: Callable[[int], dict[str, int]] = lambda _now_ms: {}
    # stretches while a venue is out with more than one lot unhedged on the venues that trade: longest,
    # largest USDT, longest above size_bound_usdt (the policy's bound)
    down_episode: dict[str, Any] | None = None
    down_longest_ms: int = 0
    down_max_usdt: float = 0.0
    down_over_size_ms: int = 0
    down_worst: dict[str, Any] | None = None
    # stretches with more than one lot of it held on the venue that is out: held to max_unhedged_s (the
    # strategy hedges such a loose leg on a venue that trades by then, hedge/rehedge.py), not to the size
    held: Stretch = field(default_factory=Stretch)
    # base, now -> the signed net exposure ADLs of base left that the strategy cannot have seen by now (the
    # venue that did it not answering since, or within adl_bound_ms after it answers); its stretches, apart
    adl_left: Callable[[str, int], float] = lambda _base, _now_ms: 0.0
    adl_unseen: Stretch = field(default_factory=Stretch)

    def update(self, base: str, net: float, now_ms: int, cause: Callable[[int], str],
               venues: dict[str, float] | None = None) -> None:
        self.sample(now_ms, cause)
        self.nets[base] = net
        if venues is not None:
            self.venue_nets[base] = venues
        self.peak_lots = max(self.peak_lots, abs(net) / self.lots[base])
        self.above = any(self.over_lot(b, n) for b, n in self.nets.items())

    def over_lot(self, base: str, qty: float) -> bool:
        """|qty| of base is more than one lot (float noise aside)."""
        return abs(qty) > self.lots[base] * (1 + 1e-9)

    def sample(self, now_ms: int, cause: Callable[[int], str]) -> None:
        if now_ms <= self.last_ms:
            return
        for base, net in self.nets.items():  # what was held from last_ms to now
            if net:
                lots, usdt = abs(net) / self.lots[base], abs(net) * self.price(base)
                if lots > self.max_lots:
                    self.max_lots, self.max_coin = lots, base
                self.max_usdt = max(self.max_usdt, usdt)
        if self.above:
            why = cause(now_ms)
            self.ms_by_cause[why] += now_ms - self.last_ms
            if why == "venue_down":
                self._down(now_ms)
            if why == "otherwise":
                episodes = self.otherwise_episodes
                if episodes and episodes[-1]["until_ms"] == self.last_ms:
                    episodes[-1]["until_ms"] = now_ms
                elif len(episodes) < 20:
                    worst = max(self.nets, key=lambda b: abs(self.nets[b]) / self.lots[b])
                    episodes.append({"from_ms": self.last_ms, "until_ms": now_ms, "coin": worst,
                                     "net": self.nets[worst]})
        self.last_ms = now_ms

    def _down(self, now_ms: int) -> None:
        """What was held from last_ms to now while a venue was out, split per coin by where it is held.

        outage.max_unhedged_s / _usdt bound the part the venues that trade hold: a leg there whose hedge is
        on the venue that is out (an opening's filled leg, a hedge gone there) can be cut reduce-only. The
        part the venue that is out holds itself (a close or stop whose leg there was refused while its hedge
        closed: a loose leg there) no order can reach until that venue answers, so the strategy hedges it on
        a venue that trades once it has been held max_unhedged_s (hedge/rehedge.py): its stretches are
        measured apart and held to max_unhedged_s only (the re-hedge is bounded in time, not size). A coin's
        net exposure is held by the venues that are out as far as their positions there point the same
        way.

        What an ADL left that the strategy cannot have seen yet (adl_left: an ADL on the venue that is out
        is seen when it answers again) is no leg the strategy knows to be unhedged: measured apart too."""
        outs = self.out_since(now_ms)
        reach_usdt = held_usdt = unseen_usdt = 0.0
        for base, net in self.nets.items():
            out = sum(self.venue_nets.get(base, {}).get(v, 0.0) for v in outs)
            held = min(abs(net), abs(out)) if net * out > 0 else 0.0
            left = self.adl_left(base, now_ms)
            unseen = min(abs(net) - held, abs(left)) if net * left > 0 else 0.0
            reach = abs(net) - held - unseen
            price = self.price(base)
            if self.over_lot(base, reach):
                reach_usdt = max(reach_usdt, reach * price)
            if self.over_lot(base, held):
                held_usdt = max(held_usdt, held * price)
            if self.over_lot(base, unseen):
                unseen_usdt = max(unseen_usdt, unseen * price)
        start = max([self.last_ms, *outs.values()])  # what was held before the venue went out is not this
        if reach_usdt:
            self._reachable(start, now_ms, reach_usdt)
        if held_usdt:
            self.held.add(start, self.last_ms, now_ms, held_usdt)
        if unseen_usdt:
            self.adl_unseen.add(start, self.last_ms, now_ms, unseen_usdt)

    def _reachable(self, start_ms: int, now_ms: int, usdt: float) -> None:
        """One stretch with the last one above one lot unhedged on the venues that trade."""
        episode = self.down_episode
        if episode is None or episode["until_ms"] != self.last_ms:
            episode = self.down_episode = {"from_ms": start_ms, "until_ms": now_ms, "max_usdt": 0.0,
                                           "over_size_ms": 0, "over_since_ms": None}
        episode["until_ms"] = now_ms
        episode["max_usdt"] = max(episode["max_usdt"], usdt)
        if usdt > self.size_bound_usdt:
            if episode["over_since_ms"] is None:
                episode["over_since_ms"] = start_ms
            episode["over_size_ms"] = max(episode["over_size_ms"], now_ms - episode["over_since_ms"])
        else:
            episode["over_since_ms"] = None
        length = now_ms - episode["from_ms"]
        if length > self.down_longest_ms:
            self.down_longest_ms = length
            self.down_worst = {k: episode[k] for k in ("from_ms", "until_ms")}
        self.down_max_usdt = max(self.down_max_usdt, episode["max_usdt"])
        self.down_over_size_ms = max(self.down_over_size_ms, episode["over_size_ms"])


class ChaosRun:
    """One seed: the world, the robot store, the schedule, and the strategy's successive lives."""

    def __init__(self, opts: ChaosOptions) -> None:
        from fmz_compat.core import BacktestClock, ExchangeBinding, SimConfig
        from fmz_compat.runner import RunConfig
        from fmz_compat.sim import create_world
        from fmz_compat.sim import params as P
        from fmz_compat.sim.scenarios import generate
        from fmz_compat.store import RobotStore

        self.opts = opts
        self.end_ms = opts.start_ms + int(opts.days * DAY_MS)
        self.schedule = _leave_out(generate(opts.seed, opts.start_ms, opts.days, opts.venues), opts.without)
        self.robot_dir = opts.out / f"seed-{opts.seed}"
        self.robot_dir.mkdir(parents=True, exist_ok=True)
        db = self.robot_dir / f"{opts.seed}.db3"
        if db.exists():
            db.unlink()
        self.store = RobotStore(db)
        run = self

        class ChaosClock(BacktestClock):
            next_event_ns = math.inf

            def check(self) -> None:
                super().check()
                if self._now_ns >= self.next_event_ns:
                    run.on_time()

        self.clock = ChaosClock(opts.start_ms * 1_000_000, self.end_ms * 1_000_000)
        bindings = tuple(ExchangeBinding(_EIDS[v], balance=opts.balance) for v in opts.venues)
        self.config = RunConfig(mode="backtest", strategy_path=opts.strategy, bindings=bindings,
                                start_ms=opts.start_ms, end_ms=self.end_ms, seed=opts.seed,
                                symbols=opts.symbols, params_json=opts.params_json, quiet=True)
        self.runtime = self._new_runtime()
        sim = SimConfig(seed=opts.seed, start_ms=opts.start_ms, bindings=bindings, symbols=opts.symbols,
                        step_ms=opts.step_ms)
        self.world = create_world(sim, self.clock, self.runtime)
        self.schedule.apply(self.world)
        lots = {}
        for pair in opts.symbols:
            steps = [P.contract_spec(v, pair, True) for v in opts.venues]
            lots[pair.split("_")[0]] = max(s.amount_step * s.ct_val for s in steps)
        self.exposure = Exposure(lots, lambda base: self.world.coins[base].fair, {b: 0.0 for b in lots},
                                 last_ms=opts.start_ms)
        self.world.on_position_change = self._position_changed
        from hedge.config import parse_params
        from tools.chaos_nav import NavWatch

        cfg = parse_params(opts.params_json)
        outage = cfg.outage
        # a strategy reads every venue's positions at least once a status interval: a late landing it has not
        # read by then counts as seen all the same
        self.late_seen_by_ms = int(cfg.status_interval_s) * 1000
        self.settle_ms = int(cfg.outage.order_settle_s) * 1000  # the strategy's settle window, every venue
        self.bound_s, self.bound_usdt = float(outage.max_unhedged_s), float(outage.max_unhedged_usdt)
        self.exposure.size_bound_usdt = self.bound_usdt
        self.nav = NavWatch(self.world)
        self.max_drawdown: float | None = None
        self._late_known = 0  # world.late_landings taken into _unseen_late
        self._unseen_late: dict[str, int] = {}  # venue -> first landing not followed by a positions read yet
        self.world.on_adl = self._adl
        self.adl_bound_ms = adl_bound_ms(opts.params_json)
        self.adls: list[dict[str, Any]] = []  # ADLs that closed some of our legs, and when they were hedged
        self._process_back_ms = 0  # end of the process's last downtime (a kill)
        # by start: _venue_out stops at the first window still ahead
        self._down_windows = sorted((f.from_ms, f.until_ms, f.venue) for f in self.schedule.faults
                                    if f.fault in DOWN_FAULTS)
        self.exposure.out_since = self._venues_out
        self.exposure.adl_left = self._adl_left
        # by start: _answers_from chains the windows a venue is in
        self._blind_windows = sorted((f.from_ms, f.until_ms, f.venue) for f in self.schedule.faults
                                     if f.fault in BLIND_FAULTS)
        self.kills = list(self.schedule.kills)
        self.kill: Any = None
        self.checks: list[int] = []  # ms of pending ledger-vs-venue checks
        self.check_deadline: dict[int, int] = {}
        self.lives = 0
        self.kills_done: list[dict[str, Any]] = []
        self.orphans: dict[str, dict[str, Any]] = {}
        self.mismatches: list[dict[str, Any]] = []
        self.checks_done = 0
        self.uncommitted_lost = 0  # rows of the robot store lost at kills (never a _G entry)
        self.stops: dict[str, int] = {}
        self.stops_known = False
        self.ended = ""
        self.exit_code = 0
        self.crash = ""
        self.unit_nav: float | None = None
        self._code = compile(opts.strategy.read_text(encoding="utf-8"), str(opts.strategy), "exec")

    # --- the strategy's lives ---------------------------------------------------------------------
    def _new_runtime(self) -> Any:
        from fmz_compat.api import Runtime

        return Runtime(clock=self.clock, store=self.store, robot_id=self.opts.seed, echo=None)

    def run(self) -> dict[str, Any]:
        from fmz_compat.runner import build_strategy_globals

        while True:
            _forget_strategy_modules()
            if self.lives:
                self.runtime = self._new_runtime()
                self.world.log = self.runtime
            pairs = zip(self.world.exchanges, self.world.accounts, strict=True)
            self.runtime.exchanges.extend(_Mortal(e, self, a.venue) for e, a in pairs)
            self.lives += 1
            self.nav.new_life()
            unwatch = self._watch_app()
            self._arm_next_kill()
            g = build_strategy_globals(self.runtime, self.config)
            try:
                outcome = self._live(g)
                self._collect(g)
            finally:
                unwatch()  # the patched hedge.app stays in sys.modules after the run: leave it as found
            if outcome == "killed":
                self._restart_after_kill()
                if self.clock.now_ns() >= self.clock.end_ns:
                    self.ended = "backtest window ended (while the process was down)"
                    break
                continue
            if outcome == "eof":
                self._onexit(g)
            break
        self._final_checks()
        return self.result()

    def _watch_app(self) -> Callable[[], None]:
        """This life's hedge.App tells the NAV watch when it reads an account and when it measures unit NAV
        (the module is imported afresh each life; strategy.py's import then finds it patched)."""
        import hedge.app

        app_class = hedge.app.App
        refresh, observe = app_class.refresh_account, app_class.observe
        watch = self.nav

        def refresh_account(app: Any, key: str) -> None:
            refresh(app, key)
            view = app.accounts.get(key)
            if view is not None and view.ok:
                watch.account_read(key)

        def measured(app: Any) -> None:
            before = app.accounting.live
            observe(app)
            if app.accounting.live is not before:
                watch.observed(app)

        app_class.refresh_account = refresh_account  # type: ignore[method-assign]
        app_class.observe = measured  # type: ignore[method-assign]

        def unwatch() -> None:
            app_class.refresh_account, app_class.observe = refresh, observe  # type: ignore[method-assign]
        return unwatch

    def _live(self, g: dict[str, Any]) -> str:
        sys.path.insert(0, str(self.opts.strategy.parent.resolve()))
        try:
            exec(self._code, g)
            main = g.get("main")
            if callable(main):
                main()
            self.ended = "main() returned"
            return "stopped"
        except ProcessKilled:
            return "killed"
        except EOFError:
            self.ended = "backtest window ended"
            return "eof"
        except SystemExit as exc:
            self.ended = f"strategy exit({exc.code!r})"
            self.exit_code = exc.code if isinstance(exc.code, int) else 1
            self.runtime.log(5, f"robot stopping: {self.ended}")
            return "stopped"
        except Exception:  # the strategy crashed: a failure of the run
            self.crash = traceback.format_exc(limit=8)
            self.ended = "uncaught exception"
            self.exit_code = 1
            self.runtime.log(1, self.crash)
            return "crashed"
        finally:
            try:
                sys.path.remove(str(self.opts.strategy.parent.resolve()))
            except ValueError:
                pass

    def _onexit(self, g: dict[str, Any]) -> None:
        onexit = g.get("onexit")
        if callable(onexit):
            try:
                onexit()
            except (EOFError, ProcessKilled):
                pass
            except Exception:
                self.crash = traceback.format_exc(limit=8)

    def _collect(self, g: dict[str, Any]) -> None:
        """What this life's strategy object knows that the venues cannot tell: stops fired, unit NAV."""
        app = g.get("_app")
        if app is None:
            return
        risk = getattr(app, "risk", None)
        fired = getattr(risk, "stops_fired", None) if risk is not None else None
        if fired is not None:
            self.stops_known = True
            items = fired.items() if isinstance(fired, dict) else enumerate(fired, start=1)
            for level, count in items:
                self.stops[str(level)] = self.stops.get(str(level), 0) + int(count)
        accounting = getattr(app, "accounting", None)
        if accounting is not None and getattr(accounting, "unit_nav", None) is not None:
            self.unit_nav = float(accounting.unit_nav)
            self.max_drawdown = float(accounting.max_drawdown)
        self.nav.note_transfers(app)

    def _restart_after_kill(self) -> None:
        kill = self.kill
        self.kill = None
        self._lose_uncommitted()
        now = self.clock.now_ns() // 1_000_000
        downtime = min(kill.downtime_ms, max(0, self.end_ms - now))
        journal = len(self._ledger().orders)
        self.kills_done.append({"at_ms": now, "mode": kill.mode, "downtime_ms": downtime,
                                "journaled_orders": journal})
        self.runtime.log(5, f"chaos: process killed ({kill.mode}); restarting in {downtime / 1000:g} s")
        self._orphan_check("restart")
        self._process_back_ms = now + downtime
        self.clock.advance(downtime * 1_000_000)
        self.world.advance(min(self.clock.now_ns(), self.clock.end_ns))
        self.exposure.sample(min(self.clock.now_ns() // 1_000_000, self.end_ms), self._cause)
        self._add_check(now + downtime + CHECK_AFTER_RESTART_MS)

    def _lose_uncommitted(self) -> None:
        """SIGKILL semantics for the robot store: what was written and not committed (log rows of the last
        second; a `_G` write commits before it returns) is gone; the next life reopens the file."""
        from fmz_compat.store import RobotStore

        self.uncommitted_lost += self.store.abandon()
        self.store = RobotStore(self.store.path)
        self.runtime.store = self.store

    # --- timed events (from the clock at every API call) --------------------------------------------
    def on_time(self) -> None:
        now = self.clock.now_ns() // 1_000_000
        if self.exposure.above:
            ends = sorted(a["until_ms"] for a in self.adls if self.exposure.last_ms < a["until_ms"] < now)
            for end in ends:  # an ADL's time to be seen ends inside the interval: split it there
                self.exposure.sample(end, self._cause)
            self.exposure.sample(now, self._cause)
        while self.checks and self.checks[0] <= now:
            due = self.checks.pop(0)
            if not self._mismatch_check(now, due):
                retry = now + CHECK_RETRY_MS
                if retry <= self.check_deadline.get(due, retry):
                    self.checks.append(retry)
                    self.check_deadline[retry] = self.check_deadline.pop(due, retry)
                    self.checks.sort()
        kill = self.kill
        if kill is not None and (now >= kill.at_ms + ORDER_KILL_FALLBACK_MS
                                 or (kill.mode == "call" and now >= kill.at_ms)):
            raise ProcessKilled(kill.mode)
        self._plan()

    def order_call(self) -> None:
        kill = self.kill
        if kill is not None and kill.mode == "order" and self.clock.now_ns() // 1_000_000 >= kill.at_ms:
            raise ProcessKilled("order")

    def _plan(self) -> None:
        events = [math.inf]
        if self.exposure.above:
            events.append(0)
        if self.checks:
            events.append(self.checks[0])
        if self.kill is not None:
            events.append(self.kill.at_ms if self.kill.mode == "call"
                          else self.kill.at_ms + ORDER_KILL_FALLBACK_MS)
        soonest = min(events)
        self.clock.next_event_ns = soonest * 1_000_000 if soonest != math.inf else math.inf

    def _arm_next_kill(self) -> None:
        now = self.clock.now_ns() // 1_000_000
        while self.kills and self.kills[0].at_ms <= now:
            self.kills.pop(0)  # fell into the previous downtime
        self.kill = self.kills.pop(0) if self.kills else None
        self._plan()

    def _add_check(self, at_ms: int) -> None:
        at_ms = min(at_ms, self.end_ms - 1)
        self.checks.append(at_ms)
        self.check_deadline[at_ms] = at_ms + 2 * 3_600_000
        self.checks.sort()
        self._plan()

    # --- measurements ---------------------------------------------------------------------------
    def _position_changed(self, market: str, pair: str) -> None:
        if ":" in market:
            return  # spot and coin-margined legs are not part of the hedge
        base = pair.split("_")[0]
        if base not in self.exposure.lots:
            return
        coin = self.world.coins[base]
        venues = {q.market: q.net_base for q in coin.quotes if ":" not in q.market}
        self.exposure.update(base, sum(venues.values()), self.world.now_ms(), self._cause, venues)
        net = self.exposure.nets[base]
        within = not self.exposure.over_lot(base, net)
        for adl in self.adls:  # hedged by the strategy: at the runtime clock (the world moves by steps)
            if within and adl["coin"] == base and adl["within_one_lot_after_s"] is None:
                adl["within_one_lot_after_s"] = (self.clock.now_ns() // 1_000_000 - adl["at_ms"]) / 1000
        self._plan()

    def _adl(self, venue: str, pair: str, contracts: float) -> None:
        """The venue auto-deleveraged one of our legs. The strategy can only see it at a positions read:
        until `adl_bound_ms` after it (after the process is back, when it came while the process was down,
        and after the venue answers again, when it came while every call there failed) the exposure it
        leaves counts as `adl`, a venue-side event; any longer as `otherwise`. (Not "until
        the next positions read there", as for a late landing: the strategy reads positions in executions
        and at the status refresh too, reads that do not act on a difference; the bound is the interval of
        the read that does, Reconciler.positions_moved.)"""
        from fmz_compat.sim import params as P

        now, coin = self.world.now_ms(), pair.split("_")[0]
        if coin not in self.exposure.lots:
            return
        within = not self.exposure.over_lot(coin, self.exposure.nets[coin])
        closed = round(contracts * P.contract_spec(venue, pair, True).ct_val, 12)
        seen_from = max(now, self._process_back_ms, self._answers_from(venue, now))
        self.adls.append({"at_ms": now, "venue": venue, "pair": pair, "closed": closed, "coin": coin,
                          "net_change": closed if self._adl_side(venue, pair) == "buy" else -closed,
                          "until_ms": seen_from + self.adl_bound_ms,
                          "within_one_lot_after_s": 0.0 if within else None})

    def _adl_side(self, venue: str, pair: str) -> str:
        """The side of the venue's newest ADL order of `pair` (buy: a short was cut, the net went up)."""
        orders = [o for acc in self.world.accounts if acc.venue == venue and acc.futures
                  for o in acc.orders.values() if o.pair == pair and o.origin == "adl"]
        return max(orders, key=lambda o: o.n).side

    def _answers_from(self, venue: str, now_ms: int) -> int:
        """When `venue` answers calls again: the end of the down / rate-limit windows it is in at now_ms."""
        back = now_ms
        for start, until, out in self._blind_windows:
            if out == venue and start <= back < until:
                back = until
        return back

    def _adl_left(self, base: str, now_ms: int) -> float:
        """The signed net exposure of `base` that ADLs the strategy cannot have seen by now_ms left."""
        return sum(a["net_change"] for a in self.adls
                   if a["coin"] == base and a["at_ms"] < now_ms <= a["until_ms"])

    def _adl_unseen(self, now_ms: int) -> bool:
        """An ADL's coin is above one lot within the bound the strategy has to see and hedge it."""
        e = self.exposure
        return any(a["at_ms"] < now_ms <= a["until_ms"] and e.over_lot(a["coin"], e.nets[a["coin"]])
                   for a in self.adls)

    def _venue_out(self, now_ms: int) -> str | None:
        """'venue_down' while a venue is down or rate-limited, 'recovering' within grace after."""
        state = None
        grace = self.opts.grace_s * 1000
        for start, until, _venue in self._down_windows:
            if start > now_ms:
                break
            if now_ms < until:
                return "venue_down"
            if now_ms < until + grace:
                state = "recovering"
        return state

    def _venues_out(self, now_ms: int) -> dict[str, int]:
        """The venues down, rate-limited or refusing orders at now_ms, each with the start of its window."""
        out: dict[str, int] = {}
        for start, until, venue in self._down_windows:
            if start > now_ms:
                break
            if now_ms < until:
                out[venue] = min(out.get(venue, start), start)
        return out

    def _cause(self, now_ms: int) -> str:
        out = self._venue_out(now_ms)
        if out == "venue_down":
            return out
        self._take_late_landings()
        for venue, landed in list(self._unseen_late.items()):
            if now_ms > landed + self.late_seen_by_ms:
                del self._unseen_late[venue]
        if self._unseen_late:
            return "late_landing"
        if self._adl_unseen(now_ms):
            return "adl"
        ledger = self._ledger()
        if ledger.orders or self._queued_covers() or self._watched_covers(ledger, now_ms):
            return "in_flight"
        return out or "otherwise"

    def _watched_covers(self, ledger: Any, now_ms: int) -> bool:
        """Every coin above one lot would be within one lot once the orders of ours the strategy proved absent
        and still watches (`ledger.watch`: it cannot tell a lost order from one landing late) that reduce its
        net exposure had landed, each for as long as the strategy holds it may (LATE_LANDING_SETTLES settle
        windows after its send, hedge/risk.py `_closes_landing`): the strategy holds back what such an order
        could take, never more (issue #17, chaos tight seed 1, 30 days). One sent after the interval began,
        or whose window ends within it, does not cover it; exposure beyond what they would take stays
        "otherwise"."""
        from hedge.execution import DIRECTION, LATE_LANDING_SETTLES

        e = self.exposure
        horizon_ms = LATE_LANDING_SETTLES * self.settle_ms
        reducing: dict[str, float] = {}
        for record in ledger.watch.values():
            base = record.symbol.split("_")[0]
            net = e.nets.get(base, 0.0)
            if (base not in e.lots or record.sent_ms > e.last_ms or now_ms > record.sent_ms + horizon_ms
                    or (DIRECTION[record.side] > 0) != (net < 0)):
                continue
            reducing[base] = reducing.get(base, 0.0) + float(max(record.qty - record.filled, 0))
        return bool(reducing) and all(not e.over_lot(base, max(0.0, abs(net) - reducing.get(base, 0.0)))
                                      for base, net in e.nets.items())

    def _queued_covers(self) -> bool:
        """Every coin above one lot would be within one lot once the orders of ours that a venue holds queued
        to land (`world.queued_orders`: sent, timed out, not placed yet) and that reduce its net exposure had
        landed. Such an order is at the venue's door: a second one would double it. One queued after the
        interval began does not cover it."""
        e = self.exposure
        reducing: dict[str, float] = {}
        for order in self.world.queued_orders:
            base = order["pair"].split("_")[0]
            net = e.nets.get(base, 0.0)
            reduces = (order["side"] == "buy") == (net < 0)
            if ":" in order["market"] or order["sent_ms"] > e.last_ms or not reduces:
                continue
            reducing[base] = reducing.get(base, 0.0) + order["base"]
        return all(not e.over_lot(base, max(0.0, abs(net) - reducing.get(base, 0.0)))
                   for base, net in e.nets.items())

    def _take_late_landings(self) -> None:
        landed = self.world.late_landings
        for event in landed[self._late_known:]:
            self._unseen_late.setdefault(event["venue"], event["at_ms"])
        self._late_known = len(landed)

    def positions_read(self, venue: str) -> None:
        """The strategy's positions call on `venue` answered: a late landing before now is seen from here on
        (what it left counts as any other exposure)."""
        self._take_late_landings()
        landed = self._unseen_late.get(venue)
        if landed is not None and landed <= self.clock.now_ns() // 1_000_000:
            del self._unseen_late[venue]

    def _ledger(self) -> Any:
        from hedge.ledger import Ledger

        return Ledger.load(self.runtime._G)

    def _orphan_check(self, when: str) -> None:
        known = set(self._ledger().orders)
        for acc in self.world.accounts:
            for order in acc.open.values():
                key = f"{acc.venue}:{order.n}"
                if order.client_id not in known and key not in self.orphans:
                    self.orphans[key] = {"venue": acc.venue, "pair": order.pair, "client_id": order.client_id,
                                         "amount": order.amount, "seen": when,
                                         "at_ms": self.clock.now_ns() // 1_000_000}

    def _mismatch_check(self, now_ms: int, due_ms: int) -> bool:
        """Ledger vs venue positions once recovery had its time; False = not now (a venue is out or an
        execution is unfinished), try again in a minute."""
        if self._venue_out(now_ms) == "venue_down":
            return False
        ledger = self._ledger()
        if ledger.orders:
            return False
        self.checks_done += 1
        found = self._venue_positions()
        expected = ledger.expected_positions()
        for key, qty in self._pending_legs(ledger).items():  # legs the strategy holds outside its pairs
            expected[key] = expected.get(key, Decimal(0)) + qty
        for key in sorted(set(found) | set(expected)):
            venue, symbol = key
            have, want = found.get(key, Decimal(0)), expected.get(key, Decimal(0))
            lot = Decimal(repr(self.exposure.lots[symbol.split("_")[0]]))
            if abs(have - want) > lot / 2:
                self.mismatches.append({"at_ms": now_ms, "venue": venue, "symbol": symbol,
                                        "ledger": str(want), "venue_holds": str(have)})
        return True

    @staticmethod
    def _pending_legs(ledger: Any) -> dict[tuple[str, str], Decimal]:
        """The strategy's loose legs (in its ledger since they joined the book of record): kept through an
        outage or left by an unequal execution."""
        return ledger.loose_positions()

    def _venue_positions(self) -> dict[tuple[str, str], Decimal]:
        out: dict[tuple[str, str], Decimal] = {}
        for (market, pair), q in self.world.quotes.items():
            if ":" not in market and q.net_base and pair in self.opts.symbols:
                out[(market, pair)] = Decimal(repr(round(q.net_base, 12)))
        return out

    def _outage_figures(self) -> dict[str, Any]:
        """|net exposure| above one lot held on the venues that trade while a venue was out (Exposure._down),
        against outage.max_unhedged_s / _usdt, and held on the venue that is out, against max_unhedged_s:
        within the bound when no stretch of either outlasted max_unhedged_s, and none on the venues that
        trade stayed above max_unhedged_usdt, by more than OUTAGE_BOUND_SLACK_S."""
        e = self.exposure
        longest, over = e.down_longest_ms / 1000, e.down_over_size_ms / 1000
        held = e.held.longest_ms / 1000
        return {"longest_s": longest, "max_usdt": round(e.down_max_usdt, 2), "over_size_s": over,
                "longest_at": e.down_worst, "bound_s": self.bound_s, "bound_usdt": self.bound_usdt,
                "slack_s": OUTAGE_BOUND_SLACK_S,
                # held on the venue that is out (a refused close's leg there): bounded in time; what an ADL
                # left that the strategy cannot have seen yet (on the venue that is out): shown, not bounded
                "held_on_out_venue": e.held.figures(),
                "adl_unseen": e.adl_unseen.figures(),
                "within_bound": (longest <= self.bound_s + OUTAGE_BOUND_SLACK_S
                                 and over <= OUTAGE_BOUND_SLACK_S
                                 and held <= self.bound_s + OUTAGE_BOUND_SLACK_S)}

    def _final_checks(self) -> None:
        # a robot that stopped early leaves its positions to the market until the window's end
        self.world.advance(self.clock.end_ns)
        now = self.end_ms
        self.exposure.sample(now, self._cause)
        self._orphan_check("end")
        if self.ended.startswith("backtest window ended"):
            self._mismatch_check(now, now)

    # --- result ---------------------------------------------------------------------------------
    def result(self) -> dict[str, Any]:
        stats = json.loads(json.dumps(self.world.stats(), default=str))
        self.world.close()
        self.store.flush()
        totals = stats["totals"]
        equity0, equity1 = totals["equity_start_usdt"], totals["equity_end_usdt"]
        ms = self.exposure.ms_by_cause
        failures = []
        if totals["liquidations"]:
            failures.append(f"{totals['liquidations']} liquidation(s)")
        if self.orphans:
            failures.append(f"{len(self.orphans)} orphaned order(s)")
        if self.mismatches:
            failures.append(f"{len(self.mismatches)} ledger/venue mismatch(es) left after recovery")
        if ms["otherwise"]:
            failures.append(f"|net exposure| above one lot for {ms['otherwise'] / 1000:g} s with no venue "
                            "down and no order in flight")
        outage = self._outage_figures()
        if not outage["within_bound"]:
            failures.append(f"unhedged exposure while a venue was out beyond the policy's bound: "
                            f"{outage['longest_s']:g} s (bound {outage['bound_s']:g} s), "
                            f"{outage['over_size_s']:g} s above {outage['bound_usdt']:,.0f} USDT, "
                            f"{outage['held_on_out_venue']['longest_s']:g} s held on the venue that was out")
        nav = self.nav.summary(self.max_drawdown)
        if nav["max_nav_error"]:
            failures.append(f"unit NAV off by {nav['max_nav_error']:.9f} through internal transfers")
        if self.crash:
            failures.append("the strategy crashed")
        if not self.ended.startswith("backtest window ended"):
            failures.append(f"the strategy stopped before the end: {self.ended}")
        result = {
            "seed": self.opts.seed,
            "profile": self.opts.profile,
            "days": self.opts.days,
            "venues": list(self.opts.venues),
            "symbols": list(self.opts.symbols),
            "ended": self.ended,
            "lives": self.lives,
            "kills": self.kills_done,
            "uncommitted_rows_lost_at_kills": self.uncommitted_lost,
            "schedule": self.schedule.summary(),
            "moves": [{"shape": m.shape, "start_ms": m.start_ms, "basis_pct": dict(m.basis_pct)}
                      for m in self.schedule.moves],
            "liquidations": totals["liquidations"],
            "liquidations_by_venue": {k: v["liquidations"] for k, v in stats["venues"].items()},
            "max_abs_net_exposure_usdt": round(self.exposure.max_usdt, 2),
            "max_abs_net_exposure_lots": round(self.exposure.max_lots, 3),
            "max_abs_net_exposure_coin": self.exposure.max_coin,
            "peak_lots_between_legs": round(self.exposure.peak_lots, 3),
            "simulator_max_abs_net_exposure_usdt": stats["max_abs_net_exposure_usdt"],
            "lot": self.exposure.lots,
            "above_one_lot_s": {k: v / 1000 for k, v in ms.items()},
            "otherwise_episodes": self.exposure.otherwise_episodes,
            "late_landings": len(self.world.late_landings),
            "adl_bound_s": self.adl_bound_ms / 1000,
            "adls": self.adls,
            "outage_exposure": outage,
            "nav_on_transfers": nav,
            "orphaned_orders": list(self.orphans.values()),
            "mismatch_checks": self.checks_done,
            "mismatches_after_recovery": self.mismatches,
            "stops_fired": self.stops if self.stops_known else None,
            "trades": totals["trades"],
            "volume_usdt": totals["volume_usdt"],
            "fees_usdt": totals["fees_usdt"],
            "pnl_usdt": round(equity1 - equity0, 2),
            "unit_nav": (self.unit_nav if self.unit_nav is not None
                         else (equity1 / equity0 if equity0 else None)),
            "crash": self.crash,
            "failures": failures,
            "passed": not failures,
            "robot_dir": str(self.robot_dir),
        }
        self.store.close()
        return result


def adl_bound_ms(params_json: str) -> int:
    """How long after an ADL the strategy may take to see it and hedge it: it reads every venue's positions
    every `position_check_s` between reconciles, at the first turn after that (one `loop_interval_ms`
    later at most), and a turn may wait up to `outage.max_turn_wait_ms` on settle windows and
    `rate_limits.max_wait_ms` on the request budget before it gets there."""
    from hedge.config import parse_params

    cfg = parse_params(params_json)
    return (cfg.position_check_s * 1000 + cfg.loop_interval_ms + cfg.outage.max_turn_wait_ms
            + cfg.rate_limits.max_wait_ms)


def _leave_out(schedule: Any, without: frozenset[str]) -> Any:
    """The schedule without the listed fault kinds (and its ADL events for "adl"); every other draw stays."""
    if not without:
        return schedule
    return replace(schedule, faults=tuple(f for f in schedule.faults if f.fault not in without),
                   adls=() if "adl" in without else schedule.adls)


class _Mortal:
    """An exchange object of one life: order calls may be where the process dies; everything else is
    the simulator's own object (looked up once, then cached on this proxy)."""

    def __init__(self, inner: Any, run: ChaosRun, venue: str) -> None:
        self._inner = inner
        self._run = run
        self._venue = venue

    @property
    def last_outcome_unknown(self) -> Any:
        """The runtime's word on the last call (hedge/outage.py asks after every venue call): the inner
        object's, None when it has none (as getattr(..., None) found through __getattr__ before, without an
        AttributeError raised twice for each call)."""
        return getattr(self._inner, "last_outcome_unknown", None)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in ("GetPositions", "GetPosition"):
            run, venue = self._run, self._venue

            def read(*args: Any) -> Any:
                answer = attr(*args)
                if answer is not None:
                    run.positions_read(venue)
                return answer
            setattr(self, name, read)
            return read
        if name in ("CreateOrder", "Buy", "Sell", "CancelOrder", "ModifyOrder"):
            run = self._run

            def call(*args: Any) -> Any:
                run.order_call()
                return attr(*args)
            setattr(self, name, call)
            return call
        if callable(attr):
            setattr(self, name, attr)
        return attr


def _forget_strategy_modules() -> None:
    """A new process imports hedge/ afresh: no module-level state survives a restart."""
    for name in [n for n in sys.modules if n == "hedge" or n.startswith("hedge.")]:
        del sys.modules[name]


_EIDS = {"binance": "Futures_Binance", "bybit": "Futures_Bybit", "okx": "Futures_OKX",
         "coinex": "Futures_CoinEx", "bitmex": "Futures_BitMEX"}


# --- command line --------------------------------------------------------------------------------
def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise UsageError(f"--seeds {text!r}: write a range like 1-20 or a list like 1,4,9") from None
    return seeds


def chaos_params(text: str | None, profile: str = "default", venues: tuple[str, ...] = ()) -> str:
    """The PARAMS document: --params (JSON or a file), else params.json with the profile's overrides and,
    given the bound venues, the automatic treasury (TREASURY_THRESHOLDS)."""
    if profile not in PROFILES:
        raise UsageError(f"--profile {profile!r}: use one of {', '.join(PROFILES)}")
    if text:
        path = Path(text)
        is_file = not text.lstrip().startswith("{") and path.is_file()
        raw = path.read_text(encoding="utf-8") if is_file else text
        try:
            json.loads(raw)
        except ValueError:
            raise UsageError(f"--params {text[:40]!r} is neither a JSON object nor a readable file") from None
        return raw
    document = json.loads((ROOT / "params.json").read_text(encoding="utf-8"))
    document.update(PROFILES[profile])
    if venues:
        document["treasury"] = chaos_treasury(venues, profile)
    return json.dumps(document)


def chaos_treasury(venues: tuple[str, ...], profile: str) -> dict[str, Any]:
    """treasury mode auto between the venues it automates, with the simulator's deposit addresses."""
    from fmz_compat.sim.world import deposit_address
    from hedge.wallets import SUPPORTED_VENUES

    whitelist = [{"venue": v, "network": TREASURY_NETWORK, "address": deposit_address(v, i, TREASURY_NETWORK)}
                 for i, v in enumerate(venues) if v in SUPPORTED_VENUES]
    if len(whitelist) < 2:
        return {"mode": "off"}
    return {"mode": "auto", "whitelist": whitelist, **TREASURY_THRESHOLDS[profile]}


def build_options(args: argparse.Namespace) -> list[ChaosOptions]:
    if not 0.25 <= args.days <= 366:
        raise UsageError(f"--days {args.days:g}: use 0.25..366 (e.g. --days 30)")
    venues = _option_venues(args)
    if args.params and args.profile != "default":
        raise UsageError("--profile sets the strategy parameter: use it or --params, not both")
    params, symbols = _option_params(args, venues)
    seeds = parse_seeds(args.seeds) if args.seeds else [args.seed]
    if args.step_ms <= 0 or 60_000 % args.step_ms:
        raise UsageError(f"--step-ms {args.step_ms}: must divide one minute (e.g. 500, 1000, 2000)")
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: use 1 or more")
    strategy = Path(args.strategy)
    if not strategy.is_file():
        raise UsageError(f"--strategy {args.strategy}: file not found")
    start_ms = _parse_start(args.start)
    without = _option_without(args)
    return [ChaosOptions(seed=s, days=args.days, venues=venues, symbols=symbols, out=Path(args.out),
                         params_json=params, strategy=strategy, start_ms=start_ms, balance=args.balance,
                         step_ms=args.step_ms, grace_s=args.grace_s, without=without,
                         profile="params" if args.params else args.profile) for s in seeds]


def _option_venues(args: argparse.Namespace) -> tuple[str, ...]:
    venues = tuple(v.strip().lower() for v in args.venues.split(",") if v.strip())
    unknown = [v for v in venues if v not in _EIDS]
    if unknown or len(venues) < 2 or len(set(venues)) != len(venues):
        raise UsageError(f"--venues {args.venues!r}: name two or more distinct venues of "
                         f"{', '.join(_EIDS)} (e.g. binance,bybit,okx)")
    return venues


def _option_params(args: argparse.Namespace, venues: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The strategy parameter (--params or --profile, with --symbols written in) and its symbols, checked."""
    params = chaos_params(args.params, args.profile, venues)
    if args.symbols:
        symbols = tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip())
    else:
        symbols = tuple(json.loads(params).get("symbols") or ("BTC_USDT", "ETH_USDT"))
    for s in symbols:
        parts = s.split("_")
        if len(parts) != 2 or parts[1] != "USDT" or not parts[0].isalnum():
            raise UsageError(f"--symbols: {s!r} is not a USDT perp pair; write BTC_USDT,ETH_USDT")
    if args.symbols:
        document = json.loads(params)
        document["symbols"] = list(symbols)
        params = json.dumps(document)
    from hedge.config import ConfigError, parse_params

    try:
        parse_params(params)
    except ConfigError as exc:
        raise UsageError(f"strategy parameter: {exc}") from None
    return params, symbols


def _option_without(args: argparse.Namespace) -> frozenset[str]:
    without = frozenset(k.strip() for k in (args.without or "").split(",") if k.strip())
    from fmz_compat.sim.world import FAULTS

    unknown_kinds = sorted(without - {*FAULTS, "adl"})
    if unknown_kinds:
        raise UsageError(f"--without {args.without!r}: {', '.join(unknown_kinds)} is not a fault kind; use "
                         f"adl or one of {', '.join(FAULTS)}")
    return without


def _parse_start(text: str) -> int:
    import datetime as dt

    try:
        day = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--start {text!r}: write a UTC date like 2024-01-01") from None
    if day.tzinfo is None:
        day = day.replace(tzinfo=dt.UTC)
    return int(day.timestamp() * 1000)


def run_seed(opts: ChaosOptions) -> dict[str, Any]:
    started = time.perf_counter()
    cpu = time.process_time()
    result = ChaosRun(opts).run()
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["cpu_s"] = round(time.process_time() - cpu, 1)
    text = json.dumps(result, indent=2, default=str)
    (opts.out / f"seed-{opts.seed}.json").write_text(text, encoding="utf-8")
    return result


TABLE_HEAD = ("| seed | liq | max net USDT | max net lots | >1 lot s (down / recovering / late landing / ADL "
              "unseen / in flight / otherwise) | orphans | mismatches (checks) | stops per level | kills | "
              "PnL USDT | unit NAV | NAV move on transfers (transfers) | max drawdown % (simulator) | "
              "wall s | result |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def table_row(r: dict[str, Any]) -> str:
    above = r["above_one_lot_s"]
    stops = r["stops_fired"]
    stops_text = "n/a" if stops is None else (" / ".join(f"{k}:{v}" for k, v in sorted(stops.items())) or "0")
    nav = f"{r['unit_nav']:.4f}" if r["unit_nav"] is not None else "n/a"
    moved = r["nav_on_transfers"]
    drawdown = moved["max_drawdown_pct"]
    verdict = "pass" if r["passed"] else "FAIL: " + "; ".join(r["failures"]).replace("|", "\\|")
    return (f"| {r['seed']} | {r['liquidations']} | {r['max_abs_net_exposure_usdt']:,.0f} | "
            f"{r['max_abs_net_exposure_lots']:g} | {above['venue_down']:g} / {above['recovering']:g} / "
            f"{above['late_landing']:g} / {above['adl']:g} / {above['in_flight']:g} / "
            f"{above['otherwise']:g} | "
            f"{len(r['orphaned_orders'])} | {len(r['mismatches_after_recovery'])} ({r['mismatch_checks']}) | "
            f"{stops_text} | {len(r['kills'])} | {r['pnl_usdt']:+,.2f} | {nav} | "
            f"{moved['max_nav_error']:g} ({moved['internal_withdrawals']}) | "
            f"{'n/a' if drawdown is None else f'{drawdown:g}'} ({moved['sim_max_drawdown_pct']:g}) | "
            f"{r.get('wall_s', 0):g} | {verdict} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=30.0, help="simulated days per seed (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="one seed (default 1)")
    parser.add_argument("--seeds", help="several seeds: 1-20 or 1,4,9 (overrides --seed)")
    parser.add_argument("--venues", default="binance,bybit,okx",
                        help="comma list (default binance,bybit,okx)")
    parser.add_argument("--symbols", help="comma list of USDT perps (default: the parameter's symbols)")
    parser.add_argument("--params", help="strategy parameter, JSON or a file (default: params.json with "
                                         "the chaos overrides, see docs/reliability.md)")
    parser.add_argument("--profile", default="default",
                        help="strategy parameter profile: default (a full book about 50 %% from liquidation) "
                             "or tight (venues kept just outside the first stop level; docs/reliability.md)")
    parser.add_argument("--strategy", default=str(ROOT / "strategy.py"), help="strategy file")
    parser.add_argument("--start", default=DEFAULT_START, help="window start, UTC date (default 2024-01-01)")
    parser.add_argument("--balance", type=float, default=10_000.0, help="USDT per venue (default 10000)")
    parser.add_argument("--step-ms", type=int, default=1000, help="simulator price grid (default 1000)")
    parser.add_argument("--grace-s", type=int, default=120,
                        help="seconds after a venue is back that still count as its outage (default 120)")
    parser.add_argument("--without", help="comma list of fault kinds to leave out of the schedule (e.g. "
                                          "adl,timeout_lands_late), to tell which one a finding comes from")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes (default 1)")
    parser.add_argument("--out", default="runs/chaos", help="output folder (default runs/chaos)")
    parser.add_argument("--markdown", nargs="+", metavar="DIR",
                        help="no run: print docs/reliability.md's table from these output folders (e.g. "
                             "runs/chaos-default runs/chaos-tight)")
    parser.add_argument("--into", metavar="FILE", help="with --markdown: write the table between the "
                                                       "chaos-table markers of FILE instead of printing it")
    from tools import chaos_table

    try:
        args = parser.parse_args(argv)
        if args.markdown:
            return chaos_table.main(args.markdown, args.into)
        if args.into:
            raise UsageError("--into goes with --markdown DIR ...")
        options = build_options(args)
    except (UsageError, chaos_table.TableError) as exc:
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(TABLE_HEAD, flush=True)
    results: list[dict[str, Any]] = []
    if args.jobs == 1 or len(options) == 1:
        for opts in options:
            results.append(run_seed(opts))
            print(table_row(results[-1]), flush=True)
    else:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for result in pool.map(run_seed, options):
                results.append(result)
                print(table_row(result), flush=True)
    command = "python -m tools.chaos " + " ".join(sys.argv[1:] if argv is None else argv)
    failed = [r["seed"] for r in results if not r["passed"]]
    summary = {"command": command, "profile": options[0].profile,
               "seeds": [r["seed"] for r in results], "failed_seeds": failed,
               "passed": not failed, "results": results}
    (out / "chaos.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    table = "\n".join([f"`{command}`", "", TABLE_HEAD, *(table_row(r) for r in results), ""])
    (out / "chaos.md").write_text(table, encoding="utf-8")
    print(f"{len(results) - len(failed)}/{len(results)} seeds pass" +
          (f"; failed: {', '.join(map(str, failed))}" if failed else "") + f"; written to {out}/chaos.md")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
