import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fmz_compat.__main__ import config_from_args, main
from fmz_compat.dashboard.cli import run_with_dashboard
from fmz_compat.dashboard.reader import RobotReader, status_blocks
from fmz_compat.dashboard.server import DashboardConfig, DashboardServer, is_loopback, parse_listen
from fmz_compat.store import RobotStore


def request(url: str, *, data: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Dashboard-Token"] = token
    body = json.dumps(data).encode() if data is not None else None
    method = "POST" if data is not None else "GET"
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("text, expected", [
    ("8765", ("127.0.0.1", 8765)), ("0.0.0.0:0", ("0.0.0.0", 0)),
    ("[::1]:9000", ("::1", 9000)), ("localhost:80", ("localhost", 80))])
def test_parse_listen(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["", "x", "1.2.3.4:http", "70000", "-1"])
def test_parse_listen_rejects_with_the_fix(text):
    with pytest.raises(ValueError, match=r"\[HOST:\]PORT"):
        parse_listen(text)


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


def test_off_loopback_a_token_is_made_and_required(tmp_path):
    printed: list[str] = []
    server = DashboardServer(DashboardConfig(host="0.0.0.0", port=0), out=printed.append)
    server.start()
    try:
        assert server.token and any(server.token in line for line in printed)
        base = f"http://127.0.0.1:{server.port}"
        assert request(base + "/api/state")[0] == 401
        assert request(base + "/api/command", data={"command": "reduce"})[0] == 401
        assert request(base + "/api/command", data={"command": "reduce"}, token="wrong-token")[0] == 401
        status, body = request(base + "/api/state", token=server.token)
        assert status == 200 and body["token_required"] is True
        # no robot attached: buttons are refused with a reason even with the token
        status, body = request(base + "/api/command", data={"command": "reduce"}, token=server.token)
        assert status == 409 and "--dashboard" in body["error"]
        with urllib.request.urlopen(base + "/", timeout=10) as page:  # the page itself loads
            assert b"/static/echarts.min.js" in page.read()
    finally:
        server.stop()


def test_folder_view_reads_logs_with_filters_and_is_read_only(tmp_path):
    robot_dir = tmp_path / "7"
    store = RobotStore(robot_dir / "7.db3")
    for i in range(30):
        store.append_log(5 if i % 3 else 3, f"line {i}", 1_700_000_000_000 + i, eid=i % 2)
    store.set_status('hello #ff0000\n`{"type": "button", "cmd": "go", "name": "Go"}`')
    store.set_chart_config({"title": {"text": "c"}, "series": [{"name": "a"}]})
    store.append_chart_point(0, 1_700_000_000_000, [1_700_000_000_000, 1.0])
    store.append_profit(1_700_000_000_000, 2.0)
    store.close()
    (robot_dir / "run.json").write_text(json.dumps({
        "exit_code": 1, "ended_by": "uncaught exception",
        "config": {"mode": "backtest", "strategy_path": "/x/s.py", "bindings": [{"eid": "Futures_OKX"}]}}))
    server = DashboardServer(DashboardConfig(port=0), out=lambda line: None)
    server.open_folder(robot_dir)
    server.start()
    try:
        base = server.url.rstrip("/")
        state = request(base + "/api/state")[1]
        assert state["state"] == "error" and state["robot_id"] == 7 and state["venues"] == ["Futures_OKX"]
        assert state["commands"] is False
        logs = request(base + "/api/logs?limit=5&offset=5")[1]
        assert logs["total"] == 30
        assert [r["Extra"] for r in logs["rows"]] == [f"line {i}" for i in range(24, 19, -1)]
        errors = request(base + "/api/logs?types=3&venue=1&text=LINE%201")[1]
        assert {r["Extra"] for r in errors["rows"]} == {"line 15"}  # error rows (i % 3 == 0) on Eid 1
        status = request(base + "/api/status")[1]
        assert [b["kind"] for b in status["blocks"]] == ["text", "button"]
        charts = request(base + "/api/charts")[1]
        assert charts["figures"][0]["series"][0]["data"] == [[1_700_000_000_000, 1.0]]
        assert charts["profit"]["series"][0]["data"] == [[1_700_000_000_000, 2.0]]
        assert request(base + "/api/logs?limit=abc")[0] == 400
        assert request(base + "/api/command", data={"command": "go"})[0] == 409
    finally:
        server.stop()


def test_reader_sees_commits_of_a_live_writer_and_versions_move(tmp_path):
    store = RobotStore(tmp_path / "1.db3", flush_interval_s=60)
    reader = RobotReader(tmp_path / "1.db3")
    before = reader.versions()
    store.append_chart_point(0, 1, [1, 1.0])
    store.flush()
    after = reader.versions()
    assert after["chart"] != before["chart"]
    store.replace_last_chart_point(0, 2, [2, 5.0])
    store.flush()
    assert reader.versions()["chart"] != after["chart"]
    assert reader.chart_points() == {0: [[2, 5.0]]}
    store.close()


def test_status_blocks_keep_tables_and_find_buttons():
    table = {"type": "table", "title": "T", "cols": ["a"], "rows": [[1]]}
    blocks = status_blocks("top\n`" + json.dumps([table, table]) + "`\n`{\"type\":\"button\",\"cmd\":\"x\"}`")
    assert [b["kind"] for b in blocks] == ["text", "tables", "button"]
    assert blocks[2]["button"]["cmd"] == "x"


def test_cli_rejects_bad_dashboard_input(tmp_path, capsys):
    assert main(["dashboard", str(tmp_path / "missing")]) == 2
    assert "robot folder" in capsys.readouterr().err
    assert main(["dashboard", str(tmp_path), "--listen", "nope"]) == 2
    assert "[HOST:]PORT" in capsys.readouterr().err
    assert main(["dashboard", str(tmp_path), "--listen", "0"]) == 2  # a folder without a db
    assert "*.db3" in capsys.readouterr().err
    strategy = Path(__file__).with_name("button_strategy.py")
    assert main(["backtest", str(strategy), "--dashboard", "0", "--dashboard-token", "short"]) == 2
    assert "at least 8" in capsys.readouterr().err


@pytest.mark.slow
def test_live_robot_receives_a_command_over_http(live_robot):
    base = live_robot.url.rstrip("/")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not request(base + "/api/status")[1]["blocks"]:
        time.sleep(0.2)
    status, body = request(base + "/api/command", data={"command": "ping"})
    assert status == 202 and body == {"queued": "ping"}
    while time.monotonic() < deadline:
        rows = request(base + "/api/logs?text=command%20received")[1]["rows"]
        if rows:
            break
        time.sleep(0.2)
    assert any(r["Extra"] == "command received: ping" for r in rows)


def test_long_series_are_aggregated_in_sql_keeping_ends_and_spikes(tmp_path):
    store = RobotStore(tmp_path / "1.db3")
    for i in range(6000):
        store.append_chart_point(0, i, [i, 1e6 if i == 4321 else float(i % 50)])
        store.append_chart_point(1, i, [i, 1.0, 2.0, 0.5, 1.5] if i % 2 else {"x": i, "y": 2.0})
    store.append_chart_point(2, 0, [0, 1.0])
    store.close()
    points = RobotReader(tmp_path / "1.db3").chart_points(max_points=300)
    assert len(points[0]) <= 300
    assert points[0][0] == [0, 0.0] and points[0][-1] == [5999, 49.0]
    assert [4321, 1e6] in points[0] and min(p[1] for p in points[0]) == 0.0
    assert [p[0] for p in points[0]] == sorted(p[0] for p in points[0])
    assert len(points[1]) == 6000  # not [x, y] rows: left whole for the converter to aggregate
    assert points[2] == [[0, 1.0]]


def test_backtest_with_dashboard_flag_serves_then_reports_the_end(tmp_path):
    strategy = Path(__file__).with_name("button_strategy.py")
    argv = ["backtest", str(strategy), "--duration", "10m", "--venues", "binance", "--out", str(tmp_path),
            "--quiet", "--dashboard", "127.0.0.1:0"]
    config, source = config_from_args(argv)
    lines: list[str] = []
    assert run_with_dashboard(config, source, "127.0.0.1:0", None, linger=False, out=lines.append) == 0
    assert any(line.startswith("dashboard: http://127.0.0.1:") for line in lines)
    assert not any("token" in line for line in lines)  # loopback without a token: none made
    assert (tmp_path / "1" / "run.json").is_file()


def test_cross_site_command_posts_are_refused(live_robot):
    url = live_robot.url + "api/command"

    def post(headers: dict[str, str]) -> int:
        req = urllib.request.Request(url, data=b'{"command": "ping"}', headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert post({"Content-Type": "text/plain"}) == 403  # a plain form/fetch from another site
    assert post({"Content-Type": "application/json", "Origin": "http://evil.example"}) == 403
    assert post({"Content-Type": "application/json", "Host": "evil.example:80"}) == 403  # DNS rebinding
    assert post({"Content-Type": "application/json", "Origin": live_robot.url.rstrip("/")}) == 202
    req = urllib.request.Request(live_robot.url + "api/status", headers={"Host": "rebound.example"})
    with pytest.raises(urllib.error.HTTPError, match="403"):
        urllib.request.urlopen(req, timeout=10)
