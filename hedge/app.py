"""The strategy composed: one tick() per loop turn, and between turns idle() (book events where the runtime
gives them).

tick: refresh book tops (one GetTickers per venue) -> close pairs whose spread has reverted ->
open new pairs where the net edge clears the threshold and limits allow -> status and charts at
a modest interval. hedge/wiring.py builds the components; App holds them and runs the schedule.

Two sources, one path: where the runtime has an EventLoop and is not a backtest (FMZ live; fmz_compat live
and paper), idle() waits on it and each "Book" event (a streamed book's top moved) goes through
Market.on_top, and only that symbol is judged, closed or opened at once (on_book), with tick()'s checks;
everything periodic stays in tick(). A backtest, or a runtime without EventLoop, sleeps between turns as
before: the polling loop is unchanged there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from hedge import wiring
from hedge.accounting import Accounting
from hedge.book import LedgerView, client_id_stamp
from hedge.cluster import Coordinator
from hedge.commands import Commands
from hedge.config import HedgeConfig
from hedge.events import EventLog, EventSink
from hedge.fmz import Api
from hedge.gate import CLUSTER, USER, TradingGate
from hedge.guards import DRAWDOWN_HOLD, Guards
from hedge.maintenance import MaintenanceWatcher
from hedge.market import Market, Venue, fmz_pair
from hedge.reconcile import Exposure, Reconciler
from hedge.report import Report, summary_line
from hedge.state import TradingState
from hedge.trader import Trader
from hedge.transfers import TransferWatcher
from hedge.treasury import Treasury
from hedge.venue_terms import VenueTerms

# events pushed to the operator (FMZ's `@`; locally fmz_compat/alerts.py) besides every critical one: a
# stop at any level
ALERT_PREFIXES = ("STOP level",)
# EventLoop's event for a streamed book whose top moved (fmz_compat live: Index, Symbol, Buy, Sell, Time)
BOOK_EVENT = "Book"


class App:
    # built after components whose callables look them up at each use
    coordinator: Coordinator
    trader: Trader
    reconciler: Reconciler

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
        self._venue_at: dict[int, Venue] = {}  # by the runtime's exchange index (a book event's Index)
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
        self._in_turn = False  # tick() runs (book events served between its phases)
        self._serving = False  # tick() reads the accounts: book events served between venues
        self._next_status_ms = 0
        self._next_log_reset_ms = 0
        # each venue's mechanics and taker fee, this account's own where read at start
        self.terms = VenueTerms(cfg, self.event)
        self.mechanics = self.terms.mechanics
        self.taker_bps = self.terms.taker_bps
        self._id_stamp = "0"
        # the components (hedge/wiring.py), each built with what it uses, in this order
        self.coordinator, self.cluster, self.book = wiring.coordination(self)  # others read self.ledger
        self.executor = wiring.executor(self, wait=self._wait, stamp=lambda: self._id_stamp)
        self.health, self.budget = wiring.venue_limits(self)  # venue health per function, request budget
        self.risk, self.rehedge = wiring.stops(self)  # the tiered stops; loose legs hedged elsewhere
        self.trader = wiring.trader(self, wait=self._wait)
        self.account_reader, self.fund, self.funding = wiring.accounts(self)
        self.accounts = self.account_reader.views
        self.spread = wiring.spread(self)
        self.guards = Guards(cfg.guards, self.gate, api.store, self.health.rejects_since)
        self.late, self.recovery, self.reconciler = wiring.settlement(self)
        self.probes = wiring.probes(self)
        self.startup = wiring.startup(self)
        self.report = Report(api)
        self.chart: Any = None
        self.status = wiring.status_board(self)

    # --- lifecycle ---
    def start(self) -> bool:
        """Discover venues and contracts, load and reconcile the ledger. False = cannot run."""
        self.now_ms = self.api.now_ms()
        self.executor.begin_turn(bounded=False)  # nothing else runs before start's recovery is done
        self.gate.restore()
        if self.cfg.trading_state is not None:
            self.commands.set_state(TradingState.parse(self.cfg.trading_state), "PARAMS trading_state")
        market = self._bind_venues()
        if market is None or not self._load_ledger():
            return False
        self.maintenance = wiring.maintenance(self)
        self.maintenance.start()
        self.reconciler.reconcile()
        self.executor.begin_turn()
        self._next_log_reset_ms = self.now_ms + self.cfg.log_reset_interval_s * 1000
        market.refresh(self.now_ms)  # the first reading values positions at fresh prices, not entries
        self.refresh_accounts()
        self.accounting = Accounting.load(self.api.store, self.cfg.rebate_bps)
        self.transfers = wiring.transfers(self)
        self.flow_sources.append(self.transfers.flows)
        self.treasury = wiring.treasury(self, self.transfers)
        if self.cfg.treasury.mode != "off":
            self.treasury.verify_whitelist()
        self.commands.handlers["treasury"] = self.treasury.on_command
        self.rehedge.want_margin = self.want_margin  # a re-hedge that took part of a leg asks for margin
        self.observe()
        self.chart = wiring.chart(self)
        self.event(f"started: venues {', '.join(v.key for v in self.venues)}; symbols "
                   f"{', '.join(self.cfg.symbols)}; equity {self.fund.total_equity():.2f} USDT; "
                   f"unit NAV {self.accounting.unit_nav:.6f}")
        return True

    def _bind_venues(self) -> Market | None:
        """The runtime's exchanges bound as venues, their terms read, the market over them (None: cannot)."""
        if not self.startup.bind_venues():
            return None
        for venue in self.venues:
            self.terms.set_up(venue)
        self.market = Market(self.venues, self.cfg.symbols, self.cfg.max_book_age_ms, clock=self.api.now_ms)
        self.spread.bind(self.market, self.venues)
        self._venue_at = {v.index: v for v in self.venues}
        return self.market

    def _load_ledger(self) -> bool:
        """The ledger loaded and checked against the bound venues (False: cannot run)."""
        self.book.load()
        try:
            self.book.start(self.now_ms, [v.key for v in self.venues], self.cfg.symbols)
            self.startup.import_legacy_loose()
        except RuntimeError as exc:
            self.api.log(str(exc), "#ff0000")
            return False
        if not self.coordinator.shared:  # Executor.unread_since across a restart (none in a cluster)
            self.executor.restore_reads(self.book.read_times())
            self.executor.on_read = self.book.note_read
        if self.coordinator.reachable:  # a cluster hold saved before the restart: Redis answers now
            self.gate.release(CLUSTER, "redis reachable again")
        self._id_stamp = client_id_stamp(self.now_ms)
        if self.ledger.pairs:
            self.event(f"ledger reloaded: {len(self.ledger.pairs)} open pairs")
        if not self.startup.ledger_venues_bound():
            return False
        if self.ledger.orders:
            self.event(f"ledger holds {len(self.ledger.orders)} order(s) of an unfinished execution; "
                       "settling them by client id before anything else")
        return True

    def tick(self) -> None:
        """One loop turn: the turn's readings, venues back from an outage, reconcile, the stops, the trades,
        then (each status interval) the fund's measure, guards, treasury and status. Between its phases the
        book events that came in meanwhile are acted on (`_serve_books`), so a frame waits for one phase,
        not the whole turn."""
        self._in_turn = True
        try:
            self._turn()
        finally:
            self._in_turn = False

    def _turn(self) -> None:
        self._begin_turn()
        self._serve_books()
        self._recover_venues()
        self.reconciler.check_positions()  # a late order of ours landed, a venue moved a leg: reconcile now
        if self.coordinator.sync(self.now_ms) or self.reconciler.due():
            self.reconciler.reconcile()  # adopted units are reconciled with the venues before anything acts
        if self.ledger.orders and self.state.may_close:
            self.risk.bound_unhedged()  # an execution in doubt: its filled leg is unhedged for so long only
        self._serve_books()
        if self.now_ms >= self._next_log_reset_ms:
            self._next_log_reset_ms = self.now_ms + self.cfg.log_reset_interval_s * 1000
            self.api.log_reset(self.cfg.log_keep_rows)  # the profit and chart series are not touched
        status_due = self.now_ms >= self._next_status_ms
        if status_due:
            self._serving = True  # book events are served between the venues' account reads too
            try:
                self.refresh_accounts()
            finally:
                self._serving = False
            self._serve_books()
        self.risk.check(full=status_due)
        self.rehedge.check(self.state.may_close)  # a loose leg its venue cannot close: hedged elsewhere
        self._serve_books()
        self._trade()
        if status_due:
            self._serve_books()
            self._status_round()

    def _serve_books(self) -> None:
        """Inside a turn, between its phases: the book events that came in meanwhile, each acted on as
        between turns (on_book, under `_may_react`), without waiting for more (EventLoop(-1)). Live and paper
        only: a backtest, or a runtime without EventLoop, has none."""
        event_loop = self.api.event_loop
        if event_loop is None or self.api.is_virtual():
            return
        while True:
            event = event_loop(-1)
            if event is None:
                return
            if event.get("Event") == BOOK_EVENT:
                self.on_book(event)

    def _begin_turn(self) -> None:
        """The turn's clock and book tops, the commands, the venues' maintenance notices, the probes."""
        self.now_ms = self.api.now_ms()
        self.executor.begin_turn()
        assert self.market is not None, "start() must succeed before tick()"
        self.market.refresh(self.now_ms)
        self.probes.note_books()
        self.commands.poll()
        if self.maintenance is not None:
            self.maintenance.check()
        self.probes.probe()

    def _recover_venues(self) -> None:
        """Venues back from an outage: their loose and vanished legs settled, reconcile brought forward."""
        for key in sorted(self.health.recovered):
            # unfinished executions are settled by reconcile first: they explain differences themselves
            if self.state.may_close and not self.recovery.holds_back(key) and self.risk.recover(key):
                self.health.recovered.discard(key)
                self.reconciler.bring_forward()  # reconcile first, before anything trades there

    def _trade(self) -> None:
        """Loose legs closed, pairs whose spread reverted closed, openings, and the loose legs those left."""
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

    def _status_round(self) -> None:
        """Each status interval: funding, the fund's measure, the guards, the treasury, the status shown."""
        self._next_status_ms = self.now_ms + self.cfg.status_interval_s * 1000
        self.refresh_funding()
        self._serve_books()
        self.observe()
        self._serve_books()
        accounts_fresh = bool(self.accounts) and all(v.ok for v in self.accounts.values())
        assert self.market is not None
        self.guards.check(self.now_ms, self.accounting.unit_nav, accounts_fresh, self.market)
        if self.treasury is not None and self.coordinator.leads("treasury"):
            self.treasury.check()  # in a cluster, one node moves money for all
        self.status.publish()

    # --- between turns ---
    def idle(self, ms: float) -> None:
        """Until the next turn, `ms` from now. A backtest, or a runtime without EventLoop: Sleep, as the
        polling loop always did. Live and paper: EventLoop until then, each book event acted on as it comes
        (on_book), so a top that moved is traded when its frame arrives, not up to a loop interval later."""
        event_loop = self.api.event_loop
        if event_loop is None or self.api.is_virtual():
            self.api.sleep(ms)
            return
        deadline = self.api.now_ms() + ms
        while True:
            left = deadline - self.api.now_ms()
            if left <= 0:
                return
            event = event_loop(left)
            if event is None:
                return
            if event.get("Event") == BOOK_EVENT:
                self.on_book(event)

    def on_book(self, event: Mapping[str, Any]) -> None:
        """A book event: exchange `Index`'s `Symbol` top is `Buy` / `Sell` as of `Time` (ms, the runtime's
        clock). It goes through Market.on_top; when it changed the top, only that symbol is judged (its pairs'
        spread for a close, the incremental scan for an opening) and what it allows sent at once, through the
        same checks as in tick():
        the gate, both legs checked before either is sent, in-flight orders, stops' margin, guards, cluster
        locks. An event older than the top the market holds is dropped."""
        market = self.market
        venue = self._venue_at.get(event.get("Index", -1))
        time_ms = int(event.get("Time") or 0)
        if market is None or venue is None or time_ms <= 0:
            return
        symbol = fmz_pair(str(event.get("Symbol") or ""))
        top = market.tops[venue.key].get(symbol)
        if top is None or symbol not in venue.specs or time_ms < top.time_ms:
            return
        self.now_ms = self.api.now_ms()
        market.on_top(venue.key, symbol, float(event["Buy"]), float(event["Sell"]), time_ms)
        if symbol in market.changed and self._may_react():
            self._react(symbol)

    def _may_react(self) -> bool:
        """Nothing tick() settles before trading is pending: a venue back from an outage (reconciled before
        anything trades there), an execution in doubt (recovery first), a loose leg (closed first), a
        reconcile that is due."""
        return (self.state.may_close and not self.health.recovered and not self.ledger.orders
                and not self.ledger.loose and not self.reconciler.due())

    def _react(self, symbol: str) -> None:
        """As tick()'s _trade for one symbol: its pairs whose spread reverted closed, then its opening if its
        best venue pair now clears the threshold and the limits allow; a loose leg those left is settled at
        once, as tick() does after its trades. Inside a turn (`_serve_books`) the turn's bound on settle
        waits goes on: it is not started afresh."""
        if not self._in_turn:
            self.executor.begin_turn()
        if self.ledger.pairs:
            for close in self.spread.reverted(symbol):
                self.trader.close(close)
        opening = self.spread.scan(symbol)  # the gate (may_open) is read there
        if opening is not None:
            self.trader.open(opening)
        if self.ledger.loose and self.state.may_close:
            self.risk.settle_loose()

    def _wait(self, ms: float) -> None:
        """Sleep inside the turn (an order's settle lookups, a position re-read): the turn's clock moves
        with the runtime's, so what follows in the turn schedules and judges books' ages from then."""
        self.api.sleep(ms)
        self.now_ms = self.api.now_ms()

    def finish(self) -> None:
        """Final summary (onexit). Uses cached state only: in a backtest the API is already closed."""
        self.accounting.save()  # _G then holds the unit NAV the status table shows (tools.settle, report)
        self.book.compact()  # the ledger as one _G document, as an earlier version left it
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

    # --- the ledger ---
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

    def refresh_accounts(self) -> None:
        for venue in self.venues:  # each through refresh_account (tools/chaos.py watches that one)
            self.refresh_account(venue.key)
            if self._serving:  # tick's status reading (not a re-hedge's, in the middle of its work)
                self._serve_books()

    def refresh_account(self, key: str) -> None:
        self.account_reader.refresh(key)

    def want_margin(self, venue: str, sources: list[str], why: str) -> None:
        """A re-hedge took only part of a loose leg on `venue` for want of margin (hedge/rehedge.py): the
        treasury is asked now, not at the next status interval, to bring it to its target from `sources`
        (venues that trade), on fresh account readings. In a cluster, only the node that moves money."""
        if self.treasury is None or not self.coordinator.leads("treasury"):
            return
        for key in (venue, *sources):
            self.refresh_account(key)
        self.treasury.urge(venue, sources, why)

    def refresh_funding(self) -> None:
        self.funding.refresh()

    # --- accounting ---
    def observe(self) -> None:
        """Measure the fund into the accounting (hedge/fund.py); tools/chaos.py watches this method."""
        self.fund.observe(self.accounting, self.transfers)

    def _status_now(self) -> None:
        """The accounts are checked (and a declared flow booked) at the next turn."""
        self._next_status_ms = self.now_ms

