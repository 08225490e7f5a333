import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from fmz_compat.store import RobotStore


def test_rows_survive_close_and_reopen(tmp_path):
    path = tmp_path / "1.db3"
    store = RobotStore(path)
    store.append_log(5, "hello", 1000, eid=0, order_id="7", price=1.5, amount=2)
    store.append_profit(1000, 3.25)
    store.append_chart_point(0, 1000, [1000, 1.0])
    store.set_status("status text")
    store.kv_set("k", {"a": 1})
    store.close()

    again = RobotStore(path)
    assert again.logs()[0]["Extra"] == "hello"
    assert again.logs()[0]["OrderId"] == "7"
    assert again.profits() == [(1000, 3.25)]
    assert again.chart_points() == {0: [[1000, 1.0]]}
    assert again.status() == "status text"
    assert again.kv_get("k") == {"a": 1}
    again.close()


def test_flush_makes_rows_visible_to_another_connection(tmp_path):
    path = tmp_path / "1.db3"
    store = RobotStore(path, flush_interval_s=3600)
    store.append_log(5, "one", 1)
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM log").fetchone()[0] == 0
    store.flush()
    assert other.execute("SELECT COUNT(*) FROM log").fetchone()[0] == 1
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    store.close()


def test_background_flush_commits_without_an_explicit_call(tmp_path):
    path = tmp_path / "1.db3"
    store = RobotStore(path, flush_interval_s=0.01)
    store.append_log(5, "one", 1)
    other = sqlite3.connect(path)
    seen = []
    for _ in range(500):  # up to ~5 s of polling: generous, the flusher runs every 10 ms
        seen = other.execute("SELECT Extra FROM log").fetchall()
        if seen:
            break
        store._stop.wait(0.01)
    assert seen == [("one",)]
    other.close()
    store.close()


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(min_value=0, max_value=40), remain=st.integers(min_value=0, max_value=50))
def test_reset_log_keeps_the_newest_rows_and_nothing_else(tmp_path_factory, rows, remain):
    store = RobotStore(tmp_path_factory.mktemp("s") / "1.db3")
    for i in range(rows):
        store.append_log(5, f"row {i}", i)
    store.append_profit(1, 1.0)
    store.append_chart_point(0, 1, 1.0)
    store.reset_log(remain)
    kept = [r["Extra"] for r in store.logs(newest_first=False, limit=1000)]
    assert kept == [f"row {i}" for i in range(max(0, rows - remain), rows)]
    assert store.profits() == [(1, 1.0)]
    assert store.chart_points() == {0: [1.0]}
    store.close()


def test_log_paging_and_filters(tmp_path):
    store = RobotStore(tmp_path / "1.db3")
    for i in range(10):
        store.append_log(3 if i % 3 == 0 else 5, f"message {i}", 1000 + i)
    assert [r["Extra"] for r in store.logs(limit=2, offset=1)] == ["message 8", "message 7"]
    assert store.count_logs(log_types=[3]) == 4
    assert [r["Extra"] for r in store.logs(since_ms=1008)] == ["message 9", "message 8"]
    assert [r["Extra"] for r in store.logs(until_ms=1001)] == ["message 0"]
    assert [r["Extra"] for r in store.logs(text="MESSAGE 5")] == ["message 5"]
    store.close()


def test_chart_replace_last_and_reset_keep_per_series(tmp_path):
    store = RobotStore(tmp_path / "1.db3")
    for i in range(5):
        store.append_chart_point(0, i, i)
        store.append_chart_point(1, i, 10 + i)
    store.replace_last_chart_point(1, 99, 99)
    store.reset_chart(2)
    assert store.chart_points() == {0: [3, 4], 1: [13, 99]}
    store.close()


def test_execute_returns_columns_and_values(tmp_path):
    store = RobotStore(tmp_path / "1.db3")
    store.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    store.execute("INSERT INTO t VALUES (?, ?)", (1, "x"))
    assert store.execute("SELECT a, b FROM t") == {"columns": ["a", "b"], "values": [[1, "x"]]}
    store.close()


def test_a_journal_entry_written_with_G_survives_a_real_sigkill_after_the_order_is_sent(tmp_path):
    """A real process journals an order with _G, sends it and is killed with SIGKILL (no simulated kill, no
    atexit, no close). On FMZ _G is synchronous: the entry must be in the robot database on reopen. The old
    store kept _G writes in a transaction committed once a second (here once an hour): the entry was lost."""
    db_path = tmp_path / "1.db3"
    script = Path(__file__).resolve().parents[1] / "data" / "journal_then_order.py"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, str(script), str(db_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("SENT BTC_USDT.swap,"), (line, proc.stderr.read() if proc.poll() else "")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    again = RobotStore(db_path)
    assert again.kv_get("journal") == {"client_id": "c-kill-1", "side": "buy", "amount": 0.01}
    again.close()


def test_G_writes_commit_before_returning_and_other_writes_wait_for_the_flush(tmp_path):
    path = tmp_path / "1.db3"
    store = RobotStore(path, flush_interval_s=3600)
    other = sqlite3.connect(path)
    store.kv_set("k", {"a": 1})
    assert other.execute("SELECT Value FROM kvdb WHERE Key = 'k'").fetchall() == [('{"a": 1}',)]
    store.kv_delete("k")
    assert other.execute("SELECT COUNT(*) FROM kvdb").fetchone()[0] == 0
    store.kv_set("k2", 2)
    store.kv_clear()
    assert other.execute("SELECT COUNT(*) FROM kvdb").fetchone()[0] == 0
    store.append_profit(1, 2.0)  # not a _G write: batched until the next flush
    assert other.execute("SELECT COUNT(*) FROM profit").fetchone()[0] == 0
    other.close()
    store.close()
