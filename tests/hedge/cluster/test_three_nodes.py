"""Done-when of distributed mode: a real redis-server, the venue server and three node processes.

A simulated day on a lockstep venue server (simulated time moves only when every node waits, so a loaded
machine runs the same day, only slower): one node is killed (SIGKILL) right after the first leg of an
opening and restarted later; Redis is stopped for a simulated minute. The test acts at simulated instants
it holds the clock at (every node in Sleep then). Checked: no double hedge and every coin flat within one
lot whenever nothing is in flight, the dead node's units adopted within the lease TTL, every node's log
shows the other nodes' orders, no pair opened while Redis was away and openings after it, and at the end
the shared ledger equals the venues' positions.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fmz_compat.remote import VenueAdmin
from fmz_compat.sim.server import launch

ROOT = Path(__file__).resolve().parents[3]
NODE_STRATEGY = ROOT / "tests" / "data" / "cluster_node_strategy.py"
HOUR_MS = 3_600_000
TTL_S = 60
LOOP_MS = 10_000
REGIONS = {"binance": "tokyo", "bybit": "singapore", "okx": "hongkong"}
NODES = ("tokyo", "singapore", "hongkong")
SYMBOLS = ("BTC_USDT", "ETH_USDT", "SOL_USDT")
# singapore outranks the others on the units it shares with them: with seed 1 every node then owns a
# symbol x venue pair that trades during the day (tokyo ETH binance/okx, hongkong BTC and SOL binance/okx)
WEIGHTS = {"tokyo": 1, "singapore": 2, "hongkong": 1}
LOT = Decimal("0.001")
LATENCY = ",".join(f"{node}={venue}:{4 if REGIONS[venue] == node else 60}"
                   for node in NODES for venue in REGIONS)


def _params(redis_url: str, node: str) -> str:
    params = json.loads((ROOT / "params.json").read_text())
    params.update(symbols=list(SYMBOLS), max_book_age_ms=60_000, loop_interval_ms=LOOP_MS,
                  status_interval_s=300, cooldown_s=60, close_threshold_bps=1,
                  cluster={"redis_url": redis_url, "node": node, "region": node, "venue_regions": REGIONS,
                           "node_weight": WEIGHTS[node],
                           "lease_ttl_s": TTL_S, "namespace": "day"})
    params["fees"]["bybit"] = {"maker_bps": 0, "taker_bps": 3.0}
    # coordination alone: a node reading positions while another node is between its legs sees the other's
    # first leg as net exposure; that guard is covered in tests/hedge/test_guards.py
    params["guards"] = {"max_net_exposure_usdt": 0}
    return json.dumps(params)


class Cluster:
    def __init__(self, tmp: Path, redis_url: str, url: str) -> None:
        self.tmp, self.redis_url, self.url = tmp, redis_url, url
        self.flag = tmp / "die-mid-hedge"
        self.procs: dict[str, subprocess.Popen] = {}
        self.runs: dict[str, list[Path]] = {n: [] for n in NODES}

    def start(self, node: str) -> None:
        out = self.tmp / f"{node}-{len(self.runs[node])}"
        self.runs[node].append(out)
        self.procs[node] = subprocess.Popen(
            [sys.executable, "-m", "fmz_compat", "backtest", str(NODE_STRATEGY), "--params",
             _params(self.redis_url, node), "--arg", f"DIE_FLAG={self.flag}", "--venue-server", self.url,
             "--node", node, "--quiet", "--out", str(out)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def windows(self, node: str) -> list[tuple[int, int]]:
        """(first, last) log time of each run of a node."""
        out = []
        for out_dir in self.runs[node]:
            robot = next(p for p in out_dir.iterdir() if p.is_dir())
            with sqlite3.connect(robot / f"{robot.name}.db3") as db:
                out.append(db.execute("SELECT MIN(Date), MAX(Date) FROM log").fetchone())
        return out

    def logs(self, node: str) -> list[tuple[int, str]]:
        rows: list[tuple[int, str]] = []
        for out in self.runs[node]:
            robot = next(p for p in out.iterdir() if p.is_dir())
            with sqlite3.connect(robot / f"{robot.name}.db3") as db:
                rows += [(int(t), str(x)) for t, x in db.execute("SELECT Date, Extra FROM log ORDER BY Id")]
        return rows


def _flat_sampler(redis_client, admin: VenueAdmin, stop: threading.Event, worst: dict[str, Decimal]) -> None:
    """Net base position per coin whenever no execution is journaled in the cluster (read before and
    after the venues, with the ledger version unchanged between)."""
    while not stop.wait(0.05):
        try:
            before = (redis_client.get("day:ver"), redis_client.hlen("day:orders"))
            exposure = admin.stats()["exposure"]
            after = (redis_client.get("day:ver"), redis_client.hlen("day:orders"))
        except Exception:  # noqa: BLE001 - Redis stopped on purpose, or the server ended
            continue
        if before == after and before[1] == 0:
            for coin, value in exposure.items():
                worst[coin] = max(worst.get(coin, Decimal(0)), abs(Decimal(str(value["base"]))))


TURN_MAX_MS = 3 * LOOP_MS  # a loop turn: the sleep, the calls' latencies, an execution waiting for a lock
PAD_MS = 1_000  # more than a call's latency: between a fill and its log row
TAG = re.compile(r"(?:open|close)#[0-9]+(?:\+[0-9]+)*")


def _execution_windows(logs: dict[str, list[tuple[int, str]]], killed_at: int
                       ) -> dict[str, list[tuple[int, int]]]:
    """symbol -> (first, last) time of each execution over every node's log: its OPEN event, its order
    rows, and the rows of a recovery that settled it (tag recover:open#7 belongs to open#7). The killed
    node's last rows may not have reached its database: an execution recovered by another node counts
    as in flight from the kill."""
    spans: dict[tuple[str, str], list[int]] = {}
    recovered: set[tuple[str, str]] = set()

    def note(symbol: str, tag: str, t: int) -> None:
        span = spans.setdefault((symbol, tag), [t, t])
        span[0], span[1] = min(span[0], t), max(span[1], t)

    for rows in logs.values():
        for t, text in rows:
            body = text.split("] ", 1)[1] if text.startswith("[node ") else text
            if body.startswith("OPEN open#"):
                note(body.split()[2], body.split()[1], t)
            elif body.startswith("order ") and " tag=" in body:
                symbol, tags = body.split("symbol=")[1].split()[0], body.split(" tag=")[1].split()[0]
                for tag in TAG.findall(tags):
                    note(symbol, tag, t)
                    if tags.startswith("recover:"):
                        recovered.add((symbol, tag))
    out: dict[str, list[tuple[int, int]]] = {}
    for (symbol, tag), (first, last) in spans.items():
        if (symbol, tag) in recovered and killed_at < first:
            first = killed_at - PAD_MS
        out.setdefault(symbol, []).append((first, last))
    return out


def _unhedged_intervals(changes: list[dict], end_ms: int) -> list[tuple[str, int, int]]:
    """(coin, from, to) of every stretch a coin's net base position was more than a lot off zero."""
    out = []
    by_coin: dict[str, list[dict]] = {}
    for row in changes:
        by_coin.setdefault(row["coin"], []).append(row)
    for coin, rows in by_coin.items():
        for row, following in zip(rows, [*rows[1:], None], strict=True):
            if abs(Decimal(str(row["base"]))) > LOT:
                out.append((coin, row["time_ms"], following["time_ms"] if following else end_ms))
    return out


@pytest.mark.slow
def test_three_node_processes_trade_one_day_through_a_kill_and_a_redis_outage(tmp_path, redis_server):
    redis_server.client().flushall()
    server, url = launch("--lockstep", "--days", "1", "--wait-nodes", "3", "--venues", "binance,bybit,okx",
                         "--symbols", ",".join(SYMBOLS), "--seed", "1", "--quiet", "--latency", LATENCY,
                         cwd=ROOT)
    admin = VenueAdmin(url)
    cluster = Cluster(tmp_path, redis_server.url, url)
    stop = threading.Event()
    worst: dict[str, Decimal] = {}
    sampler = threading.Thread(target=_flat_sampler, args=(redis_server.client(), admin, stop, worst),
                               daemon=True)

    def run_until(ms: int, nodes: tuple[str, ...] = NODES) -> int:
        """Let simulated time run to the first instant >= ms at which every node sleeps, and hold it there."""
        admin.hold(ms)
        return admin.wait_held(nodes)

    try:
        start_ms = admin.stats()["start_ms"]
        admin.hold(start_ms + 3 * HOUR_MS)  # before the nodes start: time holds at the start until then
        for node in NODES:
            cluster.start(node)
        sampler.start()
        held = admin.wait_held(NODES)
        cluster.flag.touch()  # the next node to send an opening's first leg dies right after it
        while not any(p.poll() is not None for p in cluster.procs.values()):
            assert held < start_ms + 12 * HOUR_MS, "no opening in 9 simulated hours"
            held = run_until(held + HOUR_MS // 2, ())
        victim = next(n for n, p in cluster.procs.items() if p.poll() is not None)
        assert cluster.procs[victim].returncode == -9  # SIGKILL: mid-hedge, no onexit
        killed_at = admin.lockstep()["left"][victim]["at_ms"]  # its connection closed at that instant
        # its leases were renewed with its last heartbeat: they lapse one TTL after it
        lapse_at = json.loads(redis_server.client().hget("day:nodes", victim))["seen"] + TTL_S * 1000
        run_until(killed_at + 2 * HOUR_MS, ())
        cluster.start(victim)
        run_until(killed_at + 2 * HOUR_MS)  # the restarted node has joined
        outage_from = run_until(killed_at + 4 * HOUR_MS)
        pairs_before = redis_server.client().hgetall("day:pairs")
        redis_server.stop()  # every node is in Sleep: nothing was being written
        outage_to = run_until(outage_from + 60_000)  # a simulated minute: a dozen loop turns of each node
        redis_server.start()
        assert redis_server.client().hgetall("day:pairs") == pairs_before  # no state lost
        admin.hold(None)  # and on to the end of the day
        for node, proc in cluster.procs.items():
            _, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, (node, err[-2000:])
        final = admin.stats()  # the window ended; the venues as the nodes left them
        changes = admin.exposure()  # every change of a coin's net position over all venues
        ledger = [json.loads(v) for v in redis_server.client().hgetall("day:pairs").values()]
        journal = redis_server.client().hgetall("day:orders")
    finally:
        stop.set()
        for proc in cluster.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if server.poll() is None:
            admin.shutdown()
            server.wait(timeout=30)

    logs = {node: cluster.logs(node) for node in NODES}
    # adopted within the lease TTL (plus the loop turn that noticed), then settled: no double hedge
    adopted = [(t, text) for node in NODES if node != victim for t, text in logs[node]
               if "adopted" in text and killed_at <= t < killed_at + 2 * HOUR_MS]
    # never before the leases lapsed, and at the adopter's next loop turn after
    assert adopted and all(lapse_at <= t <= lapse_at + TURN_MAX_MS for t, _ in adopted), [
        (t - lapse_at, x) for t, x in adopted]
    assert any("unfinished execution settled" in text for node in NODES for _, text in logs[node])
    assert worst and all(v <= LOT for v in worst.values()), worst
    # and over the whole day: every moment a coin was off flat by more than a lot lies inside one
    # execution (first to last order row of its tag on any node; the adopter's recovery of the killed
    # node's execution carries the same tag), padded by the few simulated seconds a call takes
    windows = _execution_windows(logs, killed_at)
    for coin, start, end in _unhedged_intervals(changes, final["now_ms"]):
        assert any(first - PAD_MS <= start and end <= last + PAD_MS
                   for first, last in windows.get(f"{coin}_USDT", [])), (coin, start, end)
    # every node's log shows the other nodes' orders: each order another node created while this one
    # was running (a restarted robot here starts with a new store, so it shows what came after it)
    _assert_each_node_shows_the_others_orders(logs, cluster)
    _assert_redis_outage_reduced_then_reopened(logs, outage_from, outage_to)
    # the end: the shared ledger is what the venues hold, nothing left unsettled
    assert journal == {}
    _assert_ledger_is_the_venues_positions(ledger, final)


def _assert_each_node_shows_the_others_orders(logs: dict[str, list[tuple[int, str]]],
                                              cluster: Cluster) -> None:
    created = {node: [(t, text.split("client_id=")[1].split()[0]) for t, text in logs[node]
                      if text.startswith("order create")] for node in NODES}
    assert all(created.values()), {n: len(c) for n, c in created.items()}
    for node in NODES:
        shown = {text.split("client_id=")[1].split()[0] for _, text in logs[node]
                 if text.startswith("[node ") and "client_id=" in text}
        for other in NODES:
            if other == node:
                continue
            due = [cid for t, cid in created[other] if any(first + 60_000 < t < last - 180_000
                                                           for first, last in cluster.windows(node))]
            assert due and set(due) <= shown, (node, other, len(due), len(set(due) - shown))


def _assert_redis_outage_reduced_then_reopened(logs: dict[str, list[tuple[int, str]]], outage_from: int,
                                               outage_to: int) -> None:
    """Redis away: everyone REDUCING, no pair opened, ACTIVE after, and openings again."""
    for node in NODES:
        text = [x for _, x in logs[node]]
        switched = any("ACTIVE -> REDUCING: redis unreachable" in x for x in text)
        # a node already REDUCING then (e.g. reconciling the dead node's leg) says so instead of switching
        assert switched or any(x.startswith("cluster: redis unreachable") for x in text), node
        assert not switched or any("REDUCING -> ACTIVE: redis reachable again" in x for x in text), node
    opened = [(t, x) for node in NODES for t, x in logs[node] if x.startswith(("OPEN open#", "OPENED pair"))]
    assert not [x for t, x in opened if outage_from <= t <= outage_to]
    assert [x for t, x in opened if t > outage_to]


def _assert_ledger_is_the_venues_positions(ledger: list[dict[str, Any]], final: dict[str, Any]) -> None:
    found: dict[tuple[str, str], Decimal] = {}
    for venue, rows in zip(REGIONS, final["positions"].values(), strict=True):
        for row in rows:
            found[(venue, row["symbol"])] = Decimal(str(row["base"]))
    expected: dict[tuple[str, str], Decimal] = {}
    for pair in ledger:
        for venue, sign in ((pair["long_venue"], 1), (pair["short_venue"], -1)):
            key = (venue, pair["symbol"])
            expected[key] = expected.get(key, Decimal(0)) + sign * Decimal(pair["qty"])
    assert {k: v for k, v in expected.items() if v} == {k: v for k, v in found.items() if abs(v) >= LOT}
