"""Issue #20 item 7: HttpQuery, Dial and EventLoop are real in paper/live, against real servers on
loopback; in a backtest they answer as FMZ's backtester (fmzquant/backtest_python fmz.py)."""

from __future__ import annotations

import json
import sqlite3
import sys
import textwrap
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fmz_compat.__main__ import main
from fmz_compat.net import WebSocketConnection, parse_dial

sys.path.insert(0, str(Path(__file__).parent / "live"))  # importlib mode: the loopback websocket server
from ws_server import FakeVenueWs, wait_for  # noqa: E402


class _Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        reply = json.dumps({"method": self.command, "path": self.path, "body": body,
                            "cookie": self.headers.get("Cookie"),
                            "x_test": self.headers.get("X-Test")}).encode()
        self.send_response(201 if self.path.startswith("/post") else 200)
        self.send_header("X-Reply", "echo")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_base():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _run(tmp_path: Path, mode: str, source: str, *extra: str) -> tuple[int, list[str]]:
    strategy = tmp_path / "s.py"
    strategy.write_text(textwrap.dedent(source))
    out = tmp_path / "runs"
    argv = [mode, str(strategy), "--venues", "binance", "--out", str(out), "--quiet", *extra]
    code = main(argv + (["--duration", "1h"] if mode == "backtest" else []))
    robot = sorted(out.iterdir(), key=lambda p: int(p.name))[-1]
    db = sqlite3.connect(robot / f"{robot.name}.db3")
    logs = [row[0] for row in db.execute("SELECT Extra FROM log ORDER BY Id")]
    db.close()
    return code, logs


HTTP_STRATEGY = """
    import json
    def main():
        got = json.loads(HttpQuery(Base + "/get?x=1"))
        Log("get", got["method"], got["path"])
        ret = HttpQuery(Base + "/post", {"method": "POST", "body": "a=1", "headers": {"X-Test": "yes"},
                                          "cookie": "k=v", "debug": True})
        sent = json.loads(ret["Body"])
        Log("post", ret["StatusCode"], sent["method"], sent["body"], sent["x_test"], sent["cookie"],
            ret["Header"]["X-Reply"][0])
        legacy = json.loads(HttpQuery(Base + "/legacy", "p=2", "c=3", "X-Test: legacy"))
        Log("legacy", legacy["method"], legacy["body"], legacy["cookie"], legacy["x_test"])
        Log("hex", HttpQuery(Base + "/hex", {"format": "hex"})[:4])
        Log("refused", HttpQuery("http://127.0.0.1:1/none?apikey=SECRET", {"timeout": 2000}))
        handle = HttpQuery_Go(Base + "/go")
        event = EventLoop(5000)
        value, ok = handle.wait()
        Log("go", event["Event"], ok, json.loads(value)["path"])
        exchange.SetContractType("swap")
        task = exchange.Go("GetTicker")
        event = EventLoop(5000)
        ticker, ok = task.wait()
        Log("exchange go", event.Event, event.Index, ok, ticker.Last > 0)
        Log("idle", EventLoop(-1))
"""


def test_http_query_and_event_loop_are_real_in_paper(tmp_path, http_base):
    code, logs = _run(tmp_path, "paper", HTTP_STRATEGY, "--arg", f"Base={http_base}")
    assert code == 0, logs
    assert "get GET /get?x=1" in logs
    assert "post 201 POST a=1 yes k=v echo" in logs
    assert "legacy POST p=2 c=3 legacy" in logs
    assert "hex 7b22" in logs  # '{"' in hex
    assert "refused None" in logs and any(line.startswith("HttpQuery http://127.0.0.1:1/none: ")
                                          for line in logs)
    assert "go HttpQuery True /go" in logs
    assert "exchange go Exchange_GetTicker 0 True True" in logs
    assert "idle None" in logs
    assert not any("SECRET" in line for line in logs)


