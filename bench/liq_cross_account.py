"""How long a 10,000-position cross-margin account takes to evaluate (printed, never asserted).

    python bench/liq_cross_account.py [--positions 10000] [--runs 7] [--venue binance]

"Evaluate" = Venue.evaluate_cross: equity, requirement, usage and every position's cross liquidation
price in one pass. Positions get synthetic symbols carrying BTCUSDT's tiers.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from decimal import Decimal as D
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hedge import venues  # noqa: E402
from hedge.venues.base import Account, Position, Side  # noqa: E402


def build(venue_name: str, n: int, seed: int = 7):
    rng = random.Random(seed)
    base = venues.get(venue_name)
    template = base.spec("BTCUSDT")
    venue = base.with_overrides({
        f"SYM{i}USDT": {"tick_size": template.tick_size, "lot_size": template.lot_size,
                        "min_qty": template.min_qty, "min_notional": template.min_notional,
                        "contract_size": template.contract_size, "margin_tiers": template.margin_tiers}
        for i in range(n)
    })
    positions = []
    for i in range(n):
        entry = D(rng.randint(100, 100_000))
        mark = entry * (1 + D(rng.randint(-500, 500)) / 10_000)
        qty = D(rng.randint(1, 5_000)) / 1_000
        side = Side.LONG if rng.random() < 0.5 else Side.SHORT
        positions.append(Position(f"SYM{i}USDT", side, qty, entry, mark_price=mark))
    notional = sum(p.qty * p.entry_price for p in positions)
    return venue, Account(wallet_balance=notional / 5, positions=tuple(positions))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--positions", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--venue", default="binance", choices=venues.NAMES)
    a = ap.parse_args()
    venue, account = build(a.venue, a.positions)
    wall, cpu = [], []
    for _ in range(a.runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = venue.evaluate_cross(account)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    med, med_cpu = statistics.median(wall) * 1000, statistics.median(cpu) * 1000
    # CPU time is printed beside wall time: on a shared machine the wall figure also measures the neighbours.
    print(f"venue={a.venue} positions={a.positions} runs={a.runs} "
          f"median={med:.1f} ms wall, {med_cpu:.1f} ms cpu "
          f"(wall min {min(wall) * 1000:.1f}, max {max(wall) * 1000:.1f}); target < 50 ms; "
          f"usage={result.usage:.4f} liquidation prices={len(result.liquidation_prices)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
