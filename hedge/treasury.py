"""Treasury: capital by venue weights, and USDT moved back to the venues that need margin.

As prices move, the venue holding the losing legs loses margin while the winning venue piles it up.
Once per status interval the treasury:

1. allocates: each venue needs the equity that holds its positions `target_distance_pct` away from
   liquidation (and under the stops' leverage cap); what is left over is spread by `weights`;
2. detects imbalance with hysteresis: a venue nearer to liquidation than `trigger_distance_pct` (or
   off its target by more than `rebalance_pct` of total equity) is topped up to its target, not just
   to the trigger, so it does not flap;
3. moves (mode auto) or tells the user what to move (mode notify, a throttled warn event): futures ->
   funding wallet on the richest venue, on-chain withdrawal to a whitelisted deposit address of the
   poor venue, funding -> futures there once the deposit is credited. The network is chosen by fee
   and transit time; a transfer must pay for itself (urgent: its fee is below what the first stop
   level would cost; otherwise: below `max_fee_bps` of the amount).

Transfers are persisted in _G and tracked across restarts. One transfer per route (source,
destination) is in flight at a time; a withdrawal not credited within `timeout_s` raises a critical
event, blocks its route and is never repeated automatically (command `treasury:ack:ID` releases it).
Moves between our own venues are not cash flows (hedge/transfers.py matches them by chain tx id).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from decimal import ROUND_DOWN, Decimal
from enum import Enum
from typing import Any

from hedge import store_keys
from hedge.accounts import AccountView
from hedge.config import HedgeConfig, NetworkCost, StopsConfig, TreasuryConfig, WhitelistEntry
from hedge.fmz import Api
from hedge.transfers import OwnMove, TransferRecord, TransferWatcher, read_funding_balance
from hedge.wallets import NATIVE_CHAIN, SUPPORTED_VENUES, Answer, deposit_address, internal_transfer, withdraw

STORE_KEY = store_keys.TREASURY
ZERO = Decimal(0)
DAY_MS = 86_400_000
KEEP_FINISHED = 50
ABSENT_LOOKS = 2      # a withdrawal whose request got no answer is absent after this many history reads
ABSENT_SETTLE_MS = 60_000  # ... each at least this long after the request (a venue lists it within seconds)
CENT = Decimal("0.01")


class Status(Enum):
    PLANNED = "PLANNED"            # decided; nothing sent yet
    FUNDED = "FUNDED"              # amount + fee moved futures -> funding on the source
    SENDING = "SENDING"            # withdrawal requested, answer unknown: never re-sent until proven absent
    IN_TRANSIT = "IN_TRANSIT"      # the source venue accepted the withdrawal
    TIMED_OUT = "TIMED_OUT"        # not credited within timeout_s: route blocked, still watched
    CREDITED = "CREDITED"          # deposit credited on the destination's funding wallet
    RETURNING = "RETURNING"        # refused before leaving: money goes back into the source's futures
    DONE = "DONE"                  # in the destination's futures wallet
    FAILED = "FAILED"              # refused; the money is back in the source's futures wallet
    ABANDONED = "ABANDONED"        # timed out and acknowledged by the user (treasury:ack:ID)


# (status, event) -> next status: the one transition table of a transfer
TRANSITIONS: dict[tuple[Status, str], Status] = {
    (Status.PLANNED, "funded"): Status.FUNDED,
    (Status.PLANNED, "refused"): Status.FAILED,
    (Status.FUNDED, "sending"): Status.SENDING,
    (Status.SENDING, "accepted"): Status.IN_TRANSIT,
    (Status.SENDING, "refused"): Status.RETURNING,
    (Status.SENDING, "absent"): Status.RETURNING,
    (Status.IN_TRANSIT, "credited"): Status.CREDITED,
    (Status.IN_TRANSIT, "failed"): Status.RETURNING,
    (Status.IN_TRANSIT, "timed_out"): Status.TIMED_OUT,
    (Status.TIMED_OUT, "credited"): Status.CREDITED,
    (Status.TIMED_OUT, "acknowledged"): Status.ABANDONED,
    (Status.CREDITED, "settled"): Status.DONE,
    (Status.RETURNING, "returned"): Status.FAILED,
}
FINAL = (Status.DONE, Status.FAILED, Status.ABANDONED)


@dataclass
class Transfer:
    """One move of USDT from one of our venues to another."""

    id: int
    source: str
    dest: str
    amount: Decimal          # requested withdrawal
    fee: Decimal             # network fee estimate (moved to funding with the amount)
    network: str
    address: str
    memo: str
    reason: str
    created_ms: int
    status: Status = Status.PLANNED
    funding_before: Decimal = ZERO   # the source's funding balance before we moved money into it
    client_id: str = ""
    withdrawal_id: str = ""
    tx_id: str = ""
    sent_ms: int = 0
    credited: Decimal = ZERO
    updated_ms: int = 0
    looks: int = 0                   # history reads while SENDING without finding the withdrawal
    looked_ms: int = 0               # the source's history read the last look counted
    swept: bool = False              # the source's leftover (fee estimate) returned to its futures
    funding_asked: bool = False      # futures -> funding requested (saved first: it may have happened)
    note: str = ""

    @property
    def route(self) -> tuple[str, str]:
        return self.source, self.dest

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        for key in ("amount", "fee", "funding_before", "credited"):
            data[key] = str(data[key])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Transfer:
        data = dict(data)
        data["status"] = Status(data["status"])
        for key in ("amount", "fee", "funding_before", "credited"):
            data[key] = Decimal(data[key])
        return cls(**data)


@dataclass(frozen=True)
class VenueNeed:
    """One venue's allocation at one look."""

    venue: str
    weight: Decimal
    equity: Decimal          # futures equity
    available: Decimal
    incoming: Decimal        # on its way to this venue's futures wallet
    notional: Decimal
    distance_pct: Decimal | None
    leverage: Decimal | None
    need: Decimal            # equity that holds its positions target_distance_pct away from liquidation
    target: Decimal          # need + its weighted share of what is left over
    held: Decimal = ZERO     # kept for re-hedges of loose legs it could be asked to take (never moved out)

    @property
    def actual(self) -> Decimal:
        return self.equity + self.incoming

    @property
    def deficit(self) -> Decimal:
        """Below 0: a surplus. Never counted below `need`: when capital is short, a venue only gives
        what keeps it at the target distance, so a giver never becomes a taker on the next wiggle."""
        return max(self.need, self.target) - self.actual

    @property
    def spare(self) -> Decimal:
        """What it may give: its surplus over the target, within its available margin, less what it keeps
        for re-hedges (`held`: below need + held nothing leaves it, and held stays available)."""
        return min(self.actual - max(self.need + self.held, self.target), self.available - self.held)


