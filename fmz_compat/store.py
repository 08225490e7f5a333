"""SQLite per robot, shaped like FMZ's `logs/storage/<robotId>/<robotId>.db3`.

Tables (column names follow the order FMZ's robot-log API reports them in):
  log     Id, LogType, Eid, OrderId, Price, Amount, Extra, Date, ContractType, Direction, Color, Push
  profit  Id, Time, Profit, Extra
  chart   Id, Seq (series index), Time, Data (JSON point)
  cfg     Key, Value (status bar text, chart config)
  kvdb    Key, Value (_G data, JSON)

Writes go into one open transaction that a background thread commits at least once a second
(and `flush()`/`close()` commit at once), so a busy strategy does not pay one commit per Log().
`_G` writes (kvdb) are the exception: they commit before returning, as `_G` is synchronous on FMZ. The
strategy journals an order in `_G` before sending it, so a process killed (SIGKILL, OOM) right after the
order left must still find the entry on restart. A commit in WAL mode with synchronous=NORMAL is a
write() into the WAL file (no fsync): it survives the death of the process, not a power cut.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    Id INTEGER PRIMARY KEY AUTOINCREMENT,
    LogType INTEGER NOT NULL,
    Eid INTEGER,
    OrderId TEXT NOT NULL DEFAULT '',
    Price REAL NOT NULL DEFAULT 0,
    Amount REAL NOT NULL DEFAULT 0,
    Extra TEXT NOT NULL DEFAULT '',
    Date INTEGER NOT NULL,
    ContractType TEXT NOT NULL DEFAULT '',
    Direction TEXT NOT NULL DEFAULT '',
    Color TEXT NOT NULL DEFAULT '',
    Push INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS log_date ON log (Date);
CREATE TABLE IF NOT EXISTS profit (
    Id INTEGER PRIMARY KEY AUTOINCREMENT,
    Time INTEGER NOT NULL,
    Profit REAL NOT NULL,
    Extra TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS chart (
    Id INTEGER PRIMARY KEY AUTOINCREMENT,
    Seq INTEGER NOT NULL,
    Time INTEGER NOT NULL,
    Data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chart_seq ON chart (Seq, Id);
CREATE TABLE IF NOT EXISTS cfg (Key TEXT PRIMARY KEY, Value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kvdb (Key TEXT PRIMARY KEY, Value TEXT NOT NULL);
"""

LOG_COLUMNS = ("Id", "LogType", "Eid", "OrderId", "Price", "Amount", "Extra", "Date",
               "ContractType", "Direction", "Color", "Push")
FLUSH_INTERVAL_S = 1.0


