"""Raw websocket captures from ../shared/data/cryptofeed_raw_ws (cryptofeed's sample data, real venue
frames; see its SOURCE.md and LICENSE: "This product includes software developed by Bryant Moscon
(http://www.bryantmoscon.com/)"). Read-only; a missing capture fails the test that needs it."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CAPTURES = Path(__file__).resolve().parents[4] / "shared" / "data" / "cryptofeed_raw_ws"
if not CAPTURES.is_dir():
    CAPTURES = Path("/work/shared/data/cryptofeed_raw_ws")


def _require(name: str) -> Path:
    path = CAPTURES / name
    if not path.exists():
        pytest.fail(f"capture {path} not present: these tests read ../shared/data/cryptofeed_raw_ws")
    return path


def records(venue_file: str) -> Iterator[dict[str, Any]]:
    """The lines of a v3 capture (BINANCE_FUTURES, BYBIT, OKX): header, http, connect, send, recv."""
    with gzip.open(_require(f"{venue_file}.jsonl.gz"), "rt") as f:
        for line in f:
            yield json.loads(line)


def bitmex_frames() -> Iterator[tuple[int, str]]:
    """(received ms, raw text) of the BitMEX realtime capture (old format: 'ts: text' lines)."""
    with gzip.open(_require("BITMEX.ws.1.0.gz"), "rt") as f:
        for line in f:
            stamp, _, body = line.rstrip("\n").partition(": ")
            if body.startswith("{") and " " not in stamp:
                yield int(float(stamp) * 1000), body
