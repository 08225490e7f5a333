"""Liquidation calculator: the venue's own liquidation/bankruptcy price and margins for one position.

    python -m tools.liqcalc --venue binance --symbol BTCUSDT --side long --entry 30000 --qty 1 --leverage 20
    python -m tools.liqcalc --venue okx --symbol BTCUSDT --side short --entry 30000 --qty 2 --leverage 10 \\
        --mode cross --wallet 8000 --other ETHUSDT:long:10:2000:2100 --json

Impossible input gets one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from hedge import venues
from hedge.venues.base import Account, ContractSpec, MarginTier, Position, Side, Venue, canonical_symbol

OTHER_FORMAT = "SYMBOL:SIDE:QTY:ENTRY:MARK[:MMR:MAINT_AMOUNT]"
MIN_MAGNITUDE, MAX_MAGNITUDE = Decimal("1e-12"), Decimal("1e15")


class InputError(Exception):
    """Bad input: the message names what is wrong and how to fix it."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise InputError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m tools.liqcalc", description="Liquidation price calculator (venue formulas).")
    p.add_argument("--venue", required=True, help=f"one of: {', '.join(venues.NAMES)}")
    p.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
    p.add_argument("--side", required=True, help="long or short")
    p.add_argument("--entry", required=True, help="entry price")
    p.add_argument("--qty", required=True, help="position size in base units (BTC)")
    p.add_argument("--leverage", help="isolated margin = entry*qty/leverage")
    p.add_argument("--margin", help="isolated position margin in USDT (overrides --leverage's margin)")
    p.add_argument("--mode", default="isolated", help="isolated (default) or cross")
    p.add_argument("--wallet", help="cross: wallet balance of the account in USDT")
    p.add_argument("--other", action="append", default=[], metavar=OTHER_FORMAT,
                   help="cross: another position of the account (repeatable)")
    p.add_argument("--mmr", help="pin the maintenance margin rate instead of looking up the tier")
    p.add_argument("--maint-amount", help="pin the maintenance amount (cum, deduction); needs --mmr")
    p.add_argument("--json", action="store_true", help="print one JSON object with decimal strings")
    return p


def _decimal(flag: str, text: str, *, positive: bool = False, non_negative: bool = False) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(f"{flag}: {text!r} is not a number; give a plain decimal such as 30000.5") from None
    if not value.is_finite():
        raise InputError(f"{flag}: {text!r} is not a finite number")
    if value and not MIN_MAGNITUDE <= abs(value) < MAX_MAGNITUDE:
        raise InputError(f"{flag}: {text} is out of range; give a value between 1e-12 and 1e15")
    if positive and value <= 0:
        raise InputError(f"{flag} must be greater than 0, got {text}")
    if non_negative and value < 0:
        raise InputError(f"{flag} must not be negative, got {text}")
    return value


def _side(flag: str, text: str) -> Side:
    try:
        return Side(text.lower())
    except ValueError:
        raise InputError(f"{flag}: {text!r} is not a side; use long or short") from None


def _pinned_tier(mmr: Decimal | None, maint: Decimal | None) -> MarginTier | None:
    if mmr is None:
        return None
    if mmr >= 1:
        raise InputError(f"maintenance margin rate {mmr} must be below 1 (a fraction: 0.005 = 0.5 %)")
    return MarginTier(cap=Decimal("Infinity"), mmr=mmr, max_leverage=Decimal(1) / mmr if mmr else Decimal(1),
                      maint_amount=maint or Decimal(0))


def _other(venue: Venue, text: str, own_symbol: str) -> Position:
    parts = text.split(":")
    if len(parts) not in (5, 7):
        raise InputError(f"--other {text!r}: expected {OTHER_FORMAT}")
    symbol = canonical_symbol(parts[0])
    if symbol == own_symbol:
        raise InputError(f"--other {text!r}: one-way mode holds one position per symbol and {symbol} "
                         "is --symbol")
    tier = None
    if len(parts) == 7:
        tier = _pinned_tier(_decimal("--other MMR", parts[5], non_negative=True),
                            _decimal("--other MAINT_AMOUNT", parts[6], non_negative=True))
    else:
        _spec(venue, symbol, f"--other {text!r}")
    return Position(
        symbol=symbol, side=_side("--other SIDE", parts[1]),
        qty=_decimal("--other QTY", parts[2], positive=True),
        entry_price=_decimal("--other ENTRY", parts[3], positive=True),
        mark_price=_decimal("--other MARK", parts[4], positive=True), tier=tier,
    )


