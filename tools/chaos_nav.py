"""The chaos run's watch on unit NAV: does an internal transfer move it, and is its drawdown the fund's?

At every measurement the strategy makes (`App.observe` that reached the accounting, i.e. not held), the
unit NAV it reports is compared with the unit NAV it would report had every move between our own wallets
been counted exactly once and no share been minted or burnt for one:

    error (USDT) = what the strategy counts off the futures wallets (funding wallets + in transit)
                 - what the simulator holds there at that instant (funding wallets + internal withdrawals not
                   credited, at what the receiver gets; a stuck one too)
                 + what was moved futures -> funding on each venue after the strategy's account reading of it
                   (its futures equity still holds that money)
    true unit NAV = (reported equity - error) / (shares - shares minted or burnt by flows)

No outside deposit or withdrawal happens in a chaos run, so every flow the strategy books is one of our own
moves taken for a cash flow. The market does not enter the figure (both sides use the strategy's own
futures readings), so it is 0 unless a transfer is miscounted. A network fee is what it is: the simulator
takes it from the fund when the withdrawal leaves and the strategy counts the withdrawal in transit at what
the receiver gets, so it lowers the reported and the true NAV alike and is not a move; it is shown beside
the figure (USDT, and fee / shares in NAV).

The simulator's own unit NAV (every account's equity, funding wallets and money in flight over the same
shares) is sampled at the same instants, for the max drawdown the strategy shows.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

ASSET = "USDT"
NAV_TOLERANCE = 1e-8  # the venues' answers are decimal strings of 8 places; below this is float noise


@dataclass
class NavPoint:
    time_ms: int
    nav: float
    error: float        # reported minus true unit NAV
    sim_nav: float
    shares: float


@dataclass
class NavWatch:
    world: Any
    points: list[NavPoint] = field(default_factory=list)
    transfers: dict[int, dict[str, Any]] = field(default_factory=dict)  # the treasury's, by id
    read_moved: dict[str, float] = field(default_factory=dict)  # venue -> moved_to_funding at its reading

    def new_life(self) -> None:
        self.read_moved = {}

    def _account(self, venue: str) -> Any:
        return next(a for a in self.world.accounts if a.venue == venue and a.futures)

    def account_read(self, venue: str) -> None:
        """The strategy just read `venue`'s futures account."""
        self.read_moved[venue] = self._account(venue).moved_to_funding[ASSET]

    def observed(self, app: Any) -> None:
        """The strategy just measured unit NAV (`app.accounting.live`)."""
        acc, live = app.accounting, app.accounting.live
        world = self.world
        futures_seen = sum(float(view.equity) for view in app.accounts.values())
        counted_off = float(live.equity) - futures_seen
        held_off = sum(a.funding_wallet[ASSET] for a in world.accounts) + world.in_flight(ASSET)
        moved_since = sum(self._account(v).moved_to_funding[ASSET] - self.read_moved[v]
                          for v in app.accounts if v in self.read_moved)
        error = counted_off - held_off + moved_since
        shares = float(acc.share_count) - sum(float(f.shares) for f in acc.flows)
        nav = float(live.unit_nav)
        true_nav = (float(live.equity) - error) / shares
        sim_equity = sum(a.equity_usdt() for a in world.accounts) + world.in_flight(ASSET)
        self.points.append(NavPoint(int(live.time_ms), nav, nav - true_nav, sim_equity / shares, shares))
        self.note_transfers(app)

    def note_transfers(self, app: Any) -> None:
        treasury = getattr(app, "treasury", None)
        for t in getattr(treasury, "transfers", None) or ():
            final = t.status.value in ("DONE", "FAILED", "ABANDONED")
            self.transfers[t.id] = {"id": t.id, "source": t.source, "dest": t.dest, "amount": float(t.amount),
                                    "status": t.status.value, "created_ms": t.created_ms,
                                    "done_ms": t.updated_ms if final else None}

    # --- figures ----------------------------------------------------------------------------------
    def transfer_rows(self) -> list[dict[str, Any]]:
        """Per transfer: unit NAV at the last measurement before it started and the first after it ended,
        and the largest |error| over that span (every measurement while it was in flight)."""
        rows = []
        times = [p.time_ms for p in self.points]
        for t in sorted(self.transfers.values(), key=lambda r: r["id"]):
            first = max(0, _index_before(times, t["created_ms"]))
            end = t["done_ms"]
            last = len(self.points) - 1 if end is None else min(len(self.points) - 1,
                                                                  _index_after(times, end))
            span = self.points[first:last + 1]
            row = dict(t)
            row.update(measurements=len(span),
                       nav_before=span[0].nav if span else None, nav_after=span[-1].nav if span else None,
                       max_nav_error=max((abs(p.error) for p in span), default=0.0))
            rows.append(row)
        return rows

    def summary(self, strategy_max_drawdown: float | None) -> dict[str, Any]:
        world = self.world
        internal = [w for w in world.withdrawals if w["to"] is not None]
        fees = sum(w["fee"] for w in internal)
        shares = self.points[-1].shares if self.points else None
        rows = self.transfer_rows()
        worst = max(self.points, key=lambda p: abs(p.error), default=None)
        error = abs(worst.error) if worst is not None else 0.0
        return {
            "internal_withdrawals": len(internal),
            "network_fees_usdt": round(fees, 6),
            "network_fees_nav": round(fees / shares, 9) if shares else None,
            "measurements": len(self.points),
            "measurements_during_transfers": sum(r["measurements"] for r in rows),
            "max_nav_error": 0.0 if error < NAV_TOLERANCE else round(error, 9),
            "max_nav_error_at_ms": worst.time_ms if worst is not None and error >= NAV_TOLERANCE else None,
            "transfers": rows,
            "max_drawdown_pct": (None if strategy_max_drawdown is None
                                 else round(strategy_max_drawdown * 100, 3)),
            "max_drawdown_pct_measured": round(_max_drawdown([p.nav for p in self.points]) * 100, 3),
            "sim_max_drawdown_pct": round(_max_drawdown([p.sim_nav for p in self.points]) * 100, 3),
        }


def _max_drawdown(series: list[float]) -> float:
    peak, worst = 1.0, 0.0
    for value in series:
        peak = max(peak, value)
        worst = max(worst, 1 - value / peak)
    return worst


def _index_before(times: list[int], ms: int) -> int:
    """The last measurement at or before `ms` (0 when none)."""
    return max(0, bisect.bisect_right(times, ms) - 1)


def _index_after(times: list[int], ms: int) -> int:
    """The first measurement at or after `ms` (the last one when none)."""
    return min(len(times) - 1, bisect.bisect_left(times, ms))
