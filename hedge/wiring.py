"""The App's wiring (issue #19): each component built with the few things it uses.

The composition helpers of hedge/app.py. They read the App through `Host`, the members they wire: what
exists when they run is handed over as it is, what is built or replaced later is looked up at each use (the
turn's clock, the config tests swap, the market bound at start, the accounting loaded at start, the
maintenance, transfers, treasury and chart start builds; the trader and the reconciler built after the
components that call them). The components never see the App (but Risk, through its `RiskHost`), and
nothing here imports hedge.app (tests/test_layers.py).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from hedge.accounting import Accounting
from hedge.accounts import AccountReader, AccountView
from hedge.book import Book
from hedge.cluster import Coordinator, make_coordinator
from hedge.cluster_link import ClusterLink
from hedge.events import EventLog, EventSink
from hedge.execution import Executor
from hedge.fmz import Api
from hedge.fund import FundObserver
from hedge.funding import Funding
from hedge.gate import TradingGate
from hedge.guards import Guards
from hedge.maintenance import MaintenanceWatcher
from hedge.orders import OrderRecord
from hedge.outage import VenueHealth
from hedge.probes import OutageProbes
from hedge.ratelimit import AdapterAwareBudget, RateBudget, TokenBuckets
from hedge.reconcile import Exposure, Reconciler
from hedge.recovery import LateOrders, Recovery
from hedge.rehedge import Rehedger
from hedge.report import Report
from hedge.risk import Risk, RiskHost
from hedge.spread import Spread
from hedge.startup import Startup
from hedge.status_board import StatusBoard
from hedge.trader import Trader
from hedge.transfers import TransferWatcher
from hedge.treasury import Treasury
from hedge.venue_terms import VenueTerms
from hedge.venues.base import Venue as VenueMechanics

FlowSource = Callable[[], list[tuple[str, Decimal, str]]]


class Host(RiskHost, Protocol):
    """The App's members the wiring reads (RiskHost's too: Risk is handed its host)."""

    api: Api
    events: EventLog
    event: EventSink
    gate: TradingGate
    exposure: Exposure
    accounting: Accounting
    flow_sources: list[FlowSource]
    transfers: TransferWatcher | None
    treasury: Treasury | None
    maintenance: MaintenanceWatcher | None
    terms: VenueTerms
    coordinator: Coordinator
    cluster: ClusterLink
    book: Book
    executor: Executor
    health: VenueHealth
    budget: RateBudget
    risk: Risk
    rehedge: Rehedger
    trader: Trader
    accounts: dict[str, AccountView]
    fund: FundObserver
    funding: Funding
    spread: Spread
    guards: Guards
    reconciler: Reconciler
    report: Report
    chart: Any

    def mechanics(self, key: str) -> VenueMechanics: ...
    def taker_bps(self, key: str) -> Decimal: ...
    def stop_openings(self, reason: str, suspect: set[tuple[str, str]] | None = None) -> None: ...
    def venue_positions(self, assume: frozenset[str] = frozenset()
                        ) -> dict[tuple[str, str], Decimal] | None: ...
    def measure_exposure(self) -> None: ...


def coordination(app: Host) -> tuple[Coordinator, ClusterLink, Book]:
    """Who may act on which symbol x venue pair (this node alone, or a cluster through Redis), what the
    coordinator calls back (Redis away or back, the other nodes' events), and the book it stores."""
    cfg, api = app.cfg, app.api
    coordinator = make_coordinator(cfg.cluster, lambda: app.now_ms, api.now_ms, api.sleep,
                                   virtual_clock=bool(api.is_virtual()))
    cluster = ClusterLink(coordinator=coordinator, gate=app.gate, event=app.event,
                          log=api.log, venue_or_none=lambda key: app.trader.venue_or_none(key),
                          bring_forward=lambda: app.reconciler.bring_forward())
    coordinator.attach(cluster)
    coordinator.store = api.store
    return coordinator, cluster, Book(coordinator, api.store)  # the one writer of the ledger


def executor(app: Host, wait: Callable[[float], None], stamp: Callable[[], str]) -> Executor:
    """Orders sent, settled and journaled (a cluster's lease fences them); `stamp`: the run's client-id
    stamp, set at start."""
    cfg, coordinator = app.cfg, app.coordinator
    shared = coordinator.shared

    def journal(record: OrderRecord) -> None:
        app.book.journal(record)
        app.book.save()

    return Executor(sleep=wait, taker_bps=app.taker_bps, event=app.event, journal=journal,
                    new_client_id=lambda: app.book.next_client_id(stamp(), app.coordinator.client_prefix),
                    band_bps=cfg.max_slippage_bps,
                    may_send=coordinator.may_send if shared else None,
                    logged=app.cluster.order_logged if shared else None,
                    exclusive=coordinator.exclusive if shared else None,
                    now_ms=app.api.now_ms, settle_ms=lambda _venue: cfg.outage.order_settle_s * 1000,
                    in_doubt=app.book.order_in_doubt, held_pairs=app.book.held_pairs,
                    max_turn_wait_ms=cfg.outage.max_turn_wait_ms)


def venue_limits(app: Host) -> tuple[VenueHealth, RateBudget]:
    """Venue health per function, and the request budget (a cluster's in Redis; a cluster may swap in a
    shared one before start())."""
    cfg = app.cfg
    health = VenueHealth(cfg.outage.max_errors, lambda: app.now_ms, app.event,
                         cfg.outage.timeout_cooldown_s * 1000, cfg.outage.refusal_cooldown_s * 1000)
    budget = AdapterAwareBudget(app.coordinator.rate_budget(
        cfg.rate_limits, TokenBuckets(cfg.rate_limits, lambda: app.now_ms)), cfg.rate_limits)
    return health, budget


def stops(app: Host) -> tuple[Risk, Rehedger]:
    """The tiered stops (closing through the trader, built after them), and the re-hedger: a loose leg stuck
    on a venue that is out is hedged on one that trades after outage.max_unhedged_s."""
    book, executor_, coordinator = app.book, app.executor, app.coordinator
    risk = Risk(app, app.health, book, lambda *args, **kwargs: app.trader.close_group(*args, **kwargs),
                venue_or_none=lambda key: app.trader.venue_or_none(key), executor=executor_,
                coordinator=coordinator, mechanics=lambda key: app.mechanics(key),
                event=app.event, stop_openings=app.stop_openings,
                measure_exposure=app.measure_exposure, order_in_doubt=book.order_in_doubt)
    rehedge = Rehedger(cfg=app.cfg, health=app.health, book=book, risk=risk, executor=executor_,
                       coordinator=coordinator, venues=app.venues, market=lambda: app.market,
                       now_ms=lambda: app.now_ms, event=app.event, taker_bps=app.taker_bps,
                       stop_openings=app.stop_openings, suspect=lambda: app.reconciler.suspect,
                       measure_exposure=app.measure_exposure)
    risk.close_yields = rehedge.close_yields  # a loose leg's own closes make way for its re-hedge
    risk.unhedgeable = rehedge.unhedgeable  # a first level by leverage alone leaves none that nothing hedges
    return risk, rehedge


def trader(app: Host, wait: Callable[[float], None]) -> Trader:
    """The one path from a decision to the venues and the book: reserve, chunk, send, book."""
    return Trader(
        cfg=lambda: app.cfg, now_ms=lambda: app.now_ms, wait=wait, venues=app.venues,
        market=lambda: app.market, budget=app.budget, executor=app.executor,
        coordinator=app.coordinator, book=app.book, risk=app.risk, accounting=lambda: app.accounting,
        event=app.event, stop_openings=app.stop_openings,
        measure_exposure=app.measure_exposure, close_waits=app.rehedge.close_waits,
        close_lead=app.rehedge.close_lead)


def accounts(app: Host) -> tuple[AccountReader, FundObserver, Funding]:
    """Each venue's account as last read (refreshed in place), the fund's measure, the funding rates and
    settlements."""
    cfg = app.cfg
    reader = AccountReader(app.venues, app.risk.read, app.mechanics)
    fund = FundObserver(cfg.symbols, app.venues, reader, app.flow_sources,
                        lambda symbol: app.trader.mid(symbol) if app.market is not None else None,
                        app.exposure.last, app.book, lambda: app.transfers, app.event, app.api.log,
                        lambda: app.now_ms)
    funding = Funding(app.venues, cfg.symbols, lambda: app.now_ms, app.trader.mid,
                      app.coordinator.owns_pair, app.book)
    return reader, fund, funding


def spread(app: Host) -> Spread:
    """The spread rule: it decides where to open and what to close, as intents the trader executes."""
    return Spread(
        cfg=lambda: app.cfg, now_ms=lambda: app.now_ms, market=lambda: app.market,
        maintenance=lambda: app.maintenance, health=app.health, coordinator=app.coordinator,
        ledger=lambda: app.book.ledger, trader=app.trader, risk=app.risk, taker=app.terms.taker,
        funding_rates=app.funding.rates.get, accounts=app.accounts, equity=app.fund.total_equity,
        may_open=lambda: app.state.may_open, suspect=lambda: app.reconciler.suspect)


def settlement(app: Host) -> tuple[LateOrders, Recovery, Reconciler]:
    """Orders of ours that reached a venue late, settling the journal of an unfinished execution
    (hedge/recovery.py), and the venue positions compared with the ledger, openings stopped while they
    differ (hedge/reconcile.py)."""
    book, executor_, coordinator, health = app.book, app.executor, app.coordinator, app.health
    trader_ = app.trader
    late = LateOrders(
        book=book, executor=executor_, coordinator=coordinator, health=health,
        venue_or_none=trader_.venue_or_none, now_ms=lambda: app.now_ms,
        stop_openings=app.stop_openings, event=app.event, risk=app.risk, top_mid=trader_.top_mid,
        taker_bps=app.taker_bps, net_rehedge=app.rehedge.net_late_close)
    recovery = Recovery(
        book=book, executor=executor_, coordinator=coordinator, health=health,
        venues=app.venues, venue_or_none=trader_.venue_or_none, positions=app.venue_positions,
        stop_openings=app.stop_openings, event=app.event, top_mid=trader_.top_mid,
        taker_bps=app.taker_bps, risk=app.risk, count_late_fills=late.count_late_fills,
        complete_late=late.complete_late, complete_rehedge=app.rehedge.complete)

    def positions_read(positions: dict[tuple[str, str], Decimal]) -> None:
        """Reconcile read every venue's positions: the net exposure and its guard."""
        app.exposure.record(positions)
        app.guards.check_exposure(app.exposure.last,
                                  app.trader.mid if app.market is not None else lambda _symbol: None)

    reconciler = Reconciler(
        cfg=app.cfg, now_ms=lambda: app.now_ms, book=book, executor=executor_,
        coordinator=coordinator, health=health, venues=app.venues,
        venue_or_none=trader_.venue_or_none, gate=app.gate, recover=recovery.recover_orders,
        young_landed=late.young_landed, close_late_fills=late.close_late_fills,
        book_landed_late_closes=late.book_landed_late_closes, vanished=app.risk._vanished,
        close_blind_late_fills=late.close_blind_late_fills, measured=positions_read, log=app.api.log,
        event=app.event)
    return late, recovery, reconciler


def probes(app: Host) -> OutageProbes:
    """Stale books and out functions asked again, for venue health (hedge/probes.py)."""
    return OutageProbes(venues=app.venues, market=lambda: app.market, health=app.health,
                        now_ms=lambda: app.now_ms, venue_or_none=app.trader.venue_or_none)


def startup(app: Host) -> Startup:
    """Binding the venues and checking the ledger against them at start (hedge/startup.py)."""
    return Startup(api=lambda: app.api, cfg=lambda: app.cfg, health=app.health,
                   budget=app.budget, event=app.event, book=app.book,
                   coordinator=app.coordinator, venues=app.venues)


def status_board(app: Host) -> StatusBoard:
    """What the user is shown: hedge/status.py queries, hedge/report.py formats."""
    return StatusBoard(
        now_ms=lambda: app.now_ms, cfg=lambda: app.cfg, venues=app.venues, gate=app.gate,
        accounting=lambda: app.accounting, book=app.book, risk=app.risk, health=app.health,
        guards=app.guards, accounts=app.accounts, funding=app.funding, treasury=lambda: app.treasury,
        market=lambda: app.market, spread=app.spread, coordinator=app.coordinator, events=app.events,
        rehedge=app.rehedge, trader=app.trader, exposure=app.exposure, report=app.report,
        chart=lambda: app.chart)


# --- built at start, once the venues are bound ---
def maintenance(app: Host) -> MaintenanceWatcher:
    """The venues' own maintenance notices."""
    return MaintenanceWatcher(
        {v.key: v.exchange for v in app.venues}, app.health, app.cfg.outage.maintenance_lead_s,
        app.cfg.outage.maintenance_poll_s, lambda: app.now_ms, app.event)


def transfers(app: Host) -> TransferWatcher:
    """Funding wallets and transfer histories (since the fund's inception; the treasury's moves are own)."""
    return TransferWatcher(
        {v.key: v.exchange for v in app.venues}, now_ms=lambda: app.now_ms, event=app.event,
        since_ms=lambda: app.accounting.inception_ms or app.now_ms + 1,
        own_addresses=[e.address for e in app.cfg.treasury.whitelist], store=app.api.store,
        own_moves=lambda: app.treasury.own_moves() if app.treasury is not None else [])


def treasury(app: Host, transfers_: TransferWatcher) -> Treasury:
    """Allocation by venue weights and rebalancing transfers, loaded from _G."""
    return Treasury(
        app.cfg.treasury, app.cfg, app.api, app.event, lambda: app.now_ms,
        {v.key: v.exchange for v in app.venues}, app.accounts, transfers_,
        lambda: app.accounting.inception_ms, wallet_moved=app.risk.note_wallet,
        to_hedge=app.rehedge.exposure_to_hedge).load()


def chart(app: Host) -> Any:
    """The runtime's chart of the accounting history, rebuilt from it."""
    drawn = app.api.chart(app.report.chart_config([v.key for v in app.venues], list(app.cfg.symbols)))
    if app.report.charts is not None:
        app.report.charts.rebuild(drawn, app.accounting)
    return drawn
