"""A real websocket server on loopback (aiohttp, in its own thread) standing in for a venue."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web


class FakeVenueWs:
    """Accepts websocket clients on ws://127.0.0.1:<port>/; records what they send; the test pushes
    frames to them, or drops them. `on_text(text) -> replies` answers client frames (subscriptions)."""

    def __init__(self, on_text: Callable[[str], list[str | bytes]] | None = None) -> None:
        self.received: list[str] = []
        self.connections = 0
        self.on_text = on_text or (lambda text: [])
        self._clients: list[web.WebSocketResponse] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = 0

    def __enter__(self) -> FakeVenueWs:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/", self._handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    async def _shutdown(self) -> None:
        for ws in list(self._clients):
            await ws.close()
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections += 1
        self._clients.append(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.received.append(msg.data)
                    for reply in self.on_text(msg.data):
                        await (ws.send_bytes(reply) if isinstance(reply, bytes) else ws.send_str(reply))
        finally:
            if ws in self._clients:
                self._clients.remove(ws)
        return ws

    def push(self, frame: str | bytes) -> None:
        async def send() -> None:
            for ws in list(self._clients):
                await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        asyncio.run_coroutine_threadsafe(send(), self._loop).result(10)

    def drop_clients(self) -> None:
        async def close() -> None:
            for ws in list(self._clients):
                await ws.close()
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)

    def client_count(self) -> int:
        return len(self._clients)


def wait_for(condition: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    """Poll until `condition()` is truthy; fail the test with a clear message on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"condition not met within {timeout_s}s")
