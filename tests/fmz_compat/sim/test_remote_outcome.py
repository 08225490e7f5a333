"""A node's verdict on an HTTP error answer of the venue server: a 5xx (the server failed while serving the
call, which may have acted) is an unknown outcome, a 4xx (the server refused the request before any venue
saw it) a definite refusal; and what the strategy's executor does with each.

ccxt (4.5.83, ccxt/base/exchange.py `Exchange.httpExceptions`) maps '500', '502', '503', '520'... to
ExchangeNotAvailable and '504' to RequestTimeout, both NetworkError (ccxt/base/errors.py: NetworkError is an
OperationFailed, not an ExchangeError): the request may have been acted on. fmz_compat/live.py reads the
whole OperationFailed family as `last_outcome_unknown` True; a node of the venue server must read a 5xx the
same way, or the executor books the order as REJECTED and sends the leg again.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from fmz_compat.core import ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.remote import RemoteClock, RemoteExchange, VenueSession, connect, remote_world_factory
from fmz_compat.sim import server as server_module
from fmz_compat.sim.server import ServerConfig, VenueServer
from hedge.execution import Executor, Leg
from hedge.market import Venue, load_specs

START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
FROZEN = 1e-9  # simulated time does not move during a test
BINDINGS = (ExchangeBinding("Futures_Binance"), ExchangeBinding("Futures_OKX"))
SYMBOL = "BTC_USDT"
D = Decimal


@pytest.fixture
def venue_server() -> Iterator[VenueServer]:
    server = VenueServer(ServerConfig(SimConfig(seed=3, start_ms=START_MS, bindings=BINDINGS), end_ms=None,
                                        speed=FROZEN))
    server.start()
    yield server
    server.stop()


def _exchanges(server: VenueServer, node: str) -> tuple[RemoteExchange, RemoteExchange]:
    session = connect(server.url, node)
    world = remote_world_factory(session, [0, 1])(None, RemoteClock(session), MemoryLog())
    binance, okx = world.exchanges
    return binance, okx


def _okx_creates_answer(monkeypatch: pytest.MonkeyPatch, status: int) -> list[str]:
    """The server applies every call as before, then answers an OKX CreateOrder with HTTP `status` (an
    internal error after the venue acted). The paths of the calls so answered."""
    answered: list[str] = []
    original = server_module._Handler._exchange_call

    def exchange_call(handler: Any, vs: VenueServer, node: str, path: str, body: dict[str, Any]) -> None:
        if not path.endswith("/1/CreateOrder"):
            original(handler, vs, node, path, body)
            return
        vs.call(node, 1, "CreateOrder", body.get("args", []), body.get("kwargs", {}))  # the venue acts
        answered.append(path)
        if status == 200:  # an answer cut short: not JSON
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{\"res")
        else:
            handler._send(status, {"error": "Internal Server Error"})

    monkeypatch.setattr(server_module._Handler, "_exchange_call", exchange_call)
    return answered


def test_a_5xx_after_the_venue_acted_is_an_unknown_outcome_and_the_leg_is_found_not_resent(
        venue_server, monkeypatch):
    """Old code: every non-200 answer raised ValueError and `_call` set last_outcome_unknown False (a definite
    refusal), so the executor booked the OKX leg REJECTED and topped it up with a second order: the account
    was short 0.04 BTC against Binance's 0.02 long (a doubled leg). Now the 500 is an unknown outcome: the
    order is looked up by its client id and found, and nothing is sent again."""
    answered = _okx_creates_answer(monkeypatch, 500)
    binance, okx = _exchanges(venue_server, "tokyo")
    executor = Executor(sleep=lambda ms: None, taker_bps=lambda v: D("5"), event=lambda *a, **k: None)
    legs = (Leg(Venue("binance", 0, binance, load_specs(binance, (SYMBOL,))), "buy", D("0.02"), D(0)),
            Leg(Venue("okx", 1, okx, load_specs(okx, (SYMBOL,))), "sell", D("0.02"), D(0)))
    fill = executor.execute_pair(SYMBOL, legs, "open#1")
    [short] = okx.GetPositions("BTC_USDT.swap")
    [long] = binance.GetPositions("BTC_USDT.swap")
    assert (long.Type, long.Amount) == (0, 0.02)
    assert (short.Type, short.Amount * 0.01) == (1, 0.02)  # 2 contracts of 0.01 BTC: the hedge, not twice
    assert fill is not None and fill.balanced and fill.qty == D("0.02")
    assert len(answered) == 1  # one OKX order sent, never a second


@pytest.mark.parametrize("status", [500, 502, 503, 504, 200])
def test_every_5xx_and_an_unreadable_answer_leave_the_outcome_unknown(venue_server, monkeypatch, status):
    """And a 200 whose body does not parse (the call was served; its answer is lost), as live.py reads an
    answer ccxt could not parse. Old code: False (json's ValueError read as a refusal) for each."""
    _okx_creates_answer(monkeypatch, status)
    _, okx = _exchanges(venue_server, "tokyo")
    assert okx.CreateOrder("BTC_USDT.swap", "sell", -1, 1) is None
    assert okx.last_outcome_unknown is True


def test_a_4xx_the_server_gives_before_any_venue_acts_stays_a_definite_refusal(venue_server):
    """The server answers 400 to a request it refuses before reaching an account (here a method it does not
    serve): nothing can land later, so the node says so (False), as live.py does for ccxt's rejections."""
    _, okx = _exchanges(venue_server, "tokyo")
    assert okx._call("NoSuchMethod") is None
    assert okx.last_outcome_unknown is False


@pytest.mark.parametrize("error", [ValueError, KeyError, RuntimeError])
def test_a_call_that_fails_after_the_account_acted_is_answered_500_not_400(venue_server, monkeypatch, error):
    """The server answers 400 for what it refuses before an account sees the call; an exception raised while
    an account serves it may come after the account acted. Old code: a ValueError or KeyError from there
    reached the handler's 400 (the node read a definite refusal, last_outcome_unknown False, while the order
    stood), any other exception dropped the connection. Now each is a 500: an unknown outcome."""
    original = venue_server._exchange_cls.CreateOrder

    def create_then_fail(self: Any, *args: Any) -> Any:
        original(self, *args)
        raise error("after the order was placed")

    monkeypatch.setattr(venue_server._exchange_cls, "CreateOrder", create_then_fail)
    _, okx = _exchanges(venue_server, "tokyo")
    assert okx.CreateOrder("BTC_USDT.swap", 'sell;{"clOrdId":"t-1"}', -1, 1) is None
    assert okx.last_outcome_unknown is True
    [placed] = okx.GetHistoryOrders("BTC_USDT.swap")
    assert placed.Info.clOrdId == "t-1"


def test_a_server_answering_only_errors_to_sleep_ends_the_run_instead_of_hanging() -> None:
    """Since a 5xx is an unknown outcome (_NoAnswer), `sleep_until` retried it for ever: a node whose server
    kept failing its /sleep hung with no word. Now errors for `gone_after_s` end the run with the reason, as
    a server refusing connections that long does."""
    class Failing(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"error": "internal error"}'
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        session = VenueSession(f"http://127.0.0.1:{httpd.server_address[1]}", "tokyo", gone_after_s=0.3)
        sleeper = threading.Thread(target=session.sleep_until, args=(START_MS + 1000,), daemon=True)
        sleeper.start()
        sleeper.join(timeout=10)
        assert not sleeper.is_alive(), "sleep_until still retrying a server that answers only HTTP 500"
        assert "answered /sleep with errors" in session.ended and "HTTP 500" in session.ended
    finally:
        httpd.shutdown()
        httpd.server_close()
