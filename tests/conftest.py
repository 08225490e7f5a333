"""Markers every test directory shares (registered in pyproject.toml; `-m "not slow"` is the quick loop).

A test that uses a redis-server fixture is marked `redis` here, so a new one cannot forget the marker; a test
that starts redis-server another way (the cluster CLI) carries the marker itself. `slow` and `browser` are
set in the test modules.
"""

from __future__ import annotations

import pytest

REDIS_FIXTURES = {"redis_server", "redis_url"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REDIS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.redis)
