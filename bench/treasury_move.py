"""A one-way move on three simulated venues with the treasury off, notifying and automatic (printed).

    python bench/treasury_move.py [--move -0.3] [--hours 6] [--seed 7]

Binance holds 0.35 BTC long against Bybit 0.2 and OKX 0.15 short, 10,000 USDT on each venue (Binance
starts ~46 % from liquidation). BTC's fair price moves by --move evenly over --hours, then half an hour
of quiet. For each mode: equity change (includes network fees), unit NAV, realized PnL, stops fired per
level (hedge/risk.py when present), pairs left open, the nearest each venue came to liquidation, the
transfers made and their network fees, liquidations. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig  # noqa: E402
from fmz_compat.sim import create_world  # noqa: E402
from hedge.app import App  # noqa: E402
from hedge.config import parse_params  # noqa: E402
from hedge.fmz import Api  # noqa: E402

START_MS = 1_719_792_000_000
LOOP_MS = 10_000
SYMBOL = "BTC_USDT.swap"


class Store(dict):
    def __call__(self, key, *value):
        if not value:
            return self.get(key)
        self[key] = value[0]
        return None


def run(mode: str, move: float, hours: float, seed: int) -> str:
    cfg = SimConfig(seed=seed, start_ms=START_MS, symbols=("BTC_USDT",), bindings=tuple(
        ExchangeBinding(n, balance=10_000) for n in ("Futures_Binance", "Futures_Bybit", "Futures_OKX")))
    end_ns = (START_MS + int((hours + 1) * 3_600_000)) * 1_000_000
    clock = BacktestClock(START_MS * 1_000_000, end_ns)
    world = create_world(cfg, clock, MemoryLog())
    for exchange, side, amount in zip(world.exchanges, ("buy", "sell", "sell"), (0.35, 0.2, 15), strict=True):
        exchange.SetMarginLevel(SYMBOL, 5)
        exchange.CreateOrder(SYMBOL, side, -1, amount)
    whitelist = [{"venue": a.venue, "network": "TRC20", "address": world.deposit_address(a, "TRC20")}
                 for a in world.accounts]
    params = {"symbols": ["BTC_USDT"], "open_threshold_bps": 1000, "close_threshold_bps": -1000,
              "reconcile_policy": "adopt", "loop_interval_ms": LOOP_MS,
              "treasury": {"mode": mode, "whitelist": whitelist}}
    api = Api(log=lambda *a: None, log_status=lambda *a: None, log_profit=lambda *a: None, sleep=clock.sleep,
              unix_nano=clock.now_ns, store=Store(), exchanges=tuple(world.exchanges))
    app = App(api, parse_params(json.dumps(params)))
    if not app.start():
        raise SystemExit(f"{mode}: the app refused to start")
    start_equity = app.fund.total_equity()
    nearest: dict[str, Decimal] = {}
    steps = int(hours * 3_600_000 / LOOP_MS)
    factor = (1.0 + move) ** (1.0 / steps)
    for i in range(steps + 180):
        if i < steps:
            world.coins["BTC"].fair *= factor
        app.tick()
        for venue, view in app.accounts.items():
            if view.liquidation is not None:
                nearest[venue] = min(nearest.get(venue, Decimal(999)), view.liquidation[1])
        clock.sleep(LOOP_MS)
    risk = getattr(app, "risk", None)
    fired = getattr(risk, "stops_fired", "n/a (no hedge/risk.py)")
    transfers = app.treasury.transfers if app.treasury is not None else []
    fees = sum((t.fee for t in transfers), Decimal(0))
    open_qty = sum((p.qty for p in app.ledger.pairs.values()), Decimal(0))
    change = app.fund.total_equity() - start_equity
    return (f"{mode:6} equity {change:+8.2f} USDT  unit NAV {app.accounting.unit_nav:.6f}  "
            f"realized {app.ledger.realized_pnl:+.2f}  stops fired {fired}  pairs open {open_qty} BTC  "
            f"nearest to liquidation {', '.join(f'{k} {v:.1f} %' for k, v in sorted(nearest.items()))}  "
            f"transfers {len(transfers)} (network fees ~{fees} USDT)  "
            f"liquidations {world.stats()['totals']['liquidations']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--move", type=float, default=-0.3, help="relative move of BTC, e.g. -0.3")
    parser.add_argument("--hours", type=float, default=6.0, help="hours the move takes")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not -0.9 < args.move < 5 or args.hours <= 0:
        parser.error("--move must be between -0.9 and 5 and --hours positive")
    print(f"BTC {args.move * 100:+.0f} % over {args.hours:g} h, seed {args.seed}")
    for mode in ("off", "notify", "auto"):
        print(run(mode, args.move, args.hours, args.seed))


if __name__ == "__main__":
    main()
