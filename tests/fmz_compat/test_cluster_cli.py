"""`python -m fmz_compat cluster`: issue #22's "done when" for the multi-node path, as a new user runs it.

Three runs in a row of strategy.py on two nodes (a private redis-server, the venue server, two node
processes per run), the second stopped with SIGINT (Ctrl-C) in the middle. The old README recipe failed
exactly here: its second run attached to the first run's servers (ports in use) and printed their
figures, its third found the first run's Redis state (a rate budget stamped at a later simulated time)
and traded nothing. Checked per run: its own namespace, its own venue server, a window starting at the
start, trades on fresh accounts (30,000 USDT to begin with), and afterwards no process it started alive.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fmz_compat.__main__ import main
from fmz_compat.cluster_cli import _overrides, node_params, parse_plan, port_free
from fmz_compat.runner import UsageError

ROOT = Path(__file__).resolve().parents[2]
# seed 2 trades within its first simulated hour (a one-node backtest of it: 6 trades)
WINDOW = ("--seed", "2", "--duration", "1h")


def _cluster(out: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "fmz_compat", "cluster", "strategy.py", "--nodes", "2", "--lockstep", *WINDOW,
         "--out", str(out), *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _alive(pid: int) -> bool:
    """psutil-free: a pid is alive while /proc has it and it is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _summary(folder: Path) -> dict:
    return json.loads((folder / "cluster.json").read_text())


def _check_nothing_left(summary: dict, out_text: str) -> None:
    assert set(summary["pids"]) == {"tokyo", "singapore", "venue-server", "redis-server"}
    left = [name for name, pid in summary["pids"].items() if _alive(pid)]
    assert left == []
    venue_port = int(summary["venue_url"].rsplit(":", 1)[1])
    assert port_free(venue_port) and port_free(summary["redis_port"])
    assert "redis://:" not in out_text and summary["namespace"] in out_text  # the password is never shown


@pytest.mark.redis
@pytest.mark.slow
def test_three_runs_in_a_row_one_interrupted_are_independent_and_leave_nothing(tmp_path):
    out = tmp_path / "runs"
    first = _cluster(out)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-2000:]
    a = _summary(out / "cluster-1")
    _check_nothing_left(a, stdout + stderr)
    assert a["ended_by"] == "window ended" and a["ok"]
    assert a["figures"]["trades"] > 0 and a["figures"]["equity_start_usdt"] == 30_000
    assert all(n["exit_code"] == 0 and n["ended_by"] == "venue server window ended" for n in a["nodes"])

    second = _cluster(out)
    while True:
        line = second.stderr.readline()
        assert line, "the second run ended before it was interrupted"
        if "%" in line and "waiting" not in line:
            break
    time.sleep(3)  # simulated time is running: Ctrl-C in the middle
    second.send_signal(signal.SIGINT)
    stdout, stderr_rest = second.communicate(timeout=120)
    assert second.returncode == 130, stderr_rest[-2000:]
    b = _summary(out / "cluster-2")
    _check_nothing_left(b, stdout + stderr_rest)
    assert b["ended_by"] == "interrupted (Ctrl-C)" and "stopping the nodes" in stdout
    assert b["window"]["end_ms"] < a["window"]["end_ms"]  # stopped mid-window
    assert [n["exit_code"] for n in b["nodes"]] == [130, 130]  # each node stopped by SIGINT (onexit ran)

    third = _cluster(out)
    stdout, stderr = third.communicate(timeout=300)
    assert third.returncode == 0, stderr[-2000:]
    c = _summary(out / "cluster-3")
    _check_nothing_left(c, stdout + stderr)
    # fresh servers, fresh state: its own namespace and venue server, the whole window traded again
    assert len({a["namespace"], b["namespace"], c["namespace"]}) == 3
    assert c["venue_url"] not in (a["venue_url"], b["venue_url"]) or c["redis_port"] != a["redis_port"]
    assert c["window"] == a["window"]
    assert c["figures"]["equity_start_usdt"] == 30_000 and c["figures"]["trades"] > 0
    assert "rate budget exhausted" not in "".join(
        Path(p).read_text() for name, p in c["logs"].items() if name in ("tokyo", "singapore"))
    assert str(out / "cluster-3") in stdout and "=== cluster" in stdout


def _ns(**kw):
    import argparse

    base = dict(file=ROOT / "strategy.py", nodes=2, names=None, duration="1h", params=None, override=[],
                speed=None, lockstep=False, venues=None, symbols=None, seed=1, start=None, port=0,
                redis_port=0, out=Path("runs"))
    base.update(kw)
    return argparse.Namespace(**base)


def test_a_taken_port_is_refused_with_the_fix():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        for flag, attr in (("--redis-port", "redis_port"), ("--port", "port")):
            with pytest.raises(UsageError, match=f"{flag} {port}: 127.0.0.1:{port} is taken .*pick another"):
                parse_plan(_ns(**{attr: port}))


