"""The trading gate (hedge/gate.py): holds by name, the strictest wins, a release lifts only its own hold."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hedge.gate import CLUSTER, RECONCILE, STATE_KEY, USER, TradingGate
from hedge.state import TradingState

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
STRICTNESS = [ACTIVE, REDUCING, HALTED]
NAMES = [USER, RECONCILE, CLUSTER, "guard:rejects", "guard:drawdown"]
PERSON_CLEARS = {"guard:drawdown"}


class Store(dict):
    """FMZ's _G: store(key) reads, store(key, value) writes."""

    def __call__(self, key, *value):
        if value:
            self[key] = value[0]
            return None
        return self.get(key)


def _gate(store=None):
    events, halted = [], []
    gate = TradingGate(lambda text, level: events.append((level, text)),
                       store if store is not None else Store(), lambda: halted.append(True),
                       person_clears=PERSON_CLEARS)
    return gate, events, halted


ops = st.lists(st.one_of(
    st.tuples(st.just("hold"), st.sampled_from(NAMES), st.sampled_from([REDUCING, HALTED]),
              st.text(max_size=8)),
    st.tuples(st.just("release"), st.sampled_from(NAMES)),
    st.tuples(st.just("resume"),),
), max_size=40)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_the_state_is_the_strictest_outstanding_hold_and_a_release_lifts_only_its_own(sequence):
    gate, events, halted = _gate()
    model: dict[str, tuple[TradingState, str]] = {}
    for op in sequence:
        before_state, calls = gate.state, len(halted)
        others = {h.name: h for h in gate.holds if h.name != (op[1] if len(op) > 1 else None)}
        if op[0] == "hold":
            _, name, state, reason = op
            gate.hold(name, state, reason)
            if model.get(name, (None,))[0] is not state:
                model[name] = (state, reason)
            assert others == {h.name: h for h in gate.holds if h.name != name}
        elif op[0] == "release":
            gate.release(op[1], "why")
            model.pop(op[1], None)
            # another source's hold is untouched: same name, state and reason
            assert {h.name: h for h in gate.holds} == others
        else:
            gate.resume("command state:ACTIVE")
            model = {n: v for n, v in model.items() if n != USER and n not in PERSON_CLEARS}
        assert {h.name: (h.state, h.reason) for h in gate.holds} == model
        strictest = max((s for s, _ in model.values()), key=STRICTNESS.index, default=ACTIVE)
        assert gate.state is strictest
        changed = [t for _, t in events if t.startswith(f"trading state {before_state.value} -> ")]
        assert bool(changed) == (gate.state is not before_state)
        # resting orders are cancelled exactly when HALTED is entered
        assert len(halted) - calls == (gate.state is HALTED and before_state is not HALTED)
        events.clear()


@settings(max_examples=200, deadline=None)
@given(ops)
def test_every_hold_survives_a_restart(sequence):
    store = Store()
    gate, _events, _halted = _gate(store)
    for op in sequence:
        if op[0] == "hold":
            gate.hold(op[1], op[2], op[3])
        elif op[0] == "release":
            gate.release(op[1], "why")
        else:
            gate.resume("command state:ACTIVE")
    restarted, _events, halted = _gate(store)
    restarted.restore()
    assert restarted.holds == gate.holds and restarted.state is gate.state
    assert halted == []  # a restart cancels nothing: no order was sent yet


def test_entering_halted_cancels_resting_orders_once():
    gate, events, halted = _gate()
    gate.hold(RECONCILE, REDUCING, "reconcile: 1 venue position(s) differ")
    gate.hold(USER, HALTED, "command state:HALTED")
    gate.hold(CLUSTER, REDUCING, "redis unreachable (ConnectionError)")  # less strict: nothing to tell
    assert halted == [True] and gate.state is HALTED and gate.reason == "command state:HALTED"
    assert [t for _, t in events] == [
        "trading state ACTIVE -> REDUCING: reconcile: 1 venue position(s) differ",
        "trading state REDUCING -> HALTED: command state:HALTED"]


def test_a_persons_resume_lifts_their_hold_and_drawdown_but_not_an_automatic_one():
    gate, events, _halted = _gate()
    gate.hold("guard:drawdown", REDUCING, "guard drawdown: unit NAV 0.85 is 15% below its peak")
    gate.hold(RECONCILE, REDUCING, "reconcile: positions unreadable on some venue; will retry")
    gate.hold(USER, HALTED, "command state:HALTED")
    events.clear()
    gate.resume("command state:ACTIVE")
    assert gate.state is REDUCING and [h.name for h in gate.holds] == [RECONCILE]
    assert events == [("critical", "trading state HALTED -> REDUCING: command state:ACTIVE; still held: "
                                   "reconcile: positions unreadable on some venue; will retry")]
    gate.release(RECONCILE, "positions reconciled")
    assert gate.state is ACTIVE and events[-1][1] == "trading state REDUCING -> ACTIVE: positions reconciled"


def test_the_newest_of_equal_holds_is_shown_and_its_release_shows_the_other():
    gate, events, _halted = _gate()
    gate.hold(RECONCILE, REDUCING, "reconcile: 1 venue position(s) differ")
    gate.hold("guard:rejects", REDUCING, "guard rejects: 5 orders refused")
    gate.hold(RECONCILE, REDUCING, "reconcile: again")  # held already: the first reason stays
    assert gate.reason == "guard rejects: 5 orders refused"
    gate.release("guard:rejects", "guard rejects cleared: fewer than 5")
    assert gate.reason == "reconcile: 1 venue position(s) differ"
    assert [t for _, t in events][1:] == [
        "trading state stays REDUCING, now because: guard rejects: 5 orders refused",
        "trading state stays REDUCING, now because: reconcile: 1 venue position(s) differ "
        "(guard rejects cleared: fewer than 5)"]


def test_the_saved_record_keeps_the_shape_from_before_the_gate():
    """_G hedge_state_v1 as the strategy wrote it before the gate still restores, and one hold is saved as
    it was then (state, reason, source; a person's source is "")."""
    store = Store({STATE_KEY: json.dumps({"state": "REDUCING", "reason": "guard rejects: 5", "source":
                                          "guard:rejects"})})
    gate, events, _halted = _gate(store)
    gate.restore()
    assert [(h.name, h.state, h.reason) for h in gate.holds] == [
        ("guard:rejects", REDUCING, "guard rejects: 5")]
    assert events == [("warn", "trading state REDUCING from before the restart (guard rejects: 5) clears "
                               "once its condition clears")]
    gate.release("guard:rejects", "guard rejects cleared: fewer")
    gate.hold(USER, HALTED, "command state:HALTED")
    assert json.loads(store[STATE_KEY]) == {"state": "HALTED", "reason": "command state:HALTED", "source": ""}
    gate.resume("command state:ACTIVE")
    assert json.loads(store[STATE_KEY]) == {"state": "ACTIVE", "reason": "command state:ACTIVE", "source": ""}


def test_active_is_no_hold():
    gate, _events, _halted = _gate()
    with pytest.raises(ValueError, match="ACTIVE is no hold"):
        gate.hold(USER, ACTIVE, "command state:ACTIVE")
