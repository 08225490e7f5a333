"""The treasury keeps on a venue the margin that loose legs waiting for a re-hedge could need there
(issue #17, chaos default seed 4, 2 days, on 3c2bfc7..d4fe4e8): an ADL took half of binance's shorts; their
okx hedges, left loose, were refused by okx, bybit refused too; 4 s later the treasury's look saw binance's
need fallen with its positions and moved 6,410 USDT of its futures wallet to okx and bybit; 6 s after that
binance, the only venue that traded, could re-hedge 0.218 BTC and 2.46 of the 3.81 ETH only, and could not be
topped up again in time (a withdrawal takes minutes, and binance was sending): 1.35 ETH stayed loose on okx
311.5 s (bound 70 s). Money that the re-hedge of a loose leg could need on a venue is not moved out of it."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.hedge.test_rehedge import LOT, Sim3, _agree, _net, _positions
from tests.hedge.test_scenarios import SYMBOL, open_and_book

D = Decimal


def _adl_leaves_okx_long_loose(seconds: int) -> tuple[Sim3, object, int, list[tuple[int, str, Decimal]]]:
    """binance 14,000 USDT, okx 14,000, bybit 2,000 (the treasury in mode auto, TRC20 whitelisted, chaos's
    default thresholds: trigger 45 %, target 55 %, rebalance band 5 %); a pair of 28,000 USDT, short binance,
    long okx. BTC falls 3 % at second 30 (binance's short wins); at second 130 binance auto-deleverages half
    of it, while okx refuses every order (outcome unknown: its close of the loose long waits
    outage.max_unhedged_s) and bybit refuses every order for want of margin: binance is the one venue that
    can re-hedge okx's loose 0.226 BTC. Runs `seconds` one-second turns; returns (sim, app, the second the
    leg appeared, the treasury's transfers started (second, source))."""
    sim = Sim3((14_000, 14_000, 2_000), hours=2)
    whitelist = [{"venue": a.venue, "network": "TRC20", "address": sim.world.deposit_address(a, "TRC20")}
                 for a in sim.world.accounts]
    params = {"symbols": [SYMBOL], "order_notional_usdt": 1000, "max_position_usdt": 30000,
              "open_threshold_bps": 900, "close_threshold_bps": -900, "status_interval_s": 60,
              "leverage": {"binance": 10, "okx": 10, "bybit": 10},
              "treasury": {"mode": "auto", "whitelist": whitelist, "trigger_distance_pct": 45,
                           "target_distance_pct": 55, "rebalance_pct": 5}}
    app = sim.app(params=json.dumps(params))
    assert app.start()
    binance, okx = app.venues[0], app.venues[1]
    price = D(str(binance.exchange.GetTicker(SYMBOL + ".swap")["Last"]))
    open_and_book(app, sim, okx, binance, (D(28_000) / price).quantize(LOT), price)
    start = sim.now_ms()
    sim.world.schedule_adl("binance", start + 130_000, 0.5)
    sim.world.inject("okx", "refuse_orders", start + 900_000, from_ms=start + 125_000)
    sim.world.inject("bybit", "refuse_definite", start + 900_000, from_ms=start + 125_000)
    loose_s = -1
    for second in range(seconds):
        if second == 30:
            sim.world.coins["BTC"].fair *= 0.97
        app.tick()
        sim.clock.sleep(1000)
        if loose_s < 0 and app.ledger.loose:
            loose_s = second
    assert app.treasury is not None
    started = [((t.created_ms - start) // 1000, t.source, t.amount) for t in app.treasury.transfers]
    return sim, app, loose_s, started


def test_the_venue_that_must_rehedge_a_loose_leg_keeps_the_margin_for_it_and_takes_the_whole_leg():
    """Before: at its look 50 s after the ADL the treasury moved 4,318 USDT binance -> okx and 2,029
    binance -> bybit (all of binance's surplus over its target); 25 s later binance could re-hedge 0.148 of
    the 0.226 BTC (all it could take above the re-hedge floor, 44 %), and 0.078 BTC (~4,700 USDT) stayed
    loose on okx to the end (300 s). Now binance keeps what the re-hedge needs there (its notional at the
    target distance): only the 1,329 USDT beyond it leaves for okx; binance re-hedges the whole leg once
    okx's wait is over, and the exposure is back within one lot."""
    sim, app, loose_s, started = _adl_leaves_okx_long_loose(300)
    assert loose_s > 0  # the ADL left okx's long loose
    assert not app.ledger.loose
    # a reservation, not a freeze: what binance has beyond it still goes to okx (1,329 USDT at second 180)
    assert [source for s, source, _ in started if s >= loose_s] == ["binance"]
    assert not [line for line in sim.logs if "PARTIAL REHEDGE" in line]
    (rehedged,) = [line for line in sim.logs if line.startswith("REHEDGED BTC_USDT")]
    assert "hedged with -0.226 on binance" in rehedged
    assert abs(_net(sim)) <= LOT
    assert _positions(sim)["binance"] == -_positions(sim)["okx"]
    _agree(app)
    assert [acc.liquidations for acc in sim.world.accounts] == [0, 0, 0]
