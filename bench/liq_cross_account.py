"""How long a 10,000-position cross-margin account takes to evaluate (printed, never asserted).

    python bench/liq_cross_account.py [--positions 10000] [--runs 7] [--venue binance]

"Evaluate" = Venue.evaluate_cross: equity, requirement, usage and every position's cross liquidation
price in one pass. Positions get synthetic symbols carrying BTCUSDT's tiers. The baseline is the previous
implementation (per-position method calls: tier lookup, maintenance, bracket search), timed in the same
process; the figures printed are medians of --runs runs (the first run, which builds the per-symbol tier
tables, is left out) and the largest relative difference between the two sets of prices.
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
from hedge.venues.base import ZERO, Account, Position, Side, Venue, _check  # noqa: E402


def baseline_prices(venue: Venue, account: Account) -> dict[str, D]:
    """The previous evaluate_cross: account totals once, then each position through the venue's methods."""
    upnl = {p.symbol: p.unrealized_pnl() for p in account.positions}
    mm = {p.symbol: venue.maintenance_margin(p) for p in account.positions}
    total_upnl, total_mm = sum(upnl.values(), ZERO), sum(mm.values(), ZERO)
    prices = {}
    for p in account.positions:
        _check(p)
        c = account.wallet_balance + total_upnl - upnl[p.symbol] - p.side.sign * p.qty * p.entry_price
        prices[p.symbol] = venue._liquidation_from(p, c, total_mm - mm[p.symbol])
    return prices


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
    venue.evaluate_cross(account)  # warm-up: per-symbol tier tables
    fast, base = [], []
    for _ in range(a.runs):
        c0 = time.process_time()
        result = venue.evaluate_cross(account)
        c1 = time.process_time()
        reference = baseline_prices(venue, account)
        fast.append(c1 - c0)
        base.append(time.process_time() - c1)
    worst = max(abs(result.liquidation_prices[s] - reference[s]) / abs(reference[s]) for s in reference)
    med, med_base = statistics.median(fast) * 1000, statistics.median(base) * 1000
    # CPU time (process_time): on a shared machine wall time also measures the neighbours.
    print(f"venue={a.venue} positions={a.positions} runs={a.runs}: evaluate_cross median {med:.1f} ms cpu "
          f"(min {min(fast) * 1000:.1f}, max {max(fast) * 1000:.1f}); target < 50 ms")
    print(f"baseline (previous implementation) median {med_base:.1f} ms cpu; speed-up x{med_base / med:.2f}; "
          f"largest relative price difference {float(worst):.1e}; usage={result.usage:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
