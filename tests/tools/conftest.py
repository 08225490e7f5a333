"""A chaos run in the test process drops the hedge modules at every life of the strategy (a restart imports
them afresh, tools/chaos.py _forget_strategy_modules). The tests after it must get back the modules they
imported, or their isinstance checks against hedge classes fail (tests/hedge/cluster run after these did)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


def _hedge_modules() -> dict[str, object]:
    return {n: m for n, m in sys.modules.items() if n == "hedge" or n.startswith("hedge.")}


def _kept() -> Iterator[None]:
    saved = _hedge_modules()
    yield
    for name in _hedge_modules():
        del sys.modules[name]
    sys.modules.update(saved)


@pytest.fixture
def own_hedge_modules() -> Iterator[None]:
    yield from _kept()


@pytest.fixture(scope="module")
def own_hedge_modules_for_module() -> Iterator[None]:
    yield from _kept()
