"""Venue health per function: market data, orders, account.

Every call the strategy makes on a venue goes through `MonitoredExchange`, which records whether it
answered (an FMZ call that failed returns None) and charges the venue's request budget. A function is
out after `max_errors` failures in a row (a call whose outcome is unknown, `last_outcome_unknown` on the
live exchange object, counts as one), or, for market data, after as many ticks in a row in which the
venue answered but none of its books was fresh (a frozen feed). One good answer brings it back.
Transitions are events; `recovered` hands the venue to whoever has to reconcile it first.

An order call whose outcome is unknown (it returned None and the runtime did not say the venue refused it)
puts its venue in a cool-down for openings: no new pair sends an order there for `timeout_cooldown_ms`,
extended by each further such call. The venue is not out: its lookups usually still answer, so
`max_errors` in a row would never be reached, while its orders keep timing out and reaching the matching
engine late. Closes, stops and recovery are not held back by it.

An order call the venue definitely refused (the runtime says so: `last_outcome_unknown` False, ccxt's
rejections as opposed to its NetworkError / OperationFailed) cannot land later, but a venue that refuses
every order is not out by the count above either: its lookups answer and reset it. After `max_errors`
refusals in a row (no order accepted in between) the venue's order function is out for
`refusal_cooldown_ms`, with an event, whatever its lookups answer: no new pair there. Closes, stops and
recovery still send there while its calls answer (`can_trade`): a refused close changes nothing, a stop held
back for the cool-down could let a leg be liquidated. Then the next good answer brings it back and the next
opening tries again (one more refusal takes it out again at once).

A venue with an order call refused or timed out, or a function out (market data by failed calls, not by
stale books), has not proved it trades
(`unproven`) until it takes an order: unlike the cool-downs this does not lapse with time, and a spread
close of a pair with a leg there sends that leg first, alone (hedge/trader.py, hedge/rehedge.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from hedge.calls import Handle, Ready, go_of
from hedge.ratelimit import Cost, RateBudget, charger

MARKET, ORDERS, ACCOUNT = "market", "orders", "account"
FUNCTIONS = (MARKET, ORDERS, ACCOUNT)
FUNCTION_OF = {
    "GetTicker": MARKET,
    "GetTickers": MARKET,
    "GetDepth": MARKET,
    "GetTrades": MARKET,
    "GetRecords": MARKET,
    "GetMarkets": MARKET,
    "GetFundings": MARKET,
    "CreateOrder": ORDERS,
    "CancelOrder": ORDERS,
    "GetOrder": ORDERS,
    "GetOrders": ORDERS,
    "GetHistoryOrders": ORDERS,
    "GetOrderByClientId": ORDERS,  # fmz_compat's live objects: one order asked of the venue by client id
    "Buy": ORDERS,
    "Sell": ORDERS,
    "ModifyOrder": ORDERS,
    "GetAccount": ACCOUNT,
    "GetPositions": ACCOUNT,
    "GetPosition": ACCOUNT,
    "SetMarginLevel": ACCOUNT,
}
PLACING = frozenset({"CreateOrder", "Buy", "Sell"})
# Request weight per call where a venue weighs calls differently (Binance USD-M); 1 otherwise.
WEIGHTS = {
    "binance": {
        "GetTickers": 5,
        "GetDepth": 5,
        "GetAccount": 5,
        "GetPositions": 5,
        "GetHistoryOrders": 5,
        "GetOrders": 1,
    }
}


class VenueHealth:
    """Consecutive failures per venue and function, and what is out right now."""

    def __init__(self, max_errors: int, now_ms: Callable[[], int], event: Callable[..., None],
                 timeout_cooldown_ms: int = 0, refusal_cooldown_ms: int = 0) -> None:
        self.max_errors = max_errors
        self.timeout_cooldown_ms = timeout_cooldown_ms
        self.refusal_cooldown_ms = refusal_cooldown_ms
        self.refusals: dict[str, int] = {}  # venue -> orders it refused in a row (definite answers)
        self.refusing: dict[str, int] = {}  # venue -> ms until which its order function stays out
        # venue -> of its order function's failed calls in a row, the definite refusals (answers all the same)
        self.refused_in_row: dict[str, int] = {}
        self.cooling: dict[str, int] = {}  # venue -> ms until which no new pair sends an order there
        # venue -> since when it has not proved it trades: an order call there refused or timed out, or its
        # orders or account went out, or its market calls (down as a whole, as can_trade takes it), and no
        # order accepted there since (a spread close sends the leg there first, alone: hedge/trader.py).
        # Unlike the cool-downs it does not lapse with time
        self.unproven: dict[str, int] = {}
        self._now_ms = now_ms
        self._event = event
        self.errors: dict[tuple[str, str], int] = {}
        self.failing = 0  # keys of `errors` above 0: while none, a good answer has no count to reset
        self.stale_ticks: dict[str, int] = {}
        self.out_since: dict[tuple[str, str], int] = {}  # (venue, function) -> ms it went out
        self.last_error: dict[tuple[str, str], str] = {}
        self.recovered: set[str] = set()  # venues back from an outage, not yet reconciled
        self.outages = 0  # functions that went out, in total
        self.rejects: deque[int] = deque(maxlen=10_000)  # ms of refused orders (definite, not unknown)
        # functions a venue's own maintenance notice takes out (hedge/maintenance.py): good answers do not
        # bring them back until the notice is released
        self.held: dict[tuple[str, str], str] = {}

    def record(self, venue: str, function: str, ok: bool, method: str = "", unknown: bool = False,
               refused: bool = False) -> None:
        """refused: the venue answered the order call with a definite refusal (see `order_refused`)."""
        key = (venue, function)
        if ok:
            self.answered(key)
            return
        failed = self.errors.get(key, 0)
        if not failed:
            self.failing += 1
        self.errors[key] = failed + 1
        if refused:
            self.refused_in_row[venue] = self.refused_in_row.get(venue, 0) + 1
        self.last_error[key] = f"{method} {'timed out' if unknown else 'failed'}"
        if method in PLACING and not unknown:
            self.rejects.append(self._now_ms())
        if self.errors[key] >= self.max_errors and key not in self.out_since:
            self._out(
                venue, function, f"{self.errors[key]} failed calls in a row (last: {self.last_error[key]})"
            )

    def answered(self, key: tuple[str, str]) -> None:
        """`record` of a good answer, for a caller that keeps its (venue, function) key: every call's path."""
        if self.errors.get(key):
            self.failing -= 1
        self.errors[key] = 0
        if self.refused_in_row and key[1] == ORDERS:
            self.refused_in_row.pop(key[0], None)
        if key in self.out_since and key not in self.held and not self._kept_out(key):
            self._back(*key)

    def _kept_out(self, key: tuple[str, str]) -> bool:
        """Out whatever the calls answer: market data while the books are stale, orders in a refusal
        cool-down."""
        venue, function = key
        if function == MARKET:
            return self._stale(venue)
        return function == ORDERS and self._now_ms() < self.refusing.get(venue, 0)

    def note_books(self, venue: str, any_fresh: bool) -> None:
        """Once per tick after the market refresh: a venue that answers with only stale books is out too."""
        if any_fresh:
            self.stale_ticks[venue] = 0
            if ((venue, MARKET) in self.out_since and self.errors.get((venue, MARKET), 0) == 0
                    and (venue, MARKET) not in self.held):
                self._back(venue, MARKET)
            return
        self.stale_ticks[venue] = self.stale_ticks.get(venue, 0) + 1
        if self._stale(venue) and (venue, MARKET) not in self.out_since:
            self._out(venue, MARKET, f"no fresh book for {self.stale_ticks[venue]} ticks in a row")

    def _stale(self, venue: str) -> bool:
        return self.stale_ticks.get(venue, 0) >= self.max_errors

    def _out(self, venue: str, function: str, why: str, closes_wait: bool = True) -> None:
        self.out_since[(venue, function)] = self._now_ms()
        if function != MARKET or self.errors.get((venue, MARKET), 0) >= self.max_errors:  # not stale books
            self.unproven.setdefault(venue, self._now_ms())
        self.outages += 1
        self._event(
            f"venue {venue} {function} OUT: {why}; no new pairs on {venue}"
            + ("; closes needing it wait" if function != MARKET and closes_wait else "")
            + ("" if closes_wait else "; closes, stops and recovery still try there (a refusal changes "
               "nothing)"),
            "error",
        )

    def _back(self, venue: str, function: str) -> None:
        since = self.out_since.pop((venue, function))
        if function == ORDERS:
            self.refusing.pop(venue, None)
        seconds = (self._now_ms() - since) / 1000
        self._event(f"venue {venue} {function} back after {seconds:.0f} s", "warn")
        if function == ACCOUNT or not self.is_out(venue):
            self.recovered.add(venue)

    def hold(self, venue: str, functions: frozenset[str], why: str) -> None:
        """The venue says it is in maintenance for these functions: out now, whatever its calls answer,
        until `release`. Functions it no longer names are released."""
        for function in FUNCTIONS:
            key = (venue, function)
            if function in functions:
                if key not in self.held:
                    self.held[key] = why
                    if key not in self.out_since:
                        self._out(venue, function, why)
            elif key in self.held:
                del self.held[key]

    def release(self, venue: str) -> None:
        """The maintenance is over: the functions come back through the normal path, at the next good
        answer (a venue whose calls still fail stays out)."""
        for function in FUNCTIONS:
            self.held.pop((venue, function), None)

    def is_out(self, venue: str, function: str | None = None) -> bool:
        if function is not None:
            return (venue, function) in self.out_since
        return any((venue, f) in self.out_since for f in FUNCTIONS)

    def can_trade(self, venue: str) -> bool:
        """Orders can be sent and their effect read (positions). A venue whose market-data calls fail (not
        merely stale books) is taken as down as a whole: the other calls usually fail with them."""
        return self.can_send(venue) and (venue, ACCOUNT) not in self.out_since

    def can_send(self, venue: str) -> bool:
        """Orders can be sent and looked up, whatever its account calls (positions) answer: what a close
        sized from the order lookups needs (issue #17, LateOrders.close_blind_late_fills; a stop's blind
        close, Risk._close_blind)."""
        return (((venue, ORDERS) not in self.out_since or self._refused_only(venue))
                and self.errors.get((venue, MARKET), 0) < self.max_errors)

    def _refused_only(self, venue: str) -> bool:
        """Its orders are out for refusing them, and its calls answer: no new pairs, but a close is still
        sent (refused, it changes nothing; a stop held for the cool-down could let a leg be liquidated).
        A refusal is an answer: only the order calls that got none count against max_errors here."""
        unanswered = self.errors.get((venue, ORDERS), 0) - self.refused_in_row.get(venue, 0)
        return (venue in self.refusing and unanswered < self.max_errors
                and (venue, ORDERS) not in self.held)

    def order_timed_out(self, venue: str, method: str) -> None:
        """An order call on `venue` gave no answer and no proof of refusal: start or extend its cool-down."""
        now = self._now_ms()
        self.unproven.setdefault(venue, now)
        if self.timeout_cooldown_ms <= 0:
            return
        if venue not in self.cooling:
            self._event(
                f"venue {venue} {method} timed out (outcome unknown): no new pairs on {venue} for "
                f"{self.timeout_cooldown_ms / 1000:.0f} s, extended by each further timeout; "
                "closes and stops carry on",
                "warn",
            )
        self.cooling[venue] = now + self.timeout_cooldown_ms

    def order_accepted(self, venue: str) -> None:
        self.refusals.pop(venue, None)
        self.unproven.pop(venue, None)

    def order_refused(self, venue: str, method: str) -> None:
        """The venue answered an order call with a refusal: after max_errors in a row its orders are out for
        refusal_cooldown_ms (its lookups answering do not bring them back before)."""
        count = self.refusals[venue] = self.refusals.get(venue, 0) + 1
        now = self._now_ms()
        self.unproven.setdefault(venue, now)
        if self.refusal_cooldown_ms <= 0 or count < self.max_errors:
            return
        starting = self.refusing.get(venue, 0) <= now
        self.refusing[venue] = now + self.refusal_cooldown_ms
        why = (f"{count} orders refused in a row (last: {method}); out for at least "
               f"{self.refusal_cooldown_ms / 1000:.0f} s whatever its lookups answer, then the next order "
               "tries again")
        if (venue, ORDERS) not in self.out_since:
            self._out(venue, ORDERS, why, closes_wait=False)
        elif starting:  # already out by failed calls in a row: it now stays out for the cool-down
            closes = ("closes, stops and recovery still try there (a refusal changes nothing)"
                      if self._refused_only(venue) else "closes needing it wait")
            self._event(f"venue {venue} {ORDERS} stays OUT: {why}; {closes}", "error")

    def cooling_down(self, venue: str) -> bool:
        """No new pair may send an order to `venue`: an order call there timed out recently."""
        until = self.cooling.get(venue)
        if until is None:
            return False
        if self._now_ms() < until:
            return True
        del self.cooling[venue]
        self._event(f"venue {venue}: no order call timed out for {self.timeout_cooldown_ms / 1000:.0f} s; "
                    "new pairs allowed again", "info")
        return False

    def rejects_since(self, since_ms: int) -> int:
        return sum(1 for ms in self.rejects if ms >= since_ms)


