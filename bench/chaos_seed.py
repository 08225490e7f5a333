"""Prints the CPU seconds one chaos seed costs (tools/chaos.py), per simulated day and in all.

    .venv/bin/python bench/chaos_seed.py [--days 1] [--seeds 1] [--profile default] [--runs 3]
    .venv/bin/python bench/chaos_seed.py --days 6 --runs 1 --per-day       # does a day cost more later on?
    .venv/bin/python bench/chaos_seed.py --baseline /tmp/base     # the same seeds on another checkout

Each run is one seed through `tools.chaos.run_seed` in this process (the process CPU time around it, as the
seed's `cpu_s`), into a scratch folder. Prints the median CPU s of --runs runs per seed and profile, and the
30-day estimate (median x 30 / --days; a day late in a run costs more than an early one when the per-day
figures grow, then the estimate is low). With --baseline DIR, the same seeds also run with DIR's tools/,
hedge/ and fmz_compat/ (a checkout of an older commit, e.g. `git worktree add /tmp/base 19eef09`), each in a
fresh child process alternating with this checkout's, and the ratio baseline / this is printed: both measured
in the same sitting, on the same load; `result` is a digest of the seed's JSON without cpu_s, wall_s,
robot_dir and uncommitted_rows_lost_at_kills (a wall-time figure: fmz_compat/store.py commits once a second
of real time); equal digests: the seed did and found the same. --per-day prints the CPU s of each simulated
day (wall load on a shared machine moves CPU time too, less than wall time). Figures, never asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from tools import chaos

args = chaos.build_options(chaos.argparse.Namespace(**{ns!r}))
opts = args[0]
per_day = []
if {per_day!r}:
    from fmz_compat.sim import world as W
    advance = W.SimWorld.advance
    day_k = [None]
    cpu0 = [time.process_time()]

    def timed(self, now_ns):
        advance(self, now_ns)
        day = (self.k * self.step_ms) // chaos.DAY_MS
        if day_k[0] is None:
            day_k[0] = day
        while day_k[0] < day:
            now = time.process_time()
            per_day.append(round(now - cpu0[0], 2))
            cpu0[0] = now
            day_k[0] += 1
    W.SimWorld.advance = timed
cpu = time.process_time()
result = chaos.run_seed(opts)
total = time.process_time() - cpu
import hashlib
# uncommitted_rows_lost_at_kills counts log rows the robot store's flusher (every second of wall time) had not
# committed at a kill: it moves with the machine's load, not with what the seed did
same = {{k: v for k, v in result.items()
         if k not in ("cpu_s", "wall_s", "robot_dir", "uncommitted_rows_lost_at_kills")}}
digest = hashlib.sha256(json.dumps(same, sort_keys=True, default=str).encode()).hexdigest()[:12]
print(json.dumps({{"cpu_s": total, "per_day": per_day, "passed": result["passed"],
                   "trades": result["trades"], "result": digest}}))
"""


def _namespace(args: argparse.Namespace, seed: int, out: str) -> dict[str, object]:
    return {"days": args.days, "seed": seed, "seeds": None, "venues": "binance,bybit,okx", "symbols": None,
            "params": None, "profile": args.profile, "strategy": None, "start": "2024-01-01",
            "balance": 10_000.0, "step_ms": 1000, "grace_s": 120, "without": None, "jobs": 1, "out": out,
            "markdown": None, "into": None}


def _run(root: Path, args: argparse.Namespace, seed: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="chaos-bench-") as out:
        ns = _namespace(args, seed, out)
        ns["strategy"] = str(root / "strategy.py")
        code = CHILD.format(root=str(root), ns=ns, per_day=args.per_day)
        done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                              check=False, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
        if done.returncode != 0:
            raise SystemExit(f"{root}: seed {seed} failed:\n{done.stderr[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--days", type=float, default=1.0)
    p.add_argument("--seeds", default="1", help="comma list")
    p.add_argument("--profile", default="default")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--baseline", help="another checkout to compare with (same seeds, alternating runs)")
    p.add_argument("--per-day", action="store_true", help="print each simulated day's CPU s")
    args = p.parse_args()
    roots = [("this", ROOT)] + ([("baseline", Path(args.baseline).resolve())] if args.baseline else [])
    print(f"chaos seed CPU: --days {args.days:g} --profile {args.profile}, {args.runs} run(s) each; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC")
    for seed in (int(s) for s in args.seeds.split(",")):
        cpu: dict[str, list[float]] = {name: [] for name, _ in roots}
        for _ in range(args.runs):
            for name, root in roots:
                r = _run(root, args, seed)
                cpu[name].append(float(r["cpu_s"]))  # type: ignore[arg-type]
                line = (f"  seed {seed} {name:8s} cpu {r['cpu_s']:.2f} s  trades {r['trades']}  "
                        f"passed {r['passed']}  result {r['result']}")
                if args.per_day:
                    line += f"  per day {r['per_day']}"
                print(line, flush=True)
        medians = {name: statistics.median(v) for name, v in cpu.items()}
        for name, m in medians.items():
            print(f"seed {seed} {name}: median {m:.2f} CPU s for {args.days:g} day(s); "
                  f"30 days ~{m * 30 / args.days:.0f} s")
        if "baseline" in medians and medians["this"]:
            print(f"seed {seed}: baseline / this = {medians['baseline'] / medians['this']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
