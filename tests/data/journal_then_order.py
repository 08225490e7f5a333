"""A tiny robot for the real-SIGKILL test: journal an order with _G, send it, say so, then wait to be killed.

Run as `python journal_then_order.py DB_PATH`. The robot store's background commit is set an hour apart,
so only a commit made by `_G` itself can put the journal entry on disk before the kill.
"""

import sys
import threading

from fmz_compat.api import Runtime
from fmz_compat.core import BacktestClock, ExchangeBinding, SimConfig
from fmz_compat.sim import create_world
from fmz_compat.store import RobotStore

START_MS = 1_704_067_200_000


def main(db_path: str) -> None:
    store = RobotStore(db_path, flush_interval_s=3600)
    clock = BacktestClock(START_MS * 1_000_000, (START_MS + 86_400_000) * 1_000_000)
    runtime = Runtime(clock=clock, store=store, robot_id=1)
    cfg = SimConfig(seed=1, start_ms=START_MS, bindings=(ExchangeBinding("Futures_Binance"),))
    world = create_world(cfg, clock, runtime)
    runtime.exchanges.extend(world.exchanges)
    g = runtime.build_globals()
    exchange = g["exchange"]
    exchange.SetContractType("swap")
    g["_G"]("journal", {"client_id": "c-kill-1", "side": "buy", "amount": 0.01})
    order_id = exchange.CreateOrder("BTC_USDT.swap", "buy", -1, 0.01)
    print(f"SENT {order_id}", flush=True)
    threading.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    main(sys.argv[1])
