"""Request budget per venue account: orders per window and request weight per minute.

Two token buckets per venue on the runtime clock (never the wall clock, so a backtest is repeatable).
An opening reserves its orders on both venues before either leg is sent: granted now (0), granted after
a wait in ms (the caller sleeps, then sends), or refused (None, nothing reserved) when the wait would
exceed the bound. Closes and stops ask with `priority`: they may use the share of each bucket that
openings leave alone (`close_reserve_pct`) and never get None: they wait at most the same bound.

Everything else the strategy asks a venue is charged as it happens (`spend`), so market-data polling
and order queries eat into the same budget the venue counts. `RateBudget` is the seam: the local
`TokenBuckets` serve one node; a cluster backs the same two calls with a shared store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from hedge.config import RateConfig


@dataclass(frozen=True)
class Cost:
    orders: int = 0
    weight: int = 0


class RateBudget(Protocol):
    def reserve(self, venue: str, cost: Cost, *, priority: bool = False) -> int | None:
        """Take `cost` from the venue's budget: 0 = send now, n = send after n ms, None = not granted."""
        ...

    def release(self, venue: str, cost: Cost) -> None:
        """Give back a reservation that will not be used (the other leg was refused)."""
        ...

    def spend(self, venue: str, cost: Cost) -> None:
        """Charge a request that is made regardless of the budget (market data, order queries)."""
        ...


