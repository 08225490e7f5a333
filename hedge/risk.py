"""Liquidation distance per venue, tiered stops, legs left by a venue outage.

Every status interval each venue's positions and wallet are read once (GetPositions, GetAccount) and
the cross liquidation price of every position is computed with that venue's own formula
(hedge.venues evaluate_cross). Between those reads every venue is re-evaluated every turn from its
cached positions at the freshest prices: no extra request.

Positions are never valued at a price older than max_book_age_ms (`Risk.price`): the venue's own book
mid, else the mark price the venue gave with its positions (a venue whose book is stale is re-read for
it), else the other venues' mids; with none of them the position is UNVALUED and counts at the stop
level it could have reached meanwhile (the first at once, one deeper every stops.retry_s).

A level is due when the nearest position is at or within its distance (the last level first), or,
for the first level, when the venue's effective leverage (notional / equity) is above
`stops.max_effective_leverage`. A due level closes its fraction of every pair touching the venue,
most urgent symbol first, with equal quantities on the hedging venues (reduce-only close sides: a
stop never opens exposure). It fires again after `stops.retry_s` while the condition holds, each time
on a fresh reading. The emergency level flattens the venue with IOC limit orders banded
`stops.emergency_band_bps` around the book.

When a hedging venue cannot trade (hedge/outage.py), the threatened leg is closed alone: the
counterpart leg stays open on the unreachable venue as a loose leg (in the ledger: hedge.ledger.LooseLeg),
net exposure of that coin is then that leg, and it is closed the moment that venue answers again
(`recover`). A first level (not the emergency one) leaves such pairs as they are when no venue that trades
could re-hedge all of the leg it would leave loose (`_deferred`: it would stay unhedged for as long as the
outage lasts): due by the leverage ceiling alone, until the distance reaches it; due by the distance,
while a deeper level is still outside it (that level fires whatever is loose after, as every deeper level
does: the first is a warning band, a leg is never left to be liquidated). An execution whose legs filled
unequally leaves a loose leg too, closed reduce-only at the next turns (`settle_loose`). A threatened
venue whose positions cannot be read while its orders answer is stopped all the same (issue #17): its leg
is closed alone with one reduce-only order (which cannot open or flip a position), sized from the ledger
and booked from the venue's own record of the order, the hedge a loose leg (`_close_blind`); one that
fills nothing holds that venue's stops until its positions read.

In a cluster every node reads the same accounts, so each sees a threatened venue; each acts only within
the units of work it holds (`Coordinator.may_protect`: pairs and loose legs of units whose lease it has,
with its orders journaled under that unit and fenced by its lease), so the venue's pairs are stopped
once, each by its unit's owner. A dead node's units are stopped by the node that adopts them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from statistics import median
from typing import TYPE_CHECKING, Any, Protocol

from hedge.book import pairs_named
from hedge.cluster import Unit
from hedge.config import StopLevel
from hedge.decimals import to_decimal as _dec
from hedge.execution import (
    DIRECTION,
    LATE_LANDING_SETTLES,
    ORDER_OPTIONS,
    PD_LONG,
    PD_LONG_YD,
    LegFill,
    LegOutcomeUnknown,
)
from hedge.ledger import EXECUTION, OUTAGE, HedgePair, LooseKey, LooseLeg
from hedge.liquidations import reported_price
from hedge.market import Venue, bound_venue, fmz_pair, swap_symbol
from hedge.order_history import evidence_since
from hedge.orders import OrderRecord
from hedge.outage import ACCOUNT, VenueHealth
from hedge.sizing import ceil_to_step, common_base_step, floor_to_step, leg_problem, order_parts
from hedge.valuation import BOOK, OTHER_VENUES, UNVALUED, VENUE_MARK, VenueRisk
from hedge.venues.base import Account as CrossAccount
from hedge.venues.base import Position as VenuePosition
from hedge.venues.base import Side

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from hedge.book import Book
    from hedge.cluster.base import Coordinator
    from hedge.config import HedgeConfig
    from hedge.execution import Executor
    from hedge.market import Market
    from hedge.state import TradingState
    from hedge.venues.base import Venue as VenueMechanics

# Liquidation-price fields of the venues' raw position payloads (FMZ Info), for symbols without mechanics.
LIQUIDATION_FIELDS = ("liquidationPrice", "liqPrice", "liqPx", "liq_price", "liquidation_price")
# Mark-price fields of the same payloads: markPrice (Binance positionRisk, Bybit V5 position list, BitMEX
# position), markPx (OKX V5 positions). CoinEx's v2 positions carry none: its positions are valued at the
# other venues' books while its own is stale.
MARK_FIELDS = ("markPrice", "markPx")
# Maintenance rate assumed when neither the mechanics nor the venue give a liquidation price: above the
# first tier of every venue's majors and most alts, so the estimate errs towards stopping early.
ESTIMATE_MAINTENANCE_RATE = Decimal("0.025")
HUNDRED = Decimal(100)
OPEN_MARGIN = Decimal("1.25")  # openings keep a venue this many times farther than the first stop level
LOOSE_RETRY_MAX_S = 300  # longest wait between attempts to close a loose leg on a refusing venue
LOOSE_ORDERS_PER_TURN = 8  # orders one turn may send on one loose leg while each takes some of it
OPENING_TAG = "open#"  # executions whose unbooked fills recovery trades back; every other one reduces
RECOVERY_TAG = "recover:"  # recovery's own orders trading an opening back (netted with it)
# tag of the orders cutting an opening's unhedged leg (Risk.bound_unhedged); the RECOVERY_TAG prefix makes
# Recovery.recover_orders (hedge/recovery.py) net them with the opening they cut
UNHEDGED_CUT = RECOVERY_TAG + "unhedged:"


PendingLeg = LooseLeg  # the name of a loose leg before loose legs joined the ledger


def average_fill(records: list[OrderRecord], signed: Decimal) -> Decimal:
    """The average price the venue reports for the records' fills in the direction of `signed`, over the
    fills it gave a price for (FMZ Order.AvgPrice is 0 where the exchange gives none: counted, it would
    pull the average toward 0); 0 when it gave none."""
    filled = [r for r in records if r.filled and r.avg_price > 0 and DIRECTION[r.side] * signed > 0]
    base = sum((r.filled for r in filled), Decimal(0))
    return sum((r.filled * r.avg_price for r in filled), Decimal(0)) / base if base else Decimal(0)


def opening_unit(records: list[OrderRecord], symbol: str) -> Unit:
    """The unit of an opening's journaled orders in `symbol` (its two venues)."""
    venues = sorted({r.venue for r in records if r.symbol == symbol})
    return Unit.of(symbol, venues[0], venues[-1])


def band_price(ref: Decimal, buying: bool, band_bps: Decimal, tick: Decimal) -> Decimal:
    """Worst acceptable IOC price: ref moved by the band against us, on the tick grid."""
    if buying:
        price = ref * (1 + band_bps / 10_000)
        return (price / tick).to_integral_value(ROUND_FLOOR) * tick if tick else price
    price = ref * (1 - band_bps / 10_000)
    return (price / tick).to_integral_value(ROUND_CEILING) * tick if tick else price


def _info_price(info: Any, names: tuple[str, ...]) -> Decimal | None:
    """The first positive finite price among `names` of a raw venue payload."""
    if not isinstance(info, dict):
        return None
    for name in names:
        if info.get(name):
            try:
                price = Decimal(str(info[name]))
            except ArithmeticError:
                continue
            if price.is_finite() and price > 0:
                return price
    return None


def _isolated_margin(info: Any) -> tuple[bool, Decimal | None]:
    """(isolated, its margin without unrealized PnL) as the venue's position payload says: OKX mgnMode and
    margin, CoinEx margin_mode and margin_avbl, Binance marginType (v3: a non-zero isolatedWallet) and
    isolatedWallet, Bybit tradeMode 1 and positionBalance, BitMEX crossMargin false and posMargin (USDt in
    millionths), as ccxt 4.5.83 reads them (okx.py, coinex.py, binance.py parse_position(_risk), bitmex.py).
    The margin is None when the payload names the mode but no readable amount."""
    if not isinstance(info, dict):
        return False, None
    scale = Decimal(1)
    if info.get("mgnMode") == "isolated":
        name = "margin"
    elif info.get("margin_mode") == "isolated":
        name = "margin_avbl"
    elif info.get("marginType") == "isolated" or (
            info.get("marginType") is None and _info_price(info, ("isolatedWallet",)) is not None):
        name = "isolatedWallet"
    elif str(info.get("tradeMode")) == "1":
        name = "positionBalance"
    elif info.get("crossMargin") is False:
        if info.get("currency") != "USDt":  # another settlement unit: the amount is not known in USDT
            return True, None
        name = "posMargin"
        scale = Decimal(10) ** -6
    else:
        return False, None
    margin = _info_price(info, (name,))
    return True, margin * scale if margin is not None else None


class RiskHost(Protocol):
    """What Risk reads of its host (the App) at each use, not at construction: the parameters and the turn's
    clock, the venues and the market (bound at start), the trading state, and refresh_account (tools/chaos.py
    patches it on the class)."""

    @property
    def cfg(self) -> HedgeConfig: ...
    @property
    def now_ms(self) -> int: ...
    @property
    def venues(self) -> list[Venue]: ...
    @property
    def market(self) -> Market | None: ...
    @property
    def state(self) -> TradingState: ...
    def refresh_account(self, key: str) -> None: ...


class CloseGroup(Protocol):
    """The trader's close of pairs (hedge/trader.py's Trader.close_group): chunked, sent and booked there."""

    def __call__(self, symbol: str, long_venue: Venue, short_venue: Venue, group: list[HedgePair],
                 qty: Decimal | None = None, tag: str = "close",
                 band_bps: Decimal | None = None, undo: bool = True) -> Decimal: ...


