"""Moving USDT with each venue's own REST endpoints, through FMZ's `exchange.IO("api", ...)`.

* Binance: POST /sapi/v1/asset/transfer (UMFUTURE_MAIN / MAIN_UMFUTURE: USDⓈ-M futures <-> spot),
  POST /sapi/v1/capital/withdraw/apply (from the spot wallet), GET /sapi/v1/capital/deposit/address;
* OKX: POST /api/v5/asset/transfer (18 trading <-> 6 funding), POST /api/v5/asset/withdrawal (dest 4 =
  on-chain, from the funding account), GET /api/v5/asset/deposit-address;
* Bybit: POST /v5/asset/transfer/inter-transfer (UNIFIED <-> FUND), POST /v5/asset/withdraw/create
  (accountType FUND), GET /v5/asset/deposit/query-address.

Every call answers done, refused (the venue said no, in its own error format) or unknown (no answer:
FMZ returns None on a network error as well as on an HTTP error). An unknown withdrawal is never sent
again until the venue's withdrawal history proves it absent (hedge/treasury.py does that).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any
from urllib.parse import urlencode

from hedge.fmz import venue_io

SUPPORTED_VENUES = ("binance", "okx", "bybit")

# our network names -> each venue's own chain name
NATIVE_CHAIN: dict[str, dict[str, str]] = {
    "binance": {"TRC20": "TRX", "ERC20": "ETH", "BEP20": "BSC", "ARBITRUM": "ARBITRUM", "SOL": "SOL"},
    "okx": {"TRC20": "USDT-TRC20", "ERC20": "USDT-ERC20", "BEP20": "USDT-BSC",
            "ARBITRUM": "USDT-Arbitrum One", "SOL": "USDT-Solana"},
    "bybit": {"TRC20": "TRX", "ERC20": "ETH", "BEP20": "BSC", "ARBITRUM": "ARBI", "SOL": "SOL"},
}


@dataclass(frozen=True)
class Answer:
    """A venue's answer to one wallet call: done (True), refused (False) or unknown (None)."""

    done: bool | None
    ref: str = ""      # the id the venue gave (withdrawal id, transfer id)
    detail: str = ""   # the venue's message when it refused


UNKNOWN = Answer(None, detail="no answer")


def native_chain(venue: str, network: str) -> str:
    return NATIVE_CHAIN.get(venue, {}).get(network, network)


# Bybit wants a UUID as transferId (its idempotency key); ours is derived from the step's own ref so a
# retried step sends the same one
_BYBIT_TRANSFER_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-5c7d-9e0f-1a2b3c4d5e6f")


def bybit_transfer_id(ref: str) -> str:
    """The UUID Bybit's inter-transfer needs as `transferId`, the same for the same ref."""
    return str(uuid.uuid5(_BYBIT_TRANSFER_NAMESPACE, ref))