def test_network_in_a_backtest_answers_as_fmzs_backtester(tmp_path, http_base):
    code, logs = _run(tmp_path, "backtest", """
        def main():
            Log("http", HttpQuery(Base + "/get"))
            Log("dial", Dial("ws://127.0.0.1:1/?token=SECRET"))
            Log("mail", Mail("smtp", "u", "p", "to", "t", "b"))
            t0 = Unix()
            Log("event", EventLoop(60000), Unix() - t0)
        """, "--arg", f"Base={http_base}")
    assert code == 0
    assert "http dummy" in logs and "dial None" in logs and "mail True" in logs and "event None 60" in logs
    assert any(line.startswith("Dial: not supported in a backtest") for line in logs)
    assert not any("SECRET" in line for line in logs)


def _subscribed(text: str) -> list[str | bytes]:
    message = json.loads(text) if text.startswith("{") else text
    if isinstance(message, dict) and message.get("op") == "subscribe":
        return ["subscribed " + ",".join(message["args"])]
    if text == "ping":
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # OKX v3's raw deflate, FMZ's gzip_raw
        return [packer.compress(b'{"pong": true}') + packer.flush()]
    return []


def test_dial_reads_writes_decompresses_and_posts_events_in_paper(tmp_path):
    with FakeVenueWs(_subscribed) as server:
        code, logs = _run(tmp_path, "paper", """
            import json
            def main():
                sub = json.dumps({"op": "subscribe", "args": ["ticker"]})
                ws = Dial(Url + "|compress=gzip_raw&mode=recv&reconnect=true&payload=" + sub, 5)
                Log("first", ws.read(5000))
                event = EventLoop(5000)
                Log("event", event.Event, event.Index)
                Log("wrote", ws.write("ping"))
                Log("second", ws.read(5000))
                Log("nothing", ws.read(-1))
                ws.close()
                Log("closed", repr(ws.read(100)), ws.write("x"))
            """, "--arg", f"Url={server.url}")
    assert code == 0, logs
    assert "first subscribed ticker" in logs and "event Dial 0" in logs
    assert "wrote 4" in logs and 'second {"pong": true}' in logs and "nothing None" in logs
    assert "closed '' 0" in logs
    assert server.received[:2] == ['{"op": "subscribe", "args": ["ticker"]}', "ping"]


def test_dial_reconnects_and_resends_its_payload_or_reads_empty_when_gone():
    with FakeVenueWs(_subscribed) as server:
        url, options, timeout_s = parse_dial(server.url + '|reconnect=true&interval=50&payload={"op": '
                                             '"subscribe", "args": ["a"]}')
        keeps = WebSocketConnection(url, options, timeout_s)
        assert keeps.read(5000) == "subscribed a"
        plain = WebSocketConnection(server.url, {}, 5)
        wait_for(lambda: server.client_count() == 2)
        server.drop_clients()
        assert plain.read(5000) == ""  # the peer went and nothing reconnects it
        assert keeps.read(5000) == "subscribed a"  # reconnected, payload sent again
        assert server.connections == 3 and plain.write("x") == 0
        server.push("newest")
        wait_for(lambda: keeps._messages)
        server.push("newer")
        wait_for(lambda: len(keeps._messages) == 2)
        assert keeps.read(-2) == "newer" and keeps.read(-1) is None  # < -1: the newest, backlog dropped
        keeps.close()
        plain.close()


@pytest.mark.parametrize(("given", "reconnects"), [
    ("true", True), ("1", True), (" Yes ", True), ("false", False),
    (True, True), (1, True), (1.0, True), (0, False), (None, False)])
def test_dial_reconnect_reads_a_flag_as_order_options_do(given, reconnects):
    """`reconnect` given in the options object: text says yes (the URL form passes it as text), any other
    value by its truth (a JSON 1.0 is as set as 1; fmz_compat read it as text and took 1.0 for no)."""
    with FakeVenueWs(_subscribed) as server:
        conn = WebSocketConnection(server.url, {"reconnect": given}, 5)
        assert conn.reconnect is reconnects
        conn.close()


