"""Venue mechanics: one object per venue, all of one shape, all money math in Decimal.

    from decimal import Decimal as D
    from hedge import venues
    from hedge.venues.base import Account, Position, Side

    binance = venues.get("binance")                   # or .with_fee_tier("VIP9"), .with_overrides({...})
    pos = Position("BTCUSDT", Side.LONG, qty=D("1"), entry_price=D("30000"), leverage=D("10"))
    binance.liquidation_price(pos)                    # isolated: margin = pos.margin or entry*qty/leverage
    cross = Account(wallet_balance=D("5000"), positions=(pos, other))
    binance.liquidation_price(pos, cross)             # cross, one-way mode
    binance.bankruptcy_price(pos, account=None)
    binance.initial_margin(pos)
    binance.maintenance_margin(pos, price=None)       # at `price` (default: mark, else entry), tier included
    binance.margin_ratio(pos, account=None)           # the venue's orientation (rules.ratio_orientation)
    binance.maintenance_usage(pos, account=None)      # uniform: requirement / equity, >= 1 means liquidated
    binance.is_liquidated(pos, account=None)          # equity <= requirement at the marks
    binance.evaluate_cross(account)                   # equity, requirement, usage, every LP in one pass
    binance.funding_fee(notional_at_mark, rate, side)     # balance change of the holder: negative = paid
    binance.next_funding_time("BTCUSDT", now_ms)          # first settlement strictly after now_ms
    binance.funding_times("BTCUSDT", start_ms, end_ms)    # settlements in (start_ms, end_ms]
    binance.clamp_funding_rate("BTCUSDT", rate)
    binance.trading_fee(notional, maker=False)            # with the chosen fee tier
    binance.liquidation_fee(pos, price)                   # clearance fee charged when liquidated at `price`

Conventions:
- `qty` is always in base units (BTC), never contracts; `spec(symbol).contract_size` converts.
- The maintenance condition is linear in the price: equity(P) = C + s*q*P and requirement(P) is either
  q*P*rate - maint_amount (valued at mark: Binance, OKX, CoinEx) or a constant (valued at entry:
  Bybit, BitMEX).
  The liquidation price is the root of equity == requirement with the tier that applies *at that root*
  (tiers measured on notional at mark are searched, e.g. Binance's bracket at the liquidation price).
- `liquidation_price` returns the exact value (Decimal, 40 digits). It can be <= 0: for a long that means
  it is never liquidated, for a short that it is below maintenance already. `round_price` rounds for display.
- Cross mode is one-way: one position per symbol; `Account.positions` may include the evaluated position
  (it is matched by symbol and left out of the "other positions" terms).
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum
from functools import cached_property
from typing import Any

D = Decimal
ZERO = Decimal(0)
ONE = Decimal(1)
_CTX = Context(prec=40)
HOUR_MS = 3_600_000


class Side(StrEnum):
    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        return _SIGN[self]


_SIGN = {Side.LONG: 1, Side.SHORT: -1}


class Valuation(StrEnum):
    """Which price the maintenance requirement (and the tier lookup) is valued at."""

    MARK = "mark"
    ENTRY = "entry"


class TierUnit(StrEnum):
    """What a venue's margin tier caps measure."""

    NOTIONAL = "notional"  # quote value (USDT)
    BASE = "base"  # base quantity (BTC)
    CONTRACTS = "contracts"  # venue contracts (OKX)


class RatioOrientation(StrEnum):
    MM_OVER_EQUITY = "maintenance/equity, liquidated at >= 1"
    EQUITY_OVER_MM = "equity/(maintenance+fee), liquidated at <= 1"


class SettlesAt(StrEnum):
    """Price the liquidated position is closed at by the venue's engine."""

    MARK = "mark"  # closed near the liquidation price, clearance fee charged (Binance, OKX)
    BANKRUPTCY = "bankruptcy"  # taken over at the bankruptcy price, the margin left goes to the fund


@dataclass(frozen=True)
class MarginTier:
    """One margin tier: the measure up to `cap` (inclusive of floor, exclusive of cap) uses these rates."""

    cap: Decimal
    mmr: Decimal
    max_leverage: Decimal
    maint_amount: Decimal = ZERO  # Binance "cum", Bybit "mmDeduction"; 0 where the tier rate is flat
    imr: Decimal | None = None  # None: 1 / max_leverage

    @property
    def initial_rate(self) -> Decimal:
        return self.imr if self.imr is not None else _CTX.divide(ONE, self.max_leverage)


