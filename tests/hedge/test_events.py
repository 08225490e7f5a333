import pytest

from hedge.events import LEVELS, EventLog


def test_events_come_back_newest_first_and_survive_a_reload(fake_store):
    log = EventLog(fake_store)
    log.record(1, "info", "started")
    log.record(2, "critical", "trading state ACTIVE -> HALTED: command")
    log.record(3, "warn", "skip BTC_USDT")

    again = EventLog.load(fake_store)
    assert [e.text for e in again.newest()] == ["skip BTC_USDT", "trading state ACTIVE -> HALTED: command",
                                                "started"]
    assert [e.level for e in again.newest(min_level="error")] == ["critical"]
    assert [e.time_ms for e in again.newest(2)] == [3, 2]


def test_only_the_newest_events_are_kept(fake_store):
    log = EventLog(fake_store, keep=5)
    for i in range(12):
        log.record(i, LEVELS[i % 4], f"e{i}")
    assert [e.text for e in EventLog.load(fake_store, keep=5)] == [f"e{i}" for i in range(7, 12)]


def test_unknown_level_is_refused():
    with pytest.raises(ValueError, match="one of info, warn, error, critical"):
        EventLog().record(0, "fatal", "x")


def test_an_unreadable_history_starts_empty(fake_store):
    fake_store("hedge_events_v1", "{not json")
    assert len(EventLog.load(fake_store)) == 0


def test_the_saved_text_is_json_dumps_of_every_kept_row(fake_store):
    """Each save encodes only the new row and joins the kept ones: the text is what json.dumps of the whole
    list gives, across a reload, the keep limit, and text that JSON escapes."""
    import json

    log = EventLog(fake_store, keep=4)
    texts = ['quote " and \\ backslash', "é ünïcode ≥", "line\nbreak", "plain"]
    for i, text in enumerate(texts):
        log.record(1_700_000_000_000 + i, LEVELS[i % 4], text)
    log = EventLog.load(fake_store, keep=4)
    for i in range(6):
        log.record(1_700_000_001_000 + i, "info", f"after reload {i} {texts[i % 4]}")
        expected = json.dumps([[e.time_ms, e.level, e.text] for e in log])
        assert fake_store("hedge_events_v1") == expected
