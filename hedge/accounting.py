"""Fund accounting: shares and unit NAV that cash flows cannot move, returns, and the money flows.

At inception shares = equity / 1.0. A deposit or withdrawal mints or burns shares at the unit NAV of
that moment, so unit NAV (total equity / shares) moves only with results: trading, fees, funding,
transfer fees. Moves between our own venues are not cash flows (their in-transit amount stays in
equity). Everything is persisted through `_G` in small keys and survives restarts and LogReset:

* `hedge_accounting_v1`: shares, totals, flows, the live point (saved on every change of substance);
* `hedge_accounting_hours_v1_<day>`: that day's hourly points (kept 92 days);
* `hedge_accounting_days_v1`: one point per day, forever (about 30 KB a year).

Shares are kept as an exact fraction, so minting at a rational unit NAV never rounds: unit NAV
(reported to 12 decimal places, rounded half-even) is exactly what it would be without the flows.
Other figures run in Decimal at 60 significant digits.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from fractions import Fraction
from typing import Any

from hedge import store_keys
from hedge.figures import MIN_ANNUALIZE_DAYS

STATE_KEY = store_keys.ACCOUNTING
DAYS_KEY = store_keys.ACCOUNTING_DAYS
LEGACY_NAV_BASE_KEY = store_keys.LEGACY_NAV_BASE  # before accounting existed: shares = that equity
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
HOURLY_KEPT_DAYS = 92
NAV_DIGITS = 12
NAV_PLACES = Decimal("1e-12")
NAV_SCALE = 10**NAV_DIGITS
PRECISION = 60
WINDOWS_DAYS = (7, 30, 90)
FLOW_SANITY = Decimal("0.5")  # a flow implying a unit-NAV jump beyond 50 % is a mistyped amount
ZERO = Decimal(0)
ONE = Decimal(1)
_BP = Decimal(10_000)

Store = Callable[..., Any]  # FMZ's _G


class FlowRejected(ValueError):
    """A declared cash flow cannot be booked (the message says why and what to do)."""


@dataclass(frozen=True)
class CashFlow:
    """A booked deposit (+) or withdrawal (-) and the shares it minted (+) or burned (-)."""

    id: str
    time_ms: int
    amount: Decimal
    unit_nav: Decimal
    shares: Decimal
    source: str  # "command" or "history:<venue>"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "t": self.time_ms, "amount": str(self.amount), "nav": str(self.unit_nav),
                "shares": str(self.shares), "source": self.source}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CashFlow:
        return cls(str(data["id"]), int(data["t"]), Decimal(data["amount"]), Decimal(data["nav"]),
                   Decimal(data["shares"]), str(data["source"]))


@dataclass(frozen=True)
class Observation:
    """What the strategy measured at one moment (USDT, Decimal)."""

    time_ms: int
    equity: Decimal  # all venues, mark-to-market, transfers in transit included
    exposure: Mapping[str, Decimal] = field(default_factory=dict)  # symbol -> net USDT
    margin: Mapping[str, Decimal] = field(default_factory=dict)    # venue -> margin in use
    leverage: Mapping[str, Decimal] = field(default_factory=dict)  # venue -> position notional / equity


@dataclass(frozen=True)
class NavPoint:
    time_ms: int
    unit_nav: Decimal
    equity: Decimal
    shares: Decimal
    profit: Decimal            # equity minus net contributions
    rebates_per_share: Decimal  # cumulative estimated rebates / shares at the time each accrued
    exposure: Mapping[str, Decimal] = field(default_factory=dict)
    margin: Mapping[str, Decimal] = field(default_factory=dict)
    leverage: Mapping[str, Decimal] = field(default_factory=dict)
    volume: Mapping[str, Decimal] = field(default_factory=dict)  # day points: that day's volume

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"t": self.time_ms, "nav": str(self.unit_nav), "eq": str(self.equity),
                                "sh": str(self.shares), "pr": str(self.profit),
                                "rps": str(self.rebates_per_share)}
        for key, values in (("x", self.exposure), ("m", self.margin), ("l", self.leverage),
                            ("v", self.volume)):
            if values:
                data[key] = {k: str(v) for k, v in values.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NavPoint:
        def mapping(key: str) -> dict[str, Decimal]:
            return {k: Decimal(v) for k, v in (data.get(key) or {}).items()}

        return cls(int(data["t"]), Decimal(data["nav"]), Decimal(data["eq"]), Decimal(data["sh"]),
                   Decimal(data["pr"]), Decimal(data.get("rps", "0")), mapping("x"), mapping("m"),
                   mapping("l"), mapping("v"))


@dataclass(frozen=True)
class WindowReturn:
    days: Decimal
    total: Decimal           # unit NAV now / unit NAV then - 1
    simple_annual: Decimal   # total x 365 / days (what wealth apps show)
    compound_annual: Decimal  # (1 + total) ** (365 / days) - 1


def _context() -> Context:
    """The arithmetic context, independent of the thread's default (ccxt sets that to HALF_UP)."""
    return Context(prec=PRECISION, rounding=ROUND_HALF_EVEN)


