"""The trading gate: the one owner of the trading state (ACTIVE / REDUCING / HALTED).

Every source that may restrict trading holds the gate by its own name: a person (`user`: the state
buttons, the `state:` command, PARAMS `trading_state`, `App.halt`), the reconciliation of venue positions
with the ledger (`reconcile`), the cluster while Redis is away (`cluster`), each guard (`guard:<name>`).
The state is the strictest outstanding hold (none: ACTIVE). A source releases only its own hold, so a
guard clearing never lifts a person's halt or a reconcile stop. A person's resume (`state:ACTIVE`)
releases the holds that wait for a person: their own and the ones named in `person_clears` (drawdown).

Every change of the state, or of the hold it shows, is a critical event with its reason; the holds are
kept in _G (`hedge_state_v1`, the shape before the gate: state, reason, source, plus `holds` when more
than one is outstanding) and survive a restart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hedge import store_keys
from hedge.state import TradingState

STATE_KEY = store_keys.TRADING_STATE
USER = "user"
RECONCILE = "reconcile"
CLUSTER = "cluster"
_STRICTNESS = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}
# what lifts an automatic hold restored after a restart, for its event
_CLEARS_WHEN = {RECONCILE: "positions reconcile", CLUSTER: "Redis answers"}


@dataclass(frozen=True)
class Hold:
    name: str
    state: TradingState
    reason: str


def _source(name: str) -> str:
    """The persisted `source` of a hold: a person's is "" (as before the gate)."""
    return "" if name == USER else name


class TradingGate:
    def __init__(self, event: Callable[[str, str], None], store: Callable[..., Any],
                 on_halted: Callable[[], None], person_clears: Iterable[str] = ()) -> None:
        self._event = event
        self._store = store
        self._on_halted = on_halted
        self._person_clears = frozenset(person_clears) | {USER}
        self._holds: dict[str, Hold] = {}  # in the order they were placed: among equals the newest shows
        self._last_reason = ""  # why the state last changed (what the saved record says while ACTIVE)

    # --- reading ---
    @property
    def state(self) -> TradingState:
        winner = self.winner
        return winner.state if winner is not None else TradingState.ACTIVE

    @property
    def reason(self) -> str:
        """The reason of the hold that sets the state ("" while ACTIVE)."""
        winner = self.winner
        return winner.reason if winner is not None else ""

    @property
    def winner(self) -> Hold | None:
        """The strictest hold; among equally strict ones the most recently placed."""
        best: Hold | None = None
        for hold in self._holds.values():
            if best is None or _STRICTNESS[hold.state] >= _STRICTNESS[best.state]:
                best = hold
        return best

    def held(self, name: str) -> Hold | None:
        return self._holds.get(name)

    @property
    def holds(self) -> tuple[Hold, ...]:
        return tuple(self._holds.values())

    # --- changing ---
    def hold(self, name: str, state: TradingState, reason: str) -> bool:
        """Hold the gate at `state` (REDUCING or HALTED) under `name`. Holding again at the same state
        changes nothing (the first reason stays). True when the change was announced (an event)."""
        if state is TradingState.ACTIVE:
            raise ValueError(f"hold {name!r}: ACTIVE is no hold; release it instead")
        current = self._holds.get(name)
        if current is not None and current.state is state:
            return False
        before = self._snapshot()
        self._holds.pop(name, None)
        self._holds[name] = Hold(name, state, reason)
        return self._announce(before, None)

    def release(self, name: str, why: str) -> bool:
        """Lift `name`'s hold (others stay). True when the change was announced."""
        if name not in self._holds:
            return False
        before = self._snapshot()
        del self._holds[name]
        return self._announce(before, why)

    def resume(self, why: str) -> bool:
        """A person resumes: their hold and every hold waiting for a person are lifted."""
        names = [n for n in self._holds if n in self._person_clears]
        if not names:
            return False
        before = self._snapshot()
        for name in names:
            del self._holds[name]
        return self._announce(before, why)

    def restore(self) -> None:
        """Take back the holds saved before a restart (no orders are cancelled: nothing was sent yet)."""
        text = self._store(STATE_KEY)
        if not text:
            return
        try:
            saved = json.loads(text)
            entries = saved.get("holds") or [[saved["source"] or USER, saved["state"], saved["reason"]]]
            holds = [Hold(str(n) or USER, TradingState.parse(s), str(r)) for n, s, r in entries]
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        self._holds = {h.name: h for h in holds if h.state is not TradingState.ACTIVE}
        self._last_reason = str(saved.get("reason", ""))
        winner = self.winner
        if winner is None:
            return
        if winner.name in self._person_clears:
            self._event(f"trading state {winner.state.value} kept from before the restart: {winner.reason}; "
                        "command state:ACTIVE to resume", "critical")
        else:
            self._event(f"trading state {winner.state.value} from before the restart ({winner.reason}) "
                        f"clears once {_CLEARS_WHEN.get(winner.name, 'its condition clears')}", "warn")

    # --- internals ---
    def _snapshot(self) -> tuple[TradingState, Hold | None]:
        return self.state, self.winner

    def _announce(self, before: tuple[TradingState, Hold | None], why: str | None) -> bool:
        """Save, and tell what changed: the state, or the hold that sets it. `why`: a release's reason."""
        previous, shown = before
        state, winner = self._snapshot()
        if state is not previous:
            if why is None:  # a hold placed: it is the one that sets the new state
                text = winner.reason if winner is not None else ""
            else:
                text = why if winner is None else f"{why}; still held: {winner.reason}"
            self._last_reason = text
            self._save()
            self._event(f"trading state {previous.value} -> {state.value}: {text}", "critical")
            if state is TradingState.HALTED:
                self._on_halted()
            return True
        self._save()
        if winner is not None and winner != shown:
            because = winner.reason if why is None else f"{winner.reason} ({why})"
            self._event(f"trading state stays {state.value}, now because: {because}", "critical")
            return True
        return False

    def _save(self) -> None:
        winner = self.winner
        record: dict[str, Any] = {
            "state": self.state.value,
            "reason": winner.reason if winner is not None else self._last_reason,
            "source": _source(winner.name) if winner is not None else ""}
        if len(self._holds) > 1:
            record["holds"] = [[_source(h.name), h.state.value, h.reason] for h in self._holds.values()]
        self._store(STATE_KEY, json.dumps(record))
