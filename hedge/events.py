"""Graded events: what the strategy did and what went wrong, newest first, kept across restarts.

Levels, from least to most severe: info (trades, starts), warn (skipped or degraded work),
error (a failed action the strategy works around), critical (a trading-state switch or anything
that needs a human). The newest `keep` events persist in one _G key so a restart shows what
happened before it.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hedge import store_keys

LEVELS = ("info", "warn", "error", "critical")
STORE_KEY = store_keys.EVENTS
LOG_COLOURS = {"info": "", "warn": "#ff9900", "error": "#ff0000", "critical": "#ff0000"}


@dataclass(frozen=True)
class Event:
    time_ms: int
    level: str
    text: str


class EventLog:
    """A bounded, persisted list of events. `store` is FMZ's _G (or None: not persisted)."""

    def __init__(self, store: Callable[..., Any] | None = None, keep: int = 200) -> None:
        self._store = store
        self._events: deque[Event] = deque(maxlen=keep)
        # each kept event's row as saved ('[time_ms, "level", "text"]'), kept beside it: a save after one
        # more event encodes that one event, not all `keep` of them (the saved text is the same)
        self._rows: deque[str] = deque(maxlen=keep)

    @classmethod
    def load(cls, store: Callable[..., Any], keep: int = 200) -> EventLog:
        log = cls(store, keep)
        text = store(STORE_KEY)
        if text:
            try:
                rows = json.loads(text)
                log._events.extend(Event(int(ms), str(level), str(msg)) for ms, level, msg in rows
                                   if level in LEVELS)
            except (ValueError, TypeError):
                pass  # an unreadable history is not a reason to refuse a start; it is overwritten
        log._rows.extend(json.dumps([e.time_ms, e.level, e.text]) for e in log._events)
        return log

    def record(self, time_ms: int, level: str, text: str) -> Event:
        if level not in LEVELS:
            raise ValueError(f"event level {level!r} is not one of {', '.join(LEVELS)}")
        event = Event(time_ms, level, text)
        self._events.append(event)
        if self._store is not None:
            # json.dumps of the list of rows, joined as it joins them (", " between items)
            self._rows.append(json.dumps([time_ms, level, text]))
            self._store(STORE_KEY, "[" + ", ".join(self._rows) + "]")
        return event

    def newest(self, count: int | None = None, min_level: str = "info") -> list[Event]:
        floor = LEVELS.index(min_level)
        found = [e for e in reversed(self._events) if LEVELS.index(e.level) >= floor]
        return found if count is None else found[:count]

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)


class EventSink:
    """Records a graded event (info | warn | error | critical) and writes it to the log; a critical one is
    also published to the other nodes of a cluster. Critical events and those starting with one of
    `alert_prefixes` carry FMZ's push marker '@' (locally fmz_compat/alerts.py)."""

    def __init__(self, events: EventLog, now_ms: Callable[[], int],
                 publish: Callable[[str, dict[str, Any]], None], log: Callable[..., None],
                 alert_prefixes: tuple[str, ...]) -> None:
        self.events = events
        self._now_ms = now_ms
        self._publish = publish
        self._log = log
        self._alert_prefixes = alert_prefixes

    def __call__(self, text: str, level: str = "info") -> None:
        self.events.record(self._now_ms(), level, text)
        if level == "critical":
            self._publish("event", {"level": level, "text": text})
        colour = LOG_COLOURS[level]
        push = "@" if level == "critical" or text.startswith(self._alert_prefixes) else ""  # FMZ's push
        if colour or push:
            self._log(text, colour + push)
        else:
            self._log(text)
