"""exchange.Go on live exchanges: the call runs on a pool thread, so calls on different venues overlap, and
each handle carries its own call's outcome verdict (last_outcome_unknown), which no call on another thread
can change; the simulator's Go stays synchronous (tests/fmz_compat/test_exchange.py)."""

from __future__ import annotations

import threading

import requests
from venue_payloads import BINANCE_EXCHANGE_INFO, make

from fmz_compat.core import MemoryLog
from fmz_compat.exchange import FmzExchangeObject

API = "https://fapi.binance.com/fapi"


class _Slow(FmzExchangeObject):
    """A live-like exchange object whose one call waits until the other venue's call has started too."""

    go_concurrent = True

    def __init__(self, name: str, barrier: threading.Barrier) -> None:
        self._name = name
        self._barrier = barrier
        self.last_outcome_unknown = False

    def GetAccount(self) -> str:
        self._barrier.wait(timeout=5)  # BrokenBarrierError when the other venue's call cannot run meanwhile
        return self._name


def test_go_on_two_live_venues_runs_both_calls_at_once():
    barrier = threading.Barrier(2)
    first, second = _Slow("a", barrier), _Slow("b", barrier)
    handles = [first.Go("GetAccount"), second.Go("GetAccount")]
    assert [h.wait() for h in handles] == [("a", True), ("b", True)]
    assert handles[0].wait() == (None, False)  # taken once, as FMZ's


def test_go_wait_with_a_timeout_gives_nothing_yet_then_the_value():
    gate = threading.Event()

    class Held(_Slow):
        def GetAccount(self) -> str:
            gate.wait(5)
            return self._name

    handle = Held("a", threading.Barrier(1)).Go("GetAccount")
    assert handle.wait(10) == (None, False)  # 10 ms: still running
    gate.set()
    assert handle.wait() == ("a", True)


def test_each_go_handle_and_each_thread_keeps_its_own_calls_verdict(binance, http):
    ex, _ = binance
    http.post(f"{API}/v1/order", body=requests.exceptions.ReadTimeout("read timed out"))
    http.get(f"{API}/v1/leverageBracket", json=[])
    http.get(f"{API}/v3/positionRisk", json=[])
    ex.backoff.succeeded()
    # an order timing out on the pool's thread, the positions answered on this one afterwards
    order = ex.Go("CreateOrder", "BTC_USDT.swap", "buy", 95000, 0.01)
    assert order.wait() == (None, True)
    ex.backoff.succeeded()
    assert ex.GetPositions() == []
    assert order.last_outcome_unknown is True and ex.last_outcome_unknown is False
    # the reverse: this thread's order times out, then a Go call answers on the pool's thread
    ex.backoff.succeeded()
    assert ex.CreateOrder("BTC_USDT.swap", "buy", 95000, 0.01) is None
    positions = ex.Go("GetPositions")
    assert positions.wait() == ([], True) and positions.last_outcome_unknown is False
    assert ex.last_outcome_unknown is True  # this thread's last call, whatever the pool's thread set


def test_a_refused_order_through_go_reads_refused_on_its_handle(http):
    http.get(f"{API}/v1/exchangeInfo", json=BINANCE_EXCHANGE_INFO)
    ex, log = make("binance", "BTC_USDT")
    assert isinstance(log, MemoryLog)
    http.post(f"{API}/v1/order", status=400, json={"code": -2019, "msg": "Margin is insufficient."})
    handle = ex.Go("CreateOrder", "BTC_USDT.swap", "buy", 95000, 1)
    assert handle.wait() == (None, True) and handle.last_outcome_unknown is False
