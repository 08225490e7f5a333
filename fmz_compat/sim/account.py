"""One trading account on one simulated venue: wallets, one-way positions, orders and matching.

Prices come from `market.Quote`; an account never moves prices. Money is float here (the
simulator's own bookkeeping); hedge/ does its math in Decimal on what the FMZ API reports.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass, replace
from typing import Protocol

from fmz_compat.core import (
    LOG_TYPE_LOG,
    ORDER_STATE_CANCELED,
    ORDER_STATE_CLOSED,
    ORDER_STATE_PENDING,
    LogSink,
)
from fmz_compat.sim import delivery, rules
from fmz_compat.sim.market import Quote
from fmz_compat.sim.params import VENUES, ContractSpec, VenueSpec, contract_spec

BOOK_LEVELS = 20
DEFAULT_LEVERAGE = 10


class VenueError(Exception):
    """A venue refused a request; the message is the venue-like error body."""


_BITMEX_BALANCE = ('{"error":{"message":"Account has insufficient Available Balance",'
                   '"name":"ValidationError"}}')

# Venue-like error bodies, by reason.
_MESSAGES: dict[str, dict[str, str]] = {
    "margin": {
        "binance": '{"code":-2019,"msg":"Margin is insufficient."}',
        "bybit": '{"retCode":110007,"retMsg":"ab not enough for new order"}',
        "okx": '{"code":"51008","msg":"Order failed. Insufficient USDT margin in account"}',
        "coinex": '{"code":3109,"message":"balance not enough"}',
        "bitmex": _BITMEX_BALANCE,
    },
    "balance": {
        "binance": '{"code":-2010,"msg":"Account has insufficient balance for requested action."}',
        "bybit": '{"retCode":170131,"retMsg":"Insufficient balance."}',
        "okx": '{"code":"51008","msg":"Order failed. Insufficient balance"}',
        "coinex": '{"code":3109,"message":"balance not enough"}',
        "bitmex": _BITMEX_BALANCE,
    },
    "post_only": {
        "binance": '{"code":-5022,"msg":"Due to the order could not be executed as maker, '
                   'the Post Only order will be rejected."}',
        "bybit": '{"retCode":0,"retMsg":"OK","rejectReason":"EC_PostOnlyWillTakeLiquidity"}',
        "okx": '{"code":"51020","msg":"Post-only order would take liquidity"}',
        "coinex": '{"code":3127,"message":"The order price would take liquidity"}',
        "bitmex": '{"error":{"message":"Canceled: Order had execInst of ParticipateDoNotInitiate",'
                  '"name":"HTTPError"}}',
    },
    "reduce_only": {
        "binance": '{"code":-2022,"msg":"ReduceOnly Order is rejected."}',
        "bybit": '{"retCode":110017,"retMsg":"current position is zero, cannot fix reduce-only order qty"}',
        "okx": '{"code":"51169","msg":"Order failed because you don\'t have any positions to reduce"}',
        "coinex": '{"code":3103,"message":"position not exist"}',
        "bitmex": '{"error":{"message":"Invalid execInst: ReduceOnly would increase position",'
                  '"name":"ValidationError"}}',
    },
}


def venue_message(reason: str, venue: str, fallback: str = "") -> str:
    table = _MESSAGES.get(reason)
    if table:
        return table[venue]
    return fallback or reason


@dataclass
class Order:
    n: int
    pair: str
    futures: bool
    side: str                 # buy | sell (the execution side)
    offset: int               # ORDER_OFFSET_OPEN / CLOSE as FMZ reports it
    price: float              # -1 for market
    amount: float             # contracts (futures), base (spot), quote for spot market buys
    reduce_only: bool = False
    tif: str = "GTC"
    post_only: bool = False
    time_ms: int = 0
    filled: float = 0.0
    cost: float = 0.0         # sum of price x filled amount
    fee: float = 0.0
    status: int = ORDER_STATE_PENDING
    margin: float = 0.0       # margin reserved for the resting opening part
    quote_amount: bool = False  # spot market buy: amount is quote currency
    client_id: str = ""
    origin: str = ""          # "liquidation" / "adl": the venue's own order closing a liquidated / ADL'd leg

    @property
    def avg_price(self) -> float:
        return self.cost / self.filled if self.filled else 0.0

    @property
    def remaining(self) -> float:
        if self.quote_amount:
            return max(0.0, self.amount - self.cost)
        return max(0.0, self.amount - self.filled)


@dataclass
class Position:
    pair: str
    qty: float = 0.0          # signed contracts
    entry: float = 0.0
    leverage: int = DEFAULT_LEVERAGE
    isolated: bool = False
    margin: float = 0.0       # isolated margin (settle currency)


def _units_from_base(spec: ContractSpec, base: float, price: float) -> float:
    """Order units (contracts, or base units on spot) worth `base` coins at `price`."""
    return base * price / spec.ct_val if spec.inverse else base / spec.ct_val


def _base_from_units(spec: ContractSpec, units: float, price: float) -> float:
    return units * spec.ct_val / price if spec.inverse else units * spec.ct_val


def _order_amount(amount: float, spec: ContractSpec, quote_amount: bool) -> float:
    """The order's amount checked: finite and positive, a multiple of the amount step (the tick for a spot
    market buy by quote amount, taken as given) and at least the minimum order size."""
    step = spec.tick if quote_amount else spec.amount_step
    if amount is None or not math.isfinite(amount) or amount <= 0:
        raise VenueError(f"invalid order amount {amount}")
    rounded = amount if quote_amount else _round_to(amount, step)
    if rounded is None:
        raise VenueError(f"amount {amount} is not a multiple of the amount step {step:g}")
    if not quote_amount and rounded < spec.min_qty - 1e-12:
        raise VenueError(f"amount {rounded:g} is below the minimum order size {spec.min_qty:g}")
    return rounded


def _order_price(price: float, spec: ContractSpec) -> float:
    p = _round_to(price, spec.tick)
    if p is None:
        raise VenueError(f"price {price} is not a multiple of the tick size {spec.tick:g}")
    return p


def _round_to(x: float, step: float) -> float | None:
    """x rounded to a multiple of step, or None when x is not (within float noise) a multiple."""
    n = round(x / step)
    if abs(n * step - x) > step * 1e-6:
        return None
    return float(f"{n * step:.12g}")


class Venues(Protocol):
    """What an account asks of the world it trades in (sim/world.py's SimWorld): quotes, prices, time,
    faults, the log."""

    quotes: dict[tuple[str, str], Quote]
    log: LogSink

    def now_ms(self) -> int: ...

    def usdt_price(self, asset: str) -> float: ...

    def book(self, q: Quote) -> tuple[list[list[float]], list[list[float]]]: ...

    def fault_active(self, venue: str, fault: str) -> bool: ...

    def position_changed(self, market: str, pair: str, d_base: float) -> None: ...

    def exchange_name(self, acc: Account) -> str: ...


class Account:
    """A venue account bound to one FMZ exchange object."""

    def __init__(self, world: Venues, index: int, venue: str, futures: bool,
                 balance: float, stocks: float, currency: str,
                 fee: tuple[float, float] | None) -> None:
        self.world = world
        self.index = index
        self.venue = venue
        self.spec: VenueSpec = VENUES[venue]
        self.futures = futures
        if fee is not None:
            self.maker, self.taker = fee[0] / 100.0, fee[1] / 100.0
        elif futures:
            self.maker, self.taker = self.spec.maker_fee, self.spec.taker_fee
        else:
            self.maker, self.taker = self.spec.spot_maker_fee, self.spec.spot_taker_fee
        base, quote = currency.upper().split("_")
        self.balances: dict[str, float] = defaultdict(float)
        self.frozen: dict[str, float] = defaultdict(float)     # spot: locked by open orders
        self.funding_wallet: dict[str, float] = defaultdict(float)  # transfers/withdrawals side
        # per asset, net amount moved futures -> funding by internal transfers, ever (tools read it to tell
        # which of the two wallets a reading of one of them was taken before or after a move)
        self.moved_to_funding: dict[str, float] = defaultdict(float)
        if futures and quote == "USD":
            self.balances[base] = stocks
        elif futures:
            self.balances[quote] = balance
        else:
            self.balances[quote] = balance
            self.balances[base] = stocks
        self.positions: dict[str, Position] = {}
        self.orders: dict[int, Order] = {}
        self.open: dict[int, Order] = {}
        self.leverage: dict[str, int] = {}
        self.cross = True
        self.next_n = 1
        self.trades = 0
        self.volume_usdt = 0.0
        self.fees_usdt = 0.0
        self.funding_usdt = 0.0
        self.realized_usdt = 0.0
        self.liquidations = 0
        self._specs: dict[str, ContractSpec] = {}
        # liquidation screen: (position version, wallet snapshot, [(pair, lowest mark, highest mark)]) inside
        # which no mark can liquidate; rebuilt after every full check, void once positions or wallets change
        self._pos_version = 0
        self.purgeable: deque[tuple[int, int]] = deque()  # (created ms, n) of canceled unfilled orders
        self._safe: tuple[int, dict[str, float], list[tuple[str, float, float]]] | None = None

    # --- instruments --------------------------------------------------------------------------
    def contract(self, pair: str) -> ContractSpec:
        """The spec of an instrument key: a pair (perpetual, spot) or a dated contract "BTC_USD@240927"
        (sim/delivery.py): the perpetual's contract size, tick and lot under the dated native symbol."""
        spec = self._specs.get(pair)
        if spec is None:
            plain, date = delivery.split_key(pair)
            spec = contract_spec(self.venue, plain, self.futures)
            if date:
                spec = replace(spec, native=delivery.native_symbol(self.venue, plain, date))
            self._specs[pair] = spec
        return spec

    def use_contract(self, spec: ContractSpec) -> None:
        """Trade `spec.pair` with these contract facts (a replay uses what the venue published)."""
        self._specs[spec.pair] = spec

    def market_key(self, pair: str) -> str:
        if not self.futures:
            return f"{self.venue}:spot"
        if "@" in pair:  # a dated contract (sim/delivery.py)
            return f"{self.venue}:inverse:delivery" if "_USD@" in pair else f"{self.venue}:delivery"
        return f"{self.venue}:inverse" if pair.endswith("_USD") else self.venue

    def quote(self, pair: str) -> Quote | None:
        return self.world.quotes.get((self.market_key(pair), pair))

    @staticmethod
    def settle_asset(pair: str) -> str:
        base, quote = pair.partition("@")[0].split("_")
        return base if quote == "USD" else quote

    # --- valuation ----------------------------------------------------------------------------
    def _leg(self, pos: Position, mark: float) -> rules.Leg:
        """The position as (signed size, entry, mark); inverse legs in reciprocal price (coin terms)."""
        spec = self.contract(pos.pair)
        if spec.inverse:
            return (pos.pair, -pos.qty * spec.ct_val, 1.0 / pos.entry, 1.0 / mark)
        return (pos.pair, pos.qty * spec.ct_val, pos.entry, mark)

    def upnl(self, pos: Position, mark: float | None = None) -> float:
        if pos.qty == 0.0:
            return 0.0
        if mark is None:
            mark = self.quote(pos.pair).mark
        _pair, size, entry, m = self._leg(pos, mark)
        return size * (m - entry)

    def notional_settle(self, pair: str, qty: float, price: float) -> float:
        spec = self.contract(pair)
        return abs(qty) * spec.ct_val / price if spec.inverse else abs(qty) * spec.ct_val * price

    def used_margin(self, pos: Position) -> float:
        if pos.isolated:
            return pos.margin
        return self.notional_settle(pos.pair, pos.qty, self.quote(pos.pair).mark) / pos.leverage

    def available(self, asset: str) -> float:
        if not self.futures:
            return self.balances[asset] - self.frozen[asset]
        avail = self.balances[asset]
        for pos in self.positions.values():
            if pos.qty != 0.0 and not pos.isolated and self.settle_asset(pos.pair) == asset:
                avail += self.upnl(pos) - self.used_margin(pos)
        for o in self.open.values():
            if self.settle_asset(o.pair) == asset:
                avail -= o.margin
        return avail

    def equity(self, asset: str) -> float:
        eq = self.balances[asset]
        if self.futures:
            for pos in self.positions.values():
                if pos.qty != 0.0 and self.settle_asset(pos.pair) == asset:
                    eq += self.upnl(pos) + (pos.margin if pos.isolated else 0.0)
        return eq

    def equity_usdt(self) -> float:
        total = 0.0
        assets = set(self.balances) | set(self.funding_wallet)
        for pos in self.positions.values():
            assets.add(self.settle_asset(pos.pair))
        for asset in assets:
            amount = self.equity(asset) + self.funding_wallet.get(asset, 0.0)
            if not self.futures:
                amount = self.balances[asset] + self.funding_wallet.get(asset, 0.0)
            total += amount * self.world.usdt_price(asset)
        return total

    # --- orders ---------------------------------------------------------------------------------
    def place(self, pair: str, side: str, price: float, amount: float, *, reduce_only: bool = False,
              close: bool = False, tif: str = "GTC", post_only: bool = False) -> Order:
        """Validate, match what crosses, rest the remainder. Raises VenueError when refused."""
        q = self.quote(pair)
        if q is None:
            raise VenueError(f"symbol {pair} is not traded on this simulated venue")
        spec = self.contract(pair)
        market = price is None or price <= 0
        quote_amount = market and side == "buy" and not self.futures
        amount = _order_amount(amount, spec, quote_amount)
        if not market:
            price = _order_price(price, spec)
        bid, ask = q.best_bid_ask()
        ref = (ask if side == "buy" else bid) if market else price
        crosses = market or (side == "buy" and price >= ask) or (side == "sell" and price <= bid)
        if post_only and crosses:  # a market order always takes liquidity
            raise VenueError(venue_message("post_only", self.venue))
        reduce_only = reduce_only or close
        order = Order(self.next_n, pair, self.futures, side, 1 if reduce_only else 0,
                      -1.0 if market else price, amount, reduce_only=reduce_only,
                      tif="IOC" if market else tif, post_only=post_only,
                      time_ms=self.world.now_ms(), quote_amount=quote_amount)
        if self.futures:
            self._check_futures(order, spec, ref)
        else:
            self._check_spot(order, spec, ref)
        self.next_n += 1
        self.orders[order.n] = order
        if not post_only:
            self._take(order, q)
        if order.remaining > 0 and order.status == ORDER_STATE_PENDING:
            self._rest_or_cancel(order, spec)
        return order

    def _rest_or_cancel(self, order: Order, spec: ContractSpec) -> None:
        """What is left of an order after taking: an IOC/FOK remainder (or a part-filled spot market buy
        by quote amount) ends there; a GTC remainder rests on the book with its funds reserved."""
        if order.tif in ("IOC", "FOK") or (order.quote_amount and order.filled > 0):
            self._finish(order, ORDER_STATE_CANCELED if order.remaining > 1e-12 else ORDER_STATE_CLOSED)
        else:
            self._reserve(order, spec)
            self.open[order.n] = order

    def _opening_qty(self, pair: str, side: str, qty: float) -> float:
        pos = self.positions.get(pair)
        held = pos.qty if pos else 0.0
        if side == "buy":
            return max(0.0, qty - max(0.0, -held))
        return max(0.0, qty - max(0.0, held))

    def _check_futures(self, order: Order, spec: ContractSpec, ref: float) -> None:
        pos = self.positions.get(order.pair)
        held = pos.qty if pos else 0.0
        if order.reduce_only:
            pending = sum(o.remaining for o in self.open.values()
                          if o.pair == order.pair and o.reduce_only and o.side == order.side)
            closable = -held if order.side == "buy" else held
            if closable <= 0 or order.amount > closable - pending + 1e-9:
                raise VenueError(venue_message("reduce_only", self.venue))
            return
        notional = order.amount * spec.ct_val * ref
        minimum = spec.min_notional_at(self.world.now_ms())
        if not spec.inverse and notional < minimum:
            raise VenueError(f"order notional {notional:.2f} is below the minimum {minimum:g} USDT")
        opening = self._opening_qty(order.pair, order.side, order.amount)
        if opening <= 0:
            return
        lev = self.leverage.get(order.pair, DEFAULT_LEVERAGE)
        need_notional = self.notional_settle(order.pair, opening, ref)
        need = need_notional / lev + need_notional * max(self.taker, 0.0)
        if need > self.available(self.settle_asset(order.pair)) + 1e-9:
            raise VenueError(venue_message("margin", self.venue))

    def _check_spot(self, order: Order, spec: ContractSpec, ref: float) -> None:
        base, quote = order.pair.split("_")
        if order.side == "buy":
            cost = order.amount if order.quote_amount else order.amount * ref
            if cost * (1 + max(self.taker, 0.0)) > self.available(quote) + 1e-9:
                raise VenueError(venue_message("balance", self.venue))
            if cost < spec.min_notional:
                raise VenueError(f"order notional {cost:.2f} is below the minimum {spec.min_notional:g}")
        else:
            if order.amount > self.available(base) + 1e-12:
                raise VenueError(venue_message("balance", self.venue))
            if order.amount * ref < spec.min_notional:
                raise VenueError(f"order notional {order.amount * ref:.2f} is below the minimum "
                                 f"{spec.min_notional:g}")

    def _reserve(self, order: Order, spec: ContractSpec) -> None:
        if self.futures:
            if not order.reduce_only:
                opening = self._opening_qty(order.pair, order.side, order.remaining)
                lev = self.leverage.get(order.pair, DEFAULT_LEVERAGE)
                order.margin = self.notional_settle(order.pair, opening, order.price) / lev
        else:
            base, quote = order.pair.split("_")
            if order.side == "buy":
                order.margin = order.remaining * order.price * (1 + max(self.maker, 0.0))
                self.frozen[quote] += order.margin
            else:
                order.margin = order.remaining
                self.frozen[base] += order.margin

    def _release(self, order: Order) -> None:
        if not self.futures and order.margin:
            base, quote = order.pair.split("_")
            self.frozen[quote if order.side == "buy" else base] -= order.margin
        order.margin = 0.0

    def _finish(self, order: Order, status: int) -> None:
        self._release(order)
        order.status = status
        self.open.pop(order.n, None)
        if status == ORDER_STATE_CANCELED and order.filled == 0.0:
            self.purgeable.append((order.time_ms, order.n))

    def purge(self, older_than_ms: int) -> int:
        """Forget canceled orders without a fill created before `older_than_ms` (venues drop them from
        every lookup: Binance USDS-M after 3 days); returns how many went."""
        gone = 0
        queue = self.purgeable
        while queue and queue[0][0] < older_than_ms:
            _created, n = queue.popleft()
            order = self.orders.get(n)
            if order is not None and order.status == ORDER_STATE_CANCELED and order.filled == 0.0:
                del self.orders[n]
                gone += 1
        return gone

    def auto_deleverage(self, pair: str, fraction: float) -> Order | None:
        """The venue closes `fraction` of a position at the mark (at least one amount step, never more than
        the position), without a fee, and records it as a filled reduce-only order with the client id
        Binance gives its ADL orders ("adl_autoclose"). None when there is no position."""
        pos = self.positions.get(pair)
        if pos is None or pos.qty == 0.0:
            return None
        spec = self.contract(pair)
        q = self.quote(pair)
        held = abs(pos.qty)
        qty = min(held, max(spec.amount_step, math.floor(held * fraction / spec.amount_step + 1e-9)
                            * spec.amount_step))
        qty = float(f"{qty:.12g}")
        side = "sell" if pos.qty > 0 else "buy"
        for o in [o for o in self.open.values() if o.pair == pair and o.reduce_only]:
            self._finish(o, ORDER_STATE_CANCELED)  # the venue cancels reduce-only orders it would overfill
        order = Order(self.next_n, pair, self.futures, side, 1, q.mark, qty, reduce_only=True, tif="IOC",
                      time_ms=self.world.now_ms(), client_id="adl_autoclose", origin="adl")
        self.next_n += 1
        self.orders[order.n] = order
        order.filled, order.cost = qty, qty * q.mark
        order.status = ORDER_STATE_CLOSED
        self._apply_position(pair, -qty if pos.qty > 0 else qty, q.mark, spec)
        return order

    def deliver(self, key: str, price: float, fee_rate: float) -> float:
        """A dated contract's delivery (sim/delivery.py): its resting orders canceled, its position closed at
        the delivery price with the PnL booked and `fee_rate` on the delivered notional. Returns the signed
        quantity delivered (0.0 when none was held)."""
        for o in [o for o in self.open.values() if o.pair == key]:
            self._finish(o, ORDER_STATE_CANCELED)
        pos = self.positions.get(key)
        if pos is None or pos.qty == 0.0:
            return 0.0
        qty = pos.qty
        settle = self.settle_asset(key)
        notional = self.notional_settle(key, qty, price)
        fee = notional * fee_rate
        self.balances[settle] -= fee
        usd = self.world.usdt_price(settle)
        self.fees_usdt += fee * usd
        self.volume_usdt += notional * usd
        self._apply_position(key, -qty, price, self.contract(key))
        return qty

    def cancel(self, n: int) -> Order:
        order = self.orders.get(n)
        if order is None:
            raise VenueError({"binance": '{"code":-2011,"msg":"Unknown order sent."}',
                              "okx": '{"code":"51603","msg":"Order does not exist"}'}.get(
                                  self.venue, '{"error":"order not found"}'))
        if order.status != ORDER_STATE_PENDING:
            raise VenueError({"binance": '{"code":-2011,"msg":"Unknown order sent."}',
                              "okx": '{"code":"51400","msg":"Cancellation failed as the order has been '
                                     'filled, canceled or does not exist"}'}.get(
                                  self.venue, '{"error":"order already closed"}'))
        self._finish(order, ORDER_STATE_CANCELED)
        return order

    # --- matching -----------------------------------------------------------------------------
    def _take(self, order: Order, q: Quote) -> None:
        """Fill against the generated depth as taker, up to the limit price."""
        bids, asks = self.world.book(q)
        levels = asks if order.side == "buy" else bids
        spec = self.contract(order.pair)
        if order.tif == "FOK" and not self._fillable(levels, order, spec):
            self._finish(order, ORDER_STATE_CANCELED)
            return
        limit = order.price
        step = spec.amount_step
        wanted = self._wanted(order, step)
        for level in levels:
            lp, avail = level[0], level[1]
            if limit > 0 and ((order.side == "buy" and lp > limit) or (order.side == "sell" and lp < limit)):
                break
            if avail <= 0:
                continue
            if order.quote_amount:
                units = min(avail, (order.amount - order.cost) / lp)
            else:
                units = min(wanted - order.filled, _units_from_base(spec, avail, lp))
            units = math.floor(units / step + 1e-9) * step
            if units <= 1e-12:
                if order.quote_amount:
                    break
                continue
            level[1] = avail - _base_from_units(spec, units, lp)
            self._fill(order, lp, units, maker=False)
            if not order.quote_amount and wanted - order.filled <= 1e-12:
                break
        self._end_taken(order)

    def _end_taken(self, order: Order) -> None:
        """After taking: a market buy by quote amount ends (closed if anything filled); an order filled in
        full closes; anything else is left to rest or be canceled."""
        if order.quote_amount:
            self._finish(order, ORDER_STATE_CLOSED if order.filled > 0 else ORDER_STATE_CANCELED)
        elif order.filled > 0 and order.remaining <= 1e-12:
            self._finish(order, ORDER_STATE_CLOSED)

    def _wanted(self, order: Order, step: float) -> float:
        """What a taker order fills at most: all of it, or half under the partial_fill fault (an IOC by
        amount; the rest is canceled after taking)."""
        if (order.tif == "IOC" and not order.quote_amount
                and self.world.fault_active(self.venue, "partial_fill")):
            return math.floor(order.amount / 2 / step + 1e-9) * step
        return order.amount

    @staticmethod
    def _fillable(levels: list, order: Order, spec: ContractSpec) -> bool:
        have = 0.0
        for lp, amt in levels:
            if order.price > 0 and ((order.side == "buy" and lp > order.price)
                                    or (order.side == "sell" and lp < order.price)):
                break
            have += _units_from_base(spec, amt, lp)
        return have + 1e-9 >= order.amount

    def sweep(self, q: Quote) -> None:
        """Fill resting orders of q's instrument that the venue price traded through this chunk."""
        for order in [o for o in self.open.values() if o.pair == q.pair]:
            if self.market_key(order.pair) != q.market:
                continue
            crossed = q.lo < order.price if order.side == "buy" else q.hi > order.price
            if not crossed:
                continue
            qty = order.remaining
            if order.reduce_only and self.futures:
                pos = self.positions.get(order.pair)
                held = pos.qty if pos else 0.0
                closable = -held if order.side == "buy" else held
                qty = min(qty, max(0.0, closable))
                if qty <= 1e-12:
                    self._finish(order, ORDER_STATE_CANCELED)
                    continue
            self._release(order)
            self._fill(order, order.price, qty, maker=True)
            if order.remaining <= 1e-12:
                self._finish(order, ORDER_STATE_CLOSED)
            elif order.reduce_only:
                self._finish(order, ORDER_STATE_CANCELED)
            else:
                self._reserve(order, self.contract(order.pair))

    def _fill(self, order: Order, price: float, qty: float, *, maker: bool) -> None:
        spec = self.contract(order.pair)
        rate = self.maker if maker else self.taker
        order.filled += qty
        order.cost += price * qty
        self.trades += 1
        if not self.futures:
            self._fill_spot(order, price, qty, rate)
            return
        settle = self.settle_asset(order.pair)
        notional = self.notional_settle(order.pair, qty, price)
        fee = notional * rate
        order.fee += fee
        self.balances[settle] -= fee
        usd = self.world.usdt_price(settle)
        self.fees_usdt += fee * usd
        self.volume_usdt += notional * usd
        self._apply_position(order.pair, qty if order.side == "buy" else -qty, price, spec)

    def _fill_spot(self, order: Order, price: float, qty: float, rate: float) -> None:
        base, quote = order.pair.split("_")
        value = price * qty
        fee = value * rate
        order.fee += fee
        if order.side == "buy":
            self.balances[quote] -= value + fee
            self.balances[base] += qty
        else:
            self.balances[base] -= qty
            self.balances[quote] += value - fee
        usd = self.world.usdt_price(quote)
        self.fees_usdt += fee * usd
        self.volume_usdt += value * usd

    def _apply_position(self, pair: str, d: float, price: float, spec: ContractSpec) -> None:
        self._pos_version += 1
        pos = self.positions.get(pair)
        if pos is None:
            pos = Position(pair, leverage=self.leverage.get(pair, DEFAULT_LEVERAGE), isolated=not self.cross)
            self.positions[pair] = pos
        settle = self.settle_asset(pair)
        q = pos.qty
        if q == 0.0:
            pos.leverage = self.leverage.get(pair, DEFAULT_LEVERAGE)
            pos.isolated = not self.cross
        if q == 0.0 or (q > 0) == (d > 0):
            self._add_to_position(pos, pair, d, price, spec, settle)
        else:
            self._reduce_position(pos, pair, d, price, spec, settle)
        if not spec.inverse:
            self.world.position_changed(self.market_key(pair), pair, d * spec.ct_val)

    def _add_to_position(self, pos: Position, pair: str, d: float, price: float, spec: ContractSpec,
                         settle: str) -> None:
        """Open or add to a position: the entry averages in (in 1/price for an inverse contract), an
        isolated position takes the added margin from the balance."""
        q = pos.qty
        new = q + d
        if spec.inverse:
            pos.entry = new / (q / pos.entry + d / price) if q else price
        else:
            pos.entry = (q * pos.entry + d * price) / new if q else price
        pos.qty = new
        if pos.isolated:
            m = self.notional_settle(pair, d, price) / pos.leverage
            pos.margin += m
            self.balances[settle] -= m

    def _reduce_position(self, pos: Position, pair: str, d: float, price: float, spec: ContractSpec,
                         settle: str) -> None:
        """Reduce, close or flip a position: the closed part realizes its profit and frees its isolated
        margin; what goes beyond closing opens the other side at `price`."""
        q = pos.qty
        close = min(abs(d), abs(q))
        sign = 1.0 if q > 0 else -1.0
        if spec.inverse:
            realized = sign * close * spec.ct_val * (1.0 / pos.entry - 1.0 / price)
        else:
            realized = sign * close * spec.ct_val * (price - pos.entry)
        self.balances[settle] += realized
        self.realized_usdt += realized * self.world.usdt_price(settle)
        if pos.isolated:
            released = pos.margin * close / abs(q)
            pos.margin -= released
            self.balances[settle] += released
        pos.qty = q - sign * close
        rest = abs(d) - close
        if abs(pos.qty) < 1e-12:
            pos.qty = 0.0
            if pos.isolated and pos.margin:
                self.balances[settle] += pos.margin
                pos.margin = 0.0
        if rest > 1e-12:
            pos.qty = math.copysign(rest, d)
            pos.entry = price
            pos.leverage = self.leverage.get(pair, DEFAULT_LEVERAGE)
            pos.isolated = not self.cross
            if pos.isolated:
                m = self.notional_settle(pair, rest, price) / pos.leverage
                pos.margin += m
                self.balances[settle] -= m

    # --- periodic events ----------------------------------------------------------------------
    def settle_funding(self, q: Quote, rate: float) -> None:
        pos = self.positions.get(q.pair)
        if pos is None or pos.qty == 0.0 or self.market_key(q.pair) != q.market:
            return
        spec = self.contract(q.pair)
        mark = q.mark
        size_base = pos.qty * spec.ct_val / mark if spec.inverse else pos.qty * spec.ct_val
        pay = rules.funding_payment(self.venue, size_base, mark, rate)
        settle = self.settle_asset(q.pair)
        if spec.inverse:
            pay /= mark
        self._pos_version += 1
        if pos.isolated:
            pos.margin += pay
        else:
            self.balances[settle] += pay
        self.funding_usdt += pay * self.world.usdt_price(settle)

    def check_liquidation(self) -> None:
        """Liquidate at the chunk's most adverse mark whatever `rules.liquidation_check` condemns.

        Called after every chunk of price steps with the chunk's mark extremes (`Quote.mhi`/`mlo`), so a mark
        that touches the liquidation level at any step liquidates before the strategy sees a later step."""
        if self._still_safe():
            return
        self._full_liquidation_check()
        self._safe = self._safe_band()

    def _still_safe(self) -> bool:
        safe = self._safe
        if safe is None or safe[0] != self._pos_version or safe[1] != self.balances:
            return False
        quote = self.quote
        for pair, lo, hi in safe[2]:
            q = quote(pair)
            if q.mlo < lo or q.mhi > hi:
                return False
        return True

    def _safe_band(self) -> tuple[int, dict[str, float], list[tuple[str, float, float]]] | None:
        """The marks inside which no position of this account can be liquidated (`rules.safe_move`)."""
        band: list[tuple[str, float, float]] = []
        cross: dict[str, list[Position]] = defaultdict(list)
        groups: list[tuple[float, list[Position]]] = []
        for pos in self.positions.values():
            if pos.qty == 0.0:
                continue
            if pos.isolated:
                groups.append((pos.margin, [pos]))
            else:
                cross[self.settle_asset(pos.pair)].append(pos)
        groups += [(self.balances[asset], legs) for asset, legs in cross.items()]
        for margin, legs in groups:
            marks = [self.quote(p.pair).mark for p in legs]
            move = rules.safe_move(self.venue, margin,
                                   [self._leg(p, m) for p, m in zip(legs, marks, strict=True)])
            if move <= 0.0:
                return None
            band += [(p.pair, m * (1.0 - move), m * (1.0 + move)) for p, m in zip(legs, marks, strict=True)]
        return self._pos_version, dict(self.balances), band

    def _full_liquidation_check(self) -> None:
        cross_legs: dict[str, list[tuple[Position, float]]] = defaultdict(list)
        for pos in list(self.positions.values()):
            if pos.qty == 0.0:
                continue
            q = self.quote(pos.pair)
            worst = q.mlo if pos.qty > 0 else q.mhi  # long loses on the low, short on the high
            if pos.isolated:
                if rules.liquidation_check(self.venue, pos.margin, [self._leg(pos, worst)]):
                    self._liquidate([(pos, worst)], pos.margin)
            else:
                cross_legs[self.settle_asset(pos.pair)].append((pos, worst))
        for asset, legs in cross_legs.items():
            if rules.liquidation_check(self.venue, self.balances[asset],
                                       [self._leg(p, m) for p, m in legs]):
                self._liquidate(legs, self.balances[asset])

    @staticmethod
    def _bankruptcy_price(qty: float, mark: float, spec: ContractSpec, uncovered: float) -> float:
        """The price the liquidation order reports: the mark moved by what the margin could not pay (the
        insurance fund's share), so that the account's loss at that price is what it really lost."""
        base = abs(qty) * spec.ct_val
        if spec.inverse or not base:
            return mark
        return mark + (1.0 if qty > 0 else -1.0) * uncovered / base

    def _liquidation_order(self, pair: str, qty: float, price: float) -> None:
        """Venues list the order that closed a liquidated position in the account's order history (Binance
        USD-M: clientOrderId autoclose-...; OKX: category full_liquidation; Bybit: createType CreateByLiq)."""
        self.orders[self.next_n] = Order(
            self.next_n, pair, self.futures, "sell" if qty > 0 else "buy", 1, price, abs(qty),
            reduce_only=True, tif="IOC", time_ms=self.world.now_ms(), filled=abs(qty), cost=abs(qty) * price,
            status=ORDER_STATE_CLOSED, origin="liquidation")
        self.next_n += 1

    def _liquidate(self, legs: list[tuple[Position, float]], margin: float) -> None:
        penalties = rules.liquidation_penalties(self.venue, margin, [self._leg(p, m) for p, m in legs])
        for (pos, mark), penalty in zip(legs, penalties, strict=True):
            spec = self.contract(pos.pair)
            settle = self.settle_asset(pos.pair)
            for o in [o for o in self.open.values() if o.pair == pos.pair]:
                self._finish(o, ORDER_STATE_CANCELED)
            qty = pos.qty
            self._apply_position(pos.pair, -qty, mark, spec)
            price = self._bankruptcy_price(qty, mark, spec, max(0.0, -self.balances[settle]))
            self.balances[settle] -= penalty
            self.realized_usdt -= penalty * self.world.usdt_price(settle)
            if self.balances[settle] < 0:  # the insurance fund covers the rest
                self.balances[settle] = 0.0
            self.liquidations += 1
            self._liquidation_order(pos.pair, qty, price)
            self.world.log.log(LOG_TYPE_LOG, f"{self.world.exchange_name(self)}: {pos.pair} position "
                               f"{qty:g} liquidated at mark {mark:.6g}", exchange_index=self.index)