class RobotStore:
    """One robot's database. Thread-safe; every public method takes the same lock."""

    def __init__(self, path: str | Path, *, flush_interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._closed = False
        self._committed_changes = 0  # the connection's total_changes at the last commit
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, args=(flush_interval_s,),
                                         name="robot-store-flush", daemon=True)
        self._flusher.start()

    # --- lifecycle ---
    def _flush_loop(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self.flush()

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"robot store {self.path} is closed")
            if not self._db.in_transaction:
                self._db.execute("BEGIN")
            return self._db.execute(sql, params)

    def flush(self) -> None:
        """Commit everything written so far."""
        with self._lock:
            if not self._closed and self._db.in_transaction:
                self._db.execute("COMMIT")
                self._committed_changes = self._db.total_changes

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._closed:
                return
            self.flush()
            self._closed = True
            self._db.close()
        if threading.current_thread() is not self._flusher:
            self._flusher.join(timeout=5)

    def abandon(self) -> int:
        """Close as a killed process would: roll back what is not committed. Returns how many rows that
        undid (the chaos run's kill; a real SIGKILL gives the same file)."""
        self._stop.set()
        with self._lock:
            if self._closed:
                return 0
            lost = self._db.total_changes - self._committed_changes if self._db.in_transaction else 0
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._closed = True
            self._db.close()
        if threading.current_thread() is not self._flusher:
            self._flusher.join(timeout=5)
        return lost

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # --- log ---
    def append_log(self, log_type: int, extra: str, date_ms: int, *, eid: int | None = None,
                   order_id: str = "", price: float = 0.0, amount: float = 0.0,
                   contract_type: str = "", direction: str = "", color: str = "",
                   push: bool = False) -> int:
        cur = self._write(
            "INSERT INTO log (LogType, Eid, OrderId, Price, Amount, Extra, Date, ContractType,"
            " Direction, Color, Push) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (log_type, eid, str(order_id), float(price), float(amount), extra, date_ms,
             contract_type, direction, color, int(push)))
        return int(cur.lastrowid)

    def reset_log(self, remain: int = 0) -> None:
        """Keep only the newest `remain` log rows (profit and charts are untouched)."""
        remain = max(0, int(remain))
        self._write("DELETE FROM log WHERE Id NOT IN (SELECT Id FROM log ORDER BY Id DESC LIMIT ?)",
                    (remain,))

    def vacuum(self) -> None:
        with self._lock:
            self.flush()
            self._db.execute("VACUUM")

    def logs(self, *, offset: int = 0, limit: int = 100, log_types: Sequence[int] | None = None,
             since_ms: int | None = None, until_ms: int | None = None, text: str | None = None,
             newest_first: bool = True) -> list[dict[str, Any]]:
        where, params = log_filter(log_types, since_ms=since_ms, until_ms=until_ms, text=text)
        order = "DESC" if newest_first else "ASC"
        rows = self._read(f"SELECT {', '.join(LOG_COLUMNS)} FROM log {where} ORDER BY Id {order}"
                          " LIMIT ? OFFSET ?", (*params, int(limit), int(offset)))
        return [dict(zip(LOG_COLUMNS, row, strict=True)) for row in rows]

    def count_logs(self, *, log_types: Sequence[int] | None = None, since_ms: int | None = None,
                   until_ms: int | None = None, text: str | None = None) -> int:
        where, params = log_filter(log_types, since_ms=since_ms, until_ms=until_ms, text=text)
        return int(self._read(f"SELECT COUNT(*) FROM log {where}", params)[0][0])

    # --- profit ---
    def append_profit(self, time_ms: int, profit: float, extra: str = "") -> None:
        self._write("INSERT INTO profit (Time, Profit, Extra) VALUES (?,?,?)",
                    (time_ms, float(profit), extra))

    def reset_profit(self, remain: int = 0) -> None:
        self._write("DELETE FROM profit WHERE Id NOT IN"
                    " (SELECT Id FROM profit ORDER BY Id DESC LIMIT ?)", (max(0, int(remain)),))

    def profits(self) -> list[tuple[int, float]]:
        return [(int(t), float(p)) for t, p in self._read("SELECT Time, Profit FROM profit ORDER BY Id")]

    # --- charts ---
    def set_chart_config(self, config: Any) -> None:
        self.set_cfg("chart", config)

    def chart_config(self) -> Any:
        return self.get_cfg("chart")

    def append_chart_point(self, seq: int, time_ms: int, point: Any) -> None:
        self._write("INSERT INTO chart (Seq, Time, Data) VALUES (?,?,?)",
                    (int(seq), time_ms, json.dumps(point)))

    def replace_last_chart_point(self, seq: int, time_ms: int, point: Any) -> None:
        rows = self._read("SELECT MAX(Id) FROM chart WHERE Seq = ?", (int(seq),))
        if rows and rows[0][0] is not None:
            self._write("UPDATE chart SET Time = ?, Data = ? WHERE Id = ?",
                        (time_ms, json.dumps(point), rows[0][0]))
        else:
            self.append_chart_point(seq, time_ms, point)

    def reset_chart(self, remain: int = 0) -> None:
        """Keep the newest `remain` points of each series."""
        self._write("DELETE FROM chart WHERE Id IN (SELECT Id FROM (SELECT Id, ROW_NUMBER() OVER"
                    " (PARTITION BY Seq ORDER BY Id DESC) AS n FROM chart) WHERE n > ?)",
                    (max(0, int(remain)),))

    def chart_points(self, seq: int | None = None) -> dict[int, list[Any]]:
        if seq is None:
            rows = self._read("SELECT Seq, Data FROM chart ORDER BY Id")
        else:
            rows = self._read("SELECT Seq, Data FROM chart WHERE Seq = ? ORDER BY Id", (int(seq),))
        series: dict[int, list[Any]] = {}
        for s, data in rows:
            series.setdefault(int(s), []).append(json.loads(data))
        return series

    # --- cfg (status bar, chart config) ---
    def set_cfg(self, key: str, value: Any) -> None:
        self._write("INSERT INTO cfg (Key, Value) VALUES (?, ?) ON CONFLICT(Key) DO UPDATE SET"
                    " Value = excluded.Value", (key, json.dumps(value)))

    def get_cfg(self, key: str) -> Any:
        rows = self._read("SELECT Value FROM cfg WHERE Key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def set_status(self, text: str) -> None:
        self.set_cfg("status", text)

    def status(self) -> str:
        return self.get_cfg("status") or ""

    # --- kvdb (_G) ---
    def kv_get(self, key: str) -> Any:
        rows = self._read("SELECT Value FROM kvdb WHERE Key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def kv_set(self, key: str, value: Any) -> None:
        self._durable_write("INSERT INTO kvdb (Key, Value) VALUES (?, ?) ON CONFLICT(Key) DO UPDATE SET"
                            " Value = excluded.Value", (key, json.dumps(value)))

    def kv_delete(self, key: str) -> None:
        self._durable_write("DELETE FROM kvdb WHERE Key = ?", (key,))

    def kv_clear(self) -> None:
        self._durable_write("DELETE FROM kvdb")

    def _durable_write(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Write and commit before returning (with whatever else the open transaction holds)."""
        with self._lock:
            self._write(sql, params)
            self._db.execute("COMMIT")
            self._committed_changes = self._db.total_changes

    def kv_items(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._read("SELECT Key, Value FROM kvdb ORDER BY Key")}

    # --- DBExec ---
    def execute(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any]:
        """Run arbitrary SQL on the robot db, FMZ's DBExec shape: {columns, values}."""
        with self._lock:
            cur = self._write(sql, params)
            columns = [d[0] for d in cur.description] if cur.description else []
            values = [list(r) for r in cur.fetchall()] if cur.description else []
            return {"columns": columns, "values": values}


def log_filter(log_types: Sequence[int] | None = None, *, since_ms: int | None = None,
               until_ms: int | None = None, text: str | None = None,
               exchange_index: int | None = None) -> tuple[str, list[Any]]:
    """The WHERE clause and its parameters for a filtered read of the `log` table."""
    clauses: list[str] = []
    params: list[Any] = []
    if log_types:
        clauses.append(f"LogType IN ({', '.join('?' for _ in log_types)})")
        params.extend(int(t) for t in log_types)
    if exchange_index is not None:
        clauses.append("Eid = ?")
        params.append(int(exchange_index))
    if since_ms is not None:
        clauses.append("Date >= ?")
        params.append(int(since_ms))
    if until_ms is not None:
        clauses.append("Date < ?")
        params.append(int(until_ms))
    if text:
        clauses.append("instr(lower(Extra), lower(?)) > 0")
        params.append(text)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
