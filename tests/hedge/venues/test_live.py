"""This account's venue data over the tables (hedge/venues/live.py): GetMarginTiers, GetFundings' Interval
and GetFees, where the exchange object offers them (fmz_compat's live objects; FMZ's do not)."""

from decimal import Decimal

from hedge.venues import get as tables
from hedge.venues.base import Account, Position, Side, TierUnit
from hedge.venues.live import read_live, tiers_from_rows

D = Decimal

# what fmz_compat.live.LiveExchange.GetMarginTiers answers for Binance BTCUSDT (ccxt's unified tiers)
BINANCE_ROWS = [
    {"Tier": 1, "MinNotional": 0, "MaxNotional": 50000, "MaintenanceMarginRate": 0.004, "MaxLeverage": 125,
     "Unit": "USDT"},
    {"Tier": 2, "MinNotional": 50000, "MaxNotional": 600000, "MaintenanceMarginRate": 0.005,
     "MaxLeverage": 100, "Unit": "USDT"},
    {"Tier": 3, "MinNotional": 600000, "MaxNotional": 3000000, "MaintenanceMarginRate": 0.01,
     "MaxLeverage": 75, "Unit": "USDT"},
]


class LiveLike:
    """An exchange object with fmz_compat's live extras."""

    def __init__(self, tiers, taker=0.0004, interval_ms=4 * 3_600_000):
        self.tiers, self.taker, self.interval_ms = tiers, taker, interval_ms

    def GetMarginTiers(self, symbol):  # noqa: N802 - FMZ-style name
        return self.tiers

    def GetFees(self, symbol):  # noqa: N802
        return {"Symbol": symbol, "Maker": 0.0002, "Taker": self.taker, "Source": "account"}

    def GetFundings(self):  # noqa: N802
        return [{"Symbol": "BTC_USDT.swap", "Rate": 0.0001, "Time": 1, "Interval": self.interval_ms}]


class FmzLike:
    """FMZ's own exchange object: none of the extras."""

    def GetFundings(self):  # noqa: N802
        return [{"Symbol": "BTC_USDT.swap", "Rate": 0.0001, "Time": 1}]


def test_binance_rows_become_tiers_with_the_cumulative_deduction():
    tiers = tiers_from_rows("binance", BINANCE_ROWS, TierUnit.NOTIONAL)
    assert [(t.cap, t.mmr, t.maint_amount) for t in tiers] == [
        (D(50000), D("0.004"), D(0)), (D(600000), D("0.005"), D(50)), (D(3000000), D("0.01"), D(3050))]


def test_rows_in_another_unit_or_broken_are_not_used():
    assert tiers_from_rows("okx", BINANCE_ROWS, TierUnit.CONTRACTS) is None  # USDT rows, contract tiers
    falling = [dict(BINANCE_ROWS[1]), dict(BINANCE_ROWS[0])]
    assert tiers_from_rows("binance", falling, TierUnit.NOTIONAL) is None
    no_rate = [dict(BINANCE_ROWS[0], MaintenanceMarginRate=None)]
    assert tiers_from_rows("binance", no_rate, TierUnit.NOTIONAL) is None


def test_the_accounts_tiers_move_the_liquidation_price():
    """A stricter first tier from the venue (1 % instead of 0.4 %) brings a long's liquidation price up."""
    stricter = [dict(BINANCE_ROWS[0], MaintenanceMarginRate=0.01), *BINANCE_ROWS[1:]]
    stricter[1] = dict(stricter[1], MaintenanceMarginRate=0.012)
    stricter[2] = dict(stricter[2], MaintenanceMarginRate=0.02)
    data = read_live("binance", LiveLike(stricter), ["BTC_USDT"])
    assert data.tiers_from == ["BTC_USDT"]
    position = Position("BTCUSDT", Side.LONG, D("0.5"), D("60000"), mark_price=D("60000"))
    account = Account(wallet_balance=D("5000"), positions=(position,))
    table = tables("binance").evaluate_cross(account).liquidation_prices["BTCUSDT"]
    live = data.venue.evaluate_cross(account).liquidation_prices["BTCUSDT"]
    assert live > table
    assert data.venue.spec("BTCUSDT").funding_interval_hours == 4
    assert data.taker_bps == D("4.0") and data.maker_bps == D("2.0")


def test_an_fmz_exchange_object_keeps_the_tables():
    data = read_live("binance", FmzLike(), ["BTC_USDT"])
    assert data.tiers_from == [] and data.taker_bps is None and data.intervals == {}
    assert data.venue.spec("BTCUSDT") == tables("binance").spec("BTCUSDT")


def test_an_alt_without_a_table_gets_the_accounts_tiers_instead_of_the_estimate():
    data = read_live("binance", LiveLike(BINANCE_ROWS), ["PEPE_USDT"])
    spec = data.venue.spec("PEPEUSDT")
    assert not spec.estimated and spec.margin_tiers[0].mmr == D("0.004")
    assert tables("binance").spec("PEPEUSDT").estimated