def test_negative_duration_and_bad_overrides_are_one_line_errors(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    with pytest.raises(UsageError, match="duration '-1d' must be positive"):
        parse_plan(_ns(duration="-1d"))
    assert main(["cluster", "strategy.py", "--nodes", "2", "--duration", "-1d"]) == 2
    assert "duration '-1d' must be positive" in capsys.readouterr().err
    with pytest.raises(UsageError, match="NAME=JSON with NAME one of tokyo, singapore"):
        _overrides(["paris={}"], ("tokyo", "singapore"))
    with pytest.raises(UsageError, match="not a JSON object"):
        _overrides(["tokyo=[1]"], ("tokyo", "singapore"))


def test_node_params_take_the_private_redis_and_the_node_overrides():
    plan = parse_plan(_ns(override=['tokyo={"order_notional_usdt": 500, "cluster": {"node_weight": 2}}']))
    plan.params["cluster"] = {"redis_url": "redis://10.0.0.5:6379/0", "namespace": "prod"}
    tokyo = node_params(plan, "tokyo", "redis://:pw@127.0.0.1:7000/0", "cluster-9-abc", ["binance", "okx"])
    singapore = node_params(plan, "singapore", "redis://:pw@127.0.0.1:7000/0", "cluster-9-abc",
                            ["binance", "okx"])
    assert tokyo["cluster"]["redis_url"] == "redis://:pw@127.0.0.1:7000/0"  # never the user's real Redis
    assert tokyo["cluster"]["namespace"] == "cluster-9-abc"
    assert tokyo["order_notional_usdt"] == 500 and tokyo["cluster"]["node_weight"] == 2
    assert singapore["order_notional_usdt"] == plan.params["order_notional_usdt"]
    assert "node_weight" not in singapore["cluster"]
    assert tokyo["cluster"]["venue_regions"] == {"binance": "tokyo", "okx": "singapore"}
    assert tokyo["max_book_age_ms"] == 30_000  # --speed: a wall hiccup must not make books stale


def test_a_node_lost_mid_run_is_said_and_recorded_as_an_alert(tmp_path, capsys):
    from fmz_compat.alerts import Notifier, read_alerts
    from fmz_compat.cluster_cli import Child, ClusterRun, _node_lost

    log = tmp_path / "tokyo.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", "print('MemoryError'); raise SystemExit(3)"],
                                stdout=out)
    proc.wait()
    run = ClusterRun(plan=parse_plan(_ns()), folder=tmp_path, state_dir=tmp_path, namespace="x", password="p")
    alerts = Notifier(None, tmp_path / "alerts.jsonl")
    _node_lost(run, Child("tokyo", proc, log), alerts)
    alerts.close()
    expected = "cluster: node tokyo lost (its process exited with 3: MemoryError)"
    assert expected in capsys.readouterr().err
    assert read_alerts(tmp_path)[0]["text"].startswith(expected)


def test_a_node_killed_is_named_with_its_signal_and_its_last_words_not_a_progress_bar(tmp_path, capsys):
    """A node killed with kill -9 printed only progress bars since its params line: the message said
    `exited with -9: [######....] 20.1 % ...`; the signal and the last line that says something are named."""
    from fmz_compat.alerts import Notifier
    from fmz_compat.cluster_cli import Child, ClusterRun, _node_lost

    log = tmp_path / "singapore.out"
    script = ("import os, signal; print('using params from singapore.params.json'); "
              "print('[######........................]  20.1 %  2024-01-01 00:24:06 UTC', flush=True); "
              "os.kill(os.getpid(), signal.SIGKILL)")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=out)
    proc.wait()
    run = ClusterRun(plan=parse_plan(_ns()), folder=tmp_path, state_dir=tmp_path, namespace="x", password="p")
    alerts = Notifier(None, tmp_path / "alerts.jsonl")
    _node_lost(run, Child("singapore", proc, log), alerts)
    alerts.close()
    assert ("cluster: node singapore lost (its process was killed by signal 9 (SIGKILL): using params from "
            "singapore.params.json)") in capsys.readouterr().err


def test_the_cluster_progress_line_prints_each_tenth_once_off_a_terminal():
    """The cluster's line is drawn like a backtest's (fmz_compat/progress.py): a tenth once, and a server
    clock past the window's end is 100 %, not a 12th tenth printed again."""
    import io

    from fmz_compat.cluster_cli import ClusterProgress

    class Node:
        def __init__(self, name: str) -> None:
            self.name = name

        def alive(self) -> bool:
            return True

    class Run:
        nodes = [Node("tokyo"), Node("london")]

    out = io.StringIO()
    progress = ClusterProgress(Run(), stream=out)  # type: ignore[arg-type]
    for now in (0, 5, 15, 16, 50, 120):
        progress.draw({"start_ms": 0, "end_ms": 100, "now_ms": now, "running": now > 0}, 3)
    progress.draw({"start_ms": 0, "end_ms": 100, "now_ms": 100, "running": True}, 3, final=True)
    lines = out.getvalue().splitlines()
    assert [line.split("]")[1].split("%")[0].strip() for line in lines] == ["0.0", "15.0", "50.0", "100.0"]
    assert "(waiting for the nodes to connect)" in lines[0]
    assert lines[-1].endswith("tokyo:up london:up  trades 3")
