"""Shared set-up for the bench scripts: the same simulated world the CLI builds, and a median helper."""

from __future__ import annotations

import io
import json
import signal
import statistics
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fmz_compat.core import VENUE_NAMES, ExchangeBinding  # noqa: E402
from fmz_compat.runner import RunConfig, run  # noqa: E402
from fmz_compat.sim.params import _ALT_PRICES  # noqa: E402

START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC, the CLI's default window start


def symbols(count: int) -> tuple[str, ...]:
    names = ("BTC_USDT", "ETH_USDT", *(f"{coin}_USDT" for coin in _ALT_PRICES))
    return names[:count]


def bindings(count: int) -> tuple[ExchangeBinding, ...]:
    return tuple(ExchangeBinding(eid, balance=100_000.0) for eid in list(VENUE_NAMES.values())[:count])


def strategy_params(syms: tuple[str, ...], venues: int, **overrides: object) -> str:
    """params.json with the bench's symbols; quiet status so the figure is the trading loop."""
    params = json.loads((ROOT / "params.json").read_text())
    params["symbols"] = list(syms)
    venue_keys = list(VENUE_NAMES)[:venues]
    params["fees"] = {v: params["fees"].get(v, {"maker_bps": 0, "taker_bps": 2.5}) for v in venue_keys}
    params["leverage"] = {v: params["leverage"].get(v, 5) for v in venue_keys}
    params.update(overrides)
    return json.dumps(params)


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


def timed_run(config: RunConfig) -> tuple[float, int]:
    """Wall seconds and trades of one runner run, its summary and progress bar silenced."""
    started = time.perf_counter()
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        result = run(config)
    wall = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"bench run failed (exit {result.exit_code}); see {result.robot_dir}")
    return wall, int(result.stats.get("totals", {}).get("trades", 0))


def stop_server(server: subprocess.Popen[str]) -> None:
    """SIGTERM a bench's stand-in server, SIGKILL it after 10 s, and print what it said on stderr."""
    server.send_signal(signal.SIGTERM)
    try:
        _, err = server.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        _, err = server.communicate()
    if err:
        print(err.strip())