class _Bucket:
    """Tokens refill continuously at capacity per period; the level may go below zero after a spend."""

    __slots__ = ("capacity", "period_ms", "level", "updated_ms")

    def __init__(self, capacity: int, period_ms: int, now_ms: int) -> None:
        self.capacity = float(capacity)
        self.period_ms = float(period_ms)
        self.level = float(capacity)
        self.updated_ms = now_ms

    def refill(self, now_ms: int) -> None:
        if now_ms > self.updated_ms:
            self.level = min(
                self.capacity, self.level + (now_ms - self.updated_ms) * self.capacity / self.period_ms
            )
            self.updated_ms = now_ms

    def wait_ms(self, amount: int, floor: float) -> int:
        """Ms until `amount` can be taken leaving at least `floor` tokens."""
        missing = amount + floor - self.level
        if missing <= 0:
            return 0
        return int(-(-missing * self.period_ms // self.capacity))


class TokenBuckets:
    """The one-node RateBudget: per venue an order bucket and a weight bucket."""

    def __init__(self, cfg: RateConfig, now_ms: Callable[[], int]) -> None:
        self._cfg = cfg
        self._now_ms = now_ms
        self._buckets: dict[str, tuple[_Bucket, _Bucket]] = {}
        self.waited_ms = 0  # total ms callers were told to wait
        self.refused = 0  # reservations refused (openings skipped)

    def _pair(self, venue: str) -> tuple[_Bucket, _Bucket]:
        found = self._buckets.get(venue)
        now = self._now_ms()
        if found is None:
            rate = self._cfg.venue(venue)
            found = (
                _Bucket(rate.orders, rate.window_s * 1000, now),
                _Bucket(rate.weight_per_min, 60_000, now),
            )
            self._buckets[venue] = found
        for bucket in found:
            bucket.refill(now)
        return found

    def reserve(self, venue: str, cost: Cost, *, priority: bool = False) -> int | None:
        orders, weight = self._pair(venue)
        share = 0.0 if priority else self._cfg.close_reserve_pct / 100
        wait = max(
            orders.wait_ms(cost.orders, orders.capacity * share) if cost.orders else 0,
            weight.wait_ms(cost.weight, weight.capacity * share) if cost.weight else 0,
        )
        if wait > self._cfg.max_wait_ms:
            if not priority:
                self.refused += 1
                return None
            # A close or stop goes out after the bound anyway: the budget is about half the venue's own
            # limit, and the other half is there for exactly this.
            wait = self._cfg.max_wait_ms
        orders.level -= cost.orders
        weight.level -= cost.weight
        self.waited_ms += wait
        return wait

    def release(self, venue: str, cost: Cost) -> None:
        orders, weight = self._pair(venue)
        orders.level = min(orders.capacity, orders.level + cost.orders)
        weight.level = min(weight.capacity, weight.level + cost.weight)

    def spend(self, venue: str, cost: Cost) -> None:
        # every venue call's path (hedge/outage.py): `_pair` inlined, a bucket refilled only when time moved
        found = self._buckets.get(venue)
        if found is None:
            found = self._pair(venue)
        else:
            now = self._now_ms()
            for bucket in found:  # _Bucket.refill inlined
                if now > bucket.updated_ms:
                    level = bucket.level + (now - bucket.updated_ms) * bucket.capacity / bucket.period_ms
                    bucket.level = level if level < bucket.capacity else bucket.capacity
                    bucket.updated_ms = now
        orders, weight = found
        orders.level -= cost.orders
        weight.level -= cost.weight

    def charger(self, venue: str, cost: Cost) -> Callable[[], None]:
        """`spend(venue, cost)` as a call of no arguments, for a caller that charges the same cost to the same
        venue again and again (every venue call: hedge/outage.py). The venue's buckets are found once; a
        charge computes exactly what `spend` does (the same refill, the same subtractions), so the levels
        stay bit for bit the same."""
        orders, weight = self._buckets.get(venue) or self._pair(venue)  # created as _pair does, not refilled
        now_ms, spent_orders, spent_weight = self._now_ms, cost.orders, cost.weight

        def charge() -> None:
            now = now_ms()
            if now > orders.updated_ms:  # _Bucket.refill inlined, as in spend
                level = orders.level + (now - orders.updated_ms) * orders.capacity / orders.period_ms
                orders.level = level if level < orders.capacity else orders.capacity
                orders.updated_ms = now
            if now > weight.updated_ms:
                level = weight.level + (now - weight.updated_ms) * weight.capacity / weight.period_ms
                weight.level = level if level < weight.capacity else weight.capacity
                weight.updated_ms = now
            if spent_orders:  # x - 0 is x: skipping it changes no level
                orders.level -= spent_orders
            weight.level -= spent_weight

        return charge

    def levels(self, venue: str) -> tuple[float, float]:
        """(orders, weight) tokens left now: for the status table and tests."""
        orders, weight = self._pair(venue)
        return orders.level, weight.level


class AdapterAwareBudget:
    """A RateBudget that also heeds what an exchange object knows of the venue's own count.

    fmz_compat's live objects offer `rate_budget()`: the venue's remaining budget from its rate-limit
    headers (Binance used weight, Bybit and BitMEX remaining) and how long calls are held after failures
    (`backoff_ms`). An opening is refused while the venue itself says less than `close_reserve_pct` % of
    its limit is left, or while calls are held longer than `max_wait_ms`; a close or stop waits for a hold
    (at most `max_wait_ms`) and is never refused. Everything else is the inner budget's (local buckets, or
    a cluster's shared one); objects without `rate_budget` (FMZ's, the simulator's) change nothing."""

    def __init__(self, inner: RateBudget, cfg: RateConfig) -> None:
        self.inner = inner
        self._cfg = cfg
        self._readers: dict[str, Callable[[], dict[str, object]]] = {}
        self.refused_by_venue = 0

    def watch(self, venue: str, reader: Callable[[], dict[str, object]] | None) -> None:
        if callable(reader):
            self._readers[venue] = reader

    def _view(self, venue: str) -> dict[str, object] | None:
        reader = self._readers.get(venue)
        if reader is None:
            return None
        try:
            view = reader()
        except EOFError:  # a backtest's window has ended: the strategy must see it
            raise
        except Exception:  # noqa: BLE001 - a reading that fails only loses the extra caution
            return None
        return view if isinstance(view, dict) else None

    def reserve(self, venue: str, cost: Cost, *, priority: bool = False) -> int | None:
        hold = 0
        view = self._view(venue)
        if view is not None:
            hold = int(_number(view.get("backoff_ms")))
            remaining, limit = view.get("venue_remaining"), view.get("venue_limit")
            nearly_spent = False
            if isinstance(remaining, int | float) and isinstance(limit, int | float) and limit > 0:
                nearly_spent = remaining < limit * self._cfg.close_reserve_pct / 100
            if not priority and (nearly_spent or hold > self._cfg.max_wait_ms):
                self.refused_by_venue += 1
                return None
            hold = min(hold, self._cfg.max_wait_ms)
        granted = self.inner.reserve(venue, cost, priority=priority)
        return None if granted is None else max(granted, hold)

    def release(self, venue: str, cost: Cost) -> None:
        self.inner.release(venue, cost)

    def spend(self, venue: str, cost: Cost) -> None:
        self.inner.spend(venue, cost)

    def charger(self, venue: str, cost: Cost) -> Callable[[], None]:
        """The inner budget's (spend is the inner budget's alone)."""
        return charger(self.inner, venue, cost)

    def __getattr__(self, name: str) -> object:  # the inner budget's figures (levels, refused, ...)
        return getattr(self.inner, name)


def charger(budget: RateBudget, venue: str, cost: Cost) -> Callable[[], None]:
    """`budget.spend(venue, cost)` as a call of no arguments: the budget's own fast one where it has one
    (`TokenBuckets.charger`), else the spend itself with its arguments bound."""
    own = getattr(budget, "charger", None)
    if callable(own):
        made: Callable[[], None] = own(venue, cost)
        return made
    return partial(budget.spend, venue, cost)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
