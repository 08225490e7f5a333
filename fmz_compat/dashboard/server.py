"""The robot page server: stdlib ThreadingHTTPServer, JSON endpoints and server-sent events.

GET  /                      the page (static/index.html, app.js, app.css, echarts.min.js)
GET  /api/state             robot id, mode, state (starting|running|stopped|error), venues, auth needs
GET  /api/status            LogStatus text split into text/tables/button blocks
GET  /api/charts            Chart() figures and the LogProfit figure (ECharts JSON, aggregated)
GET  /api/logs              ?offset&limit&types=0,1&venue=0&text=: newest first, with the total
POST /api/command           {"command": "..."}: queued for the strategy's GetCommand()
GET  /api/events            server-sent events: {"versions": {...}} whenever a part changed

A token, when set (always, off loopback), is needed for every /api/ call: header
`X-Dashboard-Token`, or `?token=` (EventSource cannot send headers). It is compared in constant
time and never written to the robot log.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import mimetypes
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fmz_compat.charts import DEFAULT_MAX_POINTS, figures_from_config, profit_figure
from fmz_compat.dashboard.reader import RobotReader

STATIC = Path(__file__).resolve().parent / "static"
TOKEN_ENV = "FMZ_DASHBOARD_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
EVENT_POLL_S = 0.5
MAX_COMMAND_CHARS = 1024
_STATIC_FILES = {"/": "index.html", "/index.html": "index.html", "/static/app.js": "app.js",
                 "/static/app.css": "app.css", "/static/echarts.min.js": "echarts.min.js",
                 "/static/echarts.LICENSE": "echarts.LICENSE"}


def parse_listen(text: str) -> tuple[str, int]:
    """'[HOST:]PORT' -> (host, port); ValueError naming the fix."""
    raw = str(text).strip()
    host, sep, port_text = raw.rpartition(":")
    if not sep:
        host, port_text = DEFAULT_HOST, raw
    host = host.strip("[]") or DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ValueError(f"dashboard address {text!r} must be [HOST:]PORT with PORT 0-65535, e.g. 8765 or "
                         "127.0.0.1:8765")
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class DashboardConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None  # required off loopback: one is generated when not given
    max_points: int = DEFAULT_MAX_POINTS


@dataclass
class RobotInfo:
    """What the page header shows; the state moves starting -> running -> stopped | error."""

    robot_id: int | None = None
    mode: str = ""
    strategy: str = ""
    venues: list[str] = field(default_factory=list)
    state: str = "starting"
    ended_by: str = ""
    exit_code: int | None = None


class DashboardServer:
    """Serves one robot's page. `attach(runtime)` (the runner's on_runtime hook) points it at a live
    robot and enables commands; `open_folder(dir)` serves a finished (or foreign) robot read-only."""

    def __init__(self, config: DashboardConfig, *, out: Callable[[str], None] = print) -> None:
        token = config.token
        if token is None and not is_loopback(config.host):
            token = secrets.token_urlsafe(18)
        self.config = config
        self.token = token
        self.info = RobotInfo()
        self._out = out
        self._reader: RobotReader | None = None
        self._send_command: Callable[[str], None] | None = None
        self._chart_cache: tuple[str, dict[str, Any]] | None = None
        self._next_build = 0.0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---
    def start(self) -> str:
        """Bind and serve in a daemon thread; prints the address (and the token, once) to `out`."""
        handler = type("Handler", (_Handler,), {"dashboard": self})
        self._httpd = ThreadingHTTPServer((self.config.host, self.config.port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="dashboard", daemon=True)
        self._thread.start()
        self._out(f"dashboard: {self.url}")
        if self.token is not None and self.config.token is None:
            self._out(f"dashboard token (shown once; open {self.url}#token={self.token})")
        return self.url

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self.config.port

    @property
    def url(self) -> str:
        host = self.config.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
        shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
        return f"http://{shown}:{self.port}/"

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # --- what it serves ---
    def attach(self, runtime: Any, *, mode: str = "", strategy: str = "",
               venues: list[str] | None = None) -> None:
        """Serve a live robot: its db, and its command queue for buttons."""
        with self._lock:
            self._reader = RobotReader(runtime.store.path)
            self._send_command = runtime.send_command
            self.info.robot_id = runtime.robot_id
            self.info.mode = mode or self.info.mode
            self.info.strategy = strategy or self.info.strategy
            self.info.venues = list(venues) if venues is not None else self.info.venues
            self.info.state = "running"

    def finished(self, exit_code: int, ended_by: str) -> None:
        with self._lock:
            self.info.state = "stopped" if exit_code == 0 else "error"
            self.info.exit_code, self.info.ended_by = exit_code, ended_by
            self._send_command = None

    def open_folder(self, robot_dir: Path) -> None:
        """A robot folder (runs/<id>/): read-only; the state comes from run.json when the run ended."""
        robot_dir = Path(robot_dir)
        dbs = sorted(robot_dir.glob("*.db3"))
        if not dbs:
            raise ValueError(f"{robot_dir} holds no robot db (*.db3): pass a robot folder such as runs/1")
        run_json = robot_dir / "run.json"
        with self._lock:
            self._reader = RobotReader(dbs[0])
            self._run_json = run_json
            self.info.robot_id = int(dbs[0].stem) if dbs[0].stem.isdigit() else None
            self._refresh_folder_state()

    def _refresh_folder_state(self) -> None:
        run_json = getattr(self, "_run_json", None)
        if run_json is None or self._send_command is not None:
            return
        if not run_json.is_file():
            self.info.state = "running"  # the runtime writes run.json when the robot stops
            self.info.ended_by = "(no run.json yet: running elsewhere or killed)"
            self._identity_from(run_json.parent / "robot.json")
            return
        try:
            data = json.loads(run_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        config = data.get("config") or {}
        self.info.mode = str(config.get("mode", ""))
        self.info.strategy = Path(str(config.get("strategy_path", ""))).name
        self.info.venues = [str(b.get("eid", "")) for b in config.get("bindings") or []]
        self.info.exit_code = data.get("exit_code")
        self.info.ended_by = str(data.get("ended_by", ""))
        self.info.state = "stopped" if data.get("exit_code") == 0 else "error"

    def _identity_from(self, robot_json: Path) -> None:
        """A robot still running: its strategy, mode and venue names from robot.json (written at start)."""
        try:
            data = json.loads(robot_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        node = f" (node {data['node']})" if data.get("node") else ""
        self.info.mode = f"{data.get('mode', '')}{node}"
        self.info.strategy = str(data.get("strategy", ""))
        self.info.venues = [str(v) for v in data.get("venues") or []]

    # --- API bodies ---
    def state(self) -> dict[str, Any]:
        with self._lock:
            self._refresh_folder_state()
            info = self.info
            return {"robot_id": info.robot_id, "mode": info.mode, "strategy": info.strategy,
                    "venues": info.venues, "state": info.state, "ended_by": info.ended_by,
                    "exit_code": info.exit_code, "commands": self._send_command is not None,
                    "token_required": self.token is not None}

    def reader(self) -> RobotReader | None:
        with self._lock:
            reader = self._reader
        return reader if reader is not None and reader.exists() else None

    def charts(self, max_points: int | None = None) -> dict[str, Any]:
        reader = self.reader()
        if reader is None:
            return {"figures": [], "profit": None}
        points = max_points or self.config.max_points
        versions = reader.versions()
        key = f"{versions['chart']}|{versions['profit']}|{points}"
        cached = self._chart_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        if cached is not None and cached[0].endswith(f"|{points}") and time.monotonic() < self._next_build:
            return cached[1]  # a huge chart costs a moment to rebuild: not more than a fifth of the time
        started = time.monotonic()
        config = reader.cfg("chart")
        profits = reader.profits()
        body = {"figures": figures_from_config(config, reader.chart_points(points), points) if config else [],
                "profit": profit_figure(profits, points) if profits else None}
        self._chart_cache = (key, body)
        self._next_build = time.monotonic() + 4 * (time.monotonic() - started)
        return body

    def command(self, text: str) -> tuple[HTTPStatus, dict[str, Any]]:
        text = str(text)
        if not text or len(text) > MAX_COMMAND_CHARS:
            return HTTPStatus.BAD_REQUEST, {"error": f"a command is 1 to {MAX_COMMAND_CHARS} characters"}
        with self._lock:
            send = self._send_command
        if send is None:
            return HTTPStatus.CONFLICT, {"error": "this robot is not running in this process: "
                                                  "start it with --dashboard to use buttons"}
        send(text)
        return HTTPStatus.ACCEPTED, {"queued": text}

    def authorized(self, presented: str | None) -> bool:
        if self.token is None:
            return True
        return presented is not None and hmac.compare_digest(presented.encode(), self.token.encode())


class _Handler(BaseHTTPRequestHandler):
    dashboard: DashboardServer
    server_version = "fmz-compat-dashboard"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet, and no token in logs
        return None

    # --- plumbing ---
    def _send(self, status: HTTPStatus, body: bytes, content_type: str, *, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: HTTPStatus, data: Any) -> None:
        self._send(status, json.dumps(data, default=str, allow_nan=False).encode(), "application/json")

    def _query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def _authorized(self) -> bool:
        presented = self.headers.get("X-Dashboard-Token") or self._query().get("token")
        if self.dashboard.authorized(presented):
            return True
        self._json(HTTPStatus.UNAUTHORIZED, {"error": "this dashboard needs its token: open the address "
                                                      "printed at start (…#token=...)"})
        return False

    # --- routes ---
    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path in _STATIC_FILES:
            file = STATIC / _STATIC_FILES[path]
            ctype = mimetypes.guess_type(file.name)[0] or "text/plain"
            self._send(HTTPStatus.OK, file.read_bytes(), f"{ctype}; charset=utf-8",
                       cache=file.name.startswith("echarts"))
            return
        if not path.startswith("/api/"):
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page {path}"})
            return
        if not self._host_ok():
            self._json(HTTPStatus.FORBIDDEN, {"error": "open the dashboard by its loopback address"})
            return
        if not self._authorized():
            return
        try:
            self._api_get(path)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except ValueError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})

    def _api_get(self, path: str) -> None:
        dash, q = self.dashboard, self._query()
        reader = dash.reader()
        if path == "/api/state":
            self._json(HTTPStatus.OK, dash.state())
        elif path == "/api/status":
            self._json(HTTPStatus.OK, reader.status() if reader else {"text": "", "blocks": []})
        elif path == "/api/charts":
            self._json(HTTPStatus.OK, dash.charts(_int(q, "max_points", 0, 0, 100_000) or None))
        elif path == "/api/logs":
            types = [int(t) for t in q.get("types", "").split(",") if t.strip().lstrip("-").isdigit()]
            venue = q.get("venue", "")
            body = reader.logs(offset=_int(q, "offset", 0, 0, 10**9), limit=_int(q, "limit", 50, 1, 1000),
                               log_types=types, venue=int(venue) if venue.isdigit() else None,
                               text=q.get("text", "")[:200]) if reader else {"total": 0, "rows": []}
            self._json(HTTPStatus.OK, body)
        elif path == "/api/events":
            self._events()
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint {path}"})

    def _host_ok(self) -> bool:
        """On a loopback bind, only loopback Host names: a rebinding DNS name cannot read the robot."""
        if not is_loopback(self.dashboard.config.host):
            return True
        return is_loopback(_host_name((self.headers.get("Host") or "").lower()))

    def _same_origin(self) -> bool:
        """Refuse what another web site could make a browser send here: a cross-site form or fetch
        (Origin differs from Host; JSON content type forces a CORS preflight we never answer), and
        DNS rebinding on a loopback bind (a Host that is not a loopback name)."""
        host = (self.headers.get("Host") or "").lower()
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc.lower() != host:
            return False
        if not self._host_ok():
            return False
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        return content_type == "application/json"

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path != "/api/command":
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint {path}"})
            return
        if not self._same_origin():
            self._json(HTTPStatus.FORBIDDEN, {"error": "commands are accepted from this page only "
                                                       "(same origin, JSON body)"})
            return
        if not self._authorized():
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(min(length, 64_000)) or b"{}")
            text = data["command"] if isinstance(data, dict) else None
        except (ValueError, KeyError):
            text = None
        if not isinstance(text, str):
            self._json(HTTPStatus.BAD_REQUEST, {"error": 'send {"command": "..."} as JSON'})
            return
        status, body = self.dashboard.command(text)
        self._json(status, body)

    def _events(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        last: dict[str, Any] = {}
        idle = 0.0
        try:
            while self.dashboard._httpd is not None:
                reader = self.dashboard.reader()
                versions: dict[str, Any] = reader.versions() if reader else {}
                versions["state"] = json.dumps(self.dashboard.state(), sort_keys=True)
                if versions != last or idle >= 15:
                    self.wfile.write(f"data: {json.dumps({'versions': versions})}\n\n".encode())
                    self.wfile.flush()
                    last, idle = versions, 0.0
                time.sleep(EVENT_POLL_S)
                idle += EVENT_POLL_S
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


def _host_name(host_header: str) -> str:
    """'127.0.0.1:8765' -> '127.0.0.1', '[::1]:8765' -> '::1', 'localhost' -> 'localhost'."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _int(q: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = q.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} must be an integer") from None
    if not low <= value <= high:
        raise ValueError(f"{key}={value} must be between {low} and {high}")
    return value