def tiers_with_cum(rows: Sequence[tuple[str, ...]]) -> tuple[MarginTier, ...]:
    """Tiers from (cap, mmr, max_leverage[, imr]) with cum_n = floor_n*(mmr_n - mmr_{n-1}) + cum_{n-1}.

    Give `imr` where the venue publishes an initial rate other than 1/max_leverage (Bybit: 1.75 % at 57.14x).
    """
    out: list[MarginTier] = []
    floor, prev_mmr, cum = ZERO, ZERO, ZERO
    for cap, mmr, lev, *imr in rows:
        rate = D(mmr)
        cum = floor * (rate - prev_mmr) + cum
        out.append(MarginTier(cap=D(cap), mmr=rate, max_leverage=D(lev), maint_amount=cum,
                              imr=D(imr[0]) if imr else None))
        floor, prev_mmr = D(cap), rate
    return tuple(out)


def flat_tiers(rows: list[tuple[str, str, str]]) -> tuple[MarginTier, ...]:
    """Tiers whose rate applies to the whole position (no deduction): CoinEx, OKX, BitMEX."""
    return tuple(MarginTier(cap=D(c), mmr=D(m), max_leverage=D(lev)) for c, m, lev in rows)


def decimals(step: Decimal) -> int:
    """Decimal places of a price or quantity step (0.001 -> 3, 1 -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


# Unknown symbol: one tier at the highest first-tier maintenance rate seen in a venue's published tables (3 %:
# Binance's 2024-10-24 leverage brackets, the only complete table we hold, over its 300+ USDT perpetuals;
# no other venue's known first tier is higher). Liquidation distances computed with it are flagged estimated.
FALLBACK_MMR = D("0.03")


@dataclass(frozen=True)
class FeeTier:
    name: str
    maker: Decimal  # negative = rebate paid by the venue
    taker: Decimal


@dataclass(frozen=True)
class ContractSpec:
    symbol: str
    tick_size: Decimal
    lot_size: Decimal  # in contracts
    min_qty: Decimal  # in contracts
    min_notional: Decimal  # quote; 0 = none
    margin_tiers: tuple[MarginTier, ...]
    contract_size: Decimal = ONE  # base units per contract (OKX ctVal, BitMEX multiplier)
    price_decimals: int = 2  # precision the venue displays prices with
    funding_interval_hours: int = 8
    funding_cap: Decimal = D("0.0075")
    funding_floor: Decimal = D("-0.0075")
    liquidation_fee_rate: Decimal = ZERO  # Binance per-symbol `liquidationFee`
    estimated: bool = False  # tiers not from the venue's published table (see docs/mechanics.md, "Alts")

    @property
    def max_leverage(self) -> Decimal:
        return self.margin_tiers[0].max_leverage

    @cached_property
    def tier_caps(self) -> tuple[Decimal, ...]:
        return tuple(t.cap for t in self.margin_tiers)

    def tier_index(self, measure: Decimal, cap_inclusive: bool = False) -> int:
        """Index of the tier whose [floor, cap) holds `measure`, or (floor, cap] with `cap_inclusive`
        (the last tier beyond every cap)."""
        locate = bisect_left if cap_inclusive else bisect_right
        return min(locate(self.tier_caps, measure), len(self.margin_tiers) - 1)


@dataclass(frozen=True)
class Position:
    symbol: str
    side: Side
    qty: Decimal  # base units, > 0
    entry_price: Decimal
    mark_price: Decimal | None = None  # None: entry price
    margin: Decimal | None = None  # isolated position margin; None: initial margin at `leverage`
    leverage: Decimal | None = None
    tier: MarginTier | None = None  # pin the tier instead of looking it up

    @property
    def mark(self) -> Decimal:
        return self.mark_price if self.mark_price is not None else self.entry_price

    def unrealized_pnl(self, price: Decimal | None = None) -> Decimal:
        p = self.mark if price is None else price
        return self.side.sign * self.qty * (p - self.entry_price)


@dataclass(frozen=True)
class Account:
    """Cross-margin account (one-way mode): wallet balance excludes unrealized PnL."""

    wallet_balance: Decimal
    positions: tuple[Position, ...] = ()


@dataclass(frozen=True)
class CrossEvaluation:
    equity: Decimal  # wallet + all uPnL at the marks
    requirement: Decimal  # all positions' maintenance requirement at the marks
    usage: Decimal  # requirement / equity (>= 1: liquidated)
    liquidation_prices: dict[str, Decimal] = field(hash=False)


@dataclass(frozen=True, slots=True)
class _TierTable:
    """One symbol's tiers as the one-pass cross evaluation reads them."""

    caps: tuple[Decimal, ...]
    rates: tuple[Decimal, ...]  # requirement rate per tier (mmr, + clearance fee where it counts)
    amounts: tuple[Decimal, ...]  # maintenance amount per tier
    long_denominators: tuple[Decimal, ...]  # rate - 1
    short_denominators: tuple[Decimal, ...]  # rate + 1
    last: int
    contract_size: Decimal
    search: bool  # tier depends on the price (notional at mark): search the brackets for the root
    tiers: tuple[MarginTier, ...]


