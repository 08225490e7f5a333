"""Internal transfers never move unit NAV (issue #17, sequence 3): history outages, lost withdrawal answers,
restarts, the venues' own history windows and slow chains, on the simulator with three venues and no positions
(so the only change of equity is the network fee of each move).

The faults of the three named sequences are laid on by a wrapper around the bound exchange (`Flaky`), so the
sequences run the same against older simulators; the property test uses the simulator's own faults
(`history_down`, `withdraw_answer_lost`, fmz_compat/sim/api_endpoints.py).
"""

from __future__ import annotations

import calendar
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world
from hedge.app import App
from hedge.config import parse_params
from hedge.fmz import Api
from hedge.treasury import FINAL, Move, Status, Transfer

START_MS = 1_719_792_000_000
LOOP_MS = 10_000
MINUTE = 60_000
DAY = 86_400_000
VENUES = ("binance", "bybit", "okx")
EQUITY = Decimal(30_000)  # 10,000 USDT on each venue, no positions
HISTORY_PATHS = frozenset({"/sapi/v1/capital/deposit/hisrec", "/sapi/v1/capital/withdraw/history",
                           "/api/v5/asset/deposit-history", "/api/v5/asset/withdrawal-history",
                           "/v5/asset/deposit/query-record", "/v5/asset/withdraw/query-record"})
WITHDRAW_PATHS = frozenset({"/sapi/v1/capital/withdraw/apply", "/api/v5/asset/withdrawal",
                            "/v5/asset/withdraw/create"})


class Store(dict):
    """FMZ _G over a dict (survives an App being rebuilt, like the robot's database)."""

    def __call__(self, key: str, *value: Any) -> Any:
        if not value:
            return self.get(key)
        self[key] = value[0]
        return None


def _row_ms(venue: str, path: str, row: Any) -> int:
    if venue == "binance":
        if "insertTime" in row:
            return int(row["insertTime"])
        return calendar.timegm(datetime.strptime(row["applyTime"], "%Y-%m-%d %H:%M:%S").timetuple()) * 1000
    return int(row.get("successAt") or row.get("createTime") or 0)


def default_window(venue: str, path: str, answer: Any, now_ms: int) -> Any:
    """What the venue answers to a history request without a time range: Binance the last 90 days, Bybit
    the last 30 days, OKX the newest 100 rows (their API docs)."""
    if venue == "okx":
        return {**answer, "data": list(answer["data"])[:100]} if isinstance(answer, dict) else answer
    span = 90 * DAY if venue == "binance" else 30 * DAY
    if venue == "binance" and isinstance(answer, list):
        return [r for r in answer if _row_ms(venue, path, r) >= now_ms - span]
    if venue == "bybit" and isinstance(answer, dict) and answer.get("result"):
        rows = [r for r in answer["result"]["rows"] if _row_ms(venue, path, r) >= now_ms - span]
        return {**answer, "result": {**answer["result"], "rows": rows}}
    return answer


WALLET_POSTS = WITHDRAW_PATHS | {"/sapi/v1/asset/transfer", "/api/v5/asset/transfer",
                                 "/v5/asset/transfer/inter-transfer"}


class Killed(BaseException):
    """kill -9 of the robot's process: nothing after it runs, _G keeps what was written (FMZ's _G is
    synchronous)."""


# Each venue's "system busy / error" answer, which its documentation does not call a refusal (OKX: 50013
# "System is busy, please try again later", HTTP 200, okx.com/docs-v5 error codes; ccxt okx.py maps 50013 to
# ExchangeNotAvailable, a NetworkError: the request may have been carried out. Bybit: 10016 "System error.
# Please try again later." (ccxt bybit.py); Binance: -1007 "Timeout waiting for response from backend server.
# Send status unknown; execution status unknown." (developers.binance.com error codes))
BUSY = {"okx": {"code": "50013", "msg": "System is busy, please try again later", "data": []},
        "bybit": {"retCode": 10016, "retMsg": "System error. Please try again later.", "result": {},
                  "retExtInfo": {}, "time": 1},
        "binance": {"code": -1007, "msg": "Timeout waiting for response from backend server. Send status "
                    "unknown; execution status unknown."}}


