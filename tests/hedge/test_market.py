import json
from decimal import Decimal

from hedge.market import (
    MOVED_BPS,
    UNCHANGED_LIMIT_MS,
    Market,
    Venue,
    fmz_pair,
    load_specs,
    venue_key,
)

SYMBOLS = ("BTC_USDT", "ETH_USDT")
BOOKS = {"BTC_USDT": (50_000.0, 50_000.5), "ETH_USDT": (3_000.0, 3_000.1), "SOL_USDT": (100.0, 100.01)}


def _market(fake_exchange, **kw):
    ex = fake_exchange("okx", ct_val=0.01, lot=0.1, min_qty=0.1, books=dict(BOOKS), **kw)
    venue = Venue("okx", 0, ex, load_specs(ex, SYMBOLS))
    return ex, Market([venue], SYMBOLS, max_age_ms=3000)


def test_symbol_mapping():
    assert fmz_pair("BTC_USDT.swap") == "BTC_USDT" and fmz_pair("BTC_USDT") == "BTC_USDT"
    assert venue_key("Futures_OKX") == "okx" and venue_key("Futures_OKCoin") == "okx"
    assert venue_key("Binance") is None  # spot is not traded


def test_specs_come_from_get_markets_without_float_noise(fake_exchange):
    ex, _ = _market(fake_exchange)
    specs = load_specs(ex, SYMBOLS)
    assert set(specs) == set(SYMBOLS)  # SOL is listed but not wanted
    assert specs["BTC_USDT"].ct_val == Decimal("0.01") and specs["BTC_USDT"].lot == Decimal("0.1")
    assert specs["BTC_USDT"].base_step == Decimal("0.001")


def test_tickers_refresh_tops_and_stale_tops_are_ignored(fake_exchange):
    ex, market = _market(fake_exchange)
    ex.time_ms = 10_000
    market.refresh(10_000)
    top = market.fresh_top("okx", "BTC_USDT", 10_500)
    assert (top.bid, top.ask, top.mid) == (50_000.0, 50_000.5, 50_000.25)
    assert market.fresh_top("okx", "BTC_USDT", 13_001) is None
    assert ex.ticker_calls == 0


def test_venue_without_get_tickers_falls_back_to_one_ticker_per_symbol(fake_exchange):
    ex, market = _market(fake_exchange)
    ex.GetTickers = lambda: None
    market.refresh(0)
    market.refresh(0)
    assert market.per_symbol["okx"] and ex.ticker_calls == 4
    assert market.fresh_top("okx", "ETH_USDT", 0).bid == 3_000.0


def test_outage_after_tickers_worked_is_a_failure_not_a_mode_switch(fake_exchange):
    ex, market = _market(fake_exchange)
    market.refresh(0)
    ex.GetTickers = lambda: None
    market.refresh(0)
    market.refresh(0)
    assert not market.per_symbol["okx"] and ex.ticker_calls == 0
    assert market.failed["okx"] == 2


def test_depth_is_in_base_units(fake_exchange):
    ex, market = _market(fake_exchange)
    asks, bids = market.depth(market.venues[0], "BTC_USDT")
    assert asks[0] == (50_000.5, 1_000.0 * 0.01) and bids[0][0] == 50_000.0


def test_ticker_without_timestamp_is_stamped_with_the_refresh_time(fake_exchange):
    ex, market = _market(fake_exchange)
    ex.GetTickers = lambda: [{"Symbol": "BTC_USDT.swap", "Buy": 1.0, "Sell": 1.1, "Time": 0}]
    market.refresh(77_000)
    assert market.fresh_top("okx", "BTC_USDT", 78_000).time_ms == 77_000


def _untimed_venues(fake_exchange, names=("okx", "binance", "bybit")):
    """Venues whose tickers carry no timestamp (Time 0), as Bybit V5 and CoinEx REST tickers through ccxt:
    ccxt's bybit.parse_ticker and coinex.parse_ticker set 'timestamp': None."""
    exchanges = [fake_exchange(name, books={"BTC_USDT": (50_000.0, 50_000.5)}) for name in names]
    venues = [Venue(name, i, ex, load_specs(ex, ("BTC_USDT",)))
              for i, (name, ex) in enumerate(zip(names, exchanges, strict=True))]
    return exchanges, Market(venues, ("BTC_USDT",), max_age_ms=3000)


def test_an_untimed_book_that_repeats_while_the_others_move_goes_stale_after_max_age(fake_exchange):
    """#17 seq 1: okx answers the same untimed book (a cached REST answer) while the coin moves 45 % elsewhere
    in three gaps; okx's book is stale once unchanged for max_book_age_ms after the others moved. Old code
    stamped every untimed answer with the read time: okx stayed fresh at the frozen mid."""
    (okx, *others), market = _untimed_venues(fake_exchange)
    price = 50_000.0
    for second in range(60):
        if second in (10, 20, 30):
            price *= 1.45 ** (1 / 3)
        for ex in others:
            ex.books["BTC_USDT"] = (price, price + 0.5)
        market.refresh(second * 1000)
    assert market.fresh_mid("okx", "BTC_USDT", 59_000) is None
    assert market.age_ms("okx", "BTC_USDT", 59_000) == 59_000
    assert market.mids_elsewhere("BTC_USDT", 59_000, "okx") == [price + 0.25] * 2


