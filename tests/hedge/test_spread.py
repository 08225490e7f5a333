"""The spread rule judges a symbol's best venue pair again only when something it was judged on changed
(hedge/spread.py, `Spread.scan`): its books, their freshness, the fees, funding, config and the venues'
standing; any of them changing gives the decision a full scan gives. What an opening needs past the threshold
(the gate, the cool-down, the limits) is read at every scan."""

import dataclasses
from decimal import Decimal

import pytest

from hedge.app import App
from hedge.config import parse_params
from hedge.fmz import Api
from hedge.outage import MARKET

SYMBOL = "BTC_USDT"
# fees 0: the edge is the books' own. okx's bid 50,010 over binance's ask 50,000.5 is ~1.8 bps net of the
# two spreads, under open_threshold_bps 3: an opportunity noted, nothing to try
PARAMS = ('{"symbols": ["BTC_USDT"], "order_notional_usdt": 1000, "max_position_usdt": 2000, '
          '"open_threshold_bps": 3, "close_threshold_bps": 0, "cooldown_s": 10, "status_interval_s": 5, '
          '"fees": {"binance": {"taker_bps": 0}, "okx": {"taker_bps": 0}}}')
QUIET = (50_010.0, 50_010.5)
WIDE = (50_030.0, 50_030.5)  # ~5.8 bps: an opening


def _quiet_world(fake_exchange, fake_runtime):
    binance = fake_exchange("binance", books={SYMBOL: (50_000.0, 50_000.5)})
    okx = fake_exchange("okx", ct_val=0.01, lot=0.1, min_qty=0.1, books={SYMBOL: QUIET})
    runtime = fake_runtime([binance, okx])
    app = App(Api.from_globals(runtime.globals()), parse_params(PARAMS))
    assert app.start()
    app.tick()  # its status round reads the funding rates: the next turn judges with them
    _turn(app, runtime)
    return binance, okx, runtime, app


def _turn(app, runtime, ms=200):
    """A turn later by `ms` on the runtime's clock; the venues' book stamps stay (books that did not move)."""
    runtime.now_ns += ms * 1_000_000
    app.tick()


def test_a_symbol_whose_books_did_not_change_is_not_judged_again(fake_exchange, fake_runtime):
    binance, okx, runtime, app = _quiet_world(fake_exchange, fake_runtime)
    noted = app.spread.last_opportunity[SYMBOL]
    assert noted is not None and 0 < noted.edge_bps < 3
    _turn(app, runtime)
    assert app.spread.last_opportunity[SYMBOL] is noted  # the same judgement, not a new one
    okx.books[SYMBOL] = (50_011.0, 50_011.5)
    _turn(app, runtime)
    again = app.spread.last_opportunity[SYMBOL]
    assert again is not noted and again.edge_bps > noted.edge_bps
    assert binance.sent == [] and okx.sent == []


def _book_moves(app, okx):
    okx.books[SYMBOL] = WIDE


def _threshold_lowered(app, okx):
    app.cfg = dataclasses.replace(app.cfg, open_threshold_bps=Decimal(1))


def _fee_rebate(app, okx):
    app.terms.taker["okx"] = -1.0  # the edge counts 2 x the taker fees: +2 bps


@pytest.mark.parametrize("change", [_book_moves, _threshold_lowered, _fee_rebate])
def test_what_enters_the_edge_changing_opens_at_once(fake_exchange, fake_runtime, change):
    binance, okx, runtime, app = _quiet_world(fake_exchange, fake_runtime)
    _turn(app, runtime)
    assert app.ledger.pairs == {}
    change(app, okx)
    _turn(app, runtime)
    assert len(app.ledger.pairs) == 1 and binance.sent and okx.sent


def test_funding_read_again_shows_in_the_noted_opportunity(fake_exchange, fake_runtime):
    binance, okx, runtime, app = _quiet_world(fake_exchange, fake_runtime)
    before = app.spread.last_opportunity[SYMBOL].funding_carry_bps
    app.funding.rates[SYMBOL] = {"binance": 0.0001, "okx": 0.0003}
    _turn(app, runtime)
    assert app.spread.last_opportunity[SYMBOL].funding_carry_bps == pytest.approx(2.0) != before


def test_books_that_turn_stale_without_changing_are_no_longer_paired(fake_exchange, fake_runtime):
    binance, okx, runtime, app = _quiet_world(fake_exchange, fake_runtime)
    assert app.spread.last_opportunity[SYMBOL] is not None
    _turn(app, runtime, ms=app.cfg.max_book_age_ms + 1)  # the same stamps, now older than max_book_age_ms
    assert app.spread.last_opportunity[SYMBOL] is None


def test_a_book_that_moved_while_its_venue_cooled_down_opens_once_the_cool_down_ends(fake_exchange,
                                                                                       fake_runtime):
    binance, okx, runtime, app = _quiet_world(fake_exchange, fake_runtime)
    app.health.cooling["okx"] = app.api.now_ms() + 1_000  # an order call there timed out: no new pair
    okx.books[SYMBOL] = WIDE  # the move is seen (and the symbol judged) while okx may not take a new pair
    _turn(app, runtime)
    assert app.ledger.pairs == {}
    _turn(app, runtime, ms=1_000)  # the cool-down is over; the books have not moved since
    assert len(app.ledger.pairs) == 1


def test_a_book_that_moved_while_its_venue_was_out_opens_once_it_is_back(fake_exchange, fake_runtime):
    binance, okx, runtime, app = _quiet_world(fake_exchange, fake_runtime)
    app.health.hold("okx", frozenset({MARKET}), "maintenance")  # out: no new pair there
    okx.books[SYMBOL] = WIDE  # the move is seen (and the symbol judged) while okx is out
    _turn(app, runtime)
    assert app.ledger.pairs == {}
    app.health.release("okx")  # back at its next good answer; the books do not move again
    for _ in range(3):
        _turn(app, runtime)
    assert not app.health.out_since and len(app.ledger.pairs) == 1


def test_a_kept_opportunity_past_the_threshold_opens_once_the_cool_down_ends(fake_exchange, fake_runtime):
    params = PARAMS.replace('"cooldown_s": 10', '"cooldown_s": 1')
    binance = fake_exchange("binance", books={SYMBOL: (50_000.0, 50_000.5)})
    okx = fake_exchange("okx", ct_val=0.01, lot=0.1, min_qty=0.1, books={SYMBOL: WIDE})
    runtime = fake_runtime([binance, okx])
    app = App(Api.from_globals(runtime.globals()), parse_params(params))
    assert app.start()
    app.tick()
    assert len(app.ledger.pairs) == 1  # room for one more (max_position_usdt 2000), after the cool-down
    _turn(app, runtime)
    noted = app.spread.last_opportunity[SYMBOL]
    for _ in range(3):  # cooling down: the books did not move, the opportunity is not judged again
        _turn(app, runtime)
        assert app.spread.last_opportunity[SYMBOL] is noted and len(app.ledger.pairs) == 1
    _turn(app, runtime, ms=400)  # the cool-down is over; the same books, still fresh
    assert len(app.ledger.pairs) == 2


def test_a_shorter_max_book_age_drops_books_it_makes_stale(fake_exchange, fake_runtime):
    binance, okx, runtime, app = _quiet_world(fake_exchange, fake_runtime)
    assert app.spread.last_opportunity[SYMBOL] is not None
    app.cfg = dataclasses.replace(app.cfg, max_book_age_ms=100)  # the stamps are 200 ms old, then 400 ms
    _turn(app, runtime)
    assert app.spread.last_opportunity[SYMBOL] is None