class Flaky:
    """A bound exchange whose venue fails the way real ones do, in windows of simulated time: history
    endpoints down, withdrawal answers lost (the withdrawal is made), the account endpoint down; a history
    request without a time range gets only the venue's default window."""

    def __init__(self, inner: Any, clock: BacktestClock, venue: str) -> None:
        self._inner = inner
        self._clock = clock
        self.venue = venue
        self.history_down: list[tuple[int, int]] = []
        self.answers_lost: list[tuple[int, int]] = []
        self.account_down: list[tuple[int, int]] = []
        self.answers_busy: list[tuple[int, int]] = []  # withdrawal made, the venue answers "system busy"
        self.kill: list[str] = []  # per wallet transfer / withdrawal request from now: "", "before", "after"
        self.okx_fee: str | None = None  # OKX's own withdrawal rows: amt received, this fee charged on top

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _in(self, windows: list[tuple[int, int]]) -> bool:
        now = self._clock.now_ns() // 1_000_000
        return any(a <= now < b for a, b in windows)

    def GetAccount(self) -> Any:  # noqa: N802 - FMZ's name
        return None if self._in(self.account_down) else self._inner.GetAccount()

    def IO(self, *args: Any) -> Any:  # noqa: N802 - FMZ's name
        if not args or args[0] != "api":
            return self._inner.IO(*args)
        method, path = str(args[1]), str(args[2]).split("?", 1)[0]
        if path in HISTORY_PATHS and self._in(self.history_down):
            return None
        kill = self.kill.pop(0) if method == "POST" and path in WALLET_POSTS and self.kill else ""
        if kill == "before":
            raise Killed(path)
        result = self._inner.IO(*args)
        if kill == "after":
            raise Killed(path)
        if method == "POST" and path in WITHDRAW_PATHS and self._in(self.answers_lost):
            return None
        if method == "POST" and path in WITHDRAW_PATHS and self._in(self.answers_busy):
            return BUSY[self.venue]
        if path == "/api/v5/asset/withdrawal-history" and self.okx_fee is not None \
                and isinstance(result, dict):
            result = {**result, "data": [{**row, "amt": f"{Decimal(row['amt']) + Decimal(row['fee']):f}",
                                          "fee": self.okx_fee} for row in result.get("data") or []]}
        query = str(args[3]) if len(args) > 3 else ""
        if path in HISTORY_PATHS and "startTime" not in query and "after" not in query:
            result = default_window(self.venue, path, result, self._clock.now_ns() // 1_000_000)
        return result


class Fund:
    """Three venues, 10,000 USDT each, no positions; the treasury in mode off (moves are started by the
    test), every network whitelisted. `navs` keeps unit NAV after every loop turn."""

    def __init__(self, days: int = 2, step_ms: int = 1000) -> None:
        cfg = SimConfig(seed=11, start_ms=START_MS, step_ms=step_ms, symbols=("BTC_USDT",), bindings=tuple(
            ExchangeBinding(f"Futures_{n}", balance=10_000) for n in ("Binance", "Bybit", "OKX")))
        self.clock = BacktestClock(START_MS * 1_000_000, (START_MS + days * DAY) * 1_000_000)
        self.world = create_world(cfg, self.clock, MemoryLog())
        self.exchanges = [Flaky(ex, self.clock, v)
                          for ex, v in zip(self.world.exchanges, VENUES, strict=True)]
        self.store = Store()
        self.logs: list[str] = []
        self.navs: list[Decimal] = []

    def now_ms(self) -> int:
        return self.clock.now_ns() // 1_000_000

    def flaky(self, venue: str) -> Flaky:
        return self.exchanges[VENUES.index(venue)]

    def app(self, **treasury: Any) -> App:
        whitelist = [{"venue": a.venue, "network": n, "address": self.world.deposit_address(a, n)}
                     for a in self.world.accounts for n in ("TRC20", "ERC20", "BEP20")]
        params = {"symbols": ["BTC_USDT"], "open_threshold_bps": 1000, "close_threshold_bps": -1000,
                  "loop_interval_ms": LOOP_MS,
                  "treasury": {"mode": "off", "whitelist": whitelist, **treasury}}
        api = Api(log=lambda *a: self.logs.append(" ".join(str(x) for x in a)), log_status=lambda *a: None,
                  log_profit=lambda *a: None, sleep=self.clock.sleep, unix_nano=self.clock.now_ns,
                  store=self.store, exchanges=tuple(self.exchanges), get_command=lambda: None)
        app = App(api, parse_params(json.dumps(params)))
        assert app.start()
        return app

    def move(self, app: App, source: str, dest: str, amount: int, network: str = "TRC20") -> Transfer:
        assert app.treasury is not None
        entry = next(e for e in app.cfg.treasury.whitelist if e.venue == dest and e.network == network)
        move = Move(source, dest, Decimal(amount), "test", False, entry, app.cfg.treasury.networks[network])
        transfer = app.treasury.start(move)
        assert transfer is not None
        return transfer

    def run(self, app: App, minutes: float) -> None:
        for _ in range(int(minutes * MINUTE / LOOP_MS)):
            app.tick()
            self.navs.append(app.accounting.unit_nav)
            self.clock.sleep(LOOP_MS)

    def fees(self) -> Decimal:
        return sum((Decimal(repr(w["fee"])) for w in self.world.withdrawals), Decimal(0))

    def events(self, text: str) -> list[str]:
        return [line for line in self.logs if text in line]


def assert_nav_moved_by_fees_only(fund: Fund, app: App, outside: tuple[str, ...] = ()) -> None:
    """The only cash flows booked are the outside deposits (their ids); unit NAV never above 1 nor below
    what the fees paid leave; without outside money, no share minted and exactly (equity - fees) / equity
    at the end."""
    assert sorted(f.id for f in app.accounting.flows) == sorted(outside) and not app.accounting.pending
    floor = (EQUITY - fund.fees()) / EQUITY
    low, high = min(fund.navs), max(fund.navs)
    assert high <= 1 and low >= floor.quantize(Decimal("1e-12")), (low, high, floor)
    if not outside:
        assert app.accounting.shares == EQUITY
        assert app.accounting.unit_nav == floor.quantize(Decimal("1e-12"))


def test_a_history_outage_during_a_move_neither_books_the_deposit_nor_dips_unit_nav():
    """#17 sequence 3 (a): okx's history fails for 3.5 minutes while it sends 2,933 USDT to binance. Before:
    after 3 failed reads okx's history was never read again, the withdrawal stayed unknown, the deposit
    was booked as an outside one and unit NAV went 1.000 -> 0.902."""
    fund = Fund()
    app = fund.app()
    fund.run(app, 1)
    now = fund.now_ms()
    fund.flaky("okx").history_down.append((now, now + 210_000))
    transfer = fund.move(app, "okx", "binance", 2933)
    fund.run(app, 20)
    assert transfer.status is Status.DONE
    assert fund.world.accounts[0].balances["USDT"] == 10_000 + 2932  # TRC20 costs 1 USDT on the simulator
    assert_nav_moved_by_fees_only(fund, app)
    assert fund.events("unit NAV held at 1.000000") and fund.events("unit NAV measured again")


def test_a_lost_withdrawal_answer_during_a_history_outage_is_found_never_called_failed():
    """#17 sequence 3 (b): both withdrawals' answers are lost and both sources' histories are down for
    5 minutes. Before: two looks without a readable history marked both transfers FAILED although the money
    had left (unit NAV 0.881)."""
    fund = Fund()
    app = fund.app()
    fund.run(app, 1)
    now = fund.now_ms()
    for venue in ("okx", "bybit"):
        fund.flaky(venue).history_down.append((now, now + 5 * MINUTE))
        fund.flaky(venue).answers_lost.append((now, now + MINUTE))
    transfers = [fund.move(app, "okx", "binance", 2933), fund.move(app, "bybit", "binance", 2000)]
    assert all(t.status is Status.SENDING for t in transfers)
    fund.run(app, 30)
    assert [t.status for t in transfers] == [Status.DONE, Status.DONE]
    assert len(fund.world.withdrawals) == 2  # found in the histories, never sent again
    assert not fund.events("request got no answer and is not in")
    assert_nav_moved_by_fees_only(fund, app)


def test_after_a_restart_old_moves_are_neither_deposits_nor_money_in_transit_whatever_the_windows():
    """#17 sequence 3 (c): two moves, then 40 days later a restart. Bybit's history shows 30 days, Binance's
    90. Before: the watcher's records lived in memory only, so bybit's 40-day-old move to binance was
    booked as an outside deposit (unit NAV -5 %) and binance's move to bybit, whose deposit bybit no longer
    lists, became 1,000 USDT of equity in transit for ever."""
    fund = Fund(days=45, step_ms=60_000)
    app = fund.app()
    fund.run(app, 1)
    fund.move(app, "bybit", "binance", 1500)
    fund.move(app, "binance", "bybit", 1000)
    fund.run(app, 20)
    assert all(t.status is Status.DONE for t in app.treasury.transfers)
    fund.clock.sleep(40 * DAY)
    restarted = fund.app()
    fund.run(restarted, 5)
    assert restarted.fund.in_transit() == 0  # nothing is between our venues
    assert_nav_moved_by_fees_only(fund, restarted)


def test_the_histories_page_back_to_an_open_move_past_each_venues_window():
    """Without saved records (a first start of this version), a move still in transit 40 days ago is found
    by paging each venue's history back to it; its deposit, credited since, is not an outside deposit."""
    fund = Fund(days=45, step_ms=60_000)
    app = fund.app()
    fund.run(app, 1)
    fund.move(app, "bybit", "okx", 1200)
    fund.move(app, "okx", "binance", 700, network="ERC20")
    fund.run(app, 20)
    fund.clock.sleep(40 * DAY)
    fund.store.pop("hedge_transfers_v1", None)  # what an earlier version left: no records
    restarted = fund.app()
    fund.run(restarted, 5)
    assert restarted.transfers is not None
    assert len([r for r in restarted.transfers.records.values() if r.kind == "withdrawal"]) == 2
    assert restarted.fund.in_transit() == 0
    assert_nav_moved_by_fees_only(fund, restarted)


def test_a_node_that_did_not_make_the_move_keeps_unit_nav_while_a_wallet_it_needs_is_unreadable():
    """In a cluster one node runs the treasury; another node's own accounting knows nothing of its moves
    and sees them only in the venues' wallets and histories. While it cannot read the source's wallets
    (its futures equity already shows the money gone), its unit NAV is held, never dipped."""
    fund = Fund()
    mover = fund.app()
    observer_store = Store()
    fund.store, mover_store = observer_store, fund.store
    observer = fund.app()  # same venues, its own _G
    fund.store = mover_store
    observer_navs = []
    for _ in range(6):
        mover.tick()
        observer.tick()
        fund.clock.sleep(LOOP_MS)
    now = fund.now_ms()
    fund.flaky("okx").history_down.append((now, now + 4 * MINUTE))
    fund.move(mover, "okx", "binance", 2933)
    for _ in range(int(20 * MINUTE / LOOP_MS)):
        mover.tick()
        observer.tick()
        observer_navs.append(observer.accounting.unit_nav)
        fund.clock.sleep(LOOP_MS)
    assert not observer.accounting.flows
    floor = ((EQUITY - fund.fees()) / EQUITY).quantize(Decimal("1e-12"))
    assert min(observer_navs) >= floor and max(observer_navs) <= 1, (min(observer_navs), max(observer_navs))
    assert observer.accounting.unit_nav == floor


def test_a_venue_whose_wallets_never_answer_is_left_out_loudly_not_retried_for_ever():
    fund = Fund()
    fund.flaky("bybit").history_down.append((0, 2**62))  # e.g. an API key without wallet read permission
    app = fund.app()
    fund.run(app, 40)
    assert app.transfers is not None and set(app.transfers.wallets) == {"binance", "okx"}
    [told] = fund.events("bybit funding wallet / transfer history never answered")
    assert "deposit:AMOUNT" in told
    tx = fund.world.deposit_external("okx", 500.0)  # outside money elsewhere is still booked
    fund.run(app, 3)
    assert [f.id for f in app.accounting.flows] == [f"okx:deposit:{tx}"]


def test_inception_waits_for_every_venues_account_so_shares_are_not_short_of_one():
    fund = Fund()
    fund.flaky("bybit").account_down.append((START_MS, START_MS + 3 * MINUTE))
    app = fund.app()
    fund.run(app, 10)
    assert app.accounting.shares == EQUITY and app.accounting.unit_nav == 1  # not 20,000 shares, NAV 1.5
    assert fund.events("inception (shares = equity) waits: bybit")


# --- random interleavings --------------------------------------------------------------------------------
ACTIONS = st.one_of(
    st.tuples(st.just("move"), st.sampled_from(VENUES), st.sampled_from(VENUES), st.integers(200, 3000),
              st.sampled_from(("TRC20", "ERC20", "BEP20"))),
    st.tuples(st.just("history_down"), st.sampled_from(VENUES), st.integers(1, 8)),
    st.tuples(st.just("answers_lost"), st.sampled_from(VENUES), st.integers(1, 4)),
    st.tuples(st.just("down"), st.sampled_from(VENUES), st.integers(1, 4)),
    st.tuples(st.just("outside_deposit"), st.sampled_from(VENUES), st.integers(50, 2000)),
    st.just(("restart",)),
    st.tuples(st.just("wait"), st.integers(1, 6)),
    # the process killed at the venue's n-th wallet transfer or withdrawal request from now (a move is
    # futures -> funding, then the withdrawal): before the request leaves, or after the venue carried it
    # out and before the answer is read; then restarted
    st.tuples(st.just("kill"), st.sampled_from(VENUES), st.sampled_from(("before", "after")),
              st.integers(1, 3)),
)


def run_through_kills(fund: Fund, app: App, minutes: float) -> App:
    """`fund.run`, restarting the robot (a new App on the same _G) whenever its process is killed."""
    for _ in range(int(minutes * MINUTE / LOOP_MS)):
        try:
            app.tick()
        except Killed:
            app = restart(fund)
        fund.navs.append(app.accounting.unit_nav)
        fund.clock.sleep(LOOP_MS)
    return app


def restart(fund: Fund) -> App:
    while True:
        try:
            return fund.app()
        except Killed:
            fund.clock.sleep(LOOP_MS)


# the fault each scheduling action switches on, for its number of minutes
_FAULT_OF_ACTION = {"history_down": "history_down", "answers_lost": "withdraw_answer_lost", "down": "down"}


def _take_action(fund: Fund, app: Any, action: tuple[Any, ...], outside: list[str]) -> Any:
    """One drawn action on the fund (a move, a fault, an outside deposit, a restart, a kill armed; "wait"
    does nothing here) -> the app running after it."""
    world = fund.world
    now = fund.now_ms()
    kind = action[0]
    if kind == "move":
        _, source, dest, amount, network = action
        busy = {v for t in app.treasury.active() for v in t.route}
        if source != dest and source not in busy and dest not in busy:
            try:
                fund.move(app, source, dest, amount, network)
            except Killed:
                app = restart(fund)
    elif kind in _FAULT_OF_ACTION:
        world.schedule(action[1], _FAULT_OF_ACTION[kind], now, now + action[2] * MINUTE)
    elif kind == "outside_deposit":  # money from outside lands at one of our deposit addresses
        tx = world.deposit_external(action[1], float(action[2]))
        outside.append(f"{action[1]}:deposit:{tx}")
    elif kind == "restart":
        app = restart(fund)
    elif kind == "kill":
        fund.flaky(action[1]).kill = [""] * (action[3] - 1) + [action[2]]
    return app


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=st.lists(ACTIONS, min_size=3, max_size=10))
# found by this test: the destination's wallets unreadable right after the treasury moved the credited
# money into its futures (the stale funding reading counted it a second time)
@example(actions=[("move", "binance", "bybit", 200, "TRC20"), ("wait", 1), ("history_down", "binance", 1),
                  ("history_down", "bybit", 1)])
