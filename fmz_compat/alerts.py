"""Alerts where the operator is: `Log("...@")` pushes, delivered to a Telegram bot and/or a webhook.

On FMZ a log line ending in `@` is pushed by the platform (email, app, webhook it configures). Locally
(paper and live; a backtest never pushes) the runtime hands every such line to `Notifier.push`, which
sends it to the channels of an alerts file and records each alert, with what became of it, in the
robot folder's `alerts.jsonl`: the one place that says which alerts fired (report.html lists them).

The alerts file (JSON; its path in env FMZ_ALERTS; keep it beside your keys file, never in PARAMS):

    {"telegram": {"bot_token": "123456:ABC...", "chat_id": "-1001234567890"},
     "webhook": {"url": "https://hooks.example.net/xyz"},
     "min_interval_s": 20}

Telegram: Bot API `sendMessage` (https://core.telegram.org/bots/api#sendmessage: POST
https://api.telegram.org/bot<token>/sendMessage, JSON {"chat_id", "text"} of 1-4096 characters, answer
{"ok": true, "result": Message} or {"ok": false, "error_code", "description"}). Webhook: POST of JSON
{"text", "robot", "time_ms"}; any 2xx answer counts as delivered.

Rate limit, like FMZ's own push (one per 20 s): at most one message per `min_interval_s`; alerts in
between are recorded as suppressed and the next message says how many. Secrets (the bot token, the
webhook URL's path and query) never reach a log line, an exception message or alerts.jsonl.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENV_FILE = "FMZ_ALERTS"
TELEGRAM_API = "https://api.telegram.org"
TELEGRAM_MAX_TEXT = 4096
DEFAULT_MIN_INTERVAL_S = 20.0
SEND_TIMEOUT_S = 10.0


class AlertsConfigError(ValueError):
    """A bad alerts file: one line naming the key and the fix (never its secrets)."""


@dataclass(frozen=True)
class AlertsConfig:
    telegram_token: str = ""
    telegram_chat_id: str = ""
    telegram_api: str = TELEGRAM_API  # a stand-in server in tests
    webhook_url: str = ""
    min_interval_s: float = DEFAULT_MIN_INTERVAL_S

    def channels(self) -> list[str]:
        return [name for name, on in (("telegram", self.telegram_token), ("webhook", self.webhook_url)) if on]

    def __repr__(self) -> str:  # never the token or the webhook's secret path
        return f"AlertsConfig(channels={self.channels()}, min_interval_s={self.min_interval_s:g})"


def load_config(path: Path) -> AlertsConfig:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AlertsConfigError(f"alerts file {path}: cannot read it ({exc.strerror}): check the "
                                "path") from None
    except ValueError as exc:
        raise AlertsConfigError(f"alerts file {path} is not valid JSON (line {getattr(exc, 'lineno', '?')}): "
                                "fix it (see docs/live.md, Alerts)") from None
    if not isinstance(document, dict):
        raise AlertsConfigError(f"alerts file {path} must be a JSON object with \"telegram\" and/or "
                                "\"webhook\"")
    telegram, webhook = document.get("telegram") or {}, document.get("webhook") or {}
    if not isinstance(telegram, dict) or not isinstance(webhook, dict):
        raise AlertsConfigError(f"alerts file {path}: \"telegram\" and \"webhook\" must be objects")
    token, chat = str(telegram.get("bot_token") or ""), str(telegram.get("chat_id") or "")
    if bool(token) != bool(chat):
        raise AlertsConfigError(f"alerts file {path}: telegram needs both \"bot_token\" and \"chat_id\"")
    url = str(webhook.get("url") or "")
    if url and urlsplit(url).scheme not in ("http", "https"):
        raise AlertsConfigError(f"alerts file {path}: webhook.url must start with https:// (or http://)")
    interval = document.get("min_interval_s", DEFAULT_MIN_INTERVAL_S)
    if not isinstance(interval, (int, float)) or isinstance(interval, bool) or interval < 0:
        raise AlertsConfigError(f"alerts file {path}: min_interval_s must be zero or a positive number of "
                                "seconds (default 20)")
    if not token and not url:
        raise AlertsConfigError(f"alerts file {path} names no channel: add \"telegram\" {{\"bot_token\", "
                                "\"chat_id\"}} or \"webhook\" {\"url\"}")
    return AlertsConfig(telegram_token=token, telegram_chat_id=chat,
                        telegram_api=str(telegram.get("api_base") or TELEGRAM_API).rstrip("/"),
                        webhook_url=url, min_interval_s=float(interval))


def config_from_env(env: Any = None) -> AlertsConfig | None:
    path = (env if env is not None else os.environ).get(ENV_FILE)
    return load_config(Path(path)) if path else None


def _post_json(url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_S) as answer:  # noqa: S310 - https or loopback
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _safe_error(exc: BaseException) -> str:
    """What went wrong, without the URL (it holds the bot token or the webhook's secret)."""
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return f"unreachable ({getattr(reason, 'strerror', None) or type(reason).__name__})"
    return type(exc).__name__


class Notifier:
    """Delivers pushes to the configured channels from a background thread (the strategy never waits),
    at most one message per min_interval_s, and records every alert in `record_path` (JSON lines)."""

    def __init__(self, config: AlertsConfig | None, record_path: Path | None, *, robot: str = "",
                 post: Callable[[str, dict[str, Any]], tuple[int, bytes]] = _post_json,
                 wall: Callable[[], float] = time.monotonic, now_ms: Callable[[], int] | None = None) -> None:
        self.config = config
        self.record_path = record_path
        self.robot = robot
        self._post = post
        self._wall = wall
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._last_sent: float | None = None
        self._suppressed = 0
        self._lock = threading.Lock()
        self._file_lock = threading.Lock()
        self._queue: queue.Queue[tuple[dict[str, Any], str | None] | None] = queue.Queue()
        self._worker: threading.Thread | None = None

    def push(self, text: str) -> None:
        """A `Log("...@")` line (without the @): recorded now, sent or suppressed by the rate limit."""
        entry: dict[str, Any] = {"time_ms": self._now_ms(), "text": text}
        with self._lock:
            now = self._wall()
            message: str | None = None
            if self.config is None or not self.config.channels():
                entry["outcome"] = "recorded (no alerts file: set FMZ_ALERTS)"
            elif self._last_sent is not None and now - self._last_sent < self.config.min_interval_s:
                self._suppressed += 1
                interval = self.config.min_interval_s
                entry["outcome"] = f"suppressed (rate limit: one message per {interval:g} s)"
            else:
                message = text
                if self._suppressed:
                    message += (f"\n(+{self._suppressed} more alert(s) since the last message: "
                                "see alerts.jsonl)")
                self._suppressed, self._last_sent = 0, now
            self._ensure_worker()  # records in push order, after delivering what is to be sent
            self._queue.put((entry, message))

    def _ensure_worker(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="alerts", daemon=True)
            self._worker.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            entry, message = item
            if message is not None:
                entry["outcome"] = self._deliver(message)
            self._record(entry)
            self._queue.task_done()

    def _deliver(self, message: str) -> str:
        assert self.config is not None
        results = []
        if self.config.telegram_token:
            results.append("telegram " + self._send_telegram(message))
        if self.config.webhook_url:
            results.append("webhook " + self._send_webhook(message))
        return "; ".join(results)

    def _send_telegram(self, message: str) -> str:
        cfg = self.config
        assert cfg is not None
        url = f"{cfg.telegram_api}/bot{cfg.telegram_token}/sendMessage"
        body = {"chat_id": cfg.telegram_chat_id, "text": self._prefixed(message)[:TELEGRAM_MAX_TEXT]}
        try:
            status, raw = self._post(url, body)
        except Exception as exc:  # noqa: BLE001 - a failed alert must never stop the strategy
            return f"failed: {_safe_error(exc)}"
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {}
        if status == 200 and answer.get("ok") is True:
            return "sent"
        description = str(answer.get("description") or "").replace(cfg.telegram_token, "***")
        return f"failed: HTTP {status} {description}".rstrip()

    def _send_webhook(self, message: str) -> str:
        cfg = self.config
        assert cfg is not None
        try:
            status, _raw = self._post(cfg.webhook_url, {"text": self._prefixed(message), "robot": self.robot,
                                                        "time_ms": self._now_ms()})
        except Exception as exc:  # noqa: BLE001
            return f"failed: {_safe_error(exc)}"
        return "sent" if 200 <= status < 300 else f"failed: HTTP {status}"

    def _prefixed(self, message: str) -> str:
        return f"[{self.robot}] {message}" if self.robot else message

    def _record(self, entry: dict[str, Any]) -> None:
        if self.record_path is None:
            return
        with self._file_lock, open(self.record_path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def close(self, timeout_s: float = SEND_TIMEOUT_S + 2) -> None:
        """Deliver what is queued (bounded wait), then stop the worker."""
        if self._worker is None:
            return
        self._queue.put(None)
        self._worker.join(timeout_s)
        self._worker = None


def read_alerts(robot_dir: Path) -> list[dict[str, Any]]:
    """The alerts a run fired, oldest first (alerts.jsonl in its robot folder)."""
    path = robot_dir / "alerts.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def notifier_for_run(robot_dir: Path, robot: str, alerts_file: Path | None = None,
                     now_ms: Callable[[], int] | None = None) -> Notifier:
    """The runtime's `on_push` for a paper or live robot: the alerts file given (or env FMZ_ALERTS)."""
    config = load_config(alerts_file) if alerts_file is not None else config_from_env()
    return Notifier(config, robot_dir / "alerts.jsonl", robot=robot, now_ms=now_ms)


def summary_line(robot_dir: Path) -> list[str]:
    """The run summary's line about alerts (none when nothing was pushed)."""
    rows = read_alerts(robot_dir)
    if not rows:
        return []
    sent = sum(1 for r in rows if " sent" in str(r.get("outcome", "")))
    suppressed = sum(1 for r in rows if str(r.get("outcome", "")).startswith("suppressed"))
    return [f"alerts  {len(rows)} fired ({sent} sent, {suppressed} suppressed): {robot_dir / 'alerts.jsonl'}"]