_MoveRow = tuple[Position, _TierTable, Decimal]  # a position, its tier table, its mark (common_adverse_move)


@dataclass(frozen=True)
class VenueRules:
    name: str
    valuation: Valuation
    tier_unit: TierUnit
    ratio_orientation: RatioOrientation
    settles_at: SettlesAt
    liquidation_fee_in_maintenance: bool  # OKX: the taker-rate clearance fee is part of the requirement
    money_decimals: int
    funding_anchor_hour: int = 0  # first settlement hour (UTC) of the day; BitMEX 4
    tier_cap_inclusive: bool = False  # a tier's cap belongs to it (OKX maxSz, CoinEx levels, Bybit/BitMEX <=)


@dataclass(frozen=True)
class Venue:
    rules: VenueRules
    specs: dict[str, ContractSpec] = field(hash=False)
    fee_tiers: tuple[FeeTier, ...]
    fee_tier_name: str
    fallback_mmr: Decimal = FALLBACK_MMR

    # --- configuration -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.rules.name

    def spec(self, symbol: str) -> ContractSpec:
        """Contract spec by canonical symbol (BTCUSDT); FMZ, ccxt and venue spellings are accepted too. A USDT
        perpetual without a table here gets the conservative estimate (`estimated_spec`)."""
        try:
            return self.specs[symbol]
        except KeyError:
            pass
        canonical = canonical_symbol(symbol)
        found = self.specs.get(canonical)
        if found is not None:
            return found
        if canonical.endswith("USDT") and len(canonical) > 4 and canonical.isalnum():
            return self.estimated_spec(canonical)
        known = ", ".join(sorted(self.specs))
        raise ValueError(f"unknown symbol {symbol!r} on {self.name}: not a USDT perpetual; known: {known}")

    def is_estimated(self, symbol: str) -> bool:
        """True when the symbol's margin tiers are not the venue's published ones."""
        return self.spec(symbol).estimated

    def estimated_spec(self, symbol: str) -> ContractSpec:
        """One margin tier at `fallback_mmr` for every size, fine price and quantity steps: a liquidation
        price on the safe side of any first tier we have seen, for a symbol this module has no table for."""
        found = self._estimates.get(symbol)
        if found is None:
            mmr = self.fallback_mmr
            tier = MarginTier(cap=D("Infinity"), mmr=mmr, max_leverage=(ONE / (2 * mmr)).quantize(D("0.01")))
            found = self._estimates[symbol] = ContractSpec(
                symbol=symbol, tick_size=D("1e-8"), lot_size=D("1e-8"), min_qty=ZERO, min_notional=ZERO,
                margin_tiers=(tier,), price_decimals=8, estimated=True)
        return found

    @cached_property
    def _estimates(self) -> dict[str, ContractSpec]:
        return {}

    @cached_property
    def fees(self) -> FeeTier:
        for tier in self.fee_tiers:
            if tier.name == self.fee_tier_name:
                return tier
        raise ValueError(f"unknown fee tier {self.fee_tier_name!r} on {self.name}")

    def with_fee_tier(self, name: str) -> Venue:
        names = [t.name for t in self.fee_tiers]
        if name not in names:
            raise ValueError(f"unknown fee tier {name!r} on {self.name}; choose one of: {', '.join(names)}")
        return dataclasses.replace(self, fee_tier_name=name)

    def with_overrides(self, overrides: dict[str, dict[str, Any]]) -> Venue:
        """Replace contract fields per symbol from live venue data, e.g.
        {"BTCUSDT": {"tick_size": "0.1", "margin_tiers": [{"cap": "50000", "mmr": "0.004",
        "max_leverage": "125", "maint_amount": "0"}, ...]}}. A new symbol needs every required field."""
        specs = dict(self.specs)
        names = {f.name for f in dataclasses.fields(ContractSpec)}
        for symbol, values in overrides.items():
            unknown = sorted(set(values) - names)
            if unknown:
                raise ValueError(f"unknown contract field(s) {unknown} for {symbol}; valid: {sorted(names)}")
            conv = {k: _convert_field(k, v) for k, v in values.items()}
            if symbol in specs:
                specs[symbol] = dataclasses.replace(specs[symbol], **conv)
            else:
                try:
                    specs[symbol] = ContractSpec(symbol=symbol, **conv)
                except TypeError as exc:
                    raise ValueError(f"new symbol {symbol} on {self.name} is missing fields: {exc}") from None
        return dataclasses.replace(self, specs=specs)

    # --- tiers -----------------------------------------------------------------------------------
    def tier_measure(self, symbol: str, qty: Decimal, price: Decimal) -> Decimal:
        unit = self.rules.tier_unit
        if unit is TierUnit.NOTIONAL:
            return qty * price
        if unit is TierUnit.BASE:
            return qty
        return _CTX.divide(qty, self.spec(symbol).contract_size)

    def tier_for(self, symbol: str, measure: Decimal) -> MarginTier:
        spec = self.spec(symbol)
        return spec.margin_tiers[spec.tier_index(measure, self.rules.tier_cap_inclusive)]

    def _tier(self, position: Position, price: Decimal) -> MarginTier:
        if position.tier is not None:
            return position.tier
        basis = price if self.rules.valuation is Valuation.MARK else position.entry_price
        return self.tier_for(position.symbol, self.tier_measure(position.symbol, position.qty, basis))

    def _requirement_rate(self, tier: MarginTier) -> Decimal:
        if self.rules.liquidation_fee_in_maintenance:
            return tier.mmr + self.fees.taker
        return tier.mmr

    # --- margins ---------------------------------------------------------------------------------
    def initial_margin(self, position: Position) -> Decimal:
        """Position margin: `margin` if given, else entry notional / leverage (tier's max if none)."""
        if position.margin is not None:
            return position.margin
        lev = position.leverage
        if lev is None:
            tier = self._tier(position, position.entry_price)
            if tier.imr is not None:  # the venue's published initial rate (Bybit 1.75 % at 57.14x)
                return position.qty * position.entry_price * tier.imr
            lev = tier.max_leverage
        return _CTX.divide(position.qty * position.entry_price, lev)

    def maintenance_margin(self, position: Position, price: Decimal | None = None) -> Decimal:
        """Maintenance requirement of one position at `price` (default mark), venue's tier rule; for OKX it
        includes the liquidation (clearance) fee, as OKX's margin-ratio denominator does."""
        p = position.mark if price is None else price
        tier = self._tier(position, p)
        basis = p if self.rules.valuation is Valuation.MARK else position.entry_price
        return position.qty * basis * self._requirement_rate(tier) - tier.maint_amount

    def equity(self, position: Position, account: Account | None = None,
               price: Decimal | None = None) -> Decimal:
        """Margin balance the maintenance check sees: isolated margin + uPnL, or cross wallet + all uPnL."""
        p = position.mark if price is None else price
        if account is None:
            return self.initial_margin(position) + position.unrealized_pnl(p)
        others = self._others(position, account)
        others_upnl = sum((o.unrealized_pnl() for o in others), ZERO)
        return account.wallet_balance + others_upnl + position.unrealized_pnl(p)

    def requirement(self, position: Position, account: Account | None = None,
                    price: Decimal | None = None) -> Decimal:
        """Total maintenance requirement the equity is compared with (cross: all positions)."""
        own = self.maintenance_margin(position, price)
        if account is None:
            return own
        return own + sum((self.maintenance_margin(o) for o in self._others(position, account)), ZERO)

    def margin_ratio(self, position: Position, account: Account | None = None) -> Decimal:
        """The venue's own ratio at mark; see `rules.ratio_orientation` for which way it liquidates."""
        eq, req = self.equity(position, account), self.requirement(position, account)
        if self.rules.ratio_orientation is RatioOrientation.EQUITY_OVER_MM:
            return _CTX.divide(eq, req)
        return _CTX.divide(req, eq) if eq > 0 else D("Infinity")

    def is_liquidated(self, position: Position, account: Account | None = None) -> bool:
        """True when the position (isolated) or account (cross) is at or below maintenance at the marks."""
        return self.equity(position, account) <= self.requirement(position, account)

    def account_usage(self, account: Account) -> Decimal:
        """Cross account: total requirement / (wallet + total uPnL) at the marks (>= 1: liquidated)."""
        eq = account.wallet_balance + sum((p.unrealized_pnl() for p in account.positions), ZERO)
        req = sum((self.maintenance_margin(p) for p in account.positions), ZERO)
        return _CTX.divide(req, eq) if eq > 0 else D("Infinity")

    def maintenance_usage(self, position: Position, account: Account | None = None) -> Decimal:
        """requirement / equity at mark, the same way round on every venue (>= 1: liquidated)."""
        eq = self.equity(position, account)
        return _CTX.divide(self.requirement(position, account), eq) if eq > 0 else D("Infinity")

    # --- prices ----------------------------------------------------------------------------------
    def _others(self, position: Position, account: Account) -> list[Position]:
        return [o for o in account.positions if o.symbol != position.symbol]

    def _constant(self, position: Position, account: Account | None) -> tuple[Decimal, Decimal]:
        """(C, K): equity(P) = C + s*q*P; K = the other positions' requirement (cross)."""
        s, q, e = position.side.sign, position.qty, position.entry_price
        if account is None:
            return self.initial_margin(position) - s * q * e, ZERO
        others = self._others(position, account)
        upnl = sum((o.unrealized_pnl() for o in others), ZERO)
        k = sum((self.maintenance_margin(o) for o in others), ZERO)
        return account.wallet_balance + upnl - s * q * e, k

    def liquidation_price(self, position: Position, account: Account | None = None) -> Decimal:
        """Mark price at which equity == maintenance requirement (isolated if account is None, else cross)."""
        _check(position)
        c, k = self._constant(position, account)
        return self._liquidation_from(position, c, k)

    def _tier_index(self, table: _TierTable, qty: Decimal, notional: Decimal) -> int:
        """The tier a position of qty base (notional USDT as the venue values it) sits in, in its table."""
        unit = self.rules.tier_unit
        if unit is TierUnit.NOTIONAL:
            measure = notional
        elif unit is TierUnit.BASE:
            measure = qty
        else:
            measure = _CTX.divide(qty, table.contract_size)
        if measure < table.caps[0]:  # most positions sit in the first tier: one comparison
            return 0
        locate = bisect_left if self.rules.tier_cap_inclusive else bisect_right
        return min(locate(table.caps, measure), table.last)

    def cross_liquidation_prices(self, account: Account) -> dict[str, Decimal]:
        """Every position's cross liquidation price, by symbol, in one pass (see `evaluate_cross`)."""
        return self.evaluate_cross(account).liquidation_prices

    def evaluate_cross(self, account: Account) -> CrossEvaluation:
        """Equity, requirement, usage and every liquidation price of a cross account in O(n), not O(n^2).

        With G = wallet + all uPnL - all requirements (the account's free margin) and a position's own
        h = requirement - s*q*mark, equity == requirement at that position's price P becomes
        G + h + maint_amount(t) = q*P*(rate(t) - s) for the tier t that applies at P: one addition and one
        division per position once the totals are summed. Tier data comes precomputed per symbol
        (`_tier_table`); the arithmetic runs at 40 digits, so the prices agree with `liquidation_price`.
        """
        at_mark = self.rules.valuation is Valuation.MARK
        long_side = Side.LONG
        tables = self._tier_tables
        rows = []
        total_upnl = total_mm = ZERO
        with localcontext(_CTX):
            for p in account.positions:
                q, e, m = p.qty, p.entry_price, p.mark_price
                if q <= 0 or e <= 0:
                    _check(p)
                if m is None:
                    m = e
                table = tables.get(p.symbol) if p.tier is None else None
                if table is None:
                    table = self._tier_table(p)
                n = q * m
                t = self._tier_index(table, q, n if at_mark else q * e)
                mm = (n if at_mark else q * e) * table.rates[t] - table.amounts[t]
                upnl = q * (m - e)
                long = p.side is long_side
                if long:
                    total_upnl += upnl
                    h = mm - n
                else:
                    total_upnl -= upnl
                    h = mm + n
                total_mm += mm
                rows.append((p.symbol, long, q, m, h, t, table))
            equity = account.wallet_balance + total_upnl
            free = equity - total_mm
            prices: dict[str, Decimal] = {}
            for symbol, long, q, m, h, t, table in rows:
                if not at_mark:  # requirement fixed at entry: equity alone moves with the price
                    shift = _CTX.divide(free, q)
                    prices[symbol] = m - shift if long else m + shift
                else:
                    prices[symbol] = self._root(table, free + h, q, 1 if long else -1, t)
            usage = _CTX.divide(total_mm, equity) if equity > 0 else D("Infinity")
        return CrossEvaluation(equity=equity, requirement=total_mm, usage=usage, liquidation_prices=prices)

    def common_adverse_move(self, account: Account) -> Decimal | None:
        """Smallest fraction x >= 0 by which every position of the cross account moving against it at once
        (a long's mark times 1 - x, a short's times 1 + x) brings equity down to the maintenance
        requirement: the account's distance to liquidation when its coins move together, which is never
        more than any one position's own distance. 0: at or below maintenance now; None: no positions.

        Inside fixed tiers t equity minus requirement is linear in x: F_t - x * S_t, with F_t its value at
        the marks and S_t = sum q*mark*(1 - s*rate_t) (requirement valued at mark) or sum q*mark (at
        entry). The root is solved for the tiers that apply at the marks, then for the tiers that apply at
        that root until they stay put (the tiers' requirement is convex in the notional, as in
        `_liquidation_from`); a bisection on the exact condition takes over if they never do.
        """
        if not account.positions:
            return None
        at_mark = self.rules.valuation is Valuation.MARK
        with localcontext(_CTX):
            rows = self._move_rows(account)
            tiers = [self._tier_at(row, ZERO) for row in rows]
            for attempt in range(2 * max(row[1].last for row in rows) + 3):
                free = account.wallet_balance
                slope = ZERO
                for (p, table, m), t in zip(rows, tiers, strict=True):
                    q, s = p.qty, p.side.sign
                    free += s * q * (m - p.entry_price)
                    free -= (q * m if at_mark else q * p.entry_price) * table.rates[t] - table.amounts[t]
                    slope += q * m * (1 - s * table.rates[t]) if at_mark else q * m
                if attempt == 0 and free <= 0:
                    return ZERO
                root = _CTX.divide(free, slope)
                moved = [self._tier_at(row, root) for row in rows]
                if moved == tiers:
                    return root
                tiers = moved
            return self._bisect_common_move(account.wallet_balance, rows)

    def _move_rows(self, account: Account) -> list[_MoveRow]:
        rows = []
        for p in account.positions:
            table = self._tier_tables.get(p.symbol) if p.tier is None else None
            rows.append((p, table or self._tier_table(p), p.mark))
        return rows

    def _tier_at(self, row: _MoveRow, x: Decimal) -> int:
        """Index of the tier that applies to the row's position with its mark moved x against it."""
        p, table, m = row
        unit = self.rules.tier_unit
        if unit is TierUnit.NOTIONAL:
            measure = p.qty * (m * (1 - p.side.sign * x) if self.rules.valuation is Valuation.MARK
                               else p.entry_price)
        elif unit is TierUnit.BASE:
            measure = p.qty
        else:
            measure = _CTX.divide(p.qty, table.contract_size)
        if measure < table.caps[0]:
            return 0
        locate = bisect_left if self.rules.tier_cap_inclusive else bisect_right
        return min(locate(table.caps, measure), table.last)

    def _bisect_common_move(self, wallet: Decimal, rows: list[_MoveRow]) -> Decimal:
        at_mark = self.rules.valuation is Valuation.MARK

        def free(x: Decimal) -> Decimal:
            total = wallet
            for row in rows:
                p, table, m = row
                t = self._tier_at(row, x)
                price = m * (1 - p.side.sign * x)
                total += p.side.sign * p.qty * (price - p.entry_price)
                total -= p.qty * (price if at_mark else p.entry_price) * table.rates[t] - table.amounts[t]
            return total

        low, high = ZERO, ONE
        while free(high) > 0 and high < 1_000_000:
            low, high = high, high * 2
        for _ in range(100):
            middle = (low + high) / 2
            if free(middle) > 0:
                low = middle
            else:
                high = middle
        return high

    @cached_property
    def _tier_tables(self) -> dict[Any, _TierTable]:
        return {}

    def _tier_table(self, position: Position) -> _TierTable:
        """Tier data in the shape the one-pass evaluation needs, built once per symbol (or pinned tier)."""
        key = position.symbol if position.tier is None else position.tier
        table = self._tier_tables.get(key)
        if table is None:
            if position.tier is None:
                spec = self.spec(position.symbol)
                tiers, size = spec.margin_tiers, spec.contract_size
                search = self.rules.tier_unit is TierUnit.NOTIONAL and self.rules.valuation is Valuation.MARK
            else:
                tiers, size, search = (position.tier,), ONE, False
            rates = tuple(self._requirement_rate(t) for t in tiers)
            table = _TierTable(
                caps=tuple(t.cap for t in tiers) if position.tier is None else (D("Infinity"),),
                rates=rates, amounts=tuple(t.maint_amount for t in tiers),
                long_denominators=tuple(r - 1 for r in rates), short_denominators=tuple(r + 1 for r in rates),
                last=len(tiers) - 1, contract_size=size, search=search, tiers=tiers,
            )
            self._tier_tables[key] = table
        return table

    def _root(self, table: _TierTable, base: Decimal, q: Decimal, s: int, t: int) -> Decimal:
        """Price P with base + maint_amount(i) == q*P*(rate(i) - s) in the tier that applies at P (see
        `_liquidation_from` for the bracket search and its reasons)."""
        denominators = table.long_denominators if s > 0 else table.short_denominators
        amounts = table.amounts
        if not table.search:
            return _CTX.divide(base + amounts[t], q * denominators[t])
        if t:
            num0, den0 = base + amounts[0], denominators[0]
            if not num0 or (num0 > 0) is not (den0 > 0):  # first bracket's root <= 0
                return _CTX.divide(num0, q * den0)
        caps, last, i = table.caps, table.last, t
        locate = bisect_left if self.rules.tier_cap_inclusive else bisect_right
        for _ in range(2 * last + 2):
            price = _CTX.divide(base + amounts[i], q * denominators[i])
            if price > 0:
                j = locate(caps, q * price)
                if j > last:
                    j = last
            else:
                j = 0
            if j == i:
                return price
            i = j
        return self._scan_brackets(table.tiers, base, ZERO, s, q)

    def _liquidation_from(self, position: Position, c: Decimal, k: Decimal) -> Decimal:
        s, q = position.side.sign, position.qty
        if self.rules.valuation is Valuation.ENTRY:
            tier = self._tier(position, position.entry_price)
            req = q * position.entry_price * self._requirement_rate(tier) - tier.maint_amount
            return _CTX.divide(req + k - c, s * q)
        if position.tier is not None:
            return self._solve_mark(position.tier, c, k, s, q)
        if self.rules.tier_unit is not TierUnit.NOTIONAL:
            return self._solve_mark(self._tier(position, position.entry_price), c, k, s, q)
        # Binance: the bracket is the one of the position valued at the liquidation price. With cum from the
        # recursion the requirement is the maximum of the brackets' lines (convex in the notional), so each
        # bracket's root bounds the true root from one side (Newton on a convex function): jump to the bracket
        # the last root falls in until it stays put. A long whose first-bracket root is <= 0 has margin left
        # at price 0, so it is never liquidated; a short with that is below maintenance at every price.
        spec = self.spec(position.symbol)
        tiers = spec.margin_tiers
        first = self._solve_mark(tiers[0], c, k, s, q)
        if first <= 0:
            return first
        inclusive = self.rules.tier_cap_inclusive
        i = spec.tier_index(q * position.mark, inclusive)
        for _ in range(2 * len(tiers)):
            price = first if i == 0 else self._solve_mark(tiers[i], c, k, s, q)
            j = spec.tier_index(q * price, inclusive) if price > 0 else 0
            if j == i:
                return price
            i = j
        return self._scan_brackets(tiers, c, k, s, q)  # brackets not convex (odd live data): check each

    def _scan_brackets(self, tiers: tuple[MarginTier, ...], c: Decimal, k: Decimal, s: int,
                       q: Decimal) -> Decimal:
        floor = ZERO
        roots = []
        for i, tier in enumerate(tiers):
            price = self._solve_mark(tier, c, k, s, q)
            if price > 0 and floor <= q * price and (q * price < tier.cap or i == len(tiers) - 1):
                return price
            roots.append(price)
            floor = tier.cap
        # No bracket holds its own root (a requirement that jumps at a bracket edge): report the price that
        # liquidates earliest, the highest root for a long and the lowest for a short.
        return max(roots) if s > 0 else min(roots)

    def _solve_mark(self, tier: MarginTier, c: Decimal, k: Decimal, s: int, q: Decimal) -> Decimal:
        # C + s*q*P = q*P*r - cum + K  =>  P = (C + cum - K) / (q*(r - s))
        r = self._requirement_rate(tier)
        return _CTX.divide(c + tier.maint_amount - k, q * (r - s))

    def bankruptcy_price(self, position: Position, account: Account | None = None) -> Decimal:
        """Mark price at which the margin balance is zero."""
        _check(position)
        c, _ = self._constant(position, account)
        return _CTX.divide(-c, position.side.sign * position.qty)

    def liquidation_close_price(self, position: Position, account: Account | None = None) -> Decimal:
        """Price the venue's engine closes a liquidated position at (before market slippage)."""
        if self.rules.settles_at is SettlesAt.BANKRUPTCY:
            return self.bankruptcy_price(position, account)
        return self.liquidation_price(position, account)

    def liquidation_fee(self, position: Position, price: Decimal) -> Decimal:
        """Clearance fee charged on liquidation at `price` (0 where the margin left is forfeited instead)."""
        notional = position.qty * price
        if self.rules.liquidation_fee_in_maintenance:
            return self.round_money(notional * self.fees.taker)
        return self.round_money(notional * self.spec(position.symbol).liquidation_fee_rate)

    # --- rounding, fees, funding ----------------------------------------------------------------
    def round_price(self, price: Decimal, symbol: str) -> Decimal:
        return price.quantize(D(1).scaleb(-self.spec(symbol).price_decimals), rounding=ROUND_HALF_UP)

    def round_to_tick(self, price: Decimal, symbol: str, *, up: bool) -> Decimal:
        tick = self.spec(symbol).tick_size
        return (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR) * tick

    def round_money(self, amount: Decimal) -> Decimal:
        return amount.quantize(D(1).scaleb(-self.rules.money_decimals), rounding=ROUND_HALF_UP)

    def trading_fee(self, notional: Decimal, *, maker: bool) -> Decimal:
        """Fee paid (negative = rebate received) for a fill of `notional` quote value."""
        tier = self.fees
        return self.round_money(notional * (tier.maker if maker else tier.taker))

    def clamp_funding_rate(self, symbol: str, rate: Decimal) -> Decimal:
        spec = self.spec(symbol)
        return max(spec.funding_floor, min(spec.funding_cap, rate))

    def funding_fee(self, notional_at_mark: Decimal, rate: Decimal, side: Side) -> Decimal:
        """Balance change of the position holder: rate > 0 means longs pay shorts on every venue."""
        return self.round_money(-side.sign * abs(notional_at_mark) * rate)

    def next_funding_time(self, symbol: str, now_ms: int) -> int:
        """First funding settlement (Unix ms, UTC) strictly after `now_ms`."""
        interval = self.spec(symbol).funding_interval_hours * HOUR_MS
        anchor = (self.rules.funding_anchor_hour * HOUR_MS) % interval
        return ((now_ms - anchor) // interval + 1) * interval + anchor

    def funding_times(self, symbol: str, start_ms: int, end_ms: int) -> list[int]:
        out, t = [], self.next_funding_time(symbol, start_ms)
        interval = self.spec(symbol).funding_interval_hours * HOUR_MS
        while t <= end_ms:
            out.append(t)
            t += interval
        return out

    # --- order checks ------------------------------------------------------------------------------
    def contracts(self, symbol: str, qty: Decimal) -> Decimal:
        return _CTX.divide(qty, self.spec(symbol).contract_size)

    def round_qty(self, symbol: str, qty: Decimal) -> Decimal:
        """Round a base quantity down to the venue's lot, back in base units."""
        spec = self.spec(symbol)
        lots = (self.contracts(symbol, qty) / spec.lot_size).to_integral_value(rounding=ROUND_FLOOR)
        return lots * spec.lot_size * spec.contract_size

    def order_problem(self, symbol: str, qty: Decimal, price: Decimal) -> str | None:
        """None if an order of `qty` (base) at `price` passes lot, minimum size and minimum notional."""
        spec = self.spec(symbol)
        if qty <= 0:
            return f"quantity must be positive, got {qty}"
        if self.round_qty(symbol, qty) != qty:
            return f"quantity {qty} is not a multiple of the lot {spec.lot_size * spec.contract_size}"
        if self.contracts(symbol, qty) < spec.min_qty:
            return f"quantity {qty} is below the minimum {spec.min_qty * spec.contract_size}"
        if spec.min_notional and qty * price < spec.min_notional:
            return f"notional {qty * price} is below the minimum {spec.min_notional}"
        return None


def canonical_symbol(text: str) -> str:
    """BTC_USDT, BTC_USDT.swap, BTC/USDT:USDT, BTC-USDT-SWAP, XBTUSDT -> BTCUSDT."""
    t = text.upper().split(":")[0]
    for suffix in (".SWAP", "-SWAP", "_SWAP"):
        t = t.removesuffix(suffix)
    t = t.replace("_", "").replace("-", "").replace("/", "")
    return "BTC" + t[3:] if t.startswith("XBT") else t


def _check(position: Position) -> None:
    if position.qty <= 0:
        raise ValueError(f"position quantity must be positive, got {position.qty}")
    if position.entry_price <= 0:
        raise ValueError(f"entry price must be positive, got {position.entry_price}")


def _convert_field(name: str, value: Any) -> Any:
    if name == "margin_tiers":
        return tuple(
            t if isinstance(t, MarginTier) else MarginTier(**{k: D(str(v)) for k, v in t.items()})
            for t in value
        )
    if name in ("symbol",):
        return str(value)
    if name in ("price_decimals", "funding_interval_hours"):
        return int(value)
    return D(str(value))
