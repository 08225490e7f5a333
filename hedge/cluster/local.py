"""One node, no Redis: it owns every unit and shares nothing. The embedded default."""

from __future__ import annotations

from hedge.cluster.base import Coordinator


class LocalCoordinator(Coordinator):
    """Every method of the base: act on everything, persist the ledger in _G, no peers."""