class MonitoredExchange:
    """An FMZ exchange object whose calls are recorded in VenueHealth and charged to the rate budget.

    Attribute reads and writes pass through to the wrapped object, so anything else (Log, GetName,
    last_outcome_unknown, a test's switches) behaves exactly as before.
    """

    __slots__ = ("_inner", "_venue", "_health", "_budget", "_weights", "prepaid_orders", "_calls",
                 "_go_parts", "__dict__")

    def __init__(self, inner: Any, venue: str, health: VenueHealth, budget: RateBudget) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_venue", venue)
        object.__setattr__(self, "_health", health)
        object.__setattr__(self, "_budget", budget)
        object.__setattr__(self, "_weights", WEIGHTS.get(venue, {}))
        object.__setattr__(self, "prepaid_orders", 0)  # orders already reserved from the budget
        object.__setattr__(self, "_calls", self.__dict__)  # venue calls wrapped so far, by name
        # per wrapped name: (what is charged before the call, how its answer is judged): for Go
        object.__setattr__(self, "_go_parts", {})

    @property
    def inner(self) -> Any:
        return self._inner

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        function = FUNCTION_OF.get(name)
        if function is None or not callable(target):
            return target
        call = self._monitored(name, function)
        self._calls[name] = call  # found there by the next lookup: this method runs once per name
        return call

    def _monitored(self, name: str, function: str) -> Callable[..., Any]:
        """The wrapper of one venue call. Built once per name and kept (one closure for lookups, one for order
        placing, which may use an order reserved beforehand): a call that the venue answers allocates nothing
        of its own and makes two Python calls besides the venue's, the budget's charge and the clock it
        reads; the health is asked only when an answer has something to change (a count of failures to
        reset, something out or refused). The inner object's attribute is looked up at each call, as before
        (a test or a runtime may replace it)."""
        inner, health = self._inner, self._health
        charge, judge, failed = self._parts(name, function)
        self._go_parts[name] = (charge, judge)
        if name in PLACING:
            def place(*args: Any) -> Any:
                charge()
                result = getattr(inner, name)(*args)
                return judge(result, getattr(inner, "last_outcome_unknown", None))

            return place
        key = (self._venue, function)
        # VenueHealth mutates these in place and never rebinds them: an answer changes nothing while no
        # failure count is above 0 and nothing is out or refused anywhere (`VenueHealth.answered`)
        out_since, refused_in_row, answered = health.out_since, health.refused_in_row, health.answered

        def call(*args: Any) -> Any:  # judge's work inlined: the hot path
            charge()
            result = getattr(inner, name)(*args)
            # None: the runtime says nothing; True: the outcome is unknown; False: the venue answered
            flag = getattr(inner, "last_outcome_unknown", None)
            if result is None or flag:
                return failed(result, flag)
            if health.failing or out_since or refused_in_row:
                answered(key)
            return result

        return call

    def _parts(self, name: str, function: str) -> tuple[Callable[[], None], Callable[[Any, Any], Any],
                                                        Callable[[Any, Any], Any]]:
        """What a monitored call does before the venue's call (charge the budget; an order may use one
        reserved beforehand), how it judges the answer (result, verdict) -> result, and its failure part."""
        venue, health = self._venue, self._health
        placing = name in PLACING
        spend = charger(self._budget, venue, Cost(1 if placing else 0, self._weights.get(name, 1)))
        key = (venue, function)
        out_since, refused_in_row, answered = health.out_since, health.refused_in_row, health.answered
        failed = self._failed(name, function)

        def charge_order() -> None:
            if self.prepaid_orders > 0:  # reserved before the pair was sent
                object.__setattr__(self, "prepaid_orders", self.prepaid_orders - 1)
            else:
                spend()

        def judge_order(result: Any, flag: Any) -> Any:
            if result is None or flag:
                return failed(result, flag)
            answered(key)
            health.order_accepted(venue)
            return result

        def judge_call(result: Any, flag: Any) -> Any:
            if result is None or flag:
                return failed(result, flag)
            if health.failing or out_since or refused_in_row:
                answered(key)
            return result

        if placing:
            return charge_order, judge_order, failed
        return spend, judge_call, failed

    def _failed(self, name: str, function: str) -> Callable[[Any, Any], Any]:
        """How a monitored call records a failed answer (result, verdict) -> result."""
        venue, health, placing = self._venue, self._health, name in PLACING

        def failed(result: Any, flag: Any) -> Any:
            unknown = bool(flag)
            refused = placing and flag is False
            health.record(venue, function, False, name, unknown, refused)
            # as the executor reads it: None without the runtime saying "refused" may still land
            if refused:
                health.order_refused(venue, name)
            elif placing and result is None:
                health.order_timed_out(venue, name)
            return result

        return failed

    def Go(self, method: str, *args: Any) -> Any:
        """exchange.Go(method, *args) on the wrapped object, monitored as the call itself is: charged to the
        request budget now, its answer judged (health, refusals, time-outs) when wait() gives it, on the
        waiting thread, from that call's own verdict (the handle's `last_outcome_unknown`). A wrapped object
        whose class has no Go (`go_of`): the monitored call, made now."""
        if FUNCTION_OF.get(method) is None or not callable(getattr(self._inner, method, None)):
            return self._inner.Go(method, *args)
        go = go_of(self._inner)
        if go is None:
            value = getattr(self, method)(*args)
            return Ready(value, getattr(self._inner, "last_outcome_unknown", None))
        if method not in self._go_parts:
            getattr(self, method)  # wraps it, which records its parts
        before, judge = self._go_parts[method]
        before()
        return _Judged(go(method, *args), judge)

    def __setattr__(self, name: str, value: Any) -> None:
        self._go_parts.pop(name, None)
        if name == "prepaid_orders":
            object.__setattr__(self, name, value)
        else:
            self._calls.pop(name, None)  # a replaced venue call is judged afresh (callable or not)
            setattr(self._inner, name, value)

    def __delattr__(self, name: str) -> None:
        self._go_parts.pop(name, None)
        self._calls.pop(name, None)
        delattr(self._inner, name)


class _Judged:
    """A Go handle of a monitored call: wait() gives what the call would have returned, judged once."""

    def __init__(self, handle: Handle, judge: Callable[[Any, Any], Any]) -> None:
        self._handle = handle
        self._judge = judge
        self.last_outcome_unknown: bool | None = None
        self.synchronous = bool(getattr(handle, "synchronous", False))

    def wait(self, timeout: float | None = None) -> tuple[Any, bool]:
        value, ok = self._handle.wait() if timeout is None else self._handle.wait(timeout)
        if not ok:
            return value, ok
        self.last_outcome_unknown = getattr(self._handle, "last_outcome_unknown", None)
        return self._judge(value, self.last_outcome_unknown), True
