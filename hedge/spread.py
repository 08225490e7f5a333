"""The spread rule: where to open a pair and which pairs to close, returned as intents (hedge/intents.py).

`Spread.scan` finds the best venue pair of a symbol on fresh tops (hedge/opportunity.py) and, when its edge
clears open_threshold_bps and the limits allow (gate, cool-down, cluster unit, loose legs, crossing pairs,
the symbol's room, depth, slippage, the stops' margin, available margin, effective leverage), returns an
`OpenPair`. `Spread.reverted` returns a `ClosePairs` per symbol and venue pair whose spread has reverted to
close_threshold_bps. Both only decide; the trader (hedge/trader.py) sends and books.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from hedge.cluster import OpenRequest, Unit
from hedge.decimals import to_decimal as _dec
from hedge.intents import ClosePairs, OpenPair
from hedge.opportunity import Opportunity, best_opportunity, edge_bps, spread_bps, walk
from hedge.sizing import ContractSpec, equal_base_qty, leg_problem, max_order_base
from hedge.venues.base import Side

if TYPE_CHECKING:
    from hedge.accounts import AccountView
    from hedge.book import LedgerView
    from hedge.cluster.base import Coordinator
    from hedge.config import HedgeConfig
    from hedge.ledger import HedgePair
    from hedge.maintenance import MaintenanceWatcher
    from hedge.market import Market, Top, Venue
    from hedge.outage import VenueHealth
    from hedge.trader import Books


class Pacing(Protocol):
    """What the spread rule asks of the trader (hedge/trader.py): the books an order would take, the room
    max_depth_share leaves in them, a skip said once, a symbol's cool-down, the bound venues and a mid."""

    def books(self, symbol: str, buy: Venue, sell: Venue, *, closing: bool = False) -> Books | None: ...
    def depth_room(self, symbol: str, books: Books, *specs: ContractSpec) -> Decimal: ...
    def skip(self, symbol: str, reason: str) -> None: ...
    def cooling(self, symbol: str) -> bool: ...
    def cool_down(self, symbol: str) -> None: ...
    def venue(self, key: str) -> Venue: ...
    def mid(self, symbol: str) -> Decimal | None: ...


class SpreadRisk(Protocol):
    """What the spread rule asks of the stops (hedge/risk.py)."""

    def has_loose_leg(self, venue: str, symbol: str) -> bool: ...
    def open_problem(self, venue: str, symbol: str | None = None, side: Side | None = None,
                     qty: Decimal = Decimal(0), price: Decimal = Decimal(0)) -> str | None: ...


