"""Read-only access to a robot's SQLite db while the runtime writes it (WAL: readers never block it)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fmz_compat.api import parse_status
from fmz_compat.store import LOG_COLUMNS


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
        where, params = _log_filter(log_types, venue, text)
        total = int((self._rows(f"SELECT COUNT(*) FROM log {where}", params) or [(0,)])[0][0])
        rows = self._rows(f"SELECT {', '.join(LOG_COLUMNS)} FROM log {where} ORDER BY Id DESC"
                          " LIMIT ? OFFSET ?", (*params, int(limit), int(offset)))
        return {"total": total, "offset": offset, "limit": limit,
                "rows": [dict(zip(LOG_COLUMNS, row, strict=True)) for row in rows]}

    # --- charts and profit ---
    def chart_points(self) -> dict[int, list[Any]]:
        series: dict[int, list[Any]] = {}
        for seq, data in self._rows("SELECT Seq, Data FROM chart ORDER BY Id"):
            series.setdefault(int(seq), []).append(json.loads(data))
        return series

    def profits(self) -> list[tuple[int, float]]:
        return [(int(t), float(p)) for t, p in self._rows("SELECT Time, Profit FROM profit ORDER BY Id")]

    # --- change detection (cheap enough to run twice a second) ---
    def versions(self) -> dict[str, str]:
        log = self._rows("SELECT MAX(Id), COUNT(*) FROM log") or [(None, 0)]
        chart = self._rows("SELECT COUNT(*), MAX(Id) FROM chart") or [(0, None)]
        last = self._rows("SELECT c.Id, c.Time, length(c.Data) FROM chart c JOIN (SELECT MAX(Id) AS Id FROM"
                          " chart GROUP BY Seq) m ON c.Id = m.Id")
        profit = self._rows("SELECT MAX(Id), COUNT(*) FROM profit") or [(None, 0)]
        cfg = dict(self._rows("SELECT Key, length(Value) || ':' || substr(Value, -64) FROM cfg"
                              " WHERE Key IN ('status', 'chart')"))
        return {
            "log": f"{log[0][0]}:{log[0][1]}",
            "chart": f"{chart[0]}:{sorted(last)}:{hash(cfg.get('chart'))}",
            "profit": f"{profit[0][0]}:{profit[0][1]}",
            "status": str(hash(self.cfg("status") or "")),
        }

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _log_filter(log_types: Sequence[int], venue: int | None, text: str) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if log_types:
        clauses.append(f"LogType IN ({', '.join('?' for _ in log_types)})")
        params.extend(int(t) for t in log_types)
    if venue is not None:
        clauses.append("Eid = ?")
        params.append(int(venue))
    if text:
        clauses.append("instr(lower(Extra), lower(?)) > 0")
        params.append(text)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


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
