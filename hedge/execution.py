"""Placing the two legs of a hedge pair so that net exposure ends at zero.

Policy (single-leg handling):
1. Read both venues' positions first; if either is unreadable, send nothing.
2. Send both legs as market orders (price -1), back to back, equal base quantity.
3. Resolve each order (GetOrder; cancel any remainder), then measure what really filled from the
   position change: venue positions are the truth, also when CreateOrder returned None.
4. If the fills differ, top up the lagging venue once; if they still differ, bring both legs down
   to the largest quantity both venues can hold exactly (undoing the excess on the over-filled leg).
5. If a position cannot be read afterwards, the outcome is unknown: raise LegOutcomeUnknown and
   never re-send; the app stops opening until positions and ledger agree again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from hedge.market import Venue, fmz_pair, swap_symbol
from hedge.sizing import common_base_step, floor_to_step

# Effect of each CreateOrder side on the signed position, and the side that undoes it.
DIRECTION = {"buy": 1, "sell": -1, "closebuy": -1, "closesell": 1}
UNDO = {"buy": "closebuy", "closebuy": "buy", "sell": "closesell", "closesell": "sell"}
ORDER_STATE_PENDING = 0
PD_LONG, PD_SHORT, PD_LONG_YD = 0, 1, 2
POSITION_READ_ATTEMPTS = 3
RETRY_SLEEP_MS = 200


class LegOutcomeUnknown(RuntimeError):
    """A leg was sent but its effect cannot be proved; nothing may be re-sent until it is."""


@dataclass(frozen=True)
class Leg:
    venue: Venue
    side: str      # buy | sell | closebuy | closesell
    base: Decimal  # intended base quantity (> 0)
    ref_price: Decimal  # expected fill price, used when the venue reports no average


@dataclass
class LegFill:
    venue: str
    side: str
    filled: Decimal = Decimal(0)     # net base quantity moved in the leg's direction
    cost: Decimal = Decimal(0)       # signed quote amount of forward fills (for the average price)
    forward: Decimal = Decimal(0)    # base filled in the leg's direction
    undone: Decimal = Decimal(0)     # base moved back (undo orders)
    undo_cost: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    order_ids: list[str] = field(default_factory=list)   # venue order ids
    client_ids: list[str] = field(default_factory=list)  # our tags, carried in the order log line

    @property
    def avg_price(self) -> Decimal:
        return self.cost / self.forward if self.forward else Decimal(0)


@dataclass(frozen=True)
class PairFill:
    symbol: str
    qty: Decimal                    # equal base quantity held/closed on both legs
    fills: tuple[LegFill, LegFill]
    residual_pnl: Decimal           # result of undo orders (USDT, before fees)
    balanced: bool                  # False when the legs could not be equalized

    @property
    def fees(self) -> Decimal:
        return self.fills[0].fees + self.fills[1].fees


class Executor:
    def __init__(self, *, sleep: Callable[[float], Any], taker_bps: Callable[[str], Decimal],
                 event: Callable[[str], None]) -> None:
        self._sleep = sleep
        self._taker_bps = taker_bps
        self._event = event
        self._seq = 0

    # --- queries ---
    def position(self, venue: Venue, symbol: str) -> Decimal | None:
        """Signed base quantity held on venue in symbol; None when the venue did not answer."""
        positions = venue.exchange.GetPositions(swap_symbol(symbol))
        if positions is None:
            return None
        spec = venue.specs[symbol]
        total = Decimal(0)
        for pos in positions:
            if fmz_pair(pos["Symbol"]) != symbol:
                continue
            # Venues hold whole lots; snap away float noise (0.8699999999 contracts -> 0.87).
            lots = (Decimal(repr(float(pos["Amount"]))) / spec.lot).to_integral_value(ROUND_HALF_EVEN)
            amount = lots * spec.lot * spec.ct_val
            total += amount if pos["Type"] in (PD_LONG, PD_LONG_YD) else -amount
        return total

    def _position_or_unknown(self, venue: Venue, symbol: str) -> Decimal:
        for attempt in range(POSITION_READ_ATTEMPTS):
            found = self.position(venue, symbol)
            if found is not None:
                return found
            if attempt + 1 < POSITION_READ_ATTEMPTS:
                self._sleep(RETRY_SLEEP_MS)
        raise LegOutcomeUnknown(f"{venue.key} {symbol}: position unreadable after sending an order; "
                                "not re-sending until positions can be read and reconciled")

    # --- commands ---
    def execute_pair(self, symbol: str, legs: tuple[Leg, Leg], tag: str) -> PairFill | None:
        """Trade both legs; None when nothing was sent (positions unreadable beforehand)."""
        before = []
        for leg in legs:
            pos = self.position(leg.venue, symbol)
            if pos is None:
                self._event(f"{tag}: {leg.venue.key} positions unreadable, nothing sent")
                return None
            before.append(pos)
        fills = (LegFill(legs[0].venue.key, legs[0].side), LegFill(legs[1].venue.key, legs[1].side))
        sent = [self._send(leg, leg.side, leg.base, symbol, tag) for leg in legs]
        for leg, fill, order, pos0 in zip(legs, fills, sent, before, strict=True):
            self._settle(leg, fill, order, symbol, pos0, leg.side)

        if fills[0].filled != fills[1].filled:
            lag = 0 if fills[0].filled < fills[1].filled else 1
            over = 1 - lag
            lag_step = legs[lag].venue.specs[symbol].base_step
            top_up = floor_to_step(fills[over].filled - fills[lag].filled, lag_step)
            if top_up > 0:
                self._event(f"{tag}: {fills[lag].venue} filled {fills[lag].filled} vs {fills[over].filled}"
                            f" on {fills[over].venue}; topping up {top_up} once")
                self._trade(legs[lag], fills[lag], legs[lag].side, top_up, symbol, tag)

        residual = Decimal(0)
        if fills[0].filled != fills[1].filled:
            step = common_base_step(*(leg.venue.specs[symbol] for leg in legs))
            keep = floor_to_step(min(fills[0].filled, fills[1].filled), step)
            for leg, fill in zip(legs, fills, strict=True):
                excess = fill.filled - keep
                if excess > 0:
                    self._event(f"{tag}: undoing {excess} on {fill.venue} to match the other leg at {keep}")
                    self._trade(leg, fill, UNDO[leg.side], excess, symbol, tag)
            for leg, fill in zip(legs, fills, strict=True):
                if fill.undone:
                    direction = DIRECTION[leg.side]
                    # undo at p2 of a leg entered at p1: long gains p2 - p1, short gains p1 - p2
                    residual += direction * (fill.undo_cost - fill.avg_price * fill.undone)
        balanced = fills[0].filled == fills[1].filled
        if not balanced:
            self._event(f"{tag}: LEGS UNBALANCED {fills[0].venue} {fills[0].filled} vs "
                        f"{fills[1].venue} {fills[1].filled} {symbol}; openings stop until reconciled")
        return PairFill(symbol, min(fills[0].filled, fills[1].filled), fills, residual, balanced)

    def _trade(self, leg: Leg, fill: LegFill, side: str, base: Decimal, symbol: str, tag: str) -> None:
        before = self._position_or_unknown(leg.venue, symbol)
        sent = self._send(leg, side, base, symbol, tag)
        self._settle(leg, fill, sent, symbol, before, side)

    def _send(self, leg: Leg, side: str, base: Decimal, symbol: str, tag: str) -> tuple[str | None, str]:
        self._seq += 1
        client_id = f"{tag}-{leg.venue.key}-{self._seq}"
        contracts = base / leg.venue.specs[symbol].ct_val
        order_id = leg.venue.exchange.CreateOrder(swap_symbol(symbol), side, -1, float(contracts), client_id)
        return (None if order_id is None else str(order_id)), client_id

    def _settle(self, leg: Leg, fill: LegFill, sent: tuple[str | None, str], symbol: str, before: Decimal,
                side: str) -> None:
        """Finish one order and book what the position change proves was filled."""
        order_id, client_id = sent
        fill.client_ids.append(client_id)
        avg_price = Decimal(0)
        exchange = leg.venue.exchange
        if order_id is not None:
            fill.order_ids.append(order_id)
            order = exchange.GetOrder(order_id)
            if order is not None and order["Status"] == ORDER_STATE_PENDING:
                exchange.CancelOrder(order_id)
                order = exchange.GetOrder(order_id)
            if order is not None and order.get("AvgPrice"):
                avg_price = Decimal(repr(float(order["AvgPrice"])))
        else:
            # CreateOrder failed or timed out: a market order cannot rest, so any open order for this
            # symbol is ours and still in flight; cancel it before measuring.
            for open_order in exchange.GetOrders(swap_symbol(symbol)) or []:
                exchange.CancelOrder(open_order["Id"])
        after = self._position_or_unknown(leg.venue, symbol)
        moved = (after - before) * DIRECTION[side]  # base moved in `side`'s direction
        if moved < 0:
            raise LegOutcomeUnknown(f"{leg.venue.key} {symbol}: position moved against the order "
                                    f"({before:+f} -> {after:+f}); someone else is trading this account")
        if moved == 0:
            return
        price = avg_price or leg.ref_price
        fill.fees += moved * price * self._taker_bps(leg.venue.key) / 10_000
        if side == leg.side:
            fill.filled += moved
            fill.forward += moved
            fill.cost += moved * price
        else:
            fill.filled -= moved
            fill.undone += moved
            fill.undo_cost += moved * price
