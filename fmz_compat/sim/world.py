"""The simulated world: coins, venue quotes, accounts, funding, liquidation, transfers, faults.

Time is lazy: nothing moves until an API call asks `advance(now_ns)`; the world then steps the
price grid in chunks (at most one minute, split at funding settlements) and after each chunk
fills resting orders the venue price traded through, settles funding, checks liquidation and
delivers transfers.
"""

from __future__ import annotations

import heapq
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from fmz_compat.core import (
    LOG_TYPE_ERROR,
    LOG_TYPE_LOG,
    VENUE_NAMES,
    Clock,
    ExchangeBinding,
    LogSink,
    SimConfig,
)
from fmz_compat.exchange import FmzExchangeObject
from fmz_compat.sim import delivery as D
from fmz_compat.sim import params as P
from fmz_compat.sim.account import BOOK_LEVELS, Account, VenueError
from fmz_compat.sim.market import MARK_PREMIUM_MA, CoinPath, CommonFunding, FundingState, Quote
from hedge.figures import ExposureTrack

FAULTS = ("refuse_orders", "timeout_after_accept", "stale_market", "down", "partial_fill", "rate_limit",
          "withdrawals_suspended", "withdrawals_stuck", "timeout_lands_late", "purge_orders", "history_down",
          "withdraw_answer_lost", "drops_client_id", "refuse_definite")
LATE_LANDING_MS = (2_000, 30_000)  # timeout_lands_late: the order reaches the venue this much later
# venues drop canceled orders without a fill from every lookup: Binance USDS-M after 3 days ("Query Order":
# CANCELED or EXPIRED, no filled trade, created + 3 days < now); the purge_orders fault after a minute
PURGE_AFTER_MS = {"binance": 3 * 86_400_000}
PURGE_FAULT_AGE_MS = 60_000
NEVER_MS = 2**62  # arrival time of a withdrawal that never arrives
# builds the FMZ exchange object of one account (fmz_compat.sim.exchange.Exchange, a replay's own kind)
ExchangeMaker = Callable[["SimWorld", Account, ExchangeBinding], FmzExchangeObject]


@dataclass(frozen=True)
class MaintenanceWindow:
    """A maintenance the simulated venue announces on its status endpoint, then keeps (world faults)."""

    venue: str
    begin_ms: int
    end_ms: int
    announce_ms: int
    scope: str  # all | orders
    title: str
    ident: int

    def state(self, now_ms: int) -> str:
        if now_ms < self.begin_ms:
            return "scheduled"
        return "ongoing" if now_ms < self.end_ms else "completed"


@dataclass(order=True)
class Transfer:
    arrive_ms: int
    seq: int
    to_account: int = field(compare=False)
    asset: str = field(compare=False)
    amount: float = field(compare=False)
    tx_id: str = field(compare=False)
    kind: str = field(default="arrival", compare=False)  # or "external_deposit", "external_withdrawal"


@dataclass
class Delivery:
    """A listed dated contract (sim/delivery.py) and the index samples its delivery price averages."""

    market: str
    key: str
    venue: str
    base: str
    from_k: int      # the index is sampled at chunk ends in (from_k, expiry_k]: once a minute
    expiry_k: int
    total: float = 0.0
    samples: int = 0


def deposit_address(venue: str, index: int, network: str) -> str:
    """The simulated deposit address of the account bound `index`-th (from 0) on `venue`."""
    return f"sim-{venue}-{index}-{network.lower()}"


