"""A loose leg stuck on a venue that is out is hedged on a venue that trades (issue #17, sequence 7).

A close (a spread close or a stop) that closed one leg while the other leg's venue refused or was down, and
whose undo (where allowed) failed too, leaves that other leg as a loose leg (hedge/risk.py): it can only be
closed on its own venue, so while that venue stays out the coin's exposure is unhedged for as long as the
outage lasts. Here that time is bounded by `outage.max_unhedged_s`: once a loose leg has been held that long
(without shrinking) and its venue is out now (down, rate-limited, refusing orders, its orders timing out, an
order there in doubt, or back but not recovered yet), or at once when that venue has definitely refused to
close it (a close there refused by an answer that cannot land later, or its orders out for refusing, and no
order taken there since: `refused_close`; the wait exists only to let that venue close it), the opposite side
of the same quantity is opened on a venue that trades (every check below still applies: an order of ours there
in doubt or a close proved absent that may still land holds it, `_pending`), and the loose leg and that new
leg become one ordinary hedge pair in the ledger (`Book.pair_loose`: the loose leg's booked price and the new
fill are its entry prices). The normal spread and stop logic closes it later. The out venue is the pair's lead
(`HedgePair.lead`, in the ledger): its spread close sends that venue's leg first, alone, and the new leg only
for what it closed (`close_lead`; sent together while that venue still refuses, the new leg would be closed
and bought back by the undo at every try), and is not tried while that venue is out, cooling down or in doubt
(`close_waits`); stops do not wait.

The venue is chosen among the bound venues listing the symbol that trade now (no function out, not back from
an outage unreconciled, no order timed out or refused there lately, a fresh book, no order in doubt, no loose
leg of the symbol, its position not in doubt), never one a
stop fired on since shortly before the leg appeared nor, for a stop's hedge kept through an outage, the venue
whose leg the stop cut (the new leg would re-open it), and only where the risk engine's check at the re-hedge
floor passes with the new leg (`Risk.open_problem` at stops.rehedge_margin x the first stop level and the
leverage ceiling / rehedge_margin: lower than an opening's OPEN_MARGIN, as a re-hedge reduces risk) and the
available margin covers it as an opening's would; of those, a venue taking the whole leg, then the largest
part, then the most margin left, among the venues that have taken an order since any was refused or timed
out there or they were out (`_rank`; one that has not comes last). The quantity is the leg's on the common
amount step of both venues (never more: what is below one step stays loose on its venue); a new leg that
filled off that step leaves its excess, less than one step, as a loose leg on its own venue, closed
reduce-only. Where no venue can take the whole leg, one takes as much as keeps it at the floor, in steps, when
that is worth a pair (min_order_usdt) and only opens there (`_plan`, `_partial`); the rest keeps the leg's
timer, is tried at the next settle window (another venue, or the same once it has room), and the treasury is
asked to move margin to that venue from the venues that trade (`_after_partial`, `want_margin`). A leg above
a venue's maximum order size (ContractSpec.max_qty, FMZ Market.MaxQty: the venue refuses a larger order) is
hedged there the same way, one order of at most that size per turn (no margin asked for).

The order is journaled like every order (tag `rehedge#<the loose leg's venue>`); one whose outcome is unknown
stops openings and is settled by recovery, which books it as here (`complete`). No second re-hedge of the
venue's legs is sent while one is journaled, nor while one proved absent may still land (LATE_LANDING_SETTLES
settle windows after its send), nor while a close of the leg proved absent may still land on its own venue
(its landing would take the new pair's leg there; waited for at most LATE_LANDING_SETTLES settle windows
after the leg began, when that is longer than max_unhedged_s). Attempts are at most one per settle window
(`outage.order_settle_s`); why a due leg is not hedged yet is in `waiting` (the Risk tab) and said once per
reason.

In a cluster (docs/cluster.md) the node that may act on the loose leg's unit (its lease held, reconciled)
re-hedges it, on a venue whose new pair's unit it may act on too: the new pair's id is reserved through the
coordinator by a script that checks that unit's lease (`Coordinator.reserve_pair_id`), the venue-symbol's
execution lock is taken and the shared book re-read under it (the leg still as it was, no re-hedge of its
venue journaled), and the order is journaled under the loose leg's unit, fenced by its lease. A node that
dies after sending leaves the order in the shared journal: no node re-hedges that venue's legs while it is
there, and the node that adopts the leg's unit settles it (recovery, `complete`) before it may act on the
unit; proved absent, it is on that node's watch list, and no second re-hedge goes out while it may land.
If that node does not hold the new pair's unit, the fill is a loose leg of the unit it was journaled under
(closed reduce-only). Loose legs of the other side of a symbol held on other venues offset a leg up to
their size (`_offset`: hedged beside them, that part would be doubled): that much is held back, and only the
rest, the symbol's net, is re-hedged (re-checked under the lock in a cluster).

A venue holding pairs' legs of the loose leg's own side (an earlier re-hedge's, say: a new leg there would net
with them) may still take the hedge (issue #17, chaos tight seed 2: else the leg stayed unhedged as long as
the other venues refused). Its trade closes those legs first, reduce-only (`Executor.move_position`: never
past zero in one order), and only once all are closed opens the rest. The book says what happened
(`_book_netted`, `Book.net_pair_leg`): each closed leg's pair keeps its far leg, which now hedges that much of
the loose leg (a new pair with it, the loose leg's venue its lead; far leg on the loose leg's own venue: the
two are one position there and cancel), so that every venue's legs stay on one side and ledger == venues.
Above the venue's maximum order size, the close and the opening are each at most that size, the rest at the
next tries (`_net_capped`). No exposure is added on the far venues, so a far leg on a venue a stop fired on is
no reason to wait (the venue traded on is still kept off after a stop). Not while a far leg's position or an
order there is in doubt, not when the ledger holds other legs there, and not in a cluster (those pairs' units
may be other nodes'). Recovery books a settled re-hedge the same way (`complete`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from hedge.cluster import Unit
from hedge.decimals import to_decimal as _dec
from hedge.execution import CLOSING, DIRECTION, LATE_LANDING_SETTLES, LegFill, LegOutcomeUnknown
from hedge.ledger import OUTAGE, HedgePair, LooseKey, LooseLeg
from hedge.outage import ACCOUNT, ORDERS
from hedge.sizing import common_base_step, floor_to_step, leg_problem
from hedge.venues.base import Side

if TYPE_CHECKING:
    from hedge.book import Book
    from hedge.cluster.base import Coordinator
    from hedge.config import HedgeConfig
    from hedge.execution import Executor
    from hedge.market import Market, Venue
    from hedge.orders import OrderRecord
    from hedge.outage import VenueHealth
    from hedge.risk import Risk

_NUMBER = re.compile(r"[-+]?\d[\d.]*")
NETS = "a pair's leg there is on the other side (they would net)"
REHEDGE_TAG = "rehedge#"  # + the loose leg's venue: the order that hedges a loose leg on another venue
# a stop that fired on a venue this long before a loose leg appeared (or since) keeps the leg's re-hedge off
# that venue: the stop cut it for being near liquidation
STOP_MEMORY_MS = 60_000
StopLeg = tuple[str, str, Decimal, str]  # a stop's hedge leg kept loose: (venue, symbol, signed, unit)
Reserved = tuple[str, Side, Decimal, Decimal]  # a re-hedge counted as taken: (symbol, side, qty, price)


class Rehedger:
    """Bounds in time the exposure a loose leg on a venue that is out leaves unhedged (module docstring)."""

    def __init__(self, *, cfg: HedgeConfig, health: VenueHealth, book: Book, risk: Risk, executor: Executor,
                 coordinator: Coordinator, venues: list[Venue], market: Callable[[], Market | None],
                 now_ms: Callable[[], int], event: Callable[..., None], taker_bps: Callable[[str], Decimal],
                 stop_openings: Callable[[str, set[tuple[str, str]]], None],
                 suspect: Callable[[], set[tuple[str, str]]], measure_exposure: Callable[[], None]) -> None:
        self.cfg = cfg
        self.health = health
        self.book = book
        self.risk = risk
        self.executor = executor
        self.coordinator = coordinator
        self.venues = venues  # the App's list, filled at start
        self._market = market
        self._now_ms = now_ms
        self._event = event
        self._taker_bps = taker_bps
        self._stop_openings = stop_openings
        self._suspect = suspect
        self._measure_exposure = measure_exposure
        self._since: dict[LooseKey, tuple[int, Decimal]] = {}  # leg -> (ms first seen, |qty| then)
        self._next_try_ms: dict[LooseKey, int] = {}
        self.waiting: dict[LooseKey, str] = {}  # a due leg -> why it is not hedged yet (the Risk tab)
        self._said: dict[LooseKey, set[str]] = {}  # the kinds of reason said per leg (until it shrinks)
        self.rehedged = 0  # legs hedged on another venue in this process
        self._doubted: dict[tuple[str, str], int] = {}  # _closes_in_doubt at the last check
        # (venue, venues money may come from, why): asks the treasury for margin on a venue that took only
        # part of a leg (set by hedge/wiring.py; None: no treasury)
        self.want_margin: Callable[[str, list[str], str], None] | None = None
        # venue -> re-hedges counted as taken there while `unhedgeable` checks a stop's legs (empty otherwise)
        self._reserved: dict[str, list[Reserved]] = {}

    # --- every turn ---
    def check(self, act: bool = True) -> None:
        """Hedge the loose legs held for outage.max_unhedged_s on a venue that is out now. Called every turn
        (the App; act: closes may be sent), so that a leg is timed from when it appeared; sends nothing while
        no leg is loose. First the pairs on a venue that has not proved it trades keep it as their lead."""
        self._keep_leads()
        ledger = self.book.ledger
        for key in [k for k in self._since if k not in ledger.loose]:
            self._forget(key)
        doubted, self._doubted = self._doubted, self._closes_in_doubt()
        if not ledger.loose or not act:
            return
        now = self._now_ms()
        for key in sorted(ledger.loose):
            self._check_leg(key, ledger.loose[key], doubted, now)

    def _check_leg(self, key: LooseKey, leg: LooseLeg, doubted: dict[tuple[str, str], int], now: int) -> None:
        """Time one loose leg; once held for outage.max_unhedged_s on a venue that is out, re-hedge it (or
        say why not)."""
        since = self._held_since(key, leg, doubted, now)
        if since is None:
            return
        stuck = self._stuck(leg.venue, leg.symbol)
        if stuck is None:
            self.waiting.pop(key, None)  # its venue trades: settle_loose closes it there
            return
        if now < self._due_ms(leg, since):
            return
        if not self._mine(leg):  # another node's unit: its holder re-hedges it (timed here all the same, so
            self.waiting.pop(key, None)  # that an adopter does not wait another max_unhedged_s)
            return
        # an order that may still take effect first (looked at every turn: it sends nothing); then one try
        # per settle window
        why, level = self._pending(leg, since), "warn"
        if why is None and now >= self._next_try_ms.get(key, 0):
            level = "error"
            self._next_try_ms[key] = now + self.executor.settle_ms(leg.venue)
            why = self._rehedge(leg, stuck, since)
        elif why is None:
            return
        if why is None:
            self.waiting.pop(key, None)
            return
        self._say_waiting(key, leg, why, level, now - since, stuck)

    def _held_since(self, key: LooseKey, leg: LooseLeg, doubted: dict[tuple[str, str], int], now: int
                    ) -> int | None:
        """Since when the leg is timed; None when its venue just took part of it (timed afresh from now)."""
        if key not in self._since:  # a close whose leg here was in doubt left it: unhedged since its send
            # timed before a restart: from then (else each restart would put its re-hedge off again)
            began = leg.since_ms or min(doubted.get((leg.venue, leg.symbol), now), now)
            self._since[key] = (began, abs(leg.qty))
            self._keep_time(leg, began)
        since, size = self._since[key]
        if abs(leg.qty) < size:  # its venue took part of it: held from now on
            self._since[key] = (now, abs(leg.qty))
            self._keep_time(leg, now)
            self.waiting.pop(key, None)
            self._said.pop(key, None)
            return None
        return since

    def _say_waiting(self, key: LooseKey, leg: LooseLeg, why: str, level: str, held_ms: int, stuck: str
                     ) -> None:
        """Why the leg is not re-hedged: said once per kind of reason while it waits, shown in the status."""
        said = self._said.setdefault(key, set())
        kind = waiting_kind(why)
        if kind not in said:  # said once per kind of reason while the leg waits
            said.add(kind)
            self._event(f"loose leg {leg.symbol} {leg.qty:+f} on {leg.venue} unhedged "
                        f"{held_ms // 1000} s ({stuck}) not re-hedged: {why}; tried again every "
                        f"{self.executor.settle_ms(leg.venue) // 1000} s", level)
        self.waiting[key] = f"{leg.venue} {leg.symbol} {leg.qty:+f} ({stuck}): {why}"

    def _keep_leads(self) -> None:
        """A pair with a leg on a venue that has not proved it trades (VenueHealth.unproven) keeps that venue
        as its lead in the ledger (HedgePair.lead), so that a restart, which forgets venue health, still
        spread-closes it that leg first. Both unproven: the one unproven longer. Not in a cluster (the
        ledger's writes are fenced by units this node may not hold; the closing node marks its pairs)."""
        unproven = self.health.unproven
        if not unproven or self.coordinator.shared:
            return
        marks: dict[str, list[int]] = {}
        for pair in self.book.ledger.pairs.values():
            doubted = [key for key in (pair.long_venue, pair.short_venue) if key in unproven]
            if doubted and not pair.lead:
                marks.setdefault(min(doubted, key=lambda key: unproven[key]), []).append(pair.id)
        for venue, ids in marks.items():
            self.book.lead_pairs(ids, venue)
        if marks:
            self.book.save()

    def _keep_time(self, leg: LooseLeg, since: int) -> None:
        """Persist since when the leg is timed, so that a restart does not time it afresh (not in a cluster:
        there legs are not re-hedged, and the ledger's writes are fenced by units this node may not hold)."""
        if leg.since_ms != since and not self.coordinator.shared:
            self.book.time_loose(leg.key, since)
            self.book.save()

    def _closes_in_doubt(self) -> dict[tuple[str, str], int]:
        """(venue, symbol) -> the earliest send of a journaled closing order there: a close whose leg there is
        not settled yet. Recovery books its rest as a loose leg, at a later turn, and clears the journal in
        the same turn: the leg has been unhedged since that send (a turn before it appears)."""
        found: dict[tuple[str, str], int] = {}
        for record in self.book.ledger.orders.values():
            if record.side in CLOSING and record.sent_ms:
                key = (record.venue, record.symbol)
                found[key] = min(found.get(key, record.sent_ms), record.sent_ms)
        return found

    def _forget(self, key: LooseKey) -> None:
        self._since.pop(key, None)
        self._next_try_ms.pop(key, None)
        self.waiting.pop(key, None)
        self._said.pop(key, None)

    def _stuck(self, venue: str, symbol: str, refused: bool = True) -> str | None:
        """Why `venue` cannot close a leg in `symbol` now; None when it can (settle_loose does).
        refused=False: orders it refused since it last took one do not count by themselves (they do not
        lapse: only an order it takes ends them)."""
        health = self.health
        if not health.can_trade(venue) or health.is_out(venue, ACCOUNT):
            return f"{venue} down"
        if health.is_out(venue, ORDERS):
            return f"{venue} orders out"
        if refused and health.refusals.get(venue):
            return f"{venue} refused its last {health.refusals[venue]} order(s)"
        if health.cooling.get(venue, 0) > self._now_ms():
            return f"{venue} orders timing out"
        if venue in health.recovered:
            return f"{venue} back, not recovered yet"
        if self._in_doubt(venue, symbol):
            return f"an order on {venue} {symbol} in doubt"
        return None

    def close_yields(self, leg: LooseLeg) -> bool:
        """The leg's own reduce-only close is not sent now (Risk.settle_loose): its venue cannot close it
        (`_stuck`), this node re-hedges it, and a close sent now could still be in doubt when the leg is
        due (held outage.max_unhedged_s): an order in doubt there holds the re-hedge back until it is
        proved absent, about a settle window after its send plus the lookups' cadence (two windows are
        allowed), so closes sent one after another as each is proved absent would hold it for as long as
        the venue's orders time out (chaos seed 1, 6 days: 72.9 s). A close proved absent that may still
        land is waited for as before (`_pending`)."""
        timed = self._since.get(leg.key)
        if timed is None or not self._mine(leg) or self._stuck(leg.venue, leg.symbol) is None:
            return False
        lead = 2 * self.executor.settle_ms(leg.venue)
        return self._now_ms() + lead >= self._due_ms(leg, timed[0])

    def _due_ms(self, leg: LooseLeg, since: int) -> int:
        """When the leg, timed since `since`, is re-hedged (its venue still out then): held
        outage.max_unhedged_s, a wait that exists only to let its own venue close it; at once once that venue
        has definitely refused (`refused_close`)."""
        if self.refused_close(leg.venue, leg.symbol):
            return since
        return since + self.cfg.outage.max_unhedged_s * 1000

    def refused_close(self, venue: str, symbol: str) -> bool:
        """The venue has definitely refused to close a leg in `symbol` (answers the runtime called refusals,
        `last_outcome_unknown` False: nothing of them can land later) and taken no order since: a close of it
        was refused there, or its orders are out for refusing max_errors in a row (VenueHealth.refusing). An
        order whose outcome is unknown is no evidence (it may land later: `_pending` waits for it)."""
        health = self.health
        if not health.refusals.get(venue):  # an order taken there since ends it (VenueHealth.order_accepted)
            return False
        if health.refusing.get(venue, 0) > self._now_ms():
            return True
        refused = self.executor.close_refused_ms(venue, symbol)
        # the first refusal or timeout since the venue last took an order (VenueHealth.unproven)
        streak = health.unproven.get(venue)
        return refused is not None and streak is not None and refused >= streak

    def unhedgeable(self, legs: Sequence[StopLeg]) -> list[Decimal]:
        """For each hedge leg a stop would keep loose, (venue (out), symbol, signed, unit): how much more of
        what `unit` holds loose on that venue no venue that trades could hedge now (whole, or the part
        `_plan` takes), were it kept loose there too: what a first stop level due by the leverage ceiling
        alone would add to the exposure left unhedged for as long as the outage lasts (Risk._deferred). The
        legs of one stop share the venues' room: largest notional first, each is checked with the re-hedges
        of those before it that leave nothing unhedged counted as taken (their margin and their legs in the
        venue's pro-forma view), so that two legs cannot both count on the same margin; a leg that would
        leave some unhedged takes none (its pair waits, Risk._close_own)."""
        order = sorted(range(len(legs)), key=lambda i: (-self._notional(legs[i]), legs[i][:2]))
        stays = [Decimal(0)] * len(legs)
        self._reserved = {}
        try:
            for i in order:
                venue, symbol, signed, unit = legs[i]
                held = self.book.ledger.loose.get((venue, symbol, unit))
                before = held.qty if held else Decimal(0)
                after, plan = self._stays(venue, symbol, before + signed, unit)
                stays[i] = max(after - self._stays(venue, symbol, before, unit)[0], Decimal(0))
                if stays[i] == 0 and plan is not None:
                    self._reserved.setdefault(plan[0], []).append(plan[1])
        finally:
            self._reserved = {}
        return stays

    def _notional(self, leg: StopLeg) -> Decimal:
        venue, symbol, signed, _ = leg
        return abs(signed) * self.risk.reference(venue, symbol, bid=signed > 0)

    def _stays(self, venue: str, symbol: str, qty: Decimal, unit: str
               ) -> tuple[Decimal, tuple[str, Reserved] | None]:
        """What of a leg of `qty` loose on `venue` for `unit` no venue that trades could hedge now, and the
        hedge that takes the most of it (venue, its leg), if any."""
        own = self._venue(venue)
        if qty == 0:
            return Decimal(0), None
        if own is None or symbol not in own.specs:
            return abs(qty), None
        now = self._now_ms()
        leg = LooseLeg(venue, symbol, qty, Decimal(0), 0, unit, OUTAGE, now)
        side = "sell" if qty > 0 else "buy"
        offset, _ = self._offset(leg)
        best = offset
        taken: tuple[str, Reserved] | None = None
        for other in self.venues:
            if other.key == venue or symbol not in other.specs:
                continue
            plan = self._plan(leg, own, other, side, offset, now)
            if not isinstance(plan, str):
                hedged = abs(qty) if plan[3] else plan[0] + offset
                if taken is None or hedged > best:
                    best = max(best, hedged)
                    hedge = Side.SHORT if side == "sell" else Side.LONG
                    taken = (other.key, (symbol, hedge, plan[0], plan[1]))
        return abs(qty) - min(best, abs(qty)), taken

    def close_waits(self, symbol: str, long_venue: str, short_venue: str) -> bool:
        """A spread close of a pair with a lead venue (a re-hedge's old venue, HedgePair.lead) waits while
        that venue is out, cooling down or in doubt: even its leg alone would only be refused or time out.
        Orders it refused since it last took one do not hold the close: they never lapse by themselves, and
        its leg sent alone first (`close_lead`) is what proves it trades again."""
        return any(pair.lead and pair.symbol == symbol and (pair.long_venue, pair.short_venue) ==
                   (long_venue, short_venue) and self._stuck(pair.lead, symbol, refused=False) is not None
                   for pair in self.book.ledger.pairs.values())

    def close_lead(self, long_venue: str, short_venue: str, pairs: Collection[HedgePair]) -> str | None:
        """The venue whose leg a spread close of `pairs` sends first, alone (the other leg goes only for what
        it closed), or None (both back to back): the one venue of the two that has not proved it trades
        since an order there was refused or timed out or it was out (VenueHealth.unproven); else the lead
        the pairs keep (a re-hedge's old venue, or one found unproven at an earlier close: HedgePair.lead,
        kept across restarts); else, both unproven, the one unproven longer. Sent together, a refused leg
        would strip the other venue's leg, bought back by the undo: a round trip of the leg at every try.
        Stops never ask: they send both legs (a threatened leg is not held for the other venue)."""
        unproven = self.health.unproven
        doubted = [key for key in (long_venue, short_venue) if key in unproven]
        if len(doubted) == 1:
            return doubted[0]
        marked = next((p.lead for p in pairs if p.lead in (long_venue, short_venue)), "")
        if marked:
            return marked
        return min(doubted, key=lambda key: unproven[key]) if doubted else None

    def _in_doubt(self, venue: str, symbol: str) -> bool:
        return any((r.venue, r.symbol) == (venue, symbol) for r in self.book.ledger.orders.values())

    def exposure_to_hedge(self) -> dict[str, Decimal]:
        """USDT of loose legs each venue could be asked to hedge (the treasury keeps the margin for it there,
        hedge/treasury.py): every loose leg's size at the venue's reference price, counted on every other
        bound venue listing its symbol (which one takes it is known only at its try), none on its own venue
        (its close there frees margin)."""
        wanted: dict[str, Decimal] = {}
        for leg in self.book.ledger.loose.values():
            for venue in self.venues:
                if venue.key == leg.venue or leg.symbol not in venue.specs:
                    continue
                price = self.risk.reference(venue.key, leg.symbol, bid=leg.qty > 0) or leg.price
                wanted[venue.key] = wanted.get(venue.key, Decimal(0)) + abs(leg.qty) * price
        return wanted

    # --- choosing the venue and trading ---
    def _rehedge(self, leg: LooseLeg, stuck: str, since: int) -> str | None:
        """Hedge the leg on the best venue that can take it, in full or, where no venue can, as much of it as
        keeps a venue at the re-hedge floor (`_plan`); None when done, else why not."""
        own = self._venue(leg.venue)
        if own is None or leg.symbol not in own.specs:
            return f"{leg.venue} is not bound"
        side = "sell" if leg.qty > 0 else "buy"  # the opposite of the leg
        # held back: what loose legs of the other side offset, and what closes of it that may still land
        # could take (_pending)
        offset, by = self._held_back(leg, since)
        refused: list[str] = []
        best: tuple[tuple[bool, bool, Decimal, Decimal], Venue, Decimal, Decimal] | None = None
        for venue in self.venues:
            if venue.key == leg.venue or leg.symbol not in venue.specs:
                continue
            plan = self._plan(leg, own, venue, side, offset, since)
            if isinstance(plan, str):
                refused.append(f"{venue.key}: {plan}")
                continue
            qty, price, room, whole = plan
            rank = self._rank(venue.key, whole, qty, room)
            if best is None or rank > best[0]:
                best = (rank, venue, qty, price)
        if best is None:
            held = f"; {offset} held back: {by}" if offset else ""
            return "no venue can take it (" + "; ".join(refused or ["no other venue lists it"]) + held + ")"
        (_, whole, _, _), venue, qty, price = best
        netting = not whole and bool(self._net_shares(leg, venue.key, qty)[0])  # only a cap splits one
        landing, until, _ = self._landing(leg, since)
        problem = self._trade(leg, venue, side, qty, price, stuck)
        if problem is None and not whole:
            step = common_base_step(own.specs[leg.symbol], venue.specs[leg.symbol])
            cap = self._cap(venue, leg, step)
            capped = netting or (cap is not None and qty + step > cap)
            self._after_partial(leg, venue.key, qty, since, refused, capped)
        if problem is None and landing:
            self._after_held(leg, since, until)
        return problem

    def _after_held(self, leg: LooseLeg, since: int, until: int) -> None:
        """A re-hedge took the leg beyond what closes of it that may still land could take (`_landing`): the
        rest keeps the leg's timer (the shrink is no close by its own venue) and is tried again once those
        closes can no longer land (`until`), not a settle window or a max_unhedged_s later; landed, they are
        booked off it (Risk)."""
        rest = self.book.ledger.loose.get(leg.key)
        if rest is None:
            return
        self._since[leg.key] = (since, abs(rest.qty))
        if leg.key in self._next_try_ms:
            self._next_try_ms[leg.key] = min(self._next_try_ms[leg.key], until)

    def _rank(self, key: str, whole: bool, qty: Decimal, room: Decimal
              ) -> tuple[bool, bool, Decimal, Decimal]:
        """A venue that has not proved it trades since an order there was refused or timed out (or it was
        out: VenueHealth.unproven) comes after every venue that has: one that takes closes but refuses new
        positions would otherwise win again at every try (its cool-down lapses when a re-hedge proved absent
        may no longer land) and a venue that would take the leg never get it. Then one that takes the whole
        leg, then the largest part, then the most margin room."""
        return key not in self.health.unproven, whole, Decimal(0) if whole else qty, room

    def _plan(self, leg: LooseLeg, own: Venue, venue: Venue, side: str, offset: Decimal, since: int
              ) -> tuple[Decimal, Decimal, Decimal, bool] | str:
        """(quantity, price, margin left after it, whether it is the whole leg) of the leg's hedge on `venue`,
        or why there is none. The whole leg (less what loose legs of the other side offset) when it fits
        (`_fit`); else, when it would only open a position there (no netting), the most of it in steps that
        keeps the venue at the re-hedge floor (`_partial`), when worth a pair (min_order_usdt: else each
        settle window's wiggle of the marks would send another dust pair): some of the exposure hedged now,
        the rest at a later try, on another venue or once margin arrives (the treasury is asked:
        `_after_partial`)."""
        step = common_base_step(own.specs[leg.symbol], venue.specs[leg.symbol])
        price = self.risk.reference(venue.key, leg.symbol, bid=side == "sell")
        netted, qty = self._net_plan(leg, venue, floor_to_step(abs(leg.qty) - offset, step), price)
        capped = bool(netted) and self._net_capped(leg, venue, netted, qty, step) != (netted, qty)
        if capped:
            netted, qty = self._net_capped(leg, venue, netted, qty, step)
        problem = self._problem(leg, venue, side, qty, price, since)
        if problem:
            return problem
        problem = self._limits(venue, leg.symbol, side, qty, price, netted)
        available = self._available(venue) if problem is None or not netted else problem
        if isinstance(available, str):
            return available
        fit = problem or self._room(venue, qty - netted, price, available)
        if not isinstance(fit, str):
            return qty, price, fit, not capped
        if netted or qty <= step:
            return fit
        cap = self._cap(venue, leg, step)
        part = self._partial(venue, leg.symbol, side, qty, step, price, available, cap)
        partial = self._fit(venue, leg.symbol, side, part, price, available) if part else "not one step"
        if part and part * price < self.cfg.min_order_notional:  # a dust pair every settle window: churn
            partial = f"{part} is below min_order_usdt {self.cfg.min_order_notional:g}"
        if isinstance(partial, str):
            return f"{fit}; no part of it fits either ({partial})"
        return part, price, partial, False

    def _limits(self, venue: Venue, symbol: str, side: str, qty: Decimal, price: Decimal, netted: Decimal
                ) -> str | None:
        """Why `qty` on `venue` (`netted` of it closing pair legs there) may not be traded, its margin aside:
        the opening part is no valid order or more than one order there may be (the venue's maximum order
        size: refused), or the venue would be within the re-hedge floor (`Risk.open_problem` at
        stops.rehedge_margin x the first stop level, the leverage ceiling / rehedge_margin)."""
        spec = venue.specs[symbol]
        if netted == 0 or qty > netted:
            problem = leg_problem(qty - netted, price, spec)
            if problem:
                return problem
        most = spec.max_base
        if most is not None and max(netted, qty - netted) > most:
            return f"{max(netted, qty - netted)} is above {venue.key}'s maximum order size {most}"
        return self._floor(venue, symbol, side, qty, price)

    @staticmethod
    def _cap(venue: Venue, leg: LooseLeg, step: Decimal) -> Decimal | None:
        """The most of the leg one order on `venue` may hedge, on the common amount step `step` (the venue's
        maximum order size); None when it gives none."""
        most = venue.specs[leg.symbol].max_base
        return None if most is None else floor_to_step(most, step)

    def _floor(self, venue: Venue, symbol: str, side: str, qty: Decimal, price: Decimal) -> str | None:
        return self.risk.open_problem(venue.key, symbol, Side.LONG if side == "buy" else Side.SHORT, qty,
                                      price, margin=self.cfg.stops.rehedge_margin,
                                      besides=self._reserved.get(venue.key, ()))

    def _fit(self, venue: Venue, symbol: str, side: str, qty: Decimal, price: Decimal, available: Decimal
             ) -> Decimal | str:
        """The margin left after opening `qty` on `venue`, or why it does not fit (`_limits`, `_room`)."""
        return self._limits(venue, symbol, side, qty, price, Decimal(0)) or self._room(venue, qty, price,
                                                                                       available)

    def _partial(self, venue: Venue, symbol: str, side: str, qty: Decimal, step: Decimal, price: Decimal,
                 available: Decimal, cap: Decimal | None) -> Decimal:
        """The largest multiple of `step` below `qty`, and at most `cap` (the venue's maximum order size),
        that keeps `venue` outside the re-hedge floor and within its available margin (both only tighten
        as an opening grows; the order's minimum is `_fit`'s): 0 when not one step fits."""
        low, high = 0, int(qty / step) - 1
        if cap is not None:
            high = min(high, int(cap / step))
        while low < high:
            mid = (low + high + 1) // 2
            part = mid * step
            if self._floor(venue, symbol, side, part, price) or isinstance(
                    self._room(venue, part, price, available), str):
                high = mid - 1
            else:
                low = mid
        return low * step

    def _after_partial(self, leg: LooseLeg, venue: str, qty: Decimal, since: int, refused: list[str],
                       capped: bool = False) -> None:
        """A re-hedge took `qty`, part of the leg, on `venue`: the rest keeps the leg's timer (the shrink is
        no close by its own venue: it is tried again at the next settle window, on another venue or here once
        margin arrives, and a stop on `venue` from now keeps it off), and the treasury is asked to move margin
        to `venue` now from a venue that trades (`want_margin`), so that the rest can follow. capped: `qty`
        is as much as one order there may be (its maximum order size): the rest follows at the next turn
        (one part per settle window left a leg many times the maximum unhedged that many windows past
        max_unhedged_s), no margin asked for."""
        rest = self.book.ledger.loose.get(leg.key)
        if rest is None:
            return
        self._since[leg.key] = (since, abs(rest.qty))
        reachable = [v.key for v in self.venues if v.key not in (venue, leg.venue)
                     and self.health.can_trade(v.key) and not self.health.is_out(v.key)]
        took = ("its maximum order size" if capped else
                f"all it could take above {self.cfg.stops.rehedge_margin:g} x the first stop level")
        reason = (f"re-hedge of {leg.symbol} {leg.qty:+f} on {leg.venue} took {qty} on {venue}, {took}; "
                  f"{rest.qty:+f} still unhedged")
        self._event(f"PARTIAL REHEDGE {leg.symbol}: {reason}"
                    + ("; elsewhere: " + "; ".join(refused) if refused else ""), "critical")
        if capped:  # the part filled, nothing in doubt: the next follows at the next turn, not a window later
            self._next_try_ms.pop(leg.key, None)
        elif self.want_margin is not None:
            self.want_margin(venue, reachable, reason)

    def _pending(self, leg: LooseLeg, since: int) -> str | None:
        """An order that may still change what is to be hedged: one of ours on the leg's own venue-symbol in
        doubt (a close of it), closes of it there proved absent that may still land and could take all of it
        that no loose leg of the other side offsets (`_landing`: else only that much is held back), a
        re-hedge of the venue's legs journaled (recovery settles it), or one proved absent less than
        LATE_LANDING_SETTLES settle windows after its send (it may still land)."""
        tag = REHEDGE_TAG + leg.venue
        ledger = self.book.ledger
        if self._in_doubt(leg.venue, leg.symbol):
            return f"an order of ours on {leg.venue} {leg.symbol} is in doubt (recovery settles it first)"
        if any(r.tag == tag for r in ledger.orders.values()):
            return "the re-hedge order sent before is not settled yet (in doubt; recovery settles it first)"
        offset, by = self._offset(leg)
        if offset >= abs(leg.qty):  # e.g. a re-hedge's fill kept loose (complete): hedged beside it, doubled
            return f"loose legs of the other side ({by}) offset it; closed first"
        # a close of the leg (or the lagging leg of the close that left it) proved absent may still reach its
        # venue: what it could take is held back (`_landing`); only when nothing of the leg is left beyond it
        # does the whole leg wait
        landing, until, cid = self._landing(leg, since)
        own = self._venue(leg.venue)
        step = own.specs[leg.symbol].base_step if own is not None and leg.symbol in own.specs else Decimal(0)
        rest = abs(leg.qty) - offset - landing
        if landing and (rest <= 0 or rest < step):
            return (f"a close of it proved absent may still land (our order {cid}, for "
                    f"{(until - self._now_ms()) // 1000 + 1} s)")
        now = self._now_ms()
        for record in ledger.watch.values():
            if record.tag == tag and record.symbol == leg.symbol:
                until = record.sent_ms + LATE_LANDING_SETTLES * self.executor.settle_ms(record.venue)
                if now < until:
                    return (f"the re-hedge order {record.client_id} on {record.venue}, proved absent, may "
                            f"still land (for {(until - now) // 1000 + 1} s)")
        return None

    def _landing(self, leg: LooseLeg, since: int) -> tuple[Decimal, int, str]:
        """(base, until when, the first's client id) that closes of the leg proved absent (watched) may still
        take on its venue-symbol: their unfilled quantity. A close of the leg (or the lagging leg of the close
        that left it) may still reach its venue for LATE_LANDING_SETTLES settle windows after its send:
        hedged meanwhile, its landing would take the new pair's leg there (and the hedge would be traded
        back, unhedged until that venue is read). Risk books it off the leg once its venue lists it. Its
        re-hedge holds that much back (as `_offset`'s), the rest goes at once (issue #17, chaos tight seed 1,
        30 days: 5.10 ETH waited on a 0.29 ETH close). Held no later than that horizon after the leg began
        (the default max_unhedged_s is that long already), so that closes sent while the leg waits cannot
        hold its re-hedge for ever."""
        now = self._now_ms()
        horizon = LATE_LANDING_SETTLES * self.executor.settle_ms(leg.venue)
        if now >= since + horizon:
            return Decimal(0), now, ""
        landing, until, first = Decimal(0), now, ""
        for record in sorted(self.book.ledger.watch.values(), key=lambda r: r.client_id):
            if ((record.venue, record.symbol) == (leg.venue, leg.symbol)
                    and DIRECTION[record.side] * leg.qty < 0 and now < record.sent_ms + horizon):
                landing += max(record.qty - record.filled, Decimal(0))
                until = max(until, min(record.sent_ms, since) + horizon)
                first = first or record.client_id
        return min(landing, abs(leg.qty)), until, first

    def _held_back(self, leg: LooseLeg, since: int) -> tuple[Decimal, str]:
        """What of the leg its re-hedge holds back, and why: what loose legs of the other side offset
        (`_offset`) and what closes of it that may still land could take (`_landing`), at most the leg."""
        offset, by = self._offset(leg)
        landing, _, cid = self._landing(leg, since)
        why = [f"offset by {by}"] if offset else []
        if landing:
            why.append(f"{landing} for our order {cid} (a close of it that may still land)")
        return min(offset + landing, abs(leg.qty)), "; ".join(why)

    def _offset(self, leg: LooseLeg) -> tuple[Decimal, str]:
        """How much of the leg loose legs of the other side of its symbol on other venues offset (its re-hedge
        holds that much back: hedged beside them, it would be doubled), and which. They are shared among the
        legs of the leg's side in key order (each offset once), so that only the symbol's net is re-hedged."""
        loose = self.book.ledger.loose.values()
        opposite = [o for o in loose
                    if o.symbol == leg.symbol and o.venue != leg.venue and o.qty * leg.qty < 0]
        if not opposite:
            return Decimal(0), ""
        total = sum((abs(o.qty) for o in opposite), Decimal(0))
        before = sum((abs(o.qty) for o in loose if o.symbol == leg.symbol and o.qty * leg.qty > 0
                      and o.key < leg.key), Decimal(0))
        share = min(max(total - before, Decimal(0)), abs(leg.qty))
        return share, ", ".join(f"{o.venue} {o.qty:+f}" for o in sorted(opposite, key=lambda o: o.key))

    def _problem(self, leg: LooseLeg, venue: Venue, side: str, qty: Decimal, price: Decimal, since: int
                 ) -> str | None:
        """Why the leg's hedge may not go to `venue` now whatever its quantity (None: it may; how much fits
        is `_fit`'s)."""
        key, symbol = venue.key, leg.symbol
        now = self._now_ms()
        problem = self._venue_problem(leg, key, since, now) or self._position_problem(leg, key, side)
        if problem:
            return problem
        market = self._market()
        if market is None or market.fresh_top(key, symbol, now) is None or price <= 0 or qty <= 0:
            return "no fresh book" if qty > 0 else "nothing to hedge on its step"
        return None

    def _venue_problem(self, leg: LooseLeg, key: str, since: int, now: int) -> str | None:
        """Why the venue may not take the hedge whatever the symbol: out, refusing lately, stopped, or where a
        stop cut the leg this one hedged."""
        health = self.health
        if not health.can_trade(key) or health.is_out(key) or key in health.recovered:
            return "out"
        if health.cooling.get(key, 0) > now or health.refusals.get(key):
            return "its orders timed out or were refused lately"
        stopped = self.risk.stopped_ms.get(key)
        if stopped is not None and stopped >= since - STOP_MEMORY_MS:
            return "a stop fired there (near liquidation)"
        if leg.origin == OUTAGE and leg.unit and key in Unit.parse(leg.unit).venues:
            return "a stop cut the leg this one hedged there (never re-opened)"
        unit = Unit.of(leg.symbol, key, leg.venue)
        if self.coordinator.shared and not self.coordinator.may_act(unit):
            return f"the new pair's unit {unit} is not this node's (or not reconciled yet)"
        return None

    def _position_problem(self, leg: LooseLeg, key: str, side: str) -> str | None:
        """Why the venue-symbol's position may not take the hedge: in doubt, an order in doubt, a loose leg,
        or a pair's leg on the other side that the hedge may not net with (`_net_problem`)."""
        symbol = leg.symbol
        suspect = self._suspect()
        if (key, symbol) in suspect:
            return "its position is in doubt (reconcile)"
        if self._in_doubt(key, symbol):
            return "an order there is in doubt"
        if self.risk.has_loose_leg(key, symbol):
            return f"it holds a loose leg of {symbol}"
        netted = self._netted(leg, key)
        return self._net_problem(leg, key, netted, suspect) if netted else None

    # --- a hedge that nets with pair legs on its venue ---
    def _netted(self, leg: LooseLeg, key: str) -> list[HedgePair]:
        """The pairs holding a leg on `key` of the loose leg's own side (its hedge there nets with them),
        those whose far leg is on the loose leg's venue first (the two cancel there), then by id."""
        pairs = [p for p in self.book.ledger.pairs.values()
                 if p.symbol == leg.symbol and (p.long_venue if leg.qty > 0 else p.short_venue) == key]
        return sorted(pairs, key=lambda p: (_far(p, key) != leg.venue, p.id))

    def _net_problem(self, leg: LooseLeg, key: str, netted: list[HedgePair],
                     suspect: set[tuple[str, str]]) -> str | None:
        """Why the hedge may not net with these pairs' legs on `key`: in a cluster (their units may be other
        nodes'), or their far legs' positions or orders there in doubt (a close of the pair may be under
        way). None: it may, closing them there (reduce-only, never past zero) and hedging the loose leg with
        their far legs instead (`_book`)."""
        symbol = leg.symbol
        if self.coordinator.shared:
            return f"{NETS}; not netted in a cluster"
        for far in sorted({_far(p, key) for p in netted}):
            if (far, symbol) in suspect or self._in_doubt(far, symbol):
                return f"{NETS}; the far leg's position on {far} or an order there is in doubt"
        legs = sum((p.qty for p in netted), Decimal(0))
        held = self.book.ledger.held_positions().get((key, symbol), Decimal(0))
        if held != (legs if leg.qty > 0 else -legs):
            return f"{NETS}; the ledger holds legs of both sides of {symbol} there"
        return None

    def _net_shares(self, leg: LooseLeg, key: str, amount: Decimal
                    ) -> tuple[list[tuple[HedgePair, Decimal]], bool]:
        """How much of each netted pair's leg on `key` (`_netted`, in order) a trade of `amount` there closes,
        on the step of the three venues, and whether the rest of `amount` may open a position there (every
        netted leg closed in full). Nothing in a cluster."""
        if self.coordinator.shared:
            return [], True
        shares: list[tuple[HedgePair, Decimal]] = []
        left = amount
        for pair in self._netted(leg, key):
            if left <= 0:
                return shares, True
            venues = [self._venue(v) for v in (leg.venue, key, _far(pair, key))]
            specs = [v.specs[leg.symbol] for v in venues if v is not None and leg.symbol in v.specs]
            step = common_base_step(*specs) if len(specs) == 3 else None
            share = floor_to_step(min(left, pair.qty), step) if step else Decimal(0)
            if share > 0:
                shares.append((pair, share))
                left -= share
            if share < pair.qty:  # its leg stays there: nothing of the other side may open beside it
                return shares, False
        return shares, True

    def _net_plan(self, leg: LooseLeg, venue: Venue, qty: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
        """(what of `qty` closes pair legs on `venue` it nets with, what is traded there): the rest of `qty`
        opens a position there only once every netted leg is closed and when it is a valid order by itself;
        else only the netted part is traded now (the rest at a later try)."""
        shares, opens = self._net_shares(leg, venue.key, qty)
        netted = sum((share for _, share in shares), Decimal(0))
        if netted == 0:
            return netted, qty
        if not opens or (qty > netted and leg_problem(qty - netted, price, venue.specs[leg.symbol])):
            return netted, netted
        return netted, qty

    def _net_capped(self, leg: LooseLeg, venue: Venue, netted: Decimal, qty: Decimal, step: Decimal
                    ) -> tuple[Decimal, Decimal]:
        """A netting plan (`_net_plan`) within the venue's maximum order size (`_cap`): its two orders, the
        reduce-only close of the netted legs and the opening of the rest (`_move`: never across zero in one
        order), each at most that size. A close above it closes that much of the netted legs now, nothing
        opened (on the netted legs' step: `_net_shares`); an opening above it opens that much. The rest
        keeps the leg's timer and follows at the next try (`_after_partial`)."""
        cap = self._cap(venue, leg, step)
        if cap is None or max(netted, qty - netted) <= cap:
            return netted, qty
        if netted > cap:
            shares, _opens = self._net_shares(leg, venue.key, cap)
            part = sum((share for _, share in shares), Decimal(0))
            return part, part
        return netted, netted + cap

    def _available(self, venue: Venue) -> Decimal | str:
        """The venue's available margin, read once per try, or why it cannot be read."""
        account = venue.exchange.GetAccount()
        if account is None:
            return "account unreadable"
        taken = self._reserved.get(venue.key, ())
        reserved = sum((self._need(venue, qty, price) for _, _, qty, price in taken), Decimal(0))
        return _dec(account.get("Balance")) - reserved

    def _room(self, venue: Venue, qty: Decimal, price: Decimal, available: Decimal) -> Decimal | str:
        """Available margin left after the new leg (its initial margin x margin_buffer, as an opening needs),
        or why it does not fit."""
        need = self._need(venue, qty, price)
        if available < need:
            return f"available margin {available:.2f} < {need:.2f} needed"
        return available - need

    def _need(self, venue: Venue, qty: Decimal, price: Decimal) -> Decimal:
        """The margin an opening of `qty` at `price` on `venue` needs: its initial margin x margin_buffer."""
        return qty * price / self.cfg.leverage_for(venue.key) * self.cfg.margin_buffer

    def _mine(self, leg: LooseLeg) -> bool:
        """This node re-hedges the leg: always on one node; in a cluster, the node that may act on the leg's
        unit (its lease held, reconciled: an adopter first settles a re-hedge the dead node journaled)."""
        if not self.coordinator.shared:
            return True
        return bool(leg.unit) and self.coordinator.may_act(Unit.parse(leg.unit))

    def _trade(self, leg: LooseLeg, venue: Venue, side: str, qty: Decimal, price: Decimal, stuck: str
               ) -> str | None:
        """Send the re-hedge. In a cluster: the new pair's id reserved through the coordinator while this node
        holds its unit's lease (checked in Redis), the order journaled under the loose leg's unit (fenced by
        its lease: the node that adopts that unit settles it before it may re-hedge the leg again), under the
        venue-symbol's execution lock, with the shared book re-read under that lock."""
        symbol, tag = leg.symbol, REHEDGE_TAG + leg.venue
        new_unit = Unit.of(symbol, venue.key, leg.venue)
        coordinator = self.coordinator
        pair_id, problem = coordinator.reserve_pair_id(new_unit)
        if problem:
            return f"no pair id for {new_unit}: {problem}"
        journal_unit = Unit.parse(leg.unit) if coordinator.shared and leg.unit else new_unit
        try:
            with coordinator.acting(journal_unit), coordinator.exclusive([(venue.key, symbol)]) as free:
                if not free:
                    return f"another node is trading {venue.key} {symbol} now"
                problem = self._still_due(leg, new_unit, qty)
                if problem:
                    return problem
                current = self.executor.position(venue, symbol)
                if current is None:
                    return f"{venue.key} positions unreadable"
                sign = DIRECTION[side]
                held = self.book.ledger.held_positions().get((venue.key, symbol), Decimal(0))
                if (current * sign < 0 or held * sign < 0) and (current != held or coordinator.shared):
                    return f"{venue.key} holds {current:+f} {symbol}, the other way (the ledger {held:+f})"
                self.book.use_pair_id(pair_id)
                fills = self._move(venue, symbol, current, current + sign * qty, tag)
        except LegOutcomeUnknown as exc:
            self._stop_openings(str(exc), {(venue.key, symbol)})
            return f"the re-hedge order on {venue.key} is in doubt ({exc}); recovery settles it"
        filled = sum((f.filled for f in fills), Decimal(0))
        forward = sum((f.forward for f in fills), Decimal(0))  # a netting trade: a close, then an opening
        # a fill its venue gave no price for (FMZ Order.AvgPrice 0; the order went without a reference price)
        # at the price it was planned at, never at 0 (the pair's entry: its spread divides by it)
        cost = sum((f.cost or f.forward * price for f in fills), Decimal(0))
        fill_price = cost / forward if forward else price
        fees = sum((f.fees for f in fills), Decimal(0))
        client_ids = tuple(cid for f in fills for cid in f.client_ids)
        order_ids = tuple(oid for f in fills for oid in f.order_ids)
        if filled <= 0:
            self.book.clear_orders(tag)
            self.book.save()
            return f"the {side} of {qty} on {venue.key} filled nothing"
        why = (f"{stuck}, its close there definitely refused" if self.refused_close(leg.venue, symbol) else
               f"{stuck}, unhedged past outage.max_unhedged_s {self.cfg.outage.max_unhedged_s} s")
        self._book(leg, venue.key, sign * filled, fill_price, fees, client_ids, order_ids, why)
        self.book.clear_orders(tag)
        self.book.save()
        self.risk.note_leg(venue.key, symbol, Side.LONG if sign > 0 else Side.SHORT, filled, fill_price)
        self._measure_exposure()
        return None

    def _move(self, venue: Venue, symbol: str, current: Decimal, target: Decimal, tag: str) -> list[LegFill]:
        """Trade the venue's position from current to target; across zero (a hedge that nets with pair legs
        there), the reduce-only close to zero first and the opening only once it closed them all: no order
        of it ever flips the position (an opening sent after a close that did not fill would)."""
        if current * target >= 0:
            return self.executor.move_position(venue, symbol, current, target, tag)
        fills = self.executor.move_position(venue, symbol, current, Decimal(0), tag)
        if sum((f.filled for f in fills), Decimal(0)) == abs(current):
            fills += self.executor.move_position(venue, symbol, Decimal(0), target, tag)
        return fills

    def _still_due(self, leg: LooseLeg, new_unit: Unit, qty: Decimal) -> str | None:
        """In a cluster, under the execution lock: the shared book re-read, the leg is still there as it was,
        no re-hedge of its venue is journaled, both units are still this node's, and no more of it than `qty`
        is left once loose legs of the other side offset theirs and closes of it that may still land could
        take theirs (_held_back)."""
        if not self.coordinator.shared:
            return None
        self.book.refresh()
        if self.book.ledger.loose.get(leg.key) != leg:
            return "the loose leg changed in the shared book meanwhile"
        if not self._mine(leg) or not self.coordinator.may_act(new_unit):
            return f"the lease of {leg.unit} or {new_unit} is no longer this node's"
        since = self._since.get(leg.key, (leg.since_ms, abs(leg.qty)))[0]
        problem = self._pending(leg, since)
        if problem is None and abs(leg.qty) - self._held_back(leg, since)[0] < qty:
            return ("loose legs of the other side or closes of it that may still land appeared in the shared "
                    "book meanwhile (they offset it)")
        return problem

    def _book(self, leg: LooseLeg, venue_key: str, signed: Decimal, price: Decimal, fees: Decimal,
              client_ids: tuple[str, ...], order_ids: tuple[str, ...], why: str) -> None:
        """`signed` base traded on venue_key against `leg`: first what closes pair legs there it nets with
        (`_book_netted`), then the part on both venues' common step becomes a pair with the leg (one event
        line), the rest on venue_key a loose leg there (less than one step, or beside pair legs of the other
        side it could not net with). The caller saves the ledger."""
        symbol = leg.symbol
        netted = self._book_netted(leg, venue_key, signed, price, fees, client_ids, order_ids, why)
        sign = 1 if signed > 0 else -1
        left = self.book.ledger.loose.get(leg.key)
        fees, signed = fees * (abs(signed) - netted) / abs(signed), signed - sign * netted
        paired = Decimal(0)
        pair_id = 0
        own, other = self._venue(leg.venue), self._venue(venue_key)
        if (left is not None and left.qty * signed < 0 and own is not None and other is not None
                and not (netted and self._netted(left, venue_key))):
            step = common_base_step(own.specs[symbol], other.specs[symbol])
            paired = floor_to_step(min(abs(signed), abs(left.qty)), step)
            if paired > 0:
                pair = self.book.pair_loose(left, venue=venue_key, qty=paired, price=price,
                                            fees=fees * paired / abs(signed), client_ids=client_ids,
                                            now_ms=self._now_ms(), order_ids=order_ids)
                pair_id = pair.id
                self.rehedged += 1
                rest = self.book.ledger.loose.get(leg.key)
                self._event(
                    f"REHEDGED {symbol}: loose leg {left.qty:+f} on {leg.venue} ({why}) hedged with "
                    f"{sign * paired:+f} on {venue_key} at {price}: pair #{pair.id} "
                    f"(long {pair.long_venue} {pair.long_price:.2f}, short {pair.short_venue} "
                    f"{pair.short_price:.2f}), closed by the spread and stop rules once {leg.venue} trades"
                    + (f"; {rest.qty:+f} stays loose on {leg.venue}" if rest else ""),
                    "critical")
        rest_qty = abs(signed) - paired
        if rest_qty > 0:
            self.book.book_result(Decimal(0), fees * rest_qty / abs(signed))
            self.risk.add_loose_leg(venue_key, symbol, sign * rest_qty, price, pair_id,
                                    f"{REHEDGE_TAG}{leg.venue}: {rest_qty} traded beyond the part of the "
                                    "loose leg it could pair", unit=Unit.of(symbol, venue_key, leg.venue))

    def _book_netted(self, leg: LooseLeg, venue_key: str, signed: Decimal, price: Decimal, fees: Decimal,
                     client_ids: tuple[str, ...], order_ids: tuple[str, ...], why: str) -> Decimal:
        """The part of `signed` that closed pair legs on venue_key of the loose leg's side (`_net_shares`):
        each such pair's far leg now hedges that much of the loose leg (Book.net_pair_leg: a new pair, or,
        far leg on the loose leg's venue, the two cancel). Returns the base netted (0: none)."""
        if leg.qty * signed >= 0:
            return Decimal(0)
        shares, _ = self._net_shares(leg, venue_key, min(abs(signed), abs(leg.qty)))
        netted = Decimal(0)
        for pair, share in shares:
            current = self.book.ledger.loose.get(leg.key)
            if current is None:
                break
            new = self.book.net_pair_leg(pair.id, current, venue=venue_key, qty=share, price=price,
                                         fees=fees * share / abs(signed), client_ids=client_ids,
                                         now_ms=self._now_ms(), order_ids=order_ids)
            netted += share
            self.rehedged += 1
            far = _far(pair, venue_key)
            held = "one position with the loose leg there" if new is None else (
                f"now pair #{new.id} (long {new.long_venue} {new.long_price:.2f}, short {new.short_venue} "
                f"{new.short_price:.2f})")
            self._event(
                f"REHEDGED {leg.symbol}: loose leg {current.qty:+f} on {leg.venue} ({why}) hedged with "
                f"{(1 if signed > 0 else -1) * share:+f} on {venue_key} at {price}, netted: closes {share} "
                f"of pair #{pair.id}'s {pair.qty} there, whose leg on {far} hedges the loose leg instead: "
                f"{held}", "critical")
        return netted

    def net_late_close(self, record: OrderRecord, amount: Decimal, price: Decimal) -> Decimal:
        """A re-hedge's reduce-only close, proved absent, reached its venue late and took `amount` of pair
        legs there (LateOrders): book it as the netting it was sent for (`_book_netted`: those pairs' far legs
        now hedge the loose leg it was for), when that leg is still loose; returns the base booked (the rest
        is a vanished leg, its hedge closed). Its fee is estimated at the venue's taker rate."""
        signed = DIRECTION[record.side] * amount
        if record.side not in CLOSING:
            return Decimal(0)
        leg, _ = self._settled_leg(record, record.tag.removeprefix(REHEDGE_TAG), signed, None)
        if leg is None:
            return Decimal(0)
        fees = amount * price * self._taker_bps(record.venue) / 10_000
        netted = self._book_netted(leg, record.venue, signed, price, fees, (record.client_id,),
                                   (record.order_id,) if record.order_id else (), "its re-hedge landed late")
        if netted:
            self.book.save()
        return netted

    # --- recovery (App.recover_orders) ---
    def complete(self, tag: str, records: list[OrderRecord]) -> None:
        """A re-hedge order recovery settled (its outcome was unknown, or the process died before booking
        it): book what it filled as `_trade` would have, against the loose leg of that venue it hedges
        (gone meanwhile, or, in a cluster, no pair id for the new pair's unit: its fill is a loose leg on its
        own venue, in the unit it was journaled under, closed reduce-only)."""
        loose_venue = tag.removeprefix(REHEDGE_TAG)
        for record in records:
            if not record.filled:
                continue
            signed = DIRECTION[record.side] * record.filled
            price = record.avg_price or self.risk.reference(record.venue, record.symbol, bid=signed < 0)
            fees = record.filled * price * self._taker_bps(record.venue) / 10_000
            journal = self.coordinator.unit_of_order(record.client_id)
            leg, why = self._settled_leg(record, loose_venue, signed, journal)
            if leg is None:
                self.book.book_result(Decimal(0), fees)
                unit = journal or Unit.of(record.symbol, record.venue, loose_venue)
                self.risk.add_loose_leg(record.venue, record.symbol, signed, price, 0,
                                        f"recover {tag}: {why}", unit=unit)
                continue
            self._book(leg, record.venue, signed, price, fees, (record.client_id,),
                       (record.order_id,) if record.order_id else (), f"recover {tag}: settled late")

    def _settled_leg(self, record: OrderRecord, loose_venue: str, signed: Decimal, journal: Unit | None
                     ) -> tuple[LooseLeg | None, str]:
        """The loose leg a settled re-hedge's fill hedges (first the one of the unit the order was journaled
        under), with the new pair's id reserved (a cluster: from the cluster's counter, under the new pair's
        unit's lease, never a local one); or None and why the fill stays loose. In a cluster the node that
        settles it holds the leg's unit but not always the new pair's: there the pair cannot be booked, and
        a fill left out of the book would let the leg be hedged a second time beside it."""
        legs = sorted((leg for leg in self.book.ledger.loose.values()
                       if (leg.venue, leg.symbol) == (loose_venue, record.symbol) and leg.qty * signed < 0),
                      key=lambda leg: (journal is not None and leg.unit != journal.key, leg.key))
        if not legs:
            return None, f"the re-hedge filled after the loose leg it hedged on {loose_venue} was gone"
        leg = legs[0]
        if self.coordinator.shared and not (leg.unit and self.coordinator.holds(Unit.parse(leg.unit))):
            return None, f"the loose leg it hedged is in {leg.unit}, not this node's: kept loose"
        pair_id, problem = self.coordinator.reserve_pair_id(Unit.of(record.symbol, record.venue, loose_venue))
        if problem:
            return None, (f"no pair id for its pair ({problem}): kept loose, closed reduce-only; the leg on "
                          f"{loose_venue} is hedged again after")
        self.book.use_pair_id(pair_id)
        return leg, ""

    def _venue(self, key: str) -> Venue | None:
        return next((v for v in self.venues if v.key == key), None)


def waiting_kind(why: str) -> str:
    """The kind of a reason a loose leg waits: its text before " (" (the details that change from turn to
    turn) with every number in it blanked (a countdown, a quantity, an order's client id), so that a user
    reads each kind once while the leg waits, not once per turn."""
    return _NUMBER.sub("#", why.split(" (")[0])


def _far(pair: HedgePair, venue: str) -> str:
    """The pair's venue other than `venue`."""
    return pair.short_venue if pair.long_venue == venue else pair.long_venue
