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

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hedge import store_keys
from hedge.state import TradingState

if TYPE_CHECKING:
    from hedge.config import GuardsConfig
    from hedge.gate import TradingGate
    from hedge.market import Market

PEAK_KEY = store_keys.GUARD_PEAK_NAV
DRAWDOWN_HOLD = "guard:drawdown"  # the one guard hold only a person lifts
CLOCK_READINGS = 3


class Guards:
    """gate: held and released under `guard:<name>`; store: _G (the drawdown's peak); rejects_since(ms):
    orders refused since then (hedge/outage.py)."""

    def __init__(self, cfg: GuardsConfig, gate: TradingGate, store: Callable[..., Any],
                 rejects_since: Callable[[int], int]) -> None:
        self.cfg = cfg
        self._gate = gate
        self._store = store
        self._rejects_since = rejects_since
        self.tripped: dict[str, int] = {}  # guard -> times it placed its hold
        self._drift: list[tuple[tuple[int, str], int]] = []  # (ms ahead, venue), ms behind per check
        saved = store(PEAK_KEY)
        self.peak_nav = Decimal(saved) if saved else Decimal(0)

    def check(self, now_ms: int, unit_nav: Decimal, accounts_fresh: bool, market: Market | None) -> None:
        """Status interval: drawdown (accounts_fresh: every venue's account was read this time), rejects,
        clock drift (market: None before start)."""
        self._drawdown(unit_nav, accounts_fresh)
        self._rejects(now_ms)
        self._clock(now_ms, market)

    def check_exposure(self, nets: Mapping[str, Decimal], mid: Callable[[str], Decimal | None]) -> None:
        """After a position read: nets, the net base exposure per symbol; mid(symbol), a fresh mid price."""
        limit = self.cfg.max_net_exposure_usdt
        if limit <= 0:
            self._off("net_exposure", "max_net_exposure_usdt")
            return
        worst: tuple[Decimal, str] | None = None
        for symbol, net in nets.items():
            mid_price = mid(symbol)
            if mid_price is None or net == 0:
                continue
            usdt = abs(net) * mid_price
            if usdt > limit and (worst is None or usdt > worst[0]):
                worst = (usdt, symbol)
        if worst is not None:
            self._trip(
                "net_exposure",
                f"net exposure of {worst[1]} is {worst[0]:.2f} USDT > guards.max_net_exposure_usdt {limit}",
            )
        else:
            self._clear("net_exposure", "net exposure back within guards.max_net_exposure_usdt")

    def _drawdown(self, nav: Decimal, accounts_fresh: bool) -> None:
        """Against the peak of unit NAV seen when every venue's account was read fresh: an equity counted
        at its last known value while a venue is out must not make a peak (or a drawdown) of its own."""
        limit = self.cfg.max_drawdown_pct
        if limit <= 0:
            self._off("drawdown", "max_drawdown_pct")
        if limit <= 0 or nav <= 0 or not accounts_fresh:
            return
        if nav > self.peak_nav:
            self.peak_nav = nav
            self._store(PEAK_KEY, str(nav))
        drawdown = (1 - nav / self.peak_nav) * 100
        if drawdown >= limit:
            self._trip(
                "drawdown",
                f"unit NAV {nav:.6f} is {drawdown:.2f}% below its peak {self.peak_nav:.6f} "
                f"(guards.max_drawdown_pct {limit}); command state:ACTIVE to resume",
            )

    def _rejects(self, now_ms: int) -> None:
        limit = self.cfg.max_rejects
        if limit <= 0:
            self._off("rejects", "max_rejects")
            return
        count = self._rejects_since(now_ms - self.cfg.reject_window_s * 1000)
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

    def _clock(self, now: int, market: Market | None) -> None:
        """A clock offset is persistent; latency and a slow loop turn are not. The drift counted is the
        smallest of the last CLOCK_READINGS status checks, so one late or early reading never trips it."""
        limit = self.cfg.max_clock_drift_ms
        if limit <= 0:
            self._off("clock_drift", "max_clock_drift_ms")
        if limit <= 0 or market is None:
            return
        newest = {key: max((t.time_ms for t in market.tops[key].values()), default=0)
                  for key, failed in market.failed.items() if not failed}
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
        if self._gate.held(hold) is not None:
            return
        self.tripped[name] = self.tripped.get(name, 0) + 1
        self._gate.hold(hold, TradingState.REDUCING, f"guard {name}: {reason}")

    def _clear(self, name: str, reason: str) -> None:
        self._gate.release(f"guard:{name}", f"guard {name} cleared: {reason}")

    def _off(self, name: str, key: str) -> None:
        """A guard turned off (e.g. for a restart) lifts a hold it left in _G: nothing else would."""
        self._clear(name, f"guards.{key} is 0 (off)")
