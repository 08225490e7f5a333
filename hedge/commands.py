"""The interactive commands (FMZ's GetCommand): one per loop turn, dispatched by its name (the part
before ':'). `deposit:500` / `withdraw:200` declare a cash flow, booked at the next account check;
`state:REDUCING` is a person's word on the trading state; other modules add theirs (`treasury`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hedge.accounting import Accounting, FlowRejected, parse_flow_command
from hedge.gate import USER, TradingGate
from hedge.state import TradingState


class Commands:
    def __init__(self, *, get_command: Callable[[], Any], log: Callable[..., None], gate: TradingGate,
                 accounting: Callable[[], Accounting], event: Callable[..., None],
                 status_interval_s: Callable[[], int], check_accounts_now: Callable[[], None]) -> None:
        self._get_command = get_command
        self._log = log
        self._gate = gate
        self._accounting = accounting  # built again at start
        self._event = event
        self._status_interval_s = status_interval_s
        self._check_accounts_now = check_accounts_now  # a declared flow is booked at the next account check
        # handlers by name; other modules add theirs here
        self.handlers: dict[str, Callable[[str], None]] = {
            "deposit": self.on_flow, "withdraw": self.on_flow, "state": self.on_state}

    def poll(self) -> None:
        """One interactive command per loop turn, dispatched by its name (the part before ':')."""
        command = self._get_command()
        if not command:
            return
        command = str(command).strip()
        name = command.partition(":")[0].strip().lower()
        handler = self.handlers.get(name)
        if handler is None:
            self._log(f"unknown command '{command}'; known: "
                      f"{', '.join(sorted(self.handlers))} (e.g. deposit:500)", "#ff0000")
            return
        handler(command)

    def on_flow(self, command: str) -> None:
        try:
            amount = parse_flow_command(command)
        except FlowRejected as exc:
            self._log(str(exc), "#ff0000")
            return
        assert amount is not None
        self._accounting().declare_flow(amount, "command")
        self._event(f"command {command}: booked at the next account check (within "
                    f"{self._status_interval_s()} s) at that moment's unit NAV")
        self._check_accounts_now()

    def on_state(self, command: str) -> None:
        try:
            state = TradingState.parse(command.partition(":")[2])
        except ValueError as exc:
            self._log(f"command '{command}': {exc} (e.g. state:REDUCING)", "#ff0000")
            return
        self.set_state(state, f"command {command}")

    def set_state(self, state: TradingState, reason: str) -> None:
        """A person's word (a command, PARAMS): ACTIVE resumes (lifts the holds waiting for a person), any
        other state is their hold."""
        if state is TradingState.ACTIVE:
            self._gate.resume(reason)
        else:
            self._gate.hold(USER, state, reason)
