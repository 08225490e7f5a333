"""The CLI ends of the dashboard: `--dashboard [HOST:]PORT` on backtest/paper, and
`python -m fmz_compat dashboard RUN_DIR` for a robot folder."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fmz_compat.dashboard.server import TOKEN_ENV, DashboardConfig, DashboardServer, parse_listen
from fmz_compat.runner import EXIT_OK, RunConfig, UsageError, run


def make_server(listen: str, token: str | None, *, out: Callable[[str], None] = print) -> DashboardServer:
    """A started server; UsageError for a bad address, a port in use, or an empty token."""
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    if token is not None and len(token) < 8:
        raise UsageError(f"--dashboard-token (or {TOKEN_ENV}) must be at least 8 characters")
    server = DashboardServer(DashboardConfig(host=host, port=port, token=token), out=out)
    try:
        server.start()
    except OSError as exc:
        raise UsageError(f"dashboard cannot listen on {host}:{port} ({exc.strerror or exc}): "
                         "pick another port (0 picks any free one)") from None
    return server


def run_with_dashboard(config: RunConfig, source: str, listen: str, token: str | None, *,
                       linger: bool = True, out: Callable[[str], None] = print, **run_kwargs: Any) -> int:
    """Run the robot with its page served; after it stops, keep the page up until Ctrl-C."""
    server = make_server(listen, token, out=out)
    venues = [b.eid for b in config.bindings]

    def attach(runtime: Any) -> None:
        server.attach(runtime, mode=config.mode, strategy=config.strategy_path.name, venues=venues)

    try:
        result = run(config, source=source, on_runtime=attach, out=out, **run_kwargs)
        server.finished(result.exit_code, result.ended_by)
        if linger:
            out(f"dashboard still serving {server.url} (Ctrl-C to quit)")
            _wait_for_stop()
        return result.exit_code
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        server.stop()


def serve_folder(run_dir: Path, listen: str, token: str | None, *,
                 out: Callable[[str], None] = print) -> int:
    """Serve a finished or running robot folder read-only until Ctrl-C."""
    if not run_dir.is_dir():
        raise UsageError(f"robot folder {run_dir} not found: pass a folder such as runs/1")
    server = make_server(listen, token, out=out)
    try:
        server.open_folder(run_dir)
    except ValueError as exc:
        server.stop()
        raise UsageError(str(exc)) from None
    try:
        _wait_for_stop()
    finally:
        server.stop()
    return EXIT_OK


def _wait_for_stop() -> None:
    """Block until Ctrl-C or SIGTERM (both end the page quietly)."""
    stop = threading.Event()
    try:
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    except ValueError:  # not the main thread: Ctrl-C only
        previous = None
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