def _spec(venue: Venue, symbol: str, flag: str) -> ContractSpec:
    """The symbol's contract; a USDT perpetual without a published table gets the venue's estimate."""
    try:
        return venue.spec(symbol)
    except ValueError as exc:
        raise InputError(f"{flag}: {exc}") from None


def compute(argv: Sequence[str]) -> dict[str, Decimal | str]:
    """Parse `argv` and return the four figures (rounded the venue's way), plus `tiers: estimated` when the
    symbol's margin tiers are the venue's conservative estimate. Raises InputError on bad input."""
    a = _parser().parse_args(argv)
    try:
        venue = venues.get(a.venue)
    except ValueError as exc:
        raise InputError(f"--venue: {exc}") from None
    symbol = canonical_symbol(a.symbol)
    spec = _spec(venue, symbol, "--symbol")
    mode = a.mode.lower()
    if mode not in ("isolated", "cross"):
        raise InputError(f"--mode: {a.mode!r} is not a margin mode; use isolated or cross")
    position, leverage = _position(a, symbol, mode)
    if leverage is not None and position.tier is None:
        _check_leverage(venue, position, leverage)
    account = _account(a, venue, position, symbol, mode)
    liq = venue.liquidation_price(position, account)
    unliquidatable = _check_liquidation(venue, position, account, liq, symbol, a.entry)
    if unliquidatable is not None:
        return unliquidatable
    bankrupt = venue.bankruptcy_price(position, account)
    result: dict[str, Decimal | str] = {
        "liquidation_price": venue.round_price(liq, symbol),
        "bankruptcy_price": venue.round_price(max(bankrupt, Decimal(0)), symbol),
        **_margins(venue, position, symbol),
    }
    if position.tier is None and _estimated(venue, spec, account):
        result["tiers"] = "estimated"  # not the venue's published table: docs/mechanics.md, "Alts"
    return result


def _estimated(venue: Venue, spec: ContractSpec, account: Account | None) -> bool:
    """The position's or another position's tiers are the venue's estimate, not its published table."""
    return spec.estimated or any(venue.is_estimated(o.symbol) for o in others_of(account))


def _position(a: argparse.Namespace, symbol: str, mode: str) -> tuple[Position, Decimal | None]:
    """The position the flags describe, and its --leverage when given."""
    if a.leverage is None and a.margin is None and mode == "isolated":
        raise InputError("give --leverage L or --margin USDT (the position's margin)")
    leverage = _decimal("--leverage", a.leverage, positive=True) if a.leverage is not None else None
    margin = _decimal("--margin", a.margin, non_negative=True) if a.margin is not None else None
    if a.maint_amount is not None and a.mmr is None:
        raise InputError("--maint-amount pins a tier together with --mmr; add --mmr RATE")
    tier = _pinned_tier(
        _decimal("--mmr", a.mmr, non_negative=True) if a.mmr is not None else None,
        _decimal("--maint-amount", a.maint_amount, non_negative=True) if a.maint_amount is not None else None,
    )
    position = Position(
        symbol=symbol, side=_side("--side", a.side), qty=_decimal("--qty", a.qty, positive=True),
        entry_price=_decimal("--entry", a.entry, positive=True), margin=margin, leverage=leverage, tier=tier,
    )
    return position, leverage


def _account(a: argparse.Namespace, venue: Venue, position: Position, symbol: str,
             mode: str) -> Account | None:
    """The cross account (--wallet and --other) holding the position; None in isolated mode."""
    if mode == "cross":
        if a.wallet is None:
            raise InputError("--mode cross needs --wallet USDT (the account's wallet balance)")
        wallet = _decimal("--wallet", a.wallet, non_negative=True)
        others = tuple(_other(venue, text, symbol) for text in a.other)
        return Account(wallet_balance=wallet, positions=(position, *others))
    if a.wallet is not None or a.other:
        raise InputError("--wallet and --other apply to --mode cross only; add --mode cross or drop them")
    return None


