"""Property tests: the liquidation price is the root of each venue's own maintenance condition."""

import dataclasses
from decimal import Decimal as D

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hedge import venues
from hedge.venues.base import Account, Position, Side

VENUE_NAMES = st.sampled_from(venues.NAMES)
SYMBOLS = st.sampled_from(["BTCUSDT", "ETHUSDT"])
SIDES = st.sampled_from([Side.LONG, Side.SHORT])
PRICES = st.decimals(min_value=D("10"), max_value=D("200000"), places=2)
# up to ~2,000 BTC-equivalent so that several tiers are crossed on every venue
QTYS = st.decimals(min_value=D("0.001"), max_value=D("2000"), places=3)
FRACTIONS = st.decimals(min_value=D("0.01"), max_value=D("1"), places=4)

REL = D("1e-12")


def _close(a: D, b: D) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b), D(1))


def _leverage(venue, symbol, qty, entry, fraction) -> D:
    """A leverage between 1x and the max the tier at entry allows."""
    tier = venue.tier_for(symbol, venue.tier_measure(symbol, qty, entry))
    return 1 + (tier.max_leverage - 1) * fraction


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(VENUE_NAMES, SYMBOLS, SIDES, QTYS, PRICES, FRACTIONS)
def test_isolated_maintenance_condition_holds_with_equality_at_the_liquidation_price(
        name, symbol, side, qty, entry, fraction):
    venue = venues.get(name)
    pos = Position(symbol, side, qty, entry, leverage=_leverage(venue, symbol, qty, entry, fraction))
    lp = venue.liquidation_price(pos)
    assume(lp > 0)
    at_lp = dataclasses.replace(pos, mark_price=lp)
    # maintenance_margin looks the tier up again at the new mark: the root must be consistent with its tier
    assert _close(venue.equity(at_lp), venue.requirement(at_lp))


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(VENUE_NAMES, SYMBOLS, SIDES, QTYS, PRICES, FRACTIONS,
       st.lists(st.tuples(SIDES, st.decimals(min_value=D("0.01"), max_value=D("50"), places=2),
                          st.decimals(min_value=D("-0.3"), max_value=D("0.3"), places=3)), max_size=1),
       st.decimals(min_value=D("0"), max_value=D("1000000"), places=2))
def test_cross_maintenance_condition_holds_with_equality_at_the_liquidation_price(
        name, symbol, side, qty, entry, fraction, others, extra_wallet):
    venue = venues.get(name)
    pos = Position(symbol, side, qty, entry, leverage=_leverage(venue, symbol, qty, entry, fraction))
    other_symbol = "ETHUSDT" if symbol == "BTCUSDT" else "BTCUSDT"
    other_positions = tuple(
        Position(other_symbol, o_side, o_qty, D("2000"), mark_price=D("2000") * (1 + move))
        for o_side, o_qty, move in others
    )
    account = Account(venue.initial_margin(pos) + extra_wallet, (pos, *other_positions))
    lp = venue.liquidation_price(pos, account)
    assume(lp > 0)
    at_lp = dataclasses.replace(pos, mark_price=lp)
    account_at_lp = Account(account.wallet_balance, (at_lp, *other_positions))
    assert _close(venue.equity(at_lp, account_at_lp), venue.requirement(at_lp, account_at_lp))


@settings(max_examples=300, deadline=None)
@given(VENUE_NAMES, SYMBOLS, QTYS, PRICES, FRACTIONS)
def test_isolated_long_liquidates_below_entry_and_short_above(name, symbol, qty, entry, fraction):
    venue = venues.get(name)
    lev = _leverage(venue, symbol, qty, entry, fraction)
    long_lp = venue.liquidation_price(Position(symbol, Side.LONG, qty, entry, leverage=lev))
    short_lp = venue.liquidation_price(Position(symbol, Side.SHORT, qty, entry, leverage=lev))
    assert long_lp < entry < short_lp


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(VENUE_NAMES, SYMBOLS, SIDES, QTYS, PRICES, FRACTIONS, FRACTIONS)
def test_higher_leverage_moves_the_liquidation_price_toward_entry(name, symbol, side, qty, entry, f1, f2):
    assume(f1 != f2)
    venue = venues.get(name)
    low, high = sorted([_leverage(venue, symbol, qty, entry, f1), _leverage(venue, symbol, qty, entry, f2)])
    lp_low = venue.liquidation_price(Position(symbol, side, qty, entry, leverage=low))
    lp_high = venue.liquidation_price(Position(symbol, side, qty, entry, leverage=high))
    assert abs(lp_high - entry) < abs(lp_low - entry)


@settings(max_examples=300, deadline=None)
@given(VENUE_NAMES, SYMBOLS, SIDES, QTYS, PRICES, FRACTIONS, SIDES,
       st.decimals(min_value=D("0.01"), max_value=D("50"), places=2),
       st.decimals(min_value=D("0.02"), max_value=D("0.5"), places=3))