class Risk:
    """Tiered stops and outage handling for one host (reads its ledger, market and executor); a stop closes
    pairs through close_group (the trader's)."""

    def __init__(self, app: RiskHost, health: VenueHealth, book: Book, close_group: CloseGroup, *,
                 venue_or_none: Callable[[str], Venue | None], executor: Executor, coordinator: Coordinator,
                 mechanics: Callable[[str], VenueMechanics], event: Callable[..., None],
                 stop_openings: Callable[..., None], measure_exposure: Callable[[], None],
                 order_in_doubt: Callable[[str, str], bool]) -> None:
        self.app = app
        self.close_group = close_group
        self.venue_or_none = venue_or_none  # a key's bound venue (the trader's lookup), None if not bound
        self.executor = executor
        self.coordinator = coordinator
        self.mechanics = mechanics  # each venue's mechanics, this account's own where read at start
        self.event = event
        self.stop_openings = stop_openings
        self.measure_exposure = measure_exposure
        self.order_in_doubt = order_in_doubt
        self.cfg = app.cfg.stops
        self.health = health
        self.book = book  # the ledger's writer (reads go through self.book.ledger)
        self.views: dict[str, VenueRisk] = {}
        self.stops_fired: list[int] = [0] * len(self.cfg.levels)  # per level, in order
        self.unplanned_pnl = Decimal(0)  # booked when a leg vanished or a loose leg was closed
        self._next_fire_ms: dict[str, int] = {}
        # venue -> (the level index a stop deferred whole, the venues that could not trade then): it holds
        # only that level for retry_s, not a deeper one, nor itself once one of those venues trades
        # (_deferred, _wait_ends)
        self._waiting: dict[str, tuple[int, frozenset[str]]] = {}
        # the last liquidation price computed per (venue, symbol), kept when the position is gone: what a
        # leg that vanished during an outage is booked at
        self._blocked: dict[str, tuple[int, str]] = {}  # venue -> (level, why) a due stop could not act
        self._said: set[tuple[str, str]] = set()  # (venue, method) fallbacks already announced
        # (venue, symbol, what) -> the kind of wait said last: a vanished leg whose pair waits is said once
        # per kind, not at every positions check (forgotten when the venue-symbol shows no vanished leg)
        self._waits_said: dict[tuple[str, str, str], str] = {}
        self._next_loose_ms: dict[LooseKey, int] = {}  # next attempt to close a loose leg
        self._loose_failures: dict[LooseKey, int] = {}  # attempts in a row that closed nothing
        self._unvalued: dict[tuple[str, str], int] = {}  # (venue, pair) -> ms since no fresh price is known
        self._unhedged_since: dict[str, int] = {}  # opening tag -> ms its filled leg has been unhedged since
        self.unhedged: dict[str, str] = {}  # opening tag -> what is unhedged now, for the Risk tab
        self._not_ours: dict[str, int] = {}  # venue -> due level whose pairs all belong to other nodes (said)
        self._busy = False  # the last _settle_pending found another node trading the venue-symbol
        self.stopped_ms: dict[str, int] = {}  # venue -> ms a stop level last fired (or was due) there
        # a loose leg whose own close yields to its re-hedge (Rehedger.close_yields, wired by hedge/wiring.py)
        self.close_yields: Callable[[LooseLeg], bool] = lambda leg: False
        # a stop's hedge legs it would keep loose, [(venue, symbol, signed, unit)] -> for each, how much more
        # would stay unhedged there, no venue that trades able to re-hedge it, the legs sharing the venues'
        # room: Rehedger.unhedgeable, wired by hedge/wiring.py; None: no re-hedger (never deferred)
        self.unhedgeable: Callable[[list[tuple[str, str, Decimal, str]]], list[Decimal]] | None = None
        self._landing = False  # the last _settle_pending sent nothing: an earlier close may still land
        # (venue, symbol) -> ms a stop's blind close there filled nothing: none again until a read since
        self._blind_empty: dict[tuple[str, str], int] = {}

    def venue(self, key: str) -> Venue:
        return bound_venue(self.venue_or_none, key)

    # --- ownership (a cluster: each node protects the units it holds) ---
    @property
    def pending(self) -> dict[tuple[str, str], LooseLeg]:
        """The loose legs per (venue, symbol), every unit's together (one average price)."""
        out: dict[tuple[str, str], LooseLeg] = {}
        for leg in self.book.ledger.loose.values():
            held = out.get((leg.venue, leg.symbol))
            if held is None:
                out[(leg.venue, leg.symbol)] = leg
                continue
            weight = abs(held.qty) + abs(leg.qty)
            price = (held.price * abs(held.qty) + leg.price * abs(leg.qty)) / weight
            out[(leg.venue, leg.symbol)] = replace(held, qty=held.qty + leg.qty, price=price)
        return out

    def _mine(self, unit: Unit | None) -> bool:
        """This node binds the unit's venues and may cut its risk now (it holds the unit's lease)."""
        if unit is None:
            return True
        bound = all(self.venue_or_none(v) is not None for v in unit.venues)
        return bound and self.coordinator.may_protect(unit)

    @staticmethod
    def _unit(leg: LooseLeg) -> Unit | None:
        return Unit.parse(leg.unit) if leg.unit else None

    def _mine_leg(self, leg: LooseLeg) -> bool:
        return self.venue_or_none(leg.venue) is not None and self._mine(self._unit(leg))

    @contextmanager
    def _single_leg(self, unit: Unit | None, venue: str, symbol: str) -> Iterator[bool]:
        """Inside: orders are journaled under `unit` (fenced by its lease) and this node holds the execution
        lock of the venue-symbol (in a cluster). False: another node is trading it now; send nothing."""
        coordinator = self.coordinator
        with coordinator.acting(unit), coordinator.exclusive([(venue, symbol)]) as free:
            yield free

    def _coherent(self, venue: str, symbol: str) -> bool:
        """In a cluster, refresh the shared book (another node may have booked since this turn began) and
        say whether the venue-symbol can be compared with it now (no other node's execution journaled
        there). Called holding the venue-symbol's execution lock. With Redis away: the book as known."""
        coordinator = self.coordinator
        if not coordinator.shared:
            return True
        self.book.refresh()
        return (venue, symbol) not in coordinator.busy_keys()

    # --- reading ---
    def read(self, venue: Venue, raw: list[Any], equity: Decimal, upnl: Decimal) -> VenueRisk:
        """Build the venue's risk view from one GetPositions answer and its account figures."""
        positions: list[VenuePosition] = []
        pair_of: dict[str, str] = {}
        venue_liq: dict[str, Decimal] = {}
        venue_mark: dict[str, Decimal] = {}
        before = self.views.get(venue.key)
        foreign: set[str] = set()
        for item in raw:
            symbol = fmz_pair(item["Symbol"])
            spec = venue.specs.get(symbol)
            amount = _dec(item.get("Amount"))
            if amount <= 0:
                continue
            info = item.get("Info") or {}
            key = symbol.replace("_", "")
            entry = _dec(item.get("Price"))
            # priced below (_revalue); until then at the last price it was valued at, else its entry
            known = next((p.mark for p in before.positions if p.symbol == key), None) if before else None
            mark = known or entry
            if spec is None:  # not ours, but it shares the account's margin: at the venue's mark when read
                mark = _info_price(info, MARK_FIELDS) or entry
                qty = self._foreign_base(venue.key, key, info, amount, mark)
                self._say(venue.key, f"unmanaged:{symbol}",
                          f"{venue.key}: position in {symbol} is not one of ours (not in symbols); it "
                          "counts in the account's distance to liquidation at the venue's mark when read"
                          + ("" if qty else ", but its size in base units is UNKNOWN: left out"))
                if not qty or mark <= 0:
                    continue
                foreign.add(symbol)
            elif mark <= 0:
                continue
            else:
                qty = amount * spec.ct_val
            side = Side.LONG if item["Type"] in (PD_LONG, PD_LONG_YD) else Side.SHORT
            isolated, margin = _isolated_margin(info)
            if isolated and margin is None:  # mode said, amount not: the initial margin at our leverage
                margin = qty * (entry or mark) / self.app.cfg.leverage_for(venue.key)
            positions.append(VenuePosition(key, side, qty, entry or mark, mark_price=mark, margin=margin))
            pair_of[key] = symbol
            price = _info_price(info, LIQUIDATION_FIELDS)
            if price is not None:
                venue_liq[symbol] = price
            price = _info_price(info, MARK_FIELDS)
            if price is not None:
                venue_mark[symbol] = price
        view = VenueRisk(
            venue=venue.key,
            wallet=equity - upnl,
            positions=positions,
            pair_of=pair_of,
            venue_liq=venue_liq,
            read_ms=self.app.now_ms,
            venue_mark=venue_mark,
            foreign=foreign,
        )
        self._revalue(view)
        self._evaluate(venue.key, view)
        if venue.key not in self.health.recovered:  # keep the reading from before an outage until recovered
            self.views[venue.key] = view
        return view

    def _foreign_base(self, venue: str, key: str, info: Any, amount: Decimal, mark: Decimal
                      ) -> Decimal | None:
        """Base size of a position in a symbol that is not ours (no contract spec read): the venue's own
        base figure (binance positionAmt, bybit size, coinex open_interest, bitmex homeNotional; okx
        notionalUsd / markPx), else the contracts at the mechanics' contract size when its table knows it."""
        unsigned = {k: str(v).lstrip("-") for k, v in info.items()} if isinstance(info, dict) else None
        found = _info_price(unsigned, ("positionAmt", "size", "open_interest", "homeNotional"))
        if found is not None:
            return found
        notional = _info_price(info, ("notionalUsd",))
        if notional is not None and mark > 0:
            return notional / mark
        try:
            mechanics = self.mechanics(venue)
            return None if mechanics.is_estimated(key) else amount * mechanics.spec(key).contract_size
        except (KeyError, ValueError):
            return None

    def price(self, venue: str, symbol: str, view: VenueRisk | None = None) -> tuple[Decimal, str] | None:
        """The freshest trustworthy price to value `venue`'s `symbol` at, never older than max_book_age_ms,
        and where it came from: the venue's own book mid; else the mark price the venue reported with its
        positions (view, default the last reading) when that reading is recent enough; else the median of
        the other venues' fresh mids. None: nothing fresh is known (the position cannot be valued)."""
        market = self.app.market
        if market is None:
            return None
        now = self.app.now_ms
        mid = market.fresh_mid(venue, symbol, now)
        if mid is not None:
            return _dec(mid), BOOK
        view = view if view is not None else self.views.get(venue)
        if view is not None and now - view.read_ms <= market.max_age_ms:
            mark = view.venue_mark.get(symbol)
            if mark is not None:
                return mark, VENUE_MARK
        others = market.mids_elsewhere(symbol, now, venue)
        if others:
            return _dec(median(others)), OTHER_VENUES
        return None

    def reference(self, venue: str, symbol: str, bid: bool) -> Decimal:
        """Expected price of a market order on the venue: its book's bid (selling) or ask (buying) while
        the book is fresh; else what the coin trades at elsewhere (the other venues' fresh mids: a mark
        price lags a gap by its averaging), else the valuation price (`price`), else the stale book's side
        (nothing better is known)."""
        market = self.app.market
        if market is None:
            return Decimal(0)
        now = self.app.now_ms
        top = market.fresh_top(venue, symbol, now)
        if top is None:
            others = market.mids_elsewhere(symbol, now, venue)
            if others:
                return _dec(median(others))
            found = self.price(venue, symbol)
            if found is not None:
                return found[0]
            top = market.tops[venue][symbol]
        return _dec(top.bid if bid else top.ask)

    def _mark(self, venue: str, symbol: str) -> Decimal | None:
        found = self.price(venue, symbol)
        return found[0] if found is not None else None

    def mark(self, venue: str, symbol: str) -> Decimal | None:
        """The freshest trustworthy price of venue-symbol (`price`); None when nothing fresh is known."""
        return self._mark(venue, symbol)

    def _revalue(self, view: VenueRisk) -> bool:
        """Mark the view's positions at `price`. A position without any fresh price keeps the last price it
        was valued at and is UNVALUED from then (`_unvalued`): due_level and open_problem count it at the
        stop levels it could have reached meanwhile. True when a mark changed."""
        moved = []
        changed = False
        for pos in view.positions:
            pair = view.pair_of[pos.symbol]
            if pair in view.foreign:  # no book of ours: valued at the venue's mark of the reading
                moved.append(pos)
                continue
            found = self.price(view.venue, pair, view)
            key = (view.venue, pair)
            if found is None:
                view.priced_by[pair] = UNVALUED
                if key not in self._unvalued:
                    self._unvalued[key] = self.app.now_ms
                    self.event(
                        f"{view.venue} {pair}: no price fresher than {self.app.cfg.max_book_age_ms} ms (own "
                        "book, the venue's mark, other venues' books); risk counts it at the first stop "
                        "level, one level deeper for every stops.retry_s it stays so", "critical")
                moved.append(pos)
                continue
            if self._unvalued.pop(key, None) is not None:
                self.event(f"{view.venue} {pair}: valued again (at the {found[1]})", "warn")
            mark, source = found
            view.priced_by[pair] = source
            if source != BOOK:
                self._say(view.venue, f"priced:{pair}:{source}",
                          f"{view.venue} {pair}: its book is older than {self.app.cfg.max_book_age_ms} ms; "
                          f"risk values its positions at the {source}")
            if mark != pos.mark:
                pos = VenuePosition(pos.symbol, pos.side, pos.qty, pos.entry_price, mark_price=mark,
                                    margin=pos.margin)
                changed = True
            moved.append(pos)
        view.positions = moved
        held = set(view.pair_of.values())
        for key in [k for k in self._unvalued if k[0] == view.venue and k[1] not in held]:
            del self._unvalued[key]  # no longer held
        return changed

    def unvalued_since(self, venue: str) -> int | None:
        """Since when (ms) some position on the venue has had no fresh price; None: every one is valued."""
        if not self._unvalued:
            return None
        found = [ms for (key, _), ms in self._unvalued.items() if key == venue]
        return min(found) if found else None

    def _read_marks(self, venue: str, view: VenueRisk) -> None:
        """A venue whose own book is stale for a position it holds is read again (GetAccount and
        GetPositions, whose payload carries the venue's mark price) once its last reading is older than
        max_book_age_ms, so that the mark risk values it at is never older than that. Not a venue that gives
        no mark with its positions (valued at the other venues' books instead), nor one whose account
        calls are out (asked again by the outage probe)."""
        market = self.app.market
        now = self.app.now_ms
        if market is None or not view.venue_mark or now - view.read_ms <= market.max_age_ms:
            return
        if venue in self.health.recovered or self.health.is_out(venue, ACCOUNT):
            return
        if all(market.fresh_mid(venue, pair, now) is not None for pair in view.pair_of.values()
               if pair not in view.foreign):
            return
        self.app.refresh_account(venue)

    def _evaluate(self, venue: str, view: VenueRisk) -> None:
        """Liquidation prices and distances at the positions' marks (`_evaluate_at_marks`), remembered as
        the basis `_far_still` bounds the distance from until the next evaluation."""
        self._evaluate_at_marks(venue, view)
        nearest = view.nearest
        view.basis = {p.symbol: p.mark for p in view.positions}
        view.basis_distance = nearest[1] if nearest is not None else None

    def _far_still(self, view: VenueRisk) -> bool:
        """True when the view's distance need not be recomputed at its new marks: it cannot have come
        within OPEN_MARGIN x the first stop level, nor its leverage above the ceiling / OPEN_MARGIN, so no
        decision can change (a stop due, an opening refused). Every position's maintenance condition gets
        worse with each adverse move, so if d was the common adverse move (a fraction) at the basis marks
        and no mark has moved more than w against its position since, the distance now is at least
        (d - w) / (1 + w). Leverage is cheap: it is recomputed exactly (the view's notional and equity)."""
        d = view.basis_distance
        if d is None or self.unvalued_since(view.venue) is not None:
            return False
        worst = Decimal(0)
        for pos in view.positions:
            basis = view.basis.get(pos.symbol)
            if not basis:
                return False
            worst = max(worst, pos.side.sign * (basis - pos.mark) / basis)
        floor = self.cfg.levels[0].distance_pct * OPEN_MARGIN
        if (d / HUNDRED - worst) / (1 + worst) * HUNDRED <= floor:
            return False
        notional = sum((p.qty * p.mark for p in view.positions), Decimal(0))
        equity = view.wallet + sum((p.unrealized_pnl() for p in view.positions), Decimal(0))
        if equity <= 0 or notional / equity > self.cfg.max_effective_leverage / OPEN_MARGIN:
            return False
        view.notional, view.equity = notional, equity
        return True

    def _evaluate_at_marks(self, venue: str, view: VenueRisk) -> None:
        """Liquidation prices and distances at the positions' marks: venue mechanics first, then the
        venue's own figure, then a conservative estimate (each fallback said once per venue)."""
        view.notional = sum((p.qty * p.mark for p in view.positions), Decimal(0))
        upnl = sum((p.unrealized_pnl() for p in view.positions), Decimal(0))
        view.equity = view.wallet + upnl
        view.liquidation, view.distance, view.common = {}, {}, None
        if not view.positions:
            return
        try:
            mechanics = self.mechanics(venue)
            # isolated positions (margin given) are liquidated on their own margin; the cross ones share
            # the wallet less those margins
            shared = tuple(p for p in view.positions if p.margin is None)
            alone = [p for p in view.positions if p.margin is not None]
            wallet = view.wallet - sum((p.margin for p in alone if p.margin is not None), Decimal(0))
            account = CrossAccount(wallet_balance=wallet, positions=shared)
            cross = mechanics.evaluate_cross(account)
            # one position: its own distance is the common move
            common = mechanics.common_adverse_move(account) if len(shared) > 1 else None
            view.method = "mechanics"
            prices = {**cross.liquidation_prices,
                      **{p.symbol: mechanics.liquidation_price(p) for p in alone}}
            for pos in view.positions:
                price = prices.get(pos.symbol)
                if price is not None:
                    self._set(view, pos, price)
            view.common = common * HUNDRED if common is not None else None
            return
        except (ValueError, ArithmeticError, KeyError) as exc:
            reason = str(exc)
        missing = [p for p in view.positions if view.pair_of[p.symbol] not in view.venue_liq]
        if not missing:
            view.method = "venue"
            self._say(
                venue,
                "venue",
                f"{venue}: distance to liquidation from the venue's own liquidation price "
                f"(no contract data in hedge/venues: {reason})",
            )
            for pos in view.positions:
                self._set(view, pos, view.venue_liq[view.pair_of[pos.symbol]])
            if len(view.positions) > 1:  # the venue's figures are per symbol: the move together, estimated
                view.common = self._estimated_move(view) * HUNDRED
            return
        view.method = "estimate"
        self._say(
            venue,
            "estimate",
            f"{venue}: distance to liquidation ESTIMATED from equity and notional "
            f"(maintenance taken as {ESTIMATE_MAINTENANCE_RATE * 100}% of notional, every position moving "
            f"against us at once; no contract data: {reason})",
        )
        move = self._estimated_move(view)
        for pos in view.positions:
            price = pos.mark * (1 - pos.side.sign * move)
            self._set(view, pos, view.venue_liq.get(view.pair_of[pos.symbol], price))
        view.common = move * HUNDRED

    @staticmethod
    def _estimated_move(view: VenueRisk) -> Decimal:
        """Common adverse move (fraction) liquidating the view, maintenance at ESTIMATE_MAINTENANCE_RATE."""
        room = max(view.equity - view.notional * ESTIMATE_MAINTENANCE_RATE, Decimal(0))
        return room / view.notional if view.notional > 0 else Decimal(1)

    def _set(self, view: VenueRisk, pos: VenuePosition, price: Decimal) -> None:
        pair = view.pair_of[pos.symbol]
        distance = max(pos.side.sign * (pos.mark - price), Decimal(0)) / pos.mark * HUNDRED
        view.liquidation[pair] = price
        view.distance[pair] = distance

    def _say_wait(self, key: tuple[str, str, str], kind: str, text: str, level: str) -> None:
        """Say why a vanished leg's pair waits once per kind of reason (`_waits_said`)."""
        if self._waits_said.get(key) != kind:
            self._waits_said[key] = kind
            self.event(text, level)

    def _say(self, venue: str, kind: str, text: str) -> None:
        if (venue, kind) not in self._said:
            self._said.add((venue, kind))
            self.event(text, "warn")

    def remark(self, venue: str) -> VenueRisk | None:
        """Re-evaluate a venue's cached positions at the freshest prices (`price`; no request)."""
        view = self.views.get(venue)
        if view is None or not view.positions:
            return view
        if self._revalue(view) and not self._far_still(view):
            self._evaluate(venue, view)
        return view

    # --- deciding ---
    def open_problem(self, venue: str, symbol: str | None = None, side: Side | None = None,
                     qty: Decimal = Decimal(0), price: Decimal = Decimal(0), margin: Decimal = OPEN_MARGIN,
                     besides: Sequence[tuple[str, Side, Decimal, Decimal]] = ()) -> str | None:
        """Why no new pair may add `qty` of `symbol` on `side` to this venue: with it, the venue would be
        within `margin` x the first stop level (or above the leverage ceiling / `margin`). The check is pro
        forma, on the venue's positions as last read plus the new leg at `price`: a pair that the next stop
        would close again is not opened (churn). An opening's margin is OPEN_MARGIN; a re-hedge, which
        reduces the fund's risk, passes stops.rehedge_margin (hedge/rehedge.py). `besides`: legs (symbol,
        side, qty, price) counted as traded there before it (Rehedger.unhedgeable: a stop's other legs)."""
        view = self.views.get(venue)
        if view is None:
            return None
        if self.unvalued_since(venue) is not None:
            return (f"{venue} holds positions without a price fresher than {self.app.cfg.max_book_age_ms} "
                    "ms: no new pairs there until they can be valued")
        for leg in besides:
            view = self._with_leg(view, *leg)
        after = ""
        if symbol is not None and side is not None and qty > 0 and price > 0:
            view = self._with_leg(view, symbol, side, qty, price)
            after = " with this pair"
        floor = self.cfg.levels[0].distance_pct * margin
        nearest = view.nearest
        if nearest is not None and nearest[1] < floor:
            return (f"{venue} would be {nearest[1]:.1f}% from liquidation{after}, within {floor:g}% "
                    f"({margin:g} x the first stop level): no new pairs there")
        leverage = view.leverage
        ceiling = self.cfg.max_effective_leverage / margin
        if leverage is not None and leverage > ceiling:
            return (f"{venue} effective leverage would be {leverage:.2f}{after} > {ceiling:.2f} "
                    f"(stops.max_effective_leverage / {margin:g}): no new pairs there")
        return None

    def _with_leg(self, view: VenueRisk, symbol: str, side: Side, qty: Decimal, price: Decimal) -> VenueRisk:
        """A copy of the venue's view with one more leg (one-way mode: it nets with a position in the
        same symbol), evaluated at the current marks."""
        key = symbol.replace("_", "")
        mark = self._mark(view.venue, symbol) or price
        held = next((p for p in view.positions if p.symbol == key), None)
        positions = [p for p in view.positions if p.symbol != key]
        signed = side.sign * qty + (held.side.sign * held.qty if held is not None else Decimal(0))
        wallet = view.wallet
        if held is not None and held.side is not side:  # the part closed realizes its PnL into the wallet
            wallet += held.side.sign * min(qty, held.qty) * (price - held.entry_price)
        if signed != 0:
            new_side = Side.LONG if signed > 0 else Side.SHORT
            entry = mark  # a new position (or one the leg flips): no PnL at the mark
            if held is not None and held.side is new_side:
                # reduced: the entry stays; added to: the venue averages it. Keeping the old entry for the
                # added part credited it with the whole move since (chaos default seed 4, 2 days: 0.218 BTC
                # and 3.81 ETH re-hedged on binance's shorts of before a -40 % crash showed it 71 % from
                # liquidation; the venue's next reading said 38.2 % and stop level 1 fired)
                entry = held.entry_price if held.side is not side else (
                    (held.qty * held.entry_price + qty * price) / (held.qty + qty))
            positions.append(VenuePosition(key, new_side, abs(signed), entry, mark_price=mark,
                                           margin=self._margin_with_leg(view, held, signed, qty, price)))
        pro_forma = VenueRisk(venue=view.venue, wallet=wallet, positions=positions,
                              pair_of={**view.pair_of, key: symbol}, venue_liq=view.venue_liq,
                              read_ms=view.read_ms)
        self._evaluate(view.venue, pro_forma)
        return pro_forma

    def _margin_with_leg(self, view: VenueRisk, held: VenuePosition | None, signed: Decimal, qty: Decimal,
                         price: Decimal) -> Decimal | None:
        """Isolated margin of the symbol's position after a leg of `qty` (None: cross). The venue keeps the
        mode it holds the symbol in (or its other positions in, for a new symbol): a leg adding to it posts
        its initial margin at our leverage, one reducing it releases its share."""
        if held is not None:
            if held.margin is None:
                return None
            if held.side.sign * signed > 0 and abs(signed) <= held.qty:  # reduced, same side
                return held.margin * abs(signed) / held.qty
            if held.side.sign * signed > 0:
                return held.margin + qty * price / self.app.cfg.leverage_for(view.venue)
        elif not any(p.margin is not None for p in view.positions):
            return None
        return abs(signed) * price / self.app.cfg.leverage_for(view.venue)

    def note_leg(self, venue: str, symbol: str, side: Side, qty: Decimal, price: Decimal,
                 unread: bool = False) -> None:
        """A leg was traded on venue: its cached view holds it until the next reading (so the next
        opening's pro-forma check and the per-tick re-marking see it). unread: a stop's blind close, noted
        also while the venue is back unreconciled (no reading can replace the view until its positions read,
        and a view without the close would fire the stop again at every retry_s)."""
        view = self.views.get(venue)
        if view is not None and qty > 0 and price > 0 and (unread or venue not in self.health.recovered):
            updated = self._with_leg(view, symbol, side, qty, price)
            self._evaluate(venue, updated)
            self.views[venue] = updated

    def note_wallet(self, venue: str, delta: Decimal) -> None:
        """Money this process moved into (delta > 0) or out of venue's futures wallet (the treasury): its
        cached view holds it until the next reading, so a re-hedge's or an opening's pro-forma check right
        after a move out does not count margin that has left (chaos default seed 4, 2 days: a re-hedge on a
        wallet read before 6,410 USDT left it, stop level 1 there 54 s later)."""
        view = self.views.get(venue)
        if view is not None and delta != 0:
            updated = replace(view, wallet=view.wallet + delta)
            self._evaluate(venue, updated)
            self.views[venue] = updated

    def due_level(self, view: VenueRisk) -> int | None:
        """Index of the level the venue's reading calls for (the narrowest one reached), or None."""
        nearest = view.nearest
        due: int | None = None
        if nearest is not None:
            for index, level in enumerate(self.cfg.levels):
                if nearest[1] <= level.distance_pct:
                    due = index
        leverage = view.leverage
        if due is None and leverage is not None and leverage > self.cfg.max_effective_leverage:
            due = 0
        since = self.unvalued_since(view.venue)
        if since is not None:  # blind: at the level it could have reached, one deeper every retry_s
            blind = min(len(self.cfg.levels) - 1, (self.app.now_ms - since) // (self.cfg.retry_s * 1000))
            due = blind if due is None else max(due, blind)
        return due

    def check(self, full: bool) -> None:
        """Every turn: re-value every venue's cached positions at the freshest prices (no request; a venue
        whose book is stale is re-read for its mark) and fire what is due. full = positions were just read."""
        app = self.app
        if self.book.ledger.pending:
            self.price_pending()
        if not app.state.may_close and not any(self.views.values()):
            return
        for venue in app.venues:
            view = self.views.get(venue.key)
            if view is None or not view.positions:
                continue
            if not full:
                self._read_marks(venue.key, view)
                view = self.remark(venue.key)
                assert view is not None
            level = self.due_level(view)
            if level is None or (app.now_ms < self._next_fire_ms.get(venue.key, 0)
                                 and not self._wait_ends(venue.key, level)):
                continue
            self.fire(venue, level, view)

    # --- acting ---
    def fire(self, venue: Venue, index: int, view: VenueRisk) -> None:
        app = self.app
        level = self.cfg.levels[index]
        reason = self._stop_reason(venue.key, view)
        pairs = [p for p in self.book.ledger.pairs.values() if venue.key in (p.long_venue, p.short_venue)]
        own = [p for p in pairs if self._mine(Unit.of_pair(p))]
        legs = [leg for leg in self.book.ledger.loose.values() if leg.venue == venue.key]
        own_legs = [leg for leg in legs if self._mine_leg(leg)]
        if self._nothing_to_stop(venue.key, index, reason, view, bool(pairs or legs), bool(own or own_legs)):
            return
        self._not_ours.pop(venue.key, None)
        self._next_fire_ms[venue.key] = app.now_ms + self.cfg.retry_s * 1000
        self._waiting.pop(venue.key, None)
        self.stopped_ms[venue.key] = app.now_ms  # hedge/rehedge.py keeps loose legs' hedges off it
        if self._stop_blocked(venue.key, index, reason):
            return
        deferred = self._deferred(venue.key, view, own, index)
        if deferred and len(deferred) == len(self._groups(own)) and not own_legs:
            self._say_deferred(venue.key, index, reason, deferred, self._until(view))
            self._waiting[venue.key] = (index, frozenset(
                short if long == venue.key else long for _, long, short in deferred))
            return
        self._blocked.pop(venue.key, None)
        self.stops_fired[index] += 1
        self.event(
            f"STOP level {index + 1}{' EMERGENCY' if level.emergency else ''} on {venue.key}: {reason} "
            f"(level at {level.distance_pct}%); closing {level.close_fraction * 100:g}% of its pairs",
            "critical" if level.emergency else "warn",
        )
        closed, touched = self._close_own(venue.key, view, own, level, index, deferred)
        closed += self._close_pending(venue.key, level, index)
        self.event(
            f"STOP level {index + 1} on {venue.key} done: "
            + ("; ".join(closed) if closed else "nothing could be closed"),
            "critical" if level.emergency or not closed else "warn",
        )
        for key in sorted(touched):  # a fresh reading before the next decision
            app.refresh_account(key)

    def _wait_ends(self, key: str, level: int) -> bool:
        """A stop deferred (nothing sent, `_deferred`) holds only its own level until retry_s: a deeper level
        fires at once (a gap during the wait), and so does that level once a venue it waited for trades."""
        waiting = self._waiting.get(key)
        return waiting is not None and (level > waiting[0]
                                        or any(self.health.can_trade(v) for v in waiting[1]))

    def _stop_reason(self, key: str, view: VenueRisk) -> str:
        """Why a stop is due on the venue: the nearest liquidation, how long unvalued, the leverage."""
        nearest = view.nearest
        if nearest is None:
            where = "no liquidation price"
        elif len(view.positions) > 1 and view.common is not None and view.common <= view.distance[nearest[0]]:
            where = (f"liquidation {nearest[1]:.2f}% away with all {len(view.positions)} positions moving "
                     f"against us together ({nearest[0]} alone {view.distance[nearest[0]]:.2f}%)")
        else:
            where = f"nearest liquidation {nearest[0]} {nearest[1]:.2f}% away"
        blind = self.unvalued_since(key)
        if blind is not None:
            where += f"; UNVALUED for {(self.app.now_ms - blind) // 1000} s (no fresh price)"
        leverage = view.leverage
        return f"{where}, effective leverage {leverage:.2f}" if leverage is not None else where

    def _nothing_to_stop(self, key: str, index: int, reason: str, view: VenueRisk, any_here: bool,
                         any_own: bool) -> bool:
        """True when the venue holds no pair or loose leg of this node's units (said once per level)."""
        if not any_own and any_here:
            # every pair and loose leg on the venue is in another node's unit: its owner stops it
            if self._not_ours.get(key) != index:
                self._not_ours[key] = index
                self.event(f"STOP level {index + 1} due on {key} ({reason}); its pairs are in units "
                          "other nodes hold: each stops its own")
            return True
        if not any_here:  # e.g. only positions that are not ours: nothing a stop could close
            if self._not_ours.get(key) != index:
                self._not_ours[key] = index
                foreign = ", ".join(sorted(view.foreign)) or "-"
                self.event(f"STOP level {index + 1} due on {key} ({reason}) but it holds no pair or "
                          f"loose leg of ours (not ours: {foreign})", "critical")
            return True
        return False

    def _stop_blocked(self, key: str, index: int, reason: str) -> bool:
        """True when no stop order may go out: HALTED, or the venue is out (said once per level and cause)."""
        blocked = None
        if not self.app.state.may_close:
            blocked = "the trading state is HALTED: no order sent; command state:REDUCING to let stops work"
        elif not self.health.can_send(key):  # its orders answer: closed blind if it cannot be read (_close)
            blocked = f"{key} cannot trade (outage); its hedges are kept"
        elif self._blind_spent(key):
            blocked = (f"{key} positions cannot be read and a reduce-only close there filled nothing: none "
                       "again until they read")
        if blocked is None:
            return False
        if self._blocked.get(key) != (index, blocked):  # said once per level, not every retry
            self._blocked[key] = (index, blocked)
            self.event(f"STOP level {index + 1} due on {key} ({reason}) but {blocked}", "critical")
        return True

    @staticmethod
    def _groups(own: list[HedgePair]) -> dict[tuple[str, str, str], list[HedgePair]]:
        """The pairs by (symbol, long venue, short venue)."""
        groups: dict[tuple[str, str, str], list[HedgePair]] = {}
        for pair in own:
            groups.setdefault((pair.symbol, pair.long_venue, pair.short_venue), []).append(pair)
        return groups

    def _may_wait(self, key: str, view: VenueRisk, index: int) -> bool:
        """A first level due on a valued (not blind) venue that a deeper level still guards: due by the
        leverage ceiling alone (its distance outside the first level, which still fires once the distance
        reaches it), or by a distance still outside the second level (which fires once it is within). The
        emergency level, a blind venue and a venue with one level never wait."""
        levels = self.cfg.levels
        nearest = view.nearest
        if index != 0 or levels[0].emergency or nearest is None or self.unvalued_since(key) is not None:
            return False
        if nearest[1] > levels[0].distance_pct:  # due by the leverage ceiling alone
            leverage = view.leverage
            return leverage is not None and leverage > self.cfg.max_effective_leverage
        return len(levels) > 1 and nearest[1] > levels[1].distance_pct

    def _deferred(self, key: str, view: VenueRisk, own: list[HedgePair], index: int
                  ) -> dict[tuple[str, str, str], str]:
        """The groups of pairs a first level leaves while a deeper level guards the venue (`_may_wait`), and
        why: their other venue cannot trade, so the level would close the leg here alone and keep the hedge
        leg loose there, and no venue that trades could re-hedge all of it now (Rehedger.unhedgeable: the
        legs share the venues' room, the largest checked first): the rest would stay unhedged for as long as
        the outage lasts, beyond outage.max_unhedged_s (chaos tight seed 2, 6 days: 128 s, a first level due
        by the leverage ceiling; issue #17: the same by the distance). Deferring keeps the pair hedged; what
        it costs is headroom: the venue may come as near as the second level's distance (default 30 %, the
        adverse move one turn would need to liquidate it) instead of being cut at the first. Re-asked at
        every retry_s: it ends once the other venue trades or a venue has the room to re-hedge."""
        levels = self.cfg.levels
        if self.unhedgeable is None or not self._may_wait(key, view, index):
            return {}
        alone: list[tuple[tuple[str, str, str], tuple[str, str, Decimal, str]]] = []
        for (symbol, long_key, short_key), group in sorted(self._groups(own).items()):
            other = short_key if long_key == key else long_key
            if self.health.can_trade(other):
                continue
            total = sum((p.qty for p in group), Decimal(0))
            qty = self._quantity(total, levels[0].close_fraction, symbol, self.venue(long_key),
                                 self.venue(short_key))
            signed = qty if long_key == other else -qty  # the hedge leg kept loose on `other`
            alone.append(((symbol, long_key, short_key), (other, symbol, signed, Unit.of_pair(group[0]).key)))
        # one call for them all: the legs share the room of the venues that trade (issue #17)
        unhedged = self.unhedgeable([leg for _, leg in alone]) if alone else []
        deferred: dict[tuple[str, str, str], str] = {}
        for ((symbol, long_key, short_key), (other, _, signed, _)), stays in zip(alone, unhedged,
                                                                                 strict=True):
            if stays > 0:
                deferred[(symbol, long_key, short_key)] = (
                    f"{symbol} {long_key}/{short_key}: {other} cannot trade, and of its leg {signed:+f} the "
                    f"level would leave loose there {stays} would stay unhedged (no venue that trades could "
                    "re-hedge it)")
        return deferred

    def _until(self, view: VenueRisk) -> str:
        """The level a deferred first level waits for (`_may_wait`): itself, due by the leverage ceiling
        alone, else the second."""
        nearest = view.nearest
        levels = self.cfg.levels
        if nearest is not None and nearest[1] > levels[0].distance_pct:
            return "the level"
        return (f"level 2 ({levels[1].distance_pct}%), or the other venue trades or a venue has room to "
                "re-hedge")

    def _say_deferred(self, key: str, index: int, reason: str, deferred: dict[tuple[str, str, str], str],
                      until: str) -> None:
        """Every pair on the venue waits (`_deferred`): said once per level, level waited for and set of
        pairs while it lasts (not at every retry as the room changes with the marks)."""
        said = f"deferred until {until}: " + ", ".join("/".join(k) for k in sorted(deferred))
        if self._blocked.get(key) != (index, said):
            self._blocked[key] = (index, said)
            self.event(f"STOP level {index + 1} due on {key} ({reason}) deferred until its distance reaches "
                       f"{until}: " + "; ".join(deferred[k] for k in sorted(deferred)), "critical")

    def _close_own(self, key: str, view: VenueRisk, own: list[HedgePair], level: StopLevel,
                   index: int, deferred: dict[tuple[str, str, str], str]) -> tuple[list[str], set[str]]:
        """Close this node's pairs on the venue, nearest symbol first, by venue pair, but those `deferred`
        until the distance calls for them: what closed (and was deferred), and every venue touched."""
        closed: list[str] = []
        touched = {key}
        groups = self._groups(own)  # this node's units only (a cluster: the others' owners stop theirs)
        symbols = sorted({p.symbol for p in own}, key=lambda s: (view.distance.get(s, Decimal(10_000)), s))
        for symbol in symbols:
            for (name, long_key, short_key), group in sorted(groups.items()):
                if name != symbol:
                    continue
                if (symbol, long_key, short_key) in deferred:
                    closed.append(deferred[(symbol, long_key, short_key)]
                                  + f": deferred until the distance reaches {self._until(view)}")
                    continue
                other = short_key if long_key == key else long_key
                touched.add(other)
                done = self._close(symbol, long_key, short_key, group, level, index, key, other)
                if done:
                    closed.append(done)
        return closed, touched

    def _close(
        self,
        symbol: str,
        long_key: str,
        short_key: str,
        group: list[HedgePair],
        level: StopLevel,
        index: int,
        threatened: str,
        other: str,
    ) -> str | None:
        tag = f"stop{index + 1}"
        group = self._not_held(symbol, group, tag, threatened)
        if not group:
            return None
        total = sum((p.qty for p in group), Decimal(0))
        long_venue, short_venue = self.venue(long_key), self.venue(short_key)
        qty = self._quantity(total, level.close_fraction, symbol, long_venue, short_venue)
        band = self.cfg.emergency_band_bps if level.emergency else None
        unbooked = self._unbooked(symbol, long_key, short_key)
        if unbooked:  # the ledger does not hold what the venues do there until it is booked
            self._say(f"{symbol}:{unbooked}", "unbooked", f"{tag} on {threatened}: {symbol} {long_key}/"
                      f"{short_key} not closed while {unbooked} filled there and is not booked yet (it waits "
                      "for a price: recovery); closed once it is booked, if still due")
            return None
        unread = f"{threatened} positions unreadable"
        if not self.health.can_trade(threatened):  # its orders answer (fire), its positions do not
            return self._close_alone(symbol, group, qty, tag, threatened, other, band, unread)
        if self._refused_here(threatened, symbol, long_key == threatened):
            # its leg did not close at an earlier attempt: the hedge is closed only for what it closes now
            return self._close_alone(symbol, group, qty, tag, threatened, other, band,
                                     f"{threatened} left its last close undone")
        if self.order_in_doubt(other, symbol):  # settled by recovery first: nothing may be sent there now
            return self._close_alone(symbol, group, qty, tag, threatened, other, band,
                                     f"an order on {other} {symbol} is in doubt")
        if self.health.can_trade(other):
            filled = self.close_group(symbol, long_venue, short_venue, group, qty=qty, tag=tag, band_bps=band,
                                      undo=False)
            if filled:
                return f"{symbol} {long_key}/{short_key} {filled} of {total}"
            if self.executor.unreadable(threatened, symbol):  # nothing sent: its positions did not read
                return self._close_alone(symbol, group, qty, tag, threatened, other, band, unread)
            return None
        return self._close_alone(symbol, group, qty, tag, threatened, other, band)

    def _unbooked(self, symbol: str, *venues: str) -> str:
        """The tag of a journaled reduction that filled on one of the venues' symbol, is not booked yet
        (Book.hold_unbooked: its price is not known) and names no pair (a lone close, booked oldest first
        there): the pairs' legs there may be closed on the venue and still in the ledger, and a close of
        them (or of one, its hedge booked loose) would count them twice. "" when none. One naming its
        pairs holds those only (`_not_held`)."""
        unbooked = self.book.unbooked
        return min((r.tag for r in self.book.ledger.orders.values() if r.tag in unbooked
                    and pairs_named(r.tag) is None and r.symbol == symbol and r.venue in venues), default="")

    def _not_held(self, symbol: str, group: list[HedgePair], tag: str, threatened: str) -> list[HedgePair]:
        """The group less the pairs a close waiting for its booking names (Book.held_pairs: their legs may
        be closed on the venues already, a second close would flip them); the others are stopped (issue
        #17: holding their venue-symbols refused every stop there for a whole price blackout)."""
        held = self.book.held_pairs()
        kept = [pair for pair in group if pair.id not in held]
        if len(kept) < len(group):
            ids = ", ".join(f"#{pair.id}" for pair in group if pair.id in held)
            self._say(f"{symbol}:held:{ids}", "unbooked", f"{tag} on {threatened}: {symbol} pairs {ids} not "
                      "closed: a close of them filled and is not booked yet (it waits for a price: "
                      "recovery)" + ("; the others are" if kept else ""))
        return kept

    def _refused_here(self, venue: str, symbol: str, long_leg: bool) -> bool:
        """A loose leg on the side of the pairs' leg there: a close of that leg did not go through (refused,
        in doubt) while its hedge closed. Closing both again would strip the hedge once more."""
        held = self.book.ledger.loose_positions().get((venue, symbol), Decimal(0))
        return held > 0 if long_leg else held < 0

    def _quantity(self, total: Decimal, fraction: Decimal, symbol: str, *venues: Venue) -> Decimal:
        """fraction of total on the legs' common step; at least one step; all of it when a part or the rest
        would be too small to send."""
        if fraction >= 1:
            return total
        step = common_base_step(*(v.specs[symbol] for v in venues))
        qty = max(floor_to_step(total * fraction, step), step)
        price = self._mark(venues[0].key, symbol) or Decimal(1)
        if qty >= total or any(
            leg_problem(qty, price, v.specs[symbol]) or leg_problem(total - qty, price, v.specs[symbol])
            for v in venues
        ):
            return total
        return qty

    def _close_alone(
        self,
        symbol: str,
        group: list[HedgePair],
        qty: Decimal,
        tag: str,
        threatened: str,
        other: str,
        band: Decimal | None,
        why: str = "",
    ) -> str | None:
        """Close the threatened leg only: its hedge is on a venue that cannot trade now (or the threatened
        leg refused its last close, `why`). The hedge stays open there as a loose leg (origin outage) of the
        group's unit, closed once that venue trades (at the next turn when it can now)."""
        unit = Unit.of_pair(group[0])
        with self._single_leg(unit, threatened, symbol) as free:
            if not free:
                return None
            return self._close_alone_locked(symbol, group, qty, tag, threatened, other, band, unit,
                                            why or f"{other} cannot trade")

    def _close_alone_locked(self, symbol: str, group: list[HedgePair], qty: Decimal, tag: str,
                            threatened: str, other: str, band: Decimal | None, unit: Unit,
                            why: str) -> str | None:
        venue = self.venue(threatened)
        long_leg = group[0].long_venue == threatened
        sign = 1 if long_leg else -1
        side = "closebuy" if long_leg else "closesell"
        current = self.executor.position(venue, symbol)
        try:
            if current is None:
                blind = self._close_blind(venue, symbol, side, qty, f"{tag}:{threatened}")
                if blind is None:
                    return None
                fills = [blind]
                why = f"{why}: reduce-only, sized from the ledger, booked from {threatened}'s order record"
            else:
                qty = min(qty, abs(current)) if current * sign > 0 else Decimal(0)
                if qty <= 0:
                    return None
                fills = self.executor.move_position(venue, symbol, current, current - sign * qty,
                                                    f"{tag}:{threatened}",
                                                    limit=self._limit(venue, symbol, side, band))
        except LegOutcomeUnknown as exc:
            self.stop_openings(str(exc), {(threatened, symbol)})
            return None
        moved = sum((f.filled for f in fills), Decimal(0))
        # only this call's orders: an earlier stop's close under the same tag may be journaled in doubt, or
        # settled and not booked yet (recovery books it); cleared with these, its fill was never booked and
        # nothing held the venue-symbol when it landed
        sent = {cid for f in fills for cid in f.client_ids}
        if moved <= 0:
            self.book.clear_orders(f"{tag}:{threatened}", sent)
            self.book.save()
            return None
        exit_price = (fills[0].avg_price if fills else None) or self._mark(threatened, symbol)
        if current is None:  # no reading follows: the cached view holds the close until the next one
            self.note_leg(threatened, symbol, Side.SHORT if long_leg else Side.LONG, moved,
                          exit_price or self._entry(group, threatened), True)
        estimate = self._mark(other, symbol) or exit_price
        fees = sum((f.fees for f in fills), Decimal(0))
        records = [r for r in self.book.ledger.orders.values()
                   if r.tag == f"{tag}:{threatened}" and r.filled and r.client_id in sent]
        self.book.clear_orders(f"{tag}:{threatened}", sent)  # booked below, in the same save
        left = moved
        held: LooseLeg | None = None
        for pair in sorted(group, key=lambda p: p.id):
            part = min(pair.qty, left)
            if part <= 0:
                break
            # no price: its leg exits at its entry price (no result: pending, booked once priced) and the
            # hedge's loose leg is valued at its own entry; never at 0 (it booked the leg's value as a loss)
            own = exit_price or (pair.long_price if long_leg else pair.short_price)
            hedge = estimate or (pair.short_price if long_leg else pair.long_price)
            long_exit, short_exit = (own, hedge) if long_leg else (hedge, own)
            self.book.record_close(pair.id, qty=part, long_exit=long_exit, short_exit=short_exit,
                                   fees=fees * part / moved)
            held = self.book.add_loose(LooseLeg(other, symbol, -sign * part, hedge, pair.id, unit.key,
                                                  OUTAGE))
            left -= part
        if not exit_price:
            self._pend(records or [OrderRecord(f"{tag}:{threatened}:{self.app.now_ms}", f"{tag}:{threatened}",
                                               threatened, symbol, side, moved, filled=moved)],
                       self._entry(group, threatened))
            why = f"{why}; no price known: booked at its entry price, its result once a price is known"
        self.book.save()
        self.event(
            f"{tag}: closed {moved} {symbol} on {threatened} alone ({why}); the hedge leg "
            f"on {other} is loose ({held.qty if held else Decimal(0):+f}) and net exposure of "
            f"{symbol} is that leg until {other} closes it",
            "critical",
        )
        self.measure_exposure()
        return f"{symbol} {threatened} alone {moved}"

    @staticmethod
    def _entry(group: list[HedgePair], venue: str) -> Decimal:
        """The group's entry price of its legs on `venue`, weighted by size."""
        total = sum((p.qty for p in group), Decimal(0))
        return sum((p.qty * (p.long_price if p.long_venue == venue else p.short_price) for p in group),
                   Decimal(0)) / total

    def _pend(self, records: list[OrderRecord], entry: Decimal) -> None:
        """A lone close's fills booked at their leg's entry price: their result pending (`price_pending`)."""
        for record in records:
            self.book.add_pending(replace(record, price=entry))

    def price_pending(self) -> None:
        """Book the result of the fills booked at their leg's entry price (`_pend`) at the first fresh price
        of their venue-symbol (Risk.mark: its book, its mark, the other venues' mids), each dropped in the
        same save (so once, across a restart)."""
        for cid, record in sorted(self.book.ledger.pending.items()):
            price = self._mark(record.venue, record.symbol)
            if not price:
                continue
            sign = 1 if record.side == "closebuy" else -1  # closebuy closes a long
            pnl = sign * (price - record.price) * record.filled
            self.unplanned_pnl += pnl
            self.book.book_pending(cid, pnl)
            self.event(f"{record.tag}: {record.filled} {record.symbol} closed on {record.venue} (booked at "
                       f"its entry price {record.price:.10g}) priced at {price:.10g}: result {pnl:+.2f} USDT "
                       "booked", "warn")

    def _close_blind(self, venue: Venue, symbol: str, side: str, qty: Decimal, tag: str) -> LegFill | None:
        """A stop's close of the threatened leg where its venue's positions cannot be read while its orders
        answer (issue #17): reduce-only closes (in parts of at most the venue's maximum order size), which
        cannot open or flip a position (each closes at most what is held, or is refused), sized from the
        ledger's position there (pairs and loose legs) and measured by the venue's records of the orders,
        not by a position change
        (`Executor.close_reduce_only`; a market order, an emergency level's band unused). None (nothing
        sent): its orders do not answer either, another node's execution is journaled there, the ledger
        holds nothing of that side there, or a blind close there filled nothing and its positions have not
        been read since (the venue holds less than the ledger says: only a read can size it)."""
        key = (venue.key, symbol)
        if not self.health.can_send(venue.key) or self._blind_waits(*key) or not self._coherent(*key):
            return None
        held = self.book.ledger.held_positions().get(key, Decimal(0)) * -DIRECTION[side]
        spec = venue.specs[symbol]
        amount = floor_to_step(min(qty, held), spec.base_step)
        if amount <= 0:
            return None
        # above the venue's maximum order size in parts of at most it, in this turn, one after the other while
        # each fills whole (one part a stop, at retry_s each, left the leg to be liquidated: issue #17). Each
        # is reduce-only and measured by its own record. A part in doubt ends the parts: those before it are
        # returned to be booked now (their records say what they filled; left journaled with it, they would
        # wait for a positions read, their hedge unhedged meanwhile), it stays journaled (recovery)
        fill = LegFill(venue.key, side)
        empty = False  # the last part sent filled nothing: the venue holds less than the ledger says
        for part in order_parts(amount, spec):
            try:
                one = self.executor.close_reduce_only(venue, symbol, side, part, tag)
            except LegOutcomeUnknown as exc:
                if not fill.client_ids:
                    raise
                self.stop_openings(str(exc), {key})
                break
            empty = bool(one.client_ids) and one.filled <= 0
            fill.client_ids += one.client_ids
            fill.order_ids += one.order_ids
            fill.filled += one.filled
            fill.forward += one.forward
            fill.cost += one.cost
            fill.fees += one.fees
            if one.filled < part:
                break
        if empty:
            self._blind_empty[key] = self.app.now_ms
            self._say(venue.key, f"blind-stop:{symbol}", f"{tag}: a reduce-only close on {venue.key} "
                      f"{symbol} filled nothing while its positions cannot be read (it holds less than the "
                      "ledger says): none again until they can be read")
        return fill

    def _blind_waits(self, venue_key: str, symbol: str) -> bool:
        """A blind close there filled nothing and its positions have not been read since."""
        empty = self._blind_empty.get((venue_key, symbol))
        if empty is not None and self.executor.read_since(venue_key, symbol, empty):
            del self._blind_empty[(venue_key, symbol)]
            return False
        return empty is not None

    def _blind_spent(self, venue_key: str) -> bool:
        """Every symbol of this node's pairs on the venue failed its last positions read and waits for one
        after a blind close there filled nothing (`_blind_waits`): a stop there can send nothing."""
        symbols = {p.symbol for p in self.book.ledger.pairs.values()
                   if venue_key in (p.long_venue, p.short_venue) and self._mine(Unit.of_pair(p))}
        return bool(symbols) and all(self.executor.unreadable(venue_key, symbol)
                                     and self._blind_waits(venue_key, symbol) for symbol in symbols)

    def add_loose_leg(self, venue: str, symbol: str, signed: Decimal, price: Decimal, pair_id: int,
                      why: str, *, unit: Unit) -> None:
        """An execution of `unit` left one leg with more than its pairs (a close filled on one venue only, or
        an opening's undo did not go through): `signed` base held on `venue` beyond the ledger's pairs,
        booked at `price`. It is closed reduce-only at the next turns (`settle_loose`) by the unit's owner;
        until then it is the net exposure of the coin, and no pair opens on that venue and symbol. The
        caller saves the ledger (with the execution's booking, in the same write)."""
        leg = LooseLeg(venue, symbol, signed, price, pair_id, unit.key, EXECUTION)
        self.book.add_loose(leg)
        self._next_loose_ms.pop(leg.key, None)
        self._loose_failures.pop(leg.key, None)
        self.event(f"LOOSE LEG {symbol} {signed:+f} on {venue} at ~{price}: {why}; closing it "
                       "reduce-only", "warn")

    def book_lone_fill(self, tag: str, venue: str, symbol: str, signed: Decimal, price: Decimal, unit: Unit,
                       since_ms: int) -> None:
        """Issue #17: an opening's fill of `signed` base at `price` whose other leg is proved absent and that
        its own venue can neither trade back (it refused) nor cut (its positions cannot be read against an
        opposite ledger leg) is booked from the journal as what it did to that venue's position: it closed
        the legs of the other side that pairs (of units this node may act on) hold there (oldest first: each
        pair closed at `price` there, its other leg a loose leg on its own venue, closed reduce-only there),
        and the rest is a loose leg on `venue`, unhedged since `since_ms` (the opening's send): closed
        reduce-only when its venue takes orders, hedged on a venue that trades after outage.max_unhedged_s
        (hedge/rehedge.py). The caller clears those fills' records and saves, in one write: ledger and
        venues then agree."""
        sign = 1 if signed > 0 else -1
        left = abs(signed)
        why = f"{tag}: its unbooked fill booked from the journal ({venue} cannot trade it back or cut it)"
        for pair in sorted((p for p in self.book.ledger.pairs.values() if p.symbol == symbol
                            and (p.short_venue if sign > 0 else p.long_venue) == venue
                            and self._mine(Unit.of_pair(p))), key=lambda p: p.id):
            part = min(pair.qty, left)
            other = pair.long_venue if sign > 0 else pair.short_venue
            estimate = self._mark(other, symbol) or (pair.long_price if sign > 0 else pair.short_price)
            long_exit, short_exit = (estimate, price) if sign > 0 else (price, estimate)
            self.unplanned_pnl += self.book.record_close(pair.id, qty=part, long_exit=long_exit,
                                                         short_exit=short_exit, fees=Decimal(0))
            self._add_timed_leg(other, symbol, sign * part, estimate, pair.id, Unit.of_pair(pair), since_ms,
                                f"{why}: it closed pair #{pair.id}'s {venue} leg")
            left -= part
            if left <= 0:
                return
        self._add_timed_leg(venue, symbol, sign * left, price, 0, unit, since_ms, why)

    def _add_timed_leg(self, venue: str, symbol: str, signed: Decimal, price: Decimal, pair_id: int,
                       unit: Unit, since_ms: int, why: str) -> None:
        """A loose leg unhedged since `since_ms` (earlier if what it joins there was timed earlier)."""
        self.add_loose_leg(venue, symbol, signed, price, pair_id, why, unit=unit)
        leg = self.book.ledger.loose.get((venue, symbol, unit.key))
        if leg is not None:
            self.book.time_loose(leg.key, min(leg.since_ms or since_ms, since_ms))

    def has_loose_leg(self, venue: str, symbol: str) -> bool:
        """Any node's loose leg on the venue-symbol (a new leg there would net with it)."""
        return any(leg.venue == venue and leg.symbol == symbol for leg in self.book.ledger.loose.values())

    def settle_loose(self) -> None:
        """Close the loose legs of this node's units on venues that can trade: what an unequal execution
        left, or a leg kept through an outage once its venue is recovered. A leg is unhedged exposure, so a
        turn keeps closing while each order takes some of it (a thin book filling part of each order), up
        to LOOSE_ORDERS_PER_TURN orders; one that fills nothing waits retry_s x 2^n (at most
        LOOSE_RETRY_MAX_S, and at most outage.max_unhedged_s). Other nodes' legs are theirs (a dead node's,
        once its unit is adopted)."""
        self._consolidate_loose()
        # an execution in doubt there: its unbooked fills would read as part of the leg (recovery first);
        # anywhere else a leg is closed now, not held for as long as another venue cannot be asked
        in_doubt = {(record.venue, record.symbol) for record in self.book.ledger.orders.values()}
        for key in sorted(self.book.ledger.loose):
            if self._loose_waits(key, in_doubt):
                continue
            progress, doubted = self._close_loose(key)
            self._schedule_loose(key, progress, doubted)

    def _loose_waits(self, key: LooseKey, in_doubt: set[tuple[str, str]]) -> bool:
        """A loose leg not closed at this turn: gone, its venue recovering or out, an execution in doubt
        there, another node's, waiting for its retry, or yielding to its re-hedge (Rehedger.close_yields)."""
        first = self.book.ledger.loose.get(key)
        venue = key[0]
        if first is None or venue in self.health.recovered or not self.health.can_trade(venue):
            return True  # an outage's legs are settled by recover() first
        if (venue, key[1]) in in_doubt:
            return True
        if not self._mine_leg(first) or self.app.now_ms < self._next_loose_ms.get(key, 0):
            return True
        return self.close_yields(first)  # its re-hedge is near: no close in doubt to hold it

    def _close_loose(self, key: LooseKey) -> tuple[bool, bool]:
        """Up to LOOSE_ORDERS_PER_TURN closes of the leg while each takes some of it: (any progress, a close
        in doubt or still landing)."""
        progress = doubted = False
        for _ in range(LOOSE_ORDERS_PER_TURN):
            leg = self.book.ledger.loose.get(key)
            if leg is None:
                break
            self._settle_pending(leg, leg.qty, "loose", final=True, level="warn")
            doubted = self._landing or any((record.venue, record.symbol) == key[:2]
                                           for record in self.book.ledger.orders.values())
            left = self.book.ledger.loose.get(key)
            if left is not None and left.qty == leg.qty:
                break  # nothing taken: the venue refuses, the book is empty, or a close may still land
            progress = True
        return progress, doubted

    def _schedule_loose(self, key: LooseKey, progress: bool, doubted: bool) -> None:
        """When the leg is tried again: at once after progress, backing off while its venue refuses."""
        app = self.app
        if not progress and self._busy:  # another node is trading there: not a refusal, next turn
            return
        if doubted:
            # a close of it whose outcome is unknown (journaled: recovery settles it), or one proved
            # absent that may still land (watched): not a refusal; looked at again at the next turn, and
            # closed as soon as that close is settled, seen landed, or past the time it could land
            self._next_loose_ms.pop(key, None)
            if progress:
                self._loose_failures[key] = 0
            return
        failed = 0 if progress else self._loose_failures.get(key, 0) + 1
        self._loose_failures[key] = failed
        # the leg is unhedged: however often its venue refused, it is tried again within the outage
        # policy's bound, so that it is closed at most max_unhedged_s after the venue takes orders again
        longest = min(LOOSE_RETRY_MAX_S, app.cfg.outage.max_unhedged_s)
        wait_s = min(self.cfg.retry_s * 2 ** failed, longest) if failed else self.cfg.retry_s
        self._next_loose_ms[key] = app.now_ms + wait_s * 1000

    def _consolidate_loose(self) -> None:
        """This node's loose legs of one origin on one venue-symbol, left by different units, become one:
        two legs of one lot each cannot be closed on a book that fills half of each order, their sum can;
        and a long and a short there cancel without an order (the difference of their booked prices is
        realized)."""
        groups: dict[tuple[str, str, str], list[LooseLeg]] = {}
        for leg in self.book.ledger.loose.values():
            if self._mine_leg(leg):
                groups.setdefault((leg.venue, leg.symbol, leg.origin), []).append(leg)
        changed = False
        for legs in groups.values():
            if len(legs) < 2:
                continue
            legs.sort(key=lambda leg: leg.key)
            target = legs[0]
            for leg in legs[1:]:
                held = self.book.ledger.loose.get(target.key)
                self.book.set_loose(leg, Decimal(0))
                moved = replace(leg, unit=target.unit, pair_id=target.pair_id)
                changed = True
                if held is None:
                    self.book.add_loose(moved)
                    target = moved
                    continue
                if held.qty * leg.qty > 0:
                    target = self.book.add_loose(moved) or target  # one average price
                    continue
                # opposite: the part they share cancels; the larger keeps its booked price
                shared = min(abs(held.qty), abs(leg.qty))
                buy, sell = (held, leg) if held.qty > 0 else (leg, held)
                pnl = shared * (sell.price - buy.price)
                self.book.book_result(pnl)
                self.unplanned_pnl += pnl
                larger = held if abs(held.qty) >= abs(leg.qty) else moved
                self.book.set_loose(held, Decimal(0))
                if held.qty + leg.qty != 0:
                    self.book.add_loose(replace(larger, qty=held.qty + leg.qty))
        if changed:
            self.book.save()

    def _close_pending(self, venue: str, level: StopLevel, index: int) -> list[str]:
        """This node's loose legs on the threatened venue are closed by the same level (no hedge there)."""
        done = []
        for key, leg in sorted(self.book.ledger.loose.items()):
            if key[0] == venue and self._mine_leg(leg):
                part = leg.qty if level.close_fraction >= 1 else leg.qty * level.close_fraction
                result = self._settle_pending(leg, part, f"stop{index + 1}")
                if result:
                    done.append(result)
        return done

    def _limit(self, venue: Venue, symbol: str, side: str, band: Decimal | None) -> Decimal | None:
        if band is None or self.app.market is None:
            return None
        top = self.app.market.fresh_top(venue.key, symbol, self.app.now_ms)
        if top is None:
            return None
        buying = DIRECTION[side] > 0
        return band_price(_dec(top.ask if buying else top.bid), buying, band, venue.specs[symbol].tick)

    # --- loose legs and recovery ---
    def _settle_pending(self, leg: LooseLeg, part: Decimal, tag: str, final: bool = False,
                        level: str = "critical") -> str | None:
        """Close `part` (signed like the leg) of a loose leg of this node's and book it against the leg's
        price. final: the whole leg is being settled; what the venue no longer holds is booked as gone at
        the price the venue reports for its liquidation order, or at an unknown price (no result, a critical
        event) when it reports none (never a computed price)."""
        self._busy = self._landing = False
        venue = self.venue_or_none(leg.venue)
        if venue is None or not self.health.can_trade(leg.venue) or not self._mine_leg(leg):
            return None
        with self._single_leg(self._unit(leg), leg.venue, leg.symbol) as free:
            self._busy = not free or not self._coherent(leg.venue, leg.symbol)
            if self._busy:
                return None
            # an earlier close of it may still land: what it could take is not closed again until that one is
            # seen (and booked off the leg here) or can no longer land; what the legs there hold beyond it is
            # closed now (issue #17: a leg grown after its first close was proved absent)
            sign = 1 if leg.qty > 0 else -1
            landing = self._closes_landing(venue, leg.symbol, sign)
            self._landing = landing > 0
            now = self.book.ledger.loose.get(leg.key)  # as the shared book says now
            if now is None:
                return None
            if abs(part) > abs(now.qty):
                part = now.qty
            if landing:
                beyond = min(abs(part), self._loose_there(leg.venue, leg.symbol, sign) - landing)
                if beyond < venue.specs[leg.symbol].base_step:
                    return None
                # not final: what the venue holds less than the leg may be that close, landed unseen
                part, final = beyond * sign, False
            return self._settle_locked(venue, now, part, tag, final, level)

    def _settle_locked(self, venue: Venue, leg: LooseLeg, part: Decimal, tag: str, final: bool, level: str
                       ) -> str | None:
        current = self.executor.position(venue, leg.symbol)
        if current is None:
            return None
        sign = 1 if leg.qty > 0 else -1
        step = venue.specs[leg.symbol].base_step
        part = floor_to_step(abs(part), step) * sign
        others = sum((other.qty for other in self.book.ledger.loose.values()
                      if (other.venue, other.symbol) == (leg.venue, leg.symbol) and other.key != leg.key),
                     Decimal(0))
        expected = self.book.ledger.expected_positions().get((leg.venue, leg.symbol), Decimal(0))
        extra = current - expected - others
        held = extra if extra * sign > 0 else Decimal(0)  # what the venue holds beyond pairs and other legs
        closable = min(abs(part), abs(held)) * sign
        moved = Decimal(0)
        exit_price = self._mark(leg.venue, leg.symbol) or leg.price
        fees = Decimal(0)
        if closable:
            try:
                fills = self.executor.move_position(
                    venue, leg.symbol, current, current - closable, f"{tag}:pending"
                )
            except LegOutcomeUnknown as exc:
                self.stop_openings(str(exc), {(leg.venue, leg.symbol)})
                return None
            # only this close's orders: a loose leg's close elsewhere (same tag) may be in doubt, journaled
            self.book.clear_orders(f"{tag}:pending", {cid for fill in fills for cid in fill.client_ids})
            moved = sum((f.filled for f in fills), Decimal(0)) * sign
            if fills and fills[0].avg_price:
                exit_price = fills[0].avg_price
            fees = sum((f.fees for f in fills), Decimal(0))
        pnl = moved * (exit_price - leg.price) - fees
        vanished = Decimal(0)
        if final and abs(held) < abs(leg.qty):  # the venue holds less than the leg: liquidated meanwhile
            vanished = leg.qty - held
            liq = self._reported_liquidation(leg.venue, leg.symbol, leg.qty > 0, abs(vanished))
            if liq is None:
                self.event(f"{tag}: {vanished:+f} {leg.symbol} of the loose leg on {leg.venue} is gone and "
                          "the venue reports no liquidation order: its price is UNKNOWN, no result "
                          "booked for it (the account's equity holds the real one)", "critical")
            pnl += vanished * ((liq or leg.price) - leg.price)
        left = leg.qty - moved - vanished
        self.book.set_loose(leg, Decimal(0) if abs(left) < step else left)
        if not moved and not vanished:
            self.book.save()
            return None
        self.book.book_result(pnl, fees)
        self.book.save()
        self.unplanned_pnl += pnl
        kind = "pending" if leg.origin == OUTAGE else "loose"  # pending: it waited for its venue
        text = (
            f"{tag}: {kind} leg {leg.symbol} on {leg.venue} ({leg.qty:+f} booked at {leg.price:.2f}) closed "
            f"{moved:+f} at {exit_price}"
            + (f", {vanished:+f} no longer held (liquidated?)" if vanished else "")
            + f": unplanned {pnl:+.2f} USDT"
        )
        self.event(text, level)
        self.measure_exposure()
        return text

    def _loose_there(self, venue_key: str, symbol: str, sign: int) -> Decimal:
        """The base every node's loose legs of `sign` on venue-symbol hold (what a late close there can take
        from without reaching a pair's leg)."""
        return sum((abs(leg.qty) for leg in self.book.ledger.loose.values()
                    if (leg.venue, leg.symbol) == (venue_key, symbol) and leg.qty * sign > 0), Decimal(0))

    def _closes_landing(self, venue: Venue, symbol: str, sign: int) -> Decimal:
        """The base that orders of ours may still take from the loose legs of `sign` on venue-symbol (0:
        none; all these legs hold when one must wait for reconcile): the unfilled quantity of each order that
        may still reach venue-symbol and take from them, a timed-out order proved absent (watched) less than
        LATE_LANDING_SETTLES settle windows after its send, in the direction that reduces the leg (an
        earlier close of it, or the lagging leg of the close that left it), that the venue does not list yet
        (or whose lists cannot be read). One it lists
        as filled is booked off this node's loose legs there at the price the venue reports
        (absorb_late_close, as reconcile would) and leaves the watch; one that filled more than they hold
        holds the leg until reconcile books it (a pair's leg was taken: App._close_late_fills).
        No pair holding that side there, on a venue whose closes carry its reduce-only flag (ORDER_OPTIONS),
        nothing waits: a late landing can then take only what is loose, never a pair's leg (the venue cuts a
        reduce-only order to the position), and what it takes is booked as above."""
        app = self.app
        horizon = LATE_LANDING_SETTLES * self.executor.settle_ms(venue.key)
        doubt = {cid: record for cid, record in self.book.ledger.watch.items()
                 if (record.venue, record.symbol) == (venue.key, symbol) and DIRECTION[record.side] * sign < 0
                 and app.now_ms < record.sent_ms + horizon}
        if not doubt:
            return Decimal(0)
        shown = self.executor.late_fills(venue, symbol, doubt)
        waiting = Decimal(0)
        for cid, record in sorted(doubt.items()):
            if cid not in shown:
                waiting += max(record.qty - record.filled, Decimal(0))  # may still land
                continue
            filled, price = shown[cid]
            if not filled:
                continue  # landed and took nothing: it can take nothing more
            mine = sum((abs(leg.qty) for leg in self.book.ledger.loose.values()
                        if (leg.venue, leg.symbol) == (venue.key, symbol) and leg.qty * sign > 0
                        and self._mine_leg(leg)), Decimal(0))
            price = price or self._mark(venue.key, symbol) or Decimal(0)
            if filled > mine or not price:
                waiting += max(filled, self._loose_there(venue.key, symbol, sign))  # they wait for reconcile
                continue
            why = f"our order {cid} ({record.tag}) that reached {venue.key} late"
            self.absorb_late_close(venue.key, symbol, DIRECTION[record.side] * filled, price, why)
            self.book.unwatch(cid)
            self.book.save()
        if waiting and ORDER_OPTIONS[venue.key][2] and not (
                self.book.ledger.expected_positions().get((venue.key, symbol), Decimal(0)) * sign > 0):
            return Decimal(0)
        return waiting

    def _reported_liquidation(self, venue_key: str, symbol: str, long_leg: bool, base: Decimal
                              ) -> Decimal | None:
        """The price venue_key reports for the liquidation (or ADL) orders that closed our leg there, read
        from the oldest pair's open there on (every page: a busy spell pushes them off the newest; and the
        newest page when the pages from the open do not reach it)."""
        venue = self.venue_or_none(venue_key)
        if venue is None or symbol not in venue.specs:
            return None
        ledger = self.book.ledger
        opened = [p.opened_ms for p in ledger.pairs.values()
                  if p.symbol == symbol and venue_key in (p.long_venue, p.short_venue)]
        opened += [leg.since_ms for leg in ledger.loose.values()
                   if (leg.venue, leg.symbol) == (venue_key, symbol) and leg.since_ms]
        orders = evidence_since(venue.exchange, swap_symbol(symbol), min(opened, default=0), venue_key)
        return reported_price(venue_key, orders, long_leg, base, venue.specs[symbol].ct_val)

    def recover(self, venue_key: str) -> bool:
        """A venue is back: settle this node's loose legs there, then close the equal quantity of any leg
        that vanished there (liquidated while unreachable) on the hedging venues. False = try again later.
        In a cluster each node does this for its own units (the share of what vanished that falls on them)."""
        venue = self.venue_or_none(venue_key)
        if venue is None or not self.health.can_trade(venue_key):
            return False
        if not self._settle_loose_on(venue_key):
            return False
        found = self._settled_positions(venue)
        if found is None:
            return False
        held = self.book.ledger.held_positions()
        for symbol, position in found.items():
            expected = held.get((venue_key, symbol), Decimal(0))
            if expected == 0 or position * expected < 0 or abs(position) >= abs(expected):
                self._waits_said = {k: v for k, v in self._waits_said.items() if k[:2] != (venue_key, symbol)}
                continue  # sound, or a difference reconcile must name (more than expected, flipped)
            self._vanished(venue_key, symbol, abs(expected) - abs(position), position)
        return True

    def _settle_loose_on(self, venue_key: str) -> bool:
        """Close this node's loose legs on the venue; False while any is left."""
        for key, leg in sorted(self.book.ledger.loose.items()):
            if key[0] == venue_key and self._mine_leg(leg):
                self._settle_pending(leg, leg.qty, "recover", final=True)
        legs = self.book.ledger.loose.values()
        return not any(leg.venue == venue_key and self._mine_leg(leg) for leg in legs)

    def _settled_positions(self, venue: Venue) -> dict[str, Decimal] | None:
        """The venue's position per symbol, read while no other node wrote the shared ledger and none is
        between the legs of an execution there; None = read again at the next turn."""
        coordinator = self.coordinator
        mark = self.book.refresh() if coordinator.shared else None
        found: dict[str, Decimal] = {}
        for symbol in sorted(venue.specs):
            position = self.executor.position(venue, symbol)
            if position is None:
                return None
            found[symbol] = position
        if coordinator.shared and coordinator.reachable and not coordinator.stable(mark):
            return None  # another node wrote while the venue was read: again at the next turn
        busy = coordinator.busy_keys()
        if any((venue.key, symbol) in busy for symbol in found):
            return None  # another node is between the legs of an execution there
        return found

    def absorb_late_close(self, venue_key: str, symbol: str, signed: Decimal, price: Decimal, why: str
                          ) -> Decimal:
        """Our own close that reached venue_key late moved its position by `signed` base. What this node holds
        loose there on the side it reduces (the leg an unfinished close left, whose own reduce-only closes
        may still be in the air) is what it closed: book that part of the leg at the price the venue reports,
        trading nothing. Returns the base absorbed (the rest took a pair's leg: its hedge is closed)."""
        absorbed = Decimal(0)
        for _key, leg in sorted(self.book.ledger.loose.items()):
            left = abs(signed) - absorbed
            if left <= 0:
                break
            if (leg.venue, leg.symbol) != (venue_key, symbol) or leg.qty * signed >= 0:
                continue
            if not self._mine_leg(leg):
                continue
            part = min(left, abs(leg.qty))
            sign = 1 if leg.qty > 0 else -1
            pnl = part * sign * (price - leg.price)
            self.book.set_loose(leg, leg.qty - part * sign)
            self.book.book_result(pnl, Decimal(0))
            self.book.save()
            self.unplanned_pnl += pnl
            absorbed += part
            self.event(f"late: loose leg {symbol} on {venue_key} ({leg.qty:+f} booked at "
                           f"{leg.price:.2f}) closed {part * sign:+f} at {price} by {why}: "
                           f"unplanned {pnl:+.2f} USDT", "warn")
        return absorbed

    def book_late_pair_close(self, venue_key: str, symbol: str, signed: Decimal, price: Decimal,
                             fees: Decimal, why: str) -> Decimal:
        """Our own close that reached venue_key late moved its position by `signed` base beyond the loose
        legs it closed there: it closed that much of the pairs' legs there, as a close of them (a stop's
        top-up, a stop re-fired while its first close was on its way). Booked as that, at once: the pairs
        holding that side there closed newest first (as a vanished leg is laid, the same on every node) at
        `price` there, each one's leg on its other venue a loose leg from now, closed reduce-only by this
        turn's settle_loose, backing off while that venue refuses, hedged elsewhere after
        outage.max_unhedged_s (hedge/rehedge.py). Before, it was hedged as a vanished leg: a hedge close
        refused left the pair booked open (ledger != venue) and was sent again at every look (issue #17: 52
        refused closes on bybit, 0.037 BTC unhedged). Only this node's pairs; returns the base booked."""
        sign = 1 if signed > 0 else -1  # a buy closed shorts there, a sell longs
        total = left = abs(signed)
        booked = Decimal(0)
        now = self.app.now_ms
        for pair in sorted((p for p in self.book.ledger.pairs.values() if p.symbol == symbol
                            and (p.short_venue if sign > 0 else p.long_venue) == venue_key),
                           key=lambda p: -p.id):
            if left <= 0:
                break
            if not self._mine(Unit.of_pair(pair)):
                left -= min(pair.qty, left)  # laid on it all the same: its owner books that share
                continue
            part = min(pair.qty, left)
            other = pair.long_venue if sign > 0 else pair.short_venue
            # the hedge leg left loose is closed on its venue's grid: the pair closes by the step above there
            # and what venue_key then holds of it beyond the pair is a loose leg there (as _close_vanished)
            closed = min(ceil_to_step(part, self.venue(other).specs[symbol].base_step), pair.qty)
            estimate = self._mark(other, symbol) or (pair.long_price if sign > 0 else pair.short_price)
            long_exit, short_exit = (estimate, price) if sign > 0 else (price, estimate)
            self.unplanned_pnl += self.book.record_close(pair.id, qty=closed, long_exit=long_exit,
                                                         short_exit=short_exit, fees=fees * part / total)
            unit = Unit.of_pair(pair)
            self._add_timed_leg(other, symbol, sign * closed, estimate, pair.id, unit, now,
                                f"{why} closed {part} of pair #{pair.id}'s {venue_key} leg")
            if closed > part:
                self._add_timed_leg(venue_key, symbol, -sign * (closed - part), price, pair.id, unit, now,
                                    f"{why}: {other} closes {closed} (its step) for {part}")
            left -= part
            booked += part
        if booked:
            self.book.save()
            self.measure_exposure()
        return booked

    def _vanished(self, venue_key: str, symbol: str, missing: Decimal, found: Decimal,
                  closed_by: tuple[Decimal, str] | None = None) -> None:
        """`missing` base of the pairs' legs on venue_key is gone: close the same quantity on the hedging
        legs. What vanished is laid on the pairs newest first (the same on every node of a cluster, which
        all read the one shared ledger); this node closes the shares that fall on its own units.
        closed_by: (price, why) when we know what closed it (our own order that reached the venue late)."""
        long_leg = self.book.ledger.held_positions().get((venue_key, symbol), Decimal(0)) > 0
        liq: Decimal | None
        if closed_by is not None:
            liq, source = closed_by
        else:
            liq = self._reported_liquidation(venue_key, symbol, long_leg, missing)
            source = ("the price the venue reports for its liquidation order" if liq is not None else
                      "price UNKNOWN: the venue reports no liquidation order, so no result is booked for the "
                      "gone leg (booked at its entry price); the account's equity holds the real one")
        shares: list[tuple[HedgePair, Decimal]] = []
        left = missing
        for pair in sorted((p for p in self.book.ledger.pairs.values()
                            if p.symbol == symbol and venue_key in (p.long_venue, p.short_venue)),
                           key=lambda p: -p.id):
            if left <= 0:
                break
            shares.append((pair, min(pair.qty, left)))
            left -= shares[-1][1]
        mine = [(pair, part) for pair, part in shares if self._mine(Unit.of_pair(pair))]
        others = ", ".join(f"#{pair.id}" for pair, part in shares if (pair, part) not in mine)
        said = (venue_key, symbol, "vanished")
        if not mine:
            self._say_wait(said, f"others {found} {missing}",
                           f"recover {venue_key}: {symbol} holds {found:+f}, {missing} less than the pairs; "
                           f"the pairs that lost it ({others}) are in units other nodes hold: their owners "
                           "close them", "warn")
            return
        self._say_wait(
            said, f"mine {found} {missing} {liq}",
            f"recover {venue_key}: {symbol} holds {found:+f}, {missing} less than the pairs; the legs "
            f"were liquidated, auto-deleveraged or closed on {venue_key} without us (booked at "
            f"{'its entry price' if liq is None else f'{liq:.2f}'}, {source}); "
            "closing the same quantity on the hedging venues"
            + (f" (pairs {others} are in other nodes' units: their owners close them)" if others else ""),
            "critical")
        stuck: set[str] = set()  # hedging venues that cannot take an order now: their other pairs wait too
        for pair, part in mine:
            other_key = pair.short_venue if pair.long_venue == venue_key else pair.long_venue
            if other_key in stuck:
                continue
            if self._close_vanished(venue_key, symbol, pair, part, liq) is None:
                stuck.add(other_key)
        self.book.save()
        self.measure_exposure()

    def _close_vanished(self, venue_key: str, symbol: str, pair: HedgePair, part: Decimal,
                        liq: Decimal | None) -> Decimal | None:
        """`part` of the pair's leg on venue_key is gone (at `liq`): the pair is booked closed by as much (by
        the hedge venue's step above it) and its leg on the other venue is a loose leg from now, closed
        reduce-only at once as a loose leg is (`settle_loose`: order after order while each fills some of
        it, up to LOOSE_ORDERS_PER_TURN; a close in doubt journaled for recovery; backing off while that
        venue refuses; re-hedged on another venue after outage.max_unhedged_s, hedge/rehedge.py). Returns
        the base booked gone (0: the hedge holds nothing to close); None when that venue trades but its
        position cannot be read now: the pair waits for the next look. A venue that cannot trade (down) is
        booked as one that refuses (its position as read, else as the ledger has it: _vanished_unread) only
        as `_rehedge_unread` allows (venue_key's evidence of why the leg vanished, the down venue outside its
        stop levels); otherwise nothing is traded from the ledger's belief and the pair waits (None)."""
        other_key = pair.short_venue if pair.long_venue == venue_key else pair.long_venue
        other = self.venue(other_key)
        current = self.executor.position(other, symbol)
        trades = self.health.can_trade(other_key)
        if current is None and trades:
            self._say_wait((venue_key, symbol, f"#{pair.id}"), "unread",
                           f"recover {venue_key}: {other_key}'s {symbol} position cannot be read; the hedge "
                           f"of pair #{pair.id} stays open until the next look", "error")
            return None
        if current is None and not self._rehedge_unread(venue_key, symbol, pair, liq):
            return None
        other_sign = 1 if pair.long_venue == other_key else -1
        # What vanished is on venue_key's grid; the hedge trades on its own (Binance ETH 0.001 vs OKX 0.01):
        # the step above it, and the pair closes by as much; what venue_key then holds beyond the pair (less
        # than one of the hedge's steps) is a loose leg there, closed reduce-only on its own finer grid. So
        # the ledger says exactly what each venue holds.
        order = min(ceil_to_step(part, other.specs[symbol].base_step), pair.qty)
        if current is None:  # down: what the ledger holds there of the pair is loose (see _vanished_unread)
            available = self._vanished_unread(venue_key, symbol, pair, order)
        else:
            available = abs(current) if current * other_sign > 0 else Decimal(0)
        if available < order:  # the hedge shrank too (ADL, liquidation): only what is there is left loose
            self.event(f"recover {venue_key}: {other_key} holds {current:+f} {symbol}, less than the {order} "
                      f"to close for pair #{pair.id}; {available} of it left loose, closed reduce-only, the "
                      "rest gone there too (booked at its entry price)", "error")
        if part <= 0:
            return Decimal(0)
        self._loosen_vanished_hedge(venue_key, symbol, pair, (part, order, min(available, order)), liq)
        self._close_loose_now((other_key, symbol, Unit.of_pair(pair).key))
        return part

    def _rehedge_unread(self, venue_key: str, symbol: str, pair: HedgePair, liq: Decimal | None) -> bool:
        """The hedge venue of a leg that vanished is down: may its hedge be booked loose from the ledger (so
        re-hedged elsewhere, _vanished_unread)? Only with venue_key's evidence of why the leg vanished (`liq`:
        its liquidation/ADL order, or our own late close), and only while the down venue, as last read and
        valued at the freshest marks, is within none of its stop levels (`due_level`: farther from
        liquidation than the first, leverage under the ceiling, not blind). Without evidence both legs may
        have gone the same way (closed by hand on both while we reached neither); a leg near liquidation on a
        venue we cannot read is the likely one to be taken too. Re-hedging a leg its venue took meanwhile
        doubles the exposure until that venue is back; so otherwise nothing is traded from the ledger's
        belief and the pair waits for the venue, as before d708150 (reconcile names it, openings held)."""
        other_key = pair.short_venue if pair.long_venue == venue_key else pair.long_venue
        kind = "no evidence"
        if liq is None:
            why = f"without {venue_key}'s liquidation/ADL order (its hedge may be gone too: closed by hand?)"
        else:
            kind = "within its stop levels"
            view = self.remark(other_key)
            nearest = view.nearest if view is not None else None
            if view is not None and nearest is not None and self.due_level(view) is None:
                return True
            seen = "an unknown distance" if nearest is None else f"{nearest[1]:.1f} %"
            why = f"and {other_key} was last seen {seen} from liquidation, within its stop levels: may go too"
        self._say_wait((venue_key, symbol, f"#{pair.id}"), kind,
                       f"recover {venue_key}: {symbol} leg of pair #{pair.id} gone {why}; {other_key} cannot "
                       f"be read: nothing traded from the ledger, the pair waits for {other_key}", "error")
        return False

    def _vanished_unread(self, venue_key: str, symbol: str, pair: HedgePair, order: Decimal) -> Decimal:
        """The hedge venue is down (issue #17): its position cannot be read, so what the ledger holds there of
        the pair (`order`) is booked loose, and is re-hedged on a venue that trades after
        outage.max_unhedged_s (before: the pair waited, unhedged for the whole outage); only as
        `_rehedge_unread` allows. Nothing of ours can close that leg meanwhile (no order is sent to a venue
        that cannot trade; one in doubt there holds the re-hedge back, Rehedger._pending); what the venue
        itself takes during the outage (a liquidation, an ADL, a hand close) is NOT seen until it is back: the
        re-hedge then doubles the exposure for the rest of the outage, up to the leg's size. No policy can
        close that path: while the venue cannot be read the bot sees the same whether it kept the leg or not,
        and any quantity held re-hedged leaves at least the leg unhedged in one of the two
        (tests/hedge/test_vanished_hedge.py); re-hedging serves the likely one (`_rehedge_unread`: evidence
        for what vanished, the hedge outside its stop levels). Once back, recovery finds the leg short and
        closes its hedge as here (within a positions check and two settle windows)."""
        other_key = pair.short_venue if pair.long_venue == venue_key else pair.long_venue
        self.event(f"recover {venue_key}: {other_key} cannot trade, its {symbol} position unreadable; pair "
                   f"#{pair.id}'s hedge of what vanished ({order}) is booked loose there as the ledger has "
                   "it, re-hedged elsewhere after outage.max_unhedged_s", "error")
        return order

    def _close_loose_now(self, key: LooseKey) -> None:
        """One loose leg closed in this call as settle_loose would (unless it must wait)."""
        in_doubt = {(record.venue, record.symbol) for record in self.book.ledger.orders.values()}
        if self._loose_waits(key, in_doubt):
            return
        progress, doubted = self._close_loose(key)
        self._schedule_loose(key, progress, doubted)

    def _loosen_vanished_hedge(self, venue_key: str, symbol: str, pair: HedgePair,
                               sizes: tuple[Decimal, Decimal, Decimal], liq: Decimal | None) -> None:
        """Book `gone` base of the pair's venue_key leg vanished (at `liq`, else at its entry price): the pair
        closed by `order`, the step above it on the hedge venue; `held` of the hedge (what that venue still
        holds of it) a loose leg there from now, what venue_key holds beyond the pair of that step a loose
        leg on venue_key: ledger = venues at once. Before, the hedge was closed first and the pair booked only
        for what filled: a close its venue refused left the pair booked open (ledger != venue) and was sent
        again at every look, with no back-off and no bound in time (an ADL with bybit refusing for 600 s: 19
        refused closes, half the pair unhedged throughout); a loose leg backs off while its venue refuses and
        is re-hedged elsewhere after outage.max_unhedged_s (hedge/rehedge.py)."""
        gone, order, held = sizes  # vanished on venue_key, the pair's close, the hedge venue's loose leg
        other_key = pair.short_venue if pair.long_venue == venue_key else pair.long_venue
        other_sign = 1 if pair.long_venue == other_key else -1
        entry = pair.long_price if other_sign > 0 else pair.short_price
        gone_at = liq if liq is not None else (pair.short_price if other_sign > 0 else pair.long_price)
        estimate = self._mark(other_key, symbol) or entry
        hedge_exit = (held * estimate + (order - held) * entry) / order
        long_exit, short_exit = (hedge_exit, gone_at) if other_sign > 0 else (gone_at, hedge_exit)
        unit, now = Unit.of_pair(pair), self.app.now_ms
        pnl = self.book.record_close(pair.id, qty=order, long_exit=long_exit, short_exit=short_exit,
                                     fees=Decimal(0))
        self.unplanned_pnl += pnl
        if held > 0:
            self._add_timed_leg(other_key, symbol, other_sign * held, estimate, pair.id, unit, now,
                                f"recover {venue_key}: pair #{pair.id}'s {venue_key} leg vanished, its hedge "
                                f"on {other_key} left loose")
        if order > gone:
            self._add_timed_leg(venue_key, symbol, -other_sign * (order - gone), gone_at, pair.id, unit, now,
                                f"recover {venue_key}: {other_key} closes {order} (its step) for {gone} gone")
        self.book.save()
        self.event(f"recover {venue_key}: pair #{pair.id} {symbol} {order} closed ({other_key} leg {held} a "
                   f"loose leg there at ~{estimate}, {venue_key} leg gone at "
                   + ("an UNKNOWN price, not booked" if liq is None else f"{liq:.2f} as the venue reports")
                   + f"): unplanned {pnl:+.2f} USDT", "critical")

    # --- unhedged legs of an execution in doubt (outage.max_unhedged_s / max_unhedged_usdt) ---
    def bound_unhedged(self) -> None:
        """An opening whose orders have not all settled (one leg's outcome unknown: typically its venue died
        between the two legs) leaves what filled on the venues that answered unhedged for as long as the
        other cannot be asked. Once it has been so for outage.max_unhedged_s, or at once when its notional
        is above outage.max_unhedged_usdt, it is cut on its own venue back to the ledger's position there
        (`_cut_unhedged`: reduce-only, or across zero only to restore other pairs' legs the opening netted).
        The cut is journaled under UNHEDGED_CUT + the opening's tag: recovery nets it with the opening, so
        when the other venue answers, its leg is traded back if it filled after all; nothing is cut twice.
        An opening whose orders have all settled is bounded the same way while recovery cannot book it
        (`_bound_settled`: a positions read fails)."""
        groups: dict[str, list[OrderRecord]] = {}
        for record in self.book.ledger.orders.values():
            tag = record.tag.removeprefix(UNHEDGED_CUT)
            if tag.startswith(OPENING_TAG):
                groups.setdefault(tag, []).append(record)
        for tag in [t for t in self._unhedged_since if t not in groups]:
            del self._unhedged_since[tag]
        self.unhedged = {tag: text for tag, text in self.unhedged.items() if tag in groups}
        for tag, records in sorted(groups.items()):
            if not all(r.terminal for r in records):
                self._bound_unhedged(tag, records)
            else:  # all settled: recovery books it at this turn, unless it cannot read the positions
                self._bound_settled(tag, records)

    def _bound_settled(self, tag: str, records: list[OrderRecord]) -> None:
        """Issue #17: an opening whose orders are all settled is booked by recovery, which reads the positions
        of the venues they moved. While one of them cannot be read, what the journal proves unhedged (the
        legs' fills by client id, net of earlier cuts: okx filled 0.01 of binance's 0.02) stays open: once
        for outage.max_unhedged_s since it was sent, it is cut on the venues holding the excess, reduce-only
        (`_cut_unhedged`), journaled with the opening so that recovery nets it. Recovery trading back (its
        own orders journaled) has read the positions: left to it."""
        if any(r.tag.startswith(RECOVERY_TAG) and not r.tag.startswith(UNHEDGED_CUT)
               for r in self.book.ledger.orders.values()):
            return
        net: dict[tuple[str, str], Decimal] = {}
        for record in records:
            key = (record.venue, record.symbol)
            net[key] = net.get(key, Decimal(0)) + DIRECTION[record.side] * record.filled
        exposure: dict[str, Decimal] = {}
        for (_venue, symbol), qty in net.items():
            exposure[symbol] = exposure.get(symbol, Decimal(0)) + qty
        cuts = self._settled_cuts(net, exposure)
        if not cuts:
            self._unhedged_since.pop(tag, None)
            self.unhedged.pop(tag, None)
            return
        now = self.app.now_ms
        since = self._unhedged_from(tag, records, now)
        legs = ", ".join(f"{qty:+f} {symbol} on {venue}" for (venue, symbol), qty in sorted(cuts.items()))
        self.unhedged[tag] = f"{legs} (settled, not booked yet) for {(now - since) // 1000} s"
        if now - since < self.app.cfg.outage.max_unhedged_s * 1000:
            return
        why = (f"settled, not booked by recovery (a positions read fails) for {(now - since) // 1000} s >= "
               f"outage.max_unhedged_s {self.app.cfg.outage.max_unhedged_s}")
        unit = self.coordinator.unit_of_order(records[0].client_id)
        if self._book_settled(tag, records, net, cuts, unit, since):
            return
        for (venue_key, symbol), qty in sorted(cuts.items()):
            proved = net[(venue_key, symbol)]
            if not self._cut_unhedged(tag, venue_key, symbol, qty, unit, why, proved=proved):
                return

    def _book_settled(self, tag: str, records: list[OrderRecord], net: dict[tuple[str, str], Decimal],
                      cuts: dict[tuple[str, str], Decimal], unit: Unit | None, since: int) -> bool:
        """Issue #17: a venue holding a cut whose positions cannot be read while the ledger holds a leg of
        the other side there (no blind reduce-only cut: `_blind_current`) cannot act on the fill, and the
        venues that read and trade were never used. The whole settled opening is then booked from the
        journal, each venue-symbol's proved fill as what it did there (`book_lone_fill`: the opposite pair
        legs it closed, their hedges loose legs closed on their own venues, the rest loose), its records
        cleared in the same write, each fill at the average price the venue reports for it, else a fresh
        price (`price`), never 0 (PnL and NAV). True when booked, or when it waits for a price (nothing is
        booked or cut meanwhile; again at a later turn)."""
        blind = [(key, qty) for key, qty in sorted(cuts.items()) if self._cannot_cut_blind(key, net[key])]
        if not blind or not self._mine(unit):
            return False
        prices = {key: average_fill([r for r in records if (r.venue, r.symbol) == key], moved)
                  or self._mark(*key) for key, moved in net.items() if moved}
        unpriced = sorted(f"{venue} {symbol}" for (venue, symbol), price in prices.items() if not price)
        if unpriced:  # never booked at 0 (PnL and NAV): at a later turn, once a fresh price is known
            self._say(tag, "unpriced", f"{tag}: the settled opening is not booked from the journal yet: no "
                      f"average price reported and no fresh price known for {', '.join(unpriced)}")
            return True
        for (venue_key, symbol), price in sorted(prices.items()):
            if price:  # all are (unpriced above)
                self.book_lone_fill(tag, venue_key, symbol, net[(venue_key, symbol)], price,
                                    unit or opening_unit(records, symbol), since)
        for record_tag in sorted({r.tag for r in records}):
            self.book.clear_orders(record_tag, {r.client_id for r in records if r.tag == record_tag})
        self.book.save()
        legs = ", ".join(f"{qty:+f} {symbol} on {venue}" for (venue, symbol), qty in blind)
        self.event(f"{tag}: {legs} unhedged, its positions unreadable and the ledger holding the other side "
                   "there (no blind cut): the settled opening is booked from the journal, what it left "
                   "unhedged closed on the venues that trade", "critical")
        self.measure_exposure()
        return True

    def _cannot_cut_blind(self, key: tuple[str, str], proved: Decimal) -> bool:
        venue = self.venue_or_none(key[0])
        held = self.book.ledger.held_positions().get(key, Decimal(0))
        return venue is not None and held * proved < 0 and self.executor.position(venue, key[1]) is None

    def _settled_cuts(self, net: dict[tuple[str, str], Decimal], exposure: dict[str, Decimal]
                      ) -> dict[tuple[str, str], Decimal]:
        """What to cut per venue-symbol (signed, as it filled): each symbol's net exposure, taken from the
        venues whose fills have its sign and that can trade; a venue with less than a step of it, nothing."""
        cuts: dict[tuple[str, str], Decimal] = {}
        for (venue_key, symbol), qty in sorted(net.items()):
            left = exposure[symbol]
            venue = self.venue_or_none(venue_key)
            if qty * left <= 0 or venue is None or not self.health.can_trade(venue_key):
                continue
            part = min(abs(qty), abs(left)) * (1 if left > 0 else -1)
            if floor_to_step(abs(part), venue.specs[symbol].base_step) > 0:
                cuts[(venue_key, symbol)] = part
                exposure[symbol] = left - part
        return cuts

    def _unhedged_from(self, tag: str, records: list[OrderRecord], now: int) -> int:
        """When an execution's exposure began to count: its first order's send, kept from the first look."""
        first = min((r.sent_ms for r in records if r.sent_ms), default=now)
        return self._unhedged_since.setdefault(tag, first)

    def _bound_unhedged(self, tag: str, records: list[OrderRecord]) -> None:
        app = self.app
        unit = self.coordinator.unit_of_order(records[0].client_id)
        # an order on a venue that answers is settled now: one sent after the dying venue's was never settled
        # (that venue's settle raised first), and recovery stops at the dying venue's record
        records = [self._settled(record, unit) for record in records]
        doubt = {(r.venue, r.symbol) for r in records if not r.terminal}
        if not doubt:  # all settled now: recovery trades the opening back (reconcile, soon)
            self._unhedged_since.pop(tag, None)
            return
        held: dict[tuple[str, str], Decimal] = {}
        for record in records:
            key = (record.venue, record.symbol)
            if key not in doubt and self.health.can_trade(record.venue):
                held[key] = held.get(key, Decimal(0)) + DIRECTION[record.side] * record.filled
        held = {key: qty for key, qty in held.items() if qty}
        if not held:
            self._unhedged_since.pop(tag, None)
            self.unhedged.pop(tag, None)
            return
        now = app.now_ms
        since = self._unhedged_from(tag, records, now)
        notional, unvalued = self._unhedged_value(held)
        limits = app.cfg.outage
        legs = ", ".join(f"{qty:+f} {symbol} on {venue}" for (venue, symbol), qty in sorted(held.items()))
        value = f"UNVALUED: no fresh price for {unvalued}" if unvalued else f"{notional:.0f} USDT"
        self.unhedged[tag] = f"{legs} ({value}) for {(now - since) // 1000} s"
        above = (f"no fresh price for {unvalued}: counted above outage.max_unhedged_usdt "
                 f"{limits.max_unhedged_usdt}" if unvalued else
                 f"{notional:.0f} USDT > outage.max_unhedged_usdt {limits.max_unhedged_usdt}"
                 if notional > limits.max_unhedged_usdt else "")
        if not above and now - since < limits.max_unhedged_s * 1000:
            return
        why = above or (f"unhedged for {(now - since) // 1000} s >= outage.max_unhedged_s "
                        f"{limits.max_unhedged_s}")
        for (venue_key, symbol), qty in sorted(held.items()):
            if not self._cut_unhedged(tag, venue_key, symbol, qty, unit, why):
                return

    def _unhedged_value(self, held: dict[tuple[str, str], Decimal]) -> tuple[Decimal, str]:
        """The notional of an execution's unhedged legs at their fresh prices, and the venue-symbols nothing
        fresh prices ("" when none): a leg that cannot be valued counts above outage.max_unhedged_usdt (#17
        seq 1: at what it could have reached); valued at 0 it waited max_unhedged_s whatever its size."""
        marks = {key: self._mark(*key) for key in held}
        notional = sum((abs(qty) * (marks[key] or Decimal(0)) for key, qty in held.items()), Decimal(0))
        return notional, ", ".join(f"{venue} {symbol}" for (venue, symbol), mark in sorted(marks.items())
                                   if not mark)

    def _blind_refused(self, tag: str, venue_key: str, symbol: str) -> bool:
        """A cut sent there without a positions read filled nothing (refused: the venue holds less than the
        journal proves, which only a read can size): none again until the positions can be read."""
        cuts = [r for r in self.book.ledger.orders.values()
                if r.tag == UNHEDGED_CUT + tag and (r.venue, r.symbol) == (venue_key, symbol)]
        if not any(r.terminal and not r.filled for r in cuts):
            return False
        self._say(venue_key, f"blind-refused:{tag}", f"{tag}: a reduce-only cut on {venue_key} {symbol} "
                  "filled nothing (the venue holds less than the journal proves): not sent again until its "
                  "positions can be read")
        return True

    def _blind_current(self, venue_key: str, symbol: str, proved: Decimal) -> Decimal | None:
        """The position a venue that cannot be read holds by the ledger and the journal's proved fills there,
        when cutting `proved` back to the ledger's position is a reduction only (the ledger holds nothing
        there or a leg of the same sign): the cut then goes out as reduce-only closes, which cannot open or
        flip a position (a reduce-only close of 0.02 where 0.01 is held closes 0.01 or is refused). Else
        None: no cut without a read."""
        held = self.book.ledger.held_positions().get((venue_key, symbol), Decimal(0))
        if held * proved < 0:
            self._say(venue_key, f"blind:{symbol}", f"{venue_key} {symbol} positions unreadable and the "
                      f"ledger holds {held:+f} there against the unhedged {proved:+f}: a cut would open, not "
                      "reduce; none until the positions can be read")
            return None
        self._say(venue_key, f"blind:{symbol}", f"{venue_key} {symbol} positions unreadable: the unhedged "
                  f"cut is sized from the journal's proved fills ({proved:+f}), reduce-only")
        return held + proved

    def _settled(self, record: OrderRecord, unit: Unit | None) -> OrderRecord:
        """The record after one lookup when its venue answers (journaled by the executor), else as it is. One
        lookup, no settle wait: this runs every turn, before the stops (absence is proved over turns)."""
        venue = self.venue_or_none(record.venue)
        if record.terminal or venue is None or not self.health.can_trade(record.venue):
            return record
        if not self._mine(unit):
            return record
        return self.executor.resolve(venue, record)

    def _cut_unhedged(self, tag: str, venue_key: str, symbol: str, qty: Decimal, unit: Unit | None,
                      why: str, proved: Decimal | None = None) -> bool:
        """Cut `qty` (signed, what the opening filled there) on the venue, back towards the ledger's position
        there and never beyond it: reduce-only, or across zero only when the opening had crossed it (what it
        closed of other pairs' legs is their hedge, restored). proved: what the journal proves the opening's
        settled orders (net of cuts) moved there; with it, a venue whose positions cannot be read is cut all
        the same when the cut is a reduction by the ledger's position there (`_blind_current`). False: stop
        here (an order in doubt halted the book)."""
        venue = self.venue_or_none(venue_key)
        if venue is None or not self._mine(unit):
            return True
        with self._single_leg(unit, venue_key, symbol) as free:
            if not free or not self._coherent(venue_key, symbol):
                return True
            current = self.executor.position(venue, symbol)
            blind = current is None and proved is not None
            if blind and self._blind_refused(tag, venue_key, symbol):
                return True
            if current is None and proved is not None:
                current = self._blind_current(venue_key, symbol, proved)
            if current is None:
                return True
            sign = 1 if qty > 0 else -1
            excess = (current - self.book.ledger.held_positions().get((venue_key, symbol), Decimal(0))) * sign
            amount = floor_to_step(min(abs(qty), excess), venue.specs[symbol].base_step)
            if amount <= 0:
                self._say(venue_key, f"uncut:{tag}", f"{tag}: {qty:+f} {symbol} on {venue_key} is unhedged "
                          f"({why}) but the venue holds {current:+f}, not more than the ledger's pairs and "
                          "loose legs there: nothing to cut")
                return True
            try:
                side = "closebuy" if sign > 0 else "closesell"  # blind: reduce-only, sized from the journal
                fills = ([self.executor.close_reduce_only(venue, symbol, side, amount, UNHEDGED_CUT + tag)]
                         if blind else
                         self.executor.move_position(venue, symbol, current, current - sign * amount,
                                                     UNHEDGED_CUT + tag))
            except LegOutcomeUnknown as exc:
                self.stop_openings(str(exc), {(venue_key, symbol)})
                return False
        self.book.save()  # the cut's orders stay journaled: recovery nets them with the opening
        moved = sum((f.filled for f in fills), Decimal(0))
        price = fills[0].avg_price if fills and fills[0].avg_price else None
        other = "the other leg is in doubt" if proved is None else "its hedge is settled but not booked"
        self.event(f"{tag}: {qty:+f} {symbol} filled on {venue_key} while {other}; {why}: "
                  f"cut {-sign * moved:+f} reduce-only" + (f" at {price}" if price else "")
                  + ("" if moved == amount else f" (of {amount}; the rest at the next turn)"), "critical")
        self.measure_exposure()
        return True

    def pending_positions(self) -> dict[tuple[str, str], Decimal]:
        """Signed base the loose legs hold per (venue, symbol), every unit's."""
        return self.book.ledger.loose_positions()
