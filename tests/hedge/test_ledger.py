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


def _same_order(a: Ledger, b: Ledger) -> bool:
    names = ("pairs", "orders", "loose", "watch")
    return all(list(getattr(a, name)) == list(getattr(b, name)) for name in names)


def _journal_keys(store) -> list[str]:
    return sorted(key for key in store.data if key.startswith("hedge_ledger_v1_journal_"))


def test_after_any_change_a_save_loads_back_in_order_and_a_clean_exit_leaves_one_document(fake_store):
    """A save appends what changed to the ledger's journal (issue #21, lean hot path): after every kind of
    change a load (a new process: nothing but the store) gives the ledger back, its records in the same order;
    the document, kept records' JSON and all, is still exactly json.dumps' text, never a stale record; and a
    clean exit (compact) leaves that document alone under the one key, as an earlier version saved it."""
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
        loaded = Ledger.load(fake_store)
        assert loaded == ledger and _same_order(loaded, ledger)
        assert ledger.to_json() == _saved_by_asdict(ledger)
    assert list(ledger.watch) == ["c2"] and list(ledger.pairs) == [1] and not ledger.loose
    assert ledger.closed_pairs == 1
    assert len(_journal_keys(fake_store)) == len(steps) - 1  # the first save wrote the whole document
    ledger.compact(fake_store)
    assert fake_store("hedge_ledger_v1") == _saved_by_asdict(ledger) and _journal_keys(fake_store) == []
    assert Ledger.load(fake_store) == ledger


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
        ledger.compact(fake_store)
        assert fake_store("hedge_ledger_v1") == _saved_by_asdict(ledger)
        assert Ledger.load(fake_store) == ledger


def test_a_save_writes_one_key_only_what_changed_and_nothing_when_nothing_did(fake_store):
    ledger = Ledger()
    for _ in range(10):
        _open(ledger)
    ledger.save(fake_store)
    document = fake_store("hedge_ledger_v1")
    assert _journal_keys(fake_store) == []
    ledger.record_funding(3, D("0.5"))
    ledger.save(fake_store)
    entry = json.loads(fake_store("hedge_ledger_v1_journal_1"))
    assert [p["id"] for p in entry["pairs"]] == [3] and "orders" not in entry
    assert fake_store("hedge_ledger_v1") == document and len(fake_store("hedge_ledger_v1_journal_1")) < 600
    ledger.save(fake_store)  # nothing changed
    assert _journal_keys(fake_store) == ["hedge_ledger_v1_journal_1"]
    ledger.book_result(D("1.5"))  # a figure alone
    ledger.save(fake_store)
    assert json.loads(fake_store("hedge_ledger_v1_journal_2"))["figures"][1] == "1.5"
    assert Ledger.load(fake_store) == ledger


def test_entries_left_by_an_earlier_document_are_never_read_and_a_reordering_writes_the_whole(fake_store):
    """A whole document starts a new journal (a fresh token): the keys an earlier one left (a kill between its
    entries and a clean exit, a person clearing the ledger's key) are not replayed onto it. Records the
    journal could not put back in their order (a cluster's refresh sorts them) are saved whole."""
    ledger = Ledger()
    for _ in range(3):
        _open(ledger)
    ledger.save(fake_store)
    ledger.record_close(1, qty=D("0.02"), long_exit=D("50100"), short_exit=D("50090"), fees=D("0.3"))
    ledger.save(fake_store)
    ledger.take_shared(pairs={3: ledger.pairs[3], 2: ledger.pairs[2]})  # another order
    ledger.save(fake_store)
    assert _journal_keys(fake_store) == ["hedge_ledger_v1_journal_1"]  # left over, stale
    loaded = Ledger.load(fake_store)
    assert loaded == ledger and list(loaded.pairs) == [3, 2]
    ledger.record_funding(2, D("0.1"))
    ledger.save(fake_store)  # entry 1 of the new document, over the stale one
    assert Ledger.load(fake_store) == ledger
    fake_store("hedge_ledger_v1", None)  # a person clears the ledger
    assert Ledger.load(fake_store) == Ledger()
    fresh = Ledger()
    fresh.save(fake_store)
    assert Ledger.load(fake_store) == Ledger()  # the old journal's entry is not replayed onto it


def test_a_ledger_saved_by_an_earlier_version_loads_and_its_next_saves_journal(fake_store):
    ledger = Ledger()
    _open(ledger)
    _open(ledger, symbol="ETH_USDT")
    fake_store("hedge_ledger_v1", _saved_by_asdict(ledger))  # no journal token: the earlier format
    loaded = Ledger.load(fake_store)
    assert loaded == ledger
    loaded.record_funding(2, D("0.2"))
    loaded.save(fake_store)  # the first save of this ledger: the whole document, with its token
    loaded.record_funding(1, D("0.3"))
    loaded.save(fake_store)
    assert _journal_keys(fake_store) == ["hedge_ledger_v1_journal_1"]
    again = Ledger.load(fake_store)
    assert again == loaded
    again.record_funding(1, D("0.4"))  # a restarted robot appends after what it read
    again.save(fake_store)
    assert _journal_keys(fake_store) == ["hedge_ledger_v1_journal_1", "hedge_ledger_v1_journal_2"]
    assert Ledger.load(fake_store) == again


def test_the_journal_is_compacted_into_a_whole_document_every_journal_slots_saves(fake_store):
    from hedge.ledger import JOURNAL_SLOTS

    ledger = Ledger()
    _open(ledger)
    ledger.save(fake_store)
    for i in range(JOURNAL_SLOTS + 3):
        ledger.record_funding(1, D(i))
        ledger.save(fake_store)
        assert Ledger.load(fake_store) == ledger
    assert len(_journal_keys(fake_store)) == JOURNAL_SLOTS  # 1..3 rewritten after the whole document


