"""Equal base quantity across two venues whose contracts differ in size and lot step.

A hedge pair must hold the same BASE quantity on both legs. Each venue trades in contracts of
CtVal base units, in multiples of its lot step; the quantity both can trade exactly is a multiple
of the least common multiple of the two base steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_DOWN, Decimal
from fractions import Fraction
from math import gcd


@dataclass(frozen=True)
class ContractSpec:
    ct_val: Decimal        # base units per contract
    lot: Decimal           # contract step (FMZ Market.AmountSize)
    min_qty: Decimal       # contracts
    min_notional: Decimal  # USDT
    tick: Decimal = Decimal(0)  # price step (FMZ Market.TickSize); 0 = unknown
    # the most contracts one order may be (FMZ Market.MaxQty: Binance LOT_SIZE / MARKET_LOT_SIZE maxQty, OKX
    # maxMktSz, Bybit lotSizeFilter.maxMktOrderQty); 0 = none known
    max_qty: Decimal = Decimal(0)

    @property
    def max_base(self) -> Decimal | None:
        """The most base one order may be; None when the venue gives no maximum."""
        return self.max_qty * self.ct_val if self.max_qty > 0 else None

    @property
    def base_step(self) -> Decimal:
        return self.ct_val * self.lot


def _to_decimal(value: Fraction) -> Decimal:
    # Denominators here are products of 2s and 5s (decimal inputs), so the division is exact.
    return Decimal(value.numerator) / Decimal(value.denominator)


def common_base_step(*specs: ContractSpec) -> Decimal:
    """Smallest positive base quantity every venue can trade exactly."""
    result: Fraction | None = None
    for spec in specs:
        step = Fraction(spec.base_step)
        if step <= 0:
            raise ValueError("contract base step must be positive")
        if result is None:
            result = step
        else:
            num = result.numerator * step.numerator // gcd(result.numerator, step.numerator)
            result = Fraction(num, gcd(result.denominator, step.denominator))
    if result is None:
        raise ValueError("no contract specs given")
    return _to_decimal(result).normalize()


def equal_base_qty(target_base: Decimal, *specs: ContractSpec) -> Decimal:
    """The largest multiple of the common step not above target (0 when none fits)."""
    step = common_base_step(*specs)
    if target_base <= 0:
        return Decimal(0)
    return (target_base / step).to_integral_value(rounding=ROUND_FLOOR) * step


def floor_to_step(base: Decimal, step: Decimal) -> Decimal:
    if base <= 0:
        return Decimal(0)
    return (base / step).to_integral_value(rounding=ROUND_FLOOR) * step


def nearest_step(base: Decimal, step: Decimal) -> Decimal:
    """The multiple of step nearest to base; a tie goes down (never more than base for half a step)."""
    if base <= 0:
        return Decimal(0)
    return (base / step).to_integral_value(rounding=ROUND_HALF_DOWN) * step


def ceil_to_step(base: Decimal, step: Decimal) -> Decimal:
    if base <= 0:
        return Decimal(0)
    return (base / step).to_integral_value(rounding=ROUND_CEILING) * step


def order_parts(base: Decimal, spec: ContractSpec) -> list[Decimal]:
    """base in orders of at most the venue's maximum order size (spec.max_base, on its base step), as equal
    as the step allows (the last takes the rest, never more than the others): [base] when it fits in one
    order or the venue gives no maximum. The parts sum to base."""
    most = spec.max_base
    size = floor_to_step(most, spec.base_step) if most is not None else Decimal(0)
    if base <= 0 or size <= 0 or base <= size:
        return [base] if base > 0 else []
    count = int((base / size).to_integral_value(rounding=ROUND_CEILING))
    part = ceil_to_step(base / count, spec.base_step)
    return [part] * (count - 1) + [base - part * (count - 1)]


def max_order_base(*specs: ContractSpec) -> Decimal | None:
    """The most base one order may be on every venue given (the smallest maximum order size, on each
    venue's base step); None when none of them gives a maximum."""
    found = [floor_to_step(spec.max_base, spec.base_step) for spec in specs if spec.max_base is not None]
    return min(found) if found else None


def contracts_for(base: Decimal, spec: ContractSpec) -> Decimal:
    """Contracts for a base quantity; raises when it is not an exact multiple of the lot step."""
    contracts = base / spec.ct_val
    if contracts % spec.lot != 0:
        raise ValueError(f"{base} base is not a multiple of the lot step {spec.base_step}")
    return contracts.normalize()


def leg_problem(base: Decimal, price: Decimal, spec: ContractSpec) -> str | None:
    """Why this leg cannot be sent as is (None when it can)."""
    if base <= 0:
        return "quantity is zero after rounding to the common lot step"
    contracts = base / spec.ct_val
    if contracts % spec.lot != 0:
        return f"quantity {base} is not a multiple of the lot step {spec.base_step}"
    if contracts < spec.min_qty:
        return f"{contracts} contracts below the minimum {spec.min_qty}"
    if base * price < spec.min_notional:
        return f"notional {base * price:.2f} below the minimum {spec.min_notional}"
    return None


def min_tradable_qty(price: Decimal, *specs: ContractSpec) -> Decimal:
    """Smallest equal base quantity every venue accepts (lot step, minimum size, minimum notional)."""
    step = common_base_step(*specs)
    need = step
    for spec in specs:
        need = max(need, spec.min_qty * spec.ct_val)
        if price > 0:
            need = max(need, spec.min_notional / price)
    return (need / step).to_integral_value(rounding=ROUND_CEILING) * step
