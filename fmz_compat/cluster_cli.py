"""`python -m fmz_compat cluster FILE --nodes N`: a whole local cluster in one command (docs/cluster.md).

It starts, in this order, and stops, in the reverse order, everything a multi-node run needs:

* a private redis-server on a free loopback port (or --redis-port), with a generated password and its
  own fresh state folder (deleted at the end), so nothing a previous run left can reach this one;
* the venue server (`python -m fmz_compat venue-server`), waiting for the N nodes before time starts;
* N node processes (`backtest FILE --venue-server URL --node NAME`), each with params.json (or --params)
  plus a `cluster` section naming it and the private Redis, under a namespace of this run only, and the
  per-node overrides of --override.

It draws one progress line for the whole cluster, stops everything when the window ends or on Ctrl-C /
SIGTERM (nodes first, so their onexit() can still reach the venues; then the venue server; then Redis;
a process that does not stop in time is killed), and prints one summary across the nodes. Every child
is started in its own session (a Ctrl-C in the terminal reaches only this command, which stops them in
order) and dies with this command if it is killed outright (Linux: parent-death signal).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fmz_compat.cli_args import resolve_params
from fmz_compat.progress import ProgressLine, bar_text, fraction_done
from fmz_compat.run_stats import summary_figures, summary_lines, utc_text
from fmz_compat.runner import EXIT_INTERRUPTED, UsageError

DEFAULT_NAMES = ("tokyo", "singapore", "hongkong", "frankfurt", "london", "virginia")
DEFAULT_DURATION = "1d"
DEFAULT_CLUSTER_SPEED = 100.0
# at --speed X a wall-clock hiccup of 0.3 s ages a book by 0.3 X simulated seconds: a node would call
# healthy books stale (the README's old recipe set the same)
SPEED_BOOK_AGE_MS = 30_000
STOP_GRACE_S = 20.0  # wall seconds a node gets for onexit() after SIGINT, a server after SIGTERM
END_GRACE_S = 120.0  # wall seconds the nodes get to finish after the window ended
MAX_NODES = 16
_PR_SET_PDEATHSIG = 1


def add_cluster_parser(sub: Any) -> None:
    p = sub.add_parser("cluster", help="run N nodes on one simulated set of accounts, with a private Redis "
                       "and venue server, in one command")
    p.add_argument("file", type=Path, help="strategy .py file every node runs")
    p.add_argument("--nodes", type=int, required=True, metavar="N", help=f"number of nodes (1..{MAX_NODES})")
    p.add_argument("--names", help="comma list of N node names (default: "
                   f"{','.join(DEFAULT_NAMES)}, then node7, ...)")
    p.add_argument("--duration", default=DEFAULT_DURATION,
                   help=f"simulated window such as 6h, 1d, 2d (default {DEFAULT_DURATION})")
    p.add_argument("--params", help="the PARAMS every node starts from: JSON or a path "
                   "(default params.json beside FILE)")
    p.add_argument("--override", action="append", default=[], metavar="NAME=JSON",
                   help="a JSON object merged into node NAME's params (its \"cluster\" key into the cluster "
                   "section), e.g. tokyo='{\"cluster\": {\"node_weight\": 2}}'; repeat per node")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, help=f"simulated seconds per wall second (default "
                      f"{DEFAULT_CLUSTER_SPEED:g}: one day in about 15 minutes)")
    pace.add_argument("--lockstep", action="store_true",
                      help="simulated time moves only when every node sleeps: as fast as the nodes run, "
                      "the same run however busy the machine is")
    p.add_argument("--venues", help="venues the server simulates (default binance,bybit,okx)")
    p.add_argument("--symbols", help="markets the server generates (default: BTC_USDT,ETH_USDT and the "
                   "params' symbols)")
    p.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    p.add_argument("--start", help="simulated start, UTC (default 2024-01-01 00:00:00)")
    p.add_argument("--port", type=int, default=0,
                   help="venue server port on 127.0.0.1 (default 0: a free one)")
    p.add_argument("--redis-port", type=int, default=0,
                   help="private redis-server port on 127.0.0.1 (default 0: a free one)")
    p.add_argument("--out", type=Path, default=Path("runs"),
                   help="folder for the cluster's folder runs/cluster-K (default runs/)")


@dataclass
class Child:
    """One process this command started: its name, Popen and where its output goes."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def last_lines(self, count: int = 3) -> list[str]:
        """Its last lines of output that say something: progress bars are left out."""
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in lines if line.strip() and not _PROGRESS_LINE.match(line)][-count:]


