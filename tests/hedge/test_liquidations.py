"""The venue's own forced closes are recognised in its order history (hedge/liquidations.py).

Binance USDⓈ-M names them by a special client order id, listed in ccxt pro 4.5.83's binance.py
(ccxt/pro/binance.py, the user data stream ORDER_TRADE_UPDATE comment): "autoclose-" (liquidation),
"adl_autoclose" (ADL) and "settlement_autoclose-" (settlement order for delisting or delivery).
"""

from decimal import Decimal

import pytest

from hedge.liquidations import ORDER_TYPE_SELL, is_liquidation, reported_price

D = Decimal


def _order(client_id: str, amount: float = 0.01, price: float = 50_200.0) -> dict:
    return {"Id": "BTC_USDT.swap,1", "Status": 1, "Type": ORDER_TYPE_SELL, "Amount": amount,
            "DealAmount": amount, "AvgPrice": price, "Info": {"clientOrderId": client_id}}


@pytest.mark.parametrize("client_id", ["autoclose-1596107620040000020", "adl_autoclose",
                                       "settlement_autoclose-1596107620040000021"])
def test_binance_forced_closes_are_the_venues_own(client_id):
    assert is_liquidation("binance", _order(client_id))


def test_a_delisting_settlement_closes_the_leg_at_the_price_binance_reports():
    """A long closed by Binance's delisting/delivery settlement: booked at the settlement order's price,
    not at an unknown price (old code: not recognised, reported_price None)."""
    orders = [_order("settlement_autoclose-1596107620040000021", 0.01, 49_870.5)]
    assert reported_price("binance", orders, True, D("0.01"), D(1)) == D("49870.5")


@pytest.mark.parametrize("client_id", ["hgs1n7", "x-xcKtGhcu04075babaeb34c55af79ba", "settlement", ""])
def test_other_client_ids_are_not_forced_closes(client_id):
    assert not is_liquidation("binance", _order(client_id))
