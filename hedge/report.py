"""What the user sees: status tables (LogStatus tabs), the charts (Chart), LogProfit.

Presentation only: formats one frozen status view (hedge/status.py, built by its query once per status
interval) and draws the accounting history into the charts; it changes nothing but the chart.
"""

from __future__ import annotations

import bisect
import json
import time
from decimal import Decimal
from typing import Any

from hedge.accounting import DAY_MS, HOUR_MS, Accounting, NavPoint, WindowReturn
from hedge.cluster import Unit
from hedge.figures import LABELS, annualized_text, pct, pnl_after_fees
from hedge.fmz import Api
from hedge.ledger import LooseLeg
from hedge.state import TradingState
from hedge.status import DistanceView, Figures, StatusView
from hedge.valuation import UNVALUED

CHART_LIVE_MS = 15 * 60_000  # the newest point of each series is redrawn at most this often
REBUILD_AFTER_DAYS = 97      # once the history is older, the chart is redrawn weekly (old hours -> days)
REBUILD_EVERY_DAYS = 7
RETURN_WINDOW_DAYS = 30

# FMZ table cells take a trailing colour
_LEVEL_CELL = {"info": "info", "warn": "warn #ff9900", "error": "error #ff0000",
               "critical": "CRITICAL #ff0000"}


def _time(ms: int) -> str:
    second = ms // 1000
    text = _TIME_TEXT.get(second)
    if text is None:  # each status table writes every event's time again
        if len(_TIME_TEXT) >= 4096:
            _TIME_TEXT.clear()
        text = _TIME_TEXT[second] = time.strftime("%m-%d %H:%M:%S", time.gmtime(second))
    return text


_TIME_TEXT: dict[int, str] = {}  # _time by Unix second


def _table(title: str, cols: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"type": "table", "title": title, "cols": cols, "rows": rows}


def _pct(value: Decimal | None) -> str:
    return pct(value)


def _since_inception(found: WindowReturn | None) -> str:
    return annualized_text((found.simple_annual, found.compound_annual) if found else None)


def _returns_cell(found: WindowReturn | None) -> str:
    if found is None:
        return "- (history too short)"
    return f"{_pct(found.simple_annual)} (compounded {_pct(found.compound_annual)})"


