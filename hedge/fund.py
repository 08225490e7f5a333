"""The fund measured: equity, exposure, margin and leverage into the accounting once per status interval,
declared cash flows booked with them, and unit NAV held while money cannot be counted exactly once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from hedge.accounting import Accounting, FlowRejected, Observation
from hedge.accounts import AccountReader
from hedge.book import Book
from hedge.market import Venue
from hedge.transfers import TransferWatcher

# each returns the external deposits (+) and withdrawals (-) it sees as (flow id, USDT, source)
FlowSource = Callable[[], list[tuple[str, Decimal, str]]]


class FundObserver:
    """venues: the bound venues (App's list, filled at start); accounts: their readings; flow_sources:
    App's list of flow readers; mid: a symbol's mid (None without a fresh book); net_exposure: base per
    symbol at the last positions read; transfers: the transfer histories (built at start), whose money in
    transit counts in equity."""

    def __init__(self, symbols: tuple[str, ...], venues: list[Venue], accounts: AccountReader,
                 flow_sources: list[FlowSource], mid: Callable[[str], Decimal | None],
                 net_exposure: Mapping[str, Decimal], book: Book,
                 transfers: Callable[[], TransferWatcher | None],
                 event: Callable[[str, str], None], log: Callable[..., object],
                 now_ms: Callable[[], int]) -> None:
        self.symbols = symbols
        self.venues = venues
        self.accounts = accounts
        self.flow_sources = flow_sources
        self.mid = mid
        self.net_exposure = net_exposure
        self.book = book
        self.transfers = transfers
        self.event = event
        self.log = log
        self.now_ms = now_ms
        self.hold: str | None = None  # why unit NAV is not measured now (money between our wallets)

    def total_equity(self) -> Decimal:
        # A venue that did not answer this time counts with its last known equity (shown as stale).
        venues = sum((a.equity for a in self.accounts.views.values()), Decimal(0))
        return venues + self.in_transit()

    def in_transit(self) -> Decimal:
        """USDT between our own venues or in their funding wallets (hedge/transfers.py, as of the last
        look): part of equity, not a cash flow."""
        transfers = self.transfers()
        return transfers.in_transit() if transfers is not None else Decimal(0)

    def observe(self, accounting: Accounting, transfers: TransferWatcher | None) -> None:
        """Measure equity, exposure, margin and leverage into the accounting (books declared flows)."""
        self._declare_flows(accounting)
        observation = self._measure()
        if self._held(accounting, transfers):
            return
        try:
            booked = accounting.observe(observation)
        except FlowRejected as exc:
            accounting.drop_pending()
            self.log(str(exc), "#ff0000")
            accounting.observe(observation)
            return
        for flow in booked:
            kind = "deposit" if flow.amount > 0 else "withdrawal"
            self.event(f"{kind} of {abs(flow.amount):.2f} USDT booked at unit NAV {flow.unit_nav:.6f}: "
                       f"{flow.shares:+.4f} shares, {accounting.shares:.4f} in total", "info")

    def _declare_flows(self, accounting: Accounting) -> None:
        """The deposits and withdrawals the transfer histories show, declared (booked at the observation)."""
        for source in self.flow_sources:
            for flow_id, amount, origin in source():
                if amount != 0:
                    accounting.declare_flow(amount, origin, flow_id)

    def _measure(self) -> Observation:
        """Equity, each symbol's net exposure in USDT, each venue's margin in use and effective leverage."""
        equity = self.total_equity()
        exposure: dict[str, Decimal] = {}
        notional: dict[str, Decimal] = {}
        for symbol in self.symbols:
            mid = self.mid(symbol)
            if mid is None:
                continue
            exposure[symbol] = self.net_exposure[symbol] * mid
            for pair in self.book.ledger.pairs.values():
                if pair.symbol == symbol:
                    for venue in (pair.long_venue, pair.short_venue):
                        notional[venue] = notional.get(venue, Decimal(0)) + pair.qty * mid
        views = self.accounts.views
        margin = {key: max(view.equity - view.available, Decimal(0)) for key, view in views.items()}
        leverage = {key: (notional.get(key, Decimal(0)) / view.equity).quantize(Decimal("0.001"))
                    for key, view in views.items() if view.equity > 0}
        return Observation(self.now_ms(), equity, exposure, margin, leverage)

    def _held(self, accounting: Accounting, transfers: TransferWatcher | None) -> bool:
        """Unit NAV is not measured while money between our own wallets cannot be counted exactly once
        (hedge/transfers.py says why), nor while a venue with wallets did not answer for its account (money
        moved between its futures and funding wallets, by this node or another, would count twice or not
        at all), nor before every venue answered once. The last measurement stands until then; an event
        says when the hold starts and when it ends."""
        reason = transfers.hold_reason() if transfers is not None else None
        unread = [v.key for v in self.venues if v.key not in self.accounts.answered]
        if reason is None and unread:
            reason = f"{', '.join(unread)} did not answer since the start: its equity is not known"
        views = self.accounts.views
        if reason is None and transfers is not None:
            down = sorted(v for v in transfers.wallets if v in views and not views[v].ok)
            if down:
                reason = f"{', '.join(down)} account did not answer this time"
        if reason is not None:  # before the first measurement too: inception waits for a whole picture
            if self.hold is None:
                what = (f"unit NAV held at {accounting.unit_nav:.6f}" if accounting.live is not None
                        else "inception (shares = equity) waits")
                self.event(f"{what}: {reason}", "warn")
            self.hold = reason
            return True
        if self.hold is not None:
            self.event("unit NAV measured again: every account and wallet answered", "info")
            self.hold = None
        return False
