"""Guards: conditions that hold the trading gate at REDUCING by themselves, with the reason.

Checked at every status interval (net exposure after every position read). Each guard holds the gate
(hedge/gate.py) under its own name, `guard:<name>`, and lifts only that hold. A guard never holds at
HALTED: HALTED sends no orders at all, which would also silence the tiered stops; only a person halts.

- net_exposure: |net exposure| of a coin x mid above guards.max_net_exposure_usdt at a position
  read; clears by itself when back under.
- drawdown: unit NAV guards.max_drawdown_pct below its peak; only a person (state:ACTIVE) clears it.
- rejects: guards.max_rejects orders refused within guards.reject_window_s; clears when fewer.
- clock_drift: venue timestamps ahead of the runtime clock by more than guards.max_clock_drift_ms (or
  every venue behind it by that much); clears when back within.
- reconcile: venue positions differ from the ledger (App.stop_openings, keeps the suspect pairs); clears
  once reconciled.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from hedge import store_keys
from hedge.state import TradingState

if TYPE_CHECKING:
    from hedge.app import App

PEAK_KEY = store_keys.GUARD_PEAK_NAV
DRAWDOWN_HOLD = "guard:drawdown"  # the one guard hold only a person lifts
CLOCK_READINGS = 3


class Guards:
    def __init__(self, app: App) -> None:
        self.app = app
        self.cfg = app.cfg.guards
        self.tripped: dict[str, int] = {}  # guard -> times it placed its hold
        self._drift: list[tuple[tuple[int, str], int]] = []  # (ms ahead, venue), ms behind per check
        saved = app.api.store(PEAK_KEY)
        self.peak_nav = Decimal(saved) if saved else Decimal(0)

    def check(self) -> None:
        """Status interval: drawdown, rejects, clock drift."""
        self._drawdown()
        self._rejects()
        self._clock()

    def check_exposure(self) -> None:
        limit = self.cfg.max_net_exposure_usdt
        if limit <= 0:
            return
        worst: tuple[Decimal, str] | None = None
        for symbol, net in self.app.last_net_exposure.items():
            mid = self.app._mid(symbol) if self.app.market is not None else None
            if mid is None or net == 0:
                continue
            usdt = abs(net) * mid
            if usdt > limit and (worst is None or usdt > worst[0]):
                worst = (usdt, symbol)
        if worst is not None:
            self._trip(
                "net_exposure",
                f"net exposure of {worst[1]} is {worst[0]:.2f} USDT > guards.max_net_exposure_usdt {limit}",
            )
        else:
            self._clear("net_exposure", "net exposure back within guards.max_net_exposure_usdt")

    def _drawdown(self) -> None:
        """Against the peak of unit NAV seen when every venue's account was read fresh: an equity counted
        at its last known value while a venue is out must not make a peak (or a drawdown) of its own."""
        limit = self.cfg.max_drawdown_pct
        app = self.app
        nav = app.accounting.unit_nav
        if limit <= 0 or nav <= 0 or not app.accounts or not all(v.ok for v in app.accounts.values()):
            return
        if nav > self.peak_nav:
            self.peak_nav = nav
            app.api.store(PEAK_KEY, str(nav))
        drawdown = (1 - nav / self.peak_nav) * 100
        if drawdown >= limit:
            self._trip(
                "drawdown",
                f"unit NAV {nav:.6f} is {drawdown:.2f}% below its peak {self.peak_nav:.6f} "
                f"(guards.max_drawdown_pct {limit}); command state:ACTIVE to resume",
            )

    def _rejects(self) -> None:
        limit = self.cfg.max_rejects
        if limit <= 0:
            return
        count = self.app.health.rejects_since(self.app.now_ms - self.cfg.reject_window_s * 1000)
        if count >= limit:
            self._trip(
                "rejects",
                f"{count} orders refused in the last {self.cfg.reject_window_s} s "
                f"(guards.max_rejects {limit})",
            )
        else:
            self._clear(
                "rejects", f"fewer than {limit} refused orders in the last {self.cfg.reject_window_s} s"
            )

    def _clock(self) -> None:
        """A clock offset is persistent; latency and a slow loop turn are not. The drift counted is the
        smallest of the last CLOCK_READINGS status checks, so one late or early reading never trips it."""
        limit = self.cfg.max_clock_drift_ms
        market = self.app.market
        if limit <= 0 or market is None:
            return
        now = self.app.now_ms
        newest = {v.key: max((t.time_ms for t in market.tops[v.key].values()), default=0)
                  for v in self.app.venues if not market.failed[v.key]}
        newest = {k: ms for k, ms in newest.items() if ms > 0}
        ahead = max(((ms - now, k) for k, ms in newest.items()), default=(0, ""))
        behind = min((now - ms for ms in newest.values()), default=0)  # every venue at least this far behind
        self._drift.append((ahead, behind))
        del self._drift[:-CLOCK_READINGS]
        if len(self._drift) < CLOCK_READINGS:
            return
        steady_ahead = min(reading[0][0] for reading in self._drift)
        steady_behind = min(reading[1] for reading in self._drift)
        if steady_ahead > limit:
            self._trip("clock_drift", f"{ahead[1]} timestamps are at least {steady_ahead} ms ahead of the "
                       f"runtime clock at the last {CLOCK_READINGS} checks (guards.max_clock_drift_ms "
                       f"{limit}); check the host's time synchronisation")
        elif steady_behind > limit:
            self._trip("clock_drift", f"every venue's timestamps are at least {steady_behind} ms behind the "
                       f"runtime clock at the last {CLOCK_READINGS} checks (guards.max_clock_drift_ms "
                       f"{limit}); check the host's time synchronisation")
        else:
            self._clear("clock_drift", "venue timestamps within guards.max_clock_drift_ms")

    def _trip(self, name: str, reason: str) -> None:
        hold = f"guard:{name}"
        if self.app.gate.held(hold) is not None:
            return
        self.tripped[name] = self.tripped.get(name, 0) + 1
        self.app.gate.hold(hold, TradingState.REDUCING, f"guard {name}: {reason}")

    def _clear(self, name: str, reason: str) -> None:
        self.app.gate.release(f"guard:{name}", f"guard {name} cleared: {reason}")
