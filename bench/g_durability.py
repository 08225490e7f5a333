"""What a durable `_G` write costs against the old batched one (printed, never asserted).

    python bench/g_durability.py [--writes 2000] [--runs 5] [--value-bytes 4000]

`_G(key, value)` now commits before it returns (fmz_compat/store.py `kv_set`), so a SIGKILL right after an
order was sent cannot lose its journal entry. The old path is the same INSERT into the store's open
transaction, left for the background thread to commit once a second; it is timed here through the same
store (`_write`), in the same process, on the same file system. Each run writes --writes values of about
--value-bytes (the ledger's JSON is a few kB) into one key, then 10 % into other keys; the figures are the
medians over --runs runs of the per-write time, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fmz_compat.store import RobotStore  # noqa: E402

UPSERT = "INSERT INTO kvdb (Key, Value) VALUES (?, ?) ON CONFLICT(Key) DO UPDATE SET Value = excluded.Value"


def value_of(size: int, i: int) -> dict[str, object]:
    pairs = max(1, size // 80)
    return {"seq": i, "pairs": [{"id": f"p{j}", "qty": "0.012", "entry": "64012.5"} for j in range(pairs)]}


def one_run(store: RobotStore, writes: int, size: int, durable: bool) -> float:
    values = [value_of(size, i) for i in range(writes)]
    started = time.perf_counter()
    for i, value in enumerate(values):
        key = "hedge_ledger_v1" if i % 10 else f"other_{i % 7}"
        if durable:
            store.kv_set(key, value)
        else:
            store._write(UPSERT, (key, json.dumps(value)))  # the old kv_set: no commit
    store.flush()  # the old path's commit, counted once per run (the flusher's once-a-second commit)
    return (time.perf_counter() - started) / writes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--value-bytes", type=int, default=4000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = RobotStore(Path(tmp) / "bench.db3", flush_interval_s=3600)
        old: list[float] = []
        new: list[float] = []
        for _ in range(args.runs):
            old.append(one_run(store, args.writes, args.value_bytes, durable=False))
            new.append(one_run(store, args.writes, args.value_bytes, durable=True))
        store.close()
    size = len(json.dumps(value_of(args.value_bytes, 0)))
    m_old, m_new = statistics.median(old), statistics.median(new)
    print(f"_G write of {size} bytes, median of {args.runs} runs x {args.writes} writes")
    print(f"  old (batched, committed once a second): {m_old * 1e6:8.1f} us/write")
    print(f"  new (committed before _G returns):      {m_new * 1e6:8.1f} us/write")
    print(f"  ratio new/old: {m_new / m_old:.2f}")


if __name__ == "__main__":
    main()