# a restart while a venue is down: its equity is unknown, not zero
@example(actions=[("history_down", "binance", 1), ("down", "binance", 2), ("restart",)])
# a kill -9 after each step of a move was carried out, before its answer was read (the futures -> funding
# transfer, the withdrawal), and before the withdrawal request left
@example(actions=[("kill", "okx", "after", 1), ("move", "okx", "binance", 2933, "TRC20"), ("wait", 3)])
@example(actions=[("kill", "okx", "after", 2), ("move", "okx", "binance", 2933, "TRC20"), ("wait", 3)])
@example(actions=[("kill", "bybit", "before", 2), ("move", "bybit", "okx", 1000, "ERC20"), ("wait", 3)])
def test_unit_nav_is_unmoved_by_internal_moves_under_outages_lost_answers_and_restarts(actions):
    fund = Fund()
    world = fund.world
    app = fund.app()
    fund.run(app, 1)
    outside: list[str] = []
    for action in actions:
        app = _take_action(fund, app, action, outside)
        app = run_through_kills(fund, app, action[1] if action[0] == "wait" else 1)
    app = run_through_kills(fund, app, 30)  # the faults are over: every move settles
    assert all(t.status in FINAL for t in app.treasury.transfers)
    sent = {(w["from"], w["amount"]) for w in world.withdrawals}
    assert not [t for t in app.treasury.transfers  # never called failed when the money left
                if t.status is Status.FAILED and (VENUES.index(t.source), float(t.amount)) in sent]
    assert app.fund.in_transit() == sum(Decimal(f"{a.funding_wallet['USDT']:.8f}") for a in world.accounts)
    assert_nav_moved_by_fees_only(fund, app, tuple(outside))