def test_identical_untimed_tops_on_every_venue_in_a_quiet_market_stay_fresh(fake_exchange):
    """#17 seq 1: a genuinely quiet market repeats the same untimed top on every venue; nothing moved
    elsewhere, so no venue is judged stale (up to UNCHANGED_LIMIT_MS), however often the answer repeats."""
    _, market = _untimed_venues(fake_exchange)
    for second in range(100):
        market.refresh(second * 1000)
        for venue in ("okx", "binance", "bybit"):
            assert market.fresh_mid(venue, "BTC_USDT", second * 1000) == 50_000.25
            assert market.age_ms(venue, "BTC_USDT", second * 1000) == 0


def test_an_untimed_book_that_moves_within_its_spread_noise_stays_fresh_and_a_long_unchanged_one_ages_out(
        fake_exchange):
    """The others drifting less than MOVED_BPS plus the book's spread does not make a repeated untimed book
    stale; an answer unchanged for longer than UNCHANGED_LIMIT_MS is stale whatever the others do."""
    (okx, *others), market = _untimed_venues(fake_exchange)
    for second in range(121):
        drift = 50_000.0 * (1 + MOVED_BPS / 2 / 10_000 * (second % 2))
        for ex in others:
            ex.books["BTC_USDT"] = (drift, drift + 0.5)
        market.refresh(second * 1000)
        assert market.fresh_mid("okx", "BTC_USDT", second * 1000) is not None
    market.refresh(UNCHANGED_LIMIT_MS + 1000)
    assert market.fresh_mid("okx", "BTC_USDT", UNCHANGED_LIMIT_MS + 1000) is None
    okx.books["BTC_USDT"] = (50_001.0, 50_001.5)  # it changes: proven current again
    market.refresh(UNCHANGED_LIMIT_MS + 2000)
    assert market.fresh_mid("okx", "BTC_USDT", UNCHANGED_LIMIT_MS + 2000) == 50_001.25


def test_only_a_changed_top_marks_its_symbol_for_the_next_scan(fake_exchange):
    ex, market = _market(fake_exchange)
    ex.time_ms = 1_000
    market.refresh(1_000)
    assert market.changed == set(SYMBOLS)
    market.changed.clear()  # as the spread rule takes them
    market.refresh(1_200)
    assert market.changed == set()  # the same answers: nothing to look at again
    ex.books["ETH_USDT"] = (3_000.1, 3_000.2)
    market.refresh(1_400)
    assert market.changed == {"ETH_USDT"}
    market.changed.clear()
    ex.time_ms = 1_500  # same prices, a newer stamp: a top that may turn fresh is a change too
    market.refresh(1_600)
    assert market.changed == set(SYMBOLS)


def test_a_book_event_is_the_same_top_a_polled_ticker_gives(fake_exchange):
    ex, polled = _market(fake_exchange)
    ex.time_ms = 5_000
    polled.refresh(5_000)
    _, streamed = _market(fake_exchange)
    streamed.changed.clear()
    for symbol in SYMBOLS:
        bid, ask = BOOKS[symbol]
        streamed.on_top("okx", symbol, bid, ask, 5_000)
    assert streamed.changed == set(SYMBOLS)
    for symbol in SYMBOLS:
        a, b = polled.fresh_top("okx", symbol, 6_000), streamed.fresh_top("okx", symbol, 6_000)
        assert (a.bid, a.ask, a.time_ms, a.untimed) == (b.bid, b.ask, b.time_ms, b.untimed)
    assert streamed.fresh_top("okx", "BTC_USDT", 8_001) is None  # as old as the event's own time


def test_a_start_on_the_saved_specs_knows_the_venues_maximum_order_size(fake_exchange, fake_runtime):
    """issue #17: okx gives 4 contracts (0.04 BTC) as its maximum order size (FMZ Market.MaxQty) at the first
    start, and its GetMarkets fails across the restart: the start binds okx with the specs it saved. Before,
    the saved specs did not keep the maximum: the restarted process knew none (max_qty 0) and would send a
    re-hedge above it, refused. Now it is kept; specs saved by an earlier version (five figures a row) still
    load, with no maximum known."""
    from hedge import store_keys
    from hedge.app import App
    from hedge.config import parse_params
    from hedge.fmz import Api
    from tests.hedge.test_app import PARAMS

    binance = fake_exchange("binance", books={"BTC_USDT": (50_000.0, 50_000.5)})
    okx = fake_exchange("okx", ct_val=0.01, lot=0.1, min_qty=0.1, books={"BTC_USDT": (50_000.0, 50_000.5)})
    markets = okx.GetMarkets

    def with_most():
        out = markets()
        for market in (out or {}).values():
            market["MaxQty"] = 4.0
        return out

    okx.GetMarkets = with_most
    runtime = fake_runtime([binance, okx])
    assert App(Api.from_globals(runtime.globals()), parse_params(PARAMS)).start()
    okx.GetMarkets = lambda: None  # failing across the restart
    restarted = App(Api.from_globals(runtime.globals()), parse_params(PARAMS))
    assert restarted.start()
    assert any("using the contract specs saved at the last start" in line for line in runtime.logs)
    spec = restarted.venues[1].specs["BTC_USDT"]
    assert (spec.max_qty, spec.max_base, spec.ct_val) == (Decimal(4), Decimal("0.04"), Decimal("0.01"))
    saved = json.loads(runtime.store(store_keys.CONTRACT_SPECS))
    saved["okx"] = {pair: row[:5] for pair, row in saved["okx"].items()}  # as an earlier version saved it
    runtime.store(store_keys.CONTRACT_SPECS, json.dumps(saved))
    older = App(Api.from_globals(runtime.globals()), parse_params(PARAMS))
    assert older.start()
    spec = older.venues[1].specs["BTC_USDT"]
    assert (spec.max_qty, spec.ct_val) == (0, Decimal("0.01"))
