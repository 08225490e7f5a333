"""Market.MaxQty of the live adapter: the most contracts one MARKET order may be (issue #17).

The strategy sends market orders, and each venue bounds a market order by its own figure, below the limit
order's: Binance USDⓈ-M MARKET_LOT_SIZE maxQty beside LOT_SIZE maxQty (ccxt 4.5.83 binance.parse_market:
limits['market'] and limits['amount']), OKX maxMktSz beside maxLmtSz (ccxt's limits.amount.max is maxLmtSz;
maxMktSz only in info), Bybit lotSizeFilter maxMktOrderQty beside maxOrderQty (ccxt's limits.amount.max is
maxOrderQty; maxMktOrderQty only in info). MaxQty is the smaller where both are given.

Payloads: the venues' own answers as cryptofeed recorded them (../shared/data/cryptofeed_raw_ws, see its
SOURCE.md): Binance GET /fapi/v1/exchangeInfo of 2021-07-22, Bybit GET /v5/market/instruments-info
category=linear of 2026-08-09, OKX GET /api/v5/public/instruments instType=SWAP of 2022-05-13.
"""

from __future__ import annotations

import json
import re

from venue_payloads import BYBIT_API, QUERY_API, UTA_INFO, make
from ws_captures import records


def _recorded(venue_file: str, url_part: str) -> dict:
    for record in records(venue_file):
        if record.get("t") == "http" and url_part in record["url"]:
            return json.loads(record["data"])
    raise AssertionError(f"no {url_part} answer in the {venue_file} capture")


def _filters(info: dict, symbol: str) -> dict[str, dict]:
    row = next(s for s in info["symbols"] if s["symbol"] == symbol)
    return {f["filterType"]: f for f in row["filters"]}


def test_binance_maxqty_is_market_lot_size_where_it_is_below_lot_size(http):
    """Recorded BCHUSDT: LOT_SIZE maxQty 10000, MARKET_LOT_SIZE maxQty 1000. Before: MaxQty 10000 (ccxt's
    limits.amount.max, LOT_SIZE), a market order of 1000 < q <= 10000 BCH refused (-4005). Now 1000. Where
    the two agree (BTCUSDT, 1000 and 1000) MaxQty is that figure."""
    info = _recorded("BINANCE_FUTURES", "/fapi/v1/exchangeInfo")
    bch, btc = _filters(info, "BCHUSDT"), _filters(info, "BTCUSDT")
    assert (bch["LOT_SIZE"]["maxQty"], bch["MARKET_LOT_SIZE"]["maxQty"]) == ("10000", "1000")
    assert btc["LOT_SIZE"]["maxQty"] == btc["MARKET_LOT_SIZE"]["maxQty"] == "1000"
    http.get("https://fapi.binance.com/fapi/v1/exchangeInfo", json=info)
    ex, _ = make("binance", "BCH_USDT")
    markets = ex.GetMarkets()
    assert markets["BCH_USDT.swap"].MaxQty == 1000
    assert markets["BTC_USDT.swap"].MaxQty == 1000


def test_okx_maxqty_is_maxmktsz_where_it_is_below_maxlmtsz(http):
    """Recorded BTC-USDT-SWAP: maxLmtSz 100000000, maxMktSz 1600 contracts (ctVal 0.01 BTC). Before: MaxQty
    100000000 (ccxt's limits.amount.max, maxLmtSz). Now 1600."""
    answer = _recorded("OKX", "instruments?instType=SWAP")
    row = next(r for r in answer["data"] if r["instId"] == "BTC-USDT-SWAP")
    assert (row["maxLmtSz"], row["maxMktSz"], row["ctVal"]) == ("100000000", "1600", "0.01")
    http.get(re.compile(r"https://www\.okx\.com/api/v5/public/instruments\?instType=SWAP"), json=answer)
    ex, _ = make("okx", "BTC_USDT")
    assert ex.GetMarkets()["BTC_USDT.swap"].MaxQty == 1600


def test_bybit_maxqty_is_maxmktorderqty_where_it_is_below_maxorderqty(http):
    """Recorded linear BTCUSDT: maxOrderQty 1500, maxMktOrderQty 150 BTC. Before: MaxQty 1500 (ccxt's
    limits.amount.max, maxOrderQty). Now 150."""
    answer = _recorded("BYBIT", "instruments-info?&category=linear")
    row = next(r for r in answer["result"]["list"] if r["symbol"] == "BTCUSDT")
    lot = row["lotSizeFilter"]
    assert (lot["maxOrderQty"], lot["maxMktOrderQty"]) == ("1500.000", "150.000")
    http.get(re.compile(rf"{BYBIT_API}/market/instruments-info\?category=linear"), json=answer)
    http.get(f"{BYBIT_API}/user/query-api", json=QUERY_API)
    http.get(f"{BYBIT_API}/account/info", json=UTA_INFO)
    ex, _ = make("bybit", "BTC_USDT")
    assert ex.GetMarkets()["BTC_USDT.swap"].MaxQty == 150