def test_another_nodes_move_between_this_nodes_account_read_and_wallet_read_does_not_move_its_unit_nav():
    """Two nodes, one runs the treasury. The other reads the venues' futures accounts first and their funding
    wallets and histories later in the same turn; the treasury node's turn lands in between (two processes).
    Before: when the withdrawal was made in between, the observer counted the money in the source's futures
    equity (read before) and in transit (read after): unit NAV 1.0977 for one look, a peak for the drawdown
    guard; when the credited money was moved into the destination's futures in between, it counted it
    nowhere: unit NAV 0.9023."""
    fund = Fund()
    mover = fund.app()
    observer_store = Store()
    fund.store, mover_store = observer_store, fund.store
    observer = fund.app()
    fund.store = mover_store
    read_accounts = observer.refresh_accounts

    def read_then_other_node_turn() -> None:
        read_accounts()
        mover.tick()  # the treasury node's turn, between this node's account read and its wallet read

    observer.refresh_accounts = read_then_other_node_turn  # type: ignore[method-assign]
    for _ in range(6):
        observer.tick()
        fund.clock.sleep(LOOP_MS)
    original_check = mover.treasury.check
    moved = []

    def check_and_move() -> None:
        original_check()
        if not moved:
            moved.append(fund.move(mover, "okx", "binance", 2933))

    mover.treasury.check = check_and_move  # type: ignore[method-assign]
    navs = []
    for _ in range(int(20 * MINUTE / LOOP_MS)):
        observer.tick()
        navs.append(observer.accounting.unit_nav)
        fund.clock.sleep(LOOP_MS)
    assert moved and moved[0].status is Status.DONE
    assert not observer.accounting.flows
    floor = ((EQUITY - fund.fees()) / EQUITY).quantize(Decimal("1e-12"))
    assert min(navs) >= floor and max(navs) <= 1, (min(navs), max(navs))
    assert observer.guards.peak_nav <= 1
    assert observer.accounting.unit_nav == floor


