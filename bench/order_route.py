"""Prints the time from CreateOrder called to the venue's acknowledgement: REST vs the order websocket.

Run: .venv/bin/python bench/order_route.py [orders per run] [runs]   (figures, not asserts)

One local OKX stand-in on loopback (aiohttp, its own thread) answers both ways in OKX's formats: REST
`POST /api/v5/trade/batch-orders` over real HTTP (ccxt signs and sends it through requests, keep-alive),
and `order` on the private websocket after a signed login. A LiveExchange places limit orders through
each route in turn; each run prints p50 / p99 per route, and the median of the runs' p50s with the
ratio REST / websocket. On loopback the figure is our own overhead (request building, signing, HTTP vs
one frame); a venue across a network adds its round trip to both, and to REST the connection's cost
whenever keep-alive lapses.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fmz_compat" / "live"))

from aiohttp import WSMsgType, web  # noqa: E402
from venue_payloads import OKX_INSTRUMENTS  # noqa: E402

from fmz_compat.core import ExchangeBinding, MemoryLog  # noqa: E402
from fmz_compat.keys import Credentials  # noqa: E402
from fmz_compat.live import LiveExchange, build_client, make_order_socket  # noqa: E402

CREDS = Credentials("okKEY-bench", "OKSECRET-bench", "okPass-bench")


def _ack(client_id: str, order_id: int) -> dict[str, Any]:
    return {"clOrdId": client_id, "ordId": str(order_id), "tag": "", "ts": str(time.time_ns() // 1_000_000),
            "sCode": "0", "sMsg": ""}


class OkxStandIn:
    """REST and websocket on one port, answering as OKX does."""

    def __init__(self) -> None:
        self.ids = iter(range(1_000_000_000, 2_000_000_000))
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/api/v5/public/instruments", self._instruments)
        app.router.add_post("/api/v5/trade/batch-orders", self._rest_order)
        app.router.add_get("/ws/v5/private", self._ws)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    async def _instruments(self, request: web.Request) -> web.Response:
        return web.json_response(OKX_INSTRUMENTS)

    async def _rest_order(self, request: web.Request) -> web.Response:
        body = await request.json()
        rows = [_ack(row.get("clOrdId", ""), next(self.ids)) for row in body]
        return web.json_response({"code": "0", "msg": "", "data": rows, "inTime": "", "outTime": ""})

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT or msg.data == "ping":
                continue
            message = json.loads(msg.data)
            if message.get("op") == "login":
                await ws.send_str(json.dumps({"event": "login", "code": "0", "msg": "", "connId": "b1"}))
            elif message.get("op") == "order":
                row = _ack(message["args"][0].get("clOrdId", ""), next(self.ids))
                await ws.send_str(json.dumps({"id": message["id"], "op": "order", "code": "0", "msg": "",
                                              "data": [row], "inTime": "", "outTime": ""}))
        return ws


def _rehost(value: Any, base: str) -> Any:
    if isinstance(value, dict):
        return {k: _rehost(v, base) for k, v in value.items()}
    return re.sub(r"^https?://[^/]+", base, value) if isinstance(value, str) else value


def _exchange(port: int) -> LiveExchange:
    client = build_client("okx", CREDS)
    client.enableRateLimit = False  # the figure is the route, not ccxt's spacing
    client.urls["api"] = _rehost(client.urls["api"], f"http://127.0.0.1:{port}")
    ex = LiveExchange(client, "okx", ExchangeBinding(eid="Futures_OKX", currency="BTC_USDT"), MemoryLog(),
                      secrets=CREDS.secrets())
    client.load_markets()
    return ex


def _timed_orders(ex: LiveExchange, count: int) -> list[float]:
    times = []
    for i in range(count):
        started = time.perf_counter()
        order_id = ex.CreateOrder("BTC_USDT.swap", "buy", 50_000 + i % 7, 1)
        times.append((time.perf_counter() - started) * 1e6)
        if order_id is None:
            raise RuntimeError(f"order {i} failed: {ex._log.last_error}")  # noqa: SLF001
    return times


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 300
    runs = int(argv[1]) if len(argv) > 1 else 5
    venue = OkxStandIn()
    ex = _exchange(venue.port)
    socket = make_order_socket("okx", CREDS, url=f"ws://127.0.0.1:{venue.port}/ws/v5/private")
    assert socket is not None
    socket.start()
    if not socket.wait_ready(10):
        print("the order websocket did not log in", file=sys.stderr)
        return 1
    _timed_orders(ex, 20)  # warm-up: markets, the HTTP connection, the socket
    p50s: dict[str, list[float]] = {"rest": [], "ws": []}
    for run in range(1, runs + 1):
        for route in ("rest", "ws"):
            ex.order_socket = socket if route == "ws" else None
            times = _timed_orders(ex, count)
            p50s[route].append(_pct(times, 0.5))
            print(f"run {run} {route:4s}: {count} orders, p50 {_pct(times, 0.5):7.0f} µs, "
                  f"p99 {_pct(times, 0.99):7.0f} µs")
    socket.stop()
    rest, ws = statistics.median(p50s["rest"]), statistics.median(p50s["ws"])
    print(f"median of {runs} runs' p50: REST {rest:.0f} µs, websocket {ws:.0f} µs, REST / websocket "
          f"{rest / ws:.2f}x")
    print(f"routes taken: {ex.order_routes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
