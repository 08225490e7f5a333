"""What one ledger save costs through the robot store's `_G` (hedge/ledger.py, printed, never asserted).

    .venv/bin/python bench/ledger_save.py [--pairs 10 50] [--watched 0 200] [--orders 300] [--runs 5]

A ledger with --pairs open pairs and --watched watched orders is saved once, then each of --orders orders
is journaled, sent and cleared with a save after each step (three saves per order, as the executor does),
into a RobotStore-backed `_G` (every write committed before it returns). Prints the CPU time per save,
median of --runs, for each (pairs, watched) combination given in order; run it on two commits to compare.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fmz_compat.api import Runtime  # noqa: E402
from fmz_compat.core import BacktestClock  # noqa: E402
from fmz_compat.store import RobotStore  # noqa: E402
from hedge.ledger import Ledger  # noqa: E402
from hedge.orders import OrderEvent, OrderRecord, OrderStatus  # noqa: E402

START_MS = 1_704_067_200_000


def _ledger(pairs: int, watched: int) -> Ledger:
    ledger = Ledger()
    for i in range(pairs):
        ledger.record_open(symbol="BTC_USDT", long_venue="binance", short_venue="okx", qty=Decimal("0.010"),
                           long_price=Decimal("50000.1"), short_price=Decimal("50060.2"), fees=Decimal("0.5"),
                           client_ids=(f"hgbench{2 * i}", f"hgbench{2 * i + 1}"), now_ms=START_MS + i,
                           order_ids=("123456", "654321"))
    for i in range(watched):
        ledger.watch[f"w{i}"] = OrderRecord(f"w{i}", "open#1", "okx", "BTC_USDT", "buy", Decimal("0.01"),
                                            status=OrderStatus.ABSENT, misses=3)
    return ledger


def _per_save(store: object, ledger: Ledger, orders: int, first: int) -> float:
    started = time.process_time()
    for i in range(first, first + orders):
        record = OrderRecord(f"c{i}", f"open#{i}", "okx", "BTC_USDT", "buy", Decimal("0.01"))
        ledger.journal(record)
        ledger.save(store)
        ledger.journal(record.apply(OrderEvent.SUBMITTED, order_id=str(i), sent_ms=START_MS + i))
        ledger.save(store)
        ledger.clear_orders(f"open#{i}")
        ledger.save(store)
    return (time.process_time() - started) / (3 * orders) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--watched", type=int, nargs="+", default=[0, 200])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        robot = RobotStore(Path(tmp) / "bench.db3", flush_interval_s=3600)
        clock = BacktestClock(START_MS * 1_000_000, (START_MS + 86_400_000) * 1_000_000)
        store = Runtime(clock=clock, store=robot, robot_id=1).build_globals()["_G"]
        for pairs, watched in zip(ns.pairs, ns.watched, strict=True):
            ledger = _ledger(pairs, watched)
            ledger.save(store)
            times = [_per_save(store, ledger, ns.orders, run * ns.orders) for run in range(ns.runs)]
            print(f"{pairs:4d} pairs, {watched:4d} watched orders: {statistics.median(times):8.1f} us of CPU "
                  f"per save (median of {ns.runs} runs of {3 * ns.orders} saves)")
        robot.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
