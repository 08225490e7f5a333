"""Golden runs: three fixed-seed runs whose log rows and figures are pinned under tests/golden/ (issue #19).

    python -m tools.golden --check            # run them; print the first differences from the pins
    python -m tools.golden --update           # re-pin on purpose (after a behaviour change you intend)
    python -m tools.golden --check outage     # one run by name

The runs (each pinned as normalized text, one row per line, gzipped: tests/golden/NAME.txt.gz; `--check`
prints the first differing rows as a unified diff):
* `three_venues`: a simulated day on binance, bybit, okx, BTC and ETH, seed 1, through the backtest runner
  (the FMZ robot store's log, profit, chart, status and _G rows, and run.json).
* `outage`: the same market for 8 hours with okx down 01:30-02:30 (three pairs are open on it then) and
  bybit refusing orders 04:48-05:00 (when an opening wants it), through the simulator's fault windows
  (SimWorld.schedule).
* `cluster`: two nodes (tokyo, singapore) in one process on one simulated set of accounts and one
  redis-server (started here on a free loopback port), taking turns on one virtual clock. In-process turns,
  not the venue server's lockstep clock: that clock lets nodes released at the same instant run side by side
  (fmz_compat/sim/lockstep.py), so which node's Redis write lands first is up to the OS scheduler and the
  rows would not reproduce exactly.

Normalized: only what legitimately differs between runs of the same code (the temporary folder and the
repository's path). Everything the strategy decides (texts, times, prices, quantities, ids) is compared
exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import gzip
import io
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_DIR = ROOT / "tests" / "golden"
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
EIDS = {"binance": "Futures_Binance", "bybit": "Futures_Bybit", "okx": "Futures_OKX"}
SYMBOLS = ("BTC_USDT", "ETH_USDT")


# --- normalized rows --------------------------------------------------------------------------------
def _flat(prefix: str, value: Any) -> Iterator[str]:
    """One line per leaf of a JSON value: `path = value` (a changed figure shows as one changed line)."""
    if isinstance(value, dict) and value:
        for key in value:
            yield from _flat(f"{prefix}.{key}", value[key])
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from _flat(f"{prefix}[{i}]", item)
    else:
        yield f"{prefix} = {json.dumps(value, ensure_ascii=False, sort_keys=True)}"


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _robot_rows(robot_dir: Path) -> list[str]:
    """The robot store's tables and run.json of one runner robot folder, in a stable order."""
    rows: list[str] = []
    db_path = next(robot_dir.glob("*.db3"))
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        for row in db.execute("SELECT Date, LogType, Eid, OrderId, Price, Amount, Extra, ContractType, "
                              "Direction, Color, Push FROM log ORDER BY Id"):
            rows.append("log " + json.dumps(list(row), ensure_ascii=False))
        for row in db.execute("SELECT Time, Profit, Extra FROM profit ORDER BY Id"):
            rows.append("profit " + json.dumps(list(row), ensure_ascii=False))
        for row in db.execute("SELECT Seq, Time, Data FROM chart ORDER BY Id"):
            rows.append("chart " + json.dumps(list(row), ensure_ascii=False))
        for key, value in db.execute("SELECT Key, Value FROM cfg ORDER BY Key"):
            rows.extend(_flat(f"cfg.{key}", _maybe_json(value)))
        for key, value in db.execute("SELECT Key, Value FROM kvdb ORDER BY Key"):
            rows.extend(_flat(f"_G.{key}", _maybe_json(value)))
    run_json = json.loads((robot_dir / "run.json").read_text(encoding="utf-8"))
    rows.extend(_flat("run.json", run_json))
    return rows


def _normalize(rows: list[str], tmp: Path, *more: tuple[str, str]) -> list[str]:
    """What differs between two runs of the same code: the temporary folder, the checkout, `more`."""
    subs = [*more, (str(tmp.resolve()), "<tmp>"), (str(tmp), "<tmp>"), (str(ROOT), "<repo>")]
    out = []
    for row in rows:
        for old, new in subs:
            row = row.replace(old, new)
        out.append(row)
    return out


# --- the runs ---------------------------------------------------------------------------------------
def _backtest(tmp: Path, hours: int, world_setup: Callable[[Any], None] | None = None) -> list[str]:
    """strategy.py with params.json through the backtest runner, in this process."""
    from fmz_compat.core import ExchangeBinding
    from fmz_compat.runner import RunConfig, run
    from fmz_compat.sim import create_world

    strategy = ROOT / "strategy.py"
    config = RunConfig(
        mode="backtest", strategy_path=strategy,
        bindings=tuple(ExchangeBinding(eid=EIDS[v], currency="BTC_USDT") for v in EIDS),
        start_ms=START_MS, end_ms=START_MS + hours * HOUR_MS, seed=1, symbols=SYMBOLS,
        params_json=(ROOT / "params.json").read_text(encoding="utf-8"),
        params_origin="using params from params.json", out_root=tmp, quiet=True, dated_prices=True)

    def factory(cfg: Any, clock: Any, log: Any) -> Any:
        world = create_world(cfg, clock, log)
        if world_setup is not None:
            world_setup(world)
        return world

    with contextlib.redirect_stderr(io.StringIO()):  # the progress bar
        result = run(config, world_factory=factory, out=lambda _line: None)
    if result.exit_code != 0:
        raise RuntimeError(f"golden backtest ended with exit {result.exit_code} ({result.ended_by})")
    return _normalize(_robot_rows(result.robot_dir), tmp)