def test_a_withdrawal_answered_system_busy_that_was_made_is_not_called_refused_nor_sent_again():
    """The venue carries the withdrawal out but answers with its "system busy / error, status unknown" code.
    Before: read as a refusal, the transfer went RETURNING -> FAILED (0.00 USDT back: the money had left),
    the credited deposit stayed in the destination's funding wallet and the route was free for a second
    withdrawal."""
    for source, dest in (("okx", "binance"), ("bybit", "okx"), ("binance", "bybit")):
        fund = Fund()
        app = fund.app()
        fund.run(app, 1)
        now = fund.now_ms()
        fund.flaky(source).answers_busy.append((now, now + MINUTE))
        transfer = fund.move(app, source, dest, 2000)
        assert transfer.status is Status.SENDING, (source, transfer.status)
        fund.run(app, 20)
        assert transfer.status is Status.DONE, (source, transfer.status, transfer.note)
        assert len(fund.world.withdrawals) == 1
        dest_account = fund.world.accounts[VENUES.index(dest)]
        assert dest_account.funding_wallet["USDT"] == 0 and dest_account.balances["USDT"] == 10_000 + 1999
        assert_nav_moved_by_fees_only(fund, app)


def test_a_kill_after_the_futures_to_funding_step_neither_moves_the_money_twice_nor_strands_it():
    """The robot is killed after okx carried out the futures -> funding transfer of a move, before it read
    the answer (the transfer is still PLANNED in _G). Before: the restarted treasury read the funding wallet
    again as its 'before', moved amount + fee a second time and withdrew once: 2,934 USDT left idle in okx's
    funding wallet for ever (counted in equity, but not margin, and okx looked short to the allocation)."""
    fund = Fund()
    app = fund.app()
    fund.run(app, 1)
    fund.flaky("okx").kill = ["after"]
    try:
        fund.move(app, "okx", "binance", 2933)
        raise AssertionError("the kill did not happen")
    except Killed:
        pass
    [transfer] = [Transfer.from_json(t) for t in json.loads(fund.store["treasury_v1"])["transfers"]]
    assert transfer.status is Status.PLANNED
    app = restart(fund)
    app.treasury.check()
    fund.run(app, 20)
    okx = fund.world.accounts[VENUES.index("okx")]
    assert [t.status for t in app.treasury.transfers] == [Status.DONE]
    assert len(fund.world.withdrawals) == 1
    assert okx.funding_wallet["USDT"] == 0 and okx.balances["USDT"] == 10_000 - 2933
    assert_nav_moved_by_fees_only(fund, app)