_PROGRESS_LINE = re.compile(r"^\[[#.]+\]\s+[\d.]+ %")


def exit_text(returncode: int | None) -> str:
    """`exited with 3`, or `was killed by signal 9 (SIGKILL)` for Popen's negative return codes."""
    if returncode is not None and returncode < 0:
        try:
            name = f" ({signal.Signals(-returncode).name})"
        except ValueError:
            name = ""
        return f"was killed by signal {-returncode}{name}"
    return f"exited with {returncode}"


@dataclass
class ClusterPlan:
    file: Path
    names: tuple[str, ...]
    params: dict[str, Any]
    overrides: dict[str, dict[str, Any]]
    duration_s: int
    lockstep: bool
    speed: float
    server_args: tuple[str, ...]
    port: int
    redis_port: int
    out_root: Path


@dataclass
class ClusterRun:
    """The processes of one cluster run and where they are; stop() ends all of them."""

    plan: ClusterPlan
    folder: Path
    state_dir: Path
    namespace: str
    password: str = field(repr=False)
    redis: Child | None = None
    server: Child | None = None
    server_url: str = ""
    redis_port: int = 0
    nodes: list[Child] = field(default_factory=list)

    def children(self) -> list[Child]:
        return [c for c in (*self.nodes, self.server, self.redis) if c is not None]


def parse_plan(ns: argparse.Namespace) -> ClusterPlan:
    """Validate the cluster arguments; UsageError names the fix."""
    from fmz_compat.header import parse_duration_s
    from fmz_compat.runner import read_strategy

    if not 1 <= ns.nodes <= MAX_NODES:
        raise UsageError(f"--nodes {ns.nodes} must be 1..{MAX_NODES}")
    names = _node_names(ns.names, ns.nodes)
    read_strategy(ns.file)
    params_json, _origin = resolve_params(ns.params, ns.file)
    params = json.loads(params_json) if params_json else {}
    if not isinstance(params, dict):
        raise UsageError("--params must be a JSON object (the shape of params.json)")
    try:
        duration_s = parse_duration_s(ns.duration)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if duration_s <= 0:
        raise UsageError(f"--duration {ns.duration} must be a positive window such as 6h or 1d")
    speed = DEFAULT_CLUSTER_SPEED if ns.speed is None else ns.speed
    _check_alerts_file()
    _check_ports(ns)
    server_args = _server_args(ns, duration_s, len(names), speed)
    return ClusterPlan(file=ns.file, names=names, params=params, overrides=_overrides(ns.override, names),
                       duration_s=duration_s, lockstep=ns.lockstep, speed=speed,
                       server_args=tuple(server_args), port=ns.port, redis_port=ns.redis_port,
                       out_root=ns.out)


def _check_ports(ns: argparse.Namespace) -> None:
    for flag, port in (("--port", ns.port), ("--redis-port", ns.redis_port)):
        if not 0 <= port <= 65535:
            raise UsageError(f"{flag} {port} must be 0..65535 (0 picks a free port)")
        if port and not port_free(port):
            raise UsageError(f"{flag} {port}: 127.0.0.1:{port} is taken (a server from an earlier run still "
                             f"up?): stop it, or pick another {flag} (0 picks a free one)")
    if ns.port and ns.port == ns.redis_port:
        raise UsageError("--port and --redis-port must differ")


def _server_args(ns: argparse.Namespace, duration_s: float, nodes: int, speed: float) -> list[str]:
    """The venue server's command line for this cluster run."""
    server_args = ["--days", repr(duration_s / 86_400), "--seed", str(ns.seed),
                   "--wait-nodes", str(nodes)]
    server_args += ["--lockstep"] if ns.lockstep else ["--speed", f"{speed:g}"]
    for flag, value in (("--venues", ns.venues), ("--symbols", ns.symbols), ("--start", ns.start)):
        if value:
            server_args += [flag, value]
    return server_args