def _usdt(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01"), rounding=ROUND_DOWN))


def _call(exchange: Any, method: str, path: str, query: str = "",
          body: Mapping[str, Any] | None = None) -> Any:
    return venue_io(exchange, method, path, query,
                    None if body is None else json.dumps(body, separators=(",", ":")))


# Error codes the venues document as "status unknown" or a failure on their side, not as a refusal: the
# call may have been carried out, so it is an unknown answer (a withdrawal is then looked up in the history,
# never called refused). OKX (docs-v5 error codes): 50001 service temporarily unavailable, 50004 endpoint
# request timeout ("does not mean that the request was successful or failed"), 50005 API offline, 50013
# system busy, 50026 system error. Bybit (error code pages): 10000 unknown error / server timeout, 10007
# response timeout ("delivery and request status unknown"), 10016 service not available / system error,
# 5004 server timeout. Binance (error codes): -1000 unknown, -1001 internal error, -1006 unexpected response
# ("execution status unknown"), -1007 timeout ("send status unknown; execution status unknown"), -1008
# server busy.
OKX_UNKNOWN_CODES = frozenset({"50001", "50004", "50005", "50013", "50026"})
BYBIT_UNKNOWN_CODES = frozenset({"10000", "10007", "10016", "5004"})
BINANCE_UNKNOWN_CODES = frozenset({"-1000", "-1001", "-1006", "-1007", "-1008"})


def _unknown(detail: str) -> Answer:
    return Answer(None, detail=f"{detail} (status unknown)")


def _okx(data: Any, key: str) -> Answer:
    if not isinstance(data, Mapping):
        return UNKNOWN
    if str(data.get("code")) in OKX_UNKNOWN_CODES:
        return _unknown(f"okx {data.get('code')}: {data.get('msg', '')}")
    if str(data.get("code")) != "0":
        return Answer(False, detail=f"okx {data.get('code')}: {data.get('msg', '')}")
    rows = data.get("data") or [{}]
    return Answer(True, str(rows[0].get(key, "")) if isinstance(rows[0], Mapping) else "")


def _bybit(data: Any, key: str) -> Answer:
    if not isinstance(data, Mapping) or data.get("retCode") is None:
        return UNKNOWN
    if str(data.get("retCode")) in BYBIT_UNKNOWN_CODES:
        return _unknown(f"bybit {data.get('retCode')}: {data.get('retMsg', '')}")
    if str(data.get("retCode")) != "0":
        return Answer(False, detail=f"bybit {data.get('retCode')}: {data.get('retMsg', '')}")
    result = data.get("result") or {}
    return Answer(True, str(result.get(key, "")) if isinstance(result, Mapping) else "")


def _binance(data: Any, key: str) -> Answer:
    if not isinstance(data, Mapping):
        return UNKNOWN
    if "code" in data and "msg" in data and key not in data:
        if str(data.get("code")) in BINANCE_UNKNOWN_CODES:
            return _unknown(f"binance {data.get('code')}: {data.get('msg')}")
        return Answer(False, detail=f"binance {data.get('code')}: {data.get('msg')}")
    return Answer(True, str(data.get(key, "")))


def internal_transfer(exchange: Any, venue: str, amount: Decimal, *, to_futures: bool, ref: str,
                      asset: str = "USDT") -> Answer:
    """Move `amount` between the venue's futures wallet and the wallet withdrawals leave from and
    deposits land in (Binance spot, OKX funding, Bybit FUND)."""
    if venue == "binance":
        kind = "MAIN_UMFUTURE" if to_futures else "UMFUTURE_MAIN"
        return _binance(_call(exchange, "POST", "/sapi/v1/asset/transfer",
                              urlencode({"type": kind, "asset": asset, "amount": _usdt(amount)})), "tranId")
    if venue == "okx":
        src, dst = ("6", "18") if to_futures else ("18", "6")
        return _okx(_call(exchange, "POST", "/api/v5/asset/transfer", body={
            "ccy": asset, "amt": _usdt(amount), "from": src, "to": dst, "clientId": ref}), "transId")
    if venue == "bybit":
        src, dst = ("FUND", "UNIFIED") if to_futures else ("UNIFIED", "FUND")
        return _bybit(_call(exchange, "POST", "/v5/asset/transfer/inter-transfer", body={
            "transferId": bybit_transfer_id(ref), "coin": asset, "amount": _usdt(amount),
            "fromAccountType": src, "toAccountType": dst}), "transferId")
    return Answer(False, detail=f"{venue}: wallet transfers are not supported")


def withdraw(exchange: Any, venue: str, *, amount: Decimal, network: str, address: str, memo: str,
             client_id: str, now_ms: int, asset: str = "USDT") -> Answer:
    """Withdraw `amount` on-chain to `address` (the caller has checked it against the whitelist)."""
    chain = native_chain(venue, network)
    if venue == "binance":
        params = {"coin": asset, "network": chain, "address": address, "amount": _usdt(amount),
                  "withdrawOrderId": client_id, "walletType": "0"}
        if memo:
            params["addressTag"] = memo
        return _binance(_call(exchange, "POST", "/sapi/v1/capital/withdraw/apply", urlencode(params)), "id")
    if venue == "okx":
        return _okx(_call(exchange, "POST", "/api/v5/asset/withdrawal", body={
            "ccy": asset, "amt": _usdt(amount), "dest": "4",
            "toAddr": f"{address}:{memo}" if memo else address,
            "chain": chain, "clientId": client_id}), "wdId")
    if venue == "bybit":
        body = {"coin": asset, "chain": chain, "address": address, "amount": _usdt(amount),
                "timestamp": now_ms, "forceChain": 1, "accountType": "FUND", "requestId": client_id}
        if memo:
            body["tag"] = memo
        return _bybit(_call(exchange, "POST", "/v5/asset/withdraw/create", body=body), "id")
    return Answer(False, detail=f"{venue}: withdrawals are not supported")


def deposit_address(exchange: Any, venue: str, network: str, asset: str = "USDT") -> str | None:
    """The venue's own deposit address of `asset` on `network`, None when it cannot be read."""
    chain = native_chain(venue, network)
    data = None
    if venue == "binance":
        data = _call(exchange, "GET", "/sapi/v1/capital/deposit/address",
                     urlencode({"coin": asset, "network": chain}))
        return str(data["address"]) if isinstance(data, Mapping) and data.get("address") else None
    if venue == "okx":
        data = _call(exchange, "GET", "/api/v5/asset/deposit-address", urlencode({"ccy": asset}))
        if isinstance(data, Mapping) and str(data.get("code")) == "0":
            for row in data.get("data") or []:
                if isinstance(row, Mapping) and str(row.get("chain", "")).upper() == chain.upper():
                    return str(row.get("addr") or "") or None
        return None
    if venue == "bybit":
        data = _call(exchange, "GET", "/v5/asset/deposit/query-address",
                     urlencode({"coin": asset, "chainType": chain}))
        if isinstance(data, Mapping) and str(data.get("retCode")) == "0":
            for row in (data.get("result") or {}).get("chains") or []:
                if isinstance(row, Mapping) and str(row.get("chainType", "")).upper() == chain.upper():
                    return str(row.get("addressDeposit") or "") or None
        return None
    return None
