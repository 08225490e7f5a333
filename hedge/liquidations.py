"""What a venue reports about its own liquidation (or auto-deleveraging) of our positions.

A leg that vanished (liquidated or auto-deleveraged, typically while its venue was out) is booked at the
price the venue reports for the order that closed it, read from the account's order history
(GetHistoryOrders) through the FMZ exchange object; never at a price we computed. When the venue reports
nothing, the caller books the leg at an unknown price (no result booked for it) with a critical event.

How venues mark those orders in the raw order (FMZ's Info):
- Binance USD-M: clientOrderId starting with "autoclose-" (liquidation), "adl_autoclose" (ADL) or
  "settlement_autoclose-" (settlement order for delisting or delivery): Binance docs, user data stream
  ORDER_TRADE_UPDATE, "special client order id", as ccxt pro 4.5.83 lists them (ccxt/pro/binance.py);
  ccxt binance.py fetch_my_liquidations shows the same ids in /fapi/v1/forceOrders rows. A settlement close
  is the venue's own forced close as much as a liquidation: booked at the price it reports, never as ours.
- OKX: category full_liquidation, partial_liquidation or adl (v5 order channel and order history).
- Bybit: createType CreateByLiq, CreateByTakeOver_PassThrough or CreateByAdl_PassThrough (v5 order history).
CoinEx and BitMEX: no marker is known here, so their liquidations read as unreported (unknown price).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hedge.orders import order_fill

ORDER_TYPE_BUY, ORDER_TYPE_SELL = 0, 1
_PREFIXES = {"binance": ("clientOrderId", ("autoclose-", "adl_autoclose", "settlement_autoclose-"))}
_VALUES = {
    "okx": ("category", frozenset({"full_liquidation", "partial_liquidation", "adl"})),
    "bybit": ("createType",
              frozenset({"CreateByLiq", "CreateByTakeOver_PassThrough", "CreateByAdl_PassThrough"})),
}


def is_liquidation(venue: str, order: dict[str, Any]) -> bool:
    """The venue's own order closing a position it liquidated or auto-deleveraged."""
    info = order.get("Info") or {}
    if venue in _PREFIXES:
        field, prefixes = _PREFIXES[venue]
        return str(info.get(field) or "").startswith(prefixes)
    if venue in _VALUES:
        field, values = _VALUES[venue]
        return str(info.get(field) or "") in values
    return False


def reported_price(venue: str, orders: list[dict[str, Any]] | None, long_leg: bool, base: Decimal,
                   ct_val: Decimal) -> Decimal | None:
    """Average price of the venue's newest liquidation orders that closed a long (long_leg) or short leg,
    newest first until `base` is covered; None when the history reports none (or could not be read)."""
    closing_type = ORDER_TYPE_SELL if long_leg else ORDER_TYPE_BUY
    qty = cost = Decimal(0)
    for order in reversed(orders or []):
        if qty >= base:
            break
        if order.get("Type") != closing_type or not is_liquidation(venue, order):
            continue
        filled, price = order_fill(order, ct_val)
        if filled > 0 and price > 0:
            qty += filled
            cost += filled * price
    return cost / qty if qty else None