def _check_alerts_file() -> None:
    from fmz_compat.alerts import AlertsConfigError, config_from_env

    try:
        config_from_env()
    except AlertsConfigError as exc:
        raise UsageError(str(exc)) from None


def _node_names(text: str | None, count: int) -> tuple[str, ...]:
    if text is None:
        extra = tuple(f"node{i + 1}" for i in range(len(DEFAULT_NAMES), count))
        return (DEFAULT_NAMES + extra)[:count]
    names = tuple(n.strip() for n in text.split(","))
    well_formed = all(n.replace("-", "").isalnum() for n in names)
    if len(names) != count or len(set(names)) != count or not well_formed:
        raise UsageError(f"--names {text!r} must list {count} different names (letters, digits, -), "
                         "one per node")
    return names


def _overrides(items: list[str], names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or name not in names:
            raise UsageError(f"--override {item!r} must be NAME=JSON with NAME one of {', '.join(names)}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise UsageError(f"--override {name}: {raw!r} is not a JSON object such as "
                             "'{\"order_notional_usdt\": 500}'")
        out.setdefault(name, {}).update(value)
    return out


def port_free(port: int) -> bool:
    """Whether a process may listen on 127.0.0.1:port now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port free now, picked by the system (never a fixed one such as Redis' 6379)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def node_params(plan: ClusterPlan, name: str, redis_url: str, namespace: str,
                venues: list[str]) -> dict[str, Any]:
    """The node's PARAMS: the common ones, the private Redis under this run's namespace, its overrides."""
    params = json.loads(json.dumps(plan.params))
    if not plan.lockstep:
        params["max_book_age_ms"] = max(int(params.get("max_book_age_ms") or 0), SPEED_BOOK_AGE_MS)
    cluster = dict(params.get("cluster") or {})
    regions = {venue: plan.names[i % len(plan.names)] for i, venue in enumerate(venues)}
    cluster.setdefault("venue_regions", regions)
    cluster.update(node=name, region=name)
    override = dict(plan.overrides.get(name, {}))
    cluster.update(override.pop("cluster", None) or {})
    params.update(override)
    cluster.update(redis_url=redis_url, namespace=namespace)  # always the private server of this run
    params["cluster"] = cluster
    return params


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when this command dies, however it dies (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def spawn(name: str, command: list[str], log_path: Path, env: dict[str, str] | None = None) -> Child:
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent, env=env)
    return Child(name, proc, log_path)


def next_cluster_folder(out_root: Path) -> Path:
    out_root.mkdir(parents=True, exist_ok=True)
    k = 1 + max((int(p.name.split("-", 1)[1]) for p in out_root.glob("cluster-*")
                 if p.name.split("-", 1)[1].isdigit()), default=0)
    while True:
        folder = out_root / f"cluster-{k}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            k += 1


def start_redis(run: ClusterRun) -> str:
    """The private redis-server; returns the URL (with the password: never print it)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise UsageError("redis-server not found: install it (apt-get install redis-server; "
                         "bash tools/test.sh installs it too)")
    port = run.redis_port = run.plan.redis_port or free_port()
    conf = run.state_dir / "redis.conf"
    conf.write_text("\n".join([
        f"port {port}", "bind 127.0.0.1", "protected-mode yes", f"requirepass {run.password}",
        f"dir {run.state_dir}", "appendonly yes", "appendfsync everysec", 'save ""', "daemonize no",
        f"logfile {run.state_dir / 'redis.log'}"]) + "\n", encoding="utf-8")
    conf.chmod(0o600)
    run.redis = spawn("redis-server", [binary, str(conf)], run.folder / "redis.out")
    url = f"redis://:{run.password}@127.0.0.1:{port}/0"
    wait_redis(port, run.password, run.redis.alive)
    return url


def wait_redis(port: int, password: str | None, alive: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Return once the redis-server just started on 127.0.0.1:port answers PING; UsageError when its
    process (`alive`) has gone or it does not answer within timeout_s."""
    import redis

    client = redis.Redis(port=port, password=password, socket_connect_timeout=0.2)
    deadline = time.monotonic() + timeout_s
    while True:
        if not alive():
            raise UsageError(f"redis-server did not start on 127.0.0.1:{port} (port taken?): pick another "
                             "--redis-port or 0 for a free one")
        try:
            if client.ping():
                client.close()
                return
        except redis.exceptions.RedisError:
            pass
        if time.monotonic() > deadline:
            raise UsageError(f"redis-server on 127.0.0.1:{port} did not answer in {timeout_s:g} s")
        time.sleep(0.05)


def start_server(run: ClusterRun) -> None:
    command = [sys.executable, "-m", "fmz_compat", "venue-server", "--port", str(run.plan.port), "--quiet",
               "--stats-out", str(run.folder / "venues.json"), *run.plan.server_args]
    run.server = spawn("venue-server", command, run.folder / "venue-server.out")
    deadline = time.monotonic() + 60
    while not run.server_url:
        for line in run.server.last_lines(50):
            if line.startswith("venue-server ready "):
                run.server_url = line.split()[2]
            elif line.startswith("fmz_compat: "):
                raise UsageError(f"venue server: {line.removeprefix('fmz_compat: ')}")
        if not run.server_url and (not run.server.alive() or time.monotonic() > deadline):
            said = " | ".join(run.server.last_lines()) or "no output"
            raise UsageError(f"the venue server did not start ({said})")
        time.sleep(0.05)


def start_nodes(run: ClusterRun, redis_url: str) -> None:
    from fmz_compat.remote import VenueAdmin

    admin = VenueAdmin(run.server_url)
    try:
        served = [str(v) for v in admin.stats()["venues"]]
    finally:
        admin.close()
    venues = [v.split("#")[0].lower().removeprefix("futures_") for v in served]
    for name in run.plan.names:
        params_path = run.state_dir / f"{name}.params.json"  # holds the Redis password: state folder only
        params_path.write_text(json.dumps(node_params(run.plan, name, redis_url, run.namespace, venues)),
                               encoding="utf-8")
        params_path.chmod(0o600)
        command = [sys.executable, "-m", "fmz_compat", "backtest", str(run.plan.file), "--venue-server",
                   run.server_url, "--node", name, "--params", str(params_path), "--quiet",
                   "--out", str(run.folder / name)]
        run.nodes.append(spawn(name, command, run.folder / f"{name}.out"))


def stop_child(child: Child, sig: int, grace_s: float) -> None:
    """Signal the child and wait up to grace_s; then kill it. Always reaps it."""
    if child.alive():
        try:
            child.proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            child.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            child.proc.kill()
    child.proc.wait()


def _wait_or_kill(child: Child, grace_s: float) -> None:
    try:
        child.proc.wait(timeout=max(0.1, grace_s))
    except subprocess.TimeoutExpired:
        child.proc.kill()
        child.proc.wait()


def stop_all(run: ClusterRun, *, interrupted: bool) -> dict[str, Any] | None:
    """Nodes (one SIGINT each: they run onexit(); a second one would cut it short), then the venue server
    (its final stats first), then Redis; whatever does not stop in time is killed."""
    if not interrupted:  # the window ended: the nodes are finishing by themselves
        deadline = time.monotonic() + END_GRACE_S
        for node in run.nodes:
            try:
                node.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    for node in run.nodes:
        if node.alive():
            node.proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_S
    for node in run.nodes:
        _wait_or_kill(node, deadline - time.monotonic())
    stats = None
    if run.server is not None:
        stats = _server_stats(run)
        stop_child(run.server, signal.SIGTERM, STOP_GRACE_S)
    if run.redis is not None:
        stop_child(run.redis, signal.SIGTERM, STOP_GRACE_S)
    shutil.rmtree(run.state_dir, ignore_errors=True)
    return stats


def _server_stats(run: ClusterRun) -> dict[str, Any] | None:
    from fmz_compat.remote import VenueAdmin

    if not run.server_url or run.server is None or not run.server.alive():
        return None
    admin = VenueAdmin(run.server_url, timeout_s=10)
    try:
        return admin.stats()
    except (OSError, ValueError):
        return None
    finally:
        admin.close()


class ClusterProgress:
    """One line for the whole cluster: simulated time, nodes alive, trades so far."""

    WIDTH = 24

    def __init__(self, run: ClusterRun, stream: Any = None) -> None:
        self.run = run
        self._out = ProgressLine(stream)

    @staticmethod
    def _done(info: dict[str, Any]) -> float:
        return fraction_done(info["start_ms"], info["end_ms"], info["now_ms"]) if info["end_ms"] else 0.0

    def line(self, info: dict[str, Any], trades: int) -> str:
        nodes = " ".join(f"{n.name}:{'up' if n.alive() else f'exit {n.proc.returncode}'}"
                         for n in self.run.nodes)
        waiting = "  (waiting for the nodes to connect)" if not info.get("running") else ""
        return (f"{bar_text(self._done(info), self.WIDTH)}  {utc_text(info['now_ms'])}  {nodes}  "
                f"trades {trades}{waiting}")

    def draw(self, info: dict[str, Any], trades: int, final: bool = False) -> None:
        self._out.draw(self._done(info), self.line(info, trades), final)


def watch(run: ClusterRun, progress: ClusterProgress) -> str:
    """Until every node has exited (the window ended) or one failed before time started. -> why it ended."""
    from fmz_compat.alerts import Notifier, config_from_env
    from fmz_compat.remote import VenueAdmin

    admin = VenueAdmin(run.server_url, timeout_s=5)
    info: dict[str, Any] = {}
    trades, last_stats = 0, 0.0
    reported: set[str] = set()
    alerts = Notifier(config_from_env(), run.folder / "alerts.jsonl", robot=f"cluster {run.folder.name}")
    try:
        while True:
            try:
                info = admin._session.request("GET", "/time")
                if time.monotonic() - last_stats > 2:
                    trades, last_stats = int(admin.stats()["totals"]["trades"]), time.monotonic()
            except (OSError, ValueError, EOFError):
                pass
            if info:
                progress.draw(info, trades)
            why = _watch_end(run, info, trades, progress, reported, alerts)
            if why is not None:
                return why
            time.sleep(0.5)
    finally:
        admin.close()
        alerts.close()


def _watch_end(run: ClusterRun, info: dict[str, Any], trades: int, progress: ClusterProgress,
               reported: set[str], alerts: Any) -> str | None:
    """Why the cluster run has ended, or None while it goes on (a node lost mid-run is reported once)."""
    if all(not n.alive() for n in run.nodes):
        if info:
            progress.draw(info, trades, final=True)
        return "window ended"
    failed = [n for n in run.nodes if not n.alive() and n.proc.returncode != 0]
    if failed and info and not info.get("running"):
        return f"node {failed[0].name} stopped before time started"
    for node in failed:
        if node.name not in reported:
            reported.add(node.name)
            _node_lost(run, node, alerts)
    if run.server is not None and not run.server.alive():
        return "the venue server stopped"
    return None


def _node_lost(run: ClusterRun, node: Child, alerts: Any) -> None:
    """A node process died mid-run: said on the terminal and pushed (alerts.jsonl, FMZ_ALERTS channels)."""
    last = (node.last_lines(1) or ["no output"])[0]
    text = (f"cluster: node {node.name} lost (its process {exit_text(node.proc.returncode)}: {last}); the "
            "live nodes adopt its units after the lease TTL")
    print(f"\n{text}", file=sys.stderr)
    alerts.push(text)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_cluster(plan: ClusterPlan, out: Callable[[str], None] = print) -> int:
    folder = next_cluster_folder(plan.out_root)
    state_dir = Path(tempfile.mkdtemp(prefix="fmz-cluster-redis-"))
    run = ClusterRun(plan=plan, folder=folder, state_dir=state_dir,
                     namespace=f"{folder.name}-{secrets.token_hex(3)}", password=secrets.token_urlsafe(24))
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    interrupted, why, stats = False, "", None
    try:
        try:
            redis_url = start_redis(run)
            start_server(run)
            out(f"cluster {folder}: {len(plan.names)} node(s) {', '.join(plan.names)}; venue server "
                f"{run.server_url}; private redis-server on 127.0.0.1 (password set, state in a fresh "
                f"folder), namespace {run.namespace}")
            start_nodes(run, redis_url)
            why = watch(run, ClusterProgress(run))
        except KeyboardInterrupt:
            interrupted, why = True, "interrupted (Ctrl-C)"
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        try:
            if interrupted:
                out(f"\ncluster: {why}; stopping the nodes, the venue server and redis-server")
            stats = stop_all(run, interrupted=interrupted)
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, previous)
    summary = cluster_summary(run, stats, why)
    (folder / "cluster.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    out(summary_text(summary))
    if interrupted:
        return EXIT_INTERRUPTED
    return 0 if summary["ok"] else 1


def _node_result(child: Child, folder: Path) -> dict[str, Any]:
    found = folder.iterdir() if folder.is_dir() else ()
    robots = sorted((p for p in found if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    robot = robots[-1] if robots else None
    run_json: dict[str, Any] = {}
    if robot is not None and (robot / "run.json").is_file():
        run_json = json.loads((robot / "run.json").read_text(encoding="utf-8"))
    return {"node": child.name, "exit_code": child.proc.returncode, "robot_dir": str(robot) if robot else "",
            "ended_by": run_json.get("ended_by", ""), "orders_sent": _orders_sent(robot),
            "last_lines": child.last_lines() if child.proc.returncode not in (0, EXIT_INTERRUPTED) else []}


def _orders_sent(robot: Path | None) -> int:
    """Orders this node created itself (other nodes' rows in its log start with "[node NAME]")."""
    import sqlite3

    if robot is None or not (robot / f"{robot.name}.db3").is_file():
        return 0
    with sqlite3.connect(robot / f"{robot.name}.db3") as db:
        row = db.execute("SELECT COUNT(*) FROM log WHERE Extra LIKE 'order create %'")
        return int(row.fetchone()[0])


def cluster_summary(run: ClusterRun, stats: dict[str, Any] | None, why: str) -> dict[str, Any]:
    nodes = [_node_result(n, run.folder / n.name) for n in run.nodes]
    figures = summary_figures(stats) if stats else {}
    ok = bool(stats) and all(n["exit_code"] == 0 for n in nodes) and len(nodes) == len(run.plan.names)
    return {"folder": str(run.folder), "ended_by": why, "ok": ok, "namespace": run.namespace,
            "venue_url": run.server_url, "redis_port": run.redis_port,
            "window": (stats or {}).get("window"), "figures": figures, "nodes": nodes,
            "logs": {c.name: str(c.log_path) for c in run.children()},
            "pids": {c.name: c.proc.pid for c in run.children()}}


def summary_text(summary: dict[str, Any]) -> str:
    f = summary["figures"]
    lines = ["", f"=== cluster {summary['folder']}: {summary['ended_by']} ==="]
    window = summary.get("window") or {}
    if window:
        lines.append(f"window {utc_text(window['start_ms'])} -> {utc_text(window['end_ms'])}")
    if f:
        lines += ["shared accounts:", *summary_lines(f)]
    else:
        lines.append("shared accounts: no figures (the venue server was not reachable at the end)")
    for node in summary["nodes"]:
        lines.append(f"node {node['node']:<10} exit {node['exit_code']}  {node['ended_by'] or '-'}  orders "
                     f"{node['orders_sent']}  {node['robot_dir'] or '(no robot folder)'}")
        lines += [f"    {line}" for line in node["last_lines"]]
    lines.append(f"summary {summary['folder']}/cluster.json   process output {summary['folder']}/*.out")
    return "\n".join(lines)


def main_cluster(ns: argparse.Namespace) -> int:
    return run_cluster(parse_plan(ns))

