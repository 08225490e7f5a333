"""`python -m fmz_compat live`: refusals are one line with exit 2; a run drives the real venue API."""

from __future__ import annotations

import json
import time

import pytest
from venue_payloads import BINANCE_EXCHANGE_INFO, SECRETS
from ws_server import FakeVenueWs

from fmz_compat.__main__ import main

STRATEGY = '''
def main():
    t = exchange.GetTicker("BTC_USDT.swap")
    Log("bid", t.Buy, "ask", t.Sell, exchange.GetName())
'''


def _files(tmp_path, keys, mode=0o600):
    strategy = tmp_path / "s.py"
    strategy.write_text(STRATEGY)
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(keys))
    path.chmod(mode)
    return strategy, path


def _binance_keys():
    c = SECRETS["binance"]
    return {"binance": {"apiKey": c.api_key, "secret": c.secret}}


def test_world_readable_keys_file_is_refused_in_one_line(tmp_path, capsys, http):
    strategy, keys = _files(tmp_path, _binance_keys(), 0o644)
    assert main(["live", str(strategy), "--keys", str(keys), "--venues", "binance",
                 "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "chmod 600" in err and "Traceback" not in err


def test_missing_venue_keys_and_unknown_venue_are_refused(tmp_path, capsys, http):
    strategy, keys = _files(tmp_path, _binance_keys())
    assert main(["live", str(strategy), "--keys", str(keys), "--venues", "binance,okx",
                 "--out", str(tmp_path / "runs")]) == 2
    assert "no keys for okx" in capsys.readouterr().err
    assert len(http.calls) == 0  # refused before any request
    assert main(["live", str(strategy), "--keys", str(keys), "--venues", "kraken"]) == 2
    assert "choose from binance" in capsys.readouterr().err


def test_hedge_mode_account_is_refused_with_what_to_change(tmp_path, capsys, http):
    strategy, keys = _files(tmp_path, _binance_keys())
    http.get("https://fapi.binance.com/fapi/v1/exchangeInfo", json=BINANCE_EXCHANGE_INFO)
    http.get("https://fapi.binance.com/fapi/v1/positionSide/dual", json={"dualSidePosition": True})
    assert main(["live", str(strategy), "--keys", str(keys), "--venues", "binance",
                 "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "one-way mode" in err and SECRETS["binance"].secret not in err


@pytest.mark.slow
def test_a_live_run_reads_the_venue_and_logs_through_the_robot(tmp_path, capsys, http):
    strategy, keys = _files(tmp_path, _binance_keys())
    api = "https://fapi.binance.com/fapi/v1"
    http.get(f"{api}/exchangeInfo", json=BINANCE_EXCHANGE_INFO)
    http.get(f"{api}/positionSide/dual", json={"dualSidePosition": False})
    http.get(f"{api}/ticker/24hr", json={
        "symbol": "BTCUSDT", "priceChange": "100.0", "priceChangePercent": "0.105",
        "weightedAvgPrice": "95000",
        "lastPrice": "95000.1", "lastQty": "0.010", "openPrice": "94900.1", "highPrice": "95500.0",
        "lowPrice": "94000.0", "volume": "123456.789", "quoteVolume": "11728395000.0",
        "openTime": 1732413600000, "closeTime": 1732500000000, "firstId": 1, "lastId": 2, "count": 2})
    http.get(f"{api}/depth", json={"lastUpdateId": 1027024, "E": 1732500000001, "T": 1732500000000,
                                   "bids": [["95000.00", "1.500"]], "asks": [["95000.10", "0.800"]]})
    code = main(["live", str(strategy), "--keys", str(keys), "--venues", "binance", "--books", "rest",
                 "--out", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "bid 95000.0 ask 95000.1 Futures_Binance" in out
    assert SECRETS["binance"].secret not in out and SECRETS["binance"].api_key not in out


def test_testnet_switches_clients_to_sandbox_and_refuses_venues_without_one(tmp_path, capsys, http):
    from fmz_compat.live import build_client

    creds = SECRETS["binance"]
    client = build_client("binance", creds, testnet=True)
    assert "testnet" in client.urls["api"]["fapiPrivate"]
    keys = {"coinex": {"apiKey": creds.api_key, "secret": creds.secret}}
    strategy, path = _files(tmp_path, keys)
    assert main(["live", str(strategy), "--keys", str(path), "--venues", "coinex", "--testnet",
                 "--out", str(tmp_path / "runs")]) == 2
    assert "coinex has no testnet" in capsys.readouterr().err
    assert len(http.calls) == 0


WS_STRATEGY = '''
def main():
    for _ in range(500):
        t = exchange.GetTicker("BTC_USDT.swap")
        if t is not None and t.Info.get("source") == "ws":
            Log("ws bid", t.Buy, "ask", t.Sell)
            return
        Sleep(10)
    Log("no websocket book")
'''


@pytest.mark.slow
def test_a_live_run_streams_books_and_falls_back_to_rest_until_they_are_in_sync(tmp_path, capsys, http):
    strategy, keys = _files(tmp_path, _binance_keys())
    strategy.write_text(WS_STRATEGY)
    api = "https://fapi.binance.com/fapi/v1"
    http.get(f"{api}/exchangeInfo", json=BINANCE_EXCHANGE_INFO)
    http.get(f"{api}/positionSide/dual", json={"dualSidePosition": False})
    http.get(f"{api}/ticker/24hr", json={
        "symbol": "BTCUSDT", "lastPrice": "95000.1", "openPrice": "94900.1", "highPrice": "95500.0",
        "lowPrice": "94000.0", "volume": "123456.789", "quoteVolume": "11728395000.0",
        "openTime": 1732413600000, "closeTime": 1732500000000})
    http.get(f"{api}/depth", json={"lastUpdateId": 1027024, "E": 1732500000001, "T": 1732500000000,
                                   "bids": [["95000.00", "1.500"]], "asks": [["95000.10", "0.800"]]})

    def venue(text: str) -> list[str | bytes]:
        if json.loads(text).get("method") != "SUBSCRIBE":
            return []
        now = time.time_ns() // 1_000_000
        diff = {"e": "depthUpdate", "E": now, "T": now, "s": "BTCUSDT", "U": 1027000, "u": 1027030,
                "pu": 1026990, "b": [["95000.05", "2.000"]], "a": []}
        return [json.dumps({"stream": "btcusdt@depth@100ms", "data": diff})]

    with FakeVenueWs(venue) as server:
        code = main(["live", str(strategy), "--keys", str(keys), "--venues", "binance",
                     "--books-url", f"binance={server.url}", "--out", str(tmp_path / "runs")])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "ws bid 95000.05 ask 95000.1" in out
        assert json.loads(server.received[0])["params"] == ["btcusdt@depth@100ms"]


def test_book_options_are_checked(tmp_path, capsys, http):
    strategy, keys = _files(tmp_path, _binance_keys())
    base = ["live", str(strategy), "--keys", str(keys), "--venues", "binance",
            "--out", str(tmp_path / "runs")]
    assert main([*base, "--books-url", "binance=http://x"]) == 2
    assert "--books-url 'binance=http://x': use VENUE=wss://" in capsys.readouterr().err
    assert main([*base, "--symbols", "BTCUSDT"]) == 2
    assert "BTCUSDT is not a pair" in capsys.readouterr().err
    assert main([*base, "--book-max-age-ms", "5"]) == 2
    assert "--book-max-age-ms 5: use 100 or more" in capsys.readouterr().err
    assert len(http.calls) == 0


@pytest.mark.slow
def test_a_live_run_with_the_dashboard_serves_the_robot_page(tmp_path, capsys, http):
    from fmz_compat.__main__ import build_parser
    from fmz_compat.live_cli import main_live

    strategy, keys = _files(tmp_path, _binance_keys())
    api = "https://fapi.binance.com/fapi/v1"
    http.get(f"{api}/exchangeInfo", json=BINANCE_EXCHANGE_INFO)
    http.get(f"{api}/positionSide/dual", json={"dualSidePosition": False})
    http.get(f"{api}/ticker/24hr", json={
        "symbol": "BTCUSDT", "lastPrice": "95000.1", "openPrice": "94900.1", "highPrice": "95500.0",
        "lowPrice": "94000.0", "volume": "123456.789", "quoteVolume": "11728395000.0",
        "openTime": 1732413600000, "closeTime": 1732500000000})
    http.get(f"{api}/depth", json={"lastUpdateId": 1027024, "E": 1732500000001, "T": 1732500000000,
                                   "bids": [["95000.00", "1.500"]], "asks": [["95000.10", "0.800"]]})
    http.add_passthru("http://127.0.0.1")  # the robot page itself
    ns = build_parser().parse_args(["live", str(strategy), "--keys", str(keys), "--venues", "binance",
                                    "--books", "rest", "--dashboard", "127.0.0.1:0",
                                    "--out", str(tmp_path / "runs")])
    assert main_live(ns, linger=False) == 0
    out = capsys.readouterr().out
    assert "dashboard: http://127.0.0.1:" in out and "bid 95000.0 ask 95000.1 Futures_Binance" in out
    assert (tmp_path / "runs" / "1" / "run.json").is_file()


ORDER_STRATEGY = '''
def main():
    Log("order id", exchange.CreateOrder("BTC_USDT.swap", "buy", 95000, 1))
'''


def test_a_live_run_on_okx_sends_orders_over_the_logged_in_websocket(tmp_path, capsys, http):
    import re

    from venue_payloads import OKX_INSTRUMENTS, okx_ok

    c = SECRETS["okx"]
    keys_json = {"okx": {"apiKey": c.api_key, "secret": c.secret, "password": c.password}}
    strategy, keys = _files(tmp_path, keys_json)
    strategy.write_text(ORDER_STRATEGY)
    api = "https://www.okx.com/api/v5"
    http.get(re.compile(rf"{api}/public/instruments\?instType=SWAP"), json=OKX_INSTRUMENTS)
    http.get(f"{api}/account/config", json=okx_ok([{"acctLv": "2", "posMode": "net_mode"}]))
    http.get(f"{api}/public/time", json=okx_ok([{"ts": str(time.time_ns() // 1_000_000)}]))

    def venue(text: str) -> list[str | bytes]:
        message = json.loads(text)
        if message.get("op") == "login":
            return [json.dumps({"event": "login", "code": "0", "msg": "", "connId": "c1"})]
        if message.get("op") == "order":
            row = {"clOrdId": message["args"][0]["clOrdId"], "ordId": "555", "tag": "", "ts": "1",
                   "sCode": "0", "sMsg": ""}
            return [json.dumps({"id": message["id"], "op": "order", "code": "0", "msg": "", "data": [row]})]
        return []

    with FakeVenueWs(venue) as server:
        code = main(["live", str(strategy), "--keys", str(keys), "--venues", "okx", "--books", "rest",
                     "--orders-url", f"okx={server.url}", "--out", str(tmp_path / "runs")])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "order id BTC_USDT.swap,555" in out
    assert not any("/trade/" in call.request.url for call in http.calls)
    stats = json.loads((tmp_path / "runs" / "1" / "run.json").read_text())
    assert "order_routes" in json.dumps(stats) and c.password not in out and c.secret not in out
    assert main(["live", str(strategy), "--keys", str(keys), "--venues", "okx",
                 "--orders-url", "okx=http://x"]) == 2
    assert "--orders-url 'okx=http://x': use VENUE=wss://" in capsys.readouterr().err


def test_a_broker_tag_okx_would_refuse_stops_the_start_with_one_line(tmp_path, capsys, http):
    """OKX's order `tag`: at most 16 letters and digits; refused before any request, not on every order."""
    strategy, keys = _files(tmp_path, _binance_keys())
    base = ["live", str(strategy), "--keys", str(keys), "--venues", "okx", "--out", str(tmp_path / "runs")]
    assert main([*base, "--okx-broker-tag", "my_tag-2026"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--okx-broker-tag 'my_tag-2026': OKX takes at most 16 letters and digits" in err
    assert "\n" not in err
    assert len(http.calls) == 0
