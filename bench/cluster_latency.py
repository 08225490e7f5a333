"""Prints signal-to-both-legs-sent latency: one node alone vs a cluster node coordinating through Redis.

Run: .venv/bin/python bench/cluster_latency.py [rounds]   (figures, not asserts; needs redis-server)
From the moment the strategy looks at a symbol with an opening edge (`Spread.scan`) to the moment the second
leg's CreateOrder is called, on in-memory fake venues (so the figure is strategy + coordination time).
The cluster path adds the reservation script, the execution lock of both venue-symbols, the fenced
journal write of each leg and the stream; the Redis server runs on loopback (its own, on a free port)
with an append-only file like a deployment.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "hedge"))  # the fakes
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402
from conftest import FakeExchange, FakeRuntime  # noqa: E402

from fmz_compat.cluster_cli import free_port, wait_redis  # noqa: E402
from hedge.app import App  # noqa: E402
from hedge.config import config_from_dict  # noqa: E402
from hedge.fmz import Api  # noqa: E402

SYMBOL = "BTC_USDT"


def _app(cluster: dict | None) -> tuple[App, list[float]]:
    exchanges = [FakeExchange("binance", books={SYMBOL: (50_000.0, 50_001.0)}, balance=10_000_000.0),
                 FakeExchange("okx", books={SYMBOL: (50_100.0, 50_101.0)}, balance=10_000_000.0)]
    sends: list[float] = []
    for ex in exchanges:
        create = ex.CreateOrder

        def timed(*args, create=create):
            sends.append(time.perf_counter())
            return create(*args)
        ex.CreateOrder = timed
    runtime = FakeRuntime(exchanges)
    # request budgets far above what the rounds spend: no round waits for a bucket (that is not the figure)
    budget = {"orders": 100_000, "window_s": 1, "weight_per_min": 1_000_000}
    params = {"symbols": [SYMBOL], "status_interval_s": 86_400, "cooldown_s": 0, "order_notional_usdt": 1000,
              "max_position_usdt": 1_000_000, "max_effective_leverage": 20,
              "rate_limits": {"binance": budget, "okx": budget}}
    if cluster:
        params["cluster"] = cluster
    app = App(Api.from_globals(runtime.globals()), config_from_dict(params))
    assert app.start()
    for _ in range(3):
        app.tick()  # leases taken and reconciled (cluster)
    app._clear = lambda: [ex.contracts.clear() for ex in exchanges]  # type: ignore[attr-defined]
    return app, sends


def _measure(app: App, sends: list[float], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        app.book.drop_pairs()
        app.book.save()
        app._clear()  # type: ignore[attr-defined]
        app.trader.cooldown_until[SYMBOL] = 0
        sends.clear()
        started = time.perf_counter()
        opening = app.spread.scan(SYMBOL)  # the decision, then the trader's sends (timed together)
        if opening is not None:
            app.trader.open(opening)
        assert len(sends) >= 2, "no opening: the fake books must show an edge"
        out.append((sends[1] - started) * 1e6)
    return out


def _figures(name: str, values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return f"{name}: p50 {statistics.median(values):7.0f} us, p99 {p99:7.0f} us"


def main(rounds: int = 400) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not installed: bash tools/test.sh installs it")
    port = free_port()
    folder = tempfile.mkdtemp(prefix="bench-redis-")
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder,
                               "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
                              stdout=subprocess.DEVNULL)
    try:
        wait_redis(port, None, lambda: server.poll() is None)
        client = redis.Redis(port=port)
        pings = []
        for _ in range(rounds):
            started = time.perf_counter()
            client.ping()
            pings.append((time.perf_counter() - started) * 1e6)
        local_app, local_sends = _app(None)
        cluster_app, cluster_sends = _app({"redis_url": f"redis://127.0.0.1:{port}/0", "node": "bench",
                                           "lease_ttl_s": 60})
        local, cluster = [], []
        for _ in range(5):  # interleaved batches, medians over all: the machine's load hits both alike
            local += _measure(local_app, local_sends, rounds // 5)
            cluster += _measure(cluster_app, cluster_sends, rounds // 5)
        print(f"signal to both legs sent, {rounds} openings each, 2 fake venues, Redis on loopback")
        print(_figures("redis PING round trip      ", pings))
        print(_figures("one node (local coordinator)", local))
        print(_figures("cluster node through Redis ", cluster))
        print(f"cluster / local (p50): {statistics.median(cluster) / statistics.median(local):.1f}x; "
              f"Redis round trips on the path: reservation + execution lock + one journal write per leg")
        cluster_app.coordinator.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)



if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
