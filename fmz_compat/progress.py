"""The progress line of a run on stderr: redrawn in place on a terminal; off one (logs, CI) printed
once per 10 % so a log is not flooded. A backtest draws it by simulated time (ProgressBar); the cluster
command draws its own text, nodes and trades included, through the same ProgressLine."""

from __future__ import annotations

import sys
import threading
from typing import Any

from fmz_compat.run_stats import utc_text


def bar_text(done: float, width: int) -> str:
    """`[#####.....]  50.0 %` for a fraction done in [0, 1]."""
    filled = int(done * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done * 100:5.1f} %"


def fraction_done(start_ms: int, end_ms: int | None, now_ms: int) -> float:
    """How much of the window [start, end] lies before now, in [0, 1]; 1 for a window without length."""
    if not end_ms or end_ms <= start_ms:
        return 1.0
    return min(1.0, max(0.0, (now_ms - start_ms) / (end_ms - start_ms)))


class ProgressLine:
    """Writes a progress text to a stream: on a terminal every time (one redrawn line), otherwise only
    when the fraction done reaches another tenth (the final draw too, unless its tenth was printed)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_decile = -1

    def draw(self, done: float, text: str, final: bool = False) -> None:
        if self.tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        else:
            decile = int(done * 10)
            if decile == self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(text + "\n")
        self.stream.flush()


class ProgressBar:
    """A backtest progress bar on stderr, drawn from a side thread twice a second by simulated time."""

    WIDTH = 30

    def __init__(self, clock: Any, start_ms: int, end_ms: int | None, stream: Any = None,
                 interval_s: float = 0.5) -> None:
        self.clock = clock
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.interval_s = interval_s
        self._out = ProgressLine(stream)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def fraction(self) -> float:
        return fraction_done(self.start_ms, self.end_ms, self.clock.now_ns() // 1_000_000)

    def line(self) -> str:
        return f"{bar_text(self.fraction(), self.WIDTH)}  {utc_text(self.clock.now_ns() // 1_000_000)}"

    def draw(self, final: bool = False) -> None:
        self._out.draw(self.fraction(), self.line(), final)

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                self.draw()

        self._thread = threading.Thread(target=loop, name="progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.draw(final=True)