class Spread:
    """cfg, now_ms, market, maintenance and may_open are read at each use (tests replace the config; the
    market and the maintenance watcher are bound at start); taker: each venue's taker fee in bps (VenueTerms,
    updated in place); funding_rates: a symbol's funding per venue; accounts: the account readings (updated
    in place); equity: the total equity; suspect: reconcile's suspect venue-symbols."""

    def __init__(self, *, cfg: Callable[[], HedgeConfig], now_ms: Callable[[], int],
                 market: Callable[[], Market | None], maintenance: Callable[[], MaintenanceWatcher | None],
                 health: VenueHealth, coordinator: Coordinator, ledger: Callable[[], LedgerView],
                 trader: Pacing, risk: SpreadRisk, taker: dict[str, float],
                 funding_rates: Callable[[str], dict[str, float] | None], accounts: Mapping[str, AccountView],
                 equity: Callable[[], Decimal], may_open: Callable[[], bool],
                 suspect: Callable[[], set[tuple[str, str]]]) -> None:
        self._cfg = cfg
        self._now_ms = now_ms
        self._market = market
        self._maintenance = maintenance
        self.health = health
        self.coordinator = coordinator
        self._ledger = ledger
        self.trader = trader
        self.risk = risk
        self._taker = taker
        self._funding_rates = funding_rates
        self.accounts = accounts
        self.total_equity = equity
        self._may_open = may_open
        self._suspect = suspect
        self.last_opportunity: dict[str, Opportunity | None] = {s: None for s in cfg().symbols}
        self._symbol_tops: dict[str, list[tuple[str, Top]]] = {}
        self._changed: set[str] = set()  # the market's symbols whose tops changed since their last scan
        self._judged: dict[str, _Judged] = {}  # each symbol's best venue pair, and what it was judged on

    @property
    def cfg(self) -> HedgeConfig:
        return self._cfg()

    @property
    def now_ms(self) -> int:
        return self._now_ms()

    @property
    def ledger(self) -> LedgerView:
        return self._ledger()

    def bind(self, market: Market, venues: list[Venue]) -> None:
        """At start: each symbol's tops on the venues listing it (the market updates them in place)."""
        self._symbol_tops = {s: [(v.key, market.tops[v.key][s]) for v in venues if s in v.specs]
                             for s in self.cfg.symbols}
        self._changed = market.changed
        self._judged.clear()

    # --- closing ---
    def reverted(self, symbol: str | None = None) -> list[ClosePairs]:
        """The pairs whose spread has reverted, one ClosePairs per symbol and venue pair (in ledger order);
        only `symbol`'s when given (a book event of that symbol)."""
        market = self._market()
        assert market is not None
        due: dict[tuple[str, str, str], list[HedgePair]] = {}
        threshold = float(self.cfg.close_threshold_bps)
        # the verdict is the same for every pair of one symbol and venue pair: judged once a turn (the first
        # judgement re-reads a book past max_book_age_ms; a second one would find it just read)
        verdicts: dict[tuple[str, str, str], bool] = {}
        for pair in self.ledger.pairs.values():
            if symbol is not None and pair.symbol != symbol:
                continue
            if not self.coordinator.owns_pair(pair):
                continue  # another node's (or, with Redis away, nobody's until it is back)
            group = (pair.symbol, pair.long_venue, pair.short_venue)
            verdict = verdicts.get(group)
            if verdict is None:
                verdict = verdicts[group] = self._spread_reverted(market, *group, threshold)
            if verdict:
                due.setdefault(group, []).append(pair)
        return [ClosePairs(symbol, long_key, short_key, tuple(group))
                for (symbol, long_key, short_key), group in due.items()]

    def _spread_reverted(self, market: Market, symbol: str, long_venue: str, short_venue: str,
                         threshold: float) -> bool:
        """The spread of symbol between the two venues is at or below the close threshold, on fresh books of
        venue-symbols that are not suspect, on venues that trade."""
        suspect = self._suspect()
        if (long_venue, symbol) in suspect or (short_venue, symbol) in suspect:
            return False
        if not (self.health.can_trade(long_venue) and self.health.can_trade(short_venue)):
            return False  # waits for the venue (stops still watch the healthy leg)
        long_top = market.fresh_top(long_venue, symbol, self.now_ms)
        short_top = market.fresh_top(short_venue, symbol, self.now_ms)
        if long_top is None or short_top is None:
            return False
        return spread_bps(short_top.mid, long_top.mid) <= threshold

    # --- opening ---
    def scan(self, symbol: str) -> OpenPair | None:
        """The opening the symbol's best opportunity allows now, if any (last_opportunity notes it).

        The best venue pair is judged again only when something it was judged on changed (`_Judged`): one of
        the symbol's tops (the market marks a changed one), the age of its fresh tops, the fees, funding or
        config, or a venue kept out of new pairs (an outage, an order time-out's cool-down, a maintenance
        notice: while any holds, every symbol is judged in full, as each is judged again after). What an
        opening needs past the threshold (the gate, the symbol's cool-down, the limits, balances and books)
        is never kept: it is read anew at each scan.
        """
        cfg = self.cfg
        now_ms = self.now_ms
        health = self.health
        maintenance = self._maintenance()
        blocked = maintenance.blocked if maintenance is not None else {}
        every_venue = not (health.out_since or health.cooling or blocked)
        funding = self._funding_rates(symbol)
        judged = None
        if symbol in self._changed:
            self._changed.discard(symbol)
        elif every_venue:
            judged = self._judged.get(symbol)
        if judged is not None and judged.holds(cfg, now_ms, self._taker, funding):
            opp = judged.opp
        else:
            opp = self._judge(symbol, cfg, now_ms, blocked, funding, every_venue)
        if opp is None or opp.edge_bps < float(cfg.open_threshold_bps):
            return None
        if not self._may_open():  # a reconcile stop holds the gate too
            return None
        if self.trader.cooling(symbol):
            return None
        return self._try_open(opp)

    def _judge(self, symbol: str, cfg: HedgeConfig, now_ms: int, blocked: Mapping[str, str],
               funding: dict[str, float] | None, every_venue: bool) -> Opportunity | None:
        """The symbol's best venue pair on fresh tops of venues that may take a new pair, noted in
        last_opportunity and kept (`_Judged`) when every venue may."""
        health = self.health
        out = health.out_since
        cooling = health.cooling  # an order call timed out there recently (hedge/outage.py)
        oldest = now_ms - cfg.max_book_age_ms
        tops = [(key, top) for key, top in self._symbol_tops[symbol]
                if top.time_ms >= oldest and 0.0 < top.bid <= top.ask and key not in blocked
                and not (out and (health.is_out(key) or key in health.recovered))
                and not (cooling and health.cooling_down(key))]
        opp = best_opportunity(symbol, tops, self._taker, funding) if len(tops) >= 2 else None
        self.last_opportunity[symbol] = opp
        judged = self._judged.get(symbol)
        if not every_venue:
            if judged is not None:
                del self._judged[symbol]
        elif judged is None:
            self._judged[symbol] = _Judged(opp, cfg, now_ms, tops, self._taker, funding)
        else:
            judged.renew(opp, cfg, now_ms, tops, self._taker, funding)
        return opp

    def _try_open(self, opp: Opportunity) -> OpenPair | None:
        symbol = opp.symbol
        unit = Unit.of(symbol, opp.buy_venue, opp.sell_venue)
        if not self._may_open_here(opp, unit):
            return None
        price = _dec(opp.buy_price)
        room = self.cfg.max_position_usdt - self.ledger.symbol_notional(symbol, price)
        notional = min(self.cfg.order_notional_usdt, room)
        if notional < self.cfg.min_order_notional:
            return None  # the symbol is (nearly) full: a dust pair is not worth four fees and a ledger row
        trader = self.trader
        buy, sell = trader.venue(opp.buy_venue), trader.venue(opp.sell_venue)
        spec_buy, spec_sell = buy.specs[symbol], sell.specs[symbol]
        target = notional / price
        most = max_order_base(spec_buy, spec_sell)  # each leg is one order: at most the smaller maximum
        qty = equal_base_qty(min(target, most) if most is not None else target, spec_buy, spec_sell)
        if qty <= 0:
            return None
        trader.cool_down(symbol)
        books = trader.books(symbol, buy, sell)
        if books is None:
            return None
        wanted = qty
        qty = min(qty, trader.depth_room(symbol, books, spec_buy, spec_sell))
        problem = self._size_problem(opp, qty, wanted, price, spec_buy, spec_sell)
        if problem:
            trader.skip(symbol, f"{opp.buy_venue}->{opp.sell_venue}: {problem}")
            return None
        sized = self._sized_edge(opp, buy, sell, float(qty), books)
        if sized is None:
            return None
        edge, exec_buy, exec_sell = sized
        if edge < float(self.cfg.open_threshold_bps):
            return None
        problem = self._margin_problem(symbol, buy, sell, qty, price)
        if problem:
            trader.skip(symbol, f"{opp.buy_venue}->{opp.sell_venue}: {problem}")
            return None
        note = f" (sized down from {wanted} by max_depth_share)" if qty < wanted else ""
        request = self._open_request(unit, buy, sell, qty, price) if self.coordinator.shared else None
        return OpenPair(opp, buy, sell, qty, edge, exec_buy, exec_sell, note, request)

    def _may_open_here(self, opp: Opportunity, unit: Unit) -> bool:
        """This node's unit, no loose leg on either venue-symbol, no pair's leg the new legs net with."""
        symbol = opp.symbol
        if not self.coordinator.may_act(unit):
            return False  # another node owns this symbol x venue pair (it sees the same opportunity)
        if self.risk.has_loose_leg(opp.buy_venue, symbol) or self.risk.has_loose_leg(opp.sell_venue, symbol):
            return False  # a leg without its hedge is closed first (it would net with the new leg)
        buy, sell = opp.buy_venue, opp.sell_venue
        for pair in self.ledger.pairs.values():
            if pair.symbol == symbol and (pair.long_venue == sell or pair.short_venue == buy):
                return False  # would net against another pair's leg on the same venue: close that first
        return True

    def _size_problem(self, opp: Opportunity, qty: Decimal, wanted: Decimal, price: Decimal,
                      spec_buy: ContractSpec, spec_sell: ContractSpec) -> str | None:
        """Why the legs of qty (sized down from wanted to the books' depth) may not be sent."""
        problem = leg_problem(qty, price, spec_buy) or leg_problem(qty, _dec(opp.sell_price), spec_sell)
        if not problem and qty * price < self.cfg.min_order_notional:
            problem = f"{qty * price:.2f} USDT is below min_order_usdt {self.cfg.min_order_notional:g}"
        if problem and qty < wanted:
            share = self.cfg.max_depth_share
            problem = f"max_depth_share {share} of the book allows {qty} of {wanted}: {problem}"
        return problem

    def _open_request(self, unit: Unit, buy: Venue, sell: Venue, qty: Decimal, price: Decimal) -> OpenRequest:
        """The shared budget check of a cluster: what this opening adds on each venue and the symbol."""
        need = {v.key: qty * price / self.cfg.leverage_for(v.key) * self.cfg.margin_buffer
                for v in (buy, sell)}
        available = {key: view.available for key, view in self.accounts.items() if key in need}
        prices = {p.symbol: self.trader.mid(p.symbol) or p.long_price for p in self.ledger.pairs.values()}
        return OpenRequest(unit=unit, buy_venue=buy.key, sell_venue=sell.key, qty=qty, price=price,
                           max_symbol_notional=self.cfg.max_position_usdt, margin_need=need,
                           margin_available={k: available.get(k, Decimal(0)) for k in need},
                           equity=self.total_equity(), gross=self.ledger.gross_notional(prices),
                           max_effective_leverage=self.cfg.max_effective_leverage)

    def _sized_edge(self, opp: Opportunity, buy: Venue, sell: Venue, qty: float,
                    books: Books) -> tuple[float, float, float] | None:
        buy_book, sell_book = books
        exec_buy = walk(buy_book[0], qty)
        exec_sell = walk(sell_book[1], qty)
        if exec_buy is None or exec_sell is None:
            self.trader.skip(opp.symbol, f"book too thin for {qty}")
            return None
        buy_ask, buy_bid = buy_book[0][0][0], buy_book[1][0][0] if buy_book[1] else buy_book[0][0][0]
        sell_bid, sell_ask = sell_book[1][0][0], sell_book[0][0][0] if sell_book[0] else sell_book[1][0][0]
        slippage = max(exec_buy / buy_ask - 1.0, 1.0 - exec_sell / sell_bid) * 10_000
        if slippage > float(self.cfg.max_slippage_bps):
            self.trader.skip(opp.symbol, "slippage over max_slippage_bps")
            return None
        edge = edge_bps(buy_ask, buy_bid, sell_bid, sell_ask, self._taker[buy.key], self._taker[sell.key],
                        exec_buy, exec_sell)
        return edge, exec_buy, exec_sell

    def _margin_problem(self, symbol: str, buy: Venue, sell: Venue, qty: Decimal, price: Decimal
                        ) -> str | None:
        notional = qty * price
        for venue, side in ((buy, Side.LONG), (sell, Side.SHORT)):
            near_stop = self.risk.open_problem(venue.key, symbol, side, qty, price)
            if near_stop:
                return near_stop
            account = venue.exchange.GetAccount()
            if account is None:
                return f"{venue.key} account unreadable"
            available = _dec(account.get("Balance"))
            need = notional / self.cfg.leverage_for(venue.key) * self.cfg.margin_buffer
            if available < need:
                return f"{venue.key} available margin {available:.2f} < {need:.2f} needed"
        equity = self.total_equity()
        if equity <= 0:
            return "total equity unknown"
        prices = {p.symbol: self.trader.mid(p.symbol) or p.long_price for p in self.ledger.pairs.values()}
        effective = (self.ledger.gross_notional(prices) + 2 * notional) / equity
        if effective > self.cfg.max_effective_leverage:
            return f"effective leverage would be {effective:.2f} > max_effective_leverage"
        return None


