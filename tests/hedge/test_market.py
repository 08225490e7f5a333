from decimal import Decimal

from hedge.market import Market, Venue, fmz_pair, load_specs, venue_key

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
