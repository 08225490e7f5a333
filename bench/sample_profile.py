"""A sampling profile of one command: where the main thread is, every --interval ms of the process's CPU time
(SIGPROF), without cProfile's per-call cost, which inflates small, often-called functions several times over.
A thread sampling the main one by wall time is no better: it gets the GIL each time the main thread releases
it, so sqlite and gzip calls look several times their cost.

    .venv/bin/python bench/sample_profile.py [--interval 1] [--top 25] -- -m fmz_compat backtest strategy.py \
        --replay /tmp/perf/data/k5_20000.jsonl.gz --quiet --params FILE --balance 100000 --out /tmp/perf/runs

The arguments after `--` are what `python` would get (`-m module ...` or `script.py ...`); the command runs in
this process. Prints the functions the most samples were in (self: the innermost frame) and under (cumulative:
anywhere on the stack, once a sample), as % of samples (of CPU time). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import collections
import runpy
import signal
import sys
import time
from types import FrameType


def _name(frame: FrameType) -> str:
    code = frame.f_code
    path = code.co_filename
    for marker in ("/hedge/", "/fmz_compat/", "/lib/python"):
        at = path.rfind(marker)
        if at >= 0:
            path = path[at + 1:]
            break
    name = f"{path}:{code.co_firstlineno}({code.co_name})"
    if path.startswith("<") and frame.f_back is not None:  # generated code (a dataclass __init__): say whose
        name += f" <- {_name(frame.f_back)}"
    return name


def main() -> int:
    argv = sys.argv[1:]
    if "--" not in argv:
        print(__doc__)
        return 2
    split = argv.index("--")
    p = argparse.ArgumentParser()
    p.add_argument("--interval", type=float, default=1.0, help="ms between samples")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv[:split])
    target = argv[split + 1:]

    own: collections.Counter[str] = collections.Counter()
    under: collections.Counter[str] = collections.Counter()
    samples = 0

    def sample(_signum: int, frame: FrameType | None) -> None:
        # ITIMER_PROF: the process's CPU time, delivered to the main thread between two bytecodes; a C call
        # (sqlite, gzip, json) is charged to the Python function that made it, time off the CPU to nobody
        nonlocal samples
        if frame is None:
            return
        samples += 1
        own[_name(frame)] += 1
        seen = set()
        while frame is not None:
            seen.add(_name(frame))
            frame = frame.f_back
        under.update(seen)

    interval = args.interval / 1000
    signal.signal(signal.SIGPROF, sample)
    started = time.perf_counter()
    cpu = time.process_time()
    signal.setitimer(signal.ITIMER_PROF, interval, interval)
    try:
        if target[0] == "-m":
            sys.argv = [target[1]] + target[2:]
            runpy.run_module(target[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = target
            runpy.run_path(target[0], run_name="__main__")
    except SystemExit:
        pass
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"\n{samples} samples, {wall:.1f} s wall, {cpu:.1f} s CPU", file=sys.stderr)
    for title, counts in (("self", own), ("cumulative", under)):
        print(f"\n{title:>10}  function", file=sys.stderr)
        for name, n in counts.most_common(args.top):
            print(f"{100 * n / max(samples, 1):9.1f}%  {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