class SimWorld:
    """Everything the simulated venues share. Build it with `create_world`.

    `make_exchange` builds the exchange object of each account: the world holds them (labels, stats)
    without knowing their class, which builds on this module."""

    # k counts steps of step_ms from start_ms, and advance(now_ns) does nothing while
    # (now_ns // 1_000_000 - start_ms) // step_ms <= k: an exchange call skips it then (sim/exchange.py
    # _enter). A ReplayWorld too (step_ms 1, k in ms since start_ms); a world whose advance works otherwise
    # says False
    steps_on_grid = True

    dated_contracts = True  # delivery contracts can be listed (sim/delivery.py); a replay has none

    def __init__(self, cfg: SimConfig, clock: Clock, log: LogSink, make_exchange: ExchangeMaker,
                 funding_hours: dict[tuple[str, str], int] | None = None) -> None:
        _validate(cfg, funding_hours or {})
        self.deliveries: list[Delivery] = []  # dated contracts listed on request, not delivered yet
        self.dated_changes = 0  # dated contracts listed or delivered so far (listing caches compare it)
        self.cfg = cfg
        self.clock = clock
        self.log = log
        self.step_ms = cfg.step_ms
        self.start_ms = cfg.start_ms
        self.k = 0
        self.minute_k = max(1, 60_000 // cfg.step_ms) if 60_000 % cfg.step_ms == 0 else 0
        self.chunk_k = max(1, 60_000 // cfg.step_ms)
        self.accounts: list[Account] = []
        self.quotes: dict[tuple[str, str], Quote] = {}
        self.coins: dict[str, CoinPath] = {}
        self.price_levels: dict[str, Any] = {}  # base -> history.PriceLevel | None (cfg.dated_prices)
        self._funded: list[Quote] = []
        # venue -> fault -> [from_ms, until_ms] windows, sorted, disjoint; past windows are dropped lazily
        self.faults: dict[str, dict[str, list[tuple[int, int]]]] = {}
        # announced maintenance windows, answered by the venues' status endpoints (api_endpoints.py)
        self.maintenance: list[MaintenanceWindow] = []
        # (venue, pair) -> the most contracts one order may be there (GetMarkets' MaxQty; a larger order is
        # refused as the venue refuses it: fmz_compat/sim/exchange.py _TOO_LARGE). None set: 1e9, no bound
        self.max_qty: dict[tuple[str, str], float] = {}
        self.on_position_change: Any = None  # optional observer(market, pair, new net base) for tools
        self.on_adl: Any = None  # optional observer(venue, pair, contracts closed) of each ADL, for tools
        self.exposure_track = ExposureTrack()  # held vs between two legs (hedge/figures.py)
        self._pending_stale: list[tuple[int, str]] = []  # (step, venue) where market data will freeze
        self._stale: dict[str, int] = {}  # venue -> step the market data froze at
        self._frozen_quotes: dict[tuple[str, str], tuple[float, float, int]] = {}
        self.stale_possible = False  # fast path for readers: no stale_market fault was ever injected
        # Venues whose tickers and depth carry no Time (Bybit V5 and CoinEx REST tickers through ccxt): with
        # stale_market the frozen answer then has no old stamp to give it away, as a cached REST answer.
        self.untimed_books: set[str] = set()
        self.transfers: list[Transfer] = []
        self._transfer_seq = 0
        self.withdrawals: list[dict[str, Any]] = []
        self.deposits: list[dict[str, Any]] = []  # credited deposits, oldest first (internal and external)
        self.late_landings: list[dict[str, Any]] = []  # timeout_lands_late orders placed, oldest first
        # timeout_lands_late orders on their way to the matching engine (sequence -> what land_later queued)
        self._queued: dict[int, dict[str, Any]] = {}
        self._queued_seq = 0
        self._books_built = 0
        # venue events due at a step: (step, seq, action); late-landing orders, auto-deleveraging
        self._venue_events: list[tuple[int, int, Callable[[], None]]] = []
        self._event_seq = 0
        self._late_rng = random.Random(P.stable_int(cfg.seed, "late-landing"))
        self.lock = threading.RLock()
        self._make_exchange = make_exchange
        self._build_markets(cfg, funding_hours or {})
        for i, b in enumerate(cfg.bindings):
            venue, futures = venue_of(b.eid)
            self.accounts.append(Account(self, i, venue, futures, b.balance, b.stocks, b.currency, b.fee))
        self.equity_start = [a.equity_usdt() for a in self.accounts]
        self.exchanges = [self._new_exchange(acc, b)
                          for acc, b in zip(self.accounts, cfg.bindings, strict=True)]

    def _new_exchange(self, acc: Account, binding: ExchangeBinding) -> FmzExchangeObject:
        return self._make_exchange(self, acc, binding)

    def _build_markets(self, cfg: SimConfig, funding_hours: dict[tuple[str, str], int]) -> None:
        """One generated quote per (venue market, pair) the bindings and symbols need."""
        markets: set[tuple[str, str]] = set()
        for b in cfg.bindings:
            venue, futures = venue_of(b.eid)
            base, quote = b.currency.upper().split("_")
            if not futures:
                for pair in cfg.symbols:
                    markets.add((f"{venue}:spot", pair))
                markets.add((f"{venue}:spot", b.currency.upper()))
            elif quote == "USD":
                markets.add((f"{venue}:inverse", b.currency.upper()))
            else:
                for pair in cfg.symbols:
                    markets.add((venue, pair))
                markets.add((venue, b.currency.upper()))
        self._funding_hours = funding_hours
        self._add_markets(cfg, funding_hours, sorted(markets))

    def _add_markets(self, cfg: SimConfig, funding_hours: dict[tuple[str, str], int],
                     markets: list[tuple[str, str]]) -> None:
        for market, pair in markets:
            sp = P.symbol_params(pair)
            coin = self.coins.get(sp.base)
            if coin is None:
                level = self._price_level(cfg, sp.base)
                coin = CoinPath(replace(sp, start_price=level.price) if level else sp, cfg.seed, cfg.step_ms)
                if level and level.anchors:
                    coin.follow([((ms - cfg.start_ms) // cfg.step_ms, math.log(price), var_8h)
                                 for ms, price, var_8h in level.anchors])
                coin_common = CommonFunding(sp, cfg.seed)
                coin.common_funding = coin_common  # type: ignore[attr-defined]
                self.coins[sp.base] = coin
            venue = market.split(":")[0]
            vspec = P.VENUES[venue]
            offset = vspec.basis_offset_bps + (-1.0 if market.endswith(":spot") else 0.0)
            tick = P.contract_spec(venue, pair, not market.endswith(":spot")).tick
            q = Quote(market, pair, sp, offset, cfg.seed, cfg.step_ms / 1000.0, coin.fair, tick)
            if ":spot" not in market:
                hours = funding_hours.get((venue, pair), 8)
                q.funding = FundingState(vspec, sp, coin.common_funding, cfg.seed, market, pair,
                                         cfg.start_ms, cfg.step_ms, hours)
                if q.mark_kind == MARK_PREMIUM_MA:  # CoinEx averages over its funding interval
                    q.resize_average(max(1, q.funding.interval_ms // (q.ma_every * cfg.step_ms)), coin.index)
                self._funded.append(q)
            coin.add_quote(q)
            self.quotes[(market, pair)] = q

    def list_pair(self, pair: str) -> bool:
        """List a USDT pair of a coin the simulator knows but this run did not list, when a call first asks
        for it: FMZ's backtester loads a pair's data on request (syntax guide, exchange.GetTickers: after
        market calls it returns "all trading pairs that have been requested"). The coin's path is built from
        the window's start and stepped to now (bars, funding settlements), so its market is the one
        `--symbols PAIR` gives. False when the pair cannot be listed (another quote, an unknown coin)."""
        pair = pair.upper()
        base, _, quote = pair.partition("_")
        if quote != "USDT" or base in self.coins or base not in P.known_coins():
            return False
        markets = self._markets_of(pair)
        if not markets:
            return False
        funded_before = len(self._funded)
        self._add_markets(self.cfg, self._funding_hours, sorted(markets))
        self._catch_up(self.coins[base], self._funded[funded_before:])
        return True

    def _markets_of(self, pair: str) -> set[tuple[str, str]]:
        """The markets a newly listed USDT pair gets: on every spot binding's venue, and on every futures
        binding's venue that is not coin-margined."""
        markets: set[tuple[str, str]] = set()
        for b in self.cfg.bindings:
            venue, futures = venue_of(b.eid)
            if not futures:
                markets.add((f"{venue}:spot", pair))
            elif not b.currency.upper().endswith("_USD"):
                markets.add((venue, pair))
        return markets

    def _catch_up(self, coin: CoinPath, funded: list[Quote]) -> None:
        """Step a newly listed coin from the window's start to now in advance()'s chunks: bars close and
        funding rolls on the way."""
        while coin.k < self.k:  # the chunks of advance(): bars close and funding rolls on the way
            nxt = min(self.k, (coin.k // self.chunk_k + 1) * self.chunk_k)
            for q in funded:
                if coin.k < q.funding.next_k < nxt:
                    nxt = q.funding.next_k
            coin.advance(nxt)
            for q in funded:
                if q.funding.next_k == nxt:  # nobody holds the new pair: the settlement only rolls the rate
                    q.funding.roll(self.start_ms + nxt * self.step_ms)
            coin.close_bars(self.minute_k)
            for q in coin.quotes:
                q.hi = q.lo = q.price
                q.mhi = q.mlo = q.mark

    def dated_key(self, acc: Account, pair: str, contract_type: str) -> str:
        """The instrument key of the dated contract `contract_type` names on acc's venue now
        (sim/delivery.py), its quote listed on first request: the coin's fair price x (1 + the venue's
        offset and basis noise + the assumed premium D.basis_now, falling linearly to 0 at expiry), no
        funding, the venue's mark rule; its delivery scheduled at expiry. ValueError when the venue has no
        such contract."""
        names = D.VENUE_ALIASES.get(acc.venue, ())
        if contract_type not in names:
            have = "; ".join(f"{VENUE_NAMES.get(v, v)}: {', '.join(a)}" for v, a in D.VENUE_ALIASES.items())
            raise ValueError(f"contract type {contract_type!r} is not simulated on {acc.venue} (dated "
                             f"contracts on {have}; every futures venue: swap)")
        expiry_ms = D.listed(acc.venue, self.now_ms())[contract_type]
        key = D.key_of(pair, expiry_ms)
        market = acc.market_key(key)
        if (market, key) not in self.quotes:
            self._list_dated(acc.venue, market, pair, key, expiry_ms)
        return key

    def _list_dated(self, venue: str, market: str, pair: str, key: str, expiry_ms: int) -> None:
        swap = self.quotes[(market.removesuffix(":delivery"), pair)]
        coin = self.coins[P.symbol_params(pair).base]
        premium = D.basis_now(self.now_ms(), expiry_ms)
        offset_bps = swap.offset * 1e4 + premium * 1e4
        tick = P.contract_spec(venue, pair, True).tick
        q = Quote(market, key, P.symbol_params(pair), offset_bps, self.cfg.seed, self.step_ms / 1000.0,
                  coin.fair, tick)
        expiry_k = -(-(expiry_ms - self.start_ms) // self.step_ms)
        if expiry_k > self.k + 1:  # the premium falls linearly to 0 at expiry (market.CoinPath shaping)
            q.shock_knots = [(self.k, 0.0), (expiry_k, -premium)]
        coin.add_quote(q)
        coin._shape_state(coin.k + 1)
        self.quotes[(market, key)] = q
        window_k = D.settlement_window_ms(venue, expiry_ms) // self.step_ms
        self.deliveries.append(Delivery(market, key, venue, coin.sp.base, expiry_k - window_k, expiry_k))
        self.dated_changes += 1
        self.at(expiry_ms, lambda: self._deliver_dated(market, key))

    def _sample_delivery_index(self) -> None:
        if not self.minute_k or self.k % self.minute_k:
            return
        for d in self.deliveries:
            if d.from_k < self.k <= d.expiry_k:
                d.total += self.coins[d.base].index
                d.samples += 1

    def _deliver_dated(self, market: str, key: str) -> None:
        """Expiry: every account's position in `key` closed at the delivery price, its orders canceled, the
        quote delisted; one log line per account that held or had orders."""
        d = next(x for x in self.deliveries if x.key == key and x.market == market)
        self.deliveries.remove(d)
        self.dated_changes += 1
        price = d.total / d.samples if d.samples else self.coins[d.base].index
        q = self.quotes.pop((market, key))
        coin = self.coins[d.base]
        coin.quotes.remove(q)
        coin.refresh_exposure_flag()
        coin._shape_state(coin.k + 1)
        for acc in self.accounts:
            if not acc.futures or acc.venue != d.venue or acc.market_key(key) != market:
                continue
            had_orders = any(o.pair == key for o in acc.open.values())
            fee = acc.taker if d.venue == "binance" else 0.0
            qty = acc.deliver(key, price, fee)
            if qty or had_orders:
                native = acc.contract(key).native
                self.log.log(LOG_TYPE_LOG, f"{self.exchange_name(acc)}: {native} delivered at {price:.2f} "
                             f"(index average over {(d.expiry_k - d.from_k) * self.step_ms // 60_000} min): "
                             f"position {qty:g} closed, resting orders canceled", exchange_index=acc.index)

    def _price_level(self, cfg: SimConfig, base: str) -> Any:
        """The real level at the window's date (fmz_compat.sim.history), when asked for and known."""
        if not cfg.dated_prices:
            return None
        from fmz_compat.sim.history import level_at

        level = level_at(base, cfg.start_ms, cfg.start_ms + 400 * 86_400_000)
        self.price_levels[base] = level
        return level

    # --- time ---------------------------------------------------------------------------------
    def now_ms(self) -> int:
        return self.start_ms + self.k * self.step_ms

    def advance(self, now_ns: int) -> None:
        target = (now_ns // 1_000_000 - self.start_ms) // self.step_ms
        while self.k < target:
            nxt = min(target, (self.k // self.chunk_k + 1) * self.chunk_k)
            for q in self._funded:
                if self.k < q.funding.next_k < nxt:
                    nxt = q.funding.next_k
            for from_k, _venue in self._pending_stale:
                if self.k < from_k < nxt:
                    nxt = from_k
            if self._venue_events and self.k < self._venue_events[0][0] < nxt:
                nxt = self._venue_events[0][0]
            for coin in self.coins.values():
                coin.advance(nxt)
            self.k = nxt
            self._after_chunk()
            if self._pending_stale:
                for item in [p for p in self._pending_stale if p[0] <= self.k]:
                    self._pending_stale.remove(item)
                    self._freeze(item[1])

    def _after_chunk(self) -> None:  # noqa: C901  (runs after every chunk, up to once a step: kept inline)
        if self.deliveries:
            self._sample_delivery_index()
        while self._venue_events and self._venue_events[0][0] <= self.k:
            heapq.heappop(self._venue_events)[2]()
        if self.minute_k and self.k % self.minute_k == 0:
            self._purge_orders()
        for acc in self.accounts:
            if acc.open:
                for pair in {o.pair for o in acc.open.values()}:
                    q = acc.quote(pair)
                    if q is not None:
                        acc.sweep(q)
        for q in self._funded:
            if q.funding.next_k == self.k:
                for acc in self.accounts:
                    if acc.positions:
                        acc.settle_funding(q, q.funding.rate)
                q.funding.roll(self.now_ms())
        for acc in self.accounts:  # liquidation after every chunk, at the chunk's most adverse marks
            if acc.positions:
                acc.check_liquidation()
        while self.transfers and self.transfers[0].arrive_ms <= self.now_ms():
            self._deliver(heapq.heappop(self.transfers))
        for coin in self.coins.values():
            coin.close_bars(self.minute_k)
            for q in coin.quotes:
                q.hi = q.lo = q.price
                q.mhi = q.mlo = q.mark

    # --- venue events -------------------------------------------------------------------------
    def at(self, at_ms: int, action: Callable[[], None]) -> None:
        """Run `action` on the venue side at the first grid step at or after `at_ms` (simulated ms)."""
        k = max(self.k + 1, -(-(int(at_ms) - self.start_ms) // self.step_ms))
        self._event_seq += 1
        heapq.heappush(self._venue_events, (k, self._event_seq, action))

    def land_later(self, acc: Account, order: dict[str, Any], client_id: str) -> int:
        """timeout_lands_late: the request reaches the matching engine LATE_LANDING_MS later (drawn from the
        seed), after the caller's call timed out; then it is placed like any order at that moment's book, or
        refused in silence (no one is waiting for the answer). Returns the delay in ms."""
        delay = self._late_rng.randrange(*LATE_LANDING_MS)
        spec = acc.contract(order["pair"])
        self._queued_seq += 1
        seq = self._queued_seq
        self._queued[seq] = {"venue": acc.venue, "market": acc.market_key(order["pair"]),
                             "pair": order["pair"], "client_id": client_id, "side": order["side"],
                             "amount": order["amount"],
                             "base": 0.0 if spec.inverse else order["amount"] * spec.ct_val,
                             "reduce_only": bool(order.get("reduce_only")), "sent_ms": self.now_ms(),
                             "due_ms": self.now_ms() + delay}

        def land() -> None:
            try:  # queued until its position change is seen: what was held until now waited on it
                placed = acc.place(**order)
            except VenueError:
                return
            finally:
                self._queued.pop(seq, None)
            placed.client_id = client_id
            self.late_landings.append({"venue": acc.venue, "pair": placed.pair, "client_id": client_id,
                                       "at_ms": self.now_ms(), "filled": placed.filled})
        self.at(self.now_ms() + delay, land)
        return delay

    @property
    def queued_orders(self) -> list[dict[str, Any]]:
        """The timeout_lands_late orders the venues hold queued to land, oldest first: venue, market (as in
        position events), pair, client_id, side (buy|sell, as executed), amount (contracts), base (amount in
        base, 0 for an inverse contract), reduce_only, sent_ms and due_ms (it lands at the first step at or
        after due_ms)."""
        return [dict(entry) for entry in self._queued.values()]

    def schedule_adl(self, venue: str, at_ms: int, fraction: float = 0.5, pair: str | None = None) -> None:
        """Auto-deleveraging on `venue` at `at_ms`: every profitable position (of `pair`, or all) loses
        `fraction` of its size, closed by the venue at the mark (`Account.auto_deleverage`). Venues do this
        to the most profitable, most leveraged positions when a liquidation leaves a loss the insurance fund
        does not cover: in a crash that is the winning leg of a hedge."""
        key = venue_key(venue)
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"ADL fraction {fraction} must be in (0, 1]")

        def deleverage() -> None:
            for acc in self.accounts:
                if acc.venue != key or not acc.futures:
                    continue
                for pos in list(acc.positions.values()):
                    if pos.qty == 0.0 or (pair is not None and pos.pair != pair) or acc.upnl(pos) <= 0.0:
                        continue
                    held = pos.qty
                    order = acc.auto_deleverage(pos.pair, fraction)
                    if order is None:
                        continue
                    self.log.log(LOG_TYPE_LOG, f"{self.exchange_name(acc)}: {pos.pair} position {held:g} "
                                 f"auto-deleveraged by the venue: {order.filled:g} closed at mark "
                                 f"{order.avg_price:.6g}", exchange_index=acc.index)
                    if self.on_adl is not None:
                        self.on_adl(key, pos.pair, order.filled)
        self.at(at_ms, deleverage)

    def _purge_orders(self) -> None:
        now = self.now_ms()
        for acc in self.accounts:
            if not acc.purgeable:
                continue
            if self.faults and self.fault_active(acc.venue, "purge_orders"):
                acc.purge(now - PURGE_FAULT_AGE_MS)
            elif acc.venue in PURGE_AFTER_MS:
                acc.purge(now - PURGE_AFTER_MS[acc.venue])

    # --- market data --------------------------------------------------------------------------
    def book(self, q: Quote) -> tuple[list[list[float]], list[list[float]]]:
        """The depth at the current step, generated on first read and depleted by our own fills."""
        if q.book is not None and q.book[0] == self.k:
            return q.book[1], q.book[2]
        bids, asks = build_book(q, q.price, self.k)
        q.book = (self.k, bids, asks)
        self._books_built += 1
        return bids, asks

    def usdt_price(self, asset: str) -> float:
        if asset in ("USDT", "USD", "USDC"):
            return 1.0
        coin = self.coins.get(asset)
        return coin.fair if coin else 0.0

    def market_view(self, venue: str, q: Quote) -> tuple[float, int]:
        """(price, step) a reader sees: frozen while the venue's market data is stale."""
        frozen = self._frozen_quotes.get((q.market, q.pair))
        if frozen is not None and self.fault_active(venue, "stale_market"):
            return frozen[0], frozen[2]
        return q.price, self.k

    # --- accounts hooks -----------------------------------------------------------------------
    def position_changed(self, market: str, pair: str, d_base: float) -> None:
        q = self.quotes.get((market, pair))
        if q is None:
            return
        q.net_base += d_base
        if abs(q.net_base) < 1e-12:
            q.net_base = 0.0
        base = P.symbol_params(pair).base
        coin = self.coins[base]
        coin.refresh_exposure_flag()
        self.exposure_track.change(base, self.clock.now_ns() // 1_000_000,
                                   round(sum(x.net_base for x in coin.quotes), 10), coin.fair)
        if self.on_position_change is not None:
            self.on_position_change(market, pair)

    def exchange_name(self, acc: Account) -> str:
        return self.exchanges[acc.index].GetLabel() if hasattr(self, "exchanges") else acc.venue

    def set_max_qty(self, venue: str, pair: str, contracts: float) -> None:
        """`venue`'s maximum order size in `pair` (e.g. "BTC_USDT"), in contracts (FMZ Market.MaxQty): its
        GetMarkets reports it and it refuses a larger order with its own answer (a definite rejection)."""
        self.max_qty[(venue, pair)] = float(contracts)

    # --- faults -------------------------------------------------------------------------------
    def inject(self, venue: str, fault: str, until_ms: int, from_ms: int | None = None) -> None:
        """Make `venue` misbehave from `from_ms` (default: now) until `until_ms`, in simulated ms.

        Faults: refuse_orders (orders and cancels rejected, an answer FMZ gives no more of than None: its
        outcome unknown to the caller), refuse_definite (order placements refused for want of margin, a
        definite answer: `last_outcome_unknown` False, as fmz_compat.live says for ccxt's rejections;
        cancels work), timeout_after_accept (order placed, call returns
        None with a timeout error), stale_market (tickers/depth frozen at the fault's start, stamped with
        that start's time, or with no Time on a venue in `untimed_books`), down
        (every call fails; the venue itself keeps running: funding, fills and liquidations go on),
        partial_fill (market and IOC orders fill half their amount, rounded down to the amount step;
        the rest is canceled, so a one-step order fills nothing), rate_limit (every call returns None
        with the venue's HTTP 429 answer; nothing reaches the venue), withdrawals_suspended (the venue
        refuses withdrawal requests; internal transfers still work), withdrawals_stuck (withdrawal
        requests are accepted and debited but stay pending forever: never credited anywhere),
        timeout_lands_late (CreateOrder/Buy/Sell time out before the order reaches the venue: nothing is
        there when the caller looks, and the order lands LATE_LANDING_MS later), purge_orders (canceled
        orders without a fill vanish from every lookup a minute after they were created, as Binance does
        after 3 days; that rule always applies on Binance), history_down (the deposit and withdrawal
        history endpoints answer HTTP 503; wallets and everything else work), withdraw_answer_lost (a
        withdrawal request is carried out but its answer is lost: the call returns None as on a timeout;
        see fmz_compat/sim/api_endpoints.py), drops_client_id (the FMZ docker forwards no client order id:
        orders land without one, as when it does not pass that option on to the venue).
        A later inject of the same fault on the same venue replaces the earlier one (`schedule`
        adds windows instead).
        """
        self._add_window(venue, fault, until_ms, from_ms, replace=True)

    def schedule(self, venue: str, fault: str, from_ms: int, until_ms: int) -> None:
        """Add one more window of `fault` on `venue` (windows of the same fault are merged where they
        overlap); unlike `inject`, earlier windows stay. For scenario runs (fmz_compat/sim/scenarios.py)."""
        self._add_window(venue, fault, until_ms, from_ms, replace=False)

    def schedule_maintenance(self, venue: str, begin_ms: int, end_ms: int, announce_ms: int | None = None,
                             scope: str = "all", title: str = "system upgrade") -> None:
        """A maintenance window the venue announces at `announce_ms` (default: now) on its status endpoint
        and then keeps: during it the venue is down (scope "all") or refuses every order ("orders")."""
        venue = venue_key(venue)
        if scope not in ("all", "orders"):
            raise ValueError(f"maintenance scope {scope!r}: use 'all' or 'orders'")
        if end_ms <= begin_ms:
            raise ValueError(f"maintenance on {venue}: end_ms {end_ms} must be after begin_ms {begin_ms}")
        announce = self.now_ms() if announce_ms is None else int(announce_ms)
        self.maintenance.append(MaintenanceWindow(venue, int(begin_ms), int(end_ms), announce, scope, title,
                                                  len(self.maintenance) + 1))
        self.schedule(venue, "down" if scope == "all" else "refuse_orders", begin_ms, end_ms)

    def _add_window(self, venue: str, fault: str, until_ms: int, from_ms: int | None, replace: bool) -> None:
        venue = venue_key(venue)
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose one of {', '.join(FAULTS)}")
        with self.lock:
            self.advance(self.clock.now_ns())
            start = self.now_ms() if from_ms is None else max(int(from_ms), self.now_ms())
            if until_ms <= start:
                raise ValueError(f"fault {fault} on {venue}: until_ms {until_ms} must be after {start}")
            windows = self.faults.setdefault(venue, {})
            if replace or fault not in windows:
                windows[fault] = [(start, int(until_ms))]
            else:
                windows[fault] = _merge([*windows[fault], (start, int(until_ms))])
            if fault == "stale_market":
                self.stale_possible = True
                from_k = -(-(start - self.start_ms) // self.step_ms)
                if replace:
                    self._pending_stale = [p for p in self._pending_stale if p[1] != venue]
                if from_k <= self.k:
                    self._freeze(venue)
                else:
                    self._pending_stale.append((from_k, venue))

    def _freeze(self, venue: str) -> None:
        for (market, pair), q in self.quotes.items():
            if market.split(":")[0] == venue:
                self._frozen_quotes[(market, pair)] = (q.price, q.mark, self.k)

    def clear_faults(self, venue: str | None = None) -> None:
        with self.lock:
            if venue is None:
                self.faults.clear()
                self._pending_stale.clear()
            else:
                key = venue_key(venue)
                self.faults.pop(key, None)
                self._pending_stale = [p for p in self._pending_stale if p[1] != key]

    def fault_active(self, venue: str, fault: str) -> bool:
        by_fault = self.faults.get(venue)
        if not by_fault:
            return False
        windows = by_fault.get(fault)
        if not windows:
            return False
        now = self.now_ms()
        while windows and windows[0][1] <= now:  # time only moves forward: drop what has passed
            del windows[0]
        return bool(windows) and windows[0][0] <= now

    # --- transfers ----------------------------------------------------------------------------
    def deposit_address(self, acc: Account, network: str) -> str:
        return deposit_address(acc.venue, acc.index, network)

    def withdraw(self, acc: Account, asset: str, amount: float, address: str, network: str) -> str:
        network = P.NETWORK_ALIASES.get(network.upper(), network.upper()) or "TRC20"
        if self.fault_active(acc.venue, "withdrawals_suspended"):
            raise VenueError(f"withdrawals of {asset} on {acc.venue} are suspended (wallet maintenance)")
        if network not in P.NETWORKS:
            raise VenueError(f"unknown network {network}; use one of {', '.join(P.NETWORKS)}")
        fee, delay = P.NETWORKS[network]
        target = None
        for other in self.accounts:
            if self.deposit_address(other, network) == address:
                target = other
        if target is None:
            raise VenueError(f"address {address} is not on the withdrawal whitelist")
        if amount <= fee or amount > acc.funding_wallet[asset] + 1e-9:
            raise VenueError(f"insufficient {asset} in the funding account for a withdrawal of {amount:g} "
                             f"(fee {fee:g})")
        acc.funding_wallet[asset] -= amount
        tx = self._next_tx()
        arrive = self.now_ms() + delay
        if self.fault_active(acc.venue, "withdrawals_stuck"):
            arrive = NEVER_MS
        else:
            heapq.heappush(self.transfers, Transfer(arrive, self._transfer_seq, target.index, asset,
                                                    amount - fee, tx))
        self.withdrawals.append({"id": tx, "from": acc.index, "to": target.index, "asset": asset,
                                 "amount": amount, "fee": fee, "network": network, "address": address,
                                 "time": self.now_ms(), "arrive": arrive})
        return tx

    def in_flight(self, asset: str = "USDT") -> float:
        """What is on its way between our own accounts: internal withdrawals not credited yet, at what the
        receiver gets (the network fee is gone); a stuck one counts too (the money is still the fund's)."""
        moving = sum(t.amount for t in self.transfers if t.kind == "arrival" and t.asset == asset)
        stuck = sum(w["amount"] - w["fee"] for w in self.withdrawals
                    if w["arrive"] == NEVER_MS and w["to"] is not None and w["asset"] == asset)
        return moving + stuck

    def _next_tx(self) -> str:
        self._transfer_seq += 1
        return f"simtx{self._transfer_seq:06d}"

    def deposit_external(self, venue: str | int, amount: float, at_ms: int | None = None,
                         asset: str = "USDT", network: str = "TRC20") -> str:
        """Money from outside the fund lands in `venue`'s funding wallet at `at_ms` (default: now).

        `venue` is a venue name ("binance", "Futures_OKX") or an account index. The deposit shows in
        that venue's deposit history once credited. Returns the transaction id.
        """
        return self._schedule_external(venue, amount, at_ms, asset, network, "external_deposit")

    def withdraw_external(self, venue: str | int, amount: float, at_ms: int | None = None,
                          asset: str = "USDT", network: str = "TRC20") -> str:
        """Money leaves the fund from `venue` at `at_ms` (default: now): taken from the funding wallet,
        then from the futures wallet's available balance; fee-free; recorded in the withdrawal
        history with an outside address. A withdrawal larger than what is available is refused then
        (logged) and leaves no record."""
        return self._schedule_external(venue, amount, at_ms, asset, network, "external_withdrawal")

    def _schedule_external(self, venue: str | int, amount: float, at_ms: int | None, asset: str,
                           network: str, kind: str) -> str:
        if not amount > 0:
            raise ValueError(f"{kind}: amount {amount} must be a positive number")
        acc = self._account_of(venue)
        with self.lock:
            self.advance(self.clock.now_ns())
            tx = self._next_tx()
            when = self.now_ms() if at_ms is None else max(int(at_ms), self.now_ms())
            heapq.heappush(self.transfers, Transfer(when, self._transfer_seq, acc.index, asset.upper(),
                                                    float(amount), tx, kind))
            if when <= self.now_ms():
                while self.transfers and self.transfers[0].arrive_ms <= self.now_ms():
                    self._deliver(heapq.heappop(self.transfers))
            return tx

    def _account_of(self, venue: str | int) -> Account:
        if isinstance(venue, int):
            if not 0 <= venue < len(self.accounts):
                raise ValueError(f"account index {venue} out of range 0..{len(self.accounts) - 1}")
            return self.accounts[venue]
        key = venue_key(venue)
        for acc in self.accounts:
            if acc.venue == key and acc.futures:
                return acc
        for acc in self.accounts:
            if acc.venue == key:
                return acc
        raise ValueError(f"no account on venue {key}; bind one (e.g. {VENUE_NAMES.get(key, key)})")

    def _deliver(self, t: Transfer) -> None:
        acc = self.accounts[t.to_account]
        if t.kind == "external_withdrawal":
            from_funding = min(acc.funding_wallet[t.asset], t.amount)
            rest = t.amount - from_funding
            if rest > acc.available(t.asset) + 1e-9:
                self.log.log(LOG_TYPE_ERROR, f"{acc.venue}: external withdrawal of {t.amount:g} "
                             f"{t.asset} refused: only {from_funding + acc.available(t.asset):.6f} available")
                return
            acc.funding_wallet[t.asset] -= from_funding
            acc.balances[t.asset] -= rest
            self.withdrawals.append({"id": t.tx_id, "from": acc.index, "to": None, "asset": t.asset,
                                     "amount": t.amount, "fee": 0.0, "network": "TRC20",
                                     "address": f"external-{t.tx_id}", "time": self.now_ms(),
                                     "arrive": self.now_ms()})
            return
        acc.funding_wallet[t.asset] += t.amount
        source = None
        network = "TRC20"
        for w in self.withdrawals:
            if w["id"] == t.tx_id:
                source, network = w["from"], w["network"]
        self.deposits.append({"id": t.tx_id, "from": source, "to": acc.index, "asset": t.asset,
                              "amount": t.amount, "network": network,
                              "address": self.deposit_address(acc, network), "time": self.now_ms()})

    # --- summary ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        venues: dict[str, dict[str, Any]] = {}
        keys = ("trades", "volume_usdt", "fees_usdt", "funding_usdt", "realized_pnl_usdt",
                "equity_start_usdt", "equity_end_usdt", "liquidations")
        totals = dict.fromkeys(keys, 0.0)
        for acc, ex, eq0 in zip(self.accounts, self.exchanges, self.equity_start, strict=True):
            name = ex.GetLabel()
            if name in venues:
                name = f"{name}#{acc.index}"
            row = {
                "trades": acc.trades,
                "volume_usdt": round(acc.volume_usdt, 6),
                "fees_usdt": round(acc.fees_usdt, 6),
                "funding_usdt": round(acc.funding_usdt, 6),
                "realized_pnl_usdt": round(acc.realized_usdt, 6),
                "equity_start_usdt": round(eq0, 6),
                "equity_end_usdt": round(acc.equity_usdt(), 6),
                "liquidations": acc.liquidations,
            }
            venues[name] = row
            for k in keys:
                totals[k] += row[k]
        totals = {k: (int(v) if k in ("trades", "liquidations") else round(v, 6)) for k, v in totals.items()}
        worst = {"usdt": 0.0, "coin": "", "time_ms": None}
        for base, coin in self.coins.items():
            if abs(coin.max_abs_exposure) > abs(worst["usdt"]):
                worst = {"usdt": round(coin.max_abs_exposure, 6), "coin": base,
                         "time_ms": self.start_ms + coin.max_exposure_k * self.step_ms}
        return {
            "seed": self.cfg.seed,
            "window": {"start_ms": self.start_ms, "end_ms": self.now_ms(), "step_ms": self.step_ms},
            "venues": venues,
            "totals": totals,
            "max_abs_net_exposure_usdt": abs(worst["usdt"]),
            "max_net_exposure": worst,
            "net_exposure": self.exposure_track.summary(
                self.clock.now_ns() // 1_000_000, {b: c.fair for b, c in self.coins.items()}),
            "book_builds": self._books_built,
        }

    def close(self) -> None:
        self.transfers.clear()


def _merge(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, until in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], until))
        else:
            merged.append((start, until))
    return merged


def _validate(cfg: SimConfig, funding_hours: dict[tuple[str, str], int]) -> None:
    """Reject a configuration the simulator cannot run, with one line naming the fix."""
    if cfg.step_ms <= 0 or (cfg.step_ms < 60_000 and 60_000 % cfg.step_ms) or cfg.step_ms > 60_000:
        raise ValueError(f"step_ms {cfg.step_ms} must divide one minute (e.g. 100, 250, 1000, 60000)")
    if not cfg.bindings:
        raise ValueError("no exchange bound: add at least one binding (e.g. Futures_Binance)")
    for b in cfg.bindings:  # an unknown exchange first: its currency may be no crypto pair (CTP's FUTURES)
        venue_of(b.eid)
    for pair in (*cfg.symbols, *(b.currency for b in cfg.bindings)):
        parts = pair.split("_") if isinstance(pair, str) else []
        if len(parts) != 2 or not all(p.isalnum() for p in parts):
            raise ValueError(f"symbol {pair!r} is not BASE_QUOTE: write it like BTC_USDT")
    for b in cfg.bindings:
        _validate_funds(b)
    for (venue, pair), hours in funding_hours.items():
        if venue not in P.VENUES or hours not in (1, 2, 4, 8):
            raise ValueError(f"funding_hours[{venue!r}, {pair!r}] = {hours}: venue must be one of "
                             f"{', '.join(P.VENUES)} and hours one of 1, 2, 4, 8")


def _validate_funds(b: ExchangeBinding) -> None:
    if b.balance < 0 or b.stocks < 0:
        raise ValueError(f"{b.eid}: balance and stocks must be >= 0")
    if b.fee is not None and (len(b.fee) != 2 or any(not -1 < f < 5 for f in b.fee)):
        raise ValueError(f"{b.eid}: fee must be [maker %, taker %] such as [0.02, 0.05]")


def venue_of(eid: str) -> tuple[str, bool]:
    """(venue, futures) of an FMZ exchange id: Futures_Binance -> ("binance", True); ValueError naming the
    simulated ones otherwise."""
    hit = P.EID_VENUE.get(eid)
    if hit is None:
        known = ", ".join(sorted(P.EID_VENUE))
        raise ValueError(f"exchange {eid!r} is not simulated (fmz_compat simulates crypto venues only); "
                         f"use one of {known}")
    return hit


def venue_key(name: str) -> str:
    """The simulator's venue key of a venue name or FMZ exchange id (binance, Futures_Binance -> binance)."""
    if name in P.VENUES:
        return name
    if name in P.EID_VENUE:
        return P.EID_VENUE[name][0]
    for key, eid in VENUE_NAMES.items():
        if eid == name:
            return key
    raise ValueError(f"unknown venue {name!r}; use one of {', '.join(P.VENUES)}")


def build_book(q: Quote, price: float, k: int) -> tuple[list[list[float]], list[list[float]]]:
    """BOOK_LEVELS levels a side around `price`; gaps and sizes grow with distance, jitter per step."""
    bid, ask = q.best_bid_ask(price)
    tick = q.spec_tick
    gap = max(tick, price * q.half_spread_frac)
    size0 = q.depth_base
    x = (k * 2654435761 + q.salt) & 0xFFFFFFFF
    bids: list[list[float]] = []
    asks: list[list[float]] = []
    for i in range(BOOK_LEVELS):
        d = math.floor(gap * i * (1.0 + 0.1 * i) / tick + 1e-9) * tick
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        j1 = 0.5 + (x & 0xFFFF) / 65536.0
        j2 = 0.5 + ((x >> 15) & 0xFFFF) / 65536.0
        grow = 1.0 + 0.5 * i
        bids.append([round(bid - d, q.prec), size0 * grow * j1])
        asks.append([round(ask + d, q.prec), size0 * grow * j2])
    return bids, asks
