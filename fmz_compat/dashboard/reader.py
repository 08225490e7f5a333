"""Read-only access to a robot's SQLite db while the runtime writes it (WAL: readers never block it)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fmz_compat.api import parse_status
from fmz_compat.store import LOG_COLUMNS, log_filter


class RobotReader:
    """One read-only connection per thread; every query sees the writer's last commit."""

    def __init__(self, db_path: str | Path) -> None:
        self.path = Path(db_path)
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.db = db
        return db

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self._db().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # the runtime has not created its schema yet
                return []
            raise

    def exists(self) -> bool:
        return self.path.is_file()

    # --- cfg ---
    def cfg(self, key: str) -> Any:
        rows = self._rows("SELECT Value FROM cfg WHERE Key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def status(self) -> dict[str, Any]:
        text = self.cfg("status") or ""
        return {"text": text, "blocks": status_blocks(text)}

    # --- log ---
    def logs(self, *, offset: int = 0, limit: int = 50, log_types: Sequence[int] = (),
             venue: int | None = None, text: str = "") -> dict[str, Any]:
        where, params = log_filter(log_types, text=text, exchange_index=venue)
        total = int((self._rows(f"SELECT COUNT(*) FROM log {where}", params) or [(0,)])[0][0])
        rows = self._rows(f"SELECT {', '.join(LOG_COLUMNS)} FROM log {where} ORDER BY Id DESC"
                          " LIMIT ? OFFSET ?", (*params, int(limit), int(offset)))
        return {"total": total, "offset": offset, "limit": limit,
                "rows": [dict(zip(LOG_COLUMNS, row, strict=True)) for row in rows]}

    # --- charts and profit ---
    def chart_points(self, max_points: int = 0) -> dict[int, list[Any]]:
        """Points by series index. With `max_points`, a longer series of [x, y] points is aggregated
        in SQL (lowest and highest y per bucket of rows, plus its first and last point), so a year of
        minute points is never parsed row by row in Python."""
        series: dict[int, list[Any]] = {}
        for seq in self.chart_seqs():
            count = int(self._rows("SELECT COUNT(*) FROM chart WHERE Seq = ?", (seq,))[0][0])
            if max_points and count > max_points:
                aggregated = self._aggregated(seq, max_points)
                if aggregated is not None:
                    series[seq] = aggregated
                    continue
            series[seq] = [json.loads(d) for (d,) in
                           self._rows("SELECT Data FROM chart WHERE Seq = ? ORDER BY Id", (seq,))]
        return series

    def chart_seqs(self) -> list[int]:
        rows = self._rows("WITH RECURSIVE s(seq) AS (SELECT MIN(Seq) FROM chart UNION ALL SELECT"
                          " (SELECT MIN(Seq) FROM chart WHERE Seq > s.seq) FROM s WHERE s.seq IS NOT NULL)"
                          " SELECT seq FROM s WHERE seq IS NOT NULL")
        return [int(r[0]) for r in rows]

    def _seq_ends(self, seq: int) -> tuple[int, int]:
        # two queries: SQLite answers a lone MIN or MAX from the (Seq, Id) index, not both at once
        first = self._rows("SELECT MIN(Id) FROM chart WHERE Seq = ?", (seq,))[0][0]
        last = self._rows("SELECT MAX(Id) FROM chart WHERE Seq = ?", (seq,))[0][0]
        return int(first), int(last)

    def _aggregated(self, seq: int, max_points: int) -> list[Any] | None:
        first_id, last_id = self._seq_ends(seq)
        first = json.loads(self._rows("SELECT Data FROM chart WHERE Id = ?", (first_id,))[0][0])
        last = json.loads(self._rows("SELECT Data FROM chart WHERE Id = ?", (last_id,))[0][0])
        if not all(_is_xy(p) for p in (first, last)):
            return None  # candles, dicts, bare numbers: the Python path handles them
        buckets = max(1, (max_points - 2) // 3)
        span = last_id - first_id + 1
        inner = ("SELECT (Id - ?) * ? / ? AS b, json_extract(Data, '$[0]') AS x,"
                 " json_extract(Data, '$[1]') AS y FROM chart WHERE Seq = ? AND Id > ? AND Id < ?"
                 " AND json_type(Data, '$[1]') IN ('integer', 'real')")
        params = (first_id, buckets, span, seq, first_id, last_id)
        picked: dict[int, set[tuple[float, float]]] = {}
        for agg in ("MIN", "MAX"):  # SQLite returns the row's x beside a lone MIN()/MAX()
            for b, y, x in self._rows(f"SELECT b, {agg}(y), x FROM ({inner}) GROUP BY b", params):
                if x is not None and y is not None:
                    picked.setdefault(int(b), set()).add((x, y))
        middle = [list(p) for b in sorted(picked) for p in sorted(picked[b])]
        return [first, *middle, last]

    def profits(self) -> list[tuple[int, float]]:
        return [(int(t), float(p)) for t, p in self._rows("SELECT Time, Profit FROM profit ORDER BY Id")]

    # --- change detection (index lookups only: cheap at any size, run twice a second) ---
    def versions(self) -> dict[str, str]:
        """A token per part (log, chart, profit, status) that changes whenever that part does: appends
        move MAX(Id), resets (which drop the oldest rows) move MIN(Id), replacing a series' last point
        changes that row. Skipped entirely when no writer committed since the last call."""
        data_version = self._rows("PRAGMA data_version")
        cached = getattr(self._local, "versions", None)
        if cached is not None and cached[0] == data_version:
            return dict(cached[1])
        log = self._rows("SELECT MIN(Id), MAX(Id) FROM log") or [(None, None)]
        profit = self._rows("SELECT MIN(Id), MAX(Id) FROM profit") or [(None, None)]
        chart_rows = []
        for seq in self.chart_seqs():
            ends = self._seq_ends(seq)
            tail = self._rows("SELECT Time, length(Data), substr(Data, -24) FROM chart WHERE Id = ?",
                              (ends[1],))
            chart_rows.append((seq, *ends, *(tail[0] if tail else ())))
        versions = {
            "log": f"{log[0][0]}:{log[0][1]}",
            "chart": f"{chart_rows}:{hash(json.dumps(self.cfg('chart')))}",
            "profit": f"{profit[0][0]}:{profit[0][1]}",
            "status": str(hash(self.cfg("status") or "")),
        }
        self._local.versions = (data_version, versions)
        return dict(versions)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _is_xy(point: Any) -> bool:
    return (isinstance(point, list) and len(point) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point))


def status_blocks(text: str) -> list[dict[str, Any]]:
    """parse_status, plus FMZ's stand-alone buttons: a backticked {"type": "button", ...} object."""
    blocks = []
    for block in parse_status(text):
        if block["kind"] == "text":
            stripped = block["text"].strip()
            if stripped.startswith("`{") and stripped.endswith("}`"):
                try:
                    data = json.loads(stripped[1:-1])
                except ValueError:
                    data = None
                if isinstance(data, dict) and data.get("type") == "button":
                    blocks.append({"kind": "button", "button": data})
                    continue
        blocks.append(block)
    return blocks