def test_cross_with_profitable_other_positions_liquidates_further_away_than_isolated(
        name, symbol, side, qty, entry, fraction, o_side, o_qty, gain):
    venue = venues.get(name)
    pos = Position(symbol, side, qty, entry, leverage=_leverage(venue, symbol, qty, entry, fraction))
    other_symbol = "ETHUSDT" if symbol == "BTCUSDT" else "BTCUSDT"
    mark = D("2000") * (1 + o_side.sign * gain)
    other = Position(other_symbol, o_side, o_qty, D("2000"), mark_price=mark)
    assume(other.unrealized_pnl() > venue.maintenance_margin(other))  # profitable beyond its own maintenance
    isolated = venue.liquidation_price(pos)
    cross = venue.liquidation_price(pos, Account(venue.initial_margin(pos), (pos, other)))
    assume(isolated > 0)
    if side is Side.LONG:
        assert cross < isolated
    else:
        assert cross > isolated


@settings(max_examples=200, deadline=None)
@given(VENUE_NAMES, SYMBOLS, SIDES, QTYS, PRICES, FRACTIONS)
def test_bankruptcy_price_is_beyond_the_liquidation_price_and_equity_is_zero_there(
        name, symbol, side, qty, entry, fraction):
    venue = venues.get(name)
    pos = Position(symbol, side, qty, entry, leverage=_leverage(venue, symbol, qty, entry, fraction))
    lp, bp = venue.liquidation_price(pos), venue.bankruptcy_price(pos)
    assert (bp < lp) if side is Side.LONG else (bp > lp)
    assert _close(venue.equity(dataclasses.replace(pos, mark_price=bp)), D(0))


@settings(max_examples=100, deadline=None)
@given(VENUE_NAMES, st.lists(st.tuples(SIDES, st.decimals(min_value=D("0.01"), max_value=D("20"), places=2),
                                       st.decimals(min_value=D("-0.2"), max_value=D("0.2"), places=3)),
                             min_size=1, max_size=2),
       st.decimals(min_value=D("1000"), max_value=D("100000"), places=2))
def test_one_pass_cross_prices_equal_the_per_position_prices(name, legs, wallet):
    venue = venues.get(name)
    symbols = ["BTCUSDT", "ETHUSDT"]
    positions = tuple(Position(symbols[i], side, qty, D("3000"), mark_price=D("3000") * (1 + move))
                      for i, (side, qty, move) in enumerate(legs))
    account = Account(wallet, positions)
    one_pass = venue.cross_liquidation_prices(account)
    for p in positions:
        assert _close(one_pass[p.symbol], venue.liquidation_price(p, account))
        assert venue.account_usage(account) == venue.maintenance_usage(p, account)


@settings(max_examples=200, deadline=None)
@given(SIDES, st.decimals(min_value=D("0.001"), max_value=D("100"), places=3), PRICES, FRACTIONS)
def test_flat_brackets_from_live_data_still_give_a_price_at_least_as_early_as_the_lowest_bracket(
        side, qty, entry, fraction):
    # Brackets without maintenance amounts make the requirement jump at each edge (not convex): the search
    # must still return a price, never earlier-than-possible on the safe side of the first bracket's root.
    flat = venues.get("binance").with_overrides({"BTCUSDT": {"margin_tiers": [
        {"cap": "50000", "mmr": "0.004", "max_leverage": "125"},
        {"cap": "600000", "mmr": "0.05", "max_leverage": "10"},
        {"cap": "1e12", "mmr": "0.1", "max_leverage": "5"}]}})
    pos = Position("BTCUSDT", side, qty, entry, leverage=1 + 4 * fraction)
    lp = flat.liquidation_price(pos)
    first_bracket_only = flat.with_overrides({"BTCUSDT": {"margin_tiers": [
        {"cap": "1e12", "mmr": "0.004", "max_leverage": "125"}]}}).liquidation_price(pos)
    assert (lp >= first_bracket_only) if side is Side.LONG else (lp <= first_bracket_only)


MOVES = st.decimals(min_value=D("-0.3"), max_value=D("0.3"), places=4)


@settings(max_examples=150, deadline=None)
@given(VENUE_NAMES, st.lists(st.tuples(SIDES, QTYS, PRICES, MOVES, st.booleans()), min_size=1, max_size=6),
       st.decimals(min_value=D("0"), max_value=D("50000000"), places=2))
def test_one_pass_evaluation_equals_each_position_alone_across_tiers(name, legs, wallet):
    """evaluate_cross (precomputed tier tables, one division per position) gives the same prices, equity and
    requirement as the per-position methods, with tiers crossed and some tiers pinned."""
    venue = venues.get(name)
    template = venue.spec("BTCUSDT")
    venue = venue.with_overrides({f"S{i}USDT": {"margin_tiers": template.margin_tiers, "tick_size": "0.1",
                                                "lot_size": "0.001", "min_qty": "0.001", "min_notional": "0",
                                                "contract_size": template.contract_size}
                                  for i in range(len(legs))})
    pinned = dataclasses.replace(template.margin_tiers[1], cap=D("Infinity"))
    positions = tuple(Position(f"S{i}USDT", side, qty, entry, mark_price=entry * (1 + move),
                               tier=pinned if pin else None)
                      for i, (side, qty, entry, move, pin) in enumerate(legs))
    account = Account(wallet, positions)
    result = venue.evaluate_cross(account)
    for p in positions:
        one_pass, alone = result.liquidation_prices[p.symbol], venue.liquidation_price(p, account)
        assert abs(one_pass - alone) <= D("1e-24") * max(abs(alone), D(1))
    assert result.requirement == sum((venue.maintenance_margin(p) for p in positions), D(0))
    assert result.equity == wallet + sum((p.unrealized_pnl() for p in positions), D(0))