def test_every_save_of_the_journal_survives_a_real_sigkill_right_after_it(tmp_path):
    """A real process saves the ledger after each change (16 saves: one whole document, then journal entries)
    and is killed with SIGKILL: no exit, no compaction, no background commit. A new process loads exactly
    what the last save held, the whole document plus every entry after it."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from fmz_compat.store import RobotStore

    db_path = tmp_path / "1.db3"
    script = Path(__file__).resolve().parents[1] / "data" / "ledger_saves_then_waits.py"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, str(script), str(db_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("SAVED "), (line, proc.stderr.read() if proc.poll() else "")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    again = RobotStore(db_path)
    entries = [key for key in again.kv_items() if key.startswith("hedge_ledger_v1_journal_")]
    loaded = Ledger.load(lambda key: again.kv_get(key))
    again.close()
    assert len(entries) == 15
    assert loaded.to_json() == line[len("SAVED "):].rstrip("\n")
    assert list(loaded.pairs) == [1, 3, 4, 5] and list(loaded.orders) == ["c9"]


def test_a_clean_exit_writes_what_the_last_save_held_not_a_refresh_that_was_never_saved(fake_store):
    """In a cluster the ledger is refreshed from the shared state between saves without a save: compacting
    at exit must leave _G as the saves left it (what the whole document used to hold), not the refresh."""
    ledger = Ledger()
    for _ in range(3):
        _open(ledger)
    ledger.save(fake_store)
    ledger.record_funding(2, D("0.5"))
    ledger.save(fake_store)
    saved = Ledger.load(fake_store)
    ledger.take_shared(pairs={})  # a refresh: another node took the pairs over; not saved
    ledger.compact(fake_store)
    assert fake_store("hedge_ledger_v1") == _saved_by_asdict(saved) and _journal_keys(fake_store) == []
    never_saved = Ledger()
    _open(never_saved)
    never_saved.compact(fake_store)  # nothing saved, nothing loaded: nothing written
    assert Ledger.load(fake_store) == saved


def test_a_load_reads_every_entry_a_version_with_a_longer_journal_wrote(fake_store, monkeypatch):
    """JOURNAL_SLOTS bounds what a save writes, not what a load reads: entries past it (an earlier or later
    version's longer journal) are part of the ledger."""
    import hedge.ledger as ledger_module

    ledger = Ledger()
    _open(ledger)
    monkeypatch.setattr(ledger_module, "JOURNAL_SLOTS", ledger_module.JOURNAL_SLOTS + 5)
    ledger.save(fake_store)
    for i in range(ledger_module.JOURNAL_SLOTS):
        ledger.record_funding(1, D(i + 1))
        ledger.save(fake_store)
    monkeypatch.undo()
    loaded = Ledger.load(fake_store)
    assert loaded == ledger and len(_journal_keys(fake_store)) > ledger_module.JOURNAL_SLOTS
    loaded.record_funding(1, D("0.5"))
    loaded.save(fake_store)  # past this version's bound: the whole document
    assert Ledger.load(fake_store) == loaded


def test_positions_read_times_ride_with_a_save_that_writes_and_an_earlier_ledger_loads_without_them(
        fake_store):
    """The last positions read per venue-symbol (Executor.unread_since across a restart) is saved with the
    ledger: in the document and in the journal's entries, but never a write by itself (a save with only read
    times changed writes nothing: nothing it would hold was counted from them). A ledger saved before they
    were kept loads with none (unknown: the restart counts as the last read, as before)."""
    ledger = Ledger()
    _open(ledger)
    ledger.reads["binance/BTC_USDT"] = 1_000
    ledger.save(fake_store)  # the document
    assert json.loads(fake_store("hedge_ledger_v1"))["reads"] == {"binance/BTC_USDT": 1_000}
    ledger.reads["binance/BTC_USDT"] = 2_000
    ledger.save(fake_store)
    assert _journal_keys(fake_store) == []  # the read time alone: not written
    assert Ledger.load(fake_store).reads == {"binance/BTC_USDT": 1_000}
    ledger.reads["okx/BTC_USDT"] = 2_500
    ledger.record_funding(1, D("0.5"))
    ledger.save(fake_store)  # written with the funding: both read times ride along
    assert json.loads(fake_store("hedge_ledger_v1_journal_1"))["reads"] == {
        "binance/BTC_USDT": 2_000, "okx/BTC_USDT": 2_500}
    loaded = Ledger.load(fake_store)
    assert loaded.reads == {"binance/BTC_USDT": 2_000, "okx/BTC_USDT": 2_500} and loaded == ledger
    ledger.compact(fake_store)
    assert Ledger.load(fake_store).reads == loaded.reads
    saved = json.loads(fake_store("hedge_ledger_v1"))
    saved.pop("reads")
    fake_store("hedge_ledger_v1", json.dumps(saved))  # as an earlier version saved it
    assert Ledger.load(fake_store).reads == {}


def test_a_saved_document_with_read_times_is_json_dumps_byte_for_byte(fake_store):
    ledger = Ledger()
    _open(ledger)
    ledger.reads.update({"okx/BTC_USDT": 7, "binance/ETH_USDT": 9})
    assert ledger.to_json() == json.dumps(json.loads(ledger.to_json()), sort_keys=True)
    assert json.loads(ledger.to_json())["reads"] == {"okx/BTC_USDT": 7, "binance/ETH_USDT": 9}
