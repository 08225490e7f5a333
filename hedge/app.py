"""The strategy composed: one tick() per loop turn.

tick: refresh book tops (one GetTickers per venue) -> close pairs whose spread has reverted ->
open new pairs where the net edge clears the threshold and limits allow -> status and charts at
a modest interval.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hedge.accounting import Accounting
from hedge.accounts import AccountReader
from hedge.book import Book, LedgerView
from hedge.cluster import make_coordinator
from hedge.cluster_link import ClusterLink
from hedge.commands import Commands
from hedge.config import HedgeConfig
from hedge.events import EventLog, EventSink
from hedge.execution import (
    Executor,
)
from hedge.fmz import Api
from hedge.fund import FundObserver
from hedge.funding import Funding
from hedge.gate import CLUSTER, USER, TradingGate
from hedge.guards import DRAWDOWN_HOLD, Guards
from hedge.maintenance import MaintenanceWatcher
from hedge.market import (
    Market,
    Venue,
)
from hedge.orders import OrderRecord
from hedge.outage import VenueHealth
from hedge.probes import OutageProbes
from hedge.ratelimit import AdapterAwareBudget, RateBudget, TokenBuckets
from hedge.reconcile import Exposure, Reconciler
from hedge.recovery import LateOrders, Recovery
from hedge.rehedge import Rehedger
from hedge.report import Report, summary_line
from hedge.risk import Risk
from hedge.spread import Spread
from hedge.startup import Startup
from hedge.state import TradingState
from hedge.status_board import StatusBoard
from hedge.trader import Trader
from hedge.transfers import TransferWatcher
from hedge.treasury import Treasury
from hedge.venue_terms import VenueTerms


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


# events pushed to the operator (FMZ's `@`; locally fmz_compat/alerts.py) besides every critical one: a
# stop at any level
ALERT_PREFIXES = ("STOP level",)


class App:
    def __init__(self, api: Api, cfg: HedgeConfig) -> None:
        self.api = api
        self.cfg = cfg
        self.events = EventLog.load(api.store)
        # a graded event: recorded, logged, pushed when critical or a stop, published to a cluster
        self.event = EventSink(self.events, lambda: self.now_ms,
                               lambda kind, fields: self.coordinator.publish(kind, fields),
                               lambda *args: self.api.log(*args), ALERT_PREFIXES)
        # the trading state: every source holds it by name, the strictest hold wins (hedge/gate.py)
        self.gate = TradingGate(self.event, api.store, lambda: self.trader.cancel_all_orders(),
                                person_clears={DRAWDOWN_HOLD})
        self.venues: list[Venue] = []
        self.market: Market | None = None
        self.exposure = Exposure(cfg.symbols)  # net base exposure per symbol, as last read and the largest
        self.accounting = Accounting(api.store, cfg.rebate_bps)
        # interactive commands by name (hedge/commands.py); other modules add theirs
        self.commands = Commands(get_command=api.get_command, log=api.log, gate=self.gate,
                                 accounting=lambda: self.accounting, event=self.event,
                                 status_interval_s=lambda: self.cfg.status_interval_s,
                                 check_accounts_now=self._status_now)
        # readers of venue transfer histories: each returns the external deposits (+) and withdrawals (-)
        # it sees as (flow id, USDT, source); moves between our own venues are not flows. Ids seen
        # before are ignored, so a reader may return its whole recent history every time.
        self.flow_sources: list[Callable[[], list[tuple[str, Decimal, str]]]] = []
        self.transfers: TransferWatcher | None = None  # funding wallets and transfer histories
        self.treasury: Treasury | None = None  # allocation by venue weights, rebalancing transfers
        self.maintenance: MaintenanceWatcher | None = None  # the venues' own maintenance notices
        self.now_ms = 0
        self._next_status_ms = 0
        self._next_log_reset_ms = 0
        # each venue's mechanics and taker fee, this account's own where read at start
        self.terms = VenueTerms(cfg, self.event)
        self.mechanics = self.terms.mechanics
        self.taker_bps = self.terms.taker_bps
        self._id_stamp = "0"
        # who may act on which symbol x venue pair: this node alone (default) or a cluster through Redis
        self.coordinator = make_coordinator(cfg.cluster, lambda: self.now_ms, api.now_ms, api.sleep,
                                            virtual_clock=bool(api.is_virtual()))
        # what the coordinator calls back (Redis away or back, the other nodes' events) and what we publish
        self.cluster = ClusterLink(coordinator=self.coordinator, gate=self.gate, event=self.event,
                                   log=api.log, venue_or_none=lambda key: self.trader.venue_or_none(key),
                                   bring_forward=lambda: self.reconciler.bring_forward())
        self.coordinator.attach(self.cluster)
        self.coordinator.store = api.store
        self.book = Book(self.coordinator, api.store)  # the one writer of the ledger; others read self.ledger
        shared = self.coordinator.shared
        self.executor = Executor(sleep=self._wait, taker_bps=self.taker_bps, event=self.event,
                                 journal=self._journal_order,
                                 new_client_id=lambda: self.book.next_client_id(
                                     self._id_stamp, self.coordinator.client_prefix),
                                 band_bps=cfg.max_slippage_bps,
                                 may_send=self.coordinator.may_send if shared else None,
                                 logged=self.cluster.order_logged if shared else None,
                                 exclusive=self.coordinator.exclusive if shared else None,
                                 now_ms=api.now_ms, settle_ms=lambda _venue: cfg.outage.order_settle_s * 1000,
                                 in_doubt=self.book.order_in_doubt,
                                 max_turn_wait_ms=cfg.outage.max_turn_wait_ms)
        # venue health per function, the request budget (a cluster may swap in a shared one before
        # start()), and the tiered stops
        self.health = VenueHealth(cfg.outage.max_errors, lambda: self.now_ms, self.event,
                                  cfg.outage.timeout_cooldown_s * 1000, cfg.outage.refusal_cooldown_s * 1000)
        self.budget: RateBudget = AdapterAwareBudget(self.coordinator.rate_budget(  # a cluster: Redis
            cfg.rate_limits, TokenBuckets(cfg.rate_limits, lambda: self.now_ms)), cfg.rate_limits)
        self.risk = Risk(self, self.health, self.book,  # a stop closes through the trader (built below)
                         lambda *args, **kwargs: self.trader.close_group(*args, **kwargs),
                         venue_or_none=lambda key: self.trader.venue_or_none(key), executor=self.executor,
                         coordinator=self.coordinator, mechanics=lambda key: self.mechanics(key),
                         event=self.event, stop_openings=self.stop_openings,
                         measure_exposure=self.measure_exposure, order_in_doubt=self.book.order_in_doubt)
        # a loose leg stuck on a venue that is out is hedged on one that trades after outage.max_unhedged_s
        self.rehedge = Rehedger(cfg=cfg, health=self.health, book=self.book, risk=self.risk,
                                executor=self.executor, coordinator=self.coordinator, venues=self.venues,
                                market=lambda: self.market, now_ms=lambda: self.now_ms, event=self.event,
                                taker_bps=self.taker_bps, stop_openings=self.stop_openings,
                                suspect=lambda: self.reconciler.suspect,
                                measure_exposure=self.measure_exposure)
        # the one path from a decision to the venues and the book: reserve, chunk, send, book
        self.trader: Trader = Trader(
            cfg=lambda: self.cfg, now_ms=lambda: self.now_ms, wait=self._wait, venues=self.venues,
            market=lambda: self.market, budget=self.budget, executor=self.executor,
            coordinator=self.coordinator, book=self.book, risk=self.risk, accounting=lambda: self.accounting,
            event=self.event, stop_openings=self.stop_openings,
            measure_exposure=self.measure_exposure, close_waits=self.rehedge.close_waits,
            close_lead=self.rehedge.close_lead)
        # each venue's account as last read (refreshed in place), the funding rates and settlements
        self.account_reader = AccountReader(self.venues, self.risk.read, self.mechanics)
        self.accounts = self.account_reader.views
        self.fund = FundObserver(cfg.symbols, self.venues, self.account_reader, self.flow_sources,
                                 lambda symbol: self.trader.mid(symbol) if self.market is not None else None,
                                 self.exposure.last, self.book, lambda: self.transfers, self.event, api.log,
                                 lambda: self.now_ms)
        self.funding = Funding(self.venues, cfg.symbols, lambda: self.now_ms, self.trader.mid,
                               self.coordinator.owns_pair, self.book)
        # the spread rule: it decides where to open and what to close, as intents the trader executes
        self.spread = Spread(
            cfg=lambda: self.cfg, now_ms=lambda: self.now_ms, market=lambda: self.market,
            maintenance=lambda: self.maintenance, health=self.health, coordinator=self.coordinator,
            ledger=lambda: self.book.ledger, trader=self.trader, risk=self.risk, taker=self.terms.taker,
            funding_rates=self.funding.rates.get, accounts=self.accounts, equity=self.fund.total_equity,
            may_open=lambda: self.state.may_open, suspect=lambda: self.reconciler.suspect)
        self.guards = Guards(cfg.guards, self.gate, api.store, self.health.rejects_since)
        # orders of ours that reached a venue late; settling the journal of an unfinished execution
        # (hedge/recovery.py)
        self.late = LateOrders(
            book=self.book, executor=self.executor, coordinator=self.coordinator, health=self.health,
            venue_or_none=self.trader.venue_or_none, now_ms=lambda: self.now_ms,
            stop_openings=self.stop_openings, event=self.event, risk=self.risk, top_mid=self.trader.top_mid,
            taker_bps=self.taker_bps)
        self.recovery = Recovery(
            book=self.book, executor=self.executor, coordinator=self.coordinator, health=self.health,
            venues=self.venues, venue_or_none=self.trader.venue_or_none, positions=self.venue_positions,
            stop_openings=self.stop_openings, event=self.event, top_mid=self.trader.top_mid,
            taker_bps=self.taker_bps, risk=self.risk, count_late_fills=self.late.count_late_fills,
            complete_late=self.late.complete_late, complete_rehedge=self.rehedge.complete)
        # venue positions compared with the ledger; openings stopped while they differ (hedge/reconcile.py)
        self.reconciler: Reconciler = Reconciler(
            cfg=cfg, now_ms=lambda: self.now_ms, book=self.book, executor=self.executor,
            coordinator=self.coordinator, health=self.health, venues=self.venues,
            venue_or_none=self.trader.venue_or_none, gate=self.gate, recover=self.recovery.recover_orders,
            young_landed=self.late.young_landed, close_late_fills=self.late.close_late_fills,
            book_landed_late_closes=self.late.book_landed_late_closes, vanished=self.risk._vanished,
            measured=self._positions_read, log=api.log, event=self.event)
        # stale books and out functions asked again, for venue health (hedge/probes.py)
        self.probes = OutageProbes(venues=self.venues, market=lambda: self.market, health=self.health,
                                   now_ms=lambda: self.now_ms, venue_or_none=self.trader.venue_or_none)
        # binding the venues and checking the ledger against them at start (hedge/startup.py)
        self.startup = Startup(api=lambda: self.api, cfg=lambda: self.cfg, health=self.health,
                               budget=self.budget, event=self.event, book=self.book,
                               coordinator=self.coordinator, venues=self.venues)
        self.report = Report(api)
        self.chart: Any = None
        # what the user is shown: hedge/status.py queries, hedge/report.py formats (hedge/status_board.py)
        self.status = StatusBoard(
            now_ms=lambda: self.now_ms, cfg=lambda: self.cfg, venues=self.venues, gate=self.gate,
            accounting=lambda: self.accounting, book=self.book, risk=self.risk, health=self.health,
            guards=self.guards, accounts=self.accounts, funding=self.funding, treasury=lambda: self.treasury,
            market=lambda: self.market, spread=self.spread, coordinator=self.coordinator, events=self.events,
            rehedge=self.rehedge, trader=self.trader, exposure=self.exposure, report=self.report,
            chart=lambda: self.chart)

    # --- lifecycle ---
    def start(self) -> bool:
        """Discover venues and contracts, load and reconcile the ledger. False = cannot run."""
        self.now_ms = self.api.now_ms()
        self.executor.begin_turn(bounded=False)  # nothing else runs before start's recovery is done
        self.gate.restore()
        if self.cfg.trading_state is not None:
            self.commands.set_state(TradingState.parse(self.cfg.trading_state), "PARAMS trading_state")
        if not self.startup.bind_venues():
            return False
        for venue in self.venues:
            self.terms.set_up(venue)
        self.market = Market(self.venues, self.cfg.symbols, self.cfg.max_book_age_ms, clock=self.api.now_ms)
        self.spread.bind(self.market, self.venues)
        self.book.load()
        try:
            self.book.start(self.now_ms, [v.key for v in self.venues], self.cfg.symbols)
            self.startup.import_legacy_loose()
        except RuntimeError as exc:
            self.api.log(str(exc), "#ff0000")
            return False
        if self.coordinator.reachable:  # a cluster hold saved before the restart: Redis answers now
            self.gate.release(CLUSTER, "redis reachable again")
        self._id_stamp = _base36(self.now_ms // 1000)
        if self.ledger.pairs:
            self.event(f"ledger reloaded: {len(self.ledger.pairs)} open pairs")
        if not self.startup.ledger_venues_bound():
            return False
        if self.ledger.orders:
            self.event(f"ledger holds {len(self.ledger.orders)} order(s) of an unfinished execution; "
                       "settling them by client id before anything else")
        self.maintenance = MaintenanceWatcher(
            {v.key: v.exchange for v in self.venues}, self.health, self.cfg.outage.maintenance_lead_s,
            self.cfg.outage.maintenance_poll_s, lambda: self.now_ms, self.event)
        self.maintenance.start()
        self.reconciler.reconcile()
        self.executor.begin_turn()
        self._next_log_reset_ms = self.now_ms + self.cfg.log_reset_interval_s * 1000
        self.market.refresh(self.now_ms)  # the first reading values positions at fresh prices, not entries
        self.refresh_accounts()
        self.accounting = Accounting.load(self.api.store, self.cfg.rebate_bps)
        self.transfers = TransferWatcher(
            {v.key: v.exchange for v in self.venues}, now_ms=lambda: self.now_ms, event=self.event,
            since_ms=lambda: self.accounting.inception_ms or self.now_ms + 1,
            own_addresses=[e.address for e in self.cfg.treasury.whitelist], store=self.api.store,
            own_moves=lambda: self.treasury.own_moves() if self.treasury is not None else [])
        self.flow_sources.append(self.transfers.flows)
        self.treasury = Treasury(
            self.cfg.treasury, self.cfg, self.api, self.event, lambda: self.now_ms,
            {v.key: v.exchange for v in self.venues}, self.accounts, self.transfers,
            lambda: self.accounting.inception_ms).load()
        if self.cfg.treasury.mode != "off":
            self.treasury.verify_whitelist()
        self.commands.handlers["treasury"] = self.treasury.on_command
        self.observe()
        self.chart = self.api.chart(self.report.chart_config([v.key for v in self.venues],
                                                             list(self.cfg.symbols)))
        if self.report.charts is not None:
            self.report.charts.rebuild(self.chart, self.accounting)
        self.event(f"started: venues {', '.join(v.key for v in self.venues)}; symbols "
                   f"{', '.join(self.cfg.symbols)}; equity {self.fund.total_equity():.2f} USDT; "
                   f"unit NAV {self.accounting.unit_nav:.6f}")
        return True

    def tick(self) -> None:
        self.now_ms = self.api.now_ms()
        self.executor.begin_turn()
        assert self.market is not None, "start() must succeed before tick()"
        self.market.refresh(self.now_ms)
        self.probes.note_books()
        self.commands.poll()
        if self.maintenance is not None:
            self.maintenance.check()
        self.probes.probe()
        for key in sorted(self.health.recovered):
            # unfinished executions are settled by reconcile first: they explain differences themselves
            if self.state.may_close and not self.recovery.holds_back(key) and self.risk.recover(key):
                self.health.recovered.discard(key)
                self.reconciler.bring_forward()  # reconcile first, before anything trades there
        self.reconciler.check_positions()  # a late order of ours landed, a venue moved a leg: reconcile now
        if self.coordinator.sync(self.now_ms) or self.reconciler.due():
            self.reconciler.reconcile()  # adopted units are reconciled with the venues before anything acts
        if self.ledger.orders and self.state.may_close:
            self.risk.bound_unhedged()  # an execution in doubt: its filled leg is unhedged for so long only
        if self.now_ms >= self._next_log_reset_ms:
            self._next_log_reset_ms = self.now_ms + self.cfg.log_reset_interval_s * 1000
            self.api.log_reset(self.cfg.log_keep_rows)  # the profit and chart series are not touched
        status_due = self.now_ms >= self._next_status_ms
        if status_due:
            self.refresh_accounts()
        self.risk.check(full=status_due)
        self.rehedge.check(self.state.may_close)  # a loose leg its venue cannot close: hedged elsewhere
        if self.ledger.loose and self.state.may_close:
            self.risk.settle_loose()  # not where an execution is in doubt (its fills are not booked yet)
        if self.ledger.pairs and self.state.may_close:
            for close in self.spread.reverted():  # pairs whose spread has reverted
                self.trader.close(close)
        for symbol in self.cfg.symbols:
            opening = self.spread.scan(symbol)  # where the net edge clears the threshold and limits allow
            if opening is not None:
                self.trader.open(opening)
        if self.ledger.loose and self.state.may_close:
            self.risk.settle_loose()  # a loose leg this turn's closes left is not held until the next turn
        if status_due:
            self._next_status_ms = self.now_ms + self.cfg.status_interval_s * 1000
            self.refresh_funding()
            self.observe()
            accounts_fresh = bool(self.accounts) and all(v.ok for v in self.accounts.values())
            self.guards.check(self.now_ms, self.accounting.unit_nav, accounts_fresh, self.market)
            if self.treasury is not None and self.coordinator.leads("treasury"):
                self.treasury.check()  # in a cluster, one node moves money for all
            self.status.publish()

    def _wait(self, ms: float) -> None:
        """Sleep inside the turn (an order's settle lookups, a position re-read): the turn's clock moves
        with the runtime's, so what follows in the turn schedules and judges books' ages from then."""
        self.api.sleep(ms)
        self.now_ms = self.api.now_ms()

    def finish(self) -> None:
        """Final summary (onexit). Uses cached state only: in a backtest the API is already closed."""
        self.accounting.save()  # _G then holds the unit NAV the status table shows (tools.settle, report)
        self.api.log(summary_line(self.status.figures(), self.cfg.symbols))
        self.coordinator.close()  # a clean exit hands its leases back at once

    # --- trading state ---
    @property
    def state(self) -> TradingState:
        return self.gate.state

    @property
    def state_reason(self) -> str:
        return self.gate.reason

    def halt(self, reason: str) -> None:
        """HALTED: no orders at all (resting ones are cancelled) until a person resumes (state:ACTIVE)."""
        self.gate.hold(USER, TradingState.HALTED, reason)

    # --- positions and accounts ---
    def _journal_order(self, record: OrderRecord) -> None:
        self.book.journal(record)
        self.book.save()

    @property
    def ledger(self) -> LedgerView:
        """The ledger, read-only (the book writes it)."""
        return self.book.ledger

    # --- positions (hedge/reconcile.py owns reconciliation) ---
    def stop_openings(self, reason: str, suspect: set[tuple[str, str]] | None = None) -> None:
        self.reconciler.stop_openings(reason, suspect)

    def venue_positions(self, assume: frozenset[str] = frozenset()) -> dict[tuple[str, str], Decimal] | None:
        return self.reconciler.venue_positions(assume)

    def measure_exposure(self) -> None:
        positions = self.venue_positions()
        if positions is not None:
            self.exposure.record(positions)

    def _positions_read(self, positions: dict[tuple[str, str], Decimal]) -> None:
        """Reconcile read every venue's positions: the net exposure and its guard."""
        self.exposure.record(positions)
        self.guards.check_exposure(self.exposure.last,
                                   self.trader.mid if self.market is not None else lambda _symbol: None)

    def refresh_accounts(self) -> None:
        for venue in self.venues:  # each through refresh_account (tools/chaos.py watches that one)
            self.refresh_account(venue.key)

    def refresh_account(self, key: str) -> None:
        self.account_reader.refresh(key)

    def refresh_funding(self) -> None:
        self.funding.refresh()

    # --- accounting ---
    def observe(self) -> None:
        """Measure the fund into the accounting (hedge/fund.py); tools/chaos.py watches this method."""
        self.fund.observe(self.accounting, self.transfers)

    def _status_now(self) -> None:
        """The accounts are checked (and a declared flow booked) at the next turn."""
        self._next_status_ms = self.now_ms

