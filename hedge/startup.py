"""Startup's venue binding and ledger checks: the runtime's exchanges bound as venues with their contract
specs (saved at each start, used when GetMarkets fails), the loose legs an earlier version kept outside the
ledger imported, and a refusal to run while the ledger holds positions on venues that are not bound."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hedge.book import Book
from hedge.cluster import Unit
from hedge.cluster.base import Coordinator
from hedge.config import HedgeConfig
from hedge.fmz import Api
from hedge.ledger import LEGACY, LEGACY_LOOSE_KEY, Ledger, LooseLeg
from hedge.market import VENUE_BY_EXCHANGE_NAME, Venue, load_specs, save_specs, saved_specs, venue_key
from hedge.outage import MonitoredExchange, VenueHealth
from hedge.ratelimit import AdapterAwareBudget, RateBudget


class Startup:
    def __init__(self, *, api: Callable[[], Api], cfg: Callable[[], HedgeConfig], health: VenueHealth,
                 budget: RateBudget, event: Callable[..., None], book: Book, coordinator: Coordinator,
                 venues: list[Venue]) -> None:
        self._api = api  # looked up at each use, as the config (tests swap the runtime's exchanges)
        self._cfg = cfg
        self._health = health
        self._budget = budget
        self._event = event
        self._book = book
        self._coordinator = coordinator
        self.venues = venues  # filled in place by bind_venues (everyone holds this list)

    def bind_venues(self) -> bool:
        """Each exchange the runtime binds, as a venue with its contract specs. False = cannot run."""
        api = self._api()
        for index, raw_exchange in enumerate(api.exchanges):
            name = raw_exchange.GetName()
            key = venue_key(name)
            if key is None:
                api.log(f"exchange #{index} {name} is not a supported futures venue; bind only "
                        "Futures_Binance, Futures_Bybit, Futures_OKX, Futures_CoinEx or Futures_BitMEX",
                        "#ff0000")
                return False
            if any(v.key == key for v in self.venues):
                api.log(f"exchange #{index} {name} is bound twice; remove the duplicate binding "
                        "(one account per venue)", "#ff0000")
                return False
            exchange = MonitoredExchange(raw_exchange, key, self._health, self._budget)
            adapter_view = callable(getattr(raw_exchange, "rate_budget", None))  # fmz_compat's live objects
            if isinstance(self._budget, AdapterAwareBudget) and adapter_view:
                self._budget.watch(key, _budget_reader(raw_exchange))
            specs = load_specs(exchange, self._cfg().symbols)
            if specs is None:
                specs = saved_specs(api.store, key)
                if specs is None:
                    self._event(f"{key}: GetMarkets failed; venue ignored", "error")
                    continue
                # a restart during an outage must not drop a venue that holds our legs: it stays bound
                # and is treated as down until it answers
                self._event(f"{key}: GetMarkets failed; using the contract specs saved at the last start "
                            "(the venue counts as down until it answers)", "warn")
            else:
                save_specs(api.store, key, specs)
            for symbol in self._cfg().symbols:
                if symbol not in specs:
                    self._event(f"{key}: {symbol} swap not listed; this venue will not trade it", "warn")
            self.venues.append(Venue(key, index, exchange, specs))
        if len(self.venues) < 2:
            api.log("need at least two supported futures exchanges bound (e.g. Futures_Binance, "
                    "Futures_OKX); found", len(self.venues), "#ff0000")
            return False
        return True

    def import_legacy_loose(self) -> None:
        """Loose legs an earlier version kept in _G outside the ledger: into the ledger (and, in a cluster,
        the shared book) once, under the unit of the pair they came from; then the old key is deleted."""
        api = self._api()
        legacy = Ledger.legacy_loose(api.store)
        if not legacy:
            return
        legs = [LooseLeg(venue, symbol, qty, price, pair_id, self._legacy_unit(venue, symbol, pair_id),
                         LEGACY) for venue, symbol, qty, price, pair_id in legacy if qty != 0]
        self._book.import_loose(legs)
        api.store(LEGACY_LOOSE_KEY, None)
        self._event(f"{len(legs)} loose leg(s) saved by an earlier version moved into the ledger: "
                    + ", ".join(f"{leg.venue} {leg.symbol} {leg.qty:+f}" for leg in legs), "warn")

    def _legacy_unit(self, venue: str, symbol: str, pair_id: int) -> str:
        """The unit a legacy loose leg belongs to: its pair's when still open, else the venue with the first
        other bound venue that lists the symbol (any unit holding the venue-symbol can close the leg)."""
        pair = self._book.ledger.pairs.get(pair_id)
        if pair is not None:
            return Unit.of_pair(pair).key
        other = next((v.key for v in sorted(self.venues, key=lambda v: v.key)
                      if v.key != venue and symbol in v.specs), None)
        return Unit.of(symbol, venue, other).key if other is not None else ""

    def ledger_venues_bound(self) -> bool:
        """Every venue the ledger holds positions on must be bound: its position cannot be read otherwise.
        In a cluster the shared book holds other nodes' units too, on venues this node may not bind: those
        are theirs (this node only trades and reconciles units whose two venues it binds)."""
        api = self._api()
        bound = {v.key for v in self.venues}
        held = {} if self._coordinator.shared else self._book.ledger.held_positions()
        missing = [(key, qty) for key, qty in sorted(held.items()) if key[0] not in bound and qty != 0]
        missing += [((r.venue, r.symbol), Decimal(0)) for r in self._book.ledger.orders.values()
                    if r.venue not in bound]
        for (venue, symbol), qty in missing:
            name = next((n for n, k in VENUE_BY_EXCHANGE_NAME.items() if k == venue), venue)
            api.log(f"{venue} {symbol}: ledger expects {qty:+f}, venue not bound (found: unreadable); "
                    f"bind {name} again, or close that position by hand and clear the ledger",
                    "#ff0000")
        if missing:
            api.log("start refused: the ledger holds positions on venues that are not bound", "#ff0000")
        return not missing


def _budget_reader(exchange: Any) -> Callable[[], Any]:
    """The venue's own budget view, looked up at each read (a live object may rebind it)."""
    return lambda: exchange.rate_budget()
