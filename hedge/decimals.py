"""Reading numbers into Decimal, two ways for two kinds of source.

`to_decimal`: a number the FMZ API returns (a float in a struct: Amount, Price, Equity, DealAmount, ...)
as the Decimal it prints as: 0.1 -> Decimal("0.1"), not the binary float's 0.1000000000000000055...;
None and "" read as 0.

`read_decimal`: a field of a venue's own JSON (exchange.IO answers: text such as "123.4500"), exactly as
written; None when it is missing, not a number or not finite, so the caller decides what that means.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def to_decimal(value: Any) -> Decimal:
    return Decimal(repr(float(value or 0)))


def read_decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() else None
