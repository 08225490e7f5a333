"""Wallet calls in each venue's own format: what is sent, how answers read (done / refused / unknown),
and the same calls end to end on the simulator (transfer, withdraw, deposit address, faults)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world
from hedge.transfers import read_funding_balance, read_history
from hedge.wallets import bybit_transfer_id, deposit_address, internal_transfer, withdraw

T0 = 1_704_067_200_000


class Recorder:
    """exchange.IO("api", ...) that records the request and answers what the test says."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def IO(self, key: str, method: str, path: str, query: str = "", body: str = "") -> Any:  # noqa: N802
        assert key == "api"
        sent = dict(parse_qsl(query)) | (json.loads(body) if body else {})
        self.calls.append((method, path, sent))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _withdraw(ex: Recorder, venue: str, memo: str = "") -> Any:
    return withdraw(ex, venue, amount=Decimal("1234.567"), network="TRC20", address="TXdest", memo=memo,
                    client_id="tr3x1700", now_ms=T0)


def test_binance_withdrawal_is_a_signed_query_from_the_spot_wallet_with_our_client_id():
    ex = Recorder({"id": "7213fea8e94b4a5593d507237e5a555b"})
    answer = _withdraw(ex, "binance", memo="42")
    assert answer.done and answer.ref == "7213fea8e94b4a5593d507237e5a555b"
    method, path, sent = ex.calls[0]
    assert (method, path) == ("POST", "/sapi/v1/capital/withdraw/apply")
    assert sent == {"coin": "USDT", "network": "TRX", "address": "TXdest", "amount": "1234.56",
                    "withdrawOrderId": "tr3x1700", "walletType": "0", "addressTag": "42"}


def test_okx_withdrawal_is_an_on_chain_json_body_with_the_memo_joined_to_the_address():
    ex = Recorder({"code": "0", "msg": "", "data": [{"wdId": "67485", "ccy": "USDT", "chain": "USDT-TRC20"}]})
    answer = _withdraw(ex, "okx", memo="7")
    assert answer.done and answer.ref == "67485"
    method, path, sent = ex.calls[0]
    assert (method, path) == ("POST", "/api/v5/asset/withdrawal")
    assert sent == {"ccy": "USDT", "amt": "1234.56", "dest": "4", "toAddr": "TXdest:7", "chain": "USDT-TRC20",
                    "clientId": "tr3x1700"}
    ex.answer = {"code": "58207", "msg": "Withdrawal address is not whitelisted", "data": []}
    refused = _withdraw(ex, "okx")
    assert refused.done is False and "58207" in refused.detail


def test_bybit_withdrawal_names_the_fund_account_and_a_request_id():
    ex = Recorder({"retCode": 0, "retMsg": "success", "result": {"id": "10195"}, "time": T0})
    assert _withdraw(ex, "bybit").ref == "10195"
    method, path, sent = ex.calls[0]
    assert (method, path) == ("POST", "/v5/asset/withdraw/create")
    assert sent == {"coin": "USDT", "chain": "TRX", "address": "TXdest", "amount": "1234.56", "timestamp": T0,
                    "forceChain": 1, "accountType": "FUND", "requestId": "tr3x1700"}
    ex.answer = {"retCode": 131001, "retMsg": "openapi svc error", "result": {}}
    assert _withdraw(ex, "bybit").done is False


@pytest.mark.parametrize("venue", ["binance", "okx", "bybit"])
def test_no_answer_is_unknown_never_refused(venue):
    assert _withdraw(Recorder(None), venue).done is None
    assert _withdraw(Recorder(RuntimeError("socket closed")), venue).done is None


@pytest.mark.parametrize(("venue", "path", "to_futures", "expected"), [
    ("binance", "/sapi/v1/asset/transfer", False,
     {"type": "UMFUTURE_MAIN", "asset": "USDT", "amount": "10.50"}),
    ("binance", "/sapi/v1/asset/transfer", True,
     {"type": "MAIN_UMFUTURE", "asset": "USDT", "amount": "10.50"}),
    ("okx", "/api/v5/asset/transfer", False,
     {"ccy": "USDT", "amt": "10.50", "from": "18", "to": "6", "clientId": "r1"}),
    ("bybit", "/v5/asset/transfer/inter-transfer", True,
     {"transferId": bybit_transfer_id("r1"), "coin": "USDT", "amount": "10.50", "fromAccountType": "FUND",
      "toAccountType": "UNIFIED"}),
])
def test_internal_transfers_use_each_venues_wallet_names(venue, path, to_futures, expected):
    ex = Recorder(None)
    internal_transfer(ex, venue, Decimal("10.5"), to_futures=to_futures, ref="r1")
    assert ex.calls == [("POST", path, expected)]


# ccxt's recorded Bybit request (ccxt/ccxt ts/src/test/static/request/bybit.json, "transfer"): the body of
# POST /v5/asset/transfer/inter-transfer; Bybit's V5 docs (bybit-exchange.github.io/docs/v5/asset/transfer/
# create-inter-transfer): "transferId: UUID. Please manually generate a UUID"
CCXT_BYBIT_TRANSFER_BODY = {"transferId": "22942eaa-4231-47a4-8f05-0a6a6d8d221e",
                            "fromAccountType": "UNIFIED", "toAccountType": "FUND", "coin": "USDT",
                            "amount": "1"}
UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_bybit_inter_transfer_sends_a_uuid_transfer_id_shaped_like_ccxts_recorded_request():
    assert UUID_SHAPE.match(CCXT_BYBIT_TRANSFER_BODY["transferId"])  # the recorded request itself
    ex = Recorder({"retCode": 0, "retMsg": "success", "result": {"transferId": "x", "status": "SUCCESS"}})
    assert internal_transfer(ex, "bybit", Decimal(1), to_futures=False, ref="tr12x1719792000a").done
    [(_, _, sent)] = ex.calls
    assert set(sent) == set(CCXT_BYBIT_TRANSFER_BODY)
    assert UUID_SHAPE.match(sent["transferId"]), sent["transferId"]
    assert (sent["fromAccountType"], sent["toAccountType"]) == ("UNIFIED", "FUND")
    # the same step retried sends the same id (Bybit's idempotency key); another step another one
    assert bybit_transfer_id("tr12x1719792000a") == sent["transferId"]
    assert sent["transferId"] != bybit_transfer_id("tr12x1719792000b")


def test_the_simulated_bybit_refuses_a_transfer_id_that_is_not_a_uuid():
    world, _ = _world()
    bybit = world.exchanges[2]
    body = json.dumps({"transferId": "tr1x1a", "coin": "USDT", "amount": "5", "fromAccountType": "UNIFIED",
                       "toAccountType": "FUND"})
    assert bybit.IO("api", "POST", "/v5/asset/transfer/inter-transfer", "", body) is None
    assert world.accounts[2].funding_wallet["USDT"] == 0
    assert internal_transfer(bybit, "bybit", Decimal(5), to_futures=False, ref="tr1x1a").done
    assert world.accounts[2].funding_wallet["USDT"] == pytest.approx(5)


def _world():
    cfg = SimConfig(seed=3, start_ms=T0, bindings=tuple(
        ExchangeBinding(f"Futures_{n}", balance=5000) for n in ("Binance", "OKX", "Bybit")))
    clock = BacktestClock(T0 * 10**6, (T0 + 86_400_000) * 10**6)
    return create_world(cfg, clock, MemoryLog()), clock


@pytest.mark.parametrize(("source", "dest"), [(0, 1), (1, 2), (2, 0)])
def test_on_the_simulator_a_move_leaves_futures_crosses_the_chain_and_is_credited(source, dest):
    world, clock = _world()
    venues = ("binance", "okx", "bybit")
    src, dst = world.exchanges[source], world.exchanges[dest]
    address = deposit_address(dst, venues[dest], "TRC20")
    assert address == world.deposit_address(world.accounts[dest], "TRC20")
    assert internal_transfer(src, venues[source], Decimal(301), to_futures=False, ref="a").done
    assert read_funding_balance(src, venues[source]) == Decimal(301)
    answer = withdraw(src, venues[source], amount=Decimal(300), network="TRC20", address=address, memo="",
                      client_id="c1", now_ms=T0)
    assert answer.done and answer.ref
    clock.sleep(125_000)  # TRC20 takes two minutes on the simulator
    [deposit] = [r for r in read_history(dst, venues[dest]) if r.kind == "deposit"]
    assert deposit.amount == Decimal(299) and deposit.state == "done"  # the 1 USDT network fee
    assert internal_transfer(dst, venues[dest], Decimal(299), to_futures=True, ref="b").done
    assert world.accounts[dest].balances["USDT"] == pytest.approx(5299)


def test_on_the_simulator_suspended_withdrawals_are_refused_and_stuck_ones_never_arrive():
    world, clock = _world()
    okx, bybit = world.exchanges[1], world.exchanges[2]
    address = world.deposit_address(world.accounts[0], "TRC20")
    assert internal_transfer(okx, "okx", Decimal(1000), to_futures=False, ref="a").done
    world.inject("okx", "withdrawals_suspended", T0 + 3_600_000)
    refused = withdraw(okx, "okx", amount=Decimal(500), network="TRC20", address=address, memo="",
                       client_id="c1", now_ms=T0)
    assert refused.done is None and not world.withdrawals  # FMZ: an error is None and a log line
    assert internal_transfer(okx, "okx", Decimal(1000), to_futures=True, ref="b").done  # transfers still work
    assert internal_transfer(bybit, "bybit", Decimal(600), to_futures=False, ref="c").done
    world.inject("bybit", "withdrawals_stuck", T0 + 3_600_000)
    stuck = withdraw(bybit, "bybit", amount=Decimal(500), network="TRC20", address=address, memo="",
                     client_id="c2", now_ms=T0)
    assert stuck.done
    clock.sleep(6 * 3_600_000)
    [record] = read_history(bybit, "bybit")
    assert record.state == "pending" and not world.deposits
    assert world.accounts[2].funding_wallet["USDT"] == pytest.approx(100)