def test_dial_options_parse_like_fmz():
    url, options, timeout_s = parse_dial('wss://x/ws|compress=gzip&mode=recv&reconnect=true&payload={"a":"b&c=d"}',
                                         10)
    assert url == "wss://x/ws" and timeout_s == 10.0
    assert options == {"compress": "gzip", "mode": "recv", "reconnect": "true", "payload": '{"a":"b&c=d"}'}
    assert parse_dial("wss://x", 3800)[2] == 3.8
    options = {"reconnect": True, "payload": "p"}
    assert parse_dial("wss://x", options)[1] == options


def test_dial_sqlite3_exec_returns_columns_and_values(tmp_path):
    from fmz_compat.net import dial

    db = dial(f"sqlite3://{tmp_path / 'k.db'}", None, None)
    db.exec("CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT)")
    db.exec("INSERT INTO kv VALUES(?, ?)", "key1", "value1")
    result = db.exec("SELECT * FROM kv")
    assert result.columns == ["k", "v"] and result["values"] == [["key1", "value1"]]
    db.close()
    with pytest.raises(ValueError, match="mysql:// is not supported by fmz_compat"):
        dial("mysql://u:p@h/db", None, None)


def test_event_loop_answers_an_exchange_go_task_in_fmzs_documented_shape(tmp_path):
    # FMZ's syntax guide, structure "EventLoop-return" (https://www.fmz.com/syntax-guide/struct/otherstruct/
    # eventloop-return, found with the search tool): fields Seq, Event, ThreadId, Index, Nano; an
    # exchange.Go() task gives {"Seq":1,"Event":"Exchange_GetTrades","ThreadId":0,...}. The page names no
    # event of HttpQuery_Go() or of a Dial() connection, though EventLoop reports both ("HttpQuery" and
    # "Dial" are ours).
    code, logs = _run(tmp_path, "paper", """
        import time
        def main():
            exchange.SetContractType("swap")
            before = time.time_ns()
            task = exchange.Go("GetTrades")
            event = EventLoop(5000)
            trades, ok = task.wait()
            Log("event", event.Seq, event.Event, event.ThreadId, isinstance(event.Index, int),
                before <= event.Nano <= time.time_ns(), ok, len(trades) > 0)
        """)
    assert code == 0, logs
    assert "event 1 Exchange_GetTrades 0 True True True True" in logs


def test_book_events_wait_for_the_first_event_loop_and_one_waits_per_book_with_the_newest_top():
    from fmz_compat.net import EventQueue

    queue = EventQueue(lambda: 7)
    queue.post_book(1, "BTC_USDT.swap", 10.0, 10.1, 1000)  # nobody listens yet: not kept (FMZ buffers
    assert queue.pending() == 0                                # events from the first EventLoop call)
    queue.listening = True
    queue.post_book(1, "BTC_USDT.swap", 10.0, 10.1, 1000)
    queue.post("Dial", 3)
    queue.post_book(1, "BTC_USDT.swap", 10.2, 10.3, 1001)  # newer top of the same book: the waiting one
    queue.post_book(0, "BTC_USDT.swap", 9.9, 10.0, 1001)   # another venue's book: its own event
    assert queue.pending() == 3
    first = queue.take(-1)
    assert (first.Seq, first.Event, first.Index, first.Symbol, first.Buy, first.Sell, first.Time) == \
        (1, "Book", 1, "BTC_USDT.swap", 10.2, 10.3, 1001)
    assert queue.take(-1).Event == "Dial"
    assert (queue.take(-1).Index, queue.take(-1)) == (0, None)
    queue.post_book(1, "BTC_USDT.swap", 10.4, 10.5, 1002)  # taken before: a new event
    assert queue.take(-1).Buy == 10.4
