"""The few raw REST endpoints `exchange.IO("api", ...)` answers on the simulator.

Each account has a futures wallet (what trading uses) and a funding wallet (deposits arrive there,
withdrawals leave from it). Generic paths work on every venue; a handful of native paths per venue
map onto the same operations: deposit address, internal transfer, withdrawal, the funding wallet's
balance, and the deposit and withdrawal histories (in each venue's own response format; amounts are
strings as the venues send them). A withdrawal's `amount` in a history is what the receiver gets,
the fee is reported beside it (the wallet was debited by both).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fmz_compat.sim import params as P
from fmz_compat.sim.account import Account, VenueError

if TYPE_CHECKING:
    from fmz_compat.sim.world import SimWorld


def _amount(args: dict[str, Any], *keys: str) -> float:
    for key in keys:
        if key in args:
            try:
                value = float(args[key])
            except (TypeError, ValueError):
                break
            if value > 0:
                return value
            break
    raise VenueError(f"parameter {keys[0]} must be a positive number")


def _transfer(acc: Account, asset: str, amount: float, to_futures: bool) -> None:
    src = acc.funding_wallet if to_futures else acc.balances
    dst = acc.balances if to_futures else acc.funding_wallet
    available = src[asset] if to_futures else acc.available(asset)
    if amount > available + 1e-9:
        raise VenueError(f"insufficient {asset}: {available:.6f} available for a transfer of {amount:g}")
    src[asset] -= amount
    dst[asset] += amount
    acc.moved_to_funding[asset] += -amount if to_futures else amount


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def _network(chain: str) -> str:
    chain = chain.upper()
    name = chain.split("-", 1)[1] if "-" in chain else (chain or "TRC20")
    return P.NETWORK_ALIASES.get(name, name)


def _num(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") or "0"


def _utc(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))


def _arg_int(args: dict[str, Any], key: str) -> int | None:
    value = args.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise VenueError(f"parameter {key} must be an integer (ms)") from exc


# The venues' history windows (what one request can return), as documented:
# Binance GET /sapi/v1/capital/deposit/hisrec and /withdraw/history: startTime default 90 days ago, endTime
#   default now, "time between startTime and endTime must be less than 90 days", limit default/max 1000,
#   offset;
# Bybit GET /v5/asset/deposit/query-record and /withdraw/query-record: the last 30 days by default,
#   "endTime - startTime should be less than 30 days", limit [1, 50] default 50, cursor (nextPageCursor);
# OKX GET /api/v5/asset/deposit-history and /withdrawal-history: the newest `limit` rows (default and max
#   100), `after` / `before` (a ts) for records earlier / later than it.
BINANCE_WINDOW_MS = 90 * 86_400_000
BYBIT_WINDOW_MS = 30 * 86_400_000
HISTORY_PATHS = frozenset({"/sapi/v1/capital/deposit/hisrec", "/sapi/v1/capital/withdraw/history",
                           "/api/v5/asset/deposit-history", "/api/v5/asset/withdrawal-history",
                           "/v5/asset/deposit/query-record", "/v5/asset/withdraw/query-record"})


def _time_window(args: dict[str, Any], now: int, span: int, refusal: str) -> tuple[int, int]:
    start, end = _arg_int(args, "startTime"), _arg_int(args, "endTime")
    if start is None and end is None:
        return now - span, now
    if start is None:
        start = (end or now) - span
    if end is None:
        end = min(start + span, now) if start < now - span else now
    if end - start >= span or end < start:
        raise VenueError(refusal)
    return start, end


def _binance_page(rows: list[dict[str, Any]], args: dict[str, Any], now: int) -> list[dict[str, Any]]:
    start, end = _time_window(args, now, BINANCE_WINDOW_MS,
                              '{"code":-1127,"msg":"More than 2160 hours between startTime and endTime."}')
    offset = _arg_int(args, "offset") or 0
    limit = min(_arg_int(args, "limit") or 1000, 1000)
    chosen = [r for r in rows if start <= r["time"] <= end]
    return list(reversed(chosen))[offset:offset + limit]  # newest first


def _bybit_page(rows: list[dict[str, Any]], args: dict[str, Any],
                now: int) -> tuple[list[dict[str, Any]], str]:
    start, end = _time_window(args, now, BYBIT_WINDOW_MS,
                              '{"retCode":10001,"retMsg":"params error: endTime - startTime > 30 days"}')
    limit = max(1, min(_arg_int(args, "limit") or 50, 50))
    offset = int(args.get("cursor") or 0) if str(args.get("cursor") or "0").isdigit() else 0
    chosen = list(reversed([r for r in rows if start <= r["time"] <= end]))
    page = chosen[offset:offset + limit]
    return page, str(offset + limit) if offset + limit < len(chosen) else ""


def _okx_page(rows: list[dict[str, Any]], args: dict[str, Any]) -> list[dict[str, Any]]:
    after, before = _arg_int(args, "after"), _arg_int(args, "before")
    limit = max(1, min(_arg_int(args, "limit") or 100, 100))
    chosen = [r for r in rows
              if (after is None or r["time"] < after) and (before is None or r["time"] > before)]
    return list(reversed(chosen))[:limit]


def _deposits(world: SimWorld, acc: Account, coin: str) -> list[dict[str, Any]]:
    return [d for d in world.deposits if d["to"] == acc.index and d["asset"] == coin]


def _withdrawals(world: SimWorld, acc: Account, coin: str) -> list[dict[str, Any]]:
    return [w for w in world.withdrawals if w["from"] == acc.index and w["asset"] == coin]


# An endpoint's handler: (world, account, args, coin) -> the venue's answer.
Handler = Callable[["SimWorld", Account, dict[str, Any], str], Any]


def _binance_funding_asset(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    return [{"asset": coin, "free": _num(acc.funding_wallet[coin]), "locked": "0", "freeze": "0",
             "withdrawing": "0", "btcValuation": "0"}]


def _binance_user_asset(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    return []  # the spot wallet: the simulator's deposits land in the funding wallet


def _binance_deposit_history(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    now = world.now_ms()
    return [{"id": d["id"], "amount": _num(d["amount"]), "coin": coin, "network": d["network"],
             "status": 1, "address": d["address"], "addressTag": "", "txId": d["id"],
             "insertTime": d["time"], "transferType": 0, "confirmTimes": "1/1",
             "unlockConfirm": 0, "walletType": 0}
            for d in _binance_page(_deposits(world, acc, coin), args, now)]


def _binance_withdraw_history(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    now = world.now_ms()
    return [{"id": w["id"], "amount": _num(w["amount"] - w["fee"]),
             "transactionFee": _num(w["fee"]), "coin": coin,
             "status": 6 if w["arrive"] <= now else 4, "address": w["address"], "txId": w["id"],
             "applyTime": _utc(w["time"]), "network": w["network"], "transferType": 0,
             "completeTime": _utc(w["arrive"]) if w["arrive"] <= now else ""}
            for w in _binance_page(_withdrawals(world, acc, coin), args, now)]


def _okx_balances(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    bal = _num(acc.funding_wallet[coin])
    return {"code": "0", "msg": "", "data": [{"ccy": coin, "bal": bal, "availBal": bal,
                                              "frozenBal": "0"}]}


def _okx_deposit_history(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    return {"code": "0", "msg": "", "data": [
        {"ccy": coin, "chain": f"{coin}-{d['network']}", "amt": _num(d["amount"]), "from": "",
         "to": d["address"], "txId": d["id"], "ts": str(d["time"]), "state": "2",
         "depId": d["id"], "actualDepBlkConfirm": "1"}
        for d in _okx_page(_deposits(world, acc, coin), args)]}


def _okx_withdrawal_history(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    now = world.now_ms()
    return {"code": "0", "msg": "", "data": [
        {"ccy": coin, "chain": f"{coin}-{w['network']}", "amt": _num(w["amount"] - w["fee"]),
         "fee": _num(w["fee"]), "feeCcy": coin, "to": w["address"], "txId": w["id"],
         "ts": str(w["time"]), "state": "2" if w["arrive"] <= now else "1", "wdId": w["id"],
         "clientId": ""}
        for w in _okx_page(_withdrawals(world, acc, coin), args)]}


def _bybit_coins_balance(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    bal = _num(acc.funding_wallet[coin])
    return {"retCode": 0, "retMsg": "success", "result": {
        "accountType": str(args.get("accountType", "FUND")), "memberId": "",
        "balance": [{"coin": coin, "walletBalance": bal, "transferBalance": bal, "bonus": "0"}]}}


def _bybit_deposit_history(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    rows, cursor = _bybit_page(_deposits(world, acc, coin), args, world.now_ms())
    return {"retCode": 0, "retMsg": "success", "result": {"nextPageCursor": cursor, "rows": [
        {"id": d["id"], "coin": coin, "chain": d["network"], "amount": _num(d["amount"]),
         "txID": d["id"], "status": 3, "toAddress": d["address"], "tag": "", "depositFee": "",
         "successAt": str(d["time"]), "confirmations": "1", "depositType": "0"}
        for d in rows]}}


def _bybit_withdraw_history(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    now = world.now_ms()
    rows, cursor = _bybit_page(_withdrawals(world, acc, coin), args, now)
    return {"retCode": 0, "retMsg": "success", "result": {"nextPageCursor": cursor, "rows": [
        {"withdrawId": w["id"], "coin": coin, "chain": w["network"],
         "amount": _num(w["amount"] - w["fee"]), "withdrawFee": _num(w["fee"]), "txID": w["id"],
         "status": "success" if w["arrive"] <= now else "Pending", "toAddress": w["address"],
         "tag": "", "createTime": str(w["time"]), "updateTime": str(min(w["arrive"], now)),
         "withdrawType": 0}
        for w in rows]}}


# Funding-wallet balance and deposit/withdrawal histories in the venue's format and window,
# by (venue, method, path).
_HISTORY: dict[tuple[str, str, str], Handler] = {
    ("binance", "POST", "/sapi/v1/asset/get-funding-asset"): _binance_funding_asset,
    ("binance", "POST", "/sapi/v3/asset/getUserAsset"): _binance_user_asset,
    ("binance", "GET", "/sapi/v1/capital/deposit/hisrec"): _binance_deposit_history,
    ("binance", "GET", "/sapi/v1/capital/withdraw/history"): _binance_withdraw_history,
    ("okx", "GET", "/api/v5/asset/balances"): _okx_balances,
    ("okx", "GET", "/api/v5/asset/deposit-history"): _okx_deposit_history,
    ("okx", "GET", "/api/v5/asset/withdrawal-history"): _okx_withdrawal_history,
    ("bybit", "GET", "/v5/asset/transfer/query-account-coins-balance"): _bybit_coins_balance,
    ("bybit", "GET", "/v5/asset/deposit/query-record"): _bybit_deposit_history,
    ("bybit", "GET", "/v5/asset/withdraw/query-record"): _bybit_withdraw_history,
}


def _venue_history(world: SimWorld, acc: Account, method: str, path: str, args: dict[str, Any],
                   coin: str) -> Any:
    """Funding-wallet balance and deposit/withdrawal histories in the venue's format and window; None if
    the path is not one of these."""
    if path in HISTORY_PATHS and world.fault_active(acc.venue, "history_down"):
        raise VenueError(f"HTTP 503 Service Unavailable: GET {path} (wallet history temporarily unavailable)")
    handler = _HISTORY.get((acc.venue, method, path))
    return None if handler is None else handler(world, acc, args, coin)


def _withdrawn(world: SimWorld, acc: Account, answer: Any) -> Any:
    """The answer to a withdrawal the venue has carried out, unless the answer is to be lost."""
    if world.fault_active(acc.venue, "withdraw_answer_lost"):
        raise VenueError("Post \"withdrawal\": context deadline exceeded (Client.Timeout exceeded while "
                         "awaiting headers)")
    return answer


# Public status endpoints: answered even while the venue is down (a venue's status page stays up).
STATUS_PATHS = frozenset({"/api/v5/system/status", "/v5/system/status", "/v2/maintain/info",
                          "/sapi/v1/system/status"})


def _status(world: SimWorld, acc: Account, path: str) -> Any:
    """The venue's maintenance notices in its own format (what was announced by now)."""
    now = world.now_ms()
    shown = [m for m in world.maintenance if m.venue == acc.venue and m.announce_ms <= now]
    if path == "/api/v5/system/status" and acc.venue == "okx":  # scheduled / ongoing only, by default
        return {"code": "0", "msg": "", "data": [
            {"title": m.title, "state": m.state(now), "begin": str(m.begin_ms), "end": str(m.end_ms),
             "preOpenBegin": "", "href": "", "serviceType": "5" if m.scope == "all" else "8",
             "system": "unified", "scheDesc": "", "maintType": "1", "env": "1"}
            for m in shown if m.state(now) != "completed"]}
    if path == "/v5/system/status" and acc.venue == "bybit":
        return {"retCode": 0, "retMsg": "", "result": {"list": [
            {"id": f"sim-{m.ident}", "title": m.title, "state": m.state(now), "begin": str(m.begin_ms),
             "end": str(m.end_ms), "href": "", "serviceTypes": [1, 2, 3, 4, 5], "product": [1, 2],
             "uidSuffix": [], "maintainType": 1, "env": 1} for m in shown]}}
    if path == "/v2/maintain/info" and acc.venue == "coinex":
        return {"code": 0, "message": "OK", "data": [
            {"started_at": m.begin_ms, "ended_at": m.end_ms, "protect_duration_start": 0,
             "protect_duration_end": 0, "announce_enabled": False, "announce_url": "", "scope": ["PERPETUAL"]}
            for m in shown if m.state(now) != "completed"]}
    if path == "/sapi/v1/system/status" and acc.venue == "binance":
        return {"status": 0, "msg": "normal"}
    raise VenueError(f"GET {path} is not {acc.venue}'s status endpoint")


