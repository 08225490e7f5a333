"""Alerts (issue #22): `Log("...@")` in paper and live reaches a Telegram bot and a webhook, rate-limited,
recorded in alerts.jsonl, secrets never written.

A real HTTP server on loopback stands in for both endpoints. The Telegram side follows the Bot API's
sendMessage as its documentation gives it (https://core.telegram.org/bots/api#sendmessage): POST
/bot<token>/sendMessage with a JSON body holding chat_id and text (1-4096 characters); the answer is
{"ok": true, "result": <Message>} or, on failure, {"ok": false, "error_code": N, "description": "..."}.
"""

from __future__ import annotations

import json
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fmz_compat.__main__ import main
from fmz_compat.alerts import AlertsConfigError, Notifier, load_config, read_alerts
from fmz_compat.report import render_report
from fmz_compat.store import RobotStore

TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
CHAT = "-1001234567890"


class Endpoints:
    """Telegram's sendMessage and a webhook, on one loopback server; what they received."""

    def __init__(self) -> None:
        self.telegram: list[dict] = []
        self.webhook: list[dict] = []
        self.refuse_telegram = False
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert self.headers["Content-Type"] == "application/json"
                if self.path == f"/bot{TOKEN}/sendMessage":
                    if owner.refuse_telegram:
                        return self._answer(401, {"ok": False, "error_code": 401,
                                                  "description": f"Unauthorized: bot{TOKEN} revoked"})
                    assert set(body) == {"chat_id", "text"} and 1 <= len(body["text"]) <= 4096
                    owner.telegram.append(body)
                    return self._answer(200, {"ok": True, "result": {
                        "message_id": len(owner.telegram), "date": 1_700_000_000, "text": body["text"],
                        "chat": {"id": int(body["chat_id"]), "type": "supergroup"}}})
                if self.path == "/hook/s3cr3t":
                    owner.webhook.append(body)
                    return self._answer(204, None)
                return self._answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})

            def _answer(self, status: int, body: dict | None) -> None:
                raw = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts_file(self, folder: Path, interval: float = 20) -> Path:
        path = folder / "alerts.json"
        path.write_text(json.dumps({"telegram": {"bot_token": TOKEN, "chat_id": CHAT, "api_base": self.url},
                                    "webhook": {"url": f"{self.url}/hook/s3cr3t"},
                                    "min_interval_s": interval}))
        return path


@pytest.fixture
def endpoints():
    server = Endpoints()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_pushes_reach_both_channels_at_most_one_message_per_interval(endpoints, tmp_path):
    wall = [100.0]
    notifier = Notifier(load_config(endpoints.alerts_file(tmp_path)), tmp_path / "alerts.jsonl",
                        robot="robot 7", wall=lambda: wall[0], now_ms=lambda: 1_000)
    notifier.push("STOP level 1 on okx: distance 38 %")
    notifier.push("trading state ACTIVE -> HALTED: reconcile")  # 0 s later: suppressed
    wall[0] += 25
    notifier.push("cluster: node tokyo lost")
    notifier.close()
    assert [m["text"] for m in endpoints.telegram] == [
        "[robot 7] STOP level 1 on okx: distance 38 %",
        "[robot 7] cluster: node tokyo lost\n(+1 more alert(s) since the last message: see alerts.jsonl)"]
    assert all(m["chat_id"] == CHAT for m in endpoints.telegram)
    assert [m["text"] for m in endpoints.webhook] == [m["text"] for m in endpoints.telegram]
    rows = read_alerts(tmp_path)
    assert [r["outcome"] for r in sorted(rows, key=lambda r: r["text"])] == [
        "telegram sent; webhook sent", "telegram sent; webhook sent",
        "suppressed (rate limit: one message per 20 s)"]
    assert TOKEN not in (tmp_path / "alerts.jsonl").read_text()


def test_a_refused_or_unreachable_channel_is_recorded_without_the_secret(endpoints, tmp_path):
    endpoints.refuse_telegram = True
    notifier = Notifier(load_config(endpoints.alerts_file(tmp_path, interval=0)), tmp_path / "alerts.jsonl")
    notifier.push("treasury: withdrawal stuck")
    notifier.close()
    dead = tmp_path / "dead.json"
    dead.write_text(json.dumps({"webhook": {"url": "http://127.0.0.1:9/hook/s3cr3t"}}))
    gone = Notifier(load_config(dead), tmp_path / "alerts.jsonl")
    gone.push("loose leg on okx")
    gone.close()
    outcomes = [r["outcome"] for r in read_alerts(tmp_path)]
    assert outcomes[0].startswith("telegram failed: HTTP 401 Unauthorized: bot*** revoked; webhook sent")
    assert outcomes[1].startswith("webhook failed: unreachable")
    text = (tmp_path / "alerts.jsonl").read_text()
    assert TOKEN not in text and "s3cr3t" not in text


def test_bad_alerts_files_are_one_line_errors(tmp_path):
    cases = [({"telegram": {"bot_token": TOKEN}}, "needs both"),
             ({"webhook": {"url": "ftp://x"}}, "must start with https://"),
             ({}, "names no channel"),
             ({"webhook": {"url": "https://x"}, "min_interval_s": -1}, "min_interval_s")]
    for document, expected in cases:
        path = tmp_path / "a.json"
        path.write_text(json.dumps(document))
        with pytest.raises(AlertsConfigError, match=expected) as caught:
            load_config(path)
        assert TOKEN not in str(caught.value) and "\n" not in str(caught.value)


PUSHER = textwrap.dedent("""
    def main():
        Log("STOP level 1 on okx: closing 25 % #ff9900@")
        Log("an ordinary line")
        Log("trading state ACTIVE -> HALTED: reconcile #ff0000@")
""")


def test_a_paper_robots_pushes_go_out_and_report_html_lists_them(endpoints, tmp_path, monkeypatch, capsys):
    strategy = tmp_path / "pusher.py"
    strategy.write_text(PUSHER)
    monkeypatch.setenv("FMZ_ALERTS", str(endpoints.alerts_file(tmp_path)))
    assert main(["paper", str(strategy), "--out", str(tmp_path / "runs"), "--quiet"]) == 0
    robot = tmp_path / "runs" / "1"
    assert [m["text"] for m in endpoints.telegram] == ["[robot 1] STOP level 1 on okx: closing 25 %"]
    rows = read_alerts(robot)
    assert [r["text"] for r in rows] == ["STOP level 1 on okx: closing 25 %",
                                         "trading state ACTIVE -> HALTED: reconcile"]
    page = (robot / "report.html").read_text()
    assert "<h2>Alerts (2)</h2>" in page and "suppressed (rate limit" in page
    out = capsys.readouterr().out
    assert f"alerts  2 fired (1 sent, 1 suppressed): {robot / 'alerts.jsonl'}" in out
    assert TOKEN not in page and TOKEN not in out


def test_a_backtest_never_pushes(endpoints, tmp_path, monkeypatch):
    strategy = tmp_path / "pusher.py"
    strategy.write_text(PUSHER)
    monkeypatch.setenv("FMZ_ALERTS", str(endpoints.alerts_file(tmp_path)))
    assert main(["backtest", str(strategy), "--duration", "1h", "--out", str(tmp_path / "runs"),
                 "--quiet"]) == 0
    assert endpoints.telegram == [] and read_alerts(tmp_path / "runs" / "1") == []
    store = RobotStore(tmp_path / "runs" / "1" / "1.db3")
    assert "Alerts" not in render_report(store, {"config": {}}, inline_js=False)
    store.close()