def test_the_node_that_takes_the_treasury_over_does_not_send_again_what_the_dead_one_has_in_flight():
    """Cluster failover: the treasury node moves 10,000 USDT to binance (weights 4:1:1), both withdrawals
    are stuck on the chain, and the node dies. The next node takes the treasury role; its own _G knows no
    transfer. Before: it saw binance 3,333 short with nothing incoming and sent it again (more
    withdrawals, the money of the first two still out), and nothing blocked the routes of the lost ones."""
    fund = Fund()
    now = fund.now_ms()
    for venue in ("okx", "bybit"):
        fund.world.schedule(venue, "withdrawals_stuck", now, now + DAY)
    auto = {"mode": "auto", "weights": {"binance": 4}}
    leader = fund.app(**auto)
    fund.store, leader_store = Store(), fund.store
    survivor, survivor_store = fund.app(**auto), fund.store
    fund.store = leader_store
    survivor.coordinator.leads = lambda role: False  # type: ignore[method-assign]
    for _ in range(int(3 * MINUTE / LOOP_MS)):
        leader.tick()
        survivor.tick()
        fund.clock.sleep(LOOP_MS)
    sent = [(w["from"], w["amount"]) for w in fund.world.withdrawals]
    assert len(sent) == 2 and all(t.status is Status.IN_TRANSIT for t in leader.treasury.transfers)
    survivor.coordinator.leads = lambda role: True  # type: ignore[method-assign]  # the leader died
    navs = []
    for _ in range(int(4 * 3600_000 / LOOP_MS)):
        survivor.tick()
        navs.append(survivor.accounting.unit_nav)
        fund.clock.sleep(LOOP_MS)
    assert [(w["from"], w["amount"]) for w in fund.world.withdrawals] == sent
    assert not survivor.treasury.transfers
    assert fund.events("not made by this node (another node's")
    assert fund.events("is not credited after 7200 s")
    assert not survivor.accounting.flows and max(navs) <= 1
    for record, _ in survivor.treasury.foreign_moves():  # the user checked both venues: the routes are free
        survivor.treasury.on_command(f"treasury:ack:{record.venue}:{record.id}")
    assert not survivor.treasury.foreign_moves()
    assert len(json.loads(survivor_store["treasury_v1"])["acked"]) == 2  # kept across restarts
    fund.run(survivor, 5)
    assert len(fund.world.withdrawals) > len(sent)


