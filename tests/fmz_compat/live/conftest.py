"""Fixtures for live-venue tests: a mocked HTTP layer and one LiveExchange per venue."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode: let tests import venue_payloads

from venue_payloads import (  # noqa: E402
    BINANCE_EXCHANGE_INFO,
    BITMEX_API,
    BITMEX_INSTRUMENTS,
    BYBIT_API,
    BYBIT_INSTRUMENTS,
    COINEX_API,
    COINEX_FUTURES_MARKETS,
    COINEX_SPOT_MARKETS,
    OKX_INSTRUMENTS,
    QUERY_API,
    UTA_INFO,
    make,
)

from fmz_compat.core import MemoryLog  # noqa: E402
from fmz_compat.live import LiveExchange  # noqa: E402


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def binance(http: responses.RequestsMock) -> tuple[LiveExchange, MemoryLog]:
    http.get("https://fapi.binance.com/fapi/v1/exchangeInfo", json=BINANCE_EXCHANGE_INFO)
    return make("binance", "BTC_USDT")


@pytest.fixture
def okx(http: responses.RequestsMock) -> tuple[LiveExchange, MemoryLog]:
    http.get(re.compile(r"https://www\.okx\.com/api/v5/public/instruments\?instType=SWAP"),
             json=OKX_INSTRUMENTS)
    return make("okx", "BTC_USDT")


@pytest.fixture
def bybit(http):
    http.get(re.compile(rf"{BYBIT_API}/market/instruments-info\?category=linear"), json=BYBIT_INSTRUMENTS)
    http.get(f"{BYBIT_API}/user/query-api", json=QUERY_API)
    http.get(f"{BYBIT_API}/account/info", json=UTA_INFO)
    return make("bybit", "BTC_USDT")


@pytest.fixture
def coinex(http):
    http.get(f"{COINEX_API}/spot/market", json=COINEX_SPOT_MARKETS)
    http.get(f"{COINEX_API}/futures/market", json=COINEX_FUTURES_MARKETS)
    return make("coinex", "BTC_USDT")


@pytest.fixture
def bitmex(http):
    http.get(re.compile(rf"{BITMEX_API}/instrument/active"), json=BITMEX_INSTRUMENTS)
    return make("bitmex", "BTC_USDT")