def run_three_venues(tmp: Path) -> list[str]:
    return _backtest(tmp, hours=24)


def run_outage(tmp: Path) -> list[str]:
    def faults(world: Any) -> None:
        # okx down while three pairs are open on it (opened 01:18-01:20; closed at 01:47 without the fault)
        world.schedule("okx", "down", START_MS + 90 * MINUTE_MS, START_MS + 150 * MINUTE_MS)
        # bybit refuses orders when the next opening wants it (buy bybit at 04:52 without the fault)
        world.schedule("bybit", "refuse_orders", START_MS + 288 * MINUTE_MS, START_MS + 300 * MINUTE_MS)

    return _backtest(tmp, hours=8, world_setup=faults)


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A private redis-server on a free loopback port (never 6379), no persistence; yields its URL."""
    from fmz_compat.cluster_cli import free_port, wait_redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not installed: run bash tools/test.sh (it installs it)")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                             "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_redis(port, None, lambda: proc.poll() is None)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


CLUSTER_LOOP_MS = 5_000
CLUSTER_HOURS = 6
CLUSTER_REGIONS = {"binance": "tokyo", "bybit": "singapore", "okx": "tokyo"}


class _NodeExchange:
    """One node's view of a shared simulated venue account: the order log rows go to that node."""

    def __init__(self, inner: Any, rows: list[str], name: str, now_ms: Callable[[], int]) -> None:
        self._inner, self._rows, self._name, self._now_ms = inner, rows, name, now_ms

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)

    def Log(self, log_type: int, price: float, amount: float, *args: Any) -> None:  # noqa: N802 - FMZ's name
        text = " ".join(str(a) for a in args)
        self._rows.append(f"{self._now_ms()} {self._name} order "
                          + json.dumps([log_type, price, amount, text], ensure_ascii=False))


class _Store(dict):  # noqa: FURB189 - _G: one callable, get, set and delete (a None value, as FMZ's _G)
    def __call__(self, key: str, *value: Any) -> Any:
        if not value:
            return self.get(key)
        if value[0] is None:
            self.pop(key, None)
        else:
            self[key] = value[0]
        return None


def run_cluster(tmp: Path) -> list[str]:
    from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
    from fmz_compat.sim import create_world
    from hedge import store_keys
    from hedge.app import App
    from hedge.config import parse_params
    from hedge.fmz import Api

    end_ms = START_MS + CLUSTER_HOURS * HOUR_MS
    clock = BacktestClock(START_MS * 1_000_000, end_ms * 1_000_000)
    world = create_world(SimConfig(seed=1, start_ms=START_MS, symbols=SYMBOLS,
                                   bindings=tuple(ExchangeBinding(EIDS[v]) for v in EIDS), dated_prices=True),
                         clock, MemoryLog())
    rows: list[str] = []
    now_ms = lambda: clock.now_ns() // 1_000_000  # noqa: E731
    base = json.loads((ROOT / "params.json").read_text(encoding="utf-8"))
    with redis_server(tmp) as url:
        apps: list[tuple[str, App, _Store]] = []
        for name in ("tokyo", "singapore"):
            params = {**base, "loop_interval_ms": CLUSTER_LOOP_MS, "max_book_age_ms": 60_000,
                      "cluster": {"redis_url": url, "node": name, "region": name,
                                  "venue_regions": CLUSTER_REGIONS, "lease_ttl_s": 30, "namespace": "golden"}}
            store = _Store()

            def log(*args: Any, _name: str = name) -> None:
                text = json.dumps([str(a) for a in args], ensure_ascii=False)
                rows.append(f"{now_ms()} {_name} log {text}")

            def profit(*args: Any, _name: str = name) -> None:
                rows.append(f"{now_ms()} {_name} profit " + json.dumps([str(a) for a in args]))

            exchanges = tuple(_NodeExchange(ex, rows, name, now_ms) for ex in world.exchanges)
            api = Api(log=log, log_status=lambda *_a: None, log_profit=profit, sleep=clock.sleep,
                      unix_nano=clock.now_ns, store=store, exchanges=exchanges, is_virtual=lambda: True)
            app = App(api, parse_params(json.dumps(params)))
            if not app.start():
                raise RuntimeError(f"golden cluster node {name} refused to start")
            apps.append((name, app, store))
        try:
            while now_ms() + CLUSTER_LOOP_MS < end_ms:
                for _name, app, _store in apps:
                    app.tick()
                clock.sleep(CLUSTER_LOOP_MS)
        finally:
            for _name, app, _store in apps:
                app.finish()
        shared = _redis_rows(url)
    for name, _app, store in apps:
        for key in sorted(store):
            # the last stream entry read: an id Redis makes from its wall clock
            value = "<stream id>" if key.startswith(store_keys.CLUSTER_STREAM_PREFIX) else store[key]
            rows.extend(_flat(f"{name}._G.{key}", _maybe_json(value) if isinstance(value, str) else value))
    rows.extend(shared)
    rows.extend(_flat("world.stats", json.loads(json.dumps(world.stats(), default=str))))
    return _normalize(rows, tmp, (url, "<redis>"))


