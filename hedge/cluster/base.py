"""The coordination seam's types: `Unit`, `OpenRequest`, the `ClusterHost` a coordinator reports to and the
`Coordinator` interface with its one-node behaviour. hedge/cluster/__init__.py picks the coordinator;
local.py and redis.py implement it (docs/cluster.md describes the protocol)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hedge.ledger import HedgePair, Ledger, LooseLeg
    from hedge.orders import OrderRecord


@dataclass(frozen=True, order=True)
class Unit:
    """One symbol on one unordered pair of venues: the thing a lease covers."""

    symbol: str
    venue_a: str
    venue_b: str

    @classmethod
    def of(cls, symbol: str, venue_1: str, venue_2: str) -> Unit:
        first, second = sorted((venue_1, venue_2))
        return cls(symbol, first, second)

    @classmethod
    def of_pair(cls, pair: HedgePair) -> Unit:
        return cls.of(pair.symbol, pair.long_venue, pair.short_venue)

    @classmethod
    def parse(cls, key: str) -> Unit:
        symbol, venue_a, venue_b = key.split(":")
        return cls(symbol, venue_a, venue_b)

    @property
    def key(self) -> str:
        return f"{self.symbol}:{self.venue_a}:{self.venue_b}"

    @property
    def venues(self) -> tuple[str, str]:
        return (self.venue_a, self.venue_b)

    def __str__(self) -> str:
        return f"{self.symbol} {self.venue_a}/{self.venue_b}"


@dataclass(frozen=True)
class OpenRequest:
    """What an opening would add, for the shared budget check (all figures per leg, USDT)."""

    unit: Unit
    buy_venue: str
    sell_venue: str
    qty: Decimal
    price: Decimal
    max_symbol_notional: Decimal                 # max_position_usdt
    margin_need: dict[str, Decimal]              # venue -> initial margin this opening needs
    margin_available: dict[str, Decimal]         # venue -> available balance as read by this node
    equity: Decimal                              # total equity as read by this node
    gross: Decimal                               # gross notional of the open pairs (both legs)
    max_effective_leverage: Decimal


class ClusterHost(Protocol):
    """What a coordinator may call back on the App."""

    def event(self, text: str, level: str = "info") -> None: ...
    def coordination_lost(self, reason: str) -> None: ...
    def coordination_back(self) -> None: ...
    def remote_order_log(self, node: str, venue: str, log_type: int, price: float, amount: float,
                         text: str) -> None: ...
    def remote_event(self, node: str, level: str, text: str) -> None: ...


class Coordinator:
    """The interface the App uses; this base is also the single-node behaviour (see local.py)."""

    node = "local"
    client_prefix = "hg"
    shared = False  # True: the pair ledger lives outside this process (reconcile must take a stable view)
    reachable = True  # False while the shared state cannot be reached (a cluster's Redis is away)
    store: Callable[..., Any] | None = None  # the runtime's _G, where a coordinator keeps its own marks

    def attach(self, host: ClusterHost) -> None:
        self._host = host

    def start(self, now_ms: int, ledger: Ledger, venues: list[str], symbols: tuple[str, ...]) -> Ledger:
        """Connect and return the ledger to run with (the shared one for a cluster)."""
        return ledger

    def sync(self, now_ms: int) -> list[Unit]:
        """Once per loop turn: heartbeat, leases, peers' events. Returns units just adopted (to reconcile
        before acting on them)."""
        return []

    def may_act(self, unit: Unit) -> bool:
        return True

    def owns_pair(self, pair: HedgePair) -> bool:
        return True

    def may_protect(self, unit: Unit) -> bool:
        """This node may act on `unit` to cut risk (stops, loose legs, a vanished leg's hedge): it holds the
        unit's lease with a third of the TTL left at this moment, even while adopted units are being
        reconciled or the shared state is unreachable (its writes are fenced by that lease all the same).
        Units of other nodes are theirs to protect."""
        return True

    def holds(self, unit: Unit) -> bool:
        """This node still holds the unit's lease (its writes for it are accepted)."""
        return True

    def leads(self, role: str) -> bool:
        """True on the one node that runs a cluster-wide duty (role "treasury": moving money)."""
        return True

    def reserve_open(self, request: OpenRequest) -> tuple[int | None, str | None]:
        """Reserve an opening's budgets. (pair id to use or None for the local counter, problem or None)."""
        return None, None

    def release_open(self, unit: Unit) -> None:
        return None

    def reserve_pair_id(self, unit: Unit) -> tuple[int | None, str | None]:
        """The id of a pair of `unit` made outside an opening (a loose leg's re-hedge, hedge/rehedge.py),
        taken only while this node holds the unit's lease with a third of its TTL left (checked where the
        lease is kept). (pair id or None for the local counter, problem or None)."""
        return None, None

    @contextmanager
    def acting(self, unit: Unit | None) -> Iterator[None]:
        """Orders journaled inside belong to `unit` (fenced by its lease)."""
        yield

    @contextmanager
    def exclusive(self, keys: Iterable[tuple[str, str]]) -> Iterator[bool]:
        """The execution lock of every (venue, symbol) in `keys`, held for the block. True: this node may
        trade them; False: another node is trading one of them now, so nothing may be sent (the executor
        measures fills by the change of a venue's position and would count that node's fills as its own).
        One node: always True."""
        yield True

    def unit_of_order(self, client_id: str) -> Unit | None:
        """The unit an order was journaled under (None: outside any unit, or one node)."""
        return None

    def may_send(self, record: OrderRecord) -> bool:
        """Checked between journaling an order and sending it: False = this node lost the unit."""
        return True

    def save(self, ledger: Ledger, store: Callable[..., Any]) -> None:
        ledger.save(store)

    def import_loose(self, ledger: Ledger, legs: list[LooseLeg], store: Callable[..., Any]) -> None:
        """Loose legs an earlier version kept outside the ledger, added once at start (a leg already in the
        book of record under the same venue, symbol and unit is not added twice)."""
        loose = dict(ledger.loose)
        for leg in legs:
            loose.setdefault(leg.key, leg)
        ledger.take_shared(loose=loose)
        self.save(ledger, store)

    def view(self, ledger: Ledger) -> Any:
        """Refresh the shared ledger into `ledger`; returns a mark for `stable`."""
        return None

    def stable(self, mark: Any) -> bool:
        """True when nothing shared changed since `view` returned mark (venue reads between are coherent)."""
        return True

    def busy_keys(self) -> set[tuple[str, str]]:
        """(venue, symbol) with another node's execution in progress: not comparable with the ledger now."""
        return set()

    def reconciled(self, mismatched: set[tuple[str, str]] | None = None) -> None:
        """The App compared venues and ledger; adopted units untouched by a mismatch may act."""
        return None

    def rate_budget(self, cfg: Any, local: Any) -> Any:
        """The request budget to use: `local` (hedge/ratelimit.py TokenBuckets) for one node; one shared
        by every node of a cluster (falling back to `local` while Redis is away)."""
        return local

    def publish(self, kind: str, fields: dict[str, Any]) -> None:
        return None

    def status_rows(self) -> list[list[str]]:
        return []

    def close(self) -> None:
        return None
