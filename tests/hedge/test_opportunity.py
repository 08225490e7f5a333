import math

from hypothesis import given
from hypothesis import strategies as st

from hedge.market import Top
from hedge.opportunity import best_opportunity, depth_share_cap, edge_bps, spread_bps, visible_depth, walk

price = st.floats(min_value=100.0, max_value=100_000.0)
rel = st.floats(min_value=-0.01, max_value=0.01)
half_spread = st.floats(min_value=0.0, max_value=0.001)
fee = st.floats(min_value=0.0, max_value=10.0)


def book(mid, half):
    return mid * (1 - half), mid * (1 + half)  # bid, ask


@given(price, rel, half_spread, half_spread, fee, fee)
def test_edge_is_symmetric_under_mirroring(mid, shift, half_a, half_b, fee_a, fee_b):
    bid_a, ask_a = book(mid, half_a)
    bid_b, ask_b = book(mid * (1 + shift), half_b)
    forward = edge_bps(ask_a, bid_a, bid_b, ask_b, fee_a, fee_b)
    # Mirror every price around the same reference: the cheap venue becomes the rich one.
    ref = (ask_a + bid_a + ask_b + bid_b) / 4
    m_bid_a, m_ask_a = 2 * ref - ask_a, 2 * ref - bid_a
    m_bid_b, m_ask_b = 2 * ref - ask_b, 2 * ref - bid_b
    mirrored = edge_bps(m_ask_b, m_bid_b, m_bid_a, m_ask_a, fee_b, fee_a)
    assert math.isclose(forward, mirrored, rel_tol=1e-9, abs_tol=1e-6)


@given(price, rel, half_spread, half_spread, fee, fee)
def test_both_directions_cannot_both_pay(mid, shift, half_a, half_b, fee_a, fee_b):
    bid_a, ask_a = book(mid, half_a)
    bid_b, ask_b = book(mid * (1 + shift), half_b)
    a_to_b = edge_bps(ask_a, bid_a, bid_b, ask_b, fee_a, fee_b)
    b_to_a = edge_bps(ask_b, bid_b, bid_a, ask_a, fee_b, fee_a)
    ref = (ask_a + bid_a + ask_b + bid_b) / 4
    spreads = ((ask_a - bid_a) + (ask_b - bid_b)) / ref * 10_000
    assert math.isclose(a_to_b + b_to_a, -2 * spreads - 4 * (fee_a + fee_b), rel_tol=1e-9, abs_tol=1e-6)
    assert a_to_b + b_to_a <= 1e-9


@given(price, rel, half_spread, half_spread, fee, fee, st.floats(min_value=0.001, max_value=5.0))
def test_fees_always_reduce_edge(mid, shift, half_a, half_b, fee_a, fee_b, extra):
    bid_a, ask_a = book(mid, half_a)
    bid_b, ask_b = book(mid * (1 + shift), half_b)
    base = edge_bps(ask_a, bid_a, bid_b, ask_b, fee_a, fee_b)
    assert edge_bps(ask_a, bid_a, bid_b, ask_b, fee_a + extra, fee_b) < base
    assert edge_bps(ask_a, bid_a, bid_b, ask_b, fee_a, fee_b + extra) < base
    # each taker fee is paid twice (open and close)
    assert math.isclose(base - edge_bps(ask_a, bid_a, bid_b, ask_b, fee_a + extra, fee_b), 2 * extra,
                        rel_tol=1e-6, abs_tol=1e-6)


def test_edge_worked_example():
    # A: 100.00 / 100.02, B: 100.12 / 100.14 -> entry 10 bps, exit crossing ~2 bps, fees 4 x 1 bps
    e = edge_bps(100.02, 100.00, 100.12, 100.14, 1.0, 1.0)
    ref = (100.02 + 100.00 + 100.12 + 100.14) / 4
    assert math.isclose(e, (0.10 - 0.02) / ref * 10_000 - 4.0, rel_tol=1e-12)


def test_walk_averages_through_levels_and_refuses_thin_books():
    levels = [(100.0, 1.0), (101.0, 2.0)]
    assert walk(levels, 0.5) == 100.0
    assert math.isclose(walk(levels, 2.0), (100.0 + 101.0) / 2)
    assert walk(levels, 3.5) is None
    assert walk(levels, 0) is None


def _top(bid, ask):
    top = Top()
    top.bid, top.ask, top.time_ms = bid, ask, 0
    return top


def test_best_opportunity_picks_the_cheap_buy_and_rich_sell_and_reports_carry():
    tops = [("binance", _top(100.0, 100.01)), ("okx", _top(100.2, 100.21)), ("bybit", _top(100.05, 100.06))]
    opp = best_opportunity("X_USDT", tops, {"binance": 1.0, "okx": 1.0, "bybit": 1.0},
                           {"binance": 0.0001, "okx": 0.0003})
    assert (opp.buy_venue, opp.sell_venue) == ("binance", "okx")
    assert opp.buy_price == 100.01 and opp.sell_price == 100.2
    assert math.isclose(opp.spread_bps, spread_bps(100.205, 100.005))
    assert math.isclose(opp.funding_carry_bps, 2.0)


def test_no_opportunity_when_books_overlap():
    tops = [("binance", _top(100.0, 100.02)), ("okx", _top(100.01, 100.03))]
    assert best_opportunity("X_USDT", tops, {"binance": 1.0, "okx": 1.0}) is None


def test_visible_depth_counts_levels_within_the_band_of_the_best_price():
    asks = [(100.0, 1.0), (100.03, 2.0), (100.05, 4.0), (100.06, 8.0)]
    assert visible_depth(asks, 5.0) == 7.0  # 100.05 is exactly 5 bps away: counted
    bids = [(100.0, 1.0), (99.97, 2.0), (99.94, 4.0)]
    assert visible_depth(bids, 5.0) == 3.0
    assert visible_depth([], 5.0) == 0.0
    assert visible_depth(asks, 0.0) == 1.0  # a zero band still sees the top level


@given(st.lists(st.tuples(st.floats(0.0, 0.01), st.floats(0.001, 100.0)), min_size=1, max_size=20),
       st.floats(0.0, 50.0), st.floats(0.01, 1.0))
def test_a_depth_capped_quantity_never_exceeds_the_share_on_either_side(steps, band, share):
    asks, bids, price_up, price_down = [], [], 100.0, 100.0
    for step, amount in steps:
        price_up, price_down = price_up * (1 + step), price_down * (1 - step)
        asks.append((price_up, amount))
        bids.append((price_down, amount * 0.5))
    cap = depth_share_cap(asks, bids, band, share)
    assert cap <= share * visible_depth(asks, band) + 1e-12
    assert cap <= share * visible_depth(bids, band) + 1e-12
    assert cap >= share * bids[0][1] - 1e-12  # the top level always counts
