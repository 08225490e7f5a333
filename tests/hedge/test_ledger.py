import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from hedge.ledger import EXECUTION, LEGACY_LOOSE_KEY, OUTAGE, Ledger, LooseLeg

D = Decimal


def _open(ledger, **kw):
    args = dict(symbol="BTC_USDT", long_venue="binance", short_venue="okx", qty=D("0.02"),
                long_price=D("50000"), short_price=D("50050"), fees=D("0.64"), client_ids=("a", "b"),
                now_ms=1000)
    args.update(kw)
    return ledger.record_open(**args)


def test_round_trip_through_store(fake_store):
    ledger = Ledger()
    _open(ledger)
    _open(ledger, symbol="ETH_USDT", long_venue="okx", short_venue="bybit", qty=D("0.5"),
          long_price=D("3000.1"), short_price=D("3001.7"))
    ledger.record_close(1, qty=D("0.01"), long_exit=D("50100"), short_exit=D("50090"), fees=D("0.3"))
    ledger.save(fake_store)
    loaded = Ledger.load(fake_store)
    assert loaded == ledger
    assert loaded.pairs[1].qty == D("0.01")
    assert loaded.next_id == 3


def test_load_from_empty_store_is_empty(fake_store):
    assert Ledger.load(fake_store) == Ledger()


def test_close_books_spread_minus_fees():
    ledger = Ledger()
    pair = _open(ledger)
    assert pair.entry_spread_bps == D("10.00")
    pnl = ledger.record_close(pair.id, qty=pair.qty, long_exit=D("50200"), short_exit=D("50200"),
                              fees=D("0.64"))
    # long +200 x 0.02 = 4, short -150 x 0.02 = -3, fees 1.28
    assert pnl == D("4") - D("3") - D("1.28")
    assert ledger.pairs == {}
    assert ledger.closed_pairs == 1 and ledger.realized_pnl == pnl
    assert ledger.spread_captured == D("1")  # the price part alone, before fees and funding


@given(st.lists(st.decimals(min_value=D("0.001"), max_value=D("1"), places=3), min_size=1, max_size=5))
def test_expected_positions_net_to_zero_per_symbol(quantities):
    ledger = Ledger()
    venues = ["binance", "okx", "bybit"]
    for i, qty in enumerate(quantities):
        _open(ledger, qty=qty, long_venue=venues[i % 3], short_venue=venues[(i + 1) % 3])
    assert sum(ledger.expected_positions().values()) == 0


def test_reconcile_names_every_difference():
    ledger = Ledger()
    _open(ledger)
    venue = {("binance", "BTC_USDT"): D("0.02"), ("okx", "BTC_USDT"): D("-0.01"),
             ("bybit", "ETH_USDT"): D("1")}
    mismatches = ledger.reconcile(venue)
    assert [(m.venue, m.symbol, m.expected, m.found) for m in mismatches] == [
        ("bybit", "ETH_USDT", D("0"), D("1")), ("okx", "BTC_USDT", D("-0.02"), D("-0.01"))]
    assert "okx BTC_USDT" in mismatches[1].describe() and "-0.02" in mismatches[1].describe()
    assert ledger.reconcile({("binance", "BTC_USDT"): D("0.02"), ("okx", "BTC_USDT"): D("-0.02")}) == []


def test_loose_legs_are_part_of_the_book_of_record(fake_store):
    """A loose leg is kept per venue, symbol and unit, nets with a later one of the same unit (one average
    price), counts in what the venues should hold, and is saved with the pairs."""
    ledger = Ledger()
    _open(ledger)
    unit = "BTC_USDT:binance:okx"
    ledger.add_loose(LooseLeg("okx", "BTC_USDT", D("-0.004"), D("50000"), 1, unit, OUTAGE))
    leg = ledger.add_loose(LooseLeg("okx", "BTC_USDT", D("-0.004"), D("50100"), 1, unit, OUTAGE))
    assert leg is not None and leg.qty == D("-0.008") and leg.price == D("50050")
    other = LooseLeg("okx", "BTC_USDT", D("0.003"), D("50000"), 0, "BTC_USDT:bybit:okx", EXECUTION)
    ledger.add_loose(other)
    assert len(ledger.loose) == 2  # two units: two legs, each closed by its unit's owner
    assert ledger.loose_positions() == {("okx", "BTC_USDT"): D("-0.005")}
    assert ledger.held_positions() == {("binance", "BTC_USDT"): D("0.02"), ("okx", "BTC_USDT"): D("-0.025")}
    ledger.save(fake_store)
    assert Ledger.load(fake_store) == ledger
    assert ledger.add_loose(LooseLeg("okx", "BTC_USDT", D("0.008"), D("50200"), 1, unit, OUTAGE)) is None
    ledger.set_loose(other, D(0))
    assert ledger.loose == {} and ledger.loose_positions() == {}


def test_the_legacy_loose_legs_key_is_read_as_saved_by_the_earlier_version(fake_store):
    assert Ledger.legacy_loose(fake_store) == []
    fake_store(LEGACY_LOOSE_KEY, json.dumps([["okx", "BTC_USDT", "-0.005", "50000.5", 3]]))
    assert Ledger.legacy_loose(fake_store) == [("okx", "BTC_USDT", D("-0.005"), D("50000.5"), 3)]