@dataclass(frozen=True)
class Move:
    """A transfer the treasury would make now."""

    source: str
    dest: str
    amount: Decimal
    reason: str
    urgent: bool
    entry: WhitelistEntry | None = None   # None: no usable whitelisted address (notify says so)
    cost: NetworkCost | None = None


@dataclass
class _RoutesInUse:
    """What a plan may not use now: venues sending and receiving, busy routes, the ends of lost transfers."""

    sending: set[str]
    receiving: set[str]
    busy: set[tuple[str, str]]
    lost: list[tuple[str, str]]


@dataclass
class Treasury:
    cfg: TreasuryConfig
    params: HedgeConfig  # the strategy's leverage, margin buffer, PARAMS fees and stop levels
    api: Api  # _G and the log
    event: Callable[[str, str], None]  # a graded event (App.event)
    now_ms: Callable[[], int]  # the turn's clock
    exchanges: dict[str, Any]  # bound venue -> its exchange object, in binding order
    accounts: Mapping[str, AccountView]  # each venue's last reading (refreshed in place by its reader)
    histories: TransferWatcher | None  # the venues' transfer histories (hedge/transfers.py)
    inception_ms: Callable[[], int]  # the fund's (hedge/accounting.py)
    transfers: list[Transfer] = field(default_factory=list)
    next_id: int = 1
    allocation: dict[str, VenueNeed] = field(default_factory=dict)
    wrong: set[WhitelistEntry] = field(default_factory=set)  # the venue says its address is another one
    acked: set[str] = field(default_factory=set)  # "venue:withdrawal id" of lost moves not ours, acknowledged
    _told: dict[str, int] = field(default_factory=dict)   # notify/skip message key -> last time told
    # money this process just moved into (+) or out of (-) a venue's futures wallet: the stops' cached view
    # of that venue (Risk.note_wallet) holds it until its next reading
    wallet_moved: Callable[[str, Decimal], None] | None = None
    # USDT of loose legs each venue could be asked to re-hedge now (Rehedger.exposure_to_hedge): the margin
    # that needs there is held, not moved out (chaos default seed 4, 2 days: 6,410 USDT left binance 6 s
    # before it was the one venue that could re-hedge okx's loose legs; 1.35 ETH stayed loose 311 s)
    to_hedge: Callable[[], Mapping[str, Decimal]] | None = None

    # --- persistence ---
    def load(self) -> Treasury:
        """Take the transfers saved in _G (at start); returns itself."""
        text = self.api.store(STORE_KEY)
        if text:
            try:
                saved = json.loads(text)
                self.transfers = [Transfer.from_json(t) for t in saved.get("transfers", [])]
                self.next_id = int(saved.get("next_id", 1))
                self.acked = {str(a) for a in saved.get("acked", [])}
            except (ValueError, KeyError, TypeError, ArithmeticError) as exc:
                # without knowing what is in flight, nothing is moved automatically in this run
                cfg = self.cfg
                self.cfg = replace(cfg, mode="notify" if cfg.mode == "auto" else cfg.mode)
                self.event(f"treasury: saved transfers unreadable ({exc.__class__.__name__}); automatic "
                           f"transfers off until _G key {STORE_KEY} is fixed or deleted (check every venue's "
                           "withdrawal history first)", "critical")
                return self
            active = self.active()
            if active:
                self.event(f"treasury: resuming {len(active)} transfer(s): " + "; ".join(
                    f"#{t.id} {t.source}->{t.dest} {t.amount} USDT {t.status.value}" for t in active), "info")
        return self

    def verify_whitelist(self) -> None:
        """Compare each whitelisted address of a bound venue with the deposit address that venue gives
        for the network; an entry the venue contradicts is not used (error event), one it cannot
        confirm is used (the venue's own withdrawal whitelist still applies) with a warn event."""
        bound = set(self.exchanges)
        for entry in self.cfg.whitelist:
            if entry.venue not in bound or entry.venue not in SUPPORTED_VENUES:
                continue
            found = deposit_address(self._exchange(entry.venue), entry.venue, entry.network)
            if found is None:
                self.event(f"treasury: {entry.venue} {entry.network} deposit address not readable; "
                               f"whitelisted {entry.address} used unverified", "warn")
            elif found != entry.address:
                self.wrong.add(entry)
                self.event(f"treasury: whitelisted {entry.venue} {entry.network} address {entry.address} "
                               f"is not the deposit address {entry.venue} gives ({found}); not used: correct "
                               "treasury.whitelist", "error")

    def save(self) -> None:
        finished = [t for t in self.transfers if t.status in FINAL][-KEEP_FINISHED:]
        kept = finished + self.active()
        kept.sort(key=lambda t: t.id)
        self.transfers = kept
        self.api.store(STORE_KEY, json.dumps({"next_id": self.next_id, "acked": sorted(self.acked),
                                                  "transfers": [t.to_json() for t in kept]}))

    def active(self) -> list[Transfer]:
        return [t for t in self.transfers if t.status not in FINAL]

    # --- the look, once per status interval ---
    def check(self) -> None:
        if self.cfg.mode == "off" and not self.active():
            self.allocation = self.allocate()
            return
        for transfer in self.active():
            self._advance(transfer)
        self.allocation = self.allocate()
        if self.cfg.mode == "off":
            return
        self._act(self.plan())

    def urge(self, venue: str, sources: list[str], why: str) -> None:
        """Margin wanted on `venue` now (a re-hedge there took only part of a loose leg: hedge/rehedge.py),
        not at the next status interval: the moves that bring it to its target (as a venue in danger: the
        fastest network that pays for itself) from `sources` only (venues that trade: one that is out could
        not send), started (mode auto) or told (notify), within the usual limits (one transfer per route,
        min_transfer_usdt, max_transfer_usdt, max_daily_usdt, the whitelist)."""
        if self.cfg.mode == "off":
            return
        self.allocation = self.allocate()
        need = self.allocation.get(venue)
        if need is None or need.deficit < self.cfg.min_transfer_usdt:
            self._tell(f"urge:{venue}", "warn", f"treasury: {why}; {venue} is not short of its target "
                       f"({self.cfg.target_distance_pct} % from liquidation): nothing moved")
            return
        allowed = set(sources)
        surplus = {n.venue: n.spare for n in self.allocation.values() if n.venue in allowed}
        moves: list[Move] = []
        left_today = self.cfg.max_daily_usdt - self.sent_today()
        self._plan_for(True, need, surplus, left_today, self._routes_in_use(), moves)
        if not moves:
            self._tell(f"urge:{venue}", "warn", f"treasury: {why}; no move to {venue} possible now from "
                       f"{', '.join(sources) or 'no venue that trades'} (surplus, routes or limits)")
        self._act(moves)

    def _act(self, moves: list[Move]) -> None:
        """Start each move (mode auto, an automated route with a whitelisted address) or tell it (notify)."""
        for move in moves:
            if self.cfg.mode == "auto" and move.entry is not None and self._automatic(move.source, move.dest):
                self.start(move)
            else:
                self._notify(move)

    def own_moves(self) -> list[OwnMove]:
        """The unfinished transfers as the histories need them (hedge/transfers.py): a deposit one of
        them explains is never a cash flow, and unit NAV waits while one's withdrawal is unaccounted for."""
        records = {(r.venue, r.id) for r in self._records() if r.kind == "withdrawal"}
        moves = []
        for t in self.active():
            sure = t.status in (Status.PLANNED, Status.FUNDED, Status.RETURNING) or (
                t.status is not Status.SENDING and (t.source, t.withdrawal_id) in records)
            moves.append(OwnMove(t.source, t.dest, t.address, t.amount, t.fee, t.created_ms,
                                 t.sent_ms if t.status not in (Status.PLANNED, Status.FUNDED) else 0,
                                 t.withdrawal_id, t.tx_id, sure))
        return moves

    def in_flight_to(self, venue: str,
                     foreign_moves: list[tuple[TransferRecord, str]] | None = None) -> Decimal:
        """USDT on its way into `venue`'s futures wallet (a timed-out withdrawal is not counted);
        foreign_moves: `foreign_moves()` when the caller already has it (one scan for every venue)."""
        moves = self.foreign_moves() if foreign_moves is None else foreign_moves
        foreign = sum((r.amount for r, dest in moves if dest == venue and not self._lost(r)), ZERO)
        return foreign + sum((t.credited if t.status is Status.CREDITED else t.amount - t.fee
                              for t in self.active() if t.dest == venue and t.status in (
                                  Status.FUNDED, Status.SENDING, Status.IN_TRANSIT, Status.CREDITED)), ZERO)

    def foreign_moves(self) -> list[tuple[TransferRecord, str]]:
        """Withdrawals to a whitelisted address of one of our venues that no transfer of this node made and
        no deposit has credited yet, with their destination: another node's moves (transfers live in each
        node's own _G, so a treasury node that died leaves its moves unknown to the next one) or a person's.
        They count as incoming and hold their routes like our own; one older than timeout_s is lost."""
        watcher = self.histories
        if watcher is None:
            return []
        dest_of = {e.address: e.venue for e in self.cfg.whitelist}
        ours = {(t.source, t.withdrawal_id) for t in self.transfers if t.withdrawal_id}
        asking = [t for t in self.active() if t.status is Status.SENDING]  # ours, found by address later
        credited = set(watcher.view.internal)
        since = self.inception_ms() - DAY_MS
        moves = []
        for r in watcher.records.values():
            key = f"{r.venue}:{r.id}"
            if r.kind != "withdrawal" or r.state == "failed" or r.address not in dest_of \
                    or r.time_ms < since or r.asset != watcher.asset:
                continue
            if (r.venue, r.id) in ours or key in credited or key in self.acked:
                continue
            if any(t.source == r.venue and t.address == r.address and r.time_ms >= t.sent_ms - 60_000
                   for t in asking):
                continue
            moves.append((r, dest_of[r.address]))
        return moves

    def _lost(self, record: TransferRecord) -> bool:
        return self.now_ms() - record.time_ms > self.cfg.timeout_s * 1000

    # --- allocation ---
    def allocate(self) -> dict[str, VenueNeed]:
        params = self.params
        target_pct = self.cfg.target_distance_pct
        max_leverage = _max_venue_leverage(params.stops)
        rows: list[dict[str, Any]] = []
        foreign = self.foreign_moves()
        to_hedge = self.to_hedge() if self.to_hedge is not None else {}
        for key in self.exchanges:
            view = self.accounts.get(key)
            if view is None or not view.ok:
                continue
            distance = view.liquidation[1] if view.liquidation else None
            need = ZERO
            if view.notional > 0:
                at_target = view.notional * target_pct / 100
                if distance is not None:  # distance moves by 1 % of price per 1 % of notional in equity
                    at_target = view.equity + (target_pct - distance) / 100 * view.notional
                need = max(at_target, view.notional / max_leverage * Decimal("1.25"),
                           view.notional / params.leverage_for(key) * params.margin_buffer)
            # a re-hedge there adds its notional: at the target distance, within the stops' leverage, and
            # its initial margin x margin_buffer available (as hedge/rehedge.py checks it)
            extra = to_hedge.get(key, ZERO)
            held = extra * max(target_pct / 100, Decimal("1.25") / max_leverage,
                               params.margin_buffer / params.leverage_for(key))
            rows.append({"venue": key, "weight": self.cfg.weight(key), "equity": view.equity,
                         "available": view.available, "incoming": self.in_flight_to(key, foreign),
                         "notional": view.notional, "distance_pct": distance, "leverage": view.leverage,
                         "need": max(need, ZERO), "held": held})
        total = sum((r["equity"] + r["incoming"] for r in rows), ZERO)
        needed = sum((r["need"] for r in rows), ZERO)
        weights = sum((r["weight"] for r in rows), ZERO)
        spare = total - needed
        for r in rows:
            if spare >= 0:
                share = spare * r["weight"] / weights if weights > 0 else ZERO
                r["target"] = r["need"] + share
            else:  # not enough capital to hold every venue at the target distance: share the shortfall
                r["target"] = r["need"] * total / needed if needed > 0 else ZERO
        return {r["venue"]: VenueNeed(**r) for r in rows}

    def plan(self) -> list[Move]:
        """Transfers that would bring the poor venues to their targets, most urgent first."""
        cfg = self.cfg
        poor = self._poor()
        surplus = {n.venue: n.spare for n in self.allocation.values()}
        used = self._routes_in_use()
        moves: list[Move] = []
        left_today = cfg.max_daily_usdt - self.sent_today()
        for danger, need in poor:
            left_today = self._plan_for(danger, need, surplus, left_today, used, moves)
        return moves

    def _poor(self) -> list[tuple[bool, VenueNeed]]:
        """The venues short of their target by more than the rebalance band, or in danger (near liquidation
        or over 80 % of the stops' leverage) by at least min_transfer_usdt: (in danger, need), danger first,
        then the largest deficit."""
        cfg = self.cfg
        total = sum((n.actual for n in self.allocation.values()), ZERO)
        band = total * cfg.rebalance_pct / 100
        poor: list[tuple[bool, VenueNeed]] = []
        leverage_cap = _max_venue_leverage(self.params.stops) * Decimal("0.8")
        for need in self.allocation.values():
            danger = (need.distance_pct is not None and need.distance_pct < cfg.trigger_distance_pct
                      or need.leverage is not None and need.leverage > leverage_cap)
            if need.deficit >= cfg.min_transfer_usdt and (danger or need.deficit > band):
                poor.append((danger, need))
        poor.sort(key=lambda item: (not item[0], -item[1].deficit))
        return poor

    def _routes_in_use(self) -> _RoutesInUse:
        """The venues sending and receiving, the routes busy (a transfer under way, one refused lately, a
        foreign withdrawal not credited yet) and the ends of lost transfers."""
        sending = {t.source for t in self.active()}
        receiving = {t.dest for t in self.active()}
        busy = {t.route for t in self.active()}
        # a route whose last transfer was refused waits notify_interval_s before it is tried again
        recent = self.now_ms() - self.cfg.notify_interval_s * 1000
        busy |= {t.route for t in self.transfers if t.status is Status.FAILED and t.updated_ms > recent}
        # a lost withdrawal may be the source's fault or the destination's: neither end is used until ack
        lost = [(t.source, t.dest) for t in self.active() if t.status is Status.TIMED_OUT]
        used = _RoutesInUse(sending, receiving, busy, lost)
        for record, dest in self.foreign_moves():
            self._foreign_route(record, dest, used)
        return used

    def _foreign_route(self, record: TransferRecord, dest: str, used: _RoutesInUse) -> None:
        """A withdrawal this node did not make: lost (both ends blocked until acknowledged) or incoming (its
        route waits until it is credited)."""
        if self._lost(record):
            used.lost.append((record.venue, dest))
            self._tell(f"foreign:{record.venue}:{record.id}", "error",
                       f"treasury: withdrawal {record.venue}:{record.id} of {record.amount} USDT to "
                       f"{dest} ({record.address}), not made by this node, is not credited after "
                       f"{self.cfg.timeout_s} s; routes from {record.venue} and to {dest} blocked: check "
                       f"both venues, then command treasury:ack:{record.venue}:{record.id}")
            return
        used.sending.add(record.venue)
        used.receiving.add(dest)
        used.busy.add((record.venue, dest))
        self._tell(f"foreign:{record.venue}:{record.id}", "warn",
                   f"treasury: withdrawal {record.venue}:{record.id} of {record.amount} USDT to {dest}, "
                   "not made by this node (another node's, or by hand), counts as incoming; its route "
                   "waits until it is credited")

    def _plan_for(self, danger: bool, need: VenueNeed, surplus: dict[str, Decimal], left_today: Decimal,
                  used: _RoutesInUse, moves: list[Move]) -> Decimal:
        """The moves from the venues with the most surplus that bring one poor venue to its target, added to
        moves; returns what today's limit leaves."""
        cfg = self.cfg
        wanted = need.deficit
        for source in sorted(surplus, key=lambda v: -surplus[v]):
            if wanted < cfg.min_transfer_usdt or source == need.venue:
                continue
            route = (source, need.venue)
            if self._route_waits(source, need, wanted, surplus, used):
                continue
            amount = min(wanted, surplus[source], cfg.max_transfer_usdt, left_today)
            amount = amount.quantize(Decimal(1), rounding=ROUND_DOWN)
            if amount < cfg.min_transfer_usdt:
                if left_today < cfg.min_transfer_usdt:
                    self._tell(f"daily:{need.venue}", "warn", f"treasury: {need.venue} needs "
                               f"{wanted:.0f} USDT but today's limit treasury.max_daily_usdt "
                               f"({cfg.max_daily_usdt}) is used up")
                continue
            reason = (f"{need.venue} {need.distance_pct:.1f} % from liquidation (trigger "
                      f"{cfg.trigger_distance_pct} %)" if danger else
                      f"{need.venue} {need.actual:.0f} USDT vs target {need.target:.0f}")
            move = self._route(source, need, amount, reason, danger)
            if move is None:
                continue
            moves.append(move)
            surplus[source] -= amount
            wanted -= amount
            left_today -= amount
            used.busy.add(route)
        return left_today

    def _route_waits(self, source: str, need: VenueNeed, wanted: Decimal, surplus: dict[str, Decimal],
                     used: _RoutesInUse) -> bool:
        """The route from source may not take a move now: an end of a lost transfer (said), busy, source
        receiving, the poor venue sending, or too little surplus."""
        if any(lost_source == source or lost_dest == need.venue for lost_source, lost_dest in used.lost):
            self._tell(f"lost:{source}:{need.venue}", "warn", f"treasury: {need.venue} needs "
                       f"{wanted:.0f} USDT; route {source}->{need.venue} waits for a lost transfer "
                       f"to be acknowledged (treasury:ack:ID)")
            return True
        return ((source, need.venue) in used.busy or source in used.receiving or need.venue in used.sending
                or surplus[source] < self.cfg.min_transfer_usdt)

    def _route(self, source: str, need: VenueNeed, amount: Decimal, reason: str, urgent: bool) -> Move | None:
        """The network for a move, or None when no network pays for itself (said once in a while)."""
        entries = [e for e in self.cfg.addresses(need.venue) if e not in self.wrong
                   and (source not in NATIVE_CHAIN or e.network in NATIVE_CHAIN[source])]
        if not entries:
            return Move(source, need.venue, amount, reason, urgent)
        costs = self.cfg.networks
        if urgent:
            entries.sort(key=lambda e: (costs[e.network].transit_s, costs[e.network].fee_usdt))
            worth = self._stop_cost(need)
            rule = f"the first stop level would cost ~{worth:.2f} USDT"
        else:
            entries.sort(key=lambda e: (costs[e.network].fee_usdt, costs[e.network].transit_s))
            worth = amount * self.cfg.max_fee_bps / 10_000
            rule = f"treasury.max_fee_bps {self.cfg.max_fee_bps} of {amount} is {worth:.2f} USDT"
        for entry in entries:
            if costs[entry.network].fee_usdt <= worth:
                return Move(source, need.venue, amount, reason, urgent, entry, costs[entry.network])
        cheapest = min(costs[e.network].fee_usdt for e in entries)
        self._tell(f"worth:{source}:{need.venue}", "info",
                   f"treasury: not moving {amount} USDT {source}->{need.venue} ({reason}): the cheapest "
                   f"network fee {cheapest} USDT is more than it saves ({rule})")
        return None

    def _stop_cost(self, need: VenueNeed) -> Decimal:
        """What the first stop level would cost on this venue: its fraction of the venue's notional
        closed on both legs now and reopened later (four taker fees)."""
        fraction = _first_stop(self.params.stops)[1]
        taker = self.params.fee(need.venue).taker_bps
        others = [self.params.fee(key).taker_bps for key in self.exchanges if key != need.venue]
        other = sum(others, ZERO) / len(others) if others else taker
        return need.notional * fraction * (taker + other) * 2 / 10_000

    def sent_today(self) -> Decimal:
        day = self.now_ms() // DAY_MS
        return sum((t.amount for t in self.transfers
                    if t.created_ms // DAY_MS == day and t.status is not Status.FAILED), ZERO)

    def _automatic(self, source: str, dest: str) -> bool:
        return source in SUPPORTED_VENUES and dest in SUPPORTED_VENUES

    # --- notify ---
    def _notify(self, move: Move) -> None:
        if move.entry is None:
            where = (f"no whitelisted {move.dest} address usable from {move.source}; add one in "
                     "treasury.whitelist")
        else:
            memo = f" memo {move.entry.memo}" if move.entry.memo else ""
            assert move.cost is not None
            where = (f"via {move.entry.network} to {move.entry.address}{memo} "
                     f"(fee ~{move.cost.fee_usdt} USDT, "
                     f"~{move.cost.transit_s // 60} min)")
        manual = "" if self.cfg.mode == "notify" else " (this route is not automated: move it by hand)"
        self._tell(f"move:{move.source}:{move.dest}", "warn",
                   f"treasury: move {move.amount} USDT from {move.source} futures to {move.dest} futures "
                   f"{where}: {move.reason}{manual}")

    def _tell(self, key: str, level: str, text: str) -> None:
        now = self.now_ms()
        if now - self._told.get(key, -10**15) >= self.cfg.notify_interval_s * 1000:
            self._told[key] = now
            self.event(text, level)

    # --- auto: the transfer's steps ---
    def start(self, move: Move) -> Transfer | None:
        assert move.entry is not None and move.cost is not None
        if not self.whitelisted(move.dest, move.entry.network, move.entry.address, move.entry.memo):
            return None
        transfer = Transfer(self.next_id, move.source, move.dest, move.amount, move.cost.fee_usdt,
                            move.entry.network, move.entry.address, move.entry.memo, move.reason,
                            self.now_ms(), updated_ms=self.now_ms())
        transfer.client_id = f"tr{transfer.id}x{self.now_ms() // 1000}"
        self.next_id += 1
        self.transfers.append(transfer)
        self.event(f"treasury: transfer #{transfer.id} {transfer.amount} USDT {transfer.source} -> "
                       f"{transfer.dest} via {transfer.network} started: {transfer.reason}", "info")
        self.save()
        self._advance(transfer)
        return transfer

    def whitelisted(self, venue: str, network: str, address: str, memo: str) -> bool:
        """The only way to a withdrawal: the exact (venue, network, address, memo) must be in params."""
        entry = WhitelistEntry(venue, network, address, memo)
        if entry in self.cfg.whitelist and entry not in self.wrong:
            return True
        shown_memo = f" memo {memo}" if memo else ""
        self.event(f"treasury: withdrawal to {address} ({venue} {network}{shown_memo}) "
                       "refused: not in treasury.whitelist (or the venue gives another deposit address); "
                       "add it there if it is really that venue's deposit address", "error")
        return False

    def _go(self, transfer: Transfer, event: str, note: str = "", level: str = "info") -> None:
        before = transfer.status
        transfer.status = TRANSITIONS[(transfer.status, event)]
        transfer.updated_ms = self.now_ms()
        if note:
            transfer.note = note
        self.save()
        if note:
            self.event(f"treasury: transfer #{transfer.id} {transfer.source} -> {transfer.dest} "
                           f"{transfer.amount} USDT {before.value} -> {transfer.status.value}: {note}", level)

    def _exchange(self, venue: str) -> Any:
        return self.exchanges[venue]

    def _funding(self, venue: str) -> Decimal | None:
        return read_funding_balance(self._exchange(venue), venue)

    def _advance(self, transfer: Transfer) -> None:
        """Take every step the venues' answers allow now (several in one look when they are quick)."""
        bound = set(self.exchanges)
        unbound = [v for v in transfer.route if v not in bound]
        if unbound:
            self._tell(f"unbound:{transfer.id}", "error", f"treasury: transfer #{transfer.id} "
                       f"{transfer.source} -> {transfer.dest} ({transfer.status.value}) needs "
                       f"{', '.join(unbound)}, which is not bound: bind it again to finish tracking it")
            return
        for _ in range(len(Status)):
            before = transfer.status
            step = getattr(self, f"_on_{transfer.status.value.lower()}", None)
            if step is None:
                return
            step(transfer)
            if transfer.status is before:
                return

    def _on_planned(self, t: Transfer) -> None:
        if not self.whitelisted(t.dest, t.network, t.address, t.memo):
            self._go(t, "refused", "address not in treasury.whitelist; nothing sent", "error")
            return
        before = self._funding(t.source)
        if before is None:
            return  # funding wallet unreadable: try at the next look
        if t.funding_asked and before >= t.funding_before + t.amount + t.fee - CENT:
            self._go(t, "funded")  # asked before a restart or without an answer, and carried out
            return
        if not t.funding_asked:  # a request asked again keeps the balance from before the first one
            t.funding_before = before
            t.funding_asked = True
            self.save()
        answer = internal_transfer(self._exchange(t.source), t.source, t.amount + t.fee, to_futures=False,
                                   ref=f"{t.client_id}a")
        if answer.done is False:
            self._go(t, "refused", f"{t.source} futures -> funding refused ({answer.detail})", "error")
        elif answer.done or (self._funding(t.source) or ZERO) >= t.funding_before + t.amount + t.fee - CENT:
            self._go(t, "funded")
            if self.wallet_moved is not None:  # asked just now: the last reading of the source still holds it
                self.wallet_moved(t.source, -(t.amount + t.fee))

    def _on_funded(self, t: Transfer) -> None:
        if not self.whitelisted(t.dest, t.network, t.address, t.memo):
            self._go(t, "sending")  # never sent: returned below
            self._go(t, "refused", "address not in treasury.whitelist; nothing withdrawn", "error")
            return
        t.sent_ms = self.now_ms()
        self._go(t, "sending")  # saved before the request: a restart looks the withdrawal up, never re-sends
        answer = withdraw(self._exchange(t.source), t.source, amount=t.amount, network=t.network,
                          address=t.address, memo=t.memo, client_id=t.client_id, now_ms=self.now_ms())
        self._withdraw_answer(t, answer)

    def _withdraw_answer(self, t: Transfer, answer: Answer) -> None:
        if answer.done:
            t.withdrawal_id = answer.ref
            self._go(t, "accepted", f"withdrawal {answer.ref} accepted by {t.source}")
        elif answer.done is False:
            self._go(t, "refused", f"{t.source} refused the withdrawal ({answer.detail}); returning the "
                     "money to its futures wallet", "error")

    def _on_sending(self, t: Transfer) -> None:
        """No answer to the request: look for it in the source's withdrawal history. Only a read of that
        history made after the request had time to show there counts as a look (a failed or stale read
        proves nothing)."""
        found = self._find_withdrawal(t)
        if found is not None:
            t.withdrawal_id = found.id
            t.tx_id = found.tx_id or t.tx_id
            self._go(t, "accepted", f"withdrawal {found.id} found in {t.source}'s history")
            return
        watcher = self.histories
        read_ms = watcher.read_ms(t.source) if watcher is not None else 0
        if read_ms < t.sent_ms + ABSENT_SETTLE_MS or read_ms <= t.looked_ms:
            return
        t.looks += 1
        t.looked_ms = read_ms
        self.save()
        if t.looks >= ABSENT_LOOKS:
            self._go(t, "absent", f"the withdrawal request got no answer and is not in {t.source}'s "
                     f"history after {t.looks} reads; returning the money to its futures wallet", "error")

    def _records(self) -> list[TransferRecord]:
        watcher = self.histories
        return list(watcher.records.values()) if watcher is not None else []

    def _find_withdrawal(self, t: Transfer) -> TransferRecord | None:
        claimed = {x.withdrawal_id for x in self.transfers if x is not t and x.withdrawal_id}
        for r in self._records():
            if r.venue == t.source and r.kind == "withdrawal" and r.id not in claimed:
                if t.withdrawal_id and r.id == t.withdrawal_id:
                    return r
                # OKX and Bybit list what was asked as the amount, the fee (whatever it came to) on top;
                # where the fee comes out of the amount, amount + fee is what was asked
                asked = abs(r.amount - t.amount) <= CENT or abs(r.amount + r.fee - t.amount) <= t.fee + CENT
                if not t.withdrawal_id and asked and r.address == t.address \
                        and r.time_ms >= t.sent_ms - 60_000:
                    return r
        return None

    def _on_in_transit(self, t: Transfer) -> None:
        self._sweep(t)
        record = self._find_withdrawal(t)
        if record is not None:
            t.tx_id = record.tx_id or t.tx_id
            if record.state == "failed":
                self._go(t, "failed", f"{t.source} reports the withdrawal failed; returning the money to "
                         "its futures wallet", "error")
                return
        if self._credit(t):
            return
        if self.now_ms() - t.sent_ms > self.cfg.timeout_s * 1000:
            self._go(t, "timed_out", f"not credited on {t.dest} after {self.cfg.timeout_s} s (tx "
                     f"{t.tx_id or 'unknown'}); route {t.source}->{t.dest} blocked and nothing repeated: "
                     "check "
                     f"the withdrawal on {t.source} and the deposit on {t.dest}, then command "
                     f"treasury:ack:{t.id}", "critical")

    def _on_timed_out(self, t: Transfer) -> None:
        record = self._find_withdrawal(t)
        if record is not None and record.tx_id:
            t.tx_id = record.tx_id
        self._credit(t)

    def _credit(self, t: Transfer) -> bool:
        """The destination's deposit with the withdrawal's chain tx id, once credited."""
        if not t.tx_id:
            return False
        for r in self._records():
            if r.venue == t.dest and r.kind == "deposit" and r.tx_id == t.tx_id and r.state == "done":
                t.credited = r.amount
                late = " (after the timeout)" if t.status is Status.TIMED_OUT else ""
                self._go(t, "credited", f"{r.amount} USDT credited on {t.dest}{late}")
                return True
        return False

    def _on_credited(self, t: Transfer) -> None:
        funding = self._funding(t.dest)
        if funding is None:
            return
        amount = min(t.credited, funding)
        if amount <= 0:
            self._go(t, "settled", f"nothing left in {t.dest}'s funding wallet to move")
            return
        answer = internal_transfer(self._exchange(t.dest), t.dest, amount, to_futures=True,
                                   ref=f"{t.client_id}b")
        if answer.done:
            self._go(t, "settled", f"{amount} USDT moved into {t.dest} futures")

    def _on_returning(self, t: Transfer) -> None:
        funding = self._funding(t.source)
        if funding is None:
            return
        amount = min(funding - t.funding_before, t.amount + t.fee)
        if amount > CENT:
            answer = internal_transfer(self._exchange(t.source), t.source, amount, to_futures=True,
                                       ref=f"{t.client_id}r")
            if not answer.done:
                return
        self._go(t, "returned", f"{max(amount, ZERO):.2f} USDT back in {t.source} futures")

    def _sweep(self, t: Transfer) -> None:
        """Return the fee estimate the withdrawal did not use to the source's futures wallet (once)."""
        if t.swept:
            return
        funding = self._funding(t.source)
        if funding is None:
            return
        left = min(funding - t.funding_before, t.fee)
        if left <= CENT or internal_transfer(self._exchange(t.source), t.source, left, to_futures=True,
                                             ref=f"{t.client_id}s").done:
            t.swept = True
            self.save()

    # --- commands ---
    def on_command(self, command: str) -> None:
        """treasury:ack:ID releases the route of a timed-out transfer (the user has looked into it);
        treasury:ack:VENUE:WITHDRAWAL_ID that of a lost withdrawal this node did not make."""
        parts = command.split(":")
        if len(parts) == 4 and parts[1].strip().lower() == "ack":
            key = f"{parts[2].strip().lower()}:{parts[3].strip()}"
            if any(f"{r.venue}:{r.id}" == key and self._lost(r) for r, _ in self.foreign_moves()):
                self.acked.add(key)
                self.save()
                self.event(f"treasury: lost withdrawal {key} acknowledged by command; routes released",
                               "warn")
                return
            self.api.log(f"command '{command}': {key} is not a lost withdrawal of another node",
                             "#ff0000")
            return
        if len(parts) == 3 and parts[1].strip().lower() == "ack" and parts[2].strip().isdigit():
            found = next((t for t in self.transfers if t.id == int(parts[2])), None)
            if found is not None and found.status is Status.TIMED_OUT:
                if found.withdrawal_id:  # still acknowledged once its record is no longer kept here
                    self.acked.add(f"{found.source}:{found.withdrawal_id}")
                self._go(found, "acknowledged", "acknowledged by command; route released", "warn")
                return
            self.api.log(f"command '{command}': transfer #{parts[2]} is not timed out "
                             "(only a TIMED_OUT transfer can be acknowledged)", "#ff0000")
            return
        self.api.log(f"command '{command}': use treasury:ack:ID (ID of a TIMED_OUT transfer)", "#ff0000")


def _first_stop(stops: StopsConfig) -> tuple[Decimal, Decimal]:
    """(distance %, close fraction) of the first stop level (hedge/risk.py), 40 % / 0.25 without levels."""
    if stops.levels:
        return Decimal(stops.levels[0].distance_pct), Decimal(stops.levels[0].close_fraction)
    return Decimal(40), Decimal("0.25")


def _max_venue_leverage(stops: StopsConfig) -> Decimal:
    """The per-venue leverage at which the stops fire (hedge/risk.py)."""
    return Decimal(stops.max_effective_leverage)
