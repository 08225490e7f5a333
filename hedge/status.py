"""What the user is shown, as one frozen view: the query layer under hedge/report.py (Freqtrade's rpc under
its presentations).

`status_view` reads the components that own each figure once per status interval (StatusBoard.publish in
hedge/status_board.py) and `figures` once more for the final summary line; hedge/report.py only formats
what they return. The view holds copies: nothing in it changes after it is built, and building it sends
nothing to a venue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from hedge.accounting import Accounting, CashFlow, WindowReturn
from hedge.accounts import AccountView
from hedge.book import LedgerView
from hedge.cluster import Coordinator, Unit
from hedge.config import HedgeConfig, TreasuryConfig
from hedge.events import Event, EventLog
from hedge.gate import TradingGate
from hedge.guards import Guards
from hedge.ledger import HedgePair, LooseLeg
from hedge.market import Top
from hedge.opportunity import Opportunity
from hedge.outage import VenueHealth
from hedge.state import TradingState
from hedge.treasury import Transfer, Treasury, VenueNeed
from hedge.valuation import BOOK, VenueRisk

RETURN_WINDOWS_DAYS = (7, 30, 90)
EVENTS_SHOWN = 60
FLOWS_SHOWN = 20


@dataclass(frozen=True)
class Figures:
    """The fund's and the ledger's figures: the Summary table and the final summary line."""

    unit_nav: Decimal
    shares: Decimal
    equity: Decimal
    profit: Decimal
    max_drawdown: Decimal
    slippage: Decimal
    rebates: Decimal
    returns: tuple[tuple[int, WindowReturn | None], ...]  # (days, return over them), RETURN_WINDOWS_DAYS
    since_inception: WindowReturn | None
    volume: dict[str, Decimal]  # venue -> USDT traded since inception
    volume_today: dict[str, Decimal]
    spread_captured: Decimal
    fees_paid: Decimal
    funding_total: Decimal
    pairs_open: int
    pairs_opened: int  # by this process
    closed_pairs: int
    net_exposure: dict[str, Decimal]  # symbol -> base, at the last positions read
    max_net_exposure: dict[str, Decimal]


@dataclass(frozen=True)
class DistanceView:
    """One venue's distance to liquidation as the stops see it (hedge/valuation.py VenueRisk)."""

    venue: str
    method: str  # mechanics | venue | estimate
    nearest: tuple[str, Decimal] | None  # the pair nearest liquidation, and the distance stops act on (%)
    alone: Decimal | None  # that pair's own distance, moving alone
    positions: int
    common: Decimal | None  # all positions moving against us together (cross margin)
    priced: tuple[tuple[str, str], ...]  # (pair, where its mark came from) of pairs not at their own book


@dataclass(frozen=True)
class AccountRow:
    venue: str
    account: AccountView | None  # a copy of the last reading; None: never read
    next_funding: tuple[str, int, Decimal] | None  # symbol, settlement ms, rate


@dataclass(frozen=True)
class ClusterView:
    node: str
    nodes_alive: int
    rows: tuple[tuple[str, ...], ...]  # unit, lease, token, time left


@dataclass(frozen=True)
class StatusView:
    now_ms: int
    symbols: tuple[str, ...]
    venues: tuple[str, ...]  # bound, in binding order
    state: TradingState
    state_reason: str
    figures: Figures
    flows: tuple[CashFlow, ...]  # the newest FLOWS_SHOWN, oldest first
    pending_flows: tuple[tuple[str, Decimal, str], ...]  # (id, USDT, source) booked at the next look
    stops: tuple[tuple[Decimal, int], ...]  # per level: distance %, times fired
    distances: tuple[DistanceView, ...]  # by venue
    out_since: tuple[tuple[str, str, int], ...]  # (venue, function, ms it went out), sorted
    unhedged: tuple[tuple[str, str], ...]  # (opening tag, what it leaves unhedged) while one is in doubt
    max_unhedged_s: int
    max_unhedged_usdt: Decimal
    loose: tuple[LooseLeg, ...]
    unplanned_pnl: Decimal
    guards_tripped: tuple[tuple[str, int], ...]  # (guard, times it held the gate), sorted
    accounts: tuple[AccountRow, ...]  # per bound venue
    treasury_cfg: TreasuryConfig
    allocation: tuple[VenueNeed, ...]
    transfers: tuple[Transfer, ...]  # copies
    mids: dict[tuple[str, str], float]  # (venue, symbol) -> mid of a top with a bid
    opportunities: dict[str, Opportunity | None]  # symbol -> the best one at its last scan
    pairs: tuple[HedgePair, ...]
    shared: bool  # a cluster: the pairs and loose legs of every node
    held_units: frozenset[str]  # unit keys this node holds the lease of (a cluster)
    events: tuple[Event, ...]  # newest first
    cluster: ClusterView | None
    # loose legs held past outage.max_unhedged_s on a venue that is out, and why each is not hedged yet on a
    # venue that trades (hedge/rehedge.py)
    rehedge: tuple[str, ...] = ()


