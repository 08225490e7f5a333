"""hedge/decimals.py: an FMZ float reads as the number it prints as; a venue's JSON text reads exactly,
and what is not a number is None (the caller says whether that is 0 or a refusal)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hedge.decimals import read_decimal, to_decimal


@pytest.mark.parametrize(("given", "expected"), [
    (0.1, "0.1"), (0.87, "0.87"), (60123.4, "60123.4"), (1e-07, "1E-7"), ("0.25", "0.25"), (3, "3.0"),
    (None, "0.0"), ("", "0.0"), (0, "0.0")])
def test_an_fmz_number_is_the_decimal_it_prints_as(given, expected):
    assert str(to_decimal(given)) == expected  # 0.1 is not 0.1000000000000000055511151231257827...
    assert to_decimal(0.1) + to_decimal(0.2) == Decimal("0.3")


@pytest.mark.parametrize(("given", "expected"), [
    ("123.4500", Decimal("123.4500")), ("0.00000001", Decimal("1E-8")), (5, Decimal(5)),
    (None, None), ("", None), ("n/a", None), ("NaN", None), ("Infinity", None), ([1], None)])
def test_a_venue_json_field_reads_exactly_or_not_at_all(given, expected):
    found = read_decimal(given)
    assert found == expected and (expected is None or str(found) == str(expected))
