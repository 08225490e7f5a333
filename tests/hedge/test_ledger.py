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


def test_a_pairs_lead_venue_is_saved_and_a_ledger_saved_before_it_loads_without_one(fake_store):
    """A re-hedge's pair keeps its loose leg's venue as its lead (its spread close sends that leg first,
    hedge/trader.py) across a restart; a pair saved without the field (an earlier version) has none."""
    ledger = Ledger()
    _open(ledger)
    unit = "BTC_USDT:binance:okx"
    leg = LooseLeg("okx", "BTC_USDT", D("-0.02"), D("50050"), 1, unit, OUTAGE)
    ledger.add_loose(leg)
    pair = ledger.pair_loose(leg, venue="bybit", qty=D("0.02"), price=D("50010"), fees=D("0.3"),
                             client_ids=("c",), now_ms=2000)
    assert (pair.long_venue, pair.short_venue, pair.lead) == ("bybit", "okx", "okx")
    assert ledger.pairs[1].lead == ""
    ledger.lead_pairs([1], "binance")
    ledger.lead_pairs([2], "binance")  # not a venue of that pair: unchanged
    ledger.save(fake_store)
    loaded = Ledger.load(fake_store)
    assert loaded == ledger and loaded.pairs[1].lead == "binance" and loaded.pairs[2].lead == "okx"
    saved = json.loads(fake_store("hedge_ledger_v1"))
    for data in saved["pairs"]:
        data.pop("lead")
    fake_store("hedge_ledger_v1", json.dumps(saved))
    assert {p.lead for p in Ledger.load(fake_store).pairs.values()} == {""}


def test_the_legacy_loose_legs_key_is_read_as_saved_by_the_earlier_version(fake_store):
    assert Ledger.legacy_loose(fake_store) == []
    fake_store(LEGACY_LOOSE_KEY, json.dumps([["okx", "BTC_USDT", "-0.005", "50000.5", 3]]))
    assert Ledger.legacy_loose(fake_store) == [("okx", "BTC_USDT", D("-0.005"), D("50000.5"), 3)]


def _saved_by_asdict(ledger: Ledger) -> str:
    """The saved document as the ledger wrote it before it kept records' JSON between saves (asdict of each
    record, Decimals as strings): the format _G holds, byte for byte."""
    from dataclasses import asdict

    def pair(p):
        data = asdict(p)
        for key in ("qty", "long_price", "short_price", "entry_spread_bps", "fees", "funding"):
            data[key] = str(data[key])
        data["client_ids"], data["order_ids"] = list(p.client_ids), list(p.order_ids)
        if not p.lead:  # written only when set (a pair's lead venue came after this format)
            del data["lead"]
        return data

    def order(r):
        data = asdict(r)
        data["status"] = r.status.value
        for key in ("qty", "filled", "avg_price", "price"):
            data[key] = str(data[key])
        return data

    return json.dumps({
        "pairs": [pair(p) for p in ledger.pairs.values()], "next_id": ledger.next_id,
        "realized_pnl": str(ledger.realized_pnl), "spread_captured": str(ledger.spread_captured),
        "fees_paid": str(ledger.fees_paid), "volume": str(ledger.volume), "closed_pairs": ledger.closed_pairs,
        "funding_total": str(ledger.funding_total), "orders": [order(r) for r in ledger.orders.values()],
        "order_seq": ledger.order_seq, "loose": [leg.to_json() for leg in ledger.loose.values()],
        "watch": [order(r) for r in ledger.watch.values()],
    }, sort_keys=True)


def test_each_save_writes_the_whole_ledger_as_before_though_unchanged_records_are_not_serialised_again(
        fake_store):
    """Records' JSON is kept from one save to the next (a save after an order serialises only what changed):
    after every kind of change the saved text is still exactly the full document, never a stale record."""
    from hedge.orders import OrderEvent, OrderRecord, OrderStatus

    ledger = Ledger()
    steps = [
        lambda: _open(ledger),
        lambda: _open(ledger, symbol="ETH_USDT", qty=D("0.5"), long_price=D("3000.1"),
                      short_price=D("3001.7")),
        lambda: ledger.record_funding(1, D("0.25")),
        lambda: ledger.journal(OrderRecord("c1", "close#1", "okx", "BTC_USDT", "closebuy", D("0.01"))),
        lambda: ledger.journal(ledger.orders["c1"].apply(OrderEvent.SUBMITTED, order_id="7", sent_ms=5)),
        lambda: ledger.record_close(1, qty=D("0.01"), long_exit=D("50100"), short_exit=D("50090"),
                                    fees=D("0.3")),
        lambda: ledger.add_loose(LooseLeg("okx", "BTC_USDT", D("-0.01"), D("50000"), 1, "u", OUTAGE)),
        lambda: ledger.add_loose(LooseLeg("okx", "BTC_USDT", D("-0.02"), D("50100"), 1, "u", OUTAGE)),
        lambda: ledger.journal(OrderRecord("c2", "open#3", "bybit", "ETH_USDT", "buy", D("1"),
                                           status=OrderStatus.ABSENT, misses=3)),
        lambda: ledger.clear_orders(),
        lambda: ledger.set_loose(ledger.loose[("okx", "BTC_USDT", "u")], D(0)),
        lambda: ledger.record_close(2, qty=D("0.5"), long_exit=D("3002"), short_exit=D("3001"),
                                    fees=D("0.2")),
    ]
    for step in steps:
        step()
        ledger.save(fake_store)
        assert fake_store("hedge_ledger_v1") == _saved_by_asdict(ledger)
        assert Ledger.load(fake_store) == ledger
    assert list(ledger.watch) == ["c2"] and list(ledger.pairs) == [1] and not ledger.loose
    assert ledger.closed_pairs == 1


def test_the_saved_document_is_json_dumps_byte_for_byte_whatever_the_figures_look_like(fake_store):
    """The document is assembled from the records' kept text and the figures around them (issue #21, lean hot
    path): exponents, negative zero and long fractions in the money figures, large counters and a lead
    venue still give exactly what json.dumps gave, and load back equal."""
    ledger = Ledger()
    _open(ledger, qty=D("1E-3"), fees=D("-0E-8"))
    ledger.lead_pairs([1], "okx")
    ledger.book_result(D("-1.234567890123456789E+5"), D("1E+1"))
    ledger.volume = D("0.000000001")
    ledger.funding_total = D("-0")
    ledger.spread_captured = D("12345678901234567890.5")
    ledger.closed_pairs, ledger.order_seq, ledger.next_id = 10**12, 7, 123456789
    for _ in range(2):  # the second save takes the records' text from the first
        ledger.save(fake_store)
        assert fake_store("hedge_ledger_v1") == _saved_by_asdict(ledger)
        assert Ledger.load(fake_store) == ledger
