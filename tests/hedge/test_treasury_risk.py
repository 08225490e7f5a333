"""The treasury's moves and the stops' pro-forma checks (issue #17, chaos default seed 4, 2 days, on 6f762e0):
binance lost its shorts to an ADL; the treasury moved 6,410 USDT of its futures wallet to okx and bybit; 1.7 s
later the loose hedges of the ADL'd legs (okx refusing their closes) were re-hedged on binance, the re-hedge
floor checked on binance's wallet as read before the move (about 70 % from liquidation); 54 s later binance's
next reading was 38.2 % away and stop level 1 (40 %) fired there, its okx legs refused: 278 s held on a venue
whose orders were out. Money the treasury takes out of a futures wallet leaves the cached view at once."""

from __future__ import annotations

from decimal import Decimal

from hedge.risk import Side
from hedge.treasury import Status
from tests.hedge.test_treasury_nav import Fund


def test_a_leg_checked_right_after_the_treasury_moved_margin_out_counts_the_wallet_without_it():
    fund = Fund()
    app = fund.app()
    fund.run(app, 2)  # accounts and positions read: 10,000 USDT on each venue, nothing held
    valued = app.risk.price("binance", "BTC_USDT")
    assert valued is not None
    price = valued[0]
    qty = (Decimal(20_000) / price).quantize(Decimal("0.001"))  # notional twice the wallet: ~49 % away
    margin = app.cfg.stops.rehedge_margin
    assert app.risk.open_problem("binance", "BTC_USDT", Side.SHORT, qty, price, margin=margin) is None
    transfer = fund.move(app, "binance", "okx", 4_000)
    assert transfer.status not in (Status.PLANNED, Status.FAILED)  # 4,000 USDT left binance's futures wallet
    problem = app.risk.open_problem("binance", "BTC_USDT", Side.SHORT, qty, price, margin=margin)
    assert problem is not None and "binance would be" in problem  # 6,000 USDT: within 44 %


def test_a_leg_added_to_a_position_is_valued_at_the_averaged_entry_not_the_old_one():
    """The same run: binance's shorts were opened before a -40 % crash; the re-hedge added 0.218 BTC to
    them at the low. The pro-forma check kept the old entry for all of it (0.285 BTC shorted at 60,000,
    +6,669 USDT unrealized instead of +1,568) and passed a leg that put binance within the first stop level.
    The pro-forma distance is the one the venue shows after the leg: its entry averaged."""
    from hedge.risk import VenueRisk
    from hedge.venues.base import Position
    from tests.hedge.test_risk_valuation import D, _stub_risk

    risk = _stub_risk()
    risk.app.market = None  # no books: the leg at its price
    old, mark, held, added = D(60_000), D(36_600), D("0.067"), D("0.218")
    view = VenueRisk("binance", D(6_000), [Position("BTCUSDT", Side.SHORT, held, old, mark_price=mark)],
                     {"BTCUSDT": "BTC_USDT"}, {})
    risk._evaluate("binance", view)
    pro_forma = risk._with_leg(view, "BTC_USDT", Side.SHORT, added, mark)
    averaged = (held * old + added * mark) / (held + added)
    after = VenueRisk("binance", D(6_000), [Position("BTCUSDT", Side.SHORT, held + added, averaged,
                                                     mark_price=mark)], {"BTCUSDT": "BTC_USDT"}, {})
    risk._evaluate("binance", after)
    assert pro_forma.nearest is not None and after.nearest is not None
    assert abs(pro_forma.nearest[1] - after.nearest[1]) < D("0.01")  # before: 120.6 % against 71.9 %
    reduced = risk._with_leg(view, "BTC_USDT", Side.LONG, D("0.03"), mark)  # a close keeps the entry
    assert reduced.positions[0].entry_price == old
