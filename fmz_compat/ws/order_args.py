"""What each venue's order websocket takes, built by the same ccxt code that builds its REST requests.

The arguments of a websocket order are REST's (`create_order_request`, `edit_order_request`, ...), so an
order is the same whichever way it goes; OKX takes an instrument's numeric code where it has one (as
ccxt.pro does), Binance wants every request signed. A refusal becomes the ccxt error the same code raises
by REST (Bybit 110007 or OKX 51008 `InsufficientFunds`, Binance -2019 ...).
"""

from __future__ import annotations

import hashlib
from typing import Any


def place_args(venue: str, client: Any, unified: str, order_type: str, side: str, amount: float,
               price: float | None, params: dict[str, Any]) -> dict[str, Any]:
    if venue == "bybit":
        unified_account = client.is_unified_enabled()[1]  # as REST's create_order asks (cached)
        return client.create_order_request(unified, order_type, side, amount, price, dict(params),
                                           unified_account)
    args = client.create_order_request(unified, order_type, side, amount, price, dict(params))
    if venue == "binance":
        return _signed(client, args)
    return _with_inst_code(client, unified, args)


def cancel_args(venue: str, client: Any, unified: str, venue_id: str) -> dict[str, Any]:
    market_id = client.market(unified)["id"]
    if venue == "bybit":
        return {"category": "linear", "symbol": market_id, "orderId": venue_id}
    if venue == "binance":
        return _signed(client, {"symbol": market_id, "orderId": int(venue_id)})
    return _with_inst_code(client, unified, {"instId": market_id, "ordId": venue_id})


def amend_args(venue: str, client: Any, venue_id: str, unified: str, side: str, amount: float, price: float,
               params: dict[str, Any]) -> dict[str, Any]:
    if venue == "binance":
        args = client.edit_contract_order_request(venue_id, unified, "limit", side, amount, price,
                                                  dict(params))
        return _signed(client, args)
    args = client.edit_order_request(venue_id, unified, "limit", side, amount, price, dict(params))
    return args if venue == "bybit" else _with_inst_code(client, unified, args)


def rejection(client: Any, fallback: type[Exception], venue: str, code: str, message: str) -> Exception:
    """The ccxt error the venue's REST answer with this code would raise."""
    tables = [client.exceptions.get("linear", {}), client.exceptions]  # Binance keeps USDⓈ-M codes apart
    error = next((t["exact"][code] for t in tables if code in t.get("exact", {})), None)
    for table in tables:
        broad = client.find_broadly_matched_key(table.get("broad", {}), message) if error is None else None
        if broad is not None:
            error = table["broad"][broad]
    error = error or fallback
    return error(f"{venue} {message} (code {code})")


def _with_inst_code(client: Any, unified: str, args: dict[str, Any]) -> dict[str, Any]:
    code = client.market(unified).get("instIdCode")
    if code is None:
        return args
    return {**{k: v for k, v in args.items() if k != "instId"}, "instIdCode": int(code)}


def _signed(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Binance's websocket API signs the request's params sorted by name (HMAC, or Ed25519/RSA keys)."""
    client.check_required_credentials()
    params = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items()}  # as REST's query
    recv_window = client.safe_integer(client.options, "recvWindow")
    if recv_window is not None:
        params.setdefault("recvWindow", recv_window)
    signed = client.keysort({"timestamp": client.nonce(), "apiKey": client.apiKey, **params})
    query = client.rawencode(signed)
    if "PRIVATE KEY" in client.secret:
        if len(client.secret) > 120:
            signature = client.rsa(query, client.secret, "sha256")
        else:
            signature = client.eddsa(client.encode(query), client.secret, "ed25519")
    else:
        signature = client.hmac(client.encode(query), client.encode(client.secret), hashlib.sha256)
    return {**signed, "signature": signature}