def _sim_balances(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    return {"futures": dict(acc.balances), "funding": dict(acc.funding_wallet)}


def _sim_deposit_address(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    return {"coin": coin, "network": _network(str(args.get("network", ""))),
            "address": world.deposit_address(acc, _network(str(args.get("network", ""))))}


def _sim_transfer(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    to_futures = str(args.get("to", "futures")).lower() == "futures"
    _transfer(acc, coin, _amount(args, "amount"), to_futures)
    return {"ok": True}


def _sim_withdraw(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    tx = world.withdraw(acc, coin, _amount(args, "amount"), str(args.get("address", "")),
                        _network(str(args.get("network", ""))))
    return {"id": tx}


def _sim_withdrawals(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    return [w for w in world.withdrawals if w["from"] == acc.index or w["to"] == acc.index]


def _sim_deposits(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    return [d for d in world.deposits if d["to"] == acc.index]


# generic simulator paths (all venues), by (method, path)
_GENERIC: dict[tuple[str, str], Handler] = {
    ("GET", "/sim/balances"): _sim_balances,
    ("GET", "/sim/deposit_address"): _sim_deposit_address,
    ("POST", "/sim/transfer"): _sim_transfer,
    ("POST", "/sim/withdraw"): _sim_withdraw,
    ("GET", "/sim/withdrawals"): _sim_withdrawals,
    ("GET", "/sim/deposits"): _sim_deposits,
}


def _binance_transfer(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    kind = str(args.get("type", ""))
    if kind not in ("MAIN_UMFUTURE", "UMFUTURE_MAIN"):
        raise VenueError('{"code":-1102,"msg":"type must be MAIN_UMFUTURE or UMFUTURE_MAIN"}')
    _transfer(acc, coin, _amount(args, "amount"), kind == "MAIN_UMFUTURE")
    return {"tranId": len(world.withdrawals) + 1}


def _binance_withdraw(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    net = _network(str(args.get("network", "")))
    tx = world.withdraw(acc, coin, _amount(args, "amount"), str(args.get("address", "")), net)
    return _withdrawn(world, acc, {"id": tx})


def _binance_deposit_address(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    net = _network(str(args.get("network", "")))
    return {"address": world.deposit_address(acc, net), "coin": coin, "tag": "", "url": ""}


def _okx_transfer(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    src, dst = str(args.get("from", "")), str(args.get("to", ""))
    if {src, dst} != {"6", "18"}:
        raise VenueError('{"code":"58115","msg":"from/to must be 6 (funding) and 18 (trading)"}')
    _transfer(acc, coin, _amount(args, "amt"), dst == "18")
    return {"code": "0", "msg": "", "data": [{"transId": str(len(world.withdrawals) + 1),
                                             "ccy": coin, "amt": str(args["amt"])}]}


def _okx_withdraw(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    net = _network(str(args.get("chain", "")))
    tx = world.withdraw(acc, coin, _amount(args, "amt"), str(args.get("toAddr", "")), net)
    return _withdrawn(world, acc, {"code": "0", "msg": "", "data": [
        {"wdId": tx, "ccy": coin, "chain": args.get("chain", "")}]})


def _okx_deposit_address(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    return {"code": "0", "msg": "", "data": [
        {"addr": world.deposit_address(acc, n), "chain": f"{coin}-{n}", "ccy": coin}
        for n in ("TRC20", "ERC20", "ARBITRUM")]}


def _bybit_transfer(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    src, dst = str(args.get("fromAccountType", "")), str(args.get("toAccountType", ""))
    if {src, dst} != {"FUND", "UNIFIED"}:
        raise VenueError('{"retCode":131212,"retMsg":"accountType must be FUND and UNIFIED"}')
    transfer_id = str(args.get("transferId", ""))
    if not _is_uuid(transfer_id):  # Bybit V5 create-inter-transfer: "transferId: UUID"
        raise VenueError('{"retCode":10001,"retMsg":"params error: transferId must be a UUID"}')
    _transfer(acc, coin, _amount(args, "amount"), dst == "UNIFIED")
    return {"retCode": 0, "retMsg": "success",
            "result": {"transferId": transfer_id, "status": "SUCCESS"}}


def _bybit_withdraw(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    net = _network(str(args.get("chain", "")))
    tx = world.withdraw(acc, coin, _amount(args, "amount"), str(args.get("address", "")), net)
    return _withdrawn(world, acc, {"retCode": 0, "retMsg": "success", "result": {"id": tx}})


def _bybit_deposit_address(world: SimWorld, acc: Account, args: dict[str, Any], coin: str) -> Any:
    net = _network(str(args.get("chainType", "")))
    return {"retCode": 0, "retMsg": "success", "result": {"coin": coin, "chains": [
        {"chainType": str(args.get("chainType") or net),
         "addressDeposit": world.deposit_address(acc, net)}]}}


# the venues' own transfer, withdrawal and deposit-address endpoints, by (venue, method, path)
_VENUE_PATHS: dict[tuple[str, str, str], Handler] = {
    ("binance", "POST", "/sapi/v1/asset/transfer"): _binance_transfer,
    ("binance", "POST", "/sapi/v1/capital/withdraw/apply"): _binance_withdraw,
    ("binance", "GET", "/sapi/v1/capital/deposit/address"): _binance_deposit_address,
    ("okx", "POST", "/api/v5/asset/transfer"): _okx_transfer,
    ("okx", "POST", "/api/v5/asset/withdrawal"): _okx_withdraw,
    ("okx", "GET", "/api/v5/asset/deposit-address"): _okx_deposit_address,
    ("bybit", "POST", "/v5/asset/transfer/inter-transfer"): _bybit_transfer,
    ("bybit", "POST", "/v5/asset/withdraw/create"): _bybit_withdraw,
    ("bybit", "GET", "/v5/asset/deposit/query-address"): _bybit_deposit_address,
}


def dispatch(world: SimWorld, acc: Account, method: str, path: str, args: dict[str, Any]) -> Any:
    coin = str(args.get("coin") or args.get("asset") or args.get("ccy") or "USDT").upper()
    if path in STATUS_PATHS and method == "GET":
        return _status(world, acc, path)
    generic = _GENERIC.get((method, path))
    if generic is not None:
        return generic(world, acc, args, coin)
    history = _venue_history(world, acc, method, path, args, coin)
    if history is not None:
        return history
    handler = _VENUE_PATHS.get((acc.venue, method, path))
    if handler is not None:
        return handler(world, acc, args, coin)
    raise VenueError(f"{method} {path} is not simulated; see docs/simulator.md (IO api endpoints)")