def _redis_rows(url: str) -> list[str]:
    """Every key the nodes left in Redis; a stream's entries without their ids (Redis' wall clock)."""
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    rows: list[str] = []
    for key in sorted(client.keys("*")):
        kind = client.type(key)
        if kind == "string":
            value: Any = _maybe_json(client.get(key))
        elif kind == "hash":
            value = {f: _maybe_json(v) for f, v in sorted(client.hgetall(key).items())}
        elif kind == "stream":
            value = [fields for _id, fields in client.xrange(key)]
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            value = client.lrange(key, 0, -1)
        rows.extend(_flat(f"redis.{key}", value))
    return rows


RUNS: dict[str, Callable[[Path], list[str]]] = {
    "three_venues": run_three_venues,
    "outage": run_outage,
    "cluster": run_cluster,
}


# --- pins -------------------------------------------------------------------------------------------
def pin_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.txt.gz"


def produce(name: str) -> list[str]:
    with tempfile.TemporaryDirectory(prefix=f"golden-{name}-") as tmp:
        return RUNS[name](Path(tmp))


def pinned(name: str) -> list[str]:
    path = pin_path(name)
    if not path.is_file():
        return []
    return gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()


def write_pin(name: str, rows: list[str]) -> None:
    """gzip without a file name or time in its header: the same rows give the same bytes."""
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(rows) + "\n").encode("utf-8")
    pin_path(name).write_bytes(gzip.compress(data, compresslevel=9, mtime=0))


def first_differences(name: str, expected: list[str], got: list[str], limit: int = 40) -> str:
    """A unified diff of the pin and this run, cut after `limit` lines; '' when they are equal."""
    if expected == got:
        return ""
    diff = list(difflib.unified_diff(expected, got, f"pinned tests/golden/{pin_path(name).name}",
                                     f"this run of {name}", n=2, lineterm=""))
    shown = diff[:limit]
    more = len(diff) - len(shown)
    tail = [f"... {more} more diff lines"] if more > 0 else []
    return "\n".join([*shown, *tail, *_first_change(expected, got),
                      "(intended? re-pin with: python -m tools.golden --update)"])


def _first_change(expected: list[str], got: list[str], width: int = 120) -> list[str]:
    """Where the first differing row differs, for long rows (a status table is one row)."""
    for row, (old, new) in enumerate(zip(expected, got, strict=False), start=1):
        if old != new:
            pairs = enumerate(zip(old, new, strict=False))
            col = next((i for i, (a, b) in pairs if a != b), min(len(old), len(new)))
            start = max(0, col - width // 2)
            return [f"first change: row {row}, column {col + 1}",
                    f"  pinned:   ...{old[start:col + width]}", f"  this run: ...{new[start:col + width]}"]
    return [f"first change: the rows end at row {min(len(expected), len(got)) + 1}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.golden", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="run and compare with the pins (exit 1 on a diff)")
    mode.add_argument("--update", action="store_true",
                      help="run and write the pins (tests/golden/NAME.txt.gz)")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"runs to do (default all: {', '.join(RUNS)})")
    ns = parser.parse_args(argv)
    names = ns.names or list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        parser.error(f"unknown run {', '.join(unknown)}: choose from {', '.join(RUNS)}")
    failed = 0
    for name in names:
        started = time.monotonic()
        got = produce(name)
        took = time.monotonic() - started
        if ns.update:
            write_pin(name, got)
            print(f"{name}: pinned {len(got)} rows in {pin_path(name).relative_to(ROOT)} ({took:.0f} s)")
            continue
        diff = first_differences(name, pinned(name), got)
        if diff:
            failed += 1
            print(f"{name}: DIFFERS from the pin ({took:.0f} s)\n{diff}")
        else:
            print(f"{name}: same as the pin, {len(got)} rows ({took:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
