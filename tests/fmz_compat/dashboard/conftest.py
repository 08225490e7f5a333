"""A live simulated robot (paper mode, in a thread) with its dashboard, and a finished hedge backtest."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fmz_compat.core import ExchangeBinding
from fmz_compat.dashboard.server import DashboardConfig, DashboardServer
from fmz_compat.runner import RunConfig, RunResult, run

HERE = Path(__file__).resolve().parent
BUTTON_STRATEGY = HERE / "button_strategy.py"
REPO = HERE.parents[2]
VENUES = ("Futures_Binance", "Futures_OKX")


@dataclass
class LiveRobot:
    server: DashboardServer
    runtime: Any
    thread: threading.Thread
    result: dict[str, RunResult]

    @property
    def url(self) -> str:
        return self.server.url


def start_live_robot(out_root: Path, server: DashboardServer) -> LiveRobot:
    config = RunConfig(mode="paper", strategy_path=BUTTON_STRATEGY,
                       bindings=tuple(ExchangeBinding(eid=v, currency="BTC_USDT") for v in VENUES),
                       start_ms=0, end_ms=None, seed=3, symbols=("BTC_USDT",), out_root=out_root, quiet=True)
    attached = threading.Event()
    holder: dict[str, Any] = {}
    result: dict[str, RunResult] = {}

    def attach(runtime: Any) -> None:
        server.attach(runtime, mode="paper", strategy=BUTTON_STRATEGY.name, venues=list(VENUES))
        holder["runtime"] = runtime
        attached.set()

    def target() -> None:
        result["run"] = run(config, on_runtime=attach, out=lambda line: None)
        server.finished(result["run"].exit_code, result["run"].ended_by)

    thread = threading.Thread(target=target, name="robot", daemon=True)
    thread.start()
    assert attached.wait(60), "the robot did not start"
    return LiveRobot(server, holder["runtime"], thread, result)


def stop_live_robot(robot: LiveRobot) -> None:
    robot.runtime.send_command("quit")
    robot.thread.join(60)
    robot.server.stop()


@pytest.fixture(scope="module")
def live_robot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRobot]:
    server = DashboardServer(DashboardConfig(port=0), out=lambda line: None)
    server.start()
    robot = start_live_robot(tmp_path_factory.mktemp("runs"), server)
    yield robot
    stop_live_robot(robot)


@pytest.fixture(scope="module")
def hedge_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hedge strategy (strategy.py + params.json) backtested for a simulated day."""
    from fmz_compat.__main__ import config_from_args

    out = tmp_path_factory.mktemp("hedge")
    config, source = config_from_args(["backtest", str(REPO / "strategy.py"), "--duration", "1d",
                                       "--out", str(out), "--quiet"])
    result = run(config, source=source, out=lambda line: None)
    assert result.exit_code == 0
    return result.robot_dir
