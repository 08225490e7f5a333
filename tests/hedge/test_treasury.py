"""Treasury on the simulator: a 30 % one-way move on three venues, lost and refused withdrawals, the
whitelist, restarts mid-transfer, notify mode."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from fmz_compat.core import BacktestClock, ExchangeBinding, MemoryLog, SimConfig
from fmz_compat.sim import create_world
from hedge.app import App
from hedge.config import parse_params
from hedge.fmz import Api
from hedge.treasury import STORE_KEY, Status

START_MS = 1_719_792_000_000
SYMBOL = "BTC_USDT.swap"
LOOP_MS = 10_000
FIRST_STOP_PCT = Decimal(40)  # the first stop level of hedge/risk.py's defaults


class Store(dict):
    """FMZ _G over a dict (survives an App being rebuilt, like the robot's database)."""

    def __call__(self, key, *value):
        if not value:
            return self.get(key)
        self[key] = value[0]
        return None


class Sim:
    """Binance long 0.35 BTC against Bybit short 0.2 and OKX short 0.15, 10,000 USDT on each venue:
    Binance starts ~46 % from liquidation, the shorts 80 % and more."""

    def __init__(self, hours: int = 12) -> None:
        cfg = SimConfig(seed=7, start_ms=START_MS, symbols=("BTC_USDT",), bindings=tuple(
            ExchangeBinding(n, balance=10_000) for n in ("Futures_Binance", "Futures_Bybit", "Futures_OKX")))
        self.clock = BacktestClock(START_MS * 1_000_000, (START_MS + hours * 3_600_000) * 1_000_000)
        self.world = create_world(cfg, self.clock, MemoryLog())
        self.store = Store()
        self.logs: list[str] = []
        self.status: list[str] = []
        self.commands: list[str] = []
        self.exchanges = list(self.world.exchanges)
        # OKX counts 0.01 BTC contracts
        orders = zip(self.exchanges, ("buy", "sell", "sell"), (0.35, 0.2, 15), strict=True)
        for exchange, side, amount in orders:
            exchange.SetMarginLevel(SYMBOL, 5)
            assert exchange.CreateOrder(SYMBOL, side, -1, amount)
        self.min_distance: dict[str, Decimal] = {}

    def whitelist(self, network: str = "TRC20") -> list[dict[str, str]]:
        return [{"venue": a.venue, "network": network, "address": self.world.deposit_address(a, network)}
                for a in self.world.accounts]

    def app(self, mode: str, **treasury: Any) -> App:
        params = {"symbols": ["BTC_USDT"], "open_threshold_bps": 1000, "close_threshold_bps": -1000,
                  "reconcile_policy": "adopt", "loop_interval_ms": LOOP_MS,
                  "treasury": {"mode": mode, "whitelist": self.whitelist(), **treasury}}
        api = Api(log=lambda *a: self.logs.append(" ".join(str(x) for x in a)),
                  log_status=lambda *a: self.status.append(" ".join(str(x) for x in a)),
                  log_profit=lambda *a: None, sleep=self.clock.sleep, unix_nano=self.clock.now_ns,
                  store=self.store, exchanges=tuple(self.exchanges),
                  get_command=lambda: self.commands.pop(0) if self.commands else None)
        app = App(api, parse_params(json.dumps(params)))
        assert app.start()
        return app

    def run(self, app: App, hours: float, move: float = 0.0) -> None:
        """Tick for `hours`, moving the coin's fair price by `move` (0.3 = +30 %) evenly over them."""
        steps = int(hours * 3_600_000 / LOOP_MS)
        factor = (1.0 + move) ** (1.0 / steps)
        coin = self.world.coins["BTC"]
        for _ in range(steps):
            coin.fair *= factor
            app.tick()
            for venue, view in app.accounts.items():
                if view.liquidation is not None:
                    self.min_distance[venue] = min(self.min_distance.get(venue, Decimal(999)),
                                                   view.liquidation[1])
            self.clock.sleep(LOOP_MS)

    def withdrawals(self) -> list[dict[str, Any]]:
        return list(self.world.withdrawals)

    def events(self, text: str) -> list[str]:
        return [line for line in self.logs if text in line]


@pytest.mark.slow
def test_a_30pct_fall_keeps_every_venue_away_from_its_stops_in_auto_while_off_reaches_them():
    runs = {}
    for mode in ("off", "auto"):
        sim = Sim()
        app = sim.app(mode)
        sim.run(app, hours=6, move=-0.3)
        sim.run(app, hours=0.5)
        runs[mode] = (sim, app)
    off, auto = runs["off"][0], runs["auto"][0]
    # the long venue runs into its stop levels (hedge/risk.py fires the first one there)
    assert runs["off"][1].risk.stops_fired[0] > 0
    assert not off.withdrawals()
    assert min(auto.min_distance.values()) > FIRST_STOP_PCT, auto.min_distance
    assert runs["auto"][1].risk.stops_fired == [0, 0, 0]
    app = runs["auto"][1]
    assert app.treasury is not None
    done = [t for t in app.treasury.transfers if t.status is Status.DONE]
    assert done and all(t.dest == "binance" for t in done)  # the winners fed the loser, never back
    assert len(auto.withdrawals()) == len(done)
    assert app.accounts["binance"].liquidation[1] > Decimal(60)  # back above the trigger at the end
    # own moves are not cash flows: no shares minted or burnt, unit NAV within fees of 1
    assert not app.accounting.flows
    assert abs(app.accounting.unit_nav - 1) < Decimal("0.002")
    assert '"title": "Treasury (mode auto' in auto.status[-1] and "#1" in auto.status[-1]


def test_a_withdrawal_that_never_arrives_raises_one_alert_and_is_not_repeated():
    sim = Sim()
    for venue in ("bybit", "okx"):
        sim.world.inject(venue, "withdrawals_stuck", START_MS + 86_400_000)
    app = sim.app("auto", timeout_s=1800)
    sim.run(app, hours=3, move=-0.15)
    assert app.treasury is not None
    lost = [t for t in app.treasury.transfers if t.status is Status.TIMED_OUT]
    assert lost and len(sim.withdrawals()) == len(lost)  # one withdrawal per route, never repeated
    alerts = sim.events("not credited on binance after 1800 s")
    assert len(alerts) == len(lost) and all("CRITICAL" in e or "#ff0000" in e for e in alerts)
    assert app.accounts["binance"].liquidation[1] < Decimal(60)  # still short of margin, and still waiting
    assert sim.events("waits for a lost transfer to be acknowledged")
    # the user acknowledges one: binance still waits for the other (either end of a lost move is suspect)
    sim.world.clear_faults()
    sim.commands.append(f"treasury:ack:{lost[0].id}")
    sim.run(app, hours=0.1)
    assert lost[0].status is Status.ABANDONED and len(sim.withdrawals()) == len(lost)
    for transfer in lost[1:]:
        sim.commands.append(f"treasury:ack:{transfer.id}")
    sim.run(app, hours=0.5)
    assert len(sim.withdrawals()) > len(lost)  # released: binance gets its margin now
    assert app.accounts["binance"].liquidation[1] > Decimal(60)


def test_a_refused_withdrawal_puts_the_money_back_and_waits_before_trying_the_route_again():
    sim = Sim()
    sim.world.inject("okx", "withdrawals_suspended", START_MS + 86_400_000)
    sim.world.inject("bybit", "withdrawals_suspended", START_MS + 86_400_000)
    app = sim.app("auto")
    equity_before = app.fund.total_equity()
    sim.run(app, hours=0.5)
    assert app.treasury is not None
    failed = [t for t in app.treasury.transfers if t.status is Status.FAILED]
    assert len(failed) == 2 and not sim.withdrawals()
    assert {t.source for t in failed} == {"okx", "bybit"}
    for account in sim.world.accounts:
        assert account.funding_wallet["USDT"] == pytest.approx(0, abs=1e-6)  # all back in futures
    assert abs(app.fund.total_equity() - equity_before) < 50  # only price noise: nothing lost
    # FMZ answers a refused request with None: the history proves it absent, then the money goes back
    assert len(sim.events("request got no answer and is not in")) == 2


def test_an_address_not_on_the_whitelist_is_refused_even_for_a_transfer_saved_before_a_restart():
    sim = Sim()
    app = sim.app("auto")
    assert app.treasury is not None and not app.treasury.whitelisted("okx", "TRC20", "TXattacker", "")
    assert sim.events("withdrawal to TXattacker (okx TRC20) refused: not in treasury.whitelist")
    # a transfer planned before a restart whose params no longer whitelist its address
    saved = {"next_id": 10, "transfers": [{
        "id": 9, "source": "okx", "dest": "binance", "amount": "500", "fee": "1", "network": "TRC20",
        "address": "sim-binance-0-erc20", "memo": "", "reason": "test", "created_ms": START_MS,
        "status": "FUNDED", "funding_before": "0", "client_id": "tr9", "withdrawal_id": "", "tx_id": "",
        "sent_ms": 0, "credited": "0", "updated_ms": START_MS, "looks": 0, "swept": False, "note": ""}]}
    sim.store[STORE_KEY] = json.dumps(saved)
    sim.world.accounts[2].balances["USDT"] -= 501  # the FUNDED step had moved it to the funding wallet
    sim.world.accounts[2].funding_wallet["USDT"] += 501
    restarted = sim.app("auto")
    sim.run(restarted, hours=0.05)
    assert restarted.treasury is not None
    refused = next(t for t in restarted.treasury.transfers if t.id == 9)
    assert refused.status is Status.FAILED
    assert all(w["address"] != "sim-binance-0-erc20" for w in sim.withdrawals())
    assert sim.world.accounts[2].funding_wallet["USDT"] == pytest.approx(0, abs=1e-6)


def test_a_whitelisted_address_the_venue_contradicts_is_never_used():
    sim = Sim()
    app = sim.app("auto", whitelist=[*sim.whitelist()[1:], {"venue": "binance", "network": "TRC20",
                                                            "address": "TXtypo"}])
    assert sim.events("whitelisted binance TRC20 address TXtypo is not the deposit address binance gives "
                      "(sim-binance-0-trc20); not used")
    sim.run(app, hours=0.1)
    assert not sim.withdrawals()
    assert sim.events("no whitelisted binance address usable from okx")


def test_a_restart_mid_transfer_resumes_tracking_without_sending_twice():
    sim = Sim()
    app = sim.app("auto")
    sim.run(app, hours=0.02)  # the first look starts the transfers; TRC20 takes 2 minutes
    assert app.treasury is not None
    in_flight = [t for t in app.treasury.transfers if t.status is Status.IN_TRANSIT]
    assert in_flight
    sent = len(sim.withdrawals())
    restarted = sim.app("auto")  # a new process over the same robot store
    assert sim.events(f"treasury: resuming {len(in_flight)} transfer(s)")
    sim.run(restarted, hours=0.25)
    assert restarted.treasury is not None
    resumed = {t.id: t for t in restarted.treasury.transfers}
    assert all(resumed[t.id].status is Status.DONE for t in in_flight)
    assert len(sim.withdrawals()) == sent  # the distance is back above the trigger: nothing more to move
    assert restarted.accounts["binance"].liquidation[1] > Decimal(60)


class LostAnswer:
    """An exchange whose withdrawal request reaches the venue but whose answer is lost (FMZ: None)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def IO(self, *args: Any) -> Any:  # noqa: N802 - FMZ's name
        result = self._inner.IO(*args)
        return None if len(args) > 2 and "withdraw" in str(args[2]) and args[1] == "POST" else result


def test_a_withdrawal_whose_answer_was_lost_is_found_in_the_history_and_never_sent_again():
    sim = Sim()
    sim.exchanges[2] = LostAnswer(sim.exchanges[2])  # okx
    sim.exchanges[1] = LostAnswer(sim.exchanges[1])  # bybit
    app = sim.app("auto")
    sim.run(app, hours=0.25)
    assert app.treasury is not None
    assert len(sim.withdrawals()) == 2
    assert all(t.status is Status.DONE for t in app.treasury.transfers)
    assert len(sim.events("found in")) == 2


def test_notify_mode_tells_what_to_move_where_throttled_and_moves_nothing():
    sim = Sim()
    app = sim.app("notify", notify_interval_s=3600)
    sim.run(app, hours=2, move=-0.1)
    assert not sim.withdrawals()
    told = sim.events("treasury: move ")
    assert told and all("#ff9900" in line for line in told)  # warn events
    assert any("from okx futures to binance futures via TRC20 to sim-binance-0-trc20" in t for t in told)
    assert len(told) <= 2 * 2  # two routes, at most once an hour each


def test_the_spare_over_every_venues_need_is_shared_by_weight_and_a_zero_weight_parks_none():
    sim = Sim()
    app = sim.app("off", weights={"binance": 1, "bybit": 1, "okx": 0}, trigger_distance_pct=45,
                  target_distance_pct=50)
    sim.run(app, hours=0.02)
    assert app.treasury is not None
    allocation = app.treasury.allocation
    spare = sum((n.actual for n in allocation.values()), Decimal(0)) - sum(
        (n.need for n in allocation.values()), Decimal(0))
    assert spare > 0
    assert allocation["okx"].target == allocation["okx"].need  # weight 0: no spare parked there
    assert allocation["bybit"].target - allocation["bybit"].need == pytest.approx(spare / 2)
    assert allocation["binance"].need > allocation["binance"].equity  # the loser needs more than it has


def test_unreadable_saved_transfers_turn_automatic_transfers_off_with_a_critical_event():
    sim = Sim()
    sim.store[STORE_KEY] = '{"transfers": [{"id": 1}]}'
    app = sim.app("auto")
    assert sim.events("treasury: saved transfers unreadable (KeyError); automatic transfers off")
    sim.run(app, hours=0.1)
    assert not sim.withdrawals() and sim.events("treasury: move ")  # told, not moved


def test_a_transfer_whose_venue_is_no_longer_bound_waits_and_says_so():
    sim = Sim()
    sim.store[STORE_KEY] = json.dumps({"next_id": 2, "transfers": [{
        "id": 1, "source": "coinex", "dest": "binance", "amount": "500", "fee": "1", "network": "TRC20",
        "address": "sim-binance-0-trc20", "memo": "", "reason": "test", "created_ms": START_MS,
        "status": "IN_TRANSIT", "funding_before": "0", "client_id": "tr1", "withdrawal_id": "w1", "tx_id": "",
        "sent_ms": START_MS, "credited": "0", "updated_ms": START_MS, "looks": 0, "swept": True,
        "note": ""}]})
    app = sim.app("auto")
    assert sim.events("treasury: resuming 1 transfer(s): #1 coinex->binance 500 USDT IN_TRANSIT")
    sim.run(app, hours=0.1)
    assert len(sim.events("needs coinex, which is not bound: bind it again to finish tracking it")) == 1


def test_margin_wanted_by_a_partial_rehedge_is_moved_at_once_from_the_venues_that_trade_only():
    """A re-hedge that could take only part of a loose leg on a venue asks for margin there (App.want_margin,
    hedge/rehedge.py): the treasury plans and starts the move in the same turn, not at the next status
    interval, and only from the venues named as trading (okx, with the most surplus, is left aside here, as
    a venue that is out would be); with none named nothing moves and it says why."""
    sim = Sim()
    app = sim.app("auto")
    assert app.treasury is not None and app.treasury.active() == []
    app.want_margin("binance", [], "re-hedge took part")
    assert app.treasury.active() == []
    assert any("re-hedge took part; no move to binance possible now" in line for line in sim.logs)
    assert app.treasury.plan()[0].source == "okx"  # the status round's plan would take okx's surplus first
    app.want_margin("binance", ["bybit"], "re-hedge took part")
    (transfer,) = app.treasury.active()
    assert (transfer.source, transfer.dest) == ("bybit", "binance") and transfer.amount >= 100
    app.want_margin("binance", ["bybit"], "re-hedge took part")  # one transfer per route at a time
    assert len(app.treasury.active()) == 1
