"""Prints how long one turn of the loop is blocked when a stop's hedging venue refuses every order.

Run: .venv/bin/python bench/stop_refusal_block.py   (figures, not asserts)
On FMZ a refused CreateOrder and a lost answer both return None, so each refused order is looked up over
the settle window (outage.order_settle_s, 10 s) before the executor may act again, inside the turn. The
simulator's binance refuses every order for 5 minutes while okx's short (24 000 USDT, 10x) is pushed to
its stop levels by a 12 % rise; the stop closes okx's leg chunk by chunk (close_chunk_usdt), each chunk
waiting the window for binance's refused close and again for its refused top-up. The figure is the
simulated time each turn took (one turn per simulated second otherwise); nothing else (no other venue's
stop, no valuation) runs while a turn is blocked.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.hedge.test_scenarios import SYMBOL, Sim, _book_pair  # noqa: E402

PARAMS = ('{"symbols": ["BTC_USDT"], "order_notional_usdt": 1000, "max_position_usdt": 30000, '
          '"open_threshold_bps": 900, "close_threshold_bps": -900, "status_interval_s": 60, '
          '"leverage": {"binance": 10, "okx": 10}}')


def main() -> None:
    sim = Sim("Futures_Binance", "Futures_OKX", hours=2)
    app = sim.app(params=PARAMS)
    assert app.start()
    price = Decimal(str(app.venues[0].exchange.GetTicker(SYMBOL + ".swap")["Last"]))
    _book_pair(app, sim, str((Decimal(24_000) / price).quantize(Decimal("0.001"))))
    sim.world.inject("binance", "refuse_orders", sim.now_ms() + 300_000)
    blocked = []
    for second in range(400):
        if second == 10:
            sim.world.coins["BTC"].fair *= 1.12
        started = sim.now_ms()
        app.tick()
        took = sim.now_ms() - started
        if took > 1_000:
            blocked.append((second, took))
        sim.clock.sleep(1000)
    for second, took in blocked:
        print(f"turn at t={second:3d} s blocked {took / 1000:5.1f} s; stops fired {app.risk.stops_fired}")
    print(f"longest turn {max(t for _, t in blocked) / 1000:.1f} s; liquidations "
          f"{[acc.liquidations for acc in sim.world.accounts]}")


if __name__ == "__main__":
    main()
