"""The venue-server command and strategy.py as a node process against it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fmz_compat.__main__ import main
from fmz_compat.core import ExchangeBinding, SimConfig
from fmz_compat.remote import VenueAdmin
from fmz_compat.sim.server import ServerConfig, VenueServer, launch
from fmz_compat.venue_cli import node_run_kwargs

ROOT = Path(__file__).resolve().parents[3]


def _start_server(*args: str) -> tuple[subprocess.Popen, str]:
    return launch(*args, cwd=ROOT)


def _finished(server: subprocess.Popen) -> list[str]:
    """The server's exit code checked (0) and its output lines, the last ones included."""
    code = server.wait(timeout=60)
    server.output_drained.join(10)
    assert code == 0, "\n".join(server.output)
    return list(server.output)


def _one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.slow
def test_strategy_runs_as_a_node_until_the_server_window_ends(tmp_path):
    params = json.loads((ROOT / "params.json").read_text())
    # At --speed S a millisecond of the node's real time is S ms of simulated time: on a loaded machine (CI
    # beside other jobs) a call took seconds of market time at 1000x, every book read was older than
    # max_book_age_ms by the next decision, and the node traded nothing in the window. 400x keeps a call
    # well under max_book_age_ms (30 s) even at 20 ms per call; the window is 18 s of real time.
    params.update(max_book_age_ms=30_000)
    (tmp_path / "params.json").write_text(json.dumps(params))
    stats_path = tmp_path / "server_stats.json"
    server, url = _start_server("--speed", "400", "--days", str(2 / 24), "--wait-nodes", "1",
                                "--stats-out", str(stats_path), "--quiet")
    try:
        node = subprocess.run([sys.executable, "-m", "fmz_compat", "backtest", str(ROOT / "strategy.py"),
                               "--params", str(tmp_path / "params.json"), "--venue-server", url,
                               "--node", "tokyo", "--quiet", "--out", str(tmp_path / "runs")],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert node.returncode == 0, node.stdout + node.stderr
        run = json.loads((tmp_path / "runs" / "1" / "run.json").read_text())
        assert run["ended_by"] == "venue server window ended"
        assert run["window"] == {"start_ms": 1_704_067_200_000, "end_ms": 1_704_067_200_000 + 7_200_000}
        assert run["config"]["venue_server"] == url and run["config"]["node"] == "tokyo"
        assert run["stats"]["node"] == "tokyo" and run["stats"]["totals"]["trades"] > 0
        VenueAdmin(url).shutdown()
        assert "venue-server stopped at 2024-01-01 02:00:00 UTC" in _finished(server)[-1]
        final = json.loads(stats_path.read_text())
        assert final["totals"]["trades"] == run["stats"]["totals"]["trades"]
        assert final["requests"]["tokyo"] > 100
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_venue_server_input_errors_are_one_line(capsys):
    assert "--latency item 'tokyo=kraken:5'" in _one_line_error(
        capsys, ["venue-server", "--latency", "tokyo=kraken:5"])
    assert "--speed 0 must be" in _one_line_error(capsys, ["venue-server", "--speed", "0"])
    assert "--speed and --lockstep exclude each other" in _one_line_error(
        capsys, ["venue-server", "--speed", "10", "--lockstep"])
    assert "--days -1 must be" in _one_line_error(capsys, ["venue-server", "--days", "-1"])
    assert "unknown venue kraken" in _one_line_error(capsys, ["venue-server", "--venues", "kraken"])


@pytest.fixture
def served():
    bindings = (ExchangeBinding("Futures_Binance"), ExchangeBinding("Futures_OKX"))
    cfg = ServerConfig(SimConfig(seed=5, start_ms=1_704_067_200_000, bindings=bindings), None, speed=1e-9)
    server = VenueServer(cfg)
    server.start()
    yield server
    server.stop()


def test_node_input_errors_are_one_line(capsys, tmp_path, served):
    strategy = tmp_path / "s.py"
    strategy.write_text("def main():\n    pass\n")
    node = ["backtest", str(strategy), "--venue-server", served.url, "--node", "tokyo",
            "--out", str(tmp_path)]
    assert "go together" in _one_line_error(capsys, ["backtest", str(strategy), "--node", "tokyo"])
    assert "--seed belongs to the venue server" in _one_line_error(capsys, [*node, "--seed", "3"])
    assert "--duration belongs" in _one_line_error(capsys, [*node, "--duration", "1d"])
    assert "--node 'to kyo'" in _one_line_error(capsys, [*node[:4], "--node", "to kyo"])
    assert "does not answer" in _one_line_error(
        capsys, ["paper", str(strategy), "--venue-server", "http://127.0.0.1:1", "--node", "tokyo"])
    assert "loopback only" in _one_line_error(
        capsys, ["paper", str(strategy), "--venue-server", "http://10.0.0.1:80", "--node", "tokyo"])
    assert "Futures_Bybit is not served" in _one_line_error(capsys, [*node, "--venues", "bybit"])
    assert "restart it with --symbols BTC_USDT,ETH_USDT,SOL_USDT" in _one_line_error(
        capsys, [*node, "--params", '{"symbols": ["SOL_USDT"]}'])


def test_a_node_binds_the_servers_accounts_or_the_venues_it_names(tmp_path, served):
    from fmz_compat.__main__ import config_from_args

    strategy = tmp_path / "s.py"
    strategy.write_text("def main():\n    pass\n")
    base = ["paper", str(strategy), "--venue-server", served.url, "--node", "tokyo"]
    config, extra = node_run_kwargs(config_from_args(base)[0])
    assert [b.eid for b in config.bindings] == ["Futures_Binance", "Futures_OKX"]
    assert (config.seed, config.start_ms, config.end_ms) == (5, 1_704_067_200_000, None)
    assert set(extra) == {"world_factory", "clock"}
    config, extra = node_run_kwargs(config_from_args([*base, "--venues", "okx"])[0])
    assert [b.eid for b in config.bindings] == ["Futures_OKX"]
    world = extra["world_factory"](None, extra["clock"], None)
    assert world.exchanges[0].GetName() == "Futures_OKX" and world.exchanges[0]._remote_index == 1
    world.close()


def test_the_server_process_stops_on_sigterm_and_after_its_linger(tmp_path):
    server, url = _start_server("--speed", "1000", "--quiet")
    server.send_signal(signal.SIGTERM)
    last = _finished(server)[-1]
    assert last.startswith("venue-server stopped at 2024-01-01 00:") and "trades 0" in last

    stats_path = tmp_path / "stats.json"
    server, url = _start_server("--speed", "100000", "--days", "0.5", "--linger", "0.2",
                                "--stats-out", str(stats_path))
    lines = _finished(server)  # half a simulated day is 0.43 s of wall time
    assert "venue-server: venue server window ended" in lines
    assert lines[-1].startswith("venue-server stopped at 2024-01-01 12:00:00 UTC")
    assert json.loads(stats_path.read_text())["ended"] is True
