from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from hedge.ledger import Ledger

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
