"""The lockstep clock on its own: time moves only when every node waits (no threads: waits that are not
done yet answer at once with hold_s=0, as a node's /sleep answers "ask again")."""

from __future__ import annotations

from fmz_compat.sim.lockstep import CALL, LockstepClock

T = 1_704_067_200_000


class Wall:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _clock(*nodes: str, end_ms: int | None = None, running: bool = True, wall: Wall | None = None
           ) -> LockstepClock:
    clock = LockstepClock(T, end_ms, running=running, drop_after_s=10.0, wall=wall or Wall())
    for node in nodes:
        clock.join(node)
    return clock


def _ms(clock: LockstepClock) -> int:
    return clock.now_ns() // 1_000_000 - T


def test_time_jumps_to_the_earliest_wake_once_every_node_waits_and_releases_only_the_nodes_due():
    clock = _clock("tokyo", "dublin")
    assert not clock.wait("tokyo", T + 1000, hold_s=0)  # dublin still runs: time holds
    assert _ms(clock) == 0
    assert clock.wait("dublin", T + 400, hold_s=0)  # both wait: to dublin's wake, dublin runs again
    assert _ms(clock) == 400
    assert not clock.wait("tokyo", T + 1000, hold_s=0)
    assert not clock.wait("dublin", T + 1400, hold_s=0)  # now tokyo's wake comes first
    assert _ms(clock) == 1000
    assert clock.wait("tokyo", T + 1000, hold_s=0)
    assert not clock.wait("dublin", T + 1400, hold_s=0)
    assert clock.wait("tokyo", T + 1400, hold_s=0)  # same wake: both released, side by side
    assert clock.wait("dublin", T + 1400, hold_s=0)
    assert _ms(clock) == 1400
    assert clock.wait("tokyo", T + 1000, hold_s=0)  # a wake already past: no wait at all


def test_a_node_that_leaves_or_hangs_no_longer_holds_time_back_and_joins_again_when_it_waits():
    wall = Wall()
    clock = _clock("tokyo", "dublin", "sg", wall=wall)
    assert not clock.wait("tokyo", T + 500, hold_s=0)
    clock.leave("sg", "connection closed")
    assert not clock.wait("tokyo", T + 500, hold_s=0)  # dublin runs
    wall.now += 10.5  # dublin made no request for over 10 wall seconds while running
    clock.reap()
    assert clock.wait("tokyo", T + 500, hold_s=0)
    state = clock.state()
    assert set(state["members"]) == {"tokyo"}
    assert state["left"] == {"sg": {"at_ms": T, "why": "connection closed"},
                             "dublin": {"at_ms": T, "why": "no request for 10 wall seconds while running"}}
    assert not clock.wait("dublin", T + 700, hold_s=0)  # back: tokyo runs, so dublin waits
    assert "dublin" in clock.state()["members"] and "dublin" not in clock.state()["left"]
    assert not clock.wait("tokyo", T + 900, hold_s=0)
    assert _ms(clock) == 700


def test_time_holds_at_the_start_until_run_and_stops_at_the_end_releasing_everyone():
    clock = _clock("tokyo", "dublin", end_ms=T + 1000, running=False)
    assert not clock.wait("tokyo", T + 300, hold_s=0)
    assert not clock.wait("dublin", T + 5000, hold_s=0)
    clock.run()  # --wait-nodes reached
    assert _ms(clock) == 300 and clock.wait("tokyo", T + 300, hold_s=0)
    assert clock.wait("tokyo", T + 9000, hold_s=0)  # the window ends first: everyone is released
    assert clock.wait("dublin", T + 5000, hold_s=0)
    assert _ms(clock) == 1000 and clock.ended()


def test_a_hold_stops_time_at_the_first_instant_after_it_when_every_node_is_in_sleep():
    clock = _clock("tokyo", "dublin")
    clock.hold(T + 2000)
    assert clock.wait("tokyo", T + 1500, hold_s=0) is False
    assert clock.wait("dublin", T + 1900, CALL, hold_s=0) is False  # between two calls of an execution
    assert _ms(clock) == 1500 and clock.wait("tokyo", T + 1500, hold_s=0)
    assert not clock.wait("tokyo", T + 5000, hold_s=0)
    assert _ms(clock) == 1900
    assert clock.wait("dublin", T + 2100, CALL, hold_s=0)  # at 2000 dublin is mid-call: on to 2100
    assert _ms(clock) == 2100 and not clock.state()["held"]
    assert not clock.wait("dublin", T + 3000, hold_s=0)  # now every node sleeps: held here
    assert _ms(clock) == 2100 and clock.state()["held"]
    clock.hold(None)
    assert _ms(clock) == 3000 and not clock.state()["held"]


def test_a_restarted_node_runs_from_its_hello_even_if_its_old_process_was_waiting():
    clock = _clock("tokyo", "dublin")
    assert not clock.wait("dublin", T + 100, hold_s=0)
    clock.join("dublin")  # a new process of dublin said hello: it runs
    assert not clock.wait("tokyo", T + 50, hold_s=0)
    assert _ms(clock) == 0