def figures(accounting: Accounting, ledger: LedgerView, now_ms: int, pairs_opened: int,
            net_exposure: Mapping[str, Decimal], max_net_exposure: Mapping[str, Decimal]) -> Figures:
    acc = accounting
    return Figures(
        unit_nav=acc.unit_nav, shares=acc.shares, equity=acc.equity, profit=acc.profit,
        max_drawdown=acc.max_drawdown, slippage=acc.slippage, rebates=acc.rebates,
        returns=tuple((days, acc.window(days)) for days in RETURN_WINDOWS_DAYS),
        since_inception=acc.since_inception(), volume=dict(acc.volume), volume_today=acc.today_volume(now_ms),
        spread_captured=ledger.spread_captured, fees_paid=ledger.fees_paid,
        funding_total=ledger.funding_total,
        pairs_open=len(ledger.pairs), pairs_opened=pairs_opened, closed_pairs=ledger.closed_pairs,
        net_exposure=dict(net_exposure), max_net_exposure=dict(max_net_exposure))


def distance_view(view: VenueRisk) -> DistanceView:
    nearest = view.nearest
    return DistanceView(
        venue=view.venue, method=view.method, nearest=nearest,
        alone=view.distance[nearest[0]] if nearest is not None else None, positions=len(view.positions),
        common=view.common,
        priced=tuple(sorted((p, source) for p, source in view.priced_by.items() if source != BOOK)))


def _held_units(coordinator: Coordinator, keys: Sequence[str]) -> frozenset[str]:
    """The unit keys whose lease this node holds (a unit of venues it does not bind never is)."""
    return frozenset(key for key in keys if key and coordinator.holds(Unit.parse(key)))


def status_view(*, now_ms: int, cfg: HedgeConfig, venues: Sequence[str], gate: TradingGate,
                figures: Figures, accounting: Accounting, ledger: LedgerView,
                risk_views: Mapping[str, VenueRisk],
                stops_fired: Sequence[int], unhedged: Mapping[str, str], unplanned_pnl: Decimal,
                health: VenueHealth, guards: Guards, accounts: Mapping[str, AccountView],
                next_funding: Callable[[str], tuple[str, int, Decimal] | None], treasury: Treasury | None,
                tops: Mapping[str, Mapping[str, Top]] | None, opportunities: Mapping[str, Opportunity | None],
                coordinator: Coordinator, events: EventLog,
                rehedge: Mapping[tuple[str, str, str], str] | None = None) -> StatusView:
    """The status as of now, from the components that own it."""
    pairs = tuple(ledger.pairs.values())
    loose = tuple(ledger.loose.values())
    shared = coordinator.shared
    held = _held_units(coordinator, [Unit.of_pair(p).key for p in pairs] + [leg.unit for leg in loose]) \
        if shared else frozenset()
    mids = {(venue, symbol): top.mid for venue, by_symbol in (tops or {}).items()
            for symbol, top in by_symbol.items() if top.bid > 0}
    account_rows = []
    for venue in venues:
        account = accounts.get(venue)
        account_rows.append(AccountRow(venue, replace(account) if account is not None else None,
                                       next_funding(venue)))
    cluster = ClusterView(coordinator.node, len(getattr(coordinator, "peers", {})),
                          tuple(tuple(row) for row in coordinator.status_rows())) if shared else None
    return StatusView(
        now_ms=now_ms, symbols=tuple(cfg.symbols), venues=tuple(venues), state=gate.state,
        state_reason=gate.reason, figures=figures, flows=tuple(accounting.flows[-FLOWS_SHOWN:]),
        pending_flows=tuple(accounting.pending),
        stops=tuple((level.distance_pct, count) for level, count in zip(cfg.stops.levels, stops_fired,
                                                                         strict=True)),
        distances=tuple(distance_view(risk_views[key]) for key in sorted(risk_views)),
        out_since=tuple((venue, function, ms) for (venue, function), ms in sorted(health.out_since.items())),
        unhedged=tuple(sorted(unhedged.items())) if ledger.orders else (),
        max_unhedged_s=cfg.outage.max_unhedged_s, max_unhedged_usdt=cfg.outage.max_unhedged_usdt,
        loose=loose, unplanned_pnl=unplanned_pnl, guards_tripped=tuple(sorted(guards.tripped.items())),
        accounts=tuple(account_rows), treasury_cfg=cfg.treasury,
        allocation=tuple(treasury.allocation.values()) if treasury is not None else (),
        transfers=tuple(replace(t) for t in treasury.transfers) if treasury is not None else (),
        mids=mids, opportunities=dict(opportunities), pairs=pairs, shared=shared, held_units=held,
        events=tuple(events.newest(EVENTS_SHOWN)), cluster=cluster,
        rehedge=tuple(text for _, text in sorted((rehedge or {}).items())))