class Charts:
    """Chart() series fed from the accounting history: hourly points (the newest redrawn in place every
    15 minutes), daily before the hourly history ends; a year is ~2,500 points per series."""

    def __init__(self, venues: list[str], symbols: list[str]) -> None:
        self.venues = venues
        self.symbols = symbols
        v, s = len(venues), len(symbols)
        self.nav = 0
        self.ret = 1           # simple, compounded
        self.volume = 3        # one per venue
        self.profit = 3 + v
        self.exposure = 4 + v  # one per symbol
        self.margin = 4 + v + s
        self.leverage = 4 + 2 * v + s
        self._hour: int | None = None
        self._day: int | None = None
        self._drawn_ms = 0
        self._rebuilt_day: int | None = None

    def config(self) -> list[dict[str, Any]]:
        def chart(title: str, y: Any, series: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {"__isStock": False, "extension": {"layout": "single", "col": 6, "height": 300},
                    "title": {"text": title}, "xAxis": {"type": "datetime"}, "yAxis": y,
                    "legend": {"enabled": True}, "series": series, **extra}

        line = [{"name": "unit NAV", "data": []}]
        ret = [{"name": "annualized (simple, r x 365/days)", "data": []},
               {"name": "annualized (compounded)", "data": [], "dashStyle": "ShortDash"}]
        volume = [{"name": v, "type": "column", "data": []} for v in self.venues]
        margin = [{"name": f"{v} margin", "data": [], "yAxis": 0} for v in self.venues]
        leverage = [{"name": f"{v} leverage", "data": [], "yAxis": 1, "dashStyle": "ShortDot"}
                    for v in self.venues]
        return [
            chart("Unit NAV", {"title": {"text": "unit NAV"}}, line),
            chart(f"Annualized return ({RETURN_WINDOW_DAYS}-day window; since inception until then)",
                  {"title": {"text": "% a year"}}, ret),
            chart("Daily volume by venue (USDT)", {"title": {"text": "USDT"}}, volume,
                  chart={"type": "column"}, plotOptions={"column": {"stacking": "normal"}}),
            chart("Absolute profit (USDT)", {"title": {"text": "USDT"}}, [{"name": "profit", "data": []}]),
            chart("Net exposure (USDT)", {"title": {"text": "USDT"}},
                  [{"name": s, "data": []} for s in self.symbols]),
            chart("Margin in use (USDT) and effective leverage by venue",
                  [{"title": {"text": "margin USDT"}}, {"title": {"text": "leverage x"}, "opposite": True}],
                  margin + leverage),
        ]

    def _points(self, point: NavPoint, ret: tuple[float, float] | None) -> list[tuple[int, float]]:
        """(series, value) of the line series at one point."""
        out = [(self.nav, float(point.unit_nav)), (self.profit, float(round(point.profit, 4)))]
        if ret is not None:
            out += [(self.ret, ret[0]), (self.ret + 1, ret[1])]
        for i, symbol in enumerate(self.symbols):
            out.append((self.exposure + i, float(round(point.exposure.get(symbol, Decimal(0)), 2))))
        for i, venue in enumerate(self.venues):
            out.append((self.margin + i, float(round(point.margin.get(venue, Decimal(0)), 2))))
            out.append((self.leverage + i, float(round(point.leverage.get(venue, Decimal(0)), 3))))
        return out

    @staticmethod
    def _return(accounting: Accounting, point: NavPoint, times: list[int], navs: list[float]
                ) -> tuple[float, float] | None:
        """(simple, compounded) annualized % at a point; floats: this is only drawn."""
        days_alive = (point.time_ms - accounting.inception_ms) / DAY_MS
        if days_alive < 1:
            return None
        if days_alive >= RETURN_WINDOW_DAYS:
            i = bisect.bisect_right(times, point.time_ms - RETURN_WINDOW_DAYS * DAY_MS) - 1
            if i < 0 or navs[i] <= 0:
                return None
            then, days = navs[i], float(RETURN_WINDOW_DAYS)
        else:
            then, days = 1.0, days_alive
        growth = float(point.unit_nav) / then
        return round((growth - 1) * 365 / days * 100, 4), round((growth ** (365 / days) - 1) * 100, 4)

    def rebuild(self, chart: Any, accounting: Accounting) -> None:
        """Redraw every series from the accounting history (at start, and weekly once thinning is due)."""
        chart.reset()
        history = accounting.history()
        times = [p.time_ms for p in history]
        navs = [float(p.unit_nav) for p in history]
        for point in history:
            x = point.time_ms // HOUR_MS * HOUR_MS
            for series, value in self._points(point, self._return(accounting, point, times, navs)):
                chart.add(series, [x, value])
        days = [(p.time_ms // DAY_MS, p.volume) for p in accounting.days]
        if accounting.live is not None:
            today = accounting.live.time_ms // DAY_MS
            days.append((today, accounting.today_volume(accounting.live.time_ms)))
        for day, volume in days:
            for i, venue in enumerate(self.venues):
                chart.add(self.volume + i, [day * DAY_MS, float(round(volume.get(venue, Decimal(0)), 2))])
        live = accounting.live
        self._hour = live.time_ms // HOUR_MS if live else None
        self._day = live.time_ms // DAY_MS if live else None
        self._drawn_ms = live.time_ms if live else 0
        self._rebuilt_day = self._day

    def update(self, chart: Any, accounting: Accounting) -> None:
        """Draw the newest point: a new hour appends, the same hour is redrawn (at most every 15 min)."""
        live = accounting.live
        if live is None:
            return
        hour, day = live.time_ms // HOUR_MS, live.time_ms // DAY_MS
        if self._hour is None or self._rebuilt_day is None:
            self.rebuild(chart, accounting)
            return
        if day != self._day and day - self._rebuilt_day >= REBUILD_EVERY_DAYS \
                and live.time_ms - accounting.inception_ms > REBUILD_AFTER_DAYS * DAY_MS:
            self.rebuild(chart, accounting)
            return
        new_hour = hour != self._hour
        if not new_hour and live.time_ms - self._drawn_ms < CHART_LIVE_MS:
            return
        index = None if new_hour else -1
        days_alive = (live.time_ms - accounting.inception_ms) / DAY_MS
        found = accounting.window(RETURN_WINDOW_DAYS) if days_alive >= RETURN_WINDOW_DAYS \
            else accounting.since_inception()
        ret = None if found is None else (float(round(found.simple_annual * 100, 4)),
                                          float(round(found.compound_annual * 100, 4)))
        for series, value in self._points(live, ret):
            chart.add(series, [hour * HOUR_MS, value], index)
        new_day = day != self._day
        volume = accounting.today_volume(live.time_ms)
        for i, venue in enumerate(self.venues):
            chart.add(self.volume + i, [day * DAY_MS, float(round(volume.get(venue, Decimal(0)), 2))],
                      None if new_day else -1)
        self._hour, self._day, self._drawn_ms = hour, day, live.time_ms


class Report:
    """The status tables, LogProfit and the summary line from a status view; the charts (Charts) from the
    accounting history."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.charts: Charts | None = None

    def chart_config(self, venues: list[str], symbols: list[str]) -> list[dict[str, Any]]:
        self.charts = Charts(venues, symbols)
        return self.charts.config()

    def publish(self, view: StatusView, chart: Any, accounting: Accounting) -> None:
        if chart is not None and self.charts is not None:
            self.charts.update(chart, accounting)
        self.api.log_profit(float(round(view.figures.profit, 4)), "&")
        tables = [self.summary_table(view), self.risk_table(view), self.accounts_table(view),
                  self.spreads_table(view), self.pairs_table(view), self.treasury_table(view),
                  self.transfers_table(view), self.flows_table(view), self.events_table(view)]
        if view.cluster is not None:
            tables.append(self.cluster_table(view))
        if view.state is not TradingState.ACTIVE:  # a reconcile stop holds the gate too
            state = f"{view.state.value}: {view.state_reason} #ff0000"
        else:
            state = "ACTIVE"
        self.api.log_status(f"{_time(view.now_ms)} UTC  {state}\n`{json.dumps(tables)}`")

    @staticmethod
    def summary_table(view: StatusView) -> dict[str, Any]:
        f = view.figures
        rows = [
            ["unit NAV", f"{f.unit_nav:.6f}"],
            ["shares", f"{f.shares:.4f}"],
            ["equity (USDT)", f"{f.equity:.2f}"],
            ["absolute profit (USDT)", f"{f.profit:+.2f}"],
        ]
        for days, found in f.returns:
            rows.append([f"annualized return, {days} days", _returns_cell(found)])
        rows += [
            ["annualized return, since inception", _since_inception(f.since_inception)],
            ["max drawdown of unit NAV", f"{f.max_drawdown * 100:.3f} %"],
            [LABELS["pnl_before_fees"], f"{f.spread_captured:+.2f}"],
            [LABELS["fees"], f"{f.fees_paid:.2f}"],
            [LABELS["pnl_after_fees"], f"{pnl_after_fees(f.spread_captured, f.fees_paid):+.2f}"],
            ["funding on pairs (est., USDT)", f"{f.funding_total:+.2f}"],
            ["slippage vs top of book (USDT)", f"{f.slippage:.2f}"],
            ["rebates (est., USDT)", f"{f.rebates:.2f}"],
            ["volume (USDT)", f"{sum(f.volume.values(), Decimal(0)):.0f}  " + ", ".join(
                f"{v} {q:.0f}" for v, q in sorted(f.volume.items()))],
            ["volume today (USDT)", ", ".join(
                f"{v} {q:.0f}" for v, q in sorted(f.volume_today.items())) or "0"],
            ["pairs open / opened / closed", f"{f.pairs_open} / {f.pairs_opened} / {f.closed_pairs}"],
        ]
        for symbol in view.symbols:
            rows.append([f"net exposure {symbol} now / max (base)",
                         f"{f.net_exposure[symbol]:+f} / {f.max_net_exposure[symbol]:f}"])
        return _table("Summary", ["item", "value"], rows)

    def risk_table(self, view: StatusView) -> dict[str, Any]:
        """Trading state with its buttons (FMZ sends the cmd to GetCommand), stops, outages, guards."""
        buttons = [{"type": "button", "cmd": "state:ACTIVE", "name": "Active"},
                   {"type": "button", "cmd": "state:REDUCING", "name": "Reducing", "class": "btn-warning"},
                   {"type": "button", "cmd": "state:HALTED", "name": "Halt", "class": "btn-danger"}]
        active = view.state is TradingState.ACTIVE
        state = view.state.value + (f": {view.state_reason}" if not active else "")
        rows: list[list[Any]] = [
            ["trading state", state + (" #ff0000" if not active else ""), buttons],
            ["stops fired per level", " / ".join(f"{distance_pct}%: {count}"
                                                 for distance_pct, count in view.stops), ""],
        ]
        for distance in view.distances:
            rows.append([f"{distance.venue} liquidation distance ({distance.method})",
                         self._distance_cell(distance), ""])
        out = view.out_since
        rows.append(["venue functions out", ", ".join(
            f"{venue} {function} since {_time(ms)}" for venue, function, ms in out)
            + (" #ff0000" if out else "") or "none", ""])
        rows.append([f"legs unhedged by an execution in doubt (cut after {view.max_unhedged_s} s or above "
                     f"{view.max_unhedged_usdt} USDT)",
                     "; ".join(f"{tag}: {text}" for tag, text in view.unhedged) or "none", ""])
        rows.append(["loose legs (held beyond the pairs)", "; ".join(
            self._loose_cell(view, leg) for leg in view.loose) or "none", ""])
        if view.rehedge:
            rows.append([f"loose legs on a venue that is out, not re-hedged after {view.max_unhedged_s} s",
                         "; ".join(view.rehedge) + " #ff0000", ""])
        rows.append(["unplanned PnL booked (USDT)", f"{view.unplanned_pnl:+.2f}", ""])
        rows.append(["guards tripped", ", ".join(f"{name} x{count}" for name, count in view.guards_tripped)
                     or "none", ""])
        return _table("Risk", ["item", "value", "action"], rows)

    @staticmethod
    def _distance_cell(view: DistanceView) -> str:
        """The distance stops act on; with several positions, the common adverse move of all of them
        (cross margin), beside the nearest symbol's own; and any position not priced at its own book."""
        nearest = view.nearest
        if nearest is None:
            return "-"
        pair, distance = nearest
        if view.positions > 1 and view.common is not None:
            text = (f"{distance:.2f} % (all {view.positions} positions moving against us together; "
                    f"{pair} alone {view.alone:.2f} %)")
        else:
            text = f"{distance:.2f} % ({pair})"
        if view.priced:
            text += "; " + ", ".join(f"{p} at the {source}" if source != UNVALUED else f"{p} UNVALUED"
                                     for p, source in view.priced)
        if any(source == UNVALUED for _, source in view.priced):
            text += " #ff0000"
        return text

    @staticmethod
    def flows_table(view: StatusView) -> dict[str, Any]:
        rows = [[_time(f.time_ms), f"{f.amount:+.2f}", f"{f.unit_nav:.6f}", f"{f.shares:+.4f}", f.source]
                for f in reversed(view.flows)]
        rows += [["pending", f"{a:+.2f}", "", "", s] for _, a, s in view.pending_flows]
        cols = ["time (UTC)", "USDT", "unit NAV", "shares", "source"]
        return _table("Deposits and withdrawals", cols, rows)

    @staticmethod
    def accounts_table(view: StatusView) -> dict[str, Any]:
        rows = []
        for row in view.accounts:
            acc, funding = row.account, row.next_funding
            next_funding = (f"{_time(funding[1])} {funding[0]} {funding[2] * 100:+.4f} %" if funding else "-")
            if acc is None:
                rows.append([row.venue, "unreadable", "", "", "", "", "", next_funding])
                continue
            stale = "" if acc.ok else " (stale)"
            leverage = acc.leverage
            liquidation = acc.liquidation
            rows.append([row.venue, f"{acc.equity:.2f}{stale}", f"{acc.available:.2f}{stale}",
                         f"{acc.upnl:+.2f}", f"{acc.margin_used:.2f}",
                         f"{leverage:.2f}x" if leverage is not None else "-",
                         f"{liquidation[1]:.2f} % ({liquidation[0]})" if liquidation else "-", next_funding])
        cols = ["venue", "equity", "available", "unrealized", "margin used", "effective leverage",
                "distance to liquidation", "next funding"]
        return _table("Accounts", cols, rows)

    @staticmethod
    def treasury_table(view: StatusView) -> dict[str, Any]:
        rows = []
        cfg = view.treasury_cfg
        for need in view.allocation:
            distance = f"{need.distance_pct:.1f} %" if need.distance_pct is not None else "-"
            short = need.deficit
            spare = need.spare if need.held > 0 else -short
            state = (f"short {short:.0f}" if short >= cfg.min_transfer_usdt else
                     f"spare {spare:.0f}" if spare >= cfg.min_transfer_usdt else "ok")
            if need.held > 0:  # kept for the re-hedges of loose legs it could be asked to take
                state += f" ({need.held:.0f} held for re-hedges)"
            rows.append([need.venue, f"{need.weight}", f"{need.target:.2f}", f"{need.actual:.2f}",
                         f"{need.need:.2f}", f"{need.incoming:.2f}", distance,
                         f"{need.leverage:.2f}x" if need.leverage is not None else "-", state])
        cols = ["venue", "weight", "target", "actual (with incoming)", "need", "incoming", "distance to liq.",
                "leverage", "state"]
        return _table(f"Treasury (mode {cfg.mode}; trigger {cfg.trigger_distance_pct} %, target "
                      f"{cfg.target_distance_pct} %)", cols, rows)

    @staticmethod
    def transfers_table(view: StatusView) -> dict[str, Any]:
        finished = ("DONE", "FAILED", "ABANDONED")
        transfers = sorted(view.transfers, key=lambda t: (t.status.value in finished, -t.id))
        rows = [[f"#{t.id}", f"{t.source} -> {t.dest}", t.network, f"{t.amount}", f"{t.fee}", t.status.value,
                 _time(t.created_ms), _time(t.updated_ms), t.tx_id or t.withdrawal_id or "-",
                 t.note or t.reason]
                for t in transfers[:30]]
        cols = ["id", "route", "network", "USDT", "fee est.", "state", "started (UTC)", "updated (UTC)", "tx",
                "note"]
        return _table("Transfers (in flight first)", cols, rows)

    @staticmethod
    def spreads_table(view: StatusView) -> dict[str, Any]:
        rows = []
        for symbol in view.symbols:
            mids = []
            for venue in view.venues:
                mid = view.mids.get((venue, symbol))
                mids.append(f"{mid:.6g}" if mid is not None else "-")
            opp = view.opportunities.get(symbol)
            best = f"{opp.buy_venue}->{opp.sell_venue}" if opp else "-"
            edge = f"{opp.edge_bps:.2f}" if opp else "-"
            carry = f"{opp.funding_carry_bps:+.2f}" if opp else "-"
            rows.append([symbol, *mids, best, edge, carry])
        cols = ["symbol", *view.venues, "best buy->sell", "net edge bps", "funding carry bps"]
        return _table("Spreads", cols, rows)

    @staticmethod
    def pairs_table(view: StatusView) -> dict[str, Any]:
        rows = []
        for pair in view.pairs:
            now_spread = "-"  # also for a cluster's pair on a venue this node does not bind (no book here)
            long_mid = view.mids.get((pair.long_venue, pair.symbol))
            short_mid = view.mids.get((pair.short_venue, pair.symbol))
            if long_mid is not None and short_mid is not None:
                now_spread = f"{(short_mid - long_mid) / long_mid * 10_000:.2f}"
            row = [pair.id, pair.symbol, pair.long_venue, pair.short_venue, f"{pair.qty:f}",
                   str(pair.entry_spread_bps), now_spread, f"{pair.fees:.2f}", f"{pair.funding:+.2f}",
                   _time(pair.opened_ms)]
            if view.shared:
                row.append("here" if Unit.of_pair(pair).key in view.held_units else "another node")
            rows.append(row)
        cols = ["id", "symbol", "long", "short", "qty (base)", "entry spread bps", "spread now bps",
                "fees", "funding", "opened"] + (["unit held"] if view.shared else [])
        return _table("Open pairs", cols, rows)

    @staticmethod
    def _loose_cell(view: StatusView, leg: LooseLeg) -> str:
        """venue symbol qty (origin, unit[, whose]): an outage's hedge or what an unequal execution left."""
        unit = str(Unit.parse(leg.unit)) if leg.unit else "-"
        whose = ""
        if view.shared:
            whose = ", held here" if leg.unit in view.held_units else ", another node's unit"
        return f"{leg.venue} {leg.symbol} {leg.qty:+f} ({leg.origin}, {unit}{whose})"

    @staticmethod
    def events_table(view: StatusView) -> dict[str, Any]:
        rows = [[_time(e.time_ms), _LEVEL_CELL[e.level], e.text] for e in view.events]
        return _table("Events", ["time (UTC)", "level", "event"], rows)

    @staticmethod
    def cluster_table(view: StatusView) -> dict[str, Any]:
        """Which unit (symbol x venue pair) this node holds, with its fencing token and lease time left."""
        cluster = view.cluster
        assert cluster is not None
        title = f"Cluster: node {cluster.node}, {cluster.nodes_alive} node(s) alive"
        return _table(title, ["unit", "lease", "token", "left"], [list(row) for row in cluster.rows])


def summary_line(f: Figures, symbols: tuple[str, ...]) -> str:
    """The run's figures in one log line (at exit)."""
    exposure = ", ".join(f"{s} {f.max_net_exposure[s]:f}" for s in symbols)
    inception = f.since_inception
    found = (inception.simple_annual, inception.compound_annual) if inception else None
    annual = f"annualized {annualized_text(found)}"
    return (f"summary: unit NAV {f.unit_nav:.6f}, {annual}, "
            f"max drawdown {f.max_drawdown * 100:.3f} %, "
            f"profit {f.profit:+.2f} USDT, trading PnL before fees {f.spread_captured:+.2f}, "
            f"fees {f.fees_paid:.2f}, "
            f"after fees {pnl_after_fees(f.spread_captured, f.fees_paid):+.2f}, "
            f"funding {f.funding_total:+.2f}, rebates (est.) {f.rebates:.2f}, "
            f"slippage {f.slippage:.2f}, volume {sum(f.volume.values(), Decimal(0)):.0f}, "
            f"pairs opened {f.pairs_opened} closed {f.closed_pairs} open {f.pairs_open}, "
            f"max |net exposure| {exposure}")
