"""Prints how long one turn of the loop is blocked when a stop's hedging venue refuses every order,
before and after outage.max_turn_wait_ms.

Run: .venv/bin/python bench/stop_refusal_block.py   (figures, not asserts)
On FMZ a refused CreateOrder and a lost answer both return None, so each refused order is looked up over
the settle window (outage.order_settle_s, 10 s) before it counts as absent. The simulator's binance
refuses every order for 5 minutes while okx's short (24 000 USDT, 10x) is pushed to its stop levels by a
12 % rise; the stop closes okx's leg chunk by chunk (close_chunk_usdt). The figure is the simulated time
each turn took (one turn per simulated second otherwise).

"before": outage.max_turn_wait_ms 600000, which waits every settle window out inside the turn as the code
did before the bound (commit 556fe06 measured 70 s for the stop's turn, then 10 s per loose-leg retry;
nothing else, no other venue's stop, no valuation, ran meanwhile). "after": the default bound (2000 ms):
an order still unproved stays in doubt for recovery at later turns. Each figure is the median over seeds.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig  # noqa: E402
from fmz_compat.sim import create_world  # noqa: E402
from tests.hedge.test_scenarios import START_MS, SYMBOL, Sim, _book_pair  # noqa: E402

PARAMS = ('{"symbols": ["BTC_USDT"], "order_notional_usdt": 1000, "max_position_usdt": 30000, '
          '"open_threshold_bps": 900, "close_threshold_bps": -900, "status_interval_s": 60, '
          '"leverage": {"binance": 10, "okx": 10}%s}')
MODES = {"before": ', "outage": {"max_turn_wait_ms": 600000}', "after": ""}
SEEDS = (1, 2, 3, 4, 7)


def _sim(seed: int) -> Sim:
    sim = Sim("Futures_Binance", "Futures_OKX", hours=2)  # seed 7; rebuilt below with `seed`
    cfg = SimConfig(seed=seed, start_ms=START_MS, bindings=tuple(ExchangeBinding(n) for n in
                                                                 ("Futures_Binance", "Futures_OKX")),
                    symbols=(SYMBOL,))
    sim.clock = BacktestClock(START_MS * 1_000_000, (START_MS + 2 * 3_600_000) * 1_000_000)
    sim.world = create_world(cfg, sim.clock, MemoryLog())
    return sim


def run(seed: int, extra: str) -> dict[str, float]:
    sim = _sim(seed)
    app = sim.app(params=PARAMS % extra)
    assert app.start()
    price = Decimal(str(app.venues[0].exchange.GetTicker(SYMBOL + ".swap")["Last"]))
    _book_pair(app, sim, str((Decimal(24_000) / price).quantize(Decimal("0.001"))))
    sim.world.inject("binance", "refuse_orders", sim.now_ms() + 300_000)
    turns = []
    for second in range(400):
        if second == 10:
            sim.world.coins["BTC"].fair *= 1.12
        started = sim.now_ms()
        app.tick()
        turns.append(sim.now_ms() - started)
        sim.clock.sleep(1000)
    return {"longest turn s": max(turns) / 1000,
            "turns over 1 s": sum(t > 1_000 for t in turns),
            "time blocked s": sum(t for t in turns if t > 1_000) / 1000,
            "liquidations": sum(acc.liquidations for acc in sim.world.accounts)}


def main() -> None:
    results = {mode: [run(seed, extra) for seed in SEEDS] for mode, extra in MODES.items()}
    print(f"median over seeds {SEEDS}")
    for name in results["before"][0]:
        figures = "   ".join(f"{mode} {median(r[name] for r in runs):6.1f}" for mode, runs in results.items())
        print(f"{name:>16}: {figures}")


if __name__ == "__main__":
    main()