class _Judged:
    """A symbol's best venue pair (`opp`, None: none) and what it was judged on besides its tops: the config,
    when, the fees and funding. It holds until the first fresh top it paired turns stale (`until_ms`); a
    stale top turns fresh only by changing, which the market marks."""

    __slots__ = ("opp", "cfg", "judged_ms", "until_ms", "taker", "funding")

    def __init__(self, opp: Opportunity | None, cfg: HedgeConfig, now_ms: int, tops: list[tuple[str, Top]],
                 taker: dict[str, float], funding: dict[str, float] | None) -> None:
        self.taker: dict[str, float] = {}
        self.funding: dict[str, float] | None = None
        self.renew(opp, cfg, now_ms, tops, taker, funding)

    def renew(self, opp: Opportunity | None, cfg: HedgeConfig, now_ms: int, tops: list[tuple[str, Top]],
              taker: dict[str, float], funding: dict[str, float] | None) -> None:
        """Judged again: what it found and read now (the fees and funding copied only when they differ from
        the last ones: they change a few times a day, the tops every turn)."""
        self.opp = opp
        self.cfg = cfg
        self.judged_ms = now_ms
        self.until_ms = min((top.time_ms for _key, top in tops), default=_NEVER) + cfg.max_book_age_ms
        if self.taker != taker:
            self.taker = dict(taker)
        if self.funding != funding:
            self.funding = None if funding is None else dict(funding)

    def holds(self, cfg: HedgeConfig, now_ms: int, taker: dict[str, float], funding: dict[str, float] | None
              ) -> bool:
        """Nothing it was judged on has changed (its tops aside: the market marks those)."""
        return (cfg is self.cfg and self.judged_ms <= now_ms <= self.until_ms and taker == self.taker
                and funding == self.funding)


_NEVER = 2**62  # no fresh top to turn stale