def _check_liquidation(venue: Venue, position: Position, account: Account | None, liq: Decimal, symbol: str,
                       entry: str) -> dict[str, Decimal | str] | None:
    """Refuse a liquidation price that is not on the losing side of the entry; the answer for a long whose
    margin covers a fall to zero; None when `liq` is an ordinary liquidation price."""
    if liq <= 0:
        shown = format(venue.round_price(liq, symbol).normalize() + 0, "f")
        if position.side is Side.LONG:  # its margin covers a fall to zero: an answer, not an error
            return {"liquidation_price": "none: cannot be liquidated (the margin covers a fall of the price "
                                         f"to zero; the formula gives {shown})",
                    **_margins(venue, position, symbol)}
        raise InputError(f"liquidation price is not above zero ({shown}): the account is below maintenance "
                         "at any price; check --wallet and --other")
    if (liq >= position.entry_price) if position.side is Side.LONG else (liq <= position.entry_price):
        shown = format(venue.round_price(liq, symbol), "f")
        where = "below" if position.side is Side.LONG else "above"
        holder = "account" if account else "position"
        raise InputError(f"liquidation price {shown} is not {where} the entry price {entry}: the {holder} "
                         "is at or below maintenance already; add margin (--margin/--leverage, or --wallet "
                         "in cross)")
    return None


def _margins(venue: Venue, position: Position, symbol: str) -> dict[str, Decimal | str]:
    """Initial margin (needs --leverage or --margin: cross mode may go without) and maintenance margin."""
    initial: Decimal | str = "n/a in cross without --leverage (the liquidation price does not depend on it)"
    if position.leverage is not None or position.margin is not None:
        initial = venue.round_money(venue.initial_margin(position))
    return {"initial_margin": initial,
            "maintenance_margin": venue.round_money(venue.maintenance_margin(position))}


def _check_leverage(venue: Venue, position: Position, leverage: Decimal) -> None:
    """The venue refuses a leverage above its maximum for the position's tier: so does the calculator."""
    measure = venue.tier_measure(position.symbol, position.qty, position.entry_price)
    allowed = venue.tier_for(position.symbol, measure).max_leverage
    if leverage > allowed:
        raise InputError(f"--leverage {leverage}: {venue.name} allows at most {allowed.normalize():f}x for "
                         f"{position.symbol} at this size; lower --leverage")


def others_of(account: Account | None) -> tuple[Position, ...]:
    return tuple(p for p in account.positions[1:] if p.tier is None) if account else ()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = compute(args)
    except InputError as exc:
        print(f"liqcalc: {exc}", file=sys.stderr)
        return 2
    except ArithmeticError:  # Decimal overflow/rounding limits: figures far outside any venue's range
        print("liqcalc: the figures are out of range; check the magnitudes of --entry, --qty, "
              "--leverage/--margin and --wallet", file=sys.stderr)
        return 2
    shown = {k: v if isinstance(v, str) else format(v, "f") for k, v in result.items()}
    if "--json" in args:
        print(json.dumps(shown))
    else:
        width = max(len(k) for k in shown)
        for key, value in shown.items():
            print(f"{key.replace('_', ' '):<{width}}  {value}")
        if "tiers" in shown:
            print("(no published margin tiers for this symbol here: a conservative estimate, see "
                  "docs/mechanics.md)")
        print(_distance_note(args, result))
    return 0


def _distance_note(argv: Sequence[str], result: dict[str, Decimal | str]) -> str:
    """How far the liquidation price is from the entry, and the units of the figures above."""
    liq = result["liquidation_price"]
    a = _parser().parse_args(argv)
    if isinstance(liq, str):
        return "(prices and margins in USDT)"
    entry = Decimal(a.entry)
    move = (liq - entry) / entry * 100
    way = "fall" if move < 0 else "rise"
    return (f"(liquidated after a {abs(move):.2f} % {way} of the mark price from the entry {a.entry}; "
            f"{a.mode.lower()} margin; prices and margins in USDT)")


if __name__ == "__main__":
    sys.exit(main())
