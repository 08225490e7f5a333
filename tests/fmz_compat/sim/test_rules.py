"""The simulator liquidates and charges funding with hedge.venues' functions: where tools.liqcalc says, to a
price step, and with the venue's funding sign and rounding."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world, rules
from hedge import venues
from hedge.venues.base import Account, MarginTier, Position, Side, canonical_symbol
from tools import liqcalc

START_MS = 1_719_792_000_000  # 2024-07-01 00:00 UTC: the first funding settlement is 8 h away (4 h: BitMEX)
HOUR_MS = 3_600_000
MINUTE_MS = 60_000


def _exact(venue_name, margin, legs):
    """hedge.venues' verdict on the same inputs, built independently of rules' internals."""
    v = venues.get(venue_name)
    positions = []
    for pair, size, entry, mark in legs:
        symbol = canonical_symbol(pair)
        tier = None
        if symbol not in v.specs:
            mmr = Decimal(repr(rules.VENUES[venue_name].mmr))
            tier = MarginTier(cap=Decimal("Infinity"), mmr=mmr, max_leverage=1 / mmr)
        positions.append(Position(symbol, Side.LONG if size > 0 else Side.SHORT, Decimal(f"{abs(size):.12g}"),
                                  Decimal(repr(entry)), mark_price=Decimal(repr(mark)), tier=tier))
    account = Account(Decimal(repr(margin)), tuple(positions))
    return v.is_liquidated(positions[0], account)


leg_strategy = st.tuples(
    st.sampled_from(["BTC_USDT", "ETH_USDT", "SOL_USDT"]),
    st.floats(0.001, 3000).map(lambda x: round(x, 3)).filter(bool) | st.floats(-3000, -0.001).map(
        lambda x: round(x, 3)).filter(bool),
    st.floats(10, 100_000).map(lambda x: round(x, 1)),
    st.floats(-0.3, 0.3),
)


@settings(max_examples=150, deadline=None)
@given(venue_name=st.sampled_from(venues.NAMES), margin=st.floats(0, 5e6),
       raw=st.lists(leg_strategy, min_size=1, max_size=3, unique_by=lambda leg: leg[0]))
def test_check_agrees_with_hedge_venues(venue_name, margin, raw):
    legs = [(pair, size, entry, round(entry * (1 + move), 1)) for pair, size, entry, move in raw]
    legs = [leg for leg in legs if leg[3] > 0]
    if not legs:
        return
    assert rules.liquidation_check(venue_name, margin, legs) == _exact(venue_name, margin, legs)


CASES = [  # venue, pair, side, qty (base), entry, isolated margin or cross wallet, other cross legs
    ("binance", "BTC_USDT", 1, 2.0, 60_000.0, 1_500.0, []),
    ("binance", "ETH_USDT", -1, 40.0, 3_000.0, 2_000.0, [("BTC_USDT", 0.5, 60_000.0, 61_000.0)]),
    ("bybit", "BTC_USDT", -1, 30.0, 60_000.0, 40_000.0, []),  # above the first risk limit
    ("bybit", "ETH_USDT", 1, 10.0, 3_000.0, 800.0, [("BTC_USDT", -0.2, 60_000.0, 59_000.0)]),
    ("okx", "BTC_USDT", 1, 1.0, 60_000.0, 900.0, []),
    ("okx", "BTC_USDT", -1, 1.0, 60_000.0, 900.0, [("ETH_USDT", 3.0, 3_000.0, 2_950.0)]),
    ("coinex", "BTC_USDT", 1, 25.0, 60_000.0, 30_000.0, []),
    ("bitmex", "ETH_USDT", -1, 10.0, 3_000.0, 700.0, [("BTC_USDT", 0.1, 60_000.0, 60_500.0)]),
]


@pytest.mark.parametrize("venue_name,pair,sign,qty,entry,margin,others", CASES)
def test_check_flips_within_one_tick_of_the_liquidation_price(venue_name, pair, sign, qty, entry, margin,
                                                              others):
    v = venues.get(venue_name)
    symbol = canonical_symbol(pair)
    side = Side.LONG if sign > 0 else Side.SHORT
    pos = Position(symbol, side, Decimal(repr(qty)), Decimal(repr(entry)), margin=Decimal(repr(margin)))
    account = None
    if others:
        other_positions = tuple(
            Position(canonical_symbol(p), Side.LONG if s > 0 else Side.SHORT, Decimal(repr(abs(s))),
                     Decimal(repr(e)), mark_price=Decimal(repr(m))) for p, s, e, m in others)
        account = Account(Decimal(repr(margin)), (pos, *other_positions))
    lp = v.liquidation_price(pos, account)
    safe = float(v.round_to_tick(lp, symbol, up=sign > 0))
    if Decimal(repr(safe)) == lp:
        safe += float(v.spec(symbol).tick_size) * sign
    beyond = float(v.round_to_tick(lp, symbol, up=sign < 0))
    legs = [(p, s, e, m) for p, s, e, m in others]
    assert not rules.liquidation_check(venue_name, margin, [(pair, sign * qty, entry, safe), *legs])
    assert rules.liquidation_check(venue_name, margin, [(pair, sign * qty, entry, beyond), *legs])


def _world(eid, seed, balance):
    cfg = SimConfig(seed=seed, start_ms=START_MS, bindings=(ExchangeBinding(eid, "BTC_USDT", balance, 0.0),),
                    symbols=("BTC_USDT",), step_ms=MINUTE_MS)
    clock = BacktestClock(START_MS * 1_000_000, (START_MS + 7 * HOUR_MS) * 1_000_000)
    log = MemoryLog()
    return create_world(cfg, clock, log), clock, log


def _liqcalc_price(venue_name, acc, pos, cross):
    qty = abs(pos.qty) * acc.contract(pos.pair).ct_val
    argv = ["--venue", venue_name, "--symbol", "BTCUSDT", "--side", "long" if pos.qty > 0 else "short",
            "--entry", repr(pos.entry), "--qty", f"{qty:.12g}", "--json"]
    if cross:
        argv += ["--mode", "cross", "--wallet", repr(acc.balances["USDT"]), "--leverage", str(pos.leverage)]
    else:
        argv += ["--margin", repr(pos.margin)]
    return float(liqcalc.compute(argv)["liquidation_price"])


@pytest.mark.parametrize("eid,venue_name,cross,side,leverage,amount,balance", [
    ("Futures_Binance", "binance", False, "buy", 125, 0.05, 1_000.0),
    ("Futures_Bybit", "bybit", False, "sell", 100, 0.05, 1_000.0),
    ("Futures_OKX", "okx", True, "buy", 100, 5, 35.0),  # 5 contracts of 0.01 BTC
    ("Futures_Binance", "binance", True, "sell", 125, 0.05, 30.0),
])
def test_simulator_liquidates_where_liqcalc_says(eid, venue_name, cross, side, leverage, amount, balance):
    """Minute grid (step = 1 min, so the check sees each mark): the position survives every mark on the safe
    side of liqcalc's price and is liquidated at the first mark beyond it (to one price step)."""
    world, clock, log = _world(eid, 1, balance)
    ex = world.exchanges[0]
    assert ex.IO("cross", cross) is True
    assert ex.SetMarginLevel("BTC_USDT.swap", leverage)
    assert ex.CreateOrder("BTC_USDT.swap", side, -1, amount) is not None
    acc = world.accounts[0]
    pos = acc.positions["BTC_USDT"]
    quote = acc.quote("BTC_USDT")
    tick = acc.contract("BTC_USDT").tick
    sign = 1 if pos.qty > 0 else -1
    checked = 0
    try:
        while True:
            lp = _liqcalc_price(venue_name, acc, pos, cross)
            clock.sleep(MINUTE_MS)
            ex.GetPositions("BTC_USDT.swap")
            mark = quote.mark
            if pos.qty == 0.0:
                assert sign * (mark - lp) <= tick, f"liquidated at {mark}, liqcalc says {lp}"
                break
            assert sign * (mark - lp) > -tick, f"survived at {mark} beyond liqcalc's {lp}"
            checked += 1
    except EOFError:
        pytest.fail("the position should be liquidated within 7 hours")
    assert checked > 5
    assert acc.liquidations == 1
    assert any("liquidated at mark" in r["message"] for r in log.rows)


