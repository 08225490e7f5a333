"""What the user is shown, gathered: the status view (hedge/status.py's query) built from the components
that own each figure, the exit summary's figures, and the status tables, LogProfit and charts published
through hedge/report.py. Components built at start (the market, the treasury, the accounting, the chart)
are looked up at each use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hedge.accounting import Accounting
from hedge.accounts import AccountView
from hedge.book import Book
from hedge.cluster.base import Coordinator
from hedge.config import HedgeConfig
from hedge.events import EventLog
from hedge.funding import Funding
from hedge.gate import TradingGate
from hedge.guards import Guards
from hedge.market import Market, Venue
from hedge.outage import VenueHealth
from hedge.reconcile import Exposure
from hedge.rehedge import Rehedger
from hedge.report import Report
from hedge.risk import Risk
from hedge.spread import Spread
from hedge.status import Figures, StatusView, figures, status_view
from hedge.trader import Trader
from hedge.treasury import Treasury


class StatusBoard:
    def __init__(self, *, now_ms: Callable[[], int], cfg: Callable[[], HedgeConfig], venues: list[Venue],
                 gate: TradingGate, accounting: Callable[[], Accounting], book: Book, risk: Risk,
                 health: VenueHealth, guards: Guards, accounts: Mapping[str, AccountView], funding: Funding,
                 treasury: Callable[[], Treasury | None], market: Callable[[], Market | None], spread: Spread,
                 coordinator: Coordinator, events: EventLog, rehedge: Rehedger, trader: Trader,
                 exposure: Exposure, report: Report, chart: Callable[[], Any]) -> None:
        self._now_ms, self._cfg, self._venues, self._gate = now_ms, cfg, venues, gate
        self._accounting, self._book, self._risk, self._health = accounting, book, risk, health
        self._guards, self._accounts, self._funding, self._treasury = guards, accounts, funding, treasury
        self._market, self._spread, self._coordinator, self._events = market, spread, coordinator, events
        self._rehedge, self._trader, self._exposure = rehedge, trader, exposure
        self._report, self._chart = report, chart

    def figures(self) -> Figures:
        return figures(self._accounting(), self._book.ledger, self._now_ms(), self._trader.pairs_opened,
                       self._exposure.last, self._exposure.max)

    def view(self) -> StatusView:
        market, risk = self._market(), self._risk
        return status_view(
            now_ms=self._now_ms(), cfg=self._cfg(), venues=[v.key for v in self._venues], gate=self._gate,
            figures=self.figures(), accounting=self._accounting(), ledger=self._book.ledger,
            risk_views=risk.views, stops_fired=risk.stops_fired, unhedged=risk.unhedged,
            unplanned_pnl=risk.unplanned_pnl, health=self._health, guards=self._guards,
            accounts=self._accounts, next_funding=self._funding.next_settlement, treasury=self._treasury(),
            tops=market.tops if market is not None else None,
            opportunities=self._spread.last_opportunity, coordinator=self._coordinator, events=self._events,
            rehedge=self._rehedge.waiting)

    def publish(self) -> None:
        """The status tables and LogProfit from one status view; the charts from the accounting."""
        self._report.publish(self.view(), self._chart(), self._accounting())
