"""Trading states: what the strategy may do right now.

ACTIVE: opens and closes pairs. REDUCING: only closes (stops and reverted spreads), never opens.
HALTED: sends no orders at all (resting orders are cancelled on entry). The state is owned by the
trading gate (hedge/gate.py): a person, reconcile, the cluster and each guard hold it by name, the
strictest hold wins; every switch is a critical event with its reason.
"""

from __future__ import annotations

from enum import Enum


class TradingState(Enum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @property
    def may_open(self) -> bool:
        return self is TradingState.ACTIVE

    @property
    def may_close(self) -> bool:
        return self is not TradingState.HALTED

    @classmethod
    def parse(cls, text: str) -> TradingState:
        try:
            return cls(text.strip().upper())
        except ValueError:
            raise ValueError(f"unknown trading state {text!r}: use ACTIVE, REDUCING or HALTED") from None
