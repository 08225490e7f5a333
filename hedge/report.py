"""What the user sees: status tables (LogStatus tabs), the unit-NAV chart, LogProfit.

Presentation only: reads the app's state, changes nothing.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hedge.app import App


def _time(ms: int) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.gmtime(ms // 1000))


def _table(title: str, cols: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    return {"type": "table", "title": title, "cols": cols, "rows": rows}


class Report:
    def __init__(self, app: App) -> None:
        self.app = app

    @staticmethod
    def chart_config() -> dict[str, Any]:
        return {
            "__isStock": True,
            "title": {"text": "Unit NAV"},
            "yAxis": {"title": {"text": "unit NAV"}},
            "series": [{"name": "unit NAV", "data": []}],
        }

    def publish(self) -> None:
        app = self.app
        nav = app.unit_nav()
        profit = app.total_equity() - app.nav_base
        if app.chart is not None:
            app.chart.add(0, [app.now_ms, float(round(nav, 6))])
        app.api.log_profit(float(round(profit, 4)), "&")
        tables = [self.summary_table(), self.accounts_table(), self.spreads_table(), self.pairs_table(),
                  self.events_table()]
        state = "TRADING" if app.halt_reason is None else f"OPENINGS STOPPED: {app.halt_reason} #ff0000"
        app.api.log_status(f"{_time(app.now_ms)} UTC  {state}\n`{json.dumps(tables)}`")

    def summary_table(self) -> dict[str, Any]:
        app = self.app
        led = app.ledger
        rows = [
            ["unit NAV", f"{app.unit_nav():.6f}"],
            ["equity (USDT)", f"{app.total_equity():.2f}"],
            ["profit (USDT)", f"{app.total_equity() - app.nav_base:+.2f}"],
            ["realized after fees (USDT)", f"{led.realized_pnl:+.2f}"],
            ["fees paid (est., USDT)", f"{led.fees_paid:.2f}"],
            ["funding on pairs (est., USDT)", f"{led.funding_total:+.2f}"],
            ["volume (USDT)", f"{led.volume:.0f}"],
            ["pairs open / opened / closed", f"{len(led.pairs)} / {app.pairs_opened} / {led.closed_pairs}"],
        ]
        for symbol in app.cfg.symbols:
            rows.append([f"net exposure {symbol} now / max (base)",
                         f"{app.last_net_exposure[symbol]:+f} / {app.max_net_exposure[symbol]:f}"])
        return _table("Summary", ["item", "value"], rows)

    def accounts_table(self) -> dict[str, Any]:
        rows = []
        for venue in self.app.venues:
            acc = self.app.accounts.get(venue.key)
            if acc is None:
                rows.append([venue.key, "unreadable", "", ""])
            elif not acc.ok:
                rows.append([venue.key, f"{acc.equity:.2f} (stale)", f"{acc.available:.2f} (stale)", ""])
            else:
                rows.append([venue.key, f"{acc.equity:.2f}", f"{acc.available:.2f}", f"{acc.upnl:+.2f}"])
        return _table("Accounts", ["venue", "equity", "available", "unrealized"], rows)

    def spreads_table(self) -> dict[str, Any]:
        app = self.app
        rows = []
        for symbol in app.cfg.symbols:
            mids = []
            for venue in app.venues:
                top = app.market.tops[venue.key].get(symbol) if app.market else None
                mids.append(f"{top.mid:.6g}" if top is not None and top.bid > 0 else "-")
            opp = app.last_opportunity.get(symbol)
            best = f"{opp.buy_venue}->{opp.sell_venue}" if opp else "-"
            edge = f"{opp.edge_bps:.2f}" if opp else "-"
            carry = f"{opp.funding_carry_bps:+.2f}" if opp else "-"
            rows.append([symbol, *mids, best, edge, carry])
        cols = ["symbol", *[v.key for v in app.venues], "best buy->sell", "net edge bps", "funding carry bps"]
        return _table("Spreads", cols, rows)

    def pairs_table(self) -> dict[str, Any]:
        app = self.app
        rows = []
        for pair in app.ledger.pairs.values():
            now_spread = "-"
            if app.market is not None:
                long_top = app.market.tops[pair.long_venue][pair.symbol]
                short_top = app.market.tops[pair.short_venue][pair.symbol]
                if long_top.bid > 0 and short_top.bid > 0:
                    now_spread = f"{(short_top.mid - long_top.mid) / long_top.mid * 10_000:.2f}"
            rows.append([pair.id, pair.symbol, pair.long_venue, pair.short_venue, f"{pair.qty:f}",
                         str(pair.entry_spread_bps), now_spread, f"{pair.fees:.2f}", f"{pair.funding:+.2f}",
                         _time(pair.opened_ms)])
        cols = ["id", "symbol", "long", "short", "qty (base)", "entry spread bps", "spread now bps",
                "fees", "funding", "opened"]
        return _table("Open pairs", cols, rows)

    def events_table(self) -> dict[str, Any]:
        rows = [[_time(ms), text] for ms, text in reversed(self.app.events)]
        return _table("Events", ["time (UTC)", "event"], rows)

    def summary_line(self) -> str:
        app = self.app
        led = app.ledger
        exposure = ", ".join(f"{s} {app.max_net_exposure[s]:f}" for s in app.cfg.symbols)
        profit = app.total_equity() - app.nav_base
        return (f"summary: unit NAV {app.unit_nav():.6f}, profit {profit:+.2f} USDT, "
                f"realized {led.realized_pnl:+.2f}, fees {led.fees_paid:.2f}, "
                f"funding {led.funding_total:+.2f}, "
                f"volume {led.volume:.0f}, "
                f"pairs opened {app.pairs_opened} closed {led.closed_pairs} open {len(led.pairs)}, "
                f"max |net exposure| {exposure}")

