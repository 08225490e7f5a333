"""The figures of one run, from its stats (world.stats() plus the strategy's own accounting): pure
functions of those dicts, one definition for the run summary, report.html and the cluster's summary
(hedge/figures.py defines the shared arithmetic and wording)."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from hedge import figures

HELD_LABEL = "unrealized: positions still open, coins held, transfers in flight"


def stamp(ms: int | None) -> str:
    if ms is None:
        return ""
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def utc_text(ms: int) -> str:
    return f"{stamp(ms)} UTC"


def annualized(unit_nav: float | None, days: float) -> tuple[float, float] | None:
    """(simple r x 365/days, compounded) for a unit NAV reached after `days`; None below one day
    (hedge/figures.py is the definition)."""
    found = figures.annualized(unit_nav, days)
    return None if found is None else (float(found[0]), float(found[1]))


def summary_figures(stats: dict[str, Any], window: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every figure of a run, once: the run summary, report.html and the cluster summary show these.

    Totals across venues come from world.stats(); unit NAV, profit and the period they annualize over
    come from the strategy's fund accounting when it keeps one (stats["accounting"], the figures its
    own status table shows), else from the venues' equity over the window."""
    totals = stats.get("totals") or {}
    venues = stats.get("venues") or {}

    def total(key: str) -> float:
        if key in totals:
            return float(totals[key] or 0)
        return float(sum(float((v or {}).get(key) or 0) for v in venues.values()))

    equity_start, equity_end = total("equity_start_usdt"), total("equity_end_usdt")
    fees, before_fees = total("fees_usdt"), total("realized_pnl_usdt")
    accounting = stats.get("accounting") or None
    window = window or stats.get("window") or {}
    valued_at = ""  # when the strategy valued the profit, if before the end of the window
    if accounting:
        unit_nav: float | None = float(accounting["unit_nav"])
        profit = float(accounting["profit_usdt"])
        days = figures.days_between(accounting["inception_ms"], accounting["time_ms"])
        nav_source = "the strategy's fund accounting"
        last_step_ms = (stats.get("window") or window).get("end_ms")  # the simulator's last step, if known
        differs = figures.usdt(profit) != figures.usdt(equity_end - equity_start)
        if differs and last_step_ms is not None and int(accounting["time_ms"]) < int(last_step_ms):
            # its last status may come up to status_interval_s before the end: the equity end is later
            valued_at = utc_text(int(accounting["time_ms"]))
    else:
        unit_nav = (equity_end / equity_start) if equity_start else None
        profit = equity_end - equity_start
        start_ms, end_ms = window.get("start_ms"), window.get("end_ms")
        days = figures.days_between(start_ms, end_ms) if start_ms is not None and end_ms is not None else 0
        nav_source = "equity end / start"
    held, between = _exposure(stats)
    return {
        "trades": int(total("trades")),
        "volume_usdt": total("volume_usdt"),
        "fees_usdt": fees,
        "funding_usdt": total("funding_usdt"),
        "pnl_before_fees_usdt": before_fees,
        "pnl_after_fees_usdt": figures.pnl_after_fees(before_fees, fees),
        "equity_start_usdt": equity_start,
        "equity_end_usdt": equity_end,
        "profit_usdt": profit,
        "profit_valued_at": valued_at,
        # the equity change the trading PnL, fees and funding above do not hold: the value of what is
        # still held at the end (open positions at their marks, coins, transfers in flight)
        "still_held_usdt": equity_end - equity_start - figures.pnl_after_fees(before_fees, fees)
        - total("funding_usdt"),
        "unit_nav": accounting["unit_nav"] if accounting else unit_nav,
        "unit_nav_source": nav_source,
        "days": float(days),
        "annualized": figures.annualized(accounting["unit_nav"] if accounting else unit_nav, days),
        "liquidations": int(total("liquidations")),
        "max_abs_net_exposure_usdt": float(held.get("usdt") or 0),
        "max_abs_net_exposure_at": _where(held),
        "between_legs_usdt": float(between.get("usdt") or 0),
        "between_legs_count": int(between.get("count") or 0),
        "between_legs_at": _where(between),
    }


def _exposure(stats: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(held, between two legs); a world without the split reports its one figure as held."""
    split = stats.get("net_exposure")
    if split:
        return split.get("held") or {}, split.get("between_legs") or {}
    detail = dict(stats.get("max_net_exposure") or {})
    detail["usdt"] = abs(float(stats.get("max_abs_net_exposure_usdt") or 0))
    return detail, {}


def _where(detail: dict[str, Any]) -> str:
    where = [str(detail["coin"])] if detail.get("coin") else []
    if detail.get("time_ms") is not None and detail.get("usdt"):
        where.append(stamp(int(detail["time_ms"])) + " UTC")
    return " ".join(where) if detail.get("usdt") else ""


def valued_note(f: dict[str, Any]) -> str:
    """Why the profit may differ from equity end - start: the strategy valued it at its last status."""
    if not f.get("profit_valued_at"):
        return ""
    return f" (the strategy's valuation at its last status, {f['profit_valued_at']}; equity end is later)"


def held_note(f: dict[str, Any]) -> str:
    """Why equity end - start is not the trading PnL after fees plus funding, when it is not."""
    held = f.get("still_held_usdt") or 0.0
    if figures.usdt(held) in ("0.00", "-0.00"):
        return ""
    return f" ({figures.usdt(held, signed=True)} {HELD_LABEL})"


def nav_text(f: dict[str, Any]) -> str:
    return f"{float(f['unit_nav']):.6f}" if f["unit_nav"] is not None else "n/a"


def summary_lines(f: dict[str, Any]) -> list[str]:
    """The figure lines of the run summary (and of the cluster's), worded as hedge/figures.py says."""
    label = figures.LABELS
    held_at = f" ({f['max_abs_net_exposure_at']})" if f["max_abs_net_exposure_at"] else ""
    between = (f"   between two legs {figures.usdt(f['between_legs_usdt'])} ({f['between_legs_count']} "
               f"times, back within {figures.IN_FLIGHT_MS // 1000} s)" if f["between_legs_count"] else "")
    return [
        f"trades {f['trades']}   volume {f['volume_usdt']:,.2f} USDT   trading PnL before fees "
        f"{figures.usdt(f['pnl_before_fees_usdt'], signed=True)}   fees {figures.usdt(f['fees_usdt'])}   "
        f"after fees {figures.usdt(f['pnl_after_fees_usdt'], signed=True)}   funding "
        f"{figures.usdt(f['funding_usdt'], signed=True)}",
        f"equity {f['equity_start_usdt']:,.2f} -> {f['equity_end_usdt']:,.2f} USDT{held_note(f)}   "
        f"{label['unit_nav']} {nav_text(f)} ({f['unit_nav_source']})   liquidations {f['liquidations']}",
        f"profit, after fees and funding {figures.usdt(f['profit_usdt'], signed=True)} USDT"
        f"{valued_note(f)}   "
        f"annualized return {figures.annualized_text(f['annualized'])}",
        f"max |net exposure| held {figures.usdt(f['max_abs_net_exposure_usdt'])} USDT{held_at}{between}",
    ]