def window_return(nav_then: Decimal, nav_now: Decimal, days: Decimal) -> WindowReturn:
    with localcontext(_context()):
        total = nav_now / nav_then - 1
        years = Decimal(365) / days
        compound = (nav_now / nav_then) ** years - 1
        return WindowReturn(days, +total, total * years, +compound)


def unit_nav_of(equity: Decimal, shares: Decimal | Fraction) -> Decimal:
    """equity / shares rounded half-even to NAV_PLACES, exactly (rational arithmetic, no ties lost)."""
    return _round_nav(Fraction(equity) / Fraction(shares))


def _round_nav(value: Fraction) -> Decimal:
    scaled = round(value * NAV_SCALE)  # Fraction rounds half to even, exactly
    return Decimal(scaled).scaleb(-NAV_DIGITS)


def _decimal(value: Fraction) -> Decimal:
    with localcontext(_context()):
        return Decimal(value.numerator) / Decimal(value.denominator)


class Accounting:
    def __init__(self, store: Store, rebate_bps: Mapping[str, Decimal] | None = None) -> None:
        self._store = store
        self.rebate_bps = dict(rebate_bps or {})
        self.share_count = Fraction(0)  # exact: minting at a rational NAV never rounds
        self.contributions = ZERO  # initial equity + deposits - withdrawals
        self.inception_ms = 0
        self.equity = ZERO
        self.peak_nav = ONE
        self.max_drawdown = ZERO
        self.max_drawdown_ms = 0
        self.rebates = ZERO
        self.rebates_per_share = ZERO
        self.slippage = ZERO
        self.volume: dict[str, Decimal] = {}
        self.fees: dict[str, Decimal] = {}
        self.volume_days: dict[int, dict[str, Decimal]] = {}  # day index -> venue -> volume (open days)
        self.flows: list[CashFlow] = []
        self.pending: list[tuple[str, Decimal, str]] = []  # (id, amount, source) to book at the next look
        self.live: NavPoint | None = None
        self.hours: list[NavPoint] = []  # closed hours, newest last, last HOURLY_KEPT_DAYS days
        self.days: list[NavPoint] = []   # closed days, newest last
        self._seq = 0

    # --- persistence ---
    @classmethod
    def load(cls, store: Store, rebate_bps: Mapping[str, Decimal] | None = None) -> Accounting:
        acc = cls(store, rebate_bps)
        text = store(STATE_KEY)
        if not text:
            legacy = store(LEGACY_NAV_BASE_KEY)
            if legacy:
                acc.contributions = Decimal(str(legacy))
                acc.share_count = Fraction(acc.contributions)
            return acc
        data = json.loads(text)
        acc.share_count, acc.contributions = Fraction(data["shares"]), Decimal(data["contributions"])
        acc.inception_ms, acc.equity = int(data["inception_ms"]), Decimal(data["equity"])
        acc.peak_nav, acc.max_drawdown = Decimal(data["peak_nav"]), Decimal(data["max_drawdown"])
        acc.max_drawdown_ms = int(data.get("max_drawdown_ms", 0))
        acc.rebates, acc.rebates_per_share = Decimal(data["rebates"]), Decimal(data["rebates_per_share"])
        acc.slippage = Decimal(data["slippage"])
        acc.volume = {k: Decimal(v) for k, v in data["volume"].items()}
        acc.fees = {k: Decimal(v) for k, v in data["fees"].items()}
        acc.volume_days = {int(d): {k: Decimal(v) for k, v in vs.items()}
                           for d, vs in data["volume_days"].items()}
        acc.flows = [CashFlow.from_json(f) for f in data["flows"]]
        acc.pending = [(str(i), Decimal(a), str(s)) for i, a, s in data["pending"]]
        acc.live = NavPoint.from_json(data["live"]) if data.get("live") else None
        acc._seq = int(data.get("seq", 0))
        acc.days = [NavPoint.from_json(p) for p in json.loads(store(DAYS_KEY) or "[]")]
        if acc.live is not None:
            today = acc.live.time_ms // DAY_MS
            for day in range(today - HOURLY_KEPT_DAYS, today + 1):
                hours = json.loads(store(store_keys.accounting_hours(day)) or "[]")
                acc.hours.extend(NavPoint.from_json(p) for p in hours)
        return acc

    def save(self) -> None:
        self._store(STATE_KEY, json.dumps({
            "shares": str(self.share_count), "contributions": str(self.contributions),
            "inception_ms": self.inception_ms, "equity": str(self.equity),
            "peak_nav": str(self.peak_nav), "max_drawdown": str(self.max_drawdown),
            "max_drawdown_ms": self.max_drawdown_ms,
            "rebates": str(self.rebates), "rebates_per_share": str(self.rebates_per_share),
            "slippage": str(self.slippage),
            "volume": {k: str(v) for k, v in self.volume.items()},
            "fees": {k: str(v) for k, v in self.fees.items()},
            "volume_days": {str(d): {k: str(v) for k, v in vs.items()} for d, vs in self.volume_days.items()},
            "flows": [f.to_json() for f in self.flows],
            "pending": [[i, str(a), s] for i, a, s in self.pending],
            "live": self.live.to_json() if self.live else None,
            "seq": self._seq,
        }, sort_keys=True))

    # --- commands ---
    def declare_flow(self, amount: Decimal, source: str = "command", flow_id: str | None = None) -> bool:
        """Queue a deposit (+) or withdrawal (-) that is already in (or out of) the venue equity; it is
        booked at the next observation. A flow id seen before is ignored (False)."""
        if amount == 0:
            raise FlowRejected("a cash flow of 0 USDT changes nothing: give a non-zero amount")
        if flow_id is None:
            self._seq += 1
            flow_id = f"{source}-{self._seq}"
        if any(f.id == flow_id for f in self.flows) or any(p[0] == flow_id for p in self.pending):
            return False
        self.pending.append((flow_id, amount, source))
        self.save()
        return True

    def record_fill(self, venue: str, notional: Decimal, fee: Decimal, slippage: Decimal,
                    now_ms: int) -> None:
        """One leg's fills: volume (USDT, absolute), fee paid, slippage cost vs the top of book."""
        notional = abs(notional)
        self.volume[venue] = self.volume.get(venue, ZERO) + notional
        self.fees[venue] = self.fees.get(venue, ZERO) + fee
        day = self.volume_days.setdefault(now_ms // DAY_MS, {})
        day[venue] = day.get(venue, ZERO) + notional
        self.slippage += slippage
        rebate = notional * self.rebate_bps.get(venue, ZERO) / _BP
        if rebate:
            self.rebates += rebate
            if self.shares > 0:
                with localcontext(_context()):
                    self.rebates_per_share += rebate / self.shares
        self.save()

    def observe(self, obs: Observation) -> list[CashFlow]:
        """Book pending flows at this moment's unit NAV, then update NAV, drawdown and history."""
        if obs.equity <= 0 and self.share_count == 0:
            return []  # nothing to measure yet (no venue answered)
        booked: list[CashFlow] = []
        dirty = False
        with localcontext(_context()):
            if self.share_count == 0:
                self._incept(obs)
                dirty = True
            if self.inception_ms == 0:
                self.inception_ms = obs.time_ms
            if self.pending:
                booked = self._book_pending(obs)
                dirty = True
            point = self._measure(obs)
        if self._roll(point):
            dirty = True
        self.live = point
        if dirty:
            self.save()
        return booked

    def _incept(self, obs: Observation) -> None:
        """The first measurement: the equity the pending flows did not bring is the first contribution,
        one share per USDT (unit NAV 1)."""
        pending_total = sum((a for _, a, _ in self.pending), ZERO)
        base = obs.equity - pending_total
        self.contributions = base if base > 0 else obs.equity
        self.share_count = Fraction(self.contributions)
        if base <= 0:
            self.pending = []
        self.peak_nav = ONE

    def _measure(self, obs: Observation) -> NavPoint:
        """Equity, unit NAV, its peak and the largest drawdown, as this moment's point."""
        self.equity = obs.equity
        nav = unit_nav_of(obs.equity, self.share_count)
        if nav > self.peak_nav:
            self.peak_nav = nav
        drawdown = 1 - nav / self.peak_nav
        if drawdown > self.max_drawdown:
            self.max_drawdown, self.max_drawdown_ms = drawdown, obs.time_ms
        return NavPoint(obs.time_ms, nav, obs.equity, self.shares, obs.equity - self.contributions,
                        self.rebates_per_share, dict(obs.exposure), dict(obs.margin), dict(obs.leverage))

    def _roll(self, point: NavPoint) -> bool:
        """The last point of an hour (and of a day) that has ended goes into the history: True when it did."""
        if self.live is None or point.time_ms // HOUR_MS == self.live.time_ms // HOUR_MS:
            return False
        self._close_hour(self.live)
        if point.time_ms // DAY_MS != self.live.time_ms // DAY_MS:
            self._close_day(self.live)
        return True

    def _book_pending(self, obs: Observation) -> list[CashFlow]:
        pending_total = sum((a for _, a, _ in self.pending), ZERO)
        before = obs.equity - pending_total  # the equity the flows found
        if before <= 0:
            raise FlowRejected(f"declared flows of {pending_total:+f} USDT exceed the equity of "
                               f"{obs.equity:f} USDT; check the amounts (they are dropped)")
        nav = Fraction(before) / self.share_count
        last = self.live.unit_nav if self.live is not None else ONE
        if abs(_round_nav(nav) / last - 1) > FLOW_SANITY:
            raise FlowRejected(f"declared flows of {pending_total:+f} USDT do not show in the equity "
                               f"({obs.equity:f} USDT, unit NAV was {last}): declare a flow once the money "
                               "has arrived or left; dropped")
        booked = []
        for flow_id, amount, source in self.pending:
            minted = Fraction(amount) / nav
            self.share_count += minted
            self.contributions += amount
            flow = CashFlow(flow_id, obs.time_ms, amount, _round_nav(nav), _decimal(minted), source)
            self.flows.append(flow)
            booked.append(flow)
        self.pending = []
        return booked

    def drop_pending(self) -> None:
        self.pending = []
        self.save()

    def _close_hour(self, point: NavPoint) -> None:
        self.hours.append(point)
        day = point.time_ms // DAY_MS
        oldest = day - HOURLY_KEPT_DAYS
        while self.hours and self.hours[0].time_ms // DAY_MS < oldest:
            gone = self.hours.pop(0).time_ms // DAY_MS
            if not self.hours or self.hours[0].time_ms // DAY_MS != gone:
                self._store(store_keys.accounting_hours(gone), None)
        first = len(self.hours)
        while first > 0 and self.hours[first - 1].time_ms // DAY_MS == day:
            first -= 1
        today = [p.to_json() for p in self.hours[first:]]
        self._store(store_keys.accounting_hours(day), json.dumps(today))

    def _close_day(self, point: NavPoint) -> None:
        day = point.time_ms // DAY_MS
        volume = self.volume_days.pop(day, {})
        for old in [d for d in self.volume_days if d < day]:
            self.volume_days.pop(old)
        self.days.append(NavPoint(point.time_ms, point.unit_nav, point.equity, point.shares, point.profit,
                                  point.rebates_per_share, point.exposure, point.margin, point.leverage,
                                  volume))
        self._store(DAYS_KEY, json.dumps([p.to_json() for p in self.days]))

    # --- queries ---
    @property
    def unit_nav(self) -> Decimal:
        return unit_nav_of(self.equity, self.share_count) if self.share_count > 0 else ONE

    @property
    def shares(self) -> Decimal:
        """Shares outstanding (60 significant digits; the exact count is `share_count`)."""
        return _decimal(self.share_count)

    @property
    def profit(self) -> Decimal:
        return self.equity - self.contributions if self.share_count > 0 else ZERO

    def today_volume(self, now_ms: int) -> dict[str, Decimal]:
        return dict(self.volume_days.get(now_ms // DAY_MS, {}))

    def nav_at(self, time_ms: int) -> Decimal | None:
        """Unit NAV of the newest point at or before time_ms (hourly where kept, else daily). Up to an
        hour before inception counts as inception (a 7-day window over a 7-day history)."""
        if self.inception_ms and time_ms < self.inception_ms:
            return ONE if self.inception_ms - time_ms <= HOUR_MS else None
        for series in (self.hours, self.days):
            i = bisect.bisect_right(series, time_ms, key=_time_of)
            if i > 0:
                return series[i - 1].unit_nav
        if self.inception_ms and time_ms < self.inception_ms + HOUR_MS:
            return ONE
        return None

    def window(self, days: int, now_ms: int | None = None) -> WindowReturn | None:
        """Return over the `days` ending now, or None while the history is shorter."""
        if self.live is None:
            return None
        now_ms = self.live.time_ms if now_ms is None else now_ms
        then = self.nav_at(now_ms - days * DAY_MS)
        if then is None or then <= 0:
            return None
        return window_return(then, self.unit_nav, Decimal(days))

    def since_inception(self) -> WindowReturn | None:
        """Since inception; None before one day has passed (annualizing hours is noise)."""
        if self.live is None or not self.inception_ms:
            return None
        days = Decimal(self.live.time_ms - self.inception_ms) / DAY_MS
        if days < MIN_ANNUALIZE_DAYS:
            return None
        return window_return(ONE, self.unit_nav, days)

    def history(self) -> list[NavPoint]:
        """Daily points before the hourly ones, then hourly, then the live point: the chart's data."""
        first_hour = self.hours[0].time_ms if self.hours else None
        older = [p for p in self.days if first_hour is None or p.time_ms < first_hour]
        return older + self.hours + ([self.live] if self.live else [])


def _time_of(point: NavPoint) -> int:
    return point.time_ms


def parse_flow_command(command: str) -> Decimal | None:
    """`deposit:500` -> 500, `withdraw:200` -> -200; None if the command is not a cash flow;
    FlowRejected for a cash-flow command with a bad amount."""
    name, _, value = command.partition(":")
    name = name.strip().lower()
    if name not in ("deposit", "withdraw"):
        return None
    try:
        amount = Decimal(value.strip())
    except ArithmeticError:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount <= 0:
        raise FlowRejected(f"command '{command}': the amount must be a positive number of USDT, "
                           f"e.g. {name}:500")
    return amount if name == "deposit" else -amount