def test_penalties_follow_each_venue_rule():
    legs = [("BTC_USDT", 1.0, 60_000.0, 59_700.0)]  # 300 lost of 600: 300 left
    assert rules.liquidation_penalties("binance", 600.0, legs) == [pytest.approx(300.0)]  # 1.25 % capped
    assert rules.liquidation_penalties("binance", 2_000.0, legs) == [pytest.approx(59_700.0 * 0.0125)]
    assert rules.liquidation_penalties("bybit", 600.0, legs) == [pytest.approx(300.0)]  # all above bankruptcy
    okx = rules.liquidation_penalties("okx", 600.0, legs)
    assert okx == [pytest.approx(59_700.0 * 0.0005)]  # taker rate as the clearance fee
    assert rules.liquidation_penalties("binance", 100.0, [("BTC_USDT", -1.0, 60_000.0, 60_200.0)]) == [0.0]


@given(size=st.floats(-100, 100).filter(lambda x: abs(x) > 1e-6), mark=st.floats(1, 1e5),
       rate=st.floats(-0.01, 0.01), venue_name=st.sampled_from(venues.NAMES))
def test_funding_payment_is_the_venues_rounded_fee(size, mark, rate, venue_name):
    pay = rules.funding_payment(venue_name, size, mark, rate)
    decimals = venues.get(venue_name).rules.money_decimals
    assert pay == pytest.approx(-size * mark * rate, rel=1e-9, abs=0.6 * 10 ** -decimals)
    assert pay == round(pay, decimals)


@pytest.mark.parametrize("venue_name,pair,qty,price,below,above", [
    # A position exactly at its tier-1 cap keeps tier 1 (OKX maxSz, Bybit riskLimitValue, CoinEx levels are
    # inclusive). Margin + uPnL between the tier-1 and tier-2 requirements: the wrong tier flips the answer.
    ("okx", "BTC_USDT", 10.0, 60_000.0, 2_700.0, 3_900.0),  # 1,000 contracts: 0.45 % vs 0.65 % of 600,000
    ("coinex", "BTC_USDT", 20.0, 60_000.0, 6_000.0, 12_000.0),  # 20 BTC: 0.5 % vs 1 % of 1,200,000
    # With a deduction the requirement is continuous at the cap: Bybit 2,000,000 and Binance 50,000 (where
    # notionalCap opens the next bracket) give the same figure from either tier.
    ("bybit", "BTC_USDT", 40.0, 50_000.0, 10_000.0, 10_000.0),
    ("binance", "BTC_USDT", 1.0, 50_000.0, 200.0, 200.0),
])
def test_a_position_exactly_at_a_tier_cap_gets_the_venues_tier(venue_name, pair, qty, price, below, above):
    leg = [(pair, qty, price, price)]
    mid = (below + above) / 2
    assert rules.liquidation_check(venue_name, below, leg) == _exact(venue_name, below, leg) is True
    assert rules.liquidation_check(venue_name, mid + 1.0, leg) == _exact(venue_name, mid + 1.0, leg) is False
    if above > below:
        assert not rules.liquidation_check(venue_name, mid, leg)