def test_a_move_is_not_booked_as_a_deposit_when_its_withdrawal_record_is_dropped_before_its_deposit():
    """Settled records are dropped 120 days after their own time (hedge_transfers_v1 stays small). A move's
    withdrawal is older than its deposit by the chain's transit time (ERC20: 5 minutes on the simulator), so
    for those minutes, 120 days on, the deposit was kept without the withdrawal that explains it. Before: it
    was booked as an outside deposit of 995 USDT (shares minted for money the fund already had: unit NAV
    -3.3 %)."""
    fund = Fund(days=125, step_ms=60_000)
    app = fund.app()
    fund.run(app, 1)
    fund.move(app, "okx", "binance", 1000, network="ERC20")
    fund.run(app, 20)
    assert app.treasury.transfers[0].status is Status.DONE
    sent = fund.world.withdrawals[0]["time"]
    fund.clock.sleep(sent + 120 * DAY + MINUTE - fund.now_ms())
    fund.run(app, 10)
    assert_nav_moved_by_fees_only(fund, app)


def test_an_okx_withdrawal_whose_fee_is_above_the_estimate_is_found_by_its_amount_after_a_lost_answer():
    """OKX's withdrawal `amt` is what the receiver gets and the fee is charged on top (OKX docs-v5
    POST /api/v5/asset/withdrawal: 'Withdrawal fee is not included in withdrawal amount'; ccxt okx.py
    withdraw sends the fee apart from amt; Bybit's withdraw/create with its default feeType 0 is the same:
    'input amount is the actual amount received', /work/shared/reference/exchange_mechanics.md section 6).
    The network fee moves: the treasury's TRC20 estimate is 1 USDT, OKX charges 3 here, and the answer is
    lost. Before: the row (amt 2000, fee 3) was looked for as amt + fee = requested +- the estimate, not
    found, and after two reads the withdrawal was called absent: FAILED ('1.00 USDT back': the rest had
    left)."""
    fund = Fund()
    app = fund.app()
    fund.run(app, 1)
    okx = fund.flaky("okx")
    okx.okx_fee = "3"
    now = fund.now_ms()
    okx.answers_lost.append((now, now + MINUTE))
    transfer = fund.move(app, "okx", "binance", 2000)
    assert transfer.status is Status.SENDING
    fund.run(app, 20)
    assert transfer.status is Status.DONE, (transfer.status, transfer.note)
    assert len(fund.world.withdrawals) == 1
    assert not fund.events("request got no answer and is not in")
