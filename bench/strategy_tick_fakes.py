"""Prints the strategy time of one tick at 5 venues x 50 symbols when nothing trades.

Run: .venv/bin/python bench/strategy_tick_fakes.py   (figures, not asserts)
The fakes' GetTickers returns a prebuilt list, so the figure is hedge/ code only.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "hedge"))  # the fakes
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import FakeExchange, FakeRuntime  # noqa: E402

from hedge.app import App  # noqa: E402
from hedge.config import config_from_dict  # noqa: E402
from hedge.fmz import Api  # noqa: E402


def main(ticks: int = 5000) -> None:
    symbols = [f"C{i:02d}X_USDT" for i in range(50)]
    exchanges = []
    for venue in ("binance", "bybit", "okx", "coinex", "bitmex"):
        ex = FakeExchange(venue, books={s: (100.0, 100.01) for s in symbols})
        prebuilt = ex.GetTickers()
        ex.GetTickers = lambda prebuilt=prebuilt: prebuilt
        exchanges.append(ex)
    runtime = FakeRuntime(exchanges)
    app = App(Api.from_globals(runtime.globals()), config_from_dict({"symbols": symbols,
                                                                     "status_interval_s": 86_400}))
    assert app.start()
    app.tick()
    started = time.perf_counter()
    for _ in range(ticks):
        app.tick()
    per_tick = (time.perf_counter() - started) / ticks
    print(f"5 venues x 50 symbols, no opportunity: {per_tick * 1e6:.0f} us of strategy time per tick")


if __name__ == "__main__":
    main()
