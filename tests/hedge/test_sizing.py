from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hedge.sizing import (
    ContractSpec,
    common_base_step,
    contracts_for,
    equal_base_qty,
    leg_problem,
    min_tradable_qty,
    nearest_step,
)

CT_VALS = ["1", "0.1", "0.01", "0.001", "0.0001", "10", "0.000001", "0.5", "0.25"]
LOTS = ["1", "0.1", "0.01", "0.001", "100", "5", "0.2"]

spec = st.builds(
    lambda ct, lot: ContractSpec(Decimal(ct), Decimal(lot), Decimal(lot), Decimal(0)),
    st.sampled_from(CT_VALS), st.sampled_from(LOTS))
target = st.decimals(min_value=Decimal("0"), max_value=Decimal("1000"), places=6)


@given(target, spec, spec)
def test_equal_base_qty_is_tradeable_exactly_on_both_venues(base, a, b):
    qty = equal_base_qty(base, a, b)
    step = common_base_step(a, b)
    assert 0 <= qty <= base
    assert base - qty < step
    for venue in (a, b):
        contracts = contracts_for(qty, venue) if qty > 0 else Decimal(0)
        assert contracts * venue.ct_val == qty
        assert contracts % venue.lot == 0


@given(spec, spec)
def test_common_step_is_the_least_common_multiple(a, b):
    step = common_base_step(a, b)
    assert step % a.base_step == 0 and step % b.base_step == 0
    # nothing smaller that both divide: step / k for the prime factors involved fails for one venue
    for k in (2, 3, 5):
        smaller = step / k
        assert smaller % a.base_step != 0 or smaller % b.base_step != 0


def test_okx_and_binance_btc():
    okx = ContractSpec(Decimal("0.01"), Decimal("0.1"), Decimal("0.1"), Decimal(0))
    binance = ContractSpec(Decimal("1"), Decimal("0.001"), Decimal("0.001"), Decimal("5"))
    assert common_base_step(okx, binance) == Decimal("0.001")
    assert equal_base_qty(Decimal("0.0239"), okx, binance) == Decimal("0.023")
    assert contracts_for(Decimal("0.023"), okx) == Decimal("2.3")


def test_contracts_for_refuses_off_step_quantities():
    okx = ContractSpec(Decimal("0.01"), Decimal("1"), Decimal("1"), Decimal(0))
    with pytest.raises(ValueError):
        contracts_for(Decimal("0.015"), okx)


def test_leg_problem_names_min_qty_and_min_notional():
    s = ContractSpec(Decimal("1"), Decimal("0.001"), Decimal("0.002"), Decimal("100"))
    assert "minimum 0.002" in leg_problem(Decimal("0.001"), Decimal("50000"), s)
    assert "notional" in leg_problem(Decimal("0.002"), Decimal("1000"), s)
    assert leg_problem(Decimal("0.002"), Decimal("50000"), s) is None
    assert "zero" in leg_problem(Decimal("0"), Decimal("50000"), s)


@given(spec, spec, st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100000"), places=4),
       st.sampled_from(["0", "5", "100"]))
def test_min_tradable_qty_is_the_smallest_quantity_both_venues_accept(a, b, price, min_notional):
    a = ContractSpec(a.ct_val, a.lot, a.min_qty, Decimal(min_notional))
    qty = min_tradable_qty(price, a, b)
    assert leg_problem(qty, price, a) is None and leg_problem(qty, price, b) is None
    smaller = qty - common_base_step(a, b)
    assert smaller <= 0 or leg_problem(smaller, price, a) or leg_problem(smaller, price, b)


def test_nearest_step_rounds_a_quantity_from_another_venues_grid_ties_down():
    """A partial ADL of 0.129 ETH on Binance's 0.001 grid is closed as 0.13 on OKX's 0.01 grid; a tie
    (0.125) goes down, never more than what vanished by half a step; under half a step is nothing."""
    step = Decimal("0.01")
    assert nearest_step(Decimal("0.129"), step) == Decimal("0.13")
    assert nearest_step(Decimal("0.125"), step) == Decimal("0.12")
    assert nearest_step(Decimal("0.004"), step) == 0
    assert nearest_step(Decimal(0), step) == 0


@given(st.integers(min_value=0, max_value=10**7), st.sampled_from(LOTS + CT_VALS))
def test_nearest_step_is_on_the_grid_and_within_half_a_step(thousandths: int, step_text: str):
    base, step = Decimal(thousandths) / 1000, Decimal(step_text)
    result = nearest_step(base, step)
    assert result % step == 0 and abs(result - base) <= step / 2
