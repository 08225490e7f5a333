"""One definition for each figure the user reads, wherever it is shown.

The run summary and report.html (fmz_compat/report.py), the robot page (the strategy's status tables,
hedge/report.py) and the fee statement (tools/settle.py) take their names, their arithmetic and their
rounding from here, so one run cannot show two values, or two names, for one figure. Stdlib only: the
strategy runs it on FMZ.

PnL, from the trades up:
  trading PnL before fees   what the closed trades earned at their fill prices (the spread captured)
  fees paid                 every fee the venues charged, the opening fees of positions still open too
                            (estimated rebates are shown apart, never netted)
  trading PnL after fees    trading PnL before fees minus fees paid
  funding                   funding paid (-) and received (+) on the positions
  profit                    the equity change net of deposits and withdrawals: all of the above, plus
                            the open positions' unrealized PnL
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

DAY_MS = 86_400_000
# Annualizing a run shorter than this is noise (a good hour is not a good year): "n/a (under a day)".
MIN_ANNUALIZE_DAYS = Decimal(1)
# A net position that changes again within this many simulated ms is the moment between the two legs of
# one execution (an order in flight), reported apart from exposure that was held.
IN_FLIGHT_MS = 5_000

LABELS: Mapping[str, str] = {
    "unit_nav": "unit NAV",
    "pnl_before_fees": "trading PnL before fees (USDT)",
    "fees": "fees paid (USDT)",
    "pnl_after_fees": "trading PnL after fees (USDT)",
    "funding": "funding (USDT)",
    "profit": "profit, after fees and funding (USDT)",
    "rebates": "rebates (est., USDT)",
    "annualized": "annualized return (simple, r x 365/days)",
    "compounded": "annualized return (compounded)",
    "exposure_held": "max |net exposure| held (USDT)",
    "exposure_between_legs": f"max |net exposure| between two legs, back within {IN_FLIGHT_MS // 1000} s "
                             "(USDT)",
    "volume": "volume (USDT)",
}
UNDER_A_DAY = "n/a (under a day)"

_PERCENT = Decimal("0.01")
_MONEY = Decimal("0.01")


def _context() -> Context:
    return Context(prec=60, rounding=ROUND_HALF_EVEN)


def annualized(unit_nav: Decimal | float | str | None, days: Decimal | float | str
               ) -> tuple[Decimal, Decimal] | None:
    """(simple r x 365/days, compounded) of a unit NAV reached after `days` since 1.0; None under
    MIN_ANNUALIZE_DAYS or without a NAV."""
    if unit_nav is None:
        return None
    with localcontext(_context()):
        nav, span = Decimal(str(unit_nav)), Decimal(str(days))
        if nav <= 0 or span < MIN_ANNUALIZE_DAYS:
            return None
        years = Decimal(365) / span
        return (nav - 1) * years, nav ** years - 1


def pnl_after_fees(pnl_before_fees: Any, fees: Any) -> Any:
    """Trading PnL after fees: before fees minus every fee paid, the fees of positions still open too
    (Decimal in, Decimal out; float in, float out)."""
    return pnl_before_fees - fees


def days_between(start_ms: int, end_ms: int) -> Decimal:
    with localcontext(_context()):
        return Decimal(end_ms - start_ms) / DAY_MS


def pct(fraction: Decimal | float | None) -> str:
    """+12.69 %: two decimals, half-even, from the exact value (never from a rounded one)."""
    if fraction is None:
        return "-"
    value = (Decimal(str(fraction)) * 100).quantize(_PERCENT, rounding=ROUND_HALF_EVEN)
    return f"{value:+f} %"


def usdt(amount: Decimal | float, *, signed: bool = False) -> str:
    value = Decimal(str(amount)).quantize(_MONEY, rounding=ROUND_HALF_EVEN)
    return f"{value:+,f}" if signed else f"{value:,f}"


def annualized_text(found: tuple[Decimal, Decimal] | None) -> str:
    """The one wording of an annualized return: '+12.69 % (compounded +13.53 %)' or 'n/a (under a day)'."""
    if found is None:
        return UNDER_A_DAY
    return f"{pct(found[0])} (compounded {pct(found[1])})"


class ExposureTrack:
    """Net exposure per coin over time, from every change of a coin's net position (a fill, a
    liquidation), split into what was held and what was only the moment between two legs.

    A stretch at one net position that ends within IN_FLIGHT_MS counts as between legs; one that
    lasts longer (or is still open at the end) counts as held, valued at the higher of the prices at
    its start and its end."""

    def __init__(self, in_flight_ms: int = IN_FLIGHT_MS) -> None:
        self.in_flight_ms = in_flight_ms
        self._open: dict[str, tuple[int, float, float]] = {}  # coin -> (since ms, net base, price then)
        self.held: dict[str, Any] = {"usdt": 0.0, "coin": "", "time_ms": None}
        self.between_legs: dict[str, Any] = {"usdt": 0.0, "coin": "", "time_ms": None, "count": 0}

    def change(self, coin: str, time_ms: int, net_base: float, price: float) -> None:
        self._close(coin, time_ms, price)
        if net_base:
            self._open[coin] = (time_ms, net_base, price)

    def _close(self, coin: str, time_ms: int, price: float) -> None:
        since = self._open.pop(coin, None)
        if since is None:
            return
        start_ms, net, start_price = since
        value = abs(net) * max(start_price, price)
        if time_ms - start_ms < self.in_flight_ms:
            self.between_legs["count"] += 1
            worst = self.between_legs
        else:
            worst = self.held
        if value > worst["usdt"]:
            worst.update(usdt=round(value, 6), coin=coin, time_ms=start_ms)

    def summary(self, now_ms: int, prices: Mapping[str, float]) -> dict[str, Any]:
        """The figures as of now: stretches still open count as held once they reach IN_FLIGHT_MS."""
        held = dict(self.held)
        between = dict(self.between_legs)
        for coin, (start_ms, net, start_price) in self._open.items():
            value = round(abs(net) * max(start_price, prices.get(coin, start_price)), 6)
            target = held if now_ms - start_ms >= self.in_flight_ms else between
            if value > target["usdt"]:
                target.update(usdt=value, coin=coin, time_ms=start_ms)
        return {"held": held, "between_legs": between, "in_flight_ms": self.in_flight_ms}
