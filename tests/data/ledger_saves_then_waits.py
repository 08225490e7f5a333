"""A tiny robot for the ledger's real-SIGKILL test: book pairs and orders, saving the ledger with _G after
each change as the strategy does (the first save writes the whole document, the next ones the journal's
entries), print what the last save held, then wait to be killed.

Run as `python ledger_saves_then_waits.py DB_PATH`. The robot store's background commit is set an hour apart,
so only the commits `_G` makes itself can put the saves on disk before the kill.
"""

import sys
import threading
from decimal import Decimal

from fmz_compat.api import Runtime
from fmz_compat.core import BacktestClock
from fmz_compat.store import RobotStore
from hedge.ledger import Ledger
from hedge.orders import OrderEvent, OrderRecord

START_MS = 1_704_067_200_000


def main(db_path: str) -> None:
    store = RobotStore(db_path, flush_interval_s=3600)
    clock = BacktestClock(START_MS * 1_000_000, (START_MS + 86_400_000) * 1_000_000)
    g = Runtime(clock=clock, store=store, robot_id=1).build_globals()
    ledger = Ledger()
    for i in range(1, 6):
        record = OrderRecord(f"c{i}", f"open#{i}", "okx", "BTC_USDT", "buy", Decimal("0.01"))
        ledger.journal(record)
        ledger.save(g["_G"])
        ledger.journal(record.apply(OrderEvent.SUBMITTED, order_id=str(i), sent_ms=START_MS + i))
        ledger.save(g["_G"])
        ledger.record_open(symbol="BTC_USDT", long_venue="okx", short_venue="binance", qty=Decimal("0.01"),
                           long_price=Decimal("50000") + i, short_price=Decimal("50060"), fees=Decimal("0.3"),
                           client_ids=(f"c{i}",), now_ms=START_MS + i)
        ledger.clear_orders(f"open#{i}")
        ledger.save(g["_G"])
    ledger.record_close(2, qty=Decimal("0.01"), long_exit=Decimal("50100"), short_exit=Decimal("50090"),
                        fees=Decimal("0.3"))
    ledger.journal(OrderRecord("c9", "close#3", "okx", "BTC_USDT", "closebuy", Decimal("0.01")))
    ledger.save(g["_G"])
    print(f"SAVED {ledger.to_json()}", flush=True)
    threading.Event().wait()  # until SIGKILL


if __name__ == "__main__":
    main(sys.argv[1])
